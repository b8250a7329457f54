"""Summary sheets written into an .xlsx package, part by part.

``plan_sheets`` turns store-neutral ``SheetSpec`` descriptions (see ``sheettrack.summary``)
into worksheet, drawing and chart parts written as XML directly, plus the small edits the
package needs (the parts listing the sheets, and styles appended to ``xl/styles.xml``: existing
style indices are never renumbered). Every other member is copied as its compressed bytes, so
the Runs sheet and everything people added stay byte for byte.

A sheet sheettrack built carries the hidden sheet-level name ``_sheettrack_built`` (see
``parts``), so a rebuild replaces only sheettrack's sheets and refuses to touch anyone else's.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

from ...cells import EXCEL_EPOCH, Cell, col_letter, number_text
from ...errors import StoreError
from ...summary import FIRST_DATA_ROW, HEADER_ROW, TITLE_ROW, CellRange, ChartSpec, SheetSpec
from .parts import (
    CT_CHART,
    CT_DRAWING,
    CT_WORKSHEET,
    Workbook,
    built_sheets,
    free_name,
    relationships,
    rels_part,
    resolve,
    sheet_list_edits,
    tab_selected,
)
from .styles import Styles
from .worksheet import PAGE_FOOTER, PAGE_SETUP, GridColumn, cell_xml, grid_xml
from .xml import NS_MAIN, NS_REL, escape, plain_texts
from .zip import Segments, parallel_parts, split_chunks

CACHE_MAX_POINTS = 1000  # chart caches beyond this are left to the reader to fill from the cells
UNIX_EPOCH_SERIAL = (_dt.datetime(1970, 1, 1) - EXCEL_EPOCH).days  # 1970-01-01 as an Excel serial


@dataclass
class SheetStyles:
    """The style indices summary sheets use, appended to the workbook's styles once."""

    styles: Styles
    title: int = 0
    header: int = 0
    best: int = 0
    formats: dict[str | None, int | None] = field(default_factory=dict)

    @classmethod
    def prepare(cls, styles: Styles) -> SheetStyles:
        """Find or add the title, header and best-value styles."""
        title_font = styles.ensure("fonts", '<font><b/><sz val="14"/><color rgb="FF1F3864"/>'
                                   '<name val="Calibri"/><family val="2"/></font>', "font")
        head_font = styles.ensure("fonts", '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/>'
                                  '<name val="Calibri"/><family val="2"/></font>', "font")
        head_fill = styles.ensure("fills", '<fill><patternFill patternType="solid">'
                                  '<fgColor rgb="FF305496"/><bgColor indexed="64"/></patternFill></fill>', "fill")
        title = styles.ensure("cellXfs", f'<xf numFmtId="0" fontId="{title_font}" fillId="0" '
                              'borderId="0" xfId="0" applyFont="1"/>', "xf")
        header = styles.ensure("cellXfs", f'<xf numFmtId="0" fontId="{head_font}" fillId="{head_fill}" '
                               'borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1">'
                               '<alignment wrapText="1" vertical="center"/></xf>', "xf")
        best = styles.ensure("dxfs", '<dxf><font><b/><color rgb="FF006100"/></font><fill>'
                             '<patternFill><bgColor rgb="FFC6EFCE"/></patternFill></fill></dxf>', "dxf")
        return cls(styles, title, header, best)

    def number(self, fmt: str | None) -> int | None:
        """The cell format showing numbers with ``fmt`` (None for General)."""
        if fmt not in self.formats:
            self.formats[fmt] = self.styles.xf_for(fmt)
        return self.formats[fmt]


# -- a worksheet ---------------------------------------------------------------------------

