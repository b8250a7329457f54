"""Turn a run's data (files, folders, DataFrames, arrays) into small content fingerprints.

A fingerprint is a JSON-serialisable dict whose ``hash`` changes whenever the content
changes, so two runs can be checked for having seen the same data.  pandas, numpy and
rich are imported only when an object of theirs is actually fingerprinted, which keeps
``import sheettrack`` light.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

CHUNK_SIZE = 1 << 20
"""Bytes read per step when hashing files (1 MiB keeps memory flat for huge files)."""

PROGRESS_MIN_BYTES = 200 * 1024 * 1024
"""Above this many bytes a folder shows a progress bar by default (when stderr is a terminal)."""

PROGRESS_MIN_FILES = 1000
"""Above this many files a folder shows a progress bar by default (when stderr is a terminal)."""

SKIP_DIRS = frozenset({".git", "__pycache__"})
"""Folder names never descended into when hashing a folder."""

LINE_COUNTED = frozenset({".csv", ".tsv", ".txt", ".jsonl"})
"""File suffixes whose ``rows`` are counted as lines while hashing."""

HEADER_SUFFIXES = frozenset({".csv", ".tsv"})
"""Line-counted suffixes whose first line is a header, not a data row."""

_HASH_HEX = 16


def _short(digest: Any) -> str:
    """Format a hashlib digest as the "sha256:<16 hex>" form stored in fingerprints."""
    return "sha256:" + digest.hexdigest()[:_HASH_HEX]


def fingerprint(
    obj: object, *, name: str | None = None, progress: bool | None = None
) -> dict[str, object]:
    """Return a JSON-serialisable fingerprint of a file, folder, DataFrame, Series or array, so runs record what data they saw."""
    if isinstance(obj, (str, os.PathLike)):
        return _fingerprint_path(obj, name=name, progress=progress)
    if "pandas" in sys.modules:
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            return _fingerprint_dataframe(obj, name=name)
        if isinstance(obj, pd.Series):
            return _fingerprint_series(obj, name=name)
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(obj, np.ndarray):
            return _fingerprint_array(obj, name=name)
    raise TypeError(
        f"data: cannot fingerprint a {type(obj).__name__}; "
        "pass a file or folder path, a pandas DataFrame or a numpy array"
    )


def fingerprint_many(data: object, *, progress: bool | None = None) -> list[dict[str, object]]:
    """Fingerprint one source, a list/tuple of sources, or a dict name -> source (keys become names)."""
    if data is None:
        return []
    if isinstance(data, dict):
        return [fingerprint(src, name=str(key), progress=progress) for key, src in data.items()]
    if isinstance(data, (list, tuple)):
        return [fingerprint(src, progress=progress) for src in data]
    return [fingerprint(data, progress=progress)]


def combined_hash(fps: list[dict[str, object]]) -> str:
    """Return a 12-hex-char id for a set of fingerprints, independent of their order, for one filterable sheet column."""
    pairs = sorted((str(fp.get("name") or ""), str(fp.get("hash") or "")) for fp in fps)
    payload = json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- paths


def _fingerprint_path(
    path_like: str | os.PathLike[Any], *, name: str | None, progress: bool | None
) -> dict[str, object]:
    """Fingerprint a file or folder given by path; a missing path raises FileNotFoundError naming it."""
    raw = os.fsdecode(os.fspath(path_like))
    path = os.path.abspath(os.path.expanduser(raw))
    if os.path.isdir(path):
        return _fingerprint_folder(path, name=name, progress=progress)
    if os.path.isfile(path):
        return _fingerprint_file(path, name=name, progress=progress)
    if os.path.exists(path):
        raise ValueError(f"data: {path!r} is neither a regular file nor a folder")
    raise FileNotFoundError(errno.ENOENT, "data: no such file or folder", path)


def _fingerprint_file(path: str, *, name: str | None, progress: bool | None) -> dict[str, object]:
    """Hash one file's bytes in 1 MiB chunks and count its rows when the format allows it cheaply."""
    size = os.path.getsize(path)
    suffix = os.path.splitext(path)[1].lower()
    count_lines = suffix in LINE_COUNTED
    digest = hashlib.sha256()
    with _ProgressBar(size, 1, progress, os.path.basename(path)) as advance:
        newlines, last = _hash_file_into(digest, path, advance, count_lines)
    rows: int | None = None
    if count_lines:
        lines = newlines + (1 if last not in (b"", b"\n") else 0)
        rows = max(lines - 1, 0) if suffix in HEADER_SUFFIXES else lines
    elif suffix == ".parquet":
        rows = _parquet_rows(path)
    return {
        "kind": "file",
        "name": name if name is not None else os.path.basename(path),
        "path": path,
        "size": size,
        "rows": rows,
        "hash": _short(digest),
    }


def _hash_file_into(
    digest: Any, path: str, advance: Callable[[int], None], count_lines: bool = False
) -> tuple[int, bytes]:
    """Feed a file's bytes into ``digest``; return its newline count (if asked) and its last byte."""
    newlines = 0
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
            if count_lines:
                newlines += chunk.count(b"\n")
            last = chunk[-1:]
            advance(len(chunk))
    return newlines, last


def _parquet_rows(path: str) -> int | None:
    """Read a parquet file's row count from its footer metadata, or None when pyarrow is unavailable."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        return None
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:
        return None


def _walk_files(root: str) -> Iterator[tuple[str, str]]:
    """Yield (relative posix path, absolute path) of every regular file under ``root``, skipping .git and __pycache__."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for filename in filenames:
            full = os.path.join(dirpath, filename)
            if not os.path.isfile(full):
                continue  # broken symlink, socket, fifo...
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            yield rel, full


