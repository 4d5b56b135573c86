"""Draining the queue: one thread per channel, so one failing channel never holds back the others.

Per channel, each pass takes the due head of every lane (queue.py keeps the order per recipient and
channel), marks it `sending`, sends it, marks it `sent`. A failure the receiver calls permanent marks the
message failed (the lane goes on); a channel that is down (unreachable, 5xx, refused token) waits as a
whole with exponential backoff (`backoff_s` doubling up to `backoff_max_s`) and its messages stay queued;
other failures retry that message with the same backoff. A message undelivered after `give_up_h` is
marked failed. Every pass is bounded (at most `PASS_LIMIT` messages, each bounded by its channel's
timeout), and a stop request is honoured between messages.

One process delivers a queue at a time (`<queue>.deliver.lock`, flock): the agent, or `notify flush`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from netprobe.inventory.model import NotifyConfig, NotifySettings
from netprobe.notify.channels import Channel, SendError, SmtpClient, WebhookClient, ZaloClient
from netprobe.notify.queue import NotifyQueue

log = logging.getLogger("netprobe.notify")

PASS_LIMIT = 50
POLL_S = 1.0


def build_channels(cfg: NotifyConfig, state_dir: Path) -> list[Channel]:
    out: list[Channel] = []
    if cfg.zalo is not None:
        out.append(ZaloClient(cfg.zalo, state_dir))
    if cfg.smtp is not None:
        out.append(SmtpClient(cfg.smtp))
    for name, hook in sorted(cfg.webhooks.items()):
        out.append(WebhookClient(name, hook))
    return out


def backoff(settings: NotifySettings, failures: int) -> float:
    return float(min(settings.backoff_max_s, settings.backoff_s * 2 ** max(0, min(failures, 40) - 1)))


class DeliveryLock:
    """Held while a process delivers this queue; released by the kernel if the process dies."""

    def __init__(self, queue_path: Path) -> None:
        self.path = Path(queue_path).with_name(Path(queue_path).name + ".deliver.lock")
        self.fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd
        return True

    def holder(self) -> str:
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="ascii").strip() or "?"
        return "?"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def deliver_pass(
    queue: NotifyQueue,
    channel: Channel,
    settings: NotifySettings,
    clock: Callable[[], float] = time.time,
    stop: threading.Event | None = None,
) -> int:
    """One bounded pass over `channel`'s due messages; how many were sent."""
    now = clock()
    waiting_until, consecutive = queue.channel_wait(channel.name)
    if waiting_until > now:
        return 0
    sent = 0
    give_up_s = settings.give_up_h * 3600.0
    for row in queue.due(channel.name, now, PASS_LIMIT):
        if stop is not None and stop.is_set():
            break
        if clock() - row.created > give_up_s:
            queue.mark_failed(row, f"undelivered after {settings.give_up_h:g} h: given up", clock())
            log.error("notify: %s to %s via %s given up after %g h", row.event, row.recipient, row.channel,
                      settings.give_up_h)  # fmt: skip
            continue
        if row.in_doubt:
            log.warning("notify: %s to %s via %s was being sent when a process stopped: sending again (same key)",
                        row.event, row.recipient, row.channel)  # fmt: skip
        queue.mark_sending(row)
        try:
            channel.send(row)
        except SendError as exc:
            at = clock()
            if exc.permanent:
                queue.mark_failed(row, str(exc), at)
                log.error("notify: %s to %s via %s failed for good: %s", row.event, row.recipient, row.channel, exc)
                continue
            if exc.channel_down:
                wait = backoff(settings, consecutive + 1)
                queue.mark_retry(row, str(exc), at + wait, at, channel_retry_at=at + wait)
                log.warning("notify: channel %s is failing (%s); retrying in %.0f s", channel.name, exc, wait)
                break
            wait = backoff(settings, row.attempts + 1)
            queue.mark_retry(row, str(exc), at + wait, at)
            log.warning("notify: %s to %s via %s: %s; retrying in %.0f s", row.event, row.recipient, row.channel,
                        exc, wait)  # fmt: skip
            continue
        except Exception as exc:  # a bug in a channel: keep the message, say it, go on
            at = clock()
            wait = backoff(settings, row.attempts + 1)
            queue.mark_retry(row, f"internal error: {type(exc).__name__}: {exc}", at + wait, at)
            log.exception("notify: channel %s failed unexpectedly", channel.name)
            continue
        queue.mark_sent(row, clock())
        sent += 1
    return sent


