"""Spreadsheets held by the emulator and the Sheets API operations on them.

Every write runs on a clone of the spreadsheet that replaces the original only when the whole
operation succeeded, so a failing request (one bad entry in a batchUpdate, a cell over the size
limit) changes nothing — as in Google Sheets.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field, fields
from typing import Any

from . import cells as C
from . import proto as P
from .a1 import (
    A1,
    RangeError,
    col_letters,
    format_open,
    format_range,
    parse_cells,
    quote_title,
    split_title,
)

MAX_CELLS = 10_000_000
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26


class ApiError(Exception):
    """An error reply: HTTP code, Google status and message (and optional details)."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

    def __init__(self, code: int, message: str, *, details: list | None = None,
                 reason: str | None = None, headers: dict | None = None,
                 location: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = self.STATUS.get(code, "UNKNOWN")
        self.details = details
        self.reason = reason  # Drive's errors[0].reason
        self.location = location  # Drive's errors[0].location (a parameter)
        self.headers = headers or {}


def bad(message: str) -> ApiError:
    return ApiError(400, message)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Sheet:
    """One tab: its properties, its cells keyed by (row, col), and what batchUpdate put on it."""

    props: dict
    cells: dict = field(default_factory=dict)
    basic_filter: dict | None = None
    validations: list = field(default_factory=list)
    formats: list = field(default_factory=list)
    conditional_formats: list = field(default_factory=list)
    charts: list = field(default_factory=list)
    auto_resized: list = field(default_factory=list)
    merges: list = field(default_factory=list)  # GridRanges
    protected_ranges: list = field(default_factory=list)
    groups: dict = field(default_factory=lambda: {"ROWS": [], "COLUMNS": []})
    dimension_props: dict = field(default_factory=lambda: {"ROWS": {}, "COLUMNS": {}})

    @property
    def id(self) -> int:
        return self.props["sheetId"]

    @property
    def title(self) -> str:
        return self.props["title"]

    @property
    def rows(self) -> int:
        return self.props.get("gridProperties", {}).get("rowCount", 0)

    @property
    def cols(self) -> int:
        return self.props.get("gridProperties", {}).get("columnCount", 0)

    def clone(self) -> Sheet:
        """A copy to work on: cells are immutable and shared, everything else is copied."""
        parts = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
                 if f.name != "cells"}
        return Sheet(cells=dict(self.cells), **parts)

    def set_cell(self, r: int, c: int, cell: C.Cell | None) -> None:
        """Store a parsed cell; an empty string clears it; None leaves it unchanged."""
        if cell is None:
            return
        if C.is_empty(cell) and cell.note is None and not cell.extra:
            self.cells.pop((r, c), None)
        else:
            self.cells[(r, c)] = cell

    def used_extent(self) -> tuple[int, int]:
        """(rows, cols) needed to hold every non-empty cell."""
        if not self.cells:
            return 0, 0
        return max(r for r, _ in self.cells) + 1, max(c for _, c in self.cells) + 1

    def grid(self, r0: int, r1: int, c0: int, c1: int, fn) -> list[list]:
        """Rows of ``fn(cell)`` for the block, trailing empty cells and rows trimmed."""
        rows: dict[int, dict[int, Any]] = {}
        for (r, c), cell in self.cells.items():
            if r0 <= r < r1 and c0 <= c < c1 and not C.is_empty(cell):
                rows.setdefault(r, {})[c] = fn(cell)
        if not rows:
            return []
        out = []
        for r in range(r0, max(rows) + 1):
            row = rows.get(r, {})
            out.append([row.get(c, "") for c in range(c0, max(row) + 1)] if row else [])
        return out

    def to_json(self) -> dict:
        props = copy.deepcopy(self.props)
        gp = props.get("gridProperties", {})
        for key in ("frozenRowCount", "frozenColumnCount"):
            if gp.get(key) == 0:
                gp.pop(key)
        for owner in (props, gp):  # proto3: false booleans are left out
            for key in [k for k, v in owner.items() if v is False]:
                owner.pop(key)
        if "tabColorStyle" in props and not _has_color(props["tabColorStyle"]):
            props.pop("tabColorStyle")  # a style whose colour was cleared is no style
        for key in ("tabColor", "tabColorStyle"):
            if key in props:
                props[key] = P.normalize_format(props[key], key)
        out: dict[str, Any] = {"properties": props}
        if self.merges:
            out["merges"] = [grid_range_json(m) for m in self.merges]
        if self.basic_filter is not None:
            flt = copy.deepcopy(self.basic_filter)
            flt["range"] = grid_range_json(flt["range"])
            out["basicFilter"] = flt
        if self.conditional_formats:
            out["conditionalFormats"] = copy.deepcopy(self.conditional_formats)
        if self.protected_ranges:
            out["protectedRanges"] = [dict(p, range=grid_range_json(p["range"]))
                                      for p in self.protected_ranges]
        if self.charts:
            out["charts"] = copy.deepcopy(self.charts)
        for dim, key in (("ROWS", "rowGroups"), ("COLUMNS", "columnGroups")):
            if self.groups[dim]:
                out[key] = [_group_json(g) for g in self.groups[dim]]
        return out

    def dimension_metadata(self, dim: str, start: int, end: int) -> list[dict]:
        """DimensionProperties of rows or columns [start, end): size and hidden flags."""
        default = {"pixelSize": 21 if dim == "ROWS" else 100}
        return [dict(default, **self.dimension_props[dim].get(i, {})) for i in range(start, end)]


def _has_color(style: Any) -> bool:
    return isinstance(style, dict) and any(style.get(k) for k in ("rgbColor", "themeColor"))


def grid_range_json(rng: dict) -> dict:
    """A GridRange or DimensionRange as Google writes it: indexes always (they have explicit
    presence), the sheet id only when it is not 0 (a plain proto3 int)."""
    out = copy.deepcopy(rng)
    if not out.get("sheetId"):
        out.pop("sheetId", None)
    return out


def _group_json(group: dict) -> dict:
    return {"range": grid_range_json(group["range"]), "depth": group["depth"]}


def _new_sheet(sheet_id: int, title: str, index: int, rows: int = DEFAULT_ROWS,
               cols: int = DEFAULT_COLS) -> Sheet:
    return Sheet({"sheetId": sheet_id, "title": title, "index": index, "sheetType": "GRID",
                  "gridProperties": {"rowCount": rows, "columnCount": cols}})


