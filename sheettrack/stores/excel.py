"""The .xlsx store: a workbook on disk, appended to part by part.

Creating a workbook uses openpyxl once. Appending never loads and re-saves the workbook
through openpyxl (that drops people's charts and images and costs tens of seconds at 50k
rows): it edits the Runs worksheet part and the small parts that must grow (table,
autofilter, styles, shared strings) and leaves every other part byte for byte, under a lock.
Usually only the end of the file changes (the fast path: the worksheet and its table are the
last members), written in place behind a rollback journal (``journal.py``); otherwise a new
copy is written and swapped in atomically. Reading uses python-calamine, under the lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import io
import os
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cells import Cell, col_letter, number_text, to_cell
from ..errors import (
    CorruptWorkbookError,
    StoreError,
    TemplateError,
    WorkbookLockedError,
)
from ..schema import Column, Schema
from . import journal
from .base import Store, Table
from .ooxml import (
    NS_REL,
    PARALLEL_MIN_BYTES,
    Package,
    Raw,
    Segments,
    SegmentStat,
    attrs,
    cell_value,
    crc32_combine,
    deflate_segment,
    escape_shapes,
    inflate_segment,
    inline_text,
    iter_rows,
    local,
    parse_xml,
    range_ref,
    read_shared_strings,
    split_chunks,
    split_ref,
)
from .rows import expected_header, reconcile
from .schema_sheet import (
    SCHEMA_HEADER,
    SCHEMA_SHEET,
    schema_from_sheet,
    schema_meta_json,
    schema_sheet_row,
)

__all__ = ["SCHEMA_HEADER", "SCHEMA_SHEET", "ExcelStore", "Workbook", "build_workbook", "read_schema"]

PROP_PREFIX = "sheettrack.template."
PROP_CHUNK = 250
EXCEL_TEXT_LIMIT = 32_767
LOCK_TIMEOUT_S = 120.0
COMPRESS_LEVEL = 1  # the worksheet part is rewritten on every append: fast beats small

BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9,
                   "0.00%": 10, "0.00E+00": 11, "@": 49}


def owner_of(path: Path) -> tuple[Path, str] | None:
    """The owner file Excel or LibreOffice keeps while ``path`` is open, and who it names."""
    folder, name = path.parent, path.name
    excel = folder / f"~${name}"
    if excel.is_file():
        return excel, _excel_owner(excel)
    lo = folder / f".~lock.{name}#"
    if lo.is_file():
        return lo, _libreoffice_owner(lo)
    return None


def _excel_owner(path: Path) -> str:
    try:
        data = path.read_bytes()
        n = data[0]
        name = data[1:1 + n].decode("latin-1").strip()
        return f"{name} (Excel)" if name else "someone in Excel"
    except (OSError, IndexError):
        return "someone in Excel"


def _libreoffice_owner(path: Path) -> str:
    try:
        # LibreOffice's lock entry: user name, system user name, host, time, profile URL
        fields = path.read_text(encoding="utf-8", errors="replace").split(",")
        who = fields[0].strip() or (fields[1].strip() if len(fields) > 1 else "")
        host = fields[2].strip() if len(fields) > 2 else ""
        text = who + (f" on {host}" if host else "")
        return f"{text} (LibreOffice)" if text else "someone in LibreOffice"
    except OSError:
        return "someone in LibreOffice"


def _fsync_dir(folder: Path) -> None:
    journal.fsync_dir(folder)


def write_mode() -> str:
    """How appends reach the file: "replace" (the default: a new copy beside it, whose
    unchanged start the operating system copies (a reflink clone where the file system
    shares extents), then the new end, fsync, and an atomic swap, so no reader ever sees a
    workbook mid-write, whatever kills the writer) or "inplace" (``SHEETTRACK_WRITE=inplace``:
    overwrite only the workbook's end behind a rollback journal; a cost that does not grow
    with the workbook on any file system, but a program that ignores sheettrack's lock and
    journal can find the file damaged while the end is rewritten, or after a writer is
    killed in that write, until sheettrack next opens it)."""
    mode = os.environ.get("SHEETTRACK_WRITE", "").strip().lower()
    return "inplace" if mode in ("inplace", "in-place") else "replace"


MAX_IN_PLACE_BYTES = 1 << 20  # rewrite at most this much of the file's end in place


class ExcelStore(Store):
    """A local .xlsx workbook."""

    text_limit = EXCEL_TEXT_LIMIT

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()  # a link keeps pointing at the workbook
        self.target = str(path)
        self._schema: tuple[tuple, Schema | None] | None = None  # (file version, stored schema)
        self.last_write: str | None = None  # "inplace" or "replace": how the last append wrote
        # how a "replace" copied the unchanged start: "reflink", "copy_file_range",
        # "read/write", or "package" (every part written out again: the general path)
        self.last_copy: str | None = None

    # -- locking -------------------------------------------------------------------------------
    def _lock(self) -> Any:
        """Take the workbook's lock, then finish or undo an append a crash interrupted."""
        lock = journal.WorkbookLock(self.path.parent / f".{self.path.name}.lock", LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except TimeoutError:
            raise StoreError(f"{self.target}: another process has held the workbook's lock for "
                             f"{LOCK_TIMEOUT_S:.0f} s", self.target) from None
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot lock the workbook: {exc.strerror or exc}",
                             self.target) from None
        try:
            journal.recover(self.path, self.target)
        except BaseException:
            lock.release()
            raise
        return lock

    def _check_owner(self) -> None:
        owner = owner_of(self.path)
        if owner is not None:
            file, who = owner
            raise WorkbookLockedError(
                f"{self.target} is open by {who} (owner file {file.name}); writing now would lose "
                f"rows when it is saved. Close it there, or delete {file.name} if nobody has it open.",
                self.target, who)

    def _replace_with(self, write: Any, source: Any = None) -> None:
        """Write a temp file in the same folder with ``write(fh)``, fsync, and swap it in.
        ``source``, the open workbook the copy was read from, is closed before the swap
        (Windows refuses to replace a file that is open)."""
        folder = self.path.parent
        tmp = str(folder / f".{self.path.name}.tmp")  # one name: only the lock holder writes it
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
        try:
            with os.fdopen(fd, "w+b") as fh:
                write(fh)
                fh.flush()
                journal.step(journal.STEP_COPY_WRITTEN)
                os.fsync(fh.fileno())
            with contextlib.suppress(OSError):
                os.chmod(tmp, self.path.stat().st_mode & 0o7777 if self.path.exists() else 0o644)
            journal.step(journal.STEP_COPY_SYNCED)
            if source is not None:
                source.close()
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        journal.step(journal.STEP_COPY_REPLACED)
        _fsync_dir(folder)

    # -- Store ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def create(self, schema: Schema) -> bool:
        folder = self.path.parent
        if not folder.is_dir():
            raise StoreError(f"{self.target}: folder {folder} does not exist", self.target)
        lock = self._lock()
        try:
            if self.path.exists():
                return False
            self._check_owner()
            data = build_workbook(schema)
            self._replace_with(lambda fh: fh.write(data))
            return True
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot write: {exc.strerror or exc}", self.target) from None
        finally:
            lock.release()

    @contextlib.contextmanager
    def _package(self) -> Iterator[Package]:
        """The workbook as a package read lazily from the open file (hold the lock while
        using it): only the zip directory up front, each part when it is asked for, and the
        parts a write copies unchanged pass through a megabyte at a time. Writing it back
        with ``Package.write`` keeps the Runs worksheet and its tables at the end of the
        archive, so appends after such a rewrite still take the fast path."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            raise self._missing() from None
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot read: {exc.strerror or exc}", self.target) from None
        with fh:
            pkg = Package.from_file(fh, str(self.path))
            index = SheetIndex.parse(pkg.comment)
            if index is not None and index.part in pkg.by_name:
                at = pkg.by_name[index.part].offset
                pkg.keep_last = [e.name for e in sorted(pkg.entries, key=lambda e: e.offset)
                                 if e.offset >= at]
            yield pkg

    def _missing(self) -> StoreError:
        return StoreError(f"{self.target}: no such workbook; create it with "
                          f"'sheettrack init {self.target}' or log a run to it", self.target)

    def _snapshot(self) -> bytes:
        """The workbook's bytes as the last complete append left them: read under the lock
        (rolling back an interrupted append first), or, where the lock cannot be taken (a
        read-only folder), read as is with any leftover journal applied in memory."""
        try:
            lock = self._lock()
        except StoreError:
            if not self.path.parent.is_dir() or os.access(self.path.parent, os.W_OK):
                raise
            lock = None
        try:
            return self.path.read_bytes() if lock is not None else journal.snapshot(self.path)
        except FileNotFoundError:
            raise self._missing() from None
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot read: {exc.strerror or exc}", self.target) from None
        finally:
            if lock is not None:
                lock.release()

    def read_schema(self) -> Schema | None:
        if not self.path.parent.is_dir() or os.access(self.path.parent, os.W_OK):
            lock = self._lock()
            try:
                with open(self.path, "rb") as fh:
                    return self._stored(Workbook(Package.from_file(fh, str(self.path))))
            except FileNotFoundError:
                raise self._missing() from None
            except OSError as exc:
                raise StoreError(f"{self.target}: cannot read: {exc.strerror or exc}", self.target) from None
            finally:
                lock.release()
        return self._stored(Workbook(Package(self._snapshot(), str(self.path))))

    def _stored(self, wb: Workbook) -> Schema | None:
        """The workbook's stored schema, parsed once per version of the file."""
        if self._schema is None or self._schema[0] != wb.pkg.version or not wb.pkg.version:
            self._schema = (wb.pkg.version, read_schema(wb))
        return self._schema[1]

    def append(self, rows: list[dict[str, Any]], schema: Schema, new_columns: list[Column]) -> None:
        lock = self._lock()
        try:
            self._check_owner()
            try:
                fh = open(self.path, "r+b")
            except FileNotFoundError:
                raise self._missing() from None
            except PermissionError:
                fh = open(self.path, "rb")  # a read-only file in a writable folder: copy
            with fh:
                pkg = Package.from_file(fh, str(self.path))
                wb = Workbook(pkg)
                edits = plan_append(wb, schema, rows, new_columns,
                                    self._stored(wb) if new_columns else None)
                end = self._new_end(pkg, edits) if edits.fast is not None else None
                if end is not None and self._in_place(pkg, edits, end, fh):
                    self.last_write, self.last_copy = "inplace", None
                    return
                if end is not None:  # a new copy: the unchanged start copied by the OS
                    offset, data = end
                    how: list[str] = []
                    self._replace_with(lambda out: how.append(journal.copy_prefix(fh, out, offset, data)), fh)
                    self.last_write, self.last_copy = "replace", how[0]
                    return
                if edits.fast is not None:
                    edits.replace[edits.fast.part] = edits.fast.segments(pkg)
                self._replace_with(lambda out: pkg.write(out, edits.replace, COMPRESS_LEVEL,
                                                         comment=index_comment(edits),
                                                         last=edits.last, descriptor=edits.descriptor),
                                   fh)
                self.last_write, self.last_copy = "replace", "package"
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot write: {exc.strerror or exc}", self.target) from None
        finally:
            lock.release()

    def append_rows(self, sheet: str, header: list[str], rows: list[dict[str, Any]],
                    key: str | None = None) -> None:
        from .xlsx_refs import append_rows

        append_rows(self, sheet, header, rows)

    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        """The values of column ``key`` (named in row 1) of reference sheet ``sheet``, whose
        name is matched regardless of case as the reference writer matches it (empty when
        there is no such sheet), read from that sheet's own part: the Runs worksheet is
        neither read nor held in memory. None where that cannot be done (no lock in a
        read-only folder, a damaged part): the caller then reads the sheet in full."""
        if self.path.parent.is_dir() and not os.access(self.path.parent, os.W_OK):
            return None
        lock = self._lock()
        try:
            with self._package() as pkg:
                wb = Workbook(pkg)
                names = {name.lower(): name for name in wb.sheets}
                if sheet.lower() not in names:
                    return set()
                rows = wb.read_small_sheet(names[sheet.lower()])
        except CorruptWorkbookError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot read: {exc.strerror or exc}", self.target) from None
        finally:
            lock.release()
        if not rows or rows[0][0] != 1:
            return set()
        col = next((c for c, v in sorted(rows[0][1].items()) if str(v) == key), None)
        if col is None:
            return set()
        return {str(cells[col]) for _, cells in rows[1:] if cells.get(col) not in (None, "")}

    def write_sheets(self, sheets: list[Any], remove: list[str] | tuple = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        from .xlsx_sheets import write_sheets

        return write_sheets(self, sheets, remove, protect)

    def _new_end(self, pkg: Package, edits: Edits, pad: int = 0) -> tuple[int, bytes] | None:
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

    def _in_place(self, pkg: Package, edits: Edits, end: tuple[int, bytes], fh: Any) -> bool:
        """With ``SHEETTRACK_WRITE=inplace``, overwrite the end of the workbook behind a
        journal when that is safe; False when a new copy must be written instead (nothing
        written then)."""
        if write_mode() == "replace" or not fh.writable():
            return False
        if os.fstat(fh.fileno()).st_nlink != 1:  # another name of the file would not see the journal
            return False
        offset, data = end
        if offset + len(data) < pkg.size:  # never shorter: pad the comment (readers ignore it)
            padded = self._new_end(pkg, edits, pkg.size - offset - len(data))
            if padded is None:
                return False
            offset, data = padded
        return journal.write_in_place(self.path, fh, offset, data)

    def read(self, sheet: str | None = None) -> Table:
        import python_calamine

        if not self.path.is_file():
            raise StoreError(f"{self.target}: no such workbook", self.target)
        data = self._snapshot()
        name = sheet
        try:
            if name is None:
                schema = self._stored(Workbook(Package(data, str(self.path))))
            book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
            if name is None:
                name = schema.sheet if schema else book.sheet_names[0]
            if name not in book.sheet_names:
                raise StoreError(f"{self.target}: no sheet named {name!r} (sheets: "
                                 f"{', '.join(book.sheet_names)})", self.target)
            values = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except StoreError:
            raise
        except Exception as exc:  # calamine raises its own types for damaged files
            raise CorruptWorkbookError(f"{self.target}: cannot read the workbook: {exc}", self.target) from None
        header = [("" if v is None else str(v)) for v in (values[0] if values else [])]
        while header and header[-1] == "":
            header.pop()
        width = len(header)
        rows = []
        for raw in values[1:]:
            row = list(raw[:width]) + [""] * (width - len(raw))
            rows.append(row)
        while rows and all(v in ("", None) for v in rows[-1]):
            rows.pop()
        return Table(sheet=name, header=header, rows=rows)


# -- the workbook's structure --------------------------------------------------------------

def _resolve(base_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    folder = base_part.rsplit("/", 1)[0] if "/" in base_part else ""
    parts = (folder.split("/") if folder else []) + target.split("/")
    out: list[str] = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        elif p and p != ".":
            out.append(p)
    return "/".join(out)


def rels_part(part: str) -> str:
    """The relationships part of ``part`` (xl/workbook.xml -> xl/_rels/workbook.xml.rels)."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


class Workbook:
    """Where things are in an .xlsx package: sheets, their tables, styles, shared strings."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg
        self._parsed: dict[str, Any] = {}  # small parts, parsed once
        self.workbook_part = "xl/workbook.xml"
        if pkg.has("_rels/.rels"):
            for rel in self._rels("_rels/.rels"):
                if rel.get("Type", "").endswith("/officeDocument"):
                    self.workbook_part = _resolve("", rel.get("Target", ""))
        self.wb_rels = {r.get("Id"): r for r in self._rels(rels_part(self.workbook_part))}
        root = parse_xml(pkg.read(self.workbook_part), f"{pkg.label}: {self.workbook_part}")
        self.sheets: dict[str, str] = {}
        for el in root.iter():
            if local(el.tag) == "sheet":
                rid = el.get(f"{{{NS_REL}}}id") or el.get("{http://purl.oclc.org/ooxml/officeDocument/relationships}id")
                rel = self.wb_rels.get(rid)
                if rel is not None:
                    self.sheets[el.get("name", "")] = _resolve(self.workbook_part, rel.get("Target", ""))
        self.styles_part = self._wb_target("/styles")
        self.sst_part = self._wb_target("/sharedStrings")
        self._shared: list[str] | None = None

    def _rels(self, part: str) -> list[ET.Element]:
        if part not in self._parsed:
            root = parse_xml(self.pkg.read(part), f"{self.pkg.label}: {part}") if self.pkg.has(part) else []
            self._parsed[part] = [el for el in root if local(el.tag) == "Relationship"]
        return self._parsed[part]

    def _wb_target(self, suffix: str) -> str | None:
        for rel in self.wb_rels.values():
            if rel.get("Type", "").endswith(suffix):
                return _resolve(self.workbook_part, rel.get("Target", ""))
        return None

    def sheet_part(self, name: str) -> str:
        """The worksheet part of sheet ``name``."""
        part = self.sheets.get(name)
        if part is None or not self.pkg.has(part):
            raise CorruptWorkbookError(f"{self.pkg.label}: no sheet named {name!r} (sheets: "
                                       f"{', '.join(self.sheets)})", self.pkg.label)
        return part

    def tables_of(self, sheet_part: str) -> list[str]:
        """The table parts attached to a worksheet part."""
        return [_resolve(sheet_part, r.get("Target", "")) for r in self._rels(rels_part(sheet_part))
                if r.get("Type", "").endswith("/table") and r.get("TargetMode") != "External"]

    def shared(self) -> list[str]:
        """The shared strings (empty list when the workbook has none)."""
        if self._shared is None:
            self._shared = (read_shared_strings(self.pkg.read(self.sst_part))
                            if self.sst_part and self.pkg.has(self.sst_part) else [])
        return self._shared

    def read_small_sheet(self, name: str) -> list[tuple[int, dict[int, Any]]]:
        """All rows of a small sheet (the Schema sheet), parsed in full (once)."""
        key = ("rows", name)
        if key not in self._parsed:
            self._parsed[key] = list(iter_rows(self.pkg.read(self.sheet_part(name)), self.shared()))
        return self._parsed[key]

    def custom_props(self) -> dict[str, str]:
        """Custom document properties (name -> text)."""
        part = "docProps/custom.xml"
        if not self.pkg.has(part):
            return {}
        root = parse_xml(self.pkg.read(part), f"{self.pkg.label}: {part}")
        out = {}
        for prop in root:
            if local(prop.tag) == "property" and len(prop):
                out[prop.get("name", "")] = prop[0].text or ""
        return out


# -- reading the stored schema -------------------------------------------------------------

def read_schema(wb: Workbook) -> Schema | None:
    """The schema stored in a workbook: template settings from its custom properties,
    columns from its Schema sheet. None when the workbook carries neither."""
    props = wb.custom_props()
    chunks = sorted((int(k[len(PROP_PREFIX):]), v) for k, v in props.items()
                    if k.startswith(PROP_PREFIX) and k[len(PROP_PREFIX):].isdigit())
    rows = wb.read_small_sheet(SCHEMA_SHEET) if SCHEMA_SHEET in wb.sheets else None
    return schema_from_sheet("".join(v for _, v in chunks) or None, rows, wb.pkg.label)


# -- creating a workbook -------------------------------------------------------------------

def _width(col: Column) -> float:
    base = {"datetime": 20, "date": 12, "bool": 9, "int": 10, "float": 12, "json": 30}.get(col.type, 16)
    if col.name in ("notes", "hypothesis", "command", "error"):
        base = 40
    return float(min(60, max(base, len(col.name) + 4)))


def table_name(sheet: str) -> str:
    """A legal, readable Excel table name for a sheet."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", sheet).strip("_") or "Runs"
    if not re.match(r"[A-Za-z_]", name):
        name = "_" + name
    return name + "Table"


def build_workbook(schema: Schema) -> bytes:
    """A new workbook for ``schema``: the Runs sheet (Excel Table, frozen header, widths,
    number formats, drop-downs) and the Schema sheet documenting every column."""
    import io

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
    names = schema.names
    ws.append(names)
    last = col_letter(len(names) - 1)
    table = XlTable(displayName=table_name(schema.sheet), ref=f"A1:{last}2")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(table)
    ws.freeze_panes = "A2"
    for i, col in enumerate(schema.columns):
        letter = col_letter(i)
        ws.column_dimensions[letter].width = _width(col)
        if col.number_format:
            ws.column_dimensions[letter].number_format = col.number_format
        if col.choices:
            items = [str(c) for c in col.choices]
            formula = '"' + ",".join(items) + '"'
            if len(formula) <= 255 and not any("," in c or '"' in c for c in items):
                dv = DataValidation(type="list", formula1=formula, allow_blank=not col.required,
                                    showErrorMessage=True, errorTitle=f"{col.name}: not allowed",
                                    error=f"{col.name} must be one of: {', '.join(items)}"[:255])
                dv.add(f"{letter}2:{letter}1048576")
                ws.add_data_validation(dv)

    doc = wb.create_sheet(SCHEMA_SHEET)
    doc.append(SCHEMA_HEADER)
    for col in schema.columns:
        row = schema_sheet_row(col)
        doc.append([row[k] for k in SCHEMA_HEADER])
    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="305496")
    for cell in doc[1]:
        cell.font = bold
        cell.fill = fill
    doc.freeze_panes = "A2"
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


# -- appending -----------------------------------------------------------------------------

class Edits:
    """Parts to replace, for ``Package.write``, and how the Runs worksheet is laid out."""

    def __init__(self) -> None:
        self.replace: dict[str, Any] = {}
        self.index: tuple[str, int] | None = None  # (worksheet part, last row) to record
        self.last: list[str] = []  # parts to put at the end of the archive, in order
        self.descriptor: set[str] = set()  # parts written with a data descriptor
        self.fast: FastAppend | None = None  # set when the existing rows' bytes stay put


@dataclass
class FastAppend:
    """An append that keeps the Runs worksheet's head and rows where they are: the new
    rows and the tail follow the first ``keep`` compressed bytes of the member."""

    part: str
    keep: int
    head: SegmentStat
    body: SegmentStat
    pieces: list[bytes]  # compressed new rows (one or two segments), then the tail
    stats: list[SegmentStat]
    crc: int
    usize: int
    comment: bytes  # the zip comment with the new segment index

    def segments(self, pkg: Package) -> Segments:
        """The member as segments, for writing a whole new copy of the package."""
        h, b = self.head, self.body
        out = Segments([Raw(pkg.member_span(self.part, 0, h.clen), h.ulen, h.crc),
                        Raw(pkg.member_span(self.part, h.clen, b.clen), b.ulen, b.crc)])
        for n, (piece, st) in enumerate(zip(self.pieces, self.stats)):
            out.append(Raw(piece, st.ulen, st.crc, final=n == len(self.pieces) - 1))
        return out


class Styles:
    """The styles part, with cell formats added on demand for number formats."""

    def __init__(self, xml: bytes | None) -> None:
        self.xml = xml
        self.changed = False
        self._cache: dict[str, int] = {}
        self._scanned: tuple[dict[str, int], dict[int, int]] | None = None

    def xf_for(self, fmt: str | None) -> int | None:
        """The cellXfs index showing numbers with ``fmt`` (None for General)."""
        if not fmt or fmt == "General" or self.xml is None:
            return None
        if fmt in self._cache:
            return self._cache[fmt]
        xml = self.xml
        fmt_id = BUILTIN_FORMATS.get(fmt)
        custom, plain_xfs = self._scan()
        if fmt_id is None:
            fmt_id = custom.get(fmt)
        if fmt_id is None:
            fmt_id = max([163, *custom.values()]) + 1
            xml = _add_num_fmt(xml, fmt_id, fmt)
            self._scanned = None
        xfs = re.search(rb"<((?:\w+:)?)cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", xml, re.S)
        if xfs is None:
            return None
        index = plain_xfs.get(fmt_id)
        if index is None:
            prefix = xfs.group(1)
            count = len(re.findall(rb"<(?:\w+:)?xf\b", xfs.group(2)))
            new_xf = (b"<" + prefix + b'xf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0" '
                      b'applyNumberFormat="1"/>' % fmt_id)
            start_tag = xml[xfs.start():xfs.start(2)]
            start_tag2 = re.sub(rb'count="\d+"', b'count="%d"' % (count + 1), start_tag)
            xml = xml[:xfs.start()] + start_tag2 + xfs.group(2) + new_xf + xml[xfs.end(2):]
            index = count
        if xml is not self.xml:
            self.xml = xml
            self.changed = True
            self._scanned = None
        self._cache[fmt] = index
        return index

    def _scan(self) -> tuple[dict[str, int], dict[int, int]]:
        """Custom number formats (code -> id) and, per format id, the first plain cell
        format showing it (no font, fill or border of its own): read once per version."""
        if self._scanned is None:
            custom: dict[str, int] = {}
            for m in re.finditer(rb"<(?:\w+:)?numFmt\b[^>]*>", self.xml):
                a = attrs(m.group())
                if "numFmtId" in a and "formatCode" in a:
                    custom[a["formatCode"]] = int(a["numFmtId"])
            plain: dict[int, int] = {}
            xfs = re.search(rb"<((?:\w+:)?)cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", self.xml, re.S)
            if xfs is not None:
                for i, m in enumerate(re.finditer(rb"<(?:\w+:)?xf\b[^>]*?(?:/>|>.*?</(?:\w+:)?xf>)",
                                                  xfs.group(2), re.S)):
                    a = attrs(m.group().split(b">", 1)[0])
                    if (a.get("fontId", "0") == "0" and a.get("fillId", "0") == "0"
                            and a.get("borderId", "0") == "0"):
                        plain.setdefault(int(a.get("numFmtId", 0)), i)
            self._scanned = (custom, plain)
        return self._scanned


def _add_num_fmt(xml: bytes, fmt_id: int, code: str) -> bytes:
    m = re.search(rb"<((?:\w+:)?)numFmts\b[^>]*?(/?)>", xml)
    entry = b'numFmt numFmtId="%d" formatCode="%s"/>' % (fmt_id, _attr(code))
    if m is None:
        root = re.search(rb"<((?:\w+:)?)styleSheet\b[^>]*>", xml)
        if root is None:
            raise CorruptWorkbookError("styles part has no styleSheet element")
        p = root.group(1)
        return xml[:root.end()] + b"<" + p + b'numFmts count="1"><' + p + entry + b"</" + p + b"numFmts>" + xml[root.end():]
    p = m.group(1)
    if m.group(2) == b"/":
        return xml[:m.start()] + b"<" + p + b'numFmts count="1"><' + p + entry + b"</" + p + b"numFmts>" + xml[m.end():]
    close = xml.find(b"</" + p + b"numFmts>", m.end())
    n = len(re.findall(rb"<(?:\w+:)?numFmt\b", xml[m.end():close])) + 1
    start = re.sub(rb'count="\d+"', b'count="%d"' % n, xml[m.start():m.end()])
    if b"count=" not in start:
        start = start[:-1] + b' count="%d">' % n
    return xml[:m.start()] + start + xml[m.end():close] + b"<" + p + entry + xml[close:]


def _attr(text: str) -> bytes:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;")).encode("utf-8")


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
        next_col = 0
        for c in row:
            if local(c.tag) != "c":
                continue
            col = split_ref(c.get("r"))[0] if c.get("r") else next_col
            next_col = col + 1
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


def _cell_xml(ref: str, cell: Cell, style: int | None, p: bytes) -> bytes:
    s = b' s="%d"' % style if style else b""
    r = ref.encode()
    if cell.kind == "n":
        return b'<%sc r="%s"%s><%sv>%s</%sv></%sc>' % (p, r, s, p, number_text(cell.value).encode(), p, p)
    if cell.kind == "b":
        return b'<%sc r="%s"%s t="b"><%sv>%d</%sv></%sc>' % (p, r, s, p, 1 if cell.value else 0, p, p)
    if cell.kind == "d":
        v = cell.value
        if isinstance(v, _dt.datetime):
            text = v.astimezone(_dt.timezone.utc).replace(tzinfo=None).isoformat()
        else:
            text = v.isoformat()
        return b'<%sc r="%s"%s t="d"><%sv>%s</%sv></%sc>' % (p, r, s, p, text.encode(), p, p)
    return b'<%sc r="%s"%s t="inlineStr"><%sis>%s</%sis></%sc>' % (
        p, r, s, p, inline_text(cell.value, p), p, p)


def _header_cell_xml(ref: str, text: str, style: str | None, p: bytes) -> bytes:
    s = b' s="%s"' % style.encode() if style else b""
    return b'<%sc r="%s"%s t="inlineStr"><%sis>%s</%sis></%sc>' % (
        p, ref.encode(), s, p, inline_text(text, p), p, p)


def _dimension(head: bytes, p: bytes, width: int, last_row: int) -> tuple[int, int, bytes] | None:
    """The piece that rewrites ``<dimension ref>`` for the new extent (None when absent)."""
    dim = re.search(rb"<" + re.escape(p) + rb"dimension\b[^>]*>", head)
    if dim is None:
        return None
    old_cols = 0
    with contextlib.suppress(ValueError):
        old_cols = split_ref(attrs(dim.group()).get("ref", "A1").split(":")[-1])[0] + 1
    ref = range_ref(0, 1, max(width, old_cols, 1) - 1, max(last_row, 1)).encode()
    return dim.start(), dim.end(), re.sub(rb'ref="[^"]*"', b'ref="' + ref + b'"', dim.group())


def _autofilter(tail: bytes, p: bytes, old_last: int, new_last: int, width: int) -> tuple[int, int, bytes] | None:
    """The piece that grows a worksheet-level autofilter with the data (None when unchanged)."""
    af = re.search(rb"<" + re.escape(p) + rb"autoFilter\b[^>]*>", tail)
    if af is None:
        return None
    new_af = _grow_ref_tag(af.group(), old_last, new_last, width)
    return None if new_af == af.group() else (af.start(), af.end(), new_af)


def _splice(xml: bytes | memoryview, pieces: list[tuple[int, int, bytes]], lo: int = 0,
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


def _rows_xml(rows: list[dict[str, Cell | None]], header: list[str], columns: dict[str, Column],
              styles: Styles, after: int, p: bytes, label: str) -> bytes:
    """``<row>`` elements for ``rows``, numbered from ``after + 1``, cells placed by header name."""
    position = {name: i for i, name in enumerate(header) if name}
    style_of = {name: styles.xf_for(col.number_format) for name, col in columns.items()}
    out = []
    r = after
    for row in rows:
        r += 1
        cells = []
        for name, cell in row.items():
            if cell is None:
                continue
            idx = position.get(name)
            if idx is None:
                raise CorruptWorkbookError(f"{label}: column {name!r} is not in the header")
            cells.append((idx, _cell_xml(f"{col_letter(idx)}{r}", cell, style_of.get(name), p)))
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


def _header_row(frag: bytes, p: bytes, first_new: int, new_names: list[str], style: str | None,
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
    cells += [(first_new + i, _header_cell_xml(f"{col_letter(first_new + i)}1", name, style, p))
              for i, name in enumerate(new_names)]
    cells.sort(key=lambda c: c[0])
    return start_tag + b"".join(c for _, c in cells) + b"</" + p + b"row>"


def edit_sheet(wb: Workbook, part: str, sheet: SheetXml, rows: list[dict[str, Cell | None]],
               columns: dict[str, Column], new_names: list[str], styles: Styles,
               runs: bool = False) -> SheetEdit:
    """Append ``rows`` (column name -> cell) to worksheet ``part``, adding ``new_names`` to
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
    dim = _dimension(head, p, width, last_row)
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
            rows_prefix = _header_row(b'<%srow r="1"/>' % p, p, first_new, new_names, None, width)
        else:
            start, end = sheet.header_span
            header_edit.append((start, end, _header_row(xml[start:end], p, first_new, new_names,
                                                        sheet.header_style, width)))

    block = _rows_xml(rows, header, columns, styles, max(sheet.last_row, 1), p,
                      f"{wb.pkg.label}: {part}")
    if sheet.self_closing:
        tail_at = xml.find(b">", sheet.sd_start) + 1
        head_chunks = _splice(xml, head_pieces, 0, sheet.sd_start) + [b"<" + p + b"sheetData>"]
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
        head_chunks = _splice(xml, head_pieces + (header_edit if runs else []), 0, split)
        body_pieces = ([] if runs else header_edit) + [(sheet.cut, sheet.close, block)]
        if runs:
            head_chunks.append(rows_prefix)
        else:
            body_pieces[-1] = (sheet.cut, sheet.close, rows_prefix + block)
        body_chunks = _splice(xml, body_pieces, split, sheet.close)  # empty rows after the data go
    af = _autofilter(xml[tail_at:], p, sheet.last_row, last_row, width)
    tail_chunks = tail_open + _splice(xml[tail_at:], [af] if af else [])
    parts = min(4, os.cpu_count() or 1) if len(xml) >= PARALLEL_MIN_BYTES else 1
    if runs:
        total = sum(len(c) for c in body_chunks)
        front, anchor = _split_chunks_at(body_chunks, max(0, total - ANCHOR_BYTES))
        body_segments = [*(split_chunks(front, parts) if front else []), anchor]
    else:
        body_segments = split_chunks(body_chunks, parts)
    return SheetEdit(Segments([head_chunks, *body_segments, tail_chunks]),
                     last_row, header, af[2] if af else None, sheet.table_names() + list(new_names))


def _split_chunks_at(chunks: list[Any], at: int) -> tuple[list[Any], list[Any]]:
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


def _grow_tables(wb: Workbook, part: str, edits: Edits, new_last: int, header: list[str]) -> None:
    tables = {tpart: wb.pkg.read(tpart) for tpart in wb.tables_of(part)}
    for tpart, txml in tables.items():
        others = [x for name, x in tables.items() if name != tpart]
        new_t = _grow_table(txml, new_last, header, _table_columns(others))
        if new_t != txml:
            edits.replace[tpart] = new_t


def _table_columns(tables: list[bytes]) -> set[int]:
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


def _grow_ref_tag(tag: bytes, old_last: int, new_last: int, width: int) -> bytes:
    """Widen a ``ref`` starting at row 1 that covered the data to the new last row and width."""
    a = attrs(tag)
    ref = a.get("ref", "")
    if ":" not in ref:
        return tag
    try:
        c1, r1 = split_ref(ref.split(":")[0])
        c2, r2 = split_ref(ref.split(":")[1])
    except ValueError:
        return tag
    if r1 != 1 or r2 < old_last:
        return tag
    new_ref = range_ref(c1, r1, max(c2, width - 1), max(r2, new_last, 2)).encode()
    return re.sub(rb'ref="[^"]*"', b'ref="' + new_ref + b'"', tag, count=1)


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


def _grow_table(txml: bytes, new_last: int, header: list[str], taken: set[int] | None = None) -> bytes:
    """Grow a table anchored at A1 to the new last row and across the named header columns
    right of it, stopping at an unnamed column or one another table occupies."""
    info = table_info(txml)
    if info is None:
        return txml
    m = re.search(rb"<((?:\w+:)?)table\b[^>]*>", txml)
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
            cols = b"".join(b'<%stableColumn id="%d" name="%s"/>' % (p, next_id + i, _attr(escape_shapes(n)))
                            for i, n in enumerate(add))
            start_tag = re.sub(rb'count="\d+"', b'count="%d"' % (len(ids) + len(add)), tc.group())
            out = out[:tc.start()] + start_tag + out[tc.end():close] + cols + out[close:]
    return out


def _check_tables(wb: Workbook, part: str, sheet_name: str, last_row: int) -> None:
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


def _absolute(ref: str) -> str:
    """``A1`` -> ``$A$1``."""
    col, row = split_ref(ref)
    return f"${col_letter(col)}${row}"


def _grow_filter_name(wb: Workbook, sheet_name: str, tag: bytes, edits: Edits) -> None:
    """Keep the ``_xlnm._FilterDatabase`` name (which LibreOffice follows) in step with a
    grown sheet-level autofilter."""
    ref = attrs(tag).get("ref", "")
    if ":" not in ref:
        return
    try:
        index = list(wb.sheets).index(sheet_name)
    except ValueError:
        return
    xml = edits.replace.get(wb.workbook_part) or wb.pkg.read(wb.workbook_part)
    pat = re.compile(rb'(<(?:\w+:)?definedName\b(?=[^>]*name="_xlnm._FilterDatabase")(?=[^>]*localSheetId="%d")[^>]*>)'
                     rb'([^<]*)(</(?:\w+:)?definedName>)' % index)
    a, b = ref.split(":")
    quoted = "'" + sheet_name.replace("'", "''") + "'"
    text = quoted + "!" + _absolute(a) + ":" + _absolute(b)
    new = pat.sub(lambda m: m.group(1) + html.escape(text, quote=False).encode("utf-8") + m.group(3), xml, count=1)
    if new != xml:
        edits.replace[wb.workbook_part] = new


INDEX_MAGIC = "sheettrack-index-2"
RECENT_SPAN = 64 << 10  # the rows an append decodes to prime its own compression, at most
ANCHOR_BYTES = 32 << 10  # deflate's window: the most an append can refer back to


def _combine(a: SegmentStat, b: SegmentStat) -> SegmentStat:
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
        total = _combine(_combine(self.head, self.body), self.tail)
        return e.csize == total.clen and e.usize == total.ulen and e.crc == total.crc


def _inflate_segment(raw: memoryview, label: str, stat: SegmentStat | None = None,
                     until: bytes | None = None) -> bytes:
    """Decompress one independently compressed segment (or its start, up to ``until``)."""
    d = zlib.decompressobj(-15)
    try:
        return _inflate(d, raw, label, stat, until)
    except zlib.error as exc:
        raise CorruptWorkbookError(f"{label}: damaged compressed data ({exc})") from None


def _inflate(d: Any, raw: memoryview, label: str, stat: SegmentStat | None, until: bytes | None) -> bytes:
    if until is None:
        out = d.decompress(raw)
        if stat is not None and (len(out) != stat.ulen or zlib.crc32(out) != stat.crc):
            raise CorruptWorkbookError(f"{label}: a worksheet segment fails its checksum")
        return out
    buf = bytearray()
    for i in range(0, len(raw), 16_384):
        buf += d.decompress(raw[i:i + 16_384])
        if until in buf:
            break
    return bytes(buf)


def _check_free(sheet: SheetXml, first: int, count: int, sheet_name: str, label: str) -> None:
    """New columns go right of the header: refuse when data without a header stands there."""
    for col in range(first, first + count):
        letter = col_letter(col).encode()
        m = re.compile(rb"<" + re.escape(sheet.p) + rb'c r="' + letter + rb'(\d+)"[^>]*[^/]>').search(
            sheet.xml, sheet.body, sheet.close)
        if m is not None and int(m.group(1)) > 1:
            raise StoreError(f"{label}: {sheet_name}!{letter.decode()}{int(m.group(1))} holds data in a "
                             "column without a header; give that column a header (or move the data) "
                             "so new columns can be added after it")


def _document(wb: Workbook, cols: list[Column], edits: Edits) -> None:
    """Add a Schema sheet row for each column not documented there yet."""
    if not cols or SCHEMA_SHEET not in wb.sheets:
        return
    part = wb.sheet_part(SCHEMA_SHEET)
    sheet = SheetXml(wb.pkg.read(part), f"{wb.pkg.label}: {part}", wb.shared)
    header = sheet.header_list()
    if "column" not in header:
        return
    documented = {str(cells.get(header.index("column"))) for _, cells in wb.read_small_sheet(SCHEMA_SHEET)[1:]}
    text = Column("text")
    rows = [{k: (to_cell("float", v) if k in ("min", "max") else
                 to_cell("bool", v) if k == "required" else to_cell("string", v))
             for k, v in schema_sheet_row(col).items() if k in header}  # a person may drop a column
            for col in cols if col.name not in documented]
    if rows:
        edits.replace[part] = edit_sheet(wb, part, sheet, rows, dict.fromkeys(header, text), [],
                                         Styles(None)).segments


def plan_append(wb: Workbook, schema: Schema, rows: list[dict[str, Any]],
                new_columns: list[Column], stored: Schema | None = None) -> Edits:
    """Work out every part an append changes; nothing is written here.

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
    cells = [{name: to_cell(columns[name].type, value) for name, value in row.items()} for row in rows]
    styles = Styles(wb.pkg.read(wb.styles_part) if wb.styles_part and wb.pkg.has(wb.styles_part) else None)
    edits = Edits()
    index = SheetIndex.parse(wb.pkg.comment)
    if index is not None and index.part == part and not new_columns and index.matches(wb.pkg):
        edits.fast, result = _plan_fast(wb, part, label, index, expected, schema.sheet, cells,
                                        columns, styles)
    else:
        sheet = SheetXml(wb.pkg.read(part), label, wb.shared)
        expected.check_header(sheet.header_list(), where=f"{wb.pkg.label}: sheet {schema.sheet}: ")
        _check_tables(wb, part, schema.sheet, sheet.last_row)
        present = set(sheet.header_list())
        add_names = list(dict.fromkeys(c.name for c in schema.columns + new_columns if c.name not in present))
        _check_free(sheet, len(sheet.header_list()), len(add_names), schema.sheet, wb.pkg.label)
        result = edit_sheet(wb, part, sheet, cells, columns, add_names, styles, runs=True)
        edits.replace[part] = result.segments
        _document(wb, new_columns, edits)
    edits.index = (part, result.last_row)
    edits.last = [part, *wb.tables_of(part)]
    edits.descriptor = {part}
    _grow_tables(wb, part, edits, result.last_row, result.table_names or result.header)
    if result.filter_tag is not None:
        _grow_filter_name(wb, schema.sheet, result.filter_tag, edits)
    if styles.changed:
        edits.replace[wb.styles_part] = styles.xml
    return edits


def _plan_fast(wb: Workbook, part: str, label: str, index: SheetIndex, expected: Schema,
               sheet_name: str, cells: list[dict[str, Cell | None]], columns: dict[str, Column],
               styles: Styles) -> tuple[FastAppend, SheetEdit]:
    """The fast path: decode the head, the tail and the short recent run of rows (never
    the rows before it), and compress only the new rows and the tail."""
    pkg = wb.pkg
    h, b, t = index.head, index.body, index.tail
    rc, ru = index.recent
    head = _inflate_segment(pkg.member_slice(part, 0, h.clen), label, h)
    tail = _inflate_segment(pkg.member_slice(part, h.clen + b.clen, t.clen), label, t)
    try:
        recent = inflate_segment(pkg.member_slice(part, h.clen + b.clen - rc, rc)) if rc else b""
    except zlib.error as exc:
        raise CorruptWorkbookError(f"{label}: damaged compressed data ({exc})") from None
    if len(recent) != ru:
        raise CorruptWorkbookError(f"{label}: the worksheet's rows do not match their index")
    sheet = SheetXml(head + tail, label, wb.shared)
    header = sheet.header_list()
    expected.check_header(header, where=f"{pkg.label}: sheet {sheet_name}: ")
    last_row = index.last_row + len(cells)
    block = _rows_xml(cells, header, columns, styles, index.last_row, sheet.p, label)
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
    af = _autofilter(tail, sheet.p, index.last_row, last_row, len(header))
    tail_piece, tail_st = deflate_segment(b"".join(_splice(tail, [af] if af else [])), 6, final=True)
    body = b
    for st in stats:
        body = _combine(body, st)
    whole = _combine(_combine(h, body), tail_st)
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
            body = _combine(body, extra)
        return SheetIndex(part, head, body, tail, last_row, (segs[-2].clen, segs[-2].ulen)).text()

    return build
