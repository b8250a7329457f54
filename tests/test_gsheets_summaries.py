"""Summaries, leaderboard and charts on a Google Sheet, through real gspread and the emulator:
the same store-neutral sheets the workbook gets, in one atomic batchUpdate."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from helpers import write_records
from test_summaries import _fields

import sheettrack
from sheettrack import api, reports
from sheettrack.errors import StoreError
from sheettrack.stores import gsheets


@pytest.fixture
def gs(sheets_emulator, gs_credentials, monkeypatch):
    emu = sheets_emulator
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", emu.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    gsheets.forget()
    sid = emu.create_spreadsheet("Experiments")
    target = f"gsheet://{sid}"
    sheettrack.init(target, "classification")
    write_records(target, [_fields(i) for i in range(24)])
    yield type("GS", (), {"emu": emu, "sid": sid, "target": target, "creds": gs_credentials})
    gsheets.forget()


def tabs(gs) -> list[str]:
    return gs.emu.titles(gs.sid)


def test_summarize_builds_the_same_figures_as_on_a_workbook(gs, tmp_path):
    names = reports.summarize(gs.target)
    assert "Leaderboard" in names and set(names) <= set(tabs(gs))
    book = tmp_path / "copy.xlsx"
    api.copy(gs.target, book)
    assert reports.summarize(book) == names
    from helpers import read_calamine

    for name in names:
        remote = gs.emu.values(gs.sid, name)
        local = read_calamine(book, name)
        assert remote[1] == [str(h) for h in local[1]][:len(remote[1])], name  # same header
        for r_row, l_row in zip(remote[2:], local[2:]):
            for a, b in zip(r_row, l_row):
                if isinstance(b, dt.datetime):  # the sheet keeps date-times as serial numbers
                    b = (b - dt.datetime(1899, 12, 30)).total_seconds() / 86400
                if isinstance(a, float) or isinstance(b, float):
                    assert (a in ("", None) and b in ("", None)) or math.isclose(float(a), float(b), rel_tol=1e-9), name
                elif not isinstance(b, (int, float)) or isinstance(a, (int, float)):
                    assert a == b or (a in ("", None) and b in ("", None)), (name, a, b)


def test_charts_best_values_and_frozen_header_are_native(gs):
    reports.summarize(gs.target)
    board = gs.emu.sheet(gs.sid, "Leaderboard")
    text = json.dumps(board)
    assert board["properties"]["gridProperties"]["frozenRowCount"] == 2
    assert "CUSTOM_FORMULA" in text  # the best value per column is highlighted
    charted = [t for t in tabs(gs) if gs.emu.sheet(gs.sid, t).get("charts")]
    assert charted, "no tab carries a chart"
    chart = gs.emu.sheet(gs.sid, charted[0])["charts"][0]
    assert chart["spec"]["basicChart"]["series"]
    source = chart["spec"]["basicChart"]["series"][0]["series"]["sourceRange"]["sources"][0]
    assert source["sheetId"] in {gs.emu.sheet(gs.sid, t)["properties"]["sheetId"] for t in tabs(gs)}


def test_three_rebuilds_replace_only_sheettracks_tabs(gs):
    from tests.sheets_emulator.client import gspread_client

    sh = gspread_client(gs.emu, gs.creds).open_by_key(gs.sid)
    mine = sh.add_worksheet("My notes", rows=10, cols=3)
    mine.update_acell("A1", "keep me")
    before_runs = gs.emu.values(gs.sid, "Runs")
    first = None
    for _ in range(3):
        names = reports.summarize(gs.target)
        ids = {n: gs.emu.sheet(gs.sid, n)["properties"]["sheetId"] for n in names}
        first = first or ids
        assert ids == first  # rebuilt in place: the tabs keep their ids (and people's links)
    assert gs.emu.values(gs.sid, "My notes") == [["keep me"]]
    assert gs.emu.values(gs.sid, "Runs") == before_runs
    assert sorted(tabs(gs)).count("Leaderboard") == 1


def test_a_persons_tab_with_a_summary_name_is_never_overwritten(gs):
    from tests.sheets_emulator.client import gspread_client

    sh = gspread_client(gs.emu, gs.creds).open_by_key(gs.sid)
    theirs = sh.add_worksheet("Leaderboard", rows=10, cols=3)
    theirs.update_acell("A1", "hand made")
    before = {t: gs.emu.values(gs.sid, t) for t in tabs(gs)}
    with pytest.raises(StoreError, match="Leaderboard"):
        reports.summarize(gs.target)
    assert {t: gs.emu.values(gs.sid, t) for t in tabs(gs)} == before


def test_best_compare_and_export_read_a_google_sheet(gs, tmp_path):
    top = reports.best(gs.target, n=3)
    assert len(top) == 3
    accs = top["accuracy"].tolist()
    assert accs == sorted(accs, reverse=True)
    runs = sheettrack.load(gs.target)["run_id"].tolist()
    diff = reports.compare(gs.target, runs[0], runs[1], only_changed=True)
    assert "accuracy" in set(diff.index.astype(str)) | set(diff.get("field", []))
    out = tmp_path / "report.html"
    reports.export(gs.target, "html", out)
    assert "<svg" in out.read_text()


def test_summaries_are_one_request_after_the_reads(gs):
    reports.summarize(gs.target)
    gs.emu.reset_requests()
    reports.summarize(gs.target)
    writes = [r for r in gs.emu.requests if r["method"] == "POST"]
    assert len(writes) == 1 and writes[0]["path"].endswith(":batchUpdate")


def test_a_spreadsheet_without_its_schema_tab_is_refused(gs):
    from tests.sheets_emulator.client import gspread_client

    sh = gspread_client(gs.emu, gs.creds).open_by_key(gs.sid)
    sh.del_worksheet(sh.worksheet("Schema"))
    gsheets.forget()
    with pytest.raises(StoreError, match="Schema"):
        reports.summarize(gs.target, by="model", values="run_id", agg="count")


def test_the_sheet_leads_with_the_overview_and_its_bars_start_at_zero(gs):
    from tests.sheets_emulator.client import gspread_client

    gspread_client(gs.emu, gs.creds).open_by_key(gs.sid).add_worksheet("My notes", rows=10, cols=3)
    for _ in range(2):  # a rebuild keeps the order
        reports.summarize(gs.target)
        assert tabs(gs) == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress",
                            "Runs", "Schema", "My notes"]
    ids = {t: gs.emu.sheet(gs.sid, t)["properties"]["sheetId"] for t in tabs(gs)}
    bars = [c["spec"]["basicChart"] for t in tabs(gs) for c in gs.emu.sheet(gs.sid, t).get("charts", [])
            if c["spec"]["basicChart"]["chartType"] == "COLUMN"]
    assert bars
    for chart in bars:
        left = next(a for a in chart["axis"] if a["position"] == "LEFT_AXIS")
        assert left["viewWindowOptions"]["viewWindowMin"] == 0
    # the Overview's chart reads the By model tab, the Leaderboard's the Progress tab
    overview = gs.emu.sheet(gs.sid, "Overview")["charts"][0]["spec"]["basicChart"]
    assert overview["series"][0]["series"]["sourceRange"]["sources"][0]["sheetId"] == ids["By model"]
    board = gs.emu.sheet(gs.sid, "Leaderboard")["charts"][0]["spec"]["basicChart"]
    assert board["series"][0]["series"]["sourceRange"]["sources"][0]["sheetId"] == ids["Progress"]
    rules = json.dumps(gs.emu.sheet(gs.sid, "By model").get("conditionalFormats", []))
    assert "ISNUMBER" in rules  # a blank cell is never the best


def test_a_new_runs_tab_folds_its_data_and_provenance_columns_away(gs):
    header = gs.emu.values(gs.sid, "Runs")[0]
    from tests.sheets_emulator.client import gspread_client

    sh = gspread_client(gs.emu, gs.creds).open_by_key(gs.sid)
    meta = sh.fetch_sheet_metadata({"includeGridData": "false", "ranges": "Runs",
                                    "fields": "sheets(properties,columnGroups,data.columnMetadata)"})
    (runs,) = meta["sheets"]
    (group,) = runs["columnGroups"]
    first, last = group["range"]["startIndex"], group["range"]["endIndex"]
    folded = header[first:last]  # the data and provenance columns, as in a new workbook
    assert folded[:2] == ["data_hash", "data"] and "user" in folded and folded[-1] == "untracked"
    columns = runs["data"][0]["columnMetadata"]
    assert all(columns[i].get("hiddenByUser") for i in range(first, last))  # folded away
    assert not any(columns[i].get("hiddenByUser") for i in range(first))
    # rows logged later land under their own headers, whatever the order
    rows = gs.emu.values(gs.sid, "Runs")[1:]
    assert {r[header.index("model")] for r in rows if len(r) > header.index("model")} >= {"mlp", "cnn", "logreg"}