class Deliverer:
    """The delivery threads of one process."""

    def __init__(
        self, queue_path: Path, channels: Sequence[Channel], settings: NotifySettings, *,
        clock: Callable[[], float] = time.time, poll_s: float = POLL_S,
    ) -> None:  # fmt: skip
        self.queue_path = Path(queue_path)
        self.channels = list(channels)
        self.settings = settings
        self.clock = clock
        self.poll_s = poll_s
        self.lock = DeliveryLock(self.queue_path)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = 0

    def start(self) -> bool:
        """Start a thread per channel; False (and nothing started) if another process delivers."""
        if not self.lock.acquire():
            log.warning("notify: another process (pid %s) delivers %s; this one only queues",
                        self.lock.holder(), self.queue_path)  # fmt: skip
            return False
        for ch in self.channels:
            t = threading.Thread(target=self._loop, args=(ch,), name=f"notify-{ch.name}", daemon=True)
            t.start()
            self._threads.append(t)
        return True

    def _loop(self, channel: Channel) -> None:
        queue = NotifyQueue(self.queue_path, max_queued=self.settings.max_queued)
        try:
            while not self._stop.is_set():
                try:
                    n = deliver_pass(queue, channel, self.settings, self.clock, self._stop)
                except Exception:
                    log.exception("notify: delivery over %s failed; trying again", channel.name)
                    n = 0
                self.sent += n
                self._stop.wait(0.05 if n else self.poll_s)
        finally:
            queue.close()

    def stop(self, timeout_s: float = 15.0, drain_s: float = 0.0) -> None:
        """Stop the threads; with `drain_s`, first give what is due that long to go out (`run --once`)."""
        if drain_s > 0 and self._threads:
            queue = NotifyQueue(self.queue_path, max_queued=self.settings.max_queued)
            try:
                end = time.monotonic() + drain_s
                while time.monotonic() < end and any(
                    queue.channel_wait(c.name)[0] <= self.clock() and queue.due(c.name, self.clock(), 1)
                    for c in self.channels
                ):
                    time.sleep(0.1)
            finally:
                queue.close()
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.lock.release()


def drain(
    queue_path: Path,
    channels: Sequence[Channel],
    settings: NotifySettings,
    timeout_s: float,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Deliver what is due now within `timeout_s` (`notify flush`, `notify test`): the channels in parallel,
    each until it has nothing due, so a slow or dead one does not hold back the others."""
    lock = DeliveryLock(queue_path)
    if not lock.acquire():
        return {"busy": lock.holder(), "sent": 0}
    deadline = time.monotonic() + timeout_s
    stop = threading.Event()
    sent = [0] * len(channels)

    def one(i: int, ch: Channel) -> None:
        queue = NotifyQueue(queue_path, max_queued=settings.max_queued)
        try:
            while time.monotonic() < deadline and not stop.is_set():
                n = deliver_pass(queue, ch, settings, clock, stop)
                sent[i] += n
                if n == 0:
                    return
        except Exception:
            log.exception("notify: delivery over %s failed", ch.name)
        finally:
            queue.close()

    threads = [threading.Thread(target=one, args=(i, ch), daemon=True) for i, ch in enumerate(channels)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        stop.set()
        for t in threads:
            t.join(30.0)  # a send in flight ends within its channel's timeout
        queue = NotifyQueue(queue_path, max_queued=settings.max_queued)
        try:
            left = queue.depth()
        finally:
            queue.close()
        return {"busy": None, "sent": sum(sent), "left": left}
    finally:
        lock.release()
