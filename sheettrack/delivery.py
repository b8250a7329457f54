"""Delivery: the only way rows reach ``Store.append``.

Checked rows are queued durably in the target's outbox first, then written to the store in
one transaction together with the reference rows (Environments, Data) they point at. A row
the store cannot take now waits in the outbox; ``sync`` delivers it later. Single logs,
batches, ``copy``, the registry's Models rows and ``sync`` all come through here.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    SchemaMismatchError,
    SheetNotFoundError,
    SheettrackError,
    StoreError,
    TemplateError,
    ValidationError,
)
from .outbox import Contents, Entry
from .record import Record, chosen_by_caller
from .schema import Column, Schema, SheettrackWarning
from .schema.core import caller_level
from .session import Credentials, Layout, Session, file_version, late_columns, mode


@dataclass
class Delivery:
    """What one delivery attempt did for one target."""

    target: str
    delivered: int = 0
    already: int = 0  # rows found in the store already (not written again)
    waiting_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    lost: list[str] = field(default_factory=list)
    error: BaseException | None = None
    # rows the store's own rules refuse (a column defined meanwhile, a stricter sheet): each
    # waits alone, with why, and the rows queued with it are delivered
    refused: dict[str, str] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # run ids this delivery wrote


# -- from records to checked rows -------------------------------------------------------------

def build_rows(session: Session, layout: Layout, records: list[Record]) -> tuple[list[dict[str, Any]], list[Column]]:
    """Check every record against the layout (a bad one names its index) and return the rows
    and the columns they add; nothing is written here. The layout grows by the sweep columns a
    sheet laid out before them lacks."""
    fields_list = [r.fields() for r in records]
    layout.grow(late_columns(layout.schema, [f["run"] for f in fields_list]))
    schema = layout.schema
    rows, new = [], list(layout.extra)
    many = len(fields_list) > 1
    check_repeats(records)
    limit = session.store.text_limit
    shared: tuple[Any, dict[str, Any]] | None = None  # the provenance the batch shares, checked once
    for i, (record, fields) in enumerate(zip(records, fields_list)):
        checked = None
        if many and record.provenance:
            if shared is None or shared[0] is not record.provenance:
                shared = (record.provenance, schema.build_row(
                    {"provenance": fields["provenance"]}, text_limit=limit, row_index=i, complete=False)[0])
            checked = shared[1]
            del fields["provenance"]
        row, cols = schema.build_row(fields, text_limit=limit, row_index=i if many else None,
                                     checked=checked)
        if cols:
            schema = schema.with_columns(cols)
            new.extend(cols)
        rows.append(row)
    return rows, new


def check_repeats(records: list[Record]) -> None:
    """A run id names one run: a batch that repeats one is refused, naming both rows."""
    first: dict[str, int] = {}
    for i, record in enumerate(records):
        seen = first.setdefault(record.run_id, i)
        if seen != i:
            raise ValidationError(f"run_id: rows {seen} and {i} both have run id {record.run_id!r}; a run id "
                                  "names one run: give each row its own (or leave run_id out)", i)


def check_unused(session: Session, schema: Schema, records: list[Record], contents: Contents) -> None:
    """Refuse a run id the caller chose that the outbox or the store holds already (an id
    sheettrack made is new by construction and is not looked up). A store that cannot be
    read now is not asked: the row is queued, and delivered once, by its id."""
    chosen = {r.run_id: i for i, r in enumerate(records) if chosen_by_caller(r.run_id)}
    if not chosen:
        return
    many = len(records) > 1
    waiting = {e.run_id for e in contents.entries}
    for rid, i in chosen.items():
        if rid in waiting:
            raise ValidationError(f"run_id: run id {rid!r} waits in the outbox {session.outbox.path} already; "
                                  "a run id names one run: choose another (or leave run_id out)",
                                  i if many else None)
    try:
        present = stored_ids(session, schema.sheet) if session.store.exists() else set()
    except StoreError:
        return
    for rid, i in chosen.items():
        if rid in present:
            raise ValidationError(f"run_id: {session.target} has a run with id {rid!r} already; a run id "
                                  "names one run: choose another (or leave run_id out)", i if many else None)


def write(session: Session, layout: Layout, records: list[Record], *, on_error: str = "warn",
          mirror: str | os.PathLike | None = None) -> None:
    """Check the records, queue them durably in the outbox, then deliver them to the store.

    A row the store cannot take now stays queued: a ``RowQueuedWarning`` says why and where
    (``on_error="raise"`` raises instead, the row still queued). Bad values raise at once.
    ``mirror`` (else ``SHEETTRACK_MIRROR``) names a second target that gets the same runs
    through its own outbox: either one failing never loses the other's copy (a ``MirrorWarning``
    says what the mirror did not get).
    """
    rows, new = build_rows(session, layout, records)
    how = mode()
    if how == "disabled":
        return
    sent = queue_and_deliver(session, layout, records, rows, new, how)
    mirror = mirror if mirror is not None else os.environ.get("SHEETTRACK_MIRROR", "").strip() or None
    if mirror:
        write_mirror(session, mirror, layout.schema, records, how)
    if sent is not None:
        report(session, *sent, on_error)


def queue_and_deliver(session: Session, layout: Layout, records: list[Record], rows: list[dict[str, Any]],
                      new: list[Column], how: str) -> tuple[Delivery, list[str]] | None:
    """Queue checked rows (and the reference rows they point at) in the session's outbox and,
    online, deliver them; what the delivery did and the rows' ids (None offline)."""
    from . import references
    from .environment import current

    box = session.outbox
    with session.lock, box.locked():
        contents = box.read()
        check_unused(session, layout.schema, records, contents)
        references.queue(session, rows, current() if layout.schema.provenance.get("python", True) else None)
        ids = box.put(rows, layout.schema, new, contents)
        if how == "offline":
            print(f"sheettrack: SHEETTRACK_MODE=offline: {len(ids)} row(s) for {session.target} queued in "
                  f"{box.path}; 'sheettrack sync' delivers them", file=sys.stderr)
            return None
        return deliver(session, fresh=ids, contents=contents), ids


