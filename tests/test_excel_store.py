"""Behaviour tests for the .xlsx store, checked with readers other than sheettrack.

Every cell rule is checked with python-calamine, openpyxl and LibreOffice (and with
``sheettrack.load`` for the round trip). LibreOffice is slow to start, so a workbook is
converted once and every check of a test reads that one conversion.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from helpers import (
    PngImage,
    full_ref,
    header_of,
    load_openpyxl,
    openpyxl_cell,
    openpyxl_header,
    png_bytes,
    read_calamine,
    sha256,
    table_ref,
    table_xml,
    zip_members,
    zip_part,
)
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.drawing.image import PILImage
from openpyxl.utils.escape import unescape as openpyxl_unescape

import sheettrack
from sheettrack import (
    CorruptWorkbookError,
    SheettrackWarning,
    StoreError,
    TemplateError,
    ValidationError,
    WorkbookLockedError,
)
from sheettrack.cells import col_letter
from sheettrack.errors import SchemaMismatchError, SheetNotFoundError
from sheettrack.schema import Column, Schema
from sheettrack.stores.rows import reading_order
from sheettrack.stores.schema_sheet import SCHEMA_HEADER
from sheettrack.stores.xlsx import ExcelStore, WriteStats, journal
from sheettrack.stores.xlsx import zip as xlsx_zip

RUNS_PART = "xl/worksheets/sheet1.xml"

# --------------------------------------------------------------------------- text cells

FORMULA_TEXT = {
    "f_hyperlink": '=HYPERLINK("http://x","y")',
    "f_dde": "=cmd|' /C calc'!A0",
    "f_plus": "+1",
    "f_minus": "-x",
    "f_at": "@SUM(A1)",
    "f_sum": "=1+1",
}
CONTROL_TEXT = {
    "c_soh": "a\x01b",
    "c_vt": "\x0b",
    "c_crlf": "\r\n",
    "c_cr": "a\rb",
    "c_nul": "\x00",
}
ESCAPE_TEXT = {
    "e_x0041": "_x0041_",
    "e_x005f": "_x005F_",
    "e_x000d": "a_x000D_b",
    "e_lower": "_x00e9_",
    "e_two": "_x0041__x0042_",
}
SURROGATE_TEXT = {"s_lone": "\ud800", "s_pair": "a\ud83d\ude00b"}
ALL_TEXT = {**FORMULA_TEXT, **CONTROL_TEXT, **ESCAPE_TEXT, **SURROGATE_TEXT}


@dataclass
class TextBook:
    """One workbook holding every text case, read by every reader once."""

    path: Path
    caught: list[warnings.WarningMessage]
    calamine: dict[str, Any]
    lo: dict[str, str]
    ws: Any
    df: pd.DataFrame


@pytest.fixture(scope="module")
def text_book(tmp_path_factory: pytest.TempPathFactory, libreoffice: Any) -> TextBook:
    path = tmp_path_factory.mktemp("text") / "text.xlsx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sheettrack.log(path, params=ALL_TEXT)
    rows = read_calamine(path)
    pos = header_of(rows)
    assert len(rows) == 2, rows
    calamine = {k: rows[1][pos[k]] for k in ALL_TEXT}
    lo_rows = libreoffice.csv(path)["Runs"]
    lo_pos = header_of(lo_rows)
    assert len(lo_rows) == 2, lo_rows
    lo = {k: lo_rows[1][lo_pos[k]] for k in ALL_TEXT}
    ws = load_openpyxl(path)["Runs"]
    return TextBook(path, list(caught), calamine, lo, ws, sheettrack.load(path))


@pytest.mark.parametrize("key", FORMULA_TEXT)
def test_formula_shaped_text_stays_text(text_book: TextBook, key: str) -> None:
    text = FORMULA_TEXT[key]
    cell = openpyxl_cell(text_book.ws, key)
    assert (cell.data_type, cell.value) == ("s", text)
    assert text_book.calamine[key] == text
    assert text_book.lo[key] == text
    assert text_book.df[key][0] == text


def test_runs_sheet_holds_no_formula(text_book: TextBook) -> None:
    xml = zip_part(text_book.path, RUNS_PART)
    assert re.search(rb"<(?:\w+:)?f[\s>/]", xml) is None


@pytest.mark.parametrize("key", CONTROL_TEXT)
def test_control_characters_round_trip(text_book: TextBook, key: str) -> None:
    text = CONTROL_TEXT[key]
    assert text_book.df[key][0] == text
    assert text_book.calamine[key] == text
    cell = openpyxl_cell(text_book.ws, key)
    # openpyxl hands inline text back with the OOXML escapes still in it
    assert cell.data_type == "s"
    assert openpyxl_unescape(cell.value) == text
    # LibreOffice keeps line breaks as LF
    assert text_book.lo[key] == text.replace("\r\n", "\n")


@pytest.mark.parametrize("key", ESCAPE_TEXT)
def test_escape_shaped_text_reads_back_unchanged(text_book: TextBook, key: str) -> None:
    text = ESCAPE_TEXT[key]
    assert text_book.df[key][0] == text
    assert text_book.calamine[key] == text
    assert text_book.lo[key] == text
    cell = openpyxl_cell(text_book.ws, key)
    assert (cell.data_type, cell.value) == ("s", text)


def test_lone_surrogate_is_replaced_with_a_warning(text_book: TextBook) -> None:
    messages = [str(w.message) for w in text_book.caught if issubclass(w.category, SheettrackWarning)]
    assert any("surrogate" in m for m in messages), messages
    for reader in (text_book.calamine, text_book.lo, {"s_lone": text_book.df["s_lone"][0]}):
        assert reader["s_lone"] == "\ufffd"
    assert openpyxl_cell(text_book.ws, "s_lone").value == "\ufffd"


def test_surrogate_pair_becomes_one_character(text_book: TextBook) -> None:
    expected = "a\U0001F600b"
    assert text_book.df["s_pair"][0] == expected
    assert text_book.calamine["s_pair"] == expected
    assert text_book.lo["s_pair"] == expected
    assert openpyxl_cell(text_book.ws, "s_pair").value == expected


def test_lone_surrogate_in_a_json_key_never_breaks_the_log(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params={"seed": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sheettrack.log(tmp_book, params={"cfg": [{"\ud800": 1}], "seed": 2})
    assert any(issubclass(w.category, SheettrackWarning) for w in caught)
    df = sheettrack.load(tmp_book)
    assert df["cfg"].tolist()[1] == [{"\ufffd": 1}]
    assert len(calamine_rows(tmp_book)) == 3
    load_openpyxl(tmp_book)


# --------------------------------------------------------------------------- long text

LIMIT = 32_767


def test_text_at_the_cell_limit_round_trips(tmp_book: Path, calamine_rows: Any) -> None:
    notes = "n" * (LIMIT - 1) + "\u00e9"
    param = "=" + "p" * (LIMIT - 1)
    sheettrack.log(tmp_book, notes=notes, params={"prompt": param})
    df = sheettrack.load(tmp_book)
    assert df["notes"][0] == notes
    assert df["prompt"][0] == param
    rows = calamine_rows(tmp_book)
    pos = header_of(rows)
    assert rows[1][pos["notes"]] == notes
    assert rows[1][pos["prompt"]] == param


@pytest.mark.parametrize("where", ["notes", "hypothesis", "params", "tags"])
def test_text_over_the_cell_limit_is_refused(tmp_book: Path, where: str) -> None:
    sheettrack.log(tmp_book, params={"prompt": "short"}, tags={"label": "short"})
    before = sha256(tmp_book)
    text = "x" * (LIMIT + 1)
    kwargs: dict[str, Any] = {
        "notes": {"notes": text},
        "hypothesis": {"hypothesis": text},
        "params": {"params": {"prompt": text}},
        "tags": {"tags": {"label": text}},
    }[where]
    column = {"params": "prompt", "tags": "label"}.get(where, where)
    with pytest.raises(ValidationError) as info:
        sheettrack.log(tmp_book, **kwargs)
    message = str(info.value)
    assert f"column {column}" in message
    assert "32,768" in message and "32,767" in message
    assert sha256(tmp_book) == before


def test_text_over_the_limit_creates_no_workbook(tmp_book: Path) -> None:
    with pytest.raises(ValidationError):
        sheettrack.log(tmp_book, notes="x" * (LIMIT + 1))
    assert not tmp_book.exists()
    assert list(tmp_book.parent.iterdir()) == []


TRUNCATE = {"name": "t", "extends": "default", "long_text": "truncate"}


def test_long_text_truncate_template(tmp_book: Path, calamine_rows: Any) -> None:
    notes = "".join(chr(97 + i % 26) for i in range(40_000))
    prompt = "q" * 33_000
    with pytest.warns(SheettrackWarning) as caught:
        sheettrack.log(tmp_book, template=TRUNCATE, notes=notes, params={"prompt": prompt})
    messages = " | ".join(str(w.message) for w in caught)
    assert "column notes" in messages and "column prompt" in messages
    assert "32,767" in messages
    df = sheettrack.load(tmp_book)
    assert df["notes"][0] == notes[:LIMIT]
    assert df["prompt"][0] == prompt[:LIMIT]
    rows = calamine_rows(tmp_book)
    assert rows[1][header_of(rows)["notes"]] == notes[:LIMIT]

    # the setting is kept with the workbook: a later log without the template truncates too
    with pytest.warns(SheettrackWarning, match="column notes"):
        sheettrack.log(tmp_book, notes=notes)
    assert sheettrack.load(tmp_book)["notes"][1] == notes[:LIMIT]


# --------------------------------------------------------------------------- bad input

STRICT = {
    "name": "strict",
    "extends": "classification",
    "columns": [
        {"name": "code", "type": "string", "group": "params", "pattern": "[A-Z]{3}"},
        {"name": "optimizer", "type": "string", "group": "params", "choices": ["sgd", "adam"]},
    ],
}

BAD_INPUT = {
    "wrong_type": ({"params": {"n_images": "many"}}, ["column n_images", "'many'", "int"]),
    "not_integral": ({"params": {"epochs": 2.5}}, ["column epochs", "2.5", "int"]),
    "above_max": ({"metrics": {"accuracy": 1.5}}, ["column accuracy", "1.5", "maximum 1"]),
    "below_min": ({"params": {"lr": -0.1}}, ["column lr", "-0.1", "minimum 0"]),
    "bool_for_number": ({"metrics": {"f1": True}}, ["column f1", "True", "boolean"]),
    "not_in_choices": ({"params": {"optimizer": "rmsprop"}}, ["column optimizer", "'rmsprop'", "sgd", "adam"]),
    "pattern": ({"params": {"code": "abc"}}, ["column code", "'abc'", "[A-Z]{3}"]),
    "status": ({"status": "crashed"}, ["column status", "'crashed'", "finished", "failed"]),
}


@pytest.fixture
def strict_book(tmp_book: Path) -> Path:
    sheettrack.init(tmp_book, STRICT)
    sheettrack.log(tmp_book, params={"code": "ABC", "optimizer": "sgd", "n_images": 10})
    return tmp_book


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_writes_nothing(strict_book: Path, case: str) -> None:
    kwargs, fragments = BAD_INPUT[case]
    before = sha256(strict_book)
    with pytest.raises(ValidationError) as info:
        sheettrack.log(strict_book, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert sha256(strict_book) == before
    assert sorted(p.name for p in strict_book.parent.iterdir() if p.suffix == ".tmp") == []


def test_every_problem_of_a_row_is_reported(strict_book: Path) -> None:
    before = sha256(strict_book)
    with pytest.raises(ValidationError) as info:
        sheettrack.log(strict_book, params={"code": "abc", "batch_size": 0},
                       metrics={"accuracy": 2})
    message = str(info.value)
    for column in ("code", "batch_size", "accuracy"):
        assert f"column {column}" in message
    assert len(info.value.problems) == 3
    assert sha256(strict_book) == before


def test_bad_input_to_a_new_workbook_creates_nothing(tmp_book: Path) -> None:
    with pytest.raises(ValidationError, match="column n_images"):
        sheettrack.log(tmp_book, template="classification", params={"n_images": 0})
    assert not tmp_book.exists()


# --------------------------------------------------------------------------- sheet names

@pytest.mark.parametrize("sheet", ["a/b", "x" * 32, "a:b", "[x]", "a?b", "a*b", "a\\b",
                                   "'quoted'", "History", ""])
def test_sheet_name_excel_refuses_is_a_template_error(tmp_book: Path, sheet: str) -> None:
    template = {"name": "t", "extends": "default", "sheet": sheet}
    with pytest.raises(TemplateError) as info:
        sheettrack.init(tmp_book, template)
    assert "sheet" in str(info.value)
    with pytest.raises(TemplateError):
        sheettrack.log(tmp_book, template=template, params={"a": 1})
    assert not tmp_book.exists()


def test_longest_sheet_name_excel_allows(tmp_book: Path, calamine_rows: Any) -> None:
    sheet = "R" * 31
    sheettrack.log(tmp_book, template={"name": "t", "extends": "default", "sheet": sheet},
                   params={"a": 1})
    assert load_openpyxl(tmp_book).sheetnames[0] == sheet
    assert len(calamine_rows(tmp_book, sheet)) == 2
    assert sheettrack.load(tmp_book)["a"].tolist() == [1]


# --------------------------------------------------------------------------- layout

def _status_validation(ws: Any, letter: str) -> Any:
    for dv in ws.data_validations.dataValidation:
        if f"{letter}2:{letter}1048576" in str(dv.sqref):
            return dv
    return None


def _dimension(path: Path) -> str | None:
    m = re.search(rb'<(?:\w+:)?dimension\s+ref="([^"]+)"', zip_part(path, RUNS_PART))
    return m.group(1).decode() if m else None


def test_new_workbook_layout(tmp_book: Path, calamine_rows: Any) -> None:
    assert sheettrack.init(tmp_book, "classification") is True
    schema = sheettrack.load_template("classification")
    names = [c.name for c in reading_order(list(schema.columns))]  # laid out for reading
    assert names[:3] == ["run_id", "status", "hypothesis"] and set(names) == set(schema.names)
    assert "xl/tables/table1.xml" in zip_members(tmp_book)
    wb = load_openpyxl(tmp_book)
    assert wb.sheetnames[:2] == ["Runs", "Schema"]
    ws = wb["Runs"]
    assert openpyxl_header(ws) == names
    assert ws.freeze_panes == "A2"
    (table,) = ws.tables.values()
    assert table.ref == full_ref(len(names), 2)
    assert [c.name for c in table.tableColumns] == names
    dv = _status_validation(ws, col_letter(names.index("status")))
    assert dv is not None and dv.type == "list"
    assert dv.formula1 == '"finished,failed,interrupted"'
    doc = calamine_rows(tmp_book, "Schema")
    assert doc[0] == SCHEMA_HEADER
    assert [r[0] for r in doc[1:]] == names
    assert [r[1] for r in doc[1:]] == [schema.column(n).type for n in names]
    assert sheettrack.init(tmp_book, "classification") is False


def test_table_and_schema_sheet_grow_with_every_append(tmp_book: Path, calamine_rows: Any,
                                                      libreoffice: Any) -> None:
    sheettrack.init(tmp_book, "classification")
    runs = [
        {"params": {"model": "mlp", "lr": 0.1}, "metrics": {"accuracy": 0.5}},
        {"params": {"model": "cnn", "optimizer": "adam"}, "metrics": {"accuracy": 0.6, "top5": 0.9}},
        {"params": {"model": "vit", "layers": [2, 3]}, "tags": {"team": "vision"},
         "metrics": {"top5": 0.95}},
    ]
    for i, run in enumerate(runs, start=1):
        sheettrack.log(tmp_book, **run)
        rows = calamine_rows(tmp_book)
        header = rows[0]
        assert len(rows) == i + 1
        ref = full_ref(len(header), i + 1)
        assert table_ref(tmp_book) == ref
        assert f'<autoFilter ref="{ref}"'.encode() in table_xml(tmp_book)
        # no <dimension> hint that every append would have to rewrite: readers take the
        # extent from the cells, openpyxl's read-only mode too
        assert _dimension(tmp_book) is None
        read_only = openpyxl.load_workbook(tmp_book, read_only=True)["Runs"]
        assert len(list(read_only.iter_rows(values_only=True))) == i + 1
        (table,) = load_openpyxl(tmp_book)["Runs"].tables.values()
        assert [c.name for c in table.tableColumns] == header

    new = ["optimizer", "top5", "layers", "team"]
    header = calamine_rows(tmp_book)[0]
    assert header[-4:] == new
    doc = {r[0]: r for r in calamine_rows(tmp_book, "Schema")[1:]}
    assert list(doc) == header
    assert [(doc[n][1], doc[n][2]) for n in new] == [
        ("string", "params"), ("float", "metrics"), ("json", "params"), ("string", "tags")]

    ws = load_openpyxl(tmp_book)["Runs"]
    assert ws.freeze_panes == "A2"
    assert _status_validation(ws, col_letter(header.index("status"))) is not None
    assert sheettrack.validate(tmp_book) == []

    lo = libreoffice.csv(tmp_book)
    assert lo["Runs"][0] == header
    pos = header_of(lo["Runs"])
    assert [r[pos["model"]] for r in lo["Runs"][1:]] == ["mlp", "cnn", "vit"]
    assert [r[pos["team"]] for r in lo["Runs"][1:]] == ["", "", "vision"]
    assert [r[0] for r in lo["Schema"][1:]] == header


SPECIAL_NAMES = ["a&b", "x<y>", 'q"uote', "it's", "\u00fcn\u00ef", "sp ace", "#hash", "[br]"]


def test_new_column_names_with_special_characters(tmp_book: Path, calamine_rows: Any,
                                                  libreoffice: Any) -> None:
    sheettrack.init(tmp_book, "classification")
    sheettrack.log(tmp_book, params={n: i for i, n in enumerate(SPECIAL_NAMES)})
    header = calamine_rows(tmp_book)[0]
    assert header[-len(SPECIAL_NAMES):] == SPECIAL_NAMES
    ws = load_openpyxl(tmp_book)["Runs"]
    assert openpyxl_header(ws) == header
    (table,) = ws.tables.values()
    assert [c.name for c in table.tableColumns] == header
    assert libreoffice.csv(tmp_book)["Runs"][0] == header
    sheettrack.log(tmp_book, params={n: 10 + i for i, n in enumerate(SPECIAL_NAMES)})
    df = sheettrack.load(tmp_book)
    for i, name in enumerate(SPECIAL_NAMES):
        assert df[name].tolist() == [i, 10 + i]


ESCAPE_NAMES = ["_x0041_", "a_x005F_b"]


def test_new_column_names_shaped_like_escapes_are_refused(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"lr": 0.1})
    before = sha256(tmp_book)
    for name in ESCAPE_NAMES:
        with pytest.raises(sheettrack.ValidationError, match="escape"):
            sheettrack.log(tmp_book, params={name: 1})
    assert sha256(tmp_book) == before
    with pytest.raises(sheettrack.ValidationError, match=r"_x0041_"):
        sheettrack.log(tmp_book.with_name("new.xlsx"), params={"_x0041_": 1})
    assert not tmp_book.with_name("new.xlsx").exists()


def _add_personal_parts(path: Path, png: bytes) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("Mine")
    for row in [["model", "score"], ["a", 3], ["b", 5], ["c", 4]]:
        ws.append(row)
    chart = BarChart()
    chart.title = "Scores"
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=4), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=4))
    ws.add_chart(chart, "D2")
    ws.add_image(PngImage(png, 40, 30), "D20")
    ws["A1"].comment = Comment("scores from the whiteboard", "Jane Doe")
    wb["Runs"]["A1"].comment = Comment("one row per training run", "Jane Doe")
    wb.save(path)


def test_personal_chart_image_and_sheet_are_kept_byte_for_byte(tmp_book: Path, calamine_rows: Any,
                                                               libreoffice: Any) -> None:
    png = png_bytes(4, 3)
    sheettrack.init(tmp_book, "classification")
    _add_personal_parts(tmp_book, png)
    with zipfile.ZipFile(tmp_book) as zf:
        before_info = {i.filename: (i.CRC, i.compress_type, i.date_time) for i in zf.infolist()}
    before = zip_members(tmp_book)
    assert "xl/charts/chart1.xml" in before and "xl/media/image1.png" in before

    # the first log also adds the Environments sheet: one new worksheet, listed in the
    # package's small index parts; every part of the person's stays byte for byte
    sheettrack.log(tmp_book, params={"model": "m0", "lr": 0.0, "n_images": 100}, metrics={"accuracy": 0.0})
    first = zip_members(tmp_book)
    added = set(first) - set(before)
    assert len(added) == 1 and added.pop().startswith("xl/worksheets/sheet")
    indexes = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "docProps/app.xml"}
    assert {n for n in before if before[n] != first[n]} <= {RUNS_PART, "xl/tables/table1.xml", "xl/styles.xml",
                                                            "xl/sharedStrings.xml"} | indexes
    before = first
    with zipfile.ZipFile(tmp_book) as zf:
        before_info = {i.filename: (i.CRC, i.compress_type, i.date_time) for i in zf.infolist()}
    for i in range(1, 3):
        sheettrack.log(tmp_book, params={"model": f"m{i}", "lr": 0.1 * i, "n_images": 100 + i},
                       metrics={"accuracy": 0.25 * i})

    after = zip_members(tmp_book)
    with zipfile.ZipFile(tmp_book) as zf:
        after_info = {i.filename: (i.CRC, i.compress_type, i.date_time) for i in zf.infolist()}
    allowed = {RUNS_PART, "xl/tables/table1.xml", "xl/styles.xml", "xl/sharedStrings.xml"}
    assert set(after) == set(before)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= allowed
    assert {RUNS_PART, "xl/tables/table1.xml"} <= changed
    for name in set(before) - allowed:
        assert after_info[name] == before_info[name], name
    assert after["xl/media/image1.png"] == png

    wb = load_openpyxl(tmp_book)
    mine = wb["Mine"]
    assert [list(r) for r in mine.iter_rows(values_only=True)] == [
        ["model", "score"], ["a", 3], ["b", 5], ["c", 4]]
    assert len(mine._charts) == 1
    assert mine["A1"].comment.text == "scores from the whiteboard"
    assert wb["Runs"]["A1"].comment.text == "one row per training run"
    if PILImage:  # openpyxl drops images when Pillow is missing
        assert len(mine._images) == 1
    assert [r[header_of(calamine_rows(tmp_book))["model"]] for r in calamine_rows(tmp_book)[1:]] == [
        "m0", "m1", "m2"]

    saved = libreoffice.to_xlsx(tmp_book)
    lo_members = zip_members(saved)
    assert png in [data for name, data in lo_members.items() if name.startswith("xl/media/")]
    assert any(name.startswith("xl/charts/chart") for name in lo_members)
    lo_book = openpyxl.load_workbook(saved)
    assert lo_book["Runs"]["A1"].comment.text.strip() == "one row per training run"
    assert lo_book["Mine"]["A1"].comment.text.strip() == "scores from the whiteboard"
    assert calamine_rows(saved, "Mine") == [["model", "score"], ["a", 3.0], ["b", 5.0], ["c", 4.0]]
    runs = calamine_rows(saved)
    assert [r[header_of(runs)["model"]] for r in runs[1:]] == ["m0", "m1", "m2"]

    # a new column also documents itself in the Schema sheet; the person's parts stay as they were
    sheettrack.log(tmp_book, params={"model": "m3", "warmup": 5})
    latest = zip_members(tmp_book)
    changed = {name for name in after if after[name] != latest.get(name)}
    assert changed <= allowed | {"xl/worksheets/sheet2.xml"}
    assert "xl/worksheets/sheet2.xml" in changed
    assert calamine_rows(tmp_book, "Schema")[-1][:2] == ["warmup", "int"]


# --------------------------------------------------------------------------- other writers

def test_workbook_last_saved_by_libreoffice(tmp_path: Path, calamine_rows: Any,
                                            libreoffice: Any) -> None:
    ours = tmp_path / "ours" / "runs.xlsx"
    ours.parent.mkdir()
    sheettrack.init(ours, "classification")
    sheettrack.log(ours, params={"model": "first", "lr": 0.5, "n_images": 10},
                   metrics={"accuracy": 0.25}, tags={"team": "t1"})
    book = libreoffice.to_xlsx(ours, tmp_path / "lo")
    # really another writer's file: shared strings, other part order and styles
    assert "xl/sharedStrings.xml" in zip_members(book)
    assert zip_part(book, "xl/styles.xml") != zip_part(ours, "xl/styles.xml")
    with zipfile.ZipFile(book) as a, zipfile.ZipFile(ours) as b:
        assert a.namelist() != b.namelist()

    sheettrack.log(book, params={"model": "second", "lr": 0.25, "n_images": 20, "note": "_x0041_"},
                   metrics={"accuracy": 0.5})
    sheettrack.log(book, params={"model": "third", "lr": 0.125, "n_images": 30, "note": "plain"},
                   metrics={"accuracy": 0.75, "extra": 3.5}, tags={"team": "t3"})

    expected = {
        "model": ["first", "second", "third"],
        "lr": [0.5, 0.25, 0.125],
        "n_images": [10, 20, 30],
        "accuracy": [0.25, 0.5, 0.75],
        "team": ["t1", "", "t3"],
        "note": ["", "_x0041_", "plain"],
        "extra": ["", "", 3.5],
    }
    rows = calamine_rows(book)
    pos = header_of(rows)
    assert len(rows) == 4
    for name, values in expected.items():
        assert [r[pos[name]] for r in rows[1:]] == values, name
    df = sheettrack.load(book)
    assert df["model"].tolist() == expected["model"]
    assert df["n_images"].tolist() == expected["n_images"]
    assert df["note"].tolist()[1:] == ["_x0041_", "plain"]
    assert sheettrack.validate(book) == []
    assert table_ref(book) == full_ref(len(rows[0]), 4)

    lo = libreoffice.csv(book)["Runs"]
    lo_pos = header_of(lo)
    assert len(lo) == 4
    assert [r[lo_pos["run_id"]] for r in lo[1:]] == df["run_id"].tolist()
    for name in ("model", "team", "note"):
        assert [r[lo_pos[name]] for r in lo[1:]] == expected[name], name


def _rezip(path: Path, edit: Any = None) -> None:
    """Rewrite every member (deflate level 9) as another zip tool would, keeping the zip comment."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info.filename)) for info in src.infolist()]
        comment = src.comment
    with zipfile.ZipFile(path, "w") as out:
        for info, data in members:
            if edit is not None and info.filename == RUNS_PART:
                data = edit(data)
            out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        out.comment = comment


