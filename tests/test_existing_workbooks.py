"""Workbooks people already have, saved by Microsoft Excel (tests/data/excel, see SOURCE.md):
logging, ``log_many``, ``summarize`` and ``init`` into them add a Runs sheet and leave every
other part byte for byte; the rows read back in python-calamine, openpyxl and LibreOffice.
And a sheet called Runs that is a person's own table is refused, changing nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from helpers import read_calamine, zip_members

import sheettrack
from sheettrack import RowQueuedWarning
from sheettrack.api import lay_out
from sheettrack.errors import SchemaMismatchError, StoreError

DATA = Path(__file__).parent / "data" / "excel"
BOOKS = sorted(p.name for p in DATA.glob("*.xlsx"))
# the parts that list sheets and parts gain entries; styles may gain number formats
LISTING = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "docProps/app.xml",
           "_rels/.rels", "docProps/custom.xml", "xl/styles.xml"}
TEMPLATE = "classification"


def copy_of(name: str, tmp_path: Path) -> Path:
    book = tmp_path / "team" / name
    book.parent.mkdir()
    shutil.copyfile(DATA / name, book)
    return book


def sheet_values(path: Path) -> dict[str, list[list[Any]]]:
    """Every worksheet's values as python-calamine reads them."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        out = {}
        for name in book.sheet_names:
            try:
                out[name] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            except Exception:  # noqa: BLE001 - a chart sheet has no cells
                out[name] = []
        return out
    finally:
        book.close()


def sheet_tags(xml: bytes) -> list[bytes]:
    return re.findall(rb"<(?:\w+:)?sheet\b[^>]*/>", xml)


