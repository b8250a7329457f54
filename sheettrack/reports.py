"""Reporting on the runs: summary sheets, the best runs, side-by-side comparison, export.

``summarize`` builds the pivot sheets, the Leaderboard and the Progress sheet in the target
itself (through ``Store.write_sheets``); ``best``, ``compare`` and ``export`` read only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SheettrackError, StoreError, ValidationError
from .runids import short_id_map
from .schema import Schema, Summary
from .stores.base import WritesSheets

Target = Any  # a workbook path (str or PathLike) or None for SHEETTRACK_TARGET

LEADERBOARD_COLUMNS = ("run_id", "status", "started_at", "data_hash", "git_commit", "git_dirty", "notes",
                       "hypothesis", "baseline")
EXPORT_FORMATS = ("csv", "markdown", "html", "parquet")

if TYPE_CHECKING:
    import pandas as pd


def _needed(schema: Schema, summaries: list[Summary], metric: str | None = None) -> set[str]:
    """The columns a set of summaries and the leaderboard read: the rest are never converted."""
    names = set(LEADERBOARD_COLUMNS)
    names |= {c.name for c in schema.columns if c.group in ("params", "metrics")}
    if metric:
        names.add(metric)
    words = set()
    for s in summaries:
        names |= set(s.index) | set(s.columns) | set(s.values)
        if s.where:
            words |= set(re.findall(r"[A-Za-z_][\w.]*", s.where))
    return names | words | {c.name for c in schema.columns if c.name in words}


def _frame(target: Target, summaries: list[Summary] | None = None, metric: str | None = None,
           every_column: bool = False, json_text: bool = False,
           credentials: Any = None) -> tuple[Schema, Any, Any]:
    from .bulk import collector_paused
    from .frames import frame_of, read_for_frame

    with collector_paused():
        store, schema, table = read_for_frame(target, credentials)
        wanted = None if every_column else _wanted(schema, summaries, metric)
        return schema, frame_of(schema, table, columns=wanted, json_as_text=json_text), store


def _wanted(schema: Schema, summaries: list[Summary] | None, metric: str | None) -> set[str]:
    """The columns the summaries (the template's by default), the ranking metric and the
    primary metric read: a wide sheet's other columns are never turned into a frame."""
    found = _needed(schema, schema.summaries if summaries is None else summaries, metric)
    return found | ({schema.primary_metric.name} if schema.primary_metric else set())


def summarize(target: Target = None, *, by: list[str] | str | None = None,
              values: list[str] | str | None = None, agg: list[str] | str | None = None,
              columns: list[str] | str | None = None, where: str | None = None,
              name: str | None = None, top: int = 10, credentials: Any = None) -> list[str]:
    """(Re)build the summary sheets in the target and return their names.

    Without ``by`` every summary of the template is built, then the ``Leaderboard`` (the
    top ``top`` runs by the primary metric) and the ``Progress`` sheet behind its chart.
    With ``by`` and ``values`` one ad hoc pivot is built (``agg`` defaults to mean). A
    sheet of the same name that sheettrack did not build is never overwritten.
    """
    from .bulk import collector_paused
    from .frames import frame_of, read_for_frame
    from .summary import adhoc_summary, build_sheets

    if (by is not None or values is not None) and not (by and values):
        raise ValidationError("an ad hoc summary needs both by (the grouping columns) and values")
    with collector_paused():  # the read, the sheets and the write: millions of objects, no cycles
        store, schema, table = read_for_frame(target, credentials)
        if not isinstance(store, WritesSheets):
            raise StoreError(f"{store.target}: this store keeps no summary sheets; summarize a workbook or a "
                             "Google Sheet (sheettrack copy brings the runs there)", store.target)
        adhoc = None if not by or not values else [
            adhoc_summary(_names(by), _names(values), _names(agg or "mean"), columns=_names(columns) if columns else None,
                          where=where, name=name, schema=schema)]
        df = frame_of(schema, table, columns=_wanted(schema, adhoc, None), json_as_text=True)  # JSON shown as text
        pm = schema.primary_metric
        if adhoc is None and pm is not None and (pm.name not in df.columns or df[pm.name].isna().all()):
            import warnings

            warnings.warn(f"summarize: the primary metric {pm.name!r} has no value in any run, so no run is "
                          f"ranked (no Overview, Leaderboard or Hypotheses); log {pm.name!r}, or map a search's "
                          f"score onto it", UserWarning, stacklevel=2)
        sheets = build_sheets(df, schema, adhoc, leaderboard=adhoc is None, top=top)
        if not sheets:
            raise ValidationError(f"template {schema.name!r} defines no summaries and no primary metric; "
                                  "pass --by and --values for an ad hoc summary")
        return store.write_sheets(sheets, protect=(schema.sheet, "Schema"))


def _names(value: list[str] | str) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def best(target: Target = None, *, metric: str | None = None, n: int = 10, credentials: Any = None,
         short_ids: bool = False) -> pd.DataFrame:
    """The top ``n`` finished runs by ``metric`` (the template's primary metric by default),
    as a DataFrame: rank, run id, the metric, other metrics, key params, data and commit.
    ``short_ids``: an ``id`` column of the short ids ``ls`` shows instead of ``run_id``."""
    from .frames import run_ids, with_short_ids
    from .summary import leaderboard_frame

    if n < 1:
        raise ValidationError(f"n: {n} is not a positive number of runs")
    schema, df, _ = _frame(target, [], metric, credentials=credentials)
    board = leaderboard_frame(df, schema, metric, n)
    return with_short_ids(board, run_ids(df)) if short_ids and "run_id" in board.columns else board


def compare(target: Target, *run_ids: str, only_changed: bool = False, credentials: Any = None,
            short_ids: bool = False) -> pd.DataFrame:
    """Runs side by side: one row per field (params, metrics, data, provenance), one column
    per run, and a ``differs`` column marking the fields whose values are not all equal.
    The columns are named by run id, or (``short_ids``) by the short id ``ls`` shows."""
    import pandas as pd

    from . import frames
    from .frames import plain

    if len(run_ids) < 2:
        raise ValidationError("compare needs at least two run ids")
    schema, df, _ = _frame(target, every_column=True, credentials=credentials)
    from .frames import find_run

    picked = [find_run(df, rid, target) for rid in run_ids]
    labels = [str(row["run_id"]) for row in picked]
    if len(set(labels)) < len(labels):
        raise ValidationError("compare: the same run is named twice")
    if short_ids:
        short = short_id_map(frames.run_ids(df), labels)
        labels = [short[label] for label in labels]
    groups = {c.name: c.group or "" for c in schema.columns}
    order = {g: i for i, g in enumerate(("params", "metrics", "tags", "data", "notes", "run", "provenance"))}
    fields = sorted((c for c in df.columns if c != "run_id"),
                    key=lambda c: (order.get(groups.get(c, "params"), 0), list(df.columns).index(c)))
    records = []
    for f in fields:
        values = [plain(row[f]) for row in picked]
        if all(v is None for v in values):
            continue
        differs = len({_key(v) for v in values}) > 1
        if only_changed and not differs:
            continue
        records.append({"field": f, "group": groups.get(f, ""), **dict(zip(labels, values)),
                        "differs": differs})
    out = pd.DataFrame.from_records(records, columns=["field", "group", *labels, "differs"])
    return out.set_index("field")


def _key(v: Any) -> str:
    import json

    if isinstance(v, float) and v != v:
        return "nan"
    return json.dumps(v, sort_keys=True, default=str)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula's start


def neutralise(value: Any) -> Any:
    """Text a spreadsheet opening an export would run as a formula (starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return) with a ``'`` put before it, so it stays
    text; every other value as it is."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _neutral_frame(frame: Any) -> Any:
    """``frame`` with every text cell and column name passed through ``neutralise``."""
    out = frame.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


def _text_columns(frame: Any) -> list[Any]:
    """The columns of ``frame`` that may hold text."""
    return [c for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) == "string"]


def export(target: Target = None, to: str = "csv", output: str | os.PathLike | None = None, *,
           summary: str | None = None, credentials: Any = None, raw: bool = False) -> str | None:
    """Export the runs (or the summary called ``summary``) as csv, markdown, html or parquet.

    Writes ``output`` when given (returns None); otherwise returns the text (parquet needs
    ``output``). The HTML is one self-contained page: every summary, the leaderboard and
    the charts as inline SVG, readable without Excel. Exports are data, not formulas: in
    csv, markdown and html, text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a ``'`` before it, so a spreadsheet opening the file shows it rather
    than running it; ``raw=True`` keeps the text as it is (parquet always does).
    """
    from .summary import build_sheets, pivot_frame

    to = to.lower()
    if to not in EXPORT_FORMATS:
        raise ValidationError(f"export: format {to!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if to == "parquet" and output is None:
        raise ValidationError("export: parquet is binary; give an output file (-o runs.parquet)")
    if to == "html":
        schema, df, _ = _frame(target, every_column=True, credentials=credentials)
        from .html_report import html_report

        if not raw:
            df = _neutral_frame(df)

        sheets = build_sheets(df, schema, [s for s in schema.summaries if summary in (None, s.name)])
        if summary is not None and not any(s.name == summary for s in sheets):
            raise ValidationError(_no_summary(schema, summary))
        text = html_report(schema, df, sheets, title=f"Experiment report: {Path(str(target or 'runs')).name}")
        return _emit(text, output)
    if summary is not None:
        schema, df, _ = _frame(target, credentials=credentials)
        wanted = [s for s in schema.summaries if s.name == summary]
        if not wanted:
            raise ValidationError(_no_summary(schema, summary))
        frame = pivot_frame(df, wanted[0], schema)
    else:
        schema, frame, _ = _frame(target, every_column=True, credentials=credentials)
    if to == "parquet":
        assert output is not None  # refused above
        _parquet(frame, output)
        return None
    if to == "csv":
        frame = _plain_frame(frame)
    if not raw:
        frame = _neutral_frame(frame)
    if to == "csv":
        return _emit(_csv_text(frame), output)
    return _emit(markdown_table(frame), output)


def _csv_text(frame: Any) -> str:
    """The frame as CSV. A text holding a carriage return is quoted (Python's writer quotes
    only the characters of its line terminator, so such a file ends its lines with CRLF, as
    RFC 4180 has it): otherwise a reader splits the row there."""
    has_cr = any(isinstance(v, str) and "\r" in v for c in _text_columns(frame) for v in frame[c])
    return frame.to_csv(index=False, lineterminator="\r\n" if has_cr else "\n")


def _no_summary(schema: Schema, name: str) -> str:
    known = ", ".join(repr(s.name) for s in schema.summaries) or "none"
    return f"export: no summary {name!r} in template {schema.name!r} (summaries: {known})"


def _emit(text: str, output: str | os.PathLike | None) -> str | None:
    if output is None:
        return text
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SheettrackError(f"{output}: cannot write: {exc.strerror or exc}") from None
    return None


def _plain_frame(frame: Any) -> Any:
    """Lists and dicts as JSON text, so every format holds them the same way."""
    import json

    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
    return out


def _parquet(frame: Any, output: str | os.PathLike) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SheettrackError("export to parquet needs pyarrow: pip install 'sheettrack[parquet]'") from None
    out = _plain_frame(frame)
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    try:
        out.to_parquet(output, index=False)
    except OSError as exc:
        raise SheettrackError(f"{output}: cannot write: {exc.strerror or exc}") from None
    return None


def _md_cell(v: Any) -> str:
    import json
    import math

    from .frames import plain

    v = plain(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, dict)):
        v = json.dumps(v, ensure_ascii=False)
    elif isinstance(v, float):
        v = f"{v:.6g}"
    elif hasattr(v, "isoformat"):
        v = v.isoformat()
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def markdown_table(frame: Any) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (pipes and newlines escaped)."""
    header = [_md_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
