"""The emulator: a threaded HTTP/1.1 server on 127.0.0.1 speaking Sheets v4, Drive v3 and OAuth.

It serves Google's own paths (``/v4/spreadsheets/...``, ``/drive/v3/files...``, ``/token``) so a
client only swaps the host. Tests drive it through the real gspread and inspect or disturb it
directly: stored values, requests seen, injected faults, revoked access, per-user quotas.
"""

from __future__ import annotations

import collections
import copy
import csv
import io
import json
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import cells as C
from . import proto as P
from . import state as S
from .auth import KeyPair, TokenError
from .discovery import api as discovery_api
from .state import ApiError, bad

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
JSON_TYPE = "application/json; charset=UTF-8"
DEFAULT_EMAIL = "tracker@example.iam.gserviceaccount.com"

QUOTA_MESSAGE = ("Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per "
                 "minute per user' of service 'sheets.googleapis.com' for consumer "
                 "'project_number:{project}'.")

_SID = r"([^/:]+)"
ROUTES: list[tuple[str, re.Pattern, str]] = [
    ("POST", re.compile(r"^/v4/spreadsheets$"), "spreadsheets.create"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}:batchUpdate$"), "spreadsheets.batchUpdate"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}/sheets/(\d+):copyTo$"),
     "spreadsheets.sheets.copyTo"),
    ("GET", re.compile(rf"^/v4/spreadsheets/{_SID}$"), "spreadsheets.get"),
    ("GET", re.compile(rf"^/v4/spreadsheets/{_SID}/values:batchGet$"),
     "spreadsheets.values.batchGet"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}/values:batchUpdate$"),
     "spreadsheets.values.batchUpdate"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}/values:batchClear$"),
     "spreadsheets.values.batchClear"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}/values/(.+):append$"),
     "spreadsheets.values.append"),
    ("POST", re.compile(rf"^/v4/spreadsheets/{_SID}/values/(.+):clear$"),
     "spreadsheets.values.clear"),
    ("GET", re.compile(rf"^/v4/spreadsheets/{_SID}/values/([^:]+|.+(?<!:append)(?<!:clear))$"),
     "spreadsheets.values.get"),
    ("PUT", re.compile(rf"^/v4/spreadsheets/{_SID}/values/(.+)$"), "spreadsheets.values.update"),
    ("GET", re.compile(r"^/drive/v3/files$"), "files.list"),
    ("POST", re.compile(r"^/drive/v3/files$"), "files.create"),
    ("POST", re.compile(r"^/drive/v3/files/([^/]+)/copy$"), "files.copy"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)/export$"), "files.export"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)/comments$"), "comments.list"),
    ("POST", re.compile(r"^/drive/v3/files/([^/]+)/comments$"), "comments.create"),
    ("PUT", re.compile(r"^/upload/drive/v2/files/([^/]+)$"), "v2:files.update"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)$"), "files.get"),
    ("DELETE", re.compile(r"^/drive/v3/files/([^/]+)$"), "files.delete"),
    ("POST", re.compile(r"^/drive/v3/files/([^/]+)/permissions$"), "permissions.create"),
    ("GET", re.compile(r"^/drive/v3/files/([^/]+)/permissions$"), "permissions.list"),
    ("DELETE", re.compile(r"^/drive/v3/files/([^/]+)/permissions/([^/]+)$"), "permissions.delete"),
]
PATH_PARAMS = {"spreadsheetId", "range", "fileId", "permissionId", "sheetId"}
SHEETS_READS = {"spreadsheets.get", "spreadsheets.values.get", "spreadsheets.values.batchGet"}


@dataclass
class Fault:
    kind: str
    times: int
    match: str | None
    retry_after: float | None = None
    delay: float = 0.0
    after: bool = False

    def matches(self, raw_path: str, path: str) -> bool:
        if self.match is None:
            return not path.startswith("/token")
        return self.match in path or self.match in raw_path


