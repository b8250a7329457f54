"""How a write reaches the workbook file: an atomic replace, or the opt-in in-place write.

An append changes only the end of the file (the Runs worksheet is the last big member of
the archive). By default (``copy_prefix``) a new file beside the workbook gets the old
file's unchanged start, copied by the operating system without passing through this
process (a reflink clone where the file system shares extents, so only the end is new on
disk; else ``copy_file_range``; else through one small buffer), then the new end; the caller
fsyncs it and swaps it in with an atomic rename, so no reader ever sees a torn workbook.

With ``SHEETTRACK_WRITE=inplace`` the end is overwritten in place instead
(``write_in_place``). Before the first byte of the workbook changes, the bytes about to be
overwritten and the file's old length go to a journal beside it (``.BOOK.xlsx.journal``),
fsynced; after the workbook is fsynced the journal is emptied. The journal file stays
(empty) between appends, like the lock file: emptying it needs no fsync and no change to
the folder, so an append costs two fsyncs. Whoever next takes the workbook's lock finds a
non-empty journal and either rolls the workbook back to those bytes or, when the workbook
already holds the whole new version, just empties the journal (it records a checksum of
what was being written, so a journal that outlived its commit is recognised). A journal
that fails its own checksum was never complete, so the workbook was never touched and the
journal is emptied. So a workbook with no journal beside it (``pending``) is a complete
version, and readers take the lock only when there is one (or, in a folder they cannot
write, apply it in memory: ``snapshot``).

The numbered steps of a write call ``step_hook`` (when set), so tests can crash a process
at each of them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import StoreError

MAGIC = b"sheettrack-journal-1\n"
_HEAD = struct.Struct("<QQQII")  # old length, new length, guard offset, guard CRC, regions
GUARD_BYTES = 4096  # the bytes just before the overwritten end, which the append keeps
_REGION = struct.Struct("<QIII")  # offset, length of old bytes, length and CRC-32 of new bytes

#: Called with the number of each write step (tests crash or raise here); None in use.
step_hook: Callable[[int], None] | None = None

# the steps of ``write_in_place``, in order
STEP_JOURNAL_HALF = 1       # half of the journal written
STEP_JOURNAL_WRITTEN = 2    # journal written, not yet synced
STEP_JOURNAL_SYNCED = 3     # journal durable; the workbook is untouched so far
STEP_WORKBOOK_HALF = 4      # half of the new bytes written over the workbook's end
STEP_WORKBOOK_WRITTEN = 5   # new bytes written, not yet synced
STEP_WORKBOOK_SYNCED = 6    # the new version is durable; the journal still holds the old
STEP_DONE = 7               # journal emptied
# the steps of the copy path (``replace_file``, ``copy_prefix``)
STEP_COPY_START = 10        # the workbook's unchanged start copied, its new end not yet written
STEP_COPY_WRITTEN = 11      # temporary copy written, not yet synced
STEP_COPY_SYNCED = 12       # temporary copy synced, not yet swapped in
STEP_COPY_REPLACED = 13     # copy swapped in, folder not yet synced
IN_PLACE_STEPS = (1, 2, 3, 4, 5, 6, 7)
COPY_STEPS = (10, 11, 12, 13)


def step(n: int) -> None:
    """Mark write step ``n`` (a no-op unless a test set ``step_hook``)."""
    if step_hook is not None:
        step_hook(n)


def write_mode() -> str:
    """How appends reach the file: "replace" (the default: a new copy beside it, whose
    unchanged start the operating system copies (a reflink clone where the file system
    shares extents), then the new end, fsync, and an atomic swap, so no reader ever sees a
    workbook mid-write, whatever kills the writer) or "inplace" (``SHEETTRACK_WRITE=inplace``:
    overwrite only the workbook's end behind a rollback journal; a cost that does not grow
    with the workbook on any file system, but a program that ignores sheettrack's lock and
    journal can find the file damaged while the end is rewritten, or after a writer is
    killed in that write, until sheettrack next opens it)."""
    mode = os.environ.get("SHEETTRACK_WRITE", "").strip().lower()
    return "inplace" if mode in ("inplace", "in-place") else "replace"


def journal_path(path: Path) -> Path:
    """The rollback journal of workbook ``path``."""
    return path.parent / f".{path.name}.journal"


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a new or removed file) durable, where the OS allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- the journal ---------------------------------------------------------------------------

class Journal:
    """What a journal holds: the old length, the new length, and per overwritten region
    its old bytes and the length and CRC-32 of the bytes written there."""

    def __init__(self, old_len: int, new_len: int, regions: list[tuple[int, bytes, int, int]],
                 guard: tuple[int, int] = (0, 0)) -> None:
        self.old_len = old_len
        self.new_len = new_len
        self.regions = regions  # (offset, old bytes, new length, new crc)
        self.guard = guard  # (offset, CRC-32 of the GUARD_BYTES before it): whose journal it is

    def encode(self) -> bytes:
        parts = [MAGIC, _HEAD.pack(self.old_len, self.new_len, self.guard[0], self.guard[1],
                                   len(self.regions))]
        for offset, old, new_len, new_crc in self.regions:
            parts.append(_REGION.pack(offset, len(old), new_len, new_crc))
            parts.append(old)
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def decode(cls, data: bytes) -> Journal | None:
        """The journal, or None when it is incomplete or damaged."""
        if len(data) < len(MAGIC) + _HEAD.size + 4 or not data.startswith(MAGIC):
            return None
        body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
        if zlib.crc32(body) != crc:
            return None
        pos = len(MAGIC)
        old_len, new_len, guard_at, guard_crc, count = _HEAD.unpack_from(body, pos)
        pos += _HEAD.size
        regions = []
        for _ in range(count):
            if pos + _REGION.size > len(body):
                return None
            offset, n_old, n_new, new_crc = _REGION.unpack_from(body, pos)
            pos += _REGION.size
            regions.append((offset, body[pos:pos + n_old], n_new, new_crc))
            pos += n_old
        return cls(old_len, new_len, regions, (guard_at, guard_crc)) if pos == len(body) else None

    def belongs_to(self, read_at: Callable[[int, int], bytes]) -> bool:
        """Whether the file is the one this journal was written for: the bytes before the
        overwritten end, which neither version changes, are still there (a workbook copied
        over the crashed one must not be "rolled back" with another file's bytes)."""
        at, crc = self.guard
        return zlib.crc32(read_at(max(0, at - GUARD_BYTES), min(at, GUARD_BYTES))) == crc

    def committed(self, read_at: Callable[[int, int], bytes], size: int) -> bool:
        """Whether the file already holds the whole new version."""
        if size != self.new_len:
            return False
        return all(zlib.crc32(read_at(offset, n_new)) == crc
                   for offset, _, n_new, crc in self.regions)

    def restore(self, data: bytes) -> bytes:
        """The old file from (a copy of) the current one, in memory."""
        buf = bytearray(data[:self.old_len])
        if len(buf) < self.old_len:
            buf.extend(b"\0" * (self.old_len - len(buf)))
        for offset, old, _, _ in self.regions:
            buf[offset:offset + len(old)] = old
        return bytes(buf)


def _read_journal(path: Path) -> bytes | None:
    try:
        return journal_path(path).read_bytes() or None
    except (FileNotFoundError, IsADirectoryError):
        return None


def pending(path: Path) -> bool:
    """Whether an in-place write left a journal (or one is under way): a reader must then
    take the lock (which recovers) or apply the journal in memory. Without one, the file is
    a complete version: every other write swaps a finished copy in atomically."""
    try:
        return journal_path(path).stat().st_size > 0
    except (FileNotFoundError, NotADirectoryError):
        return False


def _empty(jpath: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.truncate(jpath, 0)


def recover(path: Path, label: str) -> str | None:
    """Finish or undo an in-place write a crashed process left behind. Call it holding the
    workbook's lock. Returns what was done ("rolled back", "kept", "dropped") or None."""
    stale = path.parent / f".{path.name}.tmp"  # a copy a crashed writer never swapped in
    if stale.exists():
        with contextlib.suppress(OSError):
            stale.unlink()
    raw = _read_journal(path)
    if raw is None:
        return None
    jpath = journal_path(path)
    journal = Journal.decode(raw)
    if journal is None:  # never completed, so the workbook was never touched
        _empty(jpath)
        return "dropped"
    try:
        with open(path, "r+b") as fh:
            def read_at(offset: int, n: int) -> bytes:
                fh.seek(offset)
                return fh.read(n)

            size = os.fstat(fh.fileno()).st_size
            if not journal.belongs_to(read_at):
                done = "dropped"
            elif journal.committed(read_at, size):
                done = "kept"
            else:
                for offset, old, _, _ in journal.regions:
                    fh.seek(offset)
                    fh.write(old)
                fh.truncate(journal.old_len)
                fh.flush()
                os.fsync(fh.fileno())
                done = "rolled back"
    except FileNotFoundError:
        _empty(jpath)
        return "dropped"
    except OSError as exc:
        raise StoreError(f"{label}: an interrupted append left a journal ({jpath.name}) that "
                         f"cannot be rolled back: {exc.strerror or exc}", label) from None
    _empty(jpath)
    return done


def snapshot(path: Path) -> bytes:
    """The workbook's bytes as the last complete append left them, without writing
    anything: a leftover journal is applied in memory (for readers that cannot lock)."""
    data = path.read_bytes()
    raw = _read_journal(path)
    journal = Journal.decode(raw) if raw is not None else None
    def read_at(offset: int, n: int) -> bytes:
        return data[offset:offset + n]

    if journal is None or not journal.belongs_to(read_at) or journal.committed(read_at, len(data)):
        return data
    return journal.restore(data)


def write_in_place(path: Path, fh: Any, offset: int, data: bytes) -> bool:
    """Overwrite the workbook open as ``fh`` from ``offset`` to its end with ``data``,
    crash-safely: journal first (fsynced), then the workbook (fsynced), then empty the
    journal. Returns False, the workbook untouched, when the journal cannot be written
    (the caller then copies instead); on an error after that, puts the old bytes back
    and raises."""
    fd = fh.fileno()
    old_len = os.fstat(fd).st_size
    fh.seek(max(0, offset - GUARD_BYTES))
    guard = fh.read(min(offset, GUARD_BYTES))
    old = fh.read(max(0, old_len - offset))
    journal = Journal(old_len, offset + len(data), [(offset, old, len(data), zlib.crc32(data))],
                      (offset, zlib.crc32(guard)))
    blob = journal.encode()
    jpath = journal_path(path)
    flags = os.O_RDWR | getattr(os, "O_BINARY", 0)
    try:
        try:
            jfd = os.open(jpath, flags)
            created = False
        except FileNotFoundError:
            jfd = os.open(jpath, flags | os.O_CREAT, os.fstat(fd).st_mode & 0o666)
            created = True
    except OSError:
        return False
    try:
        try:
            half = len(blob) // 2
            _write_all(jfd, blob[:half])
            step(STEP_JOURNAL_HALF)
            _write_all(jfd, blob[half:])
            os.ftruncate(jfd, len(blob))
            step(STEP_JOURNAL_WRITTEN)
            os.fsync(jfd)
            if created:  # the journal's own entry in the folder must be durable too
                fsync_dir(path.parent)
            step(STEP_JOURNAL_SYNCED)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(jfd, 0)
            return False
        try:
            fh.flush()
            if step_hook is None:  # one write call: the shortest window a kill could tear
                write_at(fd, offset, data)
            else:
                half = len(data) // 2
                write_at(fd, offset, data[:half])
                step(STEP_WORKBOOK_HALF)
                write_at(fd, offset + half, data[half:])
            if offset + len(data) < old_len:
                fh.truncate(offset + len(data))
            step(STEP_WORKBOOK_WRITTEN)
            os.fsync(fd)
            step(STEP_WORKBOOK_SYNCED)
        except BaseException:
            # the process lives on: put the old bytes back now rather than at the next open
            with contextlib.suppress(OSError):
                write_at(fd, offset, old)
                os.ftruncate(fd, old_len)
                os.fsync(fd)
                os.ftruncate(jfd, 0)
            raise
        os.ftruncate(jfd, 0)  # the commit needs no fsync: a journal that outlives it is "kept"
    finally:
        os.close(jfd)
    step(STEP_DONE)
    return True


FICLONE = 0x40049409  # Linux ioctl: share a file's extents with another (btrfs, XFS, ...)
COPY_CHUNK = 1 << 18


def copy_prefix(src: Any, out: Any, offset: int, data: bytes) -> str:
    """Make ``out`` (an empty file) the first ``offset`` bytes of ``src`` followed by
    ``data``, without holding those bytes in this process: a reflink clone where the
    file system shares extents (then only the changed end is new on disk), else the
    kernel's own copy (``copy_file_range``), else through one small buffer. Returns which one."""
    src.flush()
    out.flush()
    sfd, ofd = src.fileno(), out.fileno()
    how = clone(sfd, ofd) or _kernel_copy(sfd, ofd, offset) or _chunk_copy(sfd, ofd, offset)
    step(STEP_COPY_START)
    write_at(ofd, offset, data)
    os.ftruncate(ofd, offset + len(data))
    out.seek(offset + len(data))
    return how


def clone(sfd: int, ofd: int) -> str:
    """Make ``ofd`` share ``sfd``'s extents (a reflink); "" where the file system cannot."""
    if not sys.platform.startswith("linux") or os.environ.get("SHEETTRACK_NO_REFLINK"):
        return ""
    try:
        import fcntl

        fcntl.ioctl(ofd, FICLONE, sfd)
        return "reflink"
    except OSError:  # not this file system (ext4, tmpfs) or across devices
        return ""


# copy_file_range errors that mean "not here" (another file system, an old kernel, a
# sandbox), after which the bytes are copied by hand; any other error (a full disk) is real
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM,
                   errno.EBADF, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _kernel_copy(sfd: int, ofd: int, n: int) -> str:
    if not hasattr(os, "copy_file_range"):
        return ""
    done = 0
    try:
        while done < n:
            got = os.copy_file_range(sfd, ofd, n - done, done, done)
            if got == 0:  # some file systems answer 0 where they cannot: finish by hand
                break
            done += got
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
    if done < n:
        _chunk_copy(sfd, ofd, n, done)
        return "copy_file_range" if done else "read/write"
    return "copy_file_range"


def _chunk_copy(sfd: int, ofd: int, n: int, done: int = 0) -> str:
    """Copy through one reusable buffer, so the memory used does not depend on the file."""
    buf = bytearray(COPY_CHUNK)
    view = memoryview(buf)
    with open(sfd, "rb", buffering=0, closefd=False) as src:
        while done < n:
            src.seek(done)
            got = src.readinto(view[:min(COPY_CHUNK, n - done)])
            if not got:
                raise StoreError("the workbook ended before its zip directory; it changed while "
                                 "being copied")
            write_at(ofd, done, view[:got])
            done += got
    return "read/write"


def write_at(fd: int, offset: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` at ``offset`` (one pwrite where the OS has it)."""
    view = memoryview(data)
    if hasattr(os, "pwrite"):
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
        return
    os.lseek(fd, offset, os.SEEK_SET)
    _write_all(fd, data)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def replace_file(path: Path, write: Callable[[Any], Any], source: Any = None) -> None:
    """Write a temp file in the workbook's folder with ``write(fh)``, fsync it, and swap it in
    for ``path`` atomically (keeping the workbook's mode). ``source``, the open workbook the
    copy was read from, is closed before the swap (Windows refuses to replace an open file).
    Hold the workbook's lock: the temp file has one name."""
    folder = path.parent
    tmp = str(folder / f".{path.name}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "w+b") as fh:
            write(fh)
            fh.flush()
            step(STEP_COPY_WRITTEN)
            os.fsync(fh.fileno())
        keep_identity(tmp, path)
        step(STEP_COPY_SYNCED)
        if source is not None:
            source.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    step(STEP_COPY_REPLACED)
    fsync_dir(folder)


def keep_identity(tmp: str, path: Path) -> None:
    """Give the new copy ``tmp`` the workbook's owner, group and mode, so a write by another
    account (root in a training container, say) leaves the file as its owner had it. Where
    this process may not give the file away (not root), the group is kept when the process
    belongs to it, and the mode always; a new workbook gets mode 0644."""
    try:
        st = path.stat()
    except OSError:
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o644)
        return
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            with contextlib.suppress(OSError):
                os.chown(tmp, -1, st.st_gid)
    with contextlib.suppress(OSError):  # after chown, which clears the set-id bits
        os.chmod(tmp, st.st_mode & 0o7777)


def common_prefix(fh: Any, data: bytes, chunk: int = 1 << 20) -> int:
    """How many leading bytes of the open file ``fh`` equal those of ``data``."""
    fh.seek(0)
    pos = 0
    while pos < len(data):
        old = fh.read(chunk)
        if not old:
            break
        new = data[pos:pos + len(old)]
        if old != new:
            n = 0
            while n < min(len(old), len(new)) and old[n] == new[n]:
                n += 1
            return pos + n
        pos += len(old)
    return min(pos, len(data))
