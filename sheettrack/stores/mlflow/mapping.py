"""How a sheettrack row is an MLflow run, and back, in plain values (no MLflow import).

A column's group decides where its value goes: params to params (as text: MLflow keeps params
as text and the stored schema restores their types), numeric metrics to metrics, tags to
tags; the run's own columns to the run's fields; provenance to MLflow's system tags where one
exists; everything else to a ``sheettrack.NAME`` tag. The sheettrack run id is the tag
``sheettrack.run_id``, the key that makes delivery exactly once.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...cells import MAX_EXACT_INT, Cell, number_text, to_cell, to_utc
from ...errors import ValidationError
from ...schema import Column, Schema

PREFIX = "sheettrack."
RUN_ID_TAG = "sheettrack.run_id"
NOTE_TAG = "mlflow.note.content"
#: Provenance columns kept in MLflow's own system tags (what its UI shows as source and user).
SYSTEM_TAGS = {"user": "mlflow.user", "script": "mlflow.source.name",
               "git_commit": "mlflow.source.git.commit", "git_branch": "mlflow.source.git.branch",
               "git_remote": "mlflow.source.git.repoURL"}
#: sheettrack's statuses and MLflow's run statuses, both ways.
STATUS_TO_MLFLOW = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
STATUS_FROM_MLFLOW = {v: k for k, v in STATUS_TO_MLFLOW.items()}

# MLflow's limits (mlflow.utils.validation), checked here so a row MLflow would refuse is
# refused before anything is written, naming the column.
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
NAME_CHARACTERS = re.compile(r"^[/\w.\- :]*$")
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


@dataclass
class RunPlan:
    """One run as MLflow takes it: the run's fields, then params, metrics and tags for
    ``log_batch`` and the data fingerprints for ``log_inputs``."""

    run_id: str
    start_ms: int | None
    end_ms: int | None
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)


def cell_text(cell: Cell) -> str:
    """A cell's value as text that reads back as the same value through its column type."""
    if cell.kind == "n":
        return number_text(cell.value)
    if cell.kind == "b":
        return "true" if cell.value else "false"
    if cell.kind == "d":
        return cell.value.isoformat()
    return str(cell.value)


def check_name(name: str, what: str) -> None:
    """Refuse a name MLflow refuses (its characters, its length), saying which and why."""
    if len(name) > MAX_KEY:
        raise ValidationError(f"{what} {name[:40]!r}...: MLflow names hold at most {MAX_KEY} "
                              f"characters, this one has {len(name)}")
    if not NAME_CHARACTERS.match(name) or name.startswith("/") or ".." in name.split("/"):
        raise ValidationError(f"{what} {name!r}: MLflow names may only contain letters, digits, "
                              "underscores, dashes, periods, spaces, colons and slashes (not "
                              "starting with a slash); rename it in the template or when logging")


def millis(value: Any) -> int | None:
    """A date-time as MLflow's milliseconds since the epoch (None stays None)."""
    if not isinstance(value, _dt.datetime):
        return None
    return (to_utc(value) - EPOCH) // _dt.timedelta(milliseconds=1)


def from_millis(ms: int | None) -> _dt.datetime | None:
    """MLflow's milliseconds as an aware UTC date-time."""
    return None if ms is None else EPOCH + _dt.timedelta(milliseconds=ms)


def datasets_of(value: Any) -> list[dict[str, Any]]:
    """The data fingerprints of a ``data`` value as dataset inputs: name, digest, source."""
    fps = value
    if isinstance(value, str):
        try:
            fps = json.loads(value)
        except ValueError:
            return []
    out = []
    for fp in fps if isinstance(fps, list) else []:
        if isinstance(fp, Mapping) and fp.get("hash"):
            name = str(fp.get("name") or fp.get("path") or fp["hash"])
            out.append({"name": name[:500], "digest": str(fp["hash"])[:36],
                        "source_type": "local" if fp.get("path") else "code",
                        "source": json.dumps({"path": fp.get("path"), "kind": fp.get("kind")}),
                        "profile": json.dumps({k: fp.get(k) for k in ("size", "rows", "files")
                                               if fp.get(k) is not None})})
    return out


