"""Summaries of the runs: pivot tables, the leaderboard, the progress over time, and charts.

Everything here is pandas and plain data, never a spreadsheet library. Each sheet is
described store-neutrally as a ``SheetSpec`` (title row, header, rows of values, a number
format per column, which columns highlight their best value, the frozen panes and charts
whose ranges are in sheet coordinates); a store renders the description (the workbook store
as worksheet, drawing and chart parts; a Google Sheet with ``batchUpdate`` requests).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .cells import col_letter, quote_sheet
from .errors import TemplateError, ValidationError
from .metrics import goal_of
from .runids import run_ids, short_namer
from .schema import Schema, Summary, check_sheet_name

OVERVIEW = "Overview"
LEADERBOARD = "Leaderboard"
HYPOTHESES = "Hypotheses"
PROGRESS = "Progress"
RESERVED = (OVERVIEW.lower(), LEADERBOARD.lower(), HYPOTHESES.lower(), PROGRESS.lower(), "schema")
#: Booleans read TRUE/FALSE in every reader (LibreOffice shows a bare boolean cell as 0/1).
BOOL_FORMAT = '"TRUE";"TRUE";"FALSE"'
#: A zooming value axis says so in its title: the reader must not read gaps as ratios.
ZOOMED = "axis zoomed to the data"
#: The statuses in the order the Overview lists them (others follow, alphabetically).
STATUSES = ("finished", "interrupted", "failed")
TITLE_ROW = 1
HEADER_ROW = 2
FIRST_DATA_ROW = 3


@dataclass(frozen=True)
class CellRange:
    """A block of cells: 0-based columns, 1-based rows, on ``sheet``."""

    sheet: str
    col1: int
    row1: int
    col2: int
    row2: int

    def a1(self, absolute: bool = True) -> str:
        """``'By model'!$B$3:$B$9``: the range as a formula reference."""
        d = "$" if absolute else ""
        return (f"{quote_sheet(self.sheet)}!{d}{col_letter(self.col1)}{d}{self.row1}:"
                f"{d}{col_letter(self.col2)}{d}{self.row2}")


@dataclass(frozen=True)
class Series:
    """One series of a chart: its name and the cells holding its values."""

    title: str
    values: CellRange


@dataclass
class ChartSpec:
    """A native chart: kind (bar or line), title, categories and series, and where it sits.

    ``anchor`` is the top-left cell (0-based column, 1-based row) on the sheet that holds
    the chart; ``width`` and ``height`` are in columns and rows. ``zero_based`` pins the
    value axis's minimum at 0 (bar charts: a bar's length is its value).
    """

    kind: str
    title: str
    categories: CellRange | None
    series: list[Series]
    anchor: tuple[int, int]
    width: int = 9
    height: int = 18
    y_title: str | None = None
    y_format: str | None = None
    x_title: str | None = None
    zero_based: bool = False


@dataclass
class SheetSpec:
    """A sheet sheettrack builds, described for any store.

    Row 1 holds ``title``, row 2 ``header``, rows 3 onwards ``rows``. ``formats`` gives a
    number format per column (None for General); ``best`` maps a column index to ``max`` or
    ``min``: its best value is highlighted. The panes are frozen below the header and right of
    the first ``freeze_cols`` columns.

    ``lead`` sheets go first among the tabs, in the order written (Overview, Leaderboard, ...);
    ``cell_formats`` overrides the column's format for single cells ((row index, column));
    ``subheads`` are row indices styled as headers (a table inside the sheet); ``one_page``
    prints the sheet on a single page instead of fitting only its width.
    """

    name: str
    kind: str  # summary | leaderboard | progress
    title: str
    header: list[str]
    rows: Sequence[Sequence[Any]]  # row by row; only read once built
    formats: list[str | None]
    best: dict[int, str] = field(default_factory=dict)
    freeze_cols: int = 0
    widths: list[float] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    lead: bool = False
    cell_formats: dict[tuple[int, int], str | None] = field(default_factory=dict)
    subheads: list[int] = field(default_factory=list)
    one_page: bool = False

    @property
    def last_row(self) -> int:
        """Sheet row of the last data row (the header row when there are none)."""
        return HEADER_ROW + len(self.rows)

    def column_range(self, col: int) -> CellRange:
        """The data cells of column ``col``."""
        return CellRange(self.name, col, FIRST_DATA_ROW, col, max(self.last_row, FIRST_DATA_ROW))


# -- pivots --------------------------------------------------------------------------------

def _query(df: Any, where: str | None, what: str) -> Any:
    if not where:
        return df
    try:
        return df.query(where, engine="python")
    except Exception as exc:  # pandas raises many types for a bad expression
        raise ValidationError(f"{what}: where {where!r} is not a filter these columns allow: {exc}") from None


def _check_columns(df: Any, names: tuple[str, ...], what: str, key: str) -> None:
    for name in names:
        if name not in df.columns:
            known = ", ".join(str(c) for c in df.columns[:12])
            raise ValidationError(f"{what}: {key} column {name!r} is not in the runs (columns: {known}, ...)")


def pivot_frame(df: Any, summary: Summary, schema: Schema | None = None) -> Any:
    """The pivot ``summary`` defines, as a flat DataFrame: index columns, then one column per
    value, aggregate (and value of ``columns``), named ``"accuracy mean"`` or
    ``"accuracy max (mlp)"``. Rows sorted and cut as the summary says."""
    import pandas as pd

    what = f"summary {summary.name!r}"
    for part in ("index", "columns", "values"):
        _check_columns(df, getattr(summary, part), what, part)
    sub = _query(df, summary.where, what)
    for v in summary.values:
        numeric = pd.api.types.is_numeric_dtype(sub[v]) and not pd.api.types.is_bool_dtype(sub[v])
        needs_numbers = [a for a in summary.aggfunc if a != "count"]
        if needs_numbers and not numeric:
            raise ValidationError(f"{what}: values column {v!r} holds {sub[v].dtype} values; aggfunc "
                                  f"{needs_numbers[0]} needs numbers (count works on any column)")
    for k in summary.index + summary.columns:
        if sub[k].dtype == object and any(isinstance(x, (list, dict)) for x in sub[k]):
            raise ValidationError(f"{what}: column {k!r} holds lists or dicts; it cannot group runs")
    keys = list(summary.index)
    groups = sub.dropna(subset=keys).groupby(keys, observed=True, sort=True).size().index
    parts = []
    for v in summary.values:
        values = sub[v].astype("float64") if summary.aggfunc != ("count",) and v in sub else sub[v]
        frame = sub[keys + list(summary.columns)].assign(**{"__v": values})
        for agg in summary.aggfunc:
            how: Any = agg  # a pandas aggregation name, checked when the template was read
            pt = pd.pivot_table(frame, index=keys, columns=list(summary.columns) or None,
                                values="__v", aggfunc=how, dropna=True, observed=True)
            if isinstance(pt, pd.Series):
                pt = pt.to_frame()
            if pt.shape[1] == 0:  # no values at all: the groups still show, with empty cells
                pt = pd.DataFrame({"__v": [0 if agg == "count" else float("nan")] * len(groups)},
                                  index=groups) if not summary.columns else pt
            pt = pt.reindex(groups)
            if agg == "count":
                pt = pt.fillna(0).astype("int64")
            if summary.columns:
                pt.columns = [f"{v} {agg} ({'/'.join(_label(x) for x in (c if isinstance(c, tuple) else (c,)))})"
                              for c in pt.columns]
            else:
                pt.columns = [f"{v} {agg}"]
            parts.append(pt)
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    if summary.sort:
        by = summary.sort["by"]
        key: str | None = by if by in out.columns or by in keys else next(
            (str(c) for c in out.columns if str(c).startswith(f"{by} ")), None)
        if key is None:
            raise ValidationError(f"{what}: sort by {by!r}: no such value or column in the summary")
        ascending = bool(summary.sort.get("ascending", False))
        out = out.reset_index().sort_values(key, ascending=ascending, na_position="last", kind="stable")
    else:
        out = out.reset_index()
    if summary.top:
        out = out.head(summary.top)
    return out.reset_index(drop=True)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fmt_for(schema: Schema, name: str, agg: str | None, series: Any) -> str | None:
    if agg == "count":
        return "0"
    col = schema.column(name)
    if col is not None and col.number_format:
        return col.number_format
    values = [v for v in series.tolist() if isinstance(v, (int, float)) and not _missing(v)]
    if values and all(float(v).is_integer() for v in values):
        return "0"
    return "0.000" if values else None


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not isinstance(v, (list, dict)) else False
    except (TypeError, ValueError):
        return False


def cell_value(v: Any) -> Any:
    """A DataFrame value as a plain cell value: None for missing, JSON text for lists and
    dicts, timezone-aware datetimes in UTC, numbers as int or float."""
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    if _missing(v):
        return None
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, _dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and math.isinf(v):
        return str(v)
    return v


def frame_rows(table: Any) -> list[tuple[Any, ...]]:
    """A DataFrame's rows as plain cell values (see ``cell_value``), converted column by
    column: a 50k-row sheet costs milliseconds, not a Python call per cell."""
    import numpy as np

    cols = []
    for name in table.columns:
        s = table[name]
        if s.dtype == object:
            cols.append([cell_value(v) for v in s.tolist()])
            continue
        values = s.astype(object).where(s.notna(), None).tolist()
        if s.dtype.kind == "f" and np.isinf(s.to_numpy(dtype="float64", na_value=np.nan)).any():
            values = [str(v) if isinstance(v, float) and math.isinf(v) else v for v in values]
        cols.append(values)
    return list(zip(*cols)) if cols else []


def _width(header: str, values: list[Any], fmt: str | None = None) -> float:
    """A column's width (about a character each) for its header and its values as the sheet
    shows them through ``fmt`` (97.56%, not 0.9756097560975610); capitals count wider."""
    shown = [format_value(v, fmt) for v in values[:200] if v is not None]
    longest = max([len(header)] + [len(t) + sum(c.isupper() for c in t) // 4 for t in shown] or [8])
    return float(min(48, max(9, longest + 2)))


def _stamp(now: _dt.datetime) -> str:
    return now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def summary_sheet(df: Any, summary: Summary, schema: Schema, now: _dt.datetime, lead: bool = True) -> SheetSpec:
    """The sheet of one pivot summary, with a bar chart of the primary metric by group
    (``lead``: its tab goes before the runs sheet, with the other built sheets)."""
    check_sheet_name(summary.name, f"summary {summary.name!r}")
    if summary.name.lower() in RESERVED or summary.name.lower() == schema.sheet.lower():
        raise TemplateError(f"summary {summary.name!r}: that sheet name is taken by sheettrack's "
                            f"{summary.name} sheet; choose another name")
    counted = df if summary.runs == "all" else finished_runs(df)
    table = pivot_frame(counted, summary, schema)
    n_runs = len(_query(counted, summary.where, summary.name))
    which = "" if summary.runs == "all" else "finished "
    keys = list(summary.index)
    header = [str(c) for c in table.columns]
    formats: list[str | None] = []
    best: dict[int, str] = {}
    metric_cols: list[int] = []
    pm = schema.primary_metric
    chart_value = pm.name if pm is not None and pm.name in summary.values else summary.values[0]
    chart_agg = next((a for a in summary.aggfunc if a not in ("count", "std")), summary.aggfunc[0])
    for i, name in enumerate(header):
        if i < len(keys):
            formats.append(_fmt_for(schema, name, None, table[name]) if name in table else None)
            continue
        value, agg = _split_header(name, summary)
        formats.append(_fmt_for(schema, value, agg, table[name]))
        if agg not in ("count", "std"):
            best[i] = goal_of(value, schema)
        if value == chart_value and agg == chart_agg:
            metric_cols.append(i)
    rows = frame_rows(table)
    by = ", ".join(keys) + (f" and {', '.join(summary.columns)}" if summary.columns else "")
    title = (f"{summary.name}: {', '.join(summary.aggfunc)} of {', '.join(summary.values)} by {by}"
             f"{f' where {summary.where}' if summary.where else ''} ({n_runs} {which}runs; built by "
             f"sheettrack {_stamp(now)})")
    spec = SheetSpec(name=summary.name, kind="summary", title=title, header=header, rows=rows,
                     formats=formats, best=best, freeze_cols=len(keys), lead=lead,
                     widths=[_width(h, [r[i] for r in rows], formats[i]) for i, h in enumerate(header)])
    if rows and metric_cols:
        spec.charts.append(ChartSpec(
            kind="bar", title=f"{chart_value} ({chart_agg}) by {by}",
            categories=CellRange(summary.name, 0, FIRST_DATA_ROW, len(keys) - 1, spec.last_row),
            series=[Series(header[i], spec.column_range(i)) for i in metric_cols],
            anchor=(len(header) + 1, HEADER_ROW), y_title=chart_value, x_title=by,
            y_format=formats[metric_cols[0]], zero_based=True))
    return spec


def _split_header(name: str, summary: Summary) -> tuple[str, str]:
    for v in summary.values:
        for agg in summary.aggfunc:
            stem = f"{v} {agg}"
            if name == stem or name.startswith(stem + " ("):
                return v, agg
    return name, ""


# -- leaderboard and progress -------------------------------------------------------------

def _metric(schema: Schema, metric: str | None) -> tuple[str, str]:
    if metric is None:
        if schema.primary_metric is None:
            raise ValidationError(f"template {schema.name!r} has no primary metric; pass one "
                                  "(--metric NAME)")
        metric = schema.primary_metric.name
    return metric, goal_of(metric, schema)


def finished_runs(df: Any) -> Any:
    """The runs whose status is finished (a run with no status counts as finished)."""
    return df[finished_mask(df)] if "status" in df.columns else df


def finished_mask(df: Any) -> Any:
    """Which runs are finished, as a boolean Series (a run with no status counts as finished)."""
    import pandas as pd

    if "status" not in df.columns:
        return pd.Series(True, index=df.index)
    return (df["status"].astype("string").fillna("finished") == "finished").astype(bool)


def leaderboard_frame(df: Any, schema: Schema, metric: str | None = None, n: int = 10) -> Any:
    """The top ``n`` finished runs by ``metric`` (the primary metric by default; its goal
    decides the order), with their key params, data fingerprint, commit and notes."""
    import pandas as pd

    name, goal = _metric(schema, metric)
    if name not in df.columns:
        raise ValidationError(f"metric {name!r} is not a column of the runs")
    if not (pd.api.types.is_numeric_dtype(df[name]) and not pd.api.types.is_bool_dtype(df[name])):
        raise ValidationError(f"metric {name!r} holds {df[name].dtype} values, not numbers")
    # rank one column, then take the top rows of the frame (not every column of every run)
    scores = df[name].reset_index(drop=True)[(finished_mask(df) & df[name].notna()).to_numpy()]
    ranked = df.iloc[scores.sort_values(ascending=goal == "min", kind="stable").index[:n]]
    params = [c.name for c in schema.columns if c.group == "params" and c.name in ranked.columns
              and ranked[c.name].notna().any()]
    metrics = [c.name for c in schema.columns if c.group == "metrics" and c.name != name
               and c.name in ranked.columns and ranked[c.name].notna().any()][:4]
    tail = [c for c in ("data_hash", "git_commit", "git_dirty", "started_at", "notes")
            if c in ranked.columns]
    cols = [c for c in ["run_id"] if c in ranked.columns] + [name] + metrics + params + tail
    out = ranked[cols].reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def progress_frame(df: Any, schema: Schema, metric: str | None = None) -> Any:
    """Finished runs in time order with ``metric`` and the best value so far."""
    name, goal = _metric(schema, metric)
    cols = [c for c in ("started_at", "run_id") if c in df.columns]
    # the few columns it shows, of the finished runs with a value (not every column of every run)
    runs = df.loc[(finished_mask(df) & df[name].notna()).to_numpy(), cols + [name]]
    if "started_at" in runs.columns:
        runs = runs.sort_values("started_at", kind="stable")
    out = runs.reset_index(drop=True)
    values = out[name].astype("float64")
    out[f"best {name} so far"] = values.cummax() if goal == "max" else values.cummin()
    out.insert(0, "run", range(1, len(out) + 1))
    return out


def leaderboard_sheet(df: Any, schema: Schema, now: _dt.datetime, n: int = 10,
                      progress: SheetSpec | None = None) -> SheetSpec:
    """The Leaderboard sheet, with a line chart of the metric across runs (from ``progress``)."""
    name, goal = _metric(schema, None)
    table = leaderboard_frame(df, schema, None, n)
    header = [str(c) for c in table.columns]
    rows = frame_rows(table)
    formats = [_column_format(schema, h, table[h]) for h in header]
    formats[0] = "0"
    best = {header.index(name): goal}
    title = (f"Leaderboard: top {len(rows)} finished runs by {name} ({'higher' if goal == 'max' else 'lower'} "
             f"is better; built by sheettrack {_stamp(now)})")
    spec = SheetSpec(name=LEADERBOARD, kind="leaderboard", title=title, header=header, rows=rows,
                     formats=formats, best=best, lead=True, freeze_cols=2 if "run_id" in header else 1,
                     widths=[_width(h, [r[i] for r in rows], formats[i]) for i, h in enumerate(header)])
    spec.widths[0] = 6.0
    if "git_commit" in header:  # a short commit, as git shows it: the page has room for the metrics
        c = header.index("git_commit")
        rows = [(*row[:c], row[c][:10] if isinstance(row[c], str) else row[c], *row[c + 1:]) for row in rows]
        spec.rows = rows
        spec.widths[c] = 12.0
    if "notes" in header:
        spec.widths[header.index("notes")] = min(spec.widths[header.index("notes")], 30.0)
    if progress is not None and progress.rows:
        m = progress.header.index(name)
        spec.charts.append(ChartSpec(
            kind="line", title=f"{name} across runs, in time order",
            categories=progress.column_range(0),
            series=[Series(progress.header[m], progress.column_range(m)),
                    Series(progress.header[m + 1], progress.column_range(m + 1))],
            anchor=(0, spec.last_row + 3), width=10, height=18, y_title=f"{name} ({ZOOMED})",
            x_title="run (in time order)",
            y_format=progress.formats[m]))
    return spec


def progress_sheet(df: Any, schema: Schema, now: _dt.datetime) -> SheetSpec:
    """The Progress sheet: every finished run in time order, its metric and the best so far."""
    name, goal = _metric(schema, None)
    table = progress_frame(df, schema)
    header = [str(c) for c in table.columns]
    formats = [_column_format(schema, h, table[h]) for h in header]
    formats[0] = "0"
    formats[-1] = formats[header.index(name)]
    rows = frame_rows(table)
    title = (f"Progress: {name} of {len(rows)} finished runs in time order, with the best so far "
             f"(built by sheettrack {_stamp(now)})")
    return SheetSpec(name=PROGRESS, kind="progress", title=title, header=header, rows=rows,
                     formats=formats, best={header.index(name): goal}, freeze_cols=1, lead=True,
                     widths=[6.0] + [_width(h, [r[i] for r in rows[:200]], formats[i]) for i, h in
                                     enumerate(header) if i > 0])


def _column_format(schema: Schema, name: str, series: Any) -> str | None:
    col = schema.column(name)
    if col is not None and col.number_format:
        return col.number_format
    if col is not None and col.type == "datetime":
        return "yyyy-mm-dd hh:mm:ss"
    if col is not None and col.type == "bool":
        return BOOL_FORMAT
    return _fmt_for(schema, name, None, series) if col is not None and col.type in ("int", "float") else None


# -- the overview and the hypotheses ------------------------------------------------------------

def format_value(value: Any, fmt: str | None) -> str:
    """A cell's value as the sheet shows it with Excel number format ``fmt`` (the Overview's
    sentences and the HTML report write numbers as the workbook shows them)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (int, float)):
        if fmt and fmt.startswith("+") and ";" in fmt:  # signed: +positive;-negative;zero
            shown = format_value(abs(value), fmt[1:].split(";")[0])
            return shown if value == 0 else ("+" if value > 0 else "-") + shown
        if fmt:
            m = re.fullmatch(r"0(?:\.(0+))?(%?)", fmt.replace("#,##", ""))
            if m:
                decimals = len(m.group(1) or "")
                if m.group(2):
                    return f"{value * 100:.{decimals}f}%"
                return f"{value:,.{decimals}f}" if "#,##" in fmt else f"{value:.{decimals}f}"
        if isinstance(value, int):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def _key_params(ranked: Any, schema: Schema, limit: int) -> list[str]:
    """Params that tell the top runs apart: the ones that vary first, then the ones set."""
    names = [c.name for c in schema.columns if c.group == "params" and c.name in ranked.columns
             and ranked[c.name].notna().any()]
    varying = [n for n in names if ranked[n].astype("string").nunique(dropna=False) > 1]
    return (varying + [n for n in names if n not in varying])[:limit]


