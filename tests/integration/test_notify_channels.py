"""The notify channels against real local servers (issue 17): Zalo OA and a webhook over HTTPS on 127.0.0.1
(a server enforcing the documented contract, tests/integration/notify_servers.py), SMTP with STARTTLS
against aiosmtpd. Plus a kill -9 of the sender mid-send and a channel outage, judged by what the servers
received. The real Zalo endpoint is never contacted (it is not reachable from here).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netprobe.notify.deliver import Deliverer, build_channels, drain
from netprobe.notify.queue import NewMessage, NotifyQueue
from netprobe.notify.service import QUEUE_FILE
from tests.integration.notify_servers import APP_ID, SECRET_KEY, ContractServer, SmtpServer, make_cert
from tests.unit.notify_fixtures import PROVINCE

pytest.importorskip("aiosmtpd", reason="scripts/setup.sh installs aiosmtpd (the dev extra)")

REPO = Path(__file__).resolve().parents[2]
HOOK_TOKEN = "hook-bearer-token"
HOOK_HMAC = "hook-hmac-secret"


class Servers:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cert, self.key = make_cert(tmp)
        self.http = ContractServer(
            self.cert, self.key, access_token="AT-valid", refresh_token="RT-1", webhook_token=HOOK_TOKEN,
            hmac_secret=HOOK_HMAC,
        )  # fmt: skip
        self.smtp = SmtpServer(self.cert, self.key)

    def close(self) -> None:
        self.http.stop()
        self.smtp.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path)
    try:
        yield s
    finally:
        s.close()


def setup_env(monkeypatch: pytest.MonkeyPatch, access_token: str = "AT-stale") -> dict[str, str]:
    env = {"ZALO_SECRET": SECRET_KEY, "ZALO_AT": access_token, "ZALO_RT": "RT-1", "HOOK_TOKEN": HOOK_TOKEN,
           "HOOK_HMAC": HOOK_HMAC}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def write_inventory(tmp: Path, s: Servers, settings: str = "backoff_s: 0.2, backoff_max_s: 1.0") -> Path:
    """The unit tests' province, its notify: block pointed at the local servers (never the real Zalo)."""
    data = yaml.safe_load(PROVINCE.replace("SETTINGS", ""))
    data["notify"] = {
        "settings": yaml.safe_load("{" + settings + "}"),
        "zalo": {
            "app_id": APP_ID, "secret_key": "${ZALO_SECRET}", "access_token": "${ZALO_AT}",
            "refresh_token": "${ZALO_RT}", "api_base": s.http.base, "oauth_base": s.http.base,
            "ca_file": str(s.cert), "timeout_s": 5,
        },
        "smtp": {"host": "127.0.0.1", "port": s.smtp.port, "security": "starttls", "sender": "netprobe@bacninh.gov.vn",
                 "ca_file": str(s.cert), "timeout_s": 5},
        "webhooks": {"ops": {"url": f"{s.http.base}/hook/ops", "token": "${HOOK_TOKEN}", "hmac_secret": "${HOOK_HMAC}",
                             "ca_file": str(s.cert), "timeout_s": 5}},
        "duty": [{"name": "Trực ban", "zalo_user_id": "1001", "email": "trucban@bacninh.gov.vn", "webhook": "ops"}],
        "communes": {"hap-linh": [{"name": "CNTT Hạp Lĩnh", "zalo_user_id": "2002"}]},
    }  # fmt: skip
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load(path: Path):  # type: ignore[no-untyped-def]
    from netprobe.inventory.loader import load_inventory

    inv = load_inventory(path)
    assert inv.notify is not None
    return inv


def queue_numbered(queue: NotifyQueue, n: int, recipients: dict[str, tuple[str, str]]) -> list[str]:
    """n numbered messages per recipient (channel, address); returns the keys."""
    rows = []
    for i in range(n):
        for who, (channel, address) in recipients.items():
            text = f"tin số {i:03d} gửi {who}: đường truyền số liệu chuyên dùng"
            rows.append(
                NewMessage(
                    f"seq{i:03d}|{who}|{channel}",
                    who,
                    channel,
                    address,
                    f"inc{i}",
                    "open",
                    "critical",
                    f"[netprobe] {i:03d}",
                    text,
                    {"text": text, "event": "open", "n": i},
                )
            )
    queue.enqueue(rows)
    return [r.key for r in rows]


