"""Tables that fit the terminal: 80 columns, numbers whole, long text cut with an ellipsis,
columns that do not fit named; short ids unique within the workbook."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import sheettrack
from sheettrack.cli import main
from sheettrack.runids import short_ids

LONG_NOTE = "a long note about what this run set out to show and what it found " * 3


def cli(*args: object, columns: int = 80) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": str(columns)})


@pytest.fixture
def wide_book(tmp_path: Path) -> tuple[Path, list[str], list[float]]:
    """A workbook with many params, metrics with many digits, and long notes."""
    book = tmp_path / "runs.xlsx"
    accs = [0.954172 + i / 1000 for i in range(4)]
    ids = [sheettrack.log(book, template="classification", notes=LONG_NOTE,
                          params={"model": f"model_family_{i}", "lr": 0.001 * (i + 1), "epochs": 10 + i,
                                  "batch_size": 32, "hidden_layers": [512, 256, 128], "dropout": 0.25,
                                  "weight_decay_for_the_optimiser": 0.0001, "optimizer": "adamw"},
                          metrics={"accuracy": acc, "f1": 0.9123456, "precision": 0.8, "recall": 0.7,
                                   "loss": 1234.56789, "val_loss_after_the_last_epoch": 0.333333})
           for i, acc in enumerate(accs)]
    return book, ids, accs


def assert_fits(result: Result, width: int = 80) -> list[str]:
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert too_long == []
    return lines


@pytest.mark.parametrize("command", [["ls"], ["best"], ["ls", "--sort", "-accuracy"], ["ls", "--top", "2"]])
def test_tables_fit_80_columns_and_keep_numbers_whole(wide_book, command: list[str]) -> None:
    book, ids, accs = wide_book
    lines = assert_fits(cli(command[0], book, *command[1:]))
    text = "\n".join(lines)
    shown = [f"{a:.6g}" for a in accs]
    assert sum(a in text for a in shown) == len(lines) - 3  # one whole number a row
    assert "\u2026" in text  # the long note is cut with an ellipsis
    assert "more column" in lines[-1] and "--wide" in lines[-1]


def test_ls_shows_id_status_key_params_primary_metric_and_notes_first(wide_book) -> None:
    book, ids, _ = wide_book
    header = cli("ls", book, columns=200).stdout.splitlines()[0].split()
    assert header[:2] == ["id", "status"]
    assert "accuracy" in header and "notes" in header and "model" in header
    assert "f1" not in header  # only the primary metric by default
    narrow = cli("ls", book).stdout.splitlines()[0].split()
    assert {"id", "status", "accuracy", "notes"} <= set(narrow)


def test_ls_wide_shows_everything_whole(wide_book) -> None:
    book, ids, _ = wide_book
    out = cli("ls", book, "--wide").stdout
    assert LONG_NOTE.strip() in out
    for run_id in ids:
        assert run_id in out
    for name in ("f1", "val_loss_after_the_last_epoch", "weight_decay_for_the_optimiser", "started_at"):
        assert name in out


def test_ls_lists_by_start_time_unless_told(tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    early = {"run_id": "early", "started_at": "2026-01-01T10:00:00+00:00", "metrics": {"accuracy": 0.1}}
    late = {"run_id": "late", "started_at": "2026-01-02T10:00:00+00:00", "metrics": {"accuracy": 0.2}}
    sheettrack.log_many(book, [late, early], sweep_id=False)
    rows = [line.split()[0] for line in cli("ls", book).stdout.splitlines()[2:4]]
    assert rows == ["early", "late"]
    rows = [line.split()[0] for line in cli("ls", book, "--sort", "-accuracy").stdout.splitlines()[2:4]]
    assert rows == ["late", "early"]


def test_compare_and_models_fit_80_columns(wide_book) -> None:
    book, ids, _ = wide_book
    assert_fits(cli("compare", book, ids[0], ids[1]))
    sheettrack.register_model(book, ids[0], name="a-model-with-a-rather-long-name", aliases=["production"])
    lines = assert_fits(cli("models", book))
    assert ids[0][-6:] in "\n".join(lines)


def test_short_ids_are_unique_ends_of_ulids_and_other_ids_stay_whole() -> None:
    assert short_ids(["01M8XP13X9FA6NZZNN7V9SPEHB", "01M8XP13X9FA6NZZNN7V8SPEHB"]) == ["9SPEHB", "8SPEHB"]
    same_end = ["01M8XP13X9FA6NZZNN7V9SPEHB", "01M8XP13X9FA6NZZNN7W9SPEHB", "01M8XP13X9ZZZZZZZZZZZZZZZZ"]
    assert short_ids(same_end) == ["V9SPEHB", "W9SPEHB", "ZZZZZZZ"]  # one length for all
    assert short_ids(["first", "01M8XP13X9FA6NZZNN7V9SPEHB"]) == ["first", "9SPEHB"]
    # an end that is also the start of another id would be ambiguous: one more character
    assert short_ids(["01M8XP13X9FA6NZZNN7V01M8XP", "01M8XP13X9ZZZZZZZZZZZZZZZZ"])[0] == "V01M8XP"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_ls_in_a_real_80_column_terminal(wide_book, tmp_path: Path) -> None:
    """The same table through a real terminal (tmux), where the width comes from the tty."""
    book, ids, _ = wide_book
    name = f"sheettrack-{tmp_path.name}"
    script = tmp_path / "ls.sh"
    import sys

    script.write_text(f"unset COLUMNS\n{sys.executable} -m sheettrack ls {book}; echo DONE\nsleep 30\n")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "30", "bash", str(script)],
                   check=True)
    try:
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline and "DONE" not in screen:
            time.sleep(0.3)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True,
                                    text=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    assert "DONE" in screen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].split()[:2] == ["id", "status"]
    body = lines[2:2 + len(ids)]
    assert [line.split()[0] for line in body] == [rid[-6:] for rid in ids]
    assert all(re.search(r"0\.95\d+", line) for line in body)  # the metric whole, on its row
