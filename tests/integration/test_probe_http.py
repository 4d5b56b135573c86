"""The HTTP(S) probe against real local servers: Python's http.server over ssl, with a CA and server
certificates generated here (one valid for a year, one expiring in 5 days), on 127.0.0.1 only.
Names are resolved only for `localhost` (loopback)."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from netprobe.check.runner import CheckSettings, Vantage, run_check
from netprobe.config import Config
from netprobe.engine.agent import make_probes
from netprobe.engine.allowlist import AllowList
from netprobe.engine.scheduler import Scheduler
from netprobe.engine.targets import build_targets
from netprobe.inventory.loader import load_inventory
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Status, Target
from netprobe.probes.http import HttpProbe, HttpSettings
from netprobe.storage.schema import check_point, points_from_measurement

ALLOW = AllowList.build(None, {"NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128"})
PAGE = "<html><title>Cổng dịch vụ công tỉnh Bắc Ninh</title><body>Trang chủ</body></html>".encode()


# ---- certificates ------------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(tmp: Path, days: float) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost + 127.0.0.1 valid `days` more days: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("netprobe test CA"))
        .issuer_name(_name("netprobe test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / f"ca-{days}.pem", tmp / f"cert-{days}.pem", tmp / f"key-{days}.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


# ---- servers -----------------------------------------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/broken":
            self.send_error(503, "portal overloaded")
            return
        if self.path == "/chunked":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (PAGE[:20], PAGE[20:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def tls_server(cert: Path, key: Path) -> Server:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return Server(ctx)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pki")
    ca, cert, key = make_pki(tmp, 365)
    ca5, cert5, key5 = make_pki(tmp, 5)
    return {"ca": ca, "cert": cert, "key": key, "ca5": ca5, "cert5": cert5, "key5": key5}


@pytest.fixture(scope="module")
def https(pki: dict[str, Path]) -> Iterator[Server]:
    server = tls_server(pki["cert"], pki["key"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https_expiring(pki: dict[str, Path]) -> Iterator[Server]:
    server = tls_server(pki["cert5"], pki["key5"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain() -> Iterator[Server]:
    server = Server(None)
    yield server
    server.stop()


def target(url: str, expect: str | None = None, ca: Path | None = None, timeout_ms: float = 5000) -> Target:
    settings = HttpSettings(url, expect, timeout_ms, ca_file=str(ca) if ca else None)
    return Target(f"http/test/{url}", "http", "127.0.0.1", {"target": "t"}, params=settings)


def probe(*targets: Target) -> list[Measurement]:
    async def go() -> list[Measurement]:
        return await registry.measure(registry.make_probe("http", registry.ProbeContext(ALLOW)), list(targets))

    return asyncio.run(go())


# ---- the probe ---------------------------------------------------------------------------------------
def test_https_by_name_times_every_phase(https: Server, pki: dict[str, Path]) -> None:
    (m,) = probe(target(f"https://localhost:{https.port}/", "Cổng dịch vụ công", pki["ca"]))
    assert m.status is Status.OK, m.error
    for name in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms"):
        assert isinstance(m.fields[name], float) and m.fields[name] >= 0.0, name
    parts = sum(float(m.fields[n]) for n in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms"))
    assert float(m.fields["total_ms"]) >= parts * 0.99  # the total covers every phase
    assert m.fields["http_status"] == 200 and m.fields["expect_found"] is True
    assert m.fields["body_bytes"] == len(PAGE)
    assert 364.0 < float(m.fields["cert_days_left"]) < 365.01
    (point,) = points_from_measurement(m, "dc-a")
    assert point.measurement == "http" and check_point(point.measurement, point.tags, point.fields) == []


def test_expiring_certificate_days_left(https_expiring: Server, pki: dict[str, Path]) -> None:
    (m,) = probe(target(f"https://127.0.0.1:{https_expiring.port}/", ca=pki["ca5"]))
    assert m.status is Status.OK, m.error
    assert 4.9 < float(m.fields["cert_days_left"]) < 5.01
    assert "dns_ms" not in m.fields  # an IP literal: nothing to resolve


def test_plain_http_chunked_and_failures(plain: Server, https: Server) -> None:
    ok, missing, broken, chunked, untrusted = probe(
        target(f"http://127.0.0.1:{plain.port}/", "Trang chủ"),
        target(f"http://127.0.0.1:{plain.port}/x", "no such text"),
        target(f"http://127.0.0.1:{plain.port}/broken"),
        target(f"http://127.0.0.1:{plain.port}/chunked", "Cổng dịch vụ công"),
        target(f"https://127.0.0.1:{https.port}/"),  # the system's CAs do not know ours
    )
    assert ok.status is Status.OK and "tls_ms" not in ok.fields and "cert_days_left" not in ok.fields
    assert missing.status is Status.BAD_REPLY and missing.fields["expect_found"] is False
    assert broken.status is Status.BAD_REPLY and broken.fields["http_status"] == 503
    assert chunked.status is Status.OK and chunked.fields["expect_found"] is True
    assert untrusted.status is Status.BAD_REPLY and "certificate" in (untrusted.error or "").lower()


def test_refused_and_not_allowed_by_type(plain: Server) -> None:
    # a port nobody listens on (the plain server's socket is bound, so its port + 1 is usually free;
    # find one for sure by binding and closing)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    refused, outside = probe(target(f"http://127.0.0.1:{free}/"), target("http://192.0.2.1/"))
    assert refused.status is Status.REFUSED and "connect_ms" not in refused.fields
    assert outside.status is Status.NOT_ALLOWED  # RFC 5737: refused, never sent


def test_budget_is_the_probes_own() -> None:
    t = [target(f"http://127.0.0.1:1/{i}", timeout_ms=2000) for i in range(130)]
    assert HttpProbe(ALLOW, 64).budget_s(t) == 3 * 2.0 + 1.0  # 130 requests, 64 at a time: 3 waves


# ---- one code path: agent, check and `netprobe probe` ------------------------------------------------
INVENTORY = """
province: {{slug: bac-ninh, name: Bắc Ninh}}
agents:
  - name: dc-a
