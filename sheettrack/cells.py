"""The vocabulary of cells every store shares: what a cell is, and the rules for its text,
numbers and dates.

Three steps, one direction:

* ``normalize`` turns what users log (numpy, pandas and torch scalars, Decimal, Path, UUID,
  Enum, tuples, sets) into plain Python values.
* ``Column.coerce`` (in ``schema``) checks a plain value against its column and returns the
  canonical Python value for that column type.
* ``to_cell`` turns a canonical value into a ``Cell``: the documented, round-tripping
  representation every store writes; ``from_cell`` reads one back.

Each column type is one object in ``sheettrack.schema.types`` that does all of these for its
type; ``to_cell`` and ``from_cell`` here look that object up by the type's name, so a store
needs nothing but this module.

Representations (documented in the README):

=========  ===============================================================================
float      a number, written with ``repr`` so it reads back bit for bit; NaN, inf and -inf
           are the text ``NaN``, ``inf`` and ``-inf`` (a number cell cannot hold them)
int        a number while ``abs(v) <= 2**53``; beyond that the decimal digits as text
           (an Excel number is a double and would lose digits)
bool       a boolean cell
datetime   a date-time cell in UTC (naive datetimes are taken as local time); read back
           tz-aware in UTC, to the microsecond
date       a date cell
json       the JSON text (lists, tuples, dicts); read back as Python objects
string     text, never a formula: ``=1+1`` stays the five characters ``=1+1``
=========  ===============================================================================
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

MAX_EXACT_INT = 2**53


@dataclass(frozen=True)
class Cell:
    """One cell as every store writes it: ``kind`` is n (number), s (text), b (bool), d (date)."""

    kind: str
    value: Any


def normalize(value: Any) -> Any:
    """Turn library scalars and containers into plain Python values (recursively)."""
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, enum.Enum):
        return normalize(value.value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # int subclasses may print as anything: keep the number
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    tname = type(value).__name__
    if tname in ("NAType", "NaTType"):
        return None
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        if hasattr(value, "to_pydatetime"):  # pandas Timestamp
            return value.to_pydatetime()
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [normalize(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if tname == "datetime64":  # numpy datetime64 scalar
        import numpy as np

        if np.isnat(value):
            return None
        us = value.astype("datetime64[us]").astype("int64").item()
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=us)
    if hasattr(value, "item") and (hasattr(value, "dtype") or hasattr(value, "numel")):
        # numpy scalars and arrays, torch tensors, jax arrays
        size = getattr(value, "size", None)
        if callable(size):  # torch: size() is a method, numel() the count
            size = value.numel()
        if size == 1 and getattr(value, "ndim", 0) == 0:
            return normalize(value.item())
        if hasattr(value, "tolist"):
            return normalize(value.tolist())
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return normalize(value.tolist())
    return value


def to_utc(value: _dt.datetime) -> _dt.datetime:
    """Return ``value`` as an aware UTC datetime; naive datetimes are taken as local time."""
    if value.tzinfo is None:
        value = value.astimezone()  # local time, as datetime.now() means it
    return value.astimezone(_dt.timezone.utc)


def json_text(value: Any) -> str:
    """Canonical JSON text of a plain value (NaN and inf as Python's json writes them)."""
    return json.dumps(value, ensure_ascii=False)


def number_text(value: int | float) -> str:
    """Shortest text that reads back as the same number (``repr`` round-trips doubles)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))  # "1.0", "-0.0": every reader sees a float, sign included


class CellError(ValueError):
    """A stored cell cannot be read as its column's type; the message says why."""


class CellCodec(Protocol):
    """How one column type writes its canonical values as cells and reads them back."""

    def to_cell(self, value: Any) -> Cell | None:
        """The cell for a canonical value (None: an empty cell)."""

    def from_cell(self, value: Any) -> Any:
        """The canonical value of what a reader returned; CellError says why not."""


#: The codec of each column type by name. ``sheettrack.schema.types`` fills it with its one
#: object per type when it is imported, which importing anything from ``sheettrack`` does.
CODECS: dict[str, CellCodec] = {}


def register(name: str, codec: CellCodec) -> None:
    """Make ``codec`` the way cells of column type ``name`` are written and read."""
    CODECS[name] = codec


def to_cell(ctype: str, value: Any) -> Cell | None:
    """The cell for a canonical value of a column of type ``ctype`` (None: an empty cell)."""
    return CODECS[ctype].to_cell(value)


def from_cell(ctype: str, value: Any) -> Any:
    """Read a stored cell back as the canonical value of a column of type ``ctype``.

    ``value`` is what a reader returned: None or "" for empty, str, int, float, bool,
    datetime, date. Raises ``CellError`` with a short reason when it cannot be read.
    """
    codec = CODECS.get(ctype)
    if codec is None:
        raise CellError(f"unknown column type {ctype!r}")
    return codec.from_cell(value)


# -- text ------------------------------------------------------------------------------------

#: Text shaped like an OOXML escape (``_x000D_``): Excel decodes it, so literal text of this
#: shape must itself be escaped (``_x005F_``) in a workbook.
ESCAPE_SHAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")


def text_length(text: str) -> int:
    """Length as spreadsheets count it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fits(text: str, limit: int) -> bool:
    """Whether ``text`` has at most ``limit`` UTF-16 code units (cheap for short text)."""
    return 2 * len(text) <= limit or text_length(text) <= limit


def truncate_text(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 code units, never inside a character."""
    out, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            break
        out.append(ch)
    return "".join(out)


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character, a surrogate or U+FFFE / U+FFFF (which XML
    cannot hold and no reader decodes back), which a name may not."""
    return any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF or ord(ch) in (0xFFFE, 0xFFFF) for ch in text)


def to_int(value: Any) -> int:
    """``value`` as an int (integral floats and numeric text too); ValueError names it."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{show_value(value)} is not an integer")


