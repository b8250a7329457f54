"""The Python API behind ``sheettrack.log``, ``start_run``, ``load`` and the CLI."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from . import delivery
from .cells import CellError, col_letter, from_cell
from .delivery import CopyResult, Delivery, MirrorWarning, RowQueuedWarning, drop, pending, sync
from .errors import (
    SchemaMismatchError,
    TargetError,
    ValidationError,
)
from .frames import existing, read_table
from .record import Record, flatten
from .run import Run
from .schema import Column, Schema
from .session import Credentials, Session, TemplateArg
from .stores import open_store
from .stores.base import LaysOut, Shares
from .templates import load_template

__all__ = ["log", "start_run", "init", "lay_out", "schema_of", "validate", "Problem", "copy", "CopyResult",
           "share", "sync", "pending", "drop", "Delivery", "RowQueuedWarning", "MirrorWarning",
           "create_google_sheet"]


def log(target: str | os.PathLike | None = None, *, params: dict | None = None,
        metrics: dict | None = None, tags: dict | None = None, data: Any = None,
        notes: str | None = None, hypothesis: str | None = None, template: TemplateArg = None,
        status: str = "finished", run_id: str | None = None, sweep_id: str | None = None,
        sweep_rank: int | None = None, credentials: Credentials = None, on_error: str = "warn",
        strict: bool = False, mirror: str | os.PathLike | None = None) -> str:
    """Append one run as one row and return its run id.

    ``params``, ``metrics`` and ``tags`` are dicts (nested dicts become dotted names);
    ``data`` is a file, folder, DataFrame or array (or a dict or list of them) to
    fingerprint. Every value is checked against the template before anything is written.
    ``sweep_id`` and ``sweep_rank`` mark a run of a sweep logged one at a time.
    ``credentials`` is a Google key file, for Google Sheets targets. When the store cannot
    take the row now it waits in the outbox, the id is returned and a ``RowQueuedWarning``
    says why, what to fix and that ``sheettrack.sync`` sends it; ``strict=True`` (or
    ``on_error="raise"``) raises the store's error instead, noting that the row still waits.
    ``mirror`` (else ``SHEETTRACK_MIRROR``) is a second target that gets the run too, through
    its own outbox (a workbook kept in step with an MLflow server, say).
    """
    run = Run(target, template=template, hypothesis=hypothesis, notes=notes, run_id=run_id,
              credentials=credentials, on_error=error_mode(on_error, strict), mirror=mirror)
    run.sweep_id, run.sweep_rank = sweep_id, sweep_rank
    # checked together when the row is built, so one error lists every problem of the row
    run.params.update(flatten(params))
    run.metrics.update(flatten(metrics))
    run.tags.update(flatten(tags))
    if data is not None:
        run.log_data(data)
    return run.end(status)


def start_run(target: str | os.PathLike | None = None, *, template: TemplateArg = None,
              hypothesis: str | None = None, params: dict | None = None, tags: dict | None = None,
              notes: str | None = None, credentials: Credentials = None, on_error: str = "warn",
              strict: bool = False, mirror: str | os.PathLike | None = None) -> Run:
    """Start a run; use it as a context manager that appends the row when the block ends.
    ``strict``, ``on_error`` and ``mirror`` are as for ``log``."""
    return Run(target, template=template, hypothesis=hypothesis, params=params, tags=tags, notes=notes,
               credentials=credentials, on_error=error_mode(on_error, strict), mirror=mirror)


def error_mode(on_error: str, strict: bool) -> str:
    """``on_error`` as ``Run`` takes it: ``strict=True`` is ``on_error="raise"``."""
    return "raise" if strict else on_error


def init(target: str | os.PathLike | None = None, template: TemplateArg = None, *,
         credentials: Credentials = None) -> bool:
    """Lay out the workbook or Google Sheet for ``template``. A workbook that exists gains what
    the layout needs and it lacks (``lay_out`` says what). False when nothing was created or
    added (the target is left as it is)."""
    return bool(lay_out(target, template, credentials=credentials))


def lay_out(target: str | os.PathLike | None = None, template: TemplateArg = None, *,
            credentials: Credentials = None) -> list[str]:
    """What ``init`` does, returning what it did, one phrase each: ``["created BOOK"]``, or what
    it added to a workbook that exists (``"sheet Runs (an Excel Table RunsTable of 29
    columns)"``, ...); empty when the target had everything. A sheet of the runs sheet's name
    that is a table of the person's own is refused (``SchemaMismatchError``)."""
    store = open_store(target, credentials)
    schema = load_template(template)
    if isinstance(store, LaysOut):
        return store.lay_out(schema)
    if store.exists():
        return []
    return [f"created {store.target}"] if store.create(schema) else []


def schema_of(target: str | os.PathLike | None = None, *, credentials: Credentials = None) -> Schema:
    """The schema stored with a target (the default template when it stores none)."""
    return existing(target, credentials)[1]


@dataclass
class Problem:
    """One problem ``validate`` found: where, and what."""

    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.address}: {self.message}"


