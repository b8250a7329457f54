"""Behaviour tests for the ``sheettrack`` command line."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
import yaml
from click.testing import CliRunner, Result

import sheettrack
from sheettrack import ValidationError
from sheettrack.cli import main
from sheettrack.stores import gsheets, is_target

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def cli(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def runs(path: Path) -> list[dict[str, Any]]:
    """The Runs sheet read with python-calamine, one dict per row."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    values = book.get_sheet_by_name("Runs").to_python(skip_empty_area=False)
    return [dict(zip(values[0], row)) for row in values[1:]
            if any(v not in ("", None) for v in row)]


def strict_json(text: str) -> Any:
    """Parse JSON, refusing NaN and Infinity (which are not JSON)."""
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return tmp_path / "runs.xlsx"


@pytest.fixture
def three_runs(book: Path) -> tuple[Path, list[str]]:
    """A classification workbook with three runs (accuracy 0.85, 0.95, 0.91)."""
    ids = []
    for model, lr, acc in (("logreg", 0.1, 0.85), ("mlp", 0.01, 0.95), ("cnn", 0.001, 0.91)):
        result = cli("log", book, "-T", "classification", "-p", f"model={model}",
                     "-p", f"lr={lr}", "-m", f"accuracy={acc}")
        assert result.exit_code == 0, result.output
        ids.append(result.stdout.strip())
    return book, ids


# -- init --------------------------------------------------------------------------------------

def test_init_then_init_again(book: Path) -> None:
    first = cli("init", book, "--template", "classification")
    assert first.exit_code == 0, first.output
    assert "created" in first.stdout
    assert book.is_file()
    before = book.read_bytes()
    again = cli("init", book)
    assert again.exit_code == 0, again.output
    assert "exists already" in again.stdout
    assert book.read_bytes() == before
    assert sheettrack.schema_of(book).name == "classification"
    assert runs(book) == []


def test_init_uses_the_environment_target(book: Path) -> None:
    result = cli("init", env={"SHEETTRACK_TARGET": str(book)})
    assert result.exit_code == 0, result.output
    assert book.is_file()


# -- log ---------------------------------------------------------------------------------------

def test_log_with_every_option(tmp_path: Path, book: Path) -> None:
    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    result = cli("log", book, "-p", "lr=0.01", "-p", "epochs=5", "-p", "flag=true",
                 "-p", "layers=[64,32]", "-p", "name=mlp", "-p", "x=nan",
                 "-m", "accuracy=0.93", "-t", "team=vision",
                 "--note", "first note", "--note", "second note",
                 "--hypothesis", "two layers beat one", "--data", csv)
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    assert ULID.match(run_id), result.stdout
    (row,) = runs(book)
    assert row["run_id"] == run_id
    assert row["lr"] == 0.01
    assert row["epochs"] == 5
    assert row["flag"] is True
    assert row["layers"] == "[64, 32]"
    assert row["name"] == "mlp"
    assert row["x"] == "NaN"
    assert row["accuracy"] == 0.93
    assert row["team"] == "vision"
    assert row["notes"] == "first note\nsecond note"
    assert row["hypothesis"] == "two layers beat one"
    (fp,) = json.loads(row["data"])
    assert fp["rows"] == 2 and fp["hash"].startswith("sha256:")
    assert row["data_hash"]
    types = {c.name: c.type for c in sheettrack.schema_of(book).columns}
    assert {k: types[k] for k in ("lr", "epochs", "flag", "layers", "name", "x", "accuracy")} == {
        "lr": "float", "epochs": "int", "flag": "bool", "layers": "json", "name": "string",
        "x": "float", "accuracy": "float"}
    df = sheettrack.load(book)
    assert math.isnan(df["x"][0])
    assert df["layers"][0] == [64, 32]


