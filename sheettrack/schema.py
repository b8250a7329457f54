"""Schema templates: columns with types and rules, and the checks every row passes.

A template is YAML (see ``templates/``). ``Schema.from_dict`` validates it and reports a
malformed one with the file, the key and what is wrong. ``Schema.build_row`` turns a run's
fields into one checked row: every value coerced and checked against its column before a
store sees anything, so a bad value never leaves a half-written row behind.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

from .cells import (
    col_letter,
    json_text,
    normalize,
    parse_datetime,
    show_value,
    to_bool,
    to_float,
    to_int,
    to_utc,
)
from .errors import SchemaMismatchError, TemplateError, ValidationError

TYPES = ("string", "int", "float", "bool", "datetime", "date", "json")
GROUPS = ("run", "params", "metrics", "tags", "data", "notes", "provenance")
AGGFUNCS = ("mean", "median", "min", "max", "std", "count", "sum")
PROVENANCE_GROUPS = ("user", "host", "python", "command", "git")
PROVENANCE_COLUMNS = {
    "user": ("user",),
    "host": ("host",),
    "python": ("python", "platform", "packages", "env_hash"),
    "command": ("command", "script", "workdir"),
    "git": ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote", "patch_hash", "untracked"),
}
COLUMN_KEYS = ("name", "type", "required", "default", "choices", "min", "max", "pattern",
               "description", "unit", "format", "group", "truncate")
TEMPLATE_KEYS = ("name", "description", "sheet", "columns", "primary_metric", "unknown_keys",
                 "summaries", "extends", "long_text", "provenance")
SUMMARY_KEYS = ("name", "index", "columns", "values", "aggfunc", "where", "sort", "top")
SHEET_NAME_BAD = set('[]:*?/\\')
MAX_COLUMN_NAME = 255


class SheettrackWarning(UserWarning):
    """A value was changed or dropped on the way to the sheet (truncated, unknown key, ...)."""


def check_sheet_name(name: Any, where: str = "sheet") -> str:
    """Return ``name`` if it is a legal Excel sheet name, else raise TemplateError naming it."""
    if not isinstance(name, str) or not name.strip():
        raise TemplateError(f"{where}: a sheet name must be non-empty text, got {name!r}")
    bad = sorted(set(name) & SHEET_NAME_BAD)
    if bad:
        raise TemplateError(f"{where}: sheet name {name!r} contains {''.join(bad)!r}; "
                            "Excel forbids any of [ ] : * ? / \\")
    if len(name) > 31:
        raise TemplateError(f"{where}: sheet name {name!r} has {len(name)} characters; "
                            "Excel allows at most 31")
    if name.startswith("'") or name.endswith("'"):
        raise TemplateError(f"{where}: sheet name {name!r} may not start or end with an apostrophe")
    if name.lower() == "history":
        raise TemplateError(f"{where}: Excel reserves the sheet name 'History'")
    return name


def check_column_name(name: Any, where: str = "column") -> str:
    """Return ``name`` if it can head a column (non-empty text, no control characters)."""
    if not isinstance(name, str) or not name.strip():
        raise TemplateError(f"{where}: a column name must be non-empty text, got {name!r}")
    if name != name.strip():
        raise TemplateError(f"{where}: column name {name!r} has leading or trailing spaces")
    if len(name) > MAX_COLUMN_NAME:
        raise TemplateError(f"{where}: column name {name[:40]!r}... is longer than "
                            f"{MAX_COLUMN_NAME} characters")
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise TemplateError(f"{where}: column name {name!r} contains a control character")
    if re.search(r"_x[0-9A-Fa-f]{4}_", name):
        raise TemplateError(f"{where}: column name {name!r} contains text shaped like a spreadsheet "
                            "escape (_xHHHH_), which Excel would decode in a header; rename it")
    return name


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

    @property
    def number_format(self) -> str | None:
        """The Excel number format for this column's cells (explicit, or by type)."""
        if self.format:
            return self.format
        return {"datetime": "yyyy-mm-dd hh:mm:ss", "date": "yyyy-mm-dd"}.get(self.type)

    def rule(self) -> str:
        """Short text of the column's rule, for error messages."""
        return f"column {self.name}: {self.type}"

    def coerce(self, value: Any, *, text_limit: int | None = None, truncate: bool = False) -> Any:
        """Check ``value`` against this column; return its canonical value or raise ValueError.

        The error text names the value and the broken rule; the caller adds the column.
        """
        value = normalize(value)
        if value is None:
            return None
        out = _COERCERS[self.type](value)
        if self.choices is not None:
            allowed = [_COERCERS[self.type](normalize(c)) for c in self.choices]
            if out not in allowed:
                raise ValueError(f"{_show(value)} is not one of {list(self.choices)}")
        if self.type == "float" and math.isnan(out):
            return out  # NaN passes range checks: a diverged loss is still a result
        if self.min is not None and out < self.min:
            raise ValueError(f"{_show(value)} is below the minimum {self.min}")
        if self.max is not None and out > self.max:
            raise ValueError(f"{_show(value)} is above the maximum {self.max}")
        if self.pattern is not None and not re.fullmatch(self.pattern, out):
            raise ValueError(f"{_show(value)} does not match the pattern {self.pattern!r}")
        length = text_length(out) if isinstance(out, str) and text_limit is not None else 0
        if length > text_limit if text_limit is not None else False:
            if truncate or self.truncate:
                warnings.warn(f"column {self.name}: text of {length:,} characters truncated to "
                              f"the cell limit of {text_limit:,}", SheettrackWarning, stacklevel=4)
                out = truncate_text(out, text_limit)
            else:
                raise ValueError(f"text of {length:,} characters is over the cell limit of "
                                 f"{text_limit:,} (set long_text: truncate in the template to "
                                 "truncate instead)")
        return out


