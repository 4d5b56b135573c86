"""The one registry of probe kinds: how each kind is built, its targets found and a batch of it run.

Every package under netprobe/probes/ registers its kind from its own `__init__.py` (`register(...)`);
`kinds()` imports them all, so a new kind is a new folder and nothing else. The agent (scheduler),
`netprobe check`, `netprobe probe` and engine.runner all build probes with `make_probe` and run a batch
with `measure`: one code path from target to measurement, whatever asks.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netprobe.probes.base import Measurement, Probe, Status, Target

if TYPE_CHECKING:
    from netprobe.engine.allowlist import AllowList
    from netprobe.inventory.loader import Inventory

log = logging.getLogger("netprobe.probes")

GRACE_S = 2.0  # how long past its deadline a probe call may run before it is cancelled


@dataclass(frozen=True)
class ProbeContext:
    """What any kind may need to build its probe (the config's knobs)."""

    allow: AllowList
    max_packets_per_s: float = 10_000.0  # global ICMP pacing cap (config max_packets_per_s)
    icmp_mode: str = "auto"
    concurrency: int = 256  # per probe: connections/polls in flight


@dataclass(frozen=True)
class TargetScope:
    """Which targets an inventory gives: for `agent` (None: every agent's), `communes` (None: all)."""

    agent: str | None = None
    communes: frozenset[str] | None = None


@dataclass(frozen=True)
class KindSpec:
    kind: str
    make: Callable[[ProbeContext], Probe]
    # targets of this kind from an inventory; None: built by engine.targets (the built-in kinds)
    targets: Callable[[Inventory, TargetScope], list[Target]] | None = None
    # makes the click command `netprobe probe <kind>` (called lazily: it may import the CLI's helpers);
    # None: cli/probe_cmd.py has the command
    command: Callable[[], Any] | None = None
    # checked once before the agent starts probing this kind (e.g. ICMP privilege); raises NetprobeError
    preflight: Callable[[], None] | None = None
    scheduled: bool = True  # probed by the agent on an interval (traceroute is on demand only)


_KINDS: dict[str, KindSpec] = {}
_discovered = False


def register(spec: KindSpec) -> None:
    _KINDS[spec.kind] = spec


def kinds() -> dict[str, KindSpec]:
    """Every registered kind, after importing every probe package (each registers itself)."""
    global _discovered
    if not _discovered:
        _discovered = True
        import netprobe.probes as package

        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg:
                importlib.import_module(f"{package.__name__}.{info.name}")
    return dict(_KINDS)


def spec(kind: str) -> KindSpec:
    found = kinds().get(kind)
    if found is None:
        raise KeyError(f"no probe kind {kind!r} (known: {', '.join(sorted(kinds()))})")
    return found


def make_probe(kind: str, ctx: ProbeContext) -> Probe:
    return spec(kind).make(ctx)


def make_probes(kinds_wanted: Iterable[str], ctx: ProbeContext) -> dict[str, Probe]:
    return {k: make_probe(k, ctx) for k in sorted(set(kinds_wanted))}


def error_measurement(target: Target, when: float, message: str) -> Measurement:
    return Measurement(target, when, Status.ERROR, {"status": Status.ERROR.value}, message)


def complete(measurements: list[Measurement], targets: Sequence[Target], when: float) -> tuple[list[Measurement], int]:
    """One measurement per target: drop strays, add an ERROR one for each target the probe forgot."""
    wanted = {t.key: t for t in targets}
    seen: set[str] = set()
    out = []
    for m in measurements:
        if m.target.key in wanted and m.target.key not in seen:
            seen.add(m.target.key)
            out.append(m)
    missing = [t for k, t in wanted.items() if k not in seen]
    out += [error_measurement(t, when, "the probe returned no measurement for this target (a bug)") for t in missing]
    return out, len(missing)


async def measure(
    probe: Probe,
    targets: Sequence[Target],
    *,
    cap_s: float | None = None,
    until: float | None = None,
    started: float | None = None,
) -> list[Measurement]:
    """Run one batch on `probe` by its own budget (capped at `cap_s` seconds and at loop time `until`).

    Always one Measurement per target, in the order given: a probe that overruns its deadline by GRACE_S
    is cancelled and a probe that raises is data (its targets get ERROR measurements), never an exception.
    """
    if not targets:
        return []
    loop = asyncio.get_running_loop()
    started = time.time() if started is None else started  # the time an ERROR measurement carries
    budget = probe.budget_s(targets)
    if cap_s is not None:
        budget = min(budget, cap_s)
    deadline = loop.time() + budget
    if until is not None:
        deadline = min(deadline, until)
        budget = max(0.0, deadline - loop.time())
    try:
        async with asyncio.timeout(budget + GRACE_S):
            found = await probe.run(targets, deadline)
    except TimeoutError:
        log.error("%s: probe call over %d targets overran its %.1f s deadline", probe.kind, len(targets), budget)
        return [error_measurement(t, started, f"probe overran its {budget:.1f} s deadline") for t in targets]
    except Exception as exc:  # a probe bug must not stop its caller: its targets get an ERROR each
        log.exception("%s: probe call over %d targets failed", probe.kind, len(targets))
        return [error_measurement(t, started, f"probe failed: {type(exc).__name__}: {exc}") for t in targets]
    measured, missing = complete(list(found), targets, started)
    if missing:
        log.error("%s: the probe returned no measurement for %d of %d targets", probe.kind, missing, len(targets))
    by_key = {m.target.key: m for m in measured}
    return [by_key[t.key] for t in targets]
