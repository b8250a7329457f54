"""Copying runs to an MLflow tracking server and back, against MLflow's own client.

Starts ``mlflow server`` (SQLite backend, a temporary folder, 127.0.0.1), writes N runs to a
workbook, then times: ``sheettrack.copy`` workbook -> MLflow experiment, ``sheettrack.copy``
MLflow -> a new workbook, and MLflow's own client logging the same runs into another
experiment the way its docs show (``create_run``, one ``log_batch``, ``set_terminated`` per
run), all in this one process against the same server. Prints runs per second for each.
Then counts the requests sheettrack's logs send to the server (a first log into a new
experiment, more logs in one process, the first log of a new process, a batch of 100 rows),
with the store keeping its experiment's tags and, for comparison in the same run, with every
experiment lookup asking the server again, as the store did before it kept them.
Exits non-zero only when values differ after the round trip, never on timings or counts.

Run: ``python benchmarks/mlflow_copy.py`` (10,000 runs) or ``--quick`` (200 runs, for CI).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mlflow_server import Requests, Server  # noqa: E402

#: Single logs counted in one process after its first.
MORE_LOGS = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 runs instead of 10,000")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    n = args.runs or (200 if args.quick else 10_000)

    import pandas as pd

    import sheettrack
    from sheettrack.batch import log_many

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.update(SHEETTRACK_OUTBOX_DIR=str(folder / "outbox"),
                          SHEETTRACK_ARTIFACTS=str(folder / "artifacts"))
        server = Server(folder / "server")
        server.folder.mkdir()
        t0 = time.perf_counter()
        server.start()
        print(f"mlflow server up in {time.perf_counter() - t0:.1f} s")
        try:
            book = folder / "runs.xlsx"
            runs = [{"params": {"lr": 10 ** -(1 + i % 5), "depth": i % 12, "optimizer": ["adam", "sgd"][i % 2],
                                "layers": [64, 32, i % 7]},
                     "metrics": {"accuracy": (i % 1000) / 1000, "loss": 1 / (1 + i), "epoch_time_s": 1.5 + i % 3},
                     "tags": {"fold": str(i % 5)}} for i in range(n)]
            log_many(book, runs)
            target = f"mlflow+{server.url}/bench"

            t0 = time.perf_counter()
            result = sheettrack.copy(book, target, progress=False)
            to_mlflow = time.perf_counter() - t0
            back = folder / "back.xlsx"
            t0 = time.perf_counter()
            sheettrack.copy(target, back, progress=False)
            from_mlflow = time.perf_counter() - t0

            native = native_logging(server.url, runs)
            counted = requests_per_log(server)

            a = sheettrack.load(book).sort_values("run_id").reset_index(drop=True)
            b = sheettrack.load(back).sort_values("run_id").reset_index(drop=True)
            same = result.copied == n and list(a.columns) == list(b.columns) and a.equals(b)
            if not same:
                pd.testing.assert_frame_equal(a, b)  # says where they differ
        finally:
            server.stop()
    print(f"{n} runs, 4 params, 3 metrics, 1 tag, full provenance each")
    print(f"  sheettrack copy workbook -> MLflow   {to_mlflow:8.1f} s  {n / to_mlflow:8.0f} runs/s")
    print(f"  sheettrack copy MLflow -> workbook   {from_mlflow:8.1f} s  {n / from_mlflow:8.0f} runs/s")
    print(f"  MLflow client, one log_batch a run   {native:8.1f} s  {n / native:8.0f} runs/s")
    print("values equal after the round trip" if same else "VALUES DIFFER after the round trip")
    print(f"\n{'requests to the tracking server':40} {'rows':>4} {'tags kept':>10} {'each lookup asks':>17}")
    for name, rows, kept, asked in counted:
        print(f"  {name:38} {rows:>4} {kept:>10} {asked:>17}   per row {kept / rows:.2f} vs {asked / rows:.2f}")
    return 0 if same else 1


def requests_per_log(server: Server) -> list[tuple[str, int, int, int]]:
    """Requests sheettrack's logs send to ``server``: (case, rows, with the store keeping its
    experiment's tags, with every experiment lookup asking the server again)."""
    from sheettrack.session import Session
    from sheettrack.stores.mlflow import MlflowStore

    keeping = MlflowStore.experiment_tags

    def asking(store: MlflowStore, create: bool = False, fresh: bool = False) -> dict[str, str] | None:
        store.looked = False  # nothing kept, not even that the experiment was missing
        return keeping(store, create, True)

    counts = {}
    for how, lookup in (("kept", keeping), ("asked", asking)):
        MlflowStore.experiment_tags = lookup  # type: ignore[method-assign]
        Session.forget()  # a fresh process
        try:
            counts[how] = counted_logs(server, f"mlflow+{server.url}/requests-{how}")
        finally:
            MlflowStore.experiment_tags = keeping  # type: ignore[method-assign]
            Session.forget()
    return [(name, n, kept, asked) for (name, n, kept), (_, _, asked) in zip(counts["kept"], counts["asked"])]


def counted_logs(server: Server, target: str) -> list[tuple[str, int, int]]:
    """(case, rows, requests sent) for logs into a new experiment ``target``."""
    import sheettrack
    from sheettrack.batch import log_many
    from sheettrack.session import Session

    def one(i: int = 0) -> None:
        sheettrack.log(target, params={"lr": 0.1, "depth": i % 12}, metrics={"accuracy": 0.5}, on_error="raise")

    def batch() -> None:
        log_many(target, [{"params": {"lr": i / 100}, "metrics": {"accuracy": 0.5}} for i in range(100)],
                 on_error="raise")

    with Requests(server) as sent:
        first = sum(sent.during(one).values())
        more = sum(sent.during(lambda: [one(i) for i in range(MORE_LOGS)]).values())
        Session.forget()
        fresh = sum(sent.during(one).values())
        many = sum(sent.during(batch).values())
    return [("first log, new experiment", 1, first), (f"{MORE_LOGS} more logs in that process", MORE_LOGS, more),
            ("first log of a new process", 1, fresh), ("log_many, 100 rows", 100, many)]


def native_logging(url: str, runs: list[dict]) -> float:
    """Seconds MLflow's own client takes to log ``runs``: create_run, one log_batch with the
    params, metrics and tags, set_terminated."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment("bench-native")
    t0 = time.perf_counter()
    for run in runs:
        now = int(time.time() * 1000)
        rid = client.create_run(exp, start_time=now).info.run_id
        client.log_batch(rid, metrics=[Metric(k, v, now, 0) for k, v in run["metrics"].items()],
                         params=[Param(k, str(v)) for k, v in run["params"].items()],
                         tags=[RunTag(k, v) for k, v in run["tags"].items()])
        client.set_terminated(rid, "FINISHED", now)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
