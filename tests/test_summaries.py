"""Summary sheets, the leaderboard and charts, checked with readers other than sheettrack.

Pivot figures are recomputed here from the raw Runs rows as python-calamine reads them
(plain Python grouping, not sheettrack's code); LibreOffice reads the built sheets back and
prints them to PDF; openpyxl and the raw XML show the charts, formats and highlights.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import statistics
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from helpers import PngImage, png_bytes, read_calamine, sha256, write_records, zip_members
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment

import sheettrack
from sheettrack import StoreError
from sheettrack.cli import main
from sheettrack.stores import open_store
from sheettrack.stores.xlsx.append import SheetIndex
from sheettrack.stores.xlsx.parts import Workbook, built_sheets
from sheettrack.stores.xlsx.zip import Package

MODELS = ("mlp", "cnn", "logreg")
SIZES = (500, 1000, 2000)
START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def _fields(i: int, template: str = "classification") -> dict[str, dict[str, Any]]:
    """Run ``i``: deterministic params and metrics; every seventh run failed, one has no model."""
    acc = 0.6 + ((i * 37) % 40) / 100
    started = START + dt.timedelta(minutes=13 * i)
    status = "failed" if i % 7 == 6 else "finished"
    params: dict[str, Any] = {"n_images": SIZES[i % 3 if i % 4 else 1], "lr": round(0.001 * (1 + i % 5), 6),
                              "epochs": 5 + i % 3}
    if i != 11:
        params["model"] = MODELS[(i // 2) % 3]
    metrics = {"accuracy": acc, "f1": round(acc - 0.05 + (i % 3) / 100, 6), "loss": 1 - acc}
    if i == 5:
        metrics.pop("f1")
    if template == "regression":
        metrics = {"rmse": round(1.5 - acc, 6), "accuracy": acc}
    return {"run": {"run_id": f"01RUN{i:021d}", "started_at": started,
                    "ended_at": started + dt.timedelta(seconds=30), "status": status},
            "params": params, "metrics": metrics, "notes": {"notes": f"note {i}"},
            "data": {"data_hash": f"d{i % 4}"},
            "provenance": {"git_commit": f"{i // 5:040x}", "user": "ana"}}


def _book(path: Path, n: int = 24, template: str = "classification") -> Path:
    sheettrack.init(path, template)
    write_records(path, [_fields(i, Path(template).stem) for i in range(n)], template)
    return path


@pytest.fixture
def book(tmp_book: Path) -> Path:
    return _book(tmp_book)


def _raw_runs(path: Path) -> list[dict[str, Any]]:
    rows = read_calamine(path, "Runs")
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:]]


def _sheet(path: Path, name: str) -> list[list[Any]]:
    return read_calamine(path, name)


def _close(a: Any, b: Any) -> bool:
    if b is None:
        return a in ("", None)
    return isinstance(a, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _group(runs: list[dict[str, Any]], keys: tuple[str, ...], value: str) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = defaultdict(list)
    for r in runs:
        k = tuple(r[c] for c in keys)
        if any(x in ("", None) for x in k):
            continue
        out[k]
        if r[value] not in ("", None):
            out[k].append(float(r[value]))
    return out


AGG = {"mean": statistics.fmean, "max": max, "min": min, "count": len, "sum": math.fsum,
       "median": statistics.median, "std": statistics.stdev}


def _agg(name: str, values: list[float]) -> float | None:
    if name == "count":
        return len(values)
    if not values or (name == "std" and len(values) < 2):
        return None
    return AGG[name](values)


# --------------------------------------------------------------------------- pivots


def test_pivot_figures_match_pandas_free_grouping_of_the_raw_rows(book: Path) -> None:
    assert sheettrack.summarize(book) == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size",
                                          "Progress"]
    runs = [r for r in _raw_runs(book) if r["status"] == "finished"]  # built-in summaries count these
    assert len(runs) == 21
    sheet = _sheet(book, "By model")
    assert sheet[0][0].startswith("By model: mean, max, count of accuracy, f1 by model (21 finished runs")
    header = sheet[1][:7]
    assert header == ["model", "accuracy mean", "accuracy max", "accuracy count", "f1 mean", "f1 max",
                      "f1 count"]
    body = [r for r in sheet[2:] if r[0] != ""]
    expected = {}
    for value in ("accuracy", "f1"):
        for key, vals in _group(runs, ("model",), value).items():
            for agg in ("mean", "max", "count"):
                expected[(key[0], f"{value} {agg}")] = _agg(agg, vals)
    assert sorted(r[0] for r in body) == sorted(MODELS)
    for row in body:
        for i, name in enumerate(header[1:], start=1):
            assert _close(row[i], expected[(row[0], name)]), (row[0], name, row[i])
    # sorted by accuracy (the first aggregate: mean), best first
    means = [r[1] for r in body]
    assert means == sorted(means, reverse=True)


def test_pivot_with_columns_matches_the_raw_rows(book: Path) -> None:
    sheettrack.summarize(book)
    runs = [r for r in _raw_runs(book) if r["status"] == "finished"]
    sheet = _sheet(book, "By data size")
    header = sheet[1]
    assert header[0] == "n_images"
    assert set(h for h in header[1:] if h) == {f"accuracy max ({m})" for m in MODELS}
    groups = _group(runs, ("n_images", "model"), "accuracy")
    for row in sheet[2:]:
        for i, h in enumerate(header[1:], start=1):
            if not h:
                continue
            model = re.fullmatch(r"accuracy max \((\w+)\)", h).group(1)
            vals = groups.get((row[0], model), [])
            assert _close(row[i], max(vals) if vals else None), (row[0], h)


def test_adhoc_summary_from_the_cli_with_where_and_several_aggregates(book: Path) -> None:
    result = CliRunner().invoke(main, ["summarize", str(book), "--by", "model", "--values", "loss",
                                       "--agg", "median,min,std,sum,count", "--where",
                                       "status == 'finished'", "--name", "Loss"])
    assert result.exit_code == 0, result.output
    assert "wrote Loss" in result.output
    runs = [r for r in _raw_runs(book) if r["status"] == "finished"]
    sheet = _sheet(book, "Loss")
    assert sheet[1][:6] == ["model", "loss median", "loss min", "loss std", "loss sum", "loss count"]
    groups = _group(runs, ("model",), "loss")
    assert sorted(r[0] for r in sheet[2:]) == sorted(MODELS)
    for row in sheet[2:]:
        for i, agg in enumerate(("median", "min", "std", "sum", "count"), start=1):
            assert _close(row[i], _agg(agg, groups[(row[0],)])), (row[0], agg)
    # an ad hoc summary builds only its own sheet
    assert "Leaderboard" not in openpyxl.load_workbook(book, read_only=True).sheetnames


def test_template_where_sort_and_top(tmp_path: Path) -> None:
    template = tmp_path / "ranked.yaml"
    template.write_text(
        "name: ranked\nextends: classification\nsummaries:\n"
        "  - {name: Top sizes, index: [n_images], values: [accuracy], aggfunc: [mean, count],\n"
        "     where: \"accuracy > 0.7 and status == 'finished'\", sort: {by: accuracy, ascending: true}, top: 2}\n")
    path = tmp_path / "ranked.xlsx"
    _book(path, template=str(template))
    sheettrack.summarize(path)
    runs = [r for r in _raw_runs(path) if r["accuracy"] > 0.7 and r["status"] == "finished"]
    groups = _group(runs, ("n_images",), "accuracy")
    ranked = sorted(groups.items(), key=lambda kv: statistics.fmean(kv[1]))[:2]
    sheet = _sheet(path, "Top sizes")
    assert [r[0] for r in sheet[2:]] == [k[0] for k, _ in ranked]
    assert [r[2] for r in sheet[2:]] == [len(v) for _, v in ranked]


def test_a_summary_that_cannot_be_computed_names_the_column_and_writes_nothing(book: Path) -> None:
    before = sha256(book)
    result = CliRunner().invoke(main, ["summarize", str(book), "--by", "n_images", "--values", "model",
                                       "--agg", "mean"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "'model'" in result.output and "mean needs numbers" in result.output
    result = CliRunner().invoke(main, ["summarize", str(book), "--by", "nope", "--values", "accuracy"])
    assert result.exit_code == 1 and "'nope'" in result.output
    result = CliRunner().invoke(main, ["summarize", str(book), "--by", "model", "--values", "accuracy",
                                       "--agg", "mode"])
    assert result.exit_code == 1 and "aggfunc" in result.output
    assert sha256(book) == before


# --------------------------------------------------------------------------- presentation


def _chart_refs(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Sheet name -> its charts (kind, title, c:f references), followed through the rels."""
    members = zip_members(path)

    def rels(part: str) -> dict[str, tuple[str, str]]:
        folder, name = part.rsplit("/", 1)
        data = members.get(f"{folder}/_rels/{name}.rels")
        out = {}
        for m in re.finditer(rb"<Relationship\b[^>]*>", data or b""):
            tag = m.group().decode()
            rid = re.search(r'Id="([^"]+)"', tag).group(1)
            out[rid] = (re.search(r'Type="([^"]+)"', tag).group(1),
                        re.search(r'Target="([^"]+)"', tag).group(1))
        return out

    def resolve(base: str, target: str) -> str:
        parts = base.rsplit("/", 1)[0].split("/")
        for p in target.split("/"):
            if p == "..":
                parts.pop()
            else:
                parts.append(p)
        return "/".join(parts)

    wb_rels = rels("xl/workbook.xml")
    out: dict[str, list[dict[str, Any]]] = {}
    for m in re.finditer(rb'<sheet name="([^"]+)"[^>]*r:id="([^"]+)"', members["xl/workbook.xml"]):
        name = html.unescape(m.group(1).decode())
        sheet_part = resolve("xl/workbook.xml", wb_rels[m.group(2).decode()][1])
        charts = []
        for kind, target in rels(sheet_part).values():
            if kind.endswith("/drawing"):
                drawing = resolve(sheet_part, target)
                for ckind, ctarget in rels(drawing).values():
                    if ckind.endswith("/chart"):
                        xml = members[resolve(drawing, ctarget)].decode()
                        charts.append({
                            "kind": "line" if "<c:lineChart>" in xml else "bar" if "<c:barChart>" in xml else "?",
                            "refs": re.findall(r"<c:f>([^<]+)</c:f>", xml),
                            "title": re.search(r"<a:t>([^<]+)</a:t>", xml).group(1),
                            "smooth": re.findall(r'<c:smooth val="(\d)"/>', xml)})
        out[name] = charts
    return out