def _status_counts(df: Any) -> list[tuple[str, int]]:
    if "status" not in df.columns:
        return [("finished", len(df))]
    counts = df["status"].astype("string").fillna("finished").value_counts()
    order = [s for s in STATUSES if s in counts.index] + sorted(str(s) for s in counts.index if s not in STATUSES)
    return [(s, int(counts[s])) for s in order]


def overview_sheet(df: Any, schema: Schema, now: _dt.datetime, chart: ChartSpec | None = None,
                   top: int = 5, short: Callable[[str], str] | None = None) -> SheetSpec:
    """The Overview: what the workbook tracks, runs by status, the best run and the top
    five by the primary metric, and the main chart; laid out to print on one landscape page
    (``short`` names a run by its short id; made from ``df`` when not given)."""
    name, goal = _metric(schema, None)
    fmt = _column_format(schema, name, df[name]) if name in df.columns else None
    ranked = leaderboard_frame(df, schema, None, top)
    if "run_id" in df.columns and "run_id" in ranked.columns:
        short = short or short_namer(run_ids(df))
        ids = {rid: short(rid) for rid in run_ids(ranked)}
    else:
        ids = {}
    params = _key_params(ranked, schema, 3)
    rows: list[list[Any]] = [
        ["template", f"{schema.name}" + (f": {schema.description}" if schema.description else "")],
        ["primary metric", f"{name} ({'higher' if goal == 'max' else 'lower'} is better)"],
        ["runs", len(df)],
    ]
    rows += [[f"  {status}", n] for status, n in _status_counts(df)]
    if len(ranked):
        b = ranked.iloc[0]
        bits = ", ".join(f"{p}={_plain_text(b[p])}" for p in params if not _missing(b[p]))
        when = b["started_at"].strftime("%Y-%m-%d") if "started_at" in ranked and not _missing(b["started_at"]) else ""
        commit = str(b["git_commit"])[:8] if "git_commit" in ranked and not _missing(b["git_commit"]) else ""
        text = (f"{ids.get(str(b.get('run_id')), b.get('run_id', ''))}: {name} {format_value(b[name], fmt)}"
                + (f" ({bits})" if bits else "") + (f", {when}" if when else "")
                + (f", commit {commit}" if commit else ""))
        rows.append(["best run", text])
    rows.append([])
    header = ["rank", "run", name, *params, "started", "commit"]
    cell_formats: dict[tuple[int, int], str | None] = {}
    rows.append([f"top {min(top, len(ranked))} finished runs by {name}"])
    subheads = [len(rows)]
    rows.append(header)
    for i in range(len(ranked)):
        r = ranked.iloc[i]
        row = [i + 1, ids.get(str(r.get("run_id")), r.get("run_id")), cell_value(r[name]),
               *[_plain_text(r[p]) for p in params],
               cell_value(r["started_at"]) if "started_at" in ranked else None,
               str(r["git_commit"])[:8] if "git_commit" in ranked and not _missing(r["git_commit"]) else None]
        cell_formats[(len(rows), 2)] = fmt
        cell_formats[(len(rows), len(header) - 2)] = "yyyy-mm-dd hh:mm"
        rows.append(row)
    widths = [16.0, 16.0, 12.0] + [14.0] * len(params) + [17.0, 10.0]
    spec = SheetSpec(name=OVERVIEW, kind="overview",
                     title=f"Overview: {schema.name} runs, ranked by {name} (built by sheettrack {_stamp(now)})",
                     header=["about", "value"], rows=rows, formats=[None] * len(widths), widths=widths,
                     lead=True, cell_formats=cell_formats, subheads=subheads, one_page=True)
    if chart is not None:
        spec.charts.append(replace(chart, anchor=(len(widths) + 1, HEADER_ROW), width=8,
                                   height=max(16, spec.last_row - 1)))
    return spec


