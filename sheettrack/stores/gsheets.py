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

import datetime as _dt
import json
import os
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..cells import EXCEL_EPOCH, Cell, col_letter, to_cell
from ..errors import StoreError, StoreUnavailableError, TargetError
from ..schema import Column, Schema
from .base import Store, Table
from .rows import expected_header, reconcile, reference_cells
from .schema_sheet import (
    SCHEMA_HEADER,
    SCHEMA_SHEET,
    schema_from_sheet,
    schema_meta_json,
    schema_sheet_row,
)

GOOGLE_TEXT_LIMIT = 50_000
SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive")
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com", "https://oauth2.googleapis.com")
#: The Schema sheet's last column holds the template settings as JSON (split over rows when long).
SETTINGS_HEADER = "template settings (JSON)"
SETTINGS_COL = len(SCHEMA_HEADER)
ROLES = ("reader", "commenter", "writer")
_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
ENV_SHEET = "Environments"  # sheettrack.references.ENV_SHEET, named here to import nothing more


# -- targets -----------------------------------------------------------------------------------

def is_google_target(text: str) -> bool:
    """Whether a target string names a Google Sheet rather than a workbook path."""
    lowered = text.strip().lower()
    return lowered.startswith(("gsheet://", "https://docs.google.com/", "http://docs.google.com/",
                               "docs.google.com/"))


def parse_target(text: str) -> tuple[str, str | None]:
    """``(spreadsheet id, worksheet or None)`` from ``gsheet://ID[/Worksheet]`` or a browser URL.

    A URL's ``#gid=`` names the tab the browser showed when it was copied, which may be any tab
    (a summary, the Schema sheet), so it is not used: the runs go to the template's sheet, or to
    the worksheet a ``gsheet://ID/Worksheet`` target names.
    """
    raw = text.strip()
    if raw.lower().startswith("gsheet://"):
        rest = raw[len("gsheet://"):]
        sid, _, tab = rest.partition("/")
        tab = urllib.parse.unquote(tab.rstrip("/")) or None
    else:
        url = raw if "://" in raw else "https://" + raw
        parts = urllib.parse.urlsplit(url).path.split("/")
        try:
            sid = parts[parts.index("d") + 1]
        except (ValueError, IndexError):
            raise TargetError(f"{text}: not a Google Sheets address; copy it from the browser "
                              "(https://docs.google.com/spreadsheets/d/ID/edit) or write gsheet://ID") from None
        tab = None
    if not sid or not set(sid) <= _ID_CHARS:
        raise TargetError(f"{text}: {sid!r} is not a spreadsheet id (the long code between /d/ and "
                          "/edit in the sheet's address)")
    return sid, tab


