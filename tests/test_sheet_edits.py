"""Appends to a workbook a person has edited, and values refused before they reach a cell.

A person formats rows and header cells, adds columns of their own, turns on a Total Row,
replaces the table with a plain autofilter, or edits the Schema sheet; every append after
that must land where Excel, python-calamine and LibreOffice expect it, or be refused with
the workbook left byte for byte as it was. Results are read with python-calamine and
LibreOffice (the XML itself where the layout is the point), never only with sheettrack.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
from helpers import (
    header_of,
    load_openpyxl,
    openpyxl_header,
    read_calamine,
    sha256,
    table_ref,
    zip_part,
)
from openpyxl.styles import PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter

import sheettrack
from sheettrack import SheettrackError, StoreError, TemplateError, ValidationError
from sheettrack.stores.schema_sheet import SCHEMA_HEADER

RUNS_PART = "xl/worksheets/sheet1.xml"
TABLE_PART = "xl/tables/table1.xml"


# --------------------------------------------------------------------------- helpers

def _rewrite_zip(path: Path, part: str, edit: Any) -> None:
    """Rewrite the workbook with zipfile, ``edit`` applied to one member (the zip comment goes)."""
    with zipfile.ZipFile(path) as src:
        members = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members:
            out.writestr(name, edit(data) if name == part else data)


def _row_numbers(xml: bytes) -> list[int]:
    return [int(r) for r in re.findall(rb'<(?:\w+:)?row\b[^>]*?\br="(\d+)"', xml)]


def _header_refs(xml: bytes) -> list[str]:
    """The cell references of row 1, in document order."""
    m = re.search(rb'<(?:\w+:)?row\b[^>]*?\br="1"[^>]*?(?:/>|>(.*?)</(?:\w+:)?row>)', xml, re.S)
    assert m is not None, "the sheet has no row 1"
    return [r.decode() for r in re.findall(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]+)1"', m.group(1) or b"")]


def _column(rows: list[list[Any]], name: str) -> list[Any]:
    i = header_of(rows)[name]
    return [r[i] if i < len(r) else "" for r in rows[1:]]


def _data_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows with at least one value (calamine pads empty rows inside the used range)."""
    return [r for r in rows if any(v not in ("", None) for v in r)]


def _ref_last(ref: str) -> tuple[int, int]:
    """``A1:AH5`` (``$`` allowed) -> (last column number, last row)."""
    m = re.fullmatch(r"\$?A\$?1:\$?([A-Z]+)\$?(\d+)", ref)
    assert m is not None, ref
    return column_index_from_string(m.group(1)), int(m.group(2))


def _sheet_autofilter_ref(path: Path) -> str:
    m = re.search(rb'<(?:\w+:)?autoFilter\b[^>]*?\bref="([^"]+)"', zip_part(path, RUNS_PART))
    assert m is not None, f"{path}: the Runs sheet has no autoFilter"
    return m.group(1).decode()


def _filter_database_ref(path: Path) -> str:
    xml = zip_part(path, "xl/workbook.xml")
    m = re.search(rb'<(?:\w+:)?definedName\b[^>]*?name="_xlnm._FilterDatabase"[^>]*>([^<]*)<', xml)
    assert m is not None, f"{path}: workbook.xml has no _xlnm._FilterDatabase name"
    return m.group(1).decode().rsplit("!", 1)[1]


def _drop_zip_comment(path: Path) -> None:
    """Cut the zip comment off: comment length 0 in the end-of-central-directory record."""
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    assert eocd >= 0
    data[eocd + 20:eocd + 22] = b"\x00\x00"
    path.write_bytes(bytes(data[:eocd + 22]))


