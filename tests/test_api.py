"""Behaviour tests for the Python API: log, start_run, load, validate, show, init.

Workbooks are read back with python-calamine directly, not only through ``sheettrack.load``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine

import sheettrack
from sheettrack import (
    Problem,
    SchemaMismatchError,
    StoreError,
    TargetError,
    ValidationError,
)
from sheettrack.record import new_run_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
GIT_COLUMNS = ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote")


# -- reading workbooks with a second reader ----------------------------------------------------

def sheet_values(path: Path, sheet: str = "Runs") -> list[list[Any]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def runs(path: Path) -> list[dict[str, Any]]:
    """The Runs sheet as one dict per row (header name -> raw calamine value)."""
    values = sheet_values(path)
    header = values[0]
    return [dict(zip(header, row)) for row in values[1:] if any(v not in ("", None) for v in row)]


def header(path: Path) -> list[str]:
    return [h for h in sheet_values(path)[0] if h not in ("", None)]


def ulid_ms(run_id: str) -> int:
    """Milliseconds since the epoch encoded in the first 10 characters of a ULID."""
    value = 0
    for ch in run_id[:10]:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def rename_header(path: Path, old: str, new: str) -> None:
    """Rename a header cell of the Runs sheet, as a person would in a spreadsheet program."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Runs"]
    for cell in ws[1]:
        if cell.value == old:
            cell.value = new
            break
    else:
        raise AssertionError(f"no header {old!r}")
    wb.save(path)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return tmp_path / "runs.xlsx"


@pytest.fixture
def outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in a folder that is not inside any git repository."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for var in ("GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(var, raising=False)
    return work


# -- run ids -----------------------------------------------------------------------------------

def test_log_returns_a_ulid(book: Path) -> None:
    before = int(time.time() * 1000)
    run_id = sheettrack.log(book, params={"lr": 0.1})
    after = int(time.time() * 1000)
    assert isinstance(run_id, str) and len(run_id) == 26
    assert ULID.match(run_id), run_id
    assert before <= ulid_ms(run_id) <= after
    assert [r["run_id"] for r in runs(book)] == [run_id]


def test_run_ids_sort_by_time(book: Path) -> None:
    ids = [sheettrack.log(book, params={"i": i}) for i in range(3)]
    assert len(set(ids)) == 3
    assert sorted(ids) == ids
    stamps = [new_run_id(now) for now in (1_700_000_000.000, 1_700_000_000.002, 1_800_000_000.0)]
    assert sorted(stamps) == stamps
    assert ulid_ms(stamps[0]) == 1_700_000_000_000


def test_explicit_run_id_is_kept(book: Path) -> None:
    assert sheettrack.log(book, run_id="my-run-1") == "my-run-1"
    assert runs(book)[0]["run_id"] == "my-run-1"


# -- start_run ---------------------------------------------------------------------------------

def test_start_run_writes_a_finished_row(book: Path) -> None:
    with sheettrack.start_run(book, template="classification", hypothesis="two layers") as run:
        run.log_param("lr", 0.01)
        run.log_params({"hidden_layers": [64, 32], "epochs": 3})
        run.log_metric("accuracy", 0.5)
        run.log_metric("accuracy", 0.9)  # the latest value wins
        run.set_tag("team", "vision")
        run.note("first")
        run.note("second")
        assert not book.exists()  # nothing is written before the block ends
    (row,) = runs(book)
    assert row["run_id"] == run.run_id
    assert row["status"] == "finished"
    assert row["error"] == ""
    assert row["lr"] == 0.01
    assert row["epochs"] == 3
    assert row["hidden_layers"] == "[64, 32]"
    assert row["accuracy"] == 0.9
    assert row["team"] == "vision"
    assert row["hypothesis"] == "two layers"
    assert row["notes"] == "first\nsecond"


