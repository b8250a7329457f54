"""Reading a target back: the runs sheet as a pandas DataFrame, one run by id, plain values.

The reading half of the data path (``Store.read`` -> ``Schema`` types -> DataFrame) used by
``load``, ``show``, the reports, the registry and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .bulk import collector_paused
from .cells import CellError, col_letter, from_cell
from .errors import StoreError, ValidationError
from .runids import run_ids, short_id_map
from .schema import Schema
from .stores import Store, open_store
from .templates import load_template

if TYPE_CHECKING:
    import pandas as pd

Credentials = str | os.PathLike | None  # a Google key file; see sheettrack.stores.gsheets


def existing(target: str | os.PathLike | None, credentials: Credentials = None) -> tuple[Store, Schema]:
    store = open_store(target, credentials)
    if not store.exists():
        raise StoreError(f"{store.target}: no such workbook", store.target)
    return store, store.read_schema() or load_template("default")


def read_table(target: str | os.PathLike | None, credentials: Credentials = None,
               sheet: str | None = None) -> tuple[Store, Schema, Any]:
    """The runs sheet (or ``sheet``) as a ``Table``, with its store and schema."""
    store, schema = existing(target, credentials)
    return store, schema, store.read(sheet or schema.sheet)


def read_for_frame(target: str | os.PathLike | None, credentials: Credentials = None,
                   sheet: str | None = None) -> tuple[Store, Schema, Any]:
    """``read_table`` with pandas imported meanwhile: python-calamine parses a worksheet, and a
    Google or MLflow store waits on the network, without holding the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="sheettrack-read") as pool:
        reading = pool.submit(read_table, target, credentials, sheet)
        import pandas  # noqa: F401 - loaded now, while the sheet is read

        return reading.result()


def load(target: str | os.PathLike | None = None, *, sheet: str | None = None,
         credentials: Credentials = None) -> pd.DataFrame:
    """The runs as a pandas DataFrame, one column per sheet column, dtypes from the schema.

    A cell that does not read as its column's type is loaded as missing, with a warning
    naming its address (``sheettrack validate`` lists them all).
    """
    return load_frame(target, sheet, credentials)[1]


def load_frame(target: str | os.PathLike | None, sheet: str | None = None,
               credentials: Credentials = None, columns: Any = None,
               json_as_text: bool = False) -> tuple[Schema, pd.DataFrame]:
    """The stored schema and the DataFrame ``load`` returns, from one read (see ``frame_of``
    for ``columns`` and ``json_as_text``)."""
    with collector_paused():
        _, schema, table = read_for_frame(target, credentials, sheet)
        return schema, frame_of(schema, table, sheet, columns, json_as_text)


def frame_of(schema: Schema, table: Any, sheet: str | None = None, columns: Any = None,
             json_as_text: bool = False) -> pd.DataFrame:
    """The DataFrame of ``table`` (the runs sheet, or ``sheet``), dtypes from ``schema``.

    ``columns`` (a set of names) limits the frame to those columns, skipping the cost of
    reading the others' values (summaries need a few of a wide sheet's columns);
    ``json_as_text`` keeps JSON columns as their stored text instead of parsing every cell.
    """
    import warnings

    import pandas as pd

    data: dict[str, Any] = {}
    for i, name in enumerate(table.header):
        if not name or name in data or (columns is not None and name not in columns):
            continue
        try:
            raw = list(map(itemgetter(i), table.rows))
        except IndexError:  # a short row: its missing cells are empty
            raw = [row[i] if i < len(row) else None for row in table.rows]
        col = schema.column(name)
        if col is None or sheet not in (None, schema.sheet):
            data[name] = pd.Series([None if v == "" else v for v in raw], dtype=object)
            continue
        fast = fast_series("string" if json_as_text and col.type == "json" else col.type, raw)
        if fast is not None:
            data[name] = fast
            continue
        values = []
        for r, v in enumerate(raw):
            try:
                values.append(from_cell(col.type, v))
            except CellError as exc:
                warnings.warn(f"{table.sheet}!{col_letter(i)}{table.first_row + r}: {exc} "
                              f"({col.rule()}); loaded as missing", stacklevel=3)
                values.append(None)
        data[name] = series(col.type, values)
    return pd.DataFrame(data)