class _Reply(Exception):
    """Internal: a finished reply (status, JSON body or None, headers)."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class _Drop(Exception):
    """Internal: close the connection without answering."""


class Emulator:
    """A local Google Sheets v4 + Drive v3 API for tests and offline runs."""

    def __init__(self, writes_per_minute: int | None = None, reads_per_minute: int | None = None,
                 *, strict: bool = False, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.writes_per_minute = writes_per_minute
        self.reads_per_minute = reads_per_minute
        self._limits = (writes_per_minute, reads_per_minute)
        self.strict = strict
        self.clock = clock
        self.keys = KeyPair()
        self.schema_violations: list[str] = []  # strict mode: replies that break the schemas
        self.internal_errors: list[str] = []  # exceptions inside the emulator (always a bug)
        self.connections_opened = 0
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._books: dict[str, S.Spreadsheet] = {}
        self._requests: list[dict] = []
        self._faults: list[Fault] = []
        self._quota: dict[tuple[str, str], collections.deque] = {}
        self._rng = random.Random()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> Emulator:
        """Serve on a free port (or the one given) in a background thread.

        Refuses to start without Google's discovery documents (google-api-python-client):
        every request is checked against them, so without them every answer would be a 500.
        """
        try:
            discovery_api("sheets")
            discovery_api("drive")
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise RuntimeError("the Sheets emulator needs google-api-python-client for "
                               "Google's discovery documents: pip install "
                               f"google-api-python-client ({exc})") from None
        self._stopping.clear()
        self._server = _Server((self._host, self._port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sheets-emulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"

    def reset(self) -> None:
        """Forget every spreadsheet, request, fault, quota count and schema violation."""
        with self._lock:
            self._books.clear()
            self._requests.clear()
            self._faults.clear()
            self._quota.clear()
            self.schema_violations.clear()
            self.internal_errors.clear()
            self.writes_per_minute, self.reads_per_minute = self._limits

    # ---- credentials --------------------------------------------------------------------
    def write_service_account(self, path: str | Path, email: str = DEFAULT_EMAIL) -> Path:
        """Write a service-account JSON whose key this emulator trusts; token_uri points here."""
        return self.keys.write_file(Path(path), email, self.token_uri)

    def issue_token(self, email: str = DEFAULT_EMAIL,
                    scopes: tuple[str, ...] = ("https://www.googleapis.com/auth/spreadsheets",
                                               "https://www.googleapis.com/auth/drive")) -> str:
        """A bearer token for ``email`` without the OAuth exchange (for raw HTTP clients)."""
        with self._lock:
            return self.keys.issue(email, scopes)

    def expire_tokens(self) -> None:
        """Every access token issued so far now gets 401 (clients must refresh)."""
        with self._lock:
            self.keys.expire_all()

    # ---- direct state access -------------------------------------------------------------
    def create_spreadsheet(self, title: str = "Runs", owner: str | None = None) -> str:
        """Create a spreadsheet without HTTP; owner=None lets anyone with a valid token use it."""
        with self._lock:
            sid = self._new_id()
            self._books[sid] = S.Spreadsheet.new(sid, title, owner)
            return sid

    def _book(self, spreadsheet_id: str) -> S.Spreadsheet:
        try:
            return self._books[spreadsheet_id]
        except KeyError:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} in the emulator") from None

    def _sheet(self, spreadsheet_id: str, title: str) -> S.Sheet:
        sheet = self._book(spreadsheet_id).sheet_by_title(title)
        if sheet is None:
            raise KeyError(f"no sheet {title!r} in spreadsheet {spreadsheet_id!r}")
        return sheet

    def spreadsheet_ids(self) -> list[str]:
        with self._lock:
            return list(self._books)

    def titles(self, spreadsheet_id: str) -> list[str]:
        """The sheet titles of a spreadsheet, in tab order."""
        with self._lock:
            return [s.title for s in self._book(spreadsheet_id).sheets]

    def values(self, spreadsheet_id: str, sheet_title: str) -> list[list]:
        """Stored effective values as typed (str/int/float/bool), trailing empties trimmed."""
        with self._lock:
            sheet = self._sheet(spreadsheet_id, sheet_title)
            return sheet.grid(0, max(sheet.rows, 1), 0, max(sheet.cols, 1), C.typed)

    def cells(self, spreadsheet_id: str, sheet_title: str) -> dict[str, dict]:
        """Every non-empty cell by A1 address: ``{"kind", "value", "formula"}``."""
        with self._lock:
            sheet = self._sheet(spreadsheet_id, sheet_title)
            out = {}
            for (r, c), cell in sorted(sheet.cells.items()):
                out[f"{S.col_letters(c)}{r + 1}"] = {
                    "kind": cell.kind, "value": C.typed(cell), "formula": cell.formula}
            return out

    def sheet(self, spreadsheet_id: str, title: str) -> dict:
        """A sheet's properties and everything batchUpdate put on it."""
        with self._lock:
            s = self._sheet(spreadsheet_id, title)
            gp = s.props.get("gridProperties", {})
            return copy.deepcopy({
                "properties": s.props,
                "frozenRowCount": gp.get("frozenRowCount", 0),
                "frozenColumnCount": gp.get("frozenColumnCount", 0),
                "basicFilter": s.basic_filter,
                "validations": s.validations,
                "formats": s.formats,
                "conditionalFormats": s.conditional_formats,
                "charts": s.charts,
                "autoResized": s.auto_resized,
            })

    def delete_sheet(self, spreadsheet_id: str, title: str) -> None:
        """Remove a sheet out of band, as a person would in the browser."""
        with self._lock:
            book = self._book(spreadsheet_id)
            sheet = self._sheet(spreadsheet_id, title)
            if len(book.sheets) == 1:
                raise ValueError("a spreadsheet keeps at least one sheet")
            book.sheets.remove(sheet)
            book.reindex()

    def revoke(self, spreadsheet_id: str, email: str) -> None:
        """That user now gets 403 PERMISSION_DENIED on this spreadsheet."""
        with self._lock:
            self._book(spreadsheet_id).revoked.add(email)

    # ---- requests and faults ------------------------------------------------------------
    @property
    def requests(self) -> list[dict]:
        """One entry per HTTP request: method, path, query, body, status, user."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fault(self, kind: str, times: int = 1, match: str | None = None, **kw: Any) -> None:
        """Make the next ``times`` matching requests fail.

        kind: "500", "503", "429" (``retry_after=`` seconds adds a Retry-After header),
        "slow" (``delay=`` seconds, then a normal reply) or "drop" (close without a reply).
        ``match`` is a substring of the path (all API paths except /token when None);
        ``after=True`` applies the request first, then fails ("500", "503", "drop").
        """
        if kind not in ("500", "503", "429", "slow", "drop"):
            raise ValueError(f"unknown fault kind {kind!r}")
        unknown = set(kw) - {"retry_after", "delay", "after"}
        if unknown:
            raise TypeError(f"unknown fault options: {sorted(unknown)}")
        with self._lock:
            self._faults.append(Fault(kind, times, match, kw.get("retry_after"),
                                      float(kw.get("delay", 1.0)), bool(kw.get("after", False))))

    def clear_faults(self) -> None:
        """Forget faults not yet used up (the storm is over)."""
        with self._lock:
            self._faults.clear()

    def reset_quota(self) -> None:
        """Refill every user's per-minute quota, as if a minute had passed."""
        with self._lock:
            self._quota.clear()

    def _take_fault(self, raw_path: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times > 0 and f.matches(raw_path, path):
                    f.times -= 1
                    return f
            return None

    def _new_id(self) -> str:
        return "1" + secrets.token_urlsafe(33)[:43]

    # ---- quota --------------------------------------------------------------------------
    def _charge(self, user: str, kind: str) -> None:
        limit = self.writes_per_minute if kind == "Write" else self.reads_per_minute
        if limit is None:
            return
        now = self.clock()
        q = self._quota.setdefault((user, kind), collections.deque())
        while q and q[0] <= now - 60:
            q.popleft()
        if len(q) >= limit:
            retry = max(1, int(60 - (now - q[0])) + 1)
            raise ApiError(429, QUOTA_MESSAGE.format(kind=kind, project="1000000000000"),
                           details=[quota_details(kind, limit)],
                           headers={"Retry-After": str(retry)})
        q.append(now)

    # ---- the API ------------------------------------------------------------------------
    def _dispatch(self, method: str, raw_path: str, query: dict[str, list[str]], raw_body: bytes,
                  headers: Any, entry: dict) -> tuple[int, Any, dict]:
        path = unquote(raw_path)
        if raw_path == "/token" and method == "POST":
            return self._token(raw_body, entry)
        name, m = _route(method, raw_path, path)
        api_name = "sheets"
        if name.startswith("v2:"):  # Drive v2's media upload (gspread's import_csv)
            api_name, name = "drive2", name[3:]
        elif name.startswith(("files.", "permissions.", "comments.")):
            api_name = "drive"
        token = self.keys.user_of(headers.get("Authorization"))
        if token is None:
            missing = not headers.get("Authorization")
            raise ApiError(401, (
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
                if missing else
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."))
        entry["user"] = token.user
        disc = discovery_api(api_name)
        # Drive's older front end ignores query parameters it does not know (gspread sends
        # includeItemsFromAllDrives to files.get); the Sheets front end refuses them.
        problems = disc.check_parameters(name, query, PATH_PARAMS,
                                         ignore_unknown=api_name != "sheets")
        if problems:
            raise ApiError(400, problems[0], details=problems[0].details())
        media = api_name == "drive2"
        body = None if media else _json_body(raw_body)
        entry["body"] = body
        schema = None if media else disc.request_schema(name)
        if schema is not None:
            # a ValueRange body is bound to the request's ``data`` field, and named so
            where = "data" if name in ("spreadsheets.values.update",
                                       "spreadsheets.values.append") else ""
            problems = disc.check(body if body is not None else {}, schema, where)
            if problems:
                raise ApiError(400, problems[0], details=problems[0].details())
        args = [unquote(g) for g in m.groups()]
        params = {k: v[-1] for k, v in query.items()}
        params["ranges"] = query.get("ranges", [])
        if api_name == "sheets":
            with self._lock:
                if name != "spreadsheets.create":
                    self._charge(token.user, "Read" if name in SHEETS_READS else "Write")
                status, reply = self._sheets(name, args, params, body or {}, token)
        elif media:
            with self._lock:
                status, reply = self._upload(args[0], raw_body, token)
        else:
            with self._lock:
                status, reply = self._drive(name, args, params, body or {}, token)
        if self.strict and reply is not None and not isinstance(reply, Raw):
            out_schema = disc.response_schema(name)
            problems = disc.check(reply, out_schema) if out_schema else []
            if problems:
                msg = f"emulator reply to {name} breaks the {out_schema} schema: {problems[0]}"
                with self._lock:
                    self.schema_violations.append(msg)
                raise ApiError(500, msg)
        return status, reply, {}

    def _token(self, raw_body: bytes, entry: dict) -> tuple[int, Any, dict]:
        form = {k: v[-1] for k, v in parse_qs(raw_body.decode("utf-8", "replace")).items()}
        entry["body"] = {"grant_type": form.get("grant_type")}
        try:
            with self._lock:
                reply = self.keys.exchange(form, self.token_uri)
                entry["user"] = self.keys.tokens[reply["access_token"]].user
        except TokenError as exc:
            raise _Reply(400, {"error": exc.error, "error_description": exc.description}) from None
        return 200, reply, {}

    # Sheets -------------------------------------------------------------------------------
    def _sheets(self, name: str, args: list[str], params: dict, body: dict,
                token: Any) -> tuple[int, Any]:
        write = name not in SHEETS_READS
        if name == "spreadsheets.create":
            return 200, self._sheets_create(body, token)
        book = self._books.get(args[0])
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        role = book.role_of(token.user)
        if role is None or (write and role in ("reader", "commenter")):
            raise ApiError(403, "The caller does not have permission")
        if write and not token.can_write:
            raise ApiError(403, "Request had insufficient authentication scopes.")
        if name == "spreadsheets.get":
            # a field mask that asks for sheets.data brings grid data, as includeGridData does
            mask = _mask_of(params)
            include = params.get("includeGridData", "false").lower() == "true" or (
                mask is not None and P.mask_selects(mask, "sheets", "data"))
            return 200, P.apply_mask(book.to_json(include_grid=include, ranges=params["ranges"]),
                                     mask)
        render = params.get("valueRenderOption") or "FORMATTED_VALUE"
        dt_render = params.get("dateTimeRenderOption") or "SERIAL_NUMBER"
        major = params.get("majorDimension") or "ROWS"
        if name == "spreadsheets.values.get":
            sheet, rng = book.resolve(args[1])
            return 200, S.value_range(sheet, rng, render, dt_render, major)
        if name == "spreadsheets.values.batchGet":
            out: dict[str, Any] = {"spreadsheetId": book.id}
            if params["ranges"]:
                out["valueRanges"] = [S.value_range(*book.resolve(r), render, dt_render, major)
                                      for r in params["ranges"]]
            return 200, out
        if name == "spreadsheets.sheets.copyTo":
            return 200, self._copy_to(book, int(args[1]), body, token)
        # every write runs on a clone swapped in only on success
        work = book.clone()
        reply = self._sheets_write(name, work, args, params, body, token.user)
        work.modified = S.now_rfc3339()
        self._books[book.id] = work
        return 200, reply

    def _copy_to(self, book: S.Spreadsheet, sheet_id: int, body: dict, token: Any) -> dict:
        """sheets.copyTo: the sheet lands last in the destination as ``Copy of <title>``."""
        source = book.sheet_by_id(sheet_id)
        if source is None:
            raise bad(f"No grid with id: {sheet_id}")
        dest = self._books.get(body.get("destinationSpreadsheetId") or "")
        if dest is None:
            raise ApiError(404, "Requested entity was not found.")
        if dest.role_of(token.user) not in ("owner", "writer"):
            raise ApiError(403, "The caller does not have permission")
        work = dest.clone()
        sheet = S.BatchUpdate(work, self._rng, token.user).copy_sheet(source, None, None)
        work.modified = S.now_rfc3339()
        self._books[dest.id] = work
        return sheet.to_json()["properties"]

    def _sheets_write(self, name: str, book: S.Spreadsheet, args: list[str], params: dict,
                      body: dict, user: str) -> dict:
        if name == "spreadsheets.batchUpdate":
            try:
                replies = S.BatchUpdate(book, self._rng, user).run(body.get("requests") or [])
            except C.CellError as exc:
                raise bad(str(exc)) from None
            out: dict[str, Any] = {"spreadsheetId": book.id, "replies": replies}
            if body.get("includeSpreadsheetInResponse"):
                out["updatedSpreadsheet"] = book.to_json()
            return out
        if name == "spreadsheets.values.clear":
            return S.values_clear(book, args[1])
        if name == "spreadsheets.values.batchClear":
            cleared = []
            for i, text in enumerate(body.get("ranges") or []):
                try:
                    cleared.append(S.values_clear(book, text)["clearedRange"])
                except ApiError as exc:
                    exc.message = f"Invalid range[{i}]: {exc.message}"
                    raise
            return {"spreadsheetId": book.id, "clearedRanges": cleared}
        if name == "spreadsheets.values.batchUpdate":
            option = _input_option(body.get("valueInputOption"))
            responses = [S.values_update(book, vr.get("range") or "", vr, option)
                         for vr in body.get("data") or []]
            # rows are summed over the ranges; columns are counted once per sheet column
            # (two A:D ranges update 4 columns, as Google answers)
            columns = {(r["updatedRange"].rsplit("!", 1)[0], c) for r in responses
                       if "updatedRange" in r for c in S.range_columns(r["updatedRange"])}
            out = {"spreadsheetId": book.id,
                   "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                   "totalUpdatedColumns": len(columns),
                   "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                   "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0]
                                              for r in responses if "updatedRange" in r}),
                   "responses": responses}
            return out
        option = _input_option(params.get("valueInputOption"))
        if name == "spreadsheets.values.update":
            reply = S.values_update(book, args[1], body, option)
            self._echo(book, reply, params)
            return reply
        if name == "spreadsheets.values.append":
            insert = params.get("insertDataOption") or "OVERWRITE"
            reply = S.values_append(book, args[1], body, option, insert)
            self._echo(book, reply["updates"], params)
            return reply
        raise ApiError(404, f"Method not found: {name}")

    def _echo(self, book: S.Spreadsheet, reply: dict, params: dict) -> None:
        if (params.get("includeValuesInResponse") or "").lower() == "true" and "updatedRange" in reply:
            sheet, rng = book.resolve(reply["updatedRange"])
            reply["updatedData"] = S.value_range(
                sheet, rng, params.get("responseValueRenderOption") or "FORMATTED_VALUE",
                params.get("responseDateTimeRenderOption") or "SERIAL_NUMBER", "ROWS")

    def _sheets_create(self, body: dict, token: Any) -> dict:
        title = (body.get("properties") or {}).get("title") or "Untitled spreadsheet"
        sid = self._new_id()
        book = S.Spreadsheet.new(sid, title, token.user)
        sheets = body.get("sheets") or []
        if sheets:
            book.sheets = []
            work = S.BatchUpdate(book, self._rng)
            work.run([{"addSheet": {"properties": s.get("properties") or {}}} for s in sheets])
        self._books[sid] = book
        return book.to_json()

    # Drive --------------------------------------------------------------------------------
    def _visible(self, sid: str, user: str) -> S.Spreadsheet:
        book = self._books.get(sid)
        if book is None or book.role_of(user) is None:
            raise ApiError(404, f"File not found: {sid}.", reason="notFound")
        return book

    def _upload(self, file_id: str, data: bytes, token: Any) -> tuple[int, Any]:
        """Drive v2 media upload with conversion: the CSV replaces the spreadsheet's content,
        keeping only its first sheet (cells parsed as typed in the browser)."""
        book = self._visible(file_id, token.user)
        if book.role_of(token.user) not in ("owner", "writer"):
            raise ApiError(403, "The user does not have sufficient permissions for this file.",
                           reason="insufficientFilePermissions")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(400, "Invalid CSV data.", reason="badContent") from None
        work = book.clone()
        S.import_csv(work, text)
        work.modified = S.now_rfc3339()
        self._books[book.id] = work
        return 200, {"kind": "drive#file", "id": work.id, "title": work.title,
                     "mimeType": SPREADSHEET_MIME, "createdDate": work.created,
                     "modifiedDate": work.modified}

    def _drive(self, name: str, args: list[str], params: dict, body: dict,
               token: Any) -> tuple[int, Any]:
        user = token.user
        if name == "files.create":
            mime = body.get("mimeType")
            if mime != SPREADSHEET_MIME:
                raise ApiError(400, f"The emulator only creates {SPREADSHEET_MIME} files, "
                               f"not {mime!r}.", reason="badRequest")
            if not token.can_write:
                raise ApiError(403, "Insufficient Permission: Request had insufficient "
                               "authentication scopes.", reason="insufficientPermissions")
            sid = self._new_id()
            book = S.Spreadsheet.new(sid, body.get("name") or "Untitled spreadsheet", user)
            book.parents = list(body.get("parents") or [])
            self._books[sid] = book
            return 200, _file_json(book, _mask_of(params))
        if name == "files.list":
            books = [b for b in self._books.values() if b.role_of(user) is not None]
            books = [b for b in books if _matches_q(b, params.get("q"))]
            size = int(params.get("pageSize") or 100)
            start = int(params.get("pageToken") or 0)
            page = books[start:start + size]
            mask = _mask_of(params)
            out: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False,
                                   "files": [_file_json(b, None, full=mask is not None)
                                             for b in page]}
            if start + size < len(books):
                out["nextPageToken"] = str(start + size)
            return 200, P.apply_mask(out, mask)
        book = self._visible(args[0], user)
        role = book.role_of(user)
        if name == "files.get":
            return 200, _file_json(book, _mask_of(params))
        if name == "files.export":
            return 200, _export(book, params.get("mimeType") or "")
        if name == "comments.list":
            if not params.get("fields"):
                raise ApiError(400, "The 'fields' parameter is required for this method.",
                               reason="required", location="fields")
            return 200, P.apply_mask({"kind": "drive#commentList",
                                      "comments": copy.deepcopy(book.comments)},
                                     _mask_of(params))
        if name == "files.copy":
            if not token.can_write:
                raise ApiError(403, "Insufficient Permission: Request had insufficient "
                               "authentication scopes.", reason="insufficientPermissions")
            copied = book.clone()
            copied.id, copied.owner = self._new_id(), user
            copied.title = body.get("name") or f"Copy of {book.title}"
            copied.permissions, copied.revoked, copied.comments = {}, set(), []
            copied.parents = list(body.get("parents") or book.parents)
            copied.created = copied.modified = S.now_rfc3339()
            self._books[copied.id] = copied
            return 200, _file_json(copied, _mask_of(params))
        if name == "comments.create":
            if not params.get("fields"):
                raise ApiError(400, "The 'fields' parameter is required for this method.",
                               reason="required", location="fields")
            if not body.get("content"):
                raise ApiError(400, "A comment needs content.", reason="required",
                               location="content")
            comment = {"kind": "drive#comment", "id": secrets.token_urlsafe(9),
                       "content": body["content"], "createdTime": S.now_rfc3339(),
                       "deleted": False, "resolved": False}
            if body.get("anchor"):
                comment["anchor"] = body["anchor"]
            book.comments.append(comment)
            return 200, P.apply_mask(comment, _mask_of(params))
        if name == "files.delete":
            if role != "owner":
                raise ApiError(403, "The user does not have sufficient permissions for this "
                               "file.", reason="insufficientFilePermissions")
            del self._books[book.id]
            return 204, None
        if name == "permissions.list":
            perms = [{"kind": "drive#permission", "id": _perm_id(book.owner), "type": "user",
                      "role": "owner", "emailAddress": book.owner}] if book.owner else []
            perms += [dict(p) for p in book.permissions.values()]
            return 200, {"kind": "drive#permissionList", "permissions": perms}
        if role not in ("owner", "writer"):
            raise ApiError(403, "The user does not have sufficient permissions for this file.",
                           reason="insufficientFilePermissions")
        if name == "permissions.delete":
            for key, p in list(book.permissions.items()):
                if p["id"] == args[1]:
                    del book.permissions[key]
                    return 204, None
            raise ApiError(404, f"Permission not found: {args[1]}.", reason="notFound")
        # permissions.create
        ptype, prole = body.get("type"), body.get("role")
        if ptype not in ("user", "group", "domain", "anyone"):
            raise ApiError(400, "The permission type field is required and must be one of "
                           "user, group, domain, anyone.", reason="invalid")
        if prole not in ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
            raise ApiError(400, "The permission role field is required.", reason="invalid")
        if ptype in ("user", "group") and not body.get("emailAddress"):
            raise ApiError(400, "The permission emailAddress field is required.",
                           reason="invalid")
        key = {"anyone": "anyone", "domain": f"domain:{body.get('domain')}"}.get(
            ptype, body.get("emailAddress"))
        perm = {"kind": "drive#permission", "id": "anyoneWithLink" if ptype == "anyone"
                else _perm_id(key), "type": ptype, "role": prole}
        if ptype in ("user", "group"):
            perm["emailAddress"] = key
            book.revoked.discard(key)
        book.permissions[key] = perm
        return 200, {k: perm[k] for k in ("kind", "id", "type", "role")}


