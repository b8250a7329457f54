"""The .xlsx package as a zip, read lazily and written with some members replaced.

An .xlsx file is a zip of XML parts. Appending a row changes the worksheet part and a few
small parts (the table, styles, shared strings when needed); every other part is copied as
the exact compressed bytes it had, so charts, images and sheets people added in Excel are
kept byte for byte, and nothing is parsed that does not have to be. ``write_member`` is the
one writer of a zip member.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import CorruptWorkbookError

_EOCD = b"PK\x05\x06"
_CDH = b"PK\x01\x02"
_LFH = b"PK\x03\x04"
_DD = b"PK\x07\x08"


@dataclass
class Entry:
    """One member of the zip: where its local record starts and its central record."""

    name: str
    offset: int
    central: bytes
    method: int
    flags: int
    crc: int
    csize: int
    usize: int
    end: int = 0  # end of the member's raw bytes (next member's offset or the central dir)


class Package:
    """A read-only view of an .xlsx zip that can write a copy with some parts replaced.

    Built from bytes (``Package(data)``, ``Package.open(path)``) or from an open file
    (``Package.from_file``), which reads only the zip directory up front and each member
    when it is asked for, so an append touches a few kilobytes of a large workbook.
    """

    def __init__(self, data: bytes | None, label: str = "workbook", version: tuple = (),
                 fh: Any = None, size: int | None = None) -> None:
        self._data = data
        self._fh = fh
        self.size = len(data) if data is not None else int(size or 0)
        self.label = label
        self.version = version  # identifies the file these bytes came from
        self.keep_last: list[str] = []  # parts ``write`` keeps at the end unless told otherwise
        self.entries: list[Entry] = []
        self._parse()
        self.by_name = {e.name: e for e in self.entries}

    @classmethod
    def open(cls, path: str) -> Package:
        """Read the workbook file at ``path`` whole."""
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            return cls(fh.read(), path, (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))

    @classmethod
    def from_file(cls, fh: Any, label: str = "workbook") -> Package:
        """A package read lazily from the open binary file ``fh`` (kept open by the caller)."""
        st = os.fstat(fh.fileno())
        pkg = cls(None, label, (), fh=fh, size=st.st_size)
        pkg.version = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, pkg.directory_crc)
        return pkg

    @property
    def source(self) -> Any:
        """The open file a lazy package reads from (None when it holds its bytes)."""
        return self._fh

    @property
    def data(self) -> bytes:
        """The whole file (read on first use when the package is lazy)."""
        if self._data is None:
            self._data = self.read_at(0, self.size)
        return self._data

    def read_at(self, offset: int, n: int) -> bytes:
        """``n`` bytes at ``offset`` (fewer at the end of the file)."""
        if self._data is not None:
            return self._data[offset:offset + n]
        self._fh.seek(offset)
        return self._fh.read(n)

    def _bad(self, why: str) -> CorruptWorkbookError:
        return CorruptWorkbookError(f"{self.label}: not a readable .xlsx workbook ({why})", self.label)

    def _parse(self) -> None:
        start = max(0, self.size - 65_558)
        end_area = self.read_at(start, self.size - start)
        rel = end_area.rfind(_EOCD)
        if rel < 0 or len(end_area) < rel + 22:
            raise self._bad("no zip directory; the file may be truncated or not a workbook")
        pos = start + rel
        _, _, _, total, cd_size, cd_offset, comment_len = struct.unpack("<HHHHIIH", end_area[rel + 4:rel + 22])
        if cd_offset == 0xFFFFFFFF or total == 0xFFFF:
            raise self._bad("zip64 archives are not supported")
        self.cd_offset = cd_offset
        self.eocd_offset = pos
        self.comment = end_area[rel + 22:rel + 22 + comment_len]
        if cd_offset > pos:
            raise self._bad("damaged zip directory")
        cd = end_area[cd_offset - start:rel] if cd_offset >= start else self.read_at(cd_offset, pos - cd_offset)
        self.directory_crc = zlib.crc32(end_area[rel:], zlib.crc32(cd))
        p = 0
        for _ in range(total):
            if cd[p:p + 4] != _CDH:
                raise self._bad("damaged zip directory")
            flags, method, crc, csize, usize, nlen, xlen, clen, offset = _central_fields(cd, p)
            rec_end = p + 46 + nlen + xlen + clen
            raw_name = cd[p + 46:p + 46 + nlen]
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
            self.entries.append(Entry(name, offset, cd[p:rec_end], method, flags, crc, csize, usize))
            p = rec_end
        ordered = sorted(self.entries, key=lambda e: e.offset)
        for a, b in zip(ordered, ordered[1:] + [None]):
            a.end = b.offset if b is not None else cd_offset

    def has(self, name: str) -> bool:
        """Whether the package holds a part called ``name``."""
        return name in self.by_name

    def data_start(self, e: Entry) -> int:
        """Where the compressed bytes of member ``e`` start (after its local header)."""
        lfh = self.read_at(e.offset, 30)
        if lfh[:4] != _LFH or len(lfh) < 30:
            raise self._bad(f"damaged entry {e.name}")
        nlen, xlen = struct.unpack("<HH", lfh[26:30])
        return e.offset + 30 + nlen + xlen

    def local_flags(self, e: Entry) -> int:
        """The general-purpose flags of member ``e``'s local header."""
        lfh = self.read_at(e.offset, 8)
        return struct.unpack("<H", lfh[6:8])[0] if len(lfh) == 8 else 0

    def _raw(self, e: Entry) -> memoryview:
        start = self.data_start(e)
        if self._data is not None:  # no copy of a large member held in memory already
            return memoryview(self._data)[start:start + e.csize]
        return memoryview(self.read_at(start, e.csize))

    def member_slice(self, name: str, offset: int, n: int) -> bytes:
        """``n`` compressed bytes of part ``name`` from ``offset`` into its data."""
        e = self.by_name[name]
        if offset < 0 or offset + n > e.csize:
            raise self._bad(f"part {name} is shorter than its index says")
        return self.read_at(self.data_start(e) + offset, n)

    def member_span(self, name: str, offset: int, n: int) -> Span:
        """Like ``member_slice``, but the bytes stay in the file until they are written."""
        e = self.by_name[name]
        if offset < 0 or offset + n > e.csize:
            raise self._bad(f"part {name} is shorter than its index says")
        return Span(self, self.data_start(e) + offset, n)

    def read(self, name: str, check: bool = True) -> bytes:
        """The uncompressed bytes of part ``name`` (``check=False``: without comparing their
        CRC-32 with the zip's, for a caller that checks it itself, a piece at a time)."""
        e = self.by_name.get(name)
        if e is None:
            raise self._bad(f"part {name} is missing")
        raw = self._raw(e)
        if e.method == 0:
            out = bytes(raw)
        elif e.method == 8:
            try:
                out = zlib.decompress(raw, -15, max(e.usize, 1))
            except zlib.error as exc:
                raise self._bad(f"part {name} does not decompress: {exc}") from None
        else:
            raise self._bad(f"part {name} uses compression method {e.method}")
        if check and zlib.crc32(out) != e.crc:
            raise self.bad_checksum(name)
        return out

    def bad_checksum(self, name: str) -> CorruptWorkbookError:
        return self._bad(f"part {name} fails its checksum")

    def raw_member(self, name: str) -> memoryview:
        """The compressed bytes of part ``name``, as stored."""
        return self._raw(self.by_name[name])

    def copy_to(self, fh: Any, offset: int, n: int) -> None:
        """Write ``n`` bytes of the file from ``offset`` to ``fh``, a megabyte at a time."""
        if self._data is not None:
            fh.write(memoryview(self._data)[offset:offset + n])
            return
        while n > 0:
            chunk = self.read_at(offset, min(n, 1 << 20))
            if not chunk:
                raise self._bad("the file ended early")
            fh.write(chunk)
            offset += len(chunk)
            n -= len(chunk)

    def write(self, fh: Any, replace: dict[str, Any], level: int = 6,
              comment: Callable[[dict[str, list[SegmentStat]]], bytes] | None = None,
              last: tuple[str, ...] | list[str] = (), descriptor: frozenset[str] | set[str] = frozenset(),
              drop: frozenset[str] | set[str] = frozenset()) -> dict[str, list[SegmentStat]]:
        """Write the package to the binary file ``fh`` with some parts replaced.

        Untouched parts are copied as their exact compressed bytes. A replacement is bytes,
        an iterable of byte chunks (compressed as it is produced), or ``Segments``: pieces
        compressed independently (or copied already compressed), so that a later append can
        reuse them. A name in ``replace`` the package lacks is added. ``last`` names parts
        to put at the end of the archive, in that order (where an append can rewrite them
        in place; by default ``keep_last``, which the workbook store fills in, so parts added
        here go before them); parts in ``descriptor`` get a data descriptor, so their local
        header never changes. Parts in ``drop`` (and not in ``replace``) are left out.
        ``comment`` builds the zip comment from each member's segment figures (by default the
        comment is kept: the Runs worksheet's segment index stays true while that member is
        copied as it is).
        """
        stats: dict[str, list[SegmentStat]] = {}
        central: list[bytes] = []
        last = list(last) if last else list(self.keep_last)
        names = [e.name for e in self.entries if e.name not in drop or e.name in replace]
        extra = [n for n in replace if n not in self.by_name]
        order = [n for n in names + extra if n not in last] + [n for n in last if n in self.by_name or n in replace]
        pos = 0
        for name in order:
            e = self.by_name.get(name)
            if name in replace:
                rec, pos, stats[name] = write_member(fh, pos, name, replace[name], level,
                                                      e.central if e else None, name in descriptor)
            else:
                assert e is not None  # every name in the order is a member or a replacement
                self.copy_to(fh, e.offset, e.end - e.offset)
                rec = e.central[:42] + struct.pack("<I", pos) + e.central[46:]
                pos += e.end - e.offset
            central.append(rec)
        cd_start = pos
        for rec in central:
            fh.write(rec)
            pos += len(rec)
        text = comment(stats) if comment is not None else self.comment
        fh.write(_EOCD + struct.pack("<HHHHIIH", 0, 0, len(central), len(central), pos - cd_start,
                                     cd_start, len(text)) + text)
        return stats

    def rewrite_after(self, name: str, keep: int, pieces: list[bytes], crc: int, usize: int,
                      replace: dict[str, bytes], comment: bytes, level: int = 6) -> tuple[int, bytes]:
        """The bytes that turn this file into the next version by overwriting its end.

        Member ``name`` (written with a data descriptor, so its local header does not
        change) keeps its first ``keep`` compressed bytes; ``pieces`` follow them, then its
        data descriptor (``crc``, ``usize``), every member after it (copied, or replaced
        from ``replace``), the central directory and the end record with ``comment``.
        Returns (offset to write at, bytes); the file's new length is their end.
        """
        e = self.by_name[name]
        start = self.data_start(e) + keep
        csize = keep + sum(len(p) for p in pieces)
        out = io.BytesIO()
        for piece in pieces:
            out.write(piece)
        out.write(_DD + struct.pack("<III", crc, csize, usize))
        after = sorted((m for m in self.entries if m.offset > e.offset), key=lambda m: m.offset)
        moved: dict[str, bytes] = {}
        shifted = _Shifted(out, start)
        for m in after:
            at = start + out.tell()
            if m.name in replace:
                rec, _, _ = write_member(shifted, at, m.name, replace[m.name], level, m.central, False)
                moved[m.name] = rec
            else:
                out.write(self.read_at(m.offset, m.end - m.offset))
                moved[m.name] = m.central[:42] + struct.pack("<I", at) + m.central[46:]
        cd_start = start + out.tell()
        count = 0
        for m in self.entries:
            if m.name == name:
                rec = (m.central[:16] + struct.pack("<III", crc, csize, usize) + m.central[28:])
            else:
                rec = moved.get(m.name, m.central)
            out.write(rec)
            count += 1
        cd_size = start + out.tell() - cd_start
        if cd_start + cd_size >= 0xFFFFFFFF or usize >= 0xFFFFFFFF:
            raise CorruptWorkbookError("a workbook part grew past 4 GB; zip64 is not supported")
        out.write(_EOCD + struct.pack("<HHHHIIH", 0, 0, count, count, cd_size, cd_start, len(comment)) + comment)
        return start, out.getvalue()


