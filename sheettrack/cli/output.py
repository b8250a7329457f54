"""How commands print: JSON for scripts, tables sized for a terminal, one cell as text."""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Iterator
from typing import Any

import click

from .. import frames


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(value: Any) -> Any:
    """NaN and inf as None (JSON has neither), inside dicts and lists too."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON (NaN and inf as null, dates as ISO 8601)."""
    click.echo(json.dumps(_clean(data), ensure_ascii=False, default=_json_default, indent=2))


def records(df: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain Python dicts, ready for ``emit_json``."""
    return [{k: frames.plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def cell_text(v: Any) -> str:
    """One value as a table shows it: empty for missing, 6 significant digits, dates to the
    second, lists and dicts as JSON."""
    v = frames.plain(v)
    if v is None or (isinstance(v, float) and v != v and str(v) == "nan"):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def print_rich(table: Any, width: int) -> None:
    """Print a rich table at ``width`` columns, kept between 100 and 240."""
    from rich.console import Console

    Console(width=max(100, min(240, width))).print(table)


def plural(n: int, noun: str) -> str:
    """``3 runs``, ``1 run``."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def print_table(df: Any, noun: str = "run") -> None:
    """A DataFrame as a table with whole run ids, then how many rows it has."""
    from rich.table import Table

    table = Table(show_lines=False)
    for name in df.columns:
        if name == "run_id":
            table.add_column("run_id", no_wrap=True, min_width=26)
        else:
            table.add_column(str(name), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[cell_text(v) for v in row])
    print_rich(table, 12 * len(df.columns))
    click.echo(plural(len(df), noun))


EX_TEMPFAIL = 75
"""The exit code of a command whose rows wait in the outbox (sysexits.h: try again later)."""


@contextlib.contextmanager
def queued_rows() -> Iterator[list[str]]:
    """Collect the ``RowQueuedWarning`` lines of the calls inside (their rows wait in the
    outbox); other warnings are shown as usual."""
    from ..delivery import RowQueuedWarning

    queued: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RowQueuedWarning)
        try:
            yield queued
        finally:
            others = []
            for w in caught:
                if issubclass(w.category, RowQueuedWarning):
                    queued.append(str(w.message))
                else:
                    others.append(w)
    for w in others:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def exit_if_queued(queued: list[str]) -> None:
    """Say why rows wait, one line each, and exit 75 (EX_TEMPFAIL) when any do."""
    for line in queued:
        click.echo(f"warning: {line}", err=True)
    if queued:
        raise SystemExit(EX_TEMPFAIL)