# ---- helpers -------------------------------------------------------------------------------

def _route(method: str, raw_path: str, path: str) -> tuple[str, re.Match]:
    for verb, pattern, name in ROUTES:
        m = pattern.match(raw_path)
        if m and verb == method:
            return name, m
    raise ApiError(404, f"Method not found: {method} {path}")


def quota_details(kind: str, limit: int) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com", "quota_location": "global",
                         "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                         "quota_limit": f"{kind}RequestsPerMinutePerUser",
                         "quota_limit_value": str(limit),
                         "consumer": "projects/1000000000000"}}


def _perm_id(email: str | None) -> str:
    return str(int.from_bytes((email or "").encode()[:9].ljust(9, b"\0"), "big") % 10**20)


def _input_option(option: str | None) -> str:
    if not option or option == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise bad("'valueInputOption' is required but not specified")
    return option


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError):
        raise bad("Invalid JSON payload received. Unexpected token.") from None


FILE_FIELDS = ("kind", "id", "name", "mimeType")


def _file_json(book: S.Spreadsheet, mask: P.Mask | None, full: bool = False) -> dict:
    """A Drive File: its default fields (kind, id, name, mimeType) unless a mask selects."""
    every = {"kind": "drive#file", "id": book.id, "name": book.title,
             "mimeType": SPREADSHEET_MIME, "createdTime": book.created,
             "modifiedTime": book.modified, "parents": list(book.parents), "trashed": False}
    if mask is None and not full:
        return {k: every[k] for k in FILE_FIELDS}
    return P.apply_mask(every, mask)