def test_charts_point_at_the_right_ranges(book: Path) -> None:
    sheettrack.summarize(book)
    charts = _chart_refs(book)
    assert charts["Runs"] == [] and charts["Schema"] == [] and charts["Progress"] == []
    (by_model,) = charts["By model"]
    assert by_model["kind"] == "bar"
    assert by_model["refs"] == ["'By model'!$A$3:$A$5", "'By model'!$B$3:$B$5"]
    assert _sheet(book, "By model")[1][1] == "accuracy mean"
    (by_size,) = charts["By data size"]
    assert by_size["refs"][0::2] == ["'By data size'!$A$3:$A$5"] * 3
    assert by_size["refs"][1::2] == ["'By data size'!$B$3:$B$5", "'By data size'!$C$3:$C$5",
                                     "'By data size'!$D$3:$D$5"]
    (line,) = charts["Leaderboard"]
    progress = _sheet(book, "Progress")
    n = len(progress) - 2
    finished = [r for r in _raw_runs(book) if r["status"] == "finished"]
    assert n == len(finished)
    assert line["kind"] == "line" and line["smooth"] == ["0", "0"]
    assert line["refs"] == [f"'Progress'!$A$3:$A${n + 2}", f"'Progress'!$D$3:$D${n + 2}",
                            f"'Progress'!$A$3:$A${n + 2}", f"'Progress'!$E$3:$E${n + 2}"]
    assert progress[1][3:5] == ["accuracy", "best accuracy so far"]
    # time order, and the running best
    assert [r[2] for r in progress[2:]] == [r["run_id"] for r in finished]
    assert [r[1] for r in progress[2:]] == [r["started_at"] for r in finished]
    best = -1.0
    for row in progress[2:]:
        best = max(best, row[3])
        assert row[4] == best
    wb = openpyxl.load_workbook(book)
    assert [len(wb[s]._charts) for s in ("By model", "By data size", "Leaderboard")] == [1, 1, 1]


