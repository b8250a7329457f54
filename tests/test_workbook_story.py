"""The stakeholder's workbook: the lecture's scenario judged on the Hypotheses sheet, the tab
order, honest charts and highlights, and the printed pages, read back by calamine, the raw
XML and LibreOffice (never only by the code that wrote them)."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import read_calamine, write_records, zip_members

import sheettrack

START = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
H0 = "a linear model is a strong baseline"
H1 = "one hidden layer on 1,000 images beats the linear model"
H2 = "two hidden layers on 2,000 images beat one layer"
H3 = "a batch of 512 trains as well"


def _run(i: int, model: str, hyp: str, acc: float, status: str = "finished", **params: Any) -> dict[str, Any]:
    started = START + dt.timedelta(hours=i)
    return {"run": {"run_id": f"01LECTURE{i:017d}", "started_at": started,
                    "ended_at": started + dt.timedelta(minutes=5), "status": status},
            "params": {"model": model, **params}, "metrics": {"accuracy": acc},
            "notes": {"hypothesis": hyp}, "provenance": {"git_commit": f"{i:040x}"}}


def _lecture(path: Path, tagged: bool = False) -> Path:
    """The lecture: a logistic-regression baseline, one hidden layer on 1,000 images (twice),
    two layers on 2,000 (one run interrupted at 40%), and a hypothesis whose one run failed."""
    sheettrack.init(path, "classification")
    runs = [_run(0, "logreg", H0, 0.93, n_images=2000),
            _run(1, "mlp", H1, 0.91, n_images=1000, hidden_layers=[32]),
            _run(2, "mlp", H1, 0.94, n_images=1000, hidden_layers=[32]),
            _run(3, "mlp", H2, 0.40, "interrupted", n_images=2000, hidden_layers=[64, 32]),
            _run(4, "mlp", H2, 0.935, n_images=2000, hidden_layers=[64, 32]),
            _run(5, "mlp", H3, 0.10, "failed", n_images=2000, batch_size=512)]
    if tagged:
        runs[0]["tags"] = {"baseline": True}
    write_records(path, runs, "classification")
    return path


def _table(path: Path, sheet: str) -> tuple[str, list[dict[str, Any]]]:
    rows = read_calamine(path, sheet)
    header = [str(h) for h in rows[1]]
    return str(rows[0][0]), [dict(zip(header, r)) for r in rows[2:] if any(v not in ("", None) for v in r)]


def test_the_lecture_hypotheses_are_judged_as_by_hand(tmp_book: Path) -> None:
    sheettrack.summarize(_lecture(tmp_book))
    title, rows = _table(tmp_book, "Hypotheses")
    assert "(the run tagged baseline, else the best finished run logged before the hypothesis's first run)" in title
    by = {r["hypothesis"]: r for r in rows}
    assert [r["hypothesis"] for r in rows] == [H0, H1, H2, H3]  # in the order first tried
    # H0 is first: nothing before it to compare with
    assert (by[H0]["runs"], by[H0]["finished"], by[H0]["verdict"]) == (1, 1, "no baseline")
    # H1: best 0.94 against the best run before 10:00, the baseline's 0.93: +0.01
    assert (by[H1]["runs"], by[H1]["finished"], by[H1]["verdict"]) == (2, 2, "supported")
    assert math.isclose(by[H1]["best accuracy"], 0.94) and math.isclose(by[H1]["baseline accuracy"], 0.93)
    assert math.isclose(by[H1]["change"], 0.01)
    assert by[H1]["baseline run"] == "01LECTURE" + "0" * 17  # not a ULID: its short id is the whole id
    # H2: the interrupted run is counted but never judged; 0.935 against H1's 0.94: not supported
    assert (by[H2]["runs"], by[H2]["finished"], by[H2]["verdict"]) == (2, 1, "not supported")
    assert math.isclose(by[H2]["baseline accuracy"], 0.94) and math.isclose(by[H2]["change"], -0.005)
    assert (by[H3]["runs"], by[H3]["finished"], by[H3]["verdict"]) == (1, 0, "too few runs")

    # the pivots count finished runs only: mlp 0.91, 0.94, 0.935 (not the interrupted 0.40)
    title, pivot = _table(tmp_book, "By model")
    assert "(4 finished runs" in title
    mlp = next(r for r in pivot if r["model"] == "mlp")
    assert mlp["accuracy count"] == 3 and math.isclose(mlp["accuracy mean"], (0.91 + 0.94 + 0.935) / 3)
    assert [r["model"] for r in pivot] == ["logreg", "mlp"]  # 0.93 > 0.928: the mean ranks
    _, overview = _table(tmp_book, "Overview")
    counts = {r["about"].strip(): r["value"] for r in overview if isinstance(r["about"], str) and r["value"] != ""}
    assert (counts["runs"], counts["finished"], counts["interrupted"], counts["failed"]) == (6, 4, 1, 1)
    assert counts["best run"].startswith(f"01LECTURE{2:017d}: ") and "accuracy 94.00%" in counts["best run"]


def test_a_run_tagged_baseline_is_every_hypothesis_s_baseline(tmp_book: Path) -> None:
    sheettrack.summarize(_lecture(tmp_book, tagged=True))
    by = {r["hypothesis"]: r for r in _table(tmp_book, "Hypotheses")[1]}
    assert by[H0]["verdict"] == "baseline"
    assert by[H1]["verdict"] == "supported" and math.isclose(by[H1]["change"], 0.01)
    assert by[H2]["verdict"] == "supported" and math.isclose(by[H2]["change"], 0.005)  # 0.935 vs 0.93


def test_tabs_lead_with_the_overview_and_charts_and_highlights_are_honest(tmp_book: Path) -> None:
    sheettrack.summarize(_lecture(tmp_book))
    members = zip_members(tmp_book)
    sheets = re.findall(rb'<sheet name="([^"]+)"', members["xl/workbook.xml"])
    assert [s.decode() for s in sheets] == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size",
                                            "Progress", "Runs", "Schema"]
    charts = {n: m for n, m in members.items() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)}
    bars = [m for m in charts.values() if b"<c:barChart>" in m]
    lines = [m for m in charts.values() if b"<c:lineChart>" in m]
    assert bars and lines
    for xml in bars:  # every bar's value axis starts at zero
        val_axis = re.search(rb"<c:valAx>.*?</c:valAx>", xml).group(0)
        assert re.search(rb'<c:scaling><c:orientation val="minMax"/><c:min val="0"/></c:scaling>', val_axis)
    for xml in lines:  # a zooming line chart says so
        assert b"<c:min " not in xml and b"axis zoomed to the data" in xml
    for name, xml in members.items():
        if name.startswith("xl/worksheets/") and b"<conditionalFormatting" in xml:
            rules = re.findall(rb"<cfRule [^>]*>", xml)
            assert all(b'type="expression"' in r for r in rules)
            assert all(f.startswith(b"AND(ISNUMBER(") for f in re.findall(rb"<formula>([^<]*)</formula>", xml))


def test_libreoffice_prints_the_overview_first_naming_the_best_run(tmp_book: Path, libreoffice: Any) -> None:
    pypdf = pytest.importorskip("pypdf")
    sheettrack.summarize(_lecture(tmp_book))
    reader = pypdf.PdfReader(libreoffice.pdf(tmp_book))
    first = reader.pages[0].extract_text()
    assert "Overview" in first and "01LECTURE0000" in first and "94.00%" in first
    assert re.search(r"Page 1 of \d+", first) and f"{tmp_book.name}: Overview" in first
    # blank pivot cells are never "best": LibreOffice's own re-save keeps our formula rules
    saved = libreoffice.to_xlsx(tmp_book)
    assert read_calamine(saved, "Hypotheses")[2][0] == H0


def test_a_new_runs_sheet_is_laid_out_for_reading_and_printing(tmp_book: Path, libreoffice: Any) -> None:
    import openpyxl

    _lecture(tmp_book)
    ws = openpyxl.load_workbook(tmp_book)["Runs"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["run_id", "status", "hypothesis", "model"]
    assert header.index("accuracy") < header.index("notes") < header.index("started_at") < header.index("user")
    (group,) = [d for d in ws.column_dimensions.values() if d.outline_level]
    assert group.hidden  # collapsed: the default view shows what a reader compares
    folded = header[group.min - 1:group.max]
    assert folded[:2] == ["data_hash", "data"] and "git_commit" in folded and "model" not in folded
    assert ws.column_dimensions["A"].width >= 28  # a run id is 26 characters
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1" and "Page &P of &N" in ws.oddFooter.right.text
    # rows land under their header by name, and LibreOffice reads booleans as TRUE/FALSE
    lo = libreoffice.csv(tmp_book)["Runs"]
    col = {h: i for i, h in enumerate(lo[0])}
    assert [r[col["model"]] for r in lo[1:]] == ["logreg", "mlp", "mlp", "mlp", "mlp", "mlp"]
    assert lo[1][col["accuracy"]].endswith("%") and float(lo[1][col["accuracy"]][:-1]) == 93
    # the Runs rows are read back in full whatever the column order
    df = sheettrack.load(tmp_book)
    assert list(df["accuracy"])[:3] == [0.93, 0.91, 0.94]


def test_a_template_summary_can_count_every_run_whatever_its_status(tmp_path: Path) -> None:
    from sheettrack.errors import TemplateError
    from sheettrack.schema import load_template

    base = load_template("classification").to_dict()
    base["summaries"] = [{"name": "Every run", "index": ["model"], "values": ["accuracy"],
                          "aggfunc": ["count"], "runs": "all"}]
    book = tmp_path / "all.xlsx"
    sheettrack.init(book, base)
    write_records(book, [_run(0, "mlp", H1, 0.9), _run(1, "mlp", H1, 0.4, "interrupted")], base)
    sheettrack.summarize(book)
    title, rows = _table(book, "Every run")
    assert "(2 runs" in title and rows[0]["accuracy count"] == 2
    with pytest.raises(TemplateError, match="'runs' must be one of finished, all"):
        load_template({**base, "summaries": [{**base["summaries"][0], "runs": "some"}]})


def _view(path: Path) -> tuple[int, list[str]]:
    xml = zip_members(path)["xl/workbook.xml"]
    active = int(re.search(rb'activeTab="(\d+)"', xml).group(1)) if b"activeTab=" in xml else 0
    return active, [s.decode() for s in re.findall(rb'<sheet name="([^"]+)"', xml)]


def test_the_workbook_opens_on_the_overview_unless_a_person_picked_a_tab(tmp_book: Path, tmp_path: Path) -> None:
    import openpyxl

    sheettrack.summarize(_lecture(tmp_book))
    active, names = _view(tmp_book)
    assert names[active] == "Overview"
    assert openpyxl.load_workbook(tmp_book).active.title == "Overview"
    # a person opened Runs and saved: the workbook keeps opening where they left it
    theirs = _lecture(tmp_path / "theirs.xlsx")
    wb = openpyxl.load_workbook(theirs)
    wb.active = wb["Schema"]
    wb["Schema"].sheet_view.tabSelected = True
    wb.save(theirs)
    sheettrack.summarize(theirs)
    active, names = _view(theirs)
    assert names[active] == "Schema" and names[0] == "Overview"
