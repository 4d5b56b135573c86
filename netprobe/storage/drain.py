"""Draining the outbox into a sink: batches, acknowledgement, quarantine by binary split, backoff.

A batch is deleted from the outbox only after the sink returned (the database accepted it). A 400 means
some point in the batch is malformed: the batch is split in halves until the bad point stands alone, which
is quarantined; the good halves are written (InfluxDB 1.x may already have written them in a "partial
write": resending is harmless, same series+time overwrites). Other failures keep the batch and back off
exponentially with jitter. One drainer per outbox at a time (a lock file next to it), so the agent and
`netprobe outbox flush` never race.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from netprobe.errors import EXIT_USAGE
from netprobe.storage.errors import StorageError
from netprobe.storage.outbox import Outbox, Row
from netprobe.storage.sinks import BeyondRetention, Rejected, Sink, SinkError, TooLarge

log = logging.getLogger(__name__)


@dataclass
class FlushResult:
    sent: int = 0
    quarantined: int = 0
    remaining: int = 0
    error: SinkError | None = None
    busy_pid: int | None = None  # another process holds the drain lock


class Backoff:
    """Exponential backoff with "equal jitter": base·2^n capped, half fixed, half random."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0) -> None:
        self.base_s, self.cap_s, self.failures = base_s, cap_s, 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures += 1
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def reset(self) -> None:
        self.failures = 0


class DrainLock:
    """An exclusive, non-blocking flock on `<outbox>.drain.lock`; the holder's pid is written inside."""

    def __init__(self, outbox_path: Path) -> None:
        self.path = Path(str(outbox_path) + ".drain.lock")
        self.file: IO[str] | None = None

    def acquire(self) -> int | None:
        """None when acquired; else the pid holding it (0 if unknown)."""
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            f.close()
            return int(text) if text.isdigit() else 0
        # Unbuffered: the pid is only informative ("who is draining?"); a full disk must not stop the drain.
        with contextlib.suppress(OSError):
            os.ftruncate(f.fileno(), 0)
            os.pwrite(f.fileno(), str(os.getpid()).encode(), 0)
        self.file = f
        return None

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


