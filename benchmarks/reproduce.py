"""What reproducibility costs a log: the environment and reference sheets, cached per process.

Logs N runs in one process into a fresh workbook, twice: as sheettrack does it (the
installed-distribution list and its hash computed once per process, each reference sheet
read once per process), and naively (the list recomputed and the Environments and Data
sheets read again for every log). Prints the median time per log and the ratio.

    python benchmarks/reproduce.py            # 20 logs each
    python benchmarks/reproduce.py --quick    # 5 logs each
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sheettrack
from sheettrack import environment
from sheettrack.session import Session


def run(n: int, naive: bool, folder: Path) -> list[float]:
    book = folder / ("naive.xlsx" if naive else "cached.xlsx")
    data = folder / "train.csv"
    data.write_text("a,b\n" + "1,2\n" * 1000)
    times = []
    for i in range(n):
        if naive:
            environment.forget()
            Session.forget()  # what it knew of the reference sheets
        t0 = time.perf_counter()
        sheettrack.log(book, params={"i": i}, metrics={"m": i / n}, data=data)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    n = 5 if "--quick" in sys.argv else 20
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["SHEETTRACK_OUTBOX_DIR"] = str(folder / "outbox")  # never the user's outbox
        t0 = time.perf_counter()
        dists = environment.distributions()
        first = time.perf_counter() - t0
        environment.forget()
        cached = run(n, False, folder)
        naive = run(n, True, folder)
    c, v = statistics.median(cached[1:]), statistics.median(naive[1:])
    print(f"installed distributions: {len(dists)}, listed in {first * 1000:.1f} ms")
    print(f"{n} logs in one process (median of logs 2..{n}):")
    print(f"  sheettrack (cached per process):       {c * 1000:.1f} ms per log")
    print(f"  naive (recomputed and re-read per log): {v * 1000:.1f} ms per log")
    print(f"  naive / sheettrack: {v / c:.2f}x")


if __name__ == "__main__":
    main()