def text_length(text: str) -> int:
    """Length as spreadsheets count it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate_text(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 code units, never inside a character."""
    out, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            break
        out.append(ch)
    return "".join(out)


_show = show_value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_text(value: str) -> str:
    """Join surrogate pairs and replace lone surrogates, which no file format can hold."""
    if _SURROGATE.search(value) is None:
        return value
    fixed = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if _SURROGATE.search(fixed) is not None or fixed.count("\ufffd") > value.count("\ufffd"):
        warnings.warn("a lone surrogate in text was replaced by U+FFFD", SheettrackWarning,
                      stacklevel=5)
    return _SURROGATE.sub("\ufffd", fixed)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return _fix_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise ValueError(f"{_show(value)} is a {type(value).__name__}, not text")


def _to_datetime(value: Any) -> _dt.datetime:
    try:
        return _datetime_utc(value)
    except OverflowError:
        raise ValueError(f"{_show(value)} is outside the range of dates a sheet can hold") from None


def _datetime_utc(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return to_utc(value)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        try:
            return to_utc(parse_datetime(value))
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not a date-time")


def _to_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        raise ValueError(f"{_show(value)} is a date-time, not a date")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not a date (YYYY-MM-DD)")


def _to_json(value: Any) -> str:
    def plain(v: Any) -> Any:
        v = normalize(v)
        if isinstance(v, dict):
            return {_fix_text(k): plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, decimal.Decimal):
            return float(v)
        if isinstance(v, (_dt.datetime, _dt.date)):
            return v.isoformat()
        if isinstance(v, str):
            return _fix_text(v)
        if v is None or isinstance(v, (bool, int, float)):
            return v
        raise ValueError(f"{_show(v)} (a {type(v).__name__}) cannot be stored as JSON")

    return json_text(plain(value))


_COERCERS = {"string": _to_string, "int": to_int, "float": to_float, "bool": to_bool,
             "datetime": _to_datetime, "date": _to_date, "json": _to_json}


def infer_type(value: Any, group: str | None) -> str:
    """The column type a new column gets from the first value logged into it."""
    value = normalize(value)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "float" if group == "metrics" else "int"
    if isinstance(value, (float, decimal.Decimal)):
        return "float"
    if isinstance(value, _dt.datetime):
        return "datetime"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, (list, dict)):
        return "json"
    return "string"


