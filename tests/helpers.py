"""Small helpers for the workbook tests: hashes, zip members, images, readers other than sheettrack."""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.drawing.image import Image

from sheettrack import delivery
from sheettrack.cells import col_letter
from sheettrack.record import Record, build_record
from sheettrack.session import Session


def sha256(path: Path) -> str:
    """Hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def zip_members(path: Path) -> dict[str, bytes]:
    """Every member of a zip file, uncompressed, by name."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zip_part(path: Path, name: str) -> bytes:
    """One member of a zip file, uncompressed."""
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def float_bits(value: float) -> bytes:
    """The 8 bytes of a double, so -0.0 and 0.0 (and NaN payloads) compare as different."""
    return struct.pack("<d", float(value))


def same_float(got: Any, expected: float) -> bool:
    """Bit-for-bit equality of doubles, with any NaN equal to any NaN."""
    if math.isnan(expected):
        return math.isnan(float(got))
    return float_bits(got) == float_bits(expected)


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A small RGB PNG written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(
        b"\x00" + b"".join(bytes([(x * 60) % 256, (y * 80) % 256, 128]) for x in range(width))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


class PngImage(Image):
    """An openpyxl image from PNG bytes; openpyxl's own Image needs Pillow to read the size."""

    def __init__(self, data: bytes, width: int, height: int) -> None:
        self.ref = data
        self._png = data
        self.width, self.height = width, height
        self.format = "png"

    def _data(self) -> bytes:
        return self._png


def header_of(rows: list[list[Any]]) -> dict[str, int]:
    """Column positions of a header row (first occurrence wins)."""
    out: dict[str, int] = {}
    for i, name in enumerate(rows[0]):
        if name not in (None, "") and name not in out:
            out[str(name)] = i
    return out


def openpyxl_header(ws: Any) -> list[Any]:
    """The values of row 1 of an openpyxl worksheet."""
    return [c.value for c in ws[1]]


def openpyxl_cell(ws: Any, name: str, row: int = 2) -> Any:
    """The openpyxl cell of column ``name`` (by header) in sheet row ``row``."""
    header = openpyxl_header(ws)
    return ws.cell(row=row, column=header.index(name) + 1)


def load_openpyxl(path: Path) -> Any:
    """The workbook as openpyxl reads it (formulas kept as formulas)."""
    return openpyxl.load_workbook(path)


def table_xml(path: Path, part: str = "xl/tables/table1.xml") -> bytes:
    """The XML of a table part."""
    return zip_part(path, part)


def table_ref(path: Path, part: str = "xl/tables/table1.xml") -> str:
    """The ``ref`` of a table part, read from its XML."""
    m = re.search(rb'<(?:\w+:)?table\b[^>]*?\sref="([^"]+)"', table_xml(path, part))
    assert m is not None, f"{part} has no ref"
    return m.group(1).decode()


def full_ref(n_columns: int, last_row: int) -> str:
    """``A1:<last column><last row>``."""
    return f"A1:{col_letter(n_columns - 1)}{last_row}"


def read_calamine(path: Path, sheet: str = "Runs") -> list[list[Any]]:
    """All rows of a sheet as python-calamine reads it (empty cells as "")."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    finally:
        book.close()


def record_of(fields: dict[str, dict[str, Any]]) -> Record:
    """A ``Record`` from values by group (``run``, ``params``, ``metrics``, ``tags``, ``notes``,
    ``provenance``), as a test lays a run out."""
    run = dict(fields.get("run", {}))
    notes = fields.get("notes", {})
    return build_record(run_id=run.pop("run_id", None), params=fields.get("params"),
                        metrics=fields.get("metrics"), tags=fields.get("tags"),
                        notes=notes.get("notes"), hypothesis=notes.get("hypothesis"),
                        provenance=fields.get("provenance"), **run)


def write_records(target: Any, records: list[Record | dict], template: Any = None) -> Session:
    """Write runs through the one write path (checked, queued, delivered) and return the
    target's session."""
    session = Session.open(target)
    delivery.write(session, session.layout(template),
                   [r if isinstance(r, Record) else record_of(r) for r in records])
    return session
