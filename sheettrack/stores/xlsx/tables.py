"""Excel Tables and autofilters that must grow with the rows appended under them."""

from __future__ import annotations

import contextlib
import html
import re
from typing import Any

from ...cells import quote_sheet
from ...errors import StoreError
from .parts import Edits, Workbook
from .xml import absolute, attrs, escape, escape_shapes, range_ref, split_ref


def table_name(sheet: str) -> str:
    """A legal, readable Excel table name for a sheet."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", sheet).strip("_") or "Runs"
    if not re.match(r"[A-Za-z_]", name):
        name = "_" + name
    return name + "Table"


def grow_tables(wb: Workbook, part: str, edits: Edits, new_last: int, header: list[str]) -> None:
    """Grow the tables on worksheet ``part`` over the appended rows and new header columns."""
    tables = {tpart: wb.pkg.read(tpart) for tpart in wb.tables_of(part)}
    for tpart, txml in tables.items():
        others = [x for name, x in tables.items() if name != tpart]
        new_t = grow_table(txml, new_last, header, table_columns(others))
        if new_t != txml:
            edits.replace[tpart] = new_t


def table_columns(tables: list[bytes]) -> set[int]:
    """Columns that other tables on the sheet occupy: a table may not grow into them."""
    taken: set[int] = set()
    for txml in tables:
        m = re.search(rb"<(?:\w+:)?table\b[^>]*>", txml)
        ref = attrs(m.group()).get("ref", "") if m else ""
        with contextlib.suppress(ValueError):
            c1, _ = split_ref(ref.split(":")[0])
            c2, _ = split_ref(ref.split(":")[-1])
            taken.update(range(c1, c2 + 1))
    return taken


def table_info(txml: bytes) -> dict[str, Any] | None:
    """The ref of a table anchored at A1 and whether it has a Total Row (None otherwise)."""
    m = re.search(rb"<(?:\w+:)?table\b[^>]*>", txml)
    if m is None:
        return None
    a = attrs(m.group())
    try:
        c1, r1 = split_ref(a.get("ref", "").split(":")[0])
        c2, r2 = split_ref(a.get("ref", "").split(":")[-1])
    except ValueError:
        return None
    if (c1, r1) != (0, 1):
        return None
    return {"last_col": c2, "last_row": r2, "totals": int(a.get("totalsRowCount", "0") or 0)}


def grow_table(txml: bytes, new_last: int, header: list[str], taken: set[int] | None = None) -> bytes:
    """Grow a table anchored at A1 to the new last row and across the named header columns
    right of it, stopping at an unnamed column or one another table occupies."""
    info = table_info(txml)
    if info is None:
        return txml
    m = re.search(rb"<((?:\w+:)?)table\b[^>]*>", txml)
    assert m is not None  # table_info found it
    p = m.group(1)
    names = [n.lower() for n in re.findall(rb'<(?:\w+:)?tableColumn\b[^>]*?\bname="([^"]*)"', txml)]
    names = [html.unescape(n.decode("utf-8")) for n in names]
    add: list[str] = []
    for i, name in enumerate(header[info["last_col"] + 1:], start=info["last_col"] + 1):
        if not name or name.lower() in names or i in (taken or ()):
            break
        names.append(name.lower())
        add.append(name)
    new_ref = range_ref(0, 1, info["last_col"] + len(add), max(info["last_row"], new_last, 2)).encode()
    out = txml[:m.start()] + re.sub(rb'\bref="[^"]*"', b'ref="' + new_ref + b'"', m.group(), count=1) + txml[m.end():]
    out = re.sub(rb"(<" + re.escape(p) + rb'autoFilter\b[^>]*?\bref=")[^"]*(")',
                 lambda mm: mm.group(1) + new_ref + mm.group(2), out, count=1)
    if add:
        tc = re.search(rb"<" + re.escape(p) + rb"tableColumns\b[^>]*>", out)
        close = out.find(b"</" + p + b"tableColumns>")
        if tc is not None and close > 0:
            ids = [int(x) for x in re.findall(rb'<(?:\w+:)?tableColumn\b[^>]*?\bid="(\d+)"', out)]
            next_id = max(ids or [0]) + 1
            cols = b"".join(b'<%stableColumn id="%d" name="%s"/>' % (p, next_id + i, escape(escape_shapes(n)).encode("utf-8"))
                            for i, n in enumerate(add))
            start_tag = re.sub(rb'count="\d+"', b'count="%d"' % (len(ids) + len(add)), tc.group())
            out = out[:tc.start()] + start_tag + out[tc.end():close] + cols + out[close:]
    return out


def check_tables(wb: Workbook, part: str, sheet_name: str, last_row: int) -> None:
    """Refuse to append where rows would land under a Total Row or content below the table."""
    for tpart in wb.tables_of(part):
        info = table_info(wb.pkg.read(tpart))
        if info is None:
            continue
        if info["totals"]:
            raise StoreError(f"{wb.pkg.label}: the table on sheet {sheet_name} has a Total Row; "
                             "turn it off (Table Design > Total Row) so runs can be appended below the data")
        if last_row > max(info["last_row"], 2):
            raise StoreError(f"{wb.pkg.label}: sheet {sheet_name} holds content in row {last_row}, below "
                             f"the table (which ends at row {info['last_row']}); move it to another "
                             "sheet so runs can be appended under the table")


def grow_filter_name(wb: Workbook, sheet_name: str, tag: bytes, edits: Edits) -> None:
    """Keep the ``_xlnm._FilterDatabase`` name (which LibreOffice follows) in step with a
    grown sheet-level autofilter."""
    ref = attrs(tag).get("ref", "")
    if ":" not in ref:
        return
    try:
        index = list(wb.sheets).index(sheet_name)
    except ValueError:
        return
    xml = edits.current(wb.workbook_part)
    pat = re.compile(rb'(<(?:\w+:)?definedName\b(?=[^>]*name="_xlnm._FilterDatabase")(?=[^>]*localSheetId="%d")[^>]*>)'
                     rb'([^<]*)(</(?:\w+:)?definedName>)' % index)
    a, b = ref.split(":")
    text = quote_sheet(sheet_name) + "!" + absolute(a) + ":" + absolute(b)
    new = pat.sub(lambda m: m.group(1) + escape(text).encode("utf-8") + m.group(3), xml, count=1)
    if new != xml:
        edits.replace[wb.workbook_part] = new
