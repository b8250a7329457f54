"""Benchmark: logging a sweep of 1,000 runs, one call at a time and as one batch.

A grid search or an Optuna study makes hundreds of runs. This script logs the same N sweep
rows (default 1,000; ``classification`` template, realistic params, metrics and provenance)
three ways, each into a fresh workbook, in this one process:

1. one at a time: N ``sheettrack.log(...)`` calls (what an Optuna callback does), with the
   cumulative time after every row;
2. as one batch: one ``sheettrack.log_many(book, rows)`` call;
3. naive openpyxl: ``load_workbook`` + ``ws.append`` + ``save`` per row, on a workbook laid
   out by ``sheettrack.init``, appending the very values sheettrack wrote (read back with
   python-calamine). This grows quadratically (13 minutes for 1,000 rows here), so it runs
   for the first 300 rows (``--naive-rows``; 1000 for all); the ratio is taken against
   sheettrack's cumulative time after the same rows, and the table says so.

Correctness: python-calamine reads every workbook back: N rows, the run ids logged, one
sweep id per sweep, ranks 1..N in the batch.

A Google Sheets part logs the first 200 rows into the local emulator of the Sheets API, one
call per row and as one batch, and prints the time and the API requests each took.

Targets (workbook, PASS/FAIL): N=1,000 one at a time <= 10 s; as one batch <= 1 s. The exit
status is 1 when a correctness check fails, or a target fails and ``--strict`` is given.

Usage::

    python benchmarks/sweep.py                    # 1,000 rows, naive openpyxl for the first 300
    python benchmarks/sweep.py --quick            # 1,000 rows, naive openpyxl for the first 100 (CI)
    python benchmarks/sweep.py --rows 300 --naive-rows 50 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sheettrack  # noqa: E402

TEMPLATE = "classification"
TARGET_ONE_S = 10.0
TARGET_BATCH_S = 1.0
TARGET_ROWS = 1_000


def sweep_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """N rows of a grid search over an MLP: params, metrics and a note, as log_many takes them."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        layers = rnd.choice([[32], [64], [64, 32], [128, 64]])
        lr = rnd.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
        acc = round(rnd.uniform(0.80, 0.99), 4)
        rows.append({"params": {"model": "mlp", "hidden_layers": layers, "lr": lr,
                                "batch_size": rnd.choice([16, 32, 64, 128]), "epochs": 30,
                                "n_images": 1797, "alpha": rnd.choice([1e-5, 1e-4, 1e-3])},
                     "metrics": {"accuracy": acc, "f1": round(acc - rnd.uniform(0, 0.02), 4),
                                 "precision": round(acc - 0.01, 4), "recall": round(acc - 0.005, 4),
                                 "loss": round(rnd.uniform(0.05, 0.6), 4)},
                     "tags": {"dataset": "digits"},
                     "notes": f"candidate {i} of the grid"})
    return rows


def read_rows(path: Path) -> list[list[Any]]:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return book.get_sheet_by_name("Runs").to_python(skip_empty_area=False)
    finally:
        book.close()


STORE_SECONDS = [0.0]  # time spent inside the store's write, to split its cost from the rest


