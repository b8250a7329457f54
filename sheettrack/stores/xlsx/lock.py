"""Who may write the workbook: sheettrack's own lock beside it, and the owner file Excel or
LibreOffice keeps while a person has it open (writing under it would lose rows when they save).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

LOCK_TIMEOUT_S = 120.0


def lock_path(path: Path) -> Path:
    """The lock file of workbook ``path``."""
    return path.parent / f".{path.name}.lock"


def owner_of(path: Path) -> tuple[Path, str] | None:
    """The owner file Excel or LibreOffice keeps while ``path`` is open, and who it names."""
    folder, name = path.parent, path.name
    excel = folder / f"~${name}"
    if excel.is_file():
        return excel, _excel_owner(excel)
    lo = folder / f".~lock.{name}#"
    if lo.is_file():
        return lo, _libreoffice_owner(lo)
    return None


def _excel_owner(path: Path) -> str:
    """Excel's owner file: a length byte, then the user name (in a 54-byte field). A file of
    another shape names nobody rather than a garbled name."""
    try:
        data = path.read_bytes()
        n = data[0]
        name = data[1:1 + n].decode("latin-1").strip() if n < 54 and 1 + n <= len(data) else ""
        return f"{name} (Excel)" if name.isprintable() and name else "someone in Excel"
    except (OSError, IndexError):
        return "someone in Excel"


def _libreoffice_owner(path: Path) -> str:
    """LibreOffice's lock entry: user name, system user name, host, time, profile URL."""
    try:
        fields = path.read_text(encoding="utf-8", errors="replace").split(",")
        who = fields[0].strip() or (fields[1].strip() if len(fields) > 1 else "")
        host = fields[2].strip() if len(fields) > 2 else ""
        text = who + (f" on {host}" if host else "")
        return f"{text} (LibreOffice)" if text else "someone in LibreOffice"
    except OSError:
        return "someone in LibreOffice"


class WorkbookLock:
    """An exclusive lock on ``.BOOK.xlsx.lock`` beside the workbook.

    The same lock other sheettrack processes take through the filelock package (flock of
    the whole file on POSIX, a lock of its first byte on Windows), taken directly: it costs
    microseconds where importing filelock costs tens of milliseconds. Where the file system
    has no flock, filelock's own fallback is used.
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None
        self._fallback: Any = None

    def acquire(self) -> None:
        """Wait up to ``timeout`` seconds for the lock; TimeoutError when it stays taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        deadline = time.monotonic() + self.timeout
        pause = 0.001
        try:
            while True:
                try:
                    if _try_lock(fd):
                        self._fd = fd
                        return
                except OSError:  # no flock here (some network file systems)
                    os.close(fd)
                    fd = -1
                    from filelock import FileLock, Timeout

                    fallback = FileLock(str(self.path), timeout=self.timeout)
                    try:
                        fallback.acquire()
                    except Timeout:
                        raise TimeoutError(f"{self.path} stayed locked for {self.timeout:.0f} s") from None
                    self._fallback = fallback
                    return
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.path} stayed locked for {self.timeout:.0f} s")
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        except BaseException:
            if fd >= 0 and self._fd is None:
                os.close(fd)
            raise

    def __enter__(self) -> WorkbookLock:
        if self._fd is None and self._fallback is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Release the lock (the lock file stays, so waiters share it)."""
        if self._fallback is not None:
            self._fallback.release()
            self._fallback = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:  # held by another process (EACCES or EDEADLOCK)
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
