"""Real local servers for the notify channels (issue 17), on 127.0.0.1 only.

- `ContractServer`: HTTPS (a self-signed certificate made here, for 127.0.0.1) that enforces the Zalo OA
  contract of docs/notify.md — send: POST /v3.0/oa/message/cs, `access_token` header, JSON
  {"recipient": {"user_id"}, "message": {"text"}}, error -216 for an unknown or expired token; refresh: POST
  /v4/oa/access_token, form-encoded, `secret_key` header, app_id + refresh_token + grant_type=refresh_token,
  each refresh token usable once (a new pair comes back, the old access token dies) — and a webhook at
  /hook (JSON, Idempotency-Key honoured like a careful receiver, optional bearer token and HMAC check).
- `SmtpServer`: aiosmtpd, optionally requiring STARTTLS with the same certificate.
Runnable as `python -m tests.integration.notify_servers STATE_DIR` (the lab test starts it inside a data
centre namespace): it writes ports.json and appends every accepted message to received.jsonl.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

APP_ID = "4242424242"
SECRET_KEY = "zalo-app-secret-for-tests"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem); the cert is its own CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netprobe test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Received:
    channel: str  # zalo | webhook | email
    to: str
    text: str
    key: str = ""  # Idempotency-Key / Message-ID
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0


class ContractServer:
    """Zalo OA + webhook over HTTPS on 127.0.0.1, enforcing the documented request contract. Header names
    are case-insensitive (HTTP): handlers see them lower-cased."""

    def __init__(
        self, cert: Path, key: Path, *, access_token: str, refresh_token: str, port: int = 0,
        webhook_token: str | None = None, hmac_secret: str | None = None, log: Path | None = None,
    ) -> None:  # fmt: skip
        self.cert, self.key = cert, key
        self.access_tokens = {access_token: time.time() + 3600}  # token → expiry
        self.refresh_tokens = {refresh_token}
        self.spent_refresh: list[str] = []
        self.refused_refresh = 0
        self.token_errors = 0  # -216 answers
        self.webhook_token, self.hmac_secret = webhook_token, hmac_secret
        self.received: list[Received] = []
        self.seen_keys: set[str] = set()
        self.duplicates = 0  # requests repeating an Idempotency-Key (not delivered twice)
        self.requests = 0
        self.delay_s = 0.0  # before answering: a client killed meanwhile leaves the request in doubt
        self.log = log
        self.lock = threading.Lock()
        self._port = port
        self.httpd: ThreadingHTTPServer | None = None
        self.start()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    def start(self) -> None:
        """(Re)start on the same port: an outage ends."""
        server = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(size, 1 << 20))
                path = urllib.parse.urlsplit(self.path).path
                with server.lock:
                    server.requests += 1
                if path == "/v3.0/oa/message/cs":
                    status, answer = server.zalo_send({k.lower(): v for k, v in self.headers.items()}, body)
                elif path == "/v4/oa/access_token":
                    status, answer = server.zalo_refresh({k.lower(): v for k, v in self.headers.items()}, body)
                elif path.startswith("/hook"):
                    status, answer = server.webhook(path, {k.lower(): v for k, v in self.headers.items()}, body)
                else:
                    status, answer = 404, {"error": "no such path"}
                if server.delay_s:
                    time.sleep(server.delay_s)
                raw = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request (the kill -9 test) is expected here

        httpd = Quiet(("127.0.0.1", self._port), Handler)
        httpd.daemon_threads = True
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._port = int(httpd.server_address[1])
        self.httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self) -> None:
        """An outage: the port refuses connections until start()."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens = {t: 0.0 for t in self.access_tokens}

    def _record(self, r: Received) -> None:
        r.at = time.time()
        self.received.append(r)
        if self.log is not None:
            with self.log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")

    # ---- Zalo OA --------------------------------------------------------------------------------------
    def zalo_send(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        token = headers.get("access_token", "")
        with self.lock:
            if self.access_tokens.get(token, 0.0) <= time.time():
                self.token_errors += 1
                return 200, {"error": -216, "message": "Access token is invalid"}
            if not headers.get("content-type", "").startswith("application/json"):
                return 200, {"error": -201, "message": "Content-Type must be application/json"}
            try:
                data = json.loads(body.decode("utf-8"))
                user = data["recipient"]["user_id"]
                text = data["message"]["text"]
                assert set(data) == {"recipient", "message"} and isinstance(user, str) and user.isdigit()
                assert isinstance(text, str) and 0 < len(text) <= 2000
            except (ValueError, KeyError, TypeError, AssertionError):
                return 200, {"error": -201, "message": "Parameters are invalid"}
            self._record(Received("zalo", user, text))
            return 200, {
                "error": 0,
                "message": "Success",
                "data": {"message_id": secrets.token_hex(8), "user_id": user},
            }

    def zalo_refresh(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(urllib.parse.parse_qsl(body.decode("ascii", "replace")))
        with self.lock:
            ok = (
                headers.get("secret_key") == SECRET_KEY
                and headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
                and form.get("app_id") == APP_ID
                and form.get("grant_type") == "refresh_token"
                and form.get("refresh_token") in self.refresh_tokens
            )
            if not ok:
                self.refused_refresh += 1
                return 200, {"error": -14014, "error_name": "Invalid refresh token", "error_description": "refused"}
            self.refresh_tokens.discard(form["refresh_token"])  # single use
            self.spent_refresh.append(form["refresh_token"])
            access, refresh = "AT-" + secrets.token_hex(8), "RT-" + secrets.token_hex(8)
            self.access_tokens = {access: time.time() + 90000}  # the old access token dies with it
            self.refresh_tokens.add(refresh)
            return 200, {"access_token": access, "refresh_token": refresh, "expires_in": "90000"}

    # ---- webhook ------------------------------------------------------------------------------------
    def webhook(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if self.webhook_token is not None and headers.get("authorization") != f"Bearer {self.webhook_token}":
            return 401, {"error": "bad token"}
        if self.hmac_secret is not None:
            want = "sha256=" + hmac.new(self.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("x-netprobe-signature", ""), want):
                return 401, {"error": "bad signature"}
        key = headers.get("idempotency-key", "")
        if not key or not headers.get("content-type", "").startswith("application/json"):
            return 400, {"error": "Idempotency-Key and JSON required"}
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            return 400, {"error": "not JSON"}
        with self.lock:
            if key in self.seen_keys:
                self.duplicates += 1
                return 200, {"ok": True, "duplicate": True}
            self.seen_keys.add(key)
            self._record(Received("webhook", path, str(data.get("text", "")), key, {"event": str(data.get("event"))}))
        return 200, {"ok": True}


class SmtpServer:
    """aiosmtpd on 127.0.0.1; `starttls`: the server requires STARTTLS before MAIL."""

    def __init__(self, cert: Path | None = None, key: Path | None = None, log: Path | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[Received] = []
        self.log = log
        self.stopped = False
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                from email import message_from_bytes
                from email.policy import default

                mail = message_from_bytes(envelope.original_content or envelope.content, policy=default)
                body = mail.get_body(("plain",))
                r = Received(
                    "email", ",".join(envelope.rcpt_tos), body.get_content() if body else "",
                    str(mail["Message-ID"]), {"subject": str(mail["Subject"]), "tls": str(bool(session.ssl))},
                )  # fmt: skip
                r.at = time.time()
                outer.received.append(r)
                if outer.log is not None:
                    with outer.log.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")
                return "250 OK"

        tls = None
        if cert is not None and key is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(cert, key)
        self.port = free_port()
        self.controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, tls_context=tls, require_starttls=tls is not None
        )
        self.controller.start()

    def stop(self) -> None:
        if not self.stopped:  # stopping twice (an outage, then the teardown) is fine
            self.stopped = True
            self.controller.stop()


def main(state: str) -> None:
    """Serve until killed; for a lab run inside a namespace."""
    d = Path(state)
    cert, key = make_cert(d)
    log = d / "received.jsonl"
    http = ContractServer(cert, key, access_token="AT-initial", refresh_token="RT-initial", log=log)
    smtp = SmtpServer(cert, key, log=log)
    (d / "ports.json").write_text(json.dumps({"https": http.port, "smtp": smtp.port}), encoding="utf-8")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
