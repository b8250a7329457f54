"""What every backend does alike before it writes: a row reconciled with the stored schema,
the header a sheet must have, and reference rows checked and turned into cells; and, reading,
a grid of values read back as a ``Table``.

Both store packages import this module; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..cells import Cell, to_cell
from ..errors import ValidationError
from ..schema import Column, Schema, infer_type
from .base import Table

#: Runs columns a reader wants first, in this order; then params, metrics, the notes.
FIRST_COLUMNS = ("run_id", "status", "hypothesis")
#: Groups shown to the right of the notes, in this order; data and provenance are collapsed.
LATER_GROUPS = ("tags", "run", "data", "provenance")
COLLAPSED_GROUPS = ("data", "provenance")


def reading_order(columns: list[Column]) -> list[Column]:
    """The Runs columns as a reader scans them: run id, status, hypothesis, params, metrics,
    notes, then tags, timing, data and provenance (the sheet is read by header name, so the
    order is the layout's alone)."""
    first = [c for name in FIRST_COLUMNS for c in columns if c.name == name]
    rest = [c for c in columns if c not in first]
    ordered = first + [c for g in ("params", "metrics", "notes") for c in rest if c.group == g]
    ordered += [c for g in LATER_GROUPS for c in rest if c.group == g]
    return ordered + [c for c in rest if c not in ordered]


def collapsed_span(columns: Sequence[Column], groups: Sequence[str] = COLLAPSED_GROUPS,
                   ) -> tuple[int, int] | None:
    """The first and last index of the columns of ``groups`` (the data and provenance columns
    a new Runs sheet groups and collapses), or None when there are none or other columns
    stand between them."""
    hidden = [i for i, c in enumerate(columns) if c.group in groups]
    if not hidden or hidden[-1] - hidden[0] + 1 != len(hidden):
        return None
    return hidden[0], hidden[-1]


def reconcile(rows: list[dict[str, Any]], new_columns: Sequence[Column], stored: Schema | None,
              ) -> list[Column]:
    """Columns another writer added meanwhile win over this run's guesses: the rows' values
    are coerced (in place) to the stored definition, a value it refuses is a
    ``ValidationError`` naming the column and the row. Returns the columns to add."""
    out = []
    for col in new_columns:
        now = stored.column(col.name) if stored is not None else None
        if now is None or now == col:
            out.append(col)
            continue
        for i, row in enumerate(rows):
            if row.get(col.name) is not None:
                try:
                    row[col.name] = now.coerce(row[col.name])
                except ValueError as exc:
                    raise ValidationError(f"column {col.name}: {exc} ({now.type})",
                                          i if len(rows) > 1 else None) from None
        out.append(now)
    return out


def expected_header(schema: Schema, new_columns: Sequence[Column]) -> Schema:
    """The columns the runs sheet must have already: ``schema`` less the ones being added
    (check a sheet's header with ``.check_header``)."""
    adding = {c.name for c in new_columns}
    return Schema(name=schema.name, columns=[c for c in schema.columns if c.name not in adding])


def reference_cells(header: Sequence[str], rows: Sequence[dict[str, Any]], label: str,
                    text_limit: int) -> tuple[list[dict[str, Cell | None]], dict[str, Column]]:
    """Every reference row checked and converted before anything is written: the cells, and a
    column per name (for number formats). A name outside ``header`` or a value too long is an
    error."""
    known = set(header)
    columns: dict[str, Column] = {}
    out = []
    for i, row in enumerate(rows):
        cells: dict[str, Cell | None] = {}
        for name, value in row.items():
            if name not in known:
                raise ValidationError(f"{label}: column {name}: not in the header "
                                      f"({', '.join(header)})", i if len(rows) > 1 else None)
            if value is None or value == "":
                continue
            kind = infer_type(value, None)  # dates and date-times get their type's number format
            col = Column(name=name, type=kind)
            try:
                value = col.coerce(value, text_limit=text_limit)
            except ValueError as exc:
                raise ValidationError(f"{label}: column {name}: {exc} ({kind})",
                                      i if len(rows) > 1 else None) from None
            columns.setdefault(name, col)
            cells[name] = to_cell(kind, value)
        out.append(cells)
    return out, columns


def table_of(sheet: str, values: Sequence[Sequence[Any]]) -> Table:
    """A sheet's grid of values (row 1 the header) as a ``Table``: the header without its
    empty cells on the right, each row cut or padded with "" to the header's width, and the
    empty rows after the last one holding a value left out."""
    header = [("" if v is None else str(v)) for v in (values[0] if values else [])]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    rows = [raw if len(raw) == width and type(raw) is list else list(raw[:width]) + [""] * (width - len(raw))
            for raw in values[1:]]  # a row of the header's width is kept as it is, not copied
    while rows and all(v in ("", None) for v in rows[-1]):
        rows.pop()
    return Table(sheet=sheet, header=header, rows=rows)
