"""``sheettrack demo``: a workbook built from real runs of the examples, to open and explore.

It runs, on the digits images that ship with scikit-learn and into one workbook: the two
MLPs of ``examples/digits_mlp.py`` (one hidden layer on 1,000 images, two on all of them),
the grid search of ``examples/grid_search.py``, the Optuna study of
``examples/optuna_study.py``, and runs logged through the command line as
``examples/log_from_shell.sh`` does (``sheettrack log`` and ``sheettrack log-many``). Then it
builds the summary sheets, the leaderboard and their charts. About 30 s on two cores.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import SheettrackError


def examples_dir() -> Path:
    """The folder holding the example scripts (inside the installed package, or the checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "examples", here.parent / "examples"):
        if (candidate / "digits_mlp.py").is_file():
            return candidate
    raise SheettrackError("the example scripts are missing from this installation; reinstall "
                          "sheettrack with its examples, or run the demo from a clone")


def _example(name: str) -> ModuleType:
    path = examples_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sheettrack_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(*args: str) -> str:
    """Run ``sheettrack ARGS`` in a fresh process, as a shell script would; its output."""
    done = subprocess.run([sys.executable, "-m", "sheettrack", *args], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise SheettrackError(f"sheettrack {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def shell_runs(book: str) -> int:
    """A logistic-regression baseline and a sweep over C, logged through the command line."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.25,
                                                        random_state=0, stratify=digits.target)

    def accuracy(c: float) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return round(LogisticRegression(C=c, max_iter=300).fit(X_train, y_train).score(X_test, y_test), 4)

    _cli("log", book, "-p", "model=logreg", "-p", "C=1.0", "-p", f"n_images={len(digits.data)}",
         "-m", f"accuracy={accuracy(1.0)}", "-t", "dataset=sklearn digits", "-t", "source=shell",
         "--hypothesis", "a linear model is a strong baseline on digits")
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "logreg-c.csv"
        with open(sweep, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["model", "C", "metric:accuracy", "tag:source"])
            for c in (0.01, 0.1, 10.0):
                out.writerow(["logreg", c, accuracy(c), "shell"])
        _cli("log-many", book, str(sweep), "--sweep-id", "logreg-C",
             "--hypothesis", "the baseline is not sensitive to C")
    return 4


def _summaries(book: str) -> list[str]:
    """Build the template's summary sheets, the leaderboard and its charts; their names."""
    from .reports import summarize

    return summarize(book)


def build_demo(book: str | os.PathLike = "experiments.xlsx", *, n_trials: int = 8,
               echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the examples into ``book``; return what was logged (run counts, sheets, seconds)."""
    import sheettrack

    book = os.fspath(book)
    if Path(book).suffix.lower() != ".xlsx":
        raise SheettrackError(f"{book}: the demo workbook must end in .xlsx")
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    digits = _example("digits_mlp")
    echo("1/4 two MLPs on the digits images (examples/digits_mlp.py)")
    digits.train(book, (32,), 1000, "one hidden layer on 1,000 images is a baseline")
    digits.train(book, (64, 32), 1797, "two hidden layers on all images beat the baseline")
    counts["digits MLPs"] = 2
    echo("2/4 a grid search (examples/grid_search.py)")
    counts["grid-search candidates"] = len(_example("grid_search").run(book))
    echo(f"3/4 an Optuna study of {n_trials} trials (examples/optuna_study.py)")
    counts["Optuna trials"] = len(_example("optuna_study").run(book, n_trials))
    echo("4/4 runs logged through the command line (examples/log_from_shell.sh)")
    counts["command-line runs"] = shell_runs(book)
    sheets = _summaries(book)
    df = sheettrack.load(book)
    return {"book": book, "runs": len(df), "counts": counts, "summary_sheets": sheets,
            "seconds": time.perf_counter() - t0}
