"""``validate`` on a sheet a person edited: a blank row is one problem, said as such."""

from __future__ import annotations

from pathlib import Path

import sheettrack


def test_validate_reports_a_blank_row_once_as_a_blank_row(tmp_book: Path) -> None:
    import openpyxl

    sheettrack.log_many(tmp_book, [{"params": {"lr": 0.1}}, {"params": {"lr": 0.2}}], on_error="raise")
    wb = openpyxl.load_workbook(tmp_book)
    wb["Runs"].insert_rows(3)  # a person inserts a row between the two runs
    wb.save(tmp_book)
    problems = sheettrack.validate(tmp_book)
    assert [(p.address, p.message.split(":")[0]) for p in problems] == [("Runs!3", "a blank row")]
