"""Short run ids: the one rule for the id every sheet and every command shows for a run.

A run id sheettrack makes is a ULID (``record.new_run_id``): ten characters of milliseconds,
then sixteen random ones. Runs of one sweep share the start, so a run's short id is the end of
its ULID, as few characters as keep it naming that run alone among the target's run ids, at
least six, the same length for every run; ``frames.find_run`` takes it wherever a command takes
a run id. An id of another shape (chosen by the user) is its own short id, whole. The summary
sheets (Overview, Hypotheses) and the terminal tables (``ls``, ``best``, ``compare``,
``models``) all show the ids made here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ULID_SHAPE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
ULID_LENGTH = 26
SHORT_ID_MIN = 6
DIGITS = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32, the alphabet of a ULID
DIGIT_RUN = re.compile(r"[0-9A-HJKMNP-TV-Z]+")
KEY_DIGITS = 12  # the end characters packed into one 60-bit integer to find shared ends fast


def short_id_length(run_ids: Sequence[str]) -> int:
    """How many end characters of each ULID the short ids among ``run_ids`` keep (26: all)."""
    return _length(*_ulids(run_ids)[1:])


def short_id(run_id: str, length: int) -> str:
    """``run_id``'s short id, given the ``short_id_length`` of the run ids it is among."""
    return run_id[-length:] if ULID_SHAPE.fullmatch(run_id) else run_id


def short_ids(run_ids: Sequence[str]) -> list[str]:
    """Each of ``run_ids``' short id among them, in order: the end of a ULID, another id whole."""
    ids = list(run_ids)
    is_ulid, rows, others = _ulids(ids)
    n = _length(rows, others)
    if not others:  # every id a ULID: no flag to look at per id
        return [rid[-n:] for rid in ids]
    return [rid[-n:] if u else rid for rid, u in zip(ids, is_ulid.tolist())]


def short_id_map(run_ids: Sequence[str], wanted: Iterable[str] | None = None) -> dict[str, str]:
    """Each of ``wanted`` (default: every one of ``run_ids``) -> its short id among ``run_ids``
    (one not among them stays whole): a table showing a few runs names each as a table of
    them all would."""
    ids = list(run_ids)
    if wanted is None:
        return dict(zip(ids, short_ids(ids)))
    namer = short_namer(ids)
    return {rid: namer(rid) for rid in wanted}


def short_namer(run_ids: Sequence[str]) -> Callable[[str], str]:
    """A function naming any run id by its short id among ``run_ids`` (one not among them
    stays whole), the length worked out once: for several tables that each name a few runs."""
    ids = list(run_ids)
    n, known = short_id_length(ids), set(ids)
    return lambda rid: short_id(rid, n) if rid in known else rid


def run_ids(df: Any) -> list[str]:
    """Every run id of ``df`` (a runs sheet's DataFrame) as text, missing ones left out."""
    return df["run_id"].dropna().astype(str).tolist() if "run_id" in df.columns else []


def _ulids(run_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Which of ``run_ids`` have a ULID's shape (a bool per id), those ids' characters as an
    (n, 26) array of bytes, and the ids of other shapes. Whole-array work: a sheet holds
    50,000 run ids, and a regular expression per id would cost more than the rest."""
    import numpy as np

    ids = run_ids if isinstance(run_ids, list) else list(run_ids)
    sized = np.fromiter(map(len, ids), dtype=np.intp, count=len(ids)) == ULID_LENGTH
    at = np.flatnonzero(sized)
    # one byte per character: "?" stands for any a byte cannot hold, and is no ULID digit
    text = "".join(ids if len(at) == len(ids) else [ids[i] for i in at.tolist()]).encode("latin-1", "replace")
    rows = np.frombuffer(text, dtype=np.uint8).reshape(-1, ULID_LENGTH)
    good = rows[:, 0] <= ord("7")
    if text.translate(None, DIGITS):  # some id holds another character: find which
        good &= _tables()[0][rows].all(axis=1)
    sized[at[~good]] = False
    others = [ids[i] for i in np.flatnonzero(~sized).tolist()]
    return sized, rows[good], others


def _length(rows: np.ndarray, others: list[str]) -> int:
    """The fewest end characters (at least six) with which each ULID of ``rows`` names it
    alone for ``find_run``, which matches an id's start or end: no other ULID ends so, and
    no id starts so (nor ends so, for an id of another shape); 26 when none does."""
    import numpy as np

    size = max(SHORT_ID_MIN, _shared_end(rows) + 1)
    while size < ULID_LENGTH and len(rows):
        pieces = {p for o in others if len(o) >= size for p in (o[:size], o[-size:]) if DIGIT_RUN.fullmatch(p)}
        taken = np.frombuffer("".join(pieces).encode("ascii"), dtype=np.uint8).reshape(-1, size)
        starts = np.concatenate([rows[:, :size], taken])
        if not np.isin(_keys(rows[:, ULID_LENGTH - size:]), _keys(starts)).any():
            break
        size += 1
    return size


def _shared_end(rows: np.ndarray) -> int:
    """The most end characters two different ULIDs of ``rows`` share. Sorted by their ends
    read backwards, the pair sharing most are neighbours: twelve end characters packed in an
    integer settle it, unless two ids share all twelve (or one id is there twice)."""
    import numpy as np

    if len(rows) < 2:
        return 0
    keys = np.sort(_keys(rows[:, :ULID_LENGTH - KEY_DIGITS - 1:-1]))
    closest = int((keys[1:] ^ keys[:-1]).min())
    if closest:
        return (5 * KEY_DIGITS - closest.bit_length()) // 5
    backwards = np.unique(_keys(rows[:, ::-1]))
    if len(backwards) < 2:
        return 0
    chars = backwards.view(np.uint8).reshape(-1, ULID_LENGTH)
    return int((chars[1:] == chars[:-1]).argmin(axis=1).max())


def _keys(chars: np.ndarray) -> np.ndarray:
    """One sortable key per row of ``chars`` (ULID digits as bytes), in the rows' order: the
    digits' value as an integer for up to twelve of them (60 bits), else the bytes."""
    import numpy as np

    size = chars.shape[1]
    if size > KEY_DIGITS:
        return np.ascontiguousarray(chars).view(f"S{size}").ravel()
    weights = np.uint64(32) ** np.arange(size - 1, -1, -1, dtype=np.uint64)
    return _tables()[1][chars] @ weights


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """By byte: whether it is a ULID digit, and its value (0-31)."""
    import numpy as np

    at = np.frombuffer(DIGITS, dtype=np.uint8)
    digit = np.zeros(256, dtype=bool)
    digit[at] = True
    value = np.zeros(256, dtype=np.uint64)
    value[at] = np.arange(len(DIGITS), dtype=np.uint64)
    return digit, value
