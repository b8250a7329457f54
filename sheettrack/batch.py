"""``log_many``: the runs of a sweep written together, in one store operation.

A grid search or a study makes hundreds of runs. Logging them one call at a time opens,
locks and rewrites the workbook once per run; ``log_many`` checks every row first (a bad
one names its index and nothing is written), then appends them all with one lock and one
package write. The rows share a ``sweep_id`` and carry their ``sweep_rank``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ValidationError

#: Keys a row dict of ``log_many`` may have.
ROW_KEYS = ("params", "metrics", "tags", "data", "notes", "hypothesis", "status", "error", "run_id",
            "started_at", "ended_at", "duration_s", "sweep_rank")
_GROUPS = ("params", "metrics", "tags")


def new_sweep_id() -> str:
    """A fresh sweep id: ``sweep-``, 48 bits of milliseconds and 30 random bits (time-sortable)."""
    from .record import new_run_id

    return "sweep-" + new_run_id()[:16]


def rank(values: list[Any], goal: str = "max") -> list[int | None]:
    """Competition ranks (1 = best, ties share the lower rank, as scikit-learn ranks
    candidates); a missing or NaN value gets no rank."""
    if goal not in ("max", "min"):
        raise ValueError(f"goal must be max or min, got {goal!r}")
    scored = []
    for i, v in enumerate(values):
        try:
            f = float(v) if v is not None and not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            f = math.nan
        if not math.isnan(f):
            scored.append((-f if goal == "max" else f, i))
    out: list[int | None] = [None] * len(values)
    scored.sort()
    for position, (key, i) in enumerate(scored):
        if position and key == scored[position - 1][0]:
            out[i] = out[scored[position - 1][1]]
        else:
            out[i] = position + 1
    return out


def log_many(target: str | os.PathLike | None, rows: Iterable[Mapping[str, Any] | Any], *,
             template: Any = None, sweep_id: str | bool = True, rank_by: str | bool | None = None,
             goal: str | None = None, hypothesis: str | None = None, credentials: Any = None,
             on_error: str = "warn") -> list[str]:
    """Append many runs with one store operation; return their run ids in order.

    Each row is a dict with any of ``params``, ``metrics``, ``tags``, ``data``, ``notes``,
    ``hypothesis``, ``status``, ``error``, ``run_id``, ``started_at``, ``ended_at``,
    ``duration_s`` and ``sweep_rank`` — or a ``Run`` not yet written. Every row is checked
    first: a bad one raises ``ValidationError`` naming its index, and nothing is written.

    ``sweep_id``: True (a new id), a text id of your own, or False (no sweep columns).
    Rows are ranked within the sweep by ``rank_by`` (default: the template's primary
    metric; False: only the rows' own ranks) in the direction ``goal`` (default: the primary
    metric's, else ``max``); a row's own ``sweep_rank`` wins, and without a ranking metric
    ranks stay empty. ``credentials`` and ``on_error`` are as for ``log``: rows the store
    cannot take now wait in the outbox.
    """
    from .api import _Session
    from .run import Run

    items = list(rows)
    if template is None and items and isinstance(items[0], Run):
        template = items[0]._session.schema  # a new workbook is laid out as the runs were checked
    session = _Session(target, template, credentials, on_error)
    schema = session.schema
    if sweep_id is True:
        sid: str | None = new_sweep_id()
    elif sweep_id is False or sweep_id is None:
        sid = None
    else:
        sid = str(sweep_id)
    pm = schema.primary_metric
    by = None if rank_by is False else rank_by or (pm.name if pm is not None else None)
    direction = goal or (pm.goal if pm is not None and pm.name == by else "max")
    if direction not in ("max", "min"):
        raise ValidationError(f"goal: {direction!r} is not max or min")

    provenance = session.provenance()  # one capture for the whole batch
    fields_list: list[dict[str, dict[str, Any]]] = []
    runs: list[Run | None] = []
    for i, item in enumerate(items):
        if isinstance(item, Run):
            if item._written:
                raise ValidationError(f"run {item.run_id} was written already", i)
            if os.path.abspath(os.fspath(item.target)) != os.path.abspath(os.fspath(session.target)):
                raise ValidationError(f"run {item.run_id} logs to {item.target}, not {session.target}", i)
            fields = item.fields()
            fields["provenance"] = provenance
            if hypothesis is not None and not fields["notes"].get("hypothesis"):
                fields["notes"]["hypothesis"] = hypothesis
            fields_list.append(fields)
            runs.append(item)
        elif isinstance(item, Mapping):
            fields_list.append(_fields(item, i, len(items) > 1, hypothesis, provenance))
            runs.append(None)
        else:
            raise ValidationError(f"expected a dict or a Run, got {type(item).__name__}", i)

    if sid is not None:
        ranks: list[int | None] = [None] * len(fields_list)
        if by is not None:
            ranks = rank([f["metrics"].get(by) if f["run"].get("status", "finished") == "finished"
                          else None for f in fields_list], direction)
        for i, (fields, r) in enumerate(zip(fields_list, ranks)):
            own = fields["run"].get("sweep_rank")
            if own is None and runs[i] is not None:
                own = runs[i].sweep_rank
            fields["run"]["sweep_id"] = (runs[i].sweep_id if runs[i] is not None and runs[i].sweep_id
                                         else sid)
            fields["run"]["sweep_rank"] = own if own is not None else r

    if not fields_list:
        return []
    session.write(fields_list)
    for run in runs:
        if run is not None:
            run._written = True
    return [f["run"]["run_id"] for f in fields_list]


def _fields(row: Mapping[str, Any], i: int, many: bool, hypothesis: str | None,
            provenance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row dict as the groups ``Schema.build_row`` takes; a bad key names the row."""
    from .fingerprint import combined_hash, fingerprint_many
    from .record import flatten, new_run_id

    index = i if many else None
    unknown = [k for k in row if k not in ROW_KEYS]
    if unknown:
        raise ValidationError(f"unknown key {unknown[0]!r}; a row may have {', '.join(ROW_KEYS)}", index)
    groups: dict[str, dict[str, Any]] = {}
    for group in _GROUPS:
        try:
            groups[group] = flatten(row.get(group))
        except TypeError as exc:
            raise ValidationError(f"{group}: {exc}", index) from None
    fingerprints: list[Any] = []
    if row.get("data") is not None:
        try:
            fingerprints = fingerprint_many(row["data"])
        except (OSError, TypeError, ValueError) as exc:
            raise ValidationError(f"column data: {exc}", index) from None
    now = _dt.datetime.now(_dt.timezone.utc)
    notes = row.get("notes")
    if isinstance(notes, (list, tuple)):
        notes = "\n".join(str(n) for n in notes)
    run = {"run_id": row.get("run_id") or new_run_id(),
           "started_at": row.get("started_at") or now, "ended_at": row.get("ended_at") or now,
           "duration_s": row.get("duration_s"), "status": row.get("status") or "finished",
           "error": row.get("error")}
    if row.get("sweep_rank") is not None:
        run["sweep_rank"] = row["sweep_rank"]
    return {"run": run, "params": groups["params"], "metrics": groups["metrics"], "tags": groups["tags"],
            "data": {"data_hash": combined_hash(fingerprints) if fingerprints else None,
                     "data": fingerprints or None},
            "notes": {"hypothesis": row.get("hypothesis", hypothesis), "notes": notes or None},
            "provenance": provenance}
