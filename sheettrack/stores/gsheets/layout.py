"""What a new tab looks like, as ``batchUpdate`` requests: the runs tab (bold frozen header,
number formats, drop-downs, a filter), the Schema tab, a reference tab, and the cell values
they carry. Building requests sends nothing; the store sends them.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Sequence
from typing import Any

from ...cells import to_serial
from ...schema import Column, Schema
from ..rows import collapsed_span, reading_order
from ..schema_sheet import SCHEMA_HEADER, SCHEMA_SHEET, schema_meta_json, schema_sheet_row

#: Most characters a Google Sheets cell holds.
GOOGLE_TEXT_LIMIT = 50_000
#: The Schema sheet's last column holds the template settings as JSON (split over rows when long).
SETTINGS_HEADER = "template settings (JSON)"
SETTINGS_COL = len(SCHEMA_HEADER)
#: Schema tab column N: ids of the sheets sheettrack built (summaries, the Leaderboard).
BUILT_COL = SETTINGS_COL + 1
HEADER_FORMAT = {"textFormat": {"bold": True}, "backgroundColor": {"red": 0.85, "green": 0.9, "blue": 0.97}}
#: Rows a new tab gets (Google's own default), more when its first rows need them.
NEW_TAB_ROWS = 1000


def extended(value: Any) -> dict[str, Any]:
    """A plain value as an ``ExtendedValue``: typed, so text is never parsed as a formula."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": value}
    if isinstance(value, _dt.date):
        return {"numberValue": to_serial(value)}
    return {"stringValue": str(value)}


def row_data(values: Sequence[Any]) -> dict[str, Any]:
    """One ``RowData`` of user-entered values (None and "" leave the cell empty)."""
    return {"values": [{} if v is None or v == "" else {"userEnteredValue": extended(v)} for v in values]}


def new_sheet_id(titles: dict[str, dict], avoid: set[int] | None = None) -> int:
    """A random sheet id no tab in ``titles`` (nor in ``avoid``) has."""
    taken = {p.get("sheetId") for p in titles.values()} | (avoid or set())
    while True:
        candidate = random.randint(1, 2**31 - 1)
        if candidate not in taken:
            return candidate


def bold_header(sheet_id: int, width: int, start: int = 0) -> dict[str, Any]:
    """The header row's look (bold on pale blue) for columns ``start`` to ``width``."""
    return {"repeatCell": {
        "range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": start,
                  "endColumnIndex": width},
        "cell": {"userEnteredFormat": HEADER_FORMAT},
        "fields": "userEnteredFormat(textFormat,backgroundColor)"}}


def cells_at(sheet_id: int, row: int, column: int, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Write ``rows`` of plain values from (``row``, ``column``), zero-based."""
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": column},
                            "rows": [row_data(r) for r in rows], "fields": "userEnteredValue"}}


def grow(sheet_id: int, dimension: str, have: int, need: int) -> list[dict[str, Any]]:
    """An ``appendDimension`` when a tab has fewer than ``need`` ROWS or COLUMNS."""
    if need <= have:
        return []
    return [{"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": need - have}}]


def add_tab(sheet_id: int, title: str, header: Sequence[str], rows: int = NEW_TAB_ROWS,
            index: int | None = None) -> list[dict[str, Any]]:
    """A new tab with ``header`` in bold in its frozen first row."""
    props: dict[str, Any] = {"sheetId": sheet_id, "title": title, "gridProperties": {
        "rowCount": max(NEW_TAB_ROWS, rows), "columnCount": max(26, len(header)), "frozenRowCount": 1}}
    if index is not None:
        props["index"] = index
    return [{"addSheet": {"properties": props}}, cells_at(sheet_id, 0, 0, [list(header)]),
            bold_header(sheet_id, len(header))]


def sheets_format(col: Column) -> dict[str, str] | None:
    """The Sheets ``numberFormat`` of a column (None: General)."""
    code = col.number_format
    if not code:
        return None
    kind = ("DATE_TIME" if col.type == "datetime" else "DATE" if col.type == "date" else
            "PERCENT" if "%" in code else "NUMBER")
    return {"type": kind, "pattern": code}


def runs_layout(sheet_id: int, schema: Schema) -> list[dict[str, Any]]:
    """Header, bold frozen header row, number formats, drop-downs, a basic filter, and the
    data and provenance columns in a collapsed group when they stand together; the columns
    in reading order, as a new workbook has them (the first rows are written in that order)."""
    columns = reading_order(list(schema.columns))
    names = [c.name for c in columns]
    out: list[dict[str, Any]] = [cells_at(sheet_id, 0, 0, [names]), bold_header(sheet_id, len(names))]
    for i, col in enumerate(columns):
        body = {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": i, "endColumnIndex": i + 1}
        fmt = sheets_format(col)
        if fmt:
            out.append({"repeatCell": {"range": body, "cell": {"userEnteredFormat": {"numberFormat": fmt}},
                                       "fields": "userEnteredFormat.numberFormat"}})
        if col.choices:
            out.append({"setDataValidation": {"range": body, "rule": {
                "condition": {"type": "ONE_OF_LIST",
                              "values": [{"userEnteredValue": str(c)} for c in col.choices]},
                "inputMessage": f"{col.name}: one of {', '.join(str(c) for c in col.choices)}"[:250],
                "strict": True, "showCustomUi": True}}})
    out.append({"setBasicFilter": {"filter": {"range": {
        "sheetId": sheet_id, "startRowIndex": 0, "startColumnIndex": 0, "endColumnIndex": len(names)}}}})
    out.append({"autoResizeDimensions": {"dimensions": {
        "sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": 0, "endIndex": len(names)}}})
    span = collapsed_span(columns) or collapsed_span(columns, ("provenance",))
    if span:
        group = {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": span[0], "endIndex": span[1] + 1}
        out.append({"addDimensionGroup": {"range": group}})
        out.append({"updateDimensionProperties": {"range": group, "properties": {"hiddenByUser": True},
                                                  "fields": "hiddenByUser"}})
    return out


def schema_rows(columns: Sequence[Column]) -> list[list[Any]]:
    """The Schema tab's rows documenting ``columns`` (without the settings column)."""
    return [["" if row[k] is None else row[k] for k in SCHEMA_HEADER] for row in map(schema_sheet_row, columns)]


def schema_sheet_values(schema: Schema) -> list[list[Any]]:
    """The Schema tab: a row per column, and the settings JSON in the last column."""
    settings = schema_meta_json(schema)
    chunks = [settings[i:i + GOOGLE_TEXT_LIMIT] for i in range(0, len(settings), GOOGLE_TEXT_LIMIT)] or [""]
    rows: list[list[Any]] = [SCHEMA_HEADER + [SETTINGS_HEADER]]
    body = schema_rows(schema.columns)
    for i in range(max(len(body), len(chunks))):
        row = body[i] if i < len(body) else [""] * len(SCHEMA_HEADER)
        rows.append(row + [chunks[i] if i < len(chunks) else ""])
    return rows


def schema_tab(sheet_id: int, schema: Schema) -> list[dict[str, Any]]:
    """A new Schema tab documenting ``schema``."""
    rows = schema_sheet_values(schema)
    return [{"addSheet": {"properties": {
                "sheetId": sheet_id, "title": SCHEMA_SHEET,
                "gridProperties": {"rowCount": max(100, len(rows) + 20), "columnCount": SETTINGS_COL + 2,
                                   "frozenRowCount": 1}}}},
            cells_at(sheet_id, 0, 0, rows), bold_header(sheet_id, SETTINGS_COL + 1)]