def test_zalo_refreshes_on_216_stores_the_single_use_token_and_keeps_working(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_env(monkeypatch, access_token="AT-stale")  # the configured token is already dead: -216 on first use
    inv = load(write_inventory(tmp_path, servers))
    state = tmp_path / "state"
    state.mkdir()
    q = NotifyQueue(state / QUEUE_FILE)
    queue_numbered(q, 3, {"duty/Trực ban": ("zalo", "1001")})
    result = drain(state / QUEUE_FILE, build_channels(inv.notify, state), inv.notify.settings, 30)
    assert result["sent"] == 3 and result["left"] == 0
    assert [r.text[:10] for r in servers.http.received] == ["tin số 000", "tin số 001", "tin số 002"]
    assert servers.http.token_errors == 1 and servers.http.spent_refresh == ["RT-1"]
    stored = json.loads((state / "zalo-token.json").read_text())
    assert stat.S_IMODE((state / "zalo-token.json").stat().st_mode) == 0o600
    assert stored["refresh_token"] in servers.http.refresh_tokens  # the new, unspent one was kept
    # a restart with the same (now spent) configured refresh token still works: the stored pair wins
    servers.http.expire_tokens()
    queue_numbered(q, 1, {"duty/Trực ban2": ("zalo", "1001")})
    result = drain(state / QUEUE_FILE, build_channels(inv.notify, state), inv.notify.settings, 30)
    assert result["sent"] == 1
    assert servers.http.refused_refresh == 0 and len(servers.http.spent_refresh) == 2
    # the spent token really is refused by the server (single use)
    assert "RT-1" not in servers.http.refresh_tokens


def test_smtp_starttls_and_webhook_hmac(tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_env(monkeypatch, access_token="AT-valid")
    inv = load(write_inventory(tmp_path, servers))
    state = tmp_path / "state"
    q = NotifyQueue(state / QUEUE_FILE)
    queue_numbered(q, 2, {"duty/mail": ("email", "trucban@bacninh.gov.vn"), "duty/hook": ("webhook:ops", "ops")})
    result = drain(state / QUEUE_FILE, build_channels(inv.notify, state), inv.notify.settings, 30)
    assert result["sent"] == 4
    mails = servers.smtp.received
    assert [m.headers["subject"] for m in mails] == ["[netprobe] 000", "[netprobe] 001"]
    assert all(m.headers["tls"] == "True" and "đường truyền số liệu chuyên dùng" in m.text for m in mails)
    assert len({m.key for m in mails}) == 2 and all(m.key.endswith("@netprobe>") for m in mails)
    hooks = [r for r in servers.http.received if r.channel == "webhook"]
    assert [h.text[:10] for h in hooks] == ["tin số 000", "tin số 001"]  # bearer + HMAC checked by the server


def test_a_failing_channel_does_not_hold_back_the_others_and_status_says_so(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = setup_env(monkeypatch, access_token="AT-valid")
    inv_path = write_inventory(tmp_path, servers)
    inv = load(inv_path)
    servers.smtp.stop()  # the mail server is gone for the whole test
    state = tmp_path / "state"
    q = NotifyQueue(state / QUEUE_FILE)
    queue_numbered(q, 5, {"duty/mail": ("email", "x@bacninh.gov.vn"), "duty/zalo": ("zalo", "1001")})
    d = Deliverer(state / QUEUE_FILE, build_channels(inv.notify, state), inv.notify.settings, poll_s=0.1)
    assert d.start()
    try:
        deadline = time.monotonic() + 20
        while len(servers.http.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        d.stop()
    assert len(servers.http.received) == 5  # Zalo went on while e-mail failed
    config = tmp_path / "netprobe.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(state)}), encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inv_path), "notify", "status"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    assert p.returncode == 1, p.stdout + p.stderr
    assert "email            FAILING  queued=5" in p.stdout and "zalo             ok       queued=0 sent=5" in p.stdout
    assert "Traceback" not in p.stderr


def test_notify_test_sends_to_every_address_of_a_recipient(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = setup_env(monkeypatch, access_token="AT-valid")
    inv_path = write_inventory(tmp_path, servers)
    config = tmp_path / "netprobe.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}), encoding="utf-8")
    argv = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inv_path), "notify", "test"]
    p = subprocess.run([*argv, "--recipient", "Trực ban"], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, **env}, check=False)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(r.channel for r in servers.http.received) == ["webhook", "zalo"] and len(servers.smtp.received) == 1
    assert all("Tin nhắn thử của netprobe" in r.text for r in [*servers.http.received, *servers.smtp.received])
    p = subprocess.run([*argv, "--recipient", "nobody"], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, **env}, check=False)  # fmt: skip
    assert (
        p.returncode == 2 and p.stderr.strip() == "error: no recipient 'nobody' in notify: (duty, communes, providers)"
    )


def test_outage_of_ten_scaled_minutes_then_everything_in_order(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backoff scaled 1:100 (backoff_s 0.2 → 1 s max instead of 20 s → 100 s): a 6 s outage is 10 minutes."""
    setup_env(monkeypatch, access_token="AT-valid")
    inv = load(write_inventory(tmp_path, servers))
    state = tmp_path / "state"
    q = NotifyQueue(state / QUEUE_FILE)
    servers.http.stop()
    servers.smtp.stop()
    d = Deliverer(state / QUEUE_FILE, build_channels(inv.notify, state), inv.notify.settings, poll_s=0.1)
    assert d.start()
    who = {"duty/zalo": ("zalo", "1001"), "commune/zalo": ("zalo", "2002"), "duty/hook": ("webhook:ops", "ops")}
    try:
        t0 = time.monotonic()
        for i in range(6):  # incidents keep coming during the outage
            queue_numbered_at(q, i, who)
            time.sleep(1.0)
        assert servers.http.received == [] and q.depth() == 18
        failures = {c.channel: c.failures for c in q.status()}
        servers.http.start()  # the outage ends, on the same port
        outage = time.monotonic() - t0
        deadline = time.monotonic() + 30
        while q.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        drained = time.monotonic() - t0 - outage
    finally:
        d.stop()
    assert q.depth() == 0
    for name, (channel, address) in who.items():
        got = [
            r.text[:10]
            for r in servers.http.received
            if (r.to == address if channel == "zalo" else r.channel == "webhook")
        ]
        assert got == [f"tin số {i:03d}" for i in range(6)], (name, got)  # all, in order, once
    assert servers.http.duplicates == 0
    # retries were bounded by the backoff (≤ 1 s apart): a handful of attempts, not a busy loop
    assert 2 <= failures["zalo"] <= 12 and 2 <= failures["webhook:ops"] <= 12, failures
    print(f"outage {outage:.1f} s (10 scaled minutes): retries {failures}; all 18 delivered {drained:.1f} s after")


def queue_numbered_at(queue: NotifyQueue, i: int, who: dict[str, tuple[str, str]]) -> None:
    rows = []
    for name, (channel, address) in who.items():
        text = f"tin số {i:03d} gửi {name}"
        rows.append(NewMessage(f"seq{i:03d}|{name}|{channel}", name, channel, address, f"inc{i}", "open",
                               "critical", f"[netprobe] {i:03d}", text, {"text": text, "n": i}))  # fmt: skip
    queue.enqueue(rows)


def test_kill_9_mid_send_loses_nothing_and_duplicates_nothing_idempotent(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`netprobe notify flush` killed with SIGKILL while the server holds a request, three times; then a
    clean run. Judged by what the servers received."""
    env = setup_env(monkeypatch, access_token="AT-valid")
    inv_path = write_inventory(tmp_path, servers)
    state = tmp_path / "state"
    q = NotifyQueue(state / QUEUE_FILE)
    n = 12
    who = {"duty/hook": ("webhook:ops", "ops"), "duty/zalo": ("zalo", "1001"), "duty/mail": ("email", "m@bn.vn")}
    queue_numbered(q, n, who)
    config = tmp_path / "netprobe.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(state)}), encoding="utf-8")
    argv = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inv_path), "notify", "flush",
            "--timeout", "120"]  # fmt: skip
    servers.http.delay_s = 0.4  # every HTTP answer is late: a kill lands while a request is in flight
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        before = servers.http.requests
        deadline = time.monotonic() + 30
        while servers.http.requests < before + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # inside the server's 0.4 s delay: the request is received, not yet answered
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
    in_doubt = sum(1 for r in q.rows() if r["state"] == "sending")
    servers.http.delay_s = 0.0
    p = subprocess.run(argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
                       check=False)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert q.depth() == 0 and all(r["state"] == "sent" for r in q.rows())
    hooks = [r.text[:10] for r in servers.http.received if r.channel == "webhook"]
    zalo = [r.text[:10] for r in servers.http.received if r.channel == "zalo"]
    mail = [r.key for r in servers.smtp.received]
    want = [f"tin số {i:03d}" for i in range(n)]
    assert hooks == want  # nothing lost; resends of in-doubt requests were recognised by Idempotency-Key
    assert sorted(set(zalo)) == want and len(zalo) - n <= kills  # Zalo has no idempotency key: ≤ 1 per kill
    assert len(set(mail)) == n and len(mail) - n <= kills
    assert servers.http.duplicates <= kills
    print(f"kill -9 x{kills}: in doubt at restart {in_doubt}; webhook {len(hooks)}/{n} (repeats recognised: "
          f"{servers.http.duplicates}), zalo {len(zalo)}/{n}, e-mail {len(mail)}/{n}")  # fmt: skip


