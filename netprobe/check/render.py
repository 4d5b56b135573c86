"""How a CheckResult is shown: a verdict table and a diagnosis (rich, plain when not a terminal), or JSON.

The JSON form is a stable contract, described by check.schema.json next to this file (docs/check.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from netprobe.check.model import CheckResult, Exit, Finding, Item, Msg, State
from netprobe.health.reasons import clock
from netprobe.i18n import Translator

SCHEMA_ID = "https://netprobe.example/schemas/check/v2"
SCHEMA_VERSION = 2
UP_SINCE_SHOWN_S = 86_400.0  # "up since HH:MM" for a device booted within a day (HH:MM is unambiguous)
STYLE = {
    State.OK: "green",
    State.DEGRADED: "yellow",
    State.UNSTABLE: "dark_orange",
    State.DOWN: "bold red",
    State.UNREACHABLE: "red",
    State.UNKNOWN: "dim",
}
EXIT_STYLE = {Exit.OK: "bold green", Exit.WARNING: "bold yellow", Exit.CRITICAL: "bold red", Exit.UNKNOWN: "dim"}
NESTED_PREFIXES = ("part.", "kind.", "state.", "thing.")


def text(msg: Msg, _: Translator) -> str:
    """Render a message; parameters that are catalogue keys themselves (part.*, kind.*) are translated first."""
    params = {k: _(v) if isinstance(v, str) and v.startswith(NESTED_PREFIXES) else v for k, v in msg.params.items()}
    return _(msg.key, **params)


def _num(v: float | None, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v:.{2 if abs(v) < 10 else digits}f}{unit}"


def _snmp_cell(item: Item, _: Translator) -> str:
    if not item.snmp:
        return ""
    ok = [s for s in item.snmp if s.status == "ok"]
    if not ok:
        return _("check.snmp.no_answer", status=item.snmp[0].status)
    s = ok[-1]
    up = sum(1 for i in s.interfaces if i.oper_status == 1)
    down = [i.name for i in s.interfaces if i.oper_status == 2]
    errors = sum(i.errors_per_s or 0 for i in s.interfaces)
    cell = _("check.snmp.ports", up=up, total=len(s.interfaces))
    if down:
        cell += " " + _("check.snmp.down", names=",".join(down))
    if errors > 0:
        cell += " " + _("check.snmp.errors", rate=f"{errors:.1f}")
    if s.boot_time is not None and s.uptime_s is not None and s.uptime_s < UP_SINCE_SHOWN_S:
        # when it booted, as evidence (a power cut at the office?); a first poll proves no reboot: not a flag
        cell += " " + _("check.snmp.up_since", at=clock(s.boot_time))
    return cell


def _row(item: Item, _: Translator) -> list[str | Text]:
    p = item.best_ping()
    if item.kind == "service":
        ok = [t for t in item.tcp if t.connect_ms is not None]
        pages = [w.total_ms for w in item.web if w.total_ms is not None]
        if pages:  # a web service: the whole page, what people wait for
            rtt = _num(min(pages), " ms")
        else:
            rtt = _num(min(t.connect_ms for t in ok if t.connect_ms is not None), " ms") if ok else "–"
        return [item.label, Text(_(f"state.{item.state.value}"), style=STYLE[item.state]), "", rtt, "", ""]
    label = item.label
    if item.kind == "pe":
        label = "  ↳ " + _("check.pe_label", line=item.id.removesuffix("/pe"))
    elif item.kind == "device":
        label = f"{item.id}: {_(f'kind.{item.device_kind}')}"
    loss = "–" if p is None or p.loss_pct is None else f"{p.loss_pct:.0f}%"
    rtt = "–" if p is None else f"{_num(p.rtt_p50_ms)}/{_num(p.rtt_p95_ms)}"
    return [
        label,
        Text(_(f"state.{item.state.value}"), style=STYLE[item.state]),
        loss,
        rtt,
        _num(p.jitter_ms if p else None),
        _snmp_cell(item, _),
    ]


def render_text(result: CheckResult, _: Translator, console: Console) -> None:
    """The verdict table, then the diagnosis: what is wrong, the evidence, what to do next."""
    headline = _("check.title", commune=result.commune_name, slug=result.commune)
    console.print(Text(headline, style="bold"))
    console.print(
        _(
            "check.subtitle",
            agents=", ".join(result.agents),
            seconds=f"{result.duration_s:.1f}",
            at=datetime.fromtimestamp(result.started).strftime("%Y-%m-%d %H:%M:%S"),
        )
    )
    table = Table(show_lines=False, pad_edge=False, expand=False)
    for col in ("item", "state", "loss", "rtt", "jitter", "snmp"):
        table.add_column(_(f"check.col.{col}"), no_wrap=col in ("state", "loss", "rtt", "jitter"))
    for item in result.items:
        table.add_row(*_row(item, _))
    console.print(table)
    if result.history is not None:
        h = result.history
        hours = round(h.window_s / 3600)
        minutes = max(1, round(h.window_s / 60))  # a history shorter than an hour (a new agent, the demo)
        bad = {k: v for k, v in h.unstable.items() if v > 0}
        if bad:
            for subject, n in sorted(bad.items()):
                if hours:
                    console.print(_("check.history.unstable", subject=subject, n=n, hours=hours))
                else:
                    console.print(_("check.history.unstable_minutes", subject=subject, minutes=minutes))
        else:
            console.print(
                _("check.history.stable", hours=hours) if hours else _("check.history.stable_minutes", minutes=minutes)
            )
    console.print()
    status_line = _(f"check.status.{result.exit.name}")
    console.print(Text(status_line, style=EXIT_STYLE[result.exit]))
    if not result.findings:
        console.print(_("check.all_ok"))
    for n, f in enumerate(result.findings, 1):
        _finding(console, n, f, _)
    for note in result.notes:
        console.print(Text(text(note, _), style="dim"))


def _finding(console: Console, n: int, f: Finding, _: Translator) -> None:
    console.print(
        Text(f"{n}. [{_(f'part.{f.part.value}')}] ", style="bold") + Text(text(f.message, _), style=STYLE[f.state])
    )
    for e in f.evidence:
        console.print(f"   - {text(e, _)}")
    console.print(Text(f"   → {text(f.next_step, _)}", style="bold"))


# ---------------------------------------------------------------------------------------------------
# JSON (stable: see check.schema.json)
# ---------------------------------------------------------------------------------------------------
def _msg_json(msg: Msg, _: Translator) -> dict[str, Any]:
    return {"key": msg.key, "params": {k: v for k, v in msg.params.items()}, "text": text(msg, _)}


def to_json(result: CheckResult, _: Translator) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "commune": {"slug": result.commune, "name": result.commune_name},
        "checked_at": datetime.fromtimestamp(result.started, UTC).isoformat().replace("+00:00", "Z"),
        "duration_s": round(result.duration_s, 3),
        "lang": _.lang,
        "status": result.exit.name,
        "exit_code": int(result.exit),
        "state": result.state.value,
        "vantage_points": list(result.agents),
        "items": [_item_json(i, _) for i in result.items],
        "findings": [
            {
                "part": f.part.value,
                "state": f.state.value,
                "subject": f.subject,
                "provider": f.provider,
                "circuit_id": f.circuit_id,
                "hotline": f.hotline,
                "hop": f.hop,
                "loss_pct": None if f.loss_pct is None else round(f.loss_pct, 2),
                "message": _msg_json(f.message, _),
                "evidence": [_msg_json(e, _) for e in f.evidence],
                "next_step": _msg_json(f.next_step, _),
            }
            for f in result.findings
        ],
        "traces": [
            {
                "line": t.line,
                "agent": t.agent,
                "destination": t.destination,
                "reached": t.reached,
                "error": t.error,
                "hops": [
                    {
                        "ttl": h.ttl,
                        "address": h.address,
                        "sent": h.sent,
                        "received": h.received,
                        "loss_pct": round(h.loss_pct, 2),
                        "rtt_ms": None if h.rtt_ms is None else round(h.rtt_ms, 3),
                        "part": h.part.value if h.part else None,
                    }
                    for h in t.hops
                ],
            }
            for t in result.traces
        ],
        "history": None
        if result.history is None
        else {
            "window_s": result.history.window_s,
            "source": result.history.source,
            "unstable_hours": dict(result.history.unstable),
        },
        "notes": [_msg_json(n, _) for n in result.notes],
    }


def _r(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def _item_json(i: Item, _: Translator) -> dict[str, Any]:
    return {
        "kind": i.kind,
        "id": i.id,
        "label": i.label,
        "state": i.state.value,
        "state_text": _(f"state.{i.state.value}"),
        "state_code": i.state.code,
        "score": i.score,
        "provider": i.provider,
        "circuit_id": i.circuit_id,
        "site": i.site,
        "address": i.address,
        "reasons": [_msg_json(m, _) for m in i.reasons],
        "ping": [
            {
                "agent": p.agent,
                "address": p.address,
                "status": p.status,
                "sent": p.sent,
                "received": p.received,
                "loss_pct": _r(p.loss_pct, 2),
                "rtt_p50_ms": _r(p.rtt_p50_ms),
                "rtt_p95_ms": _r(p.rtt_p95_ms),
                "jitter_ms": _r(p.jitter_ms),
                "error": p.error,
            }
            for p in i.ping
        ],
        "snmp": [
            {
                "agent": s.agent,
                "status": s.status,
                "uptime_s": _r(s.uptime_s, 1),
                "error": s.error,
                "interfaces": [
                    {
                        "name": x.name,
                        "oper_status": x.oper_status,
                        "admin_status": x.admin_status,
                        "errors_per_s": _r(x.errors_per_s),
                        "discards_per_s": _r(x.discards_per_s),
                    }
                    for x in s.interfaces
                ],
            }
            for s in i.snmp
        ],
        "tcp": [
            {"agent": t.agent, "port": t.port, "status": t.status, "connect_ms": _r(t.connect_ms), "error": t.error}
            for t in i.tcp
        ],
        "web": [
            {
                "agent": w.agent,
                "status": w.status,
                "http_status": w.http_status,
                "total_ms": _r(w.total_ms),
                "ttfb_ms": _r(w.ttfb_ms),
                "cert_days_left": _r(w.cert_days_left),
                "error": w.error,
            }
            for w in i.web
        ],
    }


def dumps(result: CheckResult, _: Translator) -> str:
    return json.dumps(to_json(result, _), ensure_ascii=False, indent=2)


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("netprobe.check").joinpath("check.schema.json").read_text("utf-8")
    )
    return data
