"""HTTP(S) probe: one GET per target, every phase timed, for the province's web services (QLVB, DVC).

Phases (like curl's -w timings, but each one on its own, not cumulative):
  dns_ms      resolving the URL's host (only when it is a name, not an IP literal)
  connect_ms  TCP SYN to established
  tls_ms      the TLS handshake (https only)
  ttfb_ms     request written to the first byte of the answer (server think time + one round trip)
  total_ms    from the first phase's start to the last byte of the body
plus http_status, body_bytes, expect_found (when an expected substring is given) and cert_days_left (https:
days until the server certificate's notAfter, negative once expired).

Status: OK (2xx/3xx, expected text present), AUTH (401/403), BAD_REPLY (other 4xx/5xx, the expected text
missing, a malformed answer, a certificate that does not verify), and by exception type (status_of):
TIMEOUT, REFUSED, UNREACHABLE, ERROR. The resolved address is checked against the allow-list right before
connecting: a name that resolves outside is NOT_ALLOWED and nothing is sent to it.
Bounded: one request per target, the answer read up to MAX_BODY bytes, everything within `timeout_ms`
and the batch's deadline; `Connection: close`, so one exchange per connection.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from netprobe.engine.allowlist import AllowList
from netprobe.probes.base import BadReplyError, Measurement, Status, Target, gather_bounded, status_of, waves_budget_s

KIND = "http"
MAX_BODY = 4 << 20  # bytes read per answer: a portal page, not a download
MAX_HEAD = 64 << 10  # status line + headers
USER_AGENT = "netprobe-http/1"


@dataclass(frozen=True)
class HttpSettings:
    url: str
    expect: str | None = None  # a substring the body must contain
    timeout_ms: float = 10_000.0
    interval_s: float = 60.0
    ca_file: str | None = None  # trust this CA bundle instead of the system's (a private CA, the tests)


class HttpBadReply(BadReplyError):
    """The server answered something that is not HTTP/1.x, or too much of it."""


class TlsFailed(BadReplyError):
    """The TLS handshake failed: a certificate that does not verify, a protocol mismatch."""


@dataclass
class WebUrl:
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, text: str) -> WebUrl:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{text!r} is not an http:// or https:// URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path)


def url_port(text: str) -> int:
    return WebUrl.parse(text).port


def cert_days_left(der: bytes, now: dt.datetime | None = None) -> float:
    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.UTC)
    return (cert.not_valid_after_utc - now).total_seconds() / 86_400.0


def _dechunk(body: bytes) -> bytes:
    """Transfer-Encoding: chunked → the payload (bounded by the input: every chunk consumes it)."""
    out, pos = bytearray(), 0
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            size = int(body[pos:eol].split(b";", 1)[0], 16)
        except ValueError:
            raise HttpBadReply("malformed chunked encoding") from None
        if size == 0:
            break
        out += body[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out)


class HttpProbe:
    kind = KIND

    def __init__(self, allow: AllowList, concurrency: int = 64) -> None:
        self.allow = allow
        self.concurrency = concurrency

    def budget_s(self, targets: Sequence[Target]) -> float:
        """Waves of `concurrency` requests, each bounded by its own timeout."""
        worst = max((_settings(t).timeout_ms for t in targets), default=0.0)
        return waves_budget_s(len(targets), self.concurrency, worst)

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        return await gather_bounded(targets, self.concurrency, lambda t: self.fetch(t, deadline))

    async def fetch(self, target: Target, deadline: float) -> Measurement:
        started = time.time()
        fields: dict[str, float | int | str | bool] = {}
        try:
            s = _settings(target)
            url = WebUrl.parse(s.url)
        except (TypeError, ValueError) as exc:
            return Measurement(target, started, Status.ERROR, fields, str(exc))
        loop = asyncio.get_running_loop()
        timeout = min(s.timeout_ms / 1000.0, deadline - loop.time())
        if timeout <= 0:
            return Measurement(target, started, Status.TIMEOUT, fields, "deadline passed before the request")
        phase = ["dns"]
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(target, s, url, fields, phase, started)
        except TimeoutError:
            msg = f"no answer within {timeout * 1000:.0f} ms (during {phase[0]})"
            return Measurement(target, started, Status.TIMEOUT, fields, msg)
        except ssl.SSLError as exc:  # the certificate, or the TLS versions on offer
            fields.pop("tls_ms", None)
            return Measurement(target, started, Status.BAD_REPLY, fields, f"TLS with {url.host}: {exc}"[:300])
        except socket.gaierror as exc:
            return Measurement(target, started, Status.ERROR, fields, f"cannot resolve {url.host}: {exc.strerror}")
        except OSError as exc:
            text = exc.strerror or str(exc) or type(exc).__name__
            return Measurement(target, started, status_of(exc), fields, f"{phase[0]}: {text}")
        except BadReplyError as exc:
            return Measurement(target, started, status_of(exc), fields, str(exc))

    async def _exchange(
        self,
        target: Target,
        s: HttpSettings,
        url: WebUrl,
        fields: dict[str, float | int | str | bool],
        phase: list[str],
        started: float,
    ) -> Measurement:
        loop = asyncio.get_running_loop()
        t_start = time.perf_counter()
        ip = ip_literal(url.host)
        if ip is None:  # a name: resolve it (timed), then keep the first address the allow-list takes
            infos = await loop.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
            fields["dns_ms"] = (time.perf_counter() - t_start) * 1000.0
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
            allowed = [a for a in addresses if self.allow.allows(a)]
            if not allowed:
                shown = ", ".join(sorted({a.compressed for a in addresses}))
                refusal = self.allow.refusal(shown, f"{target.key} ({url.host})")
                return Measurement(target, started, Status.NOT_ALLOWED, fields, refusal)
            ip = allowed[0]
        elif not self.allow.allows(ip):  # checked again here, right before anything is sent
            refusal = self.allow.refusal(ip.compressed, target.key)
            return Measurement(target, started, Status.NOT_ALLOWED, fields, refusal)
        phase[0] = "connect"
        sock = socket.socket(socket.AF_INET if ip.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
        sock.setblocking(False)
        writer: asyncio.StreamWriter | None = None
        try:
            t0 = time.perf_counter()
            await loop.sock_connect(sock, (ip.compressed, url.port))
            fields["connect_ms"] = (time.perf_counter() - t0) * 1000.0
            context: ssl.SSLContext | None = None
            if url.scheme == "https":
                phase[0] = "tls"
                context = ssl.create_default_context(cafile=s.ca_file)
            t0 = time.perf_counter()
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=context, server_hostname=url.host if context else None, limit=MAX_HEAD
            )
            if context is not None:
                fields["tls_ms"] = (time.perf_counter() - t0) * 1000.0
                tls = writer.get_extra_info("ssl_object")
                der = tls.getpeercert(binary_form=True) if tls is not None else None
                if der:
                    fields["cert_days_left"] = cert_days_left(der)
            phase[0] = "request"
            host = url.host if ":" not in url.host else f"[{url.host}]"
            default = url.port == (443 if url.scheme == "https" else 80)
            request = (
                f"GET {url.path} HTTP/1.1\r\nHost: {host}{'' if default else f':{url.port}'}\r\n"
                f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            await writer.drain()
            t0 = time.perf_counter()
            phase[0] = "first byte"
            first = await reader.read(1)
            if not first:
                raise HttpBadReply("the server closed the connection without an answer")
            fields["ttfb_ms"] = (time.perf_counter() - t0) * 1000.0
            phase[0] = "response"
            code, headers, body = await _read_response(first, reader)
            fields["total_ms"] = (time.perf_counter() - t_start) * 1000.0
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 0.5)
            else:
                sock.close()
        fields["http_status"] = code
        fields["body_bytes"] = len(body)
        error: str | None = None
        status = Status.OK
        if s.expect is not None:
            text = body.decode(_charset(headers), "replace")
            fields["expect_found"] = s.expect in text
            if not fields["expect_found"]:
                status, error = Status.BAD_REPLY, f"HTTP {code}, but the page lacks {s.expect!r}"
        if code in (401, 403):
            status, error = Status.AUTH, f"HTTP {code}: the server refuses us"
        elif code >= 400:
            status, error = Status.BAD_REPLY, f"HTTP {code}"
        return Measurement(target, started, status, fields, error)


async def _read_response(first: bytes, reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpBadReply(f"response headers longer than {MAX_HEAD} bytes") from None
    except asyncio.IncompleteReadError:
        raise HttpBadReply("the answer ended inside its headers") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpBadReply(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = bytearray()
    length = headers.get("content-length")
    want = int(length) if length is not None and length.isdigit() else None
    while len(body) < MAX_BODY and (want is None or len(body) < want):
        chunk = await reader.read(min(65_536, MAX_BODY - len(body)))
        if not chunk:
            break
        body += chunk
    data = bytes(body)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data = _dechunk(data)
    return int(parts[1]), headers, data


def _charset(headers: dict[str, str]) -> str:
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            with contextlib.suppress(LookupError):
                return codecs.lookup(value.strip('"')).name
    return "utf-8"


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _settings(target: Target) -> HttpSettings:
    params: Any = target.params
    if not isinstance(params, HttpSettings):
        raise TypeError(f"{target.key}: an http target needs HttpSettings (url)")
    return params
