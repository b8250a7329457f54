"""How commands print: JSON for scripts, tables sized for a terminal, one cell as text."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
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


def terminal_width() -> int:
    """The terminal's width in columns (``COLUMNS`` when set; 80 when not a terminal)."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def one_line(text: str) -> str:
    """Text on one line: line breaks become `` / ``."""
    return " / ".join(part.strip() for part in text.splitlines() if part.strip()) if "\n" in text else text


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut with an ellipsis."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


@dataclass
class TableColumn:
    """One column as the terminal shows it: its cells as text and how narrow it may get."""

    name: str
    cells: list[str]
    whole: bool  # numbers and ids: never cut (a cut number is a wrong number)
    right: bool  # numbers line up on the right

    @functools.cached_property
    def longest(self) -> int:
        """The longest cell (0 for none), measured once: the fitting asks it a character at a time."""
        return max(map(len, self.cells), default=0)

    def natural(self, cap: int | None) -> int:
        widest = max(self.longest, len(self.name))
        return widest if self.whole or cap is None else min(widest, max(cap, len(self.name)))

    def narrowest(self) -> int:
        data = max(self.longest, 1)
        return max(data, min(len(self.name), 8)) if self.whole else min(self.natural(None), 10)


def table_columns(df: Any) -> list[TableColumn]:
    """A DataFrame's columns as text, numbers kept whole and right-aligned."""
    import pandas as pd

    out = []
    for name in df.columns:
        series = df[name]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        cells = [one_line(cell_text(v)) for v in series.tolist()]
        whole = numeric or str(name) in ("id", "run_id", "rank", "version")
        out.append(TableColumn(str(name), cells, whole, numeric))
    return out


def fit_columns(columns: list[TableColumn], width: int | None,
                priority: list[str] | None = None) -> tuple[list[TableColumn], list[int], list[str]]:
    """Which columns fit in ``width`` characters and how wide each is, and which are left out.

    Columns are taken in ``priority`` order (then table order) while their narrowest widths
    fit; the space left is shared among those that would show more with it. A
    number is never cut: a column is left out rather than squeezed below its widest number.
    ``width=None``: every column at its natural width.
    """
    gap = 2
    if width is None:
        return columns, [c.natural(None) for c in columns], []
    order = sorted(range(len(columns)), key=lambda i: (
        priority.index(columns[i].name) if priority and columns[i].name in priority else len(priority or ()), i))
    chosen: list[int] = []
    used = 0
    for i in order:
        need = columns[i].narrowest() + (gap if chosen else 0)
        if used + need <= width:
            chosen.append(i)
            used += need
    widths = {i: columns[i].narrowest() for i in chosen}
    growing = [i for i in chosen if columns[i].natural(40) > widths[i]]
    while growing and used < width:  # share the room left a character at a time
        for i in list(growing):
            if used >= width:
                break
            widths[i] += 1
            used += 1
            if widths[i] >= columns[i].natural(40):
                growing.remove(i)
    kept = sorted(chosen)
    left = [columns[i].name for i in range(len(columns)) if i not in widths]
    return [columns[i] for i in kept], [widths[i] for i in kept], left


def render(columns: list[TableColumn], widths: list[int]) -> list[str]:
    """The header, a rule and one line per row, columns two spaces apart."""
    def line(texts: list[str]) -> str:
        parts = [cut(t, w).rjust(w) if c.right else cut(t, w).ljust(w)
                 for c, t, w in zip(columns, texts, widths)]
        return "  ".join(parts).rstrip()

    rows = len(columns[0].cells) if columns else 0
    return [line([c.name for c in columns]), "  ".join("-" * w for w in widths),
            *(line([c.cells[r] for c in columns]) for r in range(rows))]


def plural(n: int, noun: str) -> str:
    """``3 runs``, ``1 run``."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def print_table(df: Any, noun: str = "run", *, wide: bool = False,
                priority: list[str] | None = None, tail: str | None = None) -> None:
    """A DataFrame as a table that fits the terminal, then how many rows it has.

    Numbers are never cut or split; long text is cut with an ellipsis; columns that do not
    fit are left out and named on the last line (``wide``: every column, whole, however
    wide the lines get). ``priority`` names the columns to keep first; ``tail`` replaces the
    count of rows.
    """
    if not len(df):  # a header over nothing says less than the count
        click.echo(tail or plural(0, noun))
        return
    width = None if wide else terminal_width()
    columns, widths, left = fit_columns(table_columns(df), width, priority)
    for text in render(columns, widths):
        click.echo(text)
    tail = tail or plural(len(df), noun)
    if left:
        tail += (f"; {plural(len(left), 'more column')} (--wide shows every column, --columns picks): "
                 + ", ".join(left))
    click.echo(tail if width is None else cut(tail, width))


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