@pytest.mark.parametrize("text,expected,ctype", [
    ("0.01", 0.01, "float"), ("5", 5, "int"), ("-3", -3, "int"), ("true", True, "bool"),
    ("False", False, "bool"), ("1e-3", 0.001, "float"), ("[64,32]", [64, 32], "json"),
    ("mlp", "mlp", "string"), ("v1.2", "v1.2", "string"),
])
def test_log_reads_values_by_their_look(book: Path, text: str, expected: Any,
                                        ctype: str) -> None:
    result = cli("log", book, "-p", f"v={text}")
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    value = sheettrack.show(book, run_id).get("v")
    assert value == expected and type(value) is type(expected)
    assert sheettrack.schema_of(book).column("v").type == ctype


def test_log_json_object_value_flattens(book: Path) -> None:
    result = cli("log", book, "-p", 'optimizer={"name": "adam", "lr": 0.1}')
    assert result.exit_code == 0, result.output
    (row,) = runs(book)
    assert (row["optimizer.name"], row["optimizer.lr"]) == ("adam", 0.1)


def test_log_json_prints_the_run_id(book: Path) -> None:
    result = cli("log", book, "-m", "loss=0.5", "--json")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert ULID.match(data["run_id"])
    assert [r["run_id"] for r in runs(book)] == [data["run_id"]]


def test_log_status_option(book: Path) -> None:
    result = cli("log", book, "--status", "failed")
    assert result.exit_code == 0, result.output
    assert runs(book)[0]["status"] == "failed"


def test_log_to_the_environment_target(book: Path) -> None:
    result = cli("log", "-p", "a=1", env={"SHEETTRACK_TARGET": str(book)})
    assert result.exit_code == 0, result.output
    assert runs(book)[0]["run_id"] == result.stdout.strip()


def test_pair_without_equals_is_a_usage_error(book: Path) -> None:
    result = cli("log", book, "-p", "lr")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output
    assert not book.exists()


# -- validate ----------------------------------------------------------------------------------

def test_validate_clean(three_runs: tuple[Path, list[str]]) -> None:
    book, _ = three_runs
    result = cli("validate", book)
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.stdout
    as_json = cli("validate", book, "--json")
    assert as_json.exit_code == 0
    assert strict_json(as_json.stdout) == []


def test_validate_lists_addresses_and_exits_1(three_runs: tuple[Path, list[str]]) -> None:
    book, _ = three_runs
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    col = [c.value for c in ws[1]].index("accuracy") + 1
    ws.cell(row=3, column=col).value = "O.9"
    address = f"Runs!{ws.cell(row=3, column=col).coordinate}"
    wb.save(book)
    result = cli("validate", book)
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines() == [
        f"{address}: 'O.9' is not a number (column accuracy: float)"]
    as_json = cli("validate", book, "--json")
    assert as_json.exit_code == 1
    assert strict_json(as_json.stdout) == [
        {"address": address, "message": "'O.9' is not a number (column accuracy: float)"}]


# -- ls ----------------------------------------------------------------------------------------

def ls_json(*args: Any) -> list[dict[str, Any]]:
    result = cli("ls", *args, "--json")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert isinstance(data, list)
    return data