def _zip_comment(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.comment


# --------------------------------------------------------------------------- formatted rows and cells

def test_new_run_lands_after_the_data_above_100k_empty_formatted_rows(tmp_book: Path) -> None:
    for i in range(3):
        sheettrack.log(tmp_book, params={"model": f"m{i}"}, metrics={"accuracy": 0.5})
    before = read_calamine(tmp_book)
    old_ids = _column(before, "run_id")
    assert len(old_ids) == 3
    # a person fills rows 5..100006 with a colour: one empty formatted <row> each
    empty = b"".join(b'<row r="%d" s="1" customFormat="1"/>' % r for r in range(5, 100_007))
    _rewrite_zip(tmp_book, RUNS_PART, lambda xml: xml.replace(b"</sheetData>", empty + b"</sheetData>", 1))
    assert len(_row_numbers(zip_part(tmp_book, RUNS_PART))) > 100_000

    sheettrack.log(tmp_book, params={"model": "NEW"}, metrics={"accuracy": 0.9})

    numbers = _row_numbers(zip_part(tmp_book, RUNS_PART))
    assert numbers == sorted(numbers)
    assert len(numbers) == len(set(numbers))
    rows = _data_rows(read_calamine(tmp_book))
    assert len(rows) == 5
    assert _column(rows, "model") == ["m0", "m1", "m2", "NEW"]
    assert _column(rows, "run_id")[:3] == old_ids
    assert _column(rows, "accuracy") == [0.5, 0.5, 0.5, 0.9]
    # the new run is the sheet's last row, right under the data
    all_rows = read_calamine(tmp_book)
    assert all_rows[4][header_of(all_rows)["model"]] == "NEW"
    assert max(numbers) == 5


def test_new_column_beside_a_header_formatted_wider_than_the_data(tmp_book: Path,
                                                                  libreoffice: Any) -> None:
    sheettrack.log(tmp_book, params={"model": "a"}, metrics={"accuracy": 0.5})
    width = len(read_calamine(tmp_book)[0])
    assert width < 39
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    for col in range(1, 40):  # A1:AM1 gets a fill, wider than the header's columns
        ws.cell(1, col).fill = PatternFill("solid", fgColor="FFFF00")
    wb.save(tmp_book)

    sheettrack.log(tmp_book, params={"model": "b", "newparam": 7}, metrics={"accuracy": 0.6})

    refs = _header_refs(zip_part(tmp_book, RUNS_PART))
    cols = [column_index_from_string(r) for r in refs]
    assert len(cols) == len(set(cols)), refs
    assert cols == sorted(cols), refs
    rows = read_calamine(tmp_book)
    assert rows[0].index("newparam") == width
    assert rows[0].count("newparam") == 1
    assert _column(rows, "newparam") == ["", 7]
    assert _column(rows, "model") == ["a", "b"]
    lo = libreoffice.csv(tmp_book)["Runs"]
    assert lo[0].index("newparam") == width
    assert lo[0].count("newparam") == 1
    assert _column(lo, "newparam") == ["", "7"]
    assert _column(lo, "model") == ["a", "b"]


# --------------------------------------------------------------------------- appends refused

def test_table_with_a_total_row_is_refused_and_left_unchanged(tmp_book: Path) -> None:
    for i in range(2):
        sheettrack.log(tmp_book, params={"model": f"m{i}"}, metrics={"accuracy": 0.5})
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    table = ws.tables["RunsTable"]
    last_col = table.ref.split(":")[1].rstrip("0123456789")
    table.ref = f"A1:{last_col}4"  # Table Design > Total Row
    table.totalsRowCount = 1
    accuracy = get_column_letter(openpyxl_header(ws).index("accuracy") + 1)
    ws["A4"] = "Total"
    ws[f"{accuracy}4"] = "=SUBTOTAL(101,RunsTable[accuracy])"
    wb.save(tmp_book)
    before = sha256(tmp_book)

    with pytest.raises(StoreError, match="Total Row"):
        sheettrack.log(tmp_book, params={"model": "m2"}, metrics={"accuracy": 0.9}, on_error="raise")

    assert sha256(tmp_book) == before
    rows = _data_rows(read_calamine(tmp_book))
    assert [r[0] for r in rows[1:]][-1] == "Total"
    assert "m2" not in _column(rows, "model")


def test_text_below_the_table_is_refused_naming_its_row(tmp_book: Path) -> None:
    for i in range(2):
        sheettrack.log(tmp_book, params={"model": f"m{i}"}, metrics={"accuracy": 0.5})
    wb = openpyxl.load_workbook(tmp_book)
    wb["Runs"]["A8"] = "best so far: m1"
    wb.save(tmp_book)
    before = sha256(tmp_book)

    with pytest.raises(StoreError, match=r"\brow 8\b"):
        sheettrack.log(tmp_book, params={"model": "m2"}, metrics={"accuracy": 0.9}, on_error="raise")

    assert sha256(tmp_book) == before
    rows = read_calamine(tmp_book)
    assert rows[7][0] == "best so far: m1"
    assert "m2" not in _column(rows, "model")


# --------------------------------------------------------------------------- the table and filters

def test_table_takes_in_a_persons_column_and_a_new_one(tmp_book: Path, libreoffice: Any) -> None:
    sheettrack.log(tmp_book, params={"model": "a"}, metrics={"accuracy": 0.5})
    width = len(read_calamine(tmp_book)[0])
    wb = openpyxl.load_workbook(tmp_book)
    wb["Runs"].cell(1, width + 1).value = "my comment"  # just right of the table, outside it
    wb.save(tmp_book)

    sheettrack.log(tmp_book, params={"model": "b", "seed": 3}, metrics={"accuracy": 0.7})

    rows = read_calamine(tmp_book)
    header = rows[0]
    assert header[width:] == ["my comment", "seed"]
    assert _column(rows, "seed") == ["", 3]
    assert _ref_last(table_ref(tmp_book)) == (width + 2, 3)
    names = re.findall(rb'<(?:\w+:)?tableColumn\b[^>]*?\bname="([^"]*)"', zip_part(tmp_book, TABLE_PART))
    assert [n.decode() for n in names] == header
    (table,) = load_openpyxl(tmp_book)["Runs"].tables.values()
    assert table.ref == f"A1:{get_column_letter(width + 2)}3"
    assert [c.name for c in table.tableColumns] == header
    lo = libreoffice.csv(tmp_book)["Runs"]
    assert lo[0] == header
    assert _column(lo, "seed") == ["", "3"]


@pytest.mark.parametrize("saved_by", ["openpyxl", "libreoffice"])
def test_sheet_autofilter_and_its_defined_name_grow(tmp_path: Path, libreoffice: Any,
                                                   saved_by: str) -> None:
    book = tmp_path / "runs.xlsx"
    for i in range(2):
        sheettrack.log(book, params={"model": f"m{i}"}, metrics={"accuracy": 0.5})
    width = len(read_calamine(book)[0])
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    del ws.tables["RunsTable"]
    ws.auto_filter.ref = f"A1:{get_column_letter(width)}3"
    wb.save(book)
    if saved_by == "libreoffice":
        book = libreoffice.to_xlsx(book, tmp_path / "lo")
    assert _ref_last(_filter_database_ref(book)) == (width, 3)

    sheettrack.log(book, params={"model": "m2"}, metrics={"accuracy": 0.9})
    sheettrack.log(book, params={"model": "m3", "extra": 1}, metrics={"accuracy": 0.9})

    rows = read_calamine(book)
    assert _column(rows, "model") == ["m0", "m1", "m2", "m3"]
    assert len(rows[0]) == width + 1
    assert _ref_last(_sheet_autofilter_ref(book)) == (width + 1, 5)
    assert _ref_last(_filter_database_ref(book)) == (width + 1, 5)
    # LibreOffice takes its filter range from the defined name: its own save shows it
    resaved = libreoffice.to_xlsx(book, tmp_path / "check")
    assert _ref_last(_sheet_autofilter_ref(resaved))[1] == 5
    assert _column(read_calamine(resaved), "model") == ["m0", "m1", "m2", "m3"]


# --------------------------------------------------------------------------- the stored schema

def test_value_against_a_column_another_run_added_meanwhile_is_refused(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "a"})
    run = sheettrack.start_run(tmp_book)  # a long job starts before the column exists
    sheettrack.log(tmp_book, params={"seed": 1})  # meanwhile a run adds seed as int
    before = sha256(tmp_book)

    with pytest.raises(ValidationError, match="seed"), run:
        run.log_param("seed", "not-a-number")

    assert sha256(tmp_book) == before
    rows = read_calamine(tmp_book)
    assert _column(rows, "seed") == ["", 1]
    assert all("not-a-number" not in r for r in rows)
    schema = {r[0]: r for r in read_calamine(tmp_book, "Schema")[1:]}
    assert schema["seed"][SCHEMA_HEADER.index("type")] == "int"
    assert sheettrack.validate(tmp_book) == []