def write_mirror(session: Session, target: str | os.PathLike, schema: Schema, records: list[Record],
                 how: str) -> None:
    """The same runs into the mirror target, checked against its own schema (a new one is laid
    out like the primary) and queued in its own outbox. Nothing here raises into the primary
    log: a row the mirror cannot take now waits in its outbox (a ``MirrorWarning`` says so);
    one it refuses is named in a warning, and ``sheettrack copy`` can bring it later."""
    try:
        mirror = Session.open(target)
        if mirror.key == session.key:
            return
        layout = mirror.layout(None, online=how == "online")
        if layout.stored is None:
            layout = mirror.layout(schema, online=how == "online")
        rows, new = build_rows(mirror, layout, records)
        sent = queue_and_deliver(mirror, layout, records, rows, new, how)
    except SheettrackError as exc:
        warnings.warn(f"mirror {target}: {len(records)} run(s) not mirrored: {exc}", MirrorWarning,
                      stacklevel=caller_level())
        return
    if sent is not None:
        result, ids = sent
        waiting = [i for i in ids if i in result.waiting_ids]
        if result.reason is not None and waiting:
            warnings.warn("mirror " + queued_message(mirror.target, result.reason, result.error, waiting),
                          MirrorWarning, stacklevel=caller_level())


class RowQueuedWarning(SheettrackWarning):
    """The store could not take the row now; it waits in the outbox and ``sheettrack sync``
    (or ``sheettrack.sync``) sends it. The call still returned the run id; ``strict=True``
    (``on_error="raise"``) raises instead. The CLI exits 75 (EX_TEMPFAIL) on it."""


class MirrorWarning(SheettrackWarning):
    """The mirror target did not get a run now: it waits in the mirror's outbox (``sheettrack
    sync`` sends it), or the mirror's rules refused it (``sheettrack copy`` can bring it
    later). The primary target has the run; the CLI still exits 0."""


def queued_message(target: str, reason: str, error: BaseException | None, run_ids: list[str]) -> str:
    """One line on rows that wait: why (the target named once), what to fix, and what sends
    them (``sheettrack outbox`` shows where they wait)."""
    why = reason if target in reason or names_target(reason, error) else f"{target}: {reason}"
    fix = fix_for(error, reason)
    rows = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"
    return (f"{why} -- {rows} wait{'s' if len(run_ids) == 1 else ''} in the outbox; "
            f"{fix + ', then ' if fix else ''}run 'sheettrack sync' to send "
            f"{'it' if len(run_ids) == 1 else 'them'} (logging again would log twice)")


def names_target(reason: str, error: BaseException | None) -> bool:
    """Whether the store's own message names its target already (as the store spells it)."""
    named = getattr(error, "target", None)
    return bool(named) and str(named) in reason