def test_start_run_failed_reraises_and_keeps_one_line(book: Path) -> None:
    with pytest.raises(ValueError, match="boom"):
        with sheettrack.start_run(book) as run:
            run.log_param("lr", 0.1)
            raise ValueError("boom\nsecond line of the message")
    (row,) = runs(book)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: boom"
    assert row["lr"] == 0.1


def test_start_run_interrupted_reraises(book: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with sheettrack.start_run(book):
            raise KeyboardInterrupt
    (row,) = runs(book)
    assert row["status"] == "interrupted"
    assert row["error"] == "KeyboardInterrupt"


def test_bad_value_fails_at_log_time(book: Path) -> None:
    reached = False
    with sheettrack.start_run(book, template="classification") as run:
        with pytest.raises(ValidationError) as info:
            run.log_param("lr", -0.5)
        assert "column lr" in str(info.value) and "below the minimum" in str(info.value)
        assert "lr" not in run.params
        assert not book.exists()
        with pytest.raises(ValidationError, match=r"column accuracy: 'O\.9' is not a number"):
            run.log_metric("accuracy", "O.9")
        reached = True
    assert reached
    (row,) = runs(book)
    assert row["status"] == "finished"
    assert row["lr"] == "" and row["accuracy"] == ""


def test_uncaught_validation_error_marks_the_run_failed(book: Path) -> None:
    with pytest.raises(ValidationError):
        with sheettrack.start_run(book, template="classification") as run:
            run.log_metric("accuracy", 7)
            pytest.fail("log_metric should have raised")  # pragma: no cover
    (row,) = runs(book)
    assert row["status"] == "failed"
    assert row["error"].startswith("ValidationError: column accuracy")
    assert row["accuracy"] == ""


def test_log_with_a_bad_value_writes_nothing(book: Path) -> None:
    sheettrack.log(book, template="classification", metrics={"accuracy": 0.5})
    before = book.read_bytes()
    with pytest.raises(ValidationError):
        sheettrack.log(book, params={"epochs": "many"}, metrics={"accuracy": 0.7})
    assert book.read_bytes() == before


# -- values ------------------------------------------------------------------------------------

def test_nested_dicts_flatten_to_dotted_names(book: Path) -> None:
    sheettrack.log(book, params={"optimizer": {"name": "adam", "lr": 0.1,
                                               "betas": {"b1": 0.9}}})
    (row,) = runs(book)
    assert row["optimizer.name"] == "adam"
    assert row["optimizer.lr"] == 0.1
    assert row["optimizer.betas.b1"] == 0.9
    assert "optimizer" not in row


def test_lists_are_stored_as_json_text(book: Path) -> None:
    sheettrack.log(book, template="classification",
                   params={"hidden_layers": [64, 32], "sizes": (1, 2)})
    (row,) = runs(book)
    assert row["hidden_layers"] == "[64, 32]"
    assert row["sizes"] == "[1, 2]"
    df = sheettrack.load(book)
    assert df["hidden_layers"][0] == [64, 32]
    assert df["sizes"][0] == [1, 2]


def test_nan_and_big_ints_round_trip(book: Path) -> None:
    big = 2**60 + 1
    sheettrack.log(book, params={"seed": big}, metrics={"loss": float("nan")})
    (row,) = runs(book)
    assert row["loss"] == "NaN"
    assert row["seed"] == str(big)
    df = sheettrack.load(book)
    assert math.isnan(df["loss"][0])
    assert df["seed"][0] == big


def test_numeric_text_is_converted_for_a_numeric_column(book: Path) -> None:
    sheettrack.log(book, template="classification", params={"lr": "0.001", "epochs": "12"})
    (row,) = runs(book)
    assert row["lr"] == 0.001
    assert row["epochs"] == 12


# -- targets -----------------------------------------------------------------------------------

def test_target_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env.xlsx"
    monkeypatch.setenv("SHEETTRACK_TARGET", str(target))
    run_id = sheettrack.log(params={"a": 1})
    assert target.is_file()
    assert [r["run_id"] for r in runs(target)] == [run_id]
    assert list(sheettrack.load()["run_id"]) == [run_id]


def test_no_target_at_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SHEETTRACK_TARGET", raising=False)
    monkeypatch.chdir(tmp_path)
    for call in (lambda: sheettrack.log(params={"a": 1}), lambda: sheettrack.load(),
                 lambda: sheettrack.log("  ", params={"a": 1})):
        with pytest.raises(TargetError, match="SHEETTRACK_TARGET"):
            call()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["runs.csv", "runs.xls", "runs", "runs.xlsx.bak"])