def test_param_named_like_a_persons_column_is_documented(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "a"}, metrics={"accuracy": 0.5})
    width = len(read_calamine(tmp_book)[0])
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    ws.cell(1, width + 1).value = "seed"
    ws.cell(2, width + 1).value = "ask Jane"
    wb.save(tmp_book)
    assert "seed" not in [r[0] for r in read_calamine(tmp_book, "Schema")]

    sheettrack.log(tmp_book, params={"model": "b", "seed": 3})

    rows = read_calamine(tmp_book)
    assert rows[0].count("seed") == 1
    assert _column(rows, "seed") == ["ask Jane", 3]
    documented = [r[0] for r in read_calamine(tmp_book, "Schema")[1:]]
    assert documented.count("seed") == 1


def test_text_in_a_numeric_schema_cell_is_a_template_error(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "a"}, metrics={"accuracy": 0.5})
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Schema"]
    (row,) = [r for r in ws.iter_rows(min_row=2) if r[0].value == "accuracy"]
    row[SCHEMA_HEADER.index("min")].value = "zero"  # a person types the minimum as a word
    wb.save(tmp_book)
    before = sha256(tmp_book)

    with pytest.raises(SheettrackError) as caught:
        sheettrack.log(tmp_book, metrics={"accuracy": 0.7})

    assert isinstance(caught.value, TemplateError)
    message = str(caught.value)
    assert "Schema" in message
    assert "min" in message
    assert "accuracy" in message
    assert sha256(tmp_book) == before
    assert _column(read_calamine(tmp_book), "accuracy") == [0.5]


