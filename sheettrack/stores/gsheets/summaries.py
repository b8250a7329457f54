"""Summary sheets on a Google Sheet: the same ``SheetSpec`` descriptions the workbook store
writes, rendered as one atomic ``batchUpdate``: each sheet is (re)added with its values and
formats (``updateCells``), its best values highlighted (``addConditionalFormatRule``), its
native charts (``addChart``), and the list of sheets sheettrack built is updated in the same
request, so a rebuild never half-happens.

The sheets sheettrack built are listed by id in the Schema tab (column N): a person's own tab,
even one with the same name, is never overwritten. This module builds the requests; the store
sends them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ...cells import col_letter
from ...errors import StoreError
from ..schema_sheet import SCHEMA_SHEET
from .layout import BUILT_COL, HEADER_FORMAT, extended, new_sheet_id

BUILT_HEADER = "sheets sheettrack built (ids)"
GREEN = {"red": 0.776, "green": 0.937, "blue": 0.808}
TITLE_FORMAT = {"textFormat": {"bold": True, "fontSize": 12}}


def number_format(code: str | None, sample: Any = None) -> dict[str, str] | None:
    """A Sheets numberFormat for an Excel format code."""
    if not code or code == "General":
        return None
    lowered = code.lower()
    if any(t in lowered for t in ("yy", "dd", "hh")):
        kind = "DATE_TIME" if ("h" in lowered or "s" in lowered) else "DATE"
    elif "%" in code:
        kind = "PERCENT"
    elif "e+" in lowered:
        kind = "SCIENTIFIC"
    else:
        kind = "NUMBER"
    return {"type": kind, "pattern": code}


def _value(v: Any) -> dict[str, Any]:
    if v is None or (isinstance(v, str) and v == ""):
        return {}
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return {"userEnteredValue": {"stringValue": "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")}}
    return {"userEnteredValue": extended(v)}


def _grid(sheet_id: int, rng: Any) -> dict[str, int]:
    return {"sheetId": sheet_id, "startRowIndex": rng.row1 - 1, "endRowIndex": rng.row2,
            "startColumnIndex": rng.col1, "endColumnIndex": rng.col2 + 1}


def sheet_requests(spec: Any, sheet_id: int, index: int | None,
                   ids: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Everything one summary sheet needs, as batchUpdate requests (``ids``: the sheet id of
    each sheet a chart may read, by name)."""
    from ...summary import FIRST_DATA_ROW, HEADER_ROW, TITLE_ROW

    width = max(len(spec.header), 1, *(len(r) for r in spec.rows))
    chart_rows = max((c.anchor[1] + c.height for c in spec.charts), default=0)
    chart_cols = max((c.anchor[0] + c.width for c in spec.charts), default=0)
    rows_needed = max(spec.last_row + 1, chart_rows + 1, 20)
    cols_needed = max(width, chart_cols, 10)
    props: dict[str, Any] = {"sheetId": sheet_id, "title": spec.name, "gridProperties": {
        "rowCount": rows_needed, "columnCount": cols_needed, "frozenRowCount": HEADER_ROW}}
    if spec.freeze_cols:
        props["gridProperties"]["frozenColumnCount"] = spec.freeze_cols
    if index is not None:
        props["index"] = index
    out: list[dict[str, Any]] = [{"addSheet": {"properties": props}}]
    formats = [number_format(f) for f in spec.formats] + [None] * (width - len(spec.formats))
    rows = [{"values": [dict(_value(spec.title), userEnteredFormat=TITLE_FORMAT)]},
            {"values": [dict(_value(h), userEnteredFormat=HEADER_FORMAT) for h in spec.header]}]
    for n, row in enumerate(spec.rows):
        cells = []
        for j, v in enumerate(row):
            cell = _value(v)
            fmt = number_format(spec.cell_formats[(n, j)]) if (n, j) in spec.cell_formats else formats[j]
            if n in spec.subheads:
                cell["userEnteredFormat"] = HEADER_FORMAT
            elif fmt and cell:
                cell["userEnteredFormat"] = {"numberFormat": fmt}
            cells.append(cell)
        rows.append({"values": cells})
    out.append({"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": TITLE_ROW - 1, "columnIndex": 0},
                                "rows": rows, "fields": "userEnteredValue,userEnteredFormat"}})
    if spec.rows:
        for col, goal in sorted(spec.best.items()):
            rng = spec.column_range(col)
            letter = col_letter(col)
            fn = "MAX" if goal == "max" else "MIN"
            formula = (f"=AND(ISNUMBER({letter}{FIRST_DATA_ROW}),{letter}{FIRST_DATA_ROW}="
                       f"{fn}(${letter}${FIRST_DATA_ROW}:${letter}${rng.row2}))")
            out.append({"addConditionalFormatRule": {"index": 0, "rule": {
                "ranges": [_grid(sheet_id, rng)],
                "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                                "format": {"backgroundColor": GREEN, "textFormat": {"bold": True}}}}}})
    for chart in spec.charts:
        out.append({"addChart": {"chart": _chart(chart, sheet_id, ids or {})}})
    out.append({"autoResizeDimensions": {"dimensions": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                        "startIndex": 0, "endIndex": width}}})
    return out


def _chart(chart: Any, sheet_id: int, ids: dict[str, int]) -> dict[str, Any]:
    """An ``EmbeddedChart`` on ``sheet_id`` whose ranges may lie on other sheets (``ids``)."""
    kind = {"bar": "COLUMN", "line": "LINE"}.get(chart.kind, "COLUMN")

    def grid(rng: Any) -> dict[str, int]:
        return _grid(ids.get(rng.sheet, sheet_id), rng)

    spec: dict[str, Any] = {"chartType": kind, "legendPosition": "BOTTOM_LEGEND", "headerCount": 0,
                            "series": [], "domains": [], "axis": []}
    if chart.categories is not None:
        spec["domains"].append({"domain": {"sourceRange": {"sources": [grid(chart.categories)]}}})
    for s in chart.series:
        spec["series"].append({"series": {"sourceRange": {"sources": [grid(s.values)]}},
                               "targetAxis": "LEFT_AXIS"})
    if chart.x_title:
        spec["axis"].append({"position": "BOTTOM_AXIS", "title": chart.x_title})
    if chart.y_title or chart.zero_based:
        axis: dict[str, Any] = {"position": "LEFT_AXIS"}
        if chart.y_title:
            axis["title"] = chart.y_title
        if chart.zero_based:  # a bar's length is its value: the axis starts at zero
            axis["viewWindowOptions"] = {"viewWindowMin": 0, "viewWindowMode": "EXPLICIT"}
        spec["axis"].append(axis)
    if not spec["axis"]:
        del spec["axis"]
    return {"spec": {"title": chart.title, "basicChart": spec},
            "position": {"overlayPosition": {
                "anchorCell": {"sheetId": sheet_id, "rowIndex": chart.anchor[1] - 1, "columnIndex": chart.anchor[0]},
                "widthPixels": chart.width * 100, "heightPixels": chart.height * 21}}}


def built_ids(cell: Any) -> list[int]:
    """The sheet ids listed in the Schema tab's built-sheets cell (none when unreadable)."""
    try:
        ids = json.loads(cell) if cell not in (None, "") else []
    except (ValueError, TypeError):
        ids = []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def summary_requests(target: str, titles: dict[str, dict], built: set[int], specs: list[Any],
                     remove: Sequence[str] = (), protect: Sequence[str] = (),
                     ) -> tuple[list[dict[str, Any]], list[str]]:
    """The one batchUpdate that writes ``specs`` (replacing the sheets sheettrack built before,
    never a person's own tab) and deletes the built sheets named in ``remove``; and the names
    written. Raises StoreError, having sent nothing, for a sheet it must not overwrite."""
    if SCHEMA_SHEET not in titles:
        raise StoreError(f"{target}: the {SCHEMA_SHEET} tab that lists the sheets sheettrack "
                         "built is missing; run 'sheettrack init' on it first", target)
    schema_id = titles[SCHEMA_SHEET]["sheetId"]
    requests: list[dict[str, Any]] = []
    written: list[str] = []
    taken = {p["sheetId"] for p in titles.values()}
    ids = set(built)
    by_name = {name: p["sheetId"] for name, p in titles.items()}
    planned: list[tuple[Any, int, int | None]] = []
    for position, spec in enumerate(specs):
        if spec.name in protect:
            raise StoreError(f"{target}: a summary cannot be called {spec.name!r}: that tab holds "
                             "sheettrack's own data", target)
        old = titles.get(spec.name)
        index = None
        if old is not None:
            if old["sheetId"] not in built:
                raise StoreError(f"{target}: tab {spec.name!r} is not one sheettrack built; rename "
                                 "it, or give the summary another name. Nothing was written.", target)
            requests.append({"deleteSheet": {"sheetId": old["sheetId"]}})
            sheet_id, index = old["sheetId"], old.get("index")
        else:
            sheet_id = new_sheet_id({}, avoid=taken)
            taken.add(sheet_id)
        if spec.lead:  # the leading tabs, in the order written: Overview, Leaderboard, ...
            index = position
        ids.add(sheet_id)
        by_name[spec.name] = sheet_id
        planned.append((spec, sheet_id, index))
    charts: list[dict[str, Any]] = []
    for spec, sheet_id, index in planned:  # charts come last: they may read sheets added after theirs
        for request in sheet_requests(spec, sheet_id, index, by_name):
            (charts if "addChart" in request else requests).append(request)
        written.append(spec.name)
    requests += charts
    for name in remove:
        old = titles.get(name)
        if old is not None and old["sheetId"] in built and name not in written:
            requests.append({"deleteSheet": {"sheetId": old["sheetId"]}})
            ids.discard(old["sheetId"])
    if not requests:
        return [], []
    live = {p["sheetId"] for p in titles.values()} | ids
    requests.append({"updateCells": {
        "start": {"sheetId": schema_id, "rowIndex": 0, "columnIndex": BUILT_COL},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": BUILT_HEADER}}]},
                 {"values": [{"userEnteredValue": {"stringValue": json.dumps(sorted(ids & live))}}]}],
        "fields": "userEnteredValue"}})
    columns = titles[SCHEMA_SHEET].get("gridProperties", {}).get("columnCount", 26)
    if columns <= BUILT_COL:
        requests.insert(0, {"appendDimension": {"sheetId": schema_id, "dimension": "COLUMNS",
                                                "length": BUILT_COL + 1 - columns}})
    return requests, written
