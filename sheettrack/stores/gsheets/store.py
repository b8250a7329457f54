"""The Google Sheets store: the team's runs in one shared Google Sheet.

It talks to Google through gspread's HTTP client (the real, unmodified one) and only its
low-level calls, so every request is one the store chose. What the spreadsheet holds (the
runs header, the Schema tab, the Environments tab's header and keys) is read with one
``values:batchGet`` and kept for the process. A transaction then costs: into a new
spreadsheet, one atomic ``batchUpdate`` carrying the layout, the run rows and the new
reference tabs with their rows; afterwards one ``values:append`` for the run rows, and one
per reference tab that gains rows (a new environment). Cell values are typed (``RAW``) so text
is never parsed as a formula, a number or a date. ``SHEETTRACK_GOOGLE_API_BASE`` sends every
request to another address (a local emulator of the API), through the ``http_client=``
extension point gspread offers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ...cells import Cell, col_index, col_letter, quote_sheet, to_cell
from ...errors import SheetNotFoundError, StoreError, StoreUnavailableError, TargetError
from ...schema import Column, Schema
from ..base import ReferenceRows, RunRows, Store, Table, Transaction
from ..rows import expected_header, reading_order, reconcile, reference_cells, table_of
from ..schema_sheet import SCHEMA_SHEET, schema_from_sheet
from .append import ATTEMPTS, InFlight, append_once, read_keys, row_values
from .auth import Credentials, find_credentials
from .http import Uncertain, client_for, forget_clients
from .layout import (
    BUILT_COL,
    GOOGLE_TEXT_LIMIT,
    NEW_TAB_ROWS,
    SETTINGS_COL,
    add_tab,
    bold_header,
    cells_at,
    grow,
    new_sheet_id,
    runs_layout,
    schema_rows,
    schema_sheet_values,
    schema_tab,
)
from .summaries import built_ids, summary_requests
from .targets import parse_target

ROLES = ("reader", "commenter", "writer")
#: Reference tabs whose header and keys (column A) ride along with the runs header, so a log
#: needs no request of its own to know them (sheettrack.references names them; named here to
#: import nothing more). The first is read optimistically, the rest when the tabs are listed.
PREFETCHED = ("Environments", "Data")


@dataclass
class _Reference:
    """A reference tab as the shared read saw it: its header and the keys in its column A."""

    header: list[str]
    keys: set[str]


@dataclass
class _State:
    """What the process knows of one spreadsheet: read once (one batchGet), then kept."""

    tab: str
    header: list[str] | None  # None: the runs tab does not exist
    schema: Schema | None
    schema_rows: int  # rows of the Schema sheet, header included (0: no Schema sheet)
    refs: dict[str, _Reference] = field(default_factory=dict)  # reference tabs read along
    titles: dict[str, dict] | None = None  # every tab, when the read had to list them
    absent: set[str] = field(default_factory=set)  # reference tabs found missing


_states: dict[tuple, _State] = {}
_lock = threading.Lock()


def forget() -> None:
    """Drop what this process cached about spreadsheets (tests, or after editing by hand)."""
    with _lock:
        _states.clear()
    forget_clients()


def _raise(exc: BaseException) -> Any:
    raise exc


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a refusal from Google (None for anything else)."""
    import gspread

    if isinstance(exc, gspread.exceptions.APIError) and exc.response is not None:
        return int(exc.response.status_code)
    return None


def _google_message(exc: Any) -> str:
    """The message of Google's error body (the exception's text when there is none)."""
    try:
        return str(exc.response.json()["error"]["message"])
    except Exception:  # noqa: BLE001 - a body that is not Google's error shape
        return str(exc)


def _range_width(a1: str) -> int:
    """Columns spanned by an A1 range such as ``'Runs'!A1:X40`` (0 when unreadable)."""
    cells = a1.rsplit("!", 1)[-1].replace("$", "")
    ends = [c.rstrip("0123456789") for c in cells.split(":")]
    try:
        idx = [col_index(e) for e in ends if e]
    except ValueError:
        return 0
    return (max(idx) - min(idx) + 1) if idx else 0