def test_schema_sheet_without_its_group_column_still_documents_new_columns(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "a"})
    wb = openpyxl.load_workbook(tmp_book)
    wb["Schema"].delete_cols(SCHEMA_HEADER.index("group") + 1)
    wb.save(tmp_book)

    sheettrack.log(tmp_book, params={"model": "b", "seed": 1})

    rows = read_calamine(tmp_book)
    assert _column(rows, "model") == ["a", "b"]
    assert _column(rows, "seed") == ["", 1]
    doc = read_calamine(tmp_book, "Schema")
    assert "group" not in doc[0]
    seed = [r for r in doc[1:] if r[0] == "seed"]
    assert len(seed) == 1
    assert seed[0][doc[0].index("type")] == "int"


# --------------------------------------------------------------------------- values refused

@pytest.mark.parametrize("when", [
    dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=14))),
], ids=["half-past-midnight-year-1", "min-plus-14h"])
def test_aware_datetime_before_the_first_utc_day_is_a_validation_error(tmp_book: Path,
                                                                      when: dt.datetime) -> None:
    sheettrack.log(tmp_book, params={"model": "a"})
    before = sha256(tmp_book)
    with pytest.raises(ValidationError, match="when"):
        sheettrack.log(tmp_book, params={"when": when})
    assert sha256(tmp_book) == before
    assert "when" not in read_calamine(tmp_book)[0]


@pytest.mark.parametrize("existing", [False, True], ids=["new-book", "existing-book"])
def test_two_params_differing_only_in_case_are_refused(tmp_book: Path, existing: bool) -> None:
    if existing:
        sheettrack.log(tmp_book, params={"model": "a"}, template="default")
        before = sha256(tmp_book)
    with pytest.raises(ValidationError, match="case"):
        sheettrack.log(tmp_book, params={"lr": 0.1, "LR": 0.2}, template="default")
    if existing:
        assert sha256(tmp_book) == before
        header = [h.lower() for h in read_calamine(tmp_book)[0]]
        assert "lr" not in header
    else:
        assert not tmp_book.exists()


@pytest.mark.parametrize("sheet", ["Schema", "schema"])
def test_template_naming_its_runs_sheet_after_the_schema_sheet(tmp_book: Path, sheet: str) -> None:
    template = {"name": "x", "extends": "default", "sheet": sheet}
    with pytest.raises(TemplateError, match="sheet"):
        sheettrack.log(tmp_book, params={"a": 1}, template=template)
    assert not tmp_book.exists()
    sheettrack.log(tmp_book, params={"a": 1}, template={**template, "sheet": "Experiments"})
    book = python_calamine.CalamineWorkbook.from_path(str(tmp_book))
    try:
        assert book.sheet_names == ["Experiments", "Schema", "Environments"]
    finally:
        book.close()
    assert _column(read_calamine(tmp_book, "Experiments"), "a") == [1]