def assert_only_additions(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Every part but the listing parts is byte for byte as it was, and the listing parts
    keep every sheet and defined name they had."""
    changed = sorted(n for n in before if after.get(n) != before[n])
    assert set(changed) <= LISTING, changed
    for tag in sheet_tags(before["xl/workbook.xml"]):
        assert tag in after["xl/workbook.xml"]
    for name in re.findall(rb'<(?:\w+:)?definedName\b[^>]*name="([^"]+)"', before["xl/workbook.xml"]):
        assert b'name="' + name + b'"' in after["xl/workbook.xml"]


def run_ids(path: Path) -> list[str]:
    rows = read_calamine(path, "Runs")
    i = rows[0].index("run_id")
    return [r[i] for r in rows[1:]]


@pytest.mark.parametrize("name", BOOKS)
def test_logging_into_an_excel_workbook_adds_a_runs_sheet_and_nothing_else(name: str, tmp_path: Path) -> None:
    book = copy_of(name, tmp_path)
    before_parts = zip_members(book)
    before_values = sheet_values(book)
    first = sheettrack.log(book, template=TEMPLATE, params={"model": "resnet", "lr": 0.1},
                           metrics={"accuracy": 0.81}, on_error="raise")
    more = sheettrack.log_many(book, [{"params": {"model": "vit", "lr": 0.01}, "metrics": {"accuracy": 0.84}},
                                      {"params": {"model": "resnet", "lr": 0.3}, "metrics": {"accuracy": 0.79}}],
                               template=TEMPLATE, on_error="raise")
    after = zip_members(book)
    assert_only_additions(before_parts, after)
    values = sheet_values(book)
    assert {k: v for k, v in values.items() if k in before_values} == before_values
    assert list(values)[:len(before_values)] == list(before_values)
    assert run_ids(book) == [first, *more]
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    assert ws.freeze_panes == "A2"
    assert list(ws.tables) and ws.tables[next(iter(ws.tables))].ref.endswith("4")
    header = [c.value for c in ws[1]]
    assert [ws.cell(row=r, column=header.index("run_id") + 1).value for r in (2, 3, 4)] == [first, *more]
    assert any(dv.type == "list" for dv in ws.data_validations.dataValidation)
    assert len(sheettrack.load(book)) == 3


@pytest.mark.parametrize("name", BOOKS)
def test_init_on_an_excel_workbook_says_what_it_added_then_that_nothing_is_missing(name: str, tmp_path: Path) -> None:
    book = copy_of(name, tmp_path)
    before = zip_members(book)
    added = lay_out(book, TEMPLATE)
    assert added[0].startswith("sheet Runs (an Excel Table") and "sheet Schema (one row per column)" in added
    assert_only_additions(before, zip_members(book))
    again = book.read_bytes()
    assert lay_out(book, TEMPLATE) == []
    assert sheettrack.init(book, TEMPLATE) is False
    assert book.read_bytes() == again
    assert sheettrack.schema_of(book).name == TEMPLATE
    assert read_calamine(book, "Runs")[0] == sheettrack.load_template(TEMPLATE).names


@pytest.mark.parametrize("name", BOOKS)
def test_summaries_in_an_excel_workbook_leave_its_own_parts_alone(name: str, tmp_path: Path) -> None:
    book = copy_of(name, tmp_path)
    before = zip_members(book)
    before_values = sheet_values(book)
    sheettrack.log_many(book, [{"params": {"model": m, "lr": 0.1}, "metrics": {"accuracy": a}}
                               for m, a in (("a", 0.5), ("b", 0.7), ("a", 0.6))], template=TEMPLATE,
                        on_error="raise")
    written = sheettrack.summarize(book)
    assert "Leaderboard" in written
    assert_only_additions(before, zip_members(book))
    values = sheet_values(book)
    assert {k: v for k, v in values.items() if k in before_values} == before_values


@pytest.mark.parametrize("name", BOOKS)
def test_libreoffice_reads_and_resaves_an_excel_workbook_logged_into(name: str, tmp_path: Path,
                                                                    libreoffice: Any) -> None:
    book = copy_of(name, tmp_path)
    ids = sheettrack.log_many(book, [{"params": {"model": "a", "lr": 0.1}, "metrics": {"accuracy": 0.5}},
                                     {"params": {"model": "b", "lr": 0.2}, "metrics": {"accuracy": 0.6}}],
                              template=TEMPLATE, on_error="raise")
    sheets = libreoffice.csv(book)
    runs = sheets["Runs"]
    assert [r[runs[0].index("run_id")] for r in runs[1:]] == ids
    resaved = libreoffice.to_xlsx(book, tmp_path / "resaved")
    names = list(sheet_values(book))
    assert list(sheet_values(resaved)) == names  # every sheet kept: nothing was dropped as damaged
    assert run_ids(resaved) == ids


def own_table(path: Path, sheet: str = "Runs") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["name", "score"])
    ws.append(["alice", 3])
    wb.save(path)
    return path


def test_a_runs_sheet_that_is_a_table_of_its_own_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    book = own_table(tmp_path / "team.xlsx")
    before = book.read_bytes()
    with pytest.raises(SchemaMismatchError, match=r"sheet 'Runs' is a table of its own \(header: name, score\)"
                                                  r".*lacks run_id.*another name.*'sheet: <name>'"):
        sheettrack.log(book, params={"lr": 0.1}, on_error="raise")
    with pytest.raises(SchemaMismatchError, match="table of its own"):
        lay_out(book)
    assert book.read_bytes() == before
    assert not [p for p in book.parent.iterdir() if p.name.startswith(".team.xlsx.tmp")]


def test_a_template_naming_another_sheet_logs_beside_a_table_of_ones_own(tmp_path: Path) -> None:
    book = own_table(tmp_path / "team.xlsx")
    template = tmp_path / "mine.yaml"
    template.write_text("name: mine\nsheet: Experiments\nextends: default\n")
    rid = sheettrack.log(book, template=template, params={"lr": 0.1}, on_error="raise")
    assert read_calamine(book, "Runs") == [["name", "score"], ["alice", 3]]
    assert run_ids_of(book, "Experiments") == [rid]


def run_ids_of(path: Path, sheet: str) -> list[str]:
    rows = read_calamine(path, sheet)
    i = rows[0].index("run_id")
    return [r[i] for r in rows[1:]]


def test_a_refused_row_adds_no_environments_sheet(tmp_path: Path) -> None:
    """The Environments row is written in the same write as the run row that points at it:
    a run row the workbook refuses leaves the workbook as it was."""
    book = tmp_path / "runs.xlsx"
    sheettrack.init(book)
    wb = openpyxl.load_workbook(book)
    (table,) = wb["Runs"].tables.values()
    table.totalsRowCount = 1  # a Total Row: the workbook refuses rows under it
    wb.save(book)
    assert "Environments" not in openpyxl.load_workbook(book).sheetnames
    before = book.read_bytes()
    with pytest.raises(StoreError, match="Total Row"):
        sheettrack.log(book, params={"lr": 0.1}, on_error="raise")
    with pytest.raises(StoreError, match="Total Row"):
        sheettrack.log_many(book, [{"params": {"lr": 0.1}}, {"params": {"lr": 0.2}}], on_error="raise")
    assert book.read_bytes() == before


def test_a_row_refused_by_a_table_of_ones_own_adds_no_environments_sheet(tmp_path: Path) -> None:
    book = own_table(tmp_path / "team.xlsx")
    before = book.read_bytes()
    with pytest.warns(RowQueuedWarning, match="table of its own"):  # waits in the outbox, and says why
        sheettrack.log(book, params={"lr": 0.1})
    assert book.read_bytes() == before
    sheettrack.sync(book)
    assert book.read_bytes() == before


def test_a_row_that_waited_while_excel_had_the_workbook_open_lands_in_a_new_runs_sheet(tmp_path: Path) -> None:
    book = copy_of(BOOKS[0], tmp_path)
    before = zip_members(book)
    owner = book.parent / f"~${book.name}"
    owner.write_bytes(b"someone")
    rid = sheettrack.log(book, params={"lr": 0.1})  # Excel has it open: the row waits
    assert zip_members(book) == before
    owner.unlink()
    (done,) = sheettrack.sync(book)
    assert done.delivered == 1
    assert run_ids(book) == [rid]
    assert_only_additions(before, zip_members(book))
