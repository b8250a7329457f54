"""Storage backends, chosen from the target: a ``.xlsx`` path is a workbook on disk."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import TargetError
from .base import Store, Table

__all__ = ["Store", "Table", "open_store", "resolve_target"]


def resolve_target(target: str | os.PathLike | None) -> str:
    """The target to use: the argument, else ``SHEETTRACK_TARGET``; error when neither."""
    if target is None or (isinstance(target, str) and not target.strip()):
        target = os.environ.get("SHEETTRACK_TARGET", "").strip() or None
    if target is None:
        raise TargetError("no target given: pass a workbook path such as runs.xlsx, "
                          "or set SHEETTRACK_TARGET")
    return os.fspath(target)


def open_store(target: str | os.PathLike | None) -> Store:
    """The store a target names."""
    text = resolve_target(target)
    lowered = text.lower()
    if lowered.startswith(("gsheet://", "https://docs.google.com/", "http://docs.google.com/")):
        raise TargetError(f"{text}: Google Sheets targets are not available in this version; "
                          "log to a .xlsx workbook")
    path = Path(text).expanduser()
    if path.suffix.lower() != ".xlsx":
        raise TargetError(f"{text}: a workbook target must end in .xlsx")
    from .excel import ExcelStore

    return ExcelStore(path)
