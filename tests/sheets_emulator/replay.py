"""Replay recorded Google answers (gspread's cassettes) against the emulator and compare.

Each cassette is a list of requests a gspread test sent to Google and the answers it got. The
replay sends the same requests to a fresh emulator, translating the recording's ids
(spreadsheet/file, sheet, named range, protected range) into the ones the emulator handed out,
and compares each answer: status, body shape (the key structure, types and list lengths) and
exact values (after translating the emulator's ids back; Drive timestamps are compared by shape
only, since no replay can reproduce a clock).

Answers no emulator can reproduce are counted apart, with the reason: a request naming a file
that existed only in the recording account, a listing that shows such files, and requests on a
spreadsheet after a write that already got another status than Google's.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .server import Emulator

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
STRING_IDS = ("spreadsheetId", "namedRangeId")
NUMBER_IDS = ("sheetId", "protectedRangeId", "chartId")
CLOCK_KEYS = ("createdTime", "modifiedTime")
# The service account the recordings were made with; the replay acts as that account, so
# answers that name the requesting user (a protected range's editors) can match.
RECORDING_ACCOUNT = "telegram-budgeter@telegram-budgeter.iam.gserviceaccount.com"
_FILE_ID = re.compile(r"/(?:spreadsheets|files)/([^/?:]+)")

ENDPOINTS: list[tuple[str, re.Pattern]] = [
    ("POST", re.compile(r"^/v4/spreadsheets/[^/]+:batchUpdate$")),
    ("GET", re.compile(r"^/v4/spreadsheets/[^/]+/values:batchGet$")),
    ("POST", re.compile(r"^/v4/spreadsheets/[^/]+/values:batchUpdate$")),
    ("POST", re.compile(r"^/v4/spreadsheets/[^/]+/values:batchClear$")),
    ("POST", re.compile(r"^/v4/spreadsheets/[^/]+/values/.+:append$")),
    ("POST", re.compile(r"^/v4/spreadsheets/[^/]+/values/.+:clear$")),
    ("GET", re.compile(r"^/v4/spreadsheets/[^/]+/values/.+$")),
    ("PUT", re.compile(r"^/v4/spreadsheets/[^/]+/values/.+$")),
    ("GET", re.compile(r"^/v4/spreadsheets/[^/]+$")),
    ("POST", re.compile(r"^/drive/v3/files/[^/]+/copy$")),
    ("GET", re.compile(r"^/drive/v3/files/[^/]+/export$")),
    ("GET", re.compile(r"^/drive/v3/files/[^/]+/comments$")),
    ("POST", re.compile(r"^/drive/v3/files/[^/]+/permissions$")),
    ("GET", re.compile(r"^/drive/v3/files/[^/]+/permissions$")),
    ("GET", re.compile(r"^/drive/v3/files/[^/]+$")),
    ("DELETE", re.compile(r"^/drive/v3/files/[^/]+$")),
    ("PATCH", re.compile(r"^/upload/drive/v3/files/[^/]+$")),
    ("GET", re.compile(r"^/drive/v3/files$")),
    ("POST", re.compile(r"^/drive/v3/files$")),
]
ENDPOINT_NAMES = [
    "spreadsheets.batchUpdate", "values.batchGet", "values.batchUpdate", "values.batchClear",
    "values.append", "values.clear", "values.get", "values.update", "spreadsheets.get",
    "files.copy", "files.export", "comments.list", "permissions.create", "permissions.list",
    "files.get", "files.delete", "files.update (upload)", "files.list", "files.create",
]


def endpoint_of(method: str, path: str) -> str:
    """The API method a request calls (``values.get``), from its verb and path."""
    for (verb, pattern), name in zip(ENDPOINTS, ENDPOINT_NAMES):
        if verb == method and pattern.match(path):
            return name
    return f"{method} {path}"


def shape(value: Any) -> Any:
    """The key structure of a JSON value: keys, list lengths and scalar types, no values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def first_difference(want: Any, got: Any, where: str = "") -> str | None:
    """Where two JSON values first differ (``a.b[2]: 1 != 2``), or None when equal."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if key not in got:
                return f"{where}.{key}: missing"
            if key not in want:
                return f"{where}.{key}: unexpected"
            diff = first_difference(want[key], got[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got)):
            diff = first_difference(a, b, f"{where}[{i}]")
            if diff:
                return diff
        if len(want) != len(got):
            return f"{where}: {len(want)} items != {len(got)}"
        return None
    if want == got and type(want) is type(got) or (
            isinstance(want, (int, float)) and isinstance(got, (int, float))
            and not isinstance(want, bool) and not isinstance(got, bool) and want == got):
        return None
    return f"{where}: {_short(want)} != {_short(got)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Outcome:
    """One replayed request and how the emulator's answer compared with Google's."""

    cassette: str
    index: int
    endpoint: str
    request: str
    want_status: int
    got_status: int | None = None
    shape_ok: bool = False
    value_ok: bool = False
    apart: str | None = None  # why no emulator could reproduce this answer
    difference: str | None = None

    @property
    def status_ok(self) -> bool:
        return self.want_status == self.got_status


class IdMap:
    """Recorded ids and the emulator's ids for the same objects, learned from the answers."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.numbers: dict[int, int] = {}

    def learn(self, want: Any, got: Any, file_level: bool = False) -> None:
        """Walk both answers side by side and pair the ids found at the same places."""
        if isinstance(want, dict) and isinstance(got, dict):
            drive_file = want.get("kind") in ("drive#file", None) and file_level
            for key, value in want.items():
                other = got.get(key)
                if other is None:
                    continue
                if (key in STRING_IDS or (key == "id" and drive_file)) and \
                        isinstance(value, str) and isinstance(other, str):
                    self.strings.setdefault(value, other)
                elif key in NUMBER_IDS and isinstance(value, int) and isinstance(other, int):
                    self.numbers.setdefault(value, other)
                else:
                    self.learn(value, other, file_level=key == "files")
        elif isinstance(want, list) and isinstance(got, list):
            for a, b in zip(want, got):
                self.learn(a, b, file_level)

    def forward_text(self, text: str) -> str:
        for old, new in sorted(self.strings.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(old, new)
        return text

    def forward(self, value: Any, key: str | None = None) -> Any:
        """A recorded request body with the emulator's ids."""
        if isinstance(value, dict):
            return {k: self.forward(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.forward(v, key) for v in value]
        if key in NUMBER_IDS and isinstance(value, int) and not isinstance(value, bool):
            return self.numbers.get(value, value)
        if isinstance(value, str):
            return self.forward_text(value)
        return value

    def back(self, value: Any, key: str | None = None) -> Any:
        """An emulator answer with the recording's ids, ready to compare."""
        strings = {v: k for k, v in self.strings.items()}
        numbers = {v: k for k, v in self.numbers.items()}
        return _translate(value, key, strings, numbers)


def _translate(value: Any, key: str | None, strings: dict[str, str],
               numbers: dict[int, int]) -> Any:
    if isinstance(value, dict):
        return {k: _translate(v, k, strings, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [_translate(v, key, strings, numbers) for v in value]
    if key in NUMBER_IDS and isinstance(value, int) and not isinstance(value, bool):
        return numbers.get(value, value)
    if isinstance(value, str):
        for new, old in sorted(strings.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(new, old)
    return value


def _clockless(value: Any) -> Any:
    """The value with Drive timestamps blanked (they are compared by shape only)."""
    if isinstance(value, dict):
        return {k: ("<time>" if k in CLOCK_KEYS and isinstance(v, str) else _clockless(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_clockless(v) for v in value]
    return value


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class Replayer:
    """Replays cassettes against one running emulator, resetting it before each cassette."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.http = requests.Session()

    def replay(self, path: Path) -> list[Outcome]:
        """Every interaction of one cassette, compared with the emulator's answers."""
        self.emu.reset()
        token = self.emu.issue_token(RECORDING_ACCOUNT)
        ids = IdMap()
        diverged: set[str] = set()
        outcomes = []
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for i, item in enumerate(data["interactions"]):
            outcome = self._one(Path(path).stem, i, item, ids, diverged, token)
            outcomes.append(outcome)
        return outcomes

    def _one(self, cassette: str, index: int, item: dict, ids: IdMap, diverged: set[str],
             token: str) -> Outcome:
        req, resp = item["request"], item["response"]
        uri = req["uri"]
        host = next((h for h in GOOGLE_HOSTS if uri.startswith(h)), "")
        rel = uri[len(host):]
        path = rel.split("?", 1)[0]
        endpoint = endpoint_of(req["method"], path)
        want_status = resp["status"]["code"]
        want = _parse(resp["body"]["string"] or "")
        out = Outcome(cassette, index, endpoint, f"{req['method']} {rel}", want_status)
        files = set(_FILE_ID.findall(path))
        unknown = [f for f in files if f not in ids.strings]
        if unknown and want_status != 404:
            out.apart = f"names a file of the recording account ({unknown[0]})"
            return out
        if files & diverged:
            out.apart = "an earlier write on this spreadsheet got another status than Google's"
            return out
        if endpoint == "files.list" and isinstance(want, dict):
            listed = [f.get("id") for f in want.get("files", []) if isinstance(f, dict)]
            if any(fid not in ids.strings for fid in listed):
                out.apart = "lists files of the recording account"
                return out
        body = req.get("body")
        if isinstance(body, str) and body:
            parsed = _parse(body)
            body = json.dumps(ids.forward(parsed)) if not isinstance(parsed, str) \
                else ids.forward_text(parsed)
        headers = {"Authorization": f"Bearer {token}"}
        if body:
            headers["Content-Type"] = "application/json"
        answer = self.http.request(req["method"], self.emu.base_url + ids.forward_text(rel),
                                   data=(body or "").encode("utf-8") or None, headers=headers)
        out.got_status = answer.status_code
        got = _parse(answer.text)
        if out.status_ok and isinstance(want, dict) and isinstance(got, dict):
            ids.learn(want, got, file_level=endpoint.startswith("files."))
        if not out.status_ok and req["method"] != "GET":
            diverged.update(files)
        got_back = ids.back(got) if not isinstance(got, str) else got
        out.shape_ok = shape(want) == shape(got_back)
        out.difference = first_difference(_clockless(want), _clockless(got_back))
        out.value_ok = out.status_ok and out.difference is None
        if not out.status_ok:
            out.difference = f"status {want_status} != {answer.status_code}; {out.difference}"
        return out


def replay_all(paths: Iterable[Path], emu: Emulator | None = None) -> list[Outcome]:
    """Replay every cassette (on ``emu``, or on a fresh strict emulator started here)."""
    own = emu is None
    emu = emu or Emulator(strict=True).start()
    try:
        replayer = Replayer(emu)
        return [o for p in sorted(paths) for o in replayer.replay(p)]
    finally:
        if own:
            emu.stop()


@dataclass
class Tally:
    """Counts for one endpoint (or all): requests compared and how many matched."""

    compared: int = 0
    status: int = 0
    shape: int = 0
    value: int = 0
    apart: int = 0
    reasons: collections.Counter = field(default_factory=collections.Counter)

    def add(self, o: Outcome) -> None:
        if o.apart:
            self.apart += 1
            self.reasons[o.apart.split(" (")[0]] += 1
            return
        self.compared += 1
        self.status += o.status_ok
        self.shape += o.shape_ok
        self.value += o.value_ok

    def ratio(self, what: str) -> float:
        return getattr(self, what) / self.compared if self.compared else 1.0


def tally(outcomes: Iterable[Outcome]) -> tuple[Tally, dict[str, Tally]]:
    """Overall and per-endpoint counts."""
    total = Tally()
    per: collections.defaultdict[str, Tally] = collections.defaultdict(Tally)
    for o in outcomes:
        total.add(o)
        per[o.endpoint].add(o)
    return total, dict(sorted(per.items()))


def report(outcomes: list[Outcome], show_failures: bool = True) -> Iterator[str]:
    """The lines ``benchmarks/emulator_fidelity.py`` prints."""
    total, per = tally(outcomes)
    yield f"{'endpoint':28} {'compared':>8} {'status':>14} {'shape':>14} {'values':>14} {'apart':>6}"
    for name, t in list(per.items()) + [("overall", total)]:
        cells = [f"{getattr(t, w):>4} {100 * t.ratio(w):6.1f}%" for w in ("status", "shape",
                                                                           "value")]
        yield f"{name:28} {t.compared:>8} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} {t.apart:>6}"
    yield ""
    yield f"counted apart ({total.apart}):"
    for o in outcomes:
        if o.apart:
            yield f"  {o.cassette}[{o.index}] {o.request[:90]}: {o.apart}"
    if show_failures:
        yield ""
        yield "differences:"
        for o in outcomes:
            if not o.apart and not o.value_ok:
                yield (f"  {o.cassette}[{o.index}] {o.endpoint}"
                       f"{'' if o.shape_ok else ' (shape)'}: {o.difference}")

