"""Appends that overwrite only the workbook's end: crash safety and agreement with the
general path, checked with python-calamine, openpyxl and LibreOffice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from helpers import header_of, read_calamine, sha256, table_ref, write_records

import sheettrack
from sheettrack.stores.xlsx import ExcelStore, journal, lock
from sheettrack.stores.xlsx import zip as xlsx_zip


@pytest.fixture(autouse=True)
def in_place_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the opt-in in-place write (the default replaces the file)."""
    monkeypatch.setenv("SHEETTRACK_WRITE", "inplace")

RUNS_PART = "xl/worksheets/sheet1.xml"


def _leftovers(book: Path) -> list[str]:
    """Files beside the workbook other than it, its lock file and its (empty) journal."""
    journal_file = book.parent / f".{book.name}.journal"
    if journal_file.exists():
        assert journal_file.stat().st_size == 0, "a journal was left behind"
    return sorted(p.name for p in book.parent.iterdir()
                  if p.name not in (book.name, f".{book.name}.lock", journal_file.name))


def _column(rows: list[list[Any]], name: str) -> list[Any]:
    i = header_of(rows)[name]
    return [r[i] if i < len(r) else "" for r in rows[1:]]


def _openpyxl_column(path: Path, name: str) -> list[Any]:
    ws = openpyxl.load_workbook(path)["Runs"]
    header = [c.value for c in ws[1]]
    i = header.index(name)
    return [row[i] for row in ws.iter_rows(min_row=2, values_only=True)]


def _how_it_wrote(book: Path, **kwargs: Any) -> str:
    """Log one run through a store of our own and say whether it wrote in place."""
    return _write_and_say(book, **kwargs)[0]


def _write_and_say(book: Path, **kwargs: Any) -> tuple[str, str | None]:
    """Log one run through a store of our own; say whether it wrote in place, and how it
    copied ("package": the general path, every part written out again)."""
    from sheettrack.run import Run

    run = Run(book)
    run.params.update(kwargs.get("params", {}))
    run.metrics.update(kwargs.get("metrics", {}))
    session = write_records(book, [run.record()])
    assert isinstance(session.store, ExcelStore)
    return session.store.last_write or "", session.store.last_copy


# --------------------------------------------------------------------------- the fast path

def test_appends_write_in_place_and_keep_the_file(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"n": 0, "model": "a"})
    inode = tmp_book.stat().st_ino
    ways = [_how_it_wrote(tmp_book, params={"n": i, "model": "ab" * i}) for i in range(1, 40)]
    assert ways == ["inplace"] * 39
    assert tmp_book.stat().st_ino == inode
    assert _leftovers(tmp_book) == []
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.testzip() is None
        # the Runs worksheet and its table come last but for small reference sheets added
        # later (Environments): an append rewrites only what follows the rows it keeps
        names = [i.filename for i in zf.infolist()]
        after = names[names.index(RUNS_PART) + 1:]
        assert after[0] == "xl/tables/table1.xml"
        assert all(zf.getinfo(n).file_size < 64_000 for n in after)
    rows = read_calamine(tmp_book)
    assert _column(rows, "n") == list(range(40))
    assert _openpyxl_column(tmp_book, "n") == list(range(40))
    assert table_ref(tmp_book).endswith("41")
    assert sheettrack.validate(tmp_book) == []


def test_row_by_row_appends_compress_like_one_stream(tmp_book: Path) -> None:
    """New rows are compressed with the recent rows as their dictionary."""
    import zlib

    from sheettrack import delivery
    from sheettrack.run import Run
    from sheettrack.session import Session

    sheettrack.log(tmp_book, params={"n": 0, "model": "resnet18", "lr": 0.001},
                   notes="cosine schedule, warmup 500 steps")
    session = Session.open(tmp_book)
    layout = session.layout()
    base = Run(tmp_book).record()
    for n in range(1, 300):
        record = replace(base, run_id=base.run_id[:-4] + f"{n:04d}",
                         params={"n": n, "model": "resnet18", "lr": 0.001},
                         notes="cosine schedule, warmup 500 steps")
        rows, _ = delivery.build_rows(session, layout, [record])
        session.store.append(rows, layout.schema, [])
        assert session.store.last_write == "inplace"
    with zipfile.ZipFile(tmp_book) as zf:
        info = zf.getinfo(RUNS_PART)
        xml = zf.read(RUNS_PART)
    one_stream = len(zlib.compress(xml, 1))  # as the general path compresses a whole sheet
    rows_alone = sum(len(zlib.compress(row + b"</row>", 6)) - 6  # each row on its own
                     for row in xml.split(b"</row>")[1:-1])
    assert info.compress_size < 1.5 * one_stream
    assert info.compress_size < rows_alone / 3
    assert _column(read_calamine(tmp_book), "n") == list(range(300))


