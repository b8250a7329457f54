"""A summary sheet as a template defines it: a pivot of the runs (pandas ``pivot_table``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import TemplateError
from .names import check_keys, check_sheet_name

AGGFUNCS = ("mean", "median", "min", "max", "std", "count", "sum")
SUMMARY_KEYS = ("name", "index", "columns", "values", "aggfunc", "where", "sort", "top", "runs")
#: Which runs a summary counts: the finished ones (the default) or every run whatever its status.
SUMMARY_RUNS = ("finished", "all")


@dataclass(frozen=True)
class Summary:
    """A pivot summary sheet definition (pandas ``pivot_table`` semantics)."""

    name: str
    index: tuple[str, ...]
    values: tuple[str, ...]
    aggfunc: tuple[str, ...] = ("mean",)
    columns: tuple[str, ...] = ()
    where: str | None = None
    sort: dict | None = None
    top: int | None = None
    runs: str = "finished"

    def to_dict(self) -> dict[str, Any]:
        """The summary as a template dict."""
        out: dict[str, Any] = {"name": self.name, "index": list(self.index),
                               "values": list(self.values), "aggfunc": list(self.aggfunc)}
        if self.columns:
            out["columns"] = list(self.columns)
        for key in ("where", "sort", "top"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.runs != "finished":
            out["runs"] = self.runs
        return out



def summary_from_dict(raw: Any, where: str, names: set[str], unknown_keys: str) -> Summary:
    """A summary from its template entry; a column outside ``names`` is an error unless
    ``unknown_keys`` is ``add``. TemplateError names ``where``."""
    check_keys(raw, SUMMARY_KEYS, where, "a summary")
    for key in ("name", "index", "values"):
        if key not in raw:
            raise TemplateError(f"{where}: key {key!r} is missing")
    name = check_sheet_name(raw["name"], f"{where}: key 'name'")

    def names_of(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TemplateError(f"{where}: key {key!r} must be a column name or a list of them")
        for v in value:
            if v not in names and unknown_keys != "add":
                raise TemplateError(f"{where}: key {key!r}: no column {v!r} in the template")
        return tuple(value)

    index, columns, values = names_of("index"), names_of("columns"), names_of("values")
    if not index or not values:
        raise TemplateError(f"{where}: keys 'index' and 'values' need at least one column each")
    agg = raw.get("aggfunc", ["mean"])
    if isinstance(agg, str):
        agg = [a.strip() for a in agg.split(",")]
    if not isinstance(agg, list) or not agg or any(a not in AGGFUNCS for a in agg):
        raise TemplateError(f"{where}: key 'aggfunc' must be one or more of {', '.join(AGGFUNCS)}, "
                            f"got {raw.get('aggfunc')!r}")
    where_expr = raw.get("where")
    if where_expr is not None and not isinstance(where_expr, str):
        raise TemplateError(f"{where}: key 'where' must be a filter expression (text)")
    sort = raw.get("sort")
    if isinstance(sort, str):
        sort = {"by": sort, "ascending": False}
    if sort is not None:
        if not isinstance(sort, dict) or "by" not in sort or set(sort) - {"by", "ascending"}:
            raise TemplateError(f"{where}: key 'sort' must be a column name or {{by: COLUMN, ascending: BOOL}}")
        if not isinstance(sort.get("ascending", False), bool):
            raise TemplateError(f"{where}: key 'sort.ascending' must be true or false")
    top = raw.get("top")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise TemplateError(f"{where}: key 'top' must be a positive integer")
    runs = raw.get("runs", "finished")
    if runs not in SUMMARY_RUNS:
        raise TemplateError(f"{where}: key 'runs' must be one of {', '.join(SUMMARY_RUNS)}, got {runs!r}")
    return Summary(name=name, index=index, values=values, aggfunc=tuple(agg), columns=columns,
                   where=where_expr, sort=sort, top=top, runs=runs)

