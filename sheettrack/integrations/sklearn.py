"""scikit-learn: one row per candidate of a fitted hyperparameter search, in one write.

    search = GridSearchCV(MLPClassifier(), grid, cv=3, return_train_score=True).fit(X, y)
    log_search(search, "runs.xlsx", X=X, y=y)

Each row holds the candidate's params, the mean and std of every scorer on the test folds
(and the train folds when ``return_train_score=True``), fit and score times, its rank (as
``sweep_rank``, from scikit-learn's ``rank_test_*``), the estimator class and the search's
class, and the fingerprint of ``X`` (and ``y``) when given. All rows share one ``sweep_id``.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..metrics import score_names
from ._common import hparam, require, template_of

require("sklearn", "sklearn", "scikit-learn")


def _scorers(results: dict[str, Any]) -> list[str]:
    return [k[len("mean_test_"):] for k in results if k.startswith("mean_test_")]


def log_search(search: Any, target: str | os.PathLike | None = None, *, X: Any = None, y: Any = None,
               template: Any = None, hypothesis: str | None = None, tags: dict[str, Any] | None = None,
               sweep_id: str | bool = True, notes: str | None = None) -> list[str]:
    """Log every candidate of a fitted ``*SearchCV`` as one row each; return the run ids.

    Works with ``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV`` and
    ``HalvingRandomSearchCV`` (whose rows also carry ``iter`` and ``n_resources``). A candidate
    whose fit failed (NaN test score) is logged with status ``failed``.
    """
    from ..batch import log_many
    from ..errors import ValidationError

    results = getattr(search, "cv_results_", None)
    if results is None:
        raise ValidationError(f"{type(search).__name__} is not fitted: call fit() before log_search()")
    scorers = _scorers(results)
    schema = template_of(target, template)
    known = {c.name for c in schema.columns if c.group == "metrics"} if schema is not None else set()
    scoring = getattr(search, "scoring", None)
    # candidates rank under the template's names: each score also beside itself as the metric
    names = score_names([f"{stat}_test_{s}" for s in scorers for stat in ("mean", "std")], known,
                        scoring if isinstance(scoring, str) else None)
    refit = getattr(search, "refit", True)
    main = refit if isinstance(refit, str) and refit in scorers else scorers[0]
    estimator = getattr(search, "estimator", None)
    n_splits = getattr(search, "n_splits_", None)
    data: dict[str, Any] = {}
    if X is not None:
        data["X"] = X
    if y is not None:
        data["y"] = y
    common_params: dict[str, Any] = {"estimator": type(estimator).__name__ if estimator is not None else None}
    if n_splits is not None:
        common_params["cv_splits"] = int(n_splits)
    common_tags = {"search": type(search).__name__, "ranked_by": main, **(tags or {})}
    if estimator is not None:
        common_tags["estimator_class"] = f"{type(estimator).__module__}.{type(estimator).__qualname__}"

    rows = []
    for i, params in enumerate(results["params"]):
        metrics: dict[str, Any] = {}
        for scorer in scorers:
            for split in ("test", "train"):
                for stat in ("mean", "std"):
                    key = f"{stat}_{split}_{scorer}"
                    if key in results:
                        metrics[key] = float(results[key][i])
                        if key in names:
                            metrics[names[key]] = metrics[key]
        for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
            if key in results:
                metrics[key] = float(results[key][i])
        row_params = dict(common_params)
        row_params.update({k: hparam(v) for k, v in params.items()})
        for key in ("iter", "n_resources"):  # successive halving
            if key in results:
                row_params[key] = int(results[key][i])
        test = metrics.get(f"mean_test_{main}", math.nan)
        failed = math.isnan(test)
        rank = results.get(f"rank_test_{main}")
        row: dict[str, Any] = {
            "params": row_params, "metrics": metrics, "tags": common_tags,
            "status": "failed" if failed else "finished",
            "error": "the fit failed on at least one split (error_score gave NaN)" if failed else None,
            "sweep_rank": None if failed or rank is None else int(rank[i]),
            "notes": notes, "data": data or None,
        }
        if n_splits and "mean_fit_time" in metrics:
            row["duration_s"] = round((metrics["mean_fit_time"] + metrics.get("mean_score_time", 0.0))
                                      * int(n_splits), 3)
        rows.append(row)
    return log_many(target, rows, template=template, sweep_id=sweep_id, hypothesis=hypothesis,
                    rank_by=f"mean_test_{main}", goal="max")
