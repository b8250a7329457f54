"""Benchmark: the write path's own work, counted and timed, against the naive approach.

What one ``sheettrack.log`` costs beyond the bytes it must write:

1. **Counts** (each case in a fresh process, on a workbook in a fresh folder): how many times
   the workbook's lock is taken, how many times the workbook file is replaced (a full-file
   rewrite), and how many times the outbox file is parsed, for the first log into a new
   workbook, a later log in a fresh process, and a second log in the same process. Locks are
   counted as opens of the lock file beside the workbook, rewrites as ``os.replace`` onto the
   workbook, parses as ``Outbox.read`` calls: what any implementation must do to get them.
2. **log_many of 10,000 rows** into a workbook (median of 3), beside openpyxl writing the same
   10,000 rows (one ``load_workbook`` + ``append`` x 10,000 + ``save``).
3. **A one-off log in a fresh process** at 1,000 rows: the wall time of
   ``python -c "import sheettrack; sheettrack.log(...)"`` (median of 7), beside the same
   append through openpyxl in a fresh process and ``python -c pass``.

Targets (PASS/FAIL): first log <= 1 lock and <= 2 rewrites; every later log 1 lock and 1
rewrite; the outbox parsed once per log; log_many of 10,000 rows <= 1.5 s; the one-off log
<= 0.15 s wall. Times are judged only at the target sizes; ``--quick`` (CI) runs smaller
sizes, prints the times and fails only on wrong counts or values.

Usage::

    python benchmarks/pipeline.py            # the target sizes
    python benchmarks/pipeline.py --quick    # CI: counts, 2,000 rows, 3 one-off runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGET_MANY_S = 1.5
TARGET_ONE_OFF_S = 0.15
MANY_ROWS = 10_000
ONE_OFF_ROWS = 1_000

COUNTING = r"""
import json, os, sys
book = os.path.realpath(sys.argv[1])
lock = os.path.join(os.path.dirname(book), "." + os.path.basename(book) + ".lock")
counts = {"locks": 0, "rewrites": 0, "outbox_reads": 0}
real_open, real_replace = os.open, os.replace

def counting_open(path, *args, **kwargs):
    if os.path.realpath(os.fspath(path)) == lock:
        counts["locks"] += 1
    return real_open(path, *args, **kwargs)

def counting_replace(src, dst, *args, **kwargs):
    if os.path.realpath(os.fspath(dst)) == book:
        counts["rewrites"] += 1
    return real_replace(src, dst, *args, **kwargs)

os.open, os.replace = counting_open, counting_replace
import sheettrack
from sheettrack.outbox import Outbox
real_read = Outbox.read

def counting_read(self):
    counts["outbox_reads"] += 1
    return real_read(self)

Outbox.read = counting_read
out = []
for i in range(int(sys.argv[2])):
    for k in counts:
        counts[k] = 0
    sheettrack.log(sys.argv[1], params={"lr": 0.01, "model": "mlp"}, metrics={"accuracy": 0.5 + i / 100},
                   notes="counted")
    out.append(dict(counts))
print(json.dumps(out))
"""

ONE_OFF = ("import sheettrack; sheettrack.log({book!r}, params={{'lr': 0.1, 'model': 'cnn', 'layers': 3}}, "
           "metrics={{'accuracy': 0.9, 'loss': 0.2}}, notes='one more')")

NAIVE_ONE_OFF = ("import openpyxl; wb = openpyxl.load_workbook({book!r}); ws = wb['Runs']; "
                 "ws.append(['x'] * ws.max_column); wb.save({book!r})")


def env() -> dict[str, str]:
    """The child processes' environment: this checkout first on the path, and bytecode
    written and read as on a user's machine (a shell that turned it off would time Python
    compiling sheettrack's source in every process)."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def sweep(n: int) -> list[dict[str, Any]]:
    """N sweep rows: params, metrics and a note, as log_many takes them."""
    return [{"params": {"lr": [0.1, 0.03, 0.01, 0.003][i % 4], "model": ["mlp", "cnn", "logreg"][i % 3],
                        "hidden_layers": [64, 32] if i % 2 else [128], "epochs": 5 + i % 20},
             "metrics": {"accuracy": 0.8 + (i % 97) / 500, "f1": 0.78 + (i % 89) / 500, "loss": 0.5 - (i % 83) / 400},
             "notes": f"grid point {i}"} for i in range(n)]


def counts(folder: Path) -> dict[str, list[dict[str, int]]]:
    """Locks, rewrites and outbox parses per log: the first into a new workbook, the next in
    the same process, then one in a fresh process."""
    book = folder / "counted" / "runs.xlsx"
    book.parent.mkdir()
    run = lambda n: json.loads(subprocess.run(  # noqa: E731
        [sys.executable, "-c", COUNTING, str(book), str(n)], check=True, capture_output=True, text=True,
        env=env(), cwd=folder).stdout)
    first, second = run(2)
    [fresh] = run(1)
    return {"first log into a new workbook": [first], "a second log in the same process": [second],
            "a later log in a fresh process": [fresh]}


