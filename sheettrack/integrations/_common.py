"""What the training-callback integrations share: importing a framework, and a metric history."""

from __future__ import annotations

import importlib
import math
import os
from typing import Any

from ..metrics import goal_of, goals_of
from ..schema import load_template


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"sheettrack.integrations.{extra} needs {what}: "
                          f"pip install 'sheettrack[{extra}]' ({exc})") from exc


def plain(value: Any) -> Any:
    """A framework scalar (tensor, numpy number) as a Python number; other values as they are."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def hparam(value: Any) -> Any:
    """A hyperparameter as something a cell holds: numbers, text, bools and lists stay; others become text."""
    value = plain(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) or v is None
                                                for v in value):
        return list(value)
    if isinstance(value, dict):
        return {str(k): hparam(v) for k, v in value.items()}
    if callable(value):
        return getattr(value, "__name__", None) or type(value).__name__
    if type(value).__repr__ is object.__repr__ and type(value).__str__ is object.__str__:
        return type(value).__name__  # not "<Net object at 0x7f...>"
    return str(value)


class History:
    """Per-epoch metric values: the final and the best value of each, and the epoch of the best.

    ``goals`` maps a metric name to ``max`` or ``min``; other metrics follow ``goal_of``, as
    the summaries do: loss-, error- and time-like names (``loss``, ``val_mae``, ``val_wer``,
    ``perplexity``) are lower-is-better, the rest higher-is-better.
    """

    def __init__(self, goals: dict[str, str] | None = None) -> None:
        self.goals = dict(goals or {})
        self.final: dict[str, float] = {}
        # an epoch is a count, or a fraction of one where a trainer logs mid-epoch
        self.final_epoch: dict[str, float] = {}
        self.best: dict[str, tuple[float, float]] = {}
        self.epochs: float = 0
        self.nan: tuple[str, float] | None = None

    def goal(self, name: str) -> str:
        """``max`` when more of metric ``name`` is better, else ``min``."""
        return goal_of(name, goals=self.goals)

    def add(self, epoch: float, metrics: dict[str, Any]) -> None:
        """Record the metrics seen at the end of ``epoch`` (counted from 1)."""
        self.epochs = max(self.epochs, epoch)
        for name, raw in metrics.items():
            value = plain(raw)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            value = float(value)
            self.final[name], self.final_epoch[name] = value, epoch
            if math.isnan(value) or math.isinf(value):
                if self.nan is None:
                    self.nan = (name, epoch)
                continue
            old = self.best.get(name)
            better = old is None or (value > old[0] if self.goal(name) == "max" else value < old[0])
            if better:
                self.best[name] = (value, epoch)

    def metrics(self) -> dict[str, Any]:
        """``name`` (final), ``name_best`` and ``name_best_epoch`` for every metric seen."""
        out: dict[str, Any] = {}
        for name, value in self.final.items():
            out[name] = value
            if name in self.best:
                out[f"{name}_best"], out[f"{name}_best_epoch"] = self.best[name]
        return out

    def status(self) -> tuple[str, str | None]:
        """``finished``, or ``failed`` with a message when a metric became NaN or infinite."""
        if self.nan is not None:
            name, epoch = self.nan
            return "failed", f"metric {name} became {self.final.get(name)} at epoch {epoch}"
        return "finished", None


class CallbackSettings:
    """What every framework callback takes, and the history it collects. A mixin listed
    before the framework's own callback class, whose ``__init__`` it calls.

    ``goals`` holds the goals given for metrics, over the goal of the template's primary
    metric when a template is given (a bad template fails here, not after training).
    """

    def __init__(self, target: Any = None, *, params: dict[str, Any] | None = None,
                 template: Any = None, hypothesis: str | None = None, tags: dict[str, Any] | None = None,
                 notes: str | None = None, goals: dict[str, str] | None = None) -> None:
        super().__init__()
        self.target, self.template, self.hypothesis = target, template, hypothesis
        schema = load_template(template) if template is not None else None
        self.hparams, self.tags, self.notes = dict(params or {}), tags, notes
        self.goals = goals_of(schema, goals)
        self.run_id: str | None = None
        self.history = History(self.goals)
        self._started: tuple[Any, float] | None = None


def started_now() -> tuple[Any, float]:
    """The (UTC datetime, perf_counter) pair a training callback keeps when training begins."""
    import datetime as dt
    import time

    return dt.datetime.now(dt.timezone.utc), time.perf_counter()


def log_training(target: Any, *, template: Any, params: dict[str, Any], history: History,
                 tags: dict[str, Any] | None, hypothesis: str | None, notes: str | None,
                 started: tuple[Any, float] | None, status: str | None = None, error: str | None = None,
                 framework: str) -> str:
    """Write the one row of a training run; return its run id."""
    import sheettrack

    own_status, own_error = history.status()
    run = sheettrack.start_run(target, template=template, hypothesis=hypothesis)
    if started is not None:  # (UTC datetime, perf_counter) when training began
        run.started(*started)
    run.log_params(params)
    run.log_metrics({**history.metrics(), "epochs_trained": history.epochs})
    run.set_tags({"framework": framework, **(tags or {})})
    if notes:
        run.note(notes)
    return run.end(status or own_status, error if status else own_error)


def template_of(target: str | os.PathLike | None, template: Any) -> Any:
    """The template rows logged to ``target`` will meet (``template`` when given, else the
    target's stored one), or None when neither can be read: then no score is renamed."""
    from ..errors import SheettrackError

    try:
        if template is not None:
            return load_template(template)
        from ..api import schema_of

        return schema_of(target)
    except (SheettrackError, OSError, ValueError):
        return None
