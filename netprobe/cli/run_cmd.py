"""`netprobe run`: the scheduled agent (daemon), or `--once` for one cycle from cron/timers and tests."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from netprobe.cli.bounds import Finite
from netprobe.cli.context import App, pass_app
from netprobe.config import Config
from netprobe.engine.agent import Agent, AgentOptions, Plan, make_probes, plan_targets
from netprobe.engine.shard import Shard
from netprobe.engine.state import StatefulObserver
from netprobe.engine.verdicts import VerdictObserver, verdict_every_s
from netprobe.notify.deliver import Deliverer, build_channels
from netprobe.notify.service import QUEUE_FILE, Notifier, channel_names, is_sender, senders
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
@click.option("--no-notify", is_flag=True, help="Judge but do not notify, even if the inventory has notify:.")
@pass_app
def run(
    app: App, once: bool, agent: str | None, shard: str | None, stop_timeout: float, no_verdicts: bool, no_notify: bool
) -> None:
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
    deliverer = None
    try:
        observers: list[StatefulObserver] = []
        if not no_verdicts and options.shard is None:
            verdicts = VerdictObserver(plan.inventory, plan.targets, plan.agent, verdict_every_s(plan))
            observers.append(verdicts)
            if plan.inventory.notify is not None and not no_notify:
                deliverer = _notifier(config, plan, verdicts, observers)
        elif not no_verdicts:
            # a shard sees part of a line's targets (CE here, PE there): judging on that would mislead
            logging.getLogger("netprobe.agent").info("verdicts off with --shard: judge centrally (netprobe status)")
        runner = Agent(
            config, options, plan, storage, points_from_measurement, probe_factory=make_probes, observers=observers
        )
    except BaseException:
        storage.close()
        if deliverer is not None:
            deliverer.stop()
        raise
    try:
        asyncio.run(runner.run(once=once))
    finally:
        if deliverer is not None:
            # sends in flight are bounded by each channel's timeout; a single cycle lets its messages go first
            deliverer.stop(stop_timeout, drain_s=stop_timeout / 2 if once else 0.0)


def _notifier(
    config: Config, plan: Plan, verdicts: VerdictObserver, observers: list[StatefulObserver]
) -> Deliverer | None:
    """Notifications from this agent's verdicts (issue 17), if it is one of notify.settings.senders."""
    log = logging.getLogger("netprobe.notify")
    if not is_sender(plan.inventory, plan.agent):
        log.info("notify: %s is not one of the senders (%s): it judges, another agent notifies",
                 plan.agent, ", ".join(senders(plan.inventory)))  # fmt: skip
        return None
    assert plan.inventory.notify is not None
    cfg = plan.inventory.notify
    state = config.state_path()
    notifier = Notifier(plan.inventory, plan.agent, state)
    verdicts.listeners.append(notifier.on_evaluation)
    observers.append(notifier)  # reloads and the netprobe_notify self-metric
    deliverer = Deliverer(state / QUEUE_FILE, build_channels(cfg, state), cfg.settings)
    deliverer.start()
    log.info("notify: %s sends incidents over %s", plan.agent, ", ".join(channel_names(cfg)) or "no channel")
    return deliverer
