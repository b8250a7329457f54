"""The styles part, edited in place: entries are only ever appended, so every style index
the workbook already uses keeps its meaning (the one editor of ``xl/styles.xml``)."""

from __future__ import annotations

import re

from ...errors import CorruptWorkbookError
from .xml import attrs, escape

BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9,
                   "0.00%": 10, "0.00E+00": 11, "@": 49}
_ORDER = ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles",
          "dxfs", "tableStyles", "colors", "extLst"]
_CELL_XFS = re.compile(rb"<((?:\w+:)?)cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", re.S)


class Styles:
    """The styles part (None when the workbook has none), with entries added on demand:
    ``xf_for`` finds or adds the cell format showing a number format, ``ensure`` any other
    entry. ``changed`` tells whether ``xml`` must be written back."""

    def __init__(self, xml: bytes | None) -> None:
        self.xml = xml
        self.changed = False
        self._cache: dict[str, int | None] = {}
        self._scanned: tuple[dict[str, int], dict[int, int]] | None = None

    def xf_for(self, fmt: str | None) -> int | None:
        """The cellXfs index showing numbers with ``fmt`` (None for General)."""
        if not fmt or fmt == "General" or self.xml is None:
            return None
        if fmt in self._cache:
            return self._cache[fmt]
        fmt_id = BUILTIN_FORMATS.get(fmt)
        custom, plain_xfs = self._scan()
        if fmt_id is None:
            fmt_id = custom.get(fmt)
        if fmt_id is None:
            fmt_id = max([163, *custom.values()]) + 1
            self.ensure("numFmts", f'<numFmt numFmtId="{fmt_id}" formatCode="{escape(fmt)}"/>', "numFmt")
        index: int | None = plain_xfs.get(fmt_id)
        if index is None:
            if self.xml is None or _CELL_XFS.search(self.xml) is None:
                return None
            index = self.ensure("cellXfs", f'<xf numFmtId="{fmt_id}" fontId="0" fillId="0" borderId="0" '
                                'xfId="0" applyNumberFormat="1"/>', "xf")
        self._cache[fmt] = index
        return index

    def ensure(self, container: str, item: str, item_tag: str) -> int:
        """Index of ``item`` (unprefixed XML) in the styles ``container``, appending it when
        absent: existing entries keep their indices, and a rerun finds the entry it
        appended before."""
        xml = self.xml
        if xml is None:
            raise CorruptWorkbookError("the workbook has no styles part")
        m = re.search(rb"<((?:\w+:)?)" + container.encode() + rb"\b[^>]*?(/?)>", xml)
        root = re.search(rb"<((?:\w+:)?)styleSheet\b[^>]*>", xml)
        if root is None:
            raise CorruptWorkbookError("styles part has no styleSheet element")
        p = (m.group(1) if m else root.group(1)).decode()
        body = item.replace("<", "<" + p).replace("<" + p + "/", "</" + p).encode() if p else item.encode()
        block = f'<{p}{container} count="1">'.encode() + body + f"</{p}{container}>".encode()
        index = 0
        if m is None:
            at = None
            for name in _ORDER[_ORDER.index(container) + 1:]:
                n = re.search(rb"<" + re.escape(p.encode()) + name.encode() + rb"\b", xml)
                if n is not None:
                    at = n.start()
                    break
            if at is None:
                at = xml.rfind(b"</" + p.encode() + b"styleSheet>")
            new = xml[:at] + block + xml[at:]
        elif m.group(2) == b"/":
            new = xml[:m.start()] + block + xml[m.end():]
        else:
            close = xml.find(f"</{p}{container}>".encode(), m.end())
            content = xml[m.end():close]
            count_re = re.compile(rb"<" + re.escape(p.encode()) + item_tag.encode() + rb"\b")
            found = content.find(body)
            if found >= 0:
                return len(count_re.findall(content, 0, found))
            index = len(count_re.findall(content))
            start = xml[m.start():m.end()]
            start = re.sub(rb'count="\d+"', b'count="%d"' % (index + 1), start) if b"count=" in start else \
                start[:-1] + b' count="%d">' % (index + 1)
            new = xml[:m.start()] + start + content + body + xml[close:]
        self.xml = new
        self.changed = True
        self._scanned = None
        return index

    def _scan(self) -> tuple[dict[str, int], dict[int, int]]:
        """Custom number formats (code -> id) and, per format id, the first plain cell
        format showing it (no font, fill or border of its own): read once per version."""
        if self._scanned is None:
            xml = self.xml or b""
            custom: dict[str, int] = {}
            for m in re.finditer(rb"<(?:\w+:)?numFmt\b[^>]*>", xml):
                a = attrs(m.group())
                if "numFmtId" in a and "formatCode" in a:
                    custom[a["formatCode"]] = int(a["numFmtId"])
            plain: dict[int, int] = {}
            xfs = _CELL_XFS.search(xml)
            if xfs is not None:
                for i, m in enumerate(re.finditer(rb"<(?:\w+:)?xf\b[^>]*?(?:/>|>.*?</(?:\w+:)?xf>)",
                                                  xfs.group(2), re.S)):
                    a = attrs(m.group().split(b">", 1)[0])
                    if (a.get("fontId", "0") == "0" and a.get("fillId", "0") == "0"
                            and a.get("borderId", "0") == "0"):
                        plain.setdefault(int(a.get("numFmtId", 0)), i)
            self._scanned = (custom, plain)
        return self._scanned
