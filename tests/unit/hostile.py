"""Shared by the hostile-input tests: run `netprobe ...` in a child, bounded in time and memory, and measure.

Each repro of issue 14 must end in under 5 s and 300 MB with one error line and exit 2. The child gets an
address-space cap well above that (so a regression fails the test instead of swapping the shared machine)
and is killed at its deadline, so a hang is a test failure, not a stuck CI job.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The bar is 5 s; repros take ~0.6-1.1 s on an idle machine (closing note of issue 14). The bar is
# held on the child's CPU time, which a machine loaded by other jobs does not stretch (wall time went past
# 8 s there once); wall time gets a looser bound that still fails a hang or a child stuck waiting.
TIME_LIMIT_S = 5.0  # CPU seconds (user + system) of the netprobe process
WALL_LIMIT_S = 20.0
RSS_LIMIT_MB = 300.0
_AS_CAP = 2 << 30  # virtual address space of the child: a runaway allocation dies here


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    seconds: float  # wall
    rss_mb: float
    cpu_s: float = float("nan")  # user + system of the netprobe process

    @property
    def error_lines(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.strip()]


# Runs netprobe as its only child, then writes that child's peak RSS (KiB) and CPU seconds: per command, not
# per test session.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {u.ru_utime + u.ru_stime}')\n"
    "sys.exit(code)\n"
)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_AS_CAP, _AS_CAP))


def netprobe(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None, cwd: Path | None = None) -> Outcome:
    """`python -m netprobe ARGS` with its wall time and peak RSS (from wait4, this child only)."""
    environ = {**os.environ, "NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15", **(env or {})}
    if env is None or "NETPROBE_CONFIG" not in env:
        environ.pop("NETPROBE_CONFIG", None)
    fd, rss_file = tempfile.mkstemp(prefix="hs-rss-")
    os.close(fd)
    started = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, rss_file, sys.executable, "-m", "netprobe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=cwd or REPO,
        preexec_fn=_limit,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(f"netprobe {' '.join(args)} still running after {timeout} s (a hang)") from None
        seconds = time.monotonic() - started
    text = Path(rss_file).read_text().split()
    Path(rss_file).unlink()
    rss_mb, cpu_s = (int(text[0]) / 1024, float(text[1])) if len(text) == 2 else (float("nan"), float("nan"))
    out_text, err_text = out.decode(errors="replace"), err.decode(errors="replace")
    return Outcome(proc.returncode, out_text, err_text, seconds, rss_mb, cpu_s)


def assert_one_line_error(result: Outcome, *must_contain: str, code: int = 2, max_lines: int = 1) -> None:
    """Exit `code`, at most `max_lines` error lines, no traceback or internal error, within the bounds."""
    text = result.err
    assert result.code == code, (result.code, text[-2000:], result.out[-500:])
    assert "Traceback" not in text and "internal error" not in text, text[-2000:]
    assert 1 <= len(result.error_lines) <= max_lines, text[-2000:]
    for needle in must_contain:
        assert needle in text, (needle, text[-2000:])
    assert result.cpu_s < TIME_LIMIT_S, f"took {result.cpu_s:.2f} CPU s"
    assert result.seconds < WALL_LIMIT_S, f"took {result.seconds:.2f} s"
    assert result.rss_mb < RSS_LIMIT_MB, f"peak RSS {result.rss_mb:.0f} MB"
