"""``sheettrack demo`` and the shell example: real runs of the examples, read back independently."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import read_calamine

from sheettrack.cli import main
from sheettrack.runids import short_id_map

pytest.importorskip("sklearn")
pytest.importorskip("optuna")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_demo_builds_a_workbook_of_real_runs(tmp_path: Path, libreoffice: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo", "demo.xlsx", "--trials", "2"])
    assert result.exit_code == 0, result.output
    assert "logged 2 digits MLPs, 4 grid-search candidates, 2 Optuna trials, 4 command-line runs" \
        in result.stdout
    assert "open demo.xlsx" in result.stdout and "sheettrack ls demo.xlsx" in result.stdout
    sheets = libreoffice.csv(tmp_path / "demo.xlsx")
    header, *rows = sheets["Runs"]
    assert len(rows) == 12 and "Schema" in sheets
    col = {name: i for i, name in enumerate(header)}
    mlps = [r for r in rows if r[col["model"]] == "mlp" and r[col["sweep_id"]] == ""]
    assert [r[col["n_images"]] for r in mlps] == ["1000", "1797"]
    assert all(float(r[col["accuracy"]].rstrip("%")) > 80 for r in mlps)  # trained for real (0.00% format)
    assert all(r[col["data_hash"]] for r in mlps)
    sweeps = {r[col["sweep_id"]] for r in rows} - {""}
    assert "logreg-C" in sweeps and any(s.startswith("digits-mlp-") for s in sweeps)
    grid = [r for r in rows if r[col["sweep_id"]].startswith("sweep-")]
    assert sorted(int(r[col["sweep_rank"]]) for r in grid) == [1, 2, 3, 4]
    assert {r[col["search"]] for r in grid} == {"GridSearchCV"}
    shell = [r for r in rows if r[col["model"]] == "logreg"]
    assert len(shell) == 4 and {r[col["source"]] for r in shell} == {"shell"}
    import openpyxl

    tabs = openpyxl.load_workbook(tmp_path / "demo.xlsx", read_only=True).sheetnames
    assert tabs[:6] == ["Overview", "Leaderboard", "Hypotheses", "By model", "By data size", "Progress"]
    grid_scores = [r[col["accuracy"]] for r in grid]
    assert all(v.endswith("%") for v in grid_scores)  # the search's score ranks as accuracy

    import pypdf

    reader = pypdf.PdfReader(libreoffice.pdf(tmp_path / "demo.xlsx"))
    assert len(reader.pages) <= 12  # the stakeholder's printout
    first = reader.pages[0].extract_text()
    best = max((r for r in rows if r[col["status"]] == "finished"), key=lambda r: float(r[col["accuracy"]][:-1]))
    short = short_id_map([r[col["run_id"]] for r in rows])[best[col["run_id"]]]
    assert len(short) >= 6 and best[col["run_id"]].endswith(short)
    assert "Overview" in first and short in first  # the short id ls shows, not the id's start
    assert best[col["run_id"]][:10] not in first
    assert f"accuracy {float(best[col['accuracy']][:-1]):.2f}%" in first


def test_demo_refuses_a_target_that_is_not_a_workbook(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'demo.csv'}: the demo workbook must end in .xlsx"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_shell_example_logs_single_runs_and_a_sweep(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(EXAMPLES / "log_from_shell.sh"), str(tmp_path / "shell.xlsx")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no problems found" in done.stdout
    values = read_calamine(tmp_path / "shell.xlsx")
    rows = [dict(zip(values[0], r)) for r in values[1:]]
    assert [r["model"] for r in rows] == ["ridge"] * 3 + ["lasso"] * 4
    lasso = [r for r in rows if r["model"] == "lasso"]
    assert {r["sweep_id"] for r in lasso} == {"lasso-grid"}
    by_rmse = sorted(lasso, key=lambda r: r["rmse"])
    assert [r["sweep_rank"] for r in by_rmse] == [1, 2, 3, 4]