def _paths_book(folder: Path, runs: list[dict[str, Any]], mode: str) -> Path:
    book = folder / mode / "runs.xlsx"
    book.parent.mkdir()
    sheettrack.init(book, "classification")
    for run in runs:
        if mode == "general":  # as if another program saved it before every append
            data = bytearray(book.read_bytes())
            eocd = data.rfind(b"PK\x05\x06")
            data[eocd + 20:eocd + 22] = b"\0\0"
            book.write_bytes(bytes(data[:eocd + 22]))
        sheettrack.log(book, **run)
    return book


def test_in_place_copy_and_general_paths_write_what_every_reader_sees_as_equal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libreoffice: Any) -> None:
    runs = [{"params": {"model": m, "lr": (i + 1) / 64, "batch_size": i + 1},
             "metrics": {"accuracy": (i % 10) / 10, "loss": 1 / (i + 1)},
             "notes": "a&b <c> \u00fcn\u00ef" if i % 3 == 0 else None}
            for i, m in enumerate(["mlp", "_x0041_", "=1+1", "tab\there", " lead", "cnn"] * 4)]
    books = {"inplace": _paths_book(tmp_path, runs, "inplace"),
             "general": _paths_book(tmp_path, runs, "general")}
    monkeypatch.setenv("SHEETTRACK_WRITE", "replace")
    books["copy"] = _paths_book(tmp_path, runs, "copy")
    monkeypatch.setenv("SHEETTRACK_WRITE", "inplace")
    names = ["model", "lr", "batch_size", "accuracy", "loss", "notes", "status"]
    seen = {}
    for mode, book in books.items():
        rows = read_calamine(book)
        lo = libreoffice.csv(book)["Runs"]
        seen[mode] = ({n: _column(rows, n) for n in names}, [rows[0]],
                      {n: _openpyxl_column(book, n) for n in names},
                      {n: _column(lo, n) for n in names}, table_ref(book))
    assert seen["inplace"] == seen["general"] == seen["copy"]
    assert seen["inplace"][0]["model"] == [r["params"]["model"] for r in runs]
    assert len(seen["inplace"][3]["model"]) == len(runs)


# --------------------------------------------------------------------------- when it copies instead

def test_in_place_writes_keep_a_hard_linked_workbook_one_file(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"n": 0})
    other = tmp_book.parent / "other-name.xlsx"
    os.link(tmp_book, other)
    inode = tmp_book.stat().st_ino
    assert _how_it_wrote(tmp_book, params={"n": 1}) == "inplace"
    assert _write_and_say(tmp_book, params={"n": 2, "added": 1}) == ("inplace", "package")  # a new column
    assert tmp_book.stat().st_ino == other.stat().st_ino == inode
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2]
    assert _column(read_calamine(other), "n") == [0, 1, 2]  # every name sees the new version