def fast_series(ctype: str, raw: list[Any]) -> pd.Series | None:
    """The column's Series without a per-cell conversion, when every cell already has the
    plain shape ``from_cell`` would return unchanged (numbers in a float column, text in a
    text column); None when any cell needs the careful path."""
    import datetime as _dt

    import pandas as pd

    kinds = set(map(type, raw))
    if ctype == "string" and kinds <= {str, type(None)}:
        import numpy as np

        texts = np.array(raw, dtype=object)
        texts[texts == ""] = None  # compared in one pass, not a Python call per cell
        return pd.Series(texts, dtype="string")
    if str in kinds:
        if any(v != "" for v in raw if type(v) is str):
            return None
        raw = [None if v == "" else v for v in raw]
        kinds.discard(str)
        kinds.add(type(None))
    if ctype == "float" and kinds <= {float, int, type(None)}:
        return pd.Series(raw, dtype="float64")
    if ctype == "int" and kinds <= {float, int, type(None)}:
        floats = pd.Series(raw, dtype="float64")
        present = floats.dropna()
        if ((present % 1 == 0) & (present.abs() <= 2**53)).all():
            return floats.astype("Int64")
        return None
    if ctype == "bool" and kinds <= {bool, type(None)}:
        return pd.Series(raw, dtype="boolean")
    if ctype == "datetime" and kinds <= {_dt.datetime, type(None)} and not any(
            v.tzinfo for v in raw if v is not None):
        return pd.Series(pd.to_datetime(raw).tz_localize("UTC"), dtype="datetime64[us, UTC]")
    return None


def series(ctype: str, values: list[Any]) -> pd.Series:
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


def show(target: str | os.PathLike | None, run_id: str, *, credentials: Credentials = None) -> dict[str, Any]:
    """One run as a dict (column -> value); a unique prefix of the run id is enough."""
    row = find_run(load(target, credentials=credentials), run_id, target)
    return {str(k): plain(v) for k, v in row.items()}


def find_run(df: pd.DataFrame, run_id: str, target: Any) -> pd.Series:
    """The row of ``df`` whose run id is ``run_id``, or starts or ends with it (one only): the
    short id every table and summary sheet shows is the end of the run id (``runids``), a
    prefix typed by hand is its start."""
    if "run_id" not in df.columns:
        raise StoreError(f"{target}: the sheet has no run_id column")
    ids = df["run_id"].astype("string")
    hits = df[ids == run_id]
    for text in dict.fromkeys((run_id, run_id.upper())) if run_id else ():  # ULIDs: any case
        if hits.empty:
            hits = df[ids.str.startswith(text, na=False) | ids.str.endswith(text, na=False)]
    if hits.empty:
        raise ValidationError(f"run_id: no run {run_id!r} in {target}")
    if len(hits) > 1:
        raise ValidationError(f"run_id: {run_id!r} matches {len(hits)} runs; give more characters")
    return hits.iloc[0]


def target_run_ids(target: str | os.PathLike | None, credentials: Credentials = None) -> list[str]:
    """Every run id of the target's runs sheet (only that column is converted): what short
    ids are made among, for a table of another sheet (the Models sheet) naming runs."""
    return run_ids(load_frame(target, credentials=credentials, columns={"run_id"})[1])


def with_short_ids(df: pd.DataFrame, every_id: Sequence[str]) -> pd.DataFrame:
    """``df`` with its ``run_id`` column replaced, in its place, by an ``id`` column of short
    ids made among ``every_id`` (the target's run ids, so each names one run for every
    command); an id that is not among them stays whole."""
    shown = [str(v) for v in df["run_id"].tolist()]
    short = short_id_map(every_id, shown)
    at = list(df.columns).index("run_id")
    return df.drop(columns=["run_id"]).assign(**{"id": [short[v] for v in shown]})[
        [*df.columns[:at], "id", *df.columns[at + 1:]]]


def plain(v: Any) -> Any:
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        return v.item()
    return v
