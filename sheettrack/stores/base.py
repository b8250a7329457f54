"""The Store interface: the one seam between sheettrack and where rows live.

The API, the CLI, summaries and the outbox talk to a ``Store``; only a store package knows
zip parts or the Sheets API. A new backend is one new package that imports this module and
``rows`` (what every backend shares), never another backend.

Writing goes through a transaction: everything queued on it (the run rows and the reference
rows they point at) lands in one write at the end of the ``with`` block, or nothing does.
Abilities only some stores have are typed Protocols (``WritesSheets``, ``Shares``,
``LocalFile``), checked with ``isinstance`` rather than probed with ``getattr``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..schema import Column, Schema


@dataclass
class Table:
    """A sheet read back: its header and its rows of raw cell values, in sheet order."""

    sheet: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    first_row: int = 2  # sheet row number of rows[0]


@dataclass(frozen=True)
class RunRows:
    """Checked run rows (column name -> canonical value) for the runs sheet, laid out by
    ``schema``, with ``new_columns`` added to the sheet first."""

    rows: Sequence[dict[str, Any]]
    schema: Schema
    new_columns: Sequence[Column] = ()


@dataclass(frozen=True)
class ReferenceRows:
    """Plain rows (column name -> text, number, bool or datetime) for a reference sheet
    (Environments, Data, Models), matched to its header by name; the sheet is created with
    ``header`` when missing and gains the header columns it lacks. ``key`` names the column
    identifying a row, so a store that must resend after a lost answer sends only the rows not
    there yet."""

    sheet: str
    header: Sequence[str]
    rows: Sequence[dict[str, Any]]
    key: str | None = None


class Transaction:
    """What one store write carries; filled inside ``with store.transaction() as tx``.

    Reference rows are written in the same write as the run rows that point at them, never
    before them: a run row the store refuses leaves the reference sheets as they were.
    """

    def __init__(self) -> None:
        self.layout: Schema | None = None
        self.runs: list[RunRows] = []
        self.references: list[ReferenceRows] = []

    def create(self, schema: Schema) -> None:
        """Lay the store out for ``schema`` first, when it does not exist yet (under the same
        lock as the rows; another process creating it meanwhile is no error: the rows are
        then reconciled with the schema it stored)."""
        self.layout = schema

    def append(self, rows: Sequence[dict[str, Any]], schema: Schema,
               new_columns: Sequence[Column] = ()) -> None:
        """Queue checked run rows for the runs sheet."""
        if rows or new_columns:
            self.runs.append(RunRows(list(rows), schema, list(new_columns)))

    def append_rows(self, sheet: str, header: Sequence[str], rows: Sequence[dict[str, Any]],
                    key: str | None = None) -> None:
        """Queue rows for reference sheet ``sheet`` (see ``ReferenceRows``)."""
        if rows:
            self.references.append(ReferenceRows(sheet, list(header), list(rows), key))

    def __bool__(self) -> bool:
        return bool(self.layout is not None or self.runs or self.references)


class Store(ABC):
    """Where runs are kept: one worksheet of rows under a header, plus the stored schema."""

    #: Most characters one cell may hold.
    text_limit: int = 32_767
    #: Human-readable name of the target, for messages.
    target: str

    @property
    def key(self) -> str:
        """What identifies the store across its handles (a workbook's real path, a
        spreadsheet's id): caches and outboxes are kept per key."""
        return self.target

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
    def read(self, sheet: str | None = None) -> Table:
        """Read the runs sheet (or ``sheet``) back as raw values; ``SheetNotFoundError`` when
        there is no sheet of that name."""

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Collect what to write; at the end of the block it lands in one write (one lock,
        crash recovery, owner-file check and one atomic replace for a workbook), or, on an
        exception inside the block or from the write, nothing does (each store's ``commit``
        makes it one write)."""
        tx = Transaction()
        yield tx
        if tx:
            self.commit(tx)

    @abstractmethod
    def commit(self, tx: Transaction) -> None:
        """Write what ``tx`` carries (called by ``transaction``): the layout, the run rows and
        the reference rows they point at, all of it or nothing."""

    def append(self, rows: list[dict[str, Any]], schema: Schema, new_columns: list[Column]) -> None:
        """Append checked rows (column name -> canonical value), adding ``new_columns`` first.

        All rows land, or none: a store never leaves part of a batch behind."""
        with self.transaction() as tx:
            tx.append(rows, schema, new_columns)

    def append_rows(self, sheet: str, header: list[str], rows: list[dict[str, Any]],
                    key: str | None = None) -> None:
        """Append rows to a reference sheet (see ``ReferenceRows``). All rows land, or none."""
        with self.transaction() as tx:
            tx.append_rows(sheet, header, rows, key)

    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        """The values of column ``key`` of reference sheet ``sheet`` (empty when there is no
        such sheet), read as cheaply as the store can; None when only a full read can tell."""
        return None


@runtime_checkable
class WritesSheets(Protocol):
    """A store that keeps sheettrack-built sheets (summaries, the Leaderboard)."""

    def write_sheets(self, sheets: list[Any], remove: Sequence[str] = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        """Write sheettrack-built sheets (``sheettrack.summary.SheetSpec``), replacing the ones
        it built before in place, and delete the built sheets named in ``remove``.

        A store marks the sheets it builds and never overwrites a sheet it did not build (nor
        one named in ``protect``): that is refused with a ``StoreError`` and nothing is
        written. Every other sheet, chart, image and comment is left as it was. Returns the
        names written."""
        ...


@runtime_checkable
class LaysOut(Protocol):
    """A store that can make a target people already have ready for runs (a workbook)."""

    def lay_out(self, schema: Schema) -> list[str]:
        """Create the store for ``schema``, or add the sheets and settings it lacks, leaving
        everything else as it was; return what was done, one phrase each (empty: nothing)."""
        ...


@runtime_checkable
class Shares(Protocol):
    """A store that can be shared with people by address (a Google Sheet)."""

    def share(self, email: str, role: str = "reader", notify: bool = True) -> None:
        ...


@runtime_checkable
class LocalFile(Protocol):
    """A store kept in one file on this machine (a workbook): its real path."""

    path: Path
