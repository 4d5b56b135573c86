"""Random YAML and random mutations of a real inventory never produce a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netprobe.inventory.errors import InventoryError
from netprobe.inventory.loader import load_inventory
from tests.conftest import EXAMPLE

SEED_TEXT = (EXAMPLE / "communes" / "kinh-bac.yaml").read_text(encoding="utf-8")
PROVINCE = (EXAMPLE / "province.yaml").read_text(encoding="utf-8")
TOKENS = [
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    "'",
    '"',
    "&a",
    "*a",
    "!!python/object",
    "<<: *a",
    "\t",
    "\n  ",
    "~",
    "10.1.2.300",
    "null",
    "ce",
    "parent",
    "${X}",
    "::",
    "198.18.0.1",
    "1e999",
    "0x10",
    "\x00",
    "é",
    "%",
]


def _try(tmp: Path, text: str) -> None:
    (tmp / "province.yaml").write_text(PROVINCE, encoding="utf-8")
    (tmp / "commune.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_inventory(tmp)
    except InventoryError as exc:
        assert exc.problems, "an InventoryError always says why"
        for problem in exc.problems:
            assert "\n" not in problem.message.strip() or "Traceback" not in problem.message


@st.composite
def mutations(draw: st.DrawFn) -> str:
    text = SEED_TEXT
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace_line", "dup_line"]))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 30)) :]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(i, lines[i])
            else:
                lines[i] = draw(st.text(max_size=40)) + "\n"
            text = "".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutations())
def test_mutated_inventory_never_crashes(tmp_path: Path, text: str) -> None:
    _try(tmp_path, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_random_text_never_crashes(tmp_path: Path, text: str) -> None:
    _try(tmp_path, text)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.dictionaries(
        st.sampled_from(
            ["commune", "communes", "agents", "defaults", "snmp_profiles", "services", "providers", "bogus"]
        ),
        yaml_values,
        max_size=4,
    )
)
def test_random_structures_never_crash(tmp_path: Path, data: dict[str, object]) -> None:
    import yaml

    _try(tmp_path, yaml.safe_dump(data, allow_unicode=True))
