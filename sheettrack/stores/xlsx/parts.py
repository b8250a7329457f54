"""Where things are in an .xlsx package, and the package-level parts that change with it.

``Workbook`` finds the sheets, their tables, styles and shared strings from the relationship
parts. The functions below edit what lists the sheets (``[Content_Types].xml``,
``xl/workbook.xml`` and its relationships, ``docProps/app.xml``) when sheets are added or
removed, and mark the sheets sheettrack builds: a hidden sheet-level defined name,
``_sheettrack_built``, travels with a sheet through renames and re-saves, and a person's own
sheet never has it. ``Edits`` collects every part one write replaces.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...cells import quote_sheet
from ...errors import CorruptWorkbookError, StoreError
from ...schema import Schema
from ..schema_sheet import SCHEMA_SHEET, schema_from_sheet
from .styles import Styles
from .xml import (
    NS_REL,
    NS_REL_STRICT,
    attr_of,
    escape,
    iter_rows,
    local,
    parse_xml,
    read_shared_strings,
)
from .zip import Package, Raw, Segments, SegmentStat

PROP_PREFIX = "sheettrack.template."
PROP_CHUNK = 250
MARKER = "_sheettrack_built"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_DRAWING = "application/vnd.openxmlformats-officedocument.drawing+xml"
CT_CHART = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"


def resolve(base_part: str, target: str) -> str:
    """The part a relationship ``target`` of ``base_part`` points at."""
    if target.startswith("/"):
        return target.lstrip("/")
    folder = base_part.rsplit("/", 1)[0] if "/" in base_part else ""
    parts = (folder.split("/") if folder else []) + target.split("/")
    out: list[str] = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        elif p and p != ".":
            out.append(p)
    return "/".join(out)


def rels_part(part: str) -> str:
    """The relationships part of ``part`` (xl/workbook.xml -> xl/_rels/workbook.xml.rels)."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def relationships(rels: list[tuple[str, str, str]]) -> bytes:
    """A relationships part holding ``rels`` (id, type, target)."""
    body = "".join(f'<Relationship Id="{rid}" Type="{kind}" Target="{escape(target)}"/>' for rid, kind, target in rels)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
            f'"http://schemas.openxmlformats.org/package/2006/relationships">{body}</Relationships>').encode()


