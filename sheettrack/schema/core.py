"""A loaded template: the columns of a sheet, the rules for its rows, and its summaries.

A template is YAML (see ``templates/``). ``Schema.from_dict`` validates it and reports a
malformed one with the file, the key and what is wrong. ``Schema.build_row`` turns a run's
fields into one checked row: every value coerced and checked against its column before a
store sees anything, so a bad value never leaves a half-written row behind.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

from ..cells import col_letter, normalize
from ..errors import SchemaMismatchError, TemplateError, ValidationError
from .column import GROUPS, Column, column_from_dict
from .names import check_column_name, check_keys, check_sheet_name
from .summary_def import Summary, summary_from_dict
from .types import SheettrackWarning, infer_type


def caller_level() -> int:
    """The ``stacklevel`` that points a warning raised here at the first frame outside
    sheettrack (the user's ``log`` call or ``with`` block), however deep the call came from."""
    import inspect
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    here = inspect.currentframe()
    frame = here.f_back if here is not None else None  # the function that warns: level 1
    level = 1
    while frame is not None and frame.f_back is not None and \
            os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame = frame.f_back
        level += 1
    return level


PROVENANCE_GROUPS = ("user", "host", "python", "command", "git")
PROVENANCE_COLUMNS = {
    "user": ("user",),
    "host": ("host",),
    "python": ("python", "platform", "packages", "env_hash"),
    "command": ("command", "script", "workdir"),
    "git": ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote", "patch_hash", "untracked"),
}
TEMPLATE_KEYS = ("name", "description", "sheet", "columns", "primary_metric", "unknown_keys",
                 "summaries", "extends", "long_text", "provenance")


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
        """A copy with ``extra`` columns added at the right: a name the schema has, or one
        ``extra`` named before, is left out (the first definition of a name wins)."""
        added: dict[str, Column] = {}
        for c in extra:
            if c.name not in self._by_name:
                added.setdefault(c.name, c)
        return replace(self, columns=self.columns + list(added.values()))

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
        check_keys(data, TEMPLATE_KEYS, source, "a template")
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
            own.append(column_from_dict(raw, f"{source}: columns[{i}]"))
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
            ranked = next((c for c in columns if c.name == pm["name"]), None)
            if ranked is None and unknown_keys != "add":
                raise TemplateError(f"{source}: key 'primary_metric.name': no column {pm['name']!r}")
            if ranked is not None and not ranked.kind.numeric:
                raise TemplateError(f"{source}: key 'primary_metric.name': column {pm['name']!r} "
                                    f"is {ranked.type}, not a number")
            primary = PrimaryMetric(pm["name"], goal)

        names = {c.name for c in columns}
        raw_summaries = data.get("summaries", None)
        if raw_summaries is None:
            summaries = list(base.summaries) if base else []
        else:
            if not isinstance(raw_summaries, list):
                raise TemplateError(f"{source}: key 'summaries' must be a list")
            summaries = [summary_from_dict(s, f"{source}: summaries[{i}]", names, unknown_keys)
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
                    near = self.near_miss(name, group)
                    if self.unknown_keys == "error":
                        problems.append(f"column {name}: template {self.name!r} has no such column "
                                        f"(unknown_keys: error); " + (f"did you mean {near}? Or add it "
                                        "to the template" if near else "add it to the template"))
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
                    if near:
                        warnings.warn(f"{name}: new column; did you mean {near}?", SheettrackWarning,
                                      stacklevel=caller_level())
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

    def near_miss(self, name: str, group: str) -> str | None:
        """The existing column of ``group`` that ``name`` looks like a typo of (``acuracy`` for
        ``accuracy``), or None. Names that differ only in digits (``layer1``, ``layer2``) or by
        more than one character in length (``recall``, ``recall@5``) are different columns."""
        import difflib

        def digitless(text: str) -> str:
            return "".join(ch for ch in text if not ch.isdigit())

        lowered = name.lower()
        names = [c.name for c in self.columns if c.group == group and abs(len(c.name) - len(name)) <= 1
                 and digitless(c.name.lower()) != digitless(lowered)]
        found = difflib.get_close_matches(lowered, [n.lower() for n in names], n=1, cutoff=0.85)
        return next(n for n in names if n.lower() == found[0]) if found else None

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
                    f"{col_letter(seen[name])} and {col_letter(i)}); rename or delete one")
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

