"""Summary sheets written into an .xlsx package, part by part.

``plan_sheets`` turns store-neutral ``SheetSpec`` descriptions (see ``sheettrack.summary``)
into worksheet, drawing and chart parts written as XML directly, plus the small edits the
package needs: ``[Content_Types].xml``, ``xl/workbook.xml`` (sheets and defined names), its
relationships, ``docProps/app.xml`` and styles appended to ``xl/styles.xml`` (existing style
indices are never renumbered). ``write_package`` copies every other member's compressed bytes
as they are, so the Runs sheet and everything people added stay byte for byte.

A sheet sheettrack built carries a hidden sheet-level defined name, ``_sheettrack_built``:
it travels with the sheet through renames and re-saves, and a person's own sheet never has
it, so a rebuild replaces only sheettrack's sheets and refuses to touch anyone else's.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from ..cells import col_letter, number_text
from ..errors import StoreError
from ..summary import FIRST_DATA_ROW, HEADER_ROW, TITLE_ROW, CellRange, ChartSpec, SheetSpec
from .excel import Styles, Workbook, _resolve, rels_part
from .ooxml import NS_REL, Package, inline_text

MARKER = "_sheettrack_built"
NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_BASE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_DRAWING = "application/vnd.openxmlformats-officedocument.drawing+xml"
CT_CHART = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
CACHE_MAX_POINTS = 1000  # chart caches beyond this are left to the reader to fill from the cells
EPOCH = _dt.datetime(1899, 12, 30)


def _x(text: str) -> str:
    """Text escaped for XML element content and double-quoted attributes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# -- styles --------------------------------------------------------------------------------

_STYLE_ORDER = ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles",
                "dxfs", "tableStyles", "colors", "extLst"]


def _ensure(xml: bytes, container: str, item: str, item_tag: str) -> tuple[bytes, int]:
    """Index of ``item`` in the styles ``container``, appending it when absent (existing
    entries keep their indices; a rerun finds the entry it appended before)."""
    m = re.search(rb"<((?:\w+:)?)" + container.encode() + rb"\b[^>]*?(/?)>", xml)
    root = re.search(rb"<((?:\w+:)?)styleSheet\b[^>]*>", xml)
    if root is None:
        raise StoreError("the styles part has no styleSheet element")
    p = (m.group(1) if m else root.group(1)).decode()
    body = item.replace("<", "<" + p).replace("<" + p + "/", "</" + p).encode() if p else item.encode()
    count_re = re.compile(rb"<" + re.escape(p.encode()) + item_tag.encode() + rb"\b")
    if m is None:
        later = _STYLE_ORDER[_STYLE_ORDER.index(container) + 1:]
        at = None
        for name in later:
            n = re.search(rb"<" + re.escape(p.encode()) + name.encode() + rb"\b", xml)
            if n is not None:
                at = n.start()
                break
        if at is None:
            at = xml.rfind(b"</" + p.encode() + b"styleSheet>")
        block = f'<{p}{container} count="1">'.encode() + body + f"</{p}{container}>".encode()
        return xml[:at] + block + xml[at:], 0
    if m.group(2) == b"/":
        block = f'<{p}{container} count="1">'.encode() + body + f"</{p}{container}>".encode()
        return xml[:m.start()] + block + xml[m.end():], 0
    close = xml.find(f"</{p}{container}>".encode(), m.end())
    content = xml[m.end():close]
    found = content.find(body)
    if found >= 0:
        return xml, len(count_re.findall(content, 0, found))
    n = len(count_re.findall(content))
    start = xml[m.start():m.end()]
    start = re.sub(rb'count="\d+"', b'count="%d"' % (n + 1), start) if b"count=" in start else \
        start[:-1] + b' count="%d">' % (n + 1)
    return xml[:m.start()] + start + content + body + xml[close:], n


