"""The Sheets emulator behaves like Google Sheets v4 / Drive v3 as the real gspread sees it.

Expected results come from recorded behaviour of the real service (the facts in the project's
reference notes), not from the emulator; the emulator's direct view (``emu.values``) is compared
with what gspread reads over HTTP. The session fixture runs in strict mode: every reply is checked
against Google's discovery documents and a mismatch fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import gspread
import pytest
import requests
from google.auth.exceptions import RefreshError
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound
from gspread.utils import ValueRenderOption

from tests.sheets_emulator import Emulator
from tests.sheets_emulator.a1 import RangeError, col_index, col_letters, parse_cells, split_title
from tests.sheets_emulator.auth import KeyPair
from tests.sheets_emulator.cells import from_user_entered
from tests.sheets_emulator.client import gspread_client
from tests.sheets_emulator.discovery import api as discovery

OTHER = "colleague@example.iam.gserviceaccount.com"


@pytest.fixture
def gc(sheets_emulator: Emulator, gs_credentials: Path) -> gspread.Client:
    return gspread_client(sheets_emulator, gs_credentials)


@pytest.fixture
def ws(gc: gspread.Client) -> gspread.Worksheet:
    return gc.create("Runs").sheet1


def other_client(emu: Emulator, tmp_path: Path) -> gspread.Client:
    return gspread_client(emu, emu.write_service_account(tmp_path / "other.json", email=OTHER))


def raw(emu: Emulator, gc: gspread.Client, method: str, path: str, **kw) -> requests.Response:
    """A request with gspread's authorised session, but without gspread's error handling."""
    return gc.http_client.session.request(method, emu.base_url + path, **kw)


# ---- spreadsheets and worksheets --------------------------------------------------------------

def test_create_then_open_by_key_url_and_title(sheets_emulator, gc):
    sh = gc.create("Runs")
    assert sh.title == "Runs"
    assert gc.open_by_key(sh.id).id == sh.id
    assert gc.open_by_url(f"https://docs.google.com/spreadsheets/d/{sh.id}/edit").id == sh.id
    assert gc.open("Runs").id == sh.id
    ws = sh.sheet1
    assert (ws.title, ws.id, ws.row_count, ws.col_count) == ("Sheet1", 0, 1000, 26)
    assert sh.locale == "en_US"
    assert sheets_emulator.values(sh.id, "Sheet1") == []
    created = sheets_emulator.requests[1]
    assert (created["method"], created["path"]) == ("POST", "/drive/v3/files")
    assert created["body"] == {"name": "Runs", "mimeType": "application/vnd.google-apps.spreadsheet"}


def test_add_worksheet_and_duplicate_title_is_refused(sheets_emulator, gc):
    sh = gc.create("Runs")
    new = sh.add_worksheet("My Runs", rows=50, cols=8)
    assert (new.title, new.row_count, new.col_count) == ("My Runs", 50, 8)
    assert 0 < new.id < 2**31
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "My Runs"]
    with pytest.raises(APIError) as err:
        sh.add_worksheet("my runs", rows=5, cols=5)
    assert err.value.code == 400
    assert err.value.error["message"] == (
        'Invalid requests[0].addSheet: A sheet with the name "my runs" already exists. '
        "Please enter another name.")
    assert err.value.error["status"] == "INVALID_ARGUMENT"
    assert sheets_emulator.titles(sh.id) == ["Sheet1", "My Runs"]


def test_missing_spreadsheet_and_worksheet_raise_gspread_errors(gc, ws):
    with pytest.raises(SpreadsheetNotFound):
        gc.open_by_key("1NoSuchSpreadsheet0000000000000000000000000")
    with pytest.raises(SpreadsheetNotFound):
        gc.open("No such title")
    with pytest.raises(WorksheetNotFound):
        ws.spreadsheet.worksheet("Nope")


def test_del_spreadsheet_makes_it_unreachable(sheets_emulator, gc):
    sh = gc.create("Runs")
    gc.del_spreadsheet(sh.id)
    assert sh.id not in sheets_emulator.spreadsheet_ids()
    with pytest.raises(SpreadsheetNotFound):
        gc.open_by_key(sh.id)
    assert sheets_emulator.requests[-2]["status"] == 204


# ---- values.append ----------------------------------------------------------------------------

def test_raw_append_keeps_formula_like_text_as_text(sheets_emulator, ws):
    ws.append_rows([["name", "expr", "code", "sign"], ["a", "=1+1", "007", "+1"]])
    sid = ws.spreadsheet_id
    assert sheets_emulator.values(sid, "Sheet1") == [["name", "expr", "code", "sign"],
                                                     ["a", "=1+1", "007", "+1"]]
    cells = sheets_emulator.cells(sid, "Sheet1")
    assert {cells[a]["kind"] for a in ("B2", "C2", "D2")} == {"string"}
    assert ws.get("A2:D2", value_render_option=ValueRenderOption.formula) == [
        ["a", "=1+1", "007", "+1"]]


def test_user_entered_append_parses_formulas_and_numbers(sheets_emulator, ws):
    ws.append_rows([["=1+1", "007", "1.5", "TRUE", "'=2"]], value_input_option="USER_ENTERED")
    sid = ws.spreadsheet_id
    assert sheets_emulator.values(sid, "Sheet1") == [[2, 7, 1.5, True, "=2"]]
    assert sheets_emulator.cells(sid, "Sheet1")["A1"] == {"kind": "formula", "value": 2,
                                                          "formula": "=1+1"}
    assert ws.get_all_values() == [["2", "7", "1.5", "TRUE", "=2"]]
    assert ws.get("A1:E1", value_render_option=ValueRenderOption.unformatted) == [
        [2, 7, 1.5, True, "=2"]]
    assert ws.get("A1:E1", value_render_option=ValueRenderOption.formula) == [
        ["=1+1", 7, 1.5, True, "=2"]]


def test_append_after_table_reports_table_range(ws):
    header = [f"c{i}" for i in range(10)]
    ws.append_rows([header, list(range(10)), list(range(10, 20))])
    res = ws.append_rows([["x"] * 10])
    assert res["tableRange"] == "Sheet1!A1:J3"
    assert res["updates"]["updatedRange"] == "Sheet1!A4:J4"
    assert (res["updates"]["updatedRows"], res["updates"]["updatedCells"]) == (1, 10)


def test_append_to_empty_sheet_has_no_table_range(ws):
    res = ws.append_rows([["a", "b"]])
    assert "tableRange" not in res
    assert res["updates"]["updatedRange"] == "Sheet1!A1:B1"


def test_gap_in_header_shifts_append_to_the_right(sheets_emulator, ws):
    ws.append_rows([["x", "", "z"]])
    res = ws.append_rows([["1", "2", "3"]])
    assert res["tableRange"] == "Sheet1!C1"
    assert res["updates"]["updatedRange"] == "Sheet1!C2:E2"
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [
        ["x", "", "z"], ["", "", "1", "2", "3"]]


def test_gap_in_header_with_table_range_a1_appends_under_it(sheets_emulator, ws):
    ws.append_rows([["x", "", "z"]])
    res = ws.append_rows([["1", "2", "3"]], table_range="A1")
    assert res["tableRange"] == "Sheet1!A1"
    assert res["updates"]["updatedRange"] == "Sheet1!A2:C2"
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["x", "", "z"], ["1", "2", "3"]]


def test_insert_rows_pushes_later_data_down(sheets_emulator, ws):
    ws.update([["h"], ["1"], [], ["below"]], "A1")
    ws.append_rows([["2"]], insert_data_option="INSERT_ROWS", table_range="A1")
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [
        ["h"], ["1"], ["2"], [], ["below"]]
    assert sheets_emulator.sheet(ws.spreadsheet_id, "Sheet1")["properties"]["gridProperties"][
        "rowCount"] == 1001


def test_append_grows_the_grid(sheets_emulator, gc):
    small = gc.create("Runs").add_worksheet("Small", rows=2, cols=2)
    small.append_rows([["a", "b", "c"], [1, 2, 3], [4, 5, 6]])
    props = sheets_emulator.sheet(small.spreadsheet_id, "Small")["properties"]
    assert props["gridProperties"] == {"rowCount": 3, "columnCount": 3}
    assert small.get_all_values() == [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]


def test_null_leaves_cell_and_empty_string_clears_it(sheets_emulator, ws):
    ws.update([["a", "b", "c"]], "A1")
    ws.update([[None, "", "C"]], "A1")
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a", "", "C"]]


def test_object_cell_is_refused_and_nothing_written(sheets_emulator, ws):
    with pytest.raises(APIError) as err:
        ws.append_rows([["ok", {"nested": 1}]])
    assert err.value.code == 400
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == []


def test_nan_is_not_json(sheets_emulator, gc, ws):
    r = raw(sheets_emulator, gc, "POST",
            f"/v4/spreadsheets/{ws.spreadsheet_id}/values/Sheet1:append",
            params={"valueInputOption": "RAW"}, data='{"values": [[NaN]]}',
            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("Invalid JSON payload received.")


# ---- reading ---------------------------------------------------------------------------------

def test_get_trims_and_omits_values_of_empty_range(sheets_emulator, gc, ws):
    ws.update([["a", "", ""], [], ["", "b"]], "A1")
    assert ws.spreadsheet.values_get("Sheet1")["values"] == [["a"], [], ["", "b"]]
    assert ws.get_all_values() == [["a", ""], ["", ""], ["", "b"]]  # gspread pads
    body = raw(sheets_emulator, gc, "GET",
               f"/v4/spreadsheets/{ws.spreadsheet_id}/values/Sheet1!D5:E6").json()
    assert body == {"range": "Sheet1!D5:E6", "majorDimension": "ROWS"}


@pytest.mark.parametrize("rng, expected", [
    ("Sheet1", "Sheet1!A1:Z1000"),
    ("A1:1", "Sheet1!A1:Z1"),
    ("B:C", "Sheet1!B1:C1000"),
    ("2:3", "Sheet1!A2:Z3"),
    ("A1:AZ5000", "Sheet1!A1:Z1000"),
    ("'Sheet1'!C3", "Sheet1!C3"),
])
def test_returned_range_is_clipped_to_the_grid(sheets_emulator, gc, ws, rng, expected):
    body = ws.spreadsheet.values_get(rng)
    assert body["range"] == expected


def test_range_outside_grid_and_unparsable_range_are_400(ws):
    with pytest.raises(APIError) as err:
        ws.get("A1001")
    assert err.value.error["message"] == (
        "Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000, max columns: 26")
    with pytest.raises(APIError) as err:
        ws.batch_clear(["A1:B2", "A1001:ZZ"])
    assert err.value.error["message"] == (
        "Invalid range[1]: Range (Sheet1!A1001:ZZ) exceeds grid limits. Max rows: 1000, "
        "max columns: 26")
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update({"requests": [{"repeatCell": {
            "range": {"sheetId": 0, "startRowIndex": 1000, "endColumnIndex": 2},
            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
            "fields": "userEnteredFormat"}}]})
    assert err.value.error["message"] == (
        "Invalid requests[0].repeatCell: Range (Sheet1!A1001:B) exceeds grid limits. "
        "Max rows: 1000, max columns: 26")
    with pytest.raises(APIError) as err:
        ws.spreadsheet.values_get("'Nope'!A1")
    assert err.value.error["message"] == "Unable to parse range: 'Nope'!A1"


def test_batch_get_reads_several_ranges(ws):
    ws.update([["a", "b"], ["c", "d"], ["e", "f"]], "A1")
    first, second = ws.batch_get(["A1:B1", "B2:B3"])
    assert (first.range, first) == ("Sheet1!A1:B1", [["a", "b"]])
    assert (second.range, second) == ("Sheet1!B2:B3", [["d"], ["f"]])


def test_quoted_titles_with_spaces_and_quotes(sheets_emulator, gc):
    sh = gc.create("Runs")
    tab = sh.add_worksheet("Bob's runs", rows=10, cols=3)
    res = tab.append_rows([["x", 1]])
    assert res["updates"]["updatedRange"] == "'Bob''s runs'!A1:B1"
    assert tab.get("A1:B1") == [["x", "1"]]
    assert sheets_emulator.values(sh.id, "Bob's runs") == [["x", 1]]


# ---- update and clear ------------------------------------------------------------------------

def test_update_writes_from_anchor_and_respects_bounds(sheets_emulator, ws):
    res = ws.update([[1, 2], [3, 4]], "B2")
    assert res["updatedRange"] == "Sheet1!B2:C3"
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [[], ["", 1, 2], ["", 3, 4]]
    with pytest.raises(APIError) as err:
        ws.update([[1, 2, 3]], "A1:B1")
    assert err.value.error["message"] == (
        "Requested writing within range ['Sheet1'!A1:B1], but tried writing to column [C]")
    with pytest.raises(APIError) as err:
        ws.update([[1, 2]], "Z1001")
    assert err.value.error["message"] == (
        "Range (Sheet1!Z1001:AA1001) exceeds grid limits. Max rows: 1000, max columns: 26")


def test_update_from_an_anchor_may_not_spill_off_the_grid(sheets_emulator, gc):
    small = gc.create("Runs").add_worksheet("Small", rows=2, cols=2)
    with pytest.raises(APIError) as err:
        small.update([[1, 2, 3]], "A1")
    assert err.value.error["message"] == (
        "Requested writing within range ['Small'!A1], but tried writing to column [C]")
    with pytest.raises(APIError) as err:
        small.update([[1], [2], [3]], "A1")
    assert err.value.error["message"] == (
        "Requested writing within range ['Small'!A1], but tried writing to row [3]")
    assert sheets_emulator.values(small.spreadsheet_id, "Small") == []


def test_empty_batch_update_is_refused(ws):
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update({"requests": []})
    assert err.value.error["message"] == "Must specify at least one request."


def test_clear_empties_the_sheet(sheets_emulator, ws):
    ws.update([["a", "b"], ["c", "d"]], "A1")
    res = ws.clear()
    assert res["clearedRange"] == "Sheet1!A1:Z1000"
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == []
    assert "values" not in ws.spreadsheet.values_get("Sheet1")
    assert ws.get_all_values() == [[]]  # gspread's stand-in for the absent key


def test_values_batch_update_is_atomic(sheets_emulator, ws):
    sh = ws.spreadsheet
    with pytest.raises(APIError):
        sh.values_batch_update({"valueInputOption": "RAW", "data": [
            {"range": "A1", "values": [["kept?"]]},
            {"range": "'Nope'!A1", "values": [["x"]]}]})
    assert sheets_emulator.values(sh.id, "Sheet1") == []
    res = sh.values_batch_update({"valueInputOption": "RAW", "data": [
        {"range": "A1", "values": [["a"]]}, {"range": "B2", "values": [["b"]]}]})
    assert res["totalUpdatedCells"] == 2
    assert sheets_emulator.values(sh.id, "Sheet1") == [["a"], ["", "b"]]


# ---- batchUpdate -----------------------------------------------------------------------------

def test_format_freeze_filter_and_autoresize_are_stored(sheets_emulator, ws):
    ws.update([["a", "b", "c"]], "A1")
    ws.format("A1:C1", {"textFormat": {"bold": True}})
    ws.freeze(rows=1)
    ws.set_basic_filter()
    ws.columns_auto_resize(0, 3)
    seen = sheets_emulator.sheet(ws.spreadsheet_id, "Sheet1")
    assert seen["frozenRowCount"] == 1
    # a filter set with a bare sheet id is stored with the grid's bounds
    # (gspread's WorksheetTest.test_basic_filters[7])
    assert seen["basicFilter"] == {"range": {"sheetId": 0, "startRowIndex": 0,
                                             "endRowIndex": 1000, "startColumnIndex": 0,
                                             "endColumnIndex": 26}}
    assert seen["formats"][0]["cell"] == {"userEnteredFormat": {"textFormat": {"bold": True}}}
    assert seen["formats"][0]["range"] == {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1,
                                           "startColumnIndex": 0, "endColumnIndex": 3}
    assert seen["autoResized"] == [{"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0,
                                    "endIndex": 3}]
    meta = ws.spreadsheet.fetch_sheet_metadata()["sheets"][0]
    assert meta["properties"]["gridProperties"]["frozenRowCount"] == 1
    assert meta["basicFilter"] == {"range": {"startRowIndex": 0, "endRowIndex": 1000,
                                             "startColumnIndex": 0, "endColumnIndex": 26}}
    assert ws.spreadsheet.sheet1.frozen_row_count == 1


def test_batch_update_is_atomic_and_names_the_bad_request(sheets_emulator, ws):
    sh = ws.spreadsheet
    with pytest.raises(APIError) as err:
        sh.batch_update({"requests": [
            {"addSheet": {"properties": {"title": "New"}}},
            {"updateSheetProperties": {"properties": {"sheetId": 0, "title": "Renamed"},
                                       "fields": "title"}},
            {"addSheet": {"properties": {"title": "new"}}}]})
    assert err.value.error["message"].startswith("Invalid requests[2].addSheet: ")
    assert sheets_emulator.titles(sh.id) == ["Sheet1"]


def test_unknown_request_kind_is_400_naming_it(ws):
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update({"requests": [{"addSheet": {}}, {"frobnicate": {}}]})
    assert err.value.code == 400
    assert err.value.error["message"] == (
        "Invalid JSON payload received. Unknown name \"frobnicate\" at 'requests[1]': "
        "Cannot find field.")


def test_unknown_field_deep_in_a_request_is_refused(ws):
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update({"requests": [
            {"addSheet": {"properties": {"title": "X", "gridProperties": {"rows": 3}}}}]})
    assert err.value.error["message"] == (
        "Invalid JSON payload received. Unknown name \"rows\" at "
        "'requests[0].add_sheet.properties.grid_properties': Cannot find field.")


def test_validation_conditional_format_chart_dimension_and_cells(sheets_emulator, ws):
    sh = ws.spreadsheet
    rng = {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 10, "startColumnIndex": 0,
           "endColumnIndex": 1}
    rule = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "ok"}]},
            "strict": True}
    cf = {"ranges": [rng], "booleanRule": {"condition": {"type": "NUMBER_GREATER",
                                                         "values": [{"userEnteredValue": "0.9"}]},
                                           "format": {"textFormat": {"bold": True}}}}
    chart = {"spec": {"title": "loss", "basicChart": {"chartType": "LINE"}},
             "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 0,
                                                             "columnIndex": 5}}}}
    res = sh.batch_update({"requests": [
        {"setDataValidation": {"range": rng, "rule": rule}},
        {"addConditionalFormatRule": {"rule": cf, "index": 0}},
        {"addChart": {"chart": chart}},
        {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 4}},
        {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "=raw"}},
                                              {"userEnteredValue": {"formulaValue": "=2*3"}}]}],
                         "fields": "userEnteredValue"}},
    ]})
    replies = res["replies"]
    assert replies[0] == replies[1] == replies[3] == replies[4] == {}
    chart_id = replies[2]["addChart"]["chart"]["chartId"]
    seen = sheets_emulator.sheet(sh.id, "Sheet1")
    assert seen["validations"] == [{"range": rng, "rule": rule}]
    assert seen["conditionalFormats"] == [cf]
    assert [c["chartId"] for c in seen["charts"]] == [chart_id]
    assert seen["properties"]["gridProperties"]["columnCount"] == 30
    assert sheets_emulator.values(sh.id, "Sheet1") == [["=raw", 6]]
    meta = sh.fetch_sheet_metadata()["sheets"][0]
    assert meta["conditionalFormats"] == [cf] and meta["charts"][0]["chartId"] == chart_id


def test_delete_sheet_in_browser_and_over_api(sheets_emulator, gc):
    sh = gc.create("Runs")
    runs = sh.add_worksheet("Runs", rows=5, cols=5)
    sheets_emulator.delete_sheet(sh.id, "Runs")
    with pytest.raises(WorksheetNotFound):
        sh.worksheet("Runs")
    with pytest.raises(APIError) as err:
        runs.append_rows([["x"]])
    assert err.value.error["message"] == "Unable to parse range: 'Runs'"
    with pytest.raises(APIError) as err:
        sh.del_worksheet(sh.sheet1)
    assert err.value.error["message"] == (
        "Invalid requests[0].deleteSheet: You can't remove all the sheets in a document.")


# ---- limits ----------------------------------------------------------------------------------

def test_cell_over_50000_characters_is_refused(sheets_emulator, ws):
    ws.append_rows([["a" * 50_000]])
    with pytest.raises(APIError) as err:
        ws.append_rows([["ok", "b" * 50_001]])
    assert err.value.code == 400
    assert err.value.error["message"] == (
        "Your input contains more than the maximum of 50000 characters in a single cell.")
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a" * 50_000]]


def test_ten_million_cell_limit(sheets_emulator, gc):
    sh = gc.create("Runs")
    with pytest.raises(APIError) as err:
        sh.add_worksheet("Huge", rows=400_000, cols=26)
    assert err.value.error["message"] == ("Invalid requests[0].addSheet: This action would "
                                          "increase the number of cells in the workbook above "
                                          "the limit of 10000000 cells.")
    assert sheets_emulator.titles(sh.id) == ["Sheet1"]


def test_write_quota_per_user_answers_429(sheets_emulator, ws, tmp_path):
    sheets_emulator.writes_per_minute = 2
    ws.append_rows([["a"]])
    ws.append_rows([["b"]])
    with pytest.raises(APIError) as err:
        ws.append_rows([["c"]])
    assert err.value.code == 429
    error = err.value.error
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert "'Write requests per minute per user'" in error["message"]
    assert error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert ws.get_all_values() == [["a"], ["b"]]  # reads have their own counter
    sid = sheets_emulator.create_spreadsheet("Theirs")
    other_client(sheets_emulator, tmp_path).open_by_key(sid).sheet1.append_rows([["x"]])
    sheets_emulator.reset_quota()
    ws.append_rows([["c"]])
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a"], ["b"], ["c"]]


def test_quota_refills_after_a_minute(gs_credentials):
    now = [1000.0]
    with Emulator(writes_per_minute=1, strict=True, clock=lambda: now[0]) as emu:
        creds = emu.write_service_account(gs_credentials.parent / "own.json")
        ws = gspread_client(emu, creds).create("Runs").sheet1
        ws.append_rows([["a"]])
        with pytest.raises(APIError):
            ws.append_rows([["b"]])
        now[0] += 61
        ws.append_rows([["b"]])
        assert emu.values(ws.spreadsheet_id, "Sheet1") == [["a"], ["b"]]


# ---- faults ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, status", [("500", "INTERNAL"), ("503", "UNAVAILABLE")])
def test_server_error_faults_fail_once(sheets_emulator, ws, kind, status):
    sheets_emulator.fault(kind, match=":append")
    with pytest.raises(APIError) as err:
        ws.append_rows([["a"]])
    assert (err.value.code, err.value.error["status"]) == (int(kind), status)
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == []
    ws.append_rows([["a"]])
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a"]]


def test_429_fault_carries_retry_after(sheets_emulator, ws):
    sheets_emulator.fault("429", retry_after=7)
    with pytest.raises(APIError) as err:
        ws.append_rows([["a"]])
    assert err.value.code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_slow_fault_trips_a_client_timeout(sheets_emulator, gc, ws):
    sheets_emulator.fault("slow", delay=0.5, match=":append")
    gc.set_timeout(0.05)
    with pytest.raises(requests.exceptions.ReadTimeout):
        ws.append_rows([["a"]])
    gc.set_timeout(None)
    sheets_emulator.fault("slow", delay=0.01)
    assert ws.get_all_values() == [[]]


def test_drop_fault_closes_the_connection(sheets_emulator, ws):
    sheets_emulator.fault("drop", match=":append")
    with pytest.raises(requests.exceptions.ConnectionError):
        ws.append_rows([["a"]])
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == []
    assert sheets_emulator.requests[-1]["status"] is None


def test_drop_after_write_loses_only_the_reply(sheets_emulator, ws):
    sheets_emulator.fault("drop", match=":append", after=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        ws.append_rows([["a"]])
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a"]]


# ---- access ----------------------------------------------------------------------------------

def test_others_need_a_permission(sheets_emulator, gc, tmp_path):
    sh = gc.create("Runs")
    other = other_client(sheets_emulator, tmp_path)
    with pytest.raises(PermissionError):
        other.open_by_key(sh.id)
    sh.share(OTHER, perm_type="user", role="writer", notify=False)
    assert sheets_emulator.requests[-1]["body"]["withLink"] is False
    other.open_by_key(sh.id).sheet1.append_rows([["from colleague"]])
    assert sheets_emulator.values(sh.id, "Sheet1") == [["from colleague"]]
    assert sheets_emulator.requests[-1]["user"] == OTHER


def test_reader_cannot_write(sheets_emulator, gc, tmp_path):
    sh = gc.create("Runs")
    sh.share(OTHER, perm_type="user", role="reader", notify=False)
    tab = other_client(sheets_emulator, tmp_path).open_by_key(sh.id).sheet1
    assert tab.get_all_values() == [[]]
    with pytest.raises(APIError) as err:
        tab.append_rows([["x"]])
    assert (err.value.code, err.value.error["status"]) == (403, "PERMISSION_DENIED")


def test_revoked_user_gets_403(sheets_emulator, gc, ws):
    sheets_emulator.revoke(ws.spreadsheet_id, "tracker@example.iam.gserviceaccount.com")
    with pytest.raises(APIError) as err:
        ws.append_rows([["a"]])
    assert err.value.code == 403
    assert err.value.error == {"code": 403, "message": "The caller does not have permission",
                               "status": "PERMISSION_DENIED"}
    with pytest.raises(PermissionError):
        gc.open_by_key(ws.spreadsheet_id)


def test_unowned_spreadsheet_is_open_to_any_token(sheets_emulator, gc, tmp_path):
    sid = sheets_emulator.create_spreadsheet("Shared", owner=None)
    gc.open_by_key(sid).sheet1.append_rows([["a"]])
    other_client(sheets_emulator, tmp_path).open_by_key(sid).sheet1.append_rows([["b"]])
    assert sheets_emulator.values(sid, "Sheet1") == [["a"], ["b"]]
    owned = sheets_emulator.create_spreadsheet("Mine", owner=OTHER)
    with pytest.raises(PermissionError):
        gc.open_by_key(owned)


def test_request_without_token_is_401(sheets_emulator, ws):
    r = requests.get(f"{sheets_emulator.base_url}/v4/spreadsheets/{ws.spreadsheet_id}")
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    d = requests.get(f"{sheets_emulator.base_url}/drive/v3/files").json()["error"]
    assert d["code"] == 401 and d["errors"][0]["reason"] == "authError" and "status" not in d


def test_expired_token_is_refreshed_by_google_auth(sheets_emulator, ws):
    sheets_emulator.expire_tokens()
    ws.append_rows([["a"]])
    statuses = [(r["path"], r["status"]) for r in sheets_emulator.requests[-3:]]
    assert statuses[0][1] == 401 and statuses[1] == ("/token", 200) and statuses[2][1] == 200


def test_assertion_signed_by_another_key_is_refused(sheets_emulator, tmp_path):
    stranger = KeyPair().write_file(tmp_path / "stranger.json", "x@example.com",
                                    sheets_emulator.token_uri)
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        gspread_client(sheets_emulator, stranger).create("Runs")


def test_drive_not_found_has_drive_error_shape(sheets_emulator, gc):
    r = raw(sheets_emulator, gc, "GET", "/drive/v3/files/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"errors": [{"domain": "global", "reason": "notFound",
                                              "message": "File not found: nope.",
                                              "locationType": "parameter",
                                              "location": "fileId"}],
                                  "code": 404, "message": "File not found: nope."}}


def test_unknown_query_parameter_is_refused(sheets_emulator, gc, ws):
    r = raw(sheets_emulator, gc, "GET", f"/v4/spreadsheets/{ws.spreadsheet_id}",
            params={"includeGridDta": "false"})
    assert r.status_code == 400
    assert 'Unknown name "includeGridDta"' in r.json()["error"]["message"]


# ---- transport -------------------------------------------------------------------------------

def test_keep_alive_reuses_connections(sheets_emulator, ws):
    before = sheets_emulator.connections_opened
    for i in range(5):
        ws.append_rows([[i]])
    assert ws.get_all_values() == [["0"], ["1"], ["2"], ["3"], ["4"]]
    assert sheets_emulator.connections_opened == before


def test_concurrent_clients_lose_no_rows(sheets_emulator, gc, gs_credentials, tmp_path):
    sh = gc.create("Runs")
    sh.sheet1.append_rows([["who", "n"]])
    sh.share(OTHER, perm_type="user", role="writer", notify=False)
    errors: list[BaseException] = []

    def worker(name: str, client: gspread.Client) -> None:
        try:
            tab = client.open_by_key(sh.id).sheet1
            for n in range(6):
                tab.append_rows([[name, n]], table_range="A1")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # one client (one requests session) per thread, as separate processes would have
    clients = [gspread_client(sheets_emulator, gs_credentials) if i % 2 else
               other_client(sheets_emulator, tmp_path) for i in range(6)]
    threads = [threading.Thread(target=worker, args=(f"w{i}", c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = sheets_emulator.values(sh.id, "Sheet1")
    assert rows[0] == ["who", "n"]
    assert sorted(map(tuple, rows[1:])) == sorted((f"w{i}", n) for i in range(6) for n in range(6))


def test_standalone_server_prints_url_and_credentials(tmp_path):
    creds = tmp_path / "sa.json"
    proc = subprocess.Popen([sys.executable, "-m", "tests.sheets_emulator", "--port", "0",
                             "--credentials", str(creds)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("Sheets emulator listening on http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[1].strip()
        assert second.strip() == f"service-account file: {creds.resolve()}"
        assert json.loads(creds.read_text())["token_uri"] == base_url + "/token"
        sh = gspread_client(base_url, creds).create("Standalone")
        assert sh.sheet1.append_rows([["ok"]])["updates"]["updatedCells"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- parsing units ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("'My Sheet'!A1:C3", ("My Sheet", "A1:C3")),
    ("'Bob''s'!A1", ("Bob's", "A1")),
    ("Sheet1!B2", ("Sheet1", "B2")),
    ("A1", (None, "A1")),
    ("'Only'", ("Only", "")),
])
def test_split_title(text, expected):
    assert split_title(text) == expected


@pytest.mark.parametrize("text, bounds", [
    ("A1", (0, 1, 0, 1)), ("C3:A1", (0, 3, 0, 3)), ("A:C", (None, None, 0, 3)),
    ("1:2", (0, 2, None, None)), ("A1:1", (0, 1, 0, None)), ("B2:C", (1, None, 1, 3)),
    ("aa10", (9, 10, 26, 27)),
])
def test_parse_cells(text, bounds):
    assert parse_cells(text) == bounds


@pytest.mark.parametrize("text", ["", "A", "1", "A0", "A1:", "!!", "A1:B2:C3", "AAAA1"])
def test_parse_cells_refuses(text):
    with pytest.raises(RangeError):
        parse_cells(text)


def test_column_letters_round_trip():
    for i in (0, 25, 26, 701, 702, 18277):
        assert col_index(col_letters(i)) == i
    assert (col_letters(0), col_letters(26), col_letters(18277)) == ("A", "AA", "ZZZ")


@pytest.mark.parametrize("typed, kind, value", [
    ("2024-01-31", "number", 45322.0), ("1/31/2024", "number", 45322.0), ("50%", "number", 0.5),
    ("1,234.5", "number", 1234.5), ("true", "bool", True), ("-", "formula", "#ERROR!"),
    ("-abc", "formula", "#ERROR!"), ("'007", "string", "007"), ("=2^3", "formula", 8.0),
    ("hello", "string", "hello"),
])
def test_user_entered_parsing(typed, kind, value):
    cell = from_user_entered(typed)
    assert (cell.kind, cell.value) == (kind, value)


# ---- discovery checks ------------------------------------------------------------------------

def test_discovery_checker_finds_unknown_fields_types_and_enums():
    sheets = discovery("sheets")
    good = {"spreadsheetId": "x", "properties": {"title": "t"},
            "sheets": [{"properties": {"sheetId": 0, "title": "S", "sheetType": "GRID",
                                       "gridProperties": {"rowCount": 1, "columnCount": 1}}}]}
    assert sheets.check(good, "Spreadsheet") == []
    bad = {"sheets": [{"properties": {"sheetType": "GRIDDY", "gridProperties": {"rows": 1},
                                      "index": "first"}}]}
    problems = sheets.check(bad, "Spreadsheet")
    assert len(problems) == 3
    assert any('Unknown name "rows"' in p for p in problems)
    assert any('"GRIDDY"' in p for p in problems)
    assert any("TYPE_INT32" in p for p in problems)


def test_discovery_checker_ignores_only_gspreads_withlink():
    drive = discovery("drive")
    assert drive.check({"type": "user", "role": "writer", "emailAddress": "a@b.c",
                        "withLink": False}, "Permission") == []
    assert drive.check({"type": "user", "withLinks": False}, "Permission") != []


def test_strict_mode_catches_a_reply_that_breaks_the_schema(sheets_emulator, gc, ws, monkeypatch):
    from tests.sheets_emulator import state

    real = state.Spreadsheet.to_json
    monkeypatch.setattr(state.Spreadsheet, "to_json",
                        lambda self, **kw: {**real(self, **kw), "sheetCount": 1})
    with pytest.raises(APIError) as err:
        gc.open_by_key(ws.spreadsheet_id)
    assert err.value.code == 500
    assert sheets_emulator.schema_violations == [
        "emulator reply to spreadsheets.get breaks the Spreadsheet schema: Invalid JSON payload "
        'received. Unknown name "sheetCount": Cannot find field.']
    sheets_emulator.schema_violations.clear()  # seen and expected: keep the fixture's check quiet


def _flood_fill_boxes(filled: set) -> list[tuple]:
    seen: set = set()
    boxes = []
    for start in sorted(filled):
        if start in seen:
            continue
        seen.add(start)
        stack, box = [start], [start[0], start[0], start[1], start[1]]
        while stack:
            r, c = stack.pop()
            box = [min(box[0], r), max(box[1], r), min(box[2], c), max(box[3], c)]
            for n in ((r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)):
                if n in filled and n not in seen:
                    seen.add(n)
                    stack.append(n)
        boxes.append(tuple(box))
    return sorted(boxes)


def test_table_detection_matches_a_plain_flood_fill():
    import random

    from tests.sheets_emulator import state
    from tests.sheets_emulator.cells import Cell

    rng = random.Random(7)
    sheet = state.Spreadsheet.new("x", "t", None).sheets[0]
    for _ in range(200):
        sheet.cells = {(rng.randrange(12), rng.randrange(12)): Cell("string", "v")
                       for _ in range(rng.randrange(1, 50))}
        assert sorted(state._components(sheet)) == _flood_fill_boxes(set(sheet.cells))


def test_insert_and_delete_rows(sheets_emulator, ws):
    ws.update([["h"], ["a"], ["c"]], "A1")
    ws.insert_rows([["b"]], row=3)
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["h"], ["a"], ["b"], ["c"]]
    ws.delete_rows(2)
    assert ws.get_all_values() == [["h"], ["b"], ["c"]]
    rows = sheets_emulator.sheet(ws.spreadsheet_id, "Sheet1")["properties"]["gridProperties"]
    assert rows["rowCount"] == 1000


def test_columns_major_dimension_and_values_in_response(ws):
    res = ws.append_rows([["a", "b"], ["c", "d"]], include_values_in_response=True)
    assert res["updates"]["updatedData"] == {"range": "Sheet1!A1:B2", "majorDimension": "ROWS",
                                             "values": [["a", "b"], ["c", "d"]]}
    assert ws.get("A1:B2", major_dimension="COLUMNS") == [["a", "c"], ["b", "d"]]
    ws.update([["x", "y"]], "C1", major_dimension="COLUMNS")
    assert ws.get("C1:C2") == [["x"], ["y"]]


def test_read_only_scopes_cannot_write(sheets_emulator, gs_credentials):
    sid = sheets_emulator.create_spreadsheet("Runs")
    reader = gspread_client(sheets_emulator, gs_credentials, scopes=gspread.auth.READONLY_SCOPES)
    tab = reader.open_by_key(sid).sheet1
    with pytest.raises(APIError) as err:
        tab.append_rows([["x"]])
    assert err.value.error["message"] == "Request had insufficient authentication scopes."
    assert sheets_emulator.values(sid, "Sheet1") == []


def test_stopped_emulator_refuses_connections(gs_credentials):
    emu = Emulator().start()
    ws = gspread_client(emu, emu.write_service_account(gs_credentials.parent / "own.json")) \
        .create("Runs").sheet1
    emu.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        ws.append_rows([["late"]])


def test_notes_and_grid_data(sheets_emulator, ws):
    ws.update([["=1+1", "x"]], "A1", raw=False)
    ws.update_note("B1", "why x")
    ws.update_note("C3", "later")
    assert ws.get_note("B1") == "why x"
    assert ws.get_notes() == [["", "why x"], [], ["", "", "later"]]
    sheet = ws.spreadsheet.fetch_sheet_metadata({"includeGridData": "true"})["sheets"][0]
    first = sheet["data"][0]["rowData"][0]["values"][0]
    assert first == {"userEnteredValue": {"formulaValue": "=1+1"},
                     "effectiveValue": {"numberValue": 2}, "formattedValue": "2"}


def test_read_quota_is_counted_apart_from_writes(sheets_emulator, ws):
    sheets_emulator.reads_per_minute = 1
    ws.append_rows([["a"]])
    assert ws.get_all_values() == [["a"]]
    with pytest.raises(APIError) as err:
        ws.get_all_values()
    assert err.value.code == 429
    assert "'Read requests per minute per user'" in err.value.error["message"]
    ws.append_rows([["b"]])  # writes still go through
    assert sheets_emulator.values(ws.spreadsheet_id, "Sheet1") == [["a"], ["b"]]


def test_a_client_that_forgets_the_emulator_cannot_reach_google(sheets_emulator, gs_credentials):
    plain = gspread.service_account(filename=str(gs_credentials))  # hosts not rewritten
    with pytest.raises(requests.exceptions.ConnectionError, match="only the local emulator"):
        plain.open_by_key("1AnyId")
    assert sheets_emulator.requests[-1]["path"] == "/token"  # the token came from the emulator
