"""The Python API behind ``sheettrack.log``, ``start_run``, ``load`` and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .cells import CellError, col_letter, from_cell
from .errors import SchemaMismatchError, StoreError, TemplateError, ValidationError
from .schema import Column, Schema
from .stores import Store, open_store
from .templates import load_template

TemplateArg = Any  # a built-in name, a YAML path, a dict or a Schema

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

    def __init__(self, target: str | os.PathLike | None, template: TemplateArg = None) -> None:
        self.store: Store = open_store(target)
        self.target = self.store.target
        self.extra: list[Column] = []
        stored = _stored_schema(self.store) if self.store.exists() else None
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

    def provenance(self) -> dict[str, Any]:
        """Provenance of this process; git is re-asked only when the repository changed."""
        from .provenance import capture_cached

        return capture_cached(**self.schema.provenance)

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
        rows, new = self.build(fields_list)
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


def log(target: str | os.PathLike | None = None, *, params: dict | None = None,
        metrics: dict | None = None, tags: dict | None = None, data: Any = None,
        notes: str | None = None, hypothesis: str | None = None, template: TemplateArg = None,
        status: str = "finished", run_id: str | None = None, sweep_id: str | None = None,
        sweep_rank: int | None = None) -> str:
    """Append one run as one row and return its run id.

    ``params``, ``metrics`` and ``tags`` are dicts (nested dicts become dotted names);
    ``data`` is a file, folder, DataFrame or array (or a dict or list of them) to
    fingerprint. Every value is checked against the template before anything is written.
    ``sweep_id`` and ``sweep_rank`` mark a run of a sweep logged one at a time.
    """
    from .record import flatten
    from .run import Run

    run = Run(target, template=template, hypothesis=hypothesis, notes=notes, run_id=run_id)
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
              notes: str | None = None) -> Any:
    """Start a run; use it as a context manager that appends the row when the block ends."""
    from .run import Run

    return Run(target, template=template, hypothesis=hypothesis, params=params, tags=tags, notes=notes)


def init(target: str | os.PathLike | None = None, template: TemplateArg = None) -> bool:
    """Create the workbook for ``template``; False when it exists already (it is left as is)."""
    store = open_store(target)
    if store.exists():
        return False
    return store.create(load_template(template))


def schema_of(target: str | os.PathLike | None = None) -> Schema:
    """The schema stored with a target (the default template when it stores none)."""
    return _existing(target)[1]


def _existing(target: str | os.PathLike | None) -> tuple[Store, Schema]:
    store = open_store(target)
    if not store.exists():
        raise StoreError(f"{store.target}: no such workbook", store.target)
    return store, store.read_schema() or load_template("default")


@dataclass
class Problem:
    """One problem ``validate`` found: where, and what."""

    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.address}: {self.message}"


def _read(target: str | os.PathLike | None) -> tuple[Store, Schema, Any]:
    store, schema = _existing(target)
    return store, schema, store.read(schema.sheet)


def validate(target: str | os.PathLike | None = None) -> list[Problem]:
    """Check every cell of the runs sheet against the stored schema; return the problems."""
    store, schema, table = _read(target)
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


def load(target: str | os.PathLike | None = None, *, sheet: str | None = None) -> Any:
    """The runs as a pandas DataFrame, one column per sheet column, dtypes from the schema.

    A cell that does not read as its column's type is loaded as missing, with a warning
    naming its address (``sheettrack validate`` lists them all).
    """
    return _load(target, sheet)[1]


def _load(target: str | os.PathLike | None, sheet: str | None = None) -> tuple[Schema, Any]:
    """The stored schema and the DataFrame ``load`` returns, from one read."""
    import warnings

    import pandas as pd

    store, schema, table = _read(target)
    if sheet is not None and sheet != schema.sheet:
        table = store.read(sheet)
    data: dict[str, Any] = {}
    for i, name in enumerate(table.header):
        if not name or name in data:
            continue
        raw = [row[i] if i < len(row) else None for row in table.rows]
        col = schema.column(name)
        if col is None or sheet not in (None, schema.sheet):
            data[name] = pd.Series([None if v == "" else v for v in raw], dtype=object)
            continue
        values = []
        for r, v in enumerate(raw):
            try:
                values.append(from_cell(col.type, v))
            except CellError as exc:
                warnings.warn(f"{table.sheet}!{col_letter(i)}{table.first_row + r}: {exc} "
                              f"({col.rule()}); loaded as missing", stacklevel=2)
                values.append(None)
        data[name] = _series(col.type, values)
    return schema, pd.DataFrame(data)


def _series(ctype: str, values: list[Any]) -> Any:
    import pandas as pd

    if ctype == "float":
        return pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
    if ctype == "int":
        if all(v is None or -(2**63) <= v < 2**63 for v in values):
            return pd.Series(values, dtype="Int64")
        return pd.Series(values, dtype=object)
    if ctype == "bool":
        return pd.Series(values, dtype="boolean")
    if ctype == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]") if values else \
            pd.Series([], dtype="datetime64[us, UTC]")
    if ctype == "string":
        return pd.Series(values, dtype="string")
    return pd.Series(values, dtype=object)


def show(target: str | os.PathLike | None, run_id: str) -> dict[str, Any]:
    """One run as a dict (column -> value); a unique prefix of the run id is enough."""
    df = load(target)
    if "run_id" not in df.columns:
        raise StoreError(f"{target}: the sheet has no run_id column")
    ids = df["run_id"].astype("string")
    hits = df[ids == run_id]
    if hits.empty:
        hits = df[ids.str.startswith(run_id, na=False)]
    if hits.empty:
        raise ValidationError(f"run_id: no run {run_id!r} in {target}")
    if len(hits) > 1:
        raise ValidationError(f"run_id: {run_id!r} matches {len(hits)} runs; give more characters")
    row = hits.iloc[0]
    return {k: _plain(v) for k, v in row.items()}


def _plain(v: Any) -> Any:
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        return v.item()
    return v
