"""Batch logging: ``log_many``, sweep ids and ranks, the ``log-many`` command, cached provenance."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import read_calamine, sha256

import sheettrack
from sheettrack import ValidationError
from sheettrack.batch import rank
from sheettrack.cli import main
from sheettrack.stores.xlsx import ExcelStore


def runs(path: Path) -> list[dict[str, Any]]:
    """The Runs sheet read with python-calamine, one dict per row."""
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs.xlsx"


def grid(n: int = 6) -> list[dict[str, Any]]:
    return [{"params": {"model": "mlp", "lr": 10.0 ** -(i % 3), "batch_size": 16 * (1 + i // 3)},
             "metrics": {"accuracy": [0.91, 0.95, 0.93, 0.95, 0.80, 0.88][i % 6]}} for i in range(n)]


def test_log_many_writes_every_row_with_one_sweep_id_and_ranks(book: Path) -> None:
    ids = sheettrack.log_many(book, grid(), template="classification", hypothesis="small lr wins")
    rows = runs(book)
    assert [r["run_id"] for r in rows] == ids and len(set(ids)) == 6
    assert len({r["sweep_id"] for r in rows}) == 1 and rows[0]["sweep_id"].startswith("sweep-")
    # accuracy is the primary metric (max): 0.95 twice share rank 1, then 0.93 is 3rd
    assert [r["sweep_rank"] for r in rows] == [4, 1, 3, 1, 6, 5]
    assert all(r["hypothesis"] == "small lr wins" and r["status"] == "finished" for r in rows)
    assert [r["lr"] for r in rows] == [1.0, 0.1, 0.01, 1.0, 0.1, 0.01]


def test_lower_is_better_metric_ranks_ascending(book: Path) -> None:
    rows = [{"metrics": {"rmse": v}} for v in (3.0, 1.0, 2.0)]
    sheettrack.log_many(book, rows, template="regression", sweep_id="ridge-grid")
    got = runs(book)
    assert [r["sweep_rank"] for r in got] == [3, 1, 2]
    assert {r["sweep_id"] for r in got} == {"ridge-grid"}


def test_rank_by_and_goal_override_the_template(book: Path) -> None:
    rows = [{"metrics": {"loss": v, "accuracy": 1 - v}} for v in (0.3, 0.1, 0.2)]
    sheettrack.log_many(book, rows, template="classification", rank_by="loss", goal="min")
    assert [r["sweep_rank"] for r in runs(book)] == [3, 1, 2]


def test_failed_and_unscored_rows_get_no_rank(book: Path) -> None:
    rows = [{"metrics": {"accuracy": 0.9}}, {"status": "failed", "error": "diverged",
                                             "metrics": {"accuracy": 0.99}},
            {"params": {"lr": 1.0}}, {"metrics": {"accuracy": float("nan")}}]
    sheettrack.log_many(book, rows, template="classification")
    got = runs(book)
    assert [r["sweep_rank"] for r in got] == [1, "", "", ""]
    assert got[1]["status"] == "failed" and got[1]["error"] == "diverged"


def test_own_ranks_win_and_no_metric_leaves_ranks_empty(book: Path) -> None:
    sheettrack.log_many(book, [{"params": {"a": 1}, "sweep_rank": 2}, {"params": {"a": 2}}])
    got = runs(book)
    assert [r["sweep_rank"] for r in got] == [2, ""]


def test_no_sweep_leaves_the_sweep_columns_empty(book: Path) -> None:
    sheettrack.log_many(book, grid(2), template="classification", sweep_id=False)
    assert [(r["sweep_id"], r["sweep_rank"]) for r in runs(book)] == [("", ""), ("", "")]


def test_a_bad_row_names_its_index_and_nothing_is_written(book: Path) -> None:
    sheettrack.log(book, params={"lr": 0.1}, metrics={"accuracy": 0.5}, template="classification")
    before = sha256(book)
    rows = grid(4)
    rows[2]["metrics"]["accuracy"] = 1.5  # breaks max: 1
    with pytest.raises(ValidationError, match=r"^row 2: column accuracy: .*1\.5") as info:
        sheettrack.log_many(book, rows)
    assert info.value.row_index == 2
    assert sha256(book) == before
    with pytest.raises(ValidationError, match=r"^row 1: unknown key 'metric'"):
        sheettrack.log_many(book, [{"params": {"a": 1}}, {"metric": {"a": 1}}])
    with pytest.raises(ValidationError, match=r"^row 1: expected a dict or a Run"):
        sheettrack.log_many(book, [{"params": {"a": 1}}, 3])
    assert sha256(book) == before and len(runs(book)) == 1


def test_the_batch_is_one_store_append(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = ExcelStore.commit

    def counting(self: ExcelStore, tx: Any) -> None:
        calls.append(sum(len(run.rows) for run in tx.runs))
        original(self, tx)

    monkeypatch.setattr(ExcelStore, "commit", counting)
    sheettrack.log_many(book, grid(50), template="classification")
    assert calls == [50]
    assert len(runs(book)) == 50


def test_runs_not_yet_written_can_be_logged_as_a_batch(book: Path) -> None:
    batch = []
    for lr in (0.1, 0.01):
        run = sheettrack.start_run(book, template="classification", hypothesis="lr matters")
        run.log_params({"lr": lr})
        run.log_metric("accuracy", 0.5 + lr)
        batch.append(run)
    ids = sheettrack.log_many(book, batch)
    got = runs(book)
    assert ids == [r.run_id for r in batch] == [r["run_id"] for r in got]
    assert [r["sweep_rank"] for r in got] == [1, 2]
    assert batch[0].end() == batch[0].run_id and len(runs(book)) == 2  # not written twice
    with pytest.raises(ValidationError, match="written already"):
        sheettrack.log_many(book, batch[:1])


def test_an_old_workbook_gets_the_sweep_columns_at_the_right(book: Path, libreoffice: Any) -> None:
    old = {"name": "old", "columns": [
        {"name": "run_id", "type": "string", "required": True, "group": "run"},
        {"name": "started_at", "type": "datetime", "group": "run"},
        {"name": "status", "type": "string", "group": "run"},
        {"name": "accuracy", "type": "float", "group": "metrics"}],
        "primary_metric": {"name": "accuracy"}, "provenance": {"git": False, "command": False}}
    sheettrack.log(book, template=old, metrics={"accuracy": 0.5})
    assert "sweep_id" not in read_calamine(book)[0]
    sheettrack.log_many(book, [{"metrics": {"accuracy": a}} for a in (0.7, 0.9)], sweep_id="s1")
    sheets = libreoffice.csv(book)
    header, *body = sheets["Runs"]
    assert header[:4] == ["run_id", "status", "accuracy", "started_at"]  # the old columns stay
    assert header[4:6] == ["sweep_id", "sweep_rank"]  # right of them (then any other late column)
    assert [row[4:6] for row in body] == [["", ""], ["s1", "2"], ["s1", "1"]]
    assert "sweep_rank" in [r[0] for r in sheets["Schema"]]


def test_log_marks_one_run_of_a_sweep(book: Path) -> None:
    sheettrack.log(book, metrics={"accuracy": 0.9}, sweep_id="study-1", sweep_rank=1)
    assert (runs(book)[0]["sweep_id"], runs(book)[0]["sweep_rank"]) == ("study-1", 1)
    with pytest.raises(ValidationError, match="sweep_rank"):
        sheettrack.log(book, metrics={"accuracy": 0.9}, sweep_id="study-1", sweep_rank=0)


def test_rank_is_competition_ranking() -> None:
    assert rank([0.5, 0.9, 0.9, None, 0.1]) == [3, 1, 1, None, 4]
    assert rank([0.5, 0.9, 0.9, float("nan"), 0.1], "min") == [2, 3, 3, None, 1]
    assert rank([]) == []


# -- the log-many command ----------------------------------------------------------------------

def cli(*args: Any, input: str | None = None) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def test_cli_log_marks_one_run_of_a_sweep(book: Path) -> None:
    result = cli("log", book, "-m", "accuracy=0.9", "--sweep-id", "study-2", "--sweep-rank", "3")
    assert result.exit_code == 0, result.output
    (row,) = runs(book)
    assert (row["run_id"], row["sweep_id"], row["sweep_rank"]) == (result.stdout.strip(), "study-2", 3)


def test_cli_log_many_from_csv(book: Path, tmp_path: Path) -> None:
    src = tmp_path / "grid.csv"
    src.write_text("alpha,metric:rmse,tag:team,notes\n0.1,3.2,ml,first\n1.0,3.1,ml,\n10,3.4,ml,\n")
    result = cli("log-many", book, src, "-T", "regression", "--sweep-id", "ridge")
    assert result.exit_code == 0, result.output
    ids = result.stdout.split()
    got = runs(book)
    assert [r["run_id"] for r in got] == ids
    assert [(r["alpha"], r["rmse"], r["team"], r["sweep_rank"]) for r in got] == [
        (0.1, 3.2, "ml", 2), (1, 3.1, "ml", 1), (10, 3.4, "ml", 3)]
    assert got[0]["notes"] == "first" and got[1]["notes"] == ""


def test_cli_log_many_from_jsonl_on_stdin(book: Path) -> None:
    lines = "\n".join(json.dumps({"params": {"lr": lr}, "metrics": {"accuracy": acc}})
                      for lr, acc in ((0.1, 0.8), (0.01, 0.9))) + "\n"
    result = cli("log-many", book, "-", "--json", "-T", "classification", input=lines)
    assert result.exit_code == 0, result.output
    ids = json.loads(result.stdout)["run_ids"]
    assert [(r["run_id"], r["sweep_rank"]) for r in runs(book)] == [(ids[0], 2), (ids[1], 1)]


def test_cli_log_many_bad_row_is_one_line_and_writes_nothing(book: Path, tmp_path: Path) -> None:
    src = tmp_path / "rows.json"
    src.write_text(json.dumps([{"metrics": {"accuracy": 0.5}}, {"metrics": {"accuracy": "high"}}]))
    result = cli("log-many", book, src)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: row 1: column accuracy: 'high' is not a number (float)"]
    assert not book.exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"params": {"a": 1}}\n{oops\n')
    result = cli("log-many", book, bad)
    assert result.exit_code == 1 and "line 2 is not valid JSON" in result.stderr
    assert not book.exists()


# -- provenance captured once per change, not once per row -------------------------------------

def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True, timeout=30, env=env)
    return done.stdout.strip()


def test_cached_git_values_follow_edits_commits_and_new_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheettrack import provenance

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "one")
    calls: list[str] = []
    real = provenance.git_info
    monkeypatch.setattr(provenance, "git_info", lambda cwd, *top: calls.append(cwd) or real(cwd, *top))

    first = provenance.cached_git_info(str(repo))
    again = provenance.cached_git_info(str(repo))
    assert first == again and first["git_dirty"] is False and len(calls) == 1  # reused

    (repo / "train.py").write_text("print(22)\n")  # an edit to a tracked file shows at once
    edited = provenance.cached_git_info(str(repo))
    assert edited["git_dirty"] is True and edited["git_diff_hash"] and len(calls) == 2

    git(repo, "commit", "-q", "-am", "two")  # so does a commit
    committed = provenance.cached_git_info(str(repo))
    assert committed["git_dirty"] is False and committed["git_commit"] == git(repo, "rev-parse", "HEAD")

    (repo / "new.txt").write_text("x")  # a new untracked file shows once the recheck time passed
    monkeypatch.setattr(provenance, "GIT_RECHECK_S", 0.0)
    assert provenance.cached_git_info(str(repo))["git_dirty"] is True


def test_cached_schema_follows_another_process_adding_a_column(book: Path) -> None:
    import sys

    sheettrack.log(book, params={"lr": 0.1})
    sheettrack.log(book, params={"lr": 0.2})  # the stored schema is cached now
    code = "import sys, sheettrack; sheettrack.log(sys.argv[1], params={'depth': 3, 'lr': 0.3})"
    subprocess.run([sys.executable, "-c", code, str(book)], check=True, timeout=120)
    sheettrack.log(book, params={"depth": 5, "lr": 0.4})
    values = read_calamine(book)
    assert values[0].count("depth") == 1
    assert [r["depth"] for r in runs(book)] == ["", "", 3, 5]
    schema_names = [row[0] for row in read_calamine(book, "Schema")]
    assert schema_names.count("depth") == 1


def test_row_keys_fill_their_columns(book: Path, tmp_path: Path) -> None:
    import datetime as dt

    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    start = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    sheettrack.log_many(book, [{"params": {"lr": 0.1}, "data": data, "started_at": start,
                                "ended_at": start + dt.timedelta(seconds=90), "duration_s": 90.0,
                                "notes": ["first", "second"], "run_id": "RUN-A", "tags": {"t": "x"}}])
    df = sheettrack.load(book)
    row = df.iloc[0]
    assert row["run_id"] == "RUN-A" and row["duration_s"] == 90.0 and row["t"] == "x"
    assert row["started_at"] == start and (row["ended_at"] - row["started_at"]).total_seconds() == 90
    assert row["notes"] == "first\nsecond"
    assert row["data"][0]["rows"] == 2 and row["data_hash"]
    raw = runs(book)[0]  # the same, read by calamine
    assert raw["run_id"] == "RUN-A" and raw["notes"] == "first\nsecond"


def test_cli_log_many_flags_that_exclude_each_other(book: Path, tmp_path: Path) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text('{"params": {"a": 1}}\n')
    result = cli("log-many", book, src, "--no-sweep", "--sweep-id", "x")
    assert result.exit_code == 2 and "exclude each other" in result.stderr
    result = cli("log-many", book, src, "--no-sweep")
    assert result.exit_code == 0, result.output
    assert runs(book)[0]["sweep_id"] == ""


def test_a_large_batch_is_one_store_write(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheettrack.stores.xlsx import ExcelStore

    calls: list[int] = []
    real = ExcelStore.commit

    def counting(self: Any, tx: Any) -> None:
        calls.append(sum(len(run.rows) for run in tx.runs))
        real(self, tx)

    sheettrack.log(book, metrics={"accuracy": 0.1})
    monkeypatch.setattr(ExcelStore, "commit", counting)
    ids = sheettrack.log_many(book, [{"metrics": {"accuracy": i / 1300}} for i in range(1200)])
    assert calls == [1200]
    assert len(read_calamine(book)) == 1 + 1 + 1200 and len(set(ids)) == 1200


def test_a_searchs_scores_rank_under_the_templates_metric_names(book: Path) -> None:
    """mean_test_accuracy also lands as accuracy (its spread as accuracy_std), so a search's
    candidates reach the Leaderboard and the pivots, which rank by the template's metric."""
    sheettrack.init(book, "classification")
    sheettrack.log_many(book, [{"params": {"C": c}, "metrics": {"mean_test_accuracy": a, "std_test_accuracy": s}}
                               for c, a, s in ((0.1, 0.91, 0.02), (1.0, 0.95, 0.01))])
    runs_read = sheettrack.load(book)
    assert runs_read["accuracy"].tolist() == [0.91, 0.95]
    assert runs_read["accuracy_std"].tolist() == [0.02, 0.01]
    assert runs_read["mean_test_accuracy"].tolist() == [0.91, 0.95]  # the search's own name stays
    assert sheettrack.best(book, n=1)["accuracy"].tolist() == [0.95]
