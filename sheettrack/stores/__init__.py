"""Storage backends, chosen from the target: a ``.xlsx`` path is a workbook on disk,
``gsheet://ID`` or a Sheets address a Google Sheet, ``mlflow://EXPERIMENT`` or
``mlflow+http://HOST:PORT/EXPERIMENT`` an MLflow experiment."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import TargetError
from .base import Store, Table

__all__ = ["Store", "Table", "is_target", "open_store", "resolve_target"]


def resolve_target(target: str | os.PathLike | None) -> str:
    """The target to use: the argument, else ``SHEETTRACK_TARGET``; error when neither."""
    if target is None or (isinstance(target, str) and not target.strip()):
        target = os.environ.get("SHEETTRACK_TARGET", "").strip() or None
    if target is None:
        raise TargetError("no target given: pass a workbook path such as runs.xlsx or a "
                          "Google Sheet (gsheet://ID or its browser address) or an MLflow experiment "
                          "(mlflow+http://HOST:PORT/EXPERIMENT), or set SHEETTRACK_TARGET")
    return os.fspath(target)


def is_target(text: str | os.PathLike) -> bool:
    """Whether ``text`` names a target ``open_store`` takes: a path ending in ``.xlsx``,
    ``gsheet://ID[/TAB]``, a Google Sheets browser address, ``mlflow://EXPERIMENT`` or
    ``mlflow+http(s)://HOST[:PORT]/EXPERIMENT``. The command line tells a target from a run id
    or a file with this."""
    from .gsheets import is_google_target
    from .mlflow.targets import is_mlflow_target

    text = os.fspath(text)
    return is_google_target(text) or is_mlflow_target(text) or Path(text).suffix.lower() == ".xlsx"


def open_store(target: str | os.PathLike | None, credentials: str | os.PathLike | None = None) -> Store:
    """The store a target names: a Google Sheet for ``gsheet://ID`` or a Sheets URL (with
    ``credentials``, a key file, or found as ``find_credentials`` says), an MLflow experiment
    for ``mlflow://`` and ``mlflow+http(s)://``, else a workbook."""
    text = resolve_target(target)
    from .gsheets import is_google_target
    from .mlflow.targets import is_mlflow_target

    if is_mlflow_target(text):
        from .mlflow import MlflowStore

        return MlflowStore(text)

    if is_google_target(text):
        from .gsheets import GoogleSheetStore

        return GoogleSheetStore(text.strip(), credentials)
    if not is_target(text):
        raise TargetError(f"{text}: a workbook target must end in .xlsx")
    from .xlsx import ExcelStore

    return ExcelStore(Path(text).expanduser())