@dataclass
class Spreadsheet:
    """A spreadsheet file: Drive metadata, who may use it, and its sheets."""

    id: str
    title: str
    owner: str | None
    sheets: list[Sheet]
    permissions: dict = field(default_factory=dict)  # email or "anyone" -> {"id", "role", "type"}
    revoked: set = field(default_factory=set)
    parents: list = field(default_factory=list)
    created: str = field(default_factory=now_rfc3339)
    modified: str = field(default_factory=now_rfc3339)
    locale: str = "en_US"
    time_zone: str = "Etc/GMT"
    named_ranges: list = field(default_factory=list)
    comments: list = field(default_factory=list)  # Drive comments

    @classmethod
    def new(cls, sid: str, title: str, owner: str | None) -> Spreadsheet:
        return cls(sid, title, owner, [_new_sheet(0, "Sheet1", 0)])

    def clone(self) -> Spreadsheet:
        return Spreadsheet(self.id, self.title, self.owner, [s.clone() for s in self.sheets],
                           copy.deepcopy(self.permissions), set(self.revoked), list(self.parents),
                           self.created, self.modified, self.locale, self.time_zone,
                           copy.deepcopy(self.named_ranges), copy.deepcopy(self.comments))

    # ---- access -------------------------------------------------------------------------
    def role_of(self, user: str | None) -> str | None:
        """'owner', 'writer', 'commenter', 'reader' or None (no access)."""
        if user in self.revoked:
            return None
        if self.owner is None or user == self.owner:
            return "owner"
        for key in (user, "anyone"):
            if key in self.permissions:
                return self.permissions[key]["role"]
        return None

    # ---- lookup ---------------------------------------------------------------------------
    def sheet_by_title(self, title: str) -> Sheet | None:
        for s in self.sheets:
            if s.title == title:
                return s
        for s in self.sheets:
            if s.title.lower() == title.lower():
                return s
        return None

    def sheet_by_id(self, sheet_id: int) -> Sheet | None:
        return next((s for s in self.sheets if s.id == sheet_id), None)

    def total_cells(self) -> int:
        return sum(s.rows * s.cols for s in self.sheets)

    def check_cell_limit(self) -> None:
        if self.total_cells() > MAX_CELLS:
            raise bad("This action would increase the number of cells in the workbook above the "
                      f"limit of {MAX_CELLS} cells.")

    def reindex(self) -> None:
        for i, s in enumerate(self.sheets):
            s.props["index"] = i

    def resolve(self, text: str) -> tuple[Sheet, A1]:
        """A range string -> (sheet, parsed range); 400 ``Unable to parse range`` otherwise."""
        try:
            title, cell_part = split_title(text)
        except RangeError:
            raise bad(f"Unable to parse range: {text}") from None
        if title is None:
            sheet = self.sheet_by_title(cell_part) if cell_part else None
            if sheet is not None:
                return sheet, A1(sheet.title)
            sheet = self.sheets[0]
        else:
            sheet = self.sheet_by_title(title)
            if sheet is None:
                raise bad(f"Unable to parse range: {text}")
            if cell_part == "":
                return sheet, A1(sheet.title)
        try:
            r0, r1, c0, c1 = parse_cells(cell_part)
        except RangeError:
            raise bad(f"Unable to parse range: {text}") from None
        return sheet, A1(sheet.title, r0, r1, c0, c1, cell_part)

    def to_json(self, include_grid: bool = False, ranges: list[str] | None = None) -> dict:
        """The Spreadsheet resource; ``ranges`` limits the sheets (and grid data) to those."""
        sheets: list[tuple[Sheet, list]] = [(s, []) for s in self.sheets]
        if ranges:
            picked: dict[int, tuple[Sheet, list]] = {}
            for text in ranges:
                sheet, rng = self.resolve(text)
                picked.setdefault(sheet.id, (sheet, []))[1].append(read_bounds(sheet, rng))
            sheets = list(picked.values())
        out: dict[str, Any] = {
            "spreadsheetId": self.id,
            "properties": {"title": self.title, "locale": self.locale, "autoRecalc": "ON_CHANGE",
                           "timeZone": self.time_zone, "defaultFormat": P.default_format(),
                           "spreadsheetTheme": P.default_theme()},
            "sheets": [],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.id}/edit",
        }
        for sheet, blocks in sheets:
            js = sheet.to_json()
            if include_grid:
                js["data"] = [grid_data(sheet, b) for b in blocks] or [grid_data(sheet)]
            out["sheets"].append(js)
        if self.named_ranges:
            out["namedRanges"] = [dict(n, range=grid_range_json(n["range"]))
                                  for n in self.named_ranges]
        return out


# ---- values ------------------------------------------------------------------------------

def _grid_exceeded(sheet: Sheet, a1_text: str) -> ApiError:
    return bad(f"Range ({quote_title(sheet.title)}!{a1_text}) exceeds grid limits. "
               f"Max rows: {sheet.rows}, max columns: {sheet.cols}")


def _cell_text(rng: A1) -> str:
    r0 = rng.r0 or 0
    c0 = rng.c0 or 0
    return f"{col_letters(c0)}{r0 + 1}"


def read_bounds(sheet: Sheet, rng: A1) -> tuple[int, int, int, int]:
    """The range clipped to the grid; 400 when it starts outside the grid."""
    r0, c0 = rng.r0 or 0, rng.c0 or 0
    if r0 >= sheet.rows or c0 >= sheet.cols:
        raise _grid_exceeded(sheet, rng.text or _cell_text(rng))
    r1 = sheet.rows if rng.r1 is None else min(rng.r1, sheet.rows)
    c1 = sheet.cols if rng.c1 is None else min(rng.c1, sheet.cols)
    return r0, r1, c0, c1


def value_range(sheet: Sheet, rng: A1, render: str, dt_render: str, major: str) -> dict:
    """A ValueRange as values.get returns it."""
    r0, r1, c0, c1 = read_bounds(sheet, rng)
    values = sheet.grid(r0, r1, c0, c1, lambda cell: C.render(cell, render, dt_render))
    if major == "COLUMNS" and values:
        width = max(len(r) for r in values)
        cols = [[row[j] if j < len(row) else "" for row in values] for j in range(width)]
        values = [_trim(col) for col in cols]
        while values and not values[-1]:
            values.pop()
    out: dict[str, Any] = {"range": format_range(sheet.title, r0, r1, c0, c1),
                           "majorDimension": major}
    if values:
        out["values"] = values
    return out


def _trim(row: list) -> list:
    while row and row[-1] == "":
        row.pop()
    return row


