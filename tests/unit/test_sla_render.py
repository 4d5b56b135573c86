"""The SLA report's files: CSV a spreadsheet opens (BOM, Vietnamese intact), HTML self-contained and printable."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta, timezone
from html.parser import HTMLParser

from netprobe.i18n import Translator
from netprobe.report.render import BOM, chart_svg, render_csv, render_html
from netprobe.report.sla import LineInfo, SlaReport, build_report, month_bounds
from tests.unit.test_sla import ListSource, _point

ICT = timezone(timedelta(hours=7))


def report() -> SlaReport:
    start, end = (t.timestamp() for t in month_bounds("2026-10", ICT))
    pts = [_point(t, 0 if start + 600 <= t < start + 1200 else 10) for t in range(int(start), int(start) + 7200, 30)]
    infos = [
        LineInfo("l1", "VNPT", "vo-cuong", "Phường Võ Cường", "BN-0123"),
        LineInfo("l2", "Viettel", "x", "Xã Đồng Nguyên"),
    ]
    return build_report(ListSource(pts), infos, "2026-10", ICT, now_s=end, province="Bắc Ninh")


def test_csv_has_a_bom_and_three_tables_in_vietnamese() -> None:
    text = render_csv(report(), Translator("vi"))
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows[0][0] == "Báo cáo chất lượng đường truyền số liệu chuyên dùng tháng 2026-10"
    flat = [c for r in rows for c in r]
    for title in ("Theo từng đường truyền", "Theo nhà cung cấp", "Danh sách các lần gián đoạn"):
        assert title in flat
    line = next(r for r in rows if r[:3] == ["VNPT", "Phường Võ Cường", "l1"])
    assert line[3] == "BN-0123" and line[5] == "10.00" and line[6] == "1"  # 10 minutes down, one outage
    outage = next(r for r in rows if r[:3] == ["VNPT", "Phường Võ Cường", "l1"] and len(r) == 8)
    assert outage[4] == "2026-10-01 00:10:00" and outage[5] == "2026-10-01 00:20:00" and outage[6] == "10.00"
    assert "Xã Đồng Nguyên" in flat  # a line without data is listed, with empty figures
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_csv_in_english() -> None:
    text = render_csv(report(), Translator("en"))
    assert "Availability (%)" in text and "Outages" in text


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_html_is_one_self_contained_printable_file() -> None:
    html = render_html(report(), Translator("vi"), generated_at=0.0)
    parser = _Collect()
    parser.feed(html)
    assert parser.tags.count("svg") == 2  # one chart per provider
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [v for k, v in parser.attrs if k in ("src", "href")]
    assert '<html lang="vi">' in html and '<meta charset="utf-8">' in html and "@media print" in html
    assert "Nhà cung cấp VNPT" in html and "Phường Võ Cường" in html and "Cách tính" in html


def test_chart_scales_to_the_worst_day_and_marks_missing_days() -> None:
    svg = chart_svg([100.0, 99.2, None, 97.6], "t", "không có số liệu")
    assert svg.count("<rect") == 4 and "không có số liệu" in svg
    assert ">97%<" in svg  # the axis starts at the floor of the worst day
    heights = [float(h) for h in re.findall(r'height="([0-9.]+)" fill="#(?:2e7d32|ef6c00|c62828)"', svg)]
    assert heights[0] > heights[1] > heights[2]
