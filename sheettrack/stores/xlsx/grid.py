"""A worksheet's values, read with python-calamine; a large worksheet in pieces, side by side.

python-calamine parses a worksheet without holding the GIL, but on one core, at about 10 ns a
byte: a second for the 87 MB of 50,000 runs. A worksheet of at least ``PIECE_MIN_BYTES`` is
cut at row boundaries into one piece per core (at most ``MAX_WORKERS``). Each piece is the
worksheet's head (everything through ``<sheetData>``), a run of whole rows and the closing
tags, in a small uncompressed copy of the package holding only the parts calamine reads
(workbook, relationships, styles, shared strings). Threads build and parse the pieces at
once, and their rows are laid back where they stand. A worksheet whose rows cannot be cut
safely (a row without its number, a comment or CDATA among the rows) is parsed whole, as is
any piece calamine refuses: the whole parse then reports what is wrong.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from typing import Any

from .parts import Workbook, rels_part
from .zip import MAX_WORKERS, Package, cores, crc32_combine, stored_zip

PIECE_MIN_BYTES = 16 << 20  # a worksheet this large (uncompressed) is parsed in pieces
_SHEET_DATA = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)sheetData(?:\s[^>]*)?>")


def sheet_values(pkg: Package, wb: Workbook, name: str, pieces: int | None = None,
                 min_bytes: int | None = None) -> list[list[Any]]:
    """Every cell value of sheet ``name`` from A1 to its last cell, row by row, as
    python-calamine's ``to_python(skip_empty_area=False)`` gives them ("" for an empty cell).
    ``pieces`` (default: one per core, at most ``MAX_WORKERS``) and ``min_bytes`` (default
    ``PIECE_MIN_BYTES``) say how finely and from what size a worksheet is cut."""
    import python_calamine

    count = pieces if pieces is not None else min(MAX_WORKERS, cores())
    part = wb.sheets.get(name)
    entry = pkg.by_name.get(part) if part else None
    if count > 1 and part and entry is not None and entry.usize >= (PIECE_MIN_BYTES if min_bytes is None else min_bytes):
        found = values_in_pieces(pkg, wb, part, name, count)
        if found is not None:
            return found
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(pkg.data))
    values: list[list[Any]] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    return values


@dataclass(frozen=True)
class Cut:
    """A worksheet cut for ``values_in_pieces``: ``head`` (through ``<sheetData>``), runs of
    whole rows, the closing tags that end each piece, and ``tail`` (from ``</sheetData>``
    on: left out of the pieces, but part of the worksheet's checksum)."""

    head: bytes
    runs: list[memoryview | None]  # each let go once its piece is built (then the text is freed)
    closing: bytes
    tail: bytes


def cut_rows(xml: bytes, count: int) -> Cut | None:
    """The worksheet ``xml`` with its rows cut into ``count`` runs at most, or None when
    they cannot be cut safely. Every run after the first starts with a row that carries its
    number (``r``), so its rows keep their places."""
    m = _SHEET_DATA.search(xml)
    if m is None:
        return None
    p = m.group(1)
    start = m.end()
    end = xml.rfind(b"</" + p + b"sheetData>")
    if end < start or _markup_declarations(xml, start, end):
        return None
    row = re.compile(rb"<" + re.escape(p) + rb"row\s[^>]*?(?<=\s)r=\"\d+\"")
    opening = b"<" + p + b"row"
    cuts = [start]
    for i in range(1, count):
        at = xml.find(opening, max(cuts[-1] + 1, start + (end - start) * i // count), end)
        while at >= 0 and xml[at + len(opening):at + len(opening) + 1] not in (b" ", b"\t", b"\n", b"\r", b">", b"/"):
            at = xml.find(opening, at + 1, end)  # <rowBreaks> and the like are not rows
        if at < 0:
            break
        if row.match(xml, at) is None:
            return None
        cuts.append(at)
    cuts.append(end)
    view = memoryview(xml)
    return Cut(xml[:start], [view[a:b] for a, b in zip(cuts, cuts[1:]) if b > a],
               b"</" + p + b"sheetData></" + p + b"worksheet>", xml[end:])


def _markup_declarations(xml: bytes, start: int, end: int) -> bool:
    """Whether a comment or CDATA (``<!``) stands among the rows, where a cut could split it.
    A "!" is rare in a worksheet, so the search looks for that first, at the speed of memchr."""
    at = xml.find(b"!", start, end)
    for _ in range(1000):
        if at < 0:
            return False
        if xml[at - 1:at] == b"<":
            return True
        at = xml.find(b"!", at + 1, end)
    return xml.find(b"<!", start, end) >= 0


def values_in_pieces(pkg: Package, wb: Workbook, part: str, name: str, count: int) -> list[list[Any]] | None:
    """What ``sheet_values`` returns, from up to ``count`` pieces parsed side by side; None
    when the worksheet cannot be cut safely or a piece does not parse. The worksheet's
    checksum is checked from its pieces' (each piece's is needed for its scratch zip)."""
    from concurrent.futures import ThreadPoolExecutor  # loaded only by a read this large

    import python_calamine

    cut = cut_rows(pkg.read(part, check=False), count)  # the text lives on only in the runs' views
    if cut is None or len(cut.runs) < 2:
        return None
    # the parts calamine reads besides the worksheet, uncompressed once
    small = [(n, pkg.read(n), pkg.by_name[n].crc) for n in dict.fromkeys(  # read checked each CRC
        ("[Content_Types].xml", "_rels/.rels", wb.workbook_part, rels_part(wb.workbook_part), wb.styles_part,
         wb.sst_part)) if n and pkg.has(n)]
    head_crc, closing_crc = zlib.crc32(cut.head), zlib.crc32(cut.closing)

    sizes = [len(rows) for rows in cut.runs if rows is not None]  # before parse lets each go

    def parse(i: int) -> tuple[int, Any, Any, list[list[Any]]]:
        rows, cut.runs[i] = cut.runs[i], None  # held only here: the worksheet's text goes with the last
        assert rows is not None
        crc = zlib.crc32(rows)
        whole = crc32_combine(crc32_combine(head_crc, crc, len(rows)), closing_crc, len(cut.closing))
        data = stored_zip([*small, (part, b"".join((cut.head, rows, cut.closing)), whole)])
        rows.release()
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        del data  # calamine holds its own copy
        sheet = book.get_sheet_by_name(name)
        del book
        # converted here: a piece parsed early is turned into Python values while others parse
        return crc, sheet.start, sheet.end, sheet.to_python(skip_empty_area=True) if sheet.start is not None else []

    try:
        with ThreadPoolExecutor(len(sizes), thread_name_prefix="sheettrack-parse") as pool:
            parsed = list(pool.map(parse, range(len(sizes))))
    except Exception:  # noqa: BLE001 - the whole parse says what is wrong
        return None
    crc = head_crc
    for size, (run_crc, *_) in zip(sizes, parsed):
        crc = crc32_combine(crc, run_crc, size)
    if crc32_combine(crc, zlib.crc32(cut.tail), len(cut.tail)) != pkg.by_name[part].crc:
        raise pkg.bad_checksum(part)
    out: list[list[Any]] = []
    placed = [p[1:] for p in parsed if p[1] is not None]
    if not placed:
        return []
    width = max(end[1] for _, end, _ in placed) + 1
    for (row0, col0), (_, col1), values in placed:
        if row0 < len(out):  # rows out of order: only the whole parse places them
            return None
        out.extend([""] * width for _ in range(row0 - len(out)))
        left, right = [""] * col0, [""] * (width - col1 - 1)
        out.extend(left + v + right if col0 or right else v for v in values)
    return out