def _rows_of(values: Any, major: str) -> list[list]:
    if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
        raise bad("Invalid values: expected a list of lists")
    if major == "COLUMNS" and values:
        width = max(len(c) for c in values)
        return [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    return values


def _parsed(rows: list[list], option: str) -> list[list]:
    out = []
    for i, row in enumerate(rows):
        parsed = []
        for j, value in enumerate(row):
            if isinstance(value, (dict, list)):
                kind = "struct_value" if isinstance(value, dict) else "list_value"
                raise bad(f"Invalid values[{i}][{j}]: {kind} {value!r}")
            try:
                parsed.append(C.parse(value, option))
            except C.CellError as exc:
                raise bad(str(exc)) from None
        out.append(parsed)
    return out


def _write(sheet: Sheet, r0: int, c0: int, rows: list[list]) -> None:
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            sheet.set_cell(r0 + i, c0 + j, cell)


def _update_reply(book: Spreadsheet, sheet: Sheet, r0: int, c0: int, rows: list[list]) -> dict:
    """UpdateValuesResponse: the range spans the block; the counts take only the cells that
    were written (a null leaves its cell alone and is not counted)."""
    out: dict[str, Any] = {"spreadsheetId": book.id}
    width = max((len(r) for r in rows), default=0)
    written = [(i, j) for i, row in enumerate(rows) for j, v in enumerate(row) if v is not None]
    if rows and width:
        out["updatedRange"] = format_range(sheet.title, r0, r0 + len(rows), c0, c0 + width)
    if written:
        out.update(updatedRows=len({i for i, _ in written}),
                   updatedColumns=len({j for _, j in written}), updatedCells=len(written))
    return out


def range_columns(text: str) -> range:
    """The column indexes of a bounded range such as ``Sheet1!A1:D4``."""
    _title, cells = split_title(text)
    _r0, _r1, c0, c1 = parse_cells(cells)
    return range(c0 or 0, c1 or 0)


def values_update(book: Spreadsheet, text: str, body: dict, option: str) -> dict:
    """values.update: write a block at the range's top-left corner, within its bounds."""
    sheet, rng = book.resolve(text)
    rows = _rows_of(body.get("values") or [], body.get("majorDimension") or "ROWS")
    parsed = _parsed(rows, option)
    r0, c0 = rng.r0 or 0, rng.c0 or 0
    height, width = len(parsed), max((len(r) for r in parsed), default=0)
    if r0 >= sheet.rows or c0 >= sheet.cols:
        block = format_range(sheet.title, r0, r0 + max(height, 1), c0, c0 + max(width, 1))
        raise _grid_exceeded(sheet, block.split("!", 1)[1])
    single = rng.r1 == (rng.r0 or 0) + 1 and rng.c1 == (rng.c0 or 0) + 1 and not rng.whole_sheet
    limits = [] if single else [(rng.c1, rng.r1)]
    limits.append((sheet.cols, sheet.rows))  # an anchor may spill over, but not off the grid
    for c_end, r_end in limits:
        if c_end is not None and c0 + width > c_end:
            raise bad(f"Requested writing within range [{text}], but tried writing to column "
                      f"[{col_letters(c_end)}]")
        if r_end is not None and r0 + height > r_end:
            raise bad(f"Requested writing within range [{text}], but tried writing to row "
                      f"[{r_end + 1}]")
    _write(sheet, r0, c0, parsed)
    return _update_reply(book, sheet, r0, c0, rows)


def _components(sheet: Sheet) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (r0, r1, c0, c1; inclusive) of groups of touching non-empty cells.

    Cells touch across edges and corners. Works on runs of filled cells per row, joined with
    the runs of the next row, so a 50k-cell table costs one pass rather than a flood fill.
    """
    by_row: dict[int, list[int]] = {}
    for (r, c), v in sheet.cells.items():
        if not C.is_empty(v):
            by_row.setdefault(r, []).append(c)
    runs: list[list[int]] = []  # [row, first col, last col]
    row_runs: dict[int, list[int]] = {}
    for r in sorted(by_row):
        cols = sorted(by_row[r])
        ids = row_runs[r] = []
        first = prev = cols[0]
        for c in cols[1:] + [None]:
            if c is not None and c == prev + 1:
                prev = c
                continue
            ids.append(len(runs))
            runs.append([r, first, prev])
            if c is not None:
                first = prev = c
    parent = list(range(len(runs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r, ids in row_runs.items():
        below = row_runs.get(r + 1)
        if not below:
            continue
        i = j = 0
        while i < len(ids) and j < len(below):
            a, b = runs[ids[i]], runs[below[j]]
            if a[1] <= b[2] + 1 and b[1] <= a[2] + 1:
                parent[root(ids[i])] = root(below[j])
            if a[2] < b[2]:
                i += 1
            else:
                j += 1
    boxes: dict[int, list[int]] = {}
    for i, (r, c0, c1) in enumerate(runs):
        box = boxes.setdefault(root(i), [r, r, c0, c1])
        box[0], box[1] = min(box[0], r), max(box[1], r)
        box[2], box[3] = min(box[2], c0), max(box[3], c1)
    return [tuple(b) for b in boxes.values()]


def find_table(sheet: Sheet, rng: A1) -> tuple[int, int, int, int] | None:
    """Google's table detection: of the data blocks touching the range, the lowest (then the
    rightmost) one. A blank in the header row splits it, which is why appends drift right."""
    qr0, qc0 = rng.r0 or 0, rng.c0 or 0
    qr1 = sheet.rows if rng.r1 is None else rng.r1
    qc1 = sheet.cols if rng.c1 is None else rng.c1
    touching = [b for b in _components(sheet)
                if b[0] < qr1 and b[1] >= qr0 and b[2] < qc1 and b[3] >= qc0]
    if not touching:
        return None
    return max(touching, key=lambda b: (b[1], b[3]))


def values_append(book: Spreadsheet, text: str, body: dict, option: str, insert: str) -> dict:
    """values.append: find the table in the range and write the rows after it."""
    sheet, rng = book.resolve(text)
    rows = _rows_of(body.get("values") or [], body.get("majorDimension") or "ROWS")
    parsed = _parsed(rows, option)
    table = find_table(sheet, rng)
    out: dict[str, Any] = {"spreadsheetId": book.id}
    if table is None:
        r0, c0 = rng.r0 or 0, rng.c0 or 0
    else:
        out["tableRange"] = format_range(sheet.title, table[0], table[1] + 1, table[2], table[3] + 1)
        r0, c0 = table[1] + 1, table[2]
    height, width = len(parsed), max((len(r) for r in parsed), default=0)
    gp = sheet.props["gridProperties"]
    if height and insert == "INSERT_ROWS":
        sheet.cells = {((r + height) if r >= r0 else r, c): v for (r, c), v in sheet.cells.items()}
        gp["rowCount"] = max(sheet.rows, r0) + height
    elif r0 + height > sheet.rows:
        gp["rowCount"] = r0 + height
    if c0 + width > sheet.cols:
        gp["columnCount"] = c0 + width
    if sheet.cols > 18278:
        raise bad("This action would increase the number of columns in the sheet above the "
                  "limit of 18278 columns.")
    book.check_cell_limit()
    _write(sheet, r0, c0, parsed)
    out["updates"] = _update_reply(book, sheet, r0, c0, rows)
    return out


def import_csv(book: Spreadsheet, text: str) -> None:
    """Drive's CSV import into an existing spreadsheet: only the first sheet stays, its cells
    replaced by the CSV's, parsed as typed in the browser; the grid grows to fit."""
    first = book.sheets[0]
    book.sheets = [first]
    first.cells = {}
    rows = list(csv.reader(io.StringIO(text)))
    gp = first.props["gridProperties"]
    gp["rowCount"] = max(gp["rowCount"], len(rows))
    gp["columnCount"] = max(gp["columnCount"], max((len(r) for r in rows), default=0))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            first.set_cell(r, c, C.from_user_entered(value))
    book.reindex()
    book.check_cell_limit()


