from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "inventory" / "example"
DATA = Path(__file__).resolve().parent / "data"

# Tests may probe loopback and the lab range only, whatever the caller's environment says.
os.environ["NETPROBE_ALLOWED_NETS"] = "127.0.0.0/8,::1/128,198.18.0.0/15"
os.environ.pop("NETPROBE_CONFIG", None)
os.environ.pop("NETPROBE_INVENTORY", None)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `netprobe ARGS` in-process; return (exit code, stdout, stderr)."""
    from netprobe.cli.main import entry

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            entry(list(args))
        out = capsys.readouterr()
        code = exc.value.code
        return (code if isinstance(code, int) else 0), out.out, out.err

    return run
