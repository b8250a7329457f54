"""A1 notation: parsing ranges the way the Sheets API reads them, and writing them back."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COLUMNS = 18278  # column ZZZ

_SIMPLE_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CELL_LIKE = re.compile(r"^([A-Za-z]{1,3}\d+|[Rr]\d*[Cc]\d*)$")
_PART = re.compile(r"^([A-Za-z]{0,3})(\d{0,9})$")


class RangeError(ValueError):
    """The text is not a range the API can parse."""


def col_letters(index: int) -> str:
    """0-based column index -> letters (0 -> A, 26 -> AA)."""
    n = index + 1
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    """Letters -> 0-based column index (A -> 0)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def quote_title(title: str) -> str:
    """A sheet title as it appears in a range: quoted unless it is a plain word."""
    if _SIMPLE_TITLE.match(title) and not _CELL_LIKE.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class A1:
    """A parsed range: optional sheet title and 0-based bounds (end exclusive, None = open)."""

    title: str | None
    r0: int | None = None
    r1: int | None = None
    c0: int | None = None
    c1: int | None = None
    text: str = ""  # the cell part as the request spelled it (Google echoes it in errors)

    @property
    def whole_sheet(self) -> bool:
        return self.r0 is None and self.r1 is None and self.c0 is None and self.c1 is None


def split_title(text: str) -> tuple[str | None, str]:
    """Split ``'My Sheet'!A1:B2`` into the title and the cell part; no ``!`` means no title."""
    if text.startswith("'"):
        i, title = 1, []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                rest = text[i + 1:]
                if rest == "":
                    return "".join(title), ""
                if rest.startswith("!"):
                    return "".join(title), rest[1:]
                raise RangeError(text)
            title.append(ch)
            i += 1
        raise RangeError(text)
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


def _part(text: str) -> tuple[int | None, int | None]:
    m = _PART.match(text)
    if not m or text == "":
        raise RangeError(text)
    letters, digits = m.groups()
    col = col_index(letters) if letters else None
    row = int(digits) - 1 if digits else None
    if row is not None and row < 0:
        raise RangeError(text)
    if col is not None and col >= MAX_COLUMNS:
        raise RangeError(text)
    return row, col


def parse_cells(text: str) -> tuple[int | None, int | None, int | None, int | None]:
    """Cell part -> (r0, r1, c0, c1): ``A1``, ``A1:C3``, ``A:C``, ``1:2``, ``A1:1``, ``A1:B``."""
    if ":" in text:
        left, _, right = text.partition(":")
        (ra, ca), (rb, cb) = _part(left), _part(right)
        if ra is None and ca is None or rb is None and cb is None:
            raise RangeError(text)
        # a lone letter or lone number on the left must be matched on the right
        if (ra is None) != (rb is None) and ca is None:
            raise RangeError(text)
        if (ca is None) != (cb is None) and ra is None:
            raise RangeError(text)
        r0 = min(ra, rb) if ra is not None and rb is not None else (ra if ra is not None else None)
        r1 = max(ra, rb) + 1 if ra is not None and rb is not None else None
        c0 = min(ca, cb) if ca is not None and cb is not None else (ca if ca is not None else None)
        c1 = max(ca, cb) + 1 if ca is not None and cb is not None else None
        if ra is None:  # A:C
            r0 = None
        if ca is None:  # 1:2
            c0 = None
        return r0, r1, c0, c1
    row, col = _part(text)
    if row is None or col is None:
        raise RangeError(text)
    return row, row + 1, col, col + 1


def format_open(title: str, r0: int | None, r1: int | None, c0: int | None,
                c1: int | None) -> str:
    """``Title!A1001:B`` for a range whose ends may be open (None), as Google's errors show."""
    start = f"{col_letters(c0 or 0)}{(r0 or 0) + 1}"
    end = (col_letters(c1 - 1) if c1 is not None else "") + (str(r1) if r1 is not None else "")
    return f"{quote_title(title)}!{start}:{end}" if end else f"{quote_title(title)}!{start}"


def format_range(title: str, r0: int, r1: int, c0: int, c1: int) -> str:
    """``Title!A1:B2`` (a single cell as ``Title!A1``) from 0-based bounds, end exclusive."""
    start = f"{col_letters(c0)}{r0 + 1}"
    end = f"{col_letters(c1 - 1)}{r1}"
    cells = start if start == end else f"{start}:{end}"
    return f"{quote_title(title)}!{cells}"
