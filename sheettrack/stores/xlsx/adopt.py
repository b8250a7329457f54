"""A workbook people already have, made ready for runs: what a template's layout needs and the
workbook lacks is added as new parts, and nothing else changes.

The Runs sheet (header as an Excel Table under a frozen pane, widths, number formats,
drop-downs), the Schema sheet documenting its columns and the template's settings (custom
document properties) are added when missing. The parts that list sheets and parts
(``[Content_Types].xml``, ``xl/workbook.xml`` and its relationships, ``docProps/app.xml``,
and ``_rels/.rels`` when the document properties are new) gain entries; the styles part may
gain number formats; every other part is copied byte for byte. A sheet of the runs sheet's name
that holds a person's own table is never taken over: it is refused, naming the difference.
"""

from __future__ import annotations

import re

from ...errors import SchemaMismatchError
from ...schema import Column, Schema
from ..schema_sheet import SCHEMA_HEADER, SCHEMA_SHEET, schema_meta_json
from .append import schema_sheet_cells
from .create import CT_TABLE, runs_sheet_xml, runs_table_xml
from .parts import (
    CT_WORKSHEET,
    PROP_CHUNK,
    PROP_PREFIX,
    Edits,
    Workbook,
    built_sheets,
    free_name,
    read_schema,
    rel_id,
    relationships,
    rels_part,
    sheet_list_edits,
)
from .references import sheet_named
from .styles import Styles
from .tables import table_name
from .worksheet import SheetXml, new_sheet_xml
from .xml import attrs, escape

CUSTOM_PART = "docProps/custom.xml"
CT_CUSTOM = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
REL_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
REL_TABLE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/table"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"


def plan_layout(wb: Workbook, edits: Edits, styles: Styles, schema: Schema) -> list[str]:
    """Add to ``edits`` what ``schema``'s layout needs and the workbook lacks; return what
    was added, one phrase each (empty: nothing). Raises ``SchemaMismatchError`` when a sheet
    of the runs sheet's name is a table of its own."""
    label = wb.pkg.label
    stored = read_schema(wb)
    added: list[str] = []
    new_sheets: list[tuple[str, str]] = []
    content: dict[str, str] = {}
    taken = set(wb.pkg.by_name) | set(edits.replace)
    runs = sheet_named(wb, schema.sheet)
    if runs is not None:
        check_own_table(wb, runs, schema, stored is not None)
    else:
        part = free_name(taken, "xl/worksheets/sheet{}.xml")
        tpart = free_name(taken, "xl/tables/table{}.xml")
        ids, names = table_ids_and_names(wb)
        tname = free_table_name(table_name(schema.sheet), names | defined_names(wb))
        edits.replace[part] = runs_sheet_xml(schema, styles, "rId1")
        edits.replace[tpart] = runs_table_xml(schema, max(ids, default=0) + 1, tname)
        edits.replace[rels_part(part)] = relationships([("rId1", REL_TABLE, "../tables/" + tpart.rsplit("/", 1)[1])])
        new_sheets.append((schema.sheet, part))
        content.update({part: CT_WORKSHEET, tpart: CT_TABLE})
        added.append(f"sheet {schema.sheet} (an Excel Table {tname} of {len(schema.columns)} columns)")
    doc = sheet_named(wb, SCHEMA_SHEET)
    if doc is None:
        part = free_name(taken, "xl/worksheets/sheet{}.xml")
        text = Column("text")
        edits.replace[part] = new_sheet_xml(SCHEMA_HEADER, schema_sheet_cells(list(schema.columns), SCHEMA_HEADER),
                                            dict.fromkeys(SCHEMA_HEADER, text), styles,
                                            f"{label}: sheet {SCHEMA_SHEET}")
        new_sheets.append((SCHEMA_SHEET, part))
        content[part] = CT_WORKSHEET
        added.append(f"sheet {SCHEMA_SHEET} (one row per column)")
    elif stored is None or doc != SCHEMA_SHEET:
        have = SheetXml(wb.pkg.read(wb.sheet_part(doc)), label, wb.shared).header_list()
        if doc != SCHEMA_SHEET or "column" not in have or "type" not in have:
            raise SchemaMismatchError(
                f"{label}: sheet {doc!r} is a sheet of its own (header: {shown(have)}), but sheettrack "
                f"keeps the column definitions in a sheet called {SCHEMA_SHEET!r}; rename that sheet, "
                "then log again")
    if not any(k.startswith(PROP_PREFIX) for k in wb.custom_props()):
        custom_properties(wb, edits, schema, content)
        added.append("the template's settings (document properties)")
    if new_sheets or content:
        edits.replace.update(sheet_list_edits(wb, edits.current, new_sheets, content, built_sheets(wb)))
    return added