def test_non_xlsx_target(tmp_path: Path, name: str) -> None:
    with pytest.raises(TargetError, match=r"\.xlsx"):
        sheettrack.log(tmp_path / name, params={"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        sheettrack.log(tmp_path / "no" / "such" / "runs.xlsx", params={"a": 1}, on_error="raise")


def test_load_of_a_missing_workbook(book: Path) -> None:
    with pytest.raises(StoreError, match="no such workbook"):
        sheettrack.load(book)


# -- load --------------------------------------------------------------------------------------

def test_load_dtypes(book: Path) -> None:
    sheettrack.log(book, template="classification",
                   params={"model": "mlp", "epochs": 5, "lr": 0.01, "augment": True},
                   metrics={"accuracy": 0.9})
    sheettrack.log(book, params={"model": "cnn"}, metrics={"accuracy": 0.8})
    df = sheettrack.load(book)
    assert len(df) == 2
    dtypes = {name: str(df[name].dtype) for name in df.columns}
    assert dtypes["lr"] == "float64"
    assert dtypes["accuracy"] == "float64"
    assert dtypes["duration_s"] == "float64"
    assert dtypes["epochs"] == "Int64"
    assert dtypes["augment"] == "boolean"
    assert dtypes["git_dirty"] == "boolean"
    assert dtypes["started_at"] == "datetime64[us, UTC]"
    assert dtypes["ended_at"] == "datetime64[us, UTC]"
    assert dtypes["model"] == "string"
    assert dtypes["run_id"] == "string"
    assert list(df["model"]) == ["mlp", "cnn"]
    assert df["epochs"][0] == 5 and df["epochs"].isna()[1]
    assert bool(df["augment"][0]) is True and df["augment"].isna()[1]
    assert list(df["accuracy"]) == [0.9, 0.8]
    assert df["started_at"][0].tzinfo is not None


def test_load_matches_what_calamine_reads(book: Path) -> None:
    sheettrack.log(book, params={"lr": 0.001, "name": "a b"}, metrics={"acc": 0.1 + 0.2})
    (row,) = runs(book)
    df = sheettrack.load(book)
    assert row["acc"] == df["acc"][0] == 0.1 + 0.2  # bit for bit
    assert row["lr"] == df["lr"][0] == 0.001
    assert row["name"] == df["name"][0] == "a b"
    started = row["started_at"]
    assert isinstance(started, dt.datetime)
    assert df["started_at"][0].to_pydatetime() == started.replace(tzinfo=dt.timezone.utc)


# -- provenance and secrets --------------------------------------------------------------------

def test_provenance_columns_are_filled(outside_git: Path) -> None:
    target = outside_git / "runs.xlsx"
    t0 = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    run_id = sheettrack.log(target, params={"lr": 0.1})
    t1 = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    (row,) = runs(target)
    assert row["run_id"] == run_id
    slack = dt.timedelta(seconds=1)
    assert t0 - slack <= row["started_at"] <= row["ended_at"] <= t1 + slack
    assert isinstance(row["duration_s"], (int, float)) and row["duration_s"] >= 0
    assert row["status"] == "finished"
    assert row["user"] == getpass.getuser()
    assert row["host"] == socket.gethostname()
    assert row["python"] == platform.python_version()
    assert isinstance(row["command"], str) and row["command"].strip()
    assert isinstance(row["platform"], str) and row["platform"]
    assert isinstance(json.loads(row["packages"]), dict)
    for name in GIT_COLUMNS:
        assert row[name] == "", name
    shown = sheettrack.show(target, run_id)
    for name in GIT_COLUMNS:
        assert shown[name] is None, name


def test_no_environment_variable_reaches_the_workbook(
        outside_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "SHEETTRACK_TEST_SECRET": "s3cr3t-Value-4f9a1c",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-bPxRfiCY",
        "HF_TOKEN": "hf_QwErTy0123456789SECRET",
        "DATABASE_URL": "postgres://admin:pa55w0rd-xyz@db.internal/prod",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    target = outside_git / "runs.xlsx"
    sheettrack.log(target, template="classification", params={"lr": 0.1},
                   metrics={"accuracy": 0.9}, tags={"team": "vision"}, notes="ok")
    sheettrack.log(target, params={"lr": 0.2})
    book = python_calamine.CalamineWorkbook.from_path(str(target))
    cells = [str(v) for name in book.sheet_names
             for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)
             for v in row]
    assert any("vision" in c for c in cells)  # the search does see the cells
    raw = target.read_bytes()
    with zipfile.ZipFile(target) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    assert any(b"vision" in data for data in parts.values())
    for name, value in secrets.items():
        assert not any(value in c for c in cells), name
        assert value.encode() not in raw, name
        for part, data in parts.items():
            assert value.encode() not in data, (name, part)


def test_provenance_git_off_removes_the_git_columns(book: Path) -> None:
    template = {"name": "nogit", "extends": "default", "provenance": {"git": False}}
    sheettrack.log(book, template=template, params={"a": 1})
    names = header(book)
    for name in GIT_COLUMNS:
        assert name not in names
    assert "user" in names and "run_id" in names
    assert sheettrack.schema_of(book).name == "nogit"


def test_git_columns_filled_inside_a_repository(
        outside_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    try:
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=outside_git, check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError):  # pragma: no cover
        pytest.skip("git is not available")
    (outside_git / "train.py").write_text("print('hi')\n")
    subprocess.run([*git, "add", "train.py"], cwd=outside_git, check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=outside_git, check=True, timeout=30)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=outside_git, check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()
    target = outside_git / "runs.xlsx"
    sheettrack.log(target, params={"a": 1})
    (outside_git / "train.py").write_text("print('changed')\n")
    sheettrack.log(target, params={"a": 2})
    clean, dirty = runs(target)
    assert clean["git_commit"] == dirty["git_commit"] == head
    assert clean["git_branch"] == "main"
    assert clean["git_dirty"] is False and clean["git_diff_hash"] == ""
    assert dirty["git_dirty"] is True
    assert re.fullmatch(r"[0-9a-f]{16}", dirty["git_diff_hash"])


# -- data fingerprints -------------------------------------------------------------------------

def test_data_file_fills_data_hash_and_data(tmp_path: Path, book: Path) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text("x,y\n1,2\n3,4\n5,6\n")
    sheettrack.log(book, data=csv, params={"a": 1})
    csv.write_text("x,y\n1,2\n3,4\n5,7\n")
    sheettrack.log(book, data=str(csv), params={"a": 2})
    first, second = runs(book)
    assert isinstance(first["data_hash"], str) and first["data_hash"]
    assert first["data_hash"] != second["data_hash"]
    (fp,) = json.loads(first["data"])
    assert fp["rows"] == 3
    assert fp["size"] == len("x,y\n1,2\n3,4\n5,6\n")
    assert fp["hash"].startswith("sha256:")
    assert fp["kind"] == "file"
    (fp2,) = json.loads(second["data"])
    assert fp2["hash"] != fp["hash"]
    assert sheettrack.load(book)["data"][0] == [fp]


def test_no_data_leaves_the_data_columns_empty(book: Path) -> None:
    sheettrack.log(book, params={"a": 1})
    (row,) = runs(book)
    assert row["data_hash"] == "" and row["data"] == ""


# -- the stored schema and the header ----------------------------------------------------------

def test_another_template_is_refused_naming_both(book: Path) -> None:
    sheettrack.log(book, template="classification", metrics={"accuracy": 0.9})
    before = book.read_bytes()
    with pytest.raises(SchemaMismatchError) as info:
        sheettrack.log(book, template="regression", metrics={"rmse": 0.1})
    message = str(info.value)
    assert "'classification'" in message and "'regression'" in message
    assert book.read_bytes() == before


def test_later_logs_use_the_stored_schema(book: Path) -> None:
    sheettrack.init(book, "classification")
    with pytest.raises(ValidationError, match="column accuracy"):
        sheettrack.log(book, metrics={"accuracy": 3})
    sheettrack.log(book, template="classification", metrics={"accuracy": 0.3})
    sheettrack.log(book, params={"extra": 1})
    with pytest.raises(ValidationError, match="column extra"):  # its type was stored
        sheettrack.log(book, params={"extra": "one"})
    assert [r["accuracy"] for r in runs(book)] == [0.3, ""]


def test_renamed_header_is_reported(book: Path) -> None:
    sheettrack.log(book, template="classification", params={"lr": 0.1})
    rename_header(book, "lr", "learning_rate")
    before = book.read_bytes()
    with pytest.raises(SchemaMismatchError) as info:
        sheettrack.log(book, params={"epochs": 2}, on_error="raise")
    message = str(info.value)
    assert "'lr'" in message
    assert "seems renamed" in message
    assert "'learning_rate'" in message
    assert book.read_bytes() == before
    problems = sheettrack.validate(book)
    assert any(p.address == "Runs!1" and "seems renamed" in p.message for p in problems)


def test_duplicated_header_is_reported(book: Path) -> None:
    sheettrack.log(book, template="classification", params={"lr": 0.1})
    rename_header(book, "model", "lr")
    with pytest.raises(SchemaMismatchError) as info:
        sheettrack.log(book, params={"epochs": 2}, on_error="raise")
    message = str(info.value)
    assert "'lr'" in message
    assert "twice" in message
    assert len(runs(book)) == 1


def test_columns_moved_by_a_person_are_written_by_name(book: Path) -> None:
    sheettrack.log(book, template="classification", params={"lr": 0.1}, metrics={"accuracy": 0.5})
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    names = [c.value for c in ws[1]]
    i, j = names.index("lr") + 1, names.index("accuracy") + 1
    for r in (1, 2):
        a, b = ws.cell(r, i), ws.cell(r, j)
        a.value, b.value = b.value, a.value
    wb.save(book)
    sheettrack.log(book, params={"lr": 0.2}, metrics={"accuracy": 0.7})
    rows = runs(book)
    assert [(r["lr"], r["accuracy"]) for r in rows] == [(0.1, 0.5), (0.2, 0.7)]


# -- validate ----------------------------------------------------------------------------------

def test_validate_clean_workbook(book: Path) -> None:
    sheettrack.log(book, template="classification", params={"lr": 0.1, "hidden_layers": [8]},
                   metrics={"accuracy": 0.9, "loss": float("nan")}, notes="n")
    sheettrack.log(book, params={"big": 2**60}, tags={"t": "x"})
    assert sheettrack.validate(book) == []


def test_validate_reports_a_cell_typed_wrongly(book: Path) -> None:
    sheettrack.log(book, template="classification", metrics={"accuracy": 0.9})
    sheettrack.log(book, metrics={"accuracy": 0.8})
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    col = [c.value for c in ws[1]].index("accuracy") + 1
    cell = ws.cell(row=3, column=col)
    cell.value = "O.9"
    address = f"Runs!{cell.coordinate}"
    wb.save(book)
    sheettrack.log(book, metrics={"accuracy": 0.7})  # appending still works
    problems = sheettrack.validate(book)
    assert problems == [Problem(address, "'O.9' is not a number (column accuracy: float)")]
    assert str(problems[0]) == f"{address}: 'O.9' is not a number (column accuracy: float)"
    with pytest.warns(UserWarning, match=re.escape(address)):
        df = sheettrack.load(book)
    assert df["accuracy"][0] == 0.9 and math.isnan(df["accuracy"][1]) and df["accuracy"][2] == 0.7


def test_validate_reports_a_required_cell_left_empty(book: Path) -> None:
    sheettrack.log(book, params={"a": 1})
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    col = [c.value for c in ws[1]].index("status") + 1
    ws.cell(row=2, column=col).value = None
    address = f"Runs!{ws.cell(row=2, column=col).coordinate}"
    wb.save(book)
    (problem,) = sheettrack.validate(book)
    assert problem.address == address
    assert "a value is required" in problem.message and "column status" in problem.message


def test_validate_reports_a_duplicated_run_id(book: Path) -> None:
    sheettrack.log(book, run_id="same")
    with pytest.raises(ValidationError, match="'same' already"):  # logging refuses a repeat
        sheettrack.log(book, run_id="same")
    wb = openpyxl.load_workbook(book)  # a person copies the row
    ws = wb["Runs"]
    ws.append([c.value for c in ws[2]])
    wb.save(book)
    (problem,) = sheettrack.validate(book)
    assert problem.address.startswith("Runs!A3")
    assert "'same'" in problem.message and "row 2" in problem.message


# -- show, init, schema_of ---------------------------------------------------------------------

def test_show_with_a_unique_prefix(book: Path) -> None:
    first = sheettrack.log(book, template="classification", params={"lr": 0.1},
                           metrics={"accuracy": 0.9})
    second = sheettrack.log(book, params={"lr": 0.2, "hidden_layers": [4]})
    assert first != second
    row = sheettrack.show(book, second[:-3])
    assert row["run_id"] == second
    assert row["lr"] == 0.2
    assert row["hidden_layers"] == [4]
    assert row["accuracy"] is None or math.isnan(row["accuracy"])
    assert isinstance(row["started_at"], dt.datetime)
    assert sheettrack.show(book, first)["accuracy"] == 0.9
    with pytest.raises(ValidationError, match="2 runs"):
        sheettrack.show(book, first[:1])
    with pytest.raises(ValidationError, match="no run"):
        sheettrack.show(book, "ZZZZ")


def test_init_creates_once(book: Path) -> None:
    assert sheettrack.init(book, "regression") is True
    before = book.read_bytes()
    assert sheettrack.init(book, "classification") is False
    assert book.read_bytes() == before
    names = header(book)
    assert names[:6] == ["run_id", "status", "hypothesis", "model", "n_samples", "rmse"]  # for reading
    assert "rmse" in names and "accuracy" not in names
    assert runs(book) == []
    assert sheettrack.schema_of(book).name == "regression"
    assert sheettrack.validate(book) == []
    assert len(sheettrack.load(book)) == 0


def test_schema_sheet_documents_added_columns(book: Path) -> None:
    sheettrack.log(book, params={"depth": 3}, metrics={"top5": 1})
    documented = {row[0]: row[1] for row in sheet_values(book, "Schema")[1:] if row[0]}
    assert documented["run_id"] == "string"
    assert documented["depth"] == "int"
    assert documented["top5"] == "float"


def test_template_without_columns_still_logs(book: Path) -> None:
    # A template may start with no columns: with unknown_keys add (the default), every
    # param becomes a column. Either that works, or the template is refused up front.
    try:
        sheettrack.log(book, template={"name": "bare"}, params={"a": 1})
    except sheettrack.TemplateError:
        return
    (row,) = runs(book)
    assert row["a"] == 1


# -- import cost -------------------------------------------------------------------------------

def test_import_is_light() -> None:
    code = ("import json, sys, sheettrack; "
            "print(json.dumps(sorted(m for m in ('pandas', 'openpyxl') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    assert json.loads(out) == []
