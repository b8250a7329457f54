"""A large worksheet is parsed in pieces side by side: the values are the whole parse's.

``sheet_values`` cuts a worksheet at row boundaries and parses the pieces with python-calamine
in threads. Each case here compares it, cut into several pieces (and with no size threshold),
with python-calamine reading the same workbook whole; the cases where a cut would be unsafe
must fall back to the whole parse, and the ordinary sheettrack workbook must really be cut.
"""

from __future__ import annotations

import datetime as dt
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import python_calamine

import sheettrack
from sheettrack.stores.xlsx.grid import cut_rows, sheet_values, values_in_pieces
from sheettrack.stores.xlsx.parts import Workbook
from sheettrack.stores.xlsx.zip import Package

DATA = Path(__file__).parent / "data"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def whole(path: Path, sheet: str) -> list[list]:
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(
        skip_empty_area=False)


def pieces(path: Path, sheet: str, count: int) -> list[list]:
    pkg = Package.open(str(path))
    return sheet_values(pkg, Workbook(pkg), sheet, pieces=count, min_bytes=0)


def cut(path: Path, sheet: str, count: int) -> list[list] | None:
    pkg = Package.open(str(path))
    wb = Workbook(pkg)
    return values_in_pieces(pkg, wb, wb.sheets[sheet], sheet, count)


def with_sheet_xml(base: Path, out: Path, xml: str) -> Path:
    """``base`` (an openpyxl workbook of one sheet "S") with that sheet's XML replaced."""
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = xml.encode() if info.filename == "xl/worksheets/sheet1.xml" else src.read(info.filename)
            dst.writestr(info.filename, data)
    return out


@pytest.fixture
def base(tmp_path: Path) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "S"
    wb.active["A1"] = "x"
    path = tmp_path / "base.xlsx"
    wb.save(path)
    return path


def test_a_sheettrack_workbook_is_cut_and_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "runs.xlsx"
    sheettrack.log_many(path, [{"params": {"lr": 0.1 * i, "model": f"m{i % 3}"}, "metrics": {"accuracy": i / 400},
                                "notes": f"run {i} & <more>", "tags": {"seed": i}} for i in range(300)])
    expected = whole(path, "Runs")
    assert len(expected) == 301
    for count in (2, 3, 7):
        got = cut(path, "Runs", count)
        assert got is not None, "the ordinary workbook must be cut, not parsed whole"
        assert got == expected
    assert len(cut_rows(Package.open(str(path)).read("xl/worksheets/sheet1.xml"), 3).runs) == 3


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "excel").glob("*.xlsx")))
def test_workbooks_saved_by_excel_read_the_same(name: str) -> None:
    path = DATA / "excel" / name
    for sheet in python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names:
        try:
            expected = whole(path, sheet)
        except python_calamine.CalamineError:
            continue  # a chart sheet and the like: no cells
        for count in (2, 5):
            assert pieces(path, sheet, count) == expected, (name, sheet, count)