@dataclass
class _Prepared:
    """Run rows checked for the runs tab, with the schema they were built for and the
    columns to add."""

    rows: list[dict[str, Any]]
    schema: Schema
    new: list[Column]


def _run_values(prepared: list[_Prepared], header: list[str]) -> tuple[list[list[Any]], list[str] | None]:
    """The rows' values in ``header`` order, and their run ids (None when a row has none:
    then a lost answer cannot be checked)."""
    values, ids = [], []
    for p in prepared:
        columns = {c.name: c for c in [*p.schema.columns, *p.new]}
        for row in p.rows:
            values.append(row_values(header, {name: to_cell(columns[name].type, row[name])
                                              for name in header if name in row and name in columns}))
            ids.append(row.get("run_id"))
    if "run_id" not in header or any(i is None for i in ids):
        return values, None
    return values, [str(i) for i in ids]


def _reference_of(header_rows: list[list[Any]], key_rows: list[list[Any]]) -> _Reference:
    """A reference tab from its first row and its column A below it."""
    return _Reference(_header_of(header_rows), {str(r[0]) for r in key_rows if r and r[0] not in (None, "")})


def _keys_of(ref: ReferenceRows) -> set[str]:
    """The keys of reference rows (none when they have no key column)."""
    if ref.key is None:
        return set()
    return {str(r[ref.key]) for r in ref.rows if r.get(ref.key) not in (None, "")}


def _header_of(values: list[list[Any]]) -> list[str]:
    """A header row as text, trailing empty cells dropped."""
    return table_of("", values[:1]).header


SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"


def create_spreadsheet(title: str, credentials: str | os.PathLike | None = None) -> str:
    """Create an empty spreadsheet called ``title`` in the credentials' Drive and return its
    id (a service account's own Drive: share it with people afterwards). Refusals are a
    ``StoreError``; no answer, quota or refused credentials a ``StoreUnavailableError``."""
    import gspread
    from google.auth.exceptions import RefreshError

    creds = find_credentials(credentials)
    http = client_for(creds).http_client
    what = f"cannot create a Google Sheet {title!r}"
    try:
        reply = http.request("post", "https://www.googleapis.com/drive/v3/files",
                             json={"name": title, "mimeType": SPREADSHEET_MIME},
                             params={"supportsAllDrives": True}).json()
    except gspread.exceptions.APIError as exc:
        raise StoreError(f"{what}: {_google_message(exc)}") from None
    except RefreshError as exc:
        raise StoreUnavailableError(f"{what}: Google refused the credentials {creds.source}: "
                                    f"{exc.args[0] if exc.args else exc}") from None
    except (Uncertain, StoreUnavailableError) as exc:
        raise StoreUnavailableError(f"{what}: {exc}; look in Drive before trying again, it may "
                                    "have been created") from None
    return str(reply["id"])


