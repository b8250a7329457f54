"""The idempotent append: rows sent with ``values:append`` land once, even when Google's
answer is lost.

Values go with ``valueInputOption=RAW`` (text is never parsed as a formula, a number or a
date) and ``INSERT_ROWS``, anchored at A1 so Google finds the table from its header. When the
answer is lost after the rows may have been applied (a server error, a dropped connection),
the key column is read back and only the rows it lacks are sent again; when the answer is
merely late (a timeout) the write may still land, so nothing is resent now.

An unanswered append is remembered on this machine (``InFlight``: its keys, when it was sent,
its timeout) before it is sent. No process sends those keys again until the timeout and a
margin (``SHEETTRACK_GOOGLE_SLOW_MARGIN``, by default the timeout again) have passed since it
was sent; then the key column is read first and only the rows it lacks go. So a reply slower
than the timeout, applied late by Google, never meets a second copy sent meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...cells import Cell, col_letter, quote_sheet, to_serial
from ...errors import StoreUnavailableError
from .http import Uncertain, env_float

#: Sends of one append before giving up (each after a lost answer and a look at the sheet).
ATTEMPTS = 4
KEEP_S = 86_400.0  # how long past its time an unanswered send is remembered


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


class InFlight:
    """The appends to one tab whose answer did not come back, as a small file on this machine
    (every process that could send the same rows again, from the same outbox, reads it):
    per append its keys, when it was sent and its timeout. Written before each send and
    cleared when the answer comes; the outbox lock keeps one process at a time on it."""

    def __init__(self, spreadsheet_id: str, tab: str) -> None:
        base = os.environ.get("SHEETTRACK_GOOGLE_API_BASE", "")
        digest = hashlib.sha256(f"{base}\n{spreadsheet_id}\n{tab}".encode()).hexdigest()[:24]
        uid = os.getuid() if hasattr(os, "getuid") else 0
        self.path = Path(tempfile.gettempdir()) / f"sheettrack-inflight-{uid}" / f"{digest}.json"

    def sends(self) -> list[dict[str, Any]]:
        """The unanswered sends recorded: {"keys", "sent", "timeout"} each."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [d for d in data if isinstance(d, dict) and {"keys", "sent", "timeout"} <= set(d)] \
            if isinstance(data, list) else []

    def _save(self, sends: list[dict[str, Any]]) -> None:
        with contextlib.suppress(OSError):
            if not sends:
                self.path.unlink(missing_ok=True)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(sends), encoding="utf-8")
            os.replace(tmp, self.path)

    def start(self, keys: list[str], timeout: float) -> None:
        """Record a send of ``keys`` starting now, before it goes (forgetting sends a day past
        their time: the outbox found their rows, or they were dropped from it)."""
        now = time.time()
        kept = [d for d in self.sends() if d["sent"] + d["timeout"] + slow_margin(d["timeout"]) > now - KEEP_S]
        self._save([*kept, {"keys": keys, "sent": now, "timeout": timeout}])

    def settle(self, keys: list[str]) -> None:
        """Forget the sends of ``keys``: answered, or looked for in the sheet."""
        gone = set(keys)
        self._save([d for d in self.sends() if not gone & set(d["keys"])])

    def unanswered(self, keys: list[str]) -> tuple[list[dict[str, Any]], float]:
        """The recorded sends holding any of ``keys``, and the wall-clock time before which
        none of them may be sent again (0 when there is none)."""
        wanted = set(keys)
        found = [d for d in self.sends() if wanted & set(d["keys"])]
        until = max((d["sent"] + d["timeout"] + slow_margin(d["timeout"]) for d in found), default=0.0)
        return found, until


    def wait_for_earlier(self, keys: list[str], target: str) -> list[dict[str, Any]]:
        """The unanswered sends holding any of ``keys`` whose time is up (look for their rows
        before sending them again); ``StoreUnavailableError`` while one may still land."""
        earlier, until = self.unanswered(keys)
        if earlier and time.time() < until:
            raise StoreUnavailableError(
                f"{target}: an earlier send of these rows got no answer from Google and may still land; "
                f"they are looked for in the sheet after {time.strftime('%H:%M:%S', time.localtime(until))}, "
                "and sent again only if missing", target)
        return earlier


def slow_margin(timeout: float) -> float:
    """How long after an unanswered append's timeout its rows may still land: the timeout
    again, unless ``SHEETTRACK_GOOGLE_SLOW_MARGIN`` (seconds) says otherwise."""
    return env_float("SHEETTRACK_GOOGLE_SLOW_MARGIN", timeout)


def append_once(call: Callable[..., Any], http: Any, spreadsheet_id: str, tab: str,
                values: list[list[Any]], keys: list[str] | None, key_column: int | None,
                target: str) -> dict[str, Any] | None:
    """Append ``values`` to ``tab`` once. ``keys[i]`` identifies ``values[i]`` in column
    ``key_column``; without keys a lost answer is an error (the rows may or may not be there).
    ``call(what, fn, *args)`` runs one API call and maps Google's refusals. Returns Google's
    reply (None when every row proved to be there already). Keys an earlier send left
    unanswered wait for it (``InFlight``), then are looked up before anything is sent."""
    rng = f"{quote_sheet(tab)}!A1"
    params = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
    what = f"appending to tab {tab!r}"
    flight = InFlight(spreadsheet_id, tab) if keys is not None and key_column is not None else None
    if flight is not None and keys is not None and key_column is not None:
        earlier = flight.wait_for_earlier(keys, target)
        if earlier:
            present = read_keys(call, http, spreadsheet_id, tab, key_column)
            flight.settle([k for d in earlier for k in d["keys"]])
            keep = [i for i, k in enumerate(keys) if k not in present]
            values, keys = [values[i] for i in keep], [keys[i] for i in keep]
            if not values:
                return None
    for _ in range(ATTEMPTS):
        try:
            if flight is not None and keys is not None:
                flight.start(keys, float(http.timeout))
            reply: dict[str, Any] = call(what, http.values_append, spreadsheet_id, rng, params,
                                         {"values": values})
            if flight is not None and keys is not None:
                flight.settle(keys)
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
            if flight is not None:
                flight.settle(keys)
            keep = [i for i, k in enumerate(keys) if k not in present]
            values, keys = [values[i] for i in keep], [keys[i] for i in keep]
            if not values:
                return None
        except Exception:
            if flight is not None and keys is not None:
                flight.settle(keys)  # refused, or never sent: nothing of it is on its way
            raise
    raise StoreUnavailableError(f"{target}: {what} failed repeatedly; try again later", target)