def fix_for(error: BaseException | None, reason: str) -> str:
    """What the user can do about a store that cannot take rows, when the message does not
    already say it."""
    from .errors import CorruptWorkbookError

    if isinstance(error, CorruptWorkbookError):
        return "restore the file from a backup, or move it away so a new one is laid out"
    if "folder" in reason and "does not exist" in reason:
        return "create the folder (or mount the share)"
    return ""


def report(session: Session, result: Delivery, ids: list[str], on_error: str) -> None:
    """Tell the caller what became of this call's rows ``ids``: rows that wait give one
    ``RowQueuedWarning`` (or raise with ``on_error="raise"``, or when the sheet's rules refuse
    them: then the error's note says the rows still wait)."""
    box = session.outbox
    for lost in result.lost:
        print(f"sheettrack: outbox: {lost}", file=sys.stderr)
    waiting = [i for i in ids if i in result.waiting_ids]
    if result.reason is not None and waiting:
        message = queued_message(session.target, result.reason, result.error, waiting)
        if on_error == "raise" or isinstance(result.error, ValidationError):
            # a value the store's rules refuse is the caller's to fix: raised, and kept
            error = result.error or StoreError(message, session.target)
            if hasattr(error, "add_note"):
                error.add_note(message.partition(" -- ")[2])
            raise error
        warnings.warn(message, RowQueuedWarning, stacklevel=caller_level())
    earlier = [(rid, why) for rid, why in result.refused.items() if rid not in ids]
    if earlier:
        rid, why = earlier[0]
        print(f"sheettrack: {len(earlier)} earlier row(s) for {session.target} break the sheet's rules and "
              f"wait in the outbox {box.path} (run {rid}: {why}); fix the sheet, or drop them with "
              f"'sheettrack outbox {session.target} --drop RUN_ID'", file=sys.stderr)


# -- into the store -----------------------------------------------------------------------------

def store_rows(session: Session, rows: list[dict[str, Any]], schema: Schema, new: list[Column]) -> None:
    """Write checked rows in one store transaction, laying the store out first if needed
    (``copy`` writes this way: its rows are in the source already, not in an outbox)."""
    exists = session.store.exists()
    stored = session.stored_schema() if exists else None
    layout = None
    if not exists:
        layout = schema.with_columns(new)  # the first row's new columns are laid out too
        if not layout.columns:
            raise TemplateError(f"template {schema.name!r} has no columns and the run "
                                "logged no values to make any from")
    added = [c for c in new if stored is None or stored.column(c.name) is None]
    commit(session, rows, schema.with_columns(new), [] if layout is not None else added, layout)
    if layout is not None:
        now = session.stored_schema()
        if now is not None and now.name != schema.name:
            raise SchemaMismatchError(f"{session.target} was just created by another process with "
                                      f"template {now.name!r}")


def commit(session: Session, rows: list[dict[str, Any]], schema: Schema, added: list[Column],
           layout: Schema | None = None, refs: Any = None) -> None:
    """One store transaction: the store laid out for ``layout`` when it is new, the rows with
    the columns they add, and the reference rows ``refs`` (``references.Pending``) they point
    at. The session keeps its stored schema when the write cannot have changed it: nobody else
    wrote meanwhile and no column was added (after an added column it is read again: another
    writer may have added the same column with its own definition, which the store kept)."""
    before = file_version(session.store)
    with session.store.transaction() as tx:
        if layout is not None:
            tx.create(layout)
        tx.append(rows, schema, added)
        if refs is not None:
            refs.add_to(tx)
    if refs is not None:
        refs.settled(session)
    if layout is not None or added:
        session.forget_schema()
    else:
        session.wrote(before)


def write_reference(session: Session, sheet: str, header: list[str], rows: list[dict[str, Any]],
                    key: str | None = None) -> None:
    """Append rows to a reference sheet (the registry's Models rows) in one transaction."""
    before = file_version(session.store)
    with session.lock, session.store.transaction() as tx:
        tx.append_rows(sheet, header, rows, key)
    session.wrote(before)


def stored_ids(session: Session, sheet: str) -> set[str]:
    """The run ids the runs sheet holds now (none when the workbook has no runs sheet yet:
    the write lays one out)."""
    try:
        table = session.store.read(sheet)
    except SheetNotFoundError:
        return set()
    if "run_id" not in table.header:
        return set()
    i = table.header.index("run_id")
    return {str(r[i]) for r in table.rows if i < len(r) and r[i] not in ("", None)}


