"""The append fast path: run rows added to the end of the Runs worksheet's zip member.

The Runs worksheet is kept as independently compressed segments (a head through the header
row, the rows, a tail) at the end of the archive, and the zip comment records where they
are (``SheetIndex``). An append then compresses only the new rows and the tail, and the
workbook changes only from the end of the existing rows on (``new_end``). A workbook saved
by another program has lost the index and takes the general path once: the whole sheet is
read and written again, laid out for the fast path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...cells import Cell, col_letter, to_cell
from ...errors import CorruptWorkbookError, StoreError
from ...schema import Column, Schema
from ..rows import expected_header, reconcile
from ..schema_sheet import SCHEMA_SHEET, schema_sheet_row
from .parts import Edits, FastAppend, Workbook
from .styles import Styles
from .tables import check_tables, grow_filter_name, grow_tables
from .worksheet import ANCHOR_BYTES, SheetEdit, SheetXml, autofilter, edit_sheet, rows_xml, splice
from .zip import (
    PARALLEL_MIN_BYTES,
    Package,
    Segments,
    SegmentStat,
    crc32_combine,
    deflate_segment,
    inflate_segment,
)

COMPRESS_LEVEL = 1  # the worksheet part is rewritten on every append: fast beats small
MAX_IN_PLACE_BYTES = 1 << 20  # rewrite at most this much of the file's end in place
INDEX_MAGIC = "sheettrack-index-2"
RECENT_SPAN = 64 << 10  # the rows an append decodes to prime its own compression, at most


def combine(a: SegmentStat, b: SegmentStat) -> SegmentStat:
    """The figures of segment ``a`` followed by segment ``b``."""
    return SegmentStat(a.clen + b.clen, a.ulen + b.ulen, crc32_combine(a.crc, b.crc, b.ulen))


@dataclass(frozen=True)
class SheetIndex:
    """Where the Runs worksheet's segments are, kept in the zip comment between appends.

    The member is a head (everything up to and including the header row), the rows, and a
    tail (``</sheetData>`` on); the last ``recent`` bytes of the rows start an independent
    run of segments short enough to decode on every append. Readers ignore the zip comment
    and any re-save drops it, so a workbook saved elsewhere is recognised (the member's CRC
    and sizes no longer match) and takes the general path.
    """

    part: str
    head: SegmentStat
    body: SegmentStat
    tail: SegmentStat
    last_row: int
    recent: tuple[int, int] = (0, 0)  # (compressed, plain) length of the recent run

    def text(self) -> bytes:
        def seg(s: SegmentStat) -> str:
            return f"{s.clen}:{s.ulen}:{s.crc}"

        return (f"{INDEX_MAGIC} part={self.part} head={seg(self.head)} body={seg(self.body)} "
                f"tail={seg(self.tail)} recent={self.recent[0]}:{self.recent[1]} "
                f"last_row={self.last_row}").encode()

    @classmethod
    def parse(cls, comment: bytes) -> SheetIndex | None:
        try:
            text = comment.decode("utf-8")
            if not text.startswith(INDEX_MAGIC + " "):
                return None
            fields = dict(item.split("=", 1) for item in text.split()[1:])

            def seg(v: str) -> SegmentStat:
                clen, ulen, crc = (int(x) for x in v.split(":"))
                return SegmentStat(clen, ulen, crc)

            rc, ru = (int(x) for x in fields["recent"].split(":"))
            return cls(fields["part"], seg(fields["head"]), seg(fields["body"]), seg(fields["tail"]),
                       int(fields["last_row"]), (rc, ru))
        except (UnicodeDecodeError, ValueError, KeyError):
            return None

    def matches(self, pkg: Package) -> bool:
        """Whether the member is still exactly what this index describes."""
        e = pkg.by_name.get(self.part)
        if e is None or e.method != 8 or not 0 <= self.recent[0] <= self.body.clen:
            return False
        total = combine(combine(self.head, self.body), self.tail)
        return e.csize == total.clen and e.usize == total.ulen and e.crc == total.crc


def check_free(sheet: SheetXml, first: int, count: int, sheet_name: str, label: str) -> None:
    """New columns go right of the header: refuse when data without a header stands there."""
    for col in range(first, first + count):
        letter = col_letter(col).encode()
        m = re.compile(rb"<" + re.escape(sheet.p) + rb'c r="' + letter + rb'(\d+)"[^>]*[^/]>').search(
            sheet.xml, sheet.body, sheet.close)
        if m is not None and int(m.group(1)) > 1:
            raise StoreError(f"{label}: {sheet_name}!{letter.decode()}{int(m.group(1))} holds data in a "
                             "column without a header; give that column a header (or move the data) "
                             "so new columns can be added after it")


def document(wb: Workbook, cols: list[Column], edits: Edits) -> None:
    """Add a Schema sheet row for each column not documented there yet."""
    if not cols or SCHEMA_SHEET not in wb.sheets:
        return
    part = wb.sheet_part(SCHEMA_SHEET)
    sheet = SheetXml(wb.pkg.read(part), f"{wb.pkg.label}: {part}", wb.shared)
    header = sheet.header_list()
    if "column" not in header:
        return
    documented = {str(cells.get(header.index("column"))) for _, cells in wb.read_small_sheet(SCHEMA_SHEET)[1:]}
    rows = schema_sheet_cells([col for col in cols if col.name not in documented], header)
    if rows:
        edits.replace[part] = edit_sheet(sheet, rows, dict.fromkeys(header, Column("text")), [],
                                         Styles(None)).segments


def schema_sheet_cells(cols: list[Column], header: list[str]) -> list[dict[str, Cell | None]]:
    """The Schema sheet's rows documenting ``cols``, as cells, for the columns of ``header``
    (a person may have dropped one)."""
    return [{k: (to_cell("float", v) if k in ("min", "max") else
                 to_cell("bool", v) if k == "required" else to_cell("string", v))
             for k, v in schema_sheet_row(col).items() if k in header}
            for col in cols]


def cells_of(rows: list[dict[str, Any]], columns: dict[str, Column]) -> list[dict[str, Cell | None]]:
    """The cells of checked rows; a text repeated down a column (a batch's shared provenance)
    is converted once."""
    memo: dict[tuple[str, str], Cell | None] = {}
    out = []
    for row in rows:
        cells: dict[str, Cell | None] = {}
        for name, value in row.items():
            if isinstance(value, str):
                key = (name, value)
                found = memo.get(key, memo)
                if found is memo:
                    found = memo[key] = to_cell(columns[name].type, value)
                cells[name] = found  # type: ignore[assignment]
            else:
                cells[name] = to_cell(columns[name].type, value)
        out.append(cells)
    return out


def plan_append(wb: Workbook, edits: Edits, styles: Styles, schema: Schema, rows: list[dict[str, Any]],
                new_columns: list[Column], stored: Schema | None = None) -> None:
    """Work out every part an append of run rows changes, into ``edits``; nothing is written
    here, and a row the sheet refuses (a ``ValidationError``, a header that does not match)
    raises before ``edits`` changes.

    When the segment index in the zip comment still describes the worksheet, the existing
    rows' compressed bytes stay as they are (the fast path: ``edits.fast``); otherwise the
    whole sheet is read and rewritten (the general path), laying it out for the fast path
    next time: the head through the header row, the rows, the tail, the worksheet and its
    tables at the end of the archive, and no ``<dimension>`` (which would change the head).
    """
    part = wb.sheet_part(schema.sheet)
    label = f"{wb.pkg.label}: {part}"
    new_columns = reconcile(rows, new_columns, stored)
    expected = expected_header(schema, new_columns)
    columns = {c.name: c for c in schema.columns + new_columns}
    cells = cells_of(rows, columns)
    index = SheetIndex.parse(wb.pkg.comment)
    if index is not None and index.part == part and not new_columns and index.matches(wb.pkg):
        edits.fast, result = plan_fast(wb, part, label, index, expected, schema.sheet, cells,
                                       columns, styles)
    else:
        sheet = SheetXml(wb.pkg.read(part), label, wb.shared)
        expected.check_header(sheet.header_list(), where=f"{wb.pkg.label}: sheet {schema.sheet}: ")
        check_tables(wb, part, schema.sheet, sheet.last_row)
        present = set(sheet.header_list())
        add_names = list(dict.fromkeys(c.name for c in schema.columns + new_columns if c.name not in present))
        check_free(sheet, len(sheet.header_list()), len(add_names), schema.sheet, wb.pkg.label)
        result = edit_sheet(sheet, cells, columns, add_names, styles, runs=True)
        edits.replace[part] = result.segments
        document(wb, new_columns, edits)
    edits.index = (part, result.last_row)
    edits.last = [part, *wb.tables_of(part)]
    edits.descriptor = {part}
    grow_tables(wb, part, edits, result.last_row, result.table_names or result.header)
    if result.filter_tag is not None:
        grow_filter_name(wb, schema.sheet, result.filter_tag, edits)


def plan_fast(wb: Workbook, part: str, label: str, index: SheetIndex, expected: Schema,
               sheet_name: str, cells: list[dict[str, Cell | None]], columns: dict[str, Column],
               styles: Styles) -> tuple[FastAppend, SheetEdit]:
    """The fast path: decode the head, the tail and the short recent run of rows (never
    the rows before it), and compress only the new rows and the tail."""
    pkg = wb.pkg
    h, b, t = index.head, index.body, index.tail
    rc, ru = index.recent
    head = inflate_segment(pkg.member_slice(part, 0, h.clen), label, h)
    tail = inflate_segment(pkg.member_slice(part, h.clen + b.clen, t.clen), label, t)
    recent = inflate_segment(pkg.member_slice(part, h.clen + b.clen - rc, rc), label) if rc else b""
    if len(recent) != ru:
        raise CorruptWorkbookError(f"{label}: the worksheet's rows do not match their index")
    sheet = SheetXml(head + tail, label, wb.shared)
    header = sheet.header_list()
    expected.check_header(header, where=f"{pkg.label}: sheet {sheet_name}: ")
    last_row = index.last_row + len(cells)
    block = rows_xml(cells, header, columns, styles, index.last_row, sheet.p, label)
    zdict = recent[-ANCHOR_BYTES:] or None
    level = 6 if len(block) < PARALLEL_MIN_BYTES else COMPRESS_LEVEL  # a big batch: fast beats small
    pieces: list[bytes] = []
    stats: list[SegmentStat] = []
    if ru + len(block) <= RECENT_SPAN:  # continue the recent run, referring back into it
        piece, st = deflate_segment(block, level, zdict=zdict)
        pieces.append(piece)
        stats.append(st)
        new_recent = (rc + st.clen, ru + st.ulen)
    else:  # start a new run: its first segment stands alone
        cut = max(0, len(block) - ANCHOR_BYTES)
        if cut:
            piece, st = deflate_segment(block[:cut], level, zdict=zdict)
            pieces.append(piece)
            stats.append(st)
        piece, st = deflate_segment(block[cut:], 6)
        pieces.append(piece)
        stats.append(st)
        new_recent = (st.clen, st.ulen)
    af = autofilter(tail, sheet.p, index.last_row, last_row, len(header))
    tail_piece, tail_st = deflate_segment(b"".join(splice(tail, [af] if af else [])), 6, final=True)
    body = b
    for st in stats:
        body = combine(body, st)
    whole = combine(combine(h, body), tail_st)
    comment = SheetIndex(part, h, body, tail_st, last_row, new_recent).text()
    fast = FastAppend(part, h.clen + b.clen, h, b, pieces + [tail_piece], stats + [tail_st],
                      whole.crc, whole.ulen, comment)
    result = SheetEdit(Segments(), last_row, header, af[2] if af else None, sheet.table_names())
    return fast, result


def index_comment(edits: Edits) -> Any:
    """The zip comment builder recording where the Runs worksheet's segments are."""
    if edits.index is None:
        return None
    if edits.fast is not None:
        text = edits.fast.comment
        return lambda stats: text
    part, last_row = edits.index

    def build(stats: dict[str, list[SegmentStat]]) -> bytes:
        segs = stats.get(part)
        if not segs or len(segs) < 3:
            return b""
        head, tail = segs[0], segs[-1]
        body = segs[1]
        for extra in segs[2:-1]:  # the body's segments, each compressed on its own
            body = combine(body, extra)
        return SheetIndex(part, head, body, tail, last_row, (segs[-2].clen, segs[-2].ulen)).text()

    return build


def new_end(pkg: Package, edits: Edits, pad: int = 0) -> tuple[int, bytes] | None:
    """For a fast-path append, the bytes that turn the workbook into its next version
    by replacing its end, as (offset, bytes), with ``pad`` spaces added to the zip
    comment; None when more than the end would change."""
    fast = edits.fast
    assert fast is not None
    e = pkg.by_name[fast.part]
    if not pkg.local_flags(e) & 0x8:  # the local header would have to change
        return None
    others = {name: data for name, data in edits.replace.items() if name != fast.part}
    if any(pkg.by_name[name].offset < e.offset if name in pkg.by_name else True for name in others):
        return None
    if pkg.size - e.end > MAX_IN_PLACE_BYTES or len(fast.comment) + pad > 0xFFFF:
        return None
    return pkg.rewrite_after(fast.part, fast.keep, fast.pieces, fast.crc, fast.usize,
                             {k: bytes(v) for k, v in others.items()}, fast.comment + b" " * pad)