class Workbook:
    """Where things are in an .xlsx package: sheets, their tables, styles, shared strings."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg
        self._parsed: dict[Any, Any] = {}  # small parts, parsed once
        self.workbook_part = "xl/workbook.xml"
        if pkg.has("_rels/.rels"):
            for top in self.rels("_rels/.rels"):
                if top.get("Type", "").endswith("/officeDocument"):
                    self.workbook_part = resolve("", top.get("Target", ""))
        self.wb_rels = {r.get("Id", ""): r for r in self.rels(rels_part(self.workbook_part))}
        root = parse_xml(pkg.read(self.workbook_part), f"{pkg.label}: {self.workbook_part}")
        self.sheets: dict[str, str] = {}
        for el in root.iter():
            if local(el.tag) == "sheet":
                rid = el.get(f"{{{NS_REL}}}id") or el.get(f"{{{NS_REL_STRICT}}}id") or ""
                rel = self.wb_rels.get(rid)
                if rel is not None:
                    self.sheets[el.get("name", "")] = resolve(self.workbook_part, rel.get("Target", ""))
        self.styles_part = self._wb_target("/styles")  # read through styles_xml
        self.sst_part = self._wb_target("/sharedStrings")
        self._shared: list[str] | None = None

    def styles_xml(self) -> bytes | None:
        """The styles part as it stands (None when the workbook has none)."""
        return self.pkg.read(self.styles_part) if self.styles_part and self.pkg.has(self.styles_part) else None

    def rels(self, part: str) -> list[ET.Element]:
        """The relationships of a relationships part (empty when it is missing), parsed once."""
        if part not in self._parsed:
            found = list(parse_xml(self.pkg.read(part), f"{self.pkg.label}: {part}")) if self.pkg.has(part) else []
            self._parsed[part] = [el for el in found if local(el.tag) == "Relationship"]
        return self._parsed[part]

    def _wb_target(self, suffix: str) -> str | None:
        for rel in self.wb_rels.values():
            if rel.get("Type", "").endswith(suffix):
                return resolve(self.workbook_part, rel.get("Target", ""))
        return None

    def sheet_part(self, name: str) -> str:
        """The worksheet part of sheet ``name``."""
        part = self.sheets.get(name)
        if part is None or not self.pkg.has(part):
            raise CorruptWorkbookError(f"{self.pkg.label}: no sheet named {name!r} (sheets: "
                                       f"{', '.join(self.sheets)})", self.pkg.label)
        return part

    def tables_of(self, sheet_part: str) -> list[str]:
        """The table parts attached to a worksheet part."""
        return [resolve(sheet_part, r.get("Target", "")) for r in self.rels(rels_part(sheet_part))
                if r.get("Type", "").endswith("/table") and r.get("TargetMode") != "External"]

    def shared(self) -> list[str]:
        """The shared strings (empty list when the workbook has none)."""
        if self._shared is None:
            self._shared = (read_shared_strings(self.pkg.read(self.sst_part))
                            if self.sst_part and self.pkg.has(self.sst_part) else [])
        return self._shared

    def read_small_sheet(self, name: str) -> list[tuple[int, dict[int, Any]]]:
        """All rows of a small sheet (the Schema sheet), parsed in full (once)."""
        key = ("rows", name)
        if key not in self._parsed:
            self._parsed[key] = list(iter_rows(self.pkg.read(self.sheet_part(name)), self.shared()))
        return self._parsed[key]

    def custom_props(self) -> dict[str, str]:
        """Custom document properties (name -> text)."""
        part = "docProps/custom.xml"
        if not self.pkg.has(part):
            return {}
        root = parse_xml(self.pkg.read(part), f"{self.pkg.label}: {part}")
        out = {}
        for prop in root:
            if local(prop.tag) == "property" and len(prop):
                out[prop.get("name", "")] = prop[0].text or ""
        return out


def read_schema(wb: Workbook) -> Schema | None:
    """The schema stored in a workbook: template settings from its custom properties,
    columns from its Schema sheet. None when the workbook carries neither."""
    props = wb.custom_props()
    chunks = sorted((int(k[len(PROP_PREFIX):]), v) for k, v in props.items()
                    if k.startswith(PROP_PREFIX) and k[len(PROP_PREFIX):].isdigit())
    rows = wb.read_small_sheet(SCHEMA_SHEET) if SCHEMA_SHEET in wb.sheets else None
    return schema_from_sheet("".join(v for _, v in chunks) or None, rows, wb.pkg.label)


class Edits:
    """Everything one write changes, for ``Package.write``: parts replaced or added (bytes
    or ``Segments``), parts dropped, and how the Runs worksheet is laid out."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg
        self.replace: dict[str, Any] = {}
        self.drop: set[str] = set()
        self.index: tuple[str, int] | None = None  # (worksheet part, last row) to record
        self.last: list[str] = []  # parts to put at the end of the archive, in order
        self.descriptor: set[str] = set()  # parts written with a data descriptor
        self.fast: FastAppend | None = None  # set when the existing rows' bytes stay put

    def current(self, name: str) -> bytes:
        """Small part ``name`` as this write leaves it so far (edits made for the run rows are
        seen by the reference sheets' edits of the same write)."""
        data = self.replace.get(name)
        return data if isinstance(data, bytes) else self.pkg.read(name)

    def keep_styles(self, wb: Workbook, styles: Styles) -> None:
        """Write the styles part back when this write added styles to it."""
        if styles.changed and wb.styles_part:
            self.replace[wb.styles_part] = styles.xml


@dataclass
class FastAppend:
    """An append that keeps the Runs worksheet's head and rows where they are: the new
    rows and the tail follow the first ``keep`` compressed bytes of the member."""

    part: str
    keep: int
    head: SegmentStat
    body: SegmentStat
    pieces: list[bytes]  # compressed new rows (one or two segments), then the tail
    stats: list[SegmentStat]
    crc: int
    usize: int
    comment: bytes  # the zip comment with the new segment index

    def segments(self, pkg: Package) -> Segments:
        """The member as segments, for writing a whole new copy of the package."""
        h, b = self.head, self.body
        out = Segments([Raw(pkg.member_span(self.part, 0, h.clen), h.ulen, h.crc),
                        Raw(pkg.member_span(self.part, h.clen, b.clen), b.ulen, b.crc)])
        for n, (piece, st) in enumerate(zip(self.pieces, self.stats)):
            out.append(Raw(piece, st.ulen, st.crc, final=n == len(self.pieces) - 1))
        return out


SHEET_TAG = re.compile(rb"<((?:\w+:)?)sheet\b[^>]*?/>|<((?:\w+:)?)sheet\b[^>]*>.*?</(?:\w+:)?sheet>", re.S)
DEFINED = re.compile(rb"<((?:\w+:)?)definedName\b([^>]*)>(.*?)</(?:\w+:)?definedName>|"
                      rb"<(?:\w+:)?definedName\b[^>]*/>", re.S)


