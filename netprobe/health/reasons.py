"""Why a verdict is what it is: structured codes + parameters, rendered to words by a message catalogue.

A verdict stores `Reason(code, params)`, never a sentence, so the Vietnamese catalogue (issue 8) can
render the same reasons; `render_en` is the English catalogue and the format of `link_health.reasons`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

ParamValue = float | int | str


class Code(StrEnum):
    LOSS = "loss"  # loss_pct, lost, sent, window_s
    RTT_PE = "rtt_pe"  # rtt_ms, pe_ms, excess_ms: the line's end against its provider edge (no baseline yet)
    RTT = "rtt"  # rtt_ms, window_s
    RTT_BASELINE = "rtt_baseline"  # rtt_ms, baseline_ms, ratio
    JITTER = "jitter"  # jitter_ms, window_s
    FLAPS = "flaps"  # flaps, window_s: reachability lost and regained
    WENT_DOWN = "went_down"  # times, window_s: flapping, down and back again and again
    DOWN = "down"  # probes, seconds: consecutive bursts with no reply
    PE_OK = "pe_ok"  # the provider edge answers: the fault is beyond it
    PE_DOWN = "pe_down"  # the provider edge is silent too: the fault is on the data-centre side of it
    IF_DOWN = "if_down"  # ifname
    IF_FLAPS = "if_flaps"  # ifname, changes, window_s
    IF_ERRORS = "if_errors"  # ifname, errors_per_s, window_s
    REBOOTS = "reboots"  # reboots, window_s, boot_at (unix s of the latest boot; shown as local HH:MM)
    SNMP_SILENT = "snmp_silent"  # seconds: SNMP polls time out while the device answers ping (a hung agent)
    PARENT_DOWN = "parent_down"  # parent: behind a line/device that is down
    PARENT_UNSTABLE = "parent_unstable"  # parent: behind a line/device that keeps dropping out (flapping)
    NO_DATA = "no_data"  # seconds: no measurement for that long (or never)
    AGENT_IMPAIRED = "agent_impaired"  # agent: the only vantage points that probe it are impaired
    HOLDING = "holding"  # state, seconds: better now, held until it lasts (hysteresis)
    COMMUNE_ISOLATED = "commune_isolated"  # commune, lines: every line of the commune is down
    AGENT_UPLINK = "agent_uplink"  # agent, failed, total, communes, others


@dataclass(frozen=True, slots=True)
class Reason:
    code: Code
    params: tuple[tuple[str, ParamValue], ...] = ()

    @classmethod
    def of(cls, code: Code, **params: ParamValue) -> Reason:
        return cls(code, tuple(sorted(params.items())))

    @property
    def p(self) -> Mapping[str, ParamValue]:
        return dict(self.params)

    def to_json(self) -> dict[str, object]:
        return {"code": self.code.value, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Reason:
        params = data.get("params") or {}
        assert isinstance(params, Mapping)
        return cls.of(Code(str(data["code"])), **{str(k): v for k, v in params.items()})


Catalogue = Callable[[Reason], str]


EN_UNITS = {"h": "h", "min": "min", "s": "s"}


def duration(seconds: float, units: Mapping[str, str] = EN_UNITS) -> str:
    """300 → '5 min', 3600 → '1 h', 90 → '90 s', 5400 → '1.5 h' (unit words from `units`)."""
    s = float(seconds)
    if s >= 3600:
        h = s / 3600
        return f"{h:.0f} {units['h']}" if abs(h - round(h)) < 0.05 else f"{h:.1f} {units['h']}"
    if s >= 120 or (s >= 60 and s % 60 == 0):
        return f"{s / 60:.0f} {units['min']}"
    return f"{s:.0f} {units['s']}"


def pct(value: float) -> str:
    return f"{value:.0f}%" if value >= 10 or value == int(value) else f"{value:.1f}%"


def ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def clock(unix_s: float) -> str:
    """Local wall-clock time, as a technician reads it off the device: '14:05'."""
    return time.strftime("%H:%M", time.localtime(unix_s))


def _rebooted(p: Mapping[str, ParamValue]) -> str:
    if "boot_at" not in p:  # a reason saved before the boot time was kept
        return f"{_times(p['reboots'], 'reboot', 'reboots')} in {duration(_n(p['window_s']))}"
    at = f"rebooted at {clock(_n(p['boot_at']))}"
    n = int(_n(p["reboots"]))
    return at if n <= 1 else f"{at} ({n} reboots in {duration(_n(p['window_s']))})"


def _n(value: ParamValue) -> float:
    return float(value) if not isinstance(value, str) else float("nan")


def _times(n: ParamValue, one: str, many: str) -> str:
    count = int(_n(n))
    return f"{count} {one if count == 1 else many}"


_EN: dict[Code, Callable[[Mapping[str, ParamValue]], str]] = {
    Code.LOSS: lambda p: f"loss {pct(_n(p['loss_pct']))} over {duration(_n(p['window_s']))}",
    Code.RTT_PE: lambda p: (
        f"latency {ms(_n(p['rtt_ms']))}, {ms(_n(p['excess_ms']))} above its provider edge ({ms(_n(p['pe_ms']))})"
    ),
    Code.RTT: lambda p: f"latency {ms(_n(p['rtt_ms']))} over {duration(_n(p['window_s']))}",
    Code.RTT_BASELINE: lambda p: (
        f"latency {ms(_n(p['rtt_ms']))}, {_n(p['ratio']):.1f}× its usual {ms(_n(p['baseline_ms']))}"
    ),
    Code.JITTER: lambda p: f"jitter {ms(_n(p['jitter_ms']))} over {duration(_n(p['window_s']))}",
    Code.FLAPS: lambda p: f"{_times(p['flaps'], 'flap', 'flaps')} in {duration(_n(p['window_s']))}",
    Code.WENT_DOWN: lambda p: f"went down {_times(p['times'], 'time', 'times')} in {duration(_n(p['window_s']))}",
    Code.DOWN: lambda p: f"no reply to {_times(p['probes'], 'probe', 'probes')} ({duration(_n(p['seconds']))})",
    Code.PE_OK: lambda p: "the provider edge answers: the fault is beyond it (provider access network or commune)",
    Code.PE_DOWN: lambda p: (
        "the provider edge is silent too: the fault is on the data-centre side or the provider core"
    ),
    Code.IF_DOWN: lambda p: f"interface {p['ifname']} is down",
    Code.IF_FLAPS: lambda p: (
        f"interface {p['ifname']} changed state {_times(p['changes'], 'time', 'times')} "
        f"in {duration(_n(p['window_s']))}"
    ),
    Code.IF_ERRORS: lambda p: f"interface {p['ifname']}: {_n(p['errors_per_s']):.1f} errors/s",
    Code.REBOOTS: _rebooted,
    Code.SNMP_SILENT: lambda p: (
        f"SNMP agent not answering for {duration(max(60.0, _n(p['seconds'])))}; the device answers ping"
    ),
    Code.PARENT_DOWN: lambda p: f"behind {p['parent']}, which is down",
    Code.PARENT_UNSTABLE: lambda p: f"behind {p['parent']}, which keeps dropping out",
    Code.NO_DATA: lambda p: (
        "no measurements yet" if _n(p["seconds"]) < 0 else f"no measurements for {duration(_n(p['seconds']))}"
    ),
    Code.AGENT_IMPAIRED: lambda p: f"its vantage point {p['agent']} is impaired",
    Code.HOLDING: lambda p: f"improving; held {p['state']} until better for {duration(_n(p['seconds']))}",
    Code.COMMUNE_ISOLATED: lambda p: f"commune {p['commune']} isolated: all {_times(p['lines'], 'line', 'lines')} down",
    Code.AGENT_UPLINK: lambda p: (
        f"vantage point {p['agent']} sees {p['failed']} of {p['total']} targets fail"
        + (f" that {p['others']} sees fine" if p.get("others") else "")
        + ": its uplink or data-centre network, not the communes"
    ),
}


def plural_suffix(reason: Reason) -> str:
    """'_many' for the catalogue key of a reason said differently for more than one (a reboot)."""
    return "_many" if reason.code is Code.REBOOTS and int(_n(reason.p.get("reboots", 1))) > 1 else ""


def render_en(reason: Reason) -> str:
    """The English catalogue."""
    return _EN[reason.code](reason.p)


def render(reasons: Iterable[Reason], catalogue: Catalogue = render_en) -> str:
    """Reasons as one line: `loss 18% over 5 min; 4 flaps in 1 h`."""
    return "; ".join(catalogue(r) for r in reasons)


def display_params(reason: Reason, units: Mapping[str, str] = EN_UNITS) -> dict[str, str]:
    """The parameters as a catalogue shows them: durations ('5 min'), percentages ('18%'), milliseconds
    ('12 ms'); `window` and `duration` are added for `window_s` and `seconds`."""
    out: dict[str, str] = {}
    for name, value in reason.params:
        if isinstance(value, str):
            out[name] = value
        elif name.endswith("_pct"):
            out[name] = pct(float(value))
        elif name.endswith("_ms"):
            out[name] = ms(float(value))
        elif name == "ratio":
            out[name] = f"{float(value):.1f}"
        elif name == "errors_per_s":
            out[name] = f"{float(value):.1f}"
        elif name.endswith("_at"):
            out[name] = clock(float(value))
        else:
            out[name] = f"{value:g}" if isinstance(value, float) else str(value)
    if "window_s" in reason.p:
        out["window"] = duration(_n(reason.p["window_s"]), units)
    if "seconds" in reason.p:
        out["duration"] = duration(max(0.0, _n(reason.p["seconds"])), units)
    return out


def translated(translate: Callable[..., str]) -> Catalogue:
    """A catalogue over a message translator (netprobe.i18n's `Translator(lang)`: key, **params → text).

    Keys are `reason.<code>` (`reason.no_data_yet` when nothing was ever measured) and `unit.h`,
    `unit.min`, `unit.s` for durations; a key the translator does not know (it returns the key) falls back
    to English, so a new reason never shows up blank.
    """
    units = {u: (w if (w := translate(f"unit.{u}")) != f"unit.{u}" else en) for u, en in EN_UNITS.items()}

    def render_one(reason: Reason) -> str:
        key = f"reason.{reason.code.value}"
        if reason.code is Code.NO_DATA and _n(reason.p["seconds"]) < 0:
            key = "reason.no_data_yet"
        key += plural_suffix(reason)
        text = translate(key, **display_params(reason, units))
        return render_en(reason) if text == key else text

    return render_one