def _plain_text(v: Any) -> Any:
    v = cell_value(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _truthy(series: Any) -> Any:
    return series.astype("string").str.strip().str.lower().isin(("true", "1", "1.0", "yes"))


def hypotheses_frame(df: Any, schema: Schema) -> Any:
    """One row per hypothesis, in the order first tried: its runs, finished runs, best
    primary metric, the baseline it is compared with, the change and the verdict. The
    baseline is the run tagged ``baseline`` (true) when there is one, else the best finished
    run logged before the hypothesis's first run (docs/workbook.md states the rule)."""
    import pandas as pd

    name, goal = _metric(schema, None)
    columns = ["hypothesis", "runs", "finished", "first run", f"best {name}", "best run",
               f"baseline {name}", "baseline run", "change", "verdict"]
    if "hypothesis" not in df.columns or name not in df.columns:
        return pd.DataFrame(columns=columns)
    runs = df[df["hypothesis"].notna() & (df["hypothesis"].astype("string").str.strip() != "")]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    import numpy as np

    start = (pd.to_datetime(df["started_at"], utc=True, errors="coerce") if "started_at" in df.columns
             else pd.Series(pd.NaT, index=df.index))
    # each run's place in time (started_at, then the order logged; no start time sorts last)
    stamps = start.to_numpy(dtype="datetime64[ns]").astype("int64")
    stamps = np.where(start.isna().to_numpy(), np.iinfo("int64").max, stamps)
    ranks = np.empty(len(df), dtype="int64")
    ranks[np.lexsort((np.arange(len(df)), stamps))] = np.arange(len(df))
    place = pd.Series(ranks, index=df.index)
    done = finished_runs(df)
    done = done[done[name].notna()]
    sign = 1.0 if goal == "max" else -1.0
    tagged = done[_truthy(done["baseline"])] if "baseline" in done.columns else done.iloc[0:0]
    fixed = tagged.loc[(tagged[name] * sign).idxmax()] if len(tagged) else None
    # the best finished run up to each place in time: "the best run logged before" is a lookup
    timeline = done.assign(__p=place[done.index]).sort_values("__p", kind="stable")
    score = (timeline[name].astype("float64") * sign).to_numpy()
    # the leader at each place: the first run to reach the running best (a later tie does not lead)
    ahead = np.empty(len(score), dtype=bool)
    ahead[:1] = True
    ahead[1:] = score[1:] > np.maximum.accumulate(score)[:-1]
    leader = np.maximum.accumulate(np.where(ahead, np.arange(len(score)), 0))
    keys = runs["hypothesis"].astype("string").str.strip()
    # per hypothesis, in whole-column operations: a loop over 50,000 runs per group is not
    n_runs = keys.value_counts(sort=False)
    first_place = place[keys.index].groupby(keys).min()
    first_time = start[keys.index].groupby(keys).min()
    mine = done[done.index.isin(keys.index)]
    fin_keys = keys[mine.index]
    n_done = fin_keys.value_counts(sort=False)
    best_at = (mine[name].astype("float64") * sign).groupby(fin_keys).idxmax()
    own_key = keys.get(fixed.name) if fixed is not None else None
    positions = timeline["__p"].to_numpy()
    out = []
    for hyp, count in n_runs.items():
        first = int(first_place[hyp])
        best = done.loc[best_at[hyp]] if hyp in best_at.index else None
        if fixed is not None:
            base = None if own_key == hyp else fixed
        else:
            k = int(np.searchsorted(positions, first))
            base = timeline.iloc[leader[k - 1]] if k else None
        if fixed is not None and own_key == hyp:
            verdict = "baseline"
        elif best is None:
            verdict = "too few runs"
        elif base is None:
            verdict = "no baseline"
        else:
            verdict = "supported" if (best[name] - base[name]) * sign > 0 else "not supported"
        first_t = first_time[hyp]
        out.append({"hypothesis": str(hyp), "runs": int(count), "finished": int(n_done.get(hyp, 0)),
                    "first run": None if pd.isna(first_t) else first_t,
                    f"best {name}": best[name] if best is not None else None,
                    "best run": best.get("run_id") if best is not None else None,
                    f"baseline {name}": base[name] if base is not None else None,
                    "baseline run": base.get("run_id") if base is not None else None,
                    "change": (best[name] - base[name]) if best is not None and base is not None else None,
                    "verdict": verdict, "__first": first})
    frame = pd.DataFrame(out, columns=columns + ["__first"]).sort_values("__first", kind="stable")
    return frame.drop(columns="__first").reset_index(drop=True)


def hypotheses_sheet(df: Any, schema: Schema, now: _dt.datetime,
                     short: Callable[[str], str] | None = None) -> SheetSpec:
    """The Hypotheses sheet: did each hypothesis hold? The rule is stated in its title
    (``short`` names a run by its short id; made from ``df`` when not given)."""
    name, goal = _metric(schema, None)
    table = hypotheses_frame(df, schema)
    header = [str(c) for c in table.columns]
    rows = frame_rows(table)
    fmt = _column_format(schema, name, df[name]) if name in df.columns else None
    change = f"+{fmt};-{fmt};{fmt}" if fmt else None  # a gain reads +2.76%, never as a level
    formats: list[str | None] = [None, "0", "0", "yyyy-mm-dd hh:mm", fmt, None, fmt, None, change, None]
    if rows:
        named = [str(r[i]) for r in rows for i in (5, 7) if r[i] is not None]
        short = short or short_namer(run_ids(df))
        ids = {rid: short(rid) for rid in named} if "run_id" in df.columns else {}
        rows = [(*r[:5], ids.get(str(r[5]), r[5]) if r[5] is not None else None, r[6],
                 ids.get(str(r[7]), r[7]) if r[7] is not None else None, *r[8:]) for r in rows]
    widths = [min(60.0, _width(header[0], [r[0] for r in rows]))] + [
        _width(h, [r[i + 1] for r in rows], formats[i + 1]) for i, h in enumerate(header[1:])]
    widths[3] = 17.0  # a date and time as the format shows it, not as Python prints it
    title = (f"Hypotheses: best finished {name} against the baseline (the run tagged baseline, else the "
             f"best finished run logged before the hypothesis's first run)")
    return SheetSpec(name=HYPOTHESES, kind="hypotheses", title=title, header=header, rows=rows,
                     formats=formats, freeze_cols=1, widths=widths, lead=True)


# -- everything summarize builds -------------------------------------------------------------

def build_sheets(df: Any, schema: Schema, summaries: list[Summary] | None = None, *,
                 leaderboard: bool = True, top: int = 10,
                 now: _dt.datetime | None = None) -> list[SheetSpec]:
    """Every sheet ``summarize`` writes, in tab order: (when the template has a primary
    metric with values) the Overview, the Leaderboard and the Hypotheses; each pivot; then
    the Progress sheet behind the Leaderboard's chart."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    chosen = schema.summaries if summaries is None else summaries
    seen: set[str] = set()
    for s in chosen:
        if s.name.lower() in seen:
            raise TemplateError(f"summary sheet name {s.name!r} is used twice")
        seen.add(s.name.lower())
    pm = schema.primary_metric
    ranked = leaderboard and pm is not None and pm.name in df.columns and df[pm.name].notna().any()
    # an ad hoc summary keeps its tab where it is, unless it comes with the Leaderboard
    pivots = [summary_sheet(df, s, schema, now, lead=bool(ranked) or summaries is None) for s in chosen]
    if not ranked:
        return pivots
    progress = progress_sheet(df, schema, now)
    board = leaderboard_sheet(df, schema, now, top, progress)
    main = next((c for p in pivots for c in p.charts), None) or next(iter(board.charts), None)
    short = short_namer(run_ids(df))  # one short-id length for both sheets naming runs
    overview = overview_sheet(df, schema, now, main, short=short)
    return [overview, board, hypotheses_sheet(df, schema, now, short=short), *pivots, progress]


def adhoc_summary(by: list[str], values: list[str], agg: list[str], *, columns: list[str] | None = None,
                  where: str | None = None, name: str | None = None, schema: Schema | None = None) -> Summary:
    """A summary given on the command line, checked like one in a template."""
    from .schema import summary_from_dict

    raw: dict[str, Any] = {"name": name or f"By {', '.join(by)}"[:31], "index": by, "values": values,
                           "aggfunc": agg}
    if columns:
        raw["columns"] = columns
    if where:
        raw["where"] = where
    names = {c.name for c in schema.columns} if schema else set()
    return summary_from_dict(raw, "summary", names, "add")
