"""Optuna trials logged by ``SheettrackCallback`` and ``log_study``, read back with calamine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

from helpers import read_calamine  # noqa: E402

from sheettrack.integrations.optuna import SheettrackCallback, log_study  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def runs(path: Path) -> list[dict[str, Any]]:
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", -4.0, 4.0)
    layers = trial.suggest_categorical("layers", [1, 2])
    trial.report((x - 1) ** 2 + 1.0, step=0)
    if trial.number == 2:
        raise ValueError("diverged")
    if trial.number == 3:
        raise optuna.TrialPruned()
    return (x - 1) ** 2 + layers


def test_callback_logs_each_trial_as_it_finishes(tmp_path: Path) -> None:
    book = tmp_path / "study.xlsx"
    callback = SheettrackCallback(book, hypothesis="x near 1 is best", tags={"team": "opt"})
    study = optuna.create_study(study_name="quadratic", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=7, callbacks=[callback], catch=(ValueError,))
    rows = runs(book)
    trials = study.get_trials()
    assert [r["run_id"] for r in rows] == callback.run_ids and len(rows) == 7
    assert [r["trial_number"] for r in rows] == [t.number for t in trials]
    assert [r["trial_state"] for r in rows] == [t.state.name for t in trials]
    assert [r["status"] for r in rows] == ["finished", "finished", "failed", "interrupted",
                                           "finished", "finished", "finished"]
    for row, t in zip(rows, trials):
        assert row["x"] == t.params["x"] and row["layers"] == t.params["layers"]
        assert row["sweep_id"] == "quadratic" and row["team"] == "opt"
        assert row["hypothesis"] == "x near 1 is best"
        assert row["duration_s"] == pytest.approx(t.duration.total_seconds(), abs=1e-3)
        if t.state.name == "COMPLETE":
            assert row["value"] == t.value
    assert rows[3]["last_intermediate_value"] == trials[3].intermediate_values[0]
    # the rank of each complete trial among those finished before it (1 = best so far)
    done: list[float] = []
    for row, t in zip(rows, trials):
        if t.state.name != "COMPLETE":
            assert row["sweep_rank"] == ""
            continue
        done.append(t.value)
        assert row["sweep_rank"] == 1 + sum(v < t.value for v in done)


def test_log_study_ranks_all_trials_in_one_write(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", study_name="max",
                                sampler=optuna.samplers.RandomSampler(seed=2))
    study.optimize(lambda t: -abs(t.suggest_float("x", -1, 1)), n_trials=5)
    book = tmp_path / "study.xlsx"
    ids = log_study(study, book, metric_names=["score"], template="classification")
    rows = runs(book)
    assert [r["run_id"] for r in rows] == ids
    values = [t.value for t in study.trials]
    assert [r["score"] for r in rows] == values
    assert [r["sweep_rank"] for r in rows] == [1 + sum(w > v for w in values) for v in values]


def test_multi_objective_values_use_the_study_metric_names(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=3))
    study.set_metric_names(["loss", "accuracy"])
    book = tmp_path / "multi.xlsx"
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("y", 0, 1)),
                   n_trials=3, callbacks=[SheettrackCallback(book)])
    rows = runs(book)
    assert [(r["loss"], r["accuracy"]) for r in rows] == [tuple(t.values) for t in study.trials]
    assert {r["sweep_rank"] for r in rows} == {""}  # no single order on a Pareto front


def test_a_study_s_value_lands_on_the_template_s_primary_metric(tmp_path: Path) -> None:
    import sheettrack

    book = tmp_path / "study.xlsx"
    sheettrack.init(book, "classification")  # accuracy, higher is better
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=2))
    study.optimize(lambda t: 1 / (1 + (t.suggest_float("x", -2.0, 2.0) - 1) ** 2), n_trials=3,
                   callbacks=[SheettrackCallback(book)])
    log_study(study, book)
    rows = runs(book)
    assert [r["accuracy"] for r in rows] == [t.value for t in study.trials] * 2
    assert all(r.get("value") in (None, "") for r in rows)
    assert "Leaderboard" in sheettrack.summarize(book)
    minimize = optuna.create_study(direction="minimize")  # against the goal: stays "value"
    minimize.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    log_study(minimize, book)
    assert runs(book)[-1]["value"] == minimize.trials[0].value