def summary_cell(value: Any) -> Cell | None:
    """A summary value as the cell ``cell_xml`` writes: numbers, booleans and text as they
    are; dates and date-times as Excel serial numbers (in UTC), shown through the column's
    number format; None, empty text, NaN and infinities as no cell."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Cell("b", value)
    if isinstance(value, (int, float)):
        return Cell("n", value) if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, _dt.datetime):
        naive = value.astimezone(_dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        return Cell("n", (naive - EXCEL_EPOCH).total_seconds() / 86400)
    if isinstance(value, _dt.date):
        return Cell("n", (value - EXCEL_EPOCH.date()).days)
    return Cell("s", str(value))


def _grid_column(letter: str, rows: range, values: list[Any], style: int | None) -> GridColumn:
    """One column of a summary sheet for ``grid_xml``: plain numbers and plain text as they
    are; a column of aware date-times as their serial numbers, worked out in one pass;
    anything else cell by cell."""
    kinds = set(map(type, values))
    if kinds <= {int, type(None)} or (kinds <= {float, type(None)} and all(map(
            math.isfinite, [v for v in values if v is not None] if type(None) in kinds else values))):
        return GridColumn(letter, "n", values, style)
    if kinds <= {str, type(None)} and plain_texts([v for v in values if v]):
        return GridColumn(letter, "s", values, style)
    if values and all(isinstance(v, _dt.datetime) and v.tzinfo is not None for v in values if v is not None):
        # an aware datetime's Excel serial: days since the Excel epoch, in UTC
        import pandas as pd

        try:
            stamps = pd.DatetimeIndex([pd.NaT if v is None else v for v in values]).tz_convert("UTC").as_unit("ns")
            serials = (stamps.asi8 / 86_400e9 + UNIX_EPOCH_SERIAL).tolist()
        except (TypeError, ValueError):  # mixed time zones: one at a time
            serials = [0.0 if v is None else v.timestamp() / 86400 + UNIX_EPOCH_SERIAL for v in values]
        return GridColumn(letter, "n", [None if v is None else x for v, x in zip(values, serials)], style)
    cells = [summary_cell(v) for v in values]
    return GridColumn(letter, "x", [cell_xml(f"{letter}{r}", c, style) if c is not None else b""
                                    for r, c in zip(rows, cells)])


def sheet_xml(spec: SheetSpec, st: SheetStyles, drawing_rid: str | None) -> bytes:
    """The worksheet part of one summary sheet."""
    ncols = max(1, len(spec.header), *(len(r) for r in spec.rows))
    last = spec.last_row
    styles = []
    for i in range(ncols):
        fmt = spec.formats[i] if i < len(spec.formats) else None
        if fmt is None:
            fmt = "yyyy-mm-dd hh:mm" if any(isinstance(r[i], _dt.datetime) for r in spec.rows[:50]
                                            if i < len(r)) else None
        styles.append(st.number(fmt))
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">',
        '<sheetPr><tabColor rgb="FF305496"/><pageSetUpPr fitToPage="1"/></sheetPr>',
        f'<dimension ref="A1:{col_letter(ncols - 1)}{last}"/>',
    ]
    fc = spec.freeze_cols
    top_left = f"{col_letter(fc)}{FIRST_DATA_ROW}"
    if fc:
        pane = (f'<pane xSplit="{fc}" ySplit="{HEADER_ROW}" topLeftCell="{top_left}" '
                'activePane="bottomRight" state="frozen"/><selection pane="topRight"/>'
                '<selection pane="bottomLeft"/><selection pane="bottomRight"/>')
    else:
        pane = (f'<pane ySplit="{HEADER_ROW}" topLeftCell="{top_left}" activePane="bottomLeft" '
                'state="frozen"/><selection pane="bottomLeft"/>')
    out.append(f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>')
    out.append('<sheetFormatPr defaultRowHeight="15"/>')
    if spec.widths:
        out.append("<cols>" + "".join(
            f'<col min="{i + 1}" max="{i + 1}" width="{w:g}" customWidth="1"/>'
            for i, w in enumerate(spec.widths)) + "</cols>")
    out.append("<sheetData>")
    title = cell_xml(f"A{TITLE_ROW}", summary_cell(spec.title), st.title).decode("utf-8")
    out.append(f'<row r="{TITLE_ROW}" ht="21" customHeight="1">{title}</row>')
    out.append(f'<row r="{HEADER_ROW}">' + b"".join(
        cell_xml(f"{col_letter(i)}{HEADER_ROW}", summary_cell(h), st.header)
        for i, h in enumerate(spec.header)).decode("utf-8") + "</row>")
    letters = [col_letter(i) for i in range(ncols)]
    numbers = range(FIRST_DATA_ROW, FIRST_DATA_ROW + len(spec.rows))
    if spec.cell_formats or spec.subheads:  # a sheet of small tables: cell by cell
        columns = [GridColumn(letters[i], "x", _cells_one_by_one(spec, st, letters[i], i, styles[i]))
                   for i in range(ncols)]
    else:
        if all(len(row) == ncols for row in spec.rows):
            by_column: list[Any] = [list(c) for c in zip(*spec.rows)] or [[] for _ in range(ncols)]
        else:
            by_column = [[row[i] if i < len(row) else None for row in spec.rows] for i in range(ncols)]
        columns = [_grid_column(letters[i], numbers, by_column[i], styles[i]) for i in range(ncols)]
    head, grid, out = "".join(out).encode("utf-8"), grid_xml(numbers, columns), []  # the rows stay bytes
    out.append("</sheetData>")
    if spec.rows:
        for prio, (i, goal) in enumerate(sorted(spec.best.items()), start=1):
            rng = f"{letters[i]}{FIRST_DATA_ROW}:{letters[i]}{last}"
            out.append(f'<conditionalFormatting sqref="{rng}"><cfRule type="expression" dxfId="{st.best}" '
                       f'priority="{prio}"><formula>{escape(best_formula(i, goal, last))}</formula>'
                       "</cfRule></conditionalFormatting>")
    out.append(PAGE_SETUP.format(height=1 if spec.one_page else 0))
    out.append(PAGE_FOOTER)
    if drawing_rid:
        out.append(f'<drawing r:id="{drawing_rid}"/>')
    out.append("</worksheet>")
    return b"".join((head, grid, "".join(out).encode("utf-8")))


#: A value axis's scaling that starts at zero (after the orientation, as the schema orders it).
ZERO_MIN = '<c:min val="0"/>'


def best_formula(col: int, goal: str, last: int) -> str:
    """The highlight rule of column ``col``'s best value, written for its first data cell: true
    only on a number equal to the column's best, so an empty cell is never marked (the same
    rule in Excel, LibreOffice and Google Sheets)."""
    letter = col_letter(col)
    first = f"{letter}{FIRST_DATA_ROW}"
    fn = "MAX" if goal == "max" else "MIN"
    return f"AND(ISNUMBER({first}),{first}={fn}(${letter}${FIRST_DATA_ROW}:${letter}${last}))"


def _cells_one_by_one(spec: SheetSpec, st: SheetStyles, letter: str, col: int, style: int | None) -> list[bytes]:
    """Column ``col`` of a sheet whose cells carry their own formats or header rows."""
    out = []
    for n, row in enumerate(spec.rows):
        value = row[col] if col < len(row) else None
        cell = summary_cell(value)
        if n in spec.subheads:
            cell_style: int | None = st.header if col < len(row) else None
        elif (n, col) in spec.cell_formats:
            cell_style = st.number(spec.cell_formats[(n, col)])
        else:
            cell_style = style
        where = f"{letter}{FIRST_DATA_ROW + n}"
        out.append(cell_xml(where, cell, cell_style if cell is not None or n in spec.subheads else None))
    return out


def drawing_xml(charts: list[ChartSpec]) -> bytes:
    """A drawing part anchoring each chart (relationship ids rId1, rId2, ... in order)."""
    anchors = []
    for n, ch in enumerate(charts, start=1):
        c, r = ch.anchor
        anchors.append(
            '<xdr:twoCellAnchor editAs="oneCell">'
            f"<xdr:from><xdr:col>{c}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{r - 1}</xdr:row>"
            "<xdr:rowOff>0</xdr:rowOff></xdr:from>"
            f"<xdr:to><xdr:col>{c + ch.width}</xdr:col><xdr:colOff>0</xdr:colOff>"
            f"<xdr:row>{r - 1 + ch.height}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
            f'<xdr:graphicFrame macro=""><xdr:nvGraphicFramePr><xdr:cNvPr id="{n + 1}" name="Chart {n}"/>'
            "<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>"
            '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
            '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/chart">'
            '<c:chart xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
            f'r:id="rId{n}"/></a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/>'
            "</xdr:twoCellAnchor>")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
            'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            f'xmlns:r="{NS_REL}">' + "".join(anchors) + "</xdr:wsDr>").encode("utf-8")


def _rich(text: str, size: int) -> str:
    return (f'<c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="{size}" b="1"/></a:pPr>'
            f'<a:r><a:rPr lang="en-US" sz="{size}" b="1"/><a:t>{escape(text)}</a:t></a:r></a:p></c:rich></c:tx>')


def _values_of(rng: CellRange, specs: dict[str, SheetSpec]) -> list[Any] | None:
    spec = specs.get(rng.sheet)
    if spec is None or rng.row2 - rng.row1 + 1 > CACHE_MAX_POINTS:
        return None
    out = []
    for r in range(rng.row1, rng.row2 + 1):
        row = spec.rows[r - FIRST_DATA_ROW] if 0 <= r - FIRST_DATA_ROW < len(spec.rows) else []
        parts = [row[c] if c < len(row) else None for c in range(rng.col1, rng.col2 + 1)]
        out.append(parts[0] if len(parts) == 1 else " / ".join("" if p is None else str(p) for p in parts))
    return out


def _num_ref(rng: CellRange, specs: dict[str, SheetSpec], fmt: str | None) -> str:
    values = _values_of(rng, specs)
    cache = ""
    if values is not None and len(values) <= CACHE_MAX_POINTS:
        pts = "".join(f'<c:pt idx="{i}"><c:v>{number_text(v)}</c:v></c:pt>' for i, v in enumerate(values)
                      if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        cache = (f"<c:numCache><c:formatCode>{escape(fmt or 'General')}</c:formatCode>"
                 f'<c:ptCount val="{len(values)}"/>{pts}</c:numCache>')
    return f"<c:numRef><c:f>{escape(rng.a1())}</c:f>{cache}</c:numRef>"


def _str_ref(rng: CellRange, specs: dict[str, SheetSpec]) -> str:
    values = _values_of(rng, specs)
    cache = ""
    if values is not None and len(values) <= CACHE_MAX_POINTS:
        pts = "".join(f'<c:pt idx="{i}"><c:v>{escape(_text(v))}</c:v></c:pt>' for i, v in enumerate(values)
                      if v is not None)
        cache = f'<c:strCache><c:ptCount val="{len(values)}"/>{pts}</c:strCache>'
    return f"<c:strRef><c:f>{escape(rng.a1())}</c:f>{cache}</c:strRef>"


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def chart_xml(chart: ChartSpec, specs: dict[str, SheetSpec]) -> bytes:
    """A DrawingML chart part: clustered columns or straight lines, with axis titles."""
    series = []
    numeric_cats = False
    if chart.categories is not None:
        spec = specs.get(chart.categories.sheet)
        col = chart.categories.col1
        numeric_cats = chart.kind == "line" and spec is not None and all(
            isinstance(r[col], (int, float)) for r in spec.rows if col < len(r))
    for i, s in enumerate(chart.series):
        cat = ""
        if chart.categories is not None:
            ref = _num_ref(chart.categories, specs, "0") if numeric_cats else _str_ref(chart.categories, specs)
            cat = f"<c:cat>{ref}</c:cat>"
        val = f"<c:val>{_num_ref(s.values, specs, chart.y_format)}</c:val>"
        tx = f"<c:tx><c:v>{escape(s.title)}</c:v></c:tx>"
        if chart.kind == "line":
            series.append(f'<c:ser><c:idx val="{i}"/><c:order val="{i}"/>{tx}'
                          '<c:marker><c:symbol val="none"/></c:marker>'
                          f'{cat}{val}<c:smooth val="0"/></c:ser>')
        else:
            series.append(f'<c:ser><c:idx val="{i}"/><c:order val="{i}"/>{tx}'
                          f'<c:invertIfNegative val="0"/>{cat}{val}</c:ser>')
    if chart.kind == "line":
        plot = ('<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>' + "".join(series)
                + '<c:marker val="1"/><c:axId val="500000001"/><c:axId val="500000002"/></c:lineChart>')
    else:
        plot = ('<c:barChart><c:barDir val="col"/><c:grouping val="clustered"/><c:varyColors val="0"/>'
                + "".join(series) + '<c:gapWidth val="150"/><c:axId val="500000001"/>'
                '<c:axId val="500000002"/></c:barChart>')
    x_title = f"<c:title>{_rich(chart.x_title, 1000)}<c:overlay val=\"0\"/></c:title>" if chart.x_title else ""
    y_title = f"<c:title>{_rich(chart.y_title, 1000)}<c:overlay val=\"0\"/></c:title>" if chart.y_title else ""
    y_fmt = (f'<c:numFmt formatCode="{escape(chart.y_format)}" sourceLinked="0"/>' if chart.y_format
             else '<c:numFmt formatCode="General" sourceLinked="1"/>')
    axes = ('<c:catAx><c:axId val="500000001"/><c:scaling><c:orientation val="minMax"/></c:scaling>'
            f'<c:delete val="0"/><c:axPos val="b"/>{x_title}<c:numFmt formatCode="General" sourceLinked="1"/>'
            '<c:majorTickMark val="out"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="500000002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
            '<c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
            '<c:valAx><c:axId val="500000002"/><c:scaling><c:orientation val="minMax"/>'
            f'{ZERO_MIN if chart.zero_based else ""}</c:scaling>'
            f'<c:delete val="0"/><c:axPos val="l"/><c:majorGridlines/>{y_title}{y_fmt}'
            '<c:majorTickMark val="out"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="500000001"/><c:crosses val="autoZero"/><c:crossBetween val="between"/></c:valAx>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
            'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            f'xmlns:r="{NS_REL}"><c:roundedCorners val="0"/><c:chart>'
            f'<c:title>{_rich(chart.title, 1200)}<c:overlay val="0"/></c:title>'
            f'<c:autoTitleDeleted val="0"/><c:plotArea><c:layout/>{plot}{axes}</c:plotArea>'
            '<c:legend><c:legendPos val="b"/><c:overlay val="0"/></c:legend><c:plotVisOnly val="1"/>'
            '<c:dispBlanksAs val="gap"/></c:chart></c:chartSpace>').encode()


# -- the package edits ---------------------------------------------------------------------

@dataclass
class SheetEdits:
    """What a summaries write changes: parts replaced or added, and parts dropped."""

    parts: dict[str, bytes | Segments] = field(default_factory=dict)  # Segments: compressed side by side
    drop: set[str] = field(default_factory=set)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _sheet_owned_parts(wb: Workbook, part: str) -> set[str]:
    """The parts a sheettrack sheet brought along: its rels, drawings and their charts."""
    out: set[str] = set()
    rp = rels_part(part)
    if not wb.pkg.has(rp):
        return out
    out.add(rp)
    for rel in wb.rels(rp):
        if rel.get("TargetMode") == "External" or not rel.get("Type", "").endswith("/drawing"):
            continue
        drawing = resolve(part, rel.get("Target", ""))
        if not wb.pkg.has(drawing):
            continue
        out.add(drawing)
        drp = rels_part(drawing)
        if wb.pkg.has(drp):
            out.add(drp)
            for crel in wb.rels(drp):
                if crel.get("Type", "").endswith("/chart") and crel.get("TargetMode") != "External":
                    chart = resolve(drawing, crel.get("Target", ""))
                    if wb.pkg.has(chart):
                        out.add(chart)
                        crp = rels_part(chart)
                        if wb.pkg.has(crp):
                            out.add(crp)
                            for srel in wb.rels(crp):  # chart style and colour parts
                                if srel.get("TargetMode") != "External" and "chart" in srel.get("Type", "").lower():
                                    out.add(resolve(chart, srel.get("Target", "")))
    return out


def plan_sheets(wb: Workbook, specs: list[SheetSpec], remove: list[str] | tuple = (),
                protect: tuple[str, ...] = ()) -> SheetEdits:
    """Work out every part a summaries write changes; nothing is written here.

    A sheet sheettrack built before is rebuilt in place (same position, same part); a new
    one is added at the end. A sheet of the same name that sheettrack did not build is never
    touched: the write is refused. ``remove`` names sheettrack-built sheets to delete.
    """
    pkg = wb.pkg
    label = pkg.label
    ours = built_sheets(wb)
    lowered = {name.lower(): name for name in wb.sheets}
    for spec in specs:
        existing = lowered.get(spec.name.lower())
        if existing is not None and (existing not in ours or existing in protect):
            raise StoreError(f"{label}: a sheet named {existing!r} exists and sheettrack did not build "
                             f"it; rename that sheet or give the summary another name (nothing was "
                             "written)", label)
    remove = [n for n in remove if n in wb.sheets and n not in {s.name for s in specs}]
    for name in remove:
        if name not in ours:
            raise StoreError(f"{label}: sheet {name!r} was not built by sheettrack; it is left as it "
                             "is (nothing was written)", label)

    edits = SheetEdits()
    taken = set(pkg.by_name)
    dropped: set[str] = set()
    for spec in specs:
        existing = lowered.get(spec.name.lower())
        if existing is not None:
            dropped |= _sheet_owned_parts(wb, wb.sheets[existing])
    for name in remove:
        part = wb.sheets[name]
        dropped |= _sheet_owned_parts(wb, part) | {part}
    taken -= dropped

    styles_xml = wb.styles_xml()
    if styles_xml is None:
        raise StoreError(f"{label}: the workbook has no styles part", label)
    st = SheetStyles.prepare(Styles(styles_xml))
    by_name = {s.name: s for s in specs}
    new_sheets: list[tuple[str, str]] = []  # (sheet name, part) of sheets added
    content: dict[str, str] = {}
    for spec in specs:
        existing = lowered.get(spec.name.lower())
        if existing is not None:
            part = wb.sheets[existing]
            taken.add(part)
        else:
            part = free_name(taken, "xl/worksheets/sheet{}.xml")
            new_sheets.append((spec.name, part))
            content[part] = CT_WORKSHEET
        rid = None
        if spec.charts:
            drawing = free_name(taken, "xl/drawings/drawing{}.xml")
            content[drawing] = CT_DRAWING
            chart_rels = []
            for n, chart in enumerate(spec.charts, start=1):
                chart_part = free_name(taken, "xl/charts/chart{}.xml")
                content[chart_part] = CT_CHART
                edits.parts[chart_part] = chart_xml(chart, by_name)
                chart_rels.append((f"rId{n}", "chart", "../charts/" + chart_part.rsplit("/", 1)[1]))
            edits.parts[drawing] = drawing_xml(spec.charts)
            edits.parts[rels_part(drawing)] = relationships([(r, f"{NS_REL}/{k}", t) for r, k, t in chart_rels])
            edits.parts[rels_part(part)] = relationships([("rId1", f"{NS_REL}/drawing",
                                                           "../drawings/" + drawing.rsplit("/", 1)[1])])
            rid = "rId1"
        xml = sheet_xml(spec, st, rid)
        # a long sheet (a Progress of 50,000 runs) is compressed in pieces side by side
        parts = parallel_parts(len(xml))
        edits.parts[part] = Segments(split_chunks([xml], parts)) if parts > 1 else xml
        edits.written.append(spec.name)
    edits.drop = dropped - set(edits.parts)
    edits.removed = list(remove)

    if st.styles.changed and wb.styles_part and st.styles.xml:  # a rebuild finds its styles there already
        edits.parts[wb.styles_part] = st.styles.xml
    lead = [s.name for s in specs if s.lead]
    # open on the Overview unless a person left another tab selected (Excel would group them)
    open_first = bool(lead) and not any(tab_selected(wb, part) for name, part in wb.sheets.items()
                                        if name not in ours and name not in by_name)
    edits.parts.update(sheet_list_edits(wb, pkg.read, new_sheets, content, ours | set(by_name), remove,
                                        edits.drop, lead=lead, open_first=open_first,
                                        titles={s.name: f"${TITLE_ROW}:${HEADER_ROW}" for s in specs}))
    return edits
