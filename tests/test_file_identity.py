"""The workbook stays the user's file: a write swapped in as a new copy keeps its owner,
group and mode (a process running as root restores them), and ``SHEETTRACK_WRITE=inplace``
keeps the file itself (its inode)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import read_calamine

import sheettrack

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="giving a file to another account needs root")


@needs_root
@pytest.mark.parametrize("mode", ["replace", "inplace"])
def test_a_write_as_root_leaves_the_workbook_owned_as_it_was(tmp_book: Path, mode: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", mode)
    sheettrack.log(tmp_book, params={"n": 0}, on_error="raise")
    os.chown(tmp_book, 4321, 8765)
    os.chmod(tmp_book, 0o640)
    sheettrack.log(tmp_book, params={"n": 1}, on_error="raise")  # the fast path
    sheettrack.log(tmp_book, params={"n": 2, "new_column": 1}, on_error="raise")  # the general path
    sheettrack.summarize(tmp_book, by=["n"], values=["n"])
    st = tmp_book.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 8765, 0o640)
    rows = read_calamine(tmp_book)
    assert [r[rows[0].index("n")] for r in rows[1:]] == [0, 1, 2]


def test_a_copy_keeps_the_mode_of_the_workbook(tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", "replace")
    sheettrack.log(tmp_book, params={"n": 0}, on_error="raise")
    os.chmod(tmp_book, 0o664)
    inode = tmp_book.stat().st_ino
    sheettrack.log(tmp_book, params={"n": 1}, on_error="raise")
    assert stat.S_IMODE(tmp_book.stat().st_mode) == 0o664
    assert tmp_book.stat().st_ino != inode  # a new file: hard links keep the old one (docs/stores.md)


def test_in_place_writes_keep_the_file_whatever_the_path(tmp_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETTRACK_WRITE", "inplace")
    sheettrack.log(tmp_book, params={"n": 0}, on_error="raise")
    inode = tmp_book.stat().st_ino
    sheettrack.log(tmp_book, params={"n": 1}, on_error="raise")
    sheettrack.log(tmp_book, params={"n": 2, "other": "x"}, on_error="raise")
    sheettrack.summarize(tmp_book, by=["n"], values=["n"])
    sheettrack.log(tmp_book, params={"n": 3}, on_error="raise")
    assert tmp_book.stat().st_ino == inode
    rows = read_calamine(tmp_book)
    assert [r[rows[0].index("n")] for r in rows[1:]] == [0, 1, 2, 3]