def test_workbook_rezipped_by_another_tool_keeping_the_zip_comment(tmp_book: Path,
                                                                   calamine_rows: Any) -> None:
    for i in range(3):
        sheettrack.log(tmp_book, params={"model": f"m{i}"})
    _rezip(tmp_book)
    sheettrack.log(tmp_book, params={"model": "m3"})
    _rezip(tmp_book, lambda xml: xml.replace(b">m1<", b">edited<"))
    sheettrack.log(tmp_book, params={"model": "m4"})
    expected = ["m0", "edited", "m2", "m3", "m4"]
    assert sheettrack.load(tmp_book)["model"].tolist() == expected
    rows = calamine_rows(tmp_book)
    assert [r[header_of(rows)["model"]] for r in rows[1:]] == expected
    assert [c.value for c in load_openpyxl(tmp_book)["Runs"]["A"][1:]] == sheettrack.load(
        tmp_book)["run_id"].tolist()
    assert table_ref(tmp_book) == full_ref(len(rows[0]), 6)
    assert sheettrack.validate(tmp_book) == []


def test_rows_land_by_header_name_after_columns_are_reordered(tmp_book: Path, calamine_rows: Any,
                                                              libreoffice: Any) -> None:
    sheettrack.init(tmp_book, "classification")
    sheettrack.log(tmp_book, params={"model": "one", "lr": 0.5})
    # a person swaps the columns "model" and "lr" (cells and table column names)
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb["Runs"]
    header = openpyxl_header(ws)
    a, b = header.index("model") + 1, header.index("lr") + 1
    for r in range(1, ws.max_row + 1):
        ws.cell(r, a).value, ws.cell(r, b).value = ws.cell(r, b).value, ws.cell(r, a).value
    columns = ws.tables["RunsTable"].tableColumns
    columns[a - 1].name, columns[b - 1].name = columns[b - 1].name, columns[a - 1].name
    wb.save(tmp_book)

    sheettrack.log(tmp_book, params={"model": "two", "lr": 0.25}, metrics={"accuracy": 0.75})
    rows = calamine_rows(tmp_book)
    assert rows[0][a - 1] == "lr" and rows[0][b - 1] == "model"
    assert [r[b - 1] for r in rows[1:]] == ["one", "two"]
    assert [r[a - 1] for r in rows[1:]] == [0.5, 0.25]
    df = sheettrack.load(tmp_book)
    assert df["model"].tolist() == ["one", "two"]
    assert df["lr"].tolist() == [0.5, 0.25]
    assert sheettrack.validate(tmp_book) == []
    lo = libreoffice.csv(tmp_book)["Runs"]
    pos = header_of(lo)
    assert [r[pos["model"]] for r in lo[1:]] == ["one", "two"]
    assert [float(r[pos["lr"]]) for r in lo[1:]] == [0.5, 0.25]