@dataclass
class SheetStyles:
    """The style indices summary sheets use, appended to the workbook's styles once."""

    styles: Styles
    title: int = 0
    header: int = 0
    best: int = 0
    wrap: int = 0
    formats: dict[str | None, int | None] = field(default_factory=dict)

    @classmethod
    def prepare(cls, xml: bytes) -> SheetStyles:
        xml, title_font = _ensure(xml, "fonts", '<font><b/><sz val="14"/><color rgb="FF1F3864"/>'
                                  '<name val="Calibri"/><family val="2"/></font>', "font")
        xml, head_font = _ensure(xml, "fonts", '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/>'
                                 '<name val="Calibri"/><family val="2"/></font>', "font")
        xml, head_fill = _ensure(xml, "fills", '<fill><patternFill patternType="solid">'
                                 '<fgColor rgb="FF305496"/><bgColor indexed="64"/></patternFill></fill>', "fill")
        xml, title = _ensure(xml, "cellXfs", f'<xf numFmtId="0" fontId="{title_font}" fillId="0" '
                             'borderId="0" xfId="0" applyFont="1"/>', "xf")
        xml, header = _ensure(xml, "cellXfs", f'<xf numFmtId="0" fontId="{head_font}" fillId="{head_fill}" '
                              'borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1">'
                              '<alignment wrapText="1" vertical="center"/></xf>', "xf")
        xml, best = _ensure(xml, "dxfs", '<dxf><font><b/><color rgb="FF006100"/></font><fill>'
                            '<patternFill><bgColor rgb="FFC6EFCE"/></patternFill></fill></dxf>', "dxf")
        return cls(Styles(xml), title, header, best)

    def number(self, fmt: str | None) -> int | None:
        if fmt not in self.formats:
            self.formats[fmt] = self.styles.xf_for(fmt)
        return self.formats[fmt]

    @property
    def xml(self) -> bytes:
        return self.styles.xml


# -- a worksheet ---------------------------------------------------------------------------

