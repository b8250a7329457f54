"""Reference sheets: each environment and each data fingerprint stored once, and patch files.

A run row carries keys (``env_hash``, the fingerprint hashes in ``data``, ``patch_hash``);
what they point at is stored once per target:

- ``Environments``: one row per distinct environment (Python version, platform, every
  installed distribution with its version), keyed by ``env_hash``;
- ``Data``: one row per distinct data fingerprint (name, kind, path, size, rows, content
  hash, first seen), keyed by ``hash``;
- patch files: the uncommitted diff of a dirty work tree, saved as ``patches/HASH.patch`` in
  the target's artifacts folder (``BOOK-artifacts`` beside a workbook by default;
  ``SHEETTRACK_ARTIFACTS`` names another, and is required for Google Sheets).

The rows a run needs are queued beside the run's own row in the outbox and written in the
same store transaction as the row (never before it); each sheet is read once per session to
know which keys it holds, so a sweep of many runs in one environment adds its Environments
row once.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SheetNotFoundError
from .schema import SheettrackWarning
from .stores.base import ReferenceRows, Store

ENV_SHEET = "Environments"
ENV_HEADER = ["env_hash", "python", "platform", "n_packages", "packages", "first_seen", "first_run"]
DATA_SHEET = "Data"
DATA_HEADER = ["hash", "name", "kind", "path", "size", "rows", "files", "first_seen", "first_run"]
HEADERS = {ENV_SHEET: ENV_HEADER, DATA_SHEET: DATA_HEADER}
KEYS = {ENV_SHEET: "env_hash", DATA_SHEET: "hash"}

def now_text() -> str:
    """The current UTC time as ISO 8601 text (reads the same from a workbook and a Google Sheet)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- the artifacts folder and patch files ----------------------------------------------------

def artifacts_dir(store: Store, explicit: str | os.PathLike | None = None) -> Path | None:
    """Where patch files (and other artifacts) of a target live: ``explicit``, else
    ``SHEETTRACK_ARTIFACTS``, else ``BOOK-artifacts`` beside a workbook; None for a Google Sheet
    with neither set."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("SHEETTRACK_ARTIFACTS", "").strip()
    if env:
        return Path(env).expanduser()
    path = getattr(store, "path", None)
    if path is not None:
        return Path(path).parent / f"{Path(path).stem}-artifacts"
    return None


def patch_path(folder: Path, patch_hash: str) -> Path:
    """The file a patch of that hash is saved as."""
    return folder / "patches" / f"{patch_hash}.patch"


def save_patch(folder: Path, patch: bytes) -> str:
    """Save a patch under its hash (once: an existing file of that name holds the same bytes)."""
    from .provenance import patch_hash

    digest = patch_hash(patch)
    file = patch_path(folder, digest)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(patch)
        os.replace(tmp, file)
    return digest


_warned_no_artifacts: set[str] = set()


def capture_patch(store: Store, cwd: str, artifacts: str | os.PathLike | None = None,
                  patch: bytes | None = None) -> str | None:
    """Save the dirty work tree's diff (``patch``, else read now) in the artifacts folder and
    return its hash (None when the tree is clean, there is no repository, or no folder is
    configured, which is warned once)."""
    from .provenance import git_patch

    if patch is None:
        patch = git_patch(cwd)
    if not patch:
        return None
    folder = artifacts_dir(store, artifacts)
    if folder is None:
        if store.target not in _warned_no_artifacts:
            _warned_no_artifacts.add(store.target)
            warnings.warn(f"{store.target}: the work tree has uncommitted changes but no artifacts folder is "
                          "set, so the patch is not saved; set SHEETTRACK_ARTIFACTS to a folder the team "
                          "shares", SheettrackWarning, stacklevel=5)
        return None
    try:
        return save_patch(folder, patch)
    except OSError as exc:
        warnings.warn(f"{folder}: cannot save the patch of the uncommitted changes: {exc.strerror or exc}",
                      SheettrackWarning, stacklevel=5)
        return None


# -- rows of the reference sheets ------------------------------------------------------------

PACKAGES_CHUNK = 30_000
"""Characters of the distribution list per cell; a longer list continues in packages_2, ..."""


def environment_row(env: Any, run_id: str | None) -> dict[str, Any]:
    """The Environments row of an ``environment.Environment``. A distribution list longer than
    a cell holds continues in ``packages_2``, ``packages_3``... (split between lines)."""
    chunks: list[str] = []
    for line in env.packages_text().splitlines():
        if chunks and len(chunks[-1]) + 1 + len(line) <= PACKAGES_CHUNK:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    row = {"env_hash": env.key, "python": env.python, "platform": env.platform,
           "n_packages": len(env.packages), "packages": chunks[0] if chunks else None,
           "first_seen": now_text(), "first_run": run_id}
    for i, chunk in enumerate(chunks[1:], start=2):
        row[f"packages_{i}"] = chunk
    return row


def packages_of(row: dict[str, Any]) -> str:
    """The whole distribution list of an Environments row, continuation cells included."""
    parts = [row.get("packages")]
    i = 2
    while f"packages_{i}" in row:
        parts.append(row.get(f"packages_{i}"))
        i += 1
    return "\n".join(str(p) for p in parts if p not in (None, ""))


def data_row(fp: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    """The Data row of one fingerprint."""
    return {"hash": fp.get("hash"), "name": fp.get("name"), "kind": fp.get("kind"), "path": fp.get("path"),
            "size": fp.get("size"), "rows": fp.get("rows"), "files": fp.get("files"),
            "first_seen": now_text(), "first_run": run_id}


def rows_for(row: dict[str, Any], env: Any, skip: Any = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(sheet, key, reference row) for what one checked run row points at; ``skip(sheet,
    key)`` true leaves a row out before it is built (an environment row lists every
    installed package: a sweep builds it once, not once per run)."""
    out = []
    run_id = row.get("run_id")
    if env is not None and row.get("env_hash") == env.key and not (skip and skip(ENV_SHEET, env.key)):
        out.append((ENV_SHEET, env.key, environment_row(env, run_id)))
    fps = row.get("data")
    if isinstance(fps, str):
        try:
            fps = json.loads(fps)
        except ValueError:
            fps = None
    for fp in fps if isinstance(fps, list) else []:
        if isinstance(fp, dict) and fp.get("hash") and not (skip and skip(DATA_SHEET, str(fp["hash"]))):
            out.append((DATA_SHEET, str(fp["hash"]), data_row(fp, run_id)))
    return out


