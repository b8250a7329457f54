"""Benchmark: what it costs to append one run to a large sheettrack workbook.

sheettrack keeps the Runs worksheet as independently compressed segments at the end of the
.xlsx zip, so an append compresses only the new rows, the sheet's tail and its table. By
default it writes a new copy of the workbook whose unchanged start the operating system
copies (a reflink clone where the file system shares extents, else ``copy_file_range``),
then the new end, fsyncs it and swaps it in atomically; with ``SHEETTRACK_WRITE=inplace``
it overwrites only the end of the file behind a small rollback journal (two fsyncs). The
obvious alternative, openpyxl ``load_workbook`` + ``ws.append`` + ``save``, parses and
rebuilds the whole workbook on every run; sheettrack's own general path (a workbook last
saved by another program) re-reads and re-compresses the whole sheet once. This script
measures all of them on the same workbooks, in the same run, so a regression in speed or
memory shows up as a number. Run it with ``--workdir`` on another file system (XFS or
btrfs, where the copy is a reflink) to see the default write's cost there.

For each size N (default 1,000, 10,000, 50,000 and 200,000 rows):

1. Build a workbook with ``sheettrack.init(path, "classification")`` and one batch append
   of N realistic rows (~27 filled cells each: run id, timestamps, params, metrics, a note,
   user/host/python/command/git provenance), the row shape ``sheettrack.log`` writes.
2. append: in one child process (a script or an Optuna study logging many runs), 20 calls
   of the store's ``append`` with one checked row each, timed around the call (lock,
   journal, write and both fsyncs included; the row's checks and provenance are not), then
   5 whole ``sheettrack.log`` calls (provenance included). Median time, largest time and the
   process's peak RSS. The appends must all have been written by atomic replace (the
   default); the same is then measured with ``SHEETTRACK_WRITE=inplace`` (the opt-in
   in-place write behind a rollback journal), shown as "in place ms".
3. log() cold: ``--repeat`` calls of ``sheettrack.log(path, params=..., metrics=...,
   notes=...)``, each the only call of a fresh ``python -c`` child, which reports the time
   of the call, the peak RSS of the process and the RSS right after ``import sheettrack``.
4. CLI: the whole ``sheettrack log BOOK -p lr=0.01 -m accuracy=0.9`` command (median of 5),
   start-up and imports included, as a shell or R script logs.
5. general: the zip comment (the segment index) dropped before each cold ``sheettrack.log``,
   as a re-save elsewhere would.
6. openpyxl: one ``load_workbook`` + ``ws.append(row)`` + ``save`` on a copy of the same
   workbook, in a child process (one run per size, up to 50,000 rows: ~45 s and 800 MB there).
7. Correctness: python-calamine must read back every row of every workbook, with the logged
   run ids last and in order, so a broken file cannot pass as a fast one.

It then prints ratios against openpyxl and the general path, the growth of each cost from
the smallest to the largest size, and ``python -c "import sheettrack"`` next to
``python -c pass`` (and whether ``import sheettrack`` pulls in pandas or openpyxl).

Targets (PASS/FAIL), at 50,000 rows: an append takes <= 30 ms; peak memory (of the
appending process and of a fresh ``sheettrack.log`` process) <= 60 MB; the whole
``sheettrack log`` command <= 0.3 s; ``import sheettrack`` imports neither pandas nor
openpyxl. When 50,000 is not among the sizes (``--quick``), the targets are checked at the
largest size measured, and the output says so.

Usage::

    python benchmarks/append.py                      # 1k, 10k, 50k, 200k rows; a few minutes
    python benchmarks/append.py --quick              # 1k and 5k rows; seconds (CI)
    python benchmarks/append.py --sizes 1000,20000 --repeat 5 --profile

The exit status is 1 when a check fails; when 50,000 is not among the sizes (``--quick``),
speed and memory are reported but only the import and correctness checks count. MB means 2**20 bytes.
Timings depend on the machine's load (printed first) and on the disk's fsync cost
(``--workdir`` chooses the disk).

Peak RSS is the process's high-water mark: ``VmHWM`` from /proc/self/status on Linux,
``ru_maxrss`` elsewhere. On Linux ``ru_maxrss`` survives exec, so a child started by a large
parent reports the parent's peak; for the same reason this process only orchestrates, and
building, reading back and every measurement happen in child processes. Children run in
the repository folder, so provenance includes git as it would for a training script kept
in git. sheettrack's modules are byte-compiled first, as in an installed package. Workbooks
go to a temporary folder (``--workdir`` to choose the disk, ``--keep`` to keep them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parent.parent
TEMPLATE = "classification"
SHEET = "Runs"
DEFAULT_SIZES = (1_000, 10_000, 50_000, 200_000)
QUICK_SIZES = (1_000, 5_000)
NAIVE_MAX_ROWS = 50_000  # openpyxl takes minutes and gigabytes beyond this
TARGET_ROWS = 50_000
TARGET_APPEND_S = 0.030
TARGET_PEAK_MB = 60.0
TARGET_CLI_S = 0.3
WARM_APPENDS = 20
WARM_LOGS = 5
CLI_RUNS = 5
IMPORT_RUNS = 5

# -- child processes -------------------------------------------------------------------------
# Each prints one JSON line as its last line of output.

_RSS = """
import resource, sys
def rss_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)
"""

SHEETTRACK_CHILD = _RSS + """
import json, time
import sheettrack
base = rss_mb()
path, kwargs = sys.argv[1], json.loads(sys.argv[2])
t = time.perf_counter()
run_id = sheettrack.log(path, **kwargs)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": rss_mb(), "base_mb": base, "run_id": run_id}))
"""

NAIVE_CHILD = _RSS + """
import datetime, json, time
import openpyxl
base = rss_mb()
path, values, sheet = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
for key in ("started_at", "ended_at"):
    values[key] = datetime.datetime.fromisoformat(values[key])
