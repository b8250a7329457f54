"""Every exception sheettrack raises, in one tree.

``SheettrackError`` is the root, so ``except sheettrack.SheettrackError`` catches them all.
User errors (a bad value, a bad template, a bad target) carry a message that says what is
wrong, where, and how to fix it; the CLI prints that one line and exits non-zero.

    SheettrackError
    ├── TemplateError          a template file or dict is malformed (names file and key)
    ├── ValidationError        a value breaks its column's rule (names column, value, rule)
    ├── SchemaMismatchError    a sheet's header or stored schema disagrees with the template
    ├── TargetError            a target string or path cannot be used
    └── StoreError             the store cannot be read or written
        ├── WorkbookLockedError    the workbook is open in Excel or LibreOffice
        ├── StoreUnavailableError  the store cannot take the row now (network, quota, permission)
        ├── CorruptWorkbookError   the file is not a workbook sheettrack can read
        └── SheetNotFoundError     the workbook or spreadsheet has no sheet of that name
"""

from __future__ import annotations


class SheettrackError(Exception):
    """Root of every error sheettrack raises on purpose."""


class TemplateError(SheettrackError):
    """A schema template is malformed; the message names the file, the key and the problem."""


class ValidationError(SheettrackError, ValueError):
    """One or more values break their column's rule; nothing was written.

    ``problems`` holds one line per problem, each naming the column, the value and the rule.
    """

    def __init__(self, problems: list[str] | str, row_index: int | None = None) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems: list[str] = list(problems)
        self.row_index = row_index
        prefix = f"row {row_index}: " if row_index is not None else ""
        if len(self.problems) == 1:
            message = prefix + self.problems[0]
        else:
            message = prefix + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)


class SchemaMismatchError(SheettrackError):
    """The sheet's header, or the schema stored in it, does not match the template."""


class TargetError(SheettrackError, ValueError):
    """A target (workbook path or sheet address) cannot be used, or none was given."""


class StoreError(SheettrackError):
    """The store could not be read or written; ``target`` names it."""

    def __init__(self, message: str, target: str | None = None) -> None:
        self.target = target
        super().__init__(message)


class WorkbookLockedError(StoreError):
    """The workbook is open in Excel or LibreOffice; writing under it would lose rows."""

    def __init__(self, message: str, target: str | None = None, owner: str | None = None) -> None:
        self.owner = owner
        super().__init__(message, target)


class StoreUnavailableError(StoreError):
    """The store cannot take rows right now: no network, quota or server errors after the
    bounded retries, permission denied, credentials refused. Trying again later may work."""


class CorruptWorkbookError(StoreError):
    """The file is not a readable .xlsx workbook (not a zip, or a part is missing)."""


class SheetNotFoundError(StoreError):
    """The workbook or spreadsheet has no sheet (tab) of that name; ``sheet`` names it."""

    def __init__(self, message: str, target: str | None = None, sheet: str | None = None) -> None:
        self.sheet = sheet
        super().__init__(message, target)


__all__ = [
    "SheettrackError",
    "TemplateError",
    "ValidationError",
    "SchemaMismatchError",
    "TargetError",
    "StoreError",
    "WorkbookLockedError",
    "StoreUnavailableError",
    "CorruptWorkbookError",
    "SheetNotFoundError",
]
