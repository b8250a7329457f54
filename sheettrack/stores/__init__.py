"""Storage backends, chosen from the target: a ``.xlsx`` path is a workbook on disk,
``gsheet://ID`` or a Sheets address a Google Sheet, ``mlflow://EXPERIMENT`` or
``mlflow+http://HOST:PORT/EXPERIMENT`` an MLflow experiment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ..errors import TargetError
from .base import Store, Table

__all__ = ["Store", "Table", "is_target", "open_store", "resolve_target", "target_kind"]


def resolve_target(target: str | os.PathLike | None) -> str:
    """The target to use: the argument, else ``SHEETTRACK_TARGET``; error when neither."""
    if target is None or (isinstance(target, str) and not target.strip()):
        target = os.environ.get("SHEETTRACK_TARGET", "").strip() or None
    if target is None:
        raise TargetError("no target given: pass a workbook path such as runs.xlsx or a "
                          "Google Sheet (gsheet://ID or its browser address) or an MLflow experiment "
                          "(mlflow+http://HOST:PORT/EXPERIMENT), or set SHEETTRACK_TARGET")
    return os.fspath(target)


def target_kind(text: str | os.PathLike) -> Literal["mlflow", "gsheet", "xlsx"] | None:
    """Which store ``text`` names: ``mlflow://EXPERIMENT`` or ``mlflow+http(s)://HOST[:PORT]/
    EXPERIMENT``; ``gsheet://ID[/TAB]`` or a Google Sheets browser address; a path ending in
    ``.xlsx``; None for anything else."""
    from .gsheets import is_google_target
    from .mlflow.targets import is_mlflow_target

    text = os.fspath(text)
    if is_mlflow_target(text):
        return "mlflow"
    if is_google_target(text):
        return "gsheet"
    return "xlsx" if Path(text).suffix.lower() == ".xlsx" else None


def is_target(text: str | os.PathLike) -> bool:
    """Whether ``text`` names a target ``open_store`` takes (see ``target_kind``). The command
    line tells a target from a run id or a file with this."""
    return target_kind(text) is not None


def open_store(target: str | os.PathLike | None, credentials: str | os.PathLike | None = None) -> Store:
    """The store a target names: a Google Sheet for ``gsheet://ID`` or a Sheets URL (with
    ``credentials``, a key file, or found as ``find_credentials`` says), an MLflow experiment
    for ``mlflow://`` and ``mlflow+http(s)://``, else a workbook."""
    text = resolve_target(target)
    kind = target_kind(text)
    if kind == "mlflow":
        from .mlflow import MlflowStore

        return MlflowStore(text)
    if kind == "gsheet":
        from .gsheets import GoogleSheetStore

        return GoogleSheetStore(text.strip(), credentials)
    if kind is None:
        raise TargetError(f"{text}: a workbook target must end in .xlsx")
    from .xlsx import ExcelStore

    return ExcelStore(Path(text).expanduser())
