"""The agent's state file: atomic, and a damaged one is ignored rather than fatal."""

from __future__ import annotations

from pathlib import Path

from netprobe.engine.state import StateFile


def test_state_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "sub" / "agent-state.json")
    assert state.load() == {}
    state.save({"verdicts": {"a": [1, 2, 3]}})
    state.save({"verdicts": {"a": [4]}})
    assert state.load() == {"verdicts": {"a": [4]}}
    assert [p.name for p in state.path.parent.iterdir()] == ["agent-state.json"]  # no temp files left


def test_a_damaged_or_foreign_state_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "agent-state.json"
    for text in ('{"format": 1, "state": {"verdicts"', "[1, 2]", '{"format": 99, "state": {}}'):
        path.write_text(text, encoding="utf-8")
        assert StateFile(path).load() == {}


def test_chunked_writing_is_plain_json(tmp_path: Path) -> None:
    import json

    value = {
        "verdicts": {
            "observations": [[i, f"line-{i}", 0.5, None, True] for i in range(5000)],
            "machines": {f"m{i}": {"health": i % 4} for i in range(3000)},
            "empty": {},
            "few": [1, 2],
        }
    }
    state = StateFile(tmp_path / "s.json")
    state.save(value)
    assert state.load() == value
    assert json.loads(state.path.read_text(encoding="utf-8")) == {"format": 1, "state": value}


def test_a_streamed_list_is_written_item_by_item_as_plain_json(tmp_path: Path) -> None:
    from netprobe.health.engine import Streamed

    made: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(3):
            made.append(i)
            yield {"key": [i, "x"], "time": [float(i)] * (i + 1)}

    state = StateFile(tmp_path / "s.json")
    state.save({"verdicts": {"engine": {"version": 2, "series": Streamed(items)}, "last": None}})
    assert made == [0, 1, 2]  # produced while writing, once
    expected = {"engine": {"version": 2, "series": [{"key": [i, "x"], "time": [float(i)] * (i + 1)} for i in range(3)]}}
    assert state.load() == {"verdicts": {**expected, "last": None}}
