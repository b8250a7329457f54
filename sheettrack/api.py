"""The Python API behind ``sheettrack.log``, ``start_run``, ``load`` and the CLI."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .cells import CellError, col_letter, from_cell
from .errors import (
    SchemaMismatchError,
    SheettrackError,
    StoreError,
    TargetError,
    TemplateError,
    ValidationError,
)
from .frames import existing, read_table
from .schema import Column, Schema
from .stores import Store, open_store
from .templates import load_template

TemplateArg = Any  # a built-in name, a YAML path, a dict or a Schema
Credentials = str | os.PathLike | None  # a Google key file; see sheettrack.stores.gsheets


MODES = ("online", "offline", "disabled")


def mode() -> str:
    """``SHEETTRACK_MODE``: online (default), offline (rows only queue) or disabled (no writes)."""
    value = os.environ.get("SHEETTRACK_MODE", "").strip().lower() or "online"
    if value not in MODES:
        raise TargetError(f"SHEETTRACK_MODE={value!r}: must be one of {', '.join(MODES)}")
    return value

# Columns of the run group a workbook made before they existed gets when a run fills them.
_LATE_RUN_COLUMNS = ("sweep_id", "sweep_rank")

# Stored schemas of local workbooks by path: (file version, schema). A sweep logging one run
# at a time reads the schema once, not once per run; any other writer changes the version.
_STORED: dict[str, tuple[tuple, Schema | None]] = {}


def _file_version(store: Store) -> tuple | None:
    path = getattr(store, "path", None)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def _stored_schema(store: Store) -> Schema | None:
    version = _file_version(store)
    key = str(getattr(store, "path", ""))
    hit = _STORED.get(key) if version is not None else None
    if hit is not None and hit[0] == version:
        return hit[1]
    schema = store.read_schema()
    if version is not None:
        _STORED[key] = (version, schema)
    return schema


class _Session:
    """A target opened for writing: its store, the schema rows are checked against."""

    def __init__(self, target: str | os.PathLike | None, template: TemplateArg = None,
                 credentials: Credentials = None, on_error: str = "warn") -> None:
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error={on_error!r}: must be 'warn' or 'raise'")
        self.on_error = on_error
        self.mode = mode()
        self.store: Store = open_store(target, credentials)
        self.target = self.store.target
        from .provenance import own_files  # a workbook in the repository does not make it dirty

        own_files(getattr(self.store, "path", None), os.environ.get("SHEETTRACK_ARTIFACTS", "").strip() or None)
        self.extra: list[Column] = []
        self.unreachable: str | None = None
        stored = None
        if self.mode == "online":
            try:
                stored = _stored_schema(self.store) if self.store.exists() else None
            except (StoreError, TargetError) as exc:
                # the store cannot be read now: check rows against the template, queue them
                self.unreachable = str(exc)
        self.stored = stored
        if stored is None:
            self.schema = load_template(template)
        else:
            self.schema = stored
            if template is not None:
                given = load_template(template)
                if given.name != stored.name:
                    raise SchemaMismatchError(
                        f"{self.target} was created with template {stored.name!r}, not {given.name!r}; "
                        f"log with template={stored.name!r} (or none), or use another workbook")
                self.extra = [c for c in given.columns if stored.column(c.name) is None]
                self.schema = stored.with_columns(self.extra)
            repro = _reproducibility_columns(self.schema)
            if repro:  # a sheet laid out before runs carried these keys gains them
                self.extra += repro
                self.schema = self.schema.with_columns(repro)

    def provenance(self) -> dict[str, Any]:
        """Provenance of this process; git is re-asked only when the repository changed."""
        from .provenance import capture_cached

        info = capture_cached(**self.schema.provenance)
        info.update(self.reproducibility())
        return info

    def reproducibility(self) -> dict[str, Any]:
        """What reproducing the run needs beyond ``capture``: the environment's key, the folder,
        the saved patch of a dirty tree, untracked imported files, and the run it reproduces."""
        from . import provenance as prov

        groups = self.schema.provenance
        out: dict[str, Any] = {}
        reproduces = os.environ.get("SHEETTRACK_REPRODUCES", "").strip()
        if reproduces:
            out["reproduces"] = reproduces
        if groups.get("python", True):
            from .environment import current

            out["env_hash"] = current().key
        cwd = os.getcwd()
        if not (groups.get("command", True) or groups.get("git", True)):
            return out
        found = prov.cached_reproducibility(cwd)
        if groups.get("command", True):
            out["workdir"] = found["workdir"]
        if groups.get("git", True):
            out["untracked"] = found["untracked"] or None
            if found["patch"] and self.mode != "disabled":
                from .references import capture_patch

                out["patch_hash"] = capture_patch(self.store, cwd, None, found["patch"])
        return out

    def _late_columns(self, fields_list: list[dict[str, dict[str, Any]]]) -> list[Column]:
        """Sweep columns for a workbook laid out before they existed, when a row fills them."""
        wanted = {k for f in fields_list for k, v in f.get("run", {}).items()
                  if k in _LATE_RUN_COLUMNS and v is not None and self.schema.column(k) is None}
        if not wanted:
            return []
        default = load_template("default")
        return [c for c in (default.column(n) for n in _LATE_RUN_COLUMNS) if c is not None and c.name in wanted]

    def build(self, fields_list: list[dict[str, dict[str, Any]]]) -> tuple[list[dict], list[Column]]:
        """Check every row first (a bad one names its index); nothing is written here."""
        late = self._late_columns(fields_list)
        if late:
            self.extra = self.extra + late
            self.schema = self.schema.with_columns(late)
        schema = self.schema
        rows, new = [], list(self.extra)
        many = len(fields_list) > 1
        for i, fields in enumerate(fields_list):
            row, cols = schema.build_row(fields, text_limit=self.store.text_limit,
                                         row_index=i if many else None)
            if cols:
                schema = schema.with_columns(cols)
                new.extend(cols)
            rows.append(row)
        return rows, new

    def write(self, fields_list: list[dict[str, dict[str, Any]]]) -> None:
        """Check the rows, queue them durably in the outbox, then deliver them to the store.

        A row the store cannot take now stays queued: one line on stderr says why and where
        (``on_error="raise"`` raises instead, the row still queued). Bad values raise at once.
        """
        rows, new = self.build(fields_list)
        if self.mode == "disabled":
            return
        from .outbox import Outbox

        box = Outbox.for_store(self.store)
        with box.locked():
            from . import references
            from .environment import current

            references.queue(box, self.store, rows, current() if self.schema.provenance.get("python", True) else None)
            ids = box.put(rows, self.schema, new)
            if self.mode == "offline":
                print(f"sheettrack: SHEETTRACK_MODE=offline: {len(ids)} row(s) for {self.target} queued in "
                      f"{box.path}; 'sheettrack sync' delivers them", file=sys.stderr)
                return
            result = _deliver(self.store, box, fresh=ids)
        for lost in result.lost:
            print(f"sheettrack: outbox: {lost}", file=sys.stderr)
        if result.reason is not None and any(i in result.waiting_ids for i in ids):
            message = (f"{self.target}: {result.reason}; the row waits in the outbox {box.path} "
                       f"('sheettrack sync' delivers it)")
            if self.on_error == "raise" or isinstance(result.error, ValidationError):
                # a value the store's rules refuse is the caller's to fix: raised, and kept
                error = result.error or StoreError(message, self.target)
                if hasattr(error, "add_note"):
                    error.add_note(f"the row waits in the outbox {box.path} ('sheettrack sync' delivers it)")
                raise error
            print(f"sheettrack: {message}", file=sys.stderr)
        earlier = [(rid, why) for rid, why in result.refused.items() if rid not in ids]
        if earlier:
            rid, why = earlier[0]
            print(f"sheettrack: {len(earlier)} earlier row(s) for {self.target} break the sheet's rules and "
                  f"wait in the outbox {box.path} (run {rid}: {why}); fix the sheet, or drop them with "
                  f"'sheettrack outbox {self.target} --drop RUN_ID'", file=sys.stderr)

    def store_rows(self, rows: list[dict[str, Any]], new: list[Column]) -> None:
        """Write checked rows in one store operation, laying the store out first if needed."""
        if not self.store.exists():
            first = self.schema.with_columns(new)  # the first row's new columns are laid out too
            if not first.columns:
                raise TemplateError(f"template {self.schema.name!r} has no columns and the run "
                                    "logged no values to make any from")
            self.store.create(first)
            self.stored = self.store.read_schema()
            if self.stored is not None and self.stored.name != self.schema.name:
                raise SchemaMismatchError(f"{self.target} was just created by another process with "
                                          f"template {self.stored.name!r}")
        before = _file_version(self.store)
        added = [c for c in new if self.stored is None or self.stored.column(c.name) is None]
        self.store.append(rows, self.schema.with_columns(new), added)
        key = str(getattr(self.store, "path", ""))
        if (not added and before is not None and self.stored is not None
                and _STORED.get(key, (None,))[0] == before):
            # Nobody else wrote since the schema was read and no column was added, so the stored
            # schema is unchanged. (After an added column it is read again: another writer may
            # have added the same column with its own definition, which the store then kept.)
            after = _file_version(self.store)
            if after is not None:
                _STORED[key] = (after, self.stored)


_REPRO_COLUMNS = ("env_hash", "workdir", "patch_hash", "untracked", "reproduces")


def _reproducibility_columns(schema: Schema) -> list[Column]:
    """The default template's reproducibility columns that ``schema`` lacks (those of provenance
    groups it switched off apart)."""
    from .schema import PROVENANCE_COLUMNS

    off = {n for g, on in schema.provenance.items() if not on for n in PROVENANCE_COLUMNS.get(g, ())}
    lacking = [n for n in _REPRO_COLUMNS if n not in off and schema.column(n) is None]
    if not lacking:  # the usual case: no template to parse
        return []
    base = load_template("default")
    return [c for c in base.columns if c.name in lacking]


def log(target: str | os.PathLike | None = None, *, params: dict | None = None,
        metrics: dict | None = None, tags: dict | None = None, data: Any = None,
        notes: str | None = None, hypothesis: str | None = None, template: TemplateArg = None,
        status: str = "finished", run_id: str | None = None, sweep_id: str | None = None,
        sweep_rank: int | None = None, credentials: Credentials = None, on_error: str = "warn") -> str:
    """Append one run as one row and return its run id.

    ``params``, ``metrics`` and ``tags`` are dicts (nested dicts become dotted names);
    ``data`` is a file, folder, DataFrame or array (or a dict or list of them) to
    fingerprint. Every value is checked against the template before anything is written.
    ``sweep_id`` and ``sweep_rank`` mark a run of a sweep logged one at a time.
    ``credentials`` is a Google key file, for Google Sheets targets. When the store cannot
    take the row now it waits in the outbox and one line on stderr says so; ``on_error="raise"``
    raises the store's error instead (the row still waits).
    """
    from .record import flatten
    from .run import Run

    run = Run(target, template=template, hypothesis=hypothesis, notes=notes, run_id=run_id,
              credentials=credentials, on_error=on_error)
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
              notes: str | None = None, credentials: Credentials = None, on_error: str = "warn") -> Any:
    """Start a run; use it as a context manager that appends the row when the block ends."""
    from .run import Run

    return Run(target, template=template, hypothesis=hypothesis, params=params, tags=tags, notes=notes,
               credentials=credentials, on_error=on_error)


def init(target: str | os.PathLike | None = None, template: TemplateArg = None, *,
         credentials: Credentials = None) -> bool:
    """Lay out the workbook or Google Sheet for ``template``; False when it exists already (it
    is left as is)."""
    store = open_store(target, credentials)
    if store.exists():
        return False
    return store.create(load_template(template))


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


@dataclass
class CopyResult:
    """What ``copy`` did: rows copied, and rows skipped because DEST had their run id."""

    copied: int
    skipped: int


def copy(source: str | os.PathLike, dest: str | os.PathLike, *, credentials: Credentials = None,
         dest_credentials: Credentials = None, batch: int = 500, progress: bool | None = None) -> CopyResult:
    """Copy runs from one store to another (a workbook to a Google Sheet, or back).

    Rows whose run id DEST already has are skipped, so a copy can be repeated; every value is
    checked against DEST's schema before anything is written, and columns DEST lacks are added.
    """
    import sys

    src_store, src_schema, table = read_table(source, credentials)
    session = _Session(dest, None, dest_credentials or credentials)
    if session.stored is None:
        session = _Session(dest, src_schema, dest_credentials or credentials)
    have: set[str] = set()
    if session.store.exists():
        got = session.store.read(session.schema.sheet)
        if "run_id" in got.header:
            i = got.header.index("run_id")
            have = {str(r[i]) for r in got.rows if i < len(r) and r[i] not in ("", None)}
    schema = session.schema
    new: list[Column] = []
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    skipped = 0
    for r, raw in enumerate(table.rows):
        rownum = table.first_row + r
        row: dict[str, Any] = {}
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
            target_col = schema.column(name)
            if target_col is None:
                target_col = col
                schema = schema.with_columns([col])
                new.append(col)
            try:
                row[name] = target_col.coerce(value, text_limit=session.store.text_limit)
            except ValueError as exc:
                problems.append(f"{table.sheet}!{col_letter(i)}{rownum}: {exc} ({target_col.rule()} in "
                                f"{session.target})")
        if str(row.get("run_id")) in have:
            skipped += 1
            continue
        missing = [c.name for c in schema.columns if c.required and row.get(c.name) is None]
        if missing:
            problems.append(f"{table.sheet}!{rownum}: {', '.join(missing)}: a value is required in "
                            f"{session.target}")
        rows.append(row)
    if problems:
        raise ValidationError(problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else []))
    session.schema = schema
    show = sys.stderr.isatty() if progress is None else progress
    done = 0
    if rows:
        from rich.progress import Progress

        with Progress(disable=not show, transient=True) as bar:
            task = bar.add_task(f"copying to {session.target}", total=len(rows))
            for start in range(0, len(rows), batch):
                chunk = rows[start:start + batch]
                session.store_rows(chunk, new if start == 0 else [])
                session.stored = session.store.read_schema()
                done += len(chunk)
                bar.update(task, advance=len(chunk))
    return CopyResult(done, skipped)


def share(target: str | os.PathLike, email: str, role: str = "reader", *, notify: bool = True,
          credentials: Credentials = None) -> None:
    """Share a Google Sheet target with ``email`` as reader (default), commenter or writer."""
    store = open_store(target, credentials)
    if not hasattr(store, "share"):
        raise TargetError(f"{store.target}: only Google Sheets are shared this way; a workbook is "
                          "shared as a file (a team drive, a network folder)")
    store.share(email, role, notify=notify)


# -- delivery: from the outbox to the store --------------------------------------------------

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


def _stored_ids(store: Store, sheet: str) -> set[str]:
    table = store.read(sheet)
    if "run_id" not in table.header:
        return set()
    i = table.header.index("run_id")
    return {str(r[i]) for r in table.rows if i < len(r) and r[i] not in ("", None)}


def _write_entries(store: Store, entries: list[Any]) -> None:
    """Append queued rows in one store operation, against what the store holds now."""
    first = entries[0].schema
    known: dict[str, Column] = {}
    for e in entries:
        for c in e.schema.columns + e.new:
            known.setdefault(c.name, c)
    exists = store.exists()
    stored = _stored_schema(store) if exists else None
    if not exists:
        used = {k for e in entries for k in e.row}
        layout = first.with_columns([known[k] for k in known if k in used and first.column(k) is None])
        if not layout.columns:
            raise TemplateError(f"template {first.name!r} has no columns and the run logged no values")
        store.create(layout)
        stored = store.read_schema()
    base = stored or first
    rows = []
    for i, e in enumerate(entries):
        own = {c.name: c for c in e.schema.columns + e.new}
        row = dict(e.row)
        for name, value in row.items():
            now = base.column(name)
            if now is None or value is None or now == own.get(name):
                continue
            try:  # the column was defined meanwhile (another writer): its definition wins
                row[name] = now.coerce(value)
            except ValueError as exc:
                raise ValidationError(f"column {name}: {exc} ({now.type})",
                                      i if len(entries) > 1 else None) from None
        rows.append(row)
    extra = [known[k] for k in dict.fromkeys(k for e in entries for k in e.row) if base.column(k) is None]
    added = [c for c in extra if stored is None or stored.column(c.name) is None]
    before = _file_version(store)
    store.append(rows, base.with_columns(extra), added)
    key = str(getattr(store, "path", ""))
    if not added and before is not None and stored is not None and _STORED.get(key, (None,))[0] == before:
        # nobody else wrote since the schema was read and no column was added: it is unchanged
        after = _file_version(store)
        if after is not None:
            _STORED[key] = (after, stored)


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SheettrackError) else f"{type(exc).__name__}: {exc}"


def _deliver(store: Store, box: Any, fresh: list[str] | tuple = (), batch: int = 500,
             progress: Any = None) -> Delivery:
    """Deliver what waits in ``box`` (the caller holds its lock). Rows queued earlier are
    looked up in the store first, so a row written before a crash is not written again."""
    contents = box.read()
    result = Delivery(store.target, lost=contents.lost)
    if contents.entries and not _flush_references(store, box, result, contents.entries):
        box.compact()
        return result
    fresh_set = set(fresh)
    stale = [e for e in contents.entries if e.run_id not in fresh_set]
    mine = [e for e in contents.entries if e.run_id in fresh_set]
    if any(not e.refused for e in stale):  # a refused row was never written: nothing to look up
        try:
            if store.exists():
                present = _stored_ids(store, (store.read_schema() or stale[0].schema).sheet)
                have = [e.run_id for e in stale if e.run_id in present]
                box.done(have)
                result.already = len(have)
                stale = [e for e in stale if e.run_id not in present]
        except Exception as exc:  # noqa: BLE001 - cannot look: deliver nothing that could double
            result.reason, result.error = _reason(exc), exc
            ids = [e.run_id for e in stale]
            box.fail(ids, result.reason)
            result.waiting_ids += ids
            stale = []
    # rows queued earlier: a row the store's rules refuse waits alone and the others go on;
    # this call's rows: one store write, all or nothing (the caller is told at once)
    for group, size, write in ((stale, batch, _write_refusing), (mine, len(mine), _write_all)):
        for start in range(0, len(group), max(size, 1)):
            chunk = group[start:start + max(size, 1)]
            try:
                write(store, box, chunk, result)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the rows stay queued
                result.reason, result.error = _reason(exc), exc
                settled = set(result.refused) | result.written
                left = [e.run_id for e in group[start:] if e.run_id not in settled]
                box.fail(left, result.reason)
                result.waiting_ids += left
                break
            if progress is not None:
                progress(len(chunk))
    if result.delivered:  # a store the first rows created takes what they point at now
        _flush_references(store, box, result, [])
    box.compact()
    return result


def _write_all(store: Store, box: Any, chunk: list[Any], result: Delivery) -> None:
    """Write ``chunk`` in one store operation and take it out of the outbox."""
    _write_entries(store, chunk)
    _delivered(box, chunk, result)


def _delivered(box: Any, rows: list[Any], result: Delivery) -> None:
    box.done([e.run_id for e in rows])
    result.delivered += len(rows)
    result.written.update(e.run_id for e in rows)


def _write_refusing(store: Store, box: Any, chunk: list[Any], result: Delivery) -> None:
    """Write ``chunk`` in one store operation; a row the store's own rules refuse is taken
    out (kept in the outbox with why, marked refused, listed in ``result.refused``) and the
    others are written. Raises when the store cannot take rows now; rows written before that
    are out of the outbox already."""
    pending = list(chunk)
    while pending:
        try:
            _write_all(store, box, pending, result)
            return
        except ValidationError as exc:
            at = exc.row_index if len(pending) > 1 else 0
            if at is None or not 0 <= at < len(pending):  # which row is not known: one at a time
                for one in pending:
                    try:
                        _write_all(store, box, [one], result)
                    except ValidationError as single:
                        _refuse(box, one, single, result)
                return
            _refuse(box, pending.pop(at), exc, result)


def _refuse(box: Any, entry: Any, exc: ValidationError, result: Delivery) -> None:
    reason = _reason(ValidationError(exc.problems))  # its index was the chunk's, not the user's
    box.fail([entry.run_id], reason, refused=True)
    result.refused[entry.run_id] = reason
    result.waiting_ids.append(entry.run_id)
    if result.reason is None:
        result.reason, result.error = reason, ValidationError(exc.problems)


def _flush_references(store: Store, box: Any, result: Delivery, entries: list[Any]) -> bool:
    """Write the Environments and Data rows queued beside the outbox (see ``references``) before
    the run rows that point at them; False (and ``entries`` marked failed) when the store cannot
    take them now. A store that does not exist yet takes them after its first rows."""
    from . import references

    try:
        if store.exists():
            references.flush(store, box)
        return True
    except Exception as exc:  # noqa: BLE001 - the store cannot take them now: everything waits
        result.reason, result.error = _reason(exc), exc
        ids = [e.run_id for e in entries]
        if ids:
            box.fail(ids, result.reason)
            result.waiting_ids += ids
        return False


def sync(target: str | os.PathLike | None = None, *, credentials: Credentials = None,
         progress: bool | None = None) -> list[Delivery]:
    """Deliver every row waiting in the outbox (of ``target``, or of every target)."""
    from .outbox import Outbox, all_outboxes

    if target is not None or os.environ.get("SHEETTRACK_TARGET", "").strip():
        boxes = [Outbox.for_store(open_store(target, credentials))]
        stores = [open_store(target, credentials)]
    else:
        boxes = all_outboxes()
        stores = [open_store(b.label, credentials) for b in boxes]
    show = sys.stderr.isatty() if progress is None else progress
    results = []
    from rich.progress import Progress

    with Progress(disable=not show, transient=True) as bar:
        for box, store in zip(boxes, stores):
            with box.locked():
                waiting = len(box.read().entries)
                task = bar.add_task(f"delivering to {store.target}", total=waiting)
                results.append(_deliver(store, box, progress=lambda n, t=task: bar.update(t, advance=n)))
    return results


def pending(target: str | os.PathLike | None = None, *, credentials: Credentials = None) -> list[dict[str, Any]]:
    """The rows waiting in the outbox: target, run id, when queued, attempts, last reason, file."""
    from .outbox import Outbox, all_outboxes

    if target is not None or os.environ.get("SHEETTRACK_TARGET", "").strip():
        boxes = [Outbox.for_store(open_store(target, credentials))]
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
    from .outbox import Outbox

    box = Outbox.for_store(open_store(target, credentials))
    with box.locked():
        waiting = {e.run_id for e in box.read().entries}
        unknown = [rid for rid in run_ids if rid not in waiting]
        if unknown:
            raise ValidationError(f"run_id: {', '.join(unknown)} not waiting in the outbox {box.path} "
                                  f"({len(waiting)} row(s) wait there; 'sheettrack outbox' lists them)")
        box.done(list(dict.fromkeys(run_ids)))
    return list(dict.fromkeys(run_ids))


def create_google_sheet(title: str, *, share_with: list[str] | tuple = (), role: str = "writer",
                        template: TemplateArg = None, credentials: Credentials = None) -> str:
    """Create a new Google Sheet laid out for ``template``, share it, and return its address.

    The sheet belongs to the credentials' account (a service account's Drive): share it with
    the people who should open it (``share_with``, as writers by default).
    """
    from .stores.gsheets import client_for, find_credentials

    creds = find_credentials(credentials)
    client = client_for(creds)
    import gspread

    try:
        reply = client.http_client.request(
            "post", "https://www.googleapis.com/drive/v3/files",
            json={"name": title, "mimeType": "application/vnd.google-apps.spreadsheet"},
            params={"supportsAllDrives": True}).json()
    except gspread.exceptions.APIError as exc:
        raise StoreError(f"cannot create a Google Sheet {title!r}: {exc}") from None
    target = f"gsheet://{reply['id']}"
    init(target, template, credentials=credentials)
    for email in share_with:
        share(target, email, role, credentials=credentials)
    return f"https://docs.google.com/spreadsheets/d/{reply['id']}/edit"