# --------------------------------------------------------------------------- owner files

def _excel_owner_file(folder: Path, book: str, user: str) -> Path:
    name = user.encode("latin-1")
    data = bytes([len(name)]) + name + b" " * (53 - len(name))
    data += bytes([len(user), 0]) + user.encode("utf-16-le") + b"\x20\x00" * (54 - len(user))
    path = folder / f"~${book}"
    path.write_bytes(data)
    return path


def _libreoffice_owner_file(folder: Path, book: str, user: str) -> Path:
    path = folder / f".~lock.{book}#"
    # user name, system user name, host, time, profile URL (LibreOffice's lock entry)
    path.write_text(f"{user},jane,laptop-7,26.11.2026 10:00,file:///home/jane/.config/libreoffice/4;",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("make_owner", [_excel_owner_file, _libreoffice_owner_file],
                         ids=["excel", "libreoffice"])
def test_workbook_open_elsewhere_is_not_written(tmp_book: Path, make_owner: Any) -> None:
    sheettrack.log(tmp_book, params={"a": 1})
    before = sha256(tmp_book)
    owner = make_owner(tmp_book.parent, tmp_book.name, "Jane Doe")
    with pytest.raises(WorkbookLockedError) as info:
        sheettrack.log(tmp_book, params={"a": 2}, on_error="raise")
    assert isinstance(info.value, StoreError)
    assert "Jane Doe" in str(info.value)
    assert owner.name in str(info.value)
    assert "Jane Doe" in (info.value.owner or "")
    if make_owner is _libreoffice_owner_file:
        assert "Jane Doe on laptop-7 (LibreOffice)" in str(info.value)
    assert sha256(tmp_book) == before
    owner.unlink()
    sheettrack.log(tmp_book, params={"a": 3})
    # the refused row waited in the outbox and arrived with the next log, before it
    assert sheettrack.load(tmp_book)["a"].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------- atomic replace

def _leftovers(folder: Path, book: Path) -> list[str]:
    """Files beside the workbook other than it, its lock file and its (empty) journal."""
    journal_file = folder / f".{book.name}.journal"
    if journal_file.exists():
        assert journal_file.stat().st_size == 0, "a journal was left behind"
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in (book.name, f".{book.name}.lock", journal_file.name))


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o664])
def test_appends_leave_no_temp_files_and_keep_the_mode(tmp_book: Path, mode: int) -> None:
    sheettrack.init(tmp_book)
    os.chmod(tmp_book, mode)
    for i in range(3):
        sheettrack.log(tmp_book, params={"i": i})
    assert stat.S_IMODE(tmp_book.stat().st_mode) == mode
    assert _leftovers(tmp_book.parent, tmp_book) == []
    assert sheettrack.load(tmp_book)["i"].tolist() == [0, 1, 2]


