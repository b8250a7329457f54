"""What a script or CI learns from the command's exit code: 0 in the store, 75 waiting in the
outbox (with one line saying why and what sends it), 1 a user error, 2 bad usage."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import sheettrack
from sheettrack import api
from sheettrack.cli import main
from sheettrack.delivery import RowQueuedWarning

EX_TEMPFAIL = 75


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def lock_like_libreoffice(book: Path) -> Path:
    owner = book.parent / f".~lock.{book.name}#"
    owner.write_text(",Jane Doe,laptop,01.01.2026 10:00,file:///home/jane/.config/libreoffice/4;")
    return owner


def waiting(target: object) -> list[str]:
    return [r["run_id"] for r in api.pending(str(target)) if r["run_id"]]


def assert_queued_line(result: Result, *fragments: str) -> str:
    """The command exited 75, printed the run id, and said in one stderr line why it waits."""
    assert result.exit_code == EX_TEMPFAIL, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("warning: ") and "outbox" in line and "sheettrack sync" in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def test_a_logged_row_in_the_store_exits_0(tmp_book: Path) -> None:
    result = cli("log", tmp_book, "-m", "accuracy=0.9")
    assert result.exit_code == 0 and result.stderr == ""
    assert waiting(tmp_book) == []


def test_a_workbook_open_elsewhere_exits_75_and_says_what_sends_the_row(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    lock_like_libreoffice(tmp_book)
    result = cli("log", tmp_book, "-m", "accuracy=0.9")
    run_id = result.stdout.strip()
    line = assert_queued_line(result, "Jane Doe", run_id)
    assert line.count(str(tmp_book)) == 1
    assert waiting(tmp_book) == [run_id]


def test_a_missing_folder_names_the_target_once_and_the_fix(tmp_path: Path) -> None:
    target = tmp_path / "nosuchdir" / "runs.xlsx"
    result = cli("log", target, "-m", "accuracy=0.9")
    line = assert_queued_line(result, "does not exist", "create the folder")
    assert line.count(str(target)) == 1


def test_a_corrupt_workbook_exits_75_with_what_to_do(tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    book.write_bytes(b"not a zip at all")
    result = cli("log", book, "-m", "accuracy=0.9")
    assert_queued_line(result, "not a readable .xlsx", "backup")


def test_strict_is_an_error_that_says_the_row_still_waits(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    lock_like_libreoffice(tmp_book)
    result = cli("log", tmp_book, "-m", "accuracy=0.9", "--strict")
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Jane Doe" in line
    assert "waits in the outbox" in line and "sheettrack sync" in line and "twice" in line
    assert len(waiting(tmp_book)) == 1


def test_a_bad_value_exits_1_and_queues_nothing(tmp_book: Path) -> None:
    sheettrack.init(tmp_book, "classification")
    result = cli("log", tmp_book, "-m", "accuracy=7")
    assert result.exit_code == 1 and result.stdout == ""
    assert waiting(tmp_book) == []


def test_bad_usage_exits_2(tmp_book: Path) -> None:
    assert cli("log", tmp_book, "-m", "accuracy").exit_code == 2
    assert cli("log", tmp_book, "--nope").exit_code == 2


def test_log_many_exits_75_when_its_rows_wait(tmp_book: Path, tmp_path: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    lock_like_libreoffice(tmp_book)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"metrics": {"accuracy": a}}) for a in (0.1, 0.2)))
    result = cli("log-many", tmp_book, rows)
    ids = result.stdout.split()
    assert len(ids) == 2
    assert_queued_line(result, "2 runs wait")
    assert waiting(tmp_book) == ids


def test_sync_exits_75_while_rows_wait_and_0_once_sent(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    owner = lock_like_libreoffice(tmp_book)
    with pytest.warns(RowQueuedWarning):
        sheettrack.log(tmp_book, metrics={"accuracy": 0.9})
    assert cli("sync", tmp_book).exit_code == EX_TEMPFAIL
    owner.unlink()
    result = cli("sync", tmp_book)
    assert result.exit_code == 0 and "delivered 1" in result.stdout


def test_the_api_returns_the_id_with_a_warning_of_its_own(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    lock_like_libreoffice(tmp_book)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_id = sheettrack.log(tmp_book, metrics={"accuracy": 0.9})
    assert [w.category for w in caught] == [RowQueuedWarning]
    assert issubclass(RowQueuedWarning, sheettrack.SheettrackWarning)
    assert sheettrack.RowQueuedWarning is RowQueuedWarning
    assert run_id in str(caught[0].message)


def test_strict_true_raises_and_the_note_says_the_row_waits(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    lock_like_libreoffice(tmp_book)
    with pytest.raises(sheettrack.WorkbookLockedError) as raised:
        sheettrack.log(tmp_book, metrics={"accuracy": 0.9}, strict=True, run_id="r-strict")
    assert "r-strict waits in the outbox" in raised.value.__notes__[0]
    with pytest.raises(sheettrack.WorkbookLockedError), sheettrack.start_run(tmp_book, strict=True):
        pass
    assert len(waiting(tmp_book)) == 2


def test_the_outbox_folder_keeps_no_file_for_a_target_with_nothing_waiting(
        tmp_book: Path, outbox_dir: Path) -> None:
    sheettrack.log(tmp_book, metrics={"accuracy": 0.8})
    owner = lock_like_libreoffice(tmp_book)
    with pytest.warns(RowQueuedWarning):
        sheettrack.log(tmp_book, metrics={"accuracy": 0.9})
    assert [p.suffix for p in outbox_dir.iterdir() if not p.name.startswith(".")].count(".outbox") == 1
    owner.unlink()
    api.sync(str(tmp_book))
    assert [p.name for p in outbox_dir.iterdir() if not p.name.startswith(".")] == []
