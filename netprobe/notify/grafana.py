"""`netprobe notify serve`: a Grafana webhook contact point on loopback → the same incidents and queue.

Grafana (unified alerting) POSTs `{"status", "alerts": [{"status": "firing"|"resolved", "labels",
"annotations", "startsAt", "fingerprint"}]}`. netprobe's own rules (netprobe/grafana/alerting.py) label
every alert `netprobe=line|commune|agent` with the line/commune/agent: a line alert becomes the incident
`line:<id>` (so its message carries the provider hotline and circuit id, like a live verdict's), a commune
alert `commune:<slug>` (isolated), anything else `alert:<rule>:<labels>` with Grafana's own summary.
Firing opens or keeps, resolved recovers. Only loopback is served: Grafana runs on the same host, and
nothing else should be able to make the province's phones ring.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any

from netprobe.errors import ConfigError
from netprobe.notify.incidents import Cause, SubjectKind
from netprobe.notify.service import Notifier

log = logging.getLogger("netprobe.notify")

MAX_BODY = 1 << 20  # a Grafana notification with hundreds of alerts is ~100 kB
MAX_ALERTS = 1000


def _time(text: object, default: float) -> float:
    if not isinstance(text, str):
        return default
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def causes_from_grafana(payload: Mapping[str, Any], now: float) -> tuple[dict[str, Cause], set[str]]:
    """(firing causes by key, keys resolved) of one Grafana webhook notification."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("not a Grafana webhook notification: no alerts list")
    bad: dict[str, Cause] = {}
    good: set[str] = set()
    for alert in alerts[:MAX_ALERTS]:
        if not isinstance(alert, dict):
            continue
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        notes = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        what = labels.get("netprobe", "")
        kind: SubjectKind
        if what == "line" and labels.get("line"):
            kind, subject = "line", labels["line"]
        elif what == "commune" and labels.get("commune"):
            kind, subject = "commune", labels["commune"]
        else:
            kind = "alert"
            rest = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity"))
            subject = f"{labels.get('alertname', 'grafana')}:{rest}" if rest else labels.get("alertname", "grafana")
        key = f"{kind}:{subject}"
        critical = labels.get("severity") == "critical"
        if str(alert.get("status")) == "resolved":
            good.add(key)
            continue
        bad[key] = Cause(
            key,
            kind,
            subject,
            "DOWN" if critical else "UNSTABLE",
            _time(alert.get("startsAt"), now),
            (),
            labels.get("commune") or None,
            critical=critical,
            title=notes.get("summary", labels.get("alertname", "")),
            text=notes.get("description", ""),
        )
    return bad, good


class GrafanaReceiver:
    """A threading HTTP server: POST any path with a Grafana webhook body."""

    def __init__(self, notifier: Notifier, host: str, port: int, clock: Any) -> None:
        try:
            loopback = ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(f"notify serve listens on loopback only (127.0.0.1 or ::1), not {host!r}")
        self.notifier = notifier
        self.clock = clock
        self.lock = threading.Lock()  # one evaluation of the tracker at a time
        self.received = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "netprobe-notify"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("grafana receiver: " + format, *args)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                if size <= 0 or size > MAX_BODY:
                    self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if size else HTTPStatus.LENGTH_REQUIRED)
                    return
                try:
                    payload = json.loads(self.rfile.read(size).decode("utf-8"))
                    if not isinstance(payload, dict):
                        raise ValueError("not a JSON object")
                    now = receiver.clock()
                    bad, good = causes_from_grafana(payload, now)
                    with receiver.lock:
                        added = receiver.notifier.process(bad, good, now)
                except (ValueError, UnicodeDecodeError) as exc:
                    self.send_error(HTTPStatus.BAD_REQUEST, str(exc)[:200])
                    return
                receiver.received += 1
                body = json.dumps({"queued": added}).encode("ascii")
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.5)

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
