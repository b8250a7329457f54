"""Optuna: log each finished trial as it ends, or a whole study at once.

    study.optimize(objective, n_trials=50, callbacks=[SheettrackCallback("runs.xlsx")],
                   catch=(Exception,))

Each row holds the trial's params, its value (or values, named by ``study.metric_names``
when set, or by ``metric_names=``), ``trial_number`` and ``trial_state``, its start, end and
duration, and ``sweep_id`` = the study's name; ``params=`` adds fixed settings the trials
share. Pruned trials are logged with status ``interrupted`` and their last reported value;
failed trials with status ``failed`` (Optuna calls callbacks for a failed trial only when
``catch`` covers its exception). ``sweep_rank`` of a trial logged as it ends is its rank
among the study's finished trials at that moment (1 = best so far); ``log_study`` logs a
finished study in one write with final ranks.
"""

from __future__ import annotations

import os
from typing import Any

from ._common import hparam, require, template_of

optuna = require("optuna", "optuna", "Optuna")

_STATUS = {"COMPLETE": "finished", "PRUNED": "interrupted", "FAIL": "failed"}


def _value_names(study: Any, schema: Any = None) -> list[str]:
    """The metric names of a study's values: its own ``metric_names``; else, for one objective
    whose direction matches the template's primary metric, that metric (so the trials rank
    beside single runs); else ``value``."""
    names = getattr(study, "metric_names", None)
    n = len(study.directions)
    if names and len(names) == n:
        return list(names)
    pm = getattr(schema, "primary_metric", None)
    if n == 1 and pm is not None:
        goal = "max" if study.direction.name == "MAXIMIZE" else "min"
        if goal == pm.goal:
            return [pm.name]
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def trial_row(study: Any, trial: Any, names: list[str] | None = None) -> dict[str, Any]:
    """One finished trial as a ``log_many`` row."""
    names = names or _value_names(study)
    state = trial.state.name
    metrics: dict[str, Any] = {}
    if trial.values is not None:
        metrics.update(zip(names, trial.values))
    if trial.intermediate_values:
        step = max(trial.intermediate_values)
        metrics["last_intermediate_value"] = trial.intermediate_values[step]
        metrics["last_step"] = step
    row: dict[str, Any] = {
        "params": {k: hparam(v) for k, v in trial.params.items()},
        "metrics": metrics,
        "tags": {"trial_number": trial.number, "trial_state": state, "study": study.study_name,
                 **{f"user.{k}": hparam(v) for k, v in trial.user_attrs.items()}},
        "status": _STATUS.get(state, "interrupted"),
        "started_at": trial.datetime_start, "ended_at": trial.datetime_complete,
        "duration_s": trial.duration.total_seconds() if trial.duration is not None else None,
    }
    if state == "FAIL":
        row["error"] = str(trial.system_attrs.get("fail_reason", "the objective raised"))[:1000]
    return row


def _ranks(study: Any, trials: list[Any]) -> dict[int, int]:
    """trial number -> rank among the given complete trials (single objective only)."""
    from ..batch import rank

    if len(study.directions) != 1:
        return {}
    done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    goal = "max" if study.direction.name == "MAXIMIZE" else "min"
    return {t.number: r for t, r in zip(done, rank([t.value for t in done], goal)) if r is not None}


class SheettrackCallback:
    """An Optuna study callback that appends one row per finished trial (complete, pruned or failed)."""

    def __init__(self, target: str | os.PathLike | None = None, *, template: Any = None,
                 hypothesis: str | None = None, tags: dict[str, Any] | None = None,
                 sweep_id: str | None = None, metric_names: list[str] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        self.params = {k: hparam(v) for k, v in (params or {}).items()}
        self.metric_names = list(metric_names) if metric_names else None
        self.target, self.template, self.hypothesis = target, template, hypothesis
        self.tags, self.sweep_id = dict(tags or {}), sweep_id
        self.run_ids: list[str] = []

    def __call__(self, study: Any, trial: Any) -> None:
        from ..batch import log_many

        if self.metric_names is None:  # decided once, from the template the first trial meets
            self.metric_names = _value_names(study, template_of(self.target, self.template))
        row = trial_row(study, trial, self.metric_names)
        rank = _ranks(study, study.get_trials(deepcopy=False)).get(trial.number)
        self.run_ids.append(log_many(
            self.target, [{**row, "params": {**self.params, **row["params"]},
                           "tags": {**row["tags"], **self.tags}, "sweep_rank": rank,
                           "hypothesis": self.hypothesis}],
            template=self.template, sweep_id=self.sweep_id or study.study_name, rank_by=False)[0])


def log_study(study: Any, target: str | os.PathLike | None = None, *, template: Any = None,
              hypothesis: str | None = None, tags: dict[str, Any] | None = None,
              sweep_id: str | None = None, metric_names: list[str] | None = None,
              params: dict[str, Any] | None = None) -> list[str]:
    """Log every finished trial of a study in one write, ranked among all complete trials."""
    from ..batch import log_many

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name in _STATUS]
    names = list(metric_names) if metric_names else _value_names(study, template_of(target, template))
    ranks = _ranks(study, trials)
    rows = []
    for t in trials:
        row = trial_row(study, t, names)
        row["tags"].update(tags or {})
        row["params"] = {**{k: hparam(v) for k, v in (params or {}).items()}, **row["params"]}
        row["sweep_rank"] = ranks.get(t.number)
        rows.append(row)
    return log_many(target, rows, template=template, hypothesis=hypothesis,
                    sweep_id=sweep_id or study.study_name, rank_by=False)
