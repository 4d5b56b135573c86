"""Where the outbox drains to: InfluxDB through its v1 API (`/write`, InfluxDB <= 1.7) or its v2 API
(`/api/v2/write` through influxdb-client: InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics).

A sink sends one batch synchronously and either returns (the database accepted it) or raises:
- `Rejected`: the database refuses the batch's content (HTTP 400) — drain.py splits it to find the bad point;
- `TooLarge`: HTTP 413 — drain.py splits it;
- `SinkError`: anything else (unreachable, 5xx, auth, missing database) — the batch stays queued and is
  retried with backoff; the message is one line the user can act on.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import logging
import os
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

from netprobe import limits
from netprobe.config import InfluxConfig
from netprobe.errors import EXIT_FAILURE, EXIT_USAGE
from netprobe.storage.errors import StorageError

log = logging.getLogger(__name__)


class SinkError(StorageError):
    """The batch was not written; it stays queued. `exit_code` 2 when the config must change."""


class Rejected(SinkError):
    """HTTP 400: the database refuses (part of) the batch's content; resending it unchanged cannot help."""


class BeyondRetention(SinkError):
    """HTTP 400 "partial write: points beyond retention policy dropped=N": the server wrote the rest and
    will never take those points (older than its retention); resending cannot help."""

    def __init__(self, message: str, dropped: int) -> None:
        super().__init__(message)
        self.dropped = dropped


class TooLarge(SinkError):
    """HTTP 413: the batch is too large for the server."""


class Sink(Protocol):
    description: str

    def send(self, lines: list[str]) -> None:
        """Write `lines` (line protocol, ns precision) or raise SinkError; returns only once accepted."""
        ...

    def close(self) -> None: ...


def redact_url(url: str) -> str:
    """`url` without `user:password@`: credentials come from the environment (username_env, password_env,
    token_env), and a URL is repeated in every error message and log line."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix, e.g. "" or "/influx"
    url: str  # as configured, without trailing slash and without any user:password@ (it goes in messages)

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        url = redact_url(url)
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SinkError(
                f"storage.influxdb.url {url!r} is not an http(s) URL: use e.g. http://127.0.0.1:8086",
                exit_code=EXIT_USAGE,
            )
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
        except ValueError:
            raise SinkError(f"storage.influxdb.url {url!r}: bad port", exit_code=EXIT_USAGE) from None
        return cls(parsed.scheme, parsed.hostname, port, parsed.path.rstrip("/"), url.rstrip("/"))


class HttpClient:
    """A small keep-alive HTTP client (stdlib) for /ping, /write and /query."""

    def __init__(self, endpoint: Endpoint, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            e = self.endpoint
            if e.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    e.host, e.port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(e.host, e.port, timeout=self.timeout_s)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        url = f"{self.endpoint.url}{path}"
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once on a new one
            conn = self._connection()
            try:
                conn.request(method, self.endpoint.prefix + path, body=body, headers=headers or {})
                resp = conn.getresponse()
                what = f"the answer from {url} (narrow the time range, e.g. --since)"
                data = limits.read_capped(resp, limits.HTTP_ANSWER_MAX_BYTES, what)
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise SinkError(f"{url}: connection lost ({exc.__class__.__name__}); will retry") from None
            except TimeoutError:
                self.close()
                raise SinkError(
                    f"{url}: no answer within {self.timeout_s:g} s; is the database overloaded? "
                    "(storage.influxdb.timeout_s)"
                ) from None
            except OSError as exc:
                self.close()
                raise connect_error(self.endpoint.url, exc) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from or during (urllib3 wraps the OSError; bounded)."""
    chain: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and len(chain) < 10 and node not in chain:
        chain.append(node)
        wrapped = getattr(node, "reason", None)  # urllib3's MaxRetryError keeps the real error here
        node = wrapped if isinstance(wrapped, BaseException) else (node.__cause__ or node.__context__)
    return chain


