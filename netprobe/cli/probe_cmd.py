"""`netprobe probe ping|tcp|snmp|trace ADDRESS...`: one-off probes for a technician, allow-list enforced.

Secrets are given as references, as in the inventory (`'${NETPROBE_SNMP_COMMUNITY}'` or `file:/path`),
never on the command line where `ps` would show them. Every command builds its probe and runs it
through netprobe.probes.registry (make_probe, measure), as the agent and `check` do; a kind registered
from its own folder brings its own command (KindSpec.command), added to this group.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence
from typing import Any, TextIO

import click
from pydantic import ValidationError

from netprobe.cli.bounds import Finite
from netprobe.cli.context import App, pass_app
from netprobe.engine.allowlist import AllowList
from netprobe.errors import EXIT_FAILURE, EXIT_OK, NetprobeError
from netprobe.inventory.model import PingSettings, SnmpSettings, SnmpV2c, SnmpV3, TcpSettings
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Probe, ProbeKind, Status, Target
from netprobe.probes.icmp.probe import parse_ip
from netprobe.probes.icmp.sockets import IcmpMode, open_icmp_socket
from netprobe.probes.traceroute.probe import TracerouteProbe, TraceSettings


@click.group()
def probe() -> None:
    """Probe addresses once, right now (debugging; the allow-list applies)."""


def _check_allowed(allow: AllowList, addresses: Sequence[str]) -> None:
    """Refuse the whole command if any address is outside: a typo must not probe a stranger."""
    refused = [allow.refusal(a, "probe") for a in addresses if not allow.allows(parse_ip(a) or a)]
    if refused:
        raise NetprobeError(refused[0])


def show(measurements: list[Measurement], as_json: bool) -> int:
    lines: list[str] = []  # written at once: 10,000 targets must not cost 10,000 writes
    for m in measurements:
        if as_json:
            record: dict[str, Any] = {"target": m.target.address, "port": m.target.port, "status": m.status.value}
            record |= {"fields": m.fields, "error": m.error, "rows": m.rows}
            if m.samples:
                record["samples_ms"] = m.samples
            lines.append(json.dumps(record, ensure_ascii=False, default=str))
            continue
        where = m.target.address + (f":{m.target.port}" if m.target.port else "")
        lines.append(f"{where}  {m.status.value}" + (f"  ({m.error})" if m.error else ""))
        for name, value in m.fields.items():
            lines.append(f"  {name:24} {value:.3f}" if isinstance(value, float) else f"  {name:24} {value}")
        for row in m.rows:
            lines.append(
                "  " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            )
        if m.samples:
            lines.append("  rtt_ms " + " ".join("-" if s is None else f"{s:.3f}" for s in m.samples))
    click.echo("\n".join(lines))
    return EXIT_OK if all(m.status is Status.OK for m in measurements) else EXIT_FAILURE


def run_batch(probe: Probe, targets: Sequence[Target]) -> list[Measurement]:
    """One batch, by the probe's own budget: the path every caller takes (netprobe.probes.registry)."""
    return asyncio.run(registry.measure(probe, targets))


def _run(coro: Any) -> list[Measurement]:
    result: list[Measurement] = asyncio.run(coro)
    return result


json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per target.")


