"""Summary sheets on a Google Sheet: the same ``SheetSpec`` descriptions the workbook store
writes, rendered with one atomic ``batchUpdate``: each sheet is (re)added with its values and
formats (``updateCells``), its best values highlighted (``addConditionalFormatRule``), its
native charts (``addChart``), and the list of sheets sheettrack built is updated in the same
request, so a rebuild never half-happens.

The sheets sheettrack built are listed by id in the Schema tab (column N): a person's own tab,
even one with the same name, is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from ..errors import StoreError
from .schema_sheet import SCHEMA_SHEET

BUILT_HEADER = "sheets sheettrack built (ids)"
GREEN = {"red": 0.776, "green": 0.937, "blue": 0.808}
TITLE_FORMAT = {"textFormat": {"bold": True, "fontSize": 12}}
HEADER_FORMAT = {"textFormat": {"bold": True}, "backgroundColor": {"red": 0.85, "green": 0.9, "blue": 0.97}}
EPOCH = _dt.datetime(1899, 12, 30)


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
    if isinstance(v, bool):
        return {"userEnteredValue": {"boolValue": v}}
    if isinstance(v, (int, float)):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            return {"userEnteredValue": {"stringValue": "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")}}
        return {"userEnteredValue": {"numberValue": v}}
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        d = v - EPOCH
        return {"userEnteredValue": {"numberValue": d.days + (d.seconds * 1_000_000 + d.microseconds) / 86_400_000_000}}
    if isinstance(v, _dt.date):
        return {"userEnteredValue": {"numberValue": (v - EPOCH.date()).days}}
    return {"userEnteredValue": {"stringValue": str(v)}}


def _grid(sheet_id: int, rng: Any) -> dict[str, int]:
    return {"sheetId": sheet_id, "startRowIndex": rng.row1 - 1, "endRowIndex": rng.row2,
            "startColumnIndex": rng.col1, "endColumnIndex": rng.col2 + 1}


def sheet_requests(spec: Any, sheet_id: int, index: int | None) -> list[dict[str, Any]]:
    """Everything one summary sheet needs, as batchUpdate requests."""
    from ..summary import FIRST_DATA_ROW, HEADER_ROW, TITLE_ROW

    width = max(len(spec.header), 1)
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
    for row in spec.rows:
        cells = []
        for j, v in enumerate(row):
            cell = _value(v)
            if formats[j] and cell:
                cell["userEnteredFormat"] = {"numberFormat": formats[j]}
            cells.append(cell)
        rows.append({"values": cells})
    out.append({"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": TITLE_ROW - 1, "columnIndex": 0},
                                "rows": rows, "fields": "userEnteredValue,userEnteredFormat"}})
    if spec.rows:
        for col, goal in sorted(spec.best.items()):
            rng = spec.column_range(col)
            letter = _letter(col)
            fn = "MAX" if goal == "max" else "MIN"
            formula = (f"=AND(ISNUMBER({letter}{FIRST_DATA_ROW}),{letter}{FIRST_DATA_ROW}="
                       f"{fn}(${letter}${FIRST_DATA_ROW}:${letter}${rng.row2}))")
            out.append({"addConditionalFormatRule": {"index": 0, "rule": {
                "ranges": [_grid(sheet_id, rng)],
                "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                                "format": {"backgroundColor": GREEN, "textFormat": {"bold": True}}}}}})
    for chart in spec.charts:
        out.append({"addChart": {"chart": _chart(chart, sheet_id)}})
    out.append({"autoResizeDimensions": {"dimensions": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                        "startIndex": 0, "endIndex": width}}})
    return out


def _letter(col: int) -> str:
    from ..cells import col_letter

    return col_letter(col)


def _chart(chart: Any, sheet_id: int) -> dict[str, Any]:
    kind = {"bar": "COLUMN", "line": "LINE"}.get(chart.kind, "COLUMN")
    spec: dict[str, Any] = {"chartType": kind, "legendPosition": "BOTTOM_LEGEND", "headerCount": 0,
                            "series": [], "domains": [], "axis": []}
    if chart.categories is not None:
        spec["domains"].append({"domain": {"sourceRange": {"sources": [_grid(sheet_id, chart.categories)]}}})
    for s in chart.series:
        spec["series"].append({"series": {"sourceRange": {"sources": [_grid(sheet_id, s.values)]}},
                               "targetAxis": "LEFT_AXIS"})
    if chart.x_title:
        spec["axis"].append({"position": "BOTTOM_AXIS", "title": chart.x_title})
    if chart.y_title:
        spec["axis"].append({"position": "LEFT_AXIS", "title": chart.y_title})
    if not spec["axis"]:
        del spec["axis"]
    return {"spec": {"title": chart.title, "basicChart": spec},
            "position": {"overlayPosition": {
                "anchorCell": {"sheetId": sheet_id, "rowIndex": chart.anchor[1] - 1, "columnIndex": chart.anchor[0]},
                "widthPixels": chart.width * 100, "heightPixels": chart.height * 21}}}


def write_sheets(store: Any, specs: list[Any], remove: list[str] | tuple = (),
                 protect: tuple[str, ...] = ()) -> list[str]:
    """Write summary sheets into the store's spreadsheet in one atomic batchUpdate."""
    from .gsheets import _new_sheet_id

    titles = store._titles()
    if SCHEMA_SHEET not in titles:
        raise StoreError(f"{store.target}: the {SCHEMA_SHEET} tab that lists the sheets sheettrack "
                         "built is missing; run 'sheettrack init' on it first", store.target)
    built = set(store.built_sheets(titles))
    schema_id = titles[SCHEMA_SHEET]["sheetId"]
    requests: list[dict[str, Any]] = []
    written: list[str] = []
    taken = {p["sheetId"] for p in titles.values()}
    ids = set(built)
    for spec in specs:
        if spec.name in protect:
            raise StoreError(f"{store.target}: a summary cannot be called {spec.name!r}: that tab holds "
                             "sheettrack's own data", store.target)
        old = titles.get(spec.name)
        index = None
        if old is not None:
            if old["sheetId"] not in built:
                raise StoreError(f"{store.target}: tab {spec.name!r} is not one sheettrack built; rename "
                                 "it, or give the summary another name. Nothing was written.", store.target)
            requests.append({"deleteSheet": {"sheetId": old["sheetId"]}})
            sheet_id, index = old["sheetId"], old.get("index")
        else:
            sheet_id = _new_sheet_id({str(i): {"sheetId": i} for i in taken})
            taken.add(sheet_id)
        ids.add(sheet_id)
        requests += sheet_requests(spec, sheet_id, index)
        written.append(spec.name)
    for name in remove:
        old = titles.get(name)
        if old is not None and old["sheetId"] in built and name not in written:
            requests.append({"deleteSheet": {"sheetId": old["sheetId"]}})
            ids.discard(old["sheetId"])
    if not requests:
        return []
    live = {p["sheetId"] for p in titles.values()} | ids
    requests.append({"updateCells": {
        "start": {"sheetId": schema_id, "rowIndex": 0, "columnIndex": store.BUILT_COL},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": BUILT_HEADER}}]},
                 {"values": [{"userEnteredValue": {"stringValue": json.dumps(sorted(ids & live))}}]}],
        "fields": "userEnteredValue"}})
    columns = titles[SCHEMA_SHEET].get("gridProperties", {}).get("columnCount", 26)
    if columns <= store.BUILT_COL:
        requests.insert(0, {"appendDimension": {"sheetId": schema_id, "dimension": "COLUMNS",
                                                "length": store.BUILT_COL + 1 - columns}})
    store._call("writing summary sheets", store.http.batch_update, store.spreadsheet_id, {"requests": requests})
    return written
