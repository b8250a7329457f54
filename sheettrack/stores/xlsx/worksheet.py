"""Worksheet parts: locating the header and the last row, writing cells and rows, and
appending rows as independently compressed segments.

``cell_xml`` is the one writer of a cell, whichever sheet it goes to. ``edit_sheet``
appends rows to a worksheet part as it stands (adding header columns on the right first);
``new_sheet_xml`` lays out a new one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from ...cells import Cell, col_letter, number_text
from ...errors import CorruptWorkbookError
from ...schema import Column
from .styles import Styles
from .xml import (
    NS_MAIN,
    NS_REL,
    attrs,
    cell_value,
    grow_ref_tag,
    inline_text,
    range_ref,
    row_cells,
    split_ref,
)
from .zip import Segments, parallel_parts, split_chunks

EXCEL_TEXT_LIMIT = 32_767
ANCHOR_BYTES = 32 << 10  # deflate's window: the most an append can refer back to


class SheetXml:
    """A worksheet part, located: where its header row, last row and sheetData end are."""

    def __init__(self, xml: bytes, label: str, shared: Any) -> None:
        self.xml = xml
        self.label = label
        m = re.search(rb"<((?:\w+:)?)sheetData\b[^>]*?(/?)>", xml)
        if m is None:
            raise CorruptWorkbookError(f"{label}: worksheet has no sheetData")
        self.p = m.group(1)
        self.sd_start = m.start()
        self.body = m.end()
        self.self_closing = m.group(2) == b"/"
        self.close = m.start() if self.self_closing else xml.rfind(b"</" + self.p + b"sheetData>")
        if self.close < 0:
            raise CorruptWorkbookError(f"{label}: worksheet is damaged (sheetData never ends)")
        self._row_re = re.compile(rb"<" + re.escape(self.p) + rb"row[\s>/]")
        self.header: dict[int, str] = {}
        self.not_text: set[int] = set()  # header cells holding numbers or booleans
        self.header_style: str | None = None
        self.header_span: tuple[int, int] | None = None
        self.cut = self.close
        self.last_row = 0
        if not self.self_closing:
            self._find_header(shared)
            self._find_last_row()

    def _row_end(self, start: int) -> int:
        tag_end = self.xml.find(b">", start)
        if self.xml[tag_end - 1:tag_end] == b"/":
            return tag_end + 1
        close = self.xml.find(b"</" + self.p + b"row>", tag_end)
        return close + len(b"</" + self.p + b"row>")

    def _find_header(self, shared: Any) -> None:
        m = self._row_re.search(self.xml, self.body, self.close)
        if m is None:
            return
        end = self._row_end(m.start())
        tag = attrs(self.xml[m.start():self.xml.find(b">", m.start())])
        if tag.get("r", "1") != "1":
            return
        self.header_span = (m.start(), end)
        frag = self.xml[m.start():end]
        root_tag = re.search(rb"<(?:\w+:)?worksheet\b[^>]*>", self.xml)
        decls = b" ".join(re.findall(rb'xmlns(?::\w+)?="[^"]*"', root_tag.group() if root_tag else b""))
        wrapped = b"<wrap " + decls + b">" + frag + b"</wrap>"
        try:
            row = ET.fromstring(wrapped)[0]
        except ET.ParseError as exc:
            raise CorruptWorkbookError(f"{self.label}: damaged header row ({exc})") from None
        sst = None
        for col, c in row_cells(row):
            if c.get("t") == "s" and sst is None:
                sst = shared()
            value = cell_value(c, sst)
            if value not in (None, ""):
                self.header[col] = str(value)
                self.header_style = c.get("s")
                if not isinstance(value, str) or c.get("t") not in ("s", "inlineStr", "str"):
                    self.not_text.add(col)

    def _find_last_row(self) -> None:
        xml, p = self.xml, self.p
        has_value = re.compile(rb"<" + re.escape(p) + rb"(?:v|is|f)[\s>/]")
        end = self.close
        pos = end
        cut = end
        while True:
            start = xml.rfind(b"<" + p + b"row", self.body, pos)
            while start >= 0 and xml[start + len(p) + 4:start + len(p) + 5] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
                start = xml.rfind(b"<" + p + b"row", self.body, start)
            if start < 0:
                break
            if has_value.search(xml, start, cut) or start == (self.header_span or (-1,))[0]:
                tag = attrs(xml[start:xml.find(b">", start)])
                if "r" in tag:
                    self.last_row = int(tag["r"])
                else:
                    self.last_row = len(self._row_re.findall(xml, self.body, cut))
                break
            cut = start  # an empty (formatting-only) row after the data: dropped on append
            pos = start
        self.cut = cut

    def table_names(self) -> list[str]:
        """The header as a table may take it: cells that are not text count as unnamed."""
        return ["" if i in self.not_text else n for i, n in enumerate(self.header_list())]

    def header_list(self) -> list[str]:
        """The header as a list (gaps as empty strings)."""
        if not self.header:
            return []
        width = max(self.header) + 1
        return [self.header.get(i, "") for i in range(width)]


def cell_xml(ref: str, cell: Cell | None, style: int | None = None, p: bytes = b"") -> bytes:
    """One ``<c>`` element: the one cell writer, for run rows, reference rows, headers and
    summary sheets alike (``p`` is the worksheet's namespace prefix). Text is an inline
    string, never a formula; an empty cell is written only when it carries a style."""
    body = cell_body(cell, style, p)
    return b'<%sc r="%s"%s' % (p, ref.encode(), body) if body else b""


def cell_body(cell: Cell | None, style: int | None = None, p: bytes = b"") -> bytes:
    """What ``cell_xml`` writes after the cell's reference (empty: no cell): the same for a
    value wherever it stands, so a batch's repeated values are written once."""
    s = b' s="%d"' % style if style else b""
    if cell is None:
        return b"%s/>" % s if s else b""
    if cell.kind == "n":
        return b'%s><%sv>%s</%sv></%sc>' % (s, p, number_text(cell.value).encode(), p, p)
    if cell.kind == "b":
        return b'%s t="b"><%sv>%d</%sv></%sc>' % (s, p, 1 if cell.value else 0, p, p)
    if cell.kind == "d":
        v = cell.value
        if isinstance(v, _dt.datetime):
            text = v.astimezone(_dt.timezone.utc).replace(tzinfo=None).isoformat()
        else:
            text = v.isoformat()
        return b'%s t="d"><%sv>%s</%sv></%sc>' % (s, p, text.encode(), p, p)
    return b'%s t="inlineStr"><%sis>%s</%sis></%sc>' % (s, p, inline_text(cell.value, p), p, p)


@dataclass(frozen=True)
class GridColumn:
    """One column of cells for ``grid_xml``: kind "n" (ints and finite floats, None for no
    cell), "s" (texts ``plain_texts`` passes; None or "" for no cell), or "x" (each cell's
    XML already written, empty bytes for no cell)."""

    letter: str
    kind: str
    values: list[Any]
    style: int | None = None


def grid_xml(numbers: range, columns: list[GridColumn], p: bytes = b"") -> bytes:
    """The ``<row>`` elements of rows ``numbers`` holding ``columns``: the XML ``cell_xml``
    writes for each value, with a row whose every cell is there written by one string
    format (50,000 rows of a summary sheet cost tens of milliseconds, not a call per cell)."""
    pieces = [b'<%srow r="%%d">' % p]
    seqs: list[Any] = [numbers]
    cells: list[bytes | None] = []  # each column's one-cell format; None for written cells
    for col in columns:
        s = b' s="%d"' % col.style if col.style else b""
        ref = col.letter.encode()
        if col.kind == "x":
            pieces.append(b"%s")
            seqs.append(col.values)
            cells.append(None)
            continue
        if col.kind == "n":  # %a is repr(): the shortest text that reads back as the same float
            one = b'<%sc r="%s%%d"%s><%sv>%%a</%sv></%sc>' % (p, ref, s, p, p, p)
            values = col.values
        else:
            one = b'<%sc r="%s%%d"%s t="inlineStr"><%sis><%st>%%s</%st></%sis></%sc>' % (
                p, ref, s, p, p, p, p, p)
            values = [v.encode("utf-8") if v else None for v in col.values]
        pieces.append(one)
        seqs += [numbers, values]
        cells.append(one)
    pieces.append(b"</%srow>" % p)
    whole = b"".join(pieces)

    def gaps(args: tuple[Any, ...]) -> bytes:  # a row with a missing cell: cell by cell
        r, i = args[0], 1
        out = [b'<%srow r="%d">' % (p, r)]
        for one in cells:
            if one is None:
                out.append(args[i])
                i += 1
            else:
                if args[i + 1] is not None:
                    out.append(one % (r, args[i + 1]))
                i += 2
        out.append(b"</%srow>" % p)
        return b"".join(out)

    return b"".join(gaps(args) if None in args else whole % args for args in zip(*seqs))


def header_cell_xml(ref: str, text: str, style: str | None, p: bytes = b"") -> bytes:
    """A header cell, styled like the header cells already there (``style`` as found)."""
    return cell_xml(ref, Cell("s", text), int(style) if style and style.isdigit() else None, p)


def dimension(head: bytes, p: bytes, width: int, last_row: int) -> tuple[int, int, bytes] | None:
    """The piece that rewrites ``<dimension ref>`` for the new extent (None when absent)."""
    dim = re.search(rb"<" + re.escape(p) + rb"dimension\b[^>]*>", head)
    if dim is None:
        return None
    old_cols = 0
    with contextlib.suppress(ValueError):
        old_cols = split_ref(attrs(dim.group()).get("ref", "A1").split(":")[-1])[0] + 1
    ref = range_ref(0, 1, max(width, old_cols, 1) - 1, max(last_row, 1)).encode()
    return dim.start(), dim.end(), re.sub(rb'ref="[^"]*"', b'ref="' + ref + b'"', dim.group())


def autofilter(tail: bytes, p: bytes, old_last: int, new_last: int, width: int) -> tuple[int, int, bytes] | None:
    """The piece that grows a worksheet-level autofilter with the data (None when unchanged)."""
    af = re.search(rb"<" + re.escape(p) + rb"autoFilter\b[^>]*>", tail)
    if af is None:
        return None
    new_af = grow_ref_tag(af.group(), old_last, new_last, width)
    return None if new_af == af.group() else (af.start(), af.end(), new_af)


def splice(xml: bytes | memoryview, pieces: list[tuple[int, int, bytes]], lo: int = 0,
            hi: int | None = None) -> list[bytes | memoryview]:
    """Chunks of ``xml[lo:hi]`` with each (start, end, replacement) piece applied."""
    view = memoryview(xml)
    hi = len(view) if hi is None else hi
    chunks: list[bytes | memoryview] = []
    pos = lo
    for start, end, rep in sorted(pieces, key=lambda t: (t[0], t[1])):
        chunks.append(view[pos:start])
        chunks.append(rep)
        pos = end
    chunks.append(view[pos:hi])
    return chunks


def rows_xml(rows: list[dict[str, Cell | None]], header: list[str], columns: dict[str, Column],
              styles: Styles, after: int, p: bytes, label: str) -> bytes:
    """``<row>`` elements for ``rows``, numbered from ``after + 1``, cells placed by header name."""
    position = {name: i for i, name in enumerate(header) if name}
    letters = {name: b"<%sc r=\"%s" % (p, col_letter(i).encode()) for name, i in position.items()}
    style_of = {name: styles.xf_for(col.number_format) for name, col in columns.items()}
    bodies: dict[tuple[str, str], bytes] = {}  # a text repeated down a column is written once
    out = []
    r = after
    for row in rows:
        r += 1
        number = b"%d\"" % r
        cells = []
        for name, cell in row.items():
            if cell is None:
                continue
            idx = position.get(name)
            if idx is None:
                raise CorruptWorkbookError(f"{label}: column {name!r} is not in the header")
            if cell.kind == "s":
                key = (name, cell.value)
                body = bodies.get(key) or bodies.setdefault(key, cell_body(cell, style_of.get(name), p))
            else:
                body = cell_body(cell, style_of.get(name), p)
            if body:
                cells.append((idx, letters[name] + number + body))
        cells.sort(key=lambda c: c[0])
        out.append(b'<%srow r="%d">%s</%srow>' % (p, r, b"".join(c for _, c in cells), p))
    return b"".join(out)


@dataclass
class SheetEdit:
    """A worksheet part rewritten as segments: head, rows (one or more), tail."""

    segments: Segments
    last_row: int
    header: list[str]
    filter_tag: bytes | None  # a grown sheet-level autofilter, to mirror in the defined name
    table_names: list[str] | None = None  # the header as the table may take it


def header_row(frag: bytes, p: bytes, first_new: int, new_names: list[str], style: str | None,
                width: int) -> bytes:
    """The header row with ``new_names`` placed from column ``first_new`` on, in column order;
    empty formatted cells already standing there give way."""
    tag_end = frag.find(b">") + 1
    start_tag = frag[:tag_end]
    if start_tag.endswith(b"/>"):
        start_tag, inner = start_tag[:-2] + b">", b""
    else:
        inner = frag[tag_end:frag.rfind(b"</" + p + b"row>")]
    start_tag = re.sub(rb'spans="(\d+):\d+"', lambda m: b'spans="%s:%d"' % (m.group(1), width), start_tag, count=1)
    taken = set(range(first_new, first_new + len(new_names)))
    cells: list[tuple[int, bytes]] = []
    next_col = 0
    for m in re.finditer(rb"<" + re.escape(p) + rb"c\b[^>]*?(?:/>|>.*?</" + re.escape(p) + rb"c>)", inner, re.S):
        ref = attrs(m.group().split(b">", 1)[0]).get("r")
        col = split_ref(ref)[0] if ref else next_col
        next_col = col + 1
        if col not in taken:
            cells.append((col, m.group()))
    cells += [(first_new + i, header_cell_xml(f"{col_letter(first_new + i)}1", name, style, p))
              for i, name in enumerate(new_names)]
    cells.sort(key=lambda c: c[0])
    return start_tag + b"".join(c for _, c in cells) + b"</" + p + b"row>"


def edit_sheet(sheet: SheetXml, rows: list[dict[str, Cell | None]], columns: dict[str, Column],
               new_names: list[str], styles: Styles, runs: bool = False) -> SheetEdit:
    """Append ``rows`` (column name -> cell) to the worksheet, adding ``new_names`` to
    its header first; rows are placed by header name, never by position.

    The result is independently compressed segments (everything before the rows, the rows,
    everything after), so the next append can copy the rows' compressed bytes. With
    ``runs`` the sheet is laid out for appends that never touch what precedes the new rows:
    the head runs through the header row, the ``<dimension>`` hint goes (readers work the
    extent out from the cells), and the rows end with a short segment of their own that the
    next append decodes to prime its compression.
    """
    xml = sheet.xml
    p = sheet.p
    header = sheet.header_list()
    first_new = len(header)
    header = header + list(new_names)
    width = len(header)
    last_row = max(sheet.last_row, 1) + len(rows)

    head_pieces: list = []
    head = xml[:sheet.sd_start]
    dim = dimension(head, p, width, last_row)
    if dim is not None:
        head_pieces.append((dim[0], dim[1], b"") if runs else dim)
    covered = max((int(attrs(m.group()).get("max", 0)) for m in
                   re.finditer(rb"<" + re.escape(p) + rb"col\b[^>]*>", head)), default=0)
    if new_names and covered < first_new + 1:
        # <col> ranges must stay sorted and disjoint: widths only for columns none covers yet
        cols = b"".join(b'<%scol min="%d" max="%d" width="%d" customWidth="1"/>' % (
            p, first_new + i + 1, first_new + i + 1, min(60, max(12, len(n) + 4)))
            for i, n in enumerate(new_names))
        close_cols = head.rfind(b"</" + p + b"cols>")
        if close_cols >= 0:
            head_pieces.append((close_cols, close_cols, cols))
        else:
            head_pieces.append((sheet.sd_start, sheet.sd_start, b"<" + p + b"cols>" + cols + b"</" + p + b"cols>"))

    rows_prefix = b""
    header_edit: list = []
    if new_names:
        if sheet.header_span is None:
            rows_prefix = header_row(b'<%srow r="1"/>' % p, p, first_new, new_names, None, width)
        else:
            start, end = sheet.header_span
            header_edit.append((start, end, header_row(xml[start:end], p, first_new, new_names,
                                                        sheet.header_style, width)))

    block = rows_xml(rows, header, columns, styles, max(sheet.last_row, 1), p, sheet.label)
    if sheet.self_closing:
        tail_at = xml.find(b">", sheet.sd_start) + 1
        head_chunks = splice(xml, head_pieces, 0, sheet.sd_start) + [b"<" + p + b"sheetData>"]
        body_chunks: list[bytes | memoryview] = [block]
        tail_open = [b"</" + p + b"sheetData>"]
        if runs:
            head_chunks.append(rows_prefix)
        else:
            body_chunks.insert(0, rows_prefix)
    else:
        tail_at = sheet.close
        tail_open = []
        split = sheet.header_span[1] if runs and sheet.header_span else sheet.body
        head_chunks = splice(xml, head_pieces + (header_edit if runs else []), 0, split)
        body_pieces = ([] if runs else header_edit) + [(sheet.cut, sheet.close, block)]
        if runs:
            head_chunks.append(rows_prefix)
        else:
            body_pieces[-1] = (sheet.cut, sheet.close, rows_prefix + block)
        body_chunks = splice(xml, body_pieces, split, sheet.close)  # empty rows after the data go
    af = autofilter(xml[tail_at:], p, sheet.last_row, last_row, width)
    tail_chunks = tail_open + splice(xml[tail_at:], [af] if af else [])
    parts = parallel_parts(len(xml))
    if runs:
        total = sum(len(c) for c in body_chunks)
        front, anchor = split_chunks_at(body_chunks, max(0, total - ANCHOR_BYTES))
        body_segments = [*(split_chunks(front, parts) if front else []), anchor]
    else:
        body_segments = split_chunks(body_chunks, parts)
    return SheetEdit(Segments([head_chunks, *body_segments, tail_chunks]),
                     last_row, header, af[2] if af else None, sheet.table_names() + list(new_names))


def split_chunks_at(chunks: list[Any], at: int) -> tuple[list[Any], list[Any]]:
    """Byte chunks cut in two lists at plain offset ``at``."""
    front: list[Any] = []
    back: list[Any] = []
    pos = 0
    for chunk in chunks:
        view = memoryview(chunk)
        if pos + len(view) <= at:
            front.append(view)
        elif pos >= at:
            back.append(view)
        else:
            front.append(view[:at - pos])
            back.append(view[at - pos:])
        pos += len(view)
    return [c for c in front if len(c)], [c for c in back if len(c)]


#: Every sheet sheettrack lays out prints landscape, fitted to the page width (``height``
#: pages tall, 0: as many as it needs); margins in inches.
PAGE_SETUP = ('<pageMargins left="0.4" right="0.4" top="0.5" bottom="0.6" header="0.3" footer="0.3"/>'
              '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="{height}"/>')
#: The footer of every printed page: the workbook's file name, the sheet, and "page x of y".
PAGE_FOOTER = "<headerFooter><oddFooter>&amp;L&amp;F: &amp;A&amp;RPage &amp;P of &amp;N</oddFooter></headerFooter>"


def new_sheet_xml(header: list[str], rows: list[dict[str, Cell | None]], columns: dict[str, Column],
                   styles: Styles, label: str) -> bytes:
    """A new plain worksheet part: ``header`` in row 1 (frozen), then ``rows`` placed by name."""
    p = b""
    head = b"".join(header_cell_xml(f"{col_letter(i)}1", name, None, p) for i, name in enumerate(header))
    body = rows_xml(rows, header, columns, styles, 1, p, label)
    last = max(1 + len(rows), 1)
    cols = b"".join(b'<col min="%d" max="%d" width="%d" customWidth="1"/>' % (
        i + 1, i + 1, min(60, max(12, len(n) + 4))) for i, n in enumerate(header))
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<worksheet xmlns="' + NS_MAIN.encode() + b'" xmlns:r="' + NS_REL.encode() + b'">'
            b'<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
            b'<dimension ref="A1:' + f"{col_letter(len(header) - 1)}{last}".encode() + b'"/>'
            b'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            b'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
            b'<sheetFormatPr defaultRowHeight="15"/><cols>' + cols + b'</cols>'
            b'<sheetData><row r="1">' + head + b"</row>" + body + b"</sheetData>"
            + (PAGE_SETUP.format(height=0) + PAGE_FOOTER).encode() + b"</worksheet>")