def content_types(xml: bytes, add: dict[str, str], drop: set[str]) -> bytes:
    """``[Content_Types].xml`` with overrides for the ``add`` parts and none for ``drop``'s."""
    for part in drop | set(add):
        xml = re.sub(rb'<(?:\w+:)?Override\b[^>]*PartName="/' + re.escape(part.encode()) + rb'"[^>]*/>', b"", xml)
    m = re.search(rb"<((?:\w+:)?)Types\b", xml)
    p = m.group(1).decode() if m else ""
    extra = "".join(f'<{p}Override PartName="/{escape(part)}" ContentType="{ct}"/>' for part, ct in add.items())
    close = xml.rfind(f"</{p}Types>".encode())
    return xml[:close] + extra.encode() + xml[close:]


def rel_id(existing: set[str]) -> str:
    """The first free ``rIdN`` (taken into ``existing``)."""
    n = 1
    while f"rId{n}" in existing:
        n += 1
    existing.add(f"rId{n}")
    return f"rId{n}"


def workbook_rels(xml: bytes, wb: Workbook, new_sheets: list[tuple[str, str]],
                   remove: list[str]) -> tuple[bytes, dict[str, str]]:
    """The workbook's relationships with ``new_sheets`` added and ``remove``'s sheets gone;
    also the new sheets' relationship ids."""
    ids = set(wb.wb_rels) | {rid.decode() for rid in re.findall(rb'\bId="([^"]*)"', xml)}
    out = xml
    for name in remove:
        rid = sheet_rid(wb, name)
        out = re.sub(rb'<(?:\w+:)?Relationship\b[^>]*\bId="' + re.escape(rid.encode()) + rb'"[^>]*/>', b"", out)
    m = re.search(rb"<((?:\w+:)?)Relationships\b", out)
    p = m.group(1).decode() if m else ""
    folder = wb.workbook_part.rsplit("/", 1)[0] + "/" if "/" in wb.workbook_part else ""
    adds = []
    rids: dict[str, str] = {}  # sheet name -> relationship id, for the workbook part
    for name, part in new_sheets:
        rid = rel_id(ids)
        rids[name] = rid
        target = part[len(folder):] if part.startswith(folder) else "/" + part
        adds.append(f'<{p}Relationship Id="{rid}" Type="{NS_REL}/worksheet" Target="{escape(target)}"/>')
    close = out.rfind(f"</{p}Relationships>".encode())
    return out[:close] + "".join(adds).encode() + out[close:], rids


def sheet_rid(wb: Workbook, name: str) -> str:
    """The relationship id of sheet ``name`` in the workbook part."""
    xml = wb.pkg.read(wb.workbook_part)
    for m in SHEET_TAG.finditer(xml):
        tag = m.group(0)
        if attr_of(tag, "name") == name:
            for key, value in re.findall(rb'([\w:]+)\s*=\s*"([^"]*)"', tag):
                if key.endswith(b":id"):
                    return value.decode()
    raise StoreError(f"{wb.pkg.label}: sheet {name!r} has no relationship id")


PRINT_TITLES = "_xlnm.Print_Titles"