def test_with_write_mode_replace_a_reader_holding_the_file_keeps_its_version(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", "replace")
    sheettrack.log(tmp_book, params={"i": 0})
    with open(tmp_book, "rb") as held:  # a reader that has the workbook open meanwhile
        original = held.read()
        for i in range(1, 4):
            sheettrack.log(tmp_book, params={"i": i})
        # the file was replaced as a whole, never written in place
        assert os.fstat(held.fileno()).st_ino != tmp_book.stat().st_ino
        held.seek(0)
        assert held.read() == original
    assert _leftovers(tmp_book.parent, tmp_book) == []
    assert sheettrack.load(tmp_book)["i"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("path", ["fast", "general"])
def test_a_copy_that_fails_halfway_leaves_the_workbook_as_it_was(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", "replace")
    sheettrack.log(tmp_book, params={"i": 0})
    if path == "general":  # no segment index, as after another program's save: a whole new copy
        with zipfile.ZipFile(tmp_book, "a") as z:
            z.comment = b""
    before = sha256(tmp_book)
    calls = []

    def fail_after(real: Any) -> Any:
        def failing(*args: Any, **kwargs: Any) -> None:
            fh = args[1]  # copy_prefix(src, out, ...) and Package.write(self, out, ...)
            real(*args, **kwargs)
            calls.append(real)
            fh.truncate(fh.tell() // 2)
            raise OSError(28, "No space left on device")
        return failing

    monkeypatch.setattr(xlsx_zip.Package, "write", fail_after(xlsx_zip.Package.write))
    monkeypatch.setattr(journal, "copy_prefix", fail_after(journal.copy_prefix))
    with pytest.raises(StoreError, match="No space left"):
        sheettrack.log(tmp_book, params={"i": 1}, on_error="raise")
    monkeypatch.undo()
    assert calls == [journal.copy_prefix if path == "fast" else xlsx_zip.Package.write]
    assert sha256(tmp_book) == before
    assert _leftovers(tmp_book.parent, tmp_book) == []
    sheettrack.log(tmp_book, params={"i": 2})  # the refused row waited in the outbox: it lands first
    assert sheettrack.load(tmp_book)["i"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("at", [journal.STEP_WORKBOOK_HALF, journal.STEP_WORKBOOK_WRITTEN,
                                journal.STEP_WORKBOOK_SYNCED])
def test_an_in_place_write_that_fails_halfway_leaves_the_workbook_as_it_was(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", "inplace")
    sheettrack.log(tmp_book, params={"i": 0})
    sheettrack.log(tmp_book, params={"i": 1})
    before = sha256(tmp_book)

    def fail(n: int) -> None:
        if n == at:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "step_hook", fail)
    with pytest.raises(StoreError, match="No space left"):
        sheettrack.log(tmp_book, params={"i": 2}, on_error="raise")
    monkeypatch.undo()
    assert sha256(tmp_book) == before
    assert _leftovers(tmp_book.parent, tmp_book) == []
    # the refused row waited in the outbox and lands, once, before the next one
    sheettrack.log(tmp_book, params={"i": 3})
    assert sheettrack.load(tmp_book)["i"].tolist() == [0, 1, 2, 3]
    assert [r[header_of(read_calamine(tmp_book))["i"]] for r in read_calamine(tmp_book)[1:]] == [0, 1, 2, 3]


def test_a_workbook_reached_through_a_symlink_stays_linked(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "runs.xlsx"
    real.parent.mkdir()
    sheettrack.init(real)
    link = tmp_path / "runs.xlsx"
    link.symlink_to(real)
    sheettrack.log(link, params={"i": 1})
    assert link.is_symlink()
    assert sheettrack.load(real)["i"].tolist() == [1]


# --------------------------------------------------------------------------- damaged workbooks

@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.xlsx"
    sheettrack.log(path, params={"lr": 0.1}, notes="a note")
    return path.read_bytes()


def _damaged(good: bytes, how: str) -> bytes:
    if how == "half":
        return good[: len(good) // 2]
    if how == "empty":
        return b""
    if how == "not_a_zip":
        return b"model,accuracy\nmlp,0.9\n"
    import io

    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        info = zf.getinfo(RUNS_PART)
        if how == "bad_deflate":
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            junk = bytes(b ^ 0xFF for b in good[start + 10:start + 60])
            return good[:start + 10] + junk + good[start + 60:]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
            for name in zf.namelist():
                if how == "no_runs_part" and name == RUNS_PART:
                    continue
                data = zf.read(name)
                if how == "bad_xml" and name == RUNS_PART:
                    data = data[: len(data) // 2]
                out.writestr(name, data)
        return buf.getvalue()


DAMAGE = ["half", "empty", "not_a_zip", "bad_deflate", "no_runs_part", "bad_xml"]
OPERATIONS = {
    "log": lambda p: sheettrack.log(p, params={"lr": 0.2}, on_error="raise"),
    "load": sheettrack.load,
    "validate": sheettrack.validate,
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_workbook_is_a_corrupt_workbook_error(tmp_book: Path, good_bytes: bytes, how: str,
                                                      operation: str) -> None:
    data = _damaged(good_bytes, how)
    tmp_book.write_bytes(data)
    with pytest.raises(CorruptWorkbookError) as info:
        OPERATIONS[operation](tmp_book)
    assert isinstance(info.value, StoreError)
    assert tmp_book.name in str(info.value)
    assert tmp_book.read_bytes() == data
    assert _leftovers(tmp_book.parent, tmp_book) == []


# --------------------------------------------------------------------------- the default write's copy

def _store_rows(book: Path, rows: list[dict[str, Any]]) -> Any:
    """Checked rows for the store's own append, built the way ``sheettrack.log`` builds them."""
    from types import SimpleNamespace

    from sheettrack import delivery
    from sheettrack.run import Run
    from sheettrack.session import Session

    session = Session.open(book)
    layout = session.layout()
    records = []
    for i, row in enumerate(rows):
        run = Run(book)
        run.run_id = f"20261126-000000-{i:06x}"
        run.params.update(row)
        records.append(run.record())
    built, new_columns = delivery.build_rows(session, layout, records)
    return SimpleNamespace(store=session.store, schema=layout.schema), built, new_columns


def test_the_default_copy_writes_the_bytes_the_in_place_write_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default write copies the workbook's unchanged start and writes only its new end:
    the file it swaps in is byte for byte the one the in-place write leaves, whichever way
    the start is copied (the kernel's copy, or a megabyte at a time where there is none)."""
    first = tmp_path / "first.xlsx"
    sheettrack.log(first, params={"model": "mlp", "i": 0})
    books = {}
    for way in ("inplace", "kernel", "chunks"):
        folder = tmp_path / way
        folder.mkdir()
        books[way] = folder / "runs.xlsx"
        books[way].write_bytes(first.read_bytes())
    session, rows, new_columns = _store_rows(first, [{"model": "cnn", "i": i} for i in range(1, 4)])
    assert new_columns == []
    for way, book in books.items():
        monkeypatch.setenv("SHEETTRACK_WRITE", "inplace" if way == "inplace" else "replace")
        monkeypatch.setenv("SHEETTRACK_NO_REFLINK", "1")
        if way == "chunks":
            monkeypatch.delattr(os, "copy_file_range", raising=False)
        store = type(session.store)(book)
        for row in rows:
            store.append([row], session.schema, [])
            assert store.last_write == ("inplace" if way == "inplace" else "replace")
            assert store.last_copy == {"inplace": None, "kernel": "copy_file_range"
                                       if hasattr(os, "copy_file_range") else "read/write",
                                       "chunks": "read/write"}[way]
        monkeypatch.undo()
    assert sha256(books["kernel"]) == sha256(books["chunks"]) == sha256(books["inplace"])
    rows_seen = read_calamine(books["kernel"])
    assert [r[header_of(rows_seen)["i"]] for r in rows_seen[1:]] == [0, 1, 2, 3]
    with zipfile.ZipFile(books["chunks"]) as zf:
        assert zf.testzip() is None


def test_the_default_append_neither_reads_nor_holds_the_existing_rows(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its cost in reads and memory is the workbook's end, not its rows."""
    import tracemalloc

    rng = __import__("random").Random(7)
    sheettrack.log_many(tmp_book, [{"params": {"i": i}, "notes": rng.randbytes(3000).hex()}
                                   for i in range(800)])
    assert tmp_book.stat().st_size > 2_000_000
    session, rows, _ = _store_rows(tmp_book, [{"i": 800}])
    read = []
    real_at = xlsx_zip.Package.read_at

    def counting_at(self: Any, offset: int, n: int) -> bytes:
        data = real_at(self, offset, n)
        read.append(len(data))
        return data

    monkeypatch.setattr(xlsx_zip.Package, "read_at", counting_at)
    monkeypatch.setenv("SHEETTRACK_NO_REFLINK", "1")
    monkeypatch.delattr(os, "copy_file_range", raising=False)  # the copy that passes through Python
    tracemalloc.start()
    try:
        session.store.append(rows, session.schema, [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (session.store.last_write, session.store.last_copy) == ("replace", "read/write")
    assert sum(read) < 300_000, read
    assert peak < 1_000_000, peak
    got = read_calamine(tmp_book)
    assert [r[header_of(got)["i"]] for r in got[1:]] == list(range(801))


def test_a_workbook_resaved_by_openpyxl_is_laid_out_again_by_its_next_default_append(
        tmp_book: Path) -> None:
    """The general path rewrites every part once; the append after it copies only the start."""
    sheettrack.log(tmp_book, params={"i": 0})
    wb = openpyxl.load_workbook(tmp_book)
    wb.save(tmp_book)
    ways = []
    for i in (1, 2, 3):
        session, rows, new_columns = _store_rows(tmp_book, [{"i": i}])
        session.store.append(rows, session.schema, new_columns)
        ways.append((session.store.last_write, session.store.last_copy))
    assert ways[0] == ("replace", "package")
    assert ways[1][1] != "package" and ways[1] == ways[2]
    got = read_calamine(tmp_book)
    assert [r[header_of(got)["i"]] for r in got[1:]] == [0, 1, 2, 3]
    ws = openpyxl.load_workbook(tmp_book)["Runs"]
    assert [row[header_of(got)["i"]] for row in ws.iter_rows(min_row=2, values_only=True)] == [0, 1, 2, 3]


def test_a_clone_of_the_whole_file_is_cut_to_the_new_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the file system clones the whole old file, bytes past the new end (a new end
    shorter than the old one) are cut off: the result is the bytes of a plain copy."""
    src = tmp_path / "old.bin"
    src.write_bytes(bytes(range(256)) * 64)

    def fake_clone(sfd: int, ofd: int) -> str:
        journal.write_at(ofd, 0, os.pread(sfd, 1 << 20, 0))
        return "reflink"

    made = {}
    for way in ("clone", "kernel", "chunks"):
        with monkeypatch.context() as mp:
            if way == "clone":
                mp.setattr(journal, "clone", fake_clone)
            else:
                mp.setenv("SHEETTRACK_NO_REFLINK", "1")
            if way == "chunks":
                mp.delattr(os, "copy_file_range", raising=False)
                mp.setattr(journal, "COPY_CHUNK", 1000)  # many reads through the one buffer
            with open(src, "rb") as fh, open(tmp_path / f"{way}.bin", "w+b") as out:
                how = journal.copy_prefix(fh, out, 10_000, b"new end")
                assert out.tell() == 10_007
            made[way] = (how, (tmp_path / f"{way}.bin").read_bytes())
    expected = src.read_bytes()[:10_000] + b"new end"
    assert made["clone"] == ("reflink", expected)
    assert made["chunks"] == ("read/write", expected)
    assert made["kernel"][1] == expected


def test_copy_file_range_answering_zero_or_unsupported_falls_back_to_a_copy_by_hand(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    src = tmp_path / "old.bin"
    src.write_bytes(os.urandom(50_000))
    monkeypatch.setenv("SHEETTRACK_NO_REFLINK", "1")
    answers = iter([4096, 0])  # some file systems answer 0 where they cannot copy

    def partial(sfd: int, ofd: int, n: int, so: int, do: int) -> int:
        got = next(answers)
        if got:
            journal.write_at(ofd, do, os.pread(sfd, got, so))
        return got

    def copy_with(fake: Any, name: str) -> str:
        monkeypatch.setattr(os, "copy_file_range", fake, raising=False)
        with open(src, "rb") as fh, open(tmp_path / name, "w+b") as out:
            how = journal.copy_prefix(fh, out, 40_000, b"!")
        assert (tmp_path / name).read_bytes() == src.read_bytes()[:40_000] + b"!"
        return how

    assert copy_with(partial, "a.bin") == "copy_file_range"

    def unsupported(*args: Any) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    assert copy_with(unsupported, "b.bin") == "read/write"

    def full(*args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        copy_with(full, "c.bin")


def test_reference_keys_are_read_from_their_own_sheet_as_calamine_reads_them(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheettrack import references

    data = tmp_book.parent / "train.csv"
    data.write_text("a,b\n1,2\n")
    sheettrack.log(tmp_book, params={"i": 0}, data=[str(data)])
    data.write_text("a,b\n1,2\n3,4\n")
    sheettrack.log(tmp_book, params={"i": 1}, data=[str(data)])
    store = ExcelStore(tmp_book)
    for sheet in (references.ENV_SHEET, references.DATA_SHEET):
        key = references.KEYS[sheet]
        rows = read_calamine(tmp_book, sheet)
        i = rows[0].index(key)
        expected = {str(r[i]) for r in rows[1:] if r[i] not in ("", None)}
        assert len(expected) == (1 if sheet == references.ENV_SHEET else 2)
        assert store.prefetched_keys(sheet, key) == expected
        assert store.prefetched_keys(sheet.lower(), key) == expected  # matched as the writer matches
        assert store.prefetched_keys(sheet, "no such column") == set()
    assert store.prefetched_keys("No such sheet", "hash") == set()
    # a sheet whose first row is not row 1 has no header row: no keys (the writer adds rows again)
    wb = openpyxl.load_workbook(tmp_book)
    ws = wb.create_sheet("Moved")
    ws["A2"], ws["A3"] = "hash", "abc"
    wb.save(tmp_book)
    assert ExcelStore(tmp_book).prefetched_keys("Moved", "hash") == set()


@pytest.mark.skipif(not os.environ.get("SHEETTRACK_TEST_REFLINK_DIR"),
                    reason="set SHEETTRACK_TEST_REFLINK_DIR to a folder on XFS or btrfs")
def test_on_a_reflink_file_system_the_default_append_clones_the_workbook(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=os.environ["SHEETTRACK_TEST_REFLINK_DIR"]))
    book = folder / "runs.xlsx"
    sheettrack.log(book, params={"i": 0})
    session, rows, _ = _store_rows(book, [{"i": i} for i in range(1, 4)])
    for row in rows:
        session.store.append([row], session.schema, [])
        assert (session.store.last_write, session.store.last_copy) == ("replace", "reflink")
    got = read_calamine(book)
    assert [r[header_of(got)["i"]] for r in got[1:]] == [0, 1, 2, 3]
    with zipfile.ZipFile(book) as zf:
        assert zf.testzip() is None


# --------------------------------------------------------------------------- transactions

def _tx_schema(*extra: str) -> Schema:
    return Schema(name="tx", columns=[Column(name="run_id", type="string"), Column(name="lr", type="float"),
                                      *(Column(name=n, type="string") for n in extra)])


def _first_run(tx: Any) -> None:
    """Lay the workbook out and log run r1, inside transaction ``tx``."""
    tx.create(_tx_schema())
    tx.append([{"run_id": "r1", "lr": 0.1}], _tx_schema())


def test_a_transaction_lays_out_the_workbook_and_writes_run_and_reference_rows_under_one_lock(
        tmp_book: Path) -> None:
    store = ExcelStore(tmp_book)
    with store.transaction() as tx:
        _first_run(tx)
        tx.append_rows("Environments", ["env", "python"], [{"env": "e1", "python": "3.11"}], key="env")
        tx.append_rows("Data", ["hash", "path"], [{"hash": "h1", "path": "a.csv"}], key="hash")
    assert store.stats == WriteStats(locks=1, rewrites=1)  # laid out and filled in one new file
    with store.transaction() as tx:
        tx.append([{"run_id": "r2", "lr": 0.2}], _tx_schema())
        tx.append_rows("Data", ["hash", "path"], [{"hash": "h2", "path": "b.csv"}], key="hash")
    assert store.stats == WriteStats(locks=2, rewrites=2)
    with store.transaction() as tx:  # run rows alone: the fast path, still one lock and one write
        tx.append([{"run_id": "r3", "lr": 0.3}], _tx_schema())
    assert store.stats == WriteStats(locks=3, rewrites=3)
    assert store.last_copy != "package"
    runs = read_calamine(tmp_book)
    assert [r[header_of(runs)["run_id"]] for r in runs[1:]] == ["r1", "r2", "r3"]
    assert read_calamine(tmp_book, "Environments")[1:] == [["e1", "3.11"]]
    assert read_calamine(tmp_book, "Data")[1:] == [["h1", "a.csv"], ["h2", "b.csv"]]
    wb = openpyxl.load_workbook(tmp_book)
    assert wb.sheetnames == ["Runs", "Schema", "Environments", "Data"]
    with zipfile.ZipFile(tmp_book) as zf:
        assert zf.testzip() is None
    # reading takes no lock: the file beside no journal is a complete version
    assert store.read_schema() is not None
    assert store.read().rows[-1][0] == "r3"
    assert store.prefetched_keys("Data", "hash") == {"h1", "h2"}
    assert store.stats.locks == 3


def test_a_refused_run_row_writes_nothing_not_even_the_reference_rows_queued_with_it(
        tmp_book: Path) -> None:
    store = ExcelStore(tmp_book)
    with store.transaction() as tx:
        _first_run(tx)
    before = sha256(tmp_book)
    with pytest.raises(SchemaMismatchError):  # the sheet lacks a column the rows' schema has
        with store.transaction() as tx:
            tx.append_rows("Data", ["hash", "path"], [{"hash": "h1", "path": "a.csv"}], key="hash")
            tx.append_rows("Environments", ["env"], [{"env": "e1"}], key="env")
            tx.append([{"run_id": "r2", "lr": 0.2}], _tx_schema("not_in_the_sheet"))
    assert sha256(tmp_book) == before
    # a value the stored definition refuses, for a column another writer added meanwhile
    with store.transaction() as tx:
        tx.append([{"run_id": "r2", "lr": 0.2, "seed": 1}], _tx_schema().with_columns([Column(name="seed", type="int")]),
                  [Column(name="seed", type="int")])
    before = sha256(tmp_book)
    with pytest.raises(ValidationError):
        with store.transaction() as tx:
            tx.append_rows("Data", ["hash"], [{"hash": "h1"}], key="hash")
            tx.append([{"run_id": "r3", "lr": 0.3, "seed": "abc"}],
                      _tx_schema().with_columns([Column(name="seed", type="string")]), [Column(name="seed", type="string")])
    assert sha256(tmp_book) == before
    assert _leftovers(tmp_book.parent, tmp_book) == []
    # a workbook the transaction would have created is not created either
    other = tmp_book.parent / "new.xlsx"
    with pytest.raises(SchemaMismatchError):
        with ExcelStore(other).transaction() as tx:
            tx.create(_tx_schema())
            tx.append_rows("Data", ["hash"], [{"hash": "h1"}], key="hash")
            tx.append([{"run_id": "r1", "lr": 0.1}], _tx_schema("not_in_the_sheet"))
    assert not other.exists()


def test_reads_take_no_lock_unless_a_journal_must_be_recovered(
        tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheettrack.stores.xlsx import lock

    sheettrack.log(tmp_book, params={"i": 0})
    taken = []
    real = lock.WorkbookLock.acquire

    def counting(self: Any) -> None:
        taken.append(self.path)
        real(self)

    monkeypatch.setattr(lock.WorkbookLock, "acquire", counting)
    store = ExcelStore(tmp_book)
    assert store.exists() and store.read_schema() is not None
    assert store.read().rows and store.prefetched_keys("Environments", "env_hash") is not None
    with pytest.raises(SheetNotFoundError) as info:
        store.read("No such sheet")
    assert info.value.sheet == "No such sheet" and "no sheet named 'No such sheet'" in str(info.value)
    assert taken == [] and store.stats.locks == 0
    journal.journal_path(tmp_book).write_bytes(b"a journal an interrupted write left")
    assert store.read().rows
    assert len(taken) == 1 and journal.journal_path(tmp_book).stat().st_size == 0  # recovered
