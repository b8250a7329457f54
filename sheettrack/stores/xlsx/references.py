"""Reference sheets of a workbook (Environments, Data, Models): rows appended by header name.

A reference sheet is a plain table with its header in row 1. ``plan_reference_rows`` adds rows
to it, creating it (after the other sheets) when it is missing and adding header columns it
lacks at the right. Like every workbook write it changes only the parts that must change (the
sheet, and for a new sheet the parts listing the sheets), so the rest of the package is copied
as it is and the Runs sheet's next append stays on its fast path.
"""

from __future__ import annotations

from typing import Any

from ...cells import Cell
from ...schema import Column
from .parts import CT_WORKSHEET, Edits, Workbook, built_sheets, free_name, sheet_list_edits
from .styles import Styles
from .worksheet import SheetXml, edit_sheet, new_sheet_xml


def sheet_named(wb: Workbook, sheet: str) -> str | None:
    """The workbook's sheet called ``sheet`` regardless of case (None when there is none): a
    reference sheet renamed to other capitals is still the same sheet."""
    return {name.lower(): name for name in wb.sheets}.get(sheet.lower())


def plan_reference_rows(wb: Workbook, edits: Edits, styles: Styles, sheet: str, header: list[str],
                        cells: list[dict[str, Cell | None]], columns: dict[str, Column]) -> None:
    """Add checked reference rows (``cells``, column name -> cell) to sheet ``sheet``, into
    ``edits``: the sheet gains the ``header`` columns it lacks, or is created with ``header``
    after the other sheets."""
    name = sheet_named(wb, sheet)
    if name is not None:
        part = wb.sheet_part(name)
        xml_sheet = SheetXml(wb.pkg.read(part), f"{wb.pkg.label}: {part}", wb.shared)
        have = xml_sheet.header_list()
        add = [n for n in header if n not in have]
        edits.replace[part] = edit_sheet(xml_sheet, cells, columns, add, styles).segments
        return
    part = free_name(set(wb.pkg.by_name) | set(edits.replace), "xl/worksheets/sheet{}.xml")
    edits.replace[part] = new_sheet_xml(header, cells, columns, styles, f"{wb.pkg.label}: sheet {sheet}")
    listing: dict[str, Any] = sheet_list_edits(wb, edits.current, [(sheet, part)], {part: CT_WORKSHEET},
                                               built_sheets(wb))
    edits.replace.update(listing)
