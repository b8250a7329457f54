"""One object per column type: what a value of that type is, and how it becomes a cell.

Each type says, in one place, what it accepts (``coerce``), which first value makes a new
column of its type (``infers``), how its canonical value is written (``to_cell``) and read
back (``from_cell``), and how its cells are shown (``number_format``). ``Column``,
``Schema.build_row``, ``infer_type`` and ``cells.to_cell``/``cells.from_cell`` all ask these
objects; nothing else decides per type.

A canonical value is what ``coerce`` returns. Coercing it again returns it unchanged, and
cheaply: the write path may meet the same value twice (a run's guess, then the stored column).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
import warnings
from typing import Any

from ..cells import (
    MAX_EXACT_INT,
    Cell,
    CellError,
    from_serial,
    json_text,
    normalize,
    parse_datetime,
    register,
    show_value,
    to_bool,
    to_float,
    to_int,
    to_utc,
)


class SheettrackWarning(UserWarning):
    """A value was changed or dropped on the way to the sheet (truncated, unknown key, ...)."""


class JsonText(str):
    """JSON text a json column has already encoded: coercing it again keeps it as it is,
    where any other text would be encoded as a JSON string."""

    __slots__ = ()


_SURROGATE = re.compile("[\ud800-\udfff]")
_UNFIT = re.compile("[\ud800-\udfff\ufffe\uffff]")  # what text must not hold as it is
NONCHARACTERS = "\ufffe\uffff"


def fix_text(value: str) -> str:
    """Join surrogate pairs and replace lone surrogates, which no file format can hold; refuse
    U+FFFE and U+FFFF (ValueError): XML 1.0 cannot hold them, and the ``_xFFFE_`` escape a
    workbook would need is read back as those seven characters by python-calamine, openpyxl
    and LibreOffice, so the value would not come back as it was logged."""
    if _UNFIT.search(value) is None:
        return value
    for ch in NONCHARACTERS:
        if ch in value:
            raise ValueError(f"text holds U+{ord(ch):04X} at position {value.index(ch)}, a noncharacter "
                             "no spreadsheet reads back; remove it (or log the text as bytes.hex())")
    if _SURROGATE.search(value) is None:
        return value
    fixed = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if _SURROGATE.search(fixed) is not None or fixed.count("\ufffd") > value.count("\ufffd"):
        warnings.warn("a lone surrogate in text was replaced by U+FFFD", SheettrackWarning,
                      stacklevel=6)
    return _SURROGATE.sub("\ufffd", fixed)


class ColumnType:
    """The rules of one column type; subclasses fill in ``convert`` and ``cell``, and ``read``
    where a stored value needs more than ``convert`` accepts."""

    #: the type's name in templates and on the Schema sheet
    name: str = ""
    #: the Excel number format its cells get unless the column sets one
    number_format: str | None = None
    #: whether min and max apply
    numeric: bool = False
    #: the exact Python type of a canonical value, where being of that type is enough
    plain: type | None = None

    def coerce(self, value: Any) -> Any:
        """``value`` as this type's canonical value (None when missing); ValueError names it."""
        if self.is_canonical(value):
            return value
        value = normalize(value)
        return None if value is None else self.convert(value)

    def is_canonical(self, value: Any) -> bool:
        """Whether ``value`` is already what ``coerce`` would return (checked cheaply)."""
        return type(value) is self.plain

    def convert(self, value: Any) -> Any:
        """A plain, present value as the canonical value; ValueError names it."""
        raise NotImplementedError

    def infers(self, value: Any, group: str | None) -> bool:
        """Whether a new column of ``group`` whose first value is ``value`` gets this type."""
        return False

    def to_cell(self, value: Any) -> Cell | None:
        """The cell for a canonical value (None: an empty cell)."""
        return None if value is None else self.cell(value)

    def cell(self, value: Any) -> Cell | None:
        """The cell for a present canonical value."""
        raise NotImplementedError

    def from_cell(self, value: Any) -> Any:
        """What a reader returned for a cell, as the canonical value; CellError says why not."""
        if value is None or (isinstance(value, str) and value == ""):
            return None
        return self.read(value)

    def read(self, value: Any) -> Any:
        """A present stored value as the canonical value: by default what ``convert`` takes."""
        try:
            return self.convert(value)
        except ValueError as exc:
            raise CellError(str(exc)) from None

    def __repr__(self) -> str:
        return f"<column type {self.name}>"


class StringType(ColumnType):
    """Text, never a formula: ``=1+1`` stays the five characters ``=1+1``."""

    name = "string"

    def is_canonical(self, value: Any) -> bool:
        return type(value) is str and _UNFIT.search(value) is None

    def convert(self, value: Any) -> str:
        if isinstance(value, str):
            return fix_text(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, decimal.Decimal)):
            return str(value)
        if isinstance(value, (_dt.datetime, _dt.date)):
            return value.isoformat()
        raise ValueError(f"{show_value(value)} is a {type(value).__name__}, not text")

    def infers(self, value: Any, group: str | None) -> bool:
        return True  # what no other type claims is text

    def cell(self, value: Any) -> Cell | None:
        return None if value == "" else Cell("s", value)

    def read(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, (_dt.datetime, _dt.date)):
            return value.isoformat()
        return str(value)


class IntType(ColumnType):
    """Whole numbers; a number cell while exact in a double, beyond that its digits as text."""

    name, numeric, plain = "int", True, int

    def convert(self, value: Any) -> int:
        return to_int(value)

    def infers(self, value: Any, group: str | None) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and group != "metrics"

    def cell(self, value: Any) -> Cell:
        if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            return Cell("n", value)
        return Cell("s", str(value))


