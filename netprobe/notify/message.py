"""The words of a notification: what a technician needs in one message, in the recipient's language.

Which line or device (provider, circuit id, site, commune), its state and the evidence (the verdict's
reasons, in the same words as `netprobe check`/`status`), since when (Vietnam time), and the next step —
the `next.*` sentences of netprobe/i18n that `check` uses (hotline + circuit id for the provider;
"kiểm tra nguồn điện/bộ định tuyến" for a local fault). Only the framing (title, "since", "recovered")
is new, under `notify.*` in the catalogues.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netprobe.check.diagnose import reason_msg
from netprobe.check.model import Msg
from netprobe.check.render import text
from netprobe.health.reasons import EN_UNITS, Code, Reason, duration
from netprobe.i18n import Translator
from netprobe.inventory.loader import Inventory
from netprobe.notify.incidents import Event, Incident
from netprobe.notify.route import local

UNITS = {"vi": {"h": "giờ", "min": "phút", "s": "giây"}}
MAX_TEXT = 2000  # Zalo's cs text message limit; e-mail and webhooks get the same text


@dataclass(frozen=True)
class LineFacts:
    provider: str
    provider_key: str
    hotline: str
    circuit: str
    site: str
    commune: str


@dataclass(frozen=True)
class DeviceFacts:
    kind: str
    site: str
    parent: str
    commune: str


@dataclass
class Facts:
    """What the messages need from the inventory, taken once per load."""

    province: str = ""
    communes: dict[str, str] = field(default_factory=dict)  # slug → name
    lines: dict[str, LineFacts] = field(default_factory=dict)
    devices: dict[str, DeviceFacts] = field(default_factory=dict)
    commune_lines: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, inv: Inventory) -> Facts:
        f = cls(province=inv.province.name, communes={c.slug: c.name for c in inv.communes})
        for lid, r in inv.lines.items():
            prov = inv.providers.get(r.line.provider)
            f.lines[lid] = LineFacts(
                provider=(prov.name if prov and prov.name else r.line.provider),
                provider_key=r.line.provider,
                hotline=r.hotline or "?",
                circuit=r.line.circuit_id or "?",
                site=r.site.name or r.site.id,
                commune=r.commune.slug,
            )
            f.commune_lines.setdefault(r.commune.slug, []).append(lid)
        for did, d in inv.devices.items():
            f.devices[did] = DeviceFacts(
                kind=f"kind.{d.device.kind.value}",
                site=d.site.name or d.site.id,
                parent=d.device.parent or "?",
                commune=d.commune.slug,
            )
        return f

    def commune_of(self) -> dict[str, str]:
        return {**{k: v.commune for k, v in self.lines.items()}, **{k: v.commune for k, v in self.devices.items()}}

    def parent_of(self) -> dict[str, str | None]:
        return {k: (None if v.parent == "?" else v.parent) for k, v in self.devices.items()}

    def line_provider(self) -> dict[str, str]:
        return {k: v.provider_key for k, v in self.lines.items()}


def _codes(reasons: list[Reason]) -> set[Code]:
    return {r.code for r in reasons}


def _param(reasons: list[Reason], code: Code, name: str, default: float = 0.0) -> float:
    for r in reasons:
        if r.code is code and name in r.p:
            v = r.p[name]
            return float(v) if not isinstance(v, str) else default
    return default


def what(inc: Incident, facts: Facts) -> Msg:
    """The subject, named the way the province names it."""
    commune = facts.communes.get(inc.commune or "", inc.commune or "?")
    if inc.kind == "line" and (ln := facts.lines.get(inc.subject)):
        return Msg("notify.what.line", line=inc.subject, provider=ln.provider, circuit=ln.circuit, commune=commune)
    if inc.kind == "device" and (d := facts.devices.get(inc.subject)):
        return Msg("notify.what.device", kind=d.kind, device=inc.subject, site=d.site, commune=commune)
    if inc.kind == "commune":
        return Msg("notify.what.commune", commune=commune, slug=inc.subject)
    if inc.kind == "agent":
        return Msg("notify.what.agent", agent=inc.subject)
    return Msg("notify.what.alert", title=inc.title or inc.subject)


def next_step(inc: Incident, facts: Facts) -> Msg | None:
    """check's next step for this kind of fault (netprobe/i18n next.*)."""
    reasons = inc.reason_objects()
    codes = _codes(reasons)
    if inc.kind == "commune":
        calls = "; ".join(
            f"{ln.provider} {ln.hotline} ({ln.circuit})"
            for lid in facts.commune_lines.get(inc.subject, [])
            if (ln := facts.lines.get(lid))
        )
        return Msg("next.isolated", calls=calls or "?")
    if inc.kind == "agent":
        return Msg("next.datacentre_uplink", agent=inc.subject)
    if inc.kind == "line" and (ln := facts.lines.get(inc.subject)):
        base = {"provider": ln.provider, "hotline": ln.hotline, "circuit": ln.circuit}
        if codes & {Code.WENT_DOWN, Code.FLAPS} or inc.flapping:
            # the flap count and window the evidence shows first (as check does), else went-down, else ours
            times = _param(reasons, Code.FLAPS, "flaps") or _param(reasons, Code.WENT_DOWN, "times") or inc.changes
            window = _param(reasons, Code.FLAPS, "window_s") or _param(reasons, Code.WENT_DOWN, "window_s") or 3600.0
            return Msg("next.call_provider_flapping", **base, times=int(times), minutes=f"{window / 60:g}")
        if inc.state == "DOWN":
            return Msg("next.line_down", site=ln.site, **base)
        if Code.LOSS in codes:
            return Msg("next.call_provider_loss", **base, loss=round(_param(reasons, Code.LOSS, "loss_pct")))
        if codes & {Code.RTT, Code.RTT_BASELINE, Code.RTT_PE, Code.JITTER}:
            return Msg("next.call_provider_slow", **base)
        return Msg("next.call_provider_slow", **base)
    if inc.kind == "device" and (d := facts.devices.get(inc.subject)):
        if Code.REBOOTS in codes and d.kind == "kind.router":
            return Msg("next.router_power", device=inc.subject, site=d.site)
        if Code.SNMP_SILENT in codes:
            return Msg("next.snmp_check", device=inc.subject)
        if Code.IF_DOWN in codes or Code.IF_FLAPS in codes:
            names = ", ".join(str(r.p.get("ifname", "?")) for r in reasons if r.code in (Code.IF_DOWN, Code.IF_FLAPS))
            return Msg("next.if_down", device=inc.subject, ifname=names, site=d.site)
        if Code.IF_ERRORS in codes:
            names = ", ".join(str(r.p.get("ifname", "?")) for r in reasons if r.code is Code.IF_ERRORS)
            return Msg("next.if_errors", device=inc.subject, ifname=names)
        if Code.LOSS in codes and inc.state != "DOWN":
            return Msg("next.device_loss", device=inc.subject, site=d.site)
        return Msg("next.device_down", kind=d.kind, device=inc.subject, site=d.site, parent=d.parent)
    return None