def test_ls_json_lists_every_run_in_order(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    data = ls_json(book)
    assert [r["run_id"] for r in data] == ids
    assert [r["accuracy"] for r in data] == [0.85, 0.95, 0.91]
    assert [r["model"] for r in data] == ["logreg", "mlp", "cnn"]
    assert data[0]["precision"] is None  # an empty float cell is null, not NaN
    assert data[0]["epochs"] is None
    assert data[0]["status"] == "finished"
    assert isinstance(data[0]["started_at"], str) and data[0]["started_at"].startswith("20")


def test_ls_sort(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    assert [r["accuracy"] for r in ls_json(book, "--sort", "accuracy")] == [0.85, 0.91, 0.95]
    assert [r["accuracy"] for r in ls_json(book, "--sort", "-accuracy")] == [0.95, 0.91, 0.85]
    assert [r["model"] for r in ls_json(book, "--sort", "model")] == ["cnn", "logreg", "mlp"]


def test_ls_top_applies_after_sorting(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    assert [r["run_id"] for r in ls_json(book, "--top", "2")] == ids[:2]
    assert [r["accuracy"] for r in ls_json(book, "--sort", "-accuracy", "--top", "1")] == [0.95]


def test_ls_where(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    assert [r["run_id"] for r in ls_json(book, "--where", "accuracy > 0.9")] == [ids[1], ids[2]]
    assert [r["model"] for r in ls_json(book, "--where", "model == 'mlp'")] == ["mlp"]
    assert ls_json(book, "--where", "accuracy > 2") == []
    # a run without a model: missing values do not break the filter
    assert cli("log", book, "-m", "accuracy=0.99").exit_code == 0
    assert [r["model"] for r in ls_json(book, "--where", "model == 'mlp'")] == ["mlp"]
    assert len(ls_json(book, "--where", "accuracy > 0.9")) == 3


def test_ls_columns(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    data = ls_json(book, "--columns", "run_id,accuracy")
    assert data == [{"run_id": i, "accuracy": a} for i, a in zip(ids, (0.85, 0.95, 0.91))]
    table = cli("ls", book, "-c", "run_id,accuracy")
    assert table.exit_code == 0, table.output
    assert "accuracy" in table.stdout and "0.95" in table.stdout
    assert "model" not in table.stdout
    for run_id in ids:
        assert run_id in table.stdout
    assert "3 runs" in table.stdout


def test_ls_table_shows_short_ids_that_every_command_takes(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    for _ in range(2):
        result = cli("log", book, "-p", "model=mlp", "-p", "lr=0.01", "-p", "epochs=5",
                     "-p", "batch_size=32", "-m", "accuracy=0.9", "-m", "f1=0.8",
                     "-m", "loss=0.3")
        assert result.exit_code == 0, result.output
        ids.append(result.stdout.strip())
    table = cli("ls", book)
    assert table.exit_code == 0, table.output
    for name in ("id", "status", "model", "lr", "accuracy"):
        assert name in table.stdout
    lines = table.stdout.splitlines()[2:2 + len(ids)]
    shown = [line.split()[0] for line in lines]
    assert [len(s) for s in shown] == [6] * len(ids)
    # each short id is the end of its run id, and every command taking a run id takes it
    assert [rid for s in shown for rid in ids if rid.endswith(s)] == ids
    for short, run_id in zip(shown, ids):
        assert strict_json(cli("show", book, short, "--json").stdout)["run_id"] == run_id
        assert strict_json(cli("show", book, short.lower(), "--json").stdout)["run_id"] == run_id
    compared = cli("compare", book, shown[0], shown[1], "--json")
    assert strict_json(compared.stdout)["runs"] == ids[:2]
    # --wide and --columns run_id give the whole id
    wide = cli("ls", book, "--wide")
    for run_id in ids:
        assert run_id in wide.stdout, run_id


def test_ls_bad_options_are_usage_errors(three_runs: tuple[Path, list[str]]) -> None:
    book, _ = three_runs
    for args, fragment in ((("--sort", "nope"), "'nope'"), (("-c", "run_id,nope"), "'nope'"),
                           (("--where", "accuracy >"), "--where")):
        result = cli("ls", book, *args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.output
        assert "Traceback" not in result.output


# -- show --------------------------------------------------------------------------------------

def test_show_by_prefix(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    result = cli("show", book, ids[1][:-2])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines
                  if re.match(r"^\S+\s{2,}\S", line))
    assert fields["run_id"] == ids[1]
    assert fields["model"] == "mlp"
    assert fields["accuracy"] == "0.95"
    assert fields["status"] == "finished"
    as_json = cli("show", book, ids[1][:-2], "--json")
    assert as_json.exit_code == 0, as_json.output
    data = strict_json(as_json.stdout)
    assert data["run_id"] == ids[1]
    assert data["accuracy"] == 0.95
    assert data["lr"] == 0.01
    assert data["precision"] is None
    assert data["git_dirty"] is None or isinstance(data["git_dirty"], bool)


def test_show_ambiguous_or_unknown_prefix(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    assert_one_line_error(cli("show", book, ids[0][:1]), "3 runs")
    assert_one_line_error(cli("show", book, "ZZZZZZ"), "'ZZZZZZ'")


def test_show_with_the_environment_target(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    result = cli("show", ids[2], env={"SHEETTRACK_TARGET": str(book)})
    assert result.exit_code == 0, result.output
    assert ids[2] in result.stdout


# -- targets that are not workbook paths ---------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("runs.xlsx", True), ("/team/share/RUNS.XLSX", True), ("gsheet://1AbC", True),
    ("gsheet://1AbC/Runs", True), ("https://docs.google.com/spreadsheets/d/1AbC/edit#gid=0", True),
    ("01JD7Q8ZK3M4N5P6Q7R8S9T0VW", False), ("01JD7Q", False), ("runs.csv", False), ("rows.jsonl", False),
])
def test_a_target_is_told_from_a_run_id_by_the_stores_rule(text: str, expected: bool) -> None:
    assert is_target(text) is expected


@pytest.fixture
def google(sheets_emulator: Any, gs_credentials: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A Google Sheet in the emulator holding two runs (accuracy 0.8, then 0.9): its
    gsheet:// target and their run ids."""
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", sheets_emulator.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    gsheets.forget()
    target = f"gsheet://{sheets_emulator.create_spreadsheet('Experiments')}"
    sheettrack.init(target, "classification")
    ids = [sheettrack.log(target, params={"model": model}, metrics={"accuracy": acc}, on_error="raise")
           for model, acc in (("logreg", 0.8), ("mlp", 0.9))]
    yield target, ids
    gsheets.forget()


def compare_show_reproduce_register(target_words: list[str], ids: list[str],
                            env: dict[str, str] | None = None) -> None:
    """compare, show, reproduce and register, given ``target_words`` before their other words."""
    a, b = ids
    compared = cli("compare", *target_words, a, b, "--json", env=env)
    assert compared.exit_code == 0, compared.output
    assert strict_json(compared.stdout)["runs"] == [a, b]
    shown = cli("show", *target_words, a[:-2], "--json", env=env)
    assert shown.exit_code == 0, shown.output
    assert strict_json(shown.stdout)["run_id"] == a
    plan = cli("reproduce", *target_words, b, "--json", env=env)
    assert plan.exit_code == 0, plan.output
    assert strict_json(plan.stdout)["run_id"] == b
    registered = cli("register", *target_words, a, "--name", "digits", "--json", env=env)
    assert registered.exit_code == 0, registered.output
    assert strict_json(registered.stdout)["run_id"] == a
    best = cli("register", *target_words, "--best", "--name", "digits", env=env)
    assert best.exit_code == 0, best.output
    assert best.stdout.strip() == f"registered digits v2 from run {b}"


def test_commands_take_a_google_sheet_target_before_run_ids(google: tuple[str, list[str]]) -> None:
    target, ids = google
    compare_show_reproduce_register([target], ids)


def test_commands_take_a_google_sheet_browser_address(google: tuple[str, list[str]]) -> None:
    target, ids = google
    address = f"https://docs.google.com/spreadsheets/d/{target.removeprefix('gsheet://')}/edit#gid=0"
    compared = cli("compare", address, *ids, "--only-changed")
    assert compared.exit_code == 0, compared.output
    assert "accuracy" in compared.stdout and "differ" in compared.stdout


def test_commands_take_a_google_sheet_from_the_environment(google: tuple[str, list[str]]) -> None:
    target, ids = google
    compare_show_reproduce_register([], ids, env={"SHEETTRACK_TARGET": target})


def test_commands_take_a_workbook_from_the_environment(three_runs: tuple[Path, list[str]]) -> None:
    book, ids = three_runs
    compare_show_reproduce_register([], ids[:2], env={"SHEETTRACK_TARGET": str(book)})


def test_a_run_id_alone_without_a_target_says_how_to_name_one(three_runs: tuple[Path, list[str]]) -> None:
    _, ids = three_runs
    env = {"SHEETTRACK_TARGET": ""}
    compared = cli("compare", *ids[:2], env=env)
    assert compared.exit_code == 2 and "SHEETTRACK_TARGET" in compared.stderr
    for args in (("show", ids[0]), ("reproduce", ids[0]), ("register", ids[0], "--name", "m")):
        assert_one_line_error(cli(*args, env=env), "no target given", "SHEETTRACK_TARGET")


# -- templates ---------------------------------------------------------------------------------

def test_templates_lists_the_builtins() -> None:
    result = cli("templates")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert names == ["default", "classification", "regression"]
    assert "accuracy, max" in result.stdout and "rmse, min" in result.stdout
    as_json = cli("templates", "--json")
    assert [t["name"] for t in strict_json(as_json.stdout)] == names


def test_templates_show_classification() -> None:
    result = cli("templates", "show", "classification")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["name"] == "classification"
    assert data["primary_metric"] == {"name": "accuracy", "goal": "max"}
    assert data["unknown_keys"] == "add"
    names = [c["name"] for c in data["columns"]]
    assert names[0] == "run_id"  # inherited columns are resolved
    for name in ("model", "hidden_layers", "lr", "accuracy", "f1", "loss", "git_commit"):
        assert name in names
    accuracy = next(c for c in data["columns"] if c["name"] == "accuracy")
    assert (accuracy["type"], accuracy["min"], accuracy["max"]) == ("float", 0, 1)
    assert [s["name"] for s in data["summaries"]] == ["By model", "By data size"]
    as_json = cli("templates", "show", "classification", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert strict_json(as_json.stdout) == data


def test_templates_show_a_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: regression\ncolumns:\n"
                    "  - {name: alpha, type: float, group: params}\n")
    data = strict_json(cli("templates", "show", path, "--json").stdout)
    assert data["name"] == "mine"
    assert "alpha" in [c["name"] for c in data["columns"]]


# -- errors ------------------------------------------------------------------------------------

def test_bad_value_is_one_error_line(book: Path) -> None:
    result = cli("log", book, "-T", "classification", "-m", "accuracy=O.9")
    line = assert_one_line_error(result, "column accuracy", "'O.9'", "is not a number")
    assert line == "error: column accuracy: 'O.9' is not a number (float)"
    assert not book.exists()


def test_ls_of_a_missing_workbook_is_one_error_line(book: Path) -> None:
    assert_one_line_error(cli("ls", book), str(book), "no such workbook")
    assert_one_line_error(cli("validate", book), "no such workbook")
    assert not book.exists()


def test_bad_template_name_is_one_error_line(book: Path) -> None:
    assert_one_line_error(cli("log", book, "-T", "nosuch", "-p", "a=1"), "'nosuch'",
                          "default, classification, regression")
    assert_one_line_error(cli("templates", "show", "nosuch"), "'nosuch'")
    assert not book.exists()


def test_mismatched_template_is_one_error_line(three_runs: tuple[Path, list[str]]) -> None:
    book, _ = three_runs
    assert_one_line_error(cli("log", book, "-T", "regression", "-m", "rmse=1"),
                          "'classification'", "'regression'")


def test_bad_target_is_one_error_line(tmp_path: Path) -> None:
    assert_one_line_error(cli("log", tmp_path / "runs.csv", "-p", "a=1"), ".xlsx")
    assert_one_line_error(cli("ls", env={"SHEETTRACK_TARGET": ""}), "SHEETTRACK_TARGET")


def test_debug_lets_the_exception_through(book: Path) -> None:
    result = CliRunner().invoke(main, ["--debug", "log", str(book), "-T", "classification",
                                       "-m", "accuracy=2"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ValidationError)
    assert "above the maximum" in str(result.exception)
    assert "error:" not in result.output
    with pytest.raises(ValidationError):
        CliRunner().invoke(main, ["--debug", "log", str(book), "-T", "classification",
                                  "-m", "accuracy=2"], catch_exceptions=False)


def broken_log(*args: Any, **kwargs: Any) -> str:
    """An API call with a bug in it."""
    raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


def test_a_bug_is_reported_as_an_internal_error_not_a_user_error(
        book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheettrack, "log", broken_log)
    result = cli("log", book, "-p", "a=1")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert not line.startswith("error:")
    assert line.startswith("internal error: TypeError: unsupported operand type(s) for +: 'int' and 'str'")
    assert "rerun with --debug for the traceback" in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize("how", ["--debug", "SHEETTRACK_DEBUG"])
def test_debug_lets_a_bug_through(book: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setattr(sheettrack, "log", broken_log)
    args = ["--debug"] if how == "--debug" else []
    env = {"SHEETTRACK_DEBUG": "1"} if how == "SHEETTRACK_DEBUG" else None
    result = CliRunner().invoke(main, [*args, "log", str(book), "-p", "a=1"], env=env)
    assert result.exit_code == 1
    assert isinstance(result.exception, TypeError)
    assert "internal error" not in result.output
    with pytest.raises(TypeError, match="unsupported operand"):
        CliRunner().invoke(main, [*args, "log", str(book), "-p", "a=1"], env=env, catch_exceptions=False)


def test_a_bug_under_debug_prints_its_traceback(tmp_path: Path) -> None:
    """In a process of its own, as a user runs it: the traceback names the exception."""
    script = ("import sys, sheettrack\n"
              "def broken(*a, **k):\n    raise TypeError('boom')\n"
              "sheettrack.log = broken\n"
              "from sheettrack.cli import main\n"
              "main(sys.argv[1:], prog_name='sheettrack')\n")
    command = [sys.executable, "-c", script]
    book = str(tmp_path / "runs.xlsx")
    plain = subprocess.run([*command, "log", book], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1
    assert plain.stderr.strip() == ("internal error: TypeError: boom (a bug in sheettrack; "
                                    "rerun with --debug for the traceback)")
    debug = subprocess.run([*command, "--debug", "log", book], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == "TypeError: boom"


def test_an_unreadable_batch_file_is_one_error_line(tmp_path: Path, book: Path) -> None:
    assert_one_line_error(cli("log-many", book, tmp_path / "nowhere.jsonl"), "nowhere.jsonl")
    assert not book.exists()


# -- the installed command ---------------------------------------------------------------------

def test_console_script_logs_a_run(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("sheettrack")
    command = str(exe) if exe.is_file() else shutil.which("sheettrack")
    if command is None:  # pragma: no cover
        pytest.skip("the sheettrack command is not installed")
    book = tmp_path / "runs.xlsx"
    done = subprocess.run([command, "log", str(book), "-T", "classification", "-p", "lr=0.01",
                           "-p", "hidden_layers=[64,32]", "-m", "accuracy=0.9"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr
    run_id = done.stdout.strip()
    assert ULID.match(run_id), done.stdout
    (row,) = runs(book)
    assert row["run_id"] == run_id
    assert (row["lr"], row["hidden_layers"], row["accuracy"]) == (0.01, "[64, 32]", 0.9)
    assert row["status"] == "finished"
    assert "log" in row["command"] and str(book) in row["command"]
    assert Path(row["script"]).name == "sheettrack"


def test_a_warning_reaches_the_terminal_as_one_line(tmp_path: Path) -> None:
    """A cell someone typed by hand that is not a number: one 'warning:' line naming the cell,
    the value and the column, and no Python source excerpt."""
    exe = Path(sys.executable).with_name("sheettrack")
    command = str(exe) if exe.is_file() else shutil.which("sheettrack")
    if command is None:  # pragma: no cover
        pytest.skip("the sheettrack command is not installed")
    book = tmp_path / "runs.xlsx"
    for accuracy in (0.9, 0.8):
        sheettrack.log(book, metrics={"accuracy": accuracy})
    wb = openpyxl.load_workbook(book)
    ws = wb["Runs"]
    header = [c.value for c in ws[1]]
    ws.cell(3, header.index("accuracy") + 1).value = "O.9"
    wb.save(book)
    done = subprocess.run([command, "best", str(book), "--metric", "accuracy"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warning: Runs!") and "'O.9'" in lines[0] and "accuracy" in lines[0]
    assert ".py" not in done.stderr