def _cell(ref: str, value: Any, style: int | None) -> str:
    s = f' s="{style}"' if style is not None else ""
    if value is None:
        return f'<c r="{ref}"{s}/>' if style is not None else ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return ""
        return f'<c r="{ref}"{s}><v>{number_text(value)}</v></c>'
    if isinstance(value, _dt.datetime):
        naive = value.astimezone(_dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        serial = (naive - EPOCH).total_seconds() / 86400
        return f'<c r="{ref}"{s}><v>{number_text(serial)}</v></c>'
    if isinstance(value, _dt.date):
        return f'<c r="{ref}"{s}><v>{(value - EPOCH.date()).days}</v></c>'
    return f'<c r="{ref}"{s} t="inlineStr"><is>{inline_text(str(value)).decode("utf-8")}</is></c>'


def _column_cells(letter: str, rows: range, values: list[Any], style: int | None) -> list[str]:
    """The cells of one column, one string per row: plain numbers and text in one pass each,
    anything else cell by cell."""
    kinds = set(map(type, values))
    s = f' s="{style}"' if style is not None else ""
    if kinds <= {float, type(None)} and all(v is None or math.isfinite(v) for v in values):
        return [f'<c r="{letter}{r}"{s}><v>{v!r}</v></c>' if v is not None else ""
                for r, v in zip(rows, values)]
    if kinds and all(issubclass(k, _dt.datetime) or k is type(None) for k in kinds) and all(
            v is None or v.tzinfo is not None for v in values):
        # an aware datetime's Excel serial: days since 1899-12-30 in UTC (the Unix epoch is 25569)
        import pandas as pd

        try:
            stamps = pd.DatetimeIndex([pd.NaT if v is None else v for v in values]).tz_convert("UTC").as_unit("ns")
            serials = (stamps.asi8 / 86_400e9 + 25569).tolist()
        except (TypeError, ValueError):  # mixed time zones: one at a time
            serials = [0.0 if v is None else v.timestamp() / 86400 + 25569 for v in values]
        return [f'<c r="{letter}{r}"{s}><v>{x!r}</v></c>' if v is not None else ""
                for r, v, x in zip(rows, values, serials)]
    if kinds <= {int, type(None)}:
        return [f'<c r="{letter}{r}"{s}><v>{v}</v></c>' if v is not None else "" for r, v in zip(rows, values)]
    if kinds <= {str, type(None)} and _plain_texts([v for v in values if v]):
        return [f'<c r="{letter}{r}"{s} t="inlineStr"><is><t>{v}</t></is></c>' if v else ""
                for r, v in zip(rows, values)]
    return [_cell(f"{letter}{r}", v, style if v is not None else None) for r, v in zip(rows, values)]


_NEEDS_CARE = re.compile("[&<>\x00-\x1f\ufffe\uffff]|_x")


def _plain_texts(texts: list[str]) -> bool:
    """Whether every text can go in a ``<t>`` as it is: nothing to escape, no escape shape,
    no space at either end (those need ``xml:space``); one search over all of them."""
    return _NEEDS_CARE.search("|".join(texts)) is None and all(t == t.strip() for t in texts)


def sheet_xml(spec: SheetSpec, st: SheetStyles, drawing_rid: str | None) -> bytes:
    """The worksheet part of one summary sheet."""
    ncols = max(1, len(spec.header))
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
        f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{REL_BASE}">',
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
    out.append(f'<row r="{TITLE_ROW}" ht="21" customHeight="1">'
               f'{_cell(f"A{TITLE_ROW}", spec.title, st.title)}</row>')
    out.append(f'<row r="{HEADER_ROW}">' + "".join(
        _cell(f"{col_letter(i)}{HEADER_ROW}", h, st.header) for i, h in enumerate(spec.header)) + "</row>")
    letters = [col_letter(i) for i in range(ncols)]
    numbers = range(FIRST_DATA_ROW, FIRST_DATA_ROW + len(spec.rows))
    columns = [_column_cells(letters[i], numbers, [row[i] if i < len(row) else None for row in spec.rows],
                             styles[i]) for i in range(ncols)] if spec.rows else []
    out.extend(f'<row r="{r}">{"".join(cells)}</row>' for r, cells in zip(numbers, zip(*columns)))
    out.append("</sheetData>")
    if spec.rows:
        for prio, (i, goal) in enumerate(sorted(spec.best.items()), start=1):
            rng = f"{letters[i]}{FIRST_DATA_ROW}:{letters[i]}{last}"
            bottom = ' bottom="1"' if goal == "min" else ""
            out.append(f'<conditionalFormatting sqref="{rng}"><cfRule type="top10" dxfId="{st.best}" '
                       f'priority="{prio}" rank="1"{bottom}/></conditionalFormatting>')
    out.append('<pageMargins left="0.5" right="0.5" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>')
    out.append('<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>')
    if drawing_rid:
        out.append(f'<drawing r:id="{drawing_rid}"/>')
    out.append("</worksheet>")
    return "".join(out).encode("utf-8")


# -- drawings and charts -------------------------------------------------------------------

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
            f'xmlns:r="{REL_BASE}">' + "".join(anchors) + "</xdr:wsDr>").encode("utf-8")


def _rich(text: str, size: int) -> str:
    return (f'<c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="{size}" b="1"/></a:pPr>'
            f'<a:r><a:rPr lang="en-US" sz="{size}" b="1"/><a:t>{_x(text)}</a:t></a:r></a:p></c:rich></c:tx>')


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
        cache = (f"<c:numCache><c:formatCode>{_x(fmt or 'General')}</c:formatCode>"
                 f'<c:ptCount val="{len(values)}"/>{pts}</c:numCache>')
    return f"<c:numRef><c:f>{_x(rng.a1())}</c:f>{cache}</c:numRef>"