def test_a_copy_gives_a_hard_linked_workbook_a_new_file(tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default write swaps in a new copy: the name written through sees it, another hard
    link keeps a whole earlier version (docs/stores.md)."""
    monkeypatch.setenv("SHEETTRACK_WRITE", "replace")
    sheettrack.log(tmp_book, params={"n": 0})
    other = tmp_book.parent / "other-name.xlsx"
    os.link(tmp_book, other)
    assert _how_it_wrote(tmp_book, params={"n": 1}) == "replace"
    assert _column(read_calamine(tmp_book), "n") == [0, 1]
    assert _column(read_calamine(other), "n") == [0]


def test_a_journal_that_cannot_be_written_falls_back_to_a_copy(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"n": 0})
    journal.journal_path(tmp_book).unlink(missing_ok=True)
    journal.journal_path(tmp_book).mkdir()  # a folder stands where the journal goes
    try:
        assert _how_it_wrote(tmp_book, params={"n": 1}) == "replace"
    finally:
        journal.journal_path(tmp_book).rmdir()
    assert _column(read_calamine(tmp_book), "n") == [0, 1]


@pytest.mark.parametrize("saver", ["openpyxl", "libreoffice"])
def test_a_workbook_saved_elsewhere_takes_the_general_path_once(
        tmp_book: Path, saver: str, libreoffice: Any) -> None:
    sheettrack.log(tmp_book, params={"n": 0})
    sheettrack.log(tmp_book, params={"n": 1})
    if saver == "openpyxl":
        wb = openpyxl.load_workbook(tmp_book)
        wb.save(tmp_book)
    else:
        saved = libreoffice.to_xlsx(tmp_book, tmp_book.parent / "saved")
        tmp_book.write_bytes(saved.read_bytes())
        (saved.parent / saved.name).unlink()
        saved.parent.rmdir()
    inode = tmp_book.stat().st_ino
    assert _write_and_say(tmp_book, params={"n": 2}) == ("inplace", "package")  # the general path, in place
    assert _write_and_say(tmp_book, params={"n": 3}) == ("inplace", None)
    assert tmp_book.stat().st_ino == inode
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2, 3]
    assert _openpyxl_column(tmp_book, "n") == [0, 1, 2, 3]


def test_a_full_rewrite_through_the_package_keeps_appends_fast(tmp_book: Path) -> None:
    """Writers that replace or add parts with Package.write under the lock (summary sheets)
    leave a workbook the next append still writes in place."""
    sheettrack.log(tmp_book, params={"n": 0})
    sheettrack.log(tmp_book, params={"n": 1})
    store = ExcelStore(tmp_book)
    with store.locked(), open(tmp_book, "rb") as book:
        pkg = store.package(book)
        schema_xml = pkg.read("xl/worksheets/sheet2.xml")
        store.replace(lambda fh: pkg.write(fh, {"xl/worksheets/sheet2.xml": schema_xml,
                                                "xl/extra/notes.xml": b"<notes/>"}), book)
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.read("xl/extra/notes.xml") == b"<notes/>"
        # the added part goes before the Runs worksheet and its table, which stay at the end
        names = [i.filename for i in zf.infolist()]
        assert names.index("xl/extra/notes.xml") < names.index(RUNS_PART)
        assert names[names.index(RUNS_PART) + 1] == "xl/tables/table1.xml"
    assert _how_it_wrote(tmp_book, params={"n": 2}) == "inplace"
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2]
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.testzip() is None
        assert zf.read("xl/extra/notes.xml") == b"<notes/>"


# --------------------------------------------------------------------------- crashes

CRASHER = textwrap.dedent("""
    import os, sys
    import sheettrack
    from sheettrack.stores.xlsx import journal

    at = int(sys.argv[2])
    def kill(n):
        if n == at:
            os.kill(os.getpid(), 9)
    journal.step_hook = kill
    sheettrack.log(sys.argv[1], params={"n": int(sys.argv[3])})
""")


def _crash(book: Path, at: int, n: int, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHER, str(book), str(at), str(n)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.fixture(scope="module")
def acked(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A workbook with three acknowledged runs, laid out for in-place appends."""
    book = tmp_path_factory.mktemp("acked") / "runs.xlsx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHEETTRACK_WRITE", "inplace")
        for n in range(3):
            sheettrack.log(book, params={"n": n})
    return book.read_bytes()


STEPS = [(at, {}) for at in journal.IN_PLACE_STEPS] + [(at, {"SHEETTRACK_WRITE": "replace"})
                                                      for at in journal.COPY_STEPS]


@pytest.mark.slow
@pytest.mark.parametrize(("at", "env"), STEPS, ids=[f"step{at}" for at, _ in STEPS])
def test_a_kill_at_any_write_step_loses_no_acknowledged_row(
        tmp_book: Path, acked: bytes, at: int, env: dict[str, str]) -> None:
    tmp_book.write_bytes(acked)
    _crash(tmp_book, at, 99, env)
    committed = at >= journal.STEP_WORKBOOK_WRITTEN if at in journal.IN_PLACE_STEPS \
        else at >= journal.STEP_COPY_REPLACED
    expected = [0, 1, 2] + ([99] if committed else [])
    if at == journal.STEP_WORKBOOK_HALF:
        # killed inside the overwrite: programs that ignore the journal may find the file
        # damaged until sheettrack next opens it; sheettrack's readers see the old version
        assert journal.journal_path(tmp_book).stat().st_size > 0
        view = tmp_book.parent / "view.xlsx"
        view.write_bytes(journal.snapshot(tmp_book))
        assert _column(read_calamine(view), "n") == expected
        view.unlink()
        assert sheettrack.load(tmp_book)["n"].tolist() == expected  # rolls back
        assert sha256(tmp_book) == sha256_bytes(acked)
    # as left (or as rolled back), the workbook opens in readers that know nothing of journals
    assert _column(read_calamine(tmp_book), "n") == expected
    assert _openpyxl_column(tmp_book, "n") == expected
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.testzip() is None
    # the next append finishes or undoes what was left, and lands; a row the crash kept out
    # of the workbook waited in the outbox and lands first, once
    sheettrack.log(tmp_book, params={"n": 100})
    assert _leftovers(tmp_book) == []
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2, 99, 100]
    assert sheettrack.validate(tmp_book) == []