def workbook_xml(xml: bytes, wb: Workbook, new_sheets: list[tuple[str, str]], rids: dict[str, str],
                  remove: list[str], marked: set[str], lead: Sequence[str] = (),
                  titles: dict[str, str] | None = None, open_first: bool = False) -> tuple[bytes, list[str]]:
    """The workbook part with sheets added and removed, and the marker names of sheettrack's
    sheets; sheet-level names of other sheets follow their sheet's new position. The sheets
    named in ``lead`` move to the front in that order (the others keep their order);
    ``titles`` gives sheets their rows repeated on every printed page (``$1:$2``);
    ``open_first`` makes the first tab the one the workbook opens on."""
    root = re.search(rb"<(?:\w+:)?workbook\b[^>]*>", xml)
    rp = rel_prefix(root.group(0) if root else b"")
    tags = list(SHEET_TAG.finditer(xml))
    if not tags:
        raise StoreError(f"{wb.pkg.label}: the workbook lists no sheets")
    p = (tags[0].group(1) or tags[0].group(2) or b"").decode()
    names = [attr_of(t.group(0), "name") or "" for t in tags]
    keep = [n for n in names if n not in remove]
    every = keep + [n for n, _ in new_sheets]
    first = [n for n in lead if n in every]
    order = first + [n for n in every if n not in first]
    titles = titles or {}
    ids = [int(v) for t in tags if (v := attr_of(t.group(0), "sheetId") or "").isdigit()]
    next_id = max(ids, default=0) + 1
    tag_of = {n: t.group(0) for t, n in zip(tags, names)}
    tag_of.update({n: f'<{p}sheet name="{escape(n)}" sheetId="{next_id + i}" {rp}:id="{rids[n]}"/>'.encode()
                   for i, (n, _) in enumerate(new_sheets)})
    pieces = []
    pos = 0
    for t in tags:  # the sheet list, emptied in place, then written in the new order
        pieces.append(xml[pos:t.start()])
        pos = t.end()
    out = b"".join(pieces[:1]) + b"".join(tag_of[n] for n in order) + b"".join(pieces[1:]) + xml[pos:]
    new_index = {n: i for i, n in enumerate(order)}

    def renumber(m: re.Match) -> bytes:
        tag = m.group(0)
        start = tag.split(b">", 1)[0]
        if attr_of(start, "name") == MARKER:
            return b""
        sid = attr_of(start, "localSheetId")
        if sid is None or not sid.isdigit():
            return tag
        idx = int(sid)
        owner = names[idx] if idx < len(names) else None
        if owner is None or owner in remove or (owner in titles and attr_of(start, "name") == PRINT_TITLES):
            return b""
        return re.sub(rb'localSheetId="\d+"', b'localSheetId="%d"' % new_index[owner], tag, count=1)

    out = DEFINED.sub(renumber, out)
    marks = "".join(f'<{p}definedName name="{MARKER}" localSheetId="{new_index[n]}" hidden="1">'
                    f"{escape(quote_sheet(n) + '!$A$1')}</{p}definedName>"
                    for n in order if n in marked)
    marks += "".join(f'<{p}definedName name="{PRINT_TITLES}" localSheetId="{new_index[n]}">'
                     f"{escape(quote_sheet(n) + '!' + titles[n])}</{p}definedName>"
                     for n in order if n in titles)
    marks_xml = marks.encode()
    m = re.search(rb"<((?:\w+:)?)definedNames\b[^>]*?(/?)>", out)
    if m is not None and m.group(2) != b"/":
        close = out.find(f"</{p}definedNames>".encode(), m.end())
        out = out[:close] + marks_xml + out[close:]
    else:
        if m is not None:
            out = out[:m.start()] + out[m.end():]
        block = f"<{p}definedNames>".encode() + marks_xml + f"</{p}definedNames>".encode()
        after = None
        for name in ("externalReferences", "functionGroups", "sheets"):
            e = re.search(rb"</" + re.escape(p.encode()) + name.encode() + rb">", out)
            if e is not None:
                after = e.end()
                break
        out = out[:after] + block + out[after:]
    out = re.sub(rb"<(?:\w+:)?definedNames>\s*</(?:\w+:)?definedNames>", b"", out)
    if remove or first:  # the active and first visible tabs follow their sheet
        def clamp(m: re.Match) -> bytes:
            value = int(m.group(2))
            moved = names[value] if value < len(names) else None
            if first and (m.group(1) == b"firstSheet" or open_first):  # show the leading tabs
                return m.group(1) + b'="0"'
            return m.group(1) + b'="%d"' % (new_index.get(moved, 0) if moved else 0)

        out = re.sub(rb'(activeTab|firstSheet)="(\d+)"', clamp, out)
    return out, order


def app_xml(xml: bytes, order: list[str]) -> bytes:
    """docProps/app.xml with the worksheet titles (and their count) of the new sheet list."""
    hp = re.search(rb"<((?:\w+:)?)HeadingPairs>(.*?)</(?:\w+:)?HeadingPairs>", xml, re.S)
    tp = re.search(rb"<((?:\w+:)?)TitlesOfParts>(.*?)</(?:\w+:)?TitlesOfParts>", xml, re.S)
    if hp is None or tp is None:
        return xml
    pairs = re.findall(rb"<(?:\w+:)?lpstr>(.*?)</(?:\w+:)?lpstr>\s*</(?:\w+:)?variant>\s*<(?:\w+:)?variant>\s*"
                       rb"<(?:\w+:)?i4>(\d+)</(?:\w+:)?i4>", hp.group(2), re.S)
    old_ws = 0
    for title, count in pairs:
        if title in (b"Worksheets", b"Arbeitsbl\xc3\xa4tter") or title.lower().startswith(b"work"):
            old_ws = int(count)
            break
    else:
        return xml
    titles = re.findall(rb"<(?:\w+:)?lpstr>.*?</(?:\w+:)?lpstr>", tp.group(2), re.S)
    vp = re.search(rb"<((?:\w+:)?)vector\b", tp.group(2))
    vprefix = vp.group(1) if vp else b"vt:"
    new_titles = [b"<" + vprefix + b"lpstr>" + escape(n).encode() + b"</" + vprefix + b"lpstr>" for n in order]
    all_titles = new_titles + titles[old_ws:]
    vector = (b"<" + vprefix + b'vector size="%d" baseType="lpstr">' % len(all_titles) + b"".join(all_titles)
              + b"</" + vprefix + b"vector>")
    tp_new = xml[tp.start():tp.start(2)] + vector + xml[tp.end(2):tp.end()]
    hp_body = re.sub(rb"(Worksheets</(?:\w+:)?lpstr>\s*</(?:\w+:)?variant>\s*<(?:\w+:)?variant>\s*<(?:\w+:)?i4>)\d+",
                     lambda m: m.group(1) + str(len(order)).encode(), hp.group(2))
    hp_new = xml[hp.start():hp.start(2)] + hp_body + xml[hp.end(2):hp.end()]
    if hp.start() < tp.start():
        return xml[:hp.start()] + hp_new + xml[hp.end():tp.start()] + tp_new + xml[tp.end():]
    return xml[:tp.start()] + tp_new + xml[tp.end():hp.start()] + hp_new + xml[hp.end():]