@dataclass
class Raw:
    """A reply that is not JSON (an export): its content type and bytes."""

    content_type: str
    data: bytes


EXPORT_SEPARATORS = {"text/csv": ",", "text/tab-separated-values": "\t"}


def _export(book: S.Spreadsheet, mime: str) -> Raw:
    """files.export as CSV or TSV: the first sheet's formatted values, rows joined by CRLF."""
    if mime not in EXPORT_SEPARATORS:
        raise ApiError(400, "The requested conversion is not supported by the emulator.",
                       reason="badRequest", location="convertTo")
    sheet = book.sheets[0]
    rows = sheet.grid(0, max(sheet.rows, 1), 0, max(sheet.cols, 1), C.formatted)
    width = max((len(r) for r in rows), default=0)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=EXPORT_SEPARATORS[mime], lineterminator="\r\n")
    for row in rows:
        writer.writerow(row + [""] * (width - len(row)))
    return Raw(mime, out.getvalue().removesuffix("\r\n").encode("utf-8"))


def _mask_of(params: dict) -> P.Mask | None:
    """The request's ``fields`` mask (None: no mask); 400 when it does not parse."""
    try:
        return P.parse_mask(params.get("fields") or "")
    except P.MaskError:
        raise bad(f"Invalid field selection {params.get('fields')}") from None


