"""A new workbook, laid out once with openpyxl: the Runs sheet as an Excel Table under a
frozen header, its columns in reading order (data and provenance in a collapsed outline), with
widths, number formats, drop-downs and a print setup, and the Schema sheet documenting every
column. Every later write edits the package part by part instead."""

from __future__ import annotations

import io
from typing import Any

from ...cells import col_letter
from ...errors import TemplateError
from ...schema import Column, Schema
from ...summary import BOOL_FORMAT
from ..rows import collapsed_span, reading_order
from ..schema_sheet import SCHEMA_HEADER, SCHEMA_SHEET, schema_meta_json, schema_sheet_row
from .parts import PROP_CHUNK, PROP_PREFIX
from .styles import Styles
from .tables import table_name
from .worksheet import header_cell_xml
from .xml import NS_MAIN, NS_REL, escape, escape_shapes


def _width(col: Column) -> float:
    """A Runs column's width, from its type and the length of its name (a run id fits whole)."""
    base = {"datetime": 20, "date": 12, "bool": 9, "int": 10, "float": 12, "json": 30}.get(col.type, 16)
    if col.name in ("notes", "hypothesis", "command", "error"):
        base = 40
    if col.name == "run_id":
        base = 29
    return float(min(60, max(base, len(col.name) + 4)))


