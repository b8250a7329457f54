"""A self-contained HTML report: the summaries, the leaderboard and their charts as inline SVG.

One file, no scripts, no external fonts or images: a stakeholder without Excel opens it in
any browser or mail client. Built from the same ``SheetSpec`` descriptions the workbook gets.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from typing import Any

from .schema import Schema
from .summary import FIRST_DATA_ROW, ChartSpec, SheetSpec, format_value

PALETTE = ("#305496", "#ed7d31", "#70ad47", "#ffc000", "#5b9bd5", "#a5a5a5", "#7030a0", "#c00000")
MAX_LINE_POINTS = 2000

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px 32px;color:#1f2933;background:#fff}
h1{color:#1f3864;font-size:24px;margin:0 0 4px}
h2{color:#1f3864;font-size:18px;margin:28px 0 6px;border-bottom:2px solid #305496;padding-bottom:4px}
p.meta{color:#52606d;margin:0 0 16px;font-size:13px}
p.caption{color:#52606d;margin:4px 0 10px;font-size:13px}
div.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th{background:#305496;color:#fff;text-align:left;padding:5px 9px;font-weight:600}
td{padding:4px 9px;border-bottom:1px solid #e4e7eb}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{background:#c6efce;color:#006100;font-weight:700}
tr:nth-child(even) td{background:#f5f7fa}
tr:nth-child(even) td.best{background:#c6efce}
svg{display:block;margin:8px 0 18px;background:#fff}
svg text{font-family:inherit;font-size:11px;fill:#1f2933}
svg .title{font-size:14px;font-weight:700;fill:#1f3864}
"""


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _best_rows(spec: SheetSpec) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for col, goal in spec.best.items():
        values = [(_num(r[col]) if col < len(r) else None) for r in spec.rows]
        present = [v for v in values if v is not None]
        if not present:
            continue
        target = max(present) if goal == "max" else min(present)
        out[col] = {i for i, v in enumerate(values) if v == target}
    return out


def table_html(spec: SheetSpec, limit: int | None = None) -> str:
    """The sheet's table, formatted as in the workbook, best values highlighted."""
    best = _best_rows(spec)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in spec.header)
    rows = []
    for i, row in enumerate(spec.rows[:limit] if limit else spec.rows):
        if i in spec.subheads:  # a table inside the sheet (the Overview's top five)
            rows.append("<tr>" + "".join(f"<th>{html.escape(format_value(v, None))}</th>" for v in row) + "</tr>")
            continue
        cells = []
        for c, v in enumerate(row):
            fmt = spec.formats[c] if c < len(spec.formats) else None
            fmt = spec.cell_formats.get((i, c), fmt)
            cls = ["num"] if _num(v) is not None else []
            if i in best.get(c, ()):
                cls.append("best")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(format_value(v, fmt))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _range_values(specs: dict[str, SheetSpec], rng: Any) -> list[Any]:
    spec = specs[rng.sheet]
    out = []
    for r in range(rng.row1, rng.row2 + 1):
        i = r - FIRST_DATA_ROW
        row = spec.rows[i] if 0 <= i < len(spec.rows) else []
        parts = [row[c] if c < len(row) else None for c in range(rng.col1, rng.col2 + 1)]
        out.append(parts[0] if len(parts) == 1 else " / ".join("" if p is None else str(p) for p in parts))
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    out = [round(math.floor(lo / step) * step, 12)]
    while out[-1] < hi - step * 1e-9 and len(out) < 20:
        out.append(round(out[-1] + step, 12))
    return out


def chart_svg(chart: ChartSpec, specs: dict[str, SheetSpec], width: int = 720, height: int = 340) -> str:
    """An SVG rendering of a chart spec: grouped columns or lines, axes, ticks and a legend."""
    cats = [format_value(c, None) for c in _range_values(specs, chart.categories)] if chart.categories else []
    series = [(s.title, [_num(v) for v in _range_values(specs, s.values)]) for s in chart.series]
    present = [v for _, vals in series for v in vals if v is not None]
    if not present:
        return ""
    left, right, top, bottom = 70, 20, 34, 70
    pw, ph = width - left - right, height - top - bottom
    lo = min(0.0, min(present)) if chart.kind == "bar" else min(present)
    hi = max(present)
    ticks = _ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    span = (hi - lo) or 1.0

    def y(v: float) -> float:
        return top + ph - (v - lo) / span * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(chart.title)}">',
             f'<text class="title" x="{left}" y="20">{html.escape(chart.title)}</text>']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e4e7eb"/>'
                     f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">'
                     f"{html.escape(format_value(t, chart.y_format))}</text>")
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#52606d"/>'
                 f'<line x1="{left}" x2="{left + pw}" y1="{y(max(lo, 0.0) if lo <= 0 <= hi else lo):.1f}" '
                 f'y2="{y(max(lo, 0.0) if lo <= 0 <= hi else lo):.1f}" stroke="#52606d"/>')
    n = max(len(vals) for _, vals in series)
    if chart.kind == "bar":
        group = pw / max(n, 1)
        bar = group * 0.8 / max(len(series), 1)
        base = y(0.0) if lo <= 0 <= hi else y(lo)
        for s, (_, vals) in enumerate(series):
            color = PALETTE[s % len(PALETTE)]
            for i, v in enumerate(vals):
                if v is None:
                    continue
                x = left + i * group + group * 0.1 + s * bar
                top_y = min(y(v), base)
                parts.append(f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{max(bar - 1, 1):.1f}" '
                             f'height="{abs(base - y(v)):.1f}" fill="{color}"/>')
        for i, label in enumerate(cats[:n]):
            x = left + (i + 0.5) * group
            parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">'
                         f"{html.escape(label[:18])}</text>")
    else:
        step = max(1, math.ceil(n / MAX_LINE_POINTS))
        for s, (_, vals) in enumerate(series):
            color = PALETTE[s % len(PALETTE)]
            idx = list(range(0, n, step))
            if idx and idx[-1] != n - 1:
                idx.append(n - 1)
            pts = " ".join(f"{left + (i / max(n - 1, 1)) * pw:.1f},{y(v):.1f}" for i in idx
                           if i < len(vals) and (v := vals[i]) is not None)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>')
        for i in sorted({0, n - 1}):
            label = cats[i] if i < len(cats) else str(i + 1)
            x = left + (i / max(n - 1, 1)) * pw
            parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{html.escape(label)}</text>')
    if chart.x_title:
        parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 34}" text-anchor="middle">'
                     f"{html.escape(chart.x_title)}</text>")
    lx = left
    for s, (name, _) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        parts.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{height - 7}">{html.escape(name)}</text>')
        lx += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def html_report(schema: Schema, df: Any, sheets: list[SheetSpec], title: str) -> str:
    """The whole report: every sheet's title, table and charts, in one HTML page."""
    specs = {s.name: s for s in sheets}
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{len(df)} runs, template {html.escape(schema.name)}'
            + (f", primary metric {html.escape(schema.primary_metric.name)} "
               f"({'higher' if schema.primary_metric.goal == 'max' else 'lower'} is better)"
               if schema.primary_metric else "")
            + f"; built by sheettrack {now}</p>"]
    for spec in sheets:
        if spec.kind == "progress":
            continue
        body.append(f"<h2>{html.escape(spec.name)}</h2>")
        body.append(f'<p class="caption">{html.escape(spec.title)}</p>')
        body.append(table_html(spec))
        for chart in spec.charts if spec.kind != "overview" else []:  # the Overview's repeats a pivot's
            body.append(chart_svg(chart, specs))
    if len(sheets) == 0:
        body.append("<p>No summaries are defined and the template has no primary metric.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