def quote_sheet(title: str) -> str:
    """A sheet title as A1 notation wants it: always quoted, quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


# -- credentials -------------------------------------------------------------------------------

def _gspread_files() -> list[Path]:
    from gspread.auth import DEFAULT_AUTHORIZED_USER_FILENAME, DEFAULT_SERVICE_ACCOUNT_FILENAME

    return [Path(DEFAULT_SERVICE_ACCOUNT_FILENAME), Path(DEFAULT_AUTHORIZED_USER_FILENAME)]


HOW_TO = ("To create credentials: in the Google Cloud console enable the Sheets and Drive APIs, "
          "create a service account, add a JSON key and download it; then share the spreadsheet "
          "with the service account's e-mail address (client_email in the file) as Editor, and "
          "pass the file with --credentials, credentials= or SHEETTRACK_CREDENTIALS.")


@dataclass
class Credentials:
    """Credentials found for Google, with where they came from (never the secret itself)."""

    google: Any
    source: str
    account: str | None  # the e-mail a spreadsheet must be shared with, when known


def find_credentials(explicit: str | os.PathLike | None = None) -> Credentials:
    """Credentials in this order: ``explicit``, ``SHEETTRACK_CREDENTIALS``,
    ``GOOGLE_APPLICATION_CREDENTIALS``, then gspread's default files."""
    tried: list[str] = []
    named: list[tuple[str, str]] = []
    if explicit:
        named.append(("--credentials / credentials=", os.fspath(explicit)))
    for var in ("SHEETTRACK_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        if os.environ.get(var, "").strip():
            named.append((var, os.environ[var].strip()))
    for where, path in named:
        file = Path(path).expanduser()
        if not file.is_file():
            raise TargetError(f"credentials file {file} (from {where}) does not exist")
        return load_credentials(file, where)
    tried = ["--credentials / credentials= (not given)", "SHEETTRACK_CREDENTIALS (not set)",
             "GOOGLE_APPLICATION_CREDENTIALS (not set)"]
    for file in _gspread_files():
        if file.is_file():
            return load_credentials(file, "gspread's default file")
        tried.append(f"{file} (no such file)")
    secrets = _gspread_files()[0].parent / "credentials.json"
    hint = (f" {secrets} holds OAuth client secrets: run gspread.oauth() once to authorize and "
            "write authorized_user.json." if secrets.is_file() else "")
    raise TargetError("no Google credentials found; tried " + ", ".join(tried) + "." + hint + " " + HOW_TO)


def load_credentials(file: Path, where: str) -> Credentials:
    """Service-account or authorized-user credentials from a JSON file, told apart by ``type``."""
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"credentials file {file} (from {where}) is not readable JSON: "
                          f"{type(exc).__name__}") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
            return Credentials(creds, f"{file} ({where})", info.get("client_email"))
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials as UserCredentials

            creds = UserCredentials.from_authorized_user_info(info, scopes=list(SCOPES))
            return Credentials(creds, f"{file} ({where})", info.get("account") or None)
    except (ValueError, KeyError) as exc:
        # the message of google-auth names missing fields, never their values
        raise TargetError(f"credentials file {file} (from {where}): {exc}") from None
    raise TargetError(f"credentials file {file} (from {where}) has type {kind!r}; expected a "
                      "service-account key (type service_account) or OAuth authorized-user "
                      "credentials (type authorized_user). " + HOW_TO)


# -- HTTP --------------------------------------------------------------------------------------