def log_many(folder: Path, n: int, repeat: int) -> tuple[float, float, int]:
    """(median seconds of sheettrack.log_many, seconds of openpyxl writing the same rows, rows read)."""
    import python_calamine

    import sheettrack

    rows = sweep(n)
    times = []
    for r in range(repeat):
        book = folder / f"many{r}" / "runs.xlsx"
        book.parent.mkdir()
        sheettrack.log(book, template="classification", metrics={"accuracy": 0.5})  # laid out
        t = time.perf_counter()
        sheettrack.log_many(book, rows)
        times.append(time.perf_counter() - t)
    got = python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Runs").to_python()
    import openpyxl

    header = [str(v) for v in got[0] if v not in (None, "")]
    naive_book = folder / "naive-many.xlsx"
    t = time.perf_counter()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in got[2:]:
        ws.append(list(row[:len(header)]))
    wb.save(naive_book)
    naive = time.perf_counter() - t
    return statistics.median(times), naive, len(got) - 2


def one_off(folder: Path, repeat: int) -> tuple[float, float, float, int]:
    """(median wall of a one-off sheettrack.log at ONE_OFF_ROWS, of the openpyxl append, of
    python -c pass, rows read back: ONE_OFF_ROWS + repeat + 1 for the warm-up)."""
    import python_calamine

    import sheettrack

    book = folder / "oneoff" / "runs.xlsx"
    book.parent.mkdir()
    sheettrack.log(book, template="classification", metrics={"accuracy": 0.5})
    sheettrack.log_many(book, sweep(ONE_OFF_ROWS - 1))
    naive_book = folder / "naive-oneoff.xlsx"
    naive_book.write_bytes(book.read_bytes())

    def wall(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env(), cwd=book.parent)
        return time.perf_counter() - t

    wall("pass")  # warm the OS caches
    wall(ONE_OFF.format(book=str(book)))  # and write the bytecode, as any first run does
    ours = statistics.median(wall(ONE_OFF.format(book=str(book))) for _ in range(repeat))
    naive = statistics.median(wall(NAIVE_ONE_OFF.format(book=str(naive_book))) for _ in range(max(1, repeat // 3)))
    bare = statistics.median(wall("pass") for _ in range(repeat))
    got = python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Runs").to_python()
    return ours, naive, bare, len(got) - 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI: smaller sizes, times not judged")
    args = parser.parse_args()
    os.environ.setdefault("SHEETTRACK_OUTBOX_DIR", tempfile.mkdtemp(prefix="sheettrack-outbox-"))
    sys.path.insert(0, str(REPO))
    checks: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("Locks, full-file rewrites and outbox parses per log (each case measured, not estimated)")
        print(f"  {'case':36} {'locks':>6} {'rewrites':>9} {'outbox parses':>14}")
        found = counts(folder)
        for case, [c] in found.items():
            print(f"  {case:36} {c['locks']:>6} {c['rewrites']:>9} {c['outbox_reads']:>14}")
        first = found["first log into a new workbook"][0]
        later = [found["a second log in the same process"][0], found["a later log in a fresh process"][0]]
        checks.append(("first log: <= 1 lock, <= 2 rewrites", first["locks"] <= 1 and first["rewrites"] <= 2,
                       f"{first['locks']} lock(s), {first['rewrites']} rewrite(s)"))
        checks.append(("later logs: 1 lock, 1 rewrite", all(c["locks"] == 1 and c["rewrites"] == 1 for c in later),
                       ", ".join(f"{c['locks']}/{c['rewrites']}" for c in later)))
        checks.append(("the outbox parsed once per log", all(c["outbox_reads"] == 1 for c in [first, *later]),
                       ", ".join(str(c["outbox_reads"]) for c in [first, *later])))

        n = 2_000 if args.quick else MANY_ROWS
        many, naive_many, read = log_many(folder, n, 1 if args.quick else 3)
        print(f"\nlog_many of {n:,} rows: {many:.3f} s ({n / many:,.0f} rows/s); openpyxl writing the same "
              f"rows: {naive_many:.3f} s ({naive_many / many:.1f}x sheettrack)")
        checks.append((f"calamine reads the {n:,} rows log_many wrote", read == n, f"{read:,} rows"))
        if not args.quick:
            checks.append((f"log_many of {MANY_ROWS:,} rows <= {TARGET_MANY_S} s", many <= TARGET_MANY_S,
                           f"{many:.3f} s"))

        ours, naive, bare, rows = one_off(folder, 3 if args.quick else 7)
        print(f"one-off log in a fresh process at {ONE_OFF_ROWS:,} rows: {ours:.3f} s wall (python -c pass "
              f"{bare:.3f} s; openpyxl load+append+save in a fresh process {naive:.3f} s, {naive / ours:.1f}x)")
        runs = 3 if args.quick else 7
        checks.append((f"calamine reads {ONE_OFF_ROWS:,} + {runs + 1} rows after the one-off logs",
                       rows == ONE_OFF_ROWS + runs + 1, f"{rows:,} rows"))
        if not args.quick:
            checks.append((f"one-off log <= {TARGET_ONE_OFF_S} s wall", ours <= TARGET_ONE_OFF_S, f"{ours:.3f} s"))

    print("\nTargets")
    for name, ok, shown in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:50} {shown}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