class Drainer:
    def __init__(self, outbox: Outbox, sink: Sink, batch_size: int = 5000, extra_sinks: Sequence[Sink] = ()) -> None:
        """`extra_sinks`: more connections to the same database, to keep several batches in flight."""
        self.outbox, self.sink, self.batch_size = outbox, sink, batch_size
        self.sinks = [sink, *extra_sinks]
        self.backoff = Backoff()
        self._pool: ThreadPoolExecutor | None = None

    def drain_round(self, result: FlushResult, deadline: float, stop: threading.Event | None = None) -> None:
        """Send batches until the outbox is empty or time is up; raises SinkError (after the batches in flight
        have settled) when one failed — what was not acknowledged stays queued.

        A sliding window keeps up to len(sinks) batches in flight (the database ingests on several cores,
        a WAN hides its latency); each batch is acknowledged on its own as soon as it is accepted — order
        does not matter, every point carries its own timestamp. Peeks and acks overlap the sends.
        """
        assert self._pool is not None
        free = list(self.sinks)
        in_flight: dict[Future[None], tuple[Sink, list[Row]]] = {}
        rejected: list[list[Row]] = []
        error: SinkError | None = None
        after_id = 0
        while True:
            while error is None and free and time.monotonic() < deadline and not (stop and stop.is_set()):
                rows = self.outbox.peek(self.batch_size, after_id=after_id)
                if not rows:
                    break
                after_id = rows[-1][0]
                sink = free.pop()
                in_flight[self._pool.submit(sink.send, [line for _, line in rows])] = (sink, rows)
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                sink, rows = in_flight.pop(future)
                free.append(sink)
                try:
                    future.result()
                except BeyondRetention as exc:
                    self._beyond_retention(rows, exc, result)
                except (Rejected, TooLarge):
                    rejected.append(rows)
                except SinkError as exc:
                    error = error or exc
                else:
                    self.outbox.ack(rows)
                    result.sent += len(rows)
        for rows in rejected:  # every connection is idle now: find the bad point(s) on the first one
            self._send(rows, result)
        if error is not None:
            raise error

    def _send(self, rows: list[Row], result: FlushResult) -> None:
        try:
            self.sink.send([line for _, line in rows])
        except BeyondRetention as exc:
            self._beyond_retention(rows, exc, result)
            return
        except (Rejected, TooLarge) as exc:
            if len(rows) == 1:
                self.outbox.quarantine(rows[0], str(exc))
                result.quarantined += 1
                return
            mid = len(rows) // 2
            self._send(rows[:mid], result)
            self._send(rows[mid:], result)
            return
        self.outbox.ack(rows)
        result.sent += len(rows)

    def _beyond_retention(self, rows: list[Row], exc: BeyondRetention, result: FlushResult) -> None:
        """The database wrote the batch except points older than its retention: acknowledge, count, say so."""
        self.outbox.ack(rows, beyond_retention=exc.dropped)
        result.sent += len(rows) - exc.dropped
        log.error(
            "storage: the database refused %d points older than its retention policy (%s); they are counted "
            "as beyond_retention in `netprobe outbox status`",
            exc.dropped,
            exc,
        )

    def flush(
        self, timeout_s: float, stop: threading.Event | None = None, *, stop_on_config_error: bool = False
    ) -> FlushResult:
        """Drain until empty or `timeout_s`; on failure back off and retry within the time left.

        `stop_on_config_error`: give up at once when only a config change can help (bad token, missing
        database) — for the CLI; the agent keeps retrying so a fix made while it runs is picked up.
        """
        result = FlushResult()
        lock = DrainLock(self.outbox.path)
        holder = lock.acquire()
        if holder is not None:
            result.busy_pid = holder
            result.remaining = self.outbox.depth()
            return result
        deadline = time.monotonic() + timeout_s
        self._pool = ThreadPoolExecutor(len(self.sinks), thread_name_prefix="netprobe-write")
        try:
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                try:
                    self.drain_round(result, deadline, stop)
                    if result.error is not None or self.backoff.failures:
                        self.outbox.record_error(None)
                        log.warning("storage: writing again to %s", self.sink.description)
                    result.error = None
                    self.backoff.reset()
                    break
                except SinkError as exc:
                    if result.error is None or str(result.error) != str(exc):
                        log.warning("storage: %s (points kept in the outbox)", exc)
                    result.error = exc
                    self.outbox.record_error(str(exc))
                    if stop_on_config_error and exc.exit_code == EXIT_USAGE:
                        break
                    delay = min(self.backoff.next_delay(), max(0.0, deadline - time.monotonic()))
                    if stop is not None:
                        stop.wait(delay)
                    else:
                        time.sleep(delay)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            lock.release()
        result.remaining = self.outbox.depth()
        return result


class BackgroundDrainer:
    """The agent's drain loop on a thread: flush every `interval_s`, back off on failure, stop on close."""

    def __init__(self, make_drainer: Callable[[], Drainer], interval_s: float) -> None:
        self.make_drainer, self.interval_s = make_drainer, interval_s
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="netprobe-outbox-drain", daemon=True)
        self.last: FlushResult | None = None

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        drainer = self.make_drainer()  # its own SQLite connection, on this thread
        try:
            while not self.stop_event.is_set():
                try:
                    self.last = drainer.flush(timeout_s=max(self.interval_s * 30, 30.0), stop=self.stop_event)
                except StorageError as exc:
                    log.error("storage: %s", exc)
                except Exception:  # a bug must not stop the drain silently: the outbox would only grow
                    log.exception("storage: unexpected error while draining the outbox; retrying")
                self.stop_event.wait(self.interval_s)
        finally:
            drainer.outbox.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)
