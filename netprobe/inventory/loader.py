"""Load an inventory file or directory: parse, validate every file, merge, check references.

All problems of a load are collected and reported together as `file:line:col: path: message`.
"""

from __future__ import annotations

import difflib
import errno
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from netprobe.inventory import yamlsrc
from netprobe.inventory.errors import MAX_SHOWN, InventoryError, Problem, Where
from netprobe.inventory.model import (
    Agent,
    Commune,
    Device,
    InventoryFile,
    Line,
    NotifyConfig,
    Overrides,
    ProbeSettings,
    Provider,
    Province,
    Service,
    Site,
    SnmpProfile,
    SnmpV2c,
    SnmpV3,
    Thresholds,
)

YAML_SUFFIXES = (".yaml", ".yml")
# Parsing YAML with positions costs ~80 bytes of memory and ~1.3 µs per input byte: a 5 MB file took 6 s and
# 650 MB before a single problem was shown; 1 MiB stays near 2.5 s and 170 MB even when every line is
# broken (shared 2-core machine), and holds ~12,000 targets. A bigger province is a directory (one file
# per commune), loaded file by file.
MAX_FILE_BYTES = 1 << 20


# ---------------------------------------------------------------------------------------------------
# What the rest of netprobe uses: resolved lines and devices with their effective settings
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedLine:
    line: Line
    commune: Commune
    site: Site
    where: Where
    probes: ProbeSettings
    thresholds: Thresholds
    hotline: str | None
    agents: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.line.id


@dataclass(frozen=True)
class ResolvedDevice:
    device: Device
    commune: Commune
    site: Site
    where: Where
    probes: ProbeSettings
    thresholds: Thresholds
    snmp_profile_name: str | None
    snmp_profile: SnmpV2c | SnmpV3 | None
    agents: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.device.id


@dataclass
class Inventory:
    source: Path
    province: Province
    providers: dict[str, Provider]
    snmp_profiles: dict[str, SnmpV2c | SnmpV3]
    agents: list[Agent]
    services: list[Service]
    communes: list[Commune]
    lines: dict[str, ResolvedLine] = field(default_factory=dict)
    devices: dict[str, ResolvedDevice] = field(default_factory=dict)
    service_where: dict[str, Where] = field(default_factory=dict)
    notify: NotifyConfig | None = None  # issue 17: recipients and channels

    def commune_by_slug(self, slug: str) -> Commune:
        for commune in self.communes:
            if commune.slug == slug:
                return commune
        raise KeyError(slug)

    def lines_of(self, slug: str) -> list[ResolvedLine]:
        return [r for r in self.lines.values() if r.commune.slug == slug]

    def devices_of(self, slug: str) -> list[ResolvedDevice]:
        return [r for r in self.devices.values() if r.commune.slug == slug]

    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]


# ---------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------
def inventory_files(path: Path, problems: list[Problem] | None = None) -> list[Path]:
    """The YAML files of a file or directory, in a stable order. `.YAML`/`.Yml` count too (they used to be
    skipped without a word); dangling links, link loops and unreadable directories are reported."""
    if not path.is_dir():
        return [path]
    out: list[Path] = []
    seen_dirs: set[tuple[int, int]] = set()

    def report(where: Path, message: str) -> None:
        if problems is not None:
            problems.append(Problem(Where(str(where)), "", message))

    def walk(directory: Path) -> None:
        try:
            st = directory.stat()
            entries = sorted(directory.iterdir())
        except OSError as exc:
            report(directory, f"cannot read directory: {exc.strerror}")
            return
        if (st.st_dev, st.st_ino) in seen_dirs:
            report(directory, "symlink loop: this directory was already read; remove the link")
            return
        seen_dirs.add((st.st_dev, st.st_ino))
        for entry in entries:
            yaml_name = entry.suffix.lower() in YAML_SUFFIXES
            try:
                entry.stat()
            except OSError as exc:  # a dangling link, a link loop (ELOOP), a permission problem
                if entry.is_symlink() and (yaml_name or exc.errno == errno.ELOOP):
                    what = "symlink loop" if exc.errno == errno.ELOOP else "dangling symlink"
                    report(entry, f"{what} (-> {os.readlink(entry)}); fix or remove the link")
                elif yaml_name:
                    report(entry, f"cannot read: {exc.strerror}")
                continue
            if entry.is_dir():
                walk(entry)
            elif yaml_name and entry.is_file():
                out.append(entry)
            elif yaml_name:
                report(entry, "not a regular file; an inventory file must be a plain .yaml file")

    walk(path)
    return out


