"""`netprobe notify status|test|flush|serve`: the notification queue, a test message, a Grafana receiver."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click

from netprobe.cli.context import App, pass_app
from netprobe.errors import EXIT_FAILURE, ConfigError
from netprobe.inventory.loader import Inventory
from netprobe.inventory.model import NotifyConfig, Recipient
from netprobe.notify.deliver import Deliverer, build_channels, drain
from netprobe.notify.message import render_test
from netprobe.notify.queue import NotifyQueue
from netprobe.notify.route import Delivery
from netprobe.notify.service import QUEUE_FILE, Notifier


def _cfg(inv: Inventory) -> NotifyConfig:
    if inv.notify is None:
        raise ConfigError(f"{inv.source}: no notify: block; see docs/notify.md for recipients and channels")
    return inv.notify


def _ago(ts: float | None, now: float) -> str:
    return "never" if ts is None else f"{max(0.0, now - ts):.0f} s ago"


@click.group()
def notify() -> None:
    """Incident notifications: Zalo OA, e-mail, webhooks (docs/notify.md)."""


@notify.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Queue depth and the last error per channel; exit 1 if a channel is failing."""
    inv = app.inventory()
    cfg = _cfg(inv)
    path = app.config.state_path() / QUEUE_FILE
    queue = NotifyQueue(path, max_queued=cfg.settings.max_queued)
    now = time.time()
    try:
        configured = [c.name for c in build_channels(cfg, app.config.state_path())]
        rows = queue.status(configured, now)
        depth, dropped = queue.depth(), queue.dropped()
    finally:
        queue.close()
    failing = [r.channel for r in rows if r.failing]
    if as_json:
        out = {
            "queue": str(path),
            "depth": depth,
            "dropped": dropped,
            "failing": failing,
            "channels": [
                {
                    "channel": r.channel, "depth": r.depth, "sent": r.sent, "failed": r.failed,
                    "failures": r.failures, "consecutive_failures": r.consecutive, "last_ok": r.ok_at,
                    "last_error": r.error, "last_error_at": r.error_at, "oldest_s": r.oldest_s,
                }
                for r in rows
            ],
        }  # fmt: skip
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(f"queue {path}: {depth} undelivered, {dropped} dropped (queue full)")
        for r in rows:
            state = "FAILING" if r.failing else "ok"
            line = (
                f"  {r.channel:<16} {state:<8} queued={r.depth} sent={r.sent} failed={r.failed} "
                f"last_ok={_ago(r.ok_at, now)}"
            )
            if r.error:
                line += f" last_error={_ago(r.error_at, now)}: {r.error}"
            click.echo(line)
    if failing:
        raise click.exceptions.Exit(EXIT_FAILURE)


def _find(cfg: NotifyConfig, wanted: str) -> list[tuple[str, Recipient]]:
    groups: list[tuple[str, list[Recipient]]] = [("duty", cfg.duty)]
    groups += [(f"communes/{k}", v) for k, v in cfg.communes.items()]
    groups += [(f"providers/{k}", v) for k, v in cfg.providers.items()]
    found = []
    for group, people in groups:
        for r in people:
            if wanted in (r.name, f"{group}/{r.name}", r.email, r.zalo_user_id):
                found.append((group, r))
    return found


@notify.command()
@click.option("--recipient", "wanted", required=True, metavar="NAME", help="A recipient's name (or group/name).")
@click.option("--timeout", type=click.FloatRange(1, 300), default=30.0, show_default=True, help="Seconds to deliver.")
@pass_app
def test(app: App, wanted: str, timeout: float) -> None:
    """Send one test message to every address of a recipient, through the queue; exit 1 if one fails."""
    inv = app.inventory()
    cfg = _cfg(inv)
    found = _find(cfg, wanted)
    if not found:
        raise ConfigError(f"no recipient {wanted!r} in notify: (duty, communes, providers)")
    state = app.config.state_path()
    notifier = Notifier(inv, app.config.agent or "cli", state, state_key="test")
    now = time.time()
    rows = []
    for group, r in found:
        for channel, address in (("zalo", r.zalo_user_id), ("email", r.email), (f"webhook:{r.webhook}", r.webhook)):
            if address is not None:
                d = Delivery(f"{group}/{r.name}", channel, address, r.lang)
                rows.append(notifier.row(f"test@{now:.3f}", "test", None, d, render_test(d.recipient, r.lang, now)))
    notifier.queue.enqueue(rows, now=now)
    notifier.close()
    result = drain(state / QUEUE_FILE, build_channels(cfg, state), cfg.settings, timeout)
    if result["busy"]:
        click.echo(f"queued; the agent (pid {result['busy']}) delivers this queue and will send it")
        return
    queue = NotifyQueue(state / QUEUE_FILE)
    try:
        bad = 0
        for row in rows:
            got = queue.db.execute("SELECT state, last_error FROM messages WHERE key=?", (row.key,)).fetchone()
            ok = got is not None and got[0] == "sent"
            bad += 0 if ok else 1
            why = "sent" if ok else f"NOT sent ({got[1] if got else '?'})"
            click.echo(f"{row.channel:<16} {row.recipient}: {why}")
    finally:
        queue.close()
    if bad:
        raise click.exceptions.Exit(EXIT_FAILURE)


@notify.command()
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True, help="Seconds at most.")
@pass_app
def flush(app: App, timeout: float) -> None:
    """Deliver what is due now (when no agent delivers this queue), then exit."""
    cfg = _cfg(app.inventory())
    state = app.config.state_path()
    result = drain(state / QUEUE_FILE, build_channels(cfg, state), cfg.settings, timeout)
    if result["busy"]:
        click.echo(f"the agent (pid {result['busy']}) delivers this queue; nothing to do here")
        return
    click.echo(f"sent {result['sent']}, {result['left']} still queued")


@notify.command()
@click.option("--listen", default="127.0.0.1:9095", show_default=True, metavar="HOST:PORT", help="Loopback only.")
@click.option("--no-deliver", is_flag=True, help="Only queue (another process delivers).")
@pass_app
def serve(app: App, listen: str, no_deliver: bool) -> None:
    """Receive Grafana webhook alerts on loopback and notify them like live verdicts (SIGTERM stops)."""
    from netprobe.notify.grafana import GrafanaReceiver

    host, _, port_text = listen.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--listen {listen!r}: give HOST:PORT, e.g. 127.0.0.1:9095") from None
    inv = app.inventory()
    cfg = _cfg(inv)
    state: Path = app.config.state_path()
    notifier = Notifier(inv, app.config.agent or "grafana", state, state_key="grafana")
    notifier.tracker.settings.confirm_s = 0.0  # a Grafana rule has waited its own `for:` already
    receiver = GrafanaReceiver(notifier, host.strip("[]") or "127.0.0.1", port, time.time)
    deliverer = None
    if not no_deliver:
        deliverer = Deliverer(state / QUEUE_FILE, build_channels(cfg, state), cfg.settings)
        deliverer.start()
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopped.is_set():
            stopped.set()
            threading.Thread(target=receiver.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"notify serve: Grafana webhook receiver on http://{host}:{receiver.port}/", err=True)
    try:
        receiver.serve_forever()
    finally:
        if deliverer is not None:
            deliverer.stop()
        notifier.close()
