"""Registering models: versions per name, aliases that move, model file hashes, on a workbook
(read back with python-calamine) and on a Google Sheet (the emulator's own view)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from types import SimpleNamespace

import pytest
import python_calamine
from click.testing import CliRunner
from helpers import read_calamine

import sheettrack
from sheettrack import references
from sheettrack.cli import main
from sheettrack.errors import ValidationError
from sheettrack.session import Session
from sheettrack.stores import gsheets


def models_of_book(book) -> list[dict]:
    rows = read_calamine(book, "Models")
    return [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.fixture
def gs(sheets_emulator, gs_credentials, monkeypatch, tmp_path):
    emu = sheets_emulator
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", emu.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("SHEETTRACK_ARTIFACTS", str(tmp_path / "artifacts"))
    gsheets.forget()
    Session.forget()
    sid = emu.create_spreadsheet("Experiments")
    yield SimpleNamespace(emu=emu, sid=sid, target=f"gsheet://{sid}")
    gsheets.forget()
    Session.forget()


def models_of_google(gs) -> list[dict]:
    rows = gs.emu.values(gs.sid, "Models")
    return [dict(zip(rows[0], r + [""] * (len(rows[0]) - len(r)))) for r in rows[1:]]


def three_runs(target) -> list[str]:
    return [sheettrack.log(target, template="classification", params={"lr": lr, "model": "mlp"},
                           metrics={"accuracy": acc, "loss": 1 - acc})
            for lr, acc in ((0.1, 0.81), (0.01, 0.93), (0.001, 0.88))]


def register_and_move(target, tmp_path, read) -> None:
    """The same story on either store: v1 production, v2 takes production over, v3 staging."""
    ids = three_runs(target)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights v1")
    v1 = sheettrack.register_model(target, ids[0][:12], name="digits", aliases=["production"], model=model)
    assert (v1.version, v1.aliases, v1.run_id) == (1, ["production"], ids[0])
    assert v1.sha256 == hashlib.sha256(b"weights v1").hexdigest() and v1.size == 10
    assert v1.metrics == {"accuracy": 0.81, "loss": pytest.approx(0.19)}
    assert v1.params == {"model": "mlp", "lr": 0.1}

    v2 = sheettrack.register_model(target, best=True, name="digits", aliases="production")
    assert (v2.version, v2.run_id) == (2, ids[1])  # the best accuracy
    v3 = sheettrack.register_model(target, ids[2], name="digits", aliases=["staging"])
    assert (v3.version, v3.aliases) == (3, ["staging"])
    other = sheettrack.register_model(target, ids[2], name="other")
    assert other.version == 1

    rows = read()
    assert [(r["name"], int(r["version"]), r["aliases"], r["run_id"]) for r in rows] == [
        ("digits", 1, "production", ids[0]), ("digits", 2, "production", ids[1]),
        ("digits", 3, "staging", ids[2]), ("other", 1, "", ids[2])]
    assert rows[1]["alias_moves"] == "production: v1 -> v2"
    assert json.loads(rows[0]["metrics"])["accuracy"] == 0.81
    assert rows[0]["model_sha256"] == hashlib.sha256(b"weights v1").hexdigest()

    assert sheettrack.get_model(target, "digits", alias="production").version == 2
    assert sheettrack.get_model(target, "digits", alias="staging").version == 3
    assert sheettrack.get_model(target, "digits").version == 3
    assert sheettrack.get_model(target, "digits", version=1).aliases == []
    assert [m.version for m in sheettrack.list_models(target, "digits")] == [1, 2, 3]

    assert sheettrack.get_model(target, "digits", version=1).file_status() == "ok"
    model.write_bytes(b"weights v1, retrained by hand")
    assert sheettrack.get_model(target, "digits", version=1).file_status() == "changed"
    result = CliRunner().invoke(main, ["models", str(target), "--name", "digits"])
    assert result.exit_code == 0, result.output
    assert "digits v1: model file" in result.output and "is changed since it was registered" in result.output
    listed = json.loads(CliRunner().invoke(main, ["models", str(target), "--json"]).output)
    assert [(m["name"], m["version"], m["aliases"], m["file"]) for m in listed] == [
        ("digits", 1, [], "changed"), ("digits", 2, ["production"], "none"),
        ("digits", 3, ["staging"], "none"), ("other", 1, [], "none")]


def test_registration_and_alias_moves_in_a_workbook(tmp_book, tmp_path):
    register_and_move(tmp_book, tmp_path, lambda: models_of_book(tmp_book))


def test_registration_and_alias_moves_in_a_google_sheet(gs, tmp_path):
    register_and_move(gs.target, tmp_path, lambda: models_of_google(gs))


def test_register_from_the_command_line(tmp_book, tmp_path):
    ids = three_runs(tmp_book)
    runner = CliRunner()
    result = runner.invoke(main, ["register", str(tmp_book), "--best", "--name", "digits", "--alias", "production"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"registered digits v1 [production] from run {ids[1]}"
    result = runner.invoke(main, ["register", str(tmp_book), ids[0][:12], "--name", "digits", "--json"])
    assert json.loads(result.output)["version"] == 2
    assert [r["version"] for r in models_of_book(tmp_book)] == [1, 2]


@pytest.mark.parametrize("args, message", [
    (["--name", "bad name"], "error: name: 'bad name' must be 1 to 100 letters"),
    (["--name", "m", "--alias", "a,b"], "error: alias: 'a,b' must be letters"),
    (["--name", "m", "--model", "nowhere.pkl"], "error: model: 'nowhere.pkl' is not a file"),
])
def test_bad_registrations_name_the_problem_and_write_nothing(tmp_book, args, message):
    ids = three_runs(tmp_book)
    result = CliRunner().invoke(main, ["register", str(tmp_book), ids[0], *args])
    assert result.exit_code == 1
    assert result.output.startswith(message) and len(result.output.strip().splitlines()) == 1
    assert "Models" not in python_calamine.CalamineWorkbook.from_path(str(tmp_book)).sheet_names


def test_an_unknown_run_or_model_is_one_clear_error(tmp_book):
    three_runs(tmp_book)
    with pytest.raises(ValidationError, match="run_id: no run 'ZZZ'"):
        sheettrack.register_model(tmp_book, "ZZZ", name="m")
    with pytest.raises(ValidationError, match="no model 'm' is registered"):
        sheettrack.get_model(tmp_book, "m")
    result = CliRunner().invoke(main, ["register", str(tmp_book), "--name", "m"])
    assert result.exit_code == 2 and "give RUN_ID or --best" in result.output


def test_runs_on_a_google_sheet_store_each_environment_and_fingerprint_once(gs, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    for i in range(3):
        sheettrack.log(gs.target, params={"i": i}, metrics={"m": 0.5}, data=data)
    runs = gs.emu.values(gs.sid, "Runs")
    envs = gs.emu.values(gs.sid, "Environments")
    data_rows = gs.emu.values(gs.sid, "Data")
    env_col = runs[0].index("env_hash")
    assert len(runs) == 4 and {r[env_col] for r in runs[1:]} == {envs[1][0]}
    assert len(envs) == 2 and envs[0] == references.ENV_HEADER
    assert len(data_rows) == 2 and data_rows[1][:4] == [
        "sha256:" + hashlib.sha256(b"a,b\n1,2\n").hexdigest()[:16], "train.csv", "file", str(data)]
    plan = sheettrack.reproduce(gs.target, runs[1][0])
    assert plan.env_recorded and plan.changed == {} and plan.missing == {}
    assert [d.status for d in plan.data] == ["match"]


def test_a_google_sheet_keeps_patches_only_in_a_configured_artifacts_folder(gs, tmp_path, monkeypatch):
    from test_reproduce import git, make_repo

    repo = make_repo(tmp_path / "repo")
    (repo / "helper.py").write_text("LR = 0.3\n")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("SHEETTRACK_ARTIFACTS")
    with pytest.warns(sheettrack.SheettrackWarning, match="no artifacts folder is set"):
        sheettrack.log(gs.target, metrics={"m": 1.0})
    shared = tmp_path / "shared"
    monkeypatch.setenv("SHEETTRACK_ARTIFACTS", str(shared))
    run_id = sheettrack.log(gs.target, metrics={"m": 2.0})
    runs = gs.emu.values(gs.sid, "Runs")
    col = runs[0].index("patch_hash")
    first, second = (r + [""] * len(runs[0]) for r in runs[1:])
    assert first[col] == ""
    patch = shared / "patches" / f"{second[col]}.patch"
    assert patch.read_bytes() == subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo,
                                                capture_output=True).stdout
    plan = sheettrack.reproduce(gs.target, run_id)
    assert plan.patch_file == str(patch) and plan.commit == git(repo, "rev-parse", "HEAD")


def test_a_one_off_log_reads_the_environment_keys_with_the_header(gs):
    sheettrack.log(gs.target, metrics={"m": 1.0})  # lays the sheet out and stores the environment
    gsheets.forget()  # as a fresh process: nothing known of the spreadsheet
    Session.forget()
    seen = len(gs.emu.requests)
    sheettrack.log(gs.target, metrics={"m": 2.0})
    paths = [r["path"] for r in gs.emu.requests[seen:] if r["path"].startswith("/v4/")]
    assert len(paths) == 2
    assert paths[0].endswith("/values:batchGet") and "Runs'!A1:append" in paths[1]
    assert len(gs.emu.values(gs.sid, "Environments")) == 2 and len(gs.emu.values(gs.sid, "Runs")) == 3


def test_copy_brings_the_registered_model_versions_along_once(tmp_path) -> None:
    source, dest = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    run_id = sheettrack.log(source, params={"depth": 3}, metrics={"accuracy": 0.9})
    sheettrack.register_model(source, run_id, name="digits", aliases=["production"])
    sheettrack.register_model(source, run_id, name="digits")
    result = sheettrack.copy(source, dest)
    assert (result.copied, result.models) == (1, 2)
    got = sheettrack.list_models(dest)
    assert [(m.name, m.version, m.run_id) for m in got] == [("digits", 1, run_id), ("digits", 2, run_id)]
    assert got[0].aliases == ["production"]
    again = sheettrack.copy(source, dest)  # repeated: nothing twice
    assert (again.copied, again.skipped, again.models) == (0, 1, 0)
    assert len(sheettrack.list_models(dest)) == 2