def print_setup(ws: Any, title_rows: str) -> None:
    """Landscape, fitted to the page width, ``title_rows`` repeated on every page, and a
    footer naming the workbook and sheet with "page x of y"."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = title_rows
    ws.oddFooter.left.text = "&F: &A"
    ws.oddFooter.right.text = "Page &P of &N"


def build_workbook(schema: Schema) -> bytes:
    """A new workbook for ``schema``: the Runs sheet (Excel Table, frozen header, widths,
    number formats, drop-downs) and the Schema sheet documenting every column."""
    from openpyxl import Workbook as OpenpyxlWorkbook
    from openpyxl.packaging.custom import StringProperty
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.table import Table as XlTable
    from openpyxl.worksheet.table import TableStyleInfo

    if not schema.columns:
        raise TemplateError(f"template {schema.name!r} has no columns to lay out")
    wb = OpenpyxlWorkbook()
    ws = wb.active
    ws.title = schema.sheet
    columns = reading_order(list(schema.columns))
    names = [c.name for c in columns]
    ws.append(names)
    last = col_letter(len(names) - 1)
    table = XlTable(displayName=table_name(schema.sheet), ref=f"A1:{last}2")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "A2"
    ws.sheet_view.tabSelected = False  # no tab is picked yet: summarize can open on the Overview
    print_setup(ws, "1:1")
    for i, col in enumerate(columns):
        letter = col_letter(i)
        ws.column_dimensions[letter].width = _width(col)
        if col.number_format or col.type == "bool":
            ws.column_dimensions[letter].number_format = col.number_format or BOOL_FORMAT
        if col.choices:
            items = [str(c) for c in col.choices]
            formula = '"' + ",".join(items) + '"'
            if len(formula) <= 255 and not any("," in c or '"' in c for c in items):
                dv = DataValidation(type="list", formula1=formula, allow_blank=not col.required,
                                    showErrorMessage=True, errorTitle=f"{col.name}: not allowed",
                                    error=f"{col.name} must be one of: {', '.join(items)}"[:255])
                dv.add(f"{letter}2:{letter}1048576")
                ws.add_data_validation(dv)

    span = collapsed_span(columns)
    if span:  # an outline: the default view shows what a reader compares; "+" opens the rest
        ws.column_dimensions.group(col_letter(span[0]), col_letter(span[1]), outline_level=1, hidden=True)
        ws.sheet_properties.outlinePr.summaryRight = False

    doc = wb.create_sheet(SCHEMA_SHEET)
    doc.append(SCHEMA_HEADER)
    for col in columns:  # documented in the order the Runs sheet shows them
        row = schema_sheet_row(col)
        doc.append([row[k] for k in SCHEMA_HEADER])
    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="305496")
    for cell in doc[1]:
        cell.font = bold
        cell.fill = fill
    doc.freeze_panes = "A2"
    print_setup(doc, "1:1")
    for letter, width in zip("ABCDEFGHIJKL", (22, 10, 12, 10, 8, 12, 60, 30, 8, 8, 16, 12)):
        doc.column_dimensions[letter].width = width
    for row in doc.iter_rows(min_row=2, min_col=7, max_col=7):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    meta = schema_meta_json(schema)
    for i in range(0, max(1, len(meta)), PROP_CHUNK):
        wb.custom_doc_props.append(StringProperty(name=f"{PROP_PREFIX}{i // PROP_CHUNK}",
                                                  value=meta[i:i + PROP_CHUNK]))
    wb.properties.creator = "sheettrack"
    wb.properties.title = f"Experiment runs ({schema.name})"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- the same layout, as parts added to a workbook that exists already -------------------------

CT_TABLE = "application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"
DATA_ROWS = "2:1048576"  # the rows a column's drop-down covers: all below the header


def dropdown_xml(letter: str, col: Column) -> bytes:
    """The drop-down (a list data validation) of column ``col`` at ``letter``; empty when
    it has no choices, or choices Excel's inline list cannot hold (commas, quotes, over 255
    characters)."""
    if not col.choices:
        return b""
    items = [str(c) for c in col.choices]
    formula = '"' + ",".join(items) + '"'
    if len(formula) > 255 or any("," in c or '"' in c for c in items):
        return b""
    error = f"{col.name} must be one of: {', '.join(items)}"[:255]
    lo, hi = DATA_ROWS.split(":")
    return (f'<dataValidation type="list" allowBlank="{0 if col.required else 1}" showErrorMessage="1" '
            f'errorTitle="{escape(col.name + ": not allowed")}" error="{escape(error)}" '
            f'sqref="{letter}{lo}:{letter}{hi}"><formula1>{escape(formula)}</formula1>'
            f"</dataValidation>").encode()


def runs_sheet_xml(schema: Schema, styles: Styles, table_rid: str) -> bytes:
    """A Runs worksheet part laid out as ``build_workbook`` lays it out (header row under a
    frozen pane, widths and number formats per column, drop-downs), whose Excel Table is the
    sheet's relationship ``table_rid``; for adding to a workbook that exists already."""
    if not schema.columns:
        raise TemplateError(f"template {schema.name!r} has no columns to lay out")
    cols, head, checks = [], [], []
    for i, col in enumerate(schema.columns):
        letter = col_letter(i)
        style = styles.xf_for(col.number_format)
        s = f' style="{style}"' if style else ""
        cols.append(f'<col min="{i + 1}" max="{i + 1}" width="{_width(col):g}" customWidth="1"{s}/>'.encode())
        head.append(header_cell_xml(f"{letter}1", col.name, None))
        checks.append(dropdown_xml(letter, col))
    found = [c for c in checks if c]
    validations = (b'<dataValidations count="%d">' % len(found) + b"".join(found) + b"</dataValidations>"
                   if found else b"")
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<worksheet xmlns="' + NS_MAIN.encode() + b'" xmlns:r="' + NS_REL.encode() + b'">'
            b'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            b'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" '
            b'sqref="A2"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            b"<cols>" + b"".join(cols) + b"</cols><sheetData><row r=\"1\">" + b"".join(head)
            + b"</row></sheetData>" + validations
            + b'<tableParts count="1"><tablePart r:id="' + table_rid.encode() + b'"/></tableParts></worksheet>')


def runs_table_xml(schema: Schema, table_id: int, name: str) -> bytes:
    """The Runs sheet's Excel Table part (id ``table_id``, called ``name``): the header row
    and one empty row, styled as ``build_workbook`` styles it; appends grow it."""
    ref = f"A1:{col_letter(len(schema.columns) - 1)}2"
    columns = "".join(f'<tableColumn id="{i + 1}" name="{escape(escape_shapes(c.name))}"/>'
                      for i, c in enumerate(schema.columns))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<table xmlns="{NS_MAIN}" '
            f'id="{table_id}" name="{name}" displayName="{name}" ref="{ref}" headerRowCount="1">'
            f'<autoFilter ref="{ref}"/><tableColumns count="{len(schema.columns)}">{columns}</tableColumns>'
            f'<tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" '
            f'showRowStripes="1" showColumnStripes="0"/></table>').encode()