def test_formats_highlights_and_frozen_header(tmp_path: Path) -> None:
    path = _book(tmp_path / "reg.xlsx", template="regression")
    sheettrack.summarize(path, by="model", values="accuracy,rmse", agg="mean,count", name="Mixed")
    wb = openpyxl.load_workbook(path)
    ws = wb["Mixed"]
    assert ws.freeze_panes == "B3"
    assert ws["A1"].font.b and ws["A1"].value.startswith("Mixed: mean, count of accuracy, rmse by model")
    assert ws["A2"].font.b and ws["A2"].fill.fgColor.rgb == "FF305496"
    header = [c.value for c in ws[2]]
    col = {h: openpyxl.utils.get_column_letter(i + 1) for i, h in enumerate(header)}
    assert ws[f"{col['rmse mean']}3"].number_format == "0.0000"
    assert ws[f"{col['accuracy count']}3"].number_format == "0"
    rules = {str(cf.sqref): [(r.type, r.formula, r.dxfId) for r in cf.rules]
             for cf in ws.conditional_formatting}
    rmse = rules[f"{col['rmse mean']}3:{col['rmse mean']}5"]
    c = col["rmse mean"]  # lower is better for rmse; a blank cell is never a number, never marked
    assert [r[:2] for r in rmse] == [("expression", [f"AND(ISNUMBER({c}3),{c}3=MIN(${c}$3:${c}$5))"])]
    c = col["accuracy mean"]
    assert rules[f"{c}3:{c}5"][0][:2] == ("expression", [f"AND(ISNUMBER({c}3),{c}3=MAX(${c}$3:${c}$5))"])
    assert not any(k.startswith(col["accuracy count"]) for k in rules)
    dxf = wb._differential_styles[rmse[0][2]]
    assert dxf.fill.bgColor.rgb == "FFC6EFCE"

    sheettrack.summarize(path)  # the template's own: percent formats kept in the classification
    book = tmp_path / "cls.xlsx"
    _book(book)
    sheettrack.summarize(book)
    ws = openpyxl.load_workbook(book)["By model"]
    assert ws["B3"].number_format == "0.00%" and ws["E3"].number_format == "0.00%"  # accuracy and f1 alike