def connect_error(url: str, exc: BaseException) -> SinkError:
    """The one-line error for a failed connection, chosen by the exception's type (and its causes')."""
    chain = _causes(exc)
    reason = getattr(exc, "strerror", None) or str(exc)
    if any(isinstance(e, socket.gaierror) for e in chain):
        return SinkError(f"cannot resolve the host of {url}: check storage.influxdb.url", exit_code=EXIT_USAGE)
    if tls := next((e for e in chain if isinstance(e, ssl.SSLError)), None):
        return SinkError(f"TLS with {url} failed ({tls}): check the URL scheme and the server's certificate")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        reason = "connection refused"
    return SinkError(f"cannot reach InfluxDB at {url} ({reason}): is it running? check storage.influxdb.url")


def error_text(body: bytes, headers: dict[str, str]) -> str:
    """The server's own error message (InfluxDB puts it in X-Influxdb-Error and a JSON body)."""
    if msg := headers.get("x-influxdb-error"):
        return msg
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            return str(data.get("error") or data.get("message") or data)
    except ValueError:
        pass
    return body.decode("utf-8", "replace").strip()[:300]


def raise_for_status(status: int, body: bytes, headers: dict[str, str], url: str, cfg: InfluxConfig, api: str) -> None:
    """Map a write response to an error the user can act on (nothing for 2xx)."""
    if 200 <= status < 300:
        return
    msg = error_text(body, headers).replace("\n", " ")
    if status in (401, 403):
        if api == "v2":
            hint = f"check {cfg.token_env}" + ("" if os.environ.get(cfg.token_env) else " (it is not set)")
        else:
            hint = f"check {cfg.username_env}/{cfg.password_env}" + (
                "" if os.environ.get(cfg.username_env) else f" ({cfg.username_env} is not set)"
            )
        raise SinkError(f"{status} from {url}: {hint}", exit_code=EXIT_USAGE)
    if status == 404:
        if "database not found" in msg or ("bucket" in msg and "not found" in msg):
            what = f"database {cfg.database!r}" if api == "v1" else f"bucket {cfg.bucket!r} (org {cfg.org!r})"
            create = (
                f"influx -execute 'CREATE DATABASE \"{cfg.database}\"'"
                if api == "v1"
                else f"influx bucket create -n {cfg.bucket} -o {cfg.org}"
            )
            raise SinkError(
                f"{what} does not exist on {url}: create it ({create}) or fix storage.influxdb", exit_code=EXIT_USAGE
            )
        raise SinkError(
            f"404 from {url}: is storage.influxdb.url an InfluxDB with the {api} API? "
            + ("(api: v1 is for InfluxDB <= 1.7)" if api == "v1" else "(InfluxDB <= 1.7 needs api: v1)"),
            exit_code=EXIT_USAGE,
        )
    if status == 400:
        if "beyond retention policy" in msg and "unable to parse" not in msg and "conflict" not in msg:
            match = re.search(r"dropped=(\d+)", msg)
            raise BeyondRetention(f"400 from {url}: {msg}", int(match.group(1)) if match else 0)
        raise Rejected(f"400 from {url}: {msg}")
    if status == 413:
        raise TooLarge(f"413 from {url}: batch too large ({msg})")
    raise SinkError(f"{status} from {url}: {msg or 'server error'}; will retry", exit_code=EXIT_FAILURE)