t = time.perf_counter()
wb = openpyxl.load_workbook(path)
ws = wb[sheet]
header = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]
ws.append([values.get(name) for name in header])
wb.save(path)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": rss_mb(), "base_mb": base,
                  "run_id": values["run_id"]}))
"""

WARM_CHILD = _RSS + """
import json, statistics, time
import sheettrack
from sheettrack import delivery
from sheettrack.record import flatten
from sheettrack.run import Run
from sheettrack.session import Session
base = rss_mb()
path, kwargs, appends, logs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
# one process appending many runs (an Optuna study): the store's append of one checked row,
# lock, journal and fsyncs included, then whole sheettrack.log calls (provenance included)
session = Session.open(path)
layout = session.layout()
store_s, store_cpu, ways, copies = [], [], [], []
for i in range(appends):
    run = Run(path)
    run.params.update(flatten(kwargs["params"]))
    run.metrics.update(flatten(kwargs["metrics"]))
    rows, new = delivery.build_rows(session, layout, [run.record()])
    t, c = time.perf_counter(), time.process_time()
    session.store.append(rows, layout.schema, [])
    store_s.append(time.perf_counter() - t)
    store_cpu.append(time.process_time() - c)
    ways.append(session.store.last_write)
    copies.append(session.store.last_copy or "")
log_s, ids = [], []
for i in range(logs):
    t = time.perf_counter()
    ids.append(sheettrack.log(path, **kwargs))
    log_s.append(time.perf_counter() - t)
print(json.dumps({"store_s": statistics.median(store_s), "store_max_s": max(store_s),
                  "store_cpu_s": statistics.median(store_cpu),
                  "log_s": statistics.median(log_s), "peak_mb": rss_mb(), "base_mb": base,
                  "ways": sorted(set(ways)), "copies": sorted(set(copies) - {""}), "run_ids": ids}))
"""

LOCKS_CHILD = """
import json, sys
import sheettrack
from sheettrack.stores.xlsx import ExcelStore
# every store handle the API opens in this process, to add up their locks and rewrites
stores = []
real_init = ExcelStore.__init__
def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    stores.append(self)
ExcelStore.__init__ = init
path, kwargs, logs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
counts = []
for i in range(logs):
    before = [sum(s.stats.locks for s in stores), sum(s.stats.rewrites for s in stores)]
    sheettrack.log(path, **kwargs)
    counts.append([sum(s.stats.locks for s in stores) - before[0],
                   sum(s.stats.rewrites for s in stores) - before[1]])
