"""Several processes (and threads) logging to one workbook at once lose no row."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import full_ref, header_of, table_ref

import sheettrack

WORKERS = 4
LOGS_EACH = 25

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import sheettrack

    book, worker, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for i in range(int(sys.argv[4])):
        sheettrack.log(book, params={"worker": worker, "i": i, f"only_w{worker}": i},
                       metrics={"score": worker + i / 100})
""")


@pytest.mark.slow
def test_processes_logging_at_once_lose_no_row(tmp_path: Path, calamine_rows: Any,
                                               libreoffice: Any) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    book = folder / "runs.xlsx"  # does not exist yet: the first writers race to create it
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(book), str(w), str(go), str(LOGS_EACH)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    time.sleep(0.3)  # let every interpreter start before the first log
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err

    total = WORKERS * LOGS_EACH
    df = sheettrack.load(book)
    assert len(df) == total
    assert df["run_id"].is_unique
    pairs = Counter(zip(df["worker"].astype(int), df["i"].astype(int)))
    assert pairs == Counter({(w, i): 1 for w in range(WORKERS) for i in range(LOGS_EACH)})
    for w in range(WORKERS):
        mine = df[df["worker"] == w]
        assert mine[f"only_w{w}"].astype(int).tolist() == list(range(LOGS_EACH))
        others = df[df["worker"] != w][f"only_w{w}"]
        assert others.isna().all()
        # each worker's own rows are in the order it logged them
        assert mine["i"].astype(int).tolist() == list(range(LOGS_EACH))
    assert sheettrack.validate(book) == []

    rows = calamine_rows(book)
    assert len(rows) == total + 1
    header = rows[0]
    assert sorted(h for h in header if h.startswith("only_w")) == [f"only_w{w}" for w in range(WORKERS)]
    assert table_ref(book) == full_ref(len(header), total + 1)
    documented = [r[0] for r in calamine_rows(book, "Schema")[1:]]
    assert documented == header

    journal_file = folder / f".{book.name}.journal"  # emptied after every append
    assert not journal_file.exists() or journal_file.stat().st_size == 0
    leftovers = [p.name for p in folder.iterdir()
                 if p.name not in (book.name, f".{book.name}.lock", journal_file.name)]
    assert leftovers == []

    lo = libreoffice.csv(book)["Runs"]
    assert len(lo) == total + 1
    pos = header_of(lo)
    assert sorted(r[pos["run_id"]] for r in lo[1:]) == sorted(df["run_id"])


def test_threads_logging_at_once_lose_no_row(tmp_book: Path) -> None:
    sheettrack.init(tmp_book)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(10):
                sheettrack.log(tmp_book, params={"thread": t, "i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    df = sheettrack.load(tmp_book)
    assert len(df) == 40 and df["run_id"].is_unique
    assert Counter(zip(df["thread"].astype(int), df["i"].astype(int))) == Counter(
        {(t, i): 1 for t in range(4) for i in range(10)})