def _str_ref(rng: CellRange, specs: dict[str, SheetSpec]) -> str:
    values = _values_of(rng, specs)
    cache = ""
    if values is not None and len(values) <= CACHE_MAX_POINTS:
        pts = "".join(f'<c:pt idx="{i}"><c:v>{_x(_text(v))}</c:v></c:pt>' for i, v in enumerate(values)
                      if v is not None)
        cache = f'<c:strCache><c:ptCount val="{len(values)}"/>{pts}</c:strCache>'
    return f"<c:strRef><c:f>{_x(rng.a1())}</c:f>{cache}</c:strRef>"


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
        tx = f"<c:tx><c:v>{_x(s.title)}</c:v></c:tx>"
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
    y_fmt = (f'<c:numFmt formatCode="{_x(chart.y_format)}" sourceLinked="0"/>' if chart.y_format
             else '<c:numFmt formatCode="General" sourceLinked="1"/>')
    axes = ('<c:catAx><c:axId val="500000001"/><c:scaling><c:orientation val="minMax"/></c:scaling>'
            f'<c:delete val="0"/><c:axPos val="b"/>{x_title}<c:numFmt formatCode="General" sourceLinked="1"/>'
            '<c:majorTickMark val="out"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="500000002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
            '<c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
            '<c:valAx><c:axId val="500000002"/><c:scaling><c:orientation val="minMax"/></c:scaling>'
            f'<c:delete val="0"/><c:axPos val="l"/><c:majorGridlines/>{y_title}{y_fmt}'
            '<c:majorTickMark val="out"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="500000001"/><c:crosses val="autoZero"/><c:crossBetween val="between"/></c:valAx>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
            'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            f'xmlns:r="{REL_BASE}"><c:roundedCorners val="0"/><c:chart>'
            f'<c:title>{_rich(chart.title, 1200)}<c:overlay val="0"/></c:title>'
            f'<c:autoTitleDeleted val="0"/><c:plotArea><c:layout/>{plot}{axes}</c:plotArea>'
            '<c:legend><c:legendPos val="b"/><c:overlay val="0"/></c:legend><c:plotVisOnly val="1"/>'
            '<c:dispBlanksAs val="gap"/></c:chart></c:chartSpace>').encode()


def _rels(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(f'<Relationship Id="{rid}" Type="{REL_BASE}/{kind}" Target="{_x(target)}"/>'
                   for rid, kind, target in items)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + body + "</Relationships>").encode("utf-8")


# -- the package edits ---------------------------------------------------------------------

@dataclass
class SheetEdits:
    """What a summaries write changes: parts replaced or added, and parts dropped."""

    parts: dict[str, bytes] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


_SHEET_TAG = re.compile(rb"<((?:\w+:)?)sheet\b[^>]*?/>|<((?:\w+:)?)sheet\b[^>]*>.*?</(?:\w+:)?sheet>", re.S)
_DEFINED = re.compile(rb"<((?:\w+:)?)definedName\b([^>]*)>(.*?)</(?:\w+:)?definedName>|"
                      rb"<(?:\w+:)?definedName\b[^>]*/>", re.S)


def _attr_of(tag: bytes, name: str) -> str | None:
    m = re.search(rb"(?:^|\s)" + re.escape(name.encode()) + rb'\s*=\s*"([^"]*)"', tag)
    return html.unescape(m.group(1).decode("utf-8")) if m else None


def _rel_prefix(root_tag: bytes) -> str:
    for m in re.finditer(rb'xmlns:(\w+)="([^"]*)"', root_tag):
        if m.group(2).decode() in (NS_REL, "http://purl.oclc.org/ooxml/officeDocument/relationships"):
            return m.group(1).decode()
    return "r"


def built_sheets(wb: Workbook) -> set[str]:
    """Names of the sheets sheettrack built (those carrying the sheet-level marker name)."""
    xml = wb.pkg.read(wb.workbook_part)
    names = [_attr_of(m.group(0), "name") for m in _SHEET_TAG.finditer(xml)]
    out = set()
    for m in _DEFINED.finditer(xml):
        tag = m.group(0)
        if _attr_of(tag.split(b">", 1)[0], "name") == MARKER:
            sid = _attr_of(tag.split(b">", 1)[0], "localSheetId")
            if sid is not None and sid.isdigit() and int(sid) < len(names):
                out.add(names[int(sid)])
    return out


def _free(taken: set[str], pattern: str) -> str:
    n = 1
    while pattern.format(n) in taken:
        n += 1
    name = pattern.format(n)
    taken.add(name)
    return name


