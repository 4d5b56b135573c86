"""The notify queue (issue 17): idempotency keys, order per lane, deferral, bounds, backoff, and the
example inventory's notify: block (validated, never sent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netprobe.inventory.loader import load_inventory
from netprobe.notify.channels import SendError
from netprobe.notify.deliver import backoff, deliver_pass
from netprobe.notify.queue import NewMessage, NotifyQueue, Queued
from netprobe.notify.service import is_sender

REPO = Path(__file__).resolve().parents[2]


def msg(key: str, who: str = "duty/a", channel: str = "webhook:ops", not_before: float = 0.0) -> NewMessage:
    return NewMessage(key, who, channel, "ops", f"inc-{key}", "open", "warning", key, key, {"k": key}, not_before)


class Recorder:
    """A channel that records and can be told to fail (the real ones are tested against real servers)."""

    name = "webhook:ops"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail: SendError | None = None

    def send(self, m: Queued) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(m.key)


def test_same_key_is_one_row_and_state_commits_with_rows(tmp_path: Path) -> None:
    q = NotifyQueue(tmp_path / "n.db")
    assert q.enqueue([msg("a"), msg("b")], state={"x": 1}) == 2
    assert q.enqueue([msg("a")], state={"x": 2}) == 0  # a replayed event: no second row
    assert q.depth() == 2 and q.load_state() == {"x": 2}


def test_order_per_lane_and_a_deferred_row_holds_back_nothing(tmp_path: Path) -> None:
    q = NotifyQueue(tmp_path / "n.db")
    settings = load_inventory(_inv(tmp_path)).notify.settings  # type: ignore[union-attr]
    q.enqueue([msg("night", not_before=10_000.0), msg("1"), msg("2"), msg("other", who="duty/b")])
    ch = Recorder()
    assert deliver_pass(q, ch, settings, clock=lambda: 100.0) == 2  # one head per lane per pass
    deliver_pass(q, ch, settings, clock=lambda: 100.0)
    assert ch.sent == ["1", "other", "2"]
    deliver_pass(q, ch, settings, clock=lambda: 10_001.0)
    assert ch.sent[-1] == "night" and q.depth() == 0


def test_a_down_channel_waits_with_bounded_backoff_and_keeps_order(tmp_path: Path) -> None:
    q = NotifyQueue(tmp_path / "n.db")
    settings = load_inventory(_inv(tmp_path)).notify.settings  # type: ignore[union-attr]
    q.enqueue([msg(str(i)) for i in range(5)])
    ch = Recorder()
    ch.fail = SendError("connection refused", channel_down=True)
    t = 0.0
    attempts = 0
    while t < 600:  # ten minutes of outage, one pass a second
        before = q.status()[0].failures if q.status() else 0
        deliver_pass(q, ch, settings, clock=lambda t=t: t)
        attempts += (q.status()[0].failures if q.status() else 0) - before
        t += 1.0
    assert 5 <= attempts <= 20  # backoff 5 s doubling to 600 s max: not 600 attempts
    assert backoff(settings, 1) == 5.0 and backoff(settings, 30) == 600.0
    ch.fail = None
    while q.depth() and t < 2000:
        deliver_pass(q, ch, settings, clock=lambda t=t: t)
        t += 1.0
    assert ch.sent == ["0", "1", "2", "3", "4"]


def test_permanent_refusal_fails_that_message_only(tmp_path: Path) -> None:
    q = NotifyQueue(tmp_path / "n.db")
    settings = load_inventory(_inv(tmp_path)).notify.settings  # type: ignore[union-attr]
    q.enqueue([msg("x"), msg("y")])
    ch = Recorder()
    ch.fail = SendError("not a follower", permanent=True)
    deliver_pass(q, ch, settings, clock=lambda: 1.0)
    ch.fail = None
    deliver_pass(q, ch, settings, clock=lambda: 2.0)
    assert ch.sent == ["y"] and [r["state"] for r in q.rows()] == ["failed", "sent"]


def test_the_queue_is_bounded_and_says_what_it_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    q = NotifyQueue(tmp_path / "n.db", max_queued=10)
    q.enqueue([msg(str(i)) for i in range(15)])
    assert q.depth() == 10 and q.dropped() == 5
    assert "5 messages dropped" in caplog.text


def test_example_inventory_notify_block_validates_and_names_one_sender() -> None:
    inv = load_inventory(REPO / "inventory" / "example")
    assert inv.notify is not None and inv.notify.zalo is not None and inv.notify.smtp is not None
    assert is_sender(inv, "dc-bac-ninh") and not is_sender(inv, "dc-bac-giang")
    assert str(inv.notify.zalo.refresh_token).startswith("file:")  # a reference, never the token


def _inv(tmp: Path) -> Path:
    from tests.unit.notify_fixtures import PROVINCE

    (tmp / "p.yaml").write_text(PROVINCE.replace("SETTINGS", ""), encoding="utf-8")
    return tmp / "p.yaml"