_Q_CLAUSE = re.compile(
    r"""\s*(?:(?P<field>mimeType|name|trashed)\s*(?P<op>!=|=|contains)\s*"""
    r"""(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)'|(?P<bare>true|false))"""
    r"""|(?:'(?P<pin>(?:[^'\\]|\\.)*)'|"(?P<pin2>(?:[^"\\]|\\.)*)")\s+in\s+parents"""
    r"""|parents\s+in\s+(?:"(?P<pin3>(?:[^"\\]|\\.)*)"|'(?P<pin4>(?:[^'\\]|\\.)*)'))\s*""")


def _matches_q(book: S.Spreadsheet, q: str | None) -> bool:
    """Drive's ``q`` for the subset gspread sends: mimeType/name comparisons joined by and."""
    if not q:
        return True
    pos, ok = 0, True
    while True:
        m = _Q_CLAUSE.match(q, pos)
        if not m:
            raise ApiError(400, "Invalid Value", reason="invalid")
        if m["field"]:
            raw = m["dq"] if m["dq"] is not None else m["sq"] if m["sq"] is not None else m["bare"]
            value = re.sub(r"\\(.)", r"\1", raw)
            actual = {"mimeType": SPREADSHEET_MIME, "name": book.title,
                      "trashed": "false"}[m["field"]]
            if m["op"] == "=":
                ok &= actual == value
            elif m["op"] == "!=":
                ok &= actual != value
            else:
                ok &= value.lower() in actual.lower()
        else:
            parent = next(g for g in (m["pin"], m["pin2"], m["pin3"], m["pin4"]) if g is not None)
            ok &= parent in book.parents
        pos = m.end()
        if pos >= len(q):
            return ok
        joiner = re.compile(r"and\s+", re.I).match(q, pos)
        if not joiner:
            raise ApiError(400, "Invalid Value", reason="invalid")
        pos = joiner.end()