def _sheet_owned_parts(wb: Workbook, part: str) -> set[str]:
    """The parts a sheettrack sheet brought along: its rels, drawings and their charts."""
    out: set[str] = set()
    rp = rels_part(part)
    if not wb.pkg.has(rp):
        return out
    out.add(rp)
    for rel in wb._rels(rp):
        if rel.get("TargetMode") == "External" or not rel.get("Type", "").endswith("/drawing"):
            continue
        drawing = _resolve(part, rel.get("Target", ""))
        if not wb.pkg.has(drawing):
            continue
        out.add(drawing)
        drp = rels_part(drawing)
        if wb.pkg.has(drp):
            out.add(drp)
            for crel in wb._rels(drp):
                if crel.get("Type", "").endswith("/chart") and crel.get("TargetMode") != "External":
                    chart = _resolve(drawing, crel.get("Target", ""))
                    if wb.pkg.has(chart):
                        out.add(chart)
                        crp = rels_part(chart)
                        if wb.pkg.has(crp):
                            out.add(crp)
                            for srel in wb._rels(crp):  # chart style and colour parts
                                if srel.get("TargetMode") != "External" and "chart" in srel.get("Type", "").lower():
                                    out.add(_resolve(chart, srel.get("Target", "")))
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

    styles_xml = pkg.read(wb.styles_part) if wb.styles_part and pkg.has(wb.styles_part) else None
    if styles_xml is None:
        raise StoreError(f"{label}: the workbook has no styles part", label)
    st = SheetStyles.prepare(styles_xml)
    by_name = {s.name: s for s in specs}
    new_sheets: list[tuple[str, str]] = []  # (sheet name, part) of sheets added
    content: dict[str, str] = {}
    for spec in specs:
        existing = lowered.get(spec.name.lower())
        if existing is not None:
            part = wb.sheets[existing]
            taken.add(part)
        else:
            part = _free(taken, "xl/worksheets/sheet{}.xml")
            new_sheets.append((spec.name, part))
            content[part] = CT_WORKSHEET
        rid = None
        if spec.charts:
            drawing = _free(taken, "xl/drawings/drawing{}.xml")
            content[drawing] = CT_DRAWING
            chart_rels = []
            for n, chart in enumerate(spec.charts, start=1):
                chart_part = _free(taken, "xl/charts/chart{}.xml")
                content[chart_part] = CT_CHART
                edits.parts[chart_part] = chart_xml(chart, by_name)
                chart_rels.append((f"rId{n}", "chart", "../charts/" + chart_part.rsplit("/", 1)[1]))
            edits.parts[drawing] = drawing_xml(spec.charts)
            edits.parts[rels_part(drawing)] = _rels(chart_rels)
            edits.parts[rels_part(part)] = _rels([("rId1", "drawing", "../drawings/" + drawing.rsplit("/", 1)[1])])
            rid = "rId1"
        edits.parts[part] = sheet_xml(spec, st, rid)
        edits.written.append(spec.name)
    edits.drop = dropped - set(edits.parts)
    edits.removed = list(remove)

    edits.parts[wb.styles_part] = st.xml
    edits.parts["[Content_Types].xml"] = _content_types(pkg.read("[Content_Types].xml"), content, edits.drop)
    wrp = rels_part(wb.workbook_part)
    edits.parts[wrp], rids = _workbook_rels(pkg.read(wrp), wb, new_sheets, remove)
    wb_xml, order = _workbook_xml(pkg.read(wb.workbook_part), wb, new_sheets, rids, remove,
                                  ours | set(by_name))
    edits.parts[wb.workbook_part] = wb_xml
    if pkg.has("docProps/app.xml"):
        edits.parts["docProps/app.xml"] = _app_xml(pkg.read("docProps/app.xml"), order)
    return edits