class V1Sink:
    """InfluxDB 1.x `/write?db=…&precision=ns` (user/password from the environment), gzip."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        self.endpoint = Endpoint.parse(cfg.url)
        self.http = HttpClient(self.endpoint, cfg.timeout_s)
        self.description = f"InfluxDB v1 API {self.endpoint.url} db={cfg.database}"
        params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            params["rp"] = cfg.retention_policy
        self._path = "/write?" + urllib.parse.urlencode(params)
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if cfg.gzip:
            self._headers["Content-Encoding"] = "gzip"
        user, password = os.environ.get(cfg.username_env), os.environ.get(cfg.password_env)
        if user:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def send(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        if self.cfg.gzip:
            body = gzip.compress(body, compresslevel=1)  # level 1: ~5x smaller, cheap enough for 50k+ points/s
        status, headers, data = self.http.request("POST", self._path, body, self._headers)
        raise_for_status(status, data, headers, f"{self.endpoint.url}/write", self.cfg, "v1")

    def close(self) -> None:
        self.http.close()


class V2Sink:
    """`/api/v2/write` through influxdb-client, SYNCHRONOUS (the outbox batches and retries), gzip."""

    def __init__(self, cfg: InfluxConfig) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.cfg = cfg
        self.endpoint = Endpoint.parse(cfg.url)
        self.description = f"InfluxDB v2 API {self.endpoint.url} org={cfg.org} bucket={cfg.bucket}"
        self.client = InfluxDBClient(
            url=self.endpoint.url,
            token=os.environ.get(cfg.token_env) or "",
            org=cfg.org,
            timeout=int(cfg.timeout_s * 1000),
            enable_gzip=cfg.gzip,
            retries=False,  # the outbox retries, with backoff, and keeps the points meanwhile
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def send(self, lines: list[str]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        url = f"{self.endpoint.url}/api/v2/write"
        try:
            self.write_api.write(
                bucket=self.cfg.bucket,
                org=self.cfg.org,
                record="\n".join(lines),
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            raise_for_status(int(exc.status or 0), body, headers, url, self.cfg, "v2")
            raise SinkError(f"{url}: {exc.status} {exc.reason}") from None
        except Urllib3Error as exc:
            chain = _causes(exc)
            if any(isinstance(e, Urllib3Timeout | TimeoutError) for e in chain):
                raise SinkError(
                    f"{url}: no answer within {self.cfg.timeout_s:g} s (storage.influxdb.timeout_s)"
                ) from None
            cause = next((e for e in chain if isinstance(e, OSError)), exc)
            raise connect_error(self.endpoint.url, cause) from None
        except OSError as exc:
            raise connect_error(self.endpoint.url, exc) from None

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def detect_api(cfg: InfluxConfig) -> str:
    """'v1' for InfluxDB <= 1.7 (from /ping's X-Influxdb-Version), else 'v2' (1.8+, 2.x, 3.x, compatibles)."""
    endpoint = Endpoint.parse(cfg.url)
    client = HttpClient(endpoint, cfg.timeout_s)
    try:
        status, headers, body = client.request("GET", "/ping")
    finally:
        client.close()
    version = headers.get("x-influxdb-version", "")
    if status not in (200, 204):
        raise SinkError(
            f"{endpoint.url}/ping answered {status}: is storage.influxdb.url an InfluxDB? "
            f"({error_text(body, headers)})",
            exit_code=EXIT_USAGE,
        )
    return "v1" if is_pre_18(version) else "v2"


def is_pre_18(version: str) -> bool:
    """True for '1.6.7~rc0', '1.7.10'; False for '1.8.10', '2.7.1', 'v3.0.0', '' (unknown: assume modern)."""
    parts = version.lstrip("v").split(".")
    try:
        major, minor = int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (ValueError, IndexError):
        return False
    return major == 1 and minor < 8


class AutoSink:
    """`api: auto`: asks /ping which API the server speaks on first use (and again after a failure)."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        self.inner: Sink | None = None
        self.description = f"InfluxDB (api auto) {Endpoint.parse(cfg.url).url}"

    def send(self, lines: list[str]) -> None:
        if self.inner is None:
            api = detect_api(self.cfg)
            self.inner = V1Sink(self.cfg) if api == "v1" else V2Sink(self.cfg)
            self.description = self.inner.description + " (detected)"
            log.info("storage: %s", self.description)
        self.inner.send(lines)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def make_sink(cfg: InfluxConfig) -> Sink:
    if cfg.api == "v1":
        return V1Sink(cfg)
    if cfg.api == "v2":
        return V2Sink(cfg)
    return AutoSink(cfg)
