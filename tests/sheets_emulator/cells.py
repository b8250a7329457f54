"""Cell values: how RAW and USER_ENTERED input is stored, and how each render option reads it.

A cell keeps what the user entered (text, number, bool or formula) and its effective value.
Numbers are IEEE doubles as in Google Sheets. Formulas are evaluated only when they are
constant arithmetic (``=1+1``, ``+1``); anything else shows ``#ERROR!`` — the emulator has
no formula engine.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
from dataclasses import dataclass

MAX_CELL_CHARS = 50_000
EPOCH = dt.datetime(1899, 12, 30)
ERROR = "#ERROR!"

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d*)?([eE][+-]?\d+)?$")
_PERCENT = re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+))%$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class CellError(ValueError):
    """A value the API refuses to store (message as Google words it)."""


@dataclass(frozen=True)
class Cell:
    """One stored cell. ``kind`` is 'string', 'number', 'bool' or 'formula'.

    ``value`` is the effective value (str, float or bool); ``formula`` the formula text;
    ``pattern`` a date/percent display pattern chosen when USER_ENTERED text was parsed.
    """

    kind: str
    value: str | float | bool
    formula: str | None = None
    pattern: str | None = None
    note: str | None = None
    extra: tuple = ()  # (key, value) pairs kept from updateCells (e.g. pivotTable)


def _as_double(x: int | float) -> float:
    if isinstance(x, float) and not math.isfinite(x):
        raise CellError("Invalid JSON payload received. Unexpected token.")
    return float(x)


def _check_text(text: str) -> None:
    if len(text) > MAX_CELL_CHARS:
        raise CellError(
            f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell.")


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    raise ValueError("not constant arithmetic")


def evaluate(formula: str) -> str | float:
    """Effective value of a formula: constant arithmetic is computed, anything else is #ERROR!."""
    body = formula[1:].strip().replace("^", "**")
    if "**" in formula[1:]:
        return ERROR
    try:
        value = _eval(ast.parse(body, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return ERROR
    return value if math.isfinite(value) else ERROR


def _typed_pattern(text: str) -> str | None:
    """The number format a typed number brings: thousands separators as typed keep a
    ``#,##0`` format with the decimals typed (``2,000,000.01`` shows as typed)."""
    t = text.strip()
    if "," not in t or "e" in t.lower():
        return None
    decimals = len(t.partition(".")[2])
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def _parse_number(text: str) -> float | None:
    t = text.strip()
    if not t or not _NUMBER.match(t) or not any(ch.isdigit() for ch in t):
        return None
    try:
        return float(t.replace(",", ""))
    except ValueError:
        return None


def _parse_date(text: str) -> tuple[float, str] | None:
    t = text.strip()
    try:
        if m := _ISO_DATE.match(t):
            d = dt.datetime(int(m[1]), int(m[2]), int(m[3]))
            return (d - EPOCH).days, "yyyy-mm-dd"
        if m := _ISO_DATETIME.match(t):
            d = dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0))
            delta = d - EPOCH
            return delta.days + delta.seconds / 86400, "yyyy-mm-dd hh:mm:ss"
        if m := _US_DATE.match(t):
            d = dt.datetime(int(m[3]), int(m[1]), int(m[2]))
            return (d - EPOCH).days, "m/d/yyyy"
    except ValueError:
        return None
    return None


def from_raw(value: object) -> Cell | None:
    """A JSON cell sent with valueInputOption=RAW; None leaves the cell as it is."""
    if value is None:
        return None
    if isinstance(value, bool):
        return Cell("bool", value)
    if isinstance(value, (int, float)):
        return Cell("number", _as_double(value))
    if isinstance(value, str):
        _check_text(value)
        return Cell("string", value)
    raise CellError(f"Invalid values: {'struct_value' if isinstance(value, dict) else 'list_value'}")


def from_user_entered(value: object) -> Cell | None:
    """A JSON cell sent with USER_ENTERED: parsed as if typed into the browser."""
    if not isinstance(value, str):
        return from_raw(value)
    _check_text(value)
    if value == "":
        return Cell("string", "")
    if value.startswith("'"):
        return Cell("string", value[1:])
    if value.startswith("="):
        return Cell("formula", evaluate(value), formula=value)
    number = _parse_number(value)
    if number is not None:
        return Cell("number", number, pattern=_typed_pattern(value))
    if value[0] in "+-":
        formula = "=" + value
        return Cell("formula", evaluate(formula), formula=formula)
    if value.upper() in ("TRUE", "FALSE"):
        return Cell("bool", value.upper() == "TRUE")
    if m := _PERCENT.match(value.strip()):
        decimals = len(m[1].partition(".")[2])
        return Cell("number", float(m[1]) / 100, pattern="0" + ("." + "0" * decimals if decimals else "") + "%")
    date = _parse_date(value)
    if date is not None:
        return Cell("number", float(date[0]), pattern=date[1])
    return Cell("string", value)


def parse(value: object, option: str) -> Cell | None:
    """Dispatch on valueInputOption (RAW or USER_ENTERED)."""
    return from_raw(value) if option == "RAW" else from_user_entered(value)


def number_json(x: float) -> int | float:
    """A double as JSON shows it: ``2`` for integral values, never ``2.0``."""
    return int(x) if x.is_integer() else x


def general_format(x: float) -> str:
    """Google's automatic number format, approximated: up to 10 significant digits."""
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.10g}"
    if "e" in text:
        mant, _, exp = text.partition("e")
        text = f"{mant}E{'+' if int(exp) >= 0 else '-'}{abs(int(exp)):02d}"
    return text


def _is_date(pattern: str) -> bool:
    return not pattern.endswith("%") and not pattern.startswith("#")


def _format_pattern(x: float, pattern: str) -> str:
    if pattern.startswith("#,##0"):
        decimals = len(pattern.partition(".")[2])
        return f"{x:,.{decimals}f}"
    if pattern.endswith("%"):
        decimals = len(pattern[:-1].partition(".")[2])
        return f"{x * 100:.{decimals}f}%"
    moment = EPOCH + dt.timedelta(days=x)
    if pattern == "yyyy-mm-dd":
        return moment.strftime("%Y-%m-%d")
    if pattern == "m/d/yyyy":
        return f"{moment.month}/{moment.day}/{moment.year}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def formatted(cell: Cell) -> str:
    """FORMATTED_VALUE: what the browser shows."""
    v = cell.value
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return _format_pattern(v, cell.pattern) if cell.pattern else general_format(v)
    return v


def render(cell: Cell, option: str, datetime_option: str = "SERIAL_NUMBER") -> object:
    """A cell as values.get returns it for a valueRenderOption."""
    if option == "FORMATTED_VALUE":
        return formatted(cell)
    if option == "FORMULA" and cell.formula is not None:
        return cell.formula
    v = cell.value
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if cell.pattern and _is_date(cell.pattern) and datetime_option == "FORMATTED_STRING":
            return formatted(cell)
        return number_json(v)
    return v


def typed(cell: Cell) -> object:
    """The stored effective value as Python sees it: str, int (integral doubles), float, bool."""
    v = cell.value
    if isinstance(v, float):
        return number_json(v)
    return v


def is_empty(cell: Cell | None) -> bool:
    """Empty for values and table detection: no cell, or an empty string that is not a formula."""
    return cell is None or (cell.kind == "string" and cell.value == "")
