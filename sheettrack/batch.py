"""``log_many``: the runs of a sweep written together, in one store operation.

A grid search or a study makes hundreds of runs. Logging them one call at a time opens,
locks and rewrites the workbook once per run; ``log_many`` checks every row first (a bad
one names its index and nothing is written), then appends them all with one lock and one
package write. The rows share a ``sweep_id`` and carry their ``sweep_rank``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from . import delivery
from .errors import ValidationError
from .metrics import with_score_names
from .record import Record, build_record, flatten
from .session import Session, mode

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
             on_error: str = "warn", mirror: str | os.PathLike | None = None) -> list[str]:
    """Append many runs with one store operation; return their run ids in order.

    Each row is a dict with any of ``params``, ``metrics``, ``tags``, ``data``, ``notes``,
    ``hypothesis``, ``status``, ``error``, ``run_id``, ``started_at``, ``ended_at``,
    ``duration_s`` and ``sweep_rank`` — or a ``Run`` not yet written. Every row is checked
    first: a bad one raises ``ValidationError`` naming its index, and nothing is written.

    ``sweep_id``: True (a new id), a text id of your own, or False (no sweep columns).
    Rows are ranked within the sweep by ``rank_by`` (default: the template's primary
    metric; False: only the rows' own ranks) in the direction ``goal`` (default: the primary
    metric's, else ``max``); a row's own ``sweep_rank`` wins, and without a ranking metric
    ranks stay empty. ``credentials``, ``on_error`` and ``mirror`` are as for ``log``: rows the store
    cannot take now wait in the outbox.
    """
    from .bulk import collector_paused
    from .run import Run

    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error={on_error!r}: must be 'warn' or 'raise'")
    with collector_paused():  # thousands of rows of cells: no cycles, no full collections
        items = list(rows)
        if template is None and items and isinstance(items[0], Run):
            template = items[0].schema  # a new workbook is laid out as the runs were checked
        session = Session.open(target, credentials)
        layout = session.layout(template, online=mode() == "online")
        schema = layout.schema
        if sweep_id is True:
            sid: str | None = new_sweep_id()
        elif sweep_id is False or sweep_id is None:
            sid = None
        else:
            sid = str(sweep_id)
        pm = schema.primary_metric
        by: str | None = None
        if rank_by is not False:
            by = str(rank_by) if isinstance(rank_by, str) and rank_by else (pm.name if pm is not None else None)
        direction = goal or (pm.goal if pm is not None and pm.name == by else "max")
        if direction not in ("max", "min"):
            raise ValidationError(f"goal: {direction!r} is not max or min")

        metric_names = {c.name for c in schema.columns if c.group == "metrics"}
        provenance = session.provenance(schema, capture_patch=mode() != "disabled")  # one capture for the batch
        records: list[Record] = []
        runs: list[Run | None] = []
        for i, item in enumerate(items):
            if isinstance(item, Run):
                if item.written:
                    raise ValidationError(f"run {item.run_id} was written already", i)
                if item.session.key != session.key:
                    raise ValidationError(f"run {item.run_id} logs to {item.target}, not {session.target}", i)
                record = item.record(provenance)
                if hypothesis is not None and not record.hypothesis:
                    record = replace(record, hypothesis=hypothesis)
                records.append(record)
                runs.append(item)
            elif isinstance(item, Mapping):
                record = record_of(item, i if len(items) > 1 else None, hypothesis, provenance)
                scored = with_score_names(record.metrics, metric_names)
                records.append(record if scored is record.metrics else replace(record, metrics=scored))
                runs.append(None)
            else:
                raise ValidationError(f"expected a dict or a Run, got {type(item).__name__}", i)

        if sid is not None:
            ranks: list[int | None] = [None] * len(records)
            if by is not None:
                ranks = rank([r.metrics.get(by) if r.status == "finished" else None for r in records], direction)
            for i, (record, r) in enumerate(zip(records, ranks)):
                own = record.sweep_rank
                records[i] = replace(record, sweep_id=record.sweep_id or sid,
                                     sweep_rank=own if own is not None else r)

        if not records:
            return []
        delivery.write(session, layout, records, on_error=on_error, mirror=mirror)
        for run in runs:
            if run is not None:
                run.written = True
        return [r.run_id for r in records]


def record_of(row: Mapping[str, Any], index: int | None, hypothesis: str | None,
              provenance: dict[str, Any]) -> Record:
    """One row dict of ``log_many`` as a ``Record``; a bad key or value names the row."""
    from .fingerprint import fingerprint_many

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
    return build_record(run_id=row.get("run_id"), params=groups["params"], metrics=groups["metrics"],
                        tags=groups["tags"], data=fingerprints, notes=row.get("notes"),
                        hypothesis=row.get("hypothesis", hypothesis), status=row.get("status"),
                        error=row.get("error"), started_at=row.get("started_at"),
                        ended_at=row.get("ended_at"), duration_s=row.get("duration_s"),
                        provenance=provenance, sweep_rank=row.get("sweep_rank"))