def _content_types(xml: bytes, add: dict[str, str], drop: set[str]) -> bytes:
    for part in drop | set(add):
        xml = re.sub(rb'<(?:\w+:)?Override\b[^>]*PartName="/' + re.escape(part.encode()) + rb'"[^>]*/>', b"", xml)
    m = re.search(rb"<((?:\w+:)?)Types\b", xml)
    p = m.group(1).decode() if m else ""
    extra = "".join(f'<{p}Override PartName="/{_x(part)}" ContentType="{ct}"/>' for part, ct in add.items())
    close = xml.rfind(f"</{p}Types>".encode())
    return xml[:close] + extra.encode() + xml[close:]


def _rel_id(existing: set[str]) -> str:
    n = 1
    while f"rId{n}" in existing:
        n += 1
    existing.add(f"rId{n}")
    return f"rId{n}"


def _workbook_rels(xml: bytes, wb: Workbook, new_sheets: list[tuple[str, str]],
                   remove: list[str]) -> tuple[bytes, dict[str, str]]:
    ids = set(wb.wb_rels)
    out = xml
    for name in remove:
        rid = _sheet_rid(wb, name)
        out = re.sub(rb'<(?:\w+:)?Relationship\b[^>]*\bId="' + re.escape(rid.encode()) + rb'"[^>]*/>', b"", out)
    m = re.search(rb"<((?:\w+:)?)Relationships\b", out)
    p = m.group(1).decode() if m else ""
    folder = wb.workbook_part.rsplit("/", 1)[0] + "/" if "/" in wb.workbook_part else ""
    adds = []
    rids: dict[str, str] = {}  # sheet name -> relationship id, for the workbook part
    for name, part in new_sheets:
        rid = _rel_id(ids)
        rids[name] = rid
        target = part[len(folder):] if part.startswith(folder) else "/" + part
        adds.append(f'<{p}Relationship Id="{rid}" Type="{REL_BASE}/worksheet" Target="{_x(target)}"/>')
    close = out.rfind(f"</{p}Relationships>".encode())
    return out[:close] + "".join(adds).encode() + out[close:], rids


def _sheet_rid(wb: Workbook, name: str) -> str:
    xml = wb.pkg.read(wb.workbook_part)
    for m in _SHEET_TAG.finditer(xml):
        tag = m.group(0)
        if _attr_of(tag, "name") == name:
            for key, value in re.findall(rb'([\w:]+)\s*=\s*"([^"]*)"', tag):
                if key.endswith(b":id"):
                    return value.decode()
    raise StoreError(f"{wb.pkg.label}: sheet {name!r} has no relationship id")


