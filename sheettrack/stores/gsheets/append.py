"""The idempotent append: rows sent with ``values:append`` land once, even when Google's
answer is lost.

Values go with ``valueInputOption=RAW`` (text is never parsed as a formula, a number or a
date) and ``INSERT_ROWS``, anchored at A1 so Google finds the table from its header. When the
answer is lost after the rows may have been applied (a server error, a dropped connection),
the key column is read back and only the rows it lacks are sent again; when the answer is
merely late (a timeout) the write may still land, so nothing is resent now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...cells import Cell, col_letter, to_serial
from ...errors import StoreUnavailableError
from .http import Uncertain
from .targets import quote_sheet

#: Sends of one append before giving up (each after a lost answer and a look at the sheet).
ATTEMPTS = 4


def cell_json(cell: Cell | None) -> Any:
    """A cell as the JSON value ``values:append`` takes with RAW input (dates as serials)."""
    if cell is None:
        return None
    if cell.kind == "d":
        return to_serial(cell.value)
    return cell.value


def row_values(header: Sequence[str], cells: dict[str, Cell | None]) -> list[Any]:
    """A row's values in ``header`` order, trailing empty cells dropped (never an empty list:
    Google skips an empty row)."""
    out = [cell_json(cells.get(name)) for name in header]
    while out and out[-1] is None:
        out.pop()
    return out or [""]


def read_keys(call: Callable[..., Any], http: Any, spreadsheet_id: str, tab: str, column: int) -> set[str]:
    """The values of one column of ``tab`` below its header, as text."""
    letter = col_letter(column)
    reply = call(f"reading tab {tab!r}", http.values_get, spreadsheet_id,
                 f"{quote_sheet(tab)}!{letter}2:{letter}")
    return {str(r[0]) for r in reply.get("values", []) if r}


def append_once(call: Callable[..., Any], http: Any, spreadsheet_id: str, tab: str,
                values: list[list[Any]], keys: list[str] | None, key_column: int | None,
                target: str) -> dict[str, Any] | None:
    """Append ``values`` to ``tab`` once. ``keys[i]`` identifies ``values[i]`` in column
    ``key_column``; without keys a lost answer is an error (the rows may or may not be there).
    ``call(what, fn, *args)`` runs one API call and maps Google's refusals. Returns Google's
    reply (None when every row proved to be there already)."""
    rng = f"{quote_sheet(tab)}!A1"
    params = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
    what = f"appending to tab {tab!r}"
    for _ in range(ATTEMPTS):
        try:
            reply: dict[str, Any] = call(what, http.values_append, spreadsheet_id, rng, params,
                                         {"values": values})
            return reply
        except Uncertain as exc:
            if exc.slow:
                # the write may still land: look for it later (the outbox checks run ids
                # before sending again) rather than race it now
                raise StoreUnavailableError(
                    f"{target}: Google did not answer {what} within {http.timeout:g} s; the rows "
                    "are looked for in the sheet before they are sent again", target) from None
            if keys is None or key_column is None:
                raise StoreUnavailableError(f"{target}: {what}: {exc}; the rows may or may not "
                                            "have landed", target) from None
            present = read_keys(call, http, spreadsheet_id, tab, key_column)
            keep = [i for i, k in enumerate(keys) if k not in present]
            values, keys = [values[i] for i in keep], [keys[i] for i in keep]
            if not values:
                return None
    raise StoreUnavailableError(f"{target}: {what} failed repeatedly; try again later", target)
