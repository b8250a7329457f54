"""What the framework integrations share, tested without any framework installed."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from sheettrack.integrations._common import CallbackSettings, History, hparam, require
from sheettrack.metrics import goal_of
from sheettrack.schema import load_template
from sheettrack.summary import leaderboard_frame


def test_a_missing_framework_names_the_extra_to_install() -> None:
    with pytest.raises(ImportError, match=r"needs Keras 3: pip install 'sheettrack\[keras\]'"):
        require("no_such_framework_here", "keras", "Keras 3")


def test_import_sheettrack_imports_no_framework() -> None:
    code = ("import sys, sheettrack; "
            "print(sorted(m for m in ('sklearn', 'optuna', 'keras', 'torch', 'lightning', 'transformers', "
            "'sheettrack.integrations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_history_keeps_final_best_and_epoch_of_the_best() -> None:
    h = History()
    for epoch, (loss, acc) in enumerate([(0.9, 0.5), (0.4, 0.8), (0.6, 0.7)], 1):
        h.add(epoch, {"val_loss": loss, "val_accuracy": acc, "note": "text is skipped"})
    assert h.metrics() == {"val_loss": 0.6, "val_loss_best": 0.4, "val_loss_best_epoch": 2,
                           "val_accuracy": 0.7, "val_accuracy_best": 0.8, "val_accuracy_best_epoch": 2}
    assert h.status() == ("finished", None) and h.epochs == 3


def test_goals_override_the_name_rule_and_nan_fails_the_run() -> None:
    h = History({"val_error_rate": "max"})
    h.add(1, {"val_error_rate": 0.2, "loss": 1.0})
    h.add(2, {"val_error_rate": 0.3, "loss": math.nan})
    metrics = h.metrics()
    assert metrics["val_error_rate_best"] == 0.3 and metrics["loss_best_epoch"] == 1
    assert math.isnan(metrics["loss"])
    assert h.status() == ("failed", "metric loss became nan at epoch 2")


def test_hyperparameters_become_cell_values() -> None:
    class Net:
        pass

    assert hparam((64, 32)) == [64, 32]
    assert hparam({"a": (1, 2)}) == {"a": [1, 2]}
    assert hparam(Net) == "Net" and hparam(len) == "len"
    assert hparam(Net()) == "Net"  # not its address
    assert hparam(3 + 4j) == "(3+4j)"
    assert hparam(None) is None and hparam(True) is True


GOALS = {"val_wer": "min", "ppl": "min", "latency": "min", "mape": "min", "loss": "min",
         "accuracy": "max", "f1": "max", "answer_f1": "max", "timestamp_gain": "max"}


def _tracked(history: History, metric: str) -> str:
    """Which way the callbacks' best tracking went for a metric logged as 1.0 then 2.0."""
    history.add(1, {metric: 1.0})
    history.add(2, {metric: 2.0})
    return "max" if history.best[metric][1] == 2 else "min"


def _ranked(schema: Any, metric: str) -> str:
    """Which way the Leaderboard ranks a metric: the value it puts first."""
    import pandas as pd

    runs = pd.DataFrame({"run_id": ["a", "b"], metric: [1.0, 2.0], "status": ["finished"] * 2})
    return "max" if leaderboard_frame(runs, schema, metric=metric)[metric].iloc[0] == 2.0 else "min"


@pytest.mark.parametrize("metric,goal", GOALS.items())
def test_the_callbacks_track_the_best_the_way_the_leaderboard_ranks(metric: str, goal: str) -> None:
    schema = load_template("default")
    assert _tracked(History(), metric) == _ranked(schema, metric) == goal_of(metric, schema) == goal


def test_the_template_primary_metric_goal_wins_over_the_name_everywhere() -> None:
    template = {"name": "asr", "extends": "default", "primary_metric": {"name": "val_wer", "goal": "max"}}
    settings = CallbackSettings(template=template)
    assert _tracked(History(settings.goals), "val_wer") == "max"
    assert _ranked(load_template(template), "val_wer") == "max"
    given = CallbackSettings(template=template, goals={"val_wer": "min"})
    assert _tracked(History(given.goals), "val_wer") == "min"