def check_own_table(wb: Workbook, name: str, schema: Schema, stored: bool) -> None:
    """Refuse sheet ``name`` as the runs sheet when it is a person's own table (the workbook
    stores no schema and the header lacks the template's columns), or its name differs from
    the template's in capitals only (sheet names ignore case: it cannot be added beside it)."""
    header = SheetXml(wb.pkg.read(wb.sheet_part(name)), wb.pkg.label, wb.shared).header_list()
    try:
        schema.check_header(header)
    except SchemaMismatchError:
        if stored and name == schema.sheet:
            return  # sheettrack's own runs sheet with a damaged header: the append says what
        have = set(header)
        missing = [c.name for c in schema.columns if c.name not in have]
        raise SchemaMismatchError(
            f"{wb.pkg.label}: sheet {name!r} is a table of its own (header: {shown(header)}), not a runs "
            f"sheet of template {schema.name!r}: it lacks {shown(missing)}; sheettrack leaves it as it is. "
            f"Log to a sheet of another name (set 'sheet: <name>' in the template, e.g. "
            f"'sheettrack init {wb.pkg.label} --template T.yaml'), or rename that sheet") from None
    if name != schema.sheet:
        raise SchemaMismatchError(
            f"{wb.pkg.label}: the runs sheet is called {schema.sheet!r} but the workbook's is {name!r}; "
            f"rename the sheet to {schema.sheet!r}, or set 'sheet: {name}' in the template")


def shown(names: list[str], most: int = 6) -> str:
    """Names listed for a message, the first ``most`` of them."""
    if not names:
        return "empty"
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(str(n) for n in names[:most]) + more


def table_ids_and_names(wb: Workbook) -> tuple[set[int], set[str]]:
    """The ids and names (lower case) of every Excel Table in the workbook: a new one needs
    both unique."""
    ids: set[int] = set()
    names: set[str] = set()
    for name in wb.pkg.by_name:
        if name.startswith("xl/tables/") and name.endswith(".xml"):
            m = re.search(rb"<(?:\w+:)?table\b[^>]*>", wb.pkg.read(name))
            if m is None:
                continue
            a = attrs(m.group())
            if a.get("id", "").isdigit():
                ids.add(int(a["id"]))
            names.update(a[k].lower() for k in ("name", "displayName") if k in a)
    return ids, names


def defined_names(wb: Workbook) -> set[str]:
    """The workbook's defined names (lower case): a table name may not repeat one."""
    xml = wb.pkg.read(wb.workbook_part)
    return {attrs(m.group())["name"].lower() for m in re.finditer(rb"<(?:\w+:)?definedName\b[^>]*>", xml)
            if "name" in attrs(m.group())}


def free_table_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` with the first free number after it."""
    if name.lower() not in taken:
        return name
    n = 2
    while f"{name}{n}".lower() in taken:
        n += 1
    return f"{name}{n}"


def custom_properties(wb: Workbook, edits: Edits, schema: Schema, content: dict[str, str]) -> None:
    """The template's settings as custom document properties: added to ``docProps/custom.xml``
    (created, and listed in ``_rels/.rels``, when the workbook has none)."""
    meta = schema_meta_json(schema)
    chunks = [meta[i:i + PROP_CHUNK] for i in range(0, max(1, len(meta)), PROP_CHUNK)]
    if wb.pkg.has(CUSTOM_PART):
        xml = edits.current(CUSTOM_PART)
        pids = [int(p) for p in re.findall(rb'\bpid="(\d+)"', xml)]
        first = max([1, *pids]) + 1
        m = re.search(rb"</((?:\w+:)?)Properties>", xml)
        p = m.group(1).decode() if m else ""
        props = "".join(f'<{p}property fmtid="{FMTID}" pid="{first + i}" name="{PROP_PREFIX}{i}">'
                        f'<vt:lpwstr xmlns:vt="{NS_VT}">{escape(chunk)}</vt:lpwstr></{p}property>'
                        for i, chunk in enumerate(chunks)).encode("utf-8")
        at = m.start() if m else len(xml)
        edits.replace[CUSTOM_PART] = xml[:at] + props + xml[at:]
        return
    listed = "".join(f'<property fmtid="{FMTID}" pid="{2 + i}" name="{PROP_PREFIX}{i}">'
                     f"<vt:lpwstr>{escape(chunk)}</vt:lpwstr></property>" for i, chunk in enumerate(chunks))
    edits.replace[CUSTOM_PART] = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                                  f'<Properties xmlns="{NS_CUSTOM}" xmlns:vt="{NS_VT}">{listed}</Properties>'
                                  ).encode()
    content[CUSTOM_PART] = CT_CUSTOM
    top = edits.current("_rels/.rels") if wb.pkg.has("_rels/.rels") else relationships([])
    ids = {rid.decode() for rid in re.findall(rb'\bId="([^"]*)"', top)}
    m = re.search(rb"</((?:\w+:)?)Relationships>", top)
    p = m.group(1).decode() if m else ""
    rel = f'<{p}Relationship Id="{rel_id(ids)}" Type="{REL_CUSTOM}" Target="{CUSTOM_PART}"/>'.encode()
    at = m.start() if m else len(top)
    edits.replace["_rels/.rels"] = top[:at] + rel + top[at:]