def test_libreoffice_reads_the_summaries_and_prints_them_to_pdf(book: Path, libreoffice: Any,
                                                                tmp_path: Path) -> None:
    import pypdf

    sheettrack.summarize(book)
    sheets = libreoffice.csv(book)
    assert {"Runs", "Schema", "By model", "By data size", "Leaderboard", "Progress"} <= set(sheets)
    ours = _sheet(book, "By model")
    lo = sheets["By model"]
    assert lo[1][:7] == ours[1][:7]
    for mine, theirs in zip(ours[2:], lo[2:]):
        assert theirs[0] == mine[0]
        assert theirs[1].endswith("%")  # LibreOffice sees the schema's percent format
        assert math.isclose(float(theirs[1][:-1]) / 100, mine[1], rel_tol=1e-12)
        assert theirs[4].endswith("%")  # the template's metrics share one number style
        assert theirs[3] == str(int(mine[3]))  # a count is a count
    top = sheettrack.best(book, n=1)
    assert sheets["Leaderboard"][2][1] == top["run_id"][0]

    reader = pypdf.PdfReader(libreoffice.pdf(book))
    texts = [page.extract_text() for page in reader.pages]
    for title in ("By model: mean, max, count of accuracy", "By data size: max of accuracy",
                  "Leaderboard: top 10 finished runs by accuracy", "Progress: accuracy of"):
        pages = [i for i, t in enumerate(texts) if title in t.replace("\n", " ")]
        assert pages, f"no PDF page shows {title!r}"
    page = next(t for t in texts if "By model: mean" in t)
    assert all(m in page for m in MODELS)


# --------------------------------------------------------------------------- people's work


def _add_people_work(path: Path, png: bytes) -> None:
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
    ws.print_area = "A1:B4"  # a sheet-level defined name
    wb["Runs"]["A1"].comment = Comment("one row per training run", "Jane Doe")
    # a sheet of the same look as a summary, under another name
    look = wb.create_sheet("Leaderboard (mine)")
    look["A1"] = "Leaderboard: top 3 finished runs by accuracy"
    look.append(["rank", "run_id", "accuracy"])
    wb.save(path)