def _when(ts: float) -> str:
    return local(ts).strftime("%H:%M %d/%m/%Y")


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def render(event: Event, facts: Facts, lang: str) -> Message:
    _ = Translator(lang)
    inc = event.incident
    subject = text(what(inc, facts), _)
    head = _(f"notify.title.{event.kind}.{inc.severity}" if event.kind == "open" else f"notify.title.{event.kind}")
    title = f"[netprobe] {head}: {subject}"
    lines = [title]
    units = UNITS.get(lang, EN_UNITS)
    if event.kind == "recover":
        lines.append(_("notify.recovered", at=_when(event.time), lasted=duration(event.time - inc.opened, units)))
        if inc.flapping:
            lines.append(_("notify.flapped", count=inc.changes))
    else:
        state = _(f"state.{inc.state}") if inc.kind != "alert" else inc.state
        lines.append(_("notify.state", state=state, since=_when(inc.since)))
        evidence = "; ".join(text(reason_msg(r), _) for r in inc.reason_objects()) or inc.text
        if evidence:
            lines.append(_("notify.evidence", evidence=evidence))
        if event.kind == "flapping":
            lines.append(_("notify.flapping", count=event.n, minutes=f"{(event.time - inc.opened) / 60:.0f}"))
        if event.kind == "repeat":
            lines.append(_("notify.unresolved", lasted=duration(event.time - inc.opened, units)))
        step = next_step(inc, facts)
        if step is not None:
            lines.append(_("notify.next", step=text(step, _)))
    lines.append(_("notify.ref", incident=inc.id))
    body = "\n".join(lines)
    return Message(title[:200], body[:MAX_TEXT])


def render_digest(
    now: float, opened: int, recovered: int, still_open: list[Incident], facts: Facts, lang: str
) -> Message:
    _ = Translator(lang)
    title = "[netprobe] " + _("notify.title.digest", date=local(now).strftime("%d/%m/%Y"))
    lines = [title, _("notify.digest.counts", opened=opened, recovered=recovered, open=len(still_open))]
    for inc in still_open[:30]:
        lines.append(f"- {text(what(inc, facts), _)}: {_(f'state.{inc.state}')} ({_when(inc.since)})")
    if len(still_open) > 30:
        lines.append(f"- … +{len(still_open) - 30}")
    body = "\n".join(lines)
    return Message(title[:200], body[:MAX_TEXT])


def render_test(recipient: str, lang: str, now: float) -> Message:
    _ = Translator(lang)
    title = "[netprobe] " + _("notify.title.test")
    return Message(title, "\n".join([title, _("notify.test", recipient=recipient, at=_when(now))]))
