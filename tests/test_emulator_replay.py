"""The emulator against Google's own recorded answers (gspread's cassettes, tests/data).

``test_replay_meets_the_fidelity_targets`` replays every cassette and fails when the share of
matching statuses, body shapes or exact values drops below the targets. The other tests pin
single rules, each to the recorded answer it follows (cassette name and interaction index).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from gspread.utils import ExportFormat

from tests.sheets_emulator import Emulator
from tests.sheets_emulator import proto as P
from tests.sheets_emulator.client import gspread_client
from tests.sheets_emulator.replay import (
    RECORDING_ACCOUNT,
    Replayer,
    first_difference,
    replay_all,
    shape,
    tally,
)

CASSETTES = Path(__file__).parent / "data" / "gspread-cassettes"
TARGETS = {"status": 0.98, "shape": 0.95, "value": 0.90}


def recorded(name: str, index: int) -> tuple[dict, Any]:
    """The request and the parsed answer of one recorded interaction."""
    item = json.loads((CASSETTES / f"{name}.json").read_text())["interactions"][index]
    body = item["response"]["body"]["string"]
    try:
        return item["request"], (json.loads(body) if body else None)
    except ValueError:
        return item["request"], body


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(strict=True) as emulator:
        yield emulator


class Api:
    """Raw HTTP against the emulator, as the recording account."""

    def __init__(self, emu: Emulator) -> None:
        emu.reset()
        self.base = emu.base_url
        self.auth = {"Authorization": f"Bearer {emu.issue_token(RECORDING_ACCOUNT)}"}
        created = self.call("POST", "/drive/v3/files", {
            "name": "t", "mimeType": "application/vnd.google-apps.spreadsheet"})
        self.sid = created.json()["id"]

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        path = path.replace("{sid}", getattr(self, "sid", ""))
        return requests.request(method, self.base + path, json=body, params=params,
                                headers=self.auth, timeout=10)

    def batch(self, *reqs: dict) -> requests.Response:
        return self.call("POST", "/v4/spreadsheets/{sid}:batchUpdate", {"requests": list(reqs)})


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)


def test_cassettes_are_in_the_repository_with_their_licence():
    assert len(list(CASSETTES.glob("*.json"))) >= 90
    assert "Permission is hereby granted" in (CASSETTES / "LICENSE.txt").read_text()
    assert "burnash/gspread" in (CASSETTES / "SOURCE.md").read_text()


def test_replay_meets_the_fidelity_targets(emu: Emulator):
    outcomes = replay_all(sorted(CASSETTES.glob("*.json")), emu)
    total, per = tally(outcomes)
    assert total.compared > 1000
    # answers counted apart are listed with a reason, never silently dropped
    assert all(o.apart for o in outcomes if o.got_status is None)
    assert total.apart == sum(1 for o in outcomes if o.apart)
    for what, target in TARGETS.items():
        assert total.ratio(what) >= target, (
            f"{what}: {total.ratio(what):.1%} < {target:.0%}; per endpoint: "
            + ", ".join(f"{k} {t.ratio(what):.0%}" for k, t in per.items()))
    assert not emu.internal_errors


def test_replay_maps_ids_and_counts_unknown_files_apart(emu: Emulator):
    outcomes = Replayer(emu).replay(CASSETTES / "ClientTest.test_access_private_spreadsheet.json")
    assert outcomes[0].value_ok  # files.create: the new id is mapped back to the recorded one
    private = [o for o in outcomes if o.apart]
    assert private and "recording account" in private[0].apart


def test_shape_and_first_difference():
    assert shape({"a": [1, "x"], "b": None}) == {"a": ["number", "string"], "b": "null"}
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == ".a[1]: 2 != 3"
    assert first_difference({"a": 1}, {"a": 1.0}) is None


# ---- rules, each following a recorded answer -------------------------------------------------

def test_metadata_carries_default_format_and_theme_with_float32_colours(api: Api):
    _, want = recorded("WorksheetTest.test_append_row", 1)
    got = api.call("GET", "/v4/spreadsheets/{sid}", includeGridData="false").json()
    assert got["properties"]["defaultFormat"] == want["properties"]["defaultFormat"]
    assert got["properties"]["spreadsheetTheme"] == want["properties"]["spreadsheetTheme"]
    assert P.float32(66 / 255) == 0.25882354 and P.float32(1.0) == 1


def test_fields_mask_cuts_spreadsheet_reads(api: Api):
    _, want = recorded("WorksheetTest.test_clear_tab_color", 5)
    got = api.call("GET", "/v4/spreadsheets/{sid}", fields="sheets.properties.tabColorStyle")
    assert got.json() == want == {"sheets": [{"properties": {}}]}


def test_fields_mask_cuts_drive_reads_and_unknown_drive_parameters_are_ignored(api: Api):
    req, want = recorded("WorksheetTest.test_append_row", 2)
    assert "includeItemsFromAllDrives=True" in req["uri"]  # not a files.get parameter
    got = api.call("GET", "/drive/v3/files/{sid}", supportsAllDrives="True",
                   includeItemsFromAllDrives="True", fields="id,name,createdTime,modifiedTime")
    assert got.status_code == 200
    assert sorted(got.json()) == sorted(want)
    listing = api.call("GET", "/drive/v3/files", fields="kind,nextPageToken,files(id,name)")
    assert set(listing.json()) == {"kind", "files"}  # no incompleteSearch nobody asked for


def test_values_update_counts_only_the_cells_written(api: Api):
    req, want = recorded("WorksheetTest.test_update_cells_noncontiguous", 8)
    got = api.call("PUT", "/v4/spreadsheets/{sid}/values/Sheet1!A1:D6",
                   json.loads(req["body"]), valueInputOption="RAW").json()
    assert {k: got[k] for k in ("updatedRange", "updatedRows", "updatedColumns",
                                "updatedCells")} == {
        k: want[k] for k in ("updatedRange", "updatedRows", "updatedColumns", "updatedCells")}


def test_values_batch_update_counts_each_column_once(api: Api):
    req, want = recorded("WorksheetTest.test_batch_update", 5)
    got = api.call("POST", "/v4/spreadsheets/{sid}/values:batchUpdate",
                   json.loads(req["body"])).json()
    assert got["totalUpdatedColumns"] == want["totalUpdatedColumns"] == 4
    assert got["totalUpdatedCells"] == want["totalUpdatedCells"]


def test_bad_values_get_googles_wording_and_field_violation(api: Api):
    _, want = recorded("WorksheetTest.test_get_values_merge_cells_outside_of_range", 50)
    got = api.call("PUT", "/v4/spreadsheets/{sid}/values/A1", {"values": "A1:D4"},
                   valueInputOption="RAW")
    assert got.status_code == 400
    assert got.json()["error"]["message"] == want["error"]["message"]
    assert got.json()["error"]["details"] == want["error"]["details"]


def test_hiding_the_last_visible_sheet_is_refused(api: Api):
    _, want = recorded("WorksheetTest.test_hide_show_worksheet", 5)
    got = api.batch({"updateSheetProperties": {"properties": {"sheetId": 0, "hidden": True},
                                               "fields": "hidden"}})
    assert got.status_code == 400 and got.json() == want


def test_formatted_reads_keep_the_typed_thousands_format_and_spaced_formulas(api: Api):
    _, want = recorded("CellTest.test_numeric_value", 7)
    api.call("PUT", "/v4/spreadsheets/{sid}/values/A1", {"values": [["2,000,000.01"]]},
             valueInputOption="USER_ENTERED")
    got = api.call("GET", "/v4/spreadsheets/{sid}/values/A1").json()
    assert got["values"] == want["values"] == [["2,000,000.01"]]
    _, want = recorded("CellTest.test_numeric_value", 5)
    api.call("PUT", "/v4/spreadsheets/{sid}/values/A1", {"values": [["= 1 / 1024"]]},
             valueInputOption="USER_ENTERED")
    assert api.call("GET", "/v4/spreadsheets/{sid}/values/A1").json()["values"] == \
        want["values"]


def test_named_range_reply_leaves_sheet_id_zero_out(api: Api):
    req, want = recorded("CellTest.test_define_named_range", 3)
    got = api.call("POST", "/v4/spreadsheets/{sid}:batchUpdate", json.loads(req["body"])).json()
    named = got["replies"][0]["addNamedRange"]["namedRange"]
    assert shape(named) == shape(want["replies"][0]["addNamedRange"]["namedRange"])
    assert "sheetId" not in named["range"] and named["range"]["startRowIndex"] == 0


def test_basic_filter_on_a_bare_sheet_id_is_stored_with_the_grid_bounds(api: Api):
    _, want = recorded("WorksheetTest.test_basic_filters", 7)
    api.batch({"updateSheetProperties": {"properties": {"sheetId": 0, "gridProperties": {
        "rowCount": 20, "columnCount": 20}}, "fields": "gridProperties/rowCount,"
                                                    "gridProperties/columnCount"}},
              {"setBasicFilter": {"filter": {"range": {"sheetId": 0}}}})
    got = api.call("GET", "/v4/spreadsheets/{sid}").json()
    assert got["sheets"][0]["basicFilter"] == want["sheets"][0]["basicFilter"]


def test_merges_replace_the_merges_inside_and_keep_the_top_left_value(api: Api):
    _, want = recorded("CellTest.test_merge_cells", 6)
    rng = {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2, "startColumnIndex": 0,
           "endColumnIndex": 2}
    assert api.batch({"mergeCells": {"mergeType": "MERGE_ROWS", "range": rng}}).ok
    got = api.call("GET", "/v4/spreadsheets/{sid}").json()
    assert got["sheets"][0]["merges"] == want["sheets"][0]["merges"]
    assert api.batch({"mergeCells": {"mergeType": "MERGE_ALL", "range": rng}}).ok  # [7]: 200


def test_protected_range_lists_the_requester_as_editor(api: Api):
    req, want_reply = recorded("WorksheetTest.test_add_protected_range_normal", 4)
    _, want = recorded("WorksheetTest.test_add_protected_range_normal", 5)
    reply = api.call("POST", "/v4/spreadsheets/{sid}:batchUpdate", json.loads(req["body"]))
    got = reply.json()["replies"][0]["addProtectedRange"]["protectedRange"]
    assert shape(got) == shape(want_reply["replies"][0]["addProtectedRange"]["protectedRange"])
    stored = api.call("GET", "/v4/spreadsheets/{sid}").json()["sheets"][0]["protectedRanges"][0]
    assert stored["editors"] == want["sheets"][0]["protectedRanges"][0]["editors"]


def test_column_groups_turn_on_the_group_control_flag(api: Api):
    _, want = recorded("WorksheetTest.test_group_columns", 8)
    rng = {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 2}
    assert api.batch({"addDimensionGroup": {"range": rng}}).ok
    assert api.batch({"deleteDimensionGroup": {"range": rng}}).ok
    got = api.call("GET", "/v4/spreadsheets/{sid}").json()
    assert got["sheets"][0]["properties"] == want["sheets"][0]["properties"]


def test_sort_and_cut_paste_move_values(api: Api):
    _, want = recorded("WorksheetTest.test_copy_cut_range", 9)
    api.call("PUT", "/v4/spreadsheets/{sid}/values/A1:A2", {"values": [["A1"], ["A2"]]},
             valueInputOption="RAW")
    api.batch({"cutPaste": {"source": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2,
                                       "startColumnIndex": 0, "endColumnIndex": 1},
                            "destination": {"sheetId": 0, "rowIndex": 0, "columnIndex": 2},
                            "pasteType": "PASTE_NORMAL"}})
    got = api.call("GET", "/v4/spreadsheets/{sid}/values/'Sheet1'!A1:A2").json()
    assert got == want  # the source is empty: no "values" at all
    assert api.call("GET", "/v4/spreadsheets/{sid}/values/C1:C2").json()["values"] == \
        [["A1"], ["A2"]]


# ---- running on its own ----------------------------------------------------------------------

def test_standalone_run_says_what_is_missing(monkeypatch, capsys):
    import importlib.util

    from tests.sheets_emulator import __main__ as standalone

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "googleapiclient" else real(name, *a))
    assert standalone.main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "google-api-python-client" in err and "pip install" in err


def test_standalone_credentials_go_to_a_temporary_folder(tmp_path, monkeypatch):
    from tests.sheets_emulator import __main__ as standalone

    monkeypatch.chdir(tmp_path)
    path = standalone.credentials_path(None)
    assert path.parent != tmp_path and not path.parent.samefile(Path.cwd())
    assert standalone.credentials_path(tmp_path / "sa.json") == tmp_path / "sa.json"


def test_emulator_refuses_to_start_without_discovery_documents(monkeypatch):
    from tests.sheets_emulator import discovery, server

    def gone(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'googleapiclient'")

    monkeypatch.setattr(server, "discovery_api", gone)
    with pytest.raises(RuntimeError, match="google-api-python-client"):
        Emulator().start()
    assert discovery.api("sheets")  # the real one is untouched


# ---- Drive routes gspread's public methods use -------------------------------------------------

def test_files_copy_names_the_copy_and_comments_list_needs_fields(api: Api):
    req, want = recorded("ClientTest.test_copy", 3)
    got = api.call("POST", "/drive/v3/files/{sid}/copy", json.loads(req["body"]),
                   supportsAllDrives="True")
    assert got.status_code == 200 and shape(got.json()) == shape(want)
    assert got.json()["name"] == "Copy of t"  # Google: "Copy of <title>" when name is null
    _, want = recorded("ClientTest.test_copy", 6)
    listed = api.call("GET", "/drive/v3/files/{sid}/comments", includeDeleted="False",
                      fields="comments/content,comments/anchor,nextPageToken", pageSize=100)
    assert listed.json() == want == {"comments": []}
    assert api.call("GET", "/drive/v3/files/{sid}/comments").status_code == 400


def test_files_export_gives_the_first_sheet_as_csv(api: Api):
    req, _ = recorded("ClientTest.test_client_export_spreadsheet", 3)
    _, want = recorded("ClientTest.test_client_export_spreadsheet", 4)
    api.call("PUT", "/v4/spreadsheets/{sid}/values/'Sheet1'!A1:B2", json.loads(req["body"]),
             valueInputOption="RAW")
    got = api.call("GET", "/drive/v3/files/{sid}/export", mimeType="text/csv")
    assert got.headers["Content-Type"] == "text/csv" and got.text == want == "a1,B2"


def test_gspread_copy_duplicate_copy_to_and_import_csv(sheets_emulator, gs_credentials):
    gc = gspread_client(sheets_emulator, gs_credentials)
    sh = gc.create("Book")
    sh.sheet1.update([["a", "b"], ["1", "2"]], "A1")
    sh.sheet1.merge_cells("A1:B1")
    copied = gc.copy(sh.id, copy_comments=True)
    assert copied.title == "Copy of Book" and copied.sheet1.get_all_values() == [["a", ""],
                                                                                 ["1", "2"]]
    dup = sh.duplicate_sheet(sh.sheet1.id)
    assert dup.title == "Copy of Sheet1" and dup.get_all_values() == [["a", ""], ["1", "2"]]
    assert sh.fetch_sheet_metadata()["sheets"][1]["merges"][0]["sheetId"] == dup.id
    sh.sheet1.copy_to(copied.id)
    assert [w.title for w in copied.worksheets()] == ["Sheet1", "Copy of Sheet1"]
    gc.import_csv(copied.id, "x,y\n3,4\n")
    assert [w.title for w in copied.worksheets()] == ["Sheet1"]
    assert copied.sheet1.get_all_values() == [["x", "y"], ["3", "4"]]
    assert gc.export(sh.id, ExportFormat.CSV) == b"a,\r\n1,2"


def test_grid_reads_carry_formats_with_style_mirrors(api: Api):
    req, _ = recorded("WorksheetTest.test_format", 5)
    _, want = recorded("WorksheetTest.test_format", 6)
    assert api.call("POST", "/v4/spreadsheets/{sid}:batchUpdate", json.loads(req["body"])).ok
    got = api.call("GET", "/v4/spreadsheets/{sid}", includeGridData="False",
                   ranges="Sheet1!A2", fields="sheets.data.rowData.values.userEnteredFormat")
    assert got.json() == want


def test_grid_reads_carry_column_metadata(api: Api):
    _, want = recorded("WorksheetTest.test_auto_resize_columns", 6)
    got = api.call("GET", "/v4/spreadsheets/{sid}", fields="sheets.data.columnMetadata")
    assert got.json() == want


def test_an_empty_note_clears_the_note(api: Api):
    req, _ = recorded("WorksheetTest.test_worksheet_notes", 8)
    clear, _ = recorded("WorksheetTest.test_worksheet_notes", 10)
    _, want = recorded("WorksheetTest.test_worksheet_notes", 11)
    for r in (req, clear):
        assert api.call("POST", "/v4/spreadsheets/{sid}:batchUpdate", json.loads(r["body"])).ok
    got = api.call("GET", "/v4/spreadsheets/{sid}", ranges="'Sheet1'!A1",
                   fields="sheets/data/rowData/values/note")
    assert got.json() == want == {"sheets": [{"data": [{}]}]}
