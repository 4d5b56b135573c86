"""A small province with a notify: block, and verdicts built with the engine's public types."""

from __future__ import annotations

from pathlib import Path

from netprobe.health.reasons import Code, Reason
from netprobe.health.verdict import Evaluation, State, Verdict
from netprobe.inventory.loader import Inventory, load_inventory

PROVINCE = """
province: {slug: bac-ninh, name: Bắc Ninh}
providers:
  VNPT: {name: VNPT Bắc Ninh, hotline: "18001091"}
  Viettel: {name: Viettel Bắc Ninh, hotline: "18008098"}
agents: [{name: dc1}, {name: dc2}]
communes:
  - slug: hap-linh
    name: Phường Hạp Lĩnh
    sites:
      - id: ubnd
        name: Trụ sở UBND Phường Hạp Lĩnh
        lines:
          - {id: hl-1, provider: VNPT, circuit_id: BN-VN-1, ce: 198.18.1.2, pe: 198.18.1.1}
          - {id: hl-2, provider: Viettel, circuit_id: BN-VT-2, ce: 198.18.2.2, pe: 198.18.2.1}
        devices:
          - {id: hl-rt, kind: router, address: 198.18.3.1, parent: hl-1}
          - {id: hl-sw, kind: switch, address: 198.18.3.2, parent: hl-rt}
  - slug: vo-cuong
    name: Phường Võ Cường
    sites:
      - id: ubnd
        lines:
          - {id: vc-1, provider: VNPT, circuit_id: BN-VN-9, ce: 198.18.4.2, pe: 198.18.4.1}
        devices:
          - {id: vc-sw, kind: switch, address: 198.18.5.2, parent: vc-1}
notify:
  settings: {repeat_h: 4, escalate_after_min: 30, flap_changes: 4, flap_window_s: 3600SETTINGS}
  webhooks:
    ops: {url: "https://127.0.0.1:9/ops"}
    hl: {url: "https://127.0.0.1:9/hl"}
    vc: {url: "https://127.0.0.1:9/vc"}
    noc: {url: "https://127.0.0.1:9/noc"}
  duty:
    - {name: Trực ban, webhook: ops, days: [1, 2, 3, 4, 5, 6, 7]}
  communes:
    hap-linh: [{name: CNTT Hạp Lĩnh, webhook: hl, lang: vi}]
    vo-cuong: [{name: CNTT Võ Cường, webhook: vc, lang: en}]
  providers:
    VNPT: [{name: NOC VNPT, webhook: noc, min_severity: critical}]
"""


def province(tmp: Path, settings: str = "") -> Inventory:
    """`settings`: more of notify.settings, e.g. ", digest_at: '07:30'" (confirm_s is 0 unless given)."""
    if "confirm_s" not in settings:
        settings += ", confirm_s: 0"
    (tmp / "p.yaml").write_text(PROVINCE.replace("SETTINGS", settings), encoding="utf-8")
    return load_inventory(tmp / "p.yaml")


def v(
    subject: str, state: State, since: float = 1000.0, *reasons: Reason, kind: str = "line", agent: str = "dc1"
) -> Verdict:
    return Verdict(subject, kind, state, 0.0 if state is State.DOWN else 60.0, since, tuple(reasons), agent=agent)  # type: ignore[arg-type]


def loss(pct: float) -> Reason:
    return Reason.of(Code.LOSS, loss_pct=pct, lost=int(pct), sent=100, window_s=300)


def down() -> Reason:
    return Reason.of(Code.DOWN, probes=10, seconds=60)


def evaluation(t: float, *verdicts: Verdict) -> Evaluation:
    nodes = {x.subject: x for x in verdicts if x.kind in ("line", "device")}
    communes = {x.subject: x for x in verdicts if x.kind == "commune"}
    agents = {x.subject: x for x in verdicts if x.kind == "agent"}
    return Evaluation(t, nodes, communes, agents)


def healthy(t: float, since: float = 0.0) -> list[Verdict]:
    return [
        v("hl-1", State.OK, since),
        v("hl-2", State.OK, since),
        v("hl-rt", State.OK, since, kind="device"),
        v("hl-sw", State.OK, since, kind="device"),
        v("vc-1", State.OK, since),
        v("vc-sw", State.OK, since, kind="device"),
        v("hap-linh", State.OK, since, kind="commune"),
        v("vo-cuong", State.OK, since, kind="commune"),
    ]


def isolated(since: float) -> list[Verdict]:
    iso = Reason.of(Code.COMMUNE_ISOLATED, commune="hap-linh", lines=2)
    parent = Reason.of(Code.PARENT_DOWN, parent="hl-1")
    return [
        v("hl-1", State.DOWN, since, down()),
        v("hl-2", State.DOWN, since, down()),
        v("hl-rt", State.UNREACHABLE, since, parent, kind="device"),
        v("hl-sw", State.UNREACHABLE, since, parent, kind="device"),
        v("hap-linh", State.DOWN, since, iso, kind="commune"),
    ]


def replace_in(base: list[Verdict], *changed: Verdict) -> list[Verdict]:
    by = {(x.kind, x.subject): x for x in base}
    for c in changed:
        by[(c.kind, c.subject)] = c
    return list(by.values())