def values_clear(book: Spreadsheet, text: str) -> dict:
    """values.clear: empty the cells of the range (formats stay)."""
    sheet, rng = book.resolve(text)
    r0, r1, c0, c1 = read_bounds(sheet, rng)
    for key in [k for k in sheet.cells if r0 <= k[0] < r1 and c0 <= k[1] < c1]:
        del sheet.cells[key]
    return {"spreadsheetId": book.id, "clearedRange": format_range(sheet.title, r0, r1, c0, c1)}


# ---- grid data (spreadsheets.get includeGridData / updateCells) ---------------------------

def extended_value(cell: C.Cell, entered: bool) -> dict:
    if entered and cell.formula is not None:
        return {"formulaValue": cell.formula}
    v = cell.value
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, float):
        return {"numberValue": C.number_json(v)}
    if cell.formula is not None and v == C.ERROR:
        return {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}
    return {"stringValue": v}


def grid_data(sheet: Sheet, bounds: tuple[int, int, int, int] | None = None) -> dict:
    """GridData for a block of the sheet (the whole grid by default): rowData of CellData
    with values, notes and the format repeatCell/updateCells gave, trailing empties trimmed;
    rowMetadata and columnMetadata for every row and column of the block; start indexes only
    when not 0 (plain proto3 ints)."""
    r0, r1, c0, c1 = bounds or (0, sheet.rows, 0, sheet.cols)
    used_r, used_c = sheet.used_extent()
    for f in sheet.formats:
        rng = f["range"]
        used_r = max(used_r, min(rng.get("endRowIndex", sheet.rows), sheet.rows))
        used_c = max(used_c, min(rng.get("endColumnIndex", sheet.cols), sheet.cols))
    row_data = []
    for r in range(r0, min(r1, used_r)):
        values = []
        for c in range(c0, min(c1, used_c)):
            cell = sheet.cells.get((r, c))
            data: dict[str, Any] = {}
            if cell is not None and not C.is_empty(cell):
                data = {"userEnteredValue": extended_value(cell, True),
                        "effectiveValue": extended_value(cell, False),
                        "formattedValue": C.formatted(cell)}
            fmt = user_entered_format(sheet, r, c)
            if fmt:
                data["userEnteredFormat"] = fmt
            if cell is not None:
                if cell.note is not None:
                    data["note"] = cell.note
                data.update(dict(cell.extra))
            values.append(data)
        while values and values[-1] == {}:
            values.pop()
        row_data.append({"values": values} if values else {})
    while row_data and row_data[-1] == {}:
        row_data.pop()
    out: dict[str, Any] = {}
    if r0:
        out["startRow"] = r0
    if c0:
        out["startColumn"] = c0
    if row_data:
        out["rowData"] = row_data
    out["rowMetadata"] = sheet.dimension_metadata("ROWS", r0, min(r1, sheet.rows))
    out["columnMetadata"] = sheet.dimension_metadata("COLUMNS", c0, min(c1, sheet.cols))
    return out


def user_entered_format(sheet: Sheet, r: int, c: int) -> dict:
    """The userEnteredFormat of one cell: every format written over it, in order, each
    limited to its field mask; colours as Google stores them, each colour mirrored in its
    ``...Style`` companion (the form Google reads back)."""
    out: dict = {}
    for f in sheet.formats:
        rng = f["range"]
        if not (rng.get("startRowIndex", 0) <= r < rng.get("endRowIndex", sheet.rows)
                and rng.get("startColumnIndex", 0) <= c < rng.get("endColumnIndex", sheet.cols)):
            continue
        try:
            mask = P.parse_mask(f["fields"])
        except P.MaskError:
            continue
        if mask is not None and not P.mask_selects(mask, "userEnteredFormat"):
            continue
        picked = P.apply_mask(f["cell"], mask).get("userEnteredFormat") or {}
        _deep_merge(out, picked)
    if not out:
        return {}
    out = P.normalize_format(out)
    if "backgroundColor" in out:
        out.setdefault("backgroundColorStyle", {"rgbColor": out["backgroundColor"]})
    text = out.get("textFormat") or {}
    if "foregroundColor" in text:
        text.setdefault("foregroundColorStyle", {"rgbColor": text["foregroundColor"]})
    return out


def _deep_merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def cell_from_extended(ev: dict) -> C.Cell:
    if "formulaValue" in ev:
        f = ev["formulaValue"]
        C._check_text(f)
        return C.Cell("formula", C.evaluate(f), formula=f)
    if "numberValue" in ev:
        return C.Cell("number", float(ev["numberValue"]))
    if "boolValue" in ev:
        return C.Cell("bool", bool(ev["boolValue"]))
    if "stringValue" in ev:
        C._check_text(ev["stringValue"])
        return C.Cell("string", ev["stringValue"])
    if "errorValue" in ev:
        return C.Cell("string", C.ERROR)
    return C.Cell("string", "")


# ---- batchUpdate ---------------------------------------------------------------------------

def _mask(fields: str | None) -> list[list[str]]:
    if not fields:
        return []
    return [p.strip().replace("/", ".").split(".") for p in fields.split(",") if p.strip()]


def _apply_mask(target: dict, source: dict, mask: list[list[str]]) -> None:
    for path in mask:
        if path == ["*"]:
            for k, v in source.items():
                if k != "sheetId":
                    target[k] = copy.deepcopy(v)
            continue
        t, s = target, source
        for key in path[:-1]:
            t = t.setdefault(key, {})
            s = s.get(key, {}) if isinstance(s, dict) else {}
        last = path[-1]
        if isinstance(s, dict) and last in s and s[last] is not None:
            t[last] = copy.deepcopy(s[last])
        else:
            t.pop(last, None)