class FloatType(ColumnType):
    """Numbers that read back bit for bit; NaN and the infinities as text (a number cell
    cannot hold them). A metric is a float even when its first value is whole."""

    name, numeric, plain = "float", True, float

    def convert(self, value: Any) -> float:
        return to_float(value)

    def infers(self, value: Any, group: str | None) -> bool:
        if isinstance(value, bool):
            return False
        return isinstance(value, (float, decimal.Decimal)) or (isinstance(value, int) and group == "metrics")

    def cell(self, value: Any) -> Cell:
        if math.isnan(value):
            return Cell("s", "NaN")
        if math.isinf(value):
            return Cell("s", "inf" if value > 0 else "-inf")
        return Cell("n", value)


class BoolType(ColumnType):
    """True or false; 0/1 and true/false/yes/no text are accepted."""

    name, plain = "bool", bool

    def convert(self, value: Any) -> bool:
        return to_bool(value)

    def infers(self, value: Any, group: str | None) -> bool:
        return isinstance(value, bool)

    def cell(self, value: Any) -> Cell:
        return Cell("b", bool(value))


class DateTimeType(ColumnType):
    """A moment, kept in UTC (naive values are local time) and read back tz-aware in UTC."""

    name, number_format = "datetime", "yyyy-mm-dd hh:mm:ss"

    def is_canonical(self, value: Any) -> bool:
        return type(value) is _dt.datetime and value.tzinfo is _dt.timezone.utc

    def convert(self, value: Any) -> _dt.datetime:
        try:
            return self._utc(value)
        except OverflowError:
            raise ValueError(f"{show_value(value)} is outside the range of dates a sheet can hold") from None

    @staticmethod
    def _utc(value: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            return to_utc(value)
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
        if isinstance(value, str):
            try:
                return to_utc(parse_datetime(value))
            except ValueError:
                pass
        raise ValueError(f"{show_value(value)} is not a date-time")

    def infers(self, value: Any, group: str | None) -> bool:
        return isinstance(value, _dt.datetime)

    def cell(self, value: Any) -> Cell:
        return Cell("d", value)

    def read(self, value: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else to_utc(value)
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return from_serial(value).replace(tzinfo=_dt.timezone.utc)
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                raise CellError(f"{value!r} is not a date-time") from None
            return parsed.replace(tzinfo=_dt.timezone.utc) if parsed.tzinfo is None else to_utc(parsed)
        raise CellError(f"{value!r} is not a date-time")


class DateType(ColumnType):
    """A calendar day (YYYY-MM-DD); a date-time is refused rather than cut to its day."""

    name, number_format, plain = "date", "yyyy-mm-dd", _dt.date

    def convert(self, value: Any) -> _dt.date:
        if isinstance(value, _dt.datetime):
            raise ValueError(f"{show_value(value)} is a date-time, not a date")
        if isinstance(value, _dt.date):
            return value
        if isinstance(value, str):
            try:
                return _dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{show_value(value)} is not a date (YYYY-MM-DD)")

    def infers(self, value: Any, group: str | None) -> bool:
        return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)

    def cell(self, value: Any) -> Cell:
        return Cell("d", value)

    def read(self, value: Any) -> _dt.date:
        if isinstance(value, _dt.datetime):
            return value.date()
        if isinstance(value, _dt.date):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return from_serial(value).date()
        if isinstance(value, str):
            try:
                return parse_datetime(value).date()
            except ValueError:
                raise CellError(f"{value!r} is not a date") from None
        raise CellError(f"{value!r} is not a date")


class JsonType(ColumnType):
    """Lists and dicts (and any plain value) kept as JSON text, read back as Python objects."""

    name, plain = "json", JsonText

    def convert(self, value: Any) -> JsonText:
        return JsonText(json_text(self._plain(value)))

    def _plain(self, value: Any) -> Any:
        value = normalize(value)
        if isinstance(value, dict):
            return {fix_text(k): self._plain(x) for k, x in value.items()}
        if isinstance(value, list):
            return [self._plain(x) for x in value]
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, (_dt.datetime, _dt.date)):
            return value.isoformat()
        if isinstance(value, str):
            return fix_text(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        raise ValueError(f"{show_value(value)} (a {type(value).__name__}) cannot be stored as JSON")

    def infers(self, value: Any, group: str | None) -> bool:
        return isinstance(value, (list, dict))

    def cell(self, value: Any) -> Cell | None:
        return None if value == "" else Cell("s", value)

    def read(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise CellError(f"{value[:40]!r} is not JSON text") from None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


#: Every column type by name, in the order a new column's type is guessed from its first value.
COLUMN_TYPES: dict[str, ColumnType] = {t.name: t for t in (
    BoolType(), IntType(), FloatType(), DateTimeType(), DateType(), JsonType(), StringType())}
#: The names a template's ``type`` may take.
TYPES = ("string", "int", "float", "bool", "datetime", "date", "json")
for _type in COLUMN_TYPES.values():
    register(_type.name, _type)


def column_type(name: str) -> ColumnType:
    """The column type called ``name`` (KeyError for an unknown one)."""
    return COLUMN_TYPES[name]


def infer_type(value: Any, group: str | None) -> str:
    """The column type a new column gets from the first value logged into it."""
    value = normalize(value)
    return next(t.name for t in COLUMN_TYPES.values() if t.infers(value, group))
