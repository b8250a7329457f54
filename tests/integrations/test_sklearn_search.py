"""scikit-learn searches logged with ``log_search``: one row per candidate, read back with calamine."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn")

import numpy as np  # noqa: E402
from helpers import read_calamine  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.experimental import enable_halving_search_cv  # noqa: E402, F401
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
)

from sheettrack import ValidationError  # noqa: E402
from sheettrack.integrations.sklearn import log_search  # noqa: E402


def runs(path: Path) -> list[dict[str, Any]]:
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any]:
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16.0, y[:240]


@pytest.fixture(autouse=True)
def quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_grid_search_logs_every_candidate_with_scores_ranks_and_data(
        tmp_path: Path, digits: tuple[Any, Any]) -> None:
    X, y = digits
    search = GridSearchCV(LogisticRegression(max_iter=50), {"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]},
                          cv=3, scoring=["accuracy", "f1_macro"], refit="f1_macro",
                          return_train_score=True).fit(X, y)
    book = tmp_path / "grid.xlsx"
    ids = log_search(search, book, X=X, y=y, template="classification", hypothesis="C matters")
    rows = runs(book)
    res = search.cv_results_
    assert [r["run_id"] for r in rows] == ids and len(rows) == len(res["params"]) == 6
    assert len({r["sweep_id"] for r in rows}) == 1
    for i, row in enumerate(rows):
        assert (row["C"], row["fit_intercept"]) == (res["params"][i]["C"], res["params"][i]["fit_intercept"])
        assert row["sweep_rank"] == res["rank_test_f1_macro"][i]
        for key in ("mean_test_accuracy", "std_test_accuracy", "mean_train_f1_macro",
                    "std_train_f1_macro", "mean_test_f1_macro", "mean_fit_time", "mean_score_time"):
            assert row[key] == pytest.approx(float(res[key][i]), rel=1e-12), key
        assert row["estimator"] == "LogisticRegression"
        assert row["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
        assert row["search"] == "GridSearchCV" and row["ranked_by"] == "f1_macro"
        assert row["cv_splits"] == 3 and row["status"] == "finished"
        assert row["hypothesis"] == "C matters"
        fingerprints = json.loads(row["data"])
        assert sorted(f["name"] for f in fingerprints) == ["X", "y"]
        assert {f["name"]: f["rows"] for f in fingerprints} == {"X": 240, "y": 240}
    assert len({r["data_hash"] for r in rows}) == 1


def test_randomized_search_single_scorer(tmp_path: Path, digits: tuple[Any, Any]) -> None:
    X, y = digits
    search = RandomizedSearchCV(LogisticRegression(max_iter=50), {"C": [0.01, 0.03, 0.1, 0.3, 1.0]},
                                n_iter=4, cv=2, random_state=0).fit(X, y)
    book = tmp_path / "random.xlsx"
    log_search(search, book, sweep_id="random-C")
    rows = runs(book)
    assert [r["sweep_rank"] for r in rows] == list(search.cv_results_["rank_test_score"])
    assert [r["mean_test_score"] for r in rows] == pytest.approx(list(search.cv_results_["mean_test_score"]))
    assert {r["sweep_id"] for r in rows} == {"random-C"}
    assert "mean_train_score" not in rows[0]  # return_train_score was off


def test_halving_search_rows_carry_iteration_and_resources(tmp_path: Path, digits: tuple[Any, Any]) -> None:
    X, y = digits
    search = HalvingGridSearchCV(LogisticRegression(max_iter=50), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=2,
                                 factor=2, min_resources=60, random_state=0).fit(X, y)
    book = tmp_path / "halving.xlsx"
    log_search(search, book)
    rows = runs(book)
    res = search.cv_results_
    assert len(rows) == len(res["params"]) > 4
    assert [(r["iter"], r["n_resources"]) for r in rows] == [(int(a), int(b)) for a, b in
                                                             zip(res["iter"], res["n_resources"])]
    assert [r["sweep_rank"] for r in rows] == list(res["rank_test_score"])


def test_a_failed_candidate_is_logged_as_failed_without_rank(tmp_path: Path, digits: tuple[Any, Any]) -> None:
    X, y = digits
    search = GridSearchCV(LogisticRegression(max_iter=50), {"C": [0.1, -1.0]}, cv=2,
                          error_score=np.nan).fit(X, y)
    book = tmp_path / "failed.xlsx"
    log_search(search, book)
    ok, bad = runs(book)
    assert (ok["status"], ok["sweep_rank"]) == ("finished", 1)
    assert bad["status"] == "failed" and bad["sweep_rank"] == "" and "fit failed" in bad["error"]


def test_an_unfitted_search_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not fitted"):
        log_search(GridSearchCV(LogisticRegression(), {"C": [1.0]}), tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_search_scores_land_on_the_templates_metric_and_rank(tmp_path: Path, digits: tuple[Any, Any]) -> None:
    import sheettrack

    X, y = digits
    book = tmp_path / "runs.xlsx"
    sheettrack.init(book, "classification")
    search = GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=2, scoring="accuracy").fit(X, y)
    log_search(search, book, hypothesis="a stronger C helps")
    rows = runs(book)
    for row, i in zip(rows, range(2)):
        assert row["accuracy"] == pytest.approx(search.cv_results_["mean_test_score"][i])
        assert row["accuracy_std"] == pytest.approx(search.cv_results_["std_test_score"][i])
        assert row["mean_test_score"] == row["accuracy"]  # the search's own name stays
    names = sheettrack.summarize(book)
    assert "Leaderboard" in names
    board = read_calamine(book, "Leaderboard")
    assert len([r for r in board[2:] if r[0] not in ("", None)]) == 2  # both candidates ranked
    hyp = read_calamine(book, "Hypotheses")
    assert hyp[2][0] == "a stronger C helps" and hyp[2][2] == 2
