"""The channels: Zalo OA message API, SMTP e-mail, a JSON webhook. Every request has a timeout.

Errors say what to do with the message: `SendError.permanent` (the receiver refused this message: mark it
failed, go on with the lane), `SendError.channel_down` (the channel itself is unreachable or
misconfigured: the whole channel waits with backoff, nothing is lost), otherwise retry this message later.

Zalo (docs/notify.md has the contract and its sources): the access token goes in the `access_token`
header; error -216 (token invalid/expired), or a stored expiry that has passed, makes the client refresh
with the single-use refresh token and retry once. The new pair is written to the state directory
(0600, temp file + fsync + rename) *before* it is used, under a lock so two processes never spend the
same refresh token. The configured tokens (secret references) seed the store; a changed configured
refresh token (re-authorised in the Zalo console) replaces a stored one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from netprobe.errors import ConfigError
from netprobe.inventory.model import SmtpChannel, WebhookChannel, ZaloChannel
from netprobe.notify.queue import Queued

log = logging.getLogger(__name__)

MAX_RESPONSE = 64 * 1024  # bytes read of any HTTP answer
ZALO_TOKEN_INVALID = -216
ZALO_RATE_LIMITED = -32
ZALO_SEND = "/v3.0/oa/message/cs"
ZALO_REFRESH = "/v4/oa/access_token"
REFRESH_MARGIN_S = 60.0  # refresh this long before the stored expiry


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, channel_down: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.channel_down = channel_down


class Channel(Protocol):
    name: str

    def send(self, msg: Queued) -> None: ...


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA bundle {ca_file}: {exc}") from None


def _http(
    url: str, body: bytes, headers: Mapping[str, str], *, timeout: float, context: ssl.SSLContext | None
) -> tuple[int, bytes]:
    """POST; (status, body ≤ MAX_RESPONSE). Network trouble and 5xx → channel_down; other 4xx → permanent."""
    req = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return int(resp.status), resp.read(MAX_RESPONSE)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            exc.read(MAX_RESPONSE)
        if exc.code >= 500:
            raise SendError(f"HTTP {exc.code} from {_host(url)}", channel_down=True) from None
        if exc.code in (408, 429):
            raise SendError(f"HTTP {exc.code} from {_host(url)}") from None
        raise SendError(f"HTTP {exc.code} from {_host(url)}", permanent=True) from None
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"{_host(url)}: {reason}", channel_down=True) from None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SendError(f"{where}: the answer is not JSON", channel_down=True) from None
    if not isinstance(data, dict):
        raise SendError(f"{where}: the answer is not a JSON object", channel_down=True)
    return data


# ---------------------------------------------------------------------------------------------------
# Zalo OA
# ---------------------------------------------------------------------------------------------------
class ZaloTokens:
    """The access/refresh token pair, kept in `<state>/zalo-token.json` once rotated."""

    def __init__(self, cfg: ZaloChannel, state_dir: Path) -> None:
        self.cfg = cfg
        self.path = Path(state_dir) / "zalo-token.json"
        self.lock_path = Path(state_dir) / "zalo-token.lock"

    def _seed(self) -> str:
        return hashlib.sha256(self.cfg.refresh_token.resolve("notify.zalo.refresh_token").encode()).hexdigest()[:16]

    def load(self) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            if self.path.stat().st_size <= MAX_RESPONSE:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                stored = data if isinstance(data, dict) else {}
        seed = self._seed()
        if stored.get("access_token") and stored.get("refresh_token") and stored.get("seed") == seed:
            return stored
        return {
            "access_token": self.cfg.access_token.resolve("notify.zalo.access_token"),
            "refresh_token": self.cfg.refresh_token.resolve("notify.zalo.refresh_token"),
            "expires_at": None,
            "seed": seed,
        }

    def save(self, tokens: Mapping[str, Any]) -> None:
        """Atomically: the old refresh token is spent, so the new one must not be lost to a crash."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(dict(tokens)).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class ZaloClient:
    name = "zalo"

    def __init__(self, cfg: ZaloChannel, state_dir: Path, clock: Any = time.time) -> None:
        self.cfg = cfg
        self.tokens = ZaloTokens(cfg, state_dir)
        self.context = _ssl_context(cfg.ca_file)
        self.clock = clock
        self.refreshes = 0

    def _post_json(self, path: str, payload: Mapping[str, Any], token: str) -> dict[str, Any]:
        _, raw = _http(
            self.cfg.api_base.rstrip("/") + path,
            json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            {"Content-Type": "application/json", "access_token": token},
            timeout=self.cfg.timeout_s,
            context=self.context,
        )
        return _json(raw, "zalo")

    def access_token(self) -> str:
        tokens = self.tokens.load()
        expires = tokens.get("expires_at")
        if isinstance(expires, int | float) and self.clock() >= expires - REFRESH_MARGIN_S:
            return self.refresh(str(tokens["access_token"]))
        return str(tokens["access_token"])

    def refresh(self, stale: str) -> str:
        """A new pair for the `stale` access token (unless another process already replaced it)."""
        with self.tokens.locked():
            tokens = self.tokens.load()
            expires = tokens.get("expires_at")
            fresh = not isinstance(expires, int | float) or self.clock() < expires - REFRESH_MARGIN_S
            if tokens["access_token"] != stale and fresh:
                return str(tokens["access_token"])
            form = urllib.parse.urlencode(
                {"app_id": self.cfg.app_id, "refresh_token": tokens["refresh_token"], "grant_type": "refresh_token"}
            ).encode("ascii")
            _, raw = _http(
                self.cfg.oauth_base.rstrip("/") + ZALO_REFRESH,
                form,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "secret_key": self.cfg.secret_key.resolve("notify.zalo.secret_key"),
                },
                timeout=self.cfg.timeout_s,
                context=self.context,
            )
            data = _json(raw, "zalo token refresh")
            if not data.get("access_token") or not data.get("refresh_token"):
                why = data.get("error_description") or data.get("error_name") or data.get("error") or "no token"
                # the channel waits (messages stay queued) until someone re-authorises the OA
                raise SendError(f"zalo token refresh refused: {why}", channel_down=True)
            try:
                lifetime = float(data.get("expires_in") or 3600)
            except (TypeError, ValueError):
                lifetime = 3600.0
            new = {
                "access_token": str(data["access_token"]),
                "refresh_token": str(data["refresh_token"]),
                "expires_at": self.clock() + lifetime,
                "seed": tokens["seed"],
                "refreshed_at": self.clock(),
            }
            self.tokens.save(new)
            self.refreshes += 1
            log.info("zalo: access token refreshed (valid %.0f s); the new refresh token is stored", lifetime)
            return str(new["access_token"])

    def send(self, msg: Queued) -> None:
        payload = {"recipient": {"user_id": msg.address}, "message": {"text": msg.body[:2000]}}
        token = self.access_token()
        for attempt in (1, 2):
            data = self._post_json(ZALO_SEND, payload, token)
            code = data.get("error")
            if code == 0:
                return
            if code == ZALO_TOKEN_INVALID and attempt == 1:
                token = self.refresh(token)
                continue
            text = f"zalo error {code}: {data.get('message', '')}"
            if code == ZALO_TOKEN_INVALID:
                raise SendError(text, channel_down=True)
            if code == ZALO_RATE_LIMITED:
                raise SendError(text, channel_down=True)
            raise SendError(text, permanent=True)  # e.g. not a follower of the OA: this message cannot go