def to_float(value: Any) -> float:
    """``value`` as a float (ints, Decimal, numeric text, "NaN", "inf"); ValueError names it."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, (int, float, decimal.Decimal)):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{show_value(value)} is too large for a float") from None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{show_value(value)} is not a number")


def to_bool(value: Any) -> bool:
    """``value`` as a bool (0/1 and true/false/yes/no text too); ValueError names it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in BOOL_TEXT:
        return BOOL_TEXT[value.strip().lower()]
    raise ValueError(f"{show_value(value)} is not a boolean (true/false)")



def show_value(value: Any) -> str:
    """Short repr of a value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


BOOL_TEXT = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
EXCEL_EPOCH = _dt.datetime(1899, 12, 30)


def from_serial(serial: float) -> _dt.datetime:
    """Excel serial day number (1900 system) to a naive datetime, to the microsecond."""
    return EXCEL_EPOCH + _dt.timedelta(microseconds=round(serial * 86_400_000_000))


def to_serial(value: _dt.datetime | _dt.date) -> float | int:
    """The Excel serial day number of a date (whole days) or a date-time (UTC when aware)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        delta = value - EXCEL_EPOCH
        return delta.days + (delta.seconds * 1_000_000 + delta.microseconds) / 86_400_000_000
    return (value - EXCEL_EPOCH.date()).days


def parse_datetime(text: str) -> _dt.datetime:
    """Parse ISO 8601 text (a trailing ``Z`` and a space separator are accepted)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return _dt.datetime.fromisoformat(text)


def col_letter(index: int) -> str:
    """Spreadsheet column letters for a 0-based index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def quote_sheet(name: str) -> str:
    """A sheet name as a formula or an A1 range names it, in Excel and Google Sheets alike:
    always quoted, quotes doubled (``'It''s'``)."""
    return "'" + name.replace("'", "''") + "'"


def col_index(letters: str) -> int:
    """0-based index of spreadsheet column letters (A -> 0, AA -> 26)."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1
