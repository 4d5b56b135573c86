"""`netprobe probe http URL...`: one GET each, every phase timed (the allow-list applies)."""

from __future__ import annotations

import click

from netprobe.cli.context import App, pass_app
from netprobe.cli.probe_cmd import json_option, run_batch, show
from netprobe.errors import NetprobeError
from netprobe.probes import registry
from netprobe.probes.base import Target
from netprobe.probes.http.probe import KIND, HttpSettings, WebUrl, ip_literal


@click.command("http")
@click.argument("urls", nargs=-1, required=True)
@click.option("--expect", help="Text the page must contain (else bad_reply).")
@click.option("--timeout-ms", default=10_000.0, show_default=True, type=click.FloatRange(1, 120_000))
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="Trust this CA bundle (PEM).")
@json_option
@pass_app
def http(
    app: App, urls: tuple[str, ...], expect: str | None, timeout_ms: float, ca_file: str | None, as_json: bool
) -> None:
    """HTTP(S) GET: DNS, TCP connect, TLS, first byte, total, status, certificate days left."""
    allow = app.allow_list()
    targets = []
    for u in urls:
        try:
            url = WebUrl.parse(u)
        except ValueError as exc:
            raise NetprobeError(f"{exc}: give the full URL, e.g. https://127.0.0.1:8443/") from None
        ip = ip_literal(url.host)
        # an IP is refused here, before anything is sent; a name is checked once resolved (by the probe)
        if ip is not None and not allow.allows(ip):
            raise NetprobeError(allow.refusal(url.host, "probe"))
        settings = HttpSettings(u, expect, timeout_ms, ca_file=ca_file)
        targets.append(Target(f"probe/http/{u}", KIND, url.host, {}, port=url.port, params=settings))
    p = registry.make_probe(KIND, registry.ProbeContext(allow))
    raise SystemExit(show(run_batch(p, targets), as_json))