def test_people_parts_survive_three_summarize_runs(tmp_book: Path, libreoffice: Any) -> None:
    png = png_bytes(4, 3)
    _book(tmp_book)
    _add_people_work(tmp_book, png)
    before = zip_members(tmp_book)
    theirs = {n for n in before if n.startswith(("xl/charts/", "xl/drawings/", "xl/media/", "xl/comments",
                                                 "xl/worksheets/"))}
    assert "xl/charts/chart1.xml" in theirs and "xl/media/image1.png" in theirs
    for _ in range(3):
        sheettrack.summarize(tmp_book)
    after = zip_members(tmp_book)
    for name in theirs:  # the Runs sheet, their sheets, chart, image, comments: byte for byte
        assert after[name] == before[name], name
    names = openpyxl.load_workbook(tmp_book, read_only=True).sheetnames
    assert names == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress",
                     "Runs", "Schema", "Mine", "Leaderboard (mine)"]  # their tabs keep their order
    wb = openpyxl.load_workbook(tmp_book)
    assert len(wb["Mine"]._charts) == 1
    assert wb["Mine"]["A1"].comment.text == "scores from the whiteboard"
    assert wb["Runs"]["A1"].comment.text == "one row per training run"
    assert wb["Mine"].print_area == "'Mine'!$A$1:$B$4"
    assert wb["Leaderboard (mine)"]["A1"].value == "Leaderboard: top 3 finished runs by accuracy"
    assert built_sheets(Workbook(Package.open(str(tmp_book)))) == {
        "Overview", "Hypotheses", "By model", "By data size", "Leaderboard", "Progress"}
    # reruns reuse their parts and styles: nothing accumulates
    parts = set(after)
    styles = after["xl/styles.xml"]
    sheettrack.summarize(tmp_book)
    latest = zip_members(tmp_book)
    assert set(latest) == parts and latest["xl/styles.xml"] == styles
    assert latest["xl/workbook.xml"] == after["xl/workbook.xml"]

    saved = libreoffice.to_xlsx(tmp_book)
    lo = zip_members(saved)
    assert png in [data for name, data in lo.items() if name.startswith("xl/media/")]
    assert sum(1 for name in lo if re.fullmatch(r"xl/charts/chart\d+\.xml", name)) == 5  # Overview's too
    assert read_calamine(saved, "Mine") == [["model", "score"], ["a", 3.0], ["b", 5.0], ["c", 4.0]]


def test_a_persons_sheet_with_a_summary_name_is_never_overwritten(book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    wb.create_sheet("By model")["A1"] = "my own notes"
    wb.save(book)
    before = sha256(book)
    result = CliRunner().invoke(main, ["summarize", str(book)])
    assert result.exit_code == 1
    assert "a sheet named 'By model' exists and sheettrack did not build it" in result.output
    assert sha256(book) == before
    assert read_calamine(book, "By model") == [["my own notes"]]


def test_a_built_sheet_renamed_by_a_person_is_theirs_to_keep(book: Path) -> None:
    sheettrack.summarize(book)
    xml = zip_members(book)["xl/workbook.xml"]
    # a person renames the built sheet in Excel; the marker name travels with it
    renamed = xml.replace(b'name="By model"', b'name="Kept"')
    _rewrite(book, {"xl/workbook.xml": renamed})
    sheettrack.summarize(book)
    names = openpyxl.load_workbook(book, read_only=True).sheetnames
    assert "Kept" in names and "By model" in names
    assert read_calamine(book, "Kept")[1][0] == "model"


def _rewrite(path: Path, parts: dict[str, bytes]) -> None:
    members = zip_members(path)
    members.update(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_appending_after_summarize_keeps_the_fast_path_and_the_sheets(book: Path, libreoffice: Any) -> None:
    sheettrack.summarize(book)
    pkg = Package.open(str(book))
    index = SheetIndex.parse(pkg.comment)  # the Runs member was copied as it was: the next
    assert index is not None and index.matches(pkg)  # append still takes the fast path
    run_id = sheettrack.log(book, params={"model": "mlp"}, metrics={"accuracy": 0.99})
    rows = read_calamine(book, "Runs")
    assert rows[-1][0] == run_id and len(rows) == 26
    sheettrack.summarize(book)
    assert sheettrack.best(book, n=1)["run_id"][0] == run_id
    sheets = libreoffice.csv(book)
    assert sheets["Leaderboard"][2][1] == run_id
    assert sheets["Runs"][-1][0] == run_id


def test_summarize_after_libreoffice_resaved_the_workbook(book: Path, libreoffice: Any, tmp_path: Path) -> None:
    sheettrack.summarize(book)
    saved = libreoffice.to_xlsx(book, tmp_path / "lo")
    assert built_sheets(Workbook(Package.open(str(saved)))) == {
        "Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress"}
    sheettrack.summarize(saved)  # recognised as sheettrack's: rebuilt, not refused
    sheettrack.log(saved, params={"model": "cnn"}, metrics={"accuracy": 0.5})
    names = openpyxl.load_workbook(saved, read_only=True).sheetnames
    assert names == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress", "Runs",
                     "Schema", "Environments"]
    assert len(read_calamine(saved, "Runs")) == 26


def test_removing_a_built_sheet_keeps_other_sheet_level_names(tmp_book: Path) -> None:
    _book(tmp_book)
    sheettrack.summarize(tmp_book, by="model", values="accuracy", name="Scratch")
    wb = openpyxl.load_workbook(tmp_book)
    wb.create_sheet("After")["A1"] = 1
    wb["After"].print_area = "A1:A1"
    wb.save(tmp_book)
    sheettrack.summarize(tmp_book)
    store = open_store(tmp_book)
    with pytest.raises(StoreError, match="'After' was not built by sheettrack"):
        store.write_sheets([], remove=["After"])
    store.write_sheets([], remove=["Scratch"])
    wb = openpyxl.load_workbook(tmp_book)
    assert wb.sheetnames == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress",
                             "Runs", "Schema", "After"]
    assert wb["After"].print_area == "'After'!$A$1"
    assert wb["By model"].print_title_rows == "$1:$2"  # the title and header on every page
    assert built_sheets(Workbook(Package.open(str(tmp_book)))) == {
        "Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress"}
    assert read_calamine(tmp_book, "By model")[1][0] == "model"


