"""The SLA report as CSV (for a spreadsheet) and as one self-contained, printable HTML file."""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from datetime import datetime

from netprobe import __version__
from netprobe.i18n import Translator
from netprobe.report.sla import LineSla, Outage, ProviderSla, SlaReport

BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it; LibreOffice and pandas ignore it


def _pct(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.2f}"


def _when(report: SlaReport, t: float) -> str:
    return datetime.fromtimestamp(t, report.tz).strftime("%Y-%m-%d %H:%M:%S")


def _note(o: Outage, _: Translator) -> str:
    notes = []
    if o.began_before:
        notes.append(_("sla.note.began_before"))
    if o.ongoing:
        notes.append(_("sla.note.ongoing"))
    return "; ".join(notes)


# The figures both tables show, in this order (a line's, or a provider's over its lines).
_FIGURES = ("availability", "downtime_min", "outages", "mean_loss", "p95_rtt", "unstable_hours", "coverage")


def _figure_cells(x: LineSla | ProviderSla, outages: int) -> list[str]:
    return [
        _pct(x.availability_pct),
        _minutes(x.down_s),
        str(outages),
        _num(x.mean_loss_pct, 2),
        _num(x.p95_rtt_ms, 1),
        str(x.unstable_hours),
        _num(x.coverage_pct, 1),
    ]


def _columns(_: Translator, *first: str) -> list[str]:
    return [_(f"sla.col.{key}") for key in (*first, *_FIGURES)]


def _line_columns(_: Translator) -> list[str]:
    return _columns(_, "provider", "commune", "line", "circuit")


def _line_row(x: LineSla) -> list[str]:
    return [x.provider, x.commune_name or x.commune, x.line, x.circuit_id, *_figure_cells(x, len(x.outages))]


def _provider_columns(_: Translator) -> list[str]:
    return _columns(_, "provider", "lines")


def _provider_row(p: ProviderSla) -> list[str]:
    return [p.provider, str(len(p.lines)), *_figure_cells(p, p.outages)]


def _outage_columns(_: Translator) -> list[str]:
    return [
        _("sla.col.provider"),
        _("sla.col.commune"),
        _("sla.col.line"),
        _("sla.col.circuit"),
        _("sla.col.start"),
        _("sla.col.end"),
        _("sla.col.duration_min"),
        _("sla.col.note"),
    ]


def _outage_rows(report: SlaReport, _: Translator) -> list[list[str]]:
    def row(x: LineSla, o: Outage, note: str) -> list[str]:
        when = [_when(report, o.start_s), _when(report, o.end_s), _minutes(o.duration_s)]
        return [x.provider, x.commune_name or x.commune, x.line, x.circuit_id, *when, note]

    rows = [row(x, o, _note(o, _)) for x in report.lines for o in x.outages]
    # the router's own outages (power at the commune office), apart: not the provider's
    local = _("sla.note.local_power")
    rows += [row(x, o, "; ".join(n for n in (local, _note(o, _)) if n)) for x in report.lines for o in x.local_outages]
    return rows


def render_csv(report: SlaReport, _: Translator) -> str:
    """Three tables one after another (lines, providers, outages), each with its own header row.

    UTF-8 with a BOM so Excel shows Vietnamese names intact; dot decimals, comma separators (RFC 4180).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(
        [
            _("sla.title", month=report.month),
            _("sla.period", start=_when(report, report.start_s), end=_when(report, report.end_s)),
        ]
    )
    w.writerow([])
    w.writerow([_("sla.section.lines")])
    w.writerow(_line_columns(_))
    w.writerows(_line_row(x) for x in report.lines)
    w.writerow([])
    w.writerow([_("sla.section.providers")])
    w.writerow(_provider_columns(_))
    w.writerows(_provider_row(p) for p in report.providers)
    w.writerow([])
    w.writerow([_("sla.section.outages")])
    w.writerow(_outage_columns(_))
    w.writerows(_outage_rows(report, _))
    return BOM + buf.getvalue()


# ---------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------
_CSS = """
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; margin: 1.5em; color: #111; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #444; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #999; padding: 0.2em 0.45em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id { white-space: nowrap; }
th { background: #eee; }
.chart { margin: 0.4em 0; }
.note { color: #444; font-size: 0.8em; max-width: 60em; }
section { page-break-inside: avoid; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } }
"""


def _cells(values: Sequence[str], numeric_from: int, tag: str = "td", ids: Sequence[int] = ()) -> str:
    out = []
    for i, v in enumerate(values):
        cls = ""
        if tag == "td":
            cls = ' class="n"' if i >= numeric_from else ' class="id"' if i in ids else ""
            v = v or "—"  # an empty figure: no data
        out.append(f"<{tag}{cls}>{html.escape(v)}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int, ids: Sequence[int] = ()) -> str:
    body = "".join(_cells(r, numeric_from, ids=ids) for r in rows)
    return f"<table><thead>{_cells(head, 0, 'th')}</thead><tbody>{body}</tbody></table>"


def chart_svg(daily: Sequence[float | None], title: str, no_data: str) -> str:
    """A small bar chart of daily availability; the y axis starts just below the worst day."""
    width, height, left, bottom, top = 620, 150, 44, 22, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    known = [v for v in daily if v is not None]
    y_min = min(99.0, math.floor(min(known)) if known else 99.0)
    y_min = max(0.0, y_min)
    span = 100.0 - y_min or 1.0
    n = max(len(daily), 1)
    bar_w = plot_w / n
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#444"/>',
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">100%</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">{y_min:g}%</text>',
    ]
    for i, v in enumerate(daily):
        x = left + i * bar_w + 1
        day = i + 1
        if v is None:
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - 3}" width="{max(bar_w - 2, 1):.1f}" height="3" fill="#bbb">'
                f"<title>{day}: {html.escape(no_data)}</title></rect>"
            )
        else:
            h = max(1.0, plot_h * (v - y_min) / span)
            colour = "#2e7d32" if v >= 99.5 else "#ef6c00" if v >= 98 else "#c62828"
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{day}: {v:.3f}%</title></rect>'
            )
        if day == 1 or day % 5 == 0:
            parts.append(
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{height - 6}" font-size="10" text-anchor="middle">{day}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: SlaReport, _: Translator, generated_at: float) -> str:
    title = _("sla.title", month=report.month)
    period = _("sla.period", start=_when(report, report.start_s), end=_when(report, report.end_s))
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{_.lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(report.province)} — {html.escape(period)} — '
        f"{html.escape(_('sla.generated', at=_when(report, generated_at), version=__version__))}</p>",
        f"<h2>{html.escape(_('sla.section.providers'))}</h2>",
        _table(_provider_columns(_), [_provider_row(p) for p in report.providers], 1),
    ]
    for p in report.providers:
        out.append("<section>")
        out.append(f"<h2>{html.escape(_('sla.provider_heading', provider=p.provider))}</h2>")
        out.append(chart_svg(p.daily_availability(), _("sla.chart_title", provider=p.provider), _("sla.no_data")))
        out.append(_table(_line_columns(_), [_line_row(x) for x in p.lines], 4, ids=(2, 3)))
        out.append("</section>")
    rows = _outage_rows(report, _)
    out.append(f"<h2>{html.escape(_('sla.section.outages'))}</h2>")
    out.append(
        _table(_outage_columns(_), rows, 6, ids=(2, 3, 4, 5)) if rows else f"<p>{html.escape(_('sla.no_outages'))}</p>"
    )
    out.append(f'<p class="note">{html.escape(_("sla.method"))}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
