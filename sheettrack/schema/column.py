"""A column of a template: its type, its rules, and how it is shown."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..cells import fits, normalize, show_value, text_length, truncate_text
from ..errors import TemplateError
from .names import check_column_name, check_keys
from .types import TYPES, ColumnType, SheettrackWarning, column_type

GROUPS = ("run", "params", "metrics", "tags", "data", "notes", "provenance")
COLUMN_KEYS = ("name", "type", "required", "default", "choices", "min", "max", "pattern",
               "description", "unit", "format", "group", "truncate")


@dataclass(frozen=True)
class Column:
    """One column: its type, rules, and how it is shown."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    description: str = ""
    unit: str | None = None
    format: str | None = None
    group: str | None = None
    truncate: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The column as a template dict, without keys at their default."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for key in COLUMN_KEYS[2:]:
            value = getattr(self, key)
            if not (value is None or value is False or (isinstance(value, str) and value == "")):
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @cached_property
    def kind(self) -> ColumnType:
        """The object that holds the rules of this column's type."""
        return column_type(self.type)

    @cached_property
    def checks_values(self) -> bool:
        """Whether the column has rules of its own (choices, range, pattern) to check."""
        return not (self.choices is None and self.min is None and self.max is None
                    and self.pattern is None)

    @property
    def number_format(self) -> str | None:
        """The Excel number format for this column's cells (explicit, or by type)."""
        return self.format or self.kind.number_format

    @cached_property
    def allowed(self) -> list[Any] | None:
        """The canonical values of ``choices`` (None when any value goes)."""
        return None if self.choices is None else [self.kind.coerce(c) for c in self.choices]

    def rule(self) -> str:
        """Short text of the column's rule, for error messages."""
        return f"column {self.name}: {self.type}"

    def coerce(self, value: Any, *, text_limit: int | None = None, truncate: bool = False) -> Any:
        """Check ``value`` against this column; return its canonical value or raise ValueError.

        The error text names the value and the broken rule; the caller adds the column. A
        canonical value costs little: its type lets it through as it is, and only the
        column's own rules are checked.
        """
        out = self.kind.coerce(value)
        if out is None:
            return None
        if self.checks_values:
            self.check(out, value)
        if text_limit is not None and isinstance(out, str) and not fits(out, text_limit):
            length = text_length(out)
            if truncate or self.truncate:
                warnings.warn(f"column {self.name}: text of {length:,} characters truncated to "
                              f"the cell limit of {text_limit:,}", SheettrackWarning, stacklevel=4)
                out = truncate_text(out, text_limit)
            else:
                raise ValueError(f"text of {length:,} characters is over the cell limit of "
                                 f"{text_limit:,} (set long_text: truncate in the template to "
                                 "truncate instead)")
        return out

    def check(self, out: Any, value: Any) -> None:
        """Check a canonical value ``out`` (logged as ``value``) against the column's choices,
        range and pattern; ValueError names the broken rule."""
        allowed = self.allowed
        if allowed is not None and out not in allowed:
            raise ValueError(f"{_shown(value)} is not one of {list(self.choices or ())}")
        if isinstance(out, float) and math.isnan(out):
            return  # NaN passes range checks: a diverged loss is still a result
        if self.min is not None and out < self.min:
            raise ValueError(f"{_shown(value)} is below the minimum {self.min}")
        if self.max is not None and out > self.max:
            raise ValueError(f"{_shown(value)} is above the maximum {self.max}")
        if self.pattern is not None and not re.fullmatch(self.pattern, out):
            raise ValueError(f"{_shown(value)} does not match the pattern {self.pattern!r}")


def _shown(value: Any) -> str:
    """A logged value as an error message shows it: plain, and short."""
    return show_value(normalize(value))


def column_from_dict(raw: Any, where: str) -> Column:
    """A column from its template entry (a name, or a mapping); TemplateError names ``where``."""
    if isinstance(raw, str):
        raw = {"name": raw}
    check_keys(raw, COLUMN_KEYS, where, "a column")
    if "name" not in raw:
        raise TemplateError(f"{where}: key 'name' is missing")
    name = check_column_name(raw["name"], f"{where}: key 'name'")
    where = f"{where} ({name})"
    ctype = raw.get("type", "string")
    if ctype not in TYPES:
        raise TemplateError(f"{where}: key 'type' must be one of {', '.join(TYPES)}, got {ctype!r}")
    group = raw.get("group")
    if group is not None and group not in GROUPS:
        raise TemplateError(f"{where}: key 'group' must be one of {', '.join(GROUPS)}, got {group!r}")
    for key in ("required", "truncate"):
        if key in raw and not isinstance(raw[key], bool):
            raise TemplateError(f"{where}: key {key!r} must be true or false, got {raw[key]!r}")
    for key in ("description", "unit", "format", "pattern"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise TemplateError(f"{where}: key {key!r} must be text, got {raw[key]!r}")
    for key in ("min", "max"):
        v = raw.get(key)
        if v is not None:
            if not column_type(ctype).numeric:
                raise TemplateError(f"{where}: key {key!r} applies to int and float columns, not {ctype}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TemplateError(f"{where}: key {key!r} must be a number, got {v!r}")
    if raw.get("min") is not None and raw.get("max") is not None and raw["min"] > raw["max"]:
        raise TemplateError(f"{where}: key 'min' ({raw['min']}) is greater than 'max' ({raw['max']})")
    if raw.get("pattern") is not None:
        if ctype != "string":
            raise TemplateError(f"{where}: key 'pattern' applies to string columns, not {ctype}")
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise TemplateError(f"{where}: key 'pattern' is not a valid regular expression: {exc}") from None
    choices = raw.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not choices:
            raise TemplateError(f"{where}: key 'choices' must be a non-empty list")
        for c in choices:
            try:
                column_type(ctype).convert(c)
            except ValueError as exc:
                raise TemplateError(f"{where}: key 'choices': {exc} ({ctype})") from None
        choices = tuple(choices)
    col = Column(name=name, type=ctype, required=bool(raw.get("required", False)),
                 default=raw.get("default"), choices=choices, min=raw.get("min"),
                 max=raw.get("max"), pattern=raw.get("pattern"),
                 description=raw.get("description") or "", unit=raw.get("unit"),
                 format=raw.get("format"), group=group, truncate=raw.get("truncate"))
    if col.default is not None:
        try:
            col.coerce(col.default)
        except ValueError as exc:
            raise TemplateError(f"{where}: key 'default': {exc} ({ctype})") from None
    return col