class _Shifted:
    """A file-like view of a buffer that holds the file from offset ``base`` on."""

    def __init__(self, buf: io.BytesIO, base: int) -> None:
        self.buf, self.base = buf, base

    def write(self, data: Any) -> int:
        return self.buf.write(data)

    def seek(self, pos: int) -> int:
        return self.buf.seek(pos - self.base)

    def tell(self) -> int:
        return self.buf.tell() + self.base


@dataclass(frozen=True)
class SegmentStat:
    """One independently compressed piece of a member: compressed and plain length, CRC-32."""

    clen: int
    ulen: int
    crc: int


@dataclass(frozen=True)
class Span:
    """``n`` bytes of a package's file from ``offset``, read only as they are written out."""

    pkg: Package
    offset: int
    n: int

    def __len__(self) -> int:
        return self.n


@dataclass(frozen=True)
class Raw:
    """Already-compressed bytes of whole segments (ending on a full flush), copied as they are."""

    data: memoryview | bytes | Span
    ulen: int
    crc: int
    final: bool = False  # ends the deflate stream (may be a member's last segment)


class Segments(list):
    """A member written as pieces: each a ``Raw`` or a list of plain byte chunks."""


_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (bit-reflected, as zlib computes it)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


_X2N = [1 << 30]  # x^(2^k) modulo the polynomial, k = 0..31
for _ in range(31):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B) (zlib 1.2.12's crc32_combine).

    crc(A+B) is crc(A) times x^(8 len(B)) plus crc(B): about 30 small multiplications,
    tens of microseconds in Python, whatever the lengths.
    """
    if len2 <= 0:
        return crc1
    p, k, n = 1 << 31, 3, len2
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


PARALLEL_MIN_BYTES = 4 << 20
MAX_WORKERS = 4  # threads compressing (or parsing) one part's pieces side by side, at most


def cores() -> int:
    """The cores this process may run on (a container's limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_parts(size: int) -> int:
    """How many independent pieces a part of ``size`` plain bytes is compressed in, side by
    side (zlib lets go of the GIL): one per core, for a part of at least ``PARALLEL_MIN_BYTES``."""
    return min(MAX_WORKERS, cores()) if size >= PARALLEL_MIN_BYTES else 1


def _deflate(chunks: Any, level: int, final: bool, zdict: bytes | None = None,
             ) -> tuple[list[bytes], int, int]:
    """Deflate one segment on its own: its compressed pieces, plain length and CRC-32.

    With ``zdict`` (the plain text just before the segment, at most 32 KB) the segment may
    refer back into it, as one continuous deflate stream would: it compresses as well as
    the rest of the stream, and still decodes only when what precedes it is decoded.
    """
    comp = (zlib.compressobj(level, zlib.DEFLATED, -15, zdict=zdict) if zdict
            else zlib.compressobj(level, zlib.DEFLATED, -15))
    out: list[bytes] = []
    crc = usize = 0
    for chunk in chunks:
        if not chunk:
            continue
        crc = zlib.crc32(chunk, crc)
        usize += len(chunk)
        piece = comp.compress(chunk)
        if piece:
            out.append(piece)
    out.append(comp.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH))
    return out, usize, crc


def split_chunks(chunks: list[Any], parts: int) -> list[list[Any]]:
    """Cut a list of byte chunks into ``parts`` lists of about equal total size."""
    total = sum(len(c) for c in chunks)
    if parts <= 1 or total == 0:
        return [chunks]
    size = -(-total // parts)
    out: list[list[Any]] = [[]]
    room = size
    for chunk in chunks:
        view = memoryview(chunk)
        while len(view) > room:
            if room:
                out[-1].append(view[:room])
            view = view[room:]
            out.append([])
            room = size
        if len(view):
            out[-1].append(view)
            room -= len(view)
    return [part for part in out if part]


def _central_fields(data: bytes, p: int) -> tuple:
    flags, method = struct.unpack("<HH", data[p + 8:p + 12])
    crc, csize, usize = struct.unpack("<III", data[p + 16:p + 28])
    nlen, xlen, clen = struct.unpack("<HHH", data[p + 28:p + 34])
    (offset,) = struct.unpack("<I", data[p + 42:p + 46])
    return flags, method, crc, csize, usize, nlen, xlen, clen, offset


def deflate_segment(data: bytes, level: int = 6, final: bool = False,
                    zdict: bytes | None = None) -> tuple[bytes, SegmentStat]:
    """``data`` as one independently decodable piece of a deflate stream, with its figures."""
    out, usize, crc = _deflate([data], level, final, zdict)
    raw = b"".join(out)
    return raw, SegmentStat(len(raw), usize, crc)


def inflate_segment(raw: bytes, label: str, stat: SegmentStat | None = None) -> bytes:
    """Decode one segment (or a run of segments) that starts independently; damaged data,
    or plain bytes that fail ``stat``'s length and checksum, are a ``CorruptWorkbookError``."""
    try:
        out = zlib.decompressobj(-15).decompress(raw)
    except zlib.error as exc:
        raise CorruptWorkbookError(f"{label}: damaged compressed data ({exc})") from None
    if stat is not None and (len(out) != stat.ulen or zlib.crc32(out) != stat.crc):
        raise CorruptWorkbookError(f"{label}: a worksheet segment fails its checksum")
    return out


def write_member(fh: Any, pos: int, name: str, data: Any, level: int,
                  old_central: bytes | None, descriptor: bool = False,
                  ) -> tuple[bytes, int, list[SegmentStat]]:
    """Write one deflated member at ``pos``; return its central record, the new position and
    the figures of each segment. With ``descriptor`` the local header holds no sizes or
    checksum (they follow the data), so an append never has to touch it."""
    name_b = name.encode("utf-8")
    flags = (0x800 if any(b > 127 for b in name_b) else 0) | (0x8 if descriptor else 0)
    if old_central is not None:
        dostime, dosdate = struct.unpack("<HH", old_central[12:16])
        ext_attr = old_central[38:42]
    else:
        dostime, dosdate, ext_attr = 0, (2020 - 1980) << 9 | 1 << 5 | 1, b"\x00\x00\x00\x00"
    header_at = pos
    fh.write(b"\x00" * (30 + len(name_b)))
    if isinstance(data, Segments):
        segments = list(data)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        segments = [[data]]
    else:
        segments = [list(data)]
    if isinstance(segments[-1], Raw) and not segments[-1].final:
        raise ValueError("the last segment of a member must finish the deflate stream")
    last = len(segments) - 1
    jobs = [(seg, level, n == last) for n, seg in enumerate(segments) if not isinstance(seg, Raw)]
    plain = sum(len(c) for seg, _, _ in jobs for c in seg)
    workers = min(len(jobs), cores(), MAX_WORKERS)
    if workers > 1 and plain >= PARALLEL_MIN_BYTES:
        # zlib releases the GIL while it deflates: independent segments compress side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = iter(list(pool.map(lambda job: _deflate(*job), jobs)))
    else:
        done = (_deflate(*job) for job in jobs)
    stats: list[SegmentStat] = []
    for seg in segments:
        if isinstance(seg, Raw):
            if isinstance(seg.data, Span):  # copied from the file a megabyte at a time
                seg.data.pkg.copy_to(fh, seg.data.offset, seg.data.n)
            else:
                fh.write(seg.data)
            stats.append(SegmentStat(len(seg.data), seg.ulen, seg.crc))
            continue
        out, usize, crc = next(done)
        for piece in out:
            fh.write(piece)
        stats.append(SegmentStat(sum(len(x) for x in out), usize, crc))
    crc, usize, csize = 0, 0, 0
    for st in stats:
        crc = crc32_combine(crc, st.crc, st.ulen)
        usize += st.ulen
        csize += st.clen
    end = header_at + 30 + len(name_b) + csize
    if usize >= 0xFFFFFFFF or end >= 0xFFFFFFFF:
        raise CorruptWorkbookError("a workbook part grew past 4 GB; zip64 is not supported")
    if descriptor:
        fh.write(_DD + struct.pack("<III", crc, csize, usize))
        local = _LFH + struct.pack("<HHHHHIIIHH", 20, flags, 8, dostime, dosdate, 0, 0, 0,
                                   len(name_b), 0) + name_b
    else:
        local = _LFH + struct.pack("<HHHHHIIIHH", 20, flags, 8, dostime, dosdate, crc, csize, usize,
                                   len(name_b), 0) + name_b
    fh.seek(header_at)
    fh.write(local)
    if descriptor:
        end += 16
    fh.seek(end)
    central = _CDH + struct.pack("<HHHHHHIIIHHHHH", 20, 20, flags, 8, dostime, dosdate, crc, csize,
                                 usize, len(name_b), 0, 0, 0, 0) + ext_attr + struct.pack("<I", header_at) + name_b
    return central, end, stats


def stored_zip(members: list[tuple[str, Any, int | None]]) -> bytes:
    """A zip of ``members`` (name, bytes-like, its CRC-32 or None to compute it) stored as
    they are, not compressed: a scratch package for a reader, built at the speed of a copy
    and a CRC (both let go of the GIL)."""
    out: list[Any] = []
    central: list[bytes] = []
    pos = 0
    for name, data, known in members:
        name_b = name.encode("utf-8")
        flags = 0x800 if any(b > 127 for b in name_b) else 0
        crc, size = zlib.crc32(data) if known is None else known, len(data)
        if size >= 0xFFFFFFFF or pos + size >= 0xFFFFFFFF:
            raise ValueError("a stored zip past 4 GB needs zip64")
        fields = struct.pack("<HHHHHIII", 20, flags, 0, 0, 0, crc, size, size)
        out += [_LFH + fields + struct.pack("<HH", len(name_b), 0) + name_b, data]
        central.append(_CDH + struct.pack("<H", 20) + fields + struct.pack("<HHHHHII", len(name_b), 0, 0, 0, 0, 0, pos)
                       + name_b)
        pos += 30 + len(name_b) + size
    size = sum(len(c) for c in central)
    out += [*central, _EOCD + struct.pack("<HHHHIIH", 0, 0, len(central), len(central), size, pos, 0)]
    return b"".join(out)