@dataclass(frozen=True)
class Summary:
    """A pivot summary sheet definition (pandas ``pivot_table`` semantics)."""

    name: str
    index: tuple[str, ...]
    values: tuple[str, ...]
    aggfunc: tuple[str, ...] = ("mean",)
    columns: tuple[str, ...] = ()
    where: str | None = None
    sort: dict | None = None
    top: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as a template dict."""
        out: dict[str, Any] = {"name": self.name, "index": list(self.index),
                               "values": list(self.values), "aggfunc": list(self.aggfunc)}
        if self.columns:
            out["columns"] = list(self.columns)
        for key in ("where", "sort", "top"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class PrimaryMetric:
    """The metric that ranks runs, and whether more or less is better."""

    name: str
    goal: str = "max"


@dataclass
class Schema:
    """A loaded, validated template: the columns of a sheet and the rules for its rows."""

    name: str
    columns: list[Column]
    description: str = ""
    sheet: str = "Runs"
    primary_metric: PrimaryMetric | None = None
    unknown_keys: str = "add"
    long_text: str = "error"
    provenance: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PROVENANCE_GROUPS, True))
    summaries: list[Summary] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.columns}
        self._by_lower = {c.name.lower(): c.name for c in self.columns}

    # -- access ------------------------------------------------------------------------------
    def column(self, name: str) -> Column | None:
        """The column called ``name``, or None."""
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        """Column names in sheet order."""
        return [c.name for c in self.columns]

    def with_columns(self, extra: list[Column]) -> Schema:
        """A copy with ``extra`` columns added at the right (names already absent)."""
        return replace(self, columns=self.columns + [c for c in extra if c.name not in self._by_name])

    def to_dict(self, *, columns: bool = True) -> dict[str, Any]:
        """The schema as a template dict (what ``templates show`` prints and stores keep)."""
        out: dict[str, Any] = {"name": self.name, "description": self.description,
                               "sheet": self.sheet, "unknown_keys": self.unknown_keys,
                               "long_text": self.long_text, "provenance": dict(self.provenance)}
        out["primary_metric"] = (None if self.primary_metric is None else
                                 {"name": self.primary_metric.name, "goal": self.primary_metric.goal})
        if columns:
            out["columns"] = [c.to_dict() for c in self.columns]
        out["summaries"] = [s.to_dict() for s in self.summaries]
        return out

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "<template>", base: Schema | None = None,
                  keep_order: bool = False) -> Schema:
        """Build a schema from a template dict; raise TemplateError naming source and key."""
        _check_keys(data, TEMPLATE_KEYS, source, "a template")
        name = data.get("name", base.name if base else None)
        if not isinstance(name, str) or not name.strip():
            raise TemplateError(f"{source}: key 'name' must be non-empty text, got {name!r}")
        sheet = check_sheet_name(data.get("sheet", base.sheet if base else "Runs"), f"{source}: key 'sheet'")
        if sheet.lower() == "schema":
            raise TemplateError(f"{source}: key 'sheet': the name {sheet!r} is taken by the sheet that "
                                "documents the columns; choose another")
        unknown_keys = data.get("unknown_keys", base.unknown_keys if base else "add")
        if unknown_keys not in ("add", "error", "ignore"):
            raise TemplateError(f"{source}: key 'unknown_keys' must be add, error or ignore, "
                                f"got {unknown_keys!r}")
        long_text = data.get("long_text", base.long_text if base else "error")
        if long_text not in ("error", "truncate"):
            raise TemplateError(f"{source}: key 'long_text' must be error or truncate, got {long_text!r}")
        provenance = dict(base.provenance) if base else dict.fromkeys(PROVENANCE_GROUPS, True)
        prov = data.get("provenance") or {}
        if not isinstance(prov, dict):
            raise TemplateError(f"{source}: key 'provenance' must map {', '.join(PROVENANCE_GROUPS)} "
                                "to true or false")
        for key, on in prov.items():
            if key not in PROVENANCE_GROUPS or not isinstance(on, bool):
                raise TemplateError(f"{source}: key 'provenance.{key}' must be one of "
                                    f"{', '.join(PROVENANCE_GROUPS)} set to true or false, got {on!r}")
            provenance[key] = on

        raw_columns = data.get("columns", [])
        if not isinstance(raw_columns, list):
            raise TemplateError(f"{source}: key 'columns' must be a list of columns")
        columns: list[Column] = list(base.columns) if base else []
        own: list[Column] = []
        for i, raw in enumerate(raw_columns):
            own.append(_column_from_dict(raw, f"{source}: columns[{i}]"))
        seen: dict[str, int] = {}
        for i, col in enumerate(own):
            if col.name.lower() in seen:
                raise TemplateError(f"{source}: columns[{i}]: column {col.name!r} is defined twice "
                                    f"(also columns[{seen[col.name.lower()]}]; Excel ignores case)")
            seen[col.name.lower()] = i
        for col in own:  # a child's column replaces the base's column of the same name
            columns = [col if c.name == col.name else c for c in columns]
            if col.name not in {c.name for c in columns}:
                columns.append(col)
        # provenance groups switched off take their columns with them
        off = {n for g, on in provenance.items() if not on for n in PROVENANCE_COLUMNS[g]}
        columns = [c for c in columns if c.name not in off]
        if not keep_order:  # a new sheet lists run, params, metrics, tags, data, notes, provenance
            order = {g: i for i, g in enumerate(GROUPS)}
            columns.sort(key=lambda c: order.get(c.group or "params", 1))

        pm = data.get("primary_metric", "__base__")
        primary = base.primary_metric if (pm == "__base__" and base) else None
        if pm not in (None, "__base__"):
            if isinstance(pm, str):
                pm = {"name": pm}
            if not isinstance(pm, dict) or not isinstance(pm.get("name"), str):
                raise TemplateError(f"{source}: key 'primary_metric' must be {{name: METRIC, goal: max|min}}")
            extra = sorted(set(pm) - {"name", "goal"})
            if extra:
                raise TemplateError(f"{source}: key 'primary_metric.{extra[0]}' is unknown; use name and goal")
            goal = pm.get("goal", "max")
            if goal not in ("max", "min"):
                raise TemplateError(f"{source}: key 'primary_metric.goal' must be max or min, got {goal!r}")
            col = next((c for c in columns if c.name == pm["name"]), None)
            if col is None and unknown_keys != "add":
                raise TemplateError(f"{source}: key 'primary_metric.name': no column {pm['name']!r}")
            if col is not None and col.type not in ("int", "float"):
                raise TemplateError(f"{source}: key 'primary_metric.name': column {pm['name']!r} "
                                    f"is {col.type}, not a number")
            primary = PrimaryMetric(pm["name"], goal)

        names = {c.name for c in columns}
        raw_summaries = data.get("summaries", None)
        if raw_summaries is None:
            summaries = list(base.summaries) if base else []
        else:
            if not isinstance(raw_summaries, list):
                raise TemplateError(f"{source}: key 'summaries' must be a list")
            summaries = [_summary_from_dict(s, f"{source}: summaries[{i}]", names, unknown_keys)
                         for i, s in enumerate(raw_summaries)]
            titles = [s.name for s in summaries]
            lowered = [t.lower() for t in titles]
            for t in titles:
                if lowered.count(t.lower()) > 1 or t.lower() in (sheet.lower(), "schema"):
                    raise TemplateError(f"{source}: key 'summaries': sheet name {t!r} is used twice")
        description = data.get("description", base.description if base else "")
        return cls(name=name, columns=columns, description=description or "", sheet=sheet,
                   primary_metric=primary, unknown_keys=unknown_keys, long_text=long_text,
                   provenance=provenance, summaries=summaries, source=source)

    # -- rows --------------------------------------------------------------------------------
    def resolve_name(self, group: str, key: str, new: dict[str, Column] | None = None) -> str:
        """The column a key of ``group`` goes to: its own name, or ``group.key`` on a clash."""
        col = self._by_name.get(key) or (new or {}).get(key)
        if col is None or col.group in (None, group) or group not in ("params", "metrics", "tags"):
            return key
        return f"{group}.{key}"

    def build_row(self, fields: dict[str, dict[str, Any]], *, text_limit: int | None = None,
                  row_index: int | None = None, complete: bool = True,
                  checked: dict[str, Any] | None = None,
                  ) -> tuple[dict[str, Any], list[Column]]:
        """Check a run's fields and return ``(row, new_columns)``; raise ValidationError.

        ``fields`` maps a group (run, params, metrics, tags, data, notes, provenance) to its
        key/value pairs. System groups only fill columns the template has; params, metrics
        and tags follow ``unknown_keys``. Every problem of the row is reported together.
        ``checked``: cells built already by this schema (a batch's shared provenance, built
        once), taken as they are.
        """
        row: dict[str, Any] = {}
        new: dict[str, Column] = {}
        problems: list[str] = []
        truncate = self.long_text == "truncate"
        for group, values in fields.items():
            for key, value in values.items():
                name = self.resolve_name(group, key, new)
                col = self._by_name.get(name) or new.get(name)
                if col is None:
                    if group not in ("params", "metrics", "tags") or normalize(value) in (None, ""):
                        continue
                    if self.unknown_keys == "ignore":
                        warnings.warn(f"{group[:-1]} {key!r} dropped: template {self.name!r} has no "
                                      "such column (unknown_keys: ignore)", SheettrackWarning, stacklevel=4)
                        continue
                    if self.unknown_keys == "error":
                        problems.append(f"column {name}: template {self.name!r} has no such column "
                                        f"(unknown_keys: error); add it to the template")
                        continue
                    try:
                        check_column_name(name, f"{group[:-1]} {key!r}")
                    except TemplateError as exc:
                        problems.append(str(exc))
                        continue
                    twin = self._by_lower.get(name.lower()) or next(
                        (n for n in new if n.lower() == name.lower()), None)
                    if twin is not None:
                        problems.append(f"column {name}: differs from column {twin!r} only in case; "
                                        "Excel treats them as one column, so use one spelling")
                        continue
                    col = Column(name=name, type=infer_type(value, group), group=group)
                    new[name] = col
                try:
                    row[name] = col.coerce(value, text_limit=text_limit, truncate=truncate)
                except ValueError as exc:
                    problems.append(f"column {name}: {exc} ({col.type})")
        if checked:
            row.update(checked)
        for col in self.columns if complete else ():
            if row.get(col.name) is None and col.default is not None:
                row[col.name] = col.coerce(col.default, text_limit=text_limit, truncate=truncate)
            if col.required and row.get(col.name) is None:
                problems.append(f"column {col.name}: a value is required (column {col.name}: "
                                f"{col.type}, required)")
        if problems:
            raise ValidationError(problems, row_index)
        return row, list(new.values())

    def check_values(self, group: str, values: dict[str, Any], *, text_limit: int | None = None) -> None:
        """Check values as they are logged (fail fast), raising ValidationError like ``build_row``.

        Warnings wait for the row itself, so each is given once.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SheettrackWarning)
            self.build_row({group: values}, text_limit=text_limit, complete=False)

    def check_header(self, header: list[str], *, where: str = "") -> None:
        """Compare a sheet's header with this schema.

        Raises SchemaMismatchError for duplicated header names and for schema columns that
        are missing (with a hint when one looks renamed).
        """
        seen: dict[str, int] = {}
        for i, name in enumerate(header):
            if name is None or name == "":
                continue
            if name in seen:
                raise SchemaMismatchError(
                    f"{where}column {name!r} appears twice in the header (columns "
                    f"{_letter(seen[name])} and {_letter(i)}); rename or delete one")
            seen[name] = i
        missing = [c for c in self.columns if c.name not in seen]
        if missing:
            extra = [(i, n) for i, n in enumerate(header) if n and n not in self._by_name]
            parts = []
            for col in missing:
                pos = self.columns.index(col)
                guess = next((n for i, n in extra if i == pos), None)
                if guess is None and len(missing) == 1 and len(extra) == 1:
                    guess = extra[0][1]
                if guess is not None:
                    parts.append(f"column {col.name!r} seems renamed to {guess!r}")
                else:
                    parts.append(f"column {col.name!r} is missing")
            raise SchemaMismatchError(
                f"{where}header does not match template {self.name!r}: " + "; ".join(parts)
                + ". Restore the header names, or log with a template that matches the sheet.")