services:
  - id: dvc
    name: Cổng dịch vụ công
    address: 127.0.0.1
    port: {port}
    url: https://localhost:{port}/
    expect: Cổng dịch vụ công
communes:
  - slug: kinh-bac
    name: Phường Kinh Bắc
    sites:
      - id: ubnd
        name: UBND
        lines:
          - {{id: kb-l1, provider: VNPT, ce: 127.0.0.2}}
"""


def test_agent_check_and_probe_measure_the_same_target_through_one_path(
    https: Server, pki: dict[str, Path], tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(port=https.port))
    inv = load_inventory(tmp_path / "inv.yaml")
    calls: list[tuple[str, type, list[Target], list[Measurement]]] = []
    real = registry.measure
    caller = ["?"]

    async def recording(probe_: Any, targets: Any, **kw: Any) -> list[Measurement]:
        out = await real(probe_, targets, **kw)
        calls.append((caller[0], type(probe_), list(targets), out))
        return out

    monkeypatch.setattr(registry, "measure", recording)
    # the server's CA, for every path alike (the inventory names no CA: production uses the system's)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))

    caller[0] = "agent"
    (service,) = [t for t in build_targets(inv, agent="dc-a") if t.kind == "http"]
    results: list[Measurement] = []

    async def agent() -> None:
        async def on_results(ms: list[Measurement]) -> None:
            results.extend(ms)

        scheduler = Scheduler(make_probes(Config(), {"http"}), on_results, lambda r: None, agent="dc-a")
        scheduler.set_targets([service])
        await scheduler.run_once()

    asyncio.run(agent())

    caller[0] = "check"
    (vantage,) = run_check(inv, "kinh-bac", [Vantage("dc-a")], ALLOW, CheckSettings(trace=False, ping_count=5))
    assert vantage.error is None

    caller[0] = "probe"
    code, out, _ = run_cli("probe", "http", f"https://localhost:{https.port}/", "--expect", "Cổng dịch vụ công")
    assert code == 0, out

    http_calls = [c for c in calls if c[1] is HttpProbe]
    assert [c[0] for c in http_calls] == ["agent", "check", "probe"]  # each path ran the probe once, via measure
    settings = [t.params for _, _, ts, _ in http_calls for t in ts]
    assert len(settings) == 3
    assert {(s.url, s.expect, s.timeout_ms) for s in settings} == {
        (f"https://localhost:{https.port}/", "Cổng dịch vụ công", 10_000.0)
    }
    measured = [ms[0] for _, _, _, ms in http_calls]
    assert results == [measured[0]]  # the agent stored what measure gave
    assert [m.status for m in measured] == [Status.OK] * 3
    assert len({tuple(sorted(m.fields)) for m in measured}) == 1  # the same fields from every path
    assert {m.fields["http_status"] for m in measured} == {200}
    for name in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms", "cert_days_left", "http_status"):
        assert name in out


def test_check_shows_a_service_whose_certificate_expires_soon_as_degraded(
    https_expiring: Server, pki: dict[str, Path], tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netprobe.check.diagnose import Observed, diagnose
    from netprobe.check.model import State

    (tmp_path / "inv.yaml").write_text(INVENTORY.format(port=https_expiring.port))
    inv = load_inventory(tmp_path / "inv.yaml")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca5"]))
    (vantage,) = run_check(inv, "kinh-bac", [Vantage("dc-a")], ALLOW, CheckSettings(trace=False, ping_count=5))
    items, _ = diagnose(inv, "kinh-bac", Observed({"dc-a": vantage.measurements}))
    (service,) = [i for i in items if i.kind == "service"]
    assert service.state is State.DEGRADED
    assert [r.key for r in service.reasons] == ["reason.cert_expiring"]
    assert service.web[0].cert_days_left is not None and service.web[0].cert_days_left < 14

    code, out, err = run_cli(
        "--inventory", str(tmp_path / "inv.yaml"), "check", "kinh-bac", "--lang", "en", "--json", "--no-trace"
    )
    data = json.loads(out)
    (row,) = [i for i in data["items"] if i["kind"] == "service"]
    assert row["state"] == "DEGRADED" and row["web"][0]["http_status"] == 200, err
    assert code == 1  # Nagios WARNING: the line is fine, the portal's certificate needs renewing


def test_agent_writes_a_service_row_degraded_before_the_certificate_expires(
    pki: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netprobe.engine.verdicts import VerdictObserver

    portal = tls_server(pki["cert5"], pki["key5"])  # its own: this test stops it
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(port=portal.port))
    inv = load_inventory(tmp_path / "inv.yaml")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca5"]))
    targets = build_targets(inv, agent="dc-a")
    (service,) = [t for t in targets if t.kind == "http"]
    observer = VerdictObserver(inv, targets, "dc-a")
    (m,) = probe(service)
    rows = [p for p in observer.observe([m]) if p.tags.get("kind") == "service"]
    assert [(p.measurement, p.tags["target"], p.fields["state"]) for p in rows] == [("link_health", "dvc", "DEGRADED")]
    assert "certificate expires in 5 days" in str(rows[0].fields["reasons"])
    assert check_point("link_health", rows[0].tags, rows[0].fields) == []

    portal.stop()  # the portal goes away: the next fetch is DOWN, with a new since
    (gone,) = probe(service)
    (row,) = [p for p in observer.observe([gone]) if p.tags.get("kind") == "service"]
    assert row.fields["state"] == "DOWN" and row.fields["state_code"] == 3 and gone.status is Status.REFUSED