@pytest.mark.parametrize("at", journal.IN_PLACE_STEPS, ids=[f"step{at}" for at in journal.IN_PLACE_STEPS])
def test_a_kill_while_the_general_path_writes_in_place_loses_no_acknowledged_row(
        tmp_book: Path, acked: bytes, at: int) -> None:
    """The general path (here: the segment index is of another version, as after another
    program saved the file) writes over the whole file behind the same journal."""
    data = bytearray(acked)
    eocd = data.rfind(b"PK\x05\x06")
    tmp_book.write_bytes(bytes(data[:eocd + 22]) + bytes(data[eocd + 22:]).replace(b"-index-2 ", b"-index-1 "))
    before = tmp_book.read_bytes()
    inode = tmp_book.stat().st_ino
    _crash(tmp_book, at, 99)
    committed = at >= journal.STEP_WORKBOOK_WRITTEN
    expected = [0, 1, 2] + ([99] if committed else [])
    assert sheettrack.load(tmp_book)["n"].tolist() == expected  # finishes or rolls back first
    if not committed:
        assert tmp_book.read_bytes() == before
    assert _column(read_calamine(tmp_book), "n") == expected
    assert _openpyxl_column(tmp_book, "n") == expected
    sheettrack.log(tmp_book, params={"n": 100})
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2, 99, 100]
    assert tmp_book.stat().st_ino == inode
    assert _leftovers(tmp_book) == []


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_journal_written_only_in_part_is_dropped(tmp_book: Path, acked: bytes) -> None:
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_JOURNAL_HALF, 99)
    assert journal.Journal.decode(journal.journal_path(tmp_book).read_bytes()) is None
    assert journal.recover(tmp_book, str(tmp_book)) == "dropped"
    assert sha256(tmp_book) == sha256_bytes(acked)


def test_a_journal_left_after_the_new_version_was_written_keeps_it(tmp_book: Path, acked: bytes) -> None:
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_WORKBOOK_SYNCED, 99)
    before = sha256(tmp_book)
    assert journal.recover(tmp_book, str(tmp_book)) == "kept"
    assert sha256(tmp_book) == before
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2, 99]


def test_a_torn_append_is_rolled_back_to_the_exact_old_bytes(tmp_book: Path, acked: bytes) -> None:
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_WORKBOOK_HALF, 99)
    assert sha256(tmp_book) != sha256_bytes(acked)
    assert journal.recover(tmp_book, str(tmp_book)) == "rolled back"
    assert sha256(tmp_book) == sha256_bytes(acked)
    assert journal.journal_path(tmp_book).stat().st_size == 0


def test_segment_checksums_combine_like_zlib() -> None:
    import random
    import zlib

    rng = random.Random(5)
    for _ in range(100):
        a = rng.randbytes(rng.randrange(0, 200))
        b = rng.randbytes(rng.randrange(0, 5000))
        assert xlsx_zip.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_a_journal_is_never_applied_to_another_workbook(tmp_book: Path, acked: bytes,
                                                        tmp_path: Path) -> None:
    """A workbook copied over a crashed one (a backup restored by hand) keeps its bytes."""
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_WORKBOOK_HALF, 99)
    other = tmp_path / "other" / "runs.xlsx"
    other.parent.mkdir()
    for n in range(5):
        sheettrack.log(other, params={"n": 10 + n, "note": "another workbook"})
    tmp_book.write_bytes(other.read_bytes())
    assert journal.recover(tmp_book, str(tmp_book)) == "dropped"
    assert sha256(tmp_book) == sha256(other)
    assert _column(read_calamine(tmp_book), "n") == [10, 11, 12, 13, 14]