def validate(target: str | os.PathLike | None = None, *, credentials: Credentials = None) -> list[Problem]:
    """Check every cell of the runs sheet against the stored schema; return the problems."""
    store, schema, table = read_table(target, credentials)
    sheet = table.sheet
    problems: list[Problem] = []
    try:
        schema.check_header(table.header)
    except SchemaMismatchError as exc:
        problems.append(Problem(f"{sheet}!1", str(exc)))
    position = {name: i for i, name in enumerate(table.header) if name}
    seen_ids: dict[Any, int] = {}
    for r, row in enumerate(table.rows):
        rownum = table.first_row + r
        if all(v is None or v == "" for v in row):
            problems.append(Problem(f"{sheet}!{rownum}", "a blank row: delete the row (runs below it are read "
                                                         "as they are)"))
            continue
        for col in schema.columns:
            i = position.get(col.name)
            if i is None:
                continue
            address = f"{sheet}!{col_letter(i)}{rownum}"
            raw = row[i] if i < len(row) else None
            try:
                value = from_cell(col.type, raw)
            except CellError as exc:
                problems.append(Problem(address, f"{exc} ({col.rule()})"))
                continue
            if value is None:
                if col.required:
                    problems.append(Problem(address, f"a value is required ({col.rule()}, required)"))
                continue
            try:
                col.coerce(value, text_limit=store.text_limit)
            except ValueError as exc:
                problems.append(Problem(address, f"{exc} ({col.rule()})"))
            if col.name == "run_id":
                if value in seen_ids:
                    problems.append(Problem(address, f"run id {value!r} appears again (first in row "
                                                     f"{seen_ids[value]})"))
                else:
                    seen_ids[value] = rownum
    return problems


def copy(source: str | os.PathLike, dest: str | os.PathLike, *, credentials: Credentials = None,
         dest_credentials: Credentials = None, batch: int = 500, progress: bool | None = None) -> CopyResult:
    """Copy runs from one store to another (a workbook to a Google Sheet, or back).

    Rows whose run id DEST already has are skipped, so a copy can be repeated; every value is
    checked against DEST's schema before anything is written, and columns DEST lacks are added.
    The registered model versions (the Models sheet, or an MLflow target's model registry) DEST
    lacks come along.
    """

    src_store, src_schema, table = read_table(source, credentials)
    session = Session.open(dest, dest_credentials or credentials)
    layout = session.layout(None)
    if layout.stored is None:
        layout = session.layout(src_schema)
    have = delivery.stored_ids(session, layout.schema.sheet) if session.store.exists() else set()
    schema = layout.schema
    groups = {c.name: c.group for c in src_schema.columns}
    new: list[Column] = []
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    skipped = 0
    for r, raw in enumerate(table.rows):
        rownum = table.first_row + r
        values: dict[str, Any] = {}
        for i, name in enumerate(table.header):
            col = src_schema.column(name)
            if not name or col is None or i >= len(raw):
                continue
            try:
                value = from_cell(col.type, raw[i])
            except CellError as exc:
                problems.append(f"{table.sheet}!{col_letter(i)}{rownum}: {exc} ({col.rule()})")
                continue
            if value is None:
                continue
            if schema.column(name) is None:  # DEST gains the column as SOURCE defines it
                schema = schema.with_columns([col])
                new.append(col)
            values[name] = value
        if str(values.get("run_id")) in have:
            skipped += 1
            continue
        try:  # checked against DEST's schema, as every run is
            row, _ = schema.build_row(Record.from_stored(values, groups).fields(),
                                      text_limit=session.store.text_limit)
        except ValidationError as exc:
            problems.extend(f"{table.sheet}!{rownum}: {p} (in {session.target})" for p in exc.problems)
            continue
        rows.append(row)
    if problems:
        raise ValidationError(problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else []))
    show = sys.stderr.isatty() if progress is None else progress
    done = 0
    if rows:
        from rich.progress import Progress

        with Progress(disable=not show, transient=True) as bar:
            task = bar.add_task(f"copying to {session.target}", total=len(rows))
            for start in range(0, len(rows), batch):
                chunk = rows[start:start + batch]
                delivery.store_rows(session, chunk, schema, new if start == 0 else [])
                done += len(chunk)
                bar.update(task, advance=len(chunk))
    from .registry import copy_models

    return CopyResult(done, skipped, copy_models(src_store, session))


def share(target: str | os.PathLike, email: str, role: str = "reader", *, notify: bool = True,
          credentials: Credentials = None) -> None:
    """Share a Google Sheet target with ``email`` as reader (default), commenter or writer."""
    store = open_store(target, credentials)
    if not isinstance(store, Shares):
        raise TargetError(f"{store.target}: only Google Sheets are shared this way; a workbook is "
                          "shared as a file (a team drive, a network folder)")
    store.share(email, role, notify=notify)


# -- delivery: from the outbox to the store --------------------------------------------------


def create_google_sheet(title: str, *, share_with: list[str] | tuple = (), role: str = "writer",
                        template: TemplateArg = None, credentials: Credentials = None) -> str:
    """Create a new Google Sheet laid out for ``template``, share it, and return its address.

    The sheet belongs to the credentials' account (a service account's Drive): share it with
    the people who should open it (``share_with``, as writers by default).
    """
    from .stores.gsheets import create_spreadsheet

    sid = create_spreadsheet(title, credentials)
    target = f"gsheet://{sid}"
    init(target, template, credentials=credentials)
    for email in share_with:
        share(target, email, role, credentials=credentials)
    return f"https://docs.google.com/spreadsheets/d/{sid}/edit"