# -- queued beside the outbox, written on delivery -------------------------------------------

def sidecar(box: Any) -> Path:
    """The file beside an outbox holding the reference rows its runs wait with."""
    return Path(str(box.path) + ".refs")


def queue(session: Any, rows: list[dict[str, Any]], env: Any) -> int:
    """Queue, beside the session's outbox, the reference rows ``rows`` point at (each key once
    per process); the caller holds the outbox lock. Returns how many were queued."""
    lines = []
    for row in rows:
        for sheet, key, ref in rows_for(row, env, lambda sheet, key: (
                key in session.known.get(sheet, ()) or (sheet, key) in session.queued)):
            session.queued.add((sheet, key))
            text = json.dumps({"sheet": sheet, "key": key, "row": ref}, separators=(",", ":"),
                              ensure_ascii=False)
            lines.append(b"%08x %s\n" % (zlib.crc32(text.encode()), text.encode()))
    if lines:
        file = sidecar(session.outbox)
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
    return len(lines)


def known_keys(session: Any, sheet: str) -> set[str]:
    """The keys a reference sheet holds, read once per session (an absent sheet holds none)."""
    if sheet in session.known:
        return session.known[sheet]
    store = session.store
    keys = store.prefetched_keys(sheet, KEYS[sheet]) if store.exists() else set()
    if keys is None:  # only a full read can tell
        keys = set(read_reference(store, sheet))
    session.known[sheet] = set(keys)
    return session.known[sheet]


@dataclass
class Pending:
    """Reference rows queued beside an outbox that the store lacks, ready for a transaction."""

    file: Path
    rows: list[ReferenceRows]
    keys: dict[str, set[str]]  # sheet -> every key queued (written now or held already)

    def add_to(self, tx: Any) -> None:
        for ref in self.rows:
            tx.append_rows(ref.sheet, list(ref.header), list(ref.rows), ref.key)

    def settled(self, session: Any) -> None:
        """They are in the store: the queue is cleared, the keys known."""
        for sheet, keys in self.keys.items():
            session.known[sheet] = session.known.get(sheet, set()) | keys
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()


def pending(session: Any) -> Pending | None:
    """The queued reference rows the store lacks (None when none are queued). Reading which
    keys a sheet holds may raise when the store cannot be read now."""
    file = sidecar(session.outbox)
    if not file.exists():
        return None
    by_sheet: dict[str, dict[str, dict[str, Any]]] = {}
    for raw in file.read_bytes().splitlines():
        crc, _, text = raw.partition(b" ")
        try:
            if int(crc, 16) != zlib.crc32(text):
                continue  # a line cut short by a crash: the next log queues it again
            rec = json.loads(text)
        except ValueError:
            continue
        by_sheet.setdefault(rec["sheet"], {}).setdefault(str(rec["key"]), rec["row"])
    out = Pending(file, [], {})
    for sheet in (ENV_SHEET, DATA_SHEET):
        queued = by_sheet.get(sheet)
        if not queued:
            continue
        have = known_keys(session, sheet)
        rows = [row for key, row in queued.items() if key not in have]
        if rows:
            header = list(dict.fromkeys([*HEADERS[sheet], *(k for row in rows for k in row)]))
            out.rows.append(ReferenceRows(sheet, header, rows, KEYS[sheet]))
        out.keys[sheet] = set(queued)
    return out


def read_reference(store: Store, sheet: str) -> dict[str, dict[str, Any]]:
    """A reference sheet as key -> row (column name -> value); empty when the sheet is absent."""
    try:
        table = store.read(sheet)
    except SheetNotFoundError:
        return {}
    key = KEYS.get(sheet)
    if key is None or key not in table.header:
        return {}
    i = table.header.index(key)
    return {str(r[i]): dict(zip(table.header, r)) for r in table.rows if i < len(r) and r[i] not in ("", None)}
