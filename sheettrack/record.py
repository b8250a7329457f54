"""A run as one frozen ``Record``: run ids, flattening nested config, and the fields of a row."""

from __future__ import annotations

import datetime as _dt
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_MINTED: set[str] = set()  # the run ids new_run_id made in this process


def new_run_id(now: float | None = None) -> str:
    """A unique, time-sortable run id (a ULID: 48 bits of milliseconds, 80 random bits)."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    rid = "".join(reversed(chars))
    _MINTED.add(rid)
    return rid


def chosen_by_caller(run_id: str) -> bool:
    """Whether ``run_id`` was chosen by the caller rather than made by ``new_run_id`` in this
    process: only a chosen id can repeat one the store or the outbox holds already, so only
    a chosen id is looked up before its row is queued."""
    return run_id not in _MINTED


def flatten(values: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted names: ``{"optimizer": {"lr": 0.1}}`` -> ``optimizer.lr``.

    Lists and tuples stay whole (they are stored as JSON text); an empty dict stays a value.
    """
    out: dict[str, Any] = {}
    _flatten_into(out, {}, values, prefix, ())
    return out


def _flatten_into(out: dict[str, Any], paths: dict[str, tuple], values: Any, prefix: str,
                  path: tuple) -> None:
    """Add ``values`` flattened under ``prefix`` to ``out``; ``paths`` remembers which keys
    made each name, so two that land on one name are refused naming both."""
    if values is None:
        return
    if not isinstance(values, Mapping):
        if hasattr(values, "__dict__") and not isinstance(values, type):  # argparse.Namespace
            values = vars(values)
        else:
            raise TypeError(f"expected a mapping of names to values, got {type(values).__name__}")
    for key, value in values.items():
        name = f"{prefix}{key}"
        here = (*path, key)
        if isinstance(value, Mapping) and value:
            _flatten_into(out, paths, value, f"{name}.", here)
            continue
        if name in paths:
            raise ValidationError(f"{name}: keys {_key_path(paths[name])} and {_key_path(here)} both become "
                                  f"column {name!r}; rename one so neither value is lost")
        paths[name] = here
        out[name] = value


def _key_path(path: tuple) -> str:
    """How a nested key was given: ``['opt']['lr']``, keeping a number key apart from its text."""
    return "".join(f"[{k!r}]" for k in path)


@dataclass(frozen=True)
class Record:
    """One run, as it is written: the one type every way of logging builds (``log``,
    ``start_run``, ``log_many``, the integrations, ``copy``) and the rest of the write path
    takes. Values are flattened (dotted names) but not yet checked against a schema:
    ``Schema.build_row(record.fields())`` does that."""

    run_id: str
    started_at: _dt.datetime | None
    ended_at: _dt.datetime | None
    duration_s: float | None = None
    status: str | None = "finished"
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    data: tuple[Mapping[str, Any], ...] = ()  # fingerprints (see sheettrack.fingerprint)
    notes: str | None = None
    hypothesis: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None
    sweep_rank: int | None = None
    #: other columns of a run read back from a store (a copy), by name, written as they are
    stored: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, values: Mapping[str, Any], groups: Mapping[str, str | None]) -> Record:
        """A run read back from a store (column name -> value, ``groups`` naming each
        column's group), as a ``Record``: nothing is added that the row did not hold."""
        by: dict[str | None, dict[str, Any]] = {}
        for name, value in values.items():
            by.setdefault(groups.get(name), {})[name] = value
        run = by.pop("run", {})
        notes = by.pop("notes", {})
        own = {k: run.pop(k, None) for k in ("run_id", "started_at", "ended_at", "duration_s", "status",
                                             "error", "sweep_id", "sweep_rank")}
        stored = {**run, **notes}
        hypothesis, text = stored.pop("hypothesis", None), stored.pop("notes", None)
        for group, group_values in by.items():
            if group not in ("params", "metrics", "tags"):
                stored.update(group_values)
        return cls(run_id=str(own["run_id"] or ""), started_at=own["started_at"], ended_at=own["ended_at"],
                   duration_s=own["duration_s"], status=own["status"], error=own["error"],
                   params=by.get("params", {}), metrics=by.get("metrics", {}), tags=by.get("tags", {}),
                   notes=text, hypothesis=hypothesis, sweep_id=own["sweep_id"], sweep_rank=own["sweep_rank"],
                   stored=stored)

    def fields(self) -> dict[str, dict[str, Any]]:
        """The run's values by group, as ``Schema.build_row`` takes them."""
        run: dict[str, Any] = {"run_id": self.run_id, "started_at": self.started_at,
                               "ended_at": self.ended_at, "duration_s": self.duration_s,
                               "status": self.status, "error": self.error}
        if self.sweep_id is not None or self.sweep_rank is not None:
            run.update(sweep_id=self.sweep_id, sweep_rank=self.sweep_rank)
        out = {"run": run, "params": dict(self.params), "metrics": dict(self.metrics),
               "tags": dict(self.tags), "data": {},
               "notes": {"hypothesis": self.hypothesis, "notes": self.notes},
               "provenance": dict(self.provenance)}
        if self.data:
            from .fingerprint import combined_hash

            plain = [dict(d) for d in self.data]
            out["data"] = {"data_hash": combined_hash(plain), "data": plain}
        if self.stored:
            out["stored"] = dict(self.stored)
        return out


def build_record(*, run_id: str | None = None, params: Any = None, metrics: Any = None,
                 tags: Any = None, data: Any = (), notes: str | list[str] | tuple[str, ...] | None = None,
                 hypothesis: str | None = None, status: str | None = None, error: str | None = None,
                 started_at: _dt.datetime | None = None, ended_at: _dt.datetime | None = None,
                 duration_s: float | None = None, provenance: Mapping[str, Any] | None = None,
                 sweep_id: str | None = None, sweep_rank: int | None = None) -> Record:
    """A ``Record`` from what a caller logged: nested dicts flattened, notes joined by lines,
    times defaulting to now, status to ``finished`` and the id to a new ULID. ``data`` is the
    fingerprints already taken (``fingerprint_many``)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    if isinstance(notes, (list, tuple)):
        notes = "\n".join(str(n) for n in notes)
    return Record(run_id=run_id or new_run_id(), started_at=started_at or now,
                  ended_at=ended_at or now, duration_s=duration_s, status=status or "finished",
                  error=error, params=flatten(params), metrics=flatten(metrics), tags=flatten(tags),
                  data=tuple(data or ()), notes=notes or None, hypothesis=hypothesis,
                  provenance=provenance if provenance is not None else {}, sweep_id=sweep_id, sweep_rank=sweep_rank)
