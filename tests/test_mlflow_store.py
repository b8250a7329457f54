"""The MLflow store against a real tracking server: ``mlflow server`` on a SQLite database in
a temporary folder on 127.0.0.1, started once for the test session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow")

import sheettrack  # noqa: E402
from sheettrack.errors import (  # noqa: E402
    StoreError,
    StoreUnavailableError,
    TargetError,
    ValidationError,
)
from sheettrack.stores import is_target, open_store  # noqa: E402
from sheettrack.stores.mlflow import MlflowStore, parse_target  # noqa: E402
from tests.mlflow_server import Requests, Server  # noqa: E402


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


_names = iter(range(10**6))


@pytest.fixture
def target(mlflow_server: Server) -> str:
    """A fresh experiment's target on the session's server."""
    return f"mlflow+{mlflow_server.url}/exp-{os.getpid()}-{next(_names)}"


def client(server: Server) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.url)


def only_run(server: Server, experiment: str) -> Any:
    c = client(server)
    exp = c.get_experiment_by_name(experiment)
    runs = c.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


# -- targets --------------------------------------------------------------------------------

def test_mlflow_targets_are_targets_and_name_a_server_and_an_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_target("mlflow+http://127.0.0.1:5000/digits")
    assert is_target("mlflow://digits")
    assert not is_target("mlflow.xlsx.txt")
    assert parse_target("mlflow+http://host:5000/digits") == ("http://host:5000", "digits")
    assert parse_target("mlflow+https://host/proxy/mlflow/my%20exp") == ("https://host/proxy/mlflow", "my exp")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    assert parse_target("mlflow://digits") == ("http://tracker:5000", "digits")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(TargetError, match="MLFLOW_TRACKING_URI"):
        parse_target("mlflow://digits")
    with pytest.raises(TargetError, match="no experiment"):
        parse_target("mlflow+http://host:5000/")
    assert isinstance(open_store("mlflow+http://host:5000/digits"), MlflowStore)


# -- a row is a run -------------------------------------------------------------------------

def test_a_logged_row_is_a_run_with_params_metrics_tags_and_system_tags(mlflow_server: Server, target: str,
                                                                        tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    run_id = sheettrack.log(target, params={"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam"},
                                            "epochs": 3, "amsgrad": False},
                            metrics={"acc": 0.93, "loss": 0.25}, tags={"team": "vision"},
                            notes="first try", hypothesis="wider is better", data=data,
                            on_error="raise")
    run = only_run(mlflow_server, parse_target(target)[1])
    assert run.data.params == {"lr": "0.1", "layers": "[64, 32]", "opt.name": "adam", "epochs": "3",
                               "amsgrad": "false"}
    assert run.data.metrics == {"acc": 0.93, "loss": 0.25}
    tags = run.data.tags
    assert tags["team"] == "vision"
    assert tags["sheettrack.run_id"] == run_id
    assert tags["mlflow.note.content"] == "first try"
    assert tags["sheettrack.hypothesis"] == "wider is better"
    assert tags["mlflow.user"]
    assert run.info.status == "FINISHED" and run.info.end_time >= run.info.start_time
    inputs = run.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train.csv"]
    assert inputs[0].dataset.digest.startswith("sha256:")

    frame = sheettrack.load(target)
    assert len(frame) == 1
    row = frame.iloc[0]
    # the stored template restores the types MLflow keeps as text
    assert row["lr"] == 0.1 and row["epochs"] == 3 and not row["amsgrad"]
    assert frame.dtypes["amsgrad"] == "boolean" and frame.dtypes["epochs"] == "Int64"
    assert row["layers"] == [64, 32]
    assert row["run_id"] == run_id and row["status"] == "finished"
    assert row["notes"] == "first try"


def test_a_run_id_already_there_is_skipped(mlflow_server: Server, target: str) -> None:
    sheettrack.log(target, run_id="R1", metrics={"acc": 0.5}, on_error="raise")
    with pytest.raises(ValidationError, match="R1"):  # a caller's id names one run
        sheettrack.log(target, run_id="R1", metrics={"acc": 0.6}, on_error="raise")
    store = open_store(target)  # a retry of sheettrack's own (a lost answer) writes it once
    schema = store.read_schema()
    assert schema is not None
    store.append([{"run_id": "R1", "status": "finished", "acc": 0.7}], schema, [])
    run = only_run(mlflow_server, parse_target(target)[1])
    assert run.data.metrics["acc"] == 0.5


def test_a_failed_run_is_a_failed_mlflow_run_and_reads_back_failed(mlflow_server: Server, target: str) -> None:
    with pytest.raises(RuntimeError):
        with sheettrack.start_run(target, on_error="raise") as run:
            run.log_params({"seed": 7})
            raise RuntimeError("diverged")
    frame = sheettrack.load(target)
    assert frame.iloc[0]["status"] == "failed" and "diverged" in frame.iloc[0]["error"]
    store = open_store(target)
    assert isinstance(store, MlflowStore)
    schema = store.read_schema()
    assert schema is not None and schema.column("seed") is not None
    assert only_run(mlflow_server, parse_target(target)[1]).info.status == "FAILED"


# -- bad inputs and faults ------------------------------------------------------------------

def test_reading_an_unknown_experiment_names_it(mlflow_server: Server) -> None:
    store = open_store(f"mlflow+{mlflow_server.url}/no-such-experiment")
    assert not store.exists()
    with pytest.raises(StoreError, match="no experiment named 'no-such-experiment'"):
        store.read()


def test_a_param_too_long_for_mlflow_is_refused_naming_it(target: str) -> None:
    with pytest.raises(ValidationError, match="prompt"):
        sheettrack.log(target, params={"prompt": "x" * 7000}, on_error="raise")


def test_a_name_mlflow_refuses_is_refused_naming_it(target: str) -> None:
    with pytest.raises(ValidationError, match=r"acc \(val\).*MLflow names"):
        sheettrack.log(target, metrics={"acc (val)": 0.9}, on_error="raise")


def test_server_down_the_row_waits_and_sync_delivers_it(mlflow_server: Server, target: str) -> None:
    sheettrack.log(target, metrics={"acc": 0.1}, on_error="raise")  # the experiment exists
    mlflow_server.stop()
    try:
        with pytest.raises(StoreUnavailableError):
            sheettrack.log(target, run_id="WAITING", metrics={"acc": 0.2}, on_error="raise")
        assert [e["run_id"] for e in sheettrack.pending(target)] == ["WAITING"]
    finally:
        mlflow_server.start()
    sheettrack.sync(target)
    assert sheettrack.pending(target) == []
    frame = sheettrack.load(target)
    assert sorted(frame["acc"]) == [0.1, 0.2]
    assert "WAITING" in set(frame["run_id"])


# -- copy both ways -------------------------------------------------------------------------

def test_copy_workbook_to_mlflow_and_back_keeps_every_value(target: str, tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    for i in range(5):
        sheettrack.log(book, params={"lr": 0.1 ** i, "arch": f"net{i}", "sizes": [i, i + 1]},
                       metrics={"acc": 0.5 + i / 10, "loss": float("nan") if i == 2 else 1 / (i + 1)},
                       tags={"fold": str(i)}, notes=f"run {i}", hypothesis="h", on_error="raise")
    assert sheettrack.copy(book, target, progress=False) == sheettrack.CopyResult(5, 0)
    assert sheettrack.copy(book, target, progress=False) == sheettrack.CopyResult(0, 5)
    back = tmp_path / "back.xlsx"
    assert sheettrack.copy(target, back, progress=False) == sheettrack.CopyResult(5, 0)
    a = sheettrack.load(book).sort_values("run_id").reset_index(drop=True)
    b = sheettrack.load(back).sort_values("run_id").reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    import pandas.testing as pdt

    pdt.assert_frame_equal(a, b)


def test_copy_from_an_experiment_logged_with_mlflows_own_client(mlflow_server: Server, tmp_path: Path) -> None:
    from mlflow.entities import Metric, Param

    c = client(mlflow_server)
    exp = c.create_experiment(f"native-{os.getpid()}")
    for i in range(3):
        run = c.create_run(exp, start_time=1_700_000_000_000 + i)
        c.log_batch(run.info.run_id, metrics=[Metric("rmse", 1.0 / (i + 1), 0, 0)],
                    params=[Param("depth", str(i + 2))])
        c.set_terminated(run.info.run_id, "FINISHED", 1_700_000_001_000 + i)
    running = c.create_run(exp, start_time=1_700_000_000_100).info.run_id  # still training
    book = tmp_path / "native.xlsx"
    source = f"mlflow+{mlflow_server.url}/native-{os.getpid()}"
    result = sheettrack.copy(source, book, progress=False)
    assert result.copied == 3
    frame = sheettrack.load(book)
    assert sorted(frame["rmse"]) == pytest.approx([1 / 3, 1 / 2, 1.0])
    assert sorted(frame["depth"]) == ["2", "3", "4"]
    assert set(frame["status"]) == {"finished"}
    c.set_terminated(running, "KILLED", 1_700_000_002_000)  # it ended: the next copy takes it
    assert sheettrack.copy(source, book, progress=False) == sheettrack.CopyResult(1, 3)
    assert sheettrack.load(book).set_index("run_id").loc[running, "status"] == "interrupted"


def test_reference_rows_are_experiment_tags(target: str) -> None:
    sheettrack.log(target, metrics={"acc": 0.5}, on_error="raise")
    store = open_store(target)
    envs = store.read("Environments")
    assert "env_hash" in envs.header and len(envs.rows) == 1
    keys = store.prefetched_keys("Environments", "env_hash")
    assert keys == {envs.rows[0][envs.header.index("env_hash")]}
    assert json.loads(json.dumps(envs.rows[0], default=str))


def test_the_copy_command_takes_mlflow_targets_both_ways(target: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sheettrack.cli import main

    book = tmp_path / "runs.xlsx"
    sheettrack.log(book, params={"depth": 4}, metrics={"acc": 0.75}, on_error="raise")
    runner = CliRunner()
    out = runner.invoke(main, ["copy", str(book), target])
    assert out.exit_code == 0, out.output
    assert "copied 1 run(s)" in out.output
    back = tmp_path / "back.xlsx"
    out = runner.invoke(main, ["copy", target, str(back)])
    assert out.exit_code == 0, out.output
    assert sheettrack.load(back)["depth"].tolist() == [4]


def test_register_on_an_mlflow_target_registers_a_model_version(mlflow_server: Server, target: str,
                                                                tmp_path: Path) -> None:
    run_id = sheettrack.log(target, params={"depth": 3}, metrics={"acc": 0.9}, on_error="raise")
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    registered = sheettrack.register_model(target, run_id, name="digits-mlp", model=model,
                                           aliases=["production"])
    assert registered.version == 1 and registered.aliases == ["production"]
    c = client(mlflow_server)
    version = c.get_model_version_by_alias("digits-mlp", "production")
    assert version.run_id == only_run(mlflow_server, parse_target(target)[1]).info.run_id
    assert version.tags["sheettrack.version"] == "1"
    assert [a.path for a in c.list_artifacts(version.run_id, "model")] == ["model/model.pkl"]
    assert [m.version for m in sheettrack.list_models(target)] == [1]


def test_a_wide_run_is_split_within_mlflows_batch_limits_with_its_id_last() -> None:
    from sheettrack.stores.mlflow.mapping import RUN_ID_TAG, RunPlan
    from sheettrack.stores.mlflow.store import batches

    plan = RunPlan(run_id="W", start_ms=0, end_ms=1, status="FINISHED",
                   params={f"p{i}": str(i) for i in range(150)},
                   metrics={f"m{i}": float(i) for i in range(1200)},
                   tags={"team": "x", RUN_ID_TAG: "W"})
    requests = batches(plan)
    assert all(len(p) + len(t) <= 100 and len(m) + len(p) + len(t) <= 1000 for m, p, t in requests)
    assert sum(len(p) for _, p, _ in requests) == 150 and sum(len(m) for m, _, _ in requests) == 1200
    assert [k for _, _, t in requests for k, _ in t][-1] == RUN_ID_TAG
    assert all(RUN_ID_TAG not in dict(t) for _, _, t in requests[:-1])


def test_a_workbook_mirrored_to_mlflow_keeps_both_in_step(mlflow_server: Server, target: str,
                                                          tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    rid = sheettrack.log(book, params={"lr": 0.1}, metrics={"accuracy": 0.9}, mirror=target,
                         template="classification", on_error="raise")
    run = only_run(mlflow_server, parse_target(target)[1])
    assert run.data.tags["sheettrack.run_id"] == rid and run.data.metrics["accuracy"] == 0.9
    assert sheettrack.load(book)["run_id"].tolist() == sheettrack.load(target)["run_id"].tolist() == [rid]


def test_copy_registers_a_workbooks_model_versions_in_mlflows_registry(mlflow_server: Server, target: str,
                                                                        tmp_path: Path) -> None:
    book = tmp_path / "runs.xlsx"
    run_id = sheettrack.log(book, params={"depth": 3}, metrics={"accuracy": 0.9})
    sheettrack.register_model(book, run_id, name="copied-model", aliases=["production"])
    result = sheettrack.copy(book, target)
    assert (result.copied, result.models) == (1, 1)
    version = client(mlflow_server).get_model_version_by_alias("copied-model", "production")
    assert version.run_id == only_run(mlflow_server, parse_target(target)[1]).info.run_id
    assert [(m.name, m.version) for m in sheettrack.list_models(target)] == [("copied-model", 1)]


def test_a_version_registered_with_mlflows_own_client_comes_into_the_models_sheet(mlflow_server: Server,
                                                                                  target: str,
                                                                                  tmp_path: Path) -> None:
    run_id = sheettrack.log(target, params={"depth": 3}, metrics={"acc": 0.9}, on_error="raise")
    c = client(mlflow_server)
    mlflow_run = only_run(mlflow_server, parse_target(target)[1]).info.run_id
    name = f"theirs-{parse_target(target)[1]}"
    c.create_registered_model(name)
    version = c.create_model_version(name, f"runs:/{mlflow_run}/model", run_id=mlflow_run)
    c.set_registered_model_alias(name, "staging", version.version)
    models = sheettrack.list_models(target)
    assert [(m.name, m.version, m.run_id, m.aliases) for m in models] == [(name, 1, run_id, ["staging"])]
    book = tmp_path / "back.xlsx"
    result = sheettrack.copy(target, book)
    assert (result.copied, result.models) == (1, 1)
    assert [(m.name, m.version, m.run_id) for m in sheettrack.list_models(book)] == [(name, 1, run_id)]


# -- requests a log sends -------------------------------------------------------------------

RUN_REQUESTS = {"POST runs/search": 1, "POST runs/create": 1, "POST runs/update": 1, "POST runs/log-batch": 1}


def test_a_log_looks_the_experiment_up_once_per_process(mlflow_server: Server, target: str) -> None:
    from sheettrack.session import Session

    def log(**params: Any) -> None:
        sheettrack.log(target, params={"lr": 0.1, **params}, metrics={"acc": 0.5}, on_error="raise")

    def log_100() -> None:
        sheettrack.log_many(target, [{"params": {"lr": i / 100}, "metrics": {"acc": 0.5}} for i in range(100)],
                            on_error="raise")

    with Requests(mlflow_server) as sent:
        # a new experiment: looked up (missing), created, the template and the Environments row
        # (header and row) kept as experiment tags, then the run's own requests
        assert sent.during(log) == {"GET experiments/get-by-name": 1, "POST experiments/create": 1,
                                    "POST experiments/set-experiment-tag": 3, **RUN_REQUESTS}
        # the run id looked up (exactly once by run id), the run created, ended, logged: no lookup
        assert sent.during(log) == RUN_REQUESTS
        assert sent.during(log) == RUN_REQUESTS
        Session.forget()  # as a new process: the experiment is looked up once
        assert sent.during(log) == {"GET experiments/get-by-name": 1, **RUN_REQUESTS}
        # a batch: the ids read once, three requests a run, no lookup
        assert sent.during(log_100) == {"POST runs/search": 1, "POST runs/create": 100, "POST runs/update": 100,
                                        "POST runs/log-batch": 100}
        # a new column: the template is read again before it is written (another process may
        # have added columns of its own), then kept as written
        assert sent.during(lambda: log(depth=3)) == {"GET experiments/get-by-name": 1,
                                                     "POST experiments/set-experiment-tag": 1, **RUN_REQUESTS}
        assert sent.during(lambda: log(depth=4)) == RUN_REQUESTS
    frame = sheettrack.load(target)
    assert len(frame) == 106 and frame["depth"].dropna().tolist() == [3, 4]


def test_columns_another_process_added_are_kept_and_read_with_their_types(mlflow_server: Server,
                                                                           target: str) -> None:
    from sheettrack.schema import Column

    sheettrack.log(target, params={"lr": 0.1}, metrics={"acc": 0.5}, on_error="raise")
    mine = open_store(target)
    assert mine.read().header.count("depth") == 0  # this handle keeps the experiment as it was
    other = open_store(target)  # another process adds an int column the first has not seen
    schema = other.read_schema()
    assert schema is not None
    depth = Column(name="depth", type="int", group="params")
    other.append([{"run_id": "OTHER", "status": "finished", "depth": 3}], schema.with_columns([depth]), [depth])
    table = mine.read()  # a run holds a param the kept template lacks: the template is read again
    assert table.header.count("depth") == 1 and [r[table.header.index("depth")] for r in table.rows] == ["", "3"]
    known = mine.read_schema()
    assert known is not None and known.column("depth") == depth  # an int column, not foreign text
    # this process, which kept the template from before, adds a column of its own: both stay
    sheettrack.log(target, params={"lr": 0.2, "width": 8, "depth": 5}, on_error="raise")
    stored = open_store(target).read_schema()
    assert stored is not None
    names = [c.name for c in stored.columns]
    assert names.count("depth") == names.count("width") == 1
    assert sorted(sheettrack.load(target)["depth"].dropna().tolist()) == [3, 5]


def test_an_experiment_deleted_after_it_was_looked_up_is_named_as_deleted(mlflow_server: Server,
                                                                         target: str) -> None:
    sheettrack.log(target, metrics={"acc": 0.5}, on_error="raise")  # the process knows it now
    c = client(mlflow_server)
    c.delete_experiment(c.get_experiment_by_name(parse_target(target)[1]).experiment_id)
    with pytest.raises(StoreError, match="was deleted; restore it"):
        sheettrack.log(target, run_id="AFTER", metrics={"acc": 0.6}, on_error="raise")
    assert [e["run_id"] for e in sheettrack.pending(target)] == ["AFTER"]


def test_summarize_on_an_mlflow_target_is_refused_plainly(target: str) -> None:
    """MLflow keeps no sheets: summarize says so (a StoreError the CLI prints as an error,
    exit 1), not an attribute error reported as a bug."""
    from click.testing import CliRunner

    from sheettrack.cli import main

    sheettrack.log(target, params={"lr": 0.1}, metrics={"accuracy": 0.9}, template="classification")
    with pytest.raises(StoreError, match="keeps no summary sheets"):
        sheettrack.summarize(target)
    out = CliRunner().invoke(main, ["summarize", target])
    assert out.exit_code == 1 and "keeps no summary sheets" in out.output and "internal error" not in out.output