print(json.dumps({"counts": counts}))
"""

MODULES_CHILD = """
import json, sys
import sheettrack
print(json.dumps({"version": sheettrack.__version__,
                  **{m: m in sys.modules for m in ("pandas", "openpyxl")}}))
"""

PROFILE_CHILD = """
import cProfile, json, pstats, sys
import sheettrack
path, kwargs = sys.argv[1], json.loads(sys.argv[2])
profile = cProfile.Profile()
profile.runcall(sheettrack.log, path, **kwargs)
stats = pstats.Stats(profile, stream=sys.stdout).strip_dirs()
stats.sort_stats("cumulative").print_stats(25)
stats.sort_stats("tottime").print_stats(12)
"""


def run(cmd: list[str]) -> tuple[float, str]:
    """Run ``cmd`` in the repository folder; its wall time and stdout. It must succeed."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        shown = " ".join(cmd[:2] + ["..."] if len(" ".join(cmd)) > 200 else cmd)
        raise RuntimeError(f"{shown} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    return seconds, proc.stdout


def child(code: str, *args: str) -> dict[str, Any]:
    """Run ``python -c code args``; return the JSON line it prints last."""
    return json.loads(run([sys.executable, "-c", code, *args])[1].strip().splitlines()[-1])


def worker(task: str, *args: str) -> dict[str, Any]:
    """Run one of this script's own tasks (see ``worker_main``) in a child process."""
    return json.loads(run([sys.executable, str(SCRIPT), "_worker", task, *args])[1]
                      .strip().splitlines()[-1])


# -- realistic rows ---------------------------------------------------------------------------

MODELS = ("mlp", "cnn", "logreg", "resnet18", "vit-tiny")
LAYERS = ([64], [64, 32], [128, 64], [256, 128, 64], [512, 256])
USERS = ("alice", "bob", "chen.wei", "dpatel")
HOSTS = ("gpu-box-01", "gpu-box-03", "laptop-alice", "ci-runner-7")
NOTES = ("baseline with default augmentation, seed 1", "two hidden layers, dropout 0.2, adam opt",
         "cosine schedule, warmup 500 steps, wd 1e-4", "label smoothing 0.1; early stop patience 5",
         "retry after OOM: halved batch, same seed 7")
PLATFORM = "Linux-6.5.0-35-generic-x86_64-with-glibc2.35"
PACKAGES = {"numpy": "1.26.4", "scikit-learn": "1.4.1", "torch": "2.2.1"}
REMOTE = "https://github.com/acme-ml/vision-experiments.git"
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RUNS_PER_COMMIT = 12


def run_id(when: dt.datetime, rng: random.Random) -> str:
    """A ULID like sheettrack's own: 48 bits of milliseconds, 80 random bits, base 32."""
    value = int(when.timestamp() * 1000) << 80 | rng.getrandbits(80)
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def commit(k: int) -> str:
    """The ``k``-th commit's hash (runs share a commit until the code changes)."""
    return hashlib.sha1(b"commit %d" % k).hexdigest()


def run_fields(i: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    """Run ``i`` as ``Run.fields()`` returns it: values by group, provenance included."""
    model = MODELS[i % len(MODELS)]
    started = EPOCH + dt.timedelta(minutes=7 * i, seconds=rng.randrange(60))
    duration = round(rng.uniform(30, 3600), 3)
    lr = rng.choice((0.1, 0.03, 0.01, 0.003, 0.001, 0.0003))
    epochs = rng.choice((5, 10, 20, 50))
    accuracy = rng.uniform(0.80, 0.995)
    dirty = rng.random() < 0.2
    return {
        "run": {"run_id": run_id(started, rng), "started_at": started,
                "ended_at": started + dt.timedelta(seconds=duration), "duration_s": duration,
                "status": "finished"},
        "params": {"model": model, "hidden_layers": LAYERS[i % len(LAYERS)],
                   "n_images": rng.choice((6_000, 30_000, 60_000)), "lr": lr,
                   "batch_size": rng.choice((32, 64, 128, 256)), "epochs": epochs},
        "metrics": {"accuracy": accuracy, "precision": accuracy - rng.uniform(0, 0.02),
                    "recall": accuracy - rng.uniform(0, 0.02),
                    "f1": accuracy - rng.uniform(0, 0.015), "loss": rng.uniform(0.02, 0.6)},
        "notes": {"notes": NOTES[i % len(NOTES)]},
        "provenance": {"user": USERS[i % len(USERS)], "host": HOSTS[i % len(HOSTS)],
                       "python": "3.11.7", "platform": PLATFORM, "packages": PACKAGES,
                       "command": f"python train.py --model {model} --lr {lr} --epochs {epochs}",
                       "script": "train.py", "git_commit": commit(i // RUNS_PER_COMMIT),
                       "git_branch": "main", "git_dirty": dirty,
                       "git_diff_hash": f"{rng.getrandbits(48):012x}" if dirty else None,
                       "git_remote": REMOTE},
    }


def log_kwargs(i: int) -> dict[str, Any]:
    """What a training script passes to ``sheettrack.log`` (JSON, for the child)."""
    f = run_fields(i, random.Random(1_000_000 + i))
    return {"params": f["params"], "metrics": f["metrics"], "notes": f["notes"]["notes"]}


def naive_values(i: int) -> dict[str, Any]:
    """The same kind of run as column -> value, as an openpyxl user would write it."""
    f = run_fields(i, random.Random(2_000_000 + i))
    values: dict[str, Any] = {}
    for group in f.values():
        for key, value in group.items():
            if isinstance(value, (list, dict)):
                value = json.dumps(value)
            elif isinstance(value, dt.datetime):
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
            values[key] = value
    return values


# -- worker tasks (run in a child process) ----------------------------------------------------

def build_workbook(path: str, rows: str) -> dict[str, Any]:
    """Create ``path`` with ``rows`` runs in one batch append; time it and describe the file."""
    import zipfile

    import python_calamine

    import sheettrack
    from sheettrack import delivery
    from sheettrack.record import build_record
    from sheettrack.session import Session

    n = int(rows)
    rng = random.Random(n)
    records = []
    for i in range(n):
        f = run_fields(i, rng)
        records.append(build_record(**f["run"], params=f["params"], metrics=f["metrics"],
                                    notes=f["notes"]["notes"], provenance=f["provenance"]))
    t = time.perf_counter()
    sheettrack.init(path, TEMPLATE)
    session = Session.open(path)
    layout = session.layout(TEMPLATE)
    rows, new = delivery.build_rows(session, layout, records)
    delivery.store_rows(session, rows, layout.schema, new)  # straight to the store: a fixture, not a logged run
    seconds = time.perf_counter() - t
    book = python_calamine.CalamineWorkbook.from_path(path)
    header = book.get_sheet_by_name(SHEET).to_python(nrows=1)[0]
    with zipfile.ZipFile(path) as zf:
        xml = max(i.file_size for i in zf.infolist() if i.filename.startswith("xl/worksheets/"))
    return {"build_s": seconds, "cols": sum(1 for v in header if v not in (None, "")),
            "file_mb": os.path.getsize(path) / 2**20, "xml_mb": xml / 2**20}


def check_rows(path: str, expected: str, last_ids: str) -> dict[str, Any]:
    """Whether calamine reads ``expected`` data rows ending with the run ids ``last_ids``."""
    import zipfile

    import python_calamine

    want, ids = int(expected), json.loads(last_ids)
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
        if bad is not None:
            return {"problem": f"zip member {bad} fails its CRC"}
        values = python_calamine.CalamineWorkbook.from_path(path).get_sheet_by_name(SHEET).to_python()
    except Exception as exc:  # any reader error means a broken workbook
        return {"problem": f"unreadable: {exc}"}
    header, rows = values[0], values[1:]
    while rows and all(v in (None, "") for v in rows[-1]):
        rows.pop()
    if len(rows) != want:
        return {"problem": f"{len(rows):,} data rows, expected {want:,}"}
    if "run_id" not in header:
        return {"problem": "no run_id column in the header"}
    col = header.index("run_id")
    got = [row[col] for row in rows[len(rows) - len(ids):]]
    if got != ids:
        return {"problem": f"last run ids {got} are not the logged {ids}"}
    return {"problem": None}


WORKER_TASKS = {"build": build_workbook, "check": check_rows}


def worker_main(argv: list[str]) -> int:
    print(json.dumps(WORKER_TASKS[argv[0]](*argv[1:])))
    return 0


# -- measuring -------------------------------------------------------------------------------

def measure_size(n: int, repeat: int, workdir: Path, naive: bool) -> dict[str, Any]:
    book = workdir / f"runs-{n}.xlsx"
    result: dict[str, Any] = {"rows": n, **worker("build", str(book), str(n)), "problems": []}
    naive_book = workdir / f"runs-{n}-openpyxl.xlsx"
    naive = naive and n <= NAIVE_MAX_ROWS
    if naive:
        shutil.copyfile(book, naive_book)
    general_book = workdir / f"runs-{n}-general.xlsx"
    shutil.copyfile(book, general_book)
    cli_book = workdir / f"runs-{n}-cli.xlsx"
    shutil.copyfile(book, cli_book)

    warm = child(WARM_CHILD, str(book), json.dumps(log_kwargs(0)), str(WARM_APPENDS), str(WARM_LOGS))
    result.update(store_s=warm["store_s"], store_max_s=warm["store_max_s"],
                  store_cpu_s=warm["store_cpu_s"], warm_log_s=warm["log_s"],
                  warm_peak=warm["peak_mb"], ways=warm["ways"], copies=warm["copies"])
    if warm["ways"] != ["replace"]:
        result["problems"].append(f"{n:,} rows: the appends wrote {warm['ways']}, not by atomic replace")
    if "package" in warm["copies"]:
        result["problems"].append(f"{n:,} rows: an append rewrote every part (the general path) "
                                  "on a workbook laid out for the fast one")
    os.environ["SHEETTRACK_WRITE"] = "inplace"  # the opt-in in-place write, same workbook
    try:
        fast = child(WARM_CHILD, str(book), json.dumps(log_kwargs(0)), str(WARM_APPENDS), str(WARM_LOGS))
    finally:
        os.environ.pop("SHEETTRACK_WRITE", None)
    result.update(inplace_s=fast["store_s"], inplace_peak=fast["peak_mb"])
    if fast["ways"] != ["inplace"]:
        result["problems"].append(f"{n:,} rows: SHEETTRACK_WRITE=inplace wrote {fast['ways']}")
    appends = [child(SHEETTRACK_CHILD, str(book), json.dumps(log_kwargs(i))) for i in range(repeat)]
    result["st_s"] = statistics.median(a["seconds"] for a in appends)
    result["st_peak"] = max(a["peak_mb"] for a in appends)
    result["st_base"] = statistics.median(a["base_mb"] for a in appends)
    ids = json.dumps(fast["run_ids"] + [a["run_id"] for a in appends])
    # both warm children (the default write, then in place) appended to this workbook
    why = worker("check", str(book), str(n + 2 * (WARM_APPENDS + WARM_LOGS) + repeat), ids)["problem"]
    if why:
        result["problems"].append(f"sheettrack workbook, {n:,} rows: {why}")

    # the whole command, start-up and imports included, as a shell or R script logs
    cli_ids, cli_times = [], []
    for _ in range(CLI_RUNS):
        seconds, out = run([*cli_command(), "log", str(cli_book), "-p", "lr=0.01", "-m", "accuracy=0.9"])
        cli_times.append(seconds)
        cli_ids.append(out.strip())
    result["cli_s"] = statistics.median(cli_times)
    why = worker("check", str(cli_book), str(n + CLI_RUNS), json.dumps(cli_ids))["problem"]
    if why:
        result["problems"].append(f"CLI workbook, {n:,} rows: {why}")

    # the general path: what an append costs when the segment index is gone (a workbook last
    # saved by Excel, LibreOffice or openpyxl); it re-reads and re-compresses the whole sheet
    general = []
    for i in range(repeat):
        drop_index(general_book)
        general.append(child(SHEETTRACK_CHILD, str(general_book), json.dumps(log_kwargs(10**5 + i))))
    result["gen_s"] = statistics.median(a["seconds"] for a in general)
    result["gen_peak"] = max(a["peak_mb"] for a in general)

    if naive:
        a = child(NAIVE_CHILD, str(naive_book), json.dumps(naive_values(n)), SHEET)
        result.update(naive_s=a["seconds"], naive_peak=a["peak_mb"], naive_base=a["base_mb"])
        why = worker("check", str(naive_book), str(n + 1), json.dumps([a["run_id"]]))["problem"]
        if why:
            result["problems"].append(f"openpyxl workbook, {n:,} rows: {why}")
    for path in (naive_book, general_book, cli_book):
        path.unlink(missing_ok=True)
    return result


def cli_command() -> list[str]:
    exe = shutil.which("sheettrack", path=str(Path(sys.executable).parent)) or shutil.which("sheettrack")
    return [exe] if exe else [sys.executable, "-c", "from sheettrack.cli import main; main()"]


def drop_index(path: Path) -> None:
    """Remove the zip comment (where sheettrack keeps its segment index), as a re-save would."""
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 20:eocd + 22] = b"\x00\x00"
    path.write_bytes(bytes(data[:eocd + 22]))


def measure_locks(workdir: Path, logs: int = 3) -> list[list[int]]:
    """Workbook locks taken and new versions of the workbook written by each of ``logs``
    ``sheettrack.log`` calls in one process, the first into a new workbook."""
    book = workdir / "locks.xlsx"
    return child(LOCKS_CHILD, str(book), json.dumps(log_kwargs(0)), str(logs))["counts"]


def measure_imports() -> dict[str, Any]:
    import_times = [run([sys.executable, "-c", "import sheettrack"])[0] for _ in range(IMPORT_RUNS)]
    bare_times = [run([sys.executable, "-c", "pass"])[0] for _ in range(IMPORT_RUNS)]
    return {"import_s": statistics.median(import_times), "bare_s": statistics.median(bare_times)}


def profile_append(n: int, workdir: Path) -> None:
    """Print a cProfile of one more append, into a copy of the ``n``-row workbook."""
    book = workdir / f"profile-{n}.xlsx"
    shutil.copyfile(workdir / f"runs-{n}.xlsx", book)
    print(f"\ncProfile of one sheettrack.log into the {n:,}-row workbook")
    print(run([sys.executable, "-c", PROFILE_CHILD, str(book), json.dumps(log_kwargs(10**6))])[1]
          .rstrip())


# -- reporting -------------------------------------------------------------------------------

def ratio(a: float | None, b: float) -> str:
    if a is None or b <= 0:
        return "-"
    return f"{a / b:,.0f}x" if a / b >= 10 else f"{a / b:.1f}x"


def print_tables(results: list[dict[str, Any]], repeat: int) -> None:
    print(f"\nWorkbooks (template {TEMPLATE!r}, built by one batch append of N rows)")
    print(f"{'rows':>8}  {'columns':>7}  {'build s':>7}  {'file MB':>7}  {'sheet XML MB':>12}")
    for r in results:
        print(f"{r['rows']:>8,}  {r['cols']:>7}  {r['build_s']:>7.1f}  {r['file_mb']:>7.1f}  "
              f"{r['xml_mb']:>12.1f}")

    print(f"\nOne append. 'append': the store's append of one checked row in a process that logs "
          f"many (median of {WARM_APPENDS}; lock, new copy, fsync and rename")
    print("and fsyncs included); 'CPU ms': its processor time, which leaves out waiting for the "
          "disk; 'log() warm': sheettrack.log there,")
    print(f"provenance included (median of {WARM_LOGS}); 'log() cold': sheettrack.log as the only "
          f"call of a fresh process (median of {repeat}); 'CLI': the")
    print(f"whole `sheettrack log` command (median of {CLI_RUNS}); 'general': a workbook last "
          "saved by another program (the whole sheet")
    print("re-read and re-compressed once); openpyxl: load + append + save (1 run).")
    print(f"{'rows':>8}  {'append ms':>9}  {'CPU ms':>6}  {'max ms':>6}  {'peak MB':>7}  {'log() warm':>10}  "
          f"{'log() cold':>10}  {'peak MB':>7}  {'CLI s':>6}  {'general ms':>10}  {'peak MB':>7}  "
          f"{'openpyxl s':>10}  {'peak MB':>7}  {'in place ms':>11}")
    for r in results:
        naive = (f"{r['naive_s']:>10.2f}  {r['naive_peak']:>7.0f}" if "naive_s" in r
                 else f"{'-':>10}  {'-':>7}")
        print(f"{r['rows']:>8,}  {r['store_s'] * 1000:>9.1f}  {r['store_cpu_s'] * 1000:>6.1f}  "
              f"{r['store_max_s'] * 1000:>6.1f}  "
              f"{r['warm_peak']:>7.0f}  {r['warm_log_s'] * 1000:>8.0f}ms  {r['st_s'] * 1000:>8.0f}ms  "
              f"{r['st_peak']:>7.0f}  {r['cli_s']:>6.3f}  {r['gen_s'] * 1000:>10.0f}  "
              f"{r['gen_peak']:>7.0f}  {naive}  {r['inplace_s'] * 1000:>11.1f}")
    copies = sorted({c for r in results for c in r["copies"]})
    print(f"The default write copied the workbook's unchanged start by: {', '.join(copies)} "
          "(reflink: the file system shares the")
    print("extents, so only the end is new; copy_file_range: the kernel copies, nothing passes "
          "through this process).")
    print("\nRatios (the same run)")
    print(f"{'rows':>8}  {'openpyxl/append':>15}  {'openpyxl/log() cold':>19}  "
          f"{'general/append':>14}  {'openpyxl/log() memory':>21}")
    for r in results:
        print(f"{r['rows']:>8,}  {ratio(r.get('naive_s'), r['store_s']):>15}  "
              f"{ratio(r.get('naive_s'), r['st_s']):>19}  {ratio(r['gen_s'], r['store_s']):>14}  "
              f"{ratio(r.get('naive_peak'), r['st_peak']):>21}")
    first, last = results[0], results[-1]
    if len(results) > 1:
        print(f"\nGrowth from {first['rows']:,} to {last['rows']:,} rows "
              f"({last['rows'] / first['rows']:,.0f}x the rows, {last['file_mb'] / first['file_mb']:,.0f}x "
              f"the file): append {ratio(last['store_s'], first['store_s'])} "
              f"(its CPU time {ratio(last['store_cpu_s'], first['store_cpu_s'])}), "
              f"log() cold {ratio(last['st_s'], first['st_s'])}, CLI {ratio(last['cli_s'], first['cli_s'])}, "
              f"general path {ratio(last['gen_s'], first['gen_s'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="comma-separated row counts [1000,10000,50000,200000]")
    parser.add_argument("--repeat", type=int, help="sheettrack appends per size [3; 2 with --quick]")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,5000 and 2 repeats (CI)")
    parser.add_argument("--no-openpyxl", dest="naive", action="store_false",
                        help="skip the openpyxl load+append+save baseline")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one append at the largest size")
    parser.add_argument("--workdir", type=Path, help="folder for the workbooks [a temporary one]")
    parser.add_argument("--keep", action="store_true", help="keep the workbooks")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()}
                       if args.sizes else set(QUICK_SIZES if args.quick else DEFAULT_SIZES))
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: expected comma-separated integers")
    repeat = args.repeat or (2 if args.quick else 3)
    if not sizes or sizes[0] < 1 or repeat < 1:
        parser.error("--sizes and --repeat must be positive")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sheettrack-bench-", dir=args.workdir))

    t0 = time.perf_counter()
    try:
        # compile sheettrack's modules once, as an installed package has them compiled; with
        # PYTHONDONTWRITEBYTECODE set every process would otherwise compile them from source
        run([sys.executable, "-c", "import compileall, sheettrack, os; "
             "compileall.compile_dir(os.path.dirname(sheettrack.__file__), quiet=1)"])
        mods = child(MODULES_CHILD)
        print(f"sheettrack {mods['version']} append benchmark: Python {platform.python_version()}, "
              f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"sizes {', '.join(f'{n:,}' for n in sizes)}; {repeat} cold sheettrack append(s) per "
              f"size; openpyxl up to {NAIVE_MAX_ROWS:,} rows; workbooks in {workdir}")
        results = []
        for n in sizes:
            print(f"  {n:,} rows ...", end="", flush=True)
            t = time.perf_counter()
            results.append(measure_size(n, repeat, workdir, args.naive))
            print(f" {time.perf_counter() - t:.0f} s", flush=True)
        imports = measure_imports()
        locks = measure_locks(workdir)
        print_tables(results, repeat)
        later = ", ".join(f"{n} lock(s) and {w} rewrite(s)" for n, w in locks[1:])
        print(f"\nLocks and rewrites (the workbook's lock taken; a new version written) per sheettrack.log "
              f"in one process: the first into a new workbook {locks[0][0]} lock(s) and {locks[0][1]} "
              f"rewrite(s); then {later}")

        clean = not (mods["pandas"] or mods["openpyxl"])
        print(f"\nStart-up (median of {IMPORT_RUNS})")
        print(f"  python -c 'import sheettrack'{'':30}{imports['import_s']:.3f} s")
        print(f"  python -c pass{'':45}{imports['bare_s']:.3f} s")
        print(f"  import sheettrack imports neither pandas nor openpyxl: {'yes' if clean else 'no'} "
              f"(pandas {'imported' if mods['pandas'] else 'not imported'}, "
              f"openpyxl {'imported' if mods['openpyxl'] else 'not imported'})")

        at = next((r for r in results if r["rows"] == TARGET_ROWS), results[-1])
        where = (f"at {at['rows']:,} rows" if at["rows"] == TARGET_ROWS
                 else f"at {at['rows']:,} rows; target is for {TARGET_ROWS:,}")
        problems = [p for r in results for p in r["problems"]]
        peak = max(at["warm_peak"], at["st_peak"])
        checks = [
            (f"append <= {TARGET_APPEND_S * 1000:.0f} ms ({where})", f"{at['store_s'] * 1000:.1f} ms",
             at["store_s"] <= TARGET_APPEND_S),
            (f"peak memory <= {TARGET_PEAK_MB:.0f} MB ({where})", f"{peak:.0f} MB",
             peak <= TARGET_PEAK_MB),
            (f"whole `sheettrack log` <= {TARGET_CLI_S} s ({where})", f"{at['cli_s']:.3f} s",
             at["cli_s"] <= TARGET_CLI_S),
            ("import sheettrack imports neither pandas nor openpyxl", "yes" if clean else "no",
             clean),
            ("appends write as chosen (replace, or in place when asked); calamine reads every row",
             f"{len(problems)} problem(s)" if problems else "yes", not problems),
        ]
        print("\nTargets")
        for name, value, ok in checks:
            print(f"  {'PASS' if ok else 'FAIL'}  {name:<62} {value}")
        for p in problems:
            print(f"        {p}")

        if args.profile:
            profile_append(results[-1]["rows"], workdir)

        big = results[-1]
        summary = (f"at {big['rows']:,} rows an append costs {big['store_s'] * 1000:.1f} ms "
                   f"({big['st_s'] * 1000:.0f} ms for a whole sheettrack.log in a fresh process, "
                   f"{big['st_peak']:.0f} MB peak; the general path {big['gen_s'] * 1000:.0f} ms, "
                   f"{big['gen_peak']:.0f} MB)")
        with_naive = [r for r in results if "naive_s" in r]
        if with_naive:
            r = with_naive[-1]
            summary += (f"; at {r['rows']:,} rows openpyxl load+append+save takes {r['naive_s']:.1f} s "
                        f"and {r['naive_peak']:.0f} MB ({ratio(r['naive_s'], r['store_s'])} the "
                        f"append, {ratio(r['naive_peak'], r['st_peak'])} the memory)")
        passed = sum(ok for _, _, ok in checks)
        print(f"\nSummary: {summary}. {passed} of {len(checks)} checks pass "
              f"({time.perf_counter() - t0:.0f} s in all).")
        # speed and memory are judged at the target size; a smaller pass (--quick, in CI on a
        # shared machine) reports them but fails only on what is not a timing: imports, rows
        timed = 3  # the first three checks are speed and memory
        judged = checks if at["rows"] == TARGET_ROWS else checks[timed:]
        if at["rows"] != TARGET_ROWS and not all(ok for _, _, ok in checks[:timed]):
            print(f"(speed and memory are judged at {TARGET_ROWS:,} rows: the exit status here "
                  "counts only the other checks)")
        return 0 if all(ok for _, _, ok in judged) else 1
    finally:
        if args.keep:
            print(f"workbooks kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_worker"]:
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit(main())
