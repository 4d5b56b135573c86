"""The output: a state, a score, the reasons and the evidence, for every line, device, commune and agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from netprobe.health.reasons import Catalogue, Reason, render, render_en

VerdictKind = Literal["line", "device", "commune", "agent"]


class State(StrEnum):
    OK = "OK"
    DEGRADED = "DEGRADED"
    UNSTABLE = "UNSTABLE"
    DOWN = "DOWN"
    UNREACHABLE = "UNREACHABLE"  # behind a failed parent: not judged on its own
    UNKNOWN = "UNKNOWN"  # no data, or the vantage points themselves are the problem

    @property
    def code(self) -> int:
        """link_health.state_code: 0 OK, 1 DEGRADED, 2 UNSTABLE, 3 DOWN, 4 UNREACHABLE, 5 UNKNOWN."""
        return _CODES[self]

    @classmethod
    def of_severity(cls, severity: int) -> State:
        return (cls.OK, cls.DEGRADED, cls.UNSTABLE, cls.DOWN)[severity]

    @property
    def severity(self) -> int:
        """How bad the health is (0 OK … 3 DOWN); UNREACHABLE counts as DOWN, UNKNOWN as nothing known (-1)."""
        return {State.UNREACHABLE: 3, State.UNKNOWN: -1}.get(self, _CODES[self])


_CODES = {s: i for i, s in enumerate(State)}

# Score bands: the score always agrees with the state, so "ranked by score" and "by state" agree.
SCORE_BAND: dict[State, tuple[float, float]] = {
    State.OK: (80.0, 100.0),
    State.DEGRADED: (50.0, 79.0),
    State.UNSTABLE: (20.0, 49.0),
    State.DOWN: (0.0, 0.0),
    State.UNREACHABLE: (0.0, 0.0),
    State.UNKNOWN: (50.0, 50.0),  # meaningless: filter on state_code 5
}


@dataclass(frozen=True)
class Verdict:
    subject: str  # line id, device id, commune slug or agent name
    kind: VerdictKind
    state: State
    score: float
    since: float  # unix seconds the state began
    reasons: tuple[Reason, ...] = ()
    loss_pct: float | None = None
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    flaps: int = 0
    agent: str = ""  # the vantage point whose view is reported (lines/devices), or the agent itself
    members: tuple[str, ...] = ()  # commune: its lines; agent: the communes it cannot reach

    def text(self, catalogue: Catalogue = render_en) -> str:
        return render(self.reasons, catalogue)

    def to_json(self, catalogue: Catalogue = render_en) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "state": self.state.value,
            "state_code": self.state.code,
            "score": round(self.score, 1),
            "since_s": int(self.since),
            "reasons": [r.to_json() for r in self.reasons],
            "reasons_text": self.text(catalogue),
            "loss_pct": _round(self.loss_pct),
            "rtt_ms": _round(self.rtt_ms),
            "jitter_ms": _round(self.jitter_ms),
            "flaps": self.flaps,
            "agent": self.agent,
            "members": list(self.members),
        }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass(frozen=True)
class Evaluation:
    time: float
    nodes: Mapping[str, Verdict]  # lines and devices
    communes: Mapping[str, Verdict] = field(default_factory=dict)
    agents: Mapping[str, Verdict] = field(default_factory=dict)

    def all(self) -> list[Verdict]:
        return [*self.nodes.values(), *self.communes.values(), *self.agents.values()]