def _letter(index: int) -> str:
    return col_letter(index)


def _check_keys(raw: Any, allowed: tuple[str, ...], where: str, what: str) -> None:
    """``raw`` must be a mapping whose keys are all in ``allowed``; else name the odd one."""
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: {what} must be a mapping, got {raw!r:.60}")
    unknown = sorted(set(raw) - set(allowed), key=str)
    if unknown:
        raise TemplateError(f"{where}: unknown key {unknown[0]!r}; {what} may have {', '.join(allowed)}")


def _column_from_dict(raw: Any, where: str) -> Column:
    if isinstance(raw, str):
        raw = {"name": raw}
    _check_keys(raw, COLUMN_KEYS, where, "a column")
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
            if ctype not in ("int", "float"):
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
                _COERCERS[ctype](c)
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


def _summary_from_dict(raw: Any, where: str, names: set[str], unknown_keys: str) -> Summary:
    _check_keys(raw, SUMMARY_KEYS, where, "a summary")
    for key in ("name", "index", "values"):
        if key not in raw:
            raise TemplateError(f"{where}: key {key!r} is missing")
    name = check_sheet_name(raw["name"], f"{where}: key 'name'")

    def names_of(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TemplateError(f"{where}: key {key!r} must be a column name or a list of them")
        for v in value:
            if v not in names and unknown_keys != "add":
                raise TemplateError(f"{where}: key {key!r}: no column {v!r} in the template")
        return tuple(value)

    index, columns, values = names_of("index"), names_of("columns"), names_of("values")
    if not index or not values:
        raise TemplateError(f"{where}: keys 'index' and 'values' need at least one column each")
    agg = raw.get("aggfunc", ["mean"])
    if isinstance(agg, str):
        agg = [a.strip() for a in agg.split(",")]
    if not isinstance(agg, list) or not agg or any(a not in AGGFUNCS for a in agg):
        raise TemplateError(f"{where}: key 'aggfunc' must be one or more of {', '.join(AGGFUNCS)}, "
                            f"got {raw.get('aggfunc')!r}")
    where_expr = raw.get("where")
    if where_expr is not None and not isinstance(where_expr, str):
        raise TemplateError(f"{where}: key 'where' must be a filter expression (text)")
    sort = raw.get("sort")
    if isinstance(sort, str):
        sort = {"by": sort, "ascending": False}
    if sort is not None:
        if not isinstance(sort, dict) or "by" not in sort or set(sort) - {"by", "ascending"}:
            raise TemplateError(f"{where}: key 'sort' must be a column name or {{by: COLUMN, ascending: BOOL}}")
        if not isinstance(sort.get("ascending", False), bool):
            raise TemplateError(f"{where}: key 'sort.ascending' must be true or false")
    top = raw.get("top")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise TemplateError(f"{where}: key 'top' must be a positive integer")
    return Summary(name=name, index=index, values=values, aggfunc=tuple(agg), columns=columns,
                   where=where_expr, sort=sort, top=top)
