"""What a template's names must be: sheet names Excel accepts, column names that can head a
column, and mappings with only the keys a part of a template may have."""

from __future__ import annotations

from typing import Any

from ..cells import ESCAPE_SHAPE, has_control_character
from ..errors import TemplateError

SHEET_NAME_BAD = set('[]:*?/\\')
MAX_COLUMN_NAME = 255


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
    if has_control_character(name):
        raise TemplateError(f"{where}: column name {name!r} contains a control character")
    if ESCAPE_SHAPE.search(name):
        raise TemplateError(f"{where}: column name {name!r} contains text shaped like a spreadsheet "
                            "escape (_xHHHH_), which Excel would decode in a header; rename it")
    return name



def check_keys(raw: Any, allowed: tuple[str, ...], where: str, what: str) -> None:
    """``raw`` must be a mapping whose keys are all in ``allowed``; else name the odd one."""
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: {what} must be a mapping, got {raw!r:.60}")
    unknown = sorted(set(raw) - set(allowed), key=str)
    if unknown:
        raise TemplateError(f"{where}: unknown key {unknown[0]!r}; {what} may have {', '.join(allowed)}")