def write_entries(session: Session, entries: list[Entry], refs: Any = None) -> None:
    """Append queued rows in one store transaction, against what the store holds now, with the
    reference rows ``refs`` (``references.Pending``) they point at."""
    store = session.store
    first = entries[0].schema
    known: dict[str, Column] = {}
    for e in entries:
        for c in e.schema.columns + e.new:
            known.setdefault(c.name, c)
    exists = store.exists()
    stored = session.stored_schema() if exists else None
    layout = None
    if not exists:
        used = {k for e in entries for k in e.row}
        layout = first.with_columns([known[k] for k in known if k in used and first.column(k) is None])
        if not layout.columns:
            raise TemplateError(f"template {first.name!r} has no columns and the run logged no values")
    base = stored or layout or first
    rows = []
    differ: dict[tuple[int, int], list[Column]] = {}  # per layout: columns defined otherwise now
    for i, e in enumerate(entries):
        lay = (id(e.schema), id(e.new))
        if lay not in differ:
            own = {c.name: c for c in e.schema.columns + e.new}
            differ[lay] = [now for name, col in own.items()
                           if (now := base.column(name)) is not None and now != col]
        row = dict(e.row)
        for now in differ[lay]:
            value = row.get(now.name)
            if value is None:
                continue
            try:  # the column was defined meanwhile (another writer): its definition wins
                row[now.name] = now.coerce(value)
            except ValueError as exc:
                raise ValidationError(f"column {now.name}: {exc} ({now.type})",
                                      i if len(entries) > 1 else None) from None
        rows.append(row)
    extra = [known[k] for k in dict.fromkeys(k for e in entries for k in e.row) if base.column(k) is None]
    added = [c for c in extra if stored is None or stored.column(c.name) is None]
    commit(session, rows, base.with_columns(extra), added, layout, refs)


def reason_of(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SheettrackError) else f"{type(exc).__name__}: {exc}"


class Attempt:
    """One delivery in progress: the outbox's rows as read once, what became of them."""

    def __init__(self, session: Session, entries: list[Entry], result: Delivery, refs: Any) -> None:
        self.session = session
        self.box = session.outbox
        self.waiting = {e.run_id for e in entries}
        self.result = result
        self.refs = refs  # reference rows still to write, with the first rows that land

    def done(self, ids: list[str]) -> None:
        self.box.done(ids, waiting=len(self.waiting))
        self.waiting.difference_update(ids)

    def fail(self, ids: list[str], exc: BaseException) -> None:
        self.result.reason, self.result.error = reason_of(exc), exc
        self.box.fail(ids, self.result.reason)
        self.result.waiting_ids += ids

    def write_all(self, chunk: list[Entry]) -> None:
        """Write ``chunk`` in one store transaction and take it out of the outbox."""
        write_entries(self.session, chunk, self.refs)
        self.refs = None
        self.done([e.run_id for e in chunk])
        self.result.delivered += len(chunk)
        self.result.written.update(e.run_id for e in chunk)

    def write_refusing(self, chunk: list[Entry]) -> None:
        """Write ``chunk`` in one store transaction; a row the store's own rules refuse is
        taken out (kept in the outbox with why, marked refused, listed in ``result.refused``)
        and the others are written. Raises when the store cannot take rows now; rows written
        before that are out of the outbox already."""
        left = list(chunk)
        while left:
            try:
                self.write_all(left)
                return
            except ValidationError as exc:
                at = exc.row_index if len(left) > 1 else 0
                if at is None or not 0 <= at < len(left):  # which row is not known: one at a time
                    for one in left:
                        try:
                            self.write_all([one])
                        except ValidationError as single:
                            self.refuse(one, single)
                    return
                self.refuse(left.pop(at), exc)

    def refuse(self, entry: Entry, exc: ValidationError) -> None:
        reason = reason_of(ValidationError(exc.problems))  # its index was the chunk's, not the user's
        self.box.fail([entry.run_id], reason, refused=True)
        self.result.refused[entry.run_id] = reason
        self.result.waiting_ids.append(entry.run_id)
        if self.result.reason is None:
            self.result.reason, self.result.error = reason, ValidationError(exc.problems)