def test_note_over_the_cell_limit_is_refused_when_it_is_noted(tmp_book: Path) -> None:
    with sheettrack.start_run(tmp_book, template="default") as run:
        run.note("first")
        with pytest.raises(ValidationError, match="notes"):
            run.note("x" * 40_000)
        run.log_metric("acc", 0.9)
    rows = read_calamine(tmp_book)
    assert _column(rows, "notes") == ["first"]
    assert _column(rows, "acc") == [0.9]
    assert _column(rows, "status") == ["finished"]


# --------------------------------------------------------------------------- fast and general paths

TEXTS = ["_x0041_", "a\x01b", "_x005F_x0041_", "tab\there", "=1+1", " lead", "x_x000D_y",
         "a&b<c>", "\u00fcn\u00ef", "_x005f_"]


def _runs(n: int) -> list[dict[str, Any]]:
    runs = []
    for i in range(n):
        params: dict[str, Any] = {"model": TEXTS[i % len(TEXTS)], "lr": (i + 1) / 64,
                                  "batch_size": i + 1}
        if i % 3 == 0:
            params["hidden_layers"] = [i, i + 1]
        if i % 4 == 1:  # a new column every few appends
            params[f"extra{i}"] = TEXTS[(i + 3) % len(TEXTS)]
        metrics = {"accuracy": (i % 10) / 10, "loss": 1 / (i + 1)}
        if i % 5 == 2:
            metrics[f"m{i}"] = i * 1.5
        runs.append({"params": params, "metrics": metrics})
    return runs


def test_fast_path_writes_what_the_general_path_writes(tmp_path: Path, libreoffice: Any) -> None:
    fast, general = tmp_path / "fast" / "runs.xlsx", tmp_path / "general" / "runs.xlsx"
    fast.parent.mkdir()
    general.parent.mkdir()
    for book in (fast, general):
        sheettrack.init(book, "classification")
    runs = _runs(30)
    indexed = 0
    for run in runs:
        indexed += _zip_comment(fast).startswith(b"sheettrack-index-")
        sheettrack.log(fast, **run)
        if general.exists() and _zip_comment(general):
            _drop_zip_comment(general)
        assert _zip_comment(general) == b""
        sheettrack.log(general, **run)
    assert indexed >= 20  # most appends to the first workbook could copy the rows it had

    schema = sheettrack.schema_of(general)
    compared = [c.name for c in schema.columns if c.group in ("params", "metrics")]
    assert {"model", "extra1", "m2", "hidden_layers"} <= set(compared)
    a, b = read_calamine(fast), read_calamine(general)
    assert a[0] == b[0]
    assert len(a) == len(b) == len(runs) + 1
    for name in compared:
        assert _column(a, name) == _column(b, name), name
    assert _column(a, "model") == [r["params"]["model"] for r in runs]
    lo_a, lo_b = libreoffice.csv(fast)["Runs"], libreoffice.csv(general)["Runs"]
    assert lo_a[0] == lo_b[0] == a[0]
    assert len(lo_a) == len(lo_b) == len(runs) + 1
    for name in compared:
        assert _column(lo_a, name) == _column(lo_b, name), name
    assert sheettrack.validate(fast) == []


# --------------------------------------------------------------------------- second round

