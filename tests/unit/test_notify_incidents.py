"""Incidents from verdicts (issue 17): one per root cause, recovery, flapping, repeat, escalation, quiet hours,
digest, senders — through the Notifier into a real SQLite queue, as the agent runs it."""

from __future__ import annotations

from pathlib import Path

from netprobe.health.reasons import Code, Reason
from netprobe.health.verdict import State
from netprobe.notify.route import LOCAL
from netprobe.notify.service import Notifier, is_sender
from tests.unit.notify_fixtures import down, evaluation, healthy, isolated, loss, province, replace_in, v

# 2026-12-02 10:00 Vietnam time (a Wednesday)
T0 = 1_796_180_400.0


def _notifier(tmp: Path, settings: str = "") -> Notifier:
    inv = province(tmp, settings)
    return Notifier(inv, "dc1", tmp / "state")


def _rows(n: Notifier) -> list[dict[str, object]]:
    return n.queue.rows()


def test_an_isolated_commune_is_one_incident_and_one_recovery(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    n.on_evaluation(evaluation(T0, *healthy(T0)))
    assert _rows(n) == []
    bad = replace_in(healthy(T0), *isolated(T0 + 30))
    for i in range(5):  # evaluation after evaluation: still one incident
        n.on_evaluation(evaluation(T0 + 30 + 30 * i, *bad))
    rows = _rows(n)
    assert {r["event"] for r in rows} == {"open"}
    assert {str(r["key"]).split("|")[0] for r in rows} == {f"commune:hap-linh@{int(T0 + 30)}"}
    assert sorted(str(r["recipient"]) for r in rows) == ["communes/hap-linh/CNTT Hạp Lĩnh", "duty/Trực ban"]
    n.on_evaluation(evaluation(T0 + 600, *healthy(T0 + 600, T0 + 590)))
    events = [r["event"] for r in _rows(n) if r["recipient"] == "duty/Trực ban"]
    assert events == ["open", "recover"]


def test_gear_behind_a_lossy_line_opens_nothing_of_its_own(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    bad = replace_in(
        healthy(T0),
        v("vc-1", State.UNSTABLE, T0, loss(22)),
        v("vc-sw", State.UNSTABLE, T0, loss(24), kind="device"),  # the same loss, seen through the line
    )
    n.on_evaluation(evaluation(T0, *bad))
    subjects = {str(r["key"]).split("@")[0] for r in _rows(n)}
    assert subjects == {"line:vc-1"}
    # a dead switch behind a lossy line is its own fault
    worse = replace_in(bad, v("vc-sw", State.DOWN, T0 + 60, down(), kind="device"))
    n.on_evaluation(evaluation(T0 + 60, *worse))
    subjects = {str(r["key"]).split("@")[0] for r in _rows(n)}
    assert subjects == {"line:vc-1", "device:vc-sw"}


def test_message_names_line_state_evidence_and_next_step_in_vietnamese(tmp_path: Path) -> None:
    n = _notifier(tmp_path, "")
    bad = replace_in(healthy(T0), v("hl-1", State.DOWN, T0, down(), Reason.of(Code.PE_OK)))
    n.on_evaluation(evaluation(T0, *bad))
    body = str(n.queue.db.execute("SELECT body FROM messages").fetchone()[0])
    assert "đường truyền số liệu chuyên dùng hl-1 (VNPT Bắc Ninh, mã mạch BN-VN-1) của Phường Hạp Lĩnh" in body
    assert "Trạng thái: mất kết nối, từ 10:00 02/12/2026" in body
    assert "gọi tổng đài VNPT Bắc Ninh 18001091, báo mã mạch BN-VN-1" in body
    assert "Trụ sở UBND Phường Hạp Lĩnh" in body  # the site whose router to check


def test_isolated_commune_says_check_power_then_calls_each_provider(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    n.on_evaluation(evaluation(T0, *replace_in(healthy(T0), *isolated(T0))))
    body = str(n.queue.db.execute("SELECT body FROM messages").fetchone()[0])
    assert "Kiểm tra nguồn điện tủ mạng và bộ định tuyến" in body
    assert "VNPT Bắc Ninh 18001091 (BN-VN-1); Viettel Bắc Ninh 18008098 (BN-VT-2)" in body


def test_flapping_is_summarised_then_recovers_once_calm(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    t = T0
    for i in range(12):  # down 60 s, up 60 s, six times
        state = replace_in(healthy(t), v("vc-1", State.DOWN, t, down())) if i % 2 == 0 else healthy(t, t)
        n.on_evaluation(evaluation(t, *state))
        t += 60
    events = [r["event"] for r in _rows(n) if r["recipient"] == "duty/Trực ban"]
    assert events == ["open", "recover", "open", "flapping"], events
    # calm for flap_window_s / flap_changes = 15 min: one recovery, with the count
    for _ in range(16):
        n.on_evaluation(evaluation(t, *healthy(t, T0)))
        t += 60
    events = [r["event"] for r in _rows(n) if r["recipient"] == "duty/Trực ban"]
    assert events == ["open", "recover", "open", "flapping", "recover"]
    sql = "SELECT body FROM messages WHERE recipient LIKE 'communes/vo-cuong/%' ORDER BY id DESC"
    last = str(n.queue.db.execute(sql).fetchone()[0])
    assert "It flapped 10 times during the incident" in last  # the Võ Cường contact reads English


def test_repeat_while_unresolved_and_escalate_critical_to_provider(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    bad = replace_in(healthy(T0), v("vc-1", State.DOWN, T0, down()))
    t = T0
    while t <= T0 + 4 * 3600 + 60:
        n.on_evaluation(evaluation(t, *bad))
        t += 300
    rows = _rows(n)
    kinds = [(r["event"], str(r["recipient"])) for r in rows]
    assert ("open", "communes/vo-cuong/CNTT Võ Cường") in kinds
    assert ("escalate", "providers/VNPT/NOC VNPT") in kinds
    assert sorted(k[1] for k in kinds if k[0] == "escalate") == ["duty/Trực ban", "providers/VNPT/NOC VNPT"]
    # one reminder after 4 h, not every evaluation
    assert sorted(k[1] for k in kinds if k[0] == "repeat") == ["communes/vo-cuong/CNTT Võ Cường", "duty/Trực ban"]
    n.on_evaluation(evaluation(t, *healthy(t, t)))
    recovered = [str(r["recipient"]) for r in _rows(n) if r["event"] == "recover"]
    assert "providers/VNPT/NOC VNPT" in recovered  # escalated: the provider hears that it cleared


def test_a_warning_does_not_reach_a_critical_only_provider(tmp_path: Path) -> None:
    n = _notifier(tmp_path, "")
    bad = replace_in(healthy(T0), v("vc-1", State.UNSTABLE, T0, loss(30)))
    t = T0
    while t <= T0 + 3600:
        n.on_evaluation(evaluation(t, *bad))
        t += 300
    assert not [r for r in _rows(n) if "providers/" in str(r["recipient"])]


def _with_quiet(tmp: Path) -> Notifier:
    return _notifier(tmp, ", quiet_hours: {start: '22:00', end: '06:30'}")


def test_quiet_hours_hold_warnings_and_drop_what_cleared_meanwhile(tmp_path: Path) -> None:
    n = _with_quiet(tmp_path)
    night = T0 + 13 * 3600  # 23:00 Vietnam time
    lossy = replace_in(healthy(night), v("vc-1", State.UNSTABLE, night, loss(30)))
    n.on_evaluation(evaluation(night, *lossy))
    (not_before,) = n.queue.db.execute("SELECT DISTINCT not_before FROM messages").fetchone()
    from datetime import datetime

    assert datetime.fromtimestamp(not_before, LOCAL).strftime("%H:%M") == "06:30"
    n.on_evaluation(evaluation(night + 600, *healthy(night + 600, night + 600)))
    states = {r["state"] for r in _rows(n)}
    assert states == {"cancelled"}  # began and ended at night: nobody is woken, nobody told at 06:30
    # a critical incident at night goes at once
    n.on_evaluation(evaluation(night + 900, *replace_in(healthy(night), *isolated(night + 900))))
    crit = n.queue.db.execute("SELECT not_before FROM messages WHERE event='open' AND state='pending'").fetchall()
    assert crit and all(x[0] == 0 for x in crit)


def test_only_the_configured_senders_notify(tmp_path: Path) -> None:
    inv = province(tmp_path)
    assert is_sender(inv, "dc1") and not is_sender(inv, "dc2")  # default: the first agent
    inv = province(tmp_path, ", senders: [dc2]")
    assert is_sender(inv, "dc2") and not is_sender(inv, "dc1")


def test_state_survives_a_restart_no_second_open(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    bad = replace_in(healthy(T0), v("vc-1", State.DOWN, T0, down()))
    n.on_evaluation(evaluation(T0, *bad))
    n.close()
    again = _notifier(tmp_path)
    again.on_evaluation(evaluation(T0 + 30, *bad))
    assert [r["event"] for r in _rows(again) if r["recipient"] == "duty/Trực ban"] == ["open"]


def test_daily_digest_once_a_day_to_the_duty_roster(tmp_path: Path) -> None:
    n = _notifier(tmp_path, ", digest_at: '07:30'")
    bad = replace_in(healthy(T0), v("vc-1", State.UNSTABLE, T0, loss(30)))
    n.on_evaluation(evaluation(T0, *bad))  # 10:00: after 07:30 → today's digest now
    n.on_evaluation(evaluation(T0 + 60, *bad))
    digests = [r for r in _rows(n) if r["event"] == "digest"]
    assert len(digests) == 1 and digests[0]["recipient"] == "duty/Trực ban"
    body = str(n.queue.db.execute("SELECT body FROM messages WHERE event='digest'").fetchone()[0])
    assert "1 sự cố mới" in body and "còn 1 sự cố chưa khắc phục" in body


def test_a_line_that_turns_out_to_be_an_isolated_commune_is_told_once(tmp_path: Path) -> None:
    """The engine's first verdict on a dead line is 'lossy' (one burst lost), its commune isolated only on the
    next: confirm_s keeps the line's incident from going out first."""
    n = _notifier(tmp_path, ", confirm_s: 60")
    first = replace_in(healthy(T0), v("hl-1", State.UNSTABLE, T0, loss(100)), v("hl-2", State.UNSTABLE, T0, loss(100)))
    n.on_evaluation(evaluation(T0, *first))
    n.on_evaluation(evaluation(T0 + 5, *replace_in(healthy(T0), *isolated(T0 + 5))))
    for t in range(30, 200, 30):
        n.on_evaluation(evaluation(T0 + t, *replace_in(healthy(T0), *isolated(T0 + 5))))
    assert {str(r["key"]).split("@")[0] for r in _rows(n)} == {"commune:hap-linh"}
    # a blip shorter than confirm_s is never told
    blip = replace_in(healthy(T0 + 300), v("vc-1", State.UNSTABLE, T0 + 300, loss(30)))
    n.on_evaluation(evaluation(T0 + 300, *blip))
    n.on_evaluation(evaluation(T0 + 330, *healthy(T0 + 330)))
    n.on_evaluation(evaluation(T0 + 400, *healthy(T0 + 330)))
    assert not [r for r in _rows(n) if "vc-1" in str(r["key"])]


def test_a_single_line_that_keeps_dropping_is_one_incident_not_a_commune_line_seesaw(tmp_path: Path) -> None:
    n = _notifier(tmp_path)
    iso = Reason.of(Code.COMMUNE_ISOLATED, commune="vo-cuong", lines=1)
    went = Reason.of(Code.WENT_DOWN, times=3, window_s=600)
    t = T0
    for i in range(10):  # down (the commune is dark), then up but flapping, again and again
        if i % 2 == 0:
            now = [v("vc-1", State.DOWN, t, down()), v("vo-cuong", State.DOWN, t, iso, kind="commune")]
        else:
            now = [v("vc-1", State.UNSTABLE, t, went), v("vo-cuong", State.OK, t, kind="commune")]
        n.on_evaluation(evaluation(t, *replace_in(healthy(t), *now)))
        t += 30
    duty = [(r["event"], str(r["key"]).split("@")[0]) for r in _rows(n) if r["recipient"] == "duty/Trực ban"]
    assert duty == [("open", "commune:vo-cuong")], duty
    bodies = [str(b) for (b,) in n.queue.db.execute("SELECT body FROM messages")]
    assert not [b for b in bodies if "verdict." in b or "notify." in b]  # every catalogue key exists
    for _ in range(3):
        n.on_evaluation(evaluation(t, *healthy(t, t)))
        t += 30
    duty = [(r["event"], str(r["key"]).split("@")[0]) for r in _rows(n) if r["recipient"] == "duty/Trực ban"]
    assert duty == [("open", "commune:vo-cuong"), ("recover", "commune:vo-cuong")], duty


def test_held_by_hysteresis_only_never_opens_and_gear_bad_before_its_line_waits_for_it(tmp_path: Path) -> None:
    n = _notifier(tmp_path, ", confirm_s: 60")
    holding = Reason.of(Code.HOLDING, state="DEGRADED", seconds=120)
    n.on_evaluation(evaluation(T0, *replace_in(healthy(T0), v("vc-sw", State.UNSTABLE, T0, holding, kind="device"))))
    n.on_evaluation(
        evaluation(T0 + 90, *replace_in(healthy(T0), v("vc-sw", State.UNSTABLE, T0, holding, kind="device")))
    )
    assert _rows(n) == []
    # the switch shows the loss first; the line a moment later: one incident, the line's
    t = T0 + 200
    n.on_evaluation(evaluation(t, *replace_in(healthy(t), v("vc-sw", State.UNSTABLE, t, loss(20), kind="device"))))
    for dt in (10, 40, 70, 100, 130):
        lossy = [v("vc-sw", State.UNSTABLE, t, loss(20), kind="device"), v("vc-1", State.UNSTABLE, t + 10, loss(18))]
        if dt % 20:  # sampling noise: now and then the switch looks worse than the line, or the line looks fine
            lossy[1] = v("vc-1", State.OK, t)
        n.on_evaluation(evaluation(t + dt, *replace_in(healthy(t), *lossy)))
    assert {str(r["key"]).split("@")[0] for r in _rows(n)} == {"line:vc-1"}
