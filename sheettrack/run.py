"""``Run``: what one experiment logs, from start to the one row it appends at the end."""

from __future__ import annotations

import datetime as _dt
import os
import time
from typing import Any, Literal

from . import delivery
from .errors import SheettrackError, ValidationError
from .record import Record, build_record, flatten, new_run_id
from .schema import Schema
from .session import Layout, Session, mode


class Run:
    """Collects params, metrics, tags, notes and data of one run; appends one row at the end.

    Use it as ``with sheettrack.start_run(target) as run:``. Values are checked against the
    template as they are logged, so a bad value fails at once, not after hours of training.
    On exit the row is written with status ``finished``, ``failed`` (and the exception's
    message) or ``interrupted`` (KeyboardInterrupt); an exception is always re-raised.
    """

    def __init__(self, target: str | os.PathLike | None = None, *, template: Any = None,
                 hypothesis: str | None = None, params: dict | None = None, tags: dict | None = None,
                 notes: str | None = None, run_id: str | None = None, credentials: Any = None,
                 on_error: str = "warn", mirror: str | os.PathLike | None = None) -> None:
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error={on_error!r}: must be 'warn' or 'raise'")
        self.on_error = on_error
        self.mirror = mirror  # a second target for the row (else SHEETTRACK_MIRROR)
        self.session = Session.open(target, credentials)
        #: the schema values are checked against (the stored one, else the template)
        self.layout: Layout = self.session.layout(template, online=mode() == "online")
        self.target = self.session.target
        self.run_id = run_id or new_run_id()
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        self._t0 = time.perf_counter()
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.tags: dict[str, Any] = {}
        self.notes: list[str] = []
        if hypothesis is not None:
            self._check("notes", {"hypothesis": hypothesis})
        self.hypothesis = hypothesis
        self.data: list[Any] = []
        self.status: str | None = None
        self.error: str | None = None
        self.sweep_id: str | None = None
        self.sweep_rank: int | None = None
        self.written = False
        if params:
            self.log_params(params)
        if tags:
            self.set_tags(tags)
        if notes:
            self.note(notes)

    def started(self, at: _dt.datetime, clock: float) -> None:
        """Date the run back to when training began: ``at`` in UTC, ``clock`` the
        ``time.perf_counter()`` reading then (the duration is measured from it)."""
        self.started_at, self._t0 = at, clock

    @property
    def schema(self) -> Schema:
        """The schema the run's values are checked against."""
        return self.layout.schema

    def _check(self, group: str, values: dict[str, Any]) -> None:
        """Check values against the template now, so a bad one fails before training ends."""
        self.schema.check_values(group, values, text_limit=self.session.store.text_limit)

    def _add(self, group: str, into: dict[str, Any], values: dict[str, Any]) -> None:
        flat = flatten(values)
        self._check(group, flat)
        into.update(flat)

    # -- logging -------------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record one hyperparameter (a nested dict becomes dotted names)."""
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Record hyperparameters; nested dicts flatten to ``outer.inner``."""
        self._add("params", self.params, params)

    def log_metric(self, key: str, value: Any) -> None:
        """Record a metric; logging the same name again keeps the latest value."""
        self.log_metrics({key: value})

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        """Record metrics; nested dicts flatten to dotted names."""
        self._add("metrics", self.metrics, metrics)

    def set_tag(self, key: str, value: Any) -> None:
        """Attach a tag (a label such as ``team`` or ``dataset``)."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Attach several tags."""
        self._add("tags", self.tags, tags)

    def log_data(self, data: Any, name: str | None = None) -> None:
        """Fingerprint a file, folder, DataFrame or array the run used (content hash, size, rows)."""
        from .fingerprint import fingerprint_many

        if name is not None:
            data = {name: data}
        try:
            self.data.extend(fingerprint_many(data))
        except (OSError, TypeError, ValueError) as exc:
            raise ValidationError(f"column data: {exc}") from None

    def note(self, text: str) -> None:
        """Add a note; several notes are kept as separate lines (checked now, like params)."""
        notes = self.notes + [str(text)]
        self._check("notes", {"notes": "\n".join(notes)})
        self.notes = notes

    # -- the row -------------------------------------------------------------------------------
    def record(self, provenance: dict[str, Any] | None = None) -> Record:
        """The run as it stands, as the ``Record`` that is written (``provenance`` of this
        process is captured unless given)."""
        if provenance is None:
            provenance = self.session.provenance(self.schema, capture_patch=mode() != "disabled")
        return build_record(
            run_id=self.run_id, started_at=self.started_at,
            ended_at=_dt.datetime.now(_dt.timezone.utc), duration_s=round(time.perf_counter() - self._t0, 3),
            status=self.status or "finished", error=self.error, params=self.params, metrics=self.metrics,
            tags=self.tags, data=self.data, notes=self.notes, hypothesis=self.hypothesis,
            provenance=provenance, sweep_id=self.sweep_id, sweep_rank=self.sweep_rank)

    def end(self, status: str = "finished", error: str | None = None) -> str:
        """Append the run's row now (once); return the run id."""
        if self.written:
            return self.run_id
        self.status, self.error = status, error
        delivery.write(self.session, self.layout, [self.record()], on_error=self.on_error, mirror=self.mirror)
        self.written = True
        return self.run_id

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc_type is None:
            self.end("finished")
            return False
        if issubclass(exc_type, KeyboardInterrupt):
            status, message = "interrupted", "KeyboardInterrupt"
        else:
            status = "failed"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            message = f"{exc_type.__name__}: {first}" if first else exc_type.__name__
        try:
            self.end(status, message[:1000])
        except SheettrackError as write_error:
            import warnings

            warnings.warn(f"sheettrack: the {status} run {self.run_id} was not written: {write_error}",
                          stacklevel=2)
        return False

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, target={self.target!r}, status={self.status or 'running'!r})"
