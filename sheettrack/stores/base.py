"""The Store interface: the one seam between sheettrack and where rows live.

The API, the CLI and (later) summaries and the outbox talk to a ``Store``; only a store
module knows openpyxl, zip parts or the Sheets API. A new backend is one new module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..errors import StoreError
from ..schema import Column, Schema


@dataclass
class Table:
    """A sheet read back: its header and its rows of raw cell values, in sheet order."""

    sheet: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    first_row: int = 2  # sheet row number of rows[0]


class Store(ABC):
    """Where runs are kept: one worksheet of rows under a header, plus the stored schema."""

    #: Most characters one cell may hold.
    text_limit: int = 32_767
    #: Human-readable name of the target, for messages.
    target: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether the workbook or sheet exists already."""

    @abstractmethod
    def create(self, schema: Schema) -> bool:
        """Lay out a new store for ``schema``; return False when one appeared meanwhile."""

    @abstractmethod
    def read_schema(self) -> Schema | None:
        """The schema stored with the data (None when the store keeps none)."""

    @abstractmethod
    def append(self, rows: list[dict[str, Any]], schema: Schema, new_columns: list[Column]) -> None:
        """Append checked rows (column name -> canonical value), adding ``new_columns`` first.

        All rows land, or none: a store never leaves part of a batch behind.
        """

    @abstractmethod
    def read(self, sheet: str | None = None) -> Table:
        """Read the runs sheet (or ``sheet``) back as raw values."""

    def write_sheets(self, sheets: list[Any], remove: list[str] | tuple = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        """Write sheettrack-built sheets (``sheettrack.summary.SheetSpec``), replacing the ones
        it built before in place, and delete the built sheets named in ``remove``.

        A store marks the sheets it builds and never overwrites a sheet it did not build (nor
        one named in ``protect``): that is refused with a ``StoreError`` and nothing is
        written. Every other sheet, chart, image and comment is left as it was. Returns the
        names written.
        """
        raise StoreError(f"{self.target}: this store cannot write summary sheets yet", self.target)

    def append_rows(self, sheet: str, header: list[str], rows: list[dict[str, Any]],
                    key: str | None = None) -> None:
        """Append plain rows (column name -> text, number, bool or datetime) to a reference
        sheet (Environments, Data, Models) by header name, creating the sheet with ``header``
        when it is missing and adding header columns it lacks. All rows land, or none.
        ``key`` names a column identifying a row, so a store that must resend after a lost
        answer sends only the rows not there yet."""
        raise StoreError(f"{self.target}: this store cannot keep reference sheets yet", self.target)