# --------------------------------------------------------------------------- best and compare


def test_best_ranks_finished_runs_by_the_primary_metric(book: Path) -> None:
    runs = [r for r in _raw_runs(book) if r["status"] == "finished"]
    expected = [r["run_id"] for r in sorted(runs, key=lambda r: -r["accuracy"])[:3]]
    top = sheettrack.best(book, n=3)
    assert list(top["run_id"]) == expected
    assert list(top["rank"]) == [1, 2, 3]
    assert {"model", "lr", "n_images", "data_hash", "git_commit", "notes"} <= set(top.columns)
    result = CliRunner().invoke(main, ["best", str(book), "--metric", "loss", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    by_loss = sorted(runs, key=lambda r: r["loss"])[:2]  # loss: lower is better
    assert [r["run_id"] for r in got] == [r["run_id"] for r in by_loss]


def test_best_on_a_regression_template_prefers_lower_rmse(tmp_path: Path) -> None:
    path = tmp_path / "reg.xlsx"
    sheettrack.init(path, "regression")
    for i, rmse in enumerate((0.5, 0.2, 0.9, 0.3)):
        sheettrack.log(path, params={"model": f"m{i}"}, metrics={"rmse": rmse})
    assert list(sheettrack.best(path, n=2)["rmse"]) == [0.2, 0.3]
    sheettrack.summarize(path)
    board = _sheet(path, "Leaderboard")
    assert [r[2] for r in board[2:]] == [0.2, 0.3, 0.5, 0.9]
    assert "lower is better" in board[0][0]


def test_best_needs_a_metric_when_the_template_has_none(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, metrics={"score": 1.0})
    result = CliRunner().invoke(main, ["best", str(tmp_book)])
    assert result.exit_code == 1 and "no primary metric" in result.output
    assert list(sheettrack.best(tmp_book, metric="score")["score"]) == [1.0]


def test_compare_marks_differing_fields(book: Path) -> None:
    a, b, c = "01RUN" + "0" * 21, f"01RUN{1:021d}", f"01RUN{2:021d}"
    df = sheettrack.compare(book, a, b, c)
    raw = {r["run_id"]: r for r in _raw_runs(book)}
    assert list(df.columns) == ["group", a, b, c, "differs"]
    assert df.loc["accuracy", a] == raw[a]["accuracy"]
    assert bool(df.loc["accuracy", "differs"]) is True
    assert bool(df.loc["user", "differs"]) is False
    assert df.loc["model", "group"] == "params"
    only = sheettrack.compare(book, a, b, only_changed=True)
    assert "user" not in only.index and "accuracy" in only.index and only["differs"].all()
    result = CliRunner().invoke(main, ["compare", str(book), a, b, "--only-changed", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["runs"] == [a, b]
    fields = {f["field"]: f for f in data["fields"]}
    assert fields["accuracy"]["values"] == {a: raw[a]["accuracy"], b: raw[b]["accuracy"]}
    assert "user" not in fields
    text = CliRunner().invoke(main, ["compare", str(book), a, b])
    assert text.exit_code == 0 and "differ (marked *)" in text.output
    bad = CliRunner().invoke(main, ["compare", str(book), a, "01NOPE"])
    assert bad.exit_code == 1 and "no run '01NOPE'" in bad.output


# --------------------------------------------------------------------------- export


def test_export_csv_markdown_and_parquet(book: Path, tmp_path: Path) -> None:
    import csv
    import io

    import pyarrow.parquet as pq

    raw = read_calamine(book, "Runs")
    result = CliRunner().invoke(main, ["export", str(book), "--to", "csv"])
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == [str(h) for h in raw[0]] and len(rows) == len(raw)
    col = rows[0].index("accuracy")
    assert [float(r[col]) for r in rows[1:]] == [r[col] for r in raw[1:]]

    out = tmp_path / "runs.parquet"
    assert CliRunner().invoke(main, ["export", str(book), "--to", "parquet", "-o", str(out)]).exit_code == 0
    table = pq.read_table(out).to_pydict()
    assert table["run_id"] == [r[0] for r in raw[1:]]
    assert table["accuracy"] == [r[col] for r in raw[1:]]

    md = CliRunner().invoke(main, ["export", str(book), "--to", "markdown", "--summary", "By model"])
    assert md.exit_code == 0
    lines = md.output.strip().splitlines()
    assert lines[0].startswith("| model | accuracy mean | accuracy max | accuracy count |")
    assert len(lines) == 2 + len(MODELS)
    bad = CliRunner().invoke(main, ["export", str(book), "--to", "csv", "--summary", "Nope"])
    assert bad.exit_code == 1 and "no summary 'Nope'" in bad.output and "'By model'" in bad.output
    assert CliRunner().invoke(main, ["export", str(book), "--to", "parquet"]).exit_code == 1


def test_parquet_without_pyarrow_is_one_clear_error(book: Path, tmp_path: Path, monkeypatch: Any) -> None:
    import builtins

    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("no pyarrow")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    result = CliRunner().invoke(main, ["export", str(book), "--to", "parquet", "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 1
    assert "pip install 'sheettrack[parquet]'" in result.output
    assert not (tmp_path / "x.parquet").exists()


def _png_colours(data: bytes) -> int:
    """Distinct pixel colours of an 8-bit RGB or RGBA PNG (no imaging library needed)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 3 == 0:
            colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 3))
        prev = line
    return len(colours)


def test_html_report_is_self_contained_and_renders_in_chromium(book: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess

    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["export", str(book), "--to", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text and "<link" not in text
    for heading in ("By model", "By data size", "Leaderboard"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count("<svg") == 3
    top = sheettrack.best(book, n=1)
    assert top["run_id"][0] in text
    assert f"{top['accuracy'][0] * 100:.2f}%" in text  # the schema's percent format

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the HTML was checked as text only")
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,900",
           out.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    assert _png_colours(shot.read_bytes()) > 20  # text, table stripes, highlights and bars, not a blank page


def test_sheet_names_that_need_quoting_and_a_filter_that_keeps_nothing(book: Path, libreoffice: Any) -> None:
    name = "R&D's <view>"
    sheettrack.summarize(book, by="model", values="accuracy", agg="mean", name=name)
    sheettrack.summarize(book, by="model", values="accuracy", agg="max", where="accuracy > 2", name="Empty")
    sheettrack.summarize(book, by="model", values="accuracy", agg="mean", name=name)  # rebuilt in place
    charts = _chart_refs(book)
    assert charts[name][0]["refs"] == ["'R&amp;D''s &lt;view&gt;'!$A$3:$A$5", "'R&amp;D''s &lt;view&gt;'!$B$3:$B$5"]
    assert charts["Empty"] == []
    assert read_calamine(book, "Empty")[1][:2] == ["model", "accuracy max"]
    assert len(read_calamine(book, "Empty")) == 2
    assert built_sheets(Workbook(Package.open(str(book)))) == {name, "Empty"}
    sheets = libreoffice.csv(book)
    assert sheets[name][1][:2] == ["model", "accuracy mean"] and len(sheets[name]) == 5


EXCEL_APP_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
    b'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    b"<Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>"
    b'<HeadingPairs><vt:vector size="4" baseType="variant"><vt:variant><vt:lpstr>Worksheets</vt:lpstr>'
    b"</vt:variant><vt:variant><vt:i4>2</vt:i4></vt:variant><vt:variant><vt:lpstr>Named Ranges</vt:lpstr>"
    b"</vt:variant><vt:variant><vt:i4>1</vt:i4></vt:variant></vt:vector></HeadingPairs>"
    b'<TitlesOfParts><vt:vector size="3" baseType="lpstr"><vt:lpstr>Runs</vt:lpstr><vt:lpstr>Schema</vt:lpstr>'
    b"<vt:lpstr>Runs!_FilterDatabase</vt:lpstr></vt:vector></TitlesOfParts><AppVersion>16.0300</AppVersion>"
    b"</Properties>")


def test_excel_document_properties_list_the_new_sheets(book: Path) -> None:
    import xml.etree.ElementTree as ET

    _rewrite(book, {"docProps/app.xml": EXCEL_APP_XML})
    sheettrack.summarize(book)
    root = ET.fromstring(zip_members(book)["docProps/app.xml"])
    ns = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
    pairs = [v[0].text for v in root.find(f"{ns}HeadingPairs")[0]]
    assert pairs == ["Worksheets", "8", "Named Ranges", "1"]
    titles = root.find(f"{ns}TitlesOfParts")[0]
    assert titles.get("size") == "9"
    assert [t.text for t in titles] == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size",
                                        "Progress", "Runs", "Schema", "Runs!_FilterDatabase"]
    assert root.find(f"{ns}AppVersion").text == "16.0300"


def test_a_workbook_open_in_excel_is_not_summarized(book: Path) -> None:
    owner = book.parent / f"~${book.name}"
    owner.write_bytes(bytes([8]) + b"Jane Doe".ljust(53, b" "))
    before = sha256(book)
    with pytest.raises(sheettrack.WorkbookLockedError, match="Jane Doe"):
        sheettrack.summarize(book)
    assert sha256(book) == before


def test_nothing_to_summarize_says_what_to_pass(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"model": "a"}, metrics={"score": 1.0})
    before = sha256(tmp_book)
    result = CliRunner().invoke(main, ["summarize", str(tmp_book)])
    assert result.exit_code == 1
    assert "no summaries and no primary metric; pass --by and --values" in result.output
    assert sha256(tmp_book) == before
    result = CliRunner().invoke(main, ["summarize", str(tmp_book), "--by", "model", "--values", "score"])
    assert result.exit_code == 0, result.output
    assert read_calamine(tmp_book, "By model")[2] == ["a", 1.0]


def test_reading_for_summaries_gives_what_load_gives_cell_by_cell(book: Path, monkeypatch: Any) -> None:
    import pandas as pd

    import sheettrack.frames as frames

    sheettrack.log(book, params={"model": "odd", "n_images": 2**60}, metrics={"accuracy": float("nan")},
                   notes="  spaced  ")
    fast = sheettrack.load(book)
    monkeypatch.setattr(frames, "fast_series", lambda ctype, raw: None)
    slow = sheettrack.load(book)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["n_images"].iloc[-1] == 2**60 and pd.isna(fast["f1"].iloc[5])
    _, some = frames.load_frame(book, columns={"model", "accuracy", "hidden_layers"}, json_as_text=True)
    assert list(some.columns) == ["model", "hidden_layers", "accuracy"]


def test_summary_columns_are_as_wide_as_their_values_as_shown(tmp_path: Path) -> None:
    """A percentage column is as wide as 97.56%, not as 0.9756097560975610: a Leaderboard of
    many columns shrinks less to fit its page."""
    book = tmp_path / "runs.xlsx"
    sheettrack.log_many(book, [{"params": {"lr": 0.1 * i}, "metrics": {"accuracy": 0.9 + i / 997}}
                               for i in range(1, 6)], template="classification")
    sheettrack.summarize(book)
    board = openpyxl.load_workbook(book)["Leaderboard"]
    header = [c.value for c in board[2]]
    assert board.column_dimensions[chr(ord("A") + header.index("accuracy"))].width <= 12
    assert board.column_dimensions[chr(ord("A") + header.index("run_id"))].width >= 28  # the whole id


def test_a_hypothesis_change_reads_as_a_signed_change(tmp_path: Path) -> None:
    """+2.00% and -1.00%: a change against the baseline never reads as a level."""
    book = tmp_path / "runs.xlsx"
    sheettrack.log(book, params={"lr": 0.1}, metrics={"accuracy": 0.90}, hypothesis="a baseline",
                   template="classification")
    sheettrack.log(book, params={"lr": 0.2}, metrics={"accuracy": 0.92}, hypothesis="more helps")
    sheettrack.log(book, params={"lr": 0.3}, metrics={"accuracy": 0.91}, hypothesis="even more helps")
    sheettrack.summarize(book)
    sheet = openpyxl.load_workbook(book)["Hypotheses"]
    header = [c.value for c in sheet[2]]
    col = header.index("change") + 1
    changes = {sheet.cell(r, 1).value: sheet.cell(r, col) for r in range(3, sheet.max_row + 1)}
    assert changes["more helps"].number_format == "+0.00%;-0.00%;0.00%"
    assert changes["more helps"].value == pytest.approx(0.02)
    assert changes["even more helps"].value == pytest.approx(-0.01)  # against the best before it
    page = sheettrack.export(book, to="html")
    assert "+2.00%" in page and "-1.00%" in page  # the HTML report shows it as the sheet does