def test_grafana_webhook_alerts_become_the_same_incidents(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`notify serve` (a real process) takes Grafana's webhook body for netprobe's line rule: the message
    carries the provider hotline and circuit id like a live verdict's; resolved → the recovery."""
    import socket
    import urllib.request

    env = setup_env(monkeypatch, access_token="AT-valid")
    inv_path = write_inventory(tmp_path, servers)
    config = tmp_path / "netprobe.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inv_path), "notify", "serve",
            "--listen", f"127.0.0.1:{port}"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    try:
        alert = {
            "status": "firing",
            "labels": {"alertname": "Line DOWN", "netprobe": "line", "line": "hl-1", "commune": "hap-linh",
                       "provider": "VNPT", "severity": "critical"},
            "annotations": {"summary": "hl-1 is DOWN", "description": "Line hl-1 has answered no ping for 2 min."},
            "startsAt": "2026-12-02T03:00:00Z",
            "fingerprint": "abc",
        }  # fmt: skip

        def post(body: dict) -> int:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/", json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(json.loads(resp.read())["queued"])

        deadline = time.monotonic() + 30
        while True:
            try:
                queued = post({"status": "firing", "alerts": [alert]})
                break
            except OSError:
                assert time.monotonic() < deadline, "notify serve did not start"
                time.sleep(0.2)
        assert queued == 4  # duty: zalo, e-mail, webhook; the commune contact: zalo
        assert post({"status": "firing", "alerts": [alert]}) == 0  # Grafana repeats itself: nothing new
        assert post({"status": "resolved", "alerts": [{**alert, "status": "resolved"}]}) == 4
        deadline = time.monotonic() + 20
        while len([r for r in servers.http.received if r.channel == "webhook"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    hooks = [r for r in servers.http.received if r.channel == "webhook"]
    assert [h.headers["event"] for h in hooks] == ["open", "recover"]
    assert "gọi tổng đài VNPT Bắc Ninh 18001091, báo mã mạch BN-VN-1" in hooks[0].text
    assert "Line hl-1 has answered no ping" in hooks[0].text
    assert proc.returncode == 0 and "Traceback" not in err, err
