"""`netprobe run`: the scheduled agent (daemon), or `--once` for one cycle from cron/timers and tests."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from netprobe.cli.bounds import Finite
from netprobe.cli.context import App, pass_app
from netprobe.engine.agent import Agent, AgentOptions, make_probes, plan_targets
from netprobe.engine.shard import Shard
from netprobe.engine.verdicts import VerdictObserver, verdict_every_s
from netprobe.storage.facade import open_storage
from netprobe.storage.schema import points_from_measurement

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(message)s"  # the journal adds time, host and unit itself


def _log_to_stderr(verbose: int) -> None:
    """INFO by default: one line per cycle is the agent's heartbeat; -v adds debug detail."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    under_systemd = "JOURNAL_STREAM" in os.environ
    handler.setFormatter(logging.Formatter(JOURNAL_FORMAT if under_systemd else LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


@click.command()
@click.option("--once", is_flag=True, help="Probe every target once, store the points, exit (cron, timers, tests).")
@click.option("--agent", "agent", metavar="NAME", help="This vantage point (inventory agents:); a tag on every point.")
@click.option("--shard", "shard", metavar="I/N", help="Probe only shard I of N (stable hashing of targets).")
@click.option(
    "--stop-timeout",
    type=Finite(1.0, 3600),
    default=20.0,
    show_default=True,
    help="On SIGTERM: seconds to finish runs in flight and flush (keep below systemd's TimeoutStopSec).",
)
@click.option(
    "--no-verdicts",
    is_flag=True,
    help="Store probe results only; no live link_health verdicts (e.g. when a central host judges). "
    "Implied by --shard.",
)
@pass_app
def run(app: App, once: bool, agent: str | None, shard: str | None, stop_timeout: float, no_verdicts: bool) -> None:
    """Probe the inventory on schedule until stopped (SIGTERM/SIGINT stop, SIGHUP reloads the inventory)."""
    _log_to_stderr(app.verbose)
    config = app.config
    options = AgentOptions(
        inventory=app.inventory_path(),
        agent=agent,
        shard=Shard.parse(shard) if shard else None,
        stop_timeout_s=stop_timeout,
    )
    plan = plan_targets(config, options)  # inventory, agent and allow-list errors before anything opens
    storage = open_storage(config)
    try:
        observers = []
        if not no_verdicts and options.shard is None:
            observers.append(VerdictObserver(plan.inventory, plan.targets, plan.agent, verdict_every_s(plan)))
        elif not no_verdicts:
            # a shard sees part of a line's targets (CE here, PE there): judging on that would mislead
            logging.getLogger("netprobe.agent").info("verdicts off with --shard: judge centrally (netprobe status)")
        runner = Agent(
            config, options, plan, storage, points_from_measurement, probe_factory=make_probes, observers=observers
        )
    except BaseException:
        storage.close()
        raise
    asyncio.run(runner.run(once=once))