class GoogleSheetStore(Store):
    """One Google Sheet: runs in one tab (the template's sheet, or the one the target names),
    column rules in a Schema tab."""

    text_limit = GOOGLE_TEXT_LIMIT

    def __init__(self, target: str, credentials: str | os.PathLike | None = None) -> None:
        self.target = target
        self.spreadsheet_id, self.worksheet = parse_target(target)
        self._explicit = credentials
        self._creds: Credentials | None = None

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def creds(self) -> Credentials:
        """The credentials, found on first use."""
        if self._creds is None:
            self._creds = find_credentials(self._explicit)
        return self._creds

    @property
    def http(self) -> Any:
        """The process's HTTP client for these credentials."""
        return client_for(self.creds).http_client

    @property
    def key(self) -> str:
        """The spreadsheet id, and the runs tab when one is named (``ID/TAB``): every address
        of one runs sheet shares caches and outbox."""
        return f"{self.spreadsheet_id}/{self.worksheet}" if self.worksheet else self.spreadsheet_id

    def _key(self) -> tuple:
        return (os.environ.get("SHEETTRACK_GOOGLE_API_BASE", ""), self.spreadsheet_id, self.worksheet)

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one API call, turning Google's refusals into one clear StoreError."""
        import gspread
        from google.auth.exceptions import RefreshError

        try:
            return fn(*args, **kwargs)
        except gspread.exceptions.APIError as exc:
            raise self._api_error(what, exc) from None
        except RefreshError as exc:
            raise StoreUnavailableError(f"{self.target}: Google refused the credentials "
                                        f"{self.creds.source} while {what}: {exc.args[0] if exc.args else exc}",
                                        self.target) from None
        except StoreUnavailableError as exc:
            raise StoreUnavailableError(f"{self.target}: {what}: {exc}", self.target) from None

    def _api_error(self, what: str, exc: Any) -> StoreError:
        code = exc.response.status_code if getattr(exc, "response", None) is not None else exc.code
        message = _google_message(exc)
        account = self.creds.account
        share = f"share it with {account} as Editor" if account else "share it with your account as Editor"
        if code == 404:
            return StoreError(f"{self.target}: no spreadsheet {self.spreadsheet_id} is visible to these "
                              f"credentials; check the address, or {share}", self.target)
        if code == 403:
            return StoreUnavailableError(f"{self.target}: permission denied while {what}; {share}",
                                         self.target)
        if code == 401:
            return StoreUnavailableError(f"{self.target}: Google did not accept the credentials "
                                         f"{self.creds.source} ({message})", self.target)
        return StoreError(f"{self.target}: Google refused {what}: {message}", self.target)

    def _state(self, fresh: bool = False) -> _State:
        """What the spreadsheet holds (runs header, stored schema, reference keys): one
        batchGet, once per process (``fresh`` reads again). When a tab read is missing, the
        tabs are listed and only the ones there are read (two requests more)."""
        key = self._key()
        if not fresh:
            with _lock:
                state = _states.get(key)
            if state is not None:
                return state
        tab = self.worksheet or "Runs"
        state = self._fetch(tab) or self._fetch_listed(tab, self.titles())
        if state.schema is not None and not self.worksheet and state.schema.sheet != tab:
            # the template names another tab
            state = self._fetch_listed(state.schema.sheet, state.titles or self.titles())
        with _lock:
            _states[key] = state
        return state

    def _remember(self, state: _State | None) -> None:
        """Keep ``state`` as what the process knows (None: read the spreadsheet again next time)."""
        with _lock:
            if state is None:
                _states.pop(self._key(), None)
            else:
                _states[self._key()] = state

    def titles(self) -> dict[str, dict]:
        """The spreadsheet's tabs: title -> properties (sheetId, index, gridProperties)."""
        meta = self.call("reading the spreadsheet's tabs", self.http.fetch_sheet_metadata,
                         self.spreadsheet_id)
        return {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}

    def _fetch_listed(self, tab: str, titles: dict[str, dict]) -> _State:
        """``_fetch`` of the tabs ``titles`` lists (which cannot miss one)."""
        state = self._fetch(tab, titles)
        assert state is not None
        return state

    def _fetch(self, tab: str, titles: dict[str, dict] | None = None) -> _State | None:
        """One batchGet of the runs header, the Schema tab and the reference tabs' headers
        and keys: of the ones ``titles`` lists, or optimistically of the runs, Schema and
        first reference tab (None when one is missing: Google refuses the whole read)."""
        wanted = {"header": (tab, "1:1"), "schema": (SCHEMA_SHEET, f"A:{col_letter(SETTINGS_COL)}")}
        refs = PREFETCHED if titles is not None else PREFETCHED[:1]
        for sheet in refs:
            wanted[f"{sheet}:header"] = (sheet, "1:1")
            wanted[f"{sheet}:keys"] = (sheet, "A2:A")
        ranges = {name: f"{quote_sheet(sheet)}!{cells}" for name, (sheet, cells) in wanted.items()
                  if titles is None or sheet in titles}
        got: dict[str, list] = {}
        if ranges:
            try:
                reply = self.http.values_batch_get(
                    self.spreadsheet_id, list(ranges.values()),
                    params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
            except Exception as exc:
                if titles is None and _status(exc) == 400:
                    return None  # a tab is missing (our ranges are well-formed)
                return self.call("reading the header", _raise, exc)
            for name, vr in zip(ranges, reply.get("valueRanges", [])):
                got[name] = vr.get("values", [])
        header_rows = got.get("header")
        header = None if header_rows is None else _header_of(header_rows)
        schema_values = got.get("schema")
        schema = None
        if schema_values:
            settings = "".join(str(r[SETTINGS_COL]) for r in schema_values[1:]
                               if len(r) > SETTINGS_COL and r[SETTINGS_COL] not in (None, ""))
            rows = [(i + 1, {j: v for j, v in enumerate(r[:SETTINGS_COL]) if v not in (None, "")})
                    for i, r in enumerate(schema_values)]
            schema = schema_from_sheet(settings or None, rows, self.target)
            if schema is not None and self.worksheet:
                schema = replace(schema, sheet=self.worksheet)
        found = {sheet: _reference_of(got[f"{sheet}:header"], got.get(f"{sheet}:keys", []))
                 for sheet in refs if f"{sheet}:header" in got}
        return _State(tab, header, schema, len(schema_values) if schema_values is not None else 0,
                      found, titles)

    # -- Store ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the runs tab is there with a header (from the shared read)."""
        return bool(self._state().header)

    def read_schema(self) -> Schema | None:
        """The schema the Schema tab documents (from the shared read)."""
        return self._state().schema

    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        """The keys of reference tab ``sheet`` (empty when there is no such tab), kept for the
        process. Environments rides along with the shared read; Data too when that read had
        to list the tabs, else it costs one small read of its own (Google refuses a whole read
        naming a missing tab, so a spreadsheet without Data would pay more on every first
        read). None for other tabs, or when column A is not ``key``."""
        state = self._state()
        ref = state.refs.get(sheet)
        if ref is None:
            listed = state.titles is not None and sheet.lower() not in {t.lower() for t in state.titles}
            if listed or sheet in state.absent:
                return set()
            if sheet not in PREFETCHED:
                return None
            ref = self._read_reference(sheet)
            if ref is None:
                state.absent.add(sheet)
                return set()
            state.refs[sheet] = ref
        return set(ref.keys) if ref.header[:1] == [key] else None

    def _read_reference(self, sheet: str) -> _Reference | None:
        """A reference tab's header and keys in one batchGet; None when there is no such tab
        (row 1 and column A are in every tab's grid, so Google refuses them only then)."""
        ranges = [f"{quote_sheet(sheet)}!1:1", f"{quote_sheet(sheet)}!A2:A"]
        try:
            reply = self.http.values_batch_get(
                self.spreadsheet_id, ranges,
                params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
        except Exception as exc:
            if _status(exc) == 400:
                return None
            return self.call(f"reading tab {sheet!r}", _raise, exc)
        got = [vr.get("values", []) for vr in reply.get("valueRanges", [])] + [[], []]
        return _reference_of(got[0], got[1])

    def create(self, schema: Schema) -> bool:
        """Lay out the runs tab (and the Schema tab) for ``schema``: one batchUpdate."""
        return self._lay_out(replace(schema, sheet=self.worksheet or schema.sheet), [], [], []) is not False

    def _plan(self, schema: Schema, titles: dict[str, dict]) -> tuple[list[dict[str, Any]], int, int, set[int]] | None:
        """The requests laying out the runs tab ``schema.sheet`` and the Schema tab, the runs
        tab's id, its row count when it is empty (0: it holds values, rows go after them), and
        the ids of the tabs they add; None when both tabs are there already."""
        tab = schema.sheet
        if SCHEMA_SHEET in titles and tab in titles:
            return None
        names = schema.names
        requests: list[dict[str, Any]] = []
        lone = list(titles.values())
        reuse = (tab not in titles and len(lone) == 1 and lone[0]["title"] in ("Sheet1", "Sheet 1")
                 and not self._has_values(lone[0]["title"]))
        if tab in titles:
            sheet_id = titles[tab]["sheetId"]
            rows = 0 if self._has_values(tab) else titles[tab].get("gridProperties", {}).get("rowCount", 1000)
        elif reuse:  # a new spreadsheet's empty first tab becomes the runs tab
            sheet_id = lone[0]["sheetId"]
            grid = lone[0].get("gridProperties", {})
            rows = grid.get("rowCount", 1000)
            requests.append({"updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "title": tab, "gridProperties": {"frozenRowCount": 1}},
                "fields": "title,gridProperties.frozenRowCount"}})
            requests += grow(sheet_id, "COLUMNS", grid.get("columnCount", 26), len(names))
        else:
            sheet_id = new_sheet_id(titles)
            rows = NEW_TAB_ROWS
            requests.append({"addSheet": {"properties": {
                "sheetId": sheet_id, "title": tab, "index": 0,
                "gridProperties": {"rowCount": rows, "columnCount": max(26, len(names)), "frozenRowCount": 1}}}})
        if rows:
            requests += runs_layout(sheet_id, schema)
        taken = {sheet_id}
        if SCHEMA_SHEET not in titles:
            schema_id = new_sheet_id(titles, avoid=taken)
            taken.add(schema_id)
            requests += schema_tab(schema_id, schema)
        return requests, sheet_id, rows, taken

    def _has_values(self, title: str) -> bool:
        """Whether a tab holds anything in its first rows (a new spreadsheet's Sheet1 does not)."""
        reply = self.call("reading a tab", self.http.values_get, self.spreadsheet_id,
                          f"{quote_sheet(title)}!A1:Z5")
        return bool(reply.get("values"))

    def _lay_out(self, schema: Schema, prepared: list[_Prepared],
                 refs: list[tuple[ReferenceRows, list[dict[str, Cell | None]]]],
                 later: list[tuple[ReferenceRows, list[dict[str, Cell | None]]]]) -> bool | None:
        """Lay out the runs tab for ``schema`` in one atomic batchUpdate carrying the
        ``prepared`` run rows and the reference rows of tabs it adds; reference rows of tabs
        that exist already are put in ``later``. True: laid out (rows included); None: laid
        out, the rows still to append; False: another process laid it out (nothing sent)."""
        state = self._state()
        titles = state.titles if state.titles is not None else self.titles()
        try:
            plan = self._plan(schema, titles)
        except StoreError:  # the tabs changed since they were listed: laid out meanwhile?
            if not self._state(fresh=True).header:
                raise
            plan = None
        if plan is None:
            self._state(fresh=True)
            later.extend(refs)
            return False
        requests, sheet_id, free, taken = plan
        names = [c.name for c in reading_order(list(schema.columns))]  # as runs_layout lays them out
        values, keys = _run_values(prepared, names)
        placed = bool(values) and free > 0
        if placed:
            requests += grow(sheet_id, "ROWS", free, 1 + len(values))
            requests.append(cells_at(sheet_id, 1, 0, values))
        added: dict[str, _Reference] = {}
        lowered = {t.lower() for t in titles}
        for ref, cells in refs:
            if ref.sheet.lower() in lowered or ref.sheet in added:
                later.append((ref, cells))
                continue
            ref_id = new_sheet_id(titles, avoid=taken)
            taken.add(ref_id)
            rows = [row_values(ref.header, c) for c in cells]
            requests += add_tab(ref_id, ref.sheet, ref.header, rows=1 + len(rows))
            requests.append(cells_at(ref_id, 1, 0, rows))
            added[ref.sheet] = _Reference(list(ref.header), _keys_of(ref))
        flight = InFlight(self.spreadsheet_id, schema.sheet) if placed and keys else None
        if flight is not None and keys and flight.wait_for_earlier(keys, self.target):
            if self._state(fresh=True).header:  # an earlier, unanswered layout landed late:
                later[:] = refs  # append, which looks for its rows first
                return False
            flight.settle(keys)  # it never landed (a layout lands whole or not at all)
        for _ in range(ATTEMPTS):
            try:
                if flight is not None and keys:
                    flight.start(keys, float(self.http.timeout))
                self.http.batch_update(self.spreadsheet_id, {"requests": requests})
                if flight is not None and keys:
                    flight.settle(keys)
                break
            except Exception as exc:
                uncertain = isinstance(exc, Uncertain)
                if flight is not None and keys and not (isinstance(exc, Uncertain) and exc.slow):
                    flight.settle(keys)  # answered, or looked for below: not on its way
                if isinstance(exc, Uncertain) and (exc.slow or (placed and keys is None)):
                    raise StoreUnavailableError(f"{self.target}: laying out the sheet: {exc}; the rows "
                                                "may or may not have landed", self.target) from None
                if uncertain or _status(exc) == 400:
                    now = self._state(fresh=True)
                    if now.header:  # laid out: by this request (atomic: all of it) or another's
                        if uncertain and (not placed or self._holds(now, keys or [])):
                            return None if not placed and prepared else True
                        later[:] = refs  # nothing of this request landed
                        return False
                    if uncertain:
                        continue  # nothing landed: send it again
                self.call("laying out the sheet", _raise, exc)
        else:
            raise StoreUnavailableError(f"{self.target}: laying out the sheet failed repeatedly; try "
                                        "again later", self.target)
        new_titles = {t: p for t, p in titles.items() if p.get("sheetId") != sheet_id}
        new_titles[schema.sheet] = {"sheetId": sheet_id, "title": schema.sheet}
        for sheet in [SCHEMA_SHEET, *added]:
            new_titles.setdefault(sheet, {"title": sheet})
        if not free or SCHEMA_SHEET in titles:
            self._remember(None)  # the tab held values or the Schema tab was there: read them
        else:
            self._remember(_State(schema.sheet, names, schema, len(schema_sheet_values(schema)),
                                  {**state.refs, **added}, new_titles))
        return True if placed or not prepared else None

    def _holds(self, state: _State, keys: list[str]) -> bool:
        """Whether the runs tab holds every one of these run ids (one column read)."""
        if not state.header or "run_id" not in state.header:
            return False
        present = read_keys(self.call, self.http, self.spreadsheet_id, state.tab, state.header.index("run_id"))
        return set(keys) <= present

    def _prepare(self, runs: list[RunRows], header: list[str], stored: Schema | None,
                 adopt: bool = False) -> list[_Prepared]:
        """Run rows reconciled with the stored schema and checked against ``header`` (nothing
        sent). ``adopt``: another process laid the tab out meanwhile, so this layout's columns
        it lacks are added as new ones."""
        out = []
        for run in runs:
            rows = [dict(r) for r in run.rows]
            new = list(run.new_columns)
            if adopt:
                have = set(header) | {c.name for c in new}
                new += [c for c in run.schema.columns if c.name not in have]
            new = reconcile(rows, new, stored)
            expected_header(run.schema, new).check_header(header, where=f"{self.target}: tab {run.schema.sheet}: ")
            out.append(_Prepared(rows, run.schema, new))
        return out

    def commit(self, tx: Transaction) -> None:
        """Everything ``tx`` carries, in as few requests as the exactly-once guarantee allows:
        a store being laid out gets its layout, run rows and new reference tabs (with their
        rows) in one atomic batchUpdate; otherwise the run rows go in one ``values:append``,
        then the reference rows, one append per tab. Every row is checked before anything
        is sent. After any failure the spreadsheet is read afresh next time."""
        try:
            self._commit(tx)
        except BaseException:
            self._remember(None)
            raise

    def _commit(self, tx: Transaction) -> None:
        with _lock:
            known = self._key() in _states
        state = self._state()
        if known and state.header and any(run.new_columns for run in tx.runs):
            state = self._state(fresh=True)  # another writer may have added these columns
        refs = [(ref, reference_cells(ref.header, ref.rows, f"{self.target}: tab {ref.sheet}",
                                      self.text_limit)[0]) for ref in tx.references]
        later: list[tuple[ReferenceRows, list[dict[str, Cell | None]]]] = []
        adopt = False
        if not state.header and tx.layout is not None:
            layout = replace(tx.layout, sheet=self.worksheet or tx.layout.sheet)
            # the first rows' own columns are laid out too
            layout = layout.with_columns([c for run in tx.runs for c in (*run.schema.columns, *run.new_columns)])
            # the rows' new columns meet the definitions being stored (or stored already)
            prepared = self._prepare(tx.runs, layout.names, state.schema or layout)
            done = self._lay_out(layout, prepared, refs, later)
            if done:
                self._append_references(later)
                return
            adopt = done is False
            state = self._state()
        else:  # laid out already, maybe by another process since this one looked: adopt it
            later, adopt = refs, tx.layout is not None
        if tx.runs:
            self._append_runs(state, tx.runs, adopt)
        self._append_references(later)

    def _append_runs(self, state: _State, runs: list[RunRows], adopt: bool) -> None:
        """Run rows into the existing runs tab: new columns first, then one values:append."""
        if state.header is None:
            raise StoreError(f"{self.target}: the tab {state.tab!r} is gone; log again to lay it out anew, "
                             "or restore it from the sheet's version history", self.target)
        header = list(state.header)
        prepared = self._prepare(runs, header, state.schema, adopt)
        add = [n for n in dict.fromkeys(c.name for p in prepared for c in [*p.schema.columns, *p.new])
               if n not in header]
        if add:
            documented = {c.name: c for p in prepared for c in p.new if c.name in add}
            self._add_columns(state, header, add, list(documented.values()))
            header += add
        values, keys = _run_values(prepared, header)
        reply = append_once(self.call, self.http, self.spreadsheet_id, state.tab, values, keys,
                            header.index("run_id") if keys is not None else None, self.target)
        table = (reply or {}).get("tableRange", "")
        if table and _range_width(table) > len(header):
            self._remember(None)  # someone widened the header in the browser: read it again next time

    def _add_columns(self, state: _State, header: list[str], names: list[str], documented: list[Column]) -> None:
        """New columns: the grid widened where needed, their header cells and their Schema tab
        rows, in one atomic batchUpdate; then the header read again to be sure no other
        writer put its own columns there at the same time."""
        titles = self.titles()
        if state.tab not in titles:
            raise StoreError(f"{self.target}: the tab {state.tab!r} is gone", self.target)
        runs = titles[state.tab]
        first = len(header)
        requests: list[dict[str, Any]] = grow(runs["sheetId"], "COLUMNS",
                                              runs.get("gridProperties", {}).get("columnCount", 26),
                                              first + len(names))
        requests.append(cells_at(runs["sheetId"], 0, first, [names]))
        requests.append(bold_header(runs["sheetId"], first + len(names), first))
        doc = titles.get(SCHEMA_SHEET)
        if documented and doc is not None and state.schema_rows:
            rows = schema_rows(documented)
            requests += grow(doc["sheetId"], "ROWS", doc.get("gridProperties", {}).get("rowCount", 1000),
                             state.schema_rows + len(rows))
            requests.append(cells_at(doc["sheetId"], state.schema_rows, 0, rows))
        self.call("adding columns", self.http.batch_update, self.spreadsheet_id, {"requests": requests})
        fresh = self._state(fresh=True)
        if fresh.header is None or fresh.header[first:first + len(names)] != names:
            raise StoreUnavailableError(f"{self.target}: another writer changed the header of tab "
                                        f"{state.tab!r} at the same time; log again", self.target)

    def _append_references(self, refs: list[tuple[ReferenceRows, list[dict[str, Cell | None]]]]) -> None:
        """Reference rows into their tabs, one values:append each; a missing tab is added with
        its header first, a tab lacking header columns gets them."""
        for ref, cells in refs:
            self._append_reference(ref, cells)

    def _append_reference(self, ref: ReferenceRows, cells: list[dict[str, Cell | None]]) -> None:
        """One reference tab's rows: its header from the shared read when it was there, else
        read (or the tab added); then one idempotent append keyed by ``ref.key``."""
        state = self._state()
        sheet = ref.sheet
        known = state.refs.get(sheet)
        titles: dict[str, dict] | None = None
        keys_known = known.keys if known is not None else None
        if known is not None:  # read along with the runs header
            have = list(known.header)
        else:
            titles = self.titles()
            lowered = {t.lower(): t for t in titles}
            if sheet.lower() not in lowered:
                self.call(f"adding tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                          {"requests": add_tab(new_sheet_id(titles), sheet, ref.header)})
                have, keys_known = list(ref.header), set()
            else:
                sheet = lowered[sheet.lower()]
                reply = self.call(f"reading the header of tab {sheet!r}", self.http.values_get,
                                  self.spreadsheet_id, f"{quote_sheet(sheet)}!1:1")
                have = _header_of(reply.get("values", []))
        add = [n for n in ref.header if n not in have]
        if add:
            props = (titles or self.titles())[sheet]
            requests = grow(props["sheetId"], "COLUMNS", props.get("gridProperties", {}).get("columnCount", 26),
                            len(have) + len(add))
            requests.append(cells_at(props["sheetId"], 0, len(have), [add]))
            self.call(f"adding columns to tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                      {"requests": requests})
            have += add
        values = [row_values(have, row) for row in cells]
        key = ref.key if ref.key is not None and ref.key in have else None
        keys = [str(r.get(key)) for r in ref.rows] if key is not None else None
        append_once(self.call, self.http, self.spreadsheet_id, sheet, values, keys,
                    have.index(key) if key is not None else None, self.target)
        if keys_known is not None:  # the process knows the tab's keys: keep them current
            state.refs[sheet] = _Reference(have, keys_known | _keys_of(ref))

    def read(self, sheet: str | None = None) -> Table:
        """A tab's values as stored (numbers, dates as serials); ``SheetNotFoundError`` when
        the spreadsheet has no tab of that name."""
        state = self._state()
        name = sheet or state.tab
        try:
            reply = self.http.values_get(self.spreadsheet_id, quote_sheet(name),
                                         params={"valueRenderOption": "UNFORMATTED_VALUE",
                                                 "dateTimeRenderOption": "SERIAL_NUMBER"})
        except Exception as exc:
            if _status(exc) == 400:  # a whole tab can only be refused when it is not there
                titles = self.titles()
                if name not in titles:
                    raise SheetNotFoundError(
                        f"{self.target}: no sheet named {name!r} (tabs: {', '.join(titles) or 'none'}); "
                        f"Google said: {_google_message(exc)}", self.target, sheet=name) from None
            reply = self.call(f"reading tab {name!r}", _raise, exc)
        table = table_of(name, reply.get("values", []))
        if name == state.tab:
            self._remember(replace(state, header=table.header))
        return table

    # -- summary sheets ------------------------------------------------------------------------
    def built_sheets(self, titles: dict[str, dict] | None = None) -> list[int]:
        """Ids of the tabs sheettrack built (summaries, leaderboard), from the Schema tab."""
        titles = self.titles() if titles is None else titles
        doc = titles.get(SCHEMA_SHEET)
        if doc is None or doc.get("gridProperties", {}).get("columnCount", 26) <= BUILT_COL:
            return []
        cell = f"{quote_sheet(SCHEMA_SHEET)}!{col_letter(BUILT_COL)}2"
        reply = self.call("reading the list of built sheets", self.http.values_get, self.spreadsheet_id, cell)
        values = reply.get("values", [])
        return built_ids(values[0][0] if values and values[0] else None)

    def write_sheets(self, sheets: list[Any], remove: Sequence[str] = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        """Summary sheets in one atomic batchUpdate (see ``summaries``)."""
        protect = tuple(protect) + (self._state().tab, SCHEMA_SHEET)
        titles = self.titles()
        requests, written = summary_requests(self.target, titles, set(self.built_sheets(titles)),
                                             sheets, remove, protect)
        if requests:
            self.call("writing summary sheets", self.http.batch_update, self.spreadsheet_id,
                      {"requests": requests})
        return written

    # -- sharing -------------------------------------------------------------------------------
    def share(self, email: str, role: str = "reader", notify: bool = True) -> None:
        """Give ``email`` access to the spreadsheet (reader, commenter or writer)."""
        if role not in ROLES:
            raise TargetError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        if "@" not in email:
            raise TargetError(f"{email!r} is not an e-mail address")
        client = client_for(self.creds)
        self.call(f"sharing with {email}", client.insert_permission, self.spreadsheet_id, value=email,
                  perm_type="user", role=role, notify=notify)