def _workbook_xml(xml: bytes, wb: Workbook, new_sheets: list[tuple[str, str]], rids: dict[str, str],
                  remove: list[str], marked: set[str]) -> tuple[bytes, list[str]]:
    """The workbook part with sheets added and removed, and the marker names of sheettrack's
    sheets; sheet-level names of other sheets follow their sheet's new position."""
    root = re.search(rb"<(?:\w+:)?workbook\b[^>]*>", xml)
    rp = _rel_prefix(root.group(0) if root else b"")
    tags = list(_SHEET_TAG.finditer(xml))
    if not tags:
        raise StoreError(f"{wb.pkg.label}: the workbook lists no sheets")
    p = (tags[0].group(1) or tags[0].group(2) or b"").decode()
    names = [_attr_of(t.group(0), "name") or "" for t in tags]
    keep = [n for n in names if n not in remove]
    order = keep + [n for n, _ in new_sheets]
    ids = [int(v) for t in tags if (v := _attr_of(t.group(0), "sheetId") or "").isdigit()]
    next_id = max(ids, default=0) + 1
    pieces = []
    pos = 0
    for t, n in zip(tags, names):
        pieces.append(xml[pos:t.start()])
        if n not in remove:
            pieces.append(t.group(0))
        pos = t.end()
    added = "".join(f'<{p}sheet name="{_x(n)}" sheetId="{next_id + i}" {rp}:id="{rids[n]}"/>'
                    for i, (n, _) in enumerate(new_sheets)).encode()
    pieces.append(added)
    out = b"".join(pieces) + xml[pos:]
    new_index = {n: i for i, n in enumerate(order)}

    def renumber(m: re.Match) -> bytes:
        tag = m.group(0)
        start = tag.split(b">", 1)[0]
        if _attr_of(start, "name") == MARKER:
            return b""
        sid = _attr_of(start, "localSheetId")
        if sid is None or not sid.isdigit():
            return tag
        idx = int(sid)
        owner = names[idx] if idx < len(names) else None
        if owner is None or owner in remove:
            return b""
        return re.sub(rb'localSheetId="\d+"', b'localSheetId="%d"' % new_index[owner], tag, count=1)

    out = _DEFINED.sub(renumber, out)
    marks = "".join(f'<{p}definedName name="{MARKER}" localSheetId="{new_index[n]}" hidden="1">'
                    f"{_x(CellRange(n, 0, 1, 0, 1).a1().split(':')[0])}</{p}definedName>"
                    for n in order if n in marked).encode()
    m = re.search(rb"<((?:\w+:)?)definedNames\b[^>]*?(/?)>", out)
    if m is not None and m.group(2) != b"/":
        close = out.find(f"</{p}definedNames>".encode(), m.end())
        out = out[:close] + marks + out[close:]
    else:
        if m is not None:
            out = out[:m.start()] + out[m.end():]
        block = f"<{p}definedNames>".encode() + marks + f"</{p}definedNames>".encode()
        after = None
        for name in ("externalReferences", "functionGroups", "sheets"):
            e = re.search(rb"</" + re.escape(p.encode()) + name.encode() + rb">", out)
            if e is not None:
                after = e.end()
                break
        out = out[:after] + block + out[after:]
    out = re.sub(rb"<(?:\w+:)?definedNames>\s*</(?:\w+:)?definedNames>", b"", out)
    if remove:  # the active and first visible tabs must still point at a sheet
        def clamp(m: re.Match) -> bytes:
            value = int(m.group(2))
            moved = names[value] if value < len(names) else None
            return m.group(1) + b'="%d"' % (new_index.get(moved, 0) if moved else 0)

        out = re.sub(rb'(activeTab|firstSheet)="(\d+)"', clamp, out)
    return out, order


def _app_xml(xml: bytes, order: list[str]) -> bytes:
    """docProps/app.xml with the worksheet titles (and their count) of the new sheet list."""
    hp = re.search(rb"<((?:\w+:)?)HeadingPairs>(.*?)</(?:\w+:)?HeadingPairs>", xml, re.S)
    tp = re.search(rb"<((?:\w+:)?)TitlesOfParts>(.*?)</(?:\w+:)?TitlesOfParts>", xml, re.S)
    if hp is None or tp is None:
        return xml
    pairs = re.findall(rb"<(?:\w+:)?lpstr>(.*?)</(?:\w+:)?lpstr>\s*</(?:\w+:)?variant>\s*<(?:\w+:)?variant>\s*"
                       rb"<(?:\w+:)?i4>(\d+)</(?:\w+:)?i4>", hp.group(2), re.S)
    old_ws = 0
    for title, count in pairs:
        if title in (b"Worksheets", b"Arbeitsbl\xc3\xa4tter") or title.lower().startswith(b"work"):
            old_ws = int(count)
            break
    else:
        return xml
    titles = re.findall(rb"<(?:\w+:)?lpstr>.*?</(?:\w+:)?lpstr>", tp.group(2), re.S)
    vp = re.search(rb"<((?:\w+:)?)vector\b", tp.group(2))
    vprefix = vp.group(1) if vp else b"vt:"
    new_titles = [b"<" + vprefix + b"lpstr>" + _x(n).encode() + b"</" + vprefix + b"lpstr>" for n in order]
    all_titles = new_titles + titles[old_ws:]
    vector = (b"<" + vprefix + b'vector size="%d" baseType="lpstr">' % len(all_titles) + b"".join(all_titles)
              + b"</" + vprefix + b"vector>")
    tp_new = xml[tp.start():tp.start(2)] + vector + xml[tp.end(2):tp.end()]
    hp_body = re.sub(rb"(Worksheets</(?:\w+:)?lpstr>\s*</(?:\w+:)?variant>\s*<(?:\w+:)?variant>\s*<(?:\w+:)?i4>)\d+",
                     lambda m: m.group(1) + str(len(order)).encode(), hp.group(2))
    hp_new = xml[hp.start():hp.start(2)] + hp_body + xml[hp.end(2):hp.end()]
    if hp.start() < tp.start():
        return xml[:hp.start()] + hp_new + xml[hp.end():tp.start()] + tp_new + xml[tp.end():]
    return xml[:tp.start()] + tp_new + xml[tp.end():hp.start()] + hp_new + xml[hp.end():]