def rel_prefix(root_tag: bytes) -> str:
    """The prefix the workbook part binds to the relationships namespace."""
    for m in re.finditer(rb'xmlns:(\w+)="([^"]*)"', root_tag):
        if m.group(2).decode() in (NS_REL, NS_REL_STRICT):
            return m.group(1).decode()
    return "r"


def built_sheets(wb: Workbook) -> set[str]:
    """Names of the sheets sheettrack built (those carrying the sheet-level marker name)."""
    xml = wb.pkg.read(wb.workbook_part)
    names = [attr_of(m.group(0), "name") or "" for m in SHEET_TAG.finditer(xml)]
    out = set()
    for m in DEFINED.finditer(xml):
        tag = m.group(0)
        if attr_of(tag, "name") == MARKER:
            sid = attr_of(tag, "localSheetId")
            if sid is not None and sid.isdigit() and int(sid) < len(names):
                out.add(names[int(sid)])
    return out


def tab_selected(wb: Workbook, part: str, probe: int = 65536) -> bool:
    """Whether worksheet ``part`` is a selected tab (a person left it open when saving): read
    from the first compressed bytes only, as the sheet view comes before the cells."""
    e = wb.pkg.by_name.get(part)
    if e is None:
        return False
    raw = bytes(wb.pkg.raw_member(part)[:probe])
    try:
        head = raw if e.method == 0 else zlib.decompressobj(-15).decompress(raw)
    except zlib.error:
        return False
    head = head.split(b"<sheetData", 1)[0].split(b":sheetData", 1)[0]
    return re.search(rb'tabSelected="(1|true)"', head) is not None


def free_name(taken: set[str], pattern: str) -> str:
    """The first part name ``pattern`` (with ``{}`` for a number) not in ``taken`` (then taken)."""
    n = 1
    while pattern.format(n) in taken:
        n += 1
    name = pattern.format(n)
    taken.add(name)
    return name


def sheet_list_edits(wb: Workbook, current: Callable[[str], bytes], new_sheets: list[tuple[str, str]],
                     content: dict[str, str], marked: set[str], remove: list[str] | tuple = (),
                     drop: set[str] | frozenset[str] = frozenset(), lead: Sequence[str] = (),
                     titles: dict[str, str] | None = None, open_first: bool = False) -> dict[str, bytes]:
    """The package-level parts rewritten when ``new_sheets`` ((name, part)) are added at the
    end and the sheets in ``remove`` go: content types (``content`` maps added parts to
    their types, ``drop`` lists parts going), the workbook's relationships, the workbook
    part (``marked`` names the sheets to mark as built) and the titles in docProps/app.xml.
    ``current`` gives a part's bytes as this write has them so far; ``lead``, ``titles`` and
    ``open_first`` as ``workbook_xml`` takes them."""
    parts = {"[Content_Types].xml": content_types(current("[Content_Types].xml"), content, set(drop))}
    wrp = rels_part(wb.workbook_part)
    parts[wrp], rids = workbook_rels(current(wrp), wb, new_sheets, list(remove))
    parts[wb.workbook_part], order = workbook_xml(current(wb.workbook_part), wb, new_sheets, rids,
                                                  list(remove), marked, lead, titles, open_first)
    if wb.pkg.has("docProps/app.xml"):
        parts["docProps/app.xml"] = app_xml(current("docProps/app.xml"), order)
    return parts
