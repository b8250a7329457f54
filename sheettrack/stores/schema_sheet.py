"""The Schema sheet every store keeps beside its runs: one row documenting each column.

Both stores write it the same way and read it back with ``schema_from_sheet``, so a person can
read (and carefully edit) the rules in the spreadsheet program, and the stored schema travels
with the data. Template settings other than the columns travel as JSON (custom document
properties in a workbook, a column of the Schema sheet in a Google Sheet).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from ..errors import SchemaMismatchError, TemplateError
from ..schema import Column, Schema, SheettrackWarning

SCHEMA_SHEET = "Schema"
SCHEMA_HEADER = ["column", "type", "group", "required", "unit", "format", "description",
                 "choices", "min", "max", "pattern", "default"]


def schema_sheet_row(col: Column) -> dict[str, Any]:
    """The Schema sheet's row documenting ``col``."""
    return {"column": col.name, "type": col.type, "group": col.group or "",
            "required": col.required, "unit": col.unit or "", "format": col.format or "",
            "description": col.description or "",
            "choices": json.dumps(list(col.choices), ensure_ascii=False) if col.choices else "",
            "min": col.min, "max": col.max, "pattern": col.pattern or "",
            "default": json.dumps(col.default, ensure_ascii=False, default=str) if col.default is not None else ""}


def schema_meta_json(schema: Schema) -> str:
    """Template settings (everything but the columns) as JSON."""
    return json.dumps(schema.to_dict(columns=False), ensure_ascii=False, separators=(",", ":"))


def column_from_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A template column dict from one Schema sheet row (ValueError names a bad key)."""
    col: dict[str, Any] = {"name": str(rec["column"]), "type": rec.get("type") or "string"}
    if rec.get("group"):
        col["group"] = rec["group"]
    if rec.get("required") not in (None, ""):
        col["required"] = rec["required"] in (True, 1, "TRUE", "true", "yes")
    for key in ("unit", "format", "description", "pattern"):
        if rec.get(key) not in (None, ""):
            col[key] = str(rec[key])
    for key in ("min", "max"):
        if rec.get(key) not in (None, ""):
            v = rec[key]
            try:
                col[key] = float(v) if isinstance(v, str) else v
            except ValueError:
                raise ValueError(f"key {key!r}: {v!r} is not a number") from None
    for key in ("choices", "default"):
        if rec.get(key) not in (None, ""):
            try:
                col[key] = json.loads(rec[key]) if isinstance(rec[key], str) else rec[key]
            except ValueError:
                col[key] = rec[key]
    return col


def schema_from_sheet(meta_json: str | None, rows: list[tuple[int, dict[int, Any]]] | None,
                      label: str) -> Schema | None:
    """The stored schema from the settings JSON and the Schema sheet's rows.

    ``rows`` are (sheet row number, {column index: value}) with the header first; None when the
    sheet is missing. Returns None when the store carries neither settings nor a Schema sheet.
    """
    meta: dict[str, Any] = {}
    if meta_json:
        try:
            meta = json.loads(meta_json)
        except ValueError:
            meta = {}
    columns = None
    if rows:
        head = {v: k for k, v in rows[0][1].items() if isinstance(v, str)}
        if "column" in head and "type" in head:
            columns = []
            for rownum, cells in rows[1:]:
                rec = {key: cells.get(idx) for key, idx in head.items() if key in SCHEMA_HEADER}
                if rec.get("column") in (None, ""):
                    continue
                try:
                    columns.append(column_from_row(rec))
                except ValueError as exc:
                    raise TemplateError(f"{label}: sheet {SCHEMA_SHEET}, row {rownum} "
                                        f"({rec['column']}): {exc}") from None
    if not meta and columns is None:
        return None
    data = {k: v for k, v in meta.items() if k != "columns"}
    data.setdefault("name", "workbook")
    if columns is None:
        # the Schema sheet was deleted or its header changed: the template it came from is
        # the best account of the columns; without one, refuse rather than drop fields
        from ..templates import load_template

        try:
            columns = [c.to_dict() for c in load_template(data["name"]).columns]
        except TemplateError:
            raise SchemaMismatchError(
                f"{label}: the {SCHEMA_SHEET} sheet that keeps the column definitions is "
                f"missing or its header was changed; restore it (template {data['name']!r} is not "
                "a built-in one to rebuild it from)") from None
        warnings.warn(f"{label}: the {SCHEMA_SHEET} sheet is missing or changed; using the "
                      f"columns of template {data['name']!r}", SheettrackWarning, stacklevel=3)
    data["columns"] = columns
    return Schema.from_dict(data, source=f"{label} (Schema sheet)", keep_order=True)