def deliver(session: Session, fresh: list[str] | tuple[str, ...] = (), batch: int = 500,
            progress: Any = None, contents: Contents | None = None) -> Delivery:
    """Deliver what waits in the session's outbox (the caller holds its lock), reading the
    outbox once (``contents``: read already, under the same lock). Rows queued earlier are
    looked up in the store first, so a row written before a crash is not written again."""
    from . import references

    box = session.outbox
    if contents is None:
        contents = box.read()
    result = Delivery(session.target, lost=contents.lost)
    attempt = Attempt(session, contents.entries, result, None)
    if contents.entries:
        try:
            attempt.refs = references.pending(session)
        except Exception as exc:  # noqa: BLE001 - the store cannot be read now: everything waits
            attempt.fail([e.run_id for e in contents.entries], exc)
            box.compact(waiting=len(contents.entries))
            return result
    fresh_set = set(fresh)
    stale = [e for e in contents.entries if e.run_id not in fresh_set]
    mine = [e for e in contents.entries if e.run_id in fresh_set]
    if any(not e.refused for e in stale):  # a refused row was never written: nothing to look up
        try:
            if session.store.exists():
                stored = session.stored_schema()
                present = stored_ids(session, (stored or stale[0].schema).sheet)
                have = [e.run_id for e in stale if e.run_id in present]
                attempt.done(have)
                result.already = len(have)
                stale = [e for e in stale if e.run_id not in present]
        except Exception as exc:  # noqa: BLE001 - cannot look: deliver nothing that could double
            attempt.fail([e.run_id for e in stale], exc)
            stale = []
    # rows queued earlier: a row the store's rules refuse waits alone and the others go on;
    # this call's rows: one store write, all or nothing (the caller is told at once)
    for group, size, write_chunk in ((stale, batch, attempt.write_refusing), (mine, len(mine), attempt.write_all)):
        for start in range(0, len(group), max(size, 1)):
            chunk = group[start:start + max(size, 1)]
            try:
                write_chunk(chunk)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the rows stay queued
                settled = set(result.refused) | result.written
                attempt.fail([e.run_id for e in group[start:] if e.run_id not in settled], exc)
                break
            if progress is not None:
                progress(len(chunk))
    box.compact(waiting=len(attempt.waiting))
    return result


def sync(target: str | os.PathLike | None = None, *, credentials: Credentials = None,
         progress: bool | None = None) -> list[Delivery]:
    """Deliver every row waiting in the outbox (of ``target``, or of every target)."""
    from .outbox import all_outboxes

    if target is not None or os.environ.get("SHEETTRACK_TARGET", "").strip():
        sessions = [Session.open(target, credentials)]
    else:
        sessions = [Session.open(b.label, credentials) for b in all_outboxes()]
    show = sys.stderr.isatty() if progress is None else progress
    results = []
    from rich.progress import Progress

    with Progress(disable=not show, transient=True) as bar:
        for session in sessions:
            box = session.outbox
            with session.lock, box.locked():
                waiting = len(box.read().entries)
                task = bar.add_task(f"delivering to {session.target}", total=waiting)
                results.append(deliver(session, progress=lambda n, t=task: bar.update(t, advance=n)))
    return results


def pending(target: str | os.PathLike | None = None, *, credentials: Credentials = None) -> list[dict[str, Any]]:
    """The rows waiting in the outbox: target, run id, when queued, attempts, last reason, file."""
    from .outbox import all_outboxes

    if target is not None or os.environ.get("SHEETTRACK_TARGET", "").strip():
        boxes = [Session.open(target, credentials).outbox]
    else:
        boxes = all_outboxes()
    out = []
    for box in boxes:
        contents = box.read()
        for e in contents.entries:
            out.append({"target": e.target, "run_id": e.run_id, "queued_at": e.queued_at,
                        "attempts": e.attempts, "reason": e.reason, "file": str(box.path)})
        for lost in contents.lost:
            out.append({"target": box.label, "run_id": None, "queued_at": None, "attempts": None,
                        "reason": lost, "file": str(box.path)})
    return out


def drop(target: str | os.PathLike | None, run_ids: list[str] | tuple, *,
         credentials: Credentials = None) -> list[str]:
    """Take rows out of the outbox of ``target`` without delivering them (a row the sheet's
    rules refuse, say); returns the run ids dropped. Unknown ids raise, and nothing is dropped."""
    box = Session.open(target, credentials).outbox
    with box.locked():
        waiting = {e.run_id for e in box.read().entries}
        unknown = [rid for rid in run_ids if rid not in waiting]
        if unknown:
            raise ValidationError(f"run_id: {', '.join(unknown)} not waiting in the outbox {box.path} "
                                  f"({len(waiting)} row(s) wait there; 'sheettrack outbox' lists them)")
        box.done(list(dict.fromkeys(run_ids)))
    return list(dict.fromkeys(run_ids))


@dataclass
class CopyResult:
    """What ``copy`` did: rows copied, rows skipped because DEST had their run id, and the
    registered model versions (the Models sheet; MLflow's registry) copied along."""

    copied: int
    skipped: int
    models: int = 0