class Uncertain(Exception):
    """A write whose outcome is unknown (connection lost, timeout, server error): it may or may
    not have been applied, so it is not sent again blindly. ``slow``: no answer in time, so
    the write may still be on its way."""

    def __init__(self, message: str, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, (parsedate_to_datetime(value) - _dt.datetime.now(_dt.timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def _http_client_class() -> type:
    import gspread
    import requests
    from google.auth.exceptions import TransportError

    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                 TransportError)

    class SheetsHTTP(gspread.HTTPClient):
        """gspread's client with another base address, a timeout, and a bounded retry.

        429 is retried for every request (Google rejected it before doing anything); server
        errors, timeouts and dropped connections are retried for reads and idempotent writes
        only; for an append they raise ``Uncertain`` so the store can look before resending.
        """

        def __init__(self, auth: Any, session: Any = None) -> None:
            super().__init__(auth, session)
            self.base = os.environ.get("SHEETTRACK_GOOGLE_API_BASE", "").strip().rstrip("/") or None
            self.timeout = _env_float("SHEETTRACK_GOOGLE_TIMEOUT", 30.0)
            self.retries = int(_env_float("SHEETTRACK_GOOGLE_RETRIES", 5))
            self.backoff = _env_float("SHEETTRACK_GOOGLE_BACKOFF", 1.0)
            self.max_sleep = _env_float("SHEETTRACK_GOOGLE_MAX_SLEEP", 64.0)
            self.sent = 0  # API requests sent, retries included (benchmarks print it)

        def url(self, endpoint: str) -> str:
            if self.base:
                for host in GOOGLE_HOSTS:
                    if endpoint.startswith(host):
                        return self.base + endpoint[len(host):]
            return endpoint

        def request(self, method: str, endpoint: str, params: Any = None, data: Any = None,
                    json: Any = None, files: Any = None, headers: Any = None) -> Any:
            url = self.url(endpoint)
            safe = method.lower() in ("get", "put") or url.endswith((":clear", ":batchClear"))
            attempt = 0
            while True:
                response = None
                try:
                    self.sent += 1
                    response = self.session.request(method=method, url=url, json=json, params=params,
                                                    data=data, files=files, headers=headers,
                                                    timeout=self.timeout)
                except transient as exc:
                    if not safe:
                        raise Uncertain(f"{type(exc).__name__}: {exc}",
                                        slow=isinstance(exc, requests.Timeout)) from None
                    problem = f"no answer ({type(exc).__name__})"
                else:
                    if response.ok:
                        return response
                    code = response.status_code
                    if code != 429 and not (code >= 500 or code == 408):
                        raise gspread.exceptions.APIError(response)
                    if code != 429 and not safe:
                        raise Uncertain(f"HTTP {code}")
                    problem = f"HTTP {code}" + (" (quota)" if code == 429 else "")
                attempt += 1
                if attempt > self.retries:
                    raise StoreUnavailableError(f"Google Sheets gave {problem} {attempt} times; "
                                                "try again later")
                wait = min(self.max_sleep, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                told = _retry_after(response)
                if told is not None:
                    wait = max(wait, min(told, self.max_sleep))
                time.sleep(wait)

    return SheetsHTTP


_clients: dict[tuple, Any] = {}
_states: dict[tuple, _State] = {}
_lock = threading.Lock()


def client_for(creds: Credentials) -> Any:
    """A gspread client for these credentials, one per process (it keeps the token and pool)."""
    import gspread

    key = (creds.source, os.environ.get("SHEETTRACK_GOOGLE_API_BASE", ""))
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = gspread.Client(auth=creds.google, http_client=_http_client_class())
            _clients[key] = client
        return client


@dataclass
class _State:
    """What the process knows of one spreadsheet's runs tab: read once, then kept."""

    tab: str
    header: list[str] | None  # None: the tab does not exist
    schema: Schema | None
    schema_rows: int  # rows of the Schema sheet, header included (0: no Schema sheet)
    env_keys: set[str] | None = None  # keys of the Environments tab, read with the header (None: not read)


def forget() -> None:
    """Drop what this process cached about spreadsheets (tests, or after editing by hand)."""
    with _lock:
        _states.clear()
        _clients.clear()


# -- cell values -------------------------------------------------------------------------------

def cell_json(cell: Cell | None) -> Any:
    """A cell as the JSON value ``values:append`` takes with RAW input."""
    if cell is None:
        return None
    if cell.kind == "d":
        value = cell.value
        if isinstance(value, _dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            delta = value - EXCEL_EPOCH
            return delta.days + (delta.seconds * 1_000_000 + delta.microseconds) / 86_400_000_000
        return (value - EXCEL_EPOCH.date()).days
    return cell.value


def _sheets_format(col: Column) -> dict[str, str] | None:
    code = col.number_format
    if not code:
        return None
    kind = ("DATE_TIME" if col.type == "datetime" else "DATE" if col.type == "date" else
            "PERCENT" if "%" in code else "NUMBER")
    return {"type": kind, "pattern": code}


def _extended(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": value}
    return {"stringValue": str(value)}


def _row_data(values: list[Any]) -> dict[str, Any]:
    return {"values": [{} if v is None or v == "" else {"userEnteredValue": _extended(v)} for v in values]}


# -- the store ---------------------------------------------------------------------------------

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
        if self._creds is None:
            self._creds = find_credentials(self._explicit)
        return self._creds

    @property
    def http(self) -> Any:
        return client_for(self.creds).http_client

    def _key(self) -> tuple:
        return (os.environ.get("SHEETTRACK_GOOGLE_API_BASE", ""), self.spreadsheet_id, self.worksheet)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
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
        try:
            message = exc.response.json()["error"]["message"]
        except Exception:  # noqa: BLE001 - a body that is not Google's error shape
            message = str(exc)
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
        try:
            state = self._fetch(tab)
        except _NoSuchTab:
            titles = self._titles()
            state = self._fetch(tab, titles)
        if state.schema is not None and not self.worksheet and state.schema.sheet != tab:
            state = self._fetch(state.schema.sheet, self._titles())  # the template names another tab
        with _lock:
            _states[key] = state
        return state

    def _titles(self) -> dict[str, dict]:
        meta = self._call("reading the spreadsheet's tabs", self.http.fetch_sheet_metadata,
                          self.spreadsheet_id)
        return {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}

    def _fetch(self, tab: str, titles: dict[str, dict] | None = None) -> _State:
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
                import gspread

                if (isinstance(exc, gspread.exceptions.APIError) and titles is None
                        and exc.response is not None and exc.response.status_code == 400):
                    raise _NoSuchTab() from None  # a tab is missing: ask which exist
                return self._call("reading the header", _raise, exc)
            for spec, vr in zip(ranges, reply.get("valueRanges", [])):
                got[spec] = vr.get("values", [])
        header_rows = got.get(f"{quote_sheet(tab)}!1:1")
        header = None
        if header_rows is not None:
            header = [("" if v is None else str(v)) for v in (header_rows[0] if header_rows else [])]
        schema_rows = got.get(f"{quote_sheet(SCHEMA_SHEET)}!A:{col_letter(SETTINGS_COL)}")
        schema = None
        if schema_rows:
            settings = "".join(str(r[SETTINGS_COL]) for r in schema_rows[1:]
                               if len(r) > SETTINGS_COL and r[SETTINGS_COL] not in (None, ""))
            rows = [(i + 1, {j: v for j, v in enumerate(r[:SETTINGS_COL]) if v not in (None, "")})
                    for i, r in enumerate(schema_rows)]
            schema = schema_from_sheet(settings or None, rows, self.target)
            if schema is not None and self.worksheet:
                schema = replace(schema, sheet=self.worksheet)
        env_rows = got.get(env_range)
        env_keys = ({str(r[0]) for r in env_rows[1:] if r and r[0] not in (None, "")} if env_rows is not None
                    else set() if titles is not None else None)
        return _State(tab, header if header else (None if header_rows is None else []), schema,
                      len(schema_rows) if schema_rows is not None else 0, env_keys)

    # -- Store ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._state().header)

    def read_schema(self) -> Schema | None:
        return self._state().schema

    def create(self, schema: Schema) -> bool:
        tab = self.worksheet or schema.sheet
        schema = replace(schema, sheet=tab)
        titles = self._titles()
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
            columns = lone[0].get("gridProperties", {}).get("columnCount", 26)
            if columns < len(names):
                requests.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                     "length": len(names) - columns}})
        else:
            sheet_id = _new_sheet_id(titles)
            empty = True
            requests.append({"addSheet": {"properties": {
                "sheetId": sheet_id, "title": tab, "index": 0,
                "gridProperties": {"rowCount": 1000, "columnCount": width, "frozenRowCount": 1}}}})
        if empty:
            requests += _layout_runs(sheet_id, schema)
        if SCHEMA_SHEET not in titles:
            schema_id = _new_sheet_id(titles, avoid={sheet_id})
            rows = _schema_sheet_values(schema)
            requests.append({"addSheet": {"properties": {
                "sheetId": schema_id, "title": SCHEMA_SHEET,
                "gridProperties": {"rowCount": max(100, len(rows) + 20), "columnCount": SETTINGS_COL + 2,
                                   "frozenRowCount": 1}}}})
            requests.append({"updateCells": {"start": {"sheetId": schema_id, "rowIndex": 0, "columnIndex": 0},
                                             "rows": [_row_data(r) for r in rows],
                                             "fields": "userEnteredValue"}})
            requests.append(_bold_header(schema_id, SETTINGS_COL + 1))
        try:
            self.http.batch_update(self.spreadsheet_id, {"requests": requests})
        except Exception as exc:
            import gspread

            if isinstance(exc, gspread.exceptions.APIError) and "already exists" in str(exc):
                self._state(fresh=True)
                return False  # another process laid it out meanwhile
            if isinstance(exc, Uncertain):
                state = self._state(fresh=True)
                if state.header:
                    return True
            self._call("laying out the sheet", _raise, exc)
        with _lock:
            _states[self._key()] = _State(tab, names if empty else None, schema,
                                          len(_schema_sheet_values(schema)))
        if not empty:
            self._state(fresh=True)
        return True

    def _has_values(self, title: str) -> bool:
        reply = self._call("reading a tab", self.http.values_get, self.spreadsheet_id,
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
        values = []
        for row in rows:
            out = [cell_json(to_cell(columns[name].type, row[name])) if name in row and name in columns
                   else None for name in header]
            while out and out[-1] is None:
                out.pop()
            values.append(out or [""])
        self._send(state, header, values, [row.get("run_id") for row in rows])

    def _send(self, state: _State, header: list[str], values: list[list[Any]], ids: list[Any]) -> None:
        """values:append with RAW input and INSERT_ROWS, anchored at A1; an uncertain outcome is
        checked by run id before anything is sent again, so no row lands twice."""
        rng = f"{quote_sheet(state.tab)}!A1"
        params = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
        for _ in range(4):
            try:
                reply = self._call("appending rows", self.http.values_append, self.spreadsheet_id, rng,
                                   params, {"values": values})
            except Uncertain as exc:
                if exc.slow:
                    # the write may still land: look for it later (the outbox checks run ids
                    # before sending again) rather than race it now
                    raise StoreUnavailableError(
                        f"{self.target}: Google did not answer the append within "
                        f"{self.http.timeout:g} s; the rows are looked for in the sheet before they "
                        "are sent again", self.target) from None
                if "run_id" not in header or any(i is None for i in ids):
                    raise StoreUnavailableError(f"{self.target}: appending rows: {exc}; the rows may or "
                                                "may not have landed", self.target) from None
                present = self._ids(state, header.index("run_id"))
                keep = [k for k, i in enumerate(ids) if str(i) not in present]
                values = [values[k] for k in keep]
                ids = [ids[k] for k in keep]
                if not values:
                    return
                continue
            table = reply.get("tableRange", "")
            if table and _range_width(table) > len(header):
                with _lock:  # someone widened the header in the browser: read it again next time
                    _states.pop(self._key(), None)
            return
        raise StoreUnavailableError(f"{self.target}: appending rows failed repeatedly; try again later",
                                    self.target)

    def _ids(self, state: _State, index: int) -> set[str]:
        letter = col_letter(index)
        reply = self._call("reading run ids", self.http.values_get, self.spreadsheet_id,
                           f"{quote_sheet(state.tab)}!{letter}2:{letter}")
        return {str(r[0]) for r in reply.get("values", []) if r}

    def _add_columns(self, state: _State, header: list[str], names: list[str], documented: list[Column]) -> None:
        """New columns: the grid widened where needed, their header cells and their Schema tab
        rows, in one atomic batchUpdate."""
        titles = self._titles()
        if state.tab not in titles:
            raise StoreError(f"{self.target}: the tab {state.tab!r} is gone", self.target)
        runs = titles[state.tab]
        first = len(header)
        requests: list[dict[str, Any]] = []
        have = runs.get("gridProperties", {}).get("columnCount", 26)
        if first + len(names) > have:
            requests.append({"appendDimension": {"sheetId": runs["sheetId"], "dimension": "COLUMNS",
                                                 "length": first + len(names) - have}})
        requests.append({"updateCells": {"start": {"sheetId": runs["sheetId"], "rowIndex": 0, "columnIndex": first},
                                         "rows": [_row_data(names)], "fields": "userEnteredValue"}})
        requests.append(_bold_header(runs["sheetId"], first + len(names), first))
        doc = titles.get(SCHEMA_SHEET)
        if documented and doc is not None and state.schema_rows:
            rows = [[schema_sheet_row(c)[k] for k in SCHEMA_HEADER] for c in documented]
            rows = [["" if v is None else v for v in r] for r in rows]
            need = state.schema_rows + len(rows) - doc.get("gridProperties", {}).get("rowCount", 1000)
            if need > 0:
                requests.append({"appendDimension": {"sheetId": doc["sheetId"], "dimension": "ROWS",
                                                     "length": need}})
            requests.append({"updateCells": {"start": {"sheetId": doc["sheetId"], "rowIndex": state.schema_rows,
                                                       "columnIndex": 0},
                                             "rows": [_row_data(r) for r in rows], "fields": "userEnteredValue"}})
        self._call("adding columns", self.http.batch_update, self.spreadsheet_id, {"requests": requests})
        fresh = self._state(fresh=True)
        if fresh.header is None or fresh.header[first:first + len(names)] != names:
            raise StoreUnavailableError(f"{self.target}: another writer changed the header of tab "
                                        f"{state.tab!r} at the same time; log again", self.target)

    def read(self, sheet: str | None = None) -> Table:
        state = self._state()
        name = sheet or state.tab
        reply = self._call(f"reading tab {name!r}", self.http.values_get, self.spreadsheet_id, quote_sheet(name),
                           params={"valueRenderOption": "UNFORMATTED_VALUE",
                                   "dateTimeRenderOption": "SERIAL_NUMBER"})
        values = reply.get("values", [])
        header = [("" if v is None else str(v)) for v in (values[0] if values else [])]
        while header and header[-1] == "":
            header.pop()
        width = len(header)
        rows = [list(r[:width]) + [""] * (width - len(r)) for r in values[1:]]
        while rows and all(v in ("", None) for v in rows[-1]):
            rows.pop()
        if name == state.tab:
            with _lock:
                _states[self._key()] = _State(state.tab, header, state.schema, state.schema_rows, state.env_keys)
        return Table(sheet=name, header=header, rows=rows)

    # -- summary sheets ------------------------------------------------------------------------
    BUILT_COL = SETTINGS_COL + 1  # Schema tab column N: ids of the sheets sheettrack built

    def built_sheets(self, titles: dict[str, dict] | None = None) -> list[int]:
        """Ids of the tabs sheettrack built (summaries, leaderboard), from the Schema tab."""
        titles = self._titles() if titles is None else titles
        doc = titles.get(SCHEMA_SHEET)
        if doc is None or doc.get("gridProperties", {}).get("columnCount", 26) <= self.BUILT_COL:
            return []
        cell = f"{quote_sheet(SCHEMA_SHEET)}!{col_letter(self.BUILT_COL)}2"
        reply = self._call("reading the list of built sheets", self.http.values_get, self.spreadsheet_id, cell)
        values = reply.get("values", [])
        try:
            ids = json.loads(values[0][0]) if values and values[0] else []
        except (ValueError, TypeError):
            ids = []
        return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []

    def write_sheets(self, sheets: list[Any], remove: list[str] | tuple = (),
                     protect: tuple[str, ...] = ()) -> list[str]:
        from .gsheets_sheets import write_sheets

        protect = tuple(protect) + (self._state().tab, SCHEMA_SHEET)
        return write_sheets(self, sheets, remove, protect)

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
        titles = self._titles()
        lowered = {t.lower(): t for t in titles}
        if sheet.lower() not in lowered:
            sheet_id = _new_sheet_id(titles)
            requests = [
                {"addSheet": {"properties": {"sheetId": sheet_id, "title": sheet, "gridProperties": {
                    "rowCount": 1000, "columnCount": max(26, len(header)), "frozenRowCount": 1}}}},
                {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                                 "rows": [_row_data(header)], "fields": "userEnteredValue"}},
                _bold_header(sheet_id, len(header)),
            ]
            self._call(f"adding tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                       {"requests": requests})
            have = list(header)
        else:
            sheet = lowered[sheet.lower()]
            reply = self._call(f"reading the header of tab {sheet!r}", self.http.values_get,
                               self.spreadsheet_id, f"{quote_sheet(sheet)}!1:1")
            values = reply.get("values", [])
            have = [("" if v is None else str(v)) for v in (values[0] if values else [])]
            while have and have[-1] == "":
                have.pop()
            add = [n for n in header if n not in have]
            if add:
                props = titles[sheet]
                requests = []
                width = props.get("gridProperties", {}).get("columnCount", 26)
                if len(have) + len(add) > width:
                    requests.append({"appendDimension": {"sheetId": props["sheetId"], "dimension": "COLUMNS",
                                                         "length": len(have) + len(add) - width}})
                requests.append({"updateCells": {"start": {"sheetId": props["sheetId"], "rowIndex": 0,
                                                           "columnIndex": len(have)},
                                                 "rows": [_row_data(add)], "fields": "userEnteredValue"}})
                self._call(f"adding columns to tab {sheet!r}", self.http.batch_update, self.spreadsheet_id,
                           {"requests": requests})
                have += add
        values = []
        for row in cells:
            out = [cell_json(row.get(name)) for name in have]
            while out and out[-1] is None:
                out.pop()
            values.append(out or [""])
        keys = [str(r.get(key)) for r in rows] if key is not None and key in have else None
        for _ in range(4):
            try:
                self._call(f"appending to tab {sheet!r}", self.http.values_append, self.spreadsheet_id,
                           f"{quote_sheet(sheet)}!A1",
                           {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}, {"values": values})
                return
            except Uncertain as exc:
                if keys is None or exc.slow:
                    raise StoreUnavailableError(f"{self.target}: appending to tab {sheet!r}: {exc}; the rows "
                                                "may or may not have landed", self.target) from None
                # the answer was lost: send again only the rows whose key the tab lacks
                letter = col_letter(have.index(key))
                reply = self._call(f"reading tab {sheet!r}", self.http.values_get, self.spreadsheet_id,
                                   f"{quote_sheet(sheet)}!{letter}2:{letter}")
                present = {str(r[0]) for r in reply.get("values", []) if r}
                keep = [i for i, k in enumerate(keys) if k not in present]
                values, keys = [values[i] for i in keep], [keys[i] for i in keep]
                if not values:
                    return
        raise StoreUnavailableError(f"{self.target}: appending to tab {sheet!r} failed repeatedly; try again "
                                    "later", self.target)

    # -- sharing -------------------------------------------------------------------------------
    def share(self, email: str, role: str = "reader", notify: bool = True) -> None:
        """Give ``email`` access to the spreadsheet (reader, commenter or writer)."""
        if role not in ROLES:
            raise TargetError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        if "@" not in email:
            raise TargetError(f"{email!r} is not an e-mail address")
        client = client_for(self.creds)
        self._call(f"sharing with {email}", client.insert_permission, self.spreadsheet_id, value=email,
                   perm_type="user", role=role, notify=notify)


class _NoSuchTab(Exception):
    pass


def _raise(exc: BaseException) -> Any:
    raise exc


def _range_width(a1: str) -> int:
    """Columns spanned by an A1 range such as ``'Runs'!A1:X40`` (0 when unreadable)."""
    from ..cells import col_index

    cells = a1.rsplit("!", 1)[-1].replace("$", "")
    ends = [c.rstrip("0123456789") for c in cells.split(":")]
    try:
        idx = [col_index(e) for e in ends if e]
    except ValueError:
        return 0
    return (max(idx) - min(idx) + 1) if idx else 0


def _new_sheet_id(titles: dict[str, dict], avoid: set[int] | None = None) -> int:
    taken = {p.get("sheetId") for p in titles.values()} | (avoid or set())
    while True:
        candidate = random.randint(1, 2**31 - 1)
        if candidate not in taken:
            return candidate


def _bold_header(sheet_id: int, width: int, start: int = 0) -> dict[str, Any]:
    return {"repeatCell": {
        "range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": start,
                  "endColumnIndex": width},
        "cell": {"userEnteredFormat": {"textFormat": {"bold": True},
                                       "backgroundColor": {"red": 0.85, "green": 0.9, "blue": 0.97}}},
        "fields": "userEnteredFormat(textFormat,backgroundColor)"}}


def _layout_runs(sheet_id: int, schema: Schema) -> list[dict[str, Any]]:
    """Header, bold frozen header row, number formats, drop-downs and a basic filter."""
    names = schema.names
    out: list[dict[str, Any]] = [
        {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                         "rows": [_row_data(names)], "fields": "userEnteredValue"}},
        _bold_header(sheet_id, len(names)),
    ]
    for i, col in enumerate(schema.columns):
        body = {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": i, "endColumnIndex": i + 1}
        fmt = _sheets_format(col)
        if fmt:
            out.append({"repeatCell": {"range": body, "cell": {"userEnteredFormat": {"numberFormat": fmt}},
                                       "fields": "userEnteredFormat.numberFormat"}})
        if col.choices:
            out.append({"setDataValidation": {"range": body, "rule": {
                "condition": {"type": "ONE_OF_LIST",
                              "values": [{"userEnteredValue": str(c)} for c in col.choices]},
                "inputMessage": f"{col.name}: one of {', '.join(str(c) for c in col.choices)}"[:250],
                "strict": True, "showCustomUi": True}}})
    out.append({"setBasicFilter": {"filter": {"range": {
        "sheetId": sheet_id, "startRowIndex": 0, "startColumnIndex": 0, "endColumnIndex": len(names)}}}})
    out.append({"autoResizeDimensions": {"dimensions": {
        "sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": 0, "endIndex": len(names)}}})
    return out


def _schema_sheet_values(schema: Schema) -> list[list[Any]]:
    """The Schema tab: a row per column, and the settings JSON in the last column."""
    settings = schema_meta_json(schema)
    chunks = [settings[i:i + GOOGLE_TEXT_LIMIT] for i in range(0, len(settings), GOOGLE_TEXT_LIMIT)] or [""]
    rows: list[list[Any]] = [SCHEMA_HEADER + [SETTINGS_HEADER]]
    body = [[schema_sheet_row(c)[k] for k in SCHEMA_HEADER] for c in schema.columns]
    for i in range(max(len(body), len(chunks))):
        row = body[i] if i < len(body) else [""] * len(SCHEMA_HEADER)
        rows.append([("" if v is None else v) for v in row] + [chunks[i] if i < len(chunks) else ""])
    return rows