def time_store() -> None:
    """Wrap ``ExcelStore.commit`` (every write of the delivery goes through it) so the
    one-at-a-time loop reports how long the store took."""
    from sheettrack.stores.xlsx import ExcelStore

    original = ExcelStore.commit

    def timed(self: Any, *args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        try:
            original(self, *args, **kwargs)
        finally:
            STORE_SECONDS[0] += time.perf_counter() - t0

    ExcelStore.commit = timed  # type: ignore[method-assign]


def one_at_a_time(book: Path, rows: list[dict[str, Any]], sweep_id: str,
                  profile: bool) -> tuple[list[float], list[str]]:
    """Log each row with its own ``sheettrack.log`` call; cumulative seconds after each row."""
    cumulative, ids = [], []
    STORE_SECONDS[0] = 0.0
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    for row in rows:
        ids.append(sheettrack.log(book, template=TEMPLATE, sweep_id=sweep_id, **row))
        cumulative.append(time.perf_counter() - t0)
    if prof:
        prof.disable()
        print("\nprofile of the one-at-a-time loop (cumulative, top 25):")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return cumulative, ids


def batch(book: Path, rows: list[dict[str, Any]]) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    ids = sheettrack.log_many(book, rows, template=TEMPLATE)
    return time.perf_counter() - t0, ids


def naive(book: Path, values: list[list[Any]], n: int) -> list[float]:
    """openpyxl load + append + save per row; cumulative seconds after each row."""
    import openpyxl

    cumulative = []
    t0 = time.perf_counter()
    for row in values[:n]:
        wb = openpyxl.load_workbook(book)
        wb["Runs"].append([None if v == "" else v for v in row])
        wb.save(book)
        cumulative.append(time.perf_counter() - t0)
    return cumulative


def check(label: str, path: Path, ids: list[str], ranks: bool) -> list[str]:
    """Problems found reading ``path`` back with python-calamine."""
    values = read_rows(path)
    header, body = values[0], [r for r in values[1:] if any(v not in ("", None) for v in r)]
    problems = []
    got = [r[header.index("run_id")] for r in body]
    if got != ids:
        problems.append(f"{label}: read back {len(got)} runs, expected the {len(ids)} logged, in order")
    sweeps = {r[header.index("sweep_id")] for r in body}
    if len(sweeps) != 1 or "" in sweeps:
        problems.append(f"{label}: expected one sweep id, found {sorted(sweeps)[:3]}")
    if ranks:
        got_ranks = sorted(int(r[header.index("sweep_rank")]) for r in body)
        if got_ranks[0] != 1 or got_ranks[-1] > len(body):
            problems.append(f"{label}: ranks run from {got_ranks[0]} to {got_ranks[-1]}")
    return problems


def google(rows: list[dict[str, Any]]) -> None:
    """The same sweep into the local Google Sheets emulator: one call per row and one batch,
    with the Sheets API requests each took."""
    from sheettrack.stores import gsheets
    from tests.sheets_emulator import Emulator

    emu = Emulator().start()
    saved = {k: os.environ.get(k) for k in ("SHEETTRACK_GOOGLE_API_BASE", "SHEETTRACK_CREDENTIALS")}
    try:
        creds = emu.write_service_account(Path(tempfile.mkdtemp(prefix="sheettrack-sa-")) / "sa.json")
        os.environ.update(SHEETTRACK_GOOGLE_API_BASE=emu.base_url, SHEETTRACK_CREDENTIALS=str(creds))
        for label, run in (("one call per row", "one"), ("one batch", "batch")):
            gsheets.forget()
            target = f"gsheet://{emu.create_spreadsheet(f'sweep-{run}')}"
            sheettrack.init(target, TEMPLATE)
            emu.reset_requests()
            t0 = time.perf_counter()
            if run == "one":
                for row in rows:
                    sheettrack.log(target, template=TEMPLATE, sweep_id="bench", **row)
            else:
                sheettrack.log_many(target, rows, template=TEMPLATE)
            took = time.perf_counter() - t0
            api_n = sum(1 for r in emu.requests if r["path"].startswith("/v4/"))
            stored = len(emu.values(target[len("gsheet://"):], "Runs")) - 1
            print(f"google sheets emulator, {label}: {took:.2f} s for {len(rows)} rows, "
                  f"{api_n} API requests, {stored} rows in the sheet")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        emu.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=TARGET_ROWS, help="sweep rows [1000]")
    ap.add_argument("--naive-rows", type=int, default=None,
                    help="rows for naive openpyxl [300; 100 with --quick]")
    ap.add_argument("--quick", action="store_true", help="naive openpyxl for the first 100 rows only")
    ap.add_argument("--profile", action="store_true", help="cProfile the one-at-a-time loop")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    ap.add_argument("--workdir", default=None, help="folder for the workbooks [a temporary one]")
    ap.add_argument("--keep", action="store_true", help="keep the workbooks")
    args = ap.parse_args(argv)
    n = args.rows
    naive_n = min(n, args.naive_rows if args.naive_rows is not None else (100 if args.quick else 300))
    rows = sweep_rows(n)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sheettrack-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)  # provenance as a training script kept in this repository would capture it
    print(f"sweep of {n} rows, template {TEMPLATE}, workbooks in {work}")
    try:
        one_book, batch_book, naive_book = work / "one.xlsx", work / "batch.xlsx", work / "naive.xlsx"
        time_store()
        cumulative, one_ids = one_at_a_time(one_book, rows, "sweep-bench", args.profile)
        store_s = STORE_SECONDS[0]
        batch_s, batch_ids = batch(batch_book, rows)
        values = read_rows(batch_book)
        sheettrack.init(naive_book, TEMPLATE)
        naive_cum = naive(naive_book, values[1:], naive_n) if naive_n else []

        problems = check("one at a time", one_book, one_ids, ranks=False)
        problems += check("batch", batch_book, batch_ids, ranks=True)
        naive_read = len([r for r in read_rows(naive_book)[1:] if any(v not in ("", None) for v in r)])
        if naive_read != naive_n:
            problems.append(f"naive openpyxl: read back {naive_read} rows, expected {naive_n}")

        one_s = cumulative[-1]
        print()
        print("| how | rows | time | per row | vs naive openpyxl (same rows) |")
        print("| --- | --- | --- | --- | --- |")
        ref = naive_cum[-1] if naive_cum else None
        one_same = cumulative[naive_n - 1] if naive_n else None
        ratio_one = f"{ref / one_same:.1f}x faster" if ref and one_same else "n/a"
        # a batch of naive_n rows is estimated by the batch's per-row cost
        ratio_batch = f"{ref / (batch_s * naive_n / n):.0f}x faster" if ref else "n/a"
        print(f"| sheettrack.log, one call per row | {n} | {one_s:.2f} s | {one_s / n * 1000:.1f} ms | "
              f"{ratio_one} |")
        print(f"| sheettrack.log_many, one batch | {n} | {batch_s:.3f} s | {batch_s / n * 1000:.2f} ms | "
              f"{ratio_batch} |")
        if naive_cum:
            scope = "all rows" if naive_n == n else f"first {naive_n} rows only"
            print(f"| openpyxl load + append + save per row ({scope}) | {naive_n} | {ref:.2f} s | "
                  f"{ref / naive_n * 1000:.1f} ms | 1x |")
        print(f"\none at a time: {store_s:.2f} s in the store's append ({store_s / n * 1000:.1f} ms a row), "
              f"{one_s - store_s:.2f} s in the rest of log() ({(one_s - store_s) / n * 1000:.2f} ms a row: "
              "template, schema, checks, provenance, row building)")
        scale = "" if n == TARGET_ROWS else f" (measured at {n} rows, target is for {TARGET_ROWS})"
        results = [("one at a time", one_s, TARGET_ONE_S), ("one batch", batch_s, TARGET_BATCH_S)]
        failed = False
        for label, got, target in results:
            ok = got <= target
            failed |= not ok
            print(f"{'PASS' if ok else 'FAIL'}: {label}, {got:.3f} s <= {target:.0f} s{scale}")
        google(rows[: min(n, 200)])
        for p in problems:
            print(f"CHECK FAILED: {p}")
        if not problems:
            print("read back with python-calamine: every workbook holds the runs logged")
        return 1 if problems or (failed and args.strict) else 0
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