def _tables(path: Path) -> dict[str, str]:
    """Every table's displayName -> ref, read from the package."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/tables/"):
                xml = z.read(name)
                out[re.search(rb'displayName="([^"]*)"', xml).group(1).decode()] = \
                    re.search(rb'\bref="([^"]*)"', xml).group(1).decode()
    return out


def _columns_of(ref: str) -> set[int]:
    a, b = ref.split(":")
    first = column_index_from_string(re.match(r"[A-Z]+", a).group())
    last = column_index_from_string(re.match(r"[A-Z]+", b).group())
    return set(range(first, last + 1))


def test_runs_table_never_grows_over_a_persons_table(tmp_book: Path) -> None:
    from openpyxl.worksheet.table import Table

    for i in range(3):
        sheettrack.log(tmp_book, params={"model": f"m{i}"})
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    c = ws.max_column + 1  # right next to the runs
    ws.cell(1, c, "key")
    ws.cell(1, c + 1, "label")
    for r in range(2, 5):
        ws.cell(r, c, f"k{r}")
        ws.cell(r, c + 1, f"l{r}")
    ws.add_table(Table(displayName="Lookup", ref=f"{get_column_letter(c)}1:{get_column_letter(c + 1)}4"))
    wb.save(tmp_book)
    sheettrack.log(tmp_book, params={"model": "m3"})
    tables = _tables(tmp_book)
    assert set(tables) == {"RunsTable", "Lookup"}
    assert not _columns_of(tables["RunsTable"]) & _columns_of(tables["Lookup"])
    assert _ref_last(tables["RunsTable"])[1] == 5
    rows = read_calamine(tmp_book, "Runs")
    assert _column(rows, "model")[:4] == ["m0", "m1", "m2", "m3"]


def test_a_header_cell_that_is_not_text_stays_out_of_the_table(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "m0"})
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    ws.cell(1, ws.max_column + 1, True)
    wb.save(tmp_book)
    sheettrack.log(tmp_book, params={"model": "m1"})
    names = re.findall(rb'<(?:\w+:)?tableColumn\b[^>]*?\bname="([^"]*)"', zip_part(tmp_book, TABLE_PART))
    assert b"True" not in names and b"TRUE" not in names
    assert len(names) == _ref_last(table_ref(tmp_book))[0]


def test_data_without_a_header_is_never_taken_by_a_new_column(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "m0"})
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    free = ws.max_column + 1
    ws.cell(2, free, "ask Jane about this run")
    wb.save(tmp_book)
    before = sha256(tmp_book)
    with pytest.raises(StoreError, match=rf"Runs!{get_column_letter(free)}2 holds data"):
        sheettrack.log(tmp_book, params={"seed": 3}, on_error="raise")
    assert sha256(tmp_book) == before
    sheettrack.log(tmp_book, params={"model": "m1"})  # no new column: it still logs
    assert _column(read_calamine(tmp_book, "Runs"), "model")[:2] == ["m0", "m1"]


def test_a_template_that_gains_a_column_adds_it(tmp_path: Path) -> None:
    template = tmp_path / "mine.yaml"
    book = tmp_path / "runs.xlsx"
    template.write_text("name: mine\nextends: default\ncolumns:\n  - {name: lr, type: float, group: params}\n")
    sheettrack.log(book, params={"lr": 0.1}, template=str(template))
    template.write_text("name: mine\nextends: default\ncolumns:\n  - {name: lr, type: float, group: params}\n"
                        "  - {name: seed, type: int, group: params}\n")
    sheettrack.log(book, params={"lr": 0.2, "seed": 3}, template=str(template))
    rows = read_calamine(book, "Runs")
    assert _column(rows, "seed")[:2] == ["", 3]
    schema_rows = read_calamine(book, "Schema")
    assert [r[1] for r in schema_rows if r[0] == "seed"] == ["int"]
    assert sheettrack.validate(book) == []


def test_schema_sheet_gone_falls_back_to_the_template_and_keeps_provenance(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "m0"}, template="classification")
    wb = openpyxl.load_workbook(tmp_book)
    wb["Schema"].title = "Columns"
    wb.save(tmp_book)
    with pytest.warns(sheettrack.SheettrackWarning, match="Schema sheet"):
        run_id = sheettrack.log(tmp_book, params={"model": "m1"}, metrics={"accuracy": 0.9})
    rows = read_calamine(tmp_book, "Runs")
    assert _column(rows, "run_id")[1] == run_id
    assert _column(rows, "status")[1] == "finished"
    assert _column(rows, "user")[1] not in ("", None)


def test_schema_sheet_gone_from_a_custom_template_is_refused(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"a": 1}, template={"name": "own", "extends": "default"})
    wb = openpyxl.load_workbook(tmp_book)
    del wb["Schema"]
    wb.save(tmp_book)
    before = sha256(tmp_book)
    with pytest.raises(sheettrack.SchemaMismatchError, match="Schema sheet"):
        sheettrack.log(tmp_book, params={"a": 2})
    assert sha256(tmp_book) == before


def test_fast_path_reads_a_header_row_without_attributes(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "m0"})
    _rewrite_zip(tmp_book, RUNS_PART, lambda d: re.sub(rb'<row r="1"[^>]*>', b"<row>", d))
    for i in range(1, 4):  # the first append lays out the index, the rest take the fast path
        sheettrack.log(tmp_book, params={"model": f"m{i}"})
    assert zipfile.ZipFile(tmp_book).comment.startswith(b"sheettrack-index")
    assert _column(read_calamine(tmp_book, "Runs"), "model")[:4] == ["m0", "m1", "m2", "m3"]
