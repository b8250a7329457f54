"""The outbox: a durable local journal of rows on their way to a store.

Every checked row is appended here (one line, fsynced) before the store is touched, and
leaves when the store has it. A row the store cannot take now — a workbook open in Excel, no
network, Google's quota, a revoked permission — waits here until ``sheettrack sync`` or the
next log to the same target delivers it. Delivery is exactly-once by run id: rows found in the
store already (a crash between the store write and the outbox update) are not written again.

One file per target, in a user data folder (``SHEETTRACK_OUTBOX_DIR`` overrides it). Each line
is ``CRC32 JSON``: a line cut short by a crash, or damaged, is skipped and reported, and the
rest are kept. Lines are ``layout`` (the schema rows were checked against, once per write),
``put`` (a row), ``fail`` (why a delivery failed) and ``done``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import Column, Schema, infer_type
from .stores.base import LocalFile, Store
from .stores.gsheets.targets import is_google_target

SUFFIX = ".outbox"
LOCK_TIMEOUT_S = 300.0


def outbox_dir() -> Path:
    """Where outbox files live: ``SHEETTRACK_OUTBOX_DIR``, else the user's data folder."""
    env = os.environ.get("SHEETTRACK_OUTBOX_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sheettrack" / "outbox"


# -- values as JSON, exactly --------------------------------------------------------------------

def encode(value: Any) -> Any:
    """A canonical cell value as JSON that ``decode`` turns back into the same value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"$f": repr(value)} if (math.isnan(value) or math.isinf(value)) else value
    if isinstance(value, _dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, _dt.date):
        return {"$d": value.isoformat()}
    return {"$j": value}  # lists and dicts of a json column, kept as they are


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$f" in value:
            return float(value["$f"])
        if "$dt" in value:
            return _dt.datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return _dt.date.fromisoformat(value["$d"])
        if "$j" in value:
            return value["$j"]
    return value


@dataclass
class Entry:
    """One row waiting for its store."""

    run_id: str
    target: str
    queued_at: str
    row: dict[str, Any]
    schema: Schema
    new: list[Column]
    attempts: int = 0
    reason: str | None = None
    line: int = 0
    refused: bool = False  # the store's rules refused it: it was never written


@dataclass
class Contents:
    """What an outbox file holds: the rows still waiting, and lines that could not be read."""

    entries: list[Entry] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    lines: int = 0


def _line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return b"%08x %s\n" % (zlib.crc32(text), text)


class Outbox:
    """The outbox file of one target."""

    def __init__(self, key: str, label: str, folder: Path | None = None) -> None:
        self.key = key
        self.label = label
        folder = folder or outbox_dir()
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(label.rstrip("/")).name or label)[-40:].strip("_") or "target"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.path = folder / f"{slug}-{digest}{SUFFIX}"

    @classmethod
    def for_store(cls, store: Store) -> Outbox:
        """The outbox of a store: keyed by the workbook's real path or the sheet's id and tab."""
        if isinstance(store, LocalFile):
            return cls(f"file:{Path(store.path)}", str(store.path))
        if is_google_target(store.target):
            sid, _, tab = store.key.partition("/")
            return cls(f"gsheet:{sid}/{tab}", f"gsheet://{sid}" + (f"/{tab}" if tab else ""))
        return cls(f"target:{store.key}", store.target)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the outbox's lock: one process at a time queues into or delivers from it.

        The lock file lives in the folder's ``.locks`` subfolder and stays (removing a lock
        file another process waits on would let two hold it), so the folder itself lists only
        the targets with rows waiting."""
        from filelock import FileLock

        locks = self.path.parent / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / self.path.name) + ".lock", timeout=LOCK_TIMEOUT_S):
            yield

    def _append(self, records: list[dict[str, Any]], durable: bool = True) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        new = created or self.path.stat().st_size == 0
        data = b"".join(_line(r) for r in records)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if new:
                data = _line({"op": "target", "key": self.key, "label": self.label}) + data
            else:
                size = os.fstat(fd).st_size
                if size and _last_byte(self.path) != b"\n":
                    data = b"\n" + data  # a line cut short by a crash stays on its own line
            os.write(fd, data)
            if durable:
                (getattr(os, "fdatasync", None) or os.fsync)(fd)
        finally:
            os.close(fd)
        if created and hasattr(os, "O_DIRECTORY"):
            with contextlib.suppress(OSError):
                dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)

    def put(self, rows: list[dict[str, Any]], schema: Schema, new: list[Column],
            contents: Contents | None = None) -> list[str]:
        """Queue rows durably (synced to disk before returning); returns their run ids.
        ``contents``, what the caller read of the outbox under the lock it still holds, gains
        the queued rows, so delivering them needs no second read."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        ids = []
        layout = _layout_record(schema, new)
        records = [layout]  # the rows' schema once, however many rows share it
        for row in rows:
            rid = str(row.get("run_id") or "") or "queued-" + os.urandom(8).hex()
            ids.append(rid)
            records.append({"op": "put", "run_id": rid, "target": self.label, "queued_at": now,
                            "layout": layout["id"], "row": {k: encode(v) for k, v in row.items()}})
        self._append(records)
        if contents is not None:
            if not contents.lines:
                contents.lines += 1  # the target line a new file starts with
            contents.lines += len(records)
            waiting = {e.run_id: e for e in contents.entries}
            shared = list(new)  # one layout object: delivery groups rows by it
            for rid, row in zip(ids, rows):
                waiting[rid] = Entry(rid, self.label, now, row, schema, shared)
            contents.entries = list(waiting.values())
        return ids

    def fail(self, run_ids: list[str], reason: str, refused: bool = False) -> None:
        """Record why a delivery failed (``sheettrack outbox`` shows it); ``refused``: the
        store's rules refused the rows, so they were not written (nothing to look up later)."""
        if run_ids:
            record: dict[str, Any] = {"op": "fail", "run_ids": run_ids, "reason": reason,
                      "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            if refused:
                record["refused"] = True
            self._append([record])

    def done(self, run_ids: list[str], waiting: int | None = None) -> None:
        """The store has these rows: they leave the outbox (the file goes when none wait).
        ``waiting``: how many rows wait before this call, when the caller knows (it read the
        outbox): the file is then not read again to tell."""
        if not run_ids:
            return
        # Not synced: if a crash loses this record, the rows look queued again, and delivery
        # finds them in the store by run id and does not write them twice.
        gone = set(run_ids)
        if waiting is not None:
            empty = waiting <= len(gone)
        else:
            empty = not [e for e in self.read().entries if e.run_id not in gone]
        if empty:  # under the lock: the next row queued starts a new file
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self._append([{"op": "done", "run_ids": run_ids}], durable=False)

    def read(self) -> Contents:
        """Rows still waiting, in the order they were queued; unreadable lines are reported."""
        out = Contents()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return out
        waiting: dict[str, Entry] = {}
        layouts: dict[str, tuple[Schema, list[Column]]] = {}
        lines = data.split(b"\n")
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            out.lines += 1
            record = _parse(raw)
            if record is None:
                cut = n == len(lines) and not data.endswith(b"\n")
                out.lost.append(f"{self.path}: line {n} " + ("was cut short by a crash while queuing"
                                                              if cut else "is damaged or was cut short by a crash")
                                + "; it was skipped, the other rows are kept")
                continue
            op = record.get("op")
            try:
                if op == "layout":
                    layouts[record["id"]] = _parsed_layout(record, f"{self.path}:{n}")
                elif op == "put":
                    row = {k: decode(v) for k, v in record["row"].items()}
                    if record.get("layout") in layouts:
                        schema, new = layouts[record["layout"]]
                    else:  # its layout line was lost: the row is kept, its columns typed by value
                        schema, new = _fallback_layout(row)
                    waiting[record["run_id"]] = Entry(
                        record["run_id"], record.get("target", self.label), record.get("queued_at", ""),
                        row, schema, new, line=n)
                elif op == "fail":
                    for rid in record.get("run_ids", []):
                        if rid in waiting:
                            waiting[rid].attempts += 1
                            waiting[rid].reason = record.get("reason")
                            waiting[rid].refused = bool(record.get("refused"))
                elif op == "done":
                    for rid in record.get("run_ids", []):
                        waiting.pop(rid, None)
            except Exception as exc:  # noqa: BLE001 - a line that parses but makes no sense
                out.lost.append(f"{self.path}: line {n} could not be used ({type(exc).__name__}: {exc}); "
                                "it was skipped")
        out.entries = list(waiting.values())
        return out

    def compact(self, waiting: int | None = None) -> None:
        """Rewrite the file with only the waiting rows (atomically), once it is mostly history.
        ``waiting=0`` (the caller saw the last row leave: the file is empty) spares the read."""
        if waiting == 0:
            return
        contents = self.read()
        if contents.lines < 2 * len(contents.entries) + 64:
            return
        records: list[dict[str, Any]] = [{"op": "target", "key": self.key, "label": self.label}]
        written: set[str] = set()
        for e in contents.entries:
            layout = _layout_record(e.schema, e.new)
            if layout["id"] not in written:
                records.append(layout)
                written.add(layout["id"])
            records.append({"op": "put", "run_id": e.run_id, "target": e.target, "queued_at": e.queued_at,
                            "layout": layout["id"], "row": {k: encode(v) for k, v in e.row.items()}})
            if e.reason:
                records.append({"op": "fail", "run_ids": [e.run_id], "reason": e.reason,
                                **({"refused": True} if e.refused else {})})
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(b"".join(_line(r) for r in records))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _layout_record(schema: Schema, new: list[Column]) -> dict[str, Any]:
    """The schema and new columns some rows were checked against, keyed by their hash."""
    body = {"schema": schema.to_dict(), "new": [c.to_dict() for c in new]}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return {"op": "layout", "id": hashlib.sha256(text.encode()).hexdigest()[:16], **body}


_LAYOUTS: dict[str, tuple[Schema, list[Column]]] = {}  # layout id -> parsed, for this process
_LAYOUTS_MAX = 64


def _parsed_layout(record: dict[str, Any], source: str) -> tuple[Schema, list[Column]]:
    """A layout line's schema and new columns, parsed once per process: the outbox is read
    on every log, and the id is the hash of the layout's text, so one id is one layout."""
    found = _LAYOUTS.get(record["id"])
    if found is None:
        found = (Schema.from_dict(record["schema"], source=source, keep_order=True),
                 Schema.from_dict({"name": "new", "columns": record.get("new") or []},
                                  source=source, keep_order=True).columns)
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.clear()
        _LAYOUTS[record["id"]] = found
    return found


def _fallback_layout(row: dict[str, Any]) -> tuple[Schema, list[Column]]:
    """The default template, and a column typed by its value for every other name."""
    from .templates import load_template

    schema = load_template("default")
    new = [Column(name, infer_type(value, "params"), group="params")
           for name, value in row.items() if schema.column(name) is None]
    return schema, new


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _parse(raw: bytes) -> dict[str, Any] | None:
    head, _, text = raw.partition(b" ")
    try:
        if len(head) != 8 or int(head, 16) != zlib.crc32(text):
            return None
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def all_outboxes(folder: Path | None = None) -> list[Outbox]:
    """Every outbox file in the folder: one per target with rows waiting."""
    folder = folder or outbox_dir()
    out = []
    for file in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        try:
            with open(file, "rb") as fh:
                first = _parse(fh.readline().rstrip(b"\n"))
        except OSError:
            continue
        if first and first.get("op") == "target":
            box = Outbox(first["key"], first["label"], folder)
            box.path = file
            out.append(box)
    return out