# ---------------------------------------------------------------------------------------------------
# SMTP
# ---------------------------------------------------------------------------------------------------
def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class SmtpClient:
    name = "email"

    def __init__(self, cfg: SmtpChannel) -> None:
        self.cfg = cfg
        self.context = _ssl_context(cfg.ca_file) if cfg.security != "none" else None

    def message(self, msg: Queued) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.cfg.sender
        mail["To"] = msg.address
        mail["Subject"] = msg.title
        mail["Date"] = formatdate(msg.created, localtime=False)
        # stable per idempotency key: a resend after a crash carries the same Message-ID
        digest = hashlib.sha256(msg.key.encode("utf-8")).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@netprobe>"
        mail["X-Netprobe-Key"] = digest
        mail.set_content(msg.body, charset="utf-8")
        return mail

    def send(self, msg: Queued) -> None:
        c = self.cfg
        try:
            smtp: smtplib.SMTP
            if c.security == "ssl":
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self.context)
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            with smtp:
                if c.security == "starttls":
                    smtp.starttls(context=self.context)
                if c.user:
                    password = c.password.resolve("notify.smtp.password") if c.password else ""
                    smtp.login(c.user, password)
                smtp.send_message(self.message(msg))
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"smtp refused {msg.address}: {exc.recipients}", permanent=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"smtp login refused: {exc.smtp_code}", channel_down=True) from None
        except smtplib.SMTPResponseException as exc:
            text = f"smtp {exc.smtp_code}: {_text(exc.smtp_error)[:200]}"
            raise SendError(text, permanent=500 <= exc.smtp_code < 600, channel_down=exc.smtp_code == 421) from None
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise SendError(f"smtp {c.host}:{c.port}: {exc}", channel_down=True) from None


# ---------------------------------------------------------------------------------------------------
# Webhook
# ---------------------------------------------------------------------------------------------------
class WebhookClient:
    def __init__(self, name: str, cfg: WebhookChannel) -> None:
        self.name = f"webhook:{name}"
        self.cfg = cfg
        self.context = _ssl_context(cfg.ca_file) if cfg.url.startswith("https:") else None

    def send(self, msg: Queued) -> None:
        body = json.dumps(msg.payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": hashlib.sha256(msg.key.encode("utf-8")).hexdigest()[:32],
            "User-Agent": "netprobe-notify",
        }
        if self.cfg.token is not None:
            headers["Authorization"] = f"Bearer {self.cfg.token.resolve(f'notify.webhooks.{self.name}.token')}"
        if self.cfg.hmac_secret is not None:
            key = self.cfg.hmac_secret.resolve(f"notify.webhooks.{self.name}.hmac_secret").encode("utf-8")
            headers["X-Netprobe-Signature"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        _http(self.cfg.url, body, headers, timeout=self.cfg.timeout_s, context=self.context)