# -- writing the zip -----------------------------------------------------------------------

_LFH = b"PK\x03\x04"
_CDH = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"


def write_package(pkg: Package, fh: Any, parts: dict[str, bytes], drop: set[str], level: int = 1) -> None:
    """Write ``pkg`` to ``fh`` with ``parts`` replaced or added and ``drop`` left out.

    Members not named are copied as their exact compressed bytes, in their order, with
    their central records; the zip comment (the Runs sheet's segment index) is kept, since
    the Runs member is copied unchanged.
    """
    central: list[bytes] = []
    pos = 0
    done: set[str] = set()
    for e in pkg.entries:
        if e.name in drop and e.name not in parts:
            continue
        if e.name in parts:
            rec, pos = _member(fh, pos, e.name, parts[e.name], level, e.central)
            done.add(e.name)
        else:
            pkg._copy(fh, e.offset, e.end - e.offset)
            rec = e.central[:42] + struct.pack("<I", pos) + e.central[46:]
            pos += e.end - e.offset
        central.append(rec)
    for name, data in parts.items():
        if name not in done:
            rec, pos = _member(fh, pos, name, data, level, None)
            central.append(rec)
    start = pos
    for rec in central:
        fh.write(rec)
        pos += len(rec)
    comment = pkg.comment
    fh.write(_EOCD + struct.pack("<HHHHIIH", 0, 0, len(central), len(central), pos - start, start,
                                 len(comment)) + comment)


def _member(fh: Any, pos: int, name: str, data: bytes, level: int, old: bytes | None) -> tuple[bytes, int]:
    name_b = name.encode("utf-8")
    flags = 0x800 if any(b > 127 for b in name_b) else 0
    if old is not None:
        dostime, dosdate = struct.unpack("<HH", old[12:16])
    else:
        now = _dt.datetime.now()
        dostime = now.hour << 11 | now.minute << 5 | now.second // 2
        dosdate = (now.year - 1980) << 9 | now.month << 5 | now.day
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    packed = comp.compress(data) + comp.flush()
    crc = zlib.crc32(data)
    if len(data) >= 0xFFFFFFFF or pos + len(packed) >= 0xFFFFFFFF:
        raise StoreError("a workbook part grew past 4 GB; zip64 is not supported")
    fh.write(_LFH + struct.pack("<HHHHHIIIHH", 20, flags, 8, dostime, dosdate, crc, len(packed),
                                len(data), len(name_b), 0) + name_b)
    fh.write(packed)
    rec = _CDH + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, flags, 8, dostime, dosdate, crc, len(packed),
                             len(data), len(name_b), 0, 0, 0, 0, 0, pos) + name_b
    return rec, pos + 30 + len(name_b) + len(packed)


def write_sheets(store: Any, specs: list[SheetSpec], remove: list[str] | tuple = (),
                 protect: tuple[str, ...] = ()) -> list[str]:
    """Write ``specs`` into the workbook of an ``ExcelStore`` under its lock, atomically."""
    lock = store._lock()
    try:
        store._check_owner()
        with store._package() as pkg:
            edits = plan_sheets(Workbook(pkg), specs, remove, protect)
            store._replace_with(lambda fh: write_package(pkg, fh, edits.parts, edits.drop), pkg.source)
    except OSError as exc:
        raise StoreError(f"{store.target}: cannot write: {exc.strerror or exc}", store.target) from None
    finally:
        lock.release()
    return edits.written