def _fingerprint_folder(path: str, *, name: str | None, progress: bool | None) -> dict[str, object]:
    """Hash every file's relative path, size and content in sorted path order, so renames and edits both show."""
    entries = sorted((rel, full, os.path.getsize(full)) for rel, full in _walk_files(path))
    total = sum(size for _, _, size in entries)
    digest = hashlib.sha256()
    label = os.path.basename(path.rstrip(os.sep)) or path
    with _ProgressBar(total, len(entries), progress, label) as advance:
        for rel, full, size in entries:
            digest.update(rel.encode("utf-8", "surrogateescape"))
            digest.update(b"\0")
            digest.update(str(size).encode("ascii"))
            digest.update(b"\0")
            _hash_file_into(digest, full, advance)
    return {
        "kind": "folder",
        "name": name if name is not None else label,
        "path": path,
        "size": total,
        "rows": None,
        "files": len(entries),
        "hash": _short(digest),
    }


class _ProgressBar:
    """Context manager yielding an ``advance(nbytes)`` callback backed by a transient rich bar on stderr, or a no-op."""

    def __init__(self, total: int, files: int, progress: bool | None, label: str) -> None:
        if progress is None:
            big = total > PROGRESS_MIN_BYTES or files > PROGRESS_MIN_FILES
            progress = big and _stderr_is_tty()
        self._enabled = progress
        self._total = total
        self._label = label
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self._enabled:
            return _no_advance
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("hashing {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task(self._label, total=self._total)
        bar = self._bar

        def advance(nbytes: int) -> None:
            bar.update(task, advance=nbytes)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _no_advance(nbytes: int) -> None:
    """Ignore progress updates when no bar is shown."""


def _stderr_is_tty() -> bool:
    """Tell whether stderr is an interactive terminal, treating odd or closed streams as not."""
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except Exception:
        return False


# --------------------------------------------------------------------------- in-memory data


def _json_label(value: object) -> object:
    """Return a column label as a plain JSON value (numpy scalars unwrapped, tuples and others as str)."""
    if value is None:
        return None
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    item = getattr(value, "item", None)  # numpy scalars such as np.int64 or np.bool_
    if callable(item):
        try:
            unwrapped = item()
        except Exception:
            unwrapped = None
        if isinstance(unwrapped, (bool, int, float, str)):
            return unwrapped
    return str(value)


def _pandas_row_hashes(obj: Any) -> Any:
    """Return per-row uint64 hashes of a DataFrame/Series, stringifying unhashable cells (lists, dicts) if needed."""
    from pandas.util import hash_pandas_object

    try:
        return hash_pandas_object(obj, index=True).to_numpy()
    except TypeError:
        if hasattr(obj, "columns"):
            fallback = obj.copy()
            for col_pos in range(fallback.shape[1]):
                column = fallback.iloc[:, col_pos]
                if column.dtype == object:
                    fallback.isetitem(col_pos, column.map(repr))
        else:
            fallback = obj.map(repr)
        return hash_pandas_object(fallback, index=True).to_numpy()


def _fingerprint_dataframe(df: Any, *, name: str | None) -> dict[str, object]:
    """Hash a DataFrame's rows, index, column names and dtypes, stable across processes for equal data."""
    digest = hashlib.sha256()
    header = [
        [_json_label(col), str(dtype)] for col, dtype in zip(df.columns, df.dtypes, strict=True)
    ]
    digest.update(json.dumps(header).encode("utf-8"))
    digest.update(b"\0")
    digest.update(_pandas_row_hashes(df).tobytes())
    return {
        "kind": "dataframe",
        "name": name,
        "path": None,
        "size": int(df.memory_usage(deep=True).sum()),
        "rows": len(df),
        "columns": [_json_label(col) for col in df.columns],
        "hash": _short(digest),
    }


def _fingerprint_series(series: Any, *, name: str | None) -> dict[str, object]:
    """Hash a Series' values, index, name and dtype, stable across processes for equal data."""
    digest = hashlib.sha256()
    digest.update(json.dumps([_json_label(series.name), str(series.dtype)]).encode("utf-8"))
    digest.update(b"\0")
    digest.update(_pandas_row_hashes(series).tobytes())
    return {
        "kind": "series",
        "name": name,
        "path": None,
        "size": int(series.memory_usage(deep=True)),
        "rows": len(series),
        "hash": _short(digest),
    }


def _fingerprint_array(arr: Any, *, name: str | None) -> dict[str, object]:
    """Hash a numpy array's dtype, shape and C-order bytes (object arrays by the repr of each item)."""
    import numpy as np

    digest = hashlib.sha256()
    digest.update(arr.dtype.str.encode("ascii"))
    digest.update(repr(tuple(arr.shape)).encode("ascii"))
    if arr.dtype.hasobject:
        # Object arrays hold pointers; their bytes differ between processes, their items' reprs don't.
        for item in arr.ravel(order="C"):
            digest.update(repr(item).encode("utf-8", "surrogateescape"))
            digest.update(b"\0")
    else:
        flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
        for start in range(0, flat.size, CHUNK_SIZE):
            digest.update(flat[start : start + CHUNK_SIZE].data)
    return {
        "kind": "array",
        "name": name,
        "path": None,
        "size": int(arr.nbytes),
        "rows": int(arr.shape[0]) if arr.ndim else None,
        "hash": _short(digest),
    }


__all__ = ["fingerprint", "fingerprint_many", "combined_hash"]
