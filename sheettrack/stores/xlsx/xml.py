"""XML as an .xlsx holds it: the one escaper, attribute and cell reading, cell references.

Parts are edited as bytes with small regular expressions rather than parsed and re-serialised,
so a part keeps every element and attribute sheettrack does not know. What writes text into
a part goes through ``escape`` (or ``inline_text`` for cell text); what reads it back goes
through ``attrs`` and ``cell_value``.
"""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from ...cells import col_index, col_letter
from ...errors import CorruptWorkbookError

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_REL_STRICT = "http://purl.oclc.org/ooxml/officeDocument/relationships"

_ATTR = re.compile(rb'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_START_TAG = re.compile(rb'<[\w:.-]+(?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*\s*/?>')
_ESCAPE_SHAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_SHAPE_START = re.compile(r"(?=_x[0-9A-Fa-f]{4}_)")
_UNESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def escape(text: str) -> str:
    """Text escaped for XML element content and double-quoted attributes; characters XML 1.0
    cannot hold are written as OOXML's ``_xHHHH_`` escape."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    if _BAD_XML.search(text):
        text = _BAD_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text


_NEEDS_CARE = re.compile("[&<>\"\x00-\x1f\ufffe\uffff]")  # with "_x", an escape's shape


def plain_texts(texts: list[str]) -> bool:
    """Whether every text can go in a ``<t>`` as it is: nothing to escape, no escape shape,
    no space at either end (those need ``xml:space``); one search over all of them."""
    joined = "|".join(texts)
    return "_x" not in joined and _NEEDS_CARE.search(joined) is None and all(t == t.strip() for t in texts)


def escape_shapes(text: str) -> str:
    """Text with literal ``_xHHHH_`` shapes escaped as ``_x005F_xHHHH_`` (ECMA-376), for names."""
    return _ESCAPE_SHAPE.sub(r"_x005F_\1", text) if "_x" in text else text


def unescape(text: str) -> str:
    """Decode ``_xHHHH_`` escapes in cell text."""
    if "_x" not in text:
        return text
    return _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def inline_text(text: str, p: bytes = b"") -> bytes:
    """The inside of ``<is>`` for ``text``: one ``<t>``, or runs when the text needs care.

    Readers decode ``_xHHHH_`` inside each ``<t>``; openpyxl mangles the standard
    ``_x005F_`` escape, so text shaped like an escape is instead split into runs that never
    hold a whole escape shape. Characters XML cannot hold are written as escapes. Every
    reader joins the runs back into the original text.
    """
    # a character XML cannot hold is written as an escape that starts and ends with "_", so
    # look for shapes as if it were "_": that finds shapes the escape would complete too
    probe = _BAD_XML.sub("_", text) if _BAD_XML.search(text) else text
    cuts = {m.start() + 3 for m in _SHAPE_START.finditer(probe)} if "_x" in probe else set()
    if not cuts:
        return b"<%st%s>%s</%st>" % (p, _space(text), escape(text).encode("utf-8"), p)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
    runs = []
    for a, b in zip(bounds, bounds[1:]):
        piece = text[a:b]
        runs.append(b"<%sr><%st%s>%s</%st></%sr>" % (p, p, _space(piece), escape(piece).encode("utf-8"), p, p))
    return b"".join(runs)


def _space(text: str) -> bytes:
    return b' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() or "\n" in text else b""


def attrs(tag: bytes) -> dict[str, str]:
    """Attributes of one start tag, unescaped."""
    return {m.group(1).decode(): html.unescape((m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8"))
            for m in _ATTR.finditer(tag)}


def attr_of(element: bytes, name: str) -> str | None:
    """Attribute ``name`` of an element's start tag (the element may carry content)."""
    m = _START_TAG.match(element)
    return attrs(m.group() if m else element).get(name)


def split_ref(ref: str) -> tuple[int, int]:
    """``"AB12"`` -> (column index 27, row 12)."""
    m = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", ref)
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    return col_index(m.group(1)), int(m.group(2))


def range_ref(c1: int, r1: int, c2: int, r2: int) -> str:
    """Range text for 0-based columns and 1-based rows."""
    return f"{col_letter(c1)}{r1}:{col_letter(c2)}{r2}"


def absolute(ref: str) -> str:
    """``A1`` -> ``$A$1``."""
    col, row = split_ref(ref)
    return f"${col_letter(col)}${row}"


def grow_ref_tag(tag: bytes, old_last: int, new_last: int, width: int) -> bytes:
    """Widen a ``ref`` starting at row 1 that covered the data to the new last row and width."""
    a = attrs(tag)
    ref = a.get("ref", "")
    if ":" not in ref:
        return tag
    try:
        c1, r1 = split_ref(ref.split(":")[0])
        c2, r2 = split_ref(ref.split(":")[1])
    except ValueError:
        return tag
    if r1 != 1 or r2 < old_last:
        return tag
    new_ref = range_ref(c1, r1, max(c2, width - 1), max(r2, new_last, 2)).encode()
    return re.sub(rb'ref="[^"]*"', b'ref="' + new_ref + b'"', tag, count=1)


def parse_xml(data: bytes, label: str) -> ET.Element:
    """Parse a small part, naming it when it is not XML."""
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise CorruptWorkbookError(f"{label}: damaged XML ({exc})") from None


def local(tag: str) -> str:
    """Tag name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def cell_value(c: ET.Element, shared: list[str] | None) -> Any:
    """The value of a parsed ``<c>`` element, as Python (str, float, bool, datetime text)."""
    t = c.get("t", "n")
    v = None
    text_parts: list[str] = []
    for child in c:
        name = local(child.tag)
        if name == "v":
            v = child.text or ""
        elif name == "is":
            text_parts.extend(unescape(x.text or "") for x in child.iter() if local(x.tag) == "t")
    if t == "inlineStr":
        return "".join(text_parts)
    if v is None:
        return None
    if t == "s":
        return shared[int(v)] if shared is not None and int(v) < len(shared) else ""
    if t in ("str", "e"):
        return unescape(v)
    if t == "b":
        return v.strip() in ("1", "true")
    if t == "d":
        return v
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and abs(f) <= 2**53 and "." not in v and "e" not in v.lower() else f


def read_shared_strings(xml: bytes, upto: int | None = None) -> list[str]:
    """The shared strings table (stops after index ``upto`` when given)."""
    out: list[str] = []
    for _, el in ET.iterparse(io.BytesIO(xml)):
        if local(el.tag) == "si":
            out.append("".join(unescape(t.text or "") for t in el.iter() if local(t.tag) == "t"
                               and not _in_phonetic(el, t)))
            el.clear()
            if upto is not None and len(out) > upto:
                break
    return out


def _in_phonetic(si: ET.Element, t: ET.Element) -> bool:
    for rph in si:
        if local(rph.tag) == "rPh" and t in list(rph.iter()):
            return True
    return False


def row_cells(row: ET.Element) -> Iterator[tuple[int, ET.Element]]:
    """The ``<c>`` elements of a parsed ``<row>`` with their column index (a cell without a
    reference follows the one before it)."""
    next_col = 0
    for c in row:
        if local(c.tag) != "c":
            continue
        ref = c.get("r")
        col = split_ref(ref)[0] if ref else next_col
        next_col = col + 1
        yield col, c


def iter_rows(sheet_xml: bytes, shared: list[str] | None) -> Iterator[tuple[int, dict[int, Any]]]:
    """Rows of a small worksheet part as (row number, {column index: value})."""
    root = parse_xml(sheet_xml, "worksheet")
    next_row = 1
    for row in root.iter():
        if local(row.tag) != "row":
            continue
        r = int(row.get("r", next_row))
        next_row = r + 1
        cells: dict[int, Any] = {}
        for col, c in row_cells(row):
            value = cell_value(c, shared)
            if value is not None and value != "":
                cells[col] = value
        yield r, cells
