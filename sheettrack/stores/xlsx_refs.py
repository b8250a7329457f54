"""Reference sheets of a workbook (Environments, Data, Models): rows appended by header name.

A reference sheet is a plain table with its header in row 1. ``append_rows`` adds rows to
it, creating it (after the other sheets) when it is missing and adding header columns it
lacks at the right. Like every workbook write it edits only the parts that change — the
sheet, and for a new sheet ``[Content_Types].xml``, ``xl/workbook.xml``, its relationships
and ``docProps/app.xml`` — copies every other member's compressed bytes, and keeps the zip
comment, so the Runs sheet's next append stays on its fast path.
"""

from __future__ import annotations

from typing import Any

from ..cells import Cell, col_letter
from ..errors import StoreError
from ..schema import Column
from .excel import (
    COMPRESS_LEVEL,
    SheetXml,
    Styles,
    Workbook,
    _header_cell_xml,
    _rows_xml,
    edit_sheet,
    rels_part,
)
from .rows import reference_cells
from .xlsx_sheets import (
    CT_WORKSHEET,
    NS_MAIN,
    _app_xml,
    _content_types,
    _free,
    _workbook_rels,
    _workbook_xml,
    built_sheets,
    write_package,
)


def _new_sheet_xml(header: list[str], rows: list[dict[str, Cell | None]], columns: dict[str, Column],
                   styles: Styles, label: str) -> bytes:
    p = b""
    head = b"".join(_header_cell_xml(f"{col_letter(i)}1", name, None, p) for i, name in enumerate(header))
    body = _rows_xml(rows, header, columns, styles, 1, p, label)
    last = max(1 + len(rows), 1)
    cols = b"".join(b'<col min="%d" max="%d" width="%d" customWidth="1"/>' % (
        i + 1, i + 1, min(60, max(12, len(n) + 4))) for i, n in enumerate(header))
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<worksheet xmlns="' + NS_MAIN.encode() + b'" xmlns:r="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships">'
            b'<dimension ref="A1:' + f"{col_letter(len(header) - 1)}{last}".encode() + b'"/>'
            b'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            b'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
            b'<sheetFormatPr defaultRowHeight="15"/><cols>' + cols + b'</cols>'
            b'<sheetData><row r="1">' + head + b"</row>" + body + b"</sheetData></worksheet>")


def append_rows(store: Any, sheet: str, header: list[str], rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to reference sheet ``sheet`` of an ``ExcelStore``'s workbook, under its lock,
    atomically; the sheet is created with ``header`` when missing."""
    if not rows:
        return
    label = f"{store.target}: sheet {sheet}"
    cells, columns = reference_cells(header, rows, label, store.text_limit)
    lock = store._lock()
    try:
        store._check_owner()
        with store._package() as pkg:
            wb = Workbook(pkg)
            styles_xml = pkg.read(wb.styles_part) if wb.styles_part and pkg.has(wb.styles_part) else None
            styles = Styles(styles_xml)
            existing = {name.lower(): name for name in wb.sheets}
            if sheet.lower() in existing:
                name = existing[sheet.lower()]
                part = wb.sheet_part(name)
                xml_sheet = SheetXml(pkg.read(part), f"{pkg.label}: {part}", wb.shared)
                have = xml_sheet.header_list()
                add = [n for n in header if n not in have]
                replace: dict[str, Any] = {part: edit_sheet(wb, part, xml_sheet, cells, columns, add, styles).segments}
                if styles.changed:
                    replace[wb.styles_part] = styles.xml
                store._replace_with(lambda fh: pkg.write(fh, replace, COMPRESS_LEVEL), pkg.source)
            else:
                part = _free(set(pkg.by_name), "xl/worksheets/sheet{}.xml")
                parts = {part: _new_sheet_xml(header, cells, columns, styles, label)}
                if styles.changed:
                    parts[wb.styles_part] = styles.xml
                parts["[Content_Types].xml"] = _content_types(pkg.read("[Content_Types].xml"),
                                                              {part: CT_WORKSHEET}, set())
                wrp = rels_part(wb.workbook_part)
                parts[wrp], rids = _workbook_rels(pkg.read(wrp), wb, [(sheet, part)], [])
                wb_xml, order = _workbook_xml(pkg.read(wb.workbook_part), wb, [(sheet, part)], rids, [],
                                              built_sheets(wb))
                parts[wb.workbook_part] = wb_xml
                if pkg.has("docProps/app.xml"):
                    parts["docProps/app.xml"] = _app_xml(pkg.read("docProps/app.xml"), order)
                store._replace_with(lambda fh: write_package(pkg, fh, parts, set()), pkg.source)
    except OSError as exc:
        raise StoreError(f"{store.target}: cannot write: {exc.strerror or exc}", store.target) from None
    finally:
        lock.release()