def load_inventory(path: str | Path) -> Inventory:
    """Load and validate; raise InventoryError listing every problem found."""
    root = Path(path)
    if not root.exists():
        raise InventoryError([Problem(Where(str(root)), "", "no such file or directory; pass --inventory PATH")])
    problems = _Problems()
    files = inventory_files(root, problems)
    if not files:
        raise InventoryError([*problems, Problem(Where(str(root)), "", "no .yaml/.yml files here")])
    parsed: list[tuple[str, Any, InventoryFile]] = []
    for file in files:
        name = str(file)
        try:
            size = file.stat().st_size
            if size > MAX_FILE_BYTES:
                problems.append(
                    Problem(
                        Where(name),
                        "",
                        f"{size / 1e6:.1f} MB is too big for one inventory file "
                        f"(at most {MAX_FILE_BYTES / 1e6:.1f} MB): split it into a directory, one file per commune",
                    )
                )
                continue
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(Where(name), "", f"cannot read: {exc}"))
            continue
        result = _parse_file(name, text, problems)
        if result is not None:
            parsed.append((name, result[0], result[1]))
    inventory = _merge(root, parsed, problems)
    if problems or inventory is None:
        raise InventoryError(problems, problems.dropped)
    return inventory


class _Problems(list[Problem]):
    """Keeps the first MAX_SHOWN problems and counts the rest, so a huge broken file costs no memory."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def append(self, problem: Problem) -> None:
        if len(self) < MAX_SHOWN:
            super().append(problem)
        else:
            self.dropped += 1


def _parse_file(name: str, text: str, problems: list[Problem]) -> tuple[Any, InventoryFile] | None:
    try:
        raw = yamlsrc.load(text)
    except (yamlsrc.DuplicateKey, yamlsrc.TooLarge) as exc:
        problems.append(Problem(Where(name, exc.mark.line, exc.mark.col), "", str(exc)))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(name, mark.line + 1, mark.column + 1) if mark else Where(name)
        problems.append(Problem(where, "", f"YAML syntax: {exc.problem or exc.context}"))
        return None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        problems.append(Problem(Where(name), "", f"YAML syntax: {exc}"))
        return None
    if raw is None:
        raw = yamlsrc.MarkedDict(yamlsrc.Mark(1, 1))
    if not isinstance(raw, dict):
        top = raw.mark if isinstance(raw, yamlsrc.MarkedList) else yamlsrc.Mark(1, 1)
        problems.append(
            Problem(Where(name, top.line, top.col), "", "the top level must be a mapping (province:, communes:, ...)")
        )
        return None
    try:
        with yamlsrc.gc_paused():  # the models are built from a big tree too (see yamlsrc.load)
            model = InventoryFile.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for err in errors[:MAX_SHOWN]:
            problems.append(_problem_from_pydantic(name, raw, err))
        if isinstance(problems, _Problems):
            problems.dropped += max(0, len(errors) - MAX_SHOWN)
        return None
    except RecursionError:
        problems.append(Problem(Where(name), "", "nested too deeply"))
        return None
    return raw, model


def _fmt_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _data_path(raw: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's own loc steps (union members, tags) that are not in the data."""
    node: Any = raw
    kept: list[int | str] = []
    for step in loc:
        if isinstance(node, dict) and step in node:
            node = node[step]
            kept.append(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
            kept.append(step)
    return tuple(kept)


def _problem_from_pydantic(name: str, raw: Any, err: Any) -> Problem:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    kind = err["type"]
    path = _data_path(raw, loc)
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        key = loc[-1]
        mark = yamlsrc.mark_at(raw, path, want_key=True)
        known = _known_keys(path[:-1])
        hint = difflib.get_close_matches(str(key), known, n=1)
        message = f"unknown key {key!r}" + (
            f"; did you mean {hint[0]!r}?" if hint else (f"; expected one of: {', '.join(known)}" if known else "")
        )
    elif kind == "missing":
        mark = yamlsrc.mark_at(raw, path)
        message = f"missing required key {loc[-1]!r}"
        path = (*path, loc[-1])
    else:
        mark = yamlsrc.mark_at(raw, path)
        if kind == "union_tag_invalid" or kind == "union_tag_not_found":
            message = "'version' must be '2c' or '3' (quote it: version: \"2c\")"
        elif (
            "input" in err
            and kind not in ("value_error", "assertion_error")
            and not isinstance(err["input"], dict | list)
        ):
            message = f"{message}, got {err['input']!r}"
    where = Where(name, mark.line, mark.col) if mark else Where(name)
    return Problem(where, _fmt_path(path), message)


def _known_keys(path: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at `path`, for 'did you mean' hints. Empty when the walk gets lost."""
    current: Any = InventoryFile
    for step in path:
        current = _unwrap(current)
        if isinstance(step, str):
            if isinstance(current, type) and issubclass(current, BaseModel):
                field_info = current.model_fields.get(step)
                if field_info is None:
                    return []
                current = field_info.annotation
            elif get_origin(current) is dict:
                current = get_args(current)[1]
            else:
                return []
        else:
            if get_origin(current) is list:
                current = get_args(current)[0]
            else:
                return []
    current = _unwrap(current)
    if get_origin(current) is dict and get_args(current):
        current = _unwrap(get_args(current)[1])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Optional[X] → X, Annotated[X, ...] → X; unions of models are left alone."""
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


# ---------------------------------------------------------------------------------------------------
# Merging files and cross-references
# ---------------------------------------------------------------------------------------------------
def _merge(root: Path, parsed: list[tuple[str, Any, InventoryFile]], problems: list[Problem]) -> Inventory | None:
    def at(name: str, raw: Any, path: tuple[int | str, ...], key: bool = False) -> Where:
        mark = yamlsrc.mark_at(raw, path, want_key=key)
        return Where(name, mark.line, mark.col) if mark else Where(name)

    province: Province | None = None
    defaults = Overrides()
    defaults_seen: Where | None = None
    province_seen: Where | None = None
    providers: dict[str, Provider] = {}
    profiles: dict[str, SnmpV2c | SnmpV3] = {}
    agents: dict[str, Agent] = {}
    services: dict[str, Service] = {}
    service_where: dict[str, Where] = {}
    communes: list[tuple[str, Any, tuple[int | str, ...], Commune]] = []
    notify: tuple[str, Any, NotifyConfig] | None = None

    for name, raw, model in parsed:
        if model.province is not None:
            here = at(name, raw, ("province",), key=True)
            if province_seen:
                problems.append(Problem(here, "province", f"defined twice (also at {province_seen})"))
            province, province_seen = model.province, here
        if model.defaults is not None:
            here = at(name, raw, ("defaults",), key=True)
            if defaults_seen:
                problems.append(Problem(here, "defaults", f"defined twice (also at {defaults_seen})"))
            defaults, defaults_seen = model.defaults, here
        for key, provider in model.providers.items():
            if key in providers:
                problems.append(Problem(at(name, raw, ("providers", key), True), f"providers.{key}", "defined twice"))
            providers[key] = provider
        for key, profile in model.snmp_profiles.items():
            if key in profiles:
                problems.append(
                    Problem(at(name, raw, ("snmp_profiles", key), True), f"snmp_profiles.{key}", "defined twice")
                )
            profiles[key] = profile
        for i, agent in enumerate(model.agents):
            if agent.name in agents:
                problems.append(
                    Problem(
                        at(name, raw, ("agents", i, "name")), f"agents[{i}].name", f"duplicate agent {agent.name!r}"
                    )
                )
            agents[agent.name] = agent
        for i, service in enumerate(model.services):
            if service.id in services:
                problems.append(
                    Problem(
                        at(name, raw, ("services", i, "id")),
                        f"services[{i}].id",
                        f"duplicate service id {service.id!r}",
                    )
                )
            services[service.id] = service
            service_where[service.id] = at(name, raw, ("services", i))
        for i, commune in enumerate(model.communes):
            communes.append((name, raw, ("communes", i), commune))
        if model.commune is not None:
            communes.append((name, raw, ("commune",), model.commune))
        if model.notify is not None:
            if notify is not None:
                problems.append(
                    Problem(at(name, raw, ("notify",), True), "notify", f"defined twice (also in {notify[0]})")
                )
            notify = (name, raw, model.notify)

    if province is None:
        if problems:  # a file that failed to parse may well hold it: report only what is certain
            return None
        first = parsed[0][0] if parsed else str(root)
        problems.append(Problem(Where(first), "province", "missing: add 'province: {slug: bac-ninh, name: Bắc Ninh}'"))
        return None

    inventory = Inventory(
        root,
        province,
        providers,
        profiles,
        list(agents.values()),
        list(services.values()),
        [c for *_, c in communes],
        service_where=service_where,
        notify=notify[2] if notify else None,
    )
    if notify is not None:
        _check_notify(notify, {c.slug for *_, c in communes}, providers, at, problems)
    slugs: dict[str, Where] = {}
    ids: dict[str, Where] = {}
    parents: dict[str, tuple[str, Where, str]] = {}  # device id -> (parent id, where, path)
    router_ports: dict[str, tuple[str, Where, str]] = {}  # line id -> (router id, where, path)
    base = _apply(
        ProbeSettings(), Thresholds(), None, defaults, problems, defaults_seen or Where(str(root)), "defaults", profiles
    )

    for agent_i, agent in enumerate(agents.values()):
        if agent.communes != "all":
            known = {c.slug for *_, c in communes}
            for j, slug in enumerate(agent.communes):
                if slug not in known:
                    problems.append(
                        Problem(
                            Where(str(root)),
                            f"agents[{agent_i}].communes[{j}]",
                            f"unknown commune {slug!r}{_suggest(slug, known)}",
                        )
                    )

    for name, raw, cpath, commune in communes:
        p = _fmt_path(cpath)
        here = at(name, raw, (*cpath, "slug"))
        if commune.slug in slugs:
            problems.append(
                Problem(here, f"{p}.slug", f"duplicate commune {commune.slug!r} (also at {slugs[commune.slug]})")
            )
        slugs[commune.slug] = here
        c_settings = _apply(*base, commune.defaults, problems, here, f"{p}.defaults", profiles)
        covering = tuple(a.name for a in agents.values() if a.communes == "all" or commune.slug in a.communes)
        site_ids: set[str] = set()
        for si, site in enumerate(commune.sites):
            spath = (*cpath, "sites", si)
            sp = _fmt_path(spath)
            if site.id in site_ids:
                problems.append(Problem(at(name, raw, (*spath, "id")), f"{sp}.id", f"duplicate site id {site.id!r}"))
            site_ids.add(site.id)
            s_settings = _apply(*c_settings, site.defaults, problems, at(name, raw, spath), f"{sp}.defaults", profiles)
            for li, line in enumerate(site.lines):
                lpath = (*spath, "lines", li)
                lp = _fmt_path(lpath)
                where = at(name, raw, lpath)
                _claim_id(line.id, at(name, raw, (*lpath, "id")), f"{lp}.id", ids, problems)
                probes, thresholds, _ = _apply(*s_settings, line, problems, where, lp, profiles)
                if providers and line.provider not in providers:
                    problems.append(
                        Problem(
                            at(name, raw, (*lpath, "provider")),
                            f"{lp}.provider",
                            f"unknown provider {line.provider!r}{_suggest(line.provider, providers)}; "
                            "add it under providers: or fix the spelling",
                        )
                    )
                line_agents = covering
                if line.agents is not None:
                    for aj, agent_name in enumerate(line.agents):
                        if agent_name not in agents:
                            problems.append(
                                Problem(
                                    at(name, raw, (*lpath, "agents", aj)),
                                    f"{lp}.agents[{aj}]",
                                    f"unknown agent {agent_name!r}{_suggest(agent_name, agents)}",
                                )
                            )
                    line_agents = tuple(line.agents)
                line_provider = providers.get(line.provider)
                hotline = line.hotline or (line_provider.hotline if line_provider else None)
                if line.router_port is not None:
                    rpath = (*lpath, "router_port", "device")
                    router_ports[line.id] = (line.router_port.device, at(name, raw, rpath), f"{lp}.router_port.device")
                inventory.lines[line.id] = ResolvedLine(
                    line, commune, site, where, probes, thresholds, hotline, line_agents
                )
            for di, device in enumerate(site.devices):
                dpath = (*spath, "devices", di)
                dp = _fmt_path(dpath)
                where = at(name, raw, dpath)
                claimed = _claim_id(device.id, at(name, raw, (*dpath, "id")), f"{dp}.id", ids, problems)
                probes, thresholds, profile_name = _apply(*s_settings, device, problems, where, dp, profiles)
                if device.parent is not None and claimed:
                    parents[device.id] = (device.parent, at(name, raw, (*dpath, "parent")), f"{dp}.parent")
                device_profile = profiles.get(profile_name) if (profile_name and device.snmp) else None
                inventory.devices[device.id] = ResolvedDevice(
                    device,
                    commune,
                    site,
                    where,
                    probes,
                    thresholds,
                    profile_name if device.snmp else None,
                    device_profile,
                    covering,
                )
    _check_parents(inventory, parents, problems)
    _check_router_ports(inventory, router_ports, problems)
    return inventory


def _claim_id(ident: str, where: Where, path: str, ids: dict[str, Where], problems: list[Problem]) -> bool:
    if ident in ids:
        problems.append(
            Problem(
                where,
                path,
                f"duplicate id {ident!r} (also at {ids[ident]}); line and device ids are unique across the province",
            )
        )
        return False
    ids[ident] = where
    return True


def _check_router_ports(
    inv: Inventory, router_ports: dict[str, tuple[str, Where, str]], problems: list[Problem]
) -> None:
    for line_id, (device_id, where, path) in router_ports.items():
        device = inv.devices.get(device_id)
        commune = inv.lines[line_id].commune.slug if line_id in inv.lines else None
        if device is None or device.commune.slug != commune:
            mine = sorted(d.id for d in inv.devices.values() if d.commune.slug == commune)
            problems.append(
                Problem(
                    where,
                    path,
                    f"no device {device_id!r} in commune {commune!r}{_suggest(device_id, mine)}",
                )
            )


def _check_parents(inv: Inventory, parents: dict[str, tuple[str, Where, str]], problems: list[Problem]) -> None:
    known = set(inv.lines) | set(inv.devices)
    for child, (parent, where, path) in parents.items():
        if parent not in known:
            problems.append(
                Problem(where, path, f"parent {parent!r} is neither a line nor a device{_suggest(parent, known)}")
            )
        elif parent == child:
            problems.append(Problem(where, path, "a device cannot be its own parent"))
    # cycles: follow device → device parents
    reported: set[str] = set()
    for start in parents:
        seen: list[str] = []
        node: str | None = start
        while node is not None and node in parents and node not in seen:
            seen.append(node)
            node = parents[node][0]
        if node is not None and node in seen and node not in reported:
            cycle = seen[seen.index(node) :]
            reported.update(cycle)
            where, path = parents[node][1], parents[node][2]
            problems.append(Problem(where, path, "parent cycle: " + " → ".join([*cycle, node])))


def _apply(
    probes: ProbeSettings,
    thresholds: Thresholds,
    profile: str | None,
    overrides: Overrides | None,
    problems: list[Problem],
    where: Where,
    path: str,
    profiles: dict[str, SnmpV2c | SnmpV3],
) -> tuple[ProbeSettings, Thresholds, str | None]:
    """One level of inheritance: what `overrides` writes replaces what the outer level gave."""
    if overrides is None:
        return probes, thresholds, profile
    if overrides.probes is not None:
        probes = ProbeSettings.model_validate(
            _deep_merge(probes.model_dump(), overrides.probes.model_dump(exclude_unset=True))
        )
    if overrides.thresholds is not None:
        thresholds = Thresholds.model_validate(
            _deep_merge(thresholds.model_dump(), overrides.thresholds.model_dump(exclude_unset=True))
        )
    if overrides.snmp_profile is not None:
        if overrides.snmp_profile not in profiles:
            problems.append(
                Problem(
                    where,
                    f"{path}.snmp_profile",
                    f"unknown SNMP profile {overrides.snmp_profile!r}"
                    f"{_suggest(overrides.snmp_profile, profiles)}; define it under snmp_profiles:",
                )
            )
        profile = overrides.snmp_profile
    return probes, thresholds, profile


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _suggest(word: str, known: Any) -> str:
    close = difflib.get_close_matches(word, [str(k) for k in known], n=2)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def iter_profiles_in_use(inv: Inventory) -> Iterator[tuple[str, SnmpProfile]]:
    for name in sorted({d.snmp_profile_name for d in inv.devices.values() if d.snmp_profile_name}):
        yield name, inv.snmp_profiles[name]


def _check_notify(
    notify: tuple[str, Any, NotifyConfig],
    slugs: set[str],
    providers: dict[str, Provider],
    at: Any,
    problems: list[Problem],
) -> None:
    """The notify block names communes, providers and webhooks that must exist."""
    name, raw, cfg = notify
    for slug in cfg.communes:
        if slug not in slugs:
            problems.append(
                Problem(
                    at(name, raw, ("notify", "communes", slug), True),
                    f"notify.communes.{slug}",
                    f"unknown commune{_suggest(slug, slugs)}",
                )
            )
    for key in cfg.providers:
        if key not in providers:
            problems.append(
                Problem(
                    at(name, raw, ("notify", "providers", key), True),
                    f"notify.providers.{key}",
                    f"unknown provider{_suggest(key, providers)}; add it under providers:",
                )
            )
    groups = [("duty", cfg.duty)] + [(f"communes.{k}", v) for k, v in cfg.communes.items()]
    groups += [(f"providers.{k}", v) for k, v in cfg.providers.items()]
    for where, people in groups:
        for i, r in enumerate(people):
            if r.webhook is not None and r.webhook not in cfg.webhooks:
                problems.append(
                    Problem(
                        Where(name),
                        f"notify.{where}[{i}].webhook",
                        f"unknown webhook {r.webhook!r}; define it under notify.webhooks:",
                    )
                )
            if r.zalo_user_id and cfg.zalo is None:
                problems.append(
                    Problem(Where(name), f"notify.{where}[{i}].zalo_user_id", "no notify.zalo channel is configured")
                )
            if r.email and cfg.smtp is None:
                problems.append(
                    Problem(Where(name), f"notify.{where}[{i}].email", "no notify.smtp channel is configured")
                )