def plan_run(row: Mapping[str, Any], schema: Schema, index: int | None = None) -> RunPlan:
    """The MLflow run of one checked row (column name -> canonical value), every limit of
    MLflow's checked first; ``index`` names the row in a ``ValidationError``."""
    run_id = str(row.get("run_id") or "")
    plan = RunPlan(run_id=run_id, start_ms=None, end_ms=None, status="FINISHED")
    try:
        for name, value in row.items():
            col = schema.column(name)
            if value is None or col is None:
                continue
            cell = to_cell(col.type, value)
            if cell is None:
                continue
            place(plan, col, value, cell)
        if run_id:
            plan.tags[RUN_ID_TAG] = run_id
        for key, text in plan.params.items():
            check_name(key, "param")
            if len(text) > MAX_PARAM_VALUE:
                raise ValidationError(f"param {key!r}: {len(text)} characters; MLflow keeps at most "
                                      f"{MAX_PARAM_VALUE} in a param (log it as a tag or an artifact)")
        for key, text in plan.tags.items():
            check_name(key, "tag")
            if len(text) > MAX_TAG_VALUE:
                raise ValidationError(f"tag {key!r}: {len(text)} characters; MLflow keeps at most "
                                      f"{MAX_TAG_VALUE} in a tag")
        for key in plan.metrics:
            check_name(key, "metric")
    except ValidationError as exc:
        raise ValidationError(exc.problems, index) from None
    return plan


def place(plan: RunPlan, col: Column, value: Any, cell: Cell) -> None:
    """Put one column's value where MLflow keeps it (see the module's docstring)."""
    name, group = col.name, col.group
    if group == "run" and name in ("run_id", "started_at", "ended_at", "status"):
        if name == "started_at" or name == "ended_at":
            ms = millis(value)
            setattr(plan, "start_ms" if name == "started_at" else "end_ms", ms)
            if ms is None or value.microsecond % 1000:  # finer than MLflow's milliseconds
                plan.tags[PREFIX + name] = cell_text(cell)
        elif name == "status":
            plan.status = STATUS_TO_MLFLOW.get(str(value), "FINISHED")
            if str(value) not in STATUS_TO_MLFLOW:
                plan.tags[PREFIX + name] = cell_text(cell)
        return
    if group == "notes" and name == "notes":
        plan.tags[NOTE_TAG] = cell_text(cell)
    elif group == "provenance" and name in SYSTEM_TAGS:
        plan.tags[SYSTEM_TAGS[name]] = cell_text(cell)
    elif group == "params":
        plan.params[name] = cell_text(cell)
    elif group == "metrics" and cell.kind == "n" and abs(value) <= MAX_EXACT_INT:
        plan.metrics[name] = float(value)
    elif group == "tags":
        plan.tags[name] = cell_text(cell)
    else:
        if group == "data" and name == "data":
            plan.datasets = datasets_of(value)
        plan.tags[PREFIX + name] = cell_text(cell)


@dataclass(frozen=True)
class RunView:
    """What a read needs of one MLflow run, as plain values."""

    mlflow_id: str
    start_ms: int | None
    end_ms: int | None
    status: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


def stored_value(run: RunView, col: Column) -> Any:
    """The raw value of column ``col`` in ``run`` (what ``from_cell`` reads), "" when none."""
    name, group = col.name, col.group
    own = run.tags.get(PREFIX + name)
    if group == "run" and name == "run_id":
        return run.tags.get(RUN_ID_TAG) or run.mlflow_id
    if group == "run" and name in ("started_at", "ended_at"):
        if own is not None:
            return own
        return from_millis(run.start_ms if name == "started_at" else run.end_ms) or ""
    if group == "run" and name == "status":
        return own if own is not None else STATUS_FROM_MLFLOW.get(run.status, run.status.lower())
    if group == "notes" and name == "notes":
        return run.tags.get(NOTE_TAG, "")
    if group == "provenance" and name in SYSTEM_TAGS:
        return run.tags.get(SYSTEM_TAGS[name], "")
    if group == "params" and name in run.params:
        return run.params[name]
    if group == "metrics" and name in run.metrics:
        return run.metrics[name]
    if group == "tags" and name in run.tags:
        return run.tags[name]
    return "" if own is None else own


def foreign_columns(runs: list[RunView], schema: Schema | None) -> list[Column]:
    """Columns for the params, metrics and tags runs hold that ``schema`` lacks (runs logged
    with MLflow's own client): params and tags as text, metrics as numbers."""
    seen: dict[str, Column] = {}
    for run in runs:
        for group, keys in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
            for key in keys:
                if key in seen or key.startswith(("mlflow.", PREFIX)):
                    continue
                if schema is not None and schema.column(key) is not None:
                    continue
                seen[key] = Column(name=key, type="float" if group == "metrics" else "string", group=group)
    return list(seen.values())
