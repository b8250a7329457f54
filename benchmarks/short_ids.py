"""Benchmark: the short ids of 50,000 runs, as ``ls`` and the summary sheets make them.

``summarize`` and ``ls`` make short ids among every run id of the sheet. This script makes
N realistic ULIDs (default 50,000: sweeps of 1 to 16 runs started in one millisecond, the
sweeps minutes apart, shuffled) and times, best of ``--repeat``:

- ``short_ids``: every run's short id (what ``ls`` shows);
- ``short_id_map`` of five: the few a summary sheet names, shortened among all N.

Correctness: every short id is the end of its run id, at least six characters, one length
for all, unique, and the start of no run id. Target (PASS/FAIL): ``short_ids`` of 50,000
ids <= 50 ms. The exit status is 1 when a check or the target fails.

Usage::

    python benchmarks/short_ids.py
    python benchmarks/short_ids.py --runs 10000 --repeat 20
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter
from collections.abc import Callable

from sheettrack.record import new_run_id
from sheettrack.runids import short_id_map, short_ids

TARGET_MS = 50.0


def sweep_ids(n: int, seed: int = 1) -> list[str]:
    """``n`` ULIDs as sweeps make them: several runs to a millisecond, sweeps minutes apart."""
    rng = random.Random(seed)
    ids: list[str] = []
    now = 1_780_000_000.0
    while len(ids) < n:
        now += rng.uniform(0.5, 600)
        ids.extend(new_run_id(now) for _ in range(rng.randint(1, 16)))
    ids = ids[:n]
    rng.shuffle(ids)
    return ids


def best_ms(call: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    ids = sweep_ids(args.runs)
    per_ms = Counter(rid[:10] for rid in ids)  # a ULID's first 10 characters are its millisecond
    shared = sum(n for n in per_ms.values() if n > 1)
    print(f"{len(ids):,} run ids, {shared:,} started in a millisecond another one started in")

    shown = short_ids(ids)
    starts = {rid[:len(shown[0])] for rid in ids}
    ok = (len(set(shown)) == len(ids) and len({len(s) for s in shown}) == 1 and len(shown[0]) >= 6
          and all(rid.endswith(s) for rid, s in zip(ids, shown)) and not starts & set(shown))
    print(f"short ids of {len(shown[0])} characters: {'correct' if ok else 'WRONG'}")

    every = best_ms(lambda: short_ids(ids), args.repeat)
    few = best_ms(lambda: short_id_map(ids, ids[:5]), args.repeat)
    print(f"short_ids, every run:       {every:7.1f} ms")
    print(f"short_id_map, five of them: {few:7.1f} ms")
    target = every <= TARGET_MS if args.runs >= 50_000 else True
    print(f"{'PASS' if target else 'FAIL'}: short_ids of {len(ids):,} ids <= {TARGET_MS:.0f} ms"
          + ("" if args.runs >= 50_000 else " (checked at 50,000 only)"))
    return 0 if ok and target else 1


if __name__ == "__main__":
    raise SystemExit(main())
