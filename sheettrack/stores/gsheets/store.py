"""The Google Sheets store: the team's runs in one shared Google Sheet.

It talks to Google through gspread's HTTP client (the real, unmodified one) and only its
low-level calls, so every request is one the store chose: a one-off ``log`` costs one
``values:batchGet`` (the header and the Schema sheet, cached for the process) and one
``values:append``; further logs in the process cost the append alone. Values go with
``valueInputOption=RAW`` so text is never parsed as a formula, a number or a date.
``SHEETTRACK_GOOGLE_API_BASE`` sends every request to another address (a local emulator of the
API), through the ``http_client=`` extension point gspread offers.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from typing import Any

from ...cells import col_index, col_letter, to_cell
from ...errors import SheetNotFoundError, StoreError, StoreUnavailableError, TargetError
from ...schema import Column, Schema
from ..base import Store, Table
from ..rows import expected_header, reconcile, reference_cells
from ..schema_sheet import SCHEMA_SHEET, schema_from_sheet
from .append import append_once, row_values
from .auth import Credentials, find_credentials
from .http import Uncertain, client_for, forget_clients
from .layout import (
    BUILT_COL,
    GOOGLE_TEXT_LIMIT,
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
from .targets import parse_target, quote_sheet

ROLES = ("reader", "commenter", "writer")
ENV_SHEET = "Environments"  # sheettrack.references.ENV_SHEET, named here to import nothing more


@dataclass
class _State:
    """What the process knows of one spreadsheet's runs tab: read once, then kept."""

    tab: str
    header: list[str] | None  # None: the tab does not exist
    schema: Schema | None
    schema_rows: int  # rows of the Schema sheet, header included (0: no Schema sheet)
    env_keys: set[str] | None = None  # keys of the Environments tab, read with the header (None: not read)


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


