"""``Session``: one target opened for writing, once per process.

A session holds what every write to its target reuses: the store handle, the stored schema
(read again only when the file changed), the outbox, and which keys the reference sheets hold.
``Session.layout(template)`` decides the schema a run's values are checked against.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from .errors import SchemaMismatchError, StoreError, TargetError
from .files import stamp
from .outbox import Outbox, outbox_dir
from .schema import Column, Schema
from .stores import Store, open_store
from .stores.base import LocalFile
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


#: Columns of the run group a workbook made before they existed gets when a run fills them.
LATE_RUN_COLUMNS = ("sweep_id", "sweep_rank")
#: Reproducibility columns a sheet laid out before runs carried them gains.
REPRO_COLUMNS = ("env_hash", "workdir", "patch_hash", "untracked", "reproduces")


def file_version(store: Store) -> tuple[int, ...] | None:
    """What changes whenever a local workbook is written (None for other stores)."""
    return stamp(store.path) if isinstance(store, LocalFile) else None


def store_key(store: Store) -> str:
    """What identifies a store across its handles: a workbook's real path, a sheet's id."""
    if isinstance(store, LocalFile):
        return str(store.path)
    return store.key


@dataclass
class Layout:
    """The schema a run's values are checked against, and the columns it adds to the stored
    one (``extra``); ``stored`` is the schema the target keeps (None: new or unreadable)."""

    schema: Schema
    extra: list[Column] = field(default_factory=list)
    stored: Schema | None = None
    unreachable: str | None = None  # why the stored schema could not be read now

    def grow(self, columns: list[Column]) -> None:
        """Add columns a row brings (sweep columns, new params) to the layout."""
        if columns:
            self.extra = self.extra + columns
            self.schema = self.schema.with_columns(columns)


class Session:
    """A target opened for writing in this process (one per target: see ``Session.open``)."""

    _open: dict[tuple[str, str | None, str], Session] = {}
    _guard = threading.Lock()

    def __init__(self, store: Store) -> None:
        self.store = store
        self.target = store.target
        self.key = store_key(store)
        self.outbox = Outbox.for_store(store)
        self.lock = threading.RLock()  # one writer of this process at a time
        self._stored: tuple[tuple[int, ...] | None, Schema | None] | None = None
        self.known: dict[str, set[str]] = {}  # reference sheet -> keys it holds
        self.queued: set[tuple[str, str]] = set()  # (sheet, key) queued by this process
        from .provenance import own_files  # a workbook in the repository does not make it dirty

        own_files(store.path if isinstance(store, LocalFile) else None,
                  os.environ.get("SHEETTRACK_ARTIFACTS", "").strip() or None)

    @classmethod
    def open(cls, target: str | os.PathLike | None, credentials: Credentials = None) -> Session:
        """The session of ``target`` (else ``SHEETTRACK_TARGET``), made once per process."""
        store = open_store(target, credentials)
        key = (store_key(store), os.fspath(credentials) if credentials else None, str(outbox_dir()))
        with cls._guard:
            found = cls._open.get(key)
            if found is None or found.target != store.target:
                found = cls._open[key] = cls(store)
            return found

    @classmethod
    def forget(cls) -> None:
        """Drop every session of this process (tests, or after editing a sheet by hand)."""
        with cls._guard:
            cls._open.clear()

    # -- the stored schema -------------------------------------------------------------------
    def stored_schema(self) -> Schema | None:
        """The schema the target keeps; read again only when the workbook changed (a sweep
        logging one run at a time reads it once). None when the store does not exist."""
        version = file_version(self.store)
        if self._stored is not None and version is not None and self._stored[0] == version:
            return self._stored[1]
        schema = self.store.read_schema() if self.store.exists() else None
        if version is not None or schema is not None:
            self._stored = (file_version(self.store), schema)
        return schema

    def wrote(self, before: tuple[int, ...] | None) -> None:
        """After a write that added no column: when nobody else wrote since ``before``, the
        stored schema the session holds is unchanged and need not be read again."""
        if before is not None and self._stored is not None and self._stored[0] == before:
            self._stored = (file_version(self.store), self._stored[1])

    def forget_schema(self) -> None:
        self._stored = None

    # -- what rows are checked against -------------------------------------------------------
    def layout(self, template: TemplateArg = None, online: bool = True) -> Layout:
        """The schema to check rows against: the stored one (with the template's columns it
        lacks), else the template. A template other than the one the target was made with is
        a ``SchemaMismatchError``. When the store cannot be read now, the template, and why."""
        stored, unreachable = None, None
        if online:
            try:
                stored = self.stored_schema()
            except (StoreError, TargetError) as exc:
                # the store cannot be read now: check rows against the template, queue them
                unreachable = str(exc)
        if stored is None:
            return Layout(load_template(template), [], None, unreachable)
        out = Layout(stored, [], stored)
        if template is not None:
            given = load_template(template)
            if given.name != stored.name:
                raise SchemaMismatchError(
                    f"{self.target} was created with template {stored.name!r}, not {given.name!r}; "
                    f"log with template={stored.name!r} (or none), or use another workbook")
            out.grow([c for c in given.columns if stored.column(c.name) is None])
        out.grow(reproducibility_columns(out.schema))  # a sheet laid out before these keys
        return out

    # -- what a run records of this process --------------------------------------------------
    def provenance(self, schema: Schema, capture_patch: bool = True) -> dict[str, Any]:
        """Provenance of this process; git is re-asked only when the repository changed."""
        from .provenance import capture_cached

        on = schema.provenance
        info = capture_cached(git=on.get("git", True), user=on.get("user", True), host=on.get("host", True),
                              python=on.get("python", True), command=on.get("command", True))
        info.update(self.reproducibility(schema, capture_patch))
        return info

    def reproducibility(self, schema: Schema, capture_patch: bool = True) -> dict[str, Any]:
        """What reproducing the run needs beyond ``capture``: the environment's key, the folder,
        the saved patch of a dirty tree, untracked imported files, and the run it reproduces."""
        from . import provenance as prov

        groups = schema.provenance
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
            patch = found["patch"]
            if isinstance(patch, bytes) and patch and capture_patch:
                from .references import capture_patch as save

                out["patch_hash"] = save(self.store, cwd, None, patch)
        return out


def late_columns(schema: Schema, runs: list[dict[str, Any]]) -> list[Column]:
    """Sweep columns for a sheet laid out before they existed, when a row fills them."""
    wanted = {k for run in runs for k, v in run.items()
              if k in LATE_RUN_COLUMNS and v is not None and schema.column(k) is None}
    if not wanted:
        return []
    default = load_template("default")
    return [c for c in (default.column(n) for n in LATE_RUN_COLUMNS) if c is not None and c.name in wanted]


def reproducibility_columns(schema: Schema) -> list[Column]:
    """The default template's reproducibility columns that ``schema`` lacks (those of provenance
    groups it switched off apart)."""
    from .schema import PROVENANCE_COLUMNS

    off = {n for g, on in schema.provenance.items() if not on for n in PROVENANCE_COLUMNS.get(g, ())}
    lacking = [n for n in REPRO_COLUMNS if n not in off and schema.column(n) is None]
    if not lacking:  # the usual case: no template to parse
        return []
    base = load_template("default")
    return [c for c in base.columns if c.name in lacking]