def test_a_rollback_interrupted_halfway_is_finished_by_the_next_one(tmp_book: Path, acked: bytes) -> None:
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_WORKBOOK_HALF, 99)
    saved = journal.Journal.decode(journal.journal_path(tmp_book).read_bytes())
    assert saved is not None
    (offset, old, _, _), = saved.regions
    with open(tmp_book, "r+b") as fh:  # a rollback that died after putting back half
        fh.seek(offset)
        fh.write(old[:len(old) // 2])
    assert journal.recover(tmp_book, str(tmp_book)) == "rolled back"
    assert sha256(tmp_book) == sha256_bytes(acked)
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2]


def test_a_large_batch_then_single_runs_append_in_place(tmp_book: Path) -> None:
    """A batch bigger than the recent run the next append decodes starts a new run of
    segments; the appends after it still refer back only into that."""
    from sheettrack.run import Run

    sheettrack.log(tmp_book, params={"n": 0, "note": "first"})
    base = Run(tmp_book).record()  # provenance captured once: the batch differs in params
    batch = [replace(base, run_id=base.run_id[:-4] + f"{n:04d}",
                     params={"n": n, "note": f"batch run {n} " + "x" * (n % 50)})
             for n in range(1, 401)]
    session = write_records(tmp_book, batch)
    assert session.store.last_write == "inplace"
    ways = [_how_it_wrote(tmp_book, params={"n": n, "note": "single"}) for n in range(401, 406)]
    assert ways == ["inplace"] * 5
    rows = read_calamine(tmp_book)
    assert _column(rows, "n") == list(range(406))
    assert _openpyxl_column(tmp_book, "n") == list(range(406))
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.testzip() is None


def test_a_workbook_laid_out_by_the_first_index_version_is_laid_out_again(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"n": 0})
    data = bytearray(tmp_book.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    comment = bytes(data[eocd + 22:])
    assert comment.startswith(b"sheettrack-index-2 ")
    tmp_book.write_bytes(bytes(data[:eocd + 22]) + comment.replace(b"-index-2 ", b"-index-1 "))
    assert _write_and_say(tmp_book, params={"n": 1}) == ("inplace", "package")
    assert _write_and_say(tmp_book, params={"n": 2}) == ("inplace", None)
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2]


def test_a_reader_that_cannot_lock_sees_the_last_complete_version(
        tmp_book: Path, acked: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a folder it cannot write (no lock, no rollback), sheettrack applies a leftover
    journal in memory and leaves the file as it is."""
    tmp_book.write_bytes(acked)
    _crash(tmp_book, journal.STEP_WORKBOOK_HALF, 99)
    torn = sha256(tmp_book)

    def refuse(self: Any) -> None:
        raise PermissionError(13, "Permission denied")

    real_access = os.access
    monkeypatch.setattr(lock.WorkbookLock, "acquire", refuse)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK else real_access(p, mode))
    assert sheettrack.load(tmp_book)["n"].tolist() == [0, 1, 2]
    assert sheettrack.validate(tmp_book) == []
    assert sha256(tmp_book) == torn  # nothing written
    assert journal.journal_path(tmp_book).stat().st_size > 0
    monkeypatch.undo()
    assert sheettrack.load(tmp_book)["n"].tolist() == [0, 1, 2]  # now rolled back for real
    assert sha256(tmp_book) == sha256_bytes(acked)


def test_an_append_leaves_every_byte_before_the_new_rows_as_it_was(tmp_book: Path) -> None:
    from sheettrack.stores.xlsx.append import SheetIndex

    for n in range(3):
        sheettrack.log(tmp_book, params={"n": n})
    before = tmp_book.read_bytes()
    index = SheetIndex.parse(zipfile.ZipFile(tmp_book).comment)
    assert index is not None
    with zipfile.ZipFile(tmp_book) as zf:
        info = zf.getinfo(RUNS_PART)
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    rows_end = data_start + index.head.clen + index.body.clen
    sheettrack.log(tmp_book, params={"n": 3})
    after = tmp_book.read_bytes()
    assert after[:rows_end] == before[:rows_end]  # local header, head and existing rows
    assert len(after) - rows_end < 8 * 1024  # the new row, the tail, the table, the directory
    assert _column(read_calamine(tmp_book), "n") == [0, 1, 2, 3]