class BatchUpdate:
    """Applies spreadsheets.batchUpdate requests to a clone; the caller swaps it in on success."""

    KINDS = ("addSheet", "deleteSheet", "updateSheetProperties", "repeatCell", "setBasicFilter",
             "clearBasicFilter", "setDataValidation", "addConditionalFormatRule",
             "autoResizeDimensions", "appendDimension", "insertDimension", "deleteDimension",
             "addChart", "updateCells", "updateSpreadsheetProperties", "mergeCells",
             "unmergeCells", "addNamedRange", "updateNamedRange", "deleteNamedRange",
             "addProtectedRange", "deleteProtectedRange", "addDimensionGroup",
             "deleteDimensionGroup", "updateDimensionProperties", "sortRange", "copyPaste",
             "cutPaste", "duplicateSheet")

    def __init__(self, book: Spreadsheet, rng: random.Random, user: str | None = None) -> None:
        self.book = book
        self.rng = rng
        self.user = user
        self.where = ""  # "Invalid requests[i].kind: " while a request runs

    def run(self, requests: list[dict]) -> list[dict]:
        replies = []
        if not requests:
            raise bad("Must specify at least one request.")
        for i, req in enumerate(requests):
            kinds = [k for k, v in req.items() if v is not None]
            if len(kinds) != 1:
                raise bad(f"Invalid requests[{i}]: exactly one kind of request must be set, "
                          f"got {len(kinds)}.")
            kind = kinds[0]
            self.where = f"Invalid requests[{i}].{kind}: "
            if kind not in self.KINDS:
                raise bad(self.where + "this request kind is not implemented by the emulator.")
            try:
                replies.append(getattr(self, kind)(req[kind]))
            except ApiError as exc:
                if not exc.message.startswith("Invalid requests["):
                    exc.message = self.where + exc.message
                    exc.args = (exc.message,)
                raise
        return replies

    def fail(self, message: str) -> ApiError:
        return bad(self.where + message)

    def _sheet(self, sheet_id: int | None) -> Sheet:
        sid = sheet_id or 0
        sheet = self.book.sheet_by_id(int(sid))
        if sheet is None:
            raise self.fail(f"No grid with id: {sid}")
        return sheet

    def _grid_range(self, gr: dict) -> tuple[Sheet, dict]:
        sheet = self._sheet(gr.get("sheetId"))
        r0 = gr.get("startRowIndex") or 0
        c0 = gr.get("startColumnIndex") or 0
        r1 = gr.get("endRowIndex", sheet.rows)
        c1 = gr.get("endColumnIndex", sheet.cols)
        if (r0 < 0 or c0 < 0 or r0 >= sheet.rows or c0 >= sheet.cols or r1 > sheet.rows
                or c1 > sheet.cols or r0 > r1 or c0 > c1):
            a1 = format_open(sheet.title, r0, gr.get("endRowIndex"), c0, gr.get("endColumnIndex"))
            raise self.fail(f"Range ({a1}) exceeds grid limits. Max rows: {sheet.rows}, "
                            f"max columns: {sheet.cols}")
        return sheet, {"r0": r0, "r1": r1, "c0": c0, "c1": c1}

    def _unique_title(self, title: str, skip: Sheet | None = None) -> None:
        for s in self.book.sheets:
            if s is not skip and s.title.lower() == title.lower():
                raise self.fail(f'A sheet with the name "{title}" already exists. '
                                "Please enter another name.")

    def _new_id(self) -> int:
        while True:
            sid = self.rng.randrange(1, 2**31)
            if self.book.sheet_by_id(sid) is None:
                return sid

    def copy_sheet(self, source: Sheet, title: str | None, index: int | None,
                   sheet_id: int | None = None) -> Sheet:
        """A copy of ``source`` (values, formats, merges...) added to this spreadsheet as
        ``Copy of <title>`` unless named; protected ranges are not copied."""
        base = title or f"Copy of {source.title}"
        name, n = base, 1
        while title is None and self.book.sheet_by_title(name) is not None:
            n += 1
            name = f"{base} {n}"
        self._unique_title(name)
        if sheet_id is None:
            sheet_id = self._new_id()
        elif self.book.sheet_by_id(sheet_id) is not None:
            raise self.fail(f"Sheet with id {sheet_id} already exists.")
        sheet = source.clone()
        sheet.props.update(sheetId=sheet_id, title=name)
        sheet.protected_ranges = []
        for item in sheet.merges + [f["range"] for f in sheet.formats]:
            item["sheetId"] = sheet_id
        at = len(self.book.sheets) if index is None else max(0, min(index, len(self.book.sheets)))
        self.book.sheets.insert(at, sheet)
        self.book.reindex()
        self.book.check_cell_limit()
        return sheet

    def duplicateSheet(self, body: dict) -> dict:
        source = self._sheet(body.get("sourceSheetId"))
        sheet = self.copy_sheet(source, body.get("newSheetName") or None,
                                body.get("insertSheetIndex"), body.get("newSheetId"))
        return {"duplicateSheet": {"properties": sheet.to_json()["properties"]}}

    def addSheet(self, body: dict) -> dict:
        props = copy.deepcopy(body.get("properties") or {})
        n = len(self.book.sheets) + 1
        while self.book.sheet_by_title(f"Sheet{n}") is not None:
            n += 1
        title = props.get("title") or f"Sheet{n}"
        self._unique_title(title)
        sid = props.get("sheetId")
        if sid is None:
            sid = self._new_id()
        elif self.book.sheet_by_id(sid) is not None:
            raise self.fail(f"Sheet with id {sid} already exists.")
        gp = props.get("gridProperties") or {}
        sheet = _new_sheet(int(sid), title, 0, gp.get("rowCount", DEFAULT_ROWS),
                           gp.get("columnCount", DEFAULT_COLS))
        for key in ("frozenRowCount", "frozenColumnCount", "hideGridlines"):
            if gp.get(key):
                sheet.props["gridProperties"][key] = gp[key]
        for key in ("hidden", "tabColor", "tabColorStyle", "rightToLeft"):
            if props.get(key) is not None:
                sheet.props[key] = props[key]
        if sheet.rows < 1 or sheet.cols < 1:
            raise self.fail("A sheet must have at least one row and one column.")
        index = props.get("index")
        index = len(self.book.sheets) if index is None else max(0, min(index, len(self.book.sheets)))
        self.book.sheets.insert(index, sheet)
        self.book.reindex()
        self.book.check_cell_limit()
        return {"addSheet": {"properties": copy.deepcopy(sheet.props)}}

    def deleteSheet(self, body: dict) -> dict:
        sid = body.get("sheetId") or 0
        sheet = self.book.sheet_by_id(sid)
        if sheet is None:
            raise self.fail(f"No sheet with id: {sid}")
        if len(self.book.sheets) == 1:
            raise self.fail("You can't remove all the sheets in a document.")
        self.book.sheets.remove(sheet)
        self.book.reindex()
        return {}

    def updateSheetProperties(self, body: dict) -> dict:
        props = body.get("properties") or {}
        sheet = self._sheet(props.get("sheetId"))
        mask = _mask(body.get("fields"))
        if not mask:
            raise self.fail("At least one field must be updated, but no fields were specified.")
        new = copy.deepcopy(sheet.props)
        _apply_mask(new, props, mask)
        if new.get("title") != sheet.title:
            if not new.get("title"):
                raise self.fail("The sheet title must not be empty.")
            self._unique_title(new["title"], skip=sheet)
        gp = new.setdefault("gridProperties", {})
        rows, cols = gp.get("rowCount", 0), gp.get("columnCount", 0)
        if rows < 1 or cols < 1:
            raise self.fail("A sheet must have at least one row and one column.")
        if new.get("hidden") and not any(not s.props.get("hidden") for s in self.book.sheets
                                         if s is not sheet):
            raise self.fail("You can't hide all the sheets in a document.")
        if gp.get("frozenRowCount", 0) >= rows:
            raise self.fail("You can't freeze all visible rows on the sheet.")
        if gp.get("frozenColumnCount", 0) >= cols:
            raise self.fail("You can't freeze all visible columns on the sheet.")
        old_index = sheet.props["index"]
        sheet.props = new
        sheet.cells = {k: v for k, v in sheet.cells.items() if k[0] < rows and k[1] < cols}
        if new.get("index", old_index) != old_index:
            self.book.sheets.remove(sheet)
            self.book.sheets.insert(min(new["index"], len(self.book.sheets)), sheet)
        self.book.reindex()
        self.book.check_cell_limit()
        return {}

    def updateSpreadsheetProperties(self, body: dict) -> dict:
        mask = _mask(body.get("fields"))
        props = body.get("properties") or {}
        for path in mask:
            if path[0] in ("title", "*") and props.get("title"):
                self.book.title = props["title"]
            if path[0] in ("locale", "*") and props.get("locale"):
                self.book.locale = props["locale"]
            if path[0] in ("timeZone", "*") and props.get("timeZone"):
                self.book.time_zone = props["timeZone"]
        return {}

    def repeatCell(self, body: dict) -> dict:
        sheet, b = self._grid_range(body.get("range") or {})
        cell = body.get("cell") or {}
        fields = body.get("fields") or ""
        if not fields:
            raise self.fail("At least one field must be updated, but no fields were specified.")
        if "userEnteredValue" in fields or fields == "*":
            value = cell.get("userEnteredValue")
            parsed = cell_from_extended(value) if value else C.Cell("string", "")
            for r in range(b["r0"], b["r1"]):
                for c in range(b["c0"], b["c1"]):
                    sheet.set_cell(r, c, parsed)
        sheet.formats.append({"range": copy.deepcopy(body.get("range") or {}),
                              "cell": copy.deepcopy(cell), "fields": fields})
        return {}

    def setBasicFilter(self, body: dict) -> dict:
        """The filter's range is stored with its bounds (a bare sheet id means the grid)."""
        flt = copy.deepcopy(body.get("filter") or {})
        sheet, b = self._grid_range(flt.get("range") or {})
        flt["range"] = self._bounded(sheet, b)
        sheet.basic_filter = flt
        return {}

    @staticmethod
    def _bounded(sheet: Sheet, b: dict) -> dict:
        return {"sheetId": sheet.id, "startRowIndex": b["r0"], "endRowIndex": b["r1"],
                "startColumnIndex": b["c0"], "endColumnIndex": b["c1"]}

    def clearBasicFilter(self, body: dict) -> dict:
        self._sheet(body.get("sheetId")).basic_filter = None
        return {}

    def setDataValidation(self, body: dict) -> dict:
        rng = body.get("range") or {}
        sheet, _ = self._grid_range(rng)
        sheet.validations = [v for v in sheet.validations if v["range"] != rng]
        if body.get("rule"):
            sheet.validations.append({"range": copy.deepcopy(rng),
                                      "rule": copy.deepcopy(body["rule"])})
        return {}

    def addConditionalFormatRule(self, body: dict) -> dict:
        rule = copy.deepcopy(body.get("rule") or {})
        ranges = rule.get("ranges") or []
        if not ranges:
            raise self.fail("A conditional format rule needs at least one range.")
        sheets = {self._grid_range(r)[0].id for r in ranges}
        if len(sheets) != 1:
            raise self.fail("All ranges of a conditional format rule must be on one sheet.")
        if not (rule.get("booleanRule") or rule.get("gradientRule")):
            raise self.fail("A conditional format rule needs a booleanRule or a gradientRule.")
        sheet = self._sheet(sheets.pop())
        index = body.get("index") or 0
        if index > len(sheet.conditional_formats):
            raise self.fail(f"index {index} is past the end of the rule list.")
        sheet.conditional_formats.insert(index, rule)
        return {}

    def autoResizeDimensions(self, body: dict) -> dict:
        dims = body.get("dimensions")
        if not dims:
            raise self.fail("dimensions must be set.")
        sheet = self._sheet(dims.get("sheetId"))
        sheet.auto_resized.append(copy.deepcopy(dims))
        return {}

    def appendDimension(self, body: dict) -> dict:
        sheet = self._sheet(body.get("sheetId"))
        length = body.get("length") or 0
        if length <= 0:
            raise self.fail("length must be positive.")
        key = {"ROWS": "rowCount", "COLUMNS": "columnCount"}.get(body.get("dimension"))
        if key is None:
            raise self.fail("dimension must be ROWS or COLUMNS.")
        sheet.props["gridProperties"][key] += length
        self.book.check_cell_limit()
        return {}

    def _dimension(self, body: dict) -> tuple[Sheet, int, int, int, str]:
        rng = body.get("range") or {}
        sheet = self._sheet(rng.get("sheetId"))
        axis = {"ROWS": 0, "COLUMNS": 1}.get(rng.get("dimension"))
        if axis is None:
            raise self.fail("dimension must be ROWS or COLUMNS.")
        key = ("rowCount", "columnCount")[axis]
        start, end = rng.get("startIndex") or 0, rng.get("endIndex")
        if end is None or end <= start or start < 0:
            raise self.fail("the range needs startIndex < endIndex.")
        return sheet, axis, start, end, key

    def insertDimension(self, body: dict) -> dict:
        sheet, axis, start, end, key = self._dimension(body)
        if start > sheet.props["gridProperties"][key]:
            raise self.fail(f"startIndex {start} is past the end of the sheet.")
        n = end - start

        def moved(k: tuple[int, int]) -> tuple[int, int]:
            return (k[0] + n, k[1]) if axis == 0 else (k[0], k[1] + n)

        sheet.cells = {(moved(k) if k[axis] >= start else k): v for k, v in sheet.cells.items()}
        sheet.props["gridProperties"][key] += n
        self.book.check_cell_limit()
        return {}

    def deleteDimension(self, body: dict) -> dict:
        sheet, axis, start, end, key = self._dimension(body)
        size = sheet.props["gridProperties"][key]
        if end > size:
            raise self.fail(f"endIndex {end} is past the end of the sheet ({size}).")
        if start == 0 and end == size:
            what = ("rows", "columns")[axis]
            raise self.fail(f"You can't delete all the {what} on the sheet.")
        n = end - start
        cells = {}
        for k, v in sheet.cells.items():
            if start <= k[axis] < end:
                continue
            if k[axis] >= end:
                k = (k[0] - n, k[1]) if axis == 0 else (k[0], k[1] - n)
            cells[k] = v
        sheet.cells = cells
        sheet.props["gridProperties"][key] -= n
        return {}

    def addChart(self, body: dict) -> dict:
        chart = copy.deepcopy(body.get("chart") or {})
        if not chart.get("spec"):
            raise self.fail("The chart needs a spec.")
        pos = chart.get("position") or {}
        if pos.get("newSheet"):
            sheet = Sheet({"sheetId": self._new_id(), "title": f"Chart{len(self.book.sheets) + 1}",
                           "index": len(self.book.sheets), "sheetType": "OBJECT"})
            self.book.sheets.append(sheet)
            chart["position"] = {"sheetId": sheet.id}
        elif "overlayPosition" in pos:
            anchor = pos["overlayPosition"].get("anchorCell") or {}
            sheet = self._sheet(anchor.get("sheetId"))
        else:
            sheet = self._sheet(pos.get("sheetId"))
        if chart.get("chartId") is None:
            chart["chartId"] = self._new_id()
        elif any(c["chartId"] == chart["chartId"] for s in self.book.sheets for c in s.charts):
            raise self.fail(f"A chart with id {chart['chartId']} already exists.")
        sheet.charts.append(chart)
        return {"addChart": {"chart": copy.deepcopy(chart)}}

    def updateCells(self, body: dict) -> dict:
        fields = body.get("fields") or ""
        if not fields:
            raise self.fail("At least one field must be updated, but no fields were specified.")
        names = {p[0] for p in _mask(fields)}
        if "start" in body and body["start"] is not None:
            st = body["start"]
            sheet = self._sheet(st.get("sheetId"))
            r0, c0, limit = st.get("rowIndex") or 0, st.get("columnIndex") or 0, None
        else:
            sheet, b = self._grid_range(body.get("range") or {})
            r0, c0, limit = b["r0"], b["c0"], b
        for i, row in enumerate(body.get("rows") or []):
            for j, data in enumerate((row or {}).get("values") or []):
                r, c = r0 + i, c0 + j
                if limit and (r >= limit["r1"] or c >= limit["c1"]):
                    continue
                if r >= sheet.rows or c >= sheet.cols:
                    raise self.fail(f"Range ({format_range(sheet.title, r, r + 1, c, c + 1)}) "
                                    f"exceeds grid limits. Max rows: {sheet.rows}, "
                                    f"max columns: {sheet.cols}")
                old = sheet.cells.get((r, c))
                cell = old or C.Cell("string", "")
                if "*" in names or "userEnteredValue" in names:
                    value = data.get("userEnteredValue")
                    try:
                        new = cell_from_extended(value) if value else C.Cell("string", "")
                    except C.CellError as exc:
                        raise self.fail(str(exc)) from None
                    cell = C.Cell(new.kind, new.value, new.formula, None, cell.note, cell.extra)
                if "*" in names or "note" in names:
                    cell = C.Cell(cell.kind, cell.value, cell.formula, cell.pattern,
                                  data.get("note") or None, cell.extra)
                extra = dict(cell.extra)
                for key in ("pivotTable", "dataValidation"):
                    if "*" in names or key in names:
                        if data.get(key) is not None:
                            extra[key] = copy.deepcopy(data[key])
                        else:
                            extra.pop(key, None)
                cell = C.Cell(cell.kind, cell.value, cell.formula, cell.pattern, cell.note,
                              tuple(extra.items()))
                sheet.cells.pop((r, c), None)
                sheet.set_cell(r, c, cell)
                if "userEnteredFormat" in names and data.get("userEnteredFormat") is not None:
                    sheet.formats.append({
                        "range": {"sheetId": sheet.id, "startRowIndex": r, "endRowIndex": r + 1,
                                  "startColumnIndex": c, "endColumnIndex": c + 1},
                        "cell": {"userEnteredFormat": copy.deepcopy(data["userEnteredFormat"])},
                        "fields": "userEnteredFormat"})
        return {}

    # ---- merges --------------------------------------------------------------------------
    def mergeCells(self, body: dict) -> dict:
        """MERGE_ALL makes one block, MERGE_ROWS one per row, MERGE_COLUMNS one per column;
        each block keeps only its top-left value, as the browser does. Merges inside the range
        are replaced; one reaching out of it is an error."""
        sheet, b = self._grid_range(body.get("range") or {})
        inside = [m for m in sheet.merges if _contains(b, m)]
        sheet.merges = [m for m in sheet.merges if m not in inside]
        kind = body.get("mergeType") or "MERGE_ALL"
        if kind == "MERGE_ROWS":
            blocks = [(r, r + 1, b["c0"], b["c1"]) for r in range(b["r0"], b["r1"])]
        elif kind == "MERGE_COLUMNS":
            blocks = [(b["r0"], b["r1"], c, c + 1) for c in range(b["c0"], b["c1"])]
        else:
            blocks = [(b["r0"], b["r1"], b["c0"], b["c1"])]
        for r0, r1, c0, c1 in blocks:
            if (r1 - r0) * (c1 - c0) < 2:
                continue
            for m in sheet.merges:
                if m["startRowIndex"] < r1 and r0 < m["endRowIndex"] and \
                        m["startColumnIndex"] < c1 and c0 < m["endColumnIndex"]:
                    raise self.fail("You must select all cells in a merged range to merge or "
                                    "unmerge them.")
            for key in [k for k in sheet.cells
                        if r0 <= k[0] < r1 and c0 <= k[1] < c1 and k != (r0, c0)]:
                del sheet.cells[key]
            sheet.merges.append(self._bounded(sheet, {"r0": r0, "r1": r1, "c0": c0, "c1": c1}))
        return {}

    def unmergeCells(self, body: dict) -> dict:
        """Every merge inside the range is undone (values stay where they are)."""
        sheet, b = self._grid_range(body.get("range") or {})
        sheet.merges = [m for m in sheet.merges if not _contains(b, m)]
        return {}

    # ---- named and protected ranges ------------------------------------------------------
    def _numeric_id(self, taken: set) -> int:
        while True:
            value = self.rng.randrange(1, 2**31)
            if value not in taken:
                return value

    def addNamedRange(self, body: dict) -> dict:
        named = copy.deepcopy(body.get("namedRange") or {})
        name = named.get("name") or ""
        if not name:
            raise self.fail("namedRange.name must be set.")
        if any(n["name"].lower() == name.lower() for n in self.book.named_ranges):
            raise self.fail(f"A named range with the name {name} already exists.")
        sheet, b = self._grid_range(named.get("range") or {})
        taken = {n["namedRangeId"] for n in self.book.named_ranges}
        out: dict[str, Any] = {
            "namedRangeId": named.get("namedRangeId") or str(self._numeric_id(taken)),
            "name": name, "range": self._bounded(sheet, b)}
        self.book.named_ranges.append(out)
        return {"addNamedRange": {"namedRange": dict(out, range=grid_range_json(out["range"]))}}

    def _named(self, named_id: str | None) -> dict:
        for n in self.book.named_ranges:
            if n["namedRangeId"] == named_id:
                return n
        raise self.fail(f"No named range with id {named_id}")

    def updateNamedRange(self, body: dict) -> dict:
        new = body.get("namedRange") or {}
        mask = _mask(body.get("fields"))
        if not mask:
            raise self.fail("At least one field must be updated, but no fields were specified.")
        old = self._named(new.get("namedRangeId"))
        for path in mask:
            if path[0] in ("name", "*") and new.get("name"):
                old["name"] = new["name"]
            if path[0] in ("range", "*") and new.get("range") is not None:
                sheet, b = self._grid_range(new["range"])
                old["range"] = self._bounded(sheet, b)
        return {}

    def deleteNamedRange(self, body: dict) -> dict:
        self.book.named_ranges.remove(self._named(body.get("namedRangeId")))
        return {}

    def addProtectedRange(self, body: dict) -> dict:
        """The reply echoes what was asked (the requester can edit); the stored range lists
        the requester as its editor, as a metadata read then shows."""
        asked = P.omit_defaults(copy.deepcopy(body.get("protectedRange") or {}))
        sheet, b = self._grid_range(asked.get("range") or {})
        taken = {p["protectedRangeId"] for s in self.book.sheets for p in s.protected_ranges}
        pid = asked.get("protectedRangeId") or self._numeric_id(taken)
        reply: dict[str, Any] = {"protectedRangeId": pid, "range": self._bounded(sheet, b)}
        for key in ("namedRangeId", "description", "warningOnly"):
            if asked.get(key):
                reply[key] = asked[key]
        reply["requestingUserCanEdit"] = True
        editors = asked.get("editors") or {}
        reply["editors"] = editors
        stored = copy.deepcopy(reply)
        users = list(editors.get("users") or [])
        if self.user and self.user not in users:
            users.insert(0, self.user)
        stored["editors"] = dict(editors, users=users) if users else editors
        sheet.protected_ranges.append(stored)
        return {"addProtectedRange": {"protectedRange": dict(
            reply, range=grid_range_json(reply["range"]))}}

    def deleteProtectedRange(self, body: dict) -> dict:
        pid = body.get("protectedRangeId")
        for sheet in self.book.sheets:
            for p in sheet.protected_ranges:
                if p["protectedRangeId"] == pid:
                    sheet.protected_ranges.remove(p)
                    return {}
        raise self.fail(f"No protected range with id: {pid}")

    # ---- dimensions ----------------------------------------------------------------------
    def addDimensionGroup(self, body: dict) -> dict:
        """A group one level deeper than the groups around it; the first column group turns
        on the sheet's columnGroupControlAfter, which stays after the group is gone."""
        sheet, _axis, start, end, _key = self._dimension(body)
        dim = body["range"]["dimension"]
        groups = sheet.groups[dim]
        depth = 1 + max((g["depth"] for g in groups if g["range"]["startIndex"] <= start
                         and end <= g["range"]["endIndex"]), default=0)
        groups.append({"range": {"sheetId": sheet.id, "dimension": dim, "startIndex": start,
                                 "endIndex": end}, "depth": depth})
        groups.sort(key=lambda g: (g["range"]["startIndex"], g["depth"]))
        flag = "rowGroupControlAfter" if dim == "ROWS" else "columnGroupControlAfter"
        sheet.props["gridProperties"][flag] = True
        return {"addDimensionGroup": {"dimensionGroups": [_group_json(g) for g in groups]}}

    def deleteDimensionGroup(self, body: dict) -> dict:
        sheet, _axis, start, end, _key = self._dimension(body)
        dim = body["range"]["dimension"]
        groups = sheet.groups[dim]
        hit = [g for g in groups if g["range"]["startIndex"] == start
               and g["range"]["endIndex"] == end]
        if not hit:
            raise self.fail("No group exists on the range.")
        groups.remove(max(hit, key=lambda g: g["depth"]))
        return {"deleteDimensionGroup": {"dimensionGroups": [_group_json(g) for g in groups]}
                if groups else {}}

    def updateDimensionProperties(self, body: dict) -> dict:
        sheet, _axis, start, end, _key = self._dimension(body)
        dim = body["range"]["dimension"]
        mask = _mask(body.get("fields"))
        if not mask:
            raise self.fail("At least one field must be updated, but no fields were specified.")
        props = body.get("properties") or {}
        for i in range(start, end):
            current = sheet.dimension_props[dim].setdefault(i, {})
            _apply_mask(current, props, mask)
            for key in [k for k, v in current.items() if v is False]:
                current.pop(key)
        return {}

    # ---- moving values -------------------------------------------------------------------
    def sortRange(self, body: dict) -> dict:
        """Rows of the range ordered by the sort specs; empty cells sort last."""
        sheet, b = self._grid_range(body.get("range") or {})
        rows: list[dict[int, C.Cell | None]] = [
            {c: sheet.cells.get((r, c)) for c in range(b["c0"], b["c1"])}
            for r in range(b["r0"], b["r1"])]
        for spec in reversed(body.get("sortSpecs") or []):
            col = b["c0"] + (spec.get("dimensionIndex") or 0)
            desc = spec.get("sortOrder") == "DESCENDING"
            filled = [row for row in rows if not C.is_empty(row.get(col))]
            empty = [row for row in rows if C.is_empty(row.get(col))]
            filled.sort(key=lambda row: _sort_key(row[col]), reverse=desc)
            rows = filled + empty
        for i, row in enumerate(rows):
            for c, cell in row.items():
                sheet.cells.pop((b["r0"] + i, c), None)
                if cell is not None:
                    sheet.cells[(b["r0"] + i, c)] = cell
        return {}

    def _copy_block(self, source: dict, dest_sheet: Sheet, r0: int, c0: int,
                    cut: bool) -> None:
        sheet, b = self._grid_range(source)
        block = {(r - b["r0"], c - b["c0"]): sheet.cells.get((r, c))
                 for r in range(b["r0"], b["r1"]) for c in range(b["c0"], b["c1"])}
        if cut:
            for r, c in [k for k in sheet.cells if b["r0"] <= k[0] < b["r1"]
                         and b["c0"] <= k[1] < b["c1"]]:
                del sheet.cells[(r, c)]
        for (dr, dc), cell in block.items():
            r, c = r0 + dr, c0 + dc
            if r >= dest_sheet.rows or c >= dest_sheet.cols:
                continue
            dest_sheet.cells.pop((r, c), None)
            if cell is not None:
                dest_sheet.cells[(r, c)] = cell

    def copyPaste(self, body: dict) -> dict:
        dest, b = self._grid_range(body.get("destination") or {})
        self._copy_block(body.get("source") or {}, dest, b["r0"], b["c0"], cut=False)
        return {}

    def cutPaste(self, body: dict) -> dict:
        to = body.get("destination") or {}
        dest = self._sheet(to.get("sheetId"))
        self._copy_block(body.get("source") or {}, dest, to.get("rowIndex") or 0,
                         to.get("columnIndex") or 0, cut=True)
        return {}


def _contains(b: dict, m: dict) -> bool:
    """Whether the bounds ``b`` (r0, r1, c0, c1) hold the whole GridRange ``m``."""
    return (b["r0"] <= m["startRowIndex"] and m["endRowIndex"] <= b["r1"]
            and b["c0"] <= m["startColumnIndex"] and m["endColumnIndex"] <= b["c1"])


def _sort_key(cell: C.Cell | None) -> tuple:
    """Numbers before text before booleans, as Google Sheets orders mixed columns."""
    if cell is None:
        return (3, "")
    v = cell.value
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, float):
        return (0, v)
    return (1, str(v).lower())