def test_gaps_shared_strings_dates_and_a_late_start(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for r in range(5, 40):  # nothing before C5; openpyxl writes shared strings
        ws.cell(r, 3, f"text {r % 4}")
        ws.cell(r, 4, r * 1.5)
        if r % 3:
            ws.cell(r, 6, dt.datetime(2024, 1, r % 28 + 1, 12, 30))
    for r in range(60, 70):  # a gap of empty rows, and a row reaching further right
        ws.cell(r, 3, r)
    ws.cell(65, 9, "far right")
    path = tmp_path / "gaps.xlsx"
    wb.save(path)
    expected = whole(path, "S")
    for count in (2, 3, 4, 9):
        got = cut(path, "S", count)
        assert got is not None
        assert got == expected


def test_a_prefixed_worksheet_is_cut_and_reads_the_same(base: Path, tmp_path: Path) -> None:
    rows = "".join(f'<x:row r="{r}"><x:c r="A{r}"><x:v>{r}</x:v></x:c><x:c r="B{r}" t="inlineStr">'
                   f"<x:is><x:t>r{r}</x:t></x:is></x:c></x:row>" for r in range(1, 50))
    path = with_sheet_xml(base, tmp_path / "prefixed.xlsx",
                          f'<x:worksheet xmlns:x="{NS}"><x:sheetData>{rows}</x:sheetData></x:worksheet>')
    expected = whole(path, "S")
    assert len(expected) == 49
    got = cut(path, "S", 4)
    assert got is not None
    assert got == expected


@pytest.mark.parametrize("case", ["no row numbers", "a comment", "rows out of order"])
def test_rows_that_cannot_be_cut_safely_are_parsed_whole(base: Path, tmp_path: Path, case: str) -> None:
    numbers = list(range(1, 41))
    if case == "rows out of order":
        numbers = numbers[20:] + numbers[:20]
    rows = [f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in numbers]
    if case == "no row numbers":
        rows = [f"<row><c><v>{r}</v></c></row>" for r in numbers]
    if case == "a comment":
        rows.insert(20, "<!-- </row><row r=\"99\"> -->")
    path = with_sheet_xml(base, tmp_path / "odd.xlsx",
                          f'<worksheet xmlns="{NS}"><sheetData>{"".join(rows)}</sheetData></worksheet>')
    expected = whole(path, "S")
    assert cut(path, "S", 3) is None
    assert pieces(path, "S", 3) == expected
    assert len(expected) == 40


@pytest.mark.parametrize("damage", [
    '<row r="30"><c r="A30"><v>1</v></c>',  # a row never closed
    '<row r="30"><c r="A30"><v>1</v></c></rox>',  # a wrong closing tag
    '<row r="30"><c r="A30" t="s"><v>7</v></c></row>',  # a shared string that is not there
    '<row r="30"><c r="A30" t="e"><v>#DIV/0!</v></c></row>',  # an error value
])
def test_a_damaged_worksheet_reads_as_the_whole_parse_does(base: Path, tmp_path: Path, damage: str) -> None:
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 30))
    path = with_sheet_xml(base, tmp_path / "bad.xlsx",
                          f'<worksheet xmlns="{NS}"><sheetData>{rows}{damage}</sheetData></worksheet>')
    try:
        expected = whole(path, "S")
    except python_calamine.CalamineError as exc:
        with pytest.raises(type(exc)):
            pieces(path, "S", 3)
    else:
        assert pieces(path, "S", 3) == expected


def test_the_store_reads_a_large_runs_sheet_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheettrack.stores.xlsx import grid

    path = tmp_path / "runs.xlsx"
    sheettrack.log_many(path, [{"params": {"lr": i / 10}, "metrics": {"accuracy": i / 100}} for i in range(120)])
    calls = []
    real = grid.values_in_pieces
    monkeypatch.setattr(grid, "PIECE_MIN_BYTES", 0)
    monkeypatch.setattr(grid, "values_in_pieces", lambda *a: calls.append(a[-1]) or real(*a))
    monkeypatch.setattr(grid, "cores", lambda: 2)
    df = sheettrack.load(path)
    assert calls == [2]
    assert len(df) == 120 and df["accuracy"].tolist() == [i / 100 for i in range(120)]


def test_a_worksheet_failing_its_checksum_is_refused(base: Path, tmp_path: Path) -> None:
    from sheettrack.errors import CorruptWorkbookError
    from sheettrack.stores.xlsx.zip import stored_zip

    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 40))
    xml = f'<worksheet xmlns="{NS}"><sheetData>{rows}</sheetData></worksheet>'.encode()
    with zipfile.ZipFile(base) as src:
        members = [(n, src.read(n), None) for n in src.namelist() if n != "xl/worksheets/sheet1.xml"]
    changed = xml.replace(b"<v>17</v>", b"<v>71</v>")  # bytes changed after their CRC was taken
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(stored_zip([*members, ("xl/worksheets/sheet1.xml", changed, zlib.crc32(xml))]))
    with pytest.raises(python_calamine.CalamineError):
        whole(bad, "S")
    pkg = Package.open(str(bad))
    with pytest.raises(CorruptWorkbookError, match="checksum"):
        sheet_values(pkg, Workbook(pkg), "S", pieces=3, min_bytes=0)
