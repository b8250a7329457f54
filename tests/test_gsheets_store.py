"""The Google Sheets store, through the real gspread and google-auth over HTTP, against the
local emulator of the Sheets API (tests/sheets_emulator) that these tests start themselves."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from helpers import write_records

import sheettrack
from sheettrack import api
from sheettrack.cells import col_letter
from sheettrack.cli import main
from sheettrack.errors import (
    SchemaMismatchError,
    SheetNotFoundError,
    StoreError,
    StoreUnavailableError,
    TargetError,
    ValidationError,
)
from sheettrack.record import Record
from sheettrack.schema import Column, Schema
from sheettrack.stores import gsheets, open_store
from sheettrack.stores.gsheets import (
    GoogleSheetStore,
    create_spreadsheet,
    find_credentials,
    parse_target,
)
from sheettrack.stores.rows import reading_order


@pytest.fixture
def gs(sheets_emulator, gs_credentials, monkeypatch):
    """An empty spreadsheet in the emulator, and the environment pointing sheettrack at it."""
    emu = sheets_emulator
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", emu.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("SHEETTRACK_GOOGLE_BACKOFF", "0.01")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_MAX_SLEEP", "0.05")
    gsheets.forget()
    sid = emu.create_spreadsheet("Experiments")
    yield SimpleNamespace(emu=emu, sid=sid, target=f"gsheet://{sid}", creds=gs_credentials)
    gsheets.forget()


def api_requests(emu) -> list[dict]:
    """Sheets API requests the emulator saw (the token exchange is not one)."""
    return [r for r in emu.requests if r["path"].startswith("/v4/")]


def batch_fields(target, rows: list[dict]) -> list[Record]:
    """Finished runs, as a batch write takes them."""
    out = []
    for kw in rows:
        run = sheettrack.start_run(target)
        run_id = kw.pop("run_id", None)
        if run_id:
            run.run_id = run_id
        run.log_params(kw.get("params", {}))
        run.log_metrics(kw.get("metrics", {}))
        out.append(run.record())
    return out


def type_in_browser(gs, a1: str, text: str) -> None:
    """A person types ``text`` into cell ``a1`` of the Runs tab (parsed as the browser does)."""
    from tests.sheets_emulator.client import gspread_client

    gspread_client(gs.emu, gs.creds).open_by_key(gs.sid).worksheet("Runs").update_acell(a1, text)


def header(emu, sid, tab="Runs") -> list:
    values = emu.values(sid, tab)
    return values[0] if values else []


def column(emu, sid, name, tab="Runs") -> list:
    values = emu.values(sid, tab)
    i = values[0].index(name)
    return [row[i] if i < len(row) else "" for row in values[1:]]


# -- targets and credentials ---------------------------------------------------------------

def test_targets_from_the_browser_address_and_the_short_form():
    sid = "1AbC-d_EfGhIjKlMnOpQrStUvWxYz0123456789"
    assert parse_target(f"https://docs.google.com/spreadsheets/d/{sid}/edit#gid=12345") == (sid, None)
    assert parse_target(f"https://docs.google.com/spreadsheets/d/{sid}/edit?usp=sharing") == (sid, None)
    assert parse_target(f"gsheet://{sid}") == (sid, None)
    assert parse_target(f"gsheet://{sid}/My%20Runs") == (sid, "My Runs")
    assert parse_target(f"gsheet://{sid}/Experiments") == (sid, "Experiments")
    with pytest.raises(TargetError, match="not a Google Sheets address"):
        parse_target("https://docs.google.com/document/x")
    with pytest.raises(TargetError, match="is not a spreadsheet id"):
        parse_target("gsheet://bad id!")


def test_a_google_target_opens_the_google_store_and_a_path_the_workbook(tmp_path):
    assert isinstance(open_store("gsheet://abc123"), GoogleSheetStore)
    assert type(open_store(tmp_path / "runs.xlsx")).__name__ == "ExcelStore"


def _service_account(path: Path, email: str) -> Path:
    path.write_text(json.dumps({"type": "service_account", "client_email": email,
                                "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n",
                                "private_key_id": "x", "token_uri": "http://127.0.0.1:9/token",
                                "project_id": "p", "client_id": "1"}))
    return path


def test_credentials_are_looked_up_in_the_documented_order(tmp_path, monkeypatch, gs_credentials):
    monkeypatch.setattr(gsheets.auth, "gspread_files", lambda: [tmp_path / "gs" / "service_account.json",
                                                            tmp_path / "gs" / "authorized_user.json"])
    monkeypatch.delenv("SHEETTRACK_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    real = json.loads(Path(gs_credentials).read_text())
    files = {}
    for name in ("explicit", "sheettrack", "google", "default"):
        info = dict(real, client_email=f"{name}@example.iam.gserviceaccount.com")
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(info))
    (tmp_path / "gs").mkdir()
    files["default"].rename(tmp_path / "gs" / "service_account.json")
    assert find_credentials().account.startswith("default@")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(files["google"]))
    assert find_credentials().account.startswith("google@")
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(files["sheettrack"]))
    assert find_credentials().account.startswith("sheettrack@")
    assert find_credentials(files["explicit"]).account.startswith("explicit@")


def test_authorized_user_files_are_accepted(tmp_path, monkeypatch):
    file = tmp_path / "user.json"
    file.write_text(json.dumps({"type": "authorized_user", "client_id": "id.apps.googleusercontent.com",
                                "client_secret": "s3cr3t-value", "refresh_token": "r3fr3sh-value"}))
    creds = find_credentials(file)
    assert type(creds.google).__name__ == "Credentials"
    assert creds.google.refresh_token == "r3fr3sh-value"


def test_no_credentials_lists_what_was_tried_and_how_to_make_some(tmp_path, monkeypatch):
    monkeypatch.setattr(gsheets.auth, "gspread_files", lambda: [tmp_path / "service_account.json",
                                                            tmp_path / "authorized_user.json"])
    monkeypatch.delenv("SHEETTRACK_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(TargetError) as err:
        find_credentials()
    text = str(err.value)
    for part in ("SHEETTRACK_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "service_account.json",
                 "service account", "share the spreadsheet"):
        assert part in text


def test_bad_credentials_files_say_why_without_showing_secrets(tmp_path):
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"type": "external_account", "secret": "hunter2-secret"}))
    with pytest.raises(TargetError, match="external_account") as err:
        find_credentials(odd)
    assert "hunter2" not in str(err.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account", "private_key": "hunter2-secret"')
    with pytest.raises(TargetError, match="not readable JSON") as err:
        find_credentials(broken)
    assert "hunter2" not in str(err.value)
    with pytest.raises(TargetError, match="does not exist"):
        find_credentials(tmp_path / "missing.json")
    incomplete = _service_account(tmp_path / "sa.json", "x@example.com")
    data = json.loads(incomplete.read_text())
    del data["client_email"]
    incomplete.write_text(json.dumps(data))
    with pytest.raises(TargetError) as err:
        find_credentials(incomplete)
    assert "not-a-key" not in str(err.value)


# -- laying out and logging -------------------------------------------------------------------

def test_init_lays_out_the_runs_tab_and_the_schema_tab(gs):
    assert sheettrack.init(gs.target, "classification") is True
    schema = api.schema_of(gs.target)
    assert header(gs.emu, gs.sid) == [c.name for c in reading_order(list(schema.columns))]
    assert header(gs.emu, gs.sid)[:3] == ["run_id", "status", "hypothesis"]
    runs = gs.emu.sheet(gs.sid, "Runs")
    assert runs["properties"]["gridProperties"].get("frozenRowCount") == 1
    assert runs.get("basicFilter")
    assert runs["properties"]["sheetId"] == 0  # the new spreadsheet's empty first tab was reused
    doc = gs.emu.values(gs.sid, "Schema")
    assert doc[0][:3] == ["column", "type", "group"]
    assert [r[0] for r in doc[1:] if r and r[0]] == schema.names
    # a second init leaves it as it is
    gsheets.forget()
    assert sheettrack.init(gs.target, "classification") is False


def test_choices_get_a_drop_down_and_numbers_a_format(gs):
    template = {"name": "t", "columns": [
        {"name": "run_id", "type": "string", "group": "run"},
        {"name": "model", "type": "string", "group": "params", "choices": ["mlp", "cnn"]},
        {"name": "accuracy", "type": "float", "group": "metrics", "format": "0.00%"},
        {"name": "started_at", "type": "datetime", "group": "run"}]}
    sheettrack.init(gs.target, template)
    runs = gs.emu.sheet(gs.sid, "Runs")
    rules = json.dumps(runs.get("dataValidations", runs))
    assert "ONE_OF_LIST" in rules and "cnn" in rules
    formats = json.dumps(runs.get("formats", runs))
    assert "0.00%" in formats and "PERCENT" in formats and "DATE_TIME" in formats


def test_a_one_off_log_costs_two_requests_and_further_logs_one(gs):
    sheettrack.log(gs.target, params={"lr": 0.2}, metrics={"accuracy": 0.8})  # makes the columns
    gsheets.forget()  # a fresh process
    gs.emu.reset_requests()
    sheettrack.log(gs.target, params={"lr": 0.1}, metrics={"accuracy": 0.9})
    first = api_requests(gs.emu)
    assert len(first) == 2, [(r["method"], r["path"]) for r in first]
    assert first[-1]["path"].endswith(":append")
    assert first[-1]["query"]["valueInputOption"] in ("RAW", ["RAW"])
    assert first[-1]["query"]["insertDataOption"] in ("INSERT_ROWS", ["INSERT_ROWS"])
    gs.emu.reset_requests()
    for i in range(3):
        sheettrack.log(gs.target, params={"lr": i}, metrics={"accuracy": 0.5})
    assert len(api_requests(gs.emu)) == 3
    assert len(gs.emu.values(gs.sid, "Runs")) == 1 + 5


def test_a_batch_is_one_request(gs):
    sheettrack.log(gs.target, params={"lr": -1})  # makes the column
    # ids sheettrack makes (ids a caller chooses are looked up first: one read more)
    records = batch_fields(gs.target, [{"params": {"lr": i}} for i in range(100)])
    gs.emu.reset_requests()
    write_records(gs.target, records)
    assert len(api_requests(gs.emu)) == 1
    assert column(gs.emu, gs.sid, "run_id")[1:] == [r.run_id for r in records]
    assert column(gs.emu, gs.sid, "lr")[1:] == list(range(100))


def test_the_first_log_lays_out_a_new_spreadsheet(gs):
    run_id = sheettrack.log(gs.target, params={"lr": 0.01}, metrics={"accuracy": 0.75})
    assert column(gs.emu, gs.sid, "run_id") == [run_id]
    assert "Schema" in [s["properties"]["title"] for s in gs.emu.sheets(gs.sid)] if hasattr(gs.emu, "sheets") \
        else gs.emu.values(gs.sid, "Schema")


def test_logged_text_is_never_a_formula_or_a_number(gs):
    tricky = ["=1+1", "+1", "-", "007", "'quoted", "1e5", "TRUE", "2024-01-02", "=HYPERLINK(\"x\")"]
    ids = [sheettrack.log(gs.target, params={"note_text": t}) for t in tricky]
    stored = column(gs.emu, gs.sid, "note_text")
    assert stored == tricky
    df = sheettrack.load(gs.target)
    assert df.set_index("run_id").loc[ids, "note_text"].tolist() == tricky


def test_values_round_trip_through_the_sheet(gs):
    when = dt.datetime(2026, 5, 17, 8, 30, 15, 123456, tzinfo=dt.timezone.utc)
    values = {"f": 0.1 + 0.2, "tiny": 5e-324, "neg0": -1.5e300, "big": 2**60, "i": -7, "flag": True,
              "nan": float("nan"), "inf": float("-inf"), "uni": "naïve ☃ 𝔘 \u200b", "ctl": "a\tb\nc",
              "layers": [64, 32], "when": when}
    rid = sheettrack.log(gs.target, params=values)
    row = sheettrack.show(gs.target, rid)
    got = {k: row.get(k) for k in values}
    assert got["f"] == 0.1 + 0.2 and got["tiny"] == 5e-324 and got["neg0"] == -1.5e300
    assert got["big"] == 2**60 and got["i"] == -7 and got["flag"] is True
    assert math.isnan(got["nan"]) and got["inf"] == float("-inf")
    assert got["uni"] == values["uni"] and got["ctl"] == values["ctl"]
    assert got["layers"] == [64, 32]
    assert got["when"] == when
    # and in the sheet itself: numbers as numbers, the big int as exact text
    assert gs.emu.values(gs.sid, "Runs")[0].index("big") >= 0
    assert column(gs.emu, gs.sid, "big") == [str(2**60)]
    assert column(gs.emu, gs.sid, "f") == [0.1 + 0.2]


def test_google_allows_fifty_thousand_characters_and_refuses_more(gs):
    rid = sheettrack.log(gs.target, params={"long": "x" * 50_000})
    assert len(sheettrack.show(gs.target, rid)["long"]) == 50_000
    before = gs.emu.values(gs.sid, "Runs")
    with pytest.raises(ValidationError, match="long") as err:
        sheettrack.log(gs.target, params={"long": "x" * 50_001})
    assert "50000" in str(err.value).replace(",", "").replace("_", "")
    assert gs.emu.values(gs.sid, "Runs") == before


def test_a_bad_row_in_a_batch_writes_nothing(gs):
    sheettrack.init(gs.target, "classification")
    before = gs.emu.values(gs.sid, "Runs")
    with pytest.raises(ValidationError, match="row 1"):
        records = batch_fields(gs.target, [{"metrics": {"accuracy": 0.5}}, {}])
        records[1] = replace(records[1], metrics={"accuracy": "high"})
        write_records(gs.target, records)
    assert gs.emu.values(gs.sid, "Runs") == before


def test_new_columns_extend_the_header_and_the_schema_tab(gs):
    sheettrack.log(gs.target, params={"lr": 0.1})
    gsheets.forget()
    sheettrack.log(gs.target, params={"lr": 0.2, "dropout": 0.5}, tags={"team": "vision"})
    head = header(gs.emu, gs.sid)
    assert head[-2:] == ["dropout", "team"] or set(head[-2:]) == {"dropout", "team"}
    documented = [r[0] for r in gs.emu.values(gs.sid, "Schema")[1:] if r and r[0]]
    assert "dropout" in documented and "team" in documented
    df = sheettrack.load(gs.target)
    assert df["dropout"].tolist()[1] == 0.5 and math.isnan(df["dropout"].tolist()[0])
    # another process sees the new columns
    gsheets.forget()
    assert api.schema_of(gs.target).column("dropout").type == "float"


def test_a_worksheet_named_in_the_target_holds_the_runs(gs):
    target = f"gsheet://{gs.sid}/Experiments"
    rid = sheettrack.log(target, params={"lr": 0.1})
    assert column(gs.emu, gs.sid, "run_id", tab="Experiments") == [rid]
    assert sheettrack.load(target)["run_id"].tolist() == [rid]


def test_a_header_renamed_by_a_person_is_refused_naming_it(gs):
    sheettrack.init(gs.target, "classification")
    gsheets.forget()
    head = header(gs.emu, gs.sid)
    i = head.index("accuracy")
    type_in_browser(gs, f"{col_letter(i)}1", "acc")
    with pytest.raises(SchemaMismatchError, match="accuracy"):
        sheettrack.log(gs.target, metrics={"accuracy": 0.5}, on_error="raise")


# -- reading: load, ls, show, validate, copy ---------------------------------------------------

def test_reading_a_missing_tab_is_sheet_not_found_naming_it(gs):
    sheettrack.init(gs.target)
    store = open_store(gs.target)
    with pytest.raises(SheetNotFoundError) as err:
        store.read("Nope")
    assert err.value.sheet == "Nope" and err.value.target == gs.target
    assert "'Nope'" in str(err.value) and "Runs" in str(err.value)  # what is there instead
    assert store.read("Schema").header[:2] == ["column", "type"]  # a tab that exists still reads


def test_every_address_of_a_spreadsheet_has_its_id_as_key(gs):
    assert open_store(gs.target).key == gs.sid
    assert open_store(f"https://docs.google.com/spreadsheets/d/{gs.sid}/edit#gid=0").key == gs.sid
    assert open_store(f"gsheet://{gs.sid}/Experiments").key == f"{gs.sid}/Experiments"  # another runs tab


def test_cli_commands_work_on_a_google_sheet(gs, tmp_path):
    runner = CliRunner()
    creds = ["--credentials", str(gs.creds)]
    out = runner.invoke(main, creds + ["init", gs.target, "-T", "classification"])
    assert out.exit_code == 0, out.output
    ids = []
    for lr, acc in ((0.1, 0.8), (0.01, 0.9)):
        out = runner.invoke(main, creds + ["log", gs.target, "-p", f"lr={lr}", "-p", "model=mlp",
                                           "-m", f"accuracy={acc}", "-t", "split=val"])
        assert out.exit_code == 0, out.output
        ids.append(out.output.strip())
    out = runner.invoke(main, creds + ["ls", gs.target, "--sort", "-accuracy", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert [r["run_id"] for r in listed] == ids[::-1]
    out = runner.invoke(main, creds + ["show", gs.target, ids[0][:12], "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["accuracy"] == 0.8
    out = runner.invoke(main, creds + ["validate", gs.target])
    assert out.exit_code == 0 and "no problems" in out.output
    out = runner.invoke(main, creds + ["log", gs.target, "-m", "accuracy=1.5"])
    assert out.exit_code == 1 and "accuracy" in out.output and "1.5" in out.output


def test_validate_finds_bad_cells_typed_in_the_browser(gs):
    sheettrack.init(gs.target, "classification")
    sheettrack.log(gs.target, metrics={"accuracy": 0.5})
    i = header(gs.emu, gs.sid).index("accuracy")
    type_in_browser(gs, f"{col_letter(i)}2", "high")
    problems = sheettrack.validate(gs.target)
    assert [p.address for p in problems] == [f"Runs!{col_letter(i)}2"]
    assert "high" in problems[0].message and "accuracy" in problems[0].message


def test_copy_moves_runs_between_a_workbook_and_a_google_sheet(gs, tmp_path):
    book = tmp_path / "runs.xlsx"
    ids = [sheettrack.log(book, params={"lr": i / 10}, metrics={"accuracy": i / 10}, template="classification")
           for i in range(5)]
    result = api.copy(book, gs.target)
    assert (result.copied, result.skipped) == (5, 0)
    assert column(gs.emu, gs.sid, "run_id") == ids
    again = api.copy(book, gs.target)
    assert (again.copied, again.skipped) == (0, 5)
    assert len(column(gs.emu, gs.sid, "run_id")) == 5
    sheettrack.log(gs.target, params={"lr": 0.9}, metrics={"accuracy": 0.99})
    back = tmp_path / "offline.xlsx"
    out = CliRunner().invoke(main, ["--credentials", str(gs.creds), "copy", gs.target, str(back)])
    assert out.exit_code == 0, out.output
    assert "copied 6" in out.output
    local = sheettrack.load(back)
    remote = sheettrack.load(gs.target)
    assert local["run_id"].tolist() == remote["run_id"].tolist()
    assert local["accuracy"].tolist() == remote["accuracy"].tolist()
    assert api.schema_of(back).name == "classification"


def test_share_gives_the_person_the_role(gs):
    sheettrack.init(gs.target)
    out = CliRunner().invoke(main, ["--credentials", str(gs.creds), "share", gs.target,
                                    "ana@example.com", "--role", "commenter"])
    assert out.exit_code == 0, out.output
    perms = [r for r in gs.emu.requests if r["path"].endswith("/permissions")]
    assert perms and perms[-1]["body"]["role"] == "commenter"
    assert perms[-1]["body"]["emailAddress"] == "ana@example.com"
    with pytest.raises(TargetError, match="role"):
        api.share(gs.target, "ana@example.com", "owner")


def test_share_refuses_a_workbook(tmp_path):
    with pytest.raises(TargetError, match="only Google Sheets"):
        api.share(tmp_path / "runs.xlsx", "ana@example.com")


# -- faults ------------------------------------------------------------------------------------

def test_quota_answers_are_retried_and_the_row_lands_once(gs):
    sheettrack.init(gs.target)
    gs.emu.fault("429", times=3, match=":append", retry_after=0)
    rid = sheettrack.log(gs.target, params={"lr": 0.1})
    assert column(gs.emu, gs.sid, "run_id") == [rid]


def test_a_quota_storm_ends_in_a_clear_error_and_nothing_written(gs, monkeypatch):
    sheettrack.init(gs.target)
    monkeypatch.setenv("SHEETTRACK_GOOGLE_RETRIES", "2")
    gsheets.forget()
    gs.emu.fault("429", times=50, match=":append", retry_after=0)
    with pytest.raises(StoreUnavailableError, match="429"):
        sheettrack.log(gs.target, params={"lr": 0.1}, on_error="raise")
    assert gs.emu.values(gs.sid, "Runs")[1:] == []


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_an_append_whose_answer_is_lost_is_not_written_twice(gs, kind):
    sheettrack.init(gs.target)
    first = sheettrack.log(gs.target, params={"lr": 0.2})  # its environment row is in the sheet now
    gs.emu.fault(kind, times=1, match=":append")
    rid = sheettrack.log(gs.target, params={"lr": 0.1})
    assert column(gs.emu, gs.sid, "run_id") == [first, rid]


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_a_reference_row_whose_answer_is_lost_is_not_written_twice(gs, kind):
    sheettrack.init(gs.target)
    gs.emu.fault(kind, times=1, match="Environments'!A1:append")
    rid = sheettrack.log(gs.target, params={"lr": 0.1})
    assert column(gs.emu, gs.sid, "run_id") == [rid]
    assert len(gs.emu.values(gs.sid, "Environments")) == 2
    appends = [r for r in gs.emu.requests if "Environments'!A1:append" in r["path"]]
    assert len(appends) == 2  # the faulted one, then one more: the row was found missing and resent


def test_slow_replies_past_the_timeout_are_retried_for_reads(gs, monkeypatch):
    sheettrack.init(gs.target)
    sheettrack.log(gs.target, params={"lr": 0.1})
    monkeypatch.setenv("SHEETTRACK_GOOGLE_TIMEOUT", "0.3")
    gsheets.forget()
    gs.emu.fault("slow", times=1, match="values", delay=1.0)
    assert len(sheettrack.load(gs.target)) == 1


def test_a_missing_or_unshared_spreadsheet_says_how_to_fix_it(gs):
    with pytest.raises(StoreError, match="share it with"):
        sheettrack.log("gsheet://doesNotExist123", params={"lr": 0.1}, on_error="raise")
    sheettrack.init(gs.target)
    gsheets.forget()
    account = json.loads(Path(gs.creds).read_text())["client_email"]
    gs.emu.revoke(gs.sid, account)
    with pytest.raises(StoreUnavailableError, match="permission denied"):
        sheettrack.log(gs.target, params={"lr": 0.1}, on_error="raise")


def test_create_spreadsheet_makes_an_empty_one_in_drive(gs):
    sid = create_spreadsheet("Team runs")
    assert sid in gs.emu.spreadsheet_ids() and gs.emu.titles(sid) == ["Sheet1"]
    assert not open_store(f"gsheet://{sid}").exists()
    assert [r["path"] for r in gs.emu.requests if r["method"] == "POST"][-1] == "/drive/v3/files"


def test_create_spreadsheet_says_when_google_did_not_answer(gs, monkeypatch):
    monkeypatch.setenv("SHEETTRACK_GOOGLE_RETRIES", "1")
    before = set(gs.emu.spreadsheet_ids())
    gs.emu.fault("500", times=5, match="/drive/v3/files")
    with pytest.raises(StoreUnavailableError, match="Team runs.*may have been created"):
        create_spreadsheet("Team runs", gs.creds)
    assert set(gs.emu.spreadsheet_ids()) == before


def test_new_sheet_creates_lays_out_and_shares(gs):
    out = CliRunner().invoke(main, ["--credentials", str(gs.creds), "new-sheet", "Team runs",
                                    "--share", "ana@example.com", "-T", "classification"])
    assert out.exit_code == 0, out.output
    url = out.output.strip()
    assert url.startswith("https://docs.google.com/spreadsheets/d/")
    sid, _ = parse_target(url)
    assert header(gs.emu, sid)[:1] == ["run_id"]
    perms = [r for r in gs.emu.requests if r["path"].endswith(f"{sid}/permissions")]
    assert perms and perms[-1]["body"]["role"] == "writer"
    rid = sheettrack.log(url, metrics={"accuracy": 0.5})
    assert column(gs.emu, sid, "run_id") == [rid]


# -- the transaction: run rows and the reference rows they point at ---------------------------

ENV_HEADER = ["env_hash", "python", "platform"]
LAYOUT = Schema(name="t", columns=[Column(name="run_id", group="run"),
                                   Column(name="env_hash", group="run"),
                                   Column(name="accuracy", type="float", group="metrics")])


def writes(emu) -> list[dict]:
    """The write requests the emulator saw (batchUpdate, append)."""
    return [r for r in api_requests(emu) if r["method"] == "POST"]


def env_row(key: str) -> dict:
    return {"env_hash": key, "python": "3.12.1", "platform": "linux"}


def test_a_first_transaction_lays_out_and_writes_rows_and_references_in_one_request(gs):
    store = open_store(gs.target)
    gs.emu.reset_requests()
    assert not store.exists()
    with store.transaction() as tx:
        tx.create(LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
        tx.append([{"run_id": "r1", "env_hash": "e1", "accuracy": 0.5, "lr": 0.1}], LAYOUT,
                  [Column(name="lr", type="float", group="params")])
    assert len(writes(gs.emu)) == 1 and writes(gs.emu)[0]["path"].endswith(":batchUpdate")
    assert len(api_requests(gs.emu)) <= 5
    # laid out for reading, as a new workbook is: run id, params, metrics, then the rest
    assert header(gs.emu, gs.sid) == ["run_id", "lr", "accuracy", "env_hash"]
    assert gs.emu.values(gs.sid, "Runs")[1] == ["r1", 0.1, 0.5, "e1"]
    assert gs.emu.values(gs.sid, "Environments") == [ENV_HEADER, ["e1", "3.12.1", "linux"]]
    documented = [r[0] for r in gs.emu.values(gs.sid, "Schema")[1:] if r and r[0]]
    assert documented == ["run_id", "env_hash", "accuracy", "lr"]
    # what a person sees when reading it back: text as text, numbers as numbers
    gsheets.forget()
    again = open_store(gs.target)
    assert again.read().rows == [["r1", 0.1, 0.5, "e1"]]
    assert again.prefetched_keys("Environments", "env_hash") == {"e1"}


def test_later_transactions_send_run_rows_then_new_reference_rows(gs):
    store = open_store(gs.target)
    with store.transaction() as tx:
        tx.create(LAYOUT)
        tx.append([{"run_id": "r1", "env_hash": "e1", "accuracy": 0.5}], LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
    gsheets.forget()  # a fresh process
    store = open_store(gs.target)
    gs.emu.reset_requests()
    assert store.exists() and store.read_schema().names == LAYOUT.names
    assert store.prefetched_keys("Environments", "env_hash") == {"e1"}
    with store.transaction() as tx:
        tx.append_rows("Environments", ENV_HEADER, [env_row("e2")], key="env_hash")
        tx.append([{"run_id": "r2", "env_hash": "e2", "accuracy": 0.7}], LAYOUT)
    paths = [r["path"] for r in api_requests(gs.emu)]
    assert len(paths) == 3 and paths[0].endswith("values:batchGet")
    assert "'Runs'!A1:append" in paths[1] and "'Environments'!A1:append" in paths[2]
    assert column(gs.emu, gs.sid, "run_id") == ["r1", "r2"]
    assert column(gs.emu, gs.sid, "env_hash", tab="Environments") == ["e1", "e2"]


@pytest.mark.parametrize("laid_out", [False, True])
def test_a_refused_run_row_sends_nothing_not_even_its_references(gs, laid_out):
    store = open_store(gs.target)
    if laid_out:
        store.create(LAYOUT)
    before = {t: gs.emu.values(gs.sid, t) for t in gs.emu.titles(gs.sid)}
    gs.emu.reset_requests()
    as_text = Column(name="accuracy", type="string", group="metrics")  # the sheet says float
    with pytest.raises(ValidationError, match="accuracy"):
        with store.transaction() as tx:
            tx.create(LAYOUT)
            tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
            tx.append([{"run_id": "r1", "accuracy": "high"}],
                      Schema(name="t", columns=[LAYOUT.columns[0], as_text]), [as_text])
    assert writes(gs.emu) == []
    assert {t: gs.emu.values(gs.sid, t) for t in gs.emu.titles(gs.sid)} == before


def test_a_refused_reference_row_sends_nothing_not_even_the_run_rows(gs):
    store = open_store(gs.target)
    store.create(LAYOUT)
    gs.emu.reset_requests()
    with pytest.raises(ValidationError, match="not in the header"):
        with store.transaction() as tx:
            tx.append([{"run_id": "r1", "accuracy": 0.5}], LAYOUT)
            tx.append_rows("Environments", ENV_HEADER, [{"env_hash": "e1", "odd": 1}], key="env_hash")
    assert writes(gs.emu) == []
    assert gs.emu.values(gs.sid, "Runs")[1:] == []


@pytest.mark.parametrize("kind", ["500", "drop"])
@pytest.mark.parametrize("after", [False, True])
def test_a_first_transaction_whose_answer_is_lost_lands_once(gs, kind, after):
    store = open_store(gs.target)
    gs.emu.fault(kind, times=1, match=":batchUpdate", after=after)
    with store.transaction() as tx:
        tx.create(LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
        tx.append([{"run_id": f"r{i}", "env_hash": "e1", "accuracy": i / 10} for i in range(3)], LAYOUT)
    assert column(gs.emu, gs.sid, "run_id") == ["r0", "r1", "r2"]
    assert column(gs.emu, gs.sid, "env_hash", tab="Environments") == ["e1"]
    assert len(gs.emu.values(gs.sid, "Schema")) == 1 + len(LAYOUT.columns)


def test_a_layout_another_process_made_meanwhile_takes_the_rows(gs):
    mine, theirs = open_store(gs.target), open_store(gs.target)
    assert not mine.exists()  # this process read the spreadsheet before the other laid it out
    gsheets.forget()
    theirs.create(Schema(name="t", columns=LAYOUT.columns[:1]))
    with mine.transaction() as tx:
        tx.create(LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
        tx.append([{"run_id": "r1", "env_hash": "e1", "accuracy": 0.5}], LAYOUT)
    assert header(gs.emu, gs.sid) == ["run_id", "env_hash", "accuracy"]
    assert gs.emu.values(gs.sid, "Runs")[1:] == [["r1", "e1", 0.5]]
    assert column(gs.emu, gs.sid, "env_hash", tab="Environments") == ["e1"]


@pytest.mark.parametrize("how", ["renamed Sheet1", "added a tab"])
def test_a_layout_made_after_this_process_looked_takes_the_rows(gs, how):
    from tests.sheets_emulator.client import gspread_client

    mine = open_store(gs.target)
    assert not mine.exists()  # this process saw a new, empty spreadsheet
    other = gspread_client(gs.emu, gs.creds).open_by_key(gs.sid)  # another writer, meanwhile
    if how == "renamed Sheet1":
        other.sheet1.update_title("Runs")
    else:  # this process's layout request is then refused: the tab name is taken
        other.add_worksheet("Runs", rows=100, cols=10)
    other.worksheet("Runs").update([["run_id", "note"]], "A1")
    with mine.transaction() as tx:
        tx.create(LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
        tx.append([{"run_id": "r1", "env_hash": "e1", "accuracy": 0.5}], LAYOUT)
    assert header(gs.emu, gs.sid) == ["run_id", "note", "env_hash", "accuracy"]
    assert gs.emu.values(gs.sid, "Runs")[1:] == [["r1", "", "e1", 0.5]]
    assert column(gs.emu, gs.sid, "env_hash", tab="Environments") == ["e1"]


def test_exists_schema_and_environment_keys_share_one_read(gs):
    sheettrack.log(gs.target, params={"lr": 0.1})
    gsheets.forget()
    store = open_store(gs.target)
    gs.emu.reset_requests()
    assert store.exists() and store.read_schema() is not None
    assert len(store.prefetched_keys("Environments", "env_hash")) == 1
    assert len(api_requests(gs.emu)) == 1
    # the Data tab's keys cost one small read of their own, once: here there is no Data tab
    assert store.prefetched_keys("Data", "hash") == set()
    assert store.prefetched_keys("Data", "hash") == set()
    assert len(api_requests(gs.emu)) == 2
    assert store.prefetched_keys("Models", "model") is None


def test_data_keys_are_read_once_when_the_tab_is_there(gs):
    store = open_store(gs.target)
    with store.transaction() as tx:
        tx.create(LAYOUT)
        tx.append_rows("Environments", ENV_HEADER, [env_row("e1")], key="env_hash")
        tx.append_rows("Data", ["hash", "name"], [{"hash": "d1", "name": "train"}], key="hash")
        tx.append([{"run_id": "r1", "env_hash": "e1", "accuracy": 0.5}], LAYOUT)
    assert store.prefetched_keys("Data", "hash") == {"d1"}  # known from the layout, no request
    gsheets.forget()
    store = open_store(gs.target)
    assert store.exists()  # the runs, Schema and Environments tabs in one read
    gs.emu.reset_requests()
    assert store.prefetched_keys("Data", "hash") == {"d1"}
    assert store.prefetched_keys("Data", "name") is None  # column A is not that key
    assert len(api_requests(gs.emu)) == 1