@probe.command()
@click.argument("addresses", nargs=-1)
@click.option("-f", "--file", "targets_file", type=click.File(), help="Addresses, one a line (like fping -f).")
@click.option("-c", "--count", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option("--spacing-ms", default=100.0, show_default=True, type=Finite(0, 60_000), help="Per target.")
@click.option("--timeout-ms", default=1000.0, show_default=True, type=Finite(1, 60_000))
@click.option("--size", default=56, show_default=True, type=click.IntRange(0, 65_000), help="Payload bytes.")
@click.option("--mode", type=click.Choice([m.value for m in IcmpMode]), default="auto", show_default=True)
@click.option("--rate", type=Finite(1, 1_000_000), help="Packets/s cap, at most the config's max_packets_per_s [that].")
@json_option
@pass_app
def ping(
    app: App,
    addresses: tuple[str, ...],
    targets_file: TextIO | None,
    count: int,
    spacing_ms: float,
    timeout_ms: float,
    size: int,
    mode: str,
    rate: float | None,
    as_json: bool,
) -> None:
    """ICMP echo: loss, RTT statistics, jitter and every packet's RTT."""
    if targets_file is not None:
        addresses += tuple(line.strip() for line in targets_file if line.strip() and not line.startswith("#"))
    if not addresses:
        raise NetprobeError("give at least one ADDRESS or --file FILE")
    cap = app.config.max_packets_per_s
    if rate is not None and rate > cap:  # the config's cap protects thin commune lines: never above it
        raise NetprobeError(f"--rate {rate:g} is above the config's max_packets_per_s ({cap:g}); raise that first")
    rate = rate or cap
    allow = app.allow_list()
    _check_allowed(allow, addresses)
    icmp_mode = IcmpMode(mode)
    for family in {socket.AF_INET6 if ":" in a else socket.AF_INET for a in addresses}:
        open_icmp_socket(family, icmp_mode).close()  # a missing privilege is one line with the fixes
    settings = PingSettings(count=count, spacing_ms=spacing_ms, timeout_ms=timeout_ms, size=size)
    targets = [Target(f"probe/ping/{a}", ProbeKind.PING, a, {}, ping=settings) for a in addresses]
    p = registry.make_probe(ProbeKind.PING, registry.ProbeContext(allow, rate, icmp_mode.value))
    raise SystemExit(show(run_batch(p, targets), as_json))


@probe.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("-p", "--port", "ports", multiple=True, type=click.IntRange(1, 65535), required=True)
@click.option("--timeout-ms", default=3000.0, show_default=True, type=Finite(1, 60_000))
@json_option
@pass_app
def tcp(app: App, addresses: tuple[str, ...], ports: tuple[int, ...], timeout_ms: float, as_json: bool) -> None:
    """TCP connect time to each ADDRESS:PORT (refused vs timeout vs unreachable)."""
    allow = app.allow_list()
    _check_allowed(allow, addresses)
    settings = TcpSettings(timeout_ms=timeout_ms)
    targets = [
        Target(f"probe/tcp/{a}/{p}", ProbeKind.TCP, a, {}, port=p, tcp=settings) for a in addresses for p in ports
    ]
    p = registry.make_probe(ProbeKind.TCP, registry.ProbeContext(allow))
    raise SystemExit(show(run_batch(p, targets), as_json))


@probe.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--port", default=161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--community", metavar="REF", help="v2c community as '${ENV_VAR}' or 'file:/path'.")
@click.option("--user", help="v3 user (authPriv).")
@click.option(
    "--auth-protocol",
    default="SHA256",
    show_default=True,
    type=click.Choice(["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]),
)
@click.option("--auth-key", metavar="REF", help="v3 auth passphrase reference.")
@click.option(
    "--priv-protocol", default="AES", show_default=True, type=click.Choice(["DES", "AES", "AES128", "AES192", "AES256"])
)
@click.option("--priv-key", metavar="REF", help="v3 privacy passphrase reference.")
@click.option("-I", "--interface", "interfaces", multiple=True, help="ifName/ifDescr or ifIndex to read.")
@click.option("--timeout-ms", default=2000.0, show_default=True, type=Finite(1, 60_000))
@click.option("--retries", default=1, show_default=True, type=click.IntRange(0, 5))
@click.option("--polls", default=1, show_default=True, type=click.IntRange(1, 100), help="Polls (2+ show rates).")
@click.option("--interval-s", default=10.0, show_default=True, type=Finite(1, 3600), help="Between polls.")
@json_option
@pass_app
def snmp(
    app: App,
    addresses: tuple[str, ...],
    port: int,
    community: str | None,
    user: str | None,
    auth_protocol: str,
    auth_key: str | None,
    priv_protocol: str,
    priv_key: str | None,
    interfaces: tuple[str, ...],
    timeout_ms: float,
    retries: int,
    polls: int,
    interval_s: float,
    as_json: bool,
) -> None:
    """SNMP poll: sysUpTime, sysName, sysDescr and the given interfaces (rates from the second poll on)."""
    allow = app.allow_list()
    _check_allowed(allow, addresses)
    profile: SnmpV2c | SnmpV3
    try:
        if user:
            if not (auth_key and priv_key):
                raise NetprobeError("SNMPv3 needs --auth-key and --priv-key (references like '${NETPROBE_SNMP_AUTH}')")
            raw = {"version": "3", "user": user, "auth_protocol": auth_protocol, "auth_key": auth_key}
            profile = SnmpV3.model_validate(raw | {"priv_protocol": priv_protocol, "priv_key": priv_key, "port": port})
        elif community:
            profile = SnmpV2c.model_validate({"version": "2c", "community": community, "port": port})
        else:
            raise NetprobeError("give --community REF (v2c) or --user/--auth-key/--priv-key (v3)")
    except ValidationError as exc:  # a plaintext secret, mostly
        raise NetprobeError(f"snmp credentials: {exc.errors(include_url=False)[0]['msg']}") from None
    settings = SnmpSettings(timeout_ms=timeout_ms, retries=retries)
    wanted = tuple(int(i) if i.isdigit() else i for i in interfaces)
    targets = [
        Target(
            f"probe/snmp/{a}", ProbeKind.SNMP, a, {}, port=port, snmp=settings, snmp_profile=profile, interfaces=wanted
        )
        for a in addresses
    ]

    async def go() -> list[Measurement]:
        probe = registry.make_probe(ProbeKind.SNMP, registry.ProbeContext(allow))
        results: list[Measurement] = []
        for n in range(polls):  # bounded: at most 100 polls
            if n:
                await asyncio.sleep(interval_s)
            results = await registry.measure(probe, targets)
            if n < polls - 1:
                show(results, as_json)
        return results

    raise SystemExit(show(_run(go()), as_json))


@probe.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--max-hops", default=16, show_default=True, type=click.IntRange(1, 64))
@click.option("--probes", default=3, show_default=True, type=click.IntRange(1, 100), help="Per hop.")
@click.option("--timeout-s", default=2.0, show_default=True, type=Finite(0.1, 30))
@json_option
@pass_app
def trace(app: App, addresses: tuple[str, ...], max_hops: int, probes: int, timeout_s: float, as_json: bool) -> None:
    """Traceroute: per-hop loss and RTT (where along the path does it break?)."""
    allow = app.allow_list()
    _check_allowed(allow, addresses)
    targets = [Target(f"probe/trace/{a}", ProbeKind.TRACEROUTE, a, {}) for a in addresses]
    # the CLI's own hop settings: the traceroute probe class, run through the one path (measure)
    p = TracerouteProbe(allow, TraceSettings(max_hops=max_hops, probes_per_hop=probes, timeout_s=timeout_s))
    raise SystemExit(show(run_batch(p, targets), as_json))


def _add_registered_commands() -> None:
    """`netprobe probe <kind>` for every kind that brings its own command from its folder."""
    for kind_spec in registry.kinds().values():
        if kind_spec.command is not None:
            command = kind_spec.command()
            if command.name not in probe.commands:
                probe.add_command(command)


_add_registered_commands()
