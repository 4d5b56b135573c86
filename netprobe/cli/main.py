"""`netprobe`: the entry point. Every failure ends as one line on stderr and an exit code."""

from __future__ import annotations

import logging
import sys
import traceback

import click

from netprobe import __version__
from netprobe.cli.check_cmd import check
from netprobe.cli.context import App
from netprobe.cli.demo_cmd import demo
from netprobe.cli.inventory_cmd import inventory
from netprobe.cli.lab_cmd import lab
from netprobe.cli.notify_cmd import notify
from netprobe.cli.probe_cmd import probe
from netprobe.cli.report_cmd import report
from netprobe.cli.run_cmd import run
from netprobe.cli.status_cmd import status
from netprobe.cli.storage_cmd import outbox
from netprobe.errors import EXIT_FAILURE, EXIT_USAGE, NetprobeError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--inventory",
    "-i",
    "inventory_arg",
    metavar="PATH",
    envvar="NETPROBE_INVENTORY",
    help="Inventory file or directory [env NETPROBE_INVENTORY].",
)
@click.option("--config", "-c", "config_path", metavar="PATH", help="Config file [env NETPROBE_CONFIG].")
@click.option("-v", "--verbose", count=True, help="More detail (-vv: debug, and tracebacks of internal errors).")
@click.version_option(__version__, prog_name="netprobe")
@click.pass_context
def cli(ctx: click.Context, inventory_arg: str | None, config_path: str | None, verbose: int) -> None:
    """Probe a province's dedicated data lines and LAN gear; tell which are unstable and why."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = App(config_path=config_path, inventory_arg=inventory_arg, verbose=verbose)


cli.add_command(inventory)
cli.add_command(demo)
cli.add_command(check)
cli.add_command(lab)
cli.add_command(run)
cli.add_command(outbox)
cli.add_command(status)
cli.add_command(probe)
cli.add_command(report)
cli.add_command(notify)


def entry(argv: list[str] | None = None) -> None:
    """Run the CLI; no traceback reaches the user unless they ask with -vv."""
    verbose = sum(a.count("v") for a in (argv or sys.argv[1:]) if a.startswith("-v") or a == "--verbose")
    try:
        code = cli.main(args=argv, prog_name="netprobe", standalone_mode=False)
    except NetprobeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # one line, like every other error: what is wrong, then where the help is
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if verbose > 1:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} (a bug; rerun with -vv and report it)", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