def error_body(exc: ApiError, drive: bool) -> dict:
    if drive:
        reason = exc.reason or {400: "badRequest", 401: "authError", 403: "forbidden",
                                404: "notFound", 429: "rateLimitExceeded",
                                503: "backendError"}.get(exc.code, "backendError")
        item = {"domain": "usageLimits" if exc.code == 429 else "global", "reason": reason,
                "message": exc.message}
        if exc.location:
            item.update(locationType="parameter", location=exc.location)
        elif reason == "notFound":
            item.update(locationType="parameter", location="fileId")
        if exc.code == 401:
            item.update(locationType="header", location="Authorization")
        return {"error": {"errors": [item], "code": exc.code, "message": exc.message}}
    err: dict[str, Any] = {"code": exc.code, "message": exc.message, "status": exc.status}
    if exc.details:
        err["details"] = exc.details
    return {"error": err}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple, handler: type, emulator: Emulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, handler)

    def close_all(self) -> None:
        with self.conn_lock:
            for sock in list(self.connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (timeout, dropped fault) is not a server error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "ESF"
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)
            self.server.emulator.connections_opened += 1

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = lambda self: self._handle()  # noqa: E731

    def _handle(self) -> None:
        emu = self.server.emulator
        split = urlsplit(self.path)
        raw_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        path = unquote(raw_path)
        entry: dict[str, Any] = {
            "method": self.command, "path": path,
            "query": {k: (v[0] if len(v) == 1 else v) for k, v in query.items()},
            "body": None, "status": None, "user": None}
        with emu._lock:
            emu._requests.append(entry)
        drive = path.startswith(("/drive/", "/upload/drive/"))
        fault = emu._take_fault(raw_path, path)
        headers: dict = {}
        try:
            if fault is not None and not fault.after:
                self._fault_before(fault, emu)
            status, body, headers = emu._dispatch(self.command, raw_path, query, raw_body,
                                                  self.headers, entry)
            if fault is not None and fault.after:
                if fault.kind == "drop":
                    raise _Drop
                if fault.kind in ("500", "503"):
                    raise ApiError(int(fault.kind), _FAULT_MESSAGES[fault.kind])
        except _Drop:
            entry["status"] = None
            self.close_connection = True
            return
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        except ApiError as exc:
            status, body, headers = exc.code, error_body(exc, drive), exc.headers
        except Exception as exc:  # an emulator bug must still answer, and say what happened
            with emu._lock:
                emu.internal_errors.append(f"{self.command} {path}: {exc!r}")
            status, body = 500, error_body(ApiError(500, f"emulator error: {exc!r}"), drive)
        entry["status"] = status
        self._send(status, body, headers)

    def _fault_before(self, fault: Fault, emu: Emulator) -> None:
        if fault.kind == "slow":
            emu._stopping.wait(fault.delay)
            return
        if fault.kind == "drop":
            raise _Drop
        headers = {}
        if fault.kind == "429":
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            kind = "Read" if self.command == "GET" else "Write"
            limit = (emu.reads_per_minute if kind == "Read" else emu.writes_per_minute) or 60
            raise ApiError(429, QUOTA_MESSAGE.format(kind=kind, project="1000000000000"),
                           details=[quota_details(kind, limit)], headers=headers)
        raise ApiError(int(fault.kind), _FAULT_MESSAGES[fault.kind])

    def _send(self, status: int, body: Any, headers: dict) -> None:
        if isinstance(body, Raw):
            data, content_type = body.data, body.content_type
        else:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
            content_type = JSON_TYPE
        try:
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", content_type)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


_FAULT_MESSAGES = {"500": "Internal error encountered.", "503": "The service is currently unavailable."}
