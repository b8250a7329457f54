"""Whether more or less of a metric is better: the one rule the summaries, the Leaderboard and
the training callbacks' best tracking all follow, so a metric ranks the same way everywhere."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .schema import Schema

Goal = Literal["min", "max"]

#: Metric names that say lower is better: losses, errors (rmse, mae, mape, word and character
#: error rates), perplexity, and times. Short names count only as a word of their own
#: (``val_wer`` but not ``answer_f1``; ``epoch_time`` but not ``timestamp``).
LOWER_IS_BETTER = re.compile(
    r"loss|error|err$|rmse|mse|mae|mape|perplexity|latency|duration|runtime|_s$"
    r"|(?<![a-z])(?:err|wer|cer|ppl|time)(?![a-z])",
    re.IGNORECASE)


def goals_of(schema: Schema | None = None, goals: Mapping[str, str] | None = None) -> dict[str, str]:
    """The goals set for metrics by name: those given in ``goals``, over the goal of the
    template's primary metric."""
    pm = schema.primary_metric if schema is not None else None
    out = {pm.name: pm.goal} if pm is not None else {}
    out.update(goals or {})
    return out


def goal_of(metric: str, schema: Schema | None = None, goals: Mapping[str, str] | None = None) -> Goal:
    """``max`` when more of ``metric`` is better, else ``min``.

    A goal set for the metric wins (``goals``, then the primary metric of ``schema``);
    otherwise the name decides: loss-, error- and time-like names are lower-is-better.
    """
    given = goals_of(schema, goals).get(metric)
    if given not in ("min", "max"):
        given = "min" if LOWER_IS_BETTER.search(metric) else "max"
    return "min" if given == "min" else "max"


SCORE_PREFIXES = (("mean_test_", ""), ("std_test_", "_std"))  # a search's score and its spread


def score_names(keys: Iterable[str], known: Collection[str], single: str | None = None) -> dict[str, str]:
    """Where a search's scores land under the template's metric names: ``mean_test_accuracy``
    as ``accuracy`` and ``std_test_accuracy`` as ``accuracy_std`` when the template has an
    ``accuracy`` metric. scikit-learn names a lone scorer ``score``: it takes the name
    ``single`` (the search's ``scoring``)."""
    out: dict[str, str] = {}
    for key in keys:
        for prefix, suffix in SCORE_PREFIXES:
            if key.startswith(prefix):
                scorer = key[len(prefix):]
                name = single if scorer == "score" and single else scorer
                if name in known:
                    out[key] = f"{name}{suffix}"
    return out


def with_score_names(values: Mapping[str, object], known: Collection[str],
                     single: str | None = None) -> Mapping[str, object]:
    """A search's scores also under the template's metric names (see ``score_names``), so its
    candidates rank beside single runs, where the row gives no value of its own under that
    name; ``values`` itself when there is nothing to add."""
    prefixes = tuple(prefix for prefix, _ in SCORE_PREFIXES)
    if not any(key.startswith(prefixes) for key in values):
        return values
    added: dict[str, object] = {}
    for key, name in score_names(values, known, single).items():
        if name not in values:
            added.setdefault(name, values[key])
    return {**values, **added} if added else values
