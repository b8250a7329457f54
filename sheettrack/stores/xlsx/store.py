"""The .xlsx store: a workbook on disk, appended to part by part.

Creating a workbook uses openpyxl once. Writing never loads and re-saves the workbook through
openpyxl (that drops people's charts and images and costs tens of seconds at 50k rows): a
transaction edits the Runs worksheet part, the reference sheets and the small parts that must
grow (tables, autofilters, styles, the sheet list) and copies every other part byte for byte,
under one lock, in one write. Usually only the end of the file changes (the fast path: the
Runs worksheet and its table are the last members), and the unchanged start of the new copy is
copied by the operating system, or overwritten in place behind a rollback journal when asked
(``journal.py``); the new copy is swapped in atomically. So a file without a journal beside it
is always a complete version: readers take no lock unless a journal must be recovered.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ...errors import CorruptWorkbookError, SheetNotFoundError, StoreError, WorkbookLockedError
from ...schema import Schema
from ..base import ReferenceRows, RunRows, Store, Table, Transaction
from ..rows import expected_header, reference_cells, table_of
from . import journal
from .adopt import check_own_table, plan_layout
from .append import COMPRESS_LEVEL, SheetIndex, index_comment, new_end, plan_append
from .create import build_workbook
from .grid import sheet_values
from .lock import LOCK_TIMEOUT_S, WorkbookLock, lock_path, owner_of
from .parts import Edits, Workbook, read_schema
from .references import plan_reference_rows, sheet_named
from .styles import Styles
from .worksheet import EXCEL_TEXT_LIMIT
from .zip import Package

T = TypeVar("T")


@dataclass
class WriteStats:
    """What a store handle has cost so far: workbook locks taken, and new versions of the
    workbook written (an atomic replace, or an in-place write of its end)."""

    locks: int = 0
    rewrites: int = 0


class ExcelStore(Store):
    """A local .xlsx workbook."""

    text_limit = EXCEL_TEXT_LIMIT

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()  # a link keeps pointing at the workbook
        self.target = str(path)
        self._schema: tuple[tuple, Schema | None] | None = None  # (file version, stored schema)
        self.last_write: str | None = None  # "inplace" or "replace": how the last append wrote
        # how a "replace" copied the unchanged start: "reflink", "copy_file_range",
        # "read/write", or "package" (every part written out again, swapped in or, with
        # SHEETTRACK_WRITE=inplace, written over the file: the general path)
        self.last_copy: str | None = None
        self.stats = WriteStats()

    @property
    def key(self) -> str:
        """The workbook's real path: every handle on the same file shares it."""
        return str(self.path)

    # -- files, errors and the lock ---------------------------------------------------------
    @contextlib.contextmanager
    def os_errors(self, doing: str) -> Iterator[None]:
        """Turn an ``OSError`` inside the block into a ``StoreError`` saying what could not
        be done ("TARGET: cannot DOING: why"): the one place that message is made."""
        try:
            yield
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot {doing}: {exc.strerror or exc}", self.target) from None

    def _missing(self) -> StoreError:
        return StoreError(f"{self.target}: no such workbook; create it with "
                          f"'sheettrack init {self.target}' or log a run to it", self.target)

    def _open(self, writable: bool = False) -> BinaryIO:
        """The workbook opened for reading (or for writing in place, falling back to reading
        when the file itself is read-only in a writable folder: it is then copied)."""
        try:
            if writable:
                try:
                    return open(self.path, "r+b")
                except PermissionError:
                    pass
            return open(self.path, "rb")
        except FileNotFoundError:
            raise self._missing() from None

    def package(self, fh: BinaryIO) -> Package:
        """The workbook open as ``fh`` as a package read lazily: only the zip directory up
        front, each part when it is asked for, and the parts a write copies unchanged pass
        through a megabyte at a time. Writing it back with ``Package.write`` keeps the Runs
        worksheet and its tables at the end of the archive, so appends after such a rewrite
        still take the fast path."""
        pkg = Package.from_file(fh, str(self.path))
        index = SheetIndex.parse(pkg.comment)
        if index is not None and index.part in pkg.by_name:
            at = pkg.by_name[index.part].offset
            pkg.keep_last = [e.name for e in sorted(pkg.entries, key=lambda e: e.offset) if e.offset >= at]
        return pkg

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workbook's lock, having first finished or undone a write a crash
        interrupted."""
        lock = WorkbookLock(lock_path(self.path), LOCK_TIMEOUT_S)
        with self.os_errors("lock the workbook"):
            try:
                lock.acquire()
            except TimeoutError:
                raise StoreError(f"{self.target}: another process has held the workbook's lock for "
                                 f"{LOCK_TIMEOUT_S:.0f} s", self.target) from None
        self.stats.locks += 1
        try:
            journal.recover(self.path, self.target)
            yield
        finally:
            lock.release()

    def check_owner(self) -> None:
        """Refuse to write while Excel or LibreOffice has the workbook open."""
        owner = owner_of(self.path)
        if owner is not None:
            file, who = owner
            raise WorkbookLockedError(
                f"{self.target} is open by {who} (owner file {file.name}); writing now would lose "
                f"rows when it is saved. Close it there, or delete {file.name} if nobody has it open.",
                self.target, who)

    def replace(self, write: Callable[[Any], Any], source: Any = None) -> None:
        """Swap in a new version of the workbook written by ``write(fh)`` (hold the lock);
        ``source`` is the open workbook it was read from."""
        journal.replace_file(self.path, write, source)
        self.stats.rewrites += 1

    def rewrite(self, write: Callable[[Any], Any], source: BinaryIO | None) -> str:
        """Write a whole new version of the workbook with ``write(fh)`` (hold the lock):
        swapped in (``replace``), or with ``SHEETTRACK_WRITE=inplace`` written over the open
        workbook ``source`` from the first byte that differs, behind the journal, so the file
        keeps its inode (and every hard link sees the new version). Returns how: "replace"
        or "inplace" (a workbook built in memory, ``source`` None, is always swapped in)."""
        if source is not None and journal.write_mode() == "inplace" and source.writable():
            buf = io.BytesIO()
            write(buf)
            data = buf.getvalue()
            offset = journal.common_prefix(source, data)
            if journal.write_in_place(self.path, source, offset, data[offset:]):
                self.stats.rewrites += 1
                return "inplace"
            write = lambda out: out.write(data)  # noqa: E731 - the copy is made already
        self.replace(write, source)
        return "replace"

    def _check_folder(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise StoreError(f"{self.target}: folder {folder} does not exist", self.target)

    # -- reading ------------------------------------------------------------------------------
    def _read(self, read: Callable[[Package], T]) -> T:
        """``read(package)`` over the workbook as its last complete write left it.

        Without a journal beside it the file is complete (every write but the opt-in
        in-place one swaps in a finished copy), so it is read without the lock; only when a
        journal is there, or the file changed while it was read (an in-place write meanwhile),
        is it read again under the lock, which recovers first."""
        if not journal.pending(self.path):
            with self.os_errors("read"), self._open() as fh:
                before = _version(fh)
                try:
                    result = read(self.package(fh))
                except CorruptWorkbookError:
                    if _version(fh) == before and not journal.pending(self.path):
                        raise
                else:
                    if _version(fh) == before and not journal.pending(self.path):
                        return result
        if self.path.parent.is_dir() and not os.access(self.path.parent, os.W_OK):
            # a folder this process cannot write: no lock and no rollback; the journal is
            # applied in memory instead
            with self.os_errors("read"):
                try:
                    data = journal.snapshot(self.path)
                except FileNotFoundError:
                    raise self._missing() from None
            return read(Package(data, str(self.path)))
        with self.os_errors("read"), self.locked(), self._open() as fh:
            return read(self.package(fh))

    def exists(self) -> bool:
        return self.path.is_file()

    def read_schema(self) -> Schema | None:
        return self._read(lambda pkg: self._stored(Workbook(pkg)))

    def _stored(self, wb: Workbook) -> Schema | None:
        """The workbook's stored schema, parsed once per version of the file."""
        if self._schema is None or self._schema[0] != wb.pkg.version or not wb.pkg.version:
            self._schema = (wb.pkg.version, read_schema(wb))
        return self._schema[1]

    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        """The values of column ``key`` (named in row 1) of reference sheet ``sheet``, whose
        name is matched regardless of case as the reference writer matches it (empty when
        there is no such sheet), read from that sheet's own part: the Runs worksheet is
        neither read nor held in memory. None where that cannot be done (a damaged part):
        the caller then reads the sheet in full."""
        def rows_of(pkg: Package) -> list[tuple[int, dict[int, Any]]]:
            wb = Workbook(pkg)
            name = sheet_named(wb, sheet)
            return wb.read_small_sheet(name) if name is not None else []

        try:
            rows = self._read(rows_of)
        except CorruptWorkbookError:
            return None
        if not rows or rows[0][0] != 1:
            return set()
        col = next((c for c, v in sorted(rows[0][1].items()) if str(v) == key), None)
        if col is None:
            return set()
        return {str(cells[col]) for _, cells in rows[1:] if cells.get(col) not in (None, "")}

    def read(self, sheet: str | None = None) -> Table:
        if not self.path.is_file():
            raise StoreError(f"{self.target}: no such workbook", self.target)
        return self._read(lambda pkg: self._table(pkg, sheet))

    def _table(self, pkg: Package, sheet: str | None) -> Table:
        """Sheet ``sheet`` (the runs sheet by default) read with python-calamine."""
        name = sheet
        try:
            wb = Workbook(pkg)
            schema = self._stored(wb) if name is None else None
            if name is None:
                name = schema.sheet if schema else next(iter(wb.sheets), "")
            if name not in wb.sheets:
                raise SheetNotFoundError(f"{self.target}: no sheet named {name!r} (sheets: "
                                         f"{', '.join(wb.sheets)})", self.target, sheet=name)
            values = sheet_values(pkg, wb, name)
        except StoreError:
            raise
        except Exception as exc:  # calamine raises its own types for damaged files
            raise CorruptWorkbookError(f"{self.target}: cannot read the workbook: {exc}", self.target) from None
        return table_of(name, values)

    # -- writing ------------------------------------------------------------------------------
    def create(self, schema: Schema) -> bool:
        self._check_folder()
        with self.os_errors("write"), self.locked():
            if self.path.exists():
                return False
            self.check_owner()
            data = build_workbook(schema)
            self.replace(lambda fh: fh.write(data))
            return True

    def commit(self, tx: Transaction) -> None:
        """Write everything ``tx`` carries under one lock, in one new version of the workbook
        (a workbook ``tx.layout`` creates is laid out and filled in memory first): the run
        rows and the reference rows they point at land together, or, when anything is
        refused, nothing does."""
        run = _one_run(tx.runs)
        refs = [(ref, *reference_cells(ref.header, ref.rows, f"{self.target}: sheet {ref.sheet}",
                                       self.text_limit)) for ref in _by_sheet(tx.references)]
        if tx.layout is not None:
            self._check_folder()
        with self.os_errors("write"), self.locked():
            self.check_owner()
            if tx.layout is not None and not self.path.exists():
                data = build_workbook(tx.layout)
                if run is None and not refs:
                    self.replace(lambda fh: fh.write(data))
                else:  # laid out and filled in memory: one new file, or none when a row is refused
                    self._write(Package(data, str(self.path)), run, refs, None)
                return
            if run is None and not refs:
                return
            with self._open(writable=True) as fh:
                pkg = self.package(fh)
                wb = Workbook(pkg)
                if run is not None:
                    laid = self._laid_out(wb, run.schema, expected_header(run.schema, run.new_columns))[0]
                    if laid is not pkg:
                        pkg, wb = laid, Workbook(laid)
                self._write(pkg, run, refs, fh, wb)

    def lay_out(self, schema: Schema) -> list[str]:
        """Make the workbook ready for ``schema``'s runs: create it when missing, else add the
        sheets and settings it lacks (every other part stays byte for byte). Returns what was
        done, one phrase each; empty when the workbook had everything."""
        if self.create(schema):
            return [f"created {self.target}"]
        with self.os_errors("write"), self.locked():
            self.check_owner()
            with self._open(writable=True) as fh:
                pkg, added = self._laid_out(Workbook(self.package(fh)), schema)
                if added:
                    self.rewrite(lambda out: out.write(pkg.data), fh)
        return added

    def _laid_out(self, wb: Workbook, schema: Schema, header: Schema | None = None) -> tuple[Package, list[str]]:
        """The workbook's package with what ``schema``'s layout needs and it lacks added, built
        in memory, and what was added; the package itself when nothing is. For an append
        (``header``: the columns its runs sheet must have already) only a missing runs sheet is
        laid out, and a runs sheet sheettrack did not lay out is checked first: a table of
        one's own is refused."""
        pkg = wb.pkg
        if header is not None and schema.sheet in wb.sheets:
            index = SheetIndex.parse(pkg.comment)
            if not (index is not None and index.part == wb.sheets[schema.sheet] and index.matches(pkg)) \
                    and self._stored(wb) is None:
                check_own_table(wb, schema.sheet, header, False)
            return pkg, []
        edits = Edits(pkg)
        styles = Styles(wb.styles_xml())
        added = plan_layout(wb, edits, styles, schema)
        if not added:
            return pkg, []
        edits.keep_styles(wb, styles)
        buf = io.BytesIO()
        pkg.write(buf, edits.replace, COMPRESS_LEVEL, comment=lambda stats: b"")
        return Package(buf.getvalue(), str(self.path)), added

    def _write(self, pkg: Package, run: RunRows | None, refs: list[tuple[ReferenceRows, Any, Any]],
               fh: BinaryIO | None, wb: Workbook | None = None) -> None:
        """Plan every part the rows change, then write them: the end of the file when only
        the Runs worksheet's end and what follows it change, else a whole new copy. ``fh``
        is the open workbook (None for one built in memory); ``wb``, ``pkg`` located already."""
        wb = wb or Workbook(pkg)
        edits = Edits(pkg)
        styles = Styles(wb.styles_xml())
        if run is not None:
            plan_append(wb, edits, styles, run.schema, list(run.rows), list(run.new_columns),
                        self._stored(wb) if run.new_columns else None)
        for ref, cells, columns in refs:
            plan_reference_rows(wb, edits, styles, ref.sheet, list(ref.header), cells, columns)
        edits.keep_styles(wb, styles)
        end = new_end(pkg, edits) if edits.fast is not None and fh is not None else None
        if end is not None and fh is not None and self._in_place(pkg, edits, end, fh):
            self.last_write, self.last_copy = "inplace", None
            self.stats.rewrites += 1
            return
        if end is not None and fh is not None:  # a new copy: the unchanged start copied by the OS
            offset, data = end
            how: list[str] = []
            self.replace(lambda out: how.append(journal.copy_prefix(fh, out, offset, data)), fh)
            self.last_write, self.last_copy = "replace", how[0]
            return
        if edits.fast is not None:
            edits.replace[edits.fast.part] = edits.fast.segments(pkg)
        self.last_write = self.rewrite(lambda out: pkg.write(out, edits.replace, COMPRESS_LEVEL,
                                                             comment=index_comment(edits), last=edits.last,
                                                             descriptor=edits.descriptor), fh)
        self.last_copy = "package"

    def _in_place(self, pkg: Package, edits: Edits, end: tuple[int, bytes], fh: BinaryIO) -> bool:
        """With ``SHEETTRACK_WRITE=inplace``, overwrite the end of the workbook behind a
        journal when that is safe; False when a new copy must be written instead (nothing
        written then)."""
        if journal.write_mode() == "replace" or not fh.writable():
            return False
        offset, data = end
        if offset + len(data) < pkg.size:  # never shorter: pad the comment (readers ignore it)
            padded = new_end(pkg, edits, pkg.size - offset - len(data))
            if padded is None:
                return False
            offset, data = padded
        return journal.write_in_place(self.path, fh, offset, data)

    def write_sheets(self, sheets: list[Any], remove: Sequence[str] = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        from .summaries import plan_sheets  # summaries (and what they import) load only here

        with self.os_errors("write"), self.locked():
            self.check_owner()
            with self._open(writable=True) as fh:
                pkg = self.package(fh)
                edits = plan_sheets(Workbook(pkg), sheets, list(remove), protect)
                self.rewrite(lambda out: pkg.write(out, edits.parts, COMPRESS_LEVEL, drop=edits.drop), fh)
        return edits.written


def _version(fh: BinaryIO) -> tuple[int, int, int]:
    """What changes when a file is written in place: its size and its times."""
    st = os.fstat(fh.fileno())
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _one_run(runs: list[RunRows]) -> RunRows | None:
    """The run rows of a transaction as one batch for one runs sheet (columns added by any
    of them are added once, the first definition winning)."""
    if len(runs) <= 1:
        return runs[0] if runs else None
    schema = runs[0].schema
    added: dict[str, Any] = {}
    for run in runs:
        if run.schema.sheet != schema.sheet:
            raise ValueError("one transaction writes run rows to one runs sheet")
        schema = schema.with_columns([c for c in run.schema.columns if schema.column(c.name) is None])
        for col in run.new_columns:
            added.setdefault(col.name, col)
    return RunRows([row for run in runs for row in run.rows], schema, list(added.values()))


def _by_sheet(refs: list[ReferenceRows]) -> list[ReferenceRows]:
    """Reference rows gathered per sheet (names matched regardless of case), headers joined."""
    out: dict[str, ReferenceRows] = {}
    for ref in refs:
        had = out.get(ref.sheet.lower())
        if had is None:
            out[ref.sheet.lower()] = ref
        else:
            out[ref.sheet.lower()] = ReferenceRows(had.sheet, list(dict.fromkeys([*had.header, *ref.header])),
                                                   [*had.rows, *ref.rows], had.key)
    return list(out.values())
