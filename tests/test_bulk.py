"""The garbage collector paused around whole-sheet work comes back as it was."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import sheettrack
from sheettrack.bulk import collector_paused


def test_the_collector_runs_again_after_a_pause_even_after_an_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer pause decides
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_someone_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_summarize_and_load_leave_the_collector_running(tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    sheettrack.log_many(book, [{"params": {"lr": i / 10}, "metrics": {"accuracy": i / 100}} for i in range(50)],
                        template="classification")
    gc.collect()
    sheettrack.summarize(book)
    assert len(sheettrack.load(book)) == 50
    assert gc.isenabled()
    with pytest.raises(sheettrack.StoreError):
        sheettrack.summarize(tmp_path / "missing.xlsx")
    assert gc.isenabled()
