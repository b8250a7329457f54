"""A run id names one run: a caller-chosen id that repeats one in the same batch, in the
workbook or in the outbox is refused, whichever way the row goes; sheettrack's own retries
still deliver each row exactly once by its id."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_calamine

import sheettrack
from sheettrack.errors import ValidationError


def ids_in(book: Path) -> list[str]:
    rows = read_calamine(book)
    i = rows[0].index("run_id")
    return [r[i] for r in rows[1:]]


def test_a_run_id_repeated_inside_a_batch_is_refused_naming_both_rows(tmp_book: Path) -> None:
    rows = [{"run_id": "exp-1", "params": {"lr": 0.1}}, {"run_id": "exp-2", "params": {"lr": 0.2}},
            {"run_id": "exp-1", "params": {"lr": 0.3}}]
    with pytest.raises(ValidationError, match=r"rows 0 and 2 both have run id 'exp-1'") as info:
        sheettrack.log_many(tmp_book, rows, on_error="raise")
    assert info.value.row_index == 2
    assert not tmp_book.exists()


def test_a_chosen_run_id_the_workbook_holds_is_refused_when_logged_directly(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, run_id="exp-1", params={"lr": 0.1}, on_error="raise")
    before = tmp_book.read_bytes()
    with pytest.raises(ValidationError, match=r"has a run with id 'exp-1' already"):
        sheettrack.log(tmp_book, run_id="exp-1", params={"lr": 0.2}, on_error="raise")
    with pytest.raises(ValidationError, match=r"has a run with id 'exp-1' already"):
        sheettrack.log_many(tmp_book, [{"run_id": "exp-2"}, {"run_id": "exp-1"}], on_error="raise")
    assert tmp_book.read_bytes() == before
    assert sheettrack.pending(tmp_book) == []


def test_a_chosen_run_id_is_refused_while_the_workbook_is_open_elsewhere(tmp_book: Path) -> None:
    """The second row would have waited in the outbox and been dropped there as 'already
    written': it is refused before it is queued instead."""
    sheettrack.log(tmp_book, run_id="exp-1", params={"lr": 0.1}, on_error="raise")
    owner = tmp_book.parent / f"~${tmp_book.name}"
    owner.write_bytes(b"x")
    with pytest.raises(ValidationError, match="already"):
        sheettrack.log(tmp_book, run_id="exp-1", params={"lr": 0.2})
    sheettrack.log(tmp_book, run_id="exp-2", params={"lr": 0.3})  # waits in the outbox
    with pytest.raises(ValidationError, match=r"'exp-2' waits in the outbox"):
        sheettrack.log(tmp_book, run_id="exp-2", params={"lr": 0.4})
    owner.unlink()
    sheettrack.sync(tmp_book)
    assert ids_in(tmp_book) == ["exp-1", "exp-2"]


def test_ids_sheettrack_makes_are_not_looked_up_and_still_land_once(tmp_book: Path, monkeypatch) -> None:
    from sheettrack import delivery

    sheettrack.log(tmp_book, params={"lr": 0.1}, on_error="raise")
    looked: list[str] = []
    real = delivery.stored_ids
    monkeypatch.setattr(delivery, "stored_ids", lambda s, sheet: looked.append(sheet) or real(s, sheet))
    rid = sheettrack.log(tmp_book, params={"lr": 0.2}, on_error="raise")
    assert looked == []
    assert ids_in(tmp_book)[-1] == rid


def test_a_row_written_before_a_crash_is_not_written_again_by_sync(tmp_book: Path, monkeypatch) -> None:
    """Exactly once by id for sheettrack's own retries: the row landed, but the outbox still
    holds it (the process died before taking it out); sync finds it and writes nothing."""
    from sheettrack import delivery
    from sheettrack.outbox import Outbox

    sheettrack.log(tmp_book, params={"lr": 0.1}, on_error="raise")
    monkeypatch.setattr(Outbox, "done", lambda self, ids, waiting=None: None)
    rid = sheettrack.log(tmp_book, run_id="exp-9", params={"lr": 0.2}, on_error="raise")
    monkeypatch.undo()
    assert [p["run_id"] for p in sheettrack.pending(tmp_book)] == [rid]
    (result,) = delivery.sync(tmp_book, progress=False)
    assert result.already == 1 and result.delivered == 0
    assert ids_in(tmp_book).count("exp-9") == 1