def _header_of(values: list[list[Any]]) -> list[str]:
    """A header row as text, trailing empty cells dropped."""
    header = [("" if v is None else str(v)) for v in (values[0] if values else [])]
    while header and header[-1] == "":
        header.pop()
    return header


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
    BUILT_COL = BUILT_COL

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
        """The spreadsheet id: every address of one spreadsheet shares caches and outbox."""
        return self.spreadsheet_id

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
        """The header and the stored schema: one batchGet, once per process (``fresh`` re-reads)."""
        key = self._key()
        if not fresh:
            with _lock:
                state = _states.get(key)
            if state is not None:
                return state
        tab = self.worksheet or "Runs"
        state = self._fetch(tab)
        if state is None:  # a tab read is missing: ask which exist, and read those
            state = self._fetch(tab, self.titles())
        if state.schema is not None and not self.worksheet and state.schema.sheet != tab:
            state = self._fetch(state.schema.sheet, self.titles())  # the template names another tab
        assert state is not None  # reading only tabs that exist never misses one
        with _lock:
            _states[key] = state
        return state

    def titles(self) -> dict[str, dict]:
        """The spreadsheet's tabs: title -> properties (sheetId, index, gridProperties)."""
        meta = self.call("reading the spreadsheet's tabs", self.http.fetch_sheet_metadata,
                         self.spreadsheet_id)
        return {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}

    def _fetch(self, tab: str, titles: dict[str, dict] | None = None) -> _State | None:
        """One batchGet of the runs header, the Schema tab and the environments' keys: of the
        ones ``titles`` lists, or of all of them optimistically (None when one is missing:
        Google refuses the whole read with 400)."""
        ranges = []
        if titles is None or tab in titles:
            ranges.append(f"{quote_sheet(tab)}!1:1")
        if titles is None or SCHEMA_SHEET in titles:
            ranges.append(f"{quote_sheet(SCHEMA_SHEET)}!A:{col_letter(SETTINGS_COL)}")
        env_range = f"{quote_sheet(ENV_SHEET)}!A:A"  # the environments' keys ride along: no request of their own
        if titles is None or ENV_SHEET in titles:
            ranges.append(env_range)
        got: dict[str, list] = {}
        if ranges:
            try:
                reply = self.http.values_batch_get(
                    self.spreadsheet_id, ranges,
                    params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
            except Exception as exc:
                if titles is None and _status(exc) == 400:
                    return None  # a tab is missing (our ranges are well-formed)
                return self.call("reading the header", _raise, exc)
            for spec, vr in zip(ranges, reply.get("valueRanges", [])):
                got[spec] = vr.get("values", [])
        header_rows = got.get(f"{quote_sheet(tab)}!1:1")
        header = None
        if header_rows is not None:
            header = [("" if v is None else str(v)) for v in (header_rows[0] if header_rows else [])]
        schema_values = got.get(f"{quote_sheet(SCHEMA_SHEET)}!A:{col_letter(SETTINGS_COL)}")
        schema = None
        if schema_values:
            settings = "".join(str(r[SETTINGS_COL]) for r in schema_values[1:]
                               if len(r) > SETTINGS_COL and r[SETTINGS_COL] not in (None, ""))
            rows = [(i + 1, {j: v for j, v in enumerate(r[:SETTINGS_COL]) if v not in (None, "")})
                    for i, r in enumerate(schema_values)]
            schema = schema_from_sheet(settings or None, rows, self.target)
            if schema is not None and self.worksheet:
                schema = replace(schema, sheet=self.worksheet)
        env_rows = got.get(env_range)
        env_keys = ({str(r[0]) for r in env_rows[1:] if r and r[0] not in (None, "")} if env_rows is not None
                    else set() if titles is not None else None)
        return _State(tab, header if header else (None if header_rows is None else []), schema,
                      len(schema_values) if schema_values is not None else 0, env_keys)

    # -- Store ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._state().header)

    def read_schema(self) -> Schema | None:
        return self._state().schema

    def create(self, schema: Schema) -> bool:
        tab = self.worksheet or schema.sheet
        schema = replace(schema, sheet=tab)
        titles = self.titles()
        if SCHEMA_SHEET in titles and tab in titles:
            self._state(fresh=True)
            return False
        names = schema.names
        requests: list[dict[str, Any]] = []
        lone = list(titles.values())
        reuse = (tab not in titles and len(lone) == 1 and lone[0]["title"] in ("Sheet1", "Sheet 1")
                 and not self._has_values(lone[0]["title"]))
        width = max(26, len(names))
        if tab in titles:
            sheet_id = titles[tab]["sheetId"]
            empty = not self._has_values(tab)
        elif reuse:  # a new spreadsheet's empty first tab becomes the runs tab
            sheet_id = lone[0]["sheetId"]
            empty = True
            requests.append({"updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "title": tab, "gridProperties": {"frozenRowCount": 1}},
                "fields": "title,gridProperties.frozenRowCount"}})
            requests += grow(sheet_id, "COLUMNS", lone[0].get("gridProperties", {}).get("columnCount", 26),
                             len(names))
        else:
            sheet_id = new_sheet_id(titles)
            empty = True
            requests.append({"addSheet": {"properties": {
                "sheetId": sheet_id, "title": tab, "index": 0,
                "gridProperties": {"rowCount": 1000, "columnCount": width, "frozenRowCount": 1}}}})
        if empty:
            requests += runs_layout(sheet_id, schema)
        if SCHEMA_SHEET not in titles:
            requests += schema_tab(new_sheet_id(titles, avoid={sheet_id}), schema)
        try:
            self.http.batch_update(self.spreadsheet_id, {"requests": requests})
        except Exception as exc:
            if _status(exc) == 400 and self._state(fresh=True).header:
                return False  # another process laid it out meanwhile: its tab already exists
            if isinstance(exc, Uncertain) and self._state(fresh=True).header:
                return True
            self.call("laying out the sheet", _raise, exc)
        with _lock:
            _states[self._key()] = _State(tab, names if empty else None, schema,
                                          len(schema_sheet_values(schema)))
        if not empty:
            self._state(fresh=True)
        return True

    def _has_values(self, title: str) -> bool:
        reply = self.call("reading a tab", self.http.values_get, self.spreadsheet_id,
                          f"{quote_sheet(title)}!A1:Z5")
        return bool(reply.get("values"))

    def append(self, rows: list[dict[str, Any]], schema: Schema, new_columns: list[Column]) -> None:
        try:
            self._append(rows, schema, new_columns)
        except BaseException:
            with _lock:  # whatever went wrong, read the sheet afresh next time
                _states.pop(self._key(), None)
            raise

    def _append(self, rows: list[dict[str, Any]], schema: Schema, new_columns: list[Column]) -> None:
        state = self._state(fresh=bool(new_columns))
        if state.header is None:
            raise StoreError(f"{self.target}: the tab {state.tab!r} is gone; log again to lay it out anew, "
                             "or restore it from the sheet's version history", self.target)
        header = list(state.header)
        new_columns = reconcile(rows, new_columns, state.schema)
        expected = expected_header(schema, new_columns)
        expected.check_header(header, where=f"{self.target}: tab {state.tab}: ")
        add_names = [n for n in dict.fromkeys(c.name for c in schema.columns + new_columns) if n not in header]
        if add_names:
            self._add_columns(state, header, add_names, [c for c in new_columns if c.name in add_names])
            header = header + add_names
        columns = {c.name: c for c in schema.columns + new_columns}
        values = [row_values(header, {name: to_cell(columns[name].type, row[name])
                                      for name in header if name in row and name in columns})
                  for row in rows]
        ids = [row.get("run_id") for row in rows]
        keys = None if "run_id" not in header or any(i is None for i in ids) else [str(i) for i in ids]
        reply = append_once(self.call, self.http, self.spreadsheet_id, state.tab, values, keys,
                            header.index("run_id") if keys is not None else None, self.target)
        table = (reply or {}).get("tableRange", "")
        if table and _range_width(table) > len(header):
            with _lock:  # someone widened the header in the browser: read it again next time
                _states.pop(self._key(), None)

    def _add_columns(self, state: _State, header: list[str], names: list[str], documented: list[Column]) -> None:
        """New columns: the grid widened where needed, their header cells and their Schema tab
        rows, in one atomic batchUpdate."""
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
        values = reply.get("values", [])
        header = _header_of(values)
        width = len(header)
        rows = [list(r[:width]) + [""] * (width - len(r)) for r in values[1:]]
        while rows and all(v in ("", None) for v in rows[-1]):
            rows.pop()
        if name == state.tab:
            with _lock:
                _states[self._key()] = _State(state.tab, header, state.schema, state.schema_rows, state.env_keys)
        return Table(sheet=name, header=header, rows=rows)

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

    def write_sheets(self, sheets: list[Any], remove: list[str] | tuple = (),
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

    # -- reference sheets ----------------------------------------------------------------------
    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        """The keys of reference tab ``sheet`` read along with the header (None: not read that way)."""
        if sheet != ENV_SHEET:
            return None
        return self._state().env_keys

    def append_rows(self, sheet: str, header: list[str], rows: list[dict[str, Any]],
                    key: str | None = None) -> None:
        """Reference rows by header name: a missing tab is added with its header (one atomic
        batchUpdate), then one ``values:append`` (RAW, INSERT_ROWS, anchored at A1). When the
        append's answer is lost, rows whose ``key`` the tab holds are not sent again."""
        if not rows:
            return
        cells, _ = reference_cells(header, rows, f"{self.target}: tab {sheet}", self.text_limit)
        titles = self.titles()
        lowered = {t.lower(): t for t in titles}
        if sheet.lower() not in lowered:
            self.call(f"adding tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                      {"requests": add_tab(new_sheet_id(titles), sheet, header)})
            have = list(header)
        else:
            sheet = lowered[sheet.lower()]
            reply = self.call(f"reading the header of tab {sheet!r}", self.http.values_get,
                              self.spreadsheet_id, f"{quote_sheet(sheet)}!1:1")
            have = _header_of(reply.get("values", []))
            add = [n for n in header if n not in have]
            if add:
                props = titles[sheet]
                requests = grow(props["sheetId"], "COLUMNS", props.get("gridProperties", {}).get("columnCount", 26),
                                len(have) + len(add))
                requests.append(cells_at(props["sheetId"], 0, len(have), [add]))
                self.call(f"adding columns to tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                          {"requests": requests})
                have += add
        values = [row_values(have, row) for row in cells]
        keys = [str(r.get(key)) for r in rows] if key is not None and key in have else None
        append_once(self.call, self.http, self.spreadsheet_id, sheet, values, keys,
                    have.index(key) if keys is not None and key is not None else None, self.target)

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
