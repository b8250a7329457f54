"""An MLflow experiment as a store: each row a run on a tracking server, over MlflowClient.

The experiment keeps the sheettrack template as an experiment tag, so ``read`` gives back
typed values (MLflow keeps params as text). Reference rows (Environments, Data, Models) are
experiment tags too, one per key. A run is written as ``create_run``, its status and end,
its data sets, then ``log_batch``; the last ``log_batch`` carries the ``sheettrack.run_id``
tag, so a run whose id the experiment shows is complete, and a row whose id is there already
is skipped (delivery is exactly once by run id). The server not answering is a
``StoreUnavailableError``: the row waits in the outbox and ``sync`` delivers it later.

A handle looks its experiment up once and keeps the tags, updating them as it writes them
itself (see ``MlflowStore.experiment_tags`` for when it asks the server again): a log into an
experiment the handle knows sends only the run's own requests.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import SheetNotFoundError, StoreError, StoreUnavailableError, ValidationError
from ...schema import Schema, load_template
from ..base import ReferenceRows, Store, Table, Transaction
from ..rows import reconcile
from .mapping import (
    NAME_CHARACTERS,
    RUN_ID_TAG,
    RunPlan,
    RunView,
    foreign_columns,
    plan_run,
    stored_value,
)
from .targets import parse_target

SCHEMA_TAG = "sheettrack.schema"
REFERENCE_TAG = "sheettrack.ref."
#: The reference sheet of registered model versions (``sheettrack.registry``), whose rows are
#: also versions in MLflow's model registry.
MODELS_SHEET = "Models"
#: Most characters in one experiment tag; longer text continues in ``NAME~2``, ``NAME~3``...
EXPERIMENT_TAG_VALUE = 20_000
#: MLflow's log_batch limits: params and tags together, metrics, everything.
BATCH_PARAMS_TAGS, BATCH_METRICS = 100, 1000
#: Runs read per search request.
PAGE = 5000
#: Runs written at the same time by one write (each run is three requests or more).
PARALLEL_RUNS = 4
#: Rows at most looked up one by one before a write; more read the experiment's ids once.
LOOKUP_ONE_BY_ONE = 8
#: MLflow client settings used unless the environment sets them: no links printed on stdout,
#: and a server that does not answer is reported in seconds, not after minutes of retries.
CLIENT_DEFAULTS = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
#: MLflow run statuses of runs not ended yet.
UNENDED = ("RUNNING", "SCHEDULED")
#: Seconds a handle reports a server it could not reach as unreachable without asking again
#: (each request would wait through its retries: one failed write stays one short wait; a
#: server back after a restart, which takes longer than this, is asked again).
UNREACHABLE_FOR_S = 3.0
#: MLflow error codes that mean the request itself is wrong, not that the server is away.
REFUSALS = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS",
            "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE", "RESOURCE_LIMIT_EXCEEDED"}


def split_text(text: str, size: int = EXPERIMENT_TAG_VALUE) -> list[str]:
    """Text cut into pieces an experiment tag holds."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def joined_text(tags: dict[str, str], name: str) -> str | None:
    """The text kept in tag ``name`` and its continuations (None when there is no such tag)."""
    if name not in tags:
        return None
    parts, i = [tags[name]], 2
    while f"{name}~{i}" in tags:
        parts.append(tags[f"{name}~{i}"])
        i += 1
    return "".join(parts)


def reference_tag(sheet: str, key: str) -> str:
    """The experiment tag keeping the row of ``sheet`` with ``key`` (a key MLflow would refuse
    as a tag name is replaced by its hash)."""
    if not NAME_CHARACTERS.match(key) or len(key) > 120 or "~" in key:
        key = "h" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{REFERENCE_TAG}{sheet}.{key}"


class QuietClient:
    """Apply ``CLIENT_DEFAULTS`` the environment does not set while any call is under way
    (calls overlap when runs are written in parallel: the first sets, the last restores)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.set: list[str] = []

    def __enter__(self) -> None:
        with self.lock:
            if self.depth == 0:
                self.set = [name for name in CLIENT_DEFAULTS if name not in os.environ]
                os.environ.update({name: CLIENT_DEFAULTS[name] for name in self.set})
            self.depth += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                for name in self.set:
                    os.environ.pop(name, None)


quiet_client = QuietClient()


class MlflowStore(Store):
    """Runs kept as the runs of one MLflow experiment (``mlflow://EXPERIMENT`` with
    ``MLFLOW_TRACKING_URI``, or ``mlflow+http://HOST:PORT/EXPERIMENT``)."""

    text_limit = 6000  # MLflow's longest param value; tags hold 8000

    def __init__(self, target: str) -> None:
        self.target = target.strip()
        self.uri, self.experiment = parse_target(self.target)
        self.client_handle: Any = None
        self.experiment_id: str | None = None
        # the experiment's tags as this handle last read or wrote them; ``looked``: it was
        # looked up at all (tags None after a look: the server had no such experiment then)
        self.tags: dict[str, str] | None = None
        self.looked = False
        self.lookups = 0  # experiment lookups made, so a write can tell whether its copy is new
        self.parsed: tuple[str, Schema] | None = None  # the stored template's text, parsed
        self.ids: set[str] | None = None  # run ids read once for a large write, then kept up
        self.unreachable: tuple[float, str] | None = None  # until when, and why

    @property
    def key(self) -> str:
        return f"mlflow:{self.uri.rstrip('/')}/{self.experiment}"

    # -- talking to the server -------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The MlflowClient for the tracking server (imported on first use)."""
        if self.client_handle is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError:
                raise StoreError(f"{self.target}: MLflow targets need the MLflow client: "
                                 "pip install 'sheettrack[mlflow]'", self.target) from None
            self.client_handle = MlflowClient(tracking_uri=self.uri)
        return self.client_handle

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)`` with MLflow's errors as sheettrack's: a request
        MLflow refuses is a ``StoreError``, a server that does not answer (or answers with
        an error of its own) a ``StoreUnavailableError``."""
        from mlflow.exceptions import MlflowException, RestException

        if self.unreachable is not None and time.monotonic() < self.unreachable[0]:
            raise StoreUnavailableError(self.unreachable[1], self.target)
        try:
            with quiet_client:
                return getattr(self.client, method)(*args, **kwargs)
        except RestException as exc:
            code = str(getattr(exc, "error_code", ""))
            if code in REFUSALS:
                raise StoreError(f"{self.target}: {what}: {exc.message}", self.target) from None
            raise StoreUnavailableError(f"{self.target}: {what}: the tracking server answered "
                                        f"{code}: {exc.message}", self.target) from None
        except (MlflowException, OSError) as exc:
            message = (f"{self.target}: {what}: the tracking server at {self.uri} cannot be "
                       f"reached ({first_line(exc)})")
            self.unreachable = (time.monotonic() + UNREACHABLE_FOR_S, message)
            raise StoreUnavailableError(message, self.target) from None

    def experiment_tags(self, create: bool = False, fresh: bool = False) -> dict[str, str] | None:
        """The experiment's tags (None when there is no such experiment); ``create`` creates a
        missing one. The server is asked once per handle, then again only when ``fresh``.

        Why a kept copy is safe without asking the server on every log (a workbook can be
        checked for changes by its file stamp for free; an experiment only by the request this
        saves): another process can only add to what is kept here. It adds columns to the
        template (whose columns never change once stored) and reference rows, or deletes the
        experiment. So a row bringing no column the kept template lacks is mapped exactly as
        against the server's template; a write that changes the template or numbers reference
        rows asks again first (``commit``); reading the runs asks again when they hold values
        the kept template has no column for (``read``); a refused ``create_run`` asks again to
        tell a deleted experiment (``new_run``)."""
        if self.looked and not fresh and (self.tags is not None or not create):
            return self.tags
        self.lookups += 1
        exp = None
        if not (create and self.looked and self.tags is None):  # known missing: create it at once
            exp = self.call("reading the experiment", "get_experiment_by_name", self.experiment)
        if exp is None and create:
            try:
                made = self.call("creating the experiment", "create_experiment", self.experiment)
            except StoreError:  # another process created it meanwhile
                exp = self.call("reading the experiment", "get_experiment_by_name", self.experiment)
            else:
                return self.remember(str(made), {})  # a new experiment has no tags of ours
        if exp is None:
            self.looked, self.tags, self.experiment_id = True, None, None
            return None
        if exp.lifecycle_stage == "deleted":
            self.looked, self.tags = False, None  # asked again next time: it may be restored
            raise StoreError(f"{self.target}: experiment {self.experiment!r} was deleted; restore it "
                             f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or "
                             "choose another name", self.target)
        return self.remember(str(exp.experiment_id), dict(exp.tags))

    def remember(self, experiment_id: str, tags: dict[str, str]) -> dict[str, str]:
        """Keep the experiment's id and tags as read (or just created)."""
        self.experiment_id, self.tags, self.looked = experiment_id, tags, True
        return tags

    def set_text(self, tags: dict[str, str], name: str, text: str) -> None:
        """Keep ``text`` in experiment tag ``name`` (and its continuations); ``tags``, the kept
        copy, is updated to match."""
        parts = split_text(text)
        for i, part in reversed(list(enumerate(parts))):  # the first piece last: it says the text is there
            key = name if i == 0 else f"{name}~{i + 1}"
            self.call("writing an experiment tag", "set_experiment_tag", self.experiment_id, key, part)
            tags[key] = part
        i = len(parts) + 1
        while f"{name}~{i}" in tags:  # pieces of a longer text kept before
            self.call("writing an experiment tag", "delete_experiment_tag", self.experiment_id, f"{name}~{i}")
            del tags[f"{name}~{i}"]
            i += 1

    # -- the Store interface ----------------------------------------------------------------
    def exists(self) -> bool:
        return self.experiment_tags() is not None

    def create(self, schema: Schema) -> bool:
        tags = self.experiment_tags(create=True)
        assert tags is not None
        if joined_text(tags, SCHEMA_TAG) is not None:
            return False
        self.set_text(tags, SCHEMA_TAG, schema_json(schema))
        return True

    def stored_schema(self, tags: dict[str, str]) -> Schema | None:
        """The template kept with the experiment, None when it keeps none."""
        text = joined_text(tags, SCHEMA_TAG)
        if text is None:
            return None
        if self.parsed is not None and self.parsed[0] == text:  # each log asks: parsed once
            return self.parsed[1]
        try:
            schema = Schema.from_dict(json.loads(text), source=f"{self.target} (tag {SCHEMA_TAG})",
                                      keep_order=True)
        except ValueError as exc:
            raise StoreError(f"{self.target}: the template kept in experiment tag {SCHEMA_TAG} "
                             f"cannot be read: {exc}", self.target) from None
        self.parsed = (text, schema)
        return schema

    def read_schema(self) -> Schema | None:
        """The stored template; for an experiment logged with MLflow's own client (none stored),
        the default template with a column for each param, metric and tag its runs hold."""
        tags = self.experiment_tags()
        if tags is None:
            return None
        stored = self.stored_schema(tags)
        if stored is not None:
            return stored
        views = self.runs()
        if not views:
            return None
        base = load_template("default")
        return base.with_columns(foreign_columns(views, base))

    def runs(self) -> list[RunView]:
        """Every ended run of the experiment, oldest first: a run still RUNNING or SCHEDULED
        (logged with MLflow's own client) is left out until it ends, as a row is written
        when its run ends, so a repeated copy picks it up then."""
        if self.experiment_id is None and self.experiment_tags() is None:
            return []
        out: list[RunView] = []
        token = None
        while True:
            page = self.call("reading runs", "search_runs", [self.experiment_id], max_results=PAGE,
                             order_by=["attributes.start_time ASC", "attributes.run_id ASC"],
                             page_token=token)
            out.extend(v for v in map(view_of, page) if v.status not in UNENDED)
            token = page.token
            if not token:
                return out

    def read(self, sheet: str | None = None) -> Table:
        """The runs (or a reference sheet), with the kept template when the runs hold no value
        it lacks a column for; else, and for reference rows (which are the experiment's
        tags), with the experiment as the server has it now."""
        lookups = self.lookups
        tags = self.experiment_tags(fresh=self.tags is None)  # a missing one is asked again
        if tags is None:
            raise StoreError(f"{self.target}: the tracking server at {self.uri} has no experiment "
                             f"named {self.experiment!r}", self.target)
        stored = self.stored_schema(tags)
        runs_sheet = stored.sheet if stored is not None else "Runs"
        if sheet not in (None, runs_sheet):
            if self.lookups == lookups:
                tags = self.experiment_tags(fresh=True) or {}
            return self.read_reference(tags, sheet)
        views = self.runs()
        schema = stored or load_template("default")
        foreign = foreign_columns(views, schema)
        if foreign and self.lookups == lookups:  # another process may have added these columns
            stored = self.stored_schema(self.experiment_tags(fresh=True) or {})
            schema = stored or load_template("default")
            foreign = foreign_columns(views, schema)
        columns = schema.columns + foreign
        return Table(sheet=runs_sheet, header=[c.name for c in columns],
                     rows=[[stored_value(v, c) for c in columns] for v in views])

    def read_reference(self, tags: dict[str, str], sheet: str) -> Table:
        """A reference sheet (Environments, Data, Models) from the experiment's tags; Models
        also lists the versions registered with MLflow's own client against its runs."""
        header_text = joined_text(tags, f"{REFERENCE_TAG}{sheet}")
        foreign = self.registry_rows() if sheet == MODELS_SHEET else []
        if header_text is None and not foreign:
            raise SheetNotFoundError(f"{self.target}: no sheet {sheet!r}", self.target, sheet)
        header = list(json.loads(header_text)) if header_text is not None else []
        rows = []
        for row in [*self.reference_rows(tags, sheet), *foreign]:
            header.extend(k for k in row if k not in header)
            rows.append(row)
        return Table(sheet=sheet, header=header,
                     rows=[[("" if r.get(h) is None else r.get(h)) for h in header] for r in rows])

    @staticmethod
    def reference_rows(tags: dict[str, str], sheet: str) -> list[dict[str, Any]]:
        """The rows of reference sheet ``sheet`` kept in ``tags``, in the order of their tags."""
        prefix = f"{REFERENCE_TAG}{sheet}."
        out = []
        for name in sorted(tags):
            if name.startswith(prefix) and "~" not in name:
                out.append(json.loads(joined_text(tags, name) or "{}"))
        return out

    def prefetched_keys(self, sheet: str, key: str) -> set[str] | None:
        tags = self.experiment_tags() or {}
        return {str(r.get(key)) for r in self.reference_rows(tags, sheet) if r.get(key) is not None}

    def commit(self, tx: Transaction) -> None:
        """Write what ``tx`` carries: every run checked against MLflow's limits before the
        first is written; runs whose id the experiment holds already are skipped."""
        lookups = self.lookups
        tags = self.experiment_tags(create=True)
        assert tags is not None
        stored, schema, plans = self.planned(tx, tags)
        renews = schema is not None and (stored is None or schema.names != stored.names)
        if (renews or any(ref.key is None for ref in tx.references)) and self.lookups == lookups:
            # the template is written whole, and rows without a key are numbered after the rows
            # kept: both on the experiment as it is now, so another process's columns and rows
            # are kept, never overwritten (rows adding no column need no look: see experiment_tags)
            tags = self.experiment_tags(create=True, fresh=True)
            assert tags is not None
            stored, schema, plans = self.planned(tx, tags)
            renews = schema is not None and (stored is None or schema.names != stored.names)
        if renews and schema is not None:
            self.set_text(tags, SCHEMA_TAG, schema_json(schema))
        present = self.present([p.run_id for p in plans])
        todo = [p for p in plans if not (p.run_id and p.run_id in present)]
        if len(todo) > 1:  # each run is its own few requests: a few at a time keep the server busy
            with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
                list(pool.map(self.log_run, todo))  # the first error is raised, after the rest end
        elif todo:
            self.log_run(todo[0])
        if self.ids is not None:
            self.ids.update(p.run_id for p in todo if p.run_id)
        for ref in tx.references:
            self.put_reference(tags, ref)

    def planned(self, tx: Transaction, tags: dict[str, str]) -> tuple[Schema | None, Schema | None, list[RunPlan]]:
        """The template the experiment keeps in ``tags``, the one it keeps after ``tx``'s runs
        (their columns added, a column kept already winning over a run's guess), and the runs'
        requests, checked against MLflow's limits."""
        stored = self.stored_schema(tags)
        schema = stored or tx.layout
        plans: list[RunPlan] = []
        for run in tx.runs:
            rows = [dict(r) for r in run.rows]
            adding = reconcile(rows, run.new_columns, stored)
            schema = (schema or run.schema).with_columns([*run.schema.columns, *adding])
            plans.extend(plan_run(row, schema, i if len(rows) > 1 else None) for i, row in enumerate(rows))
        return stored, schema, plans

    def present(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` the experiment holds: looked up one by one for a few, else every
        id read once per handle (and kept up with this handle's own writes)."""
        ids = [i for i in ids if i]
        if not ids:
            return set()
        if len(ids) <= LOOKUP_ONE_BY_ONE and all("'" not in i for i in ids):
            found = set()
            for rid in ids:
                page = self.call("looking up a run", "search_runs", [self.experiment_id],
                                 filter_string=f"tags.`{RUN_ID_TAG}` = '{rid}'", max_results=1)
                if len(page):
                    found.add(rid)
            return found
        if self.ids is None:
            self.ids = {v.tags[RUN_ID_TAG] for v in self.runs() if RUN_ID_TAG in v.tags}
        return self.ids & set(ids)

    def log_run(self, plan: RunPlan) -> None:
        """Write one run; its ``sheettrack.run_id`` tag goes last, with the last ``log_batch``.
        A run left behind by a failed write is deleted (best effort): it has no id tag."""
        from mlflow.entities import Dataset, DatasetInput, Metric, Param, RunTag

        rid = self.new_run(plan)
        try:
            if plan.end_ms is not None:
                self.call("ending a run", "set_terminated", rid, plan.status, plan.end_ms)
            else:
                self.call("ending a run", "update_run", rid, status=plan.status)
            if plan.datasets:
                self.call("logging data sets", "log_inputs", rid,
                          [DatasetInput(Dataset(**d)) for d in plan.datasets])
            for metrics, params, tags in batches(plan):
                self.call("logging a run", "log_batch", rid,
                          metrics=[Metric(k, v, plan.end_ms or plan.start_ms or 0, 0) for k, v in metrics],
                          params=[Param(k, v) for k, v in params],
                          tags=[RunTag(k, v) for k, v in tags])
        except StoreError as exc:
            with contextlib.suppress(StoreError):
                self.call("removing a run not fully written", "delete_run", rid)
            if isinstance(exc, StoreUnavailableError):
                raise
            raise ValidationError(f"run {plan.run_id}: {exc}") from None

    def new_run(self, plan: RunPlan) -> str:
        """Create the run (started, named by its run id); a refusal makes the experiment be
        looked up again first, so one deleted meanwhile is named as such."""
        used = self.experiment_id
        try:
            created = self.call("creating a run", "create_run", used, start_time=plan.start_ms,
                                run_name=plan.run_id or None)
            return str(created.info.run_id)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            refused = exc
        self.check_experiment(used)
        raise refused

    def check_experiment(self, used: str | None) -> None:
        """After the server refused a run in experiment ``used`` (as this handle knew it): ask
        again, so an experiment deleted meanwhile is named as such (and one made again under
        its name is written to next time)."""
        if self.experiment_tags(fresh=True) is None or self.experiment_id != used:
            raise StoreError(f"{self.target}: experiment {self.experiment!r} was deleted or made again "
                             "on the tracking server while this process wrote to it; the run waits in "
                             "the outbox for the next write or 'sheettrack sync'", self.target)

    def put_reference(self, tags: dict[str, str], ref: ReferenceRows) -> None:
        """Keep reference rows as experiment tags, one per key (rows without a key numbered in
        the order they came), skipping keys kept already. A Models row also registers a model
        version in MLflow's model registry first."""
        head = f"{REFERENCE_TAG}{ref.sheet}"
        if head not in tags:
            self.set_text(tags, head, json.dumps(list(ref.header)))
        # rows without a key are numbered after those kept (counted by their tags, not parsed)
        count = 0 if ref.key else sum(1 for n in tags if n.startswith(f"{head}.") and "~" not in n)
        for row in ref.rows:
            if ref.key:
                name = reference_tag(ref.sheet, str(row.get(ref.key)))
                if name in tags:
                    continue
            else:
                count += 1
                name = f"{head}.{count:08d}"
            if ref.sheet == MODELS_SHEET:
                self.register_version(row)
            self.set_text(tags, name, json.dumps(row, ensure_ascii=False, default=str))

    def find_run(self, run_id: str) -> str | None:
        """The MLflow id of the run with sheettrack run id ``run_id`` (or of that MLflow id)."""
        if run_id and "'" not in run_id:
            page = self.call("looking up a run", "search_runs", [self.experiment_id],
                             filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1)
            if len(page):
                return str(page[0].info.run_id)
        try:
            return str(self.call("looking up a run", "get_run", run_id).info.run_id)
        except StoreError:
            return None

    def registry_rows(self) -> list[dict[str, Any]]:
        """The model versions registered against this experiment's runs with MLflow's own
        client (sheettrack's own are kept with the experiment already), as Models rows: the run
        named by its sheettrack run id where it has one."""
        views = {v.mlflow_id: v for v in self.runs()}
        if not views:
            return []
        out: list[dict[str, Any]] = []
        aliases: dict[str, dict[str, list[str]]] = {}  # model -> version -> its aliases
        token = None
        while True:
            page = self.call("reading the model registry", "search_model_versions", None,
                             max_results=PAGE, page_token=token)
            for v in page:
                if v.run_id not in views or "sheettrack.version" in (v.tags or {}):
                    continue
                if v.name not in aliases:  # a search leaves aliases out: the model has them
                    held = getattr(self.call("reading the model registry", "get_registered_model", v.name),
                                   "aliases", None) or {}
                    aliases[v.name] = {}
                    for alias, number in held.items():
                        aliases[v.name].setdefault(str(number), []).append(alias)
                when = _dt.datetime.fromtimestamp((v.creation_timestamp or 0) / 1000, _dt.timezone.utc)
                out.append({"name": v.name, "version": int(v.version),
                            "aliases": ", ".join(aliases[v.name].get(str(v.version), [])) or None,
                            "run_id": views[v.run_id].tags.get(RUN_ID_TAG) or v.run_id,
                            "model_path": v.source or None,
                            "registered_at": when.replace(microsecond=0).isoformat().replace("+00:00", "Z")})
            token = page.token
            if not token:
                return sorted(out, key=lambda r: (r["registered_at"], r["name"], r["version"]))

    def register_version(self, row: dict[str, Any]) -> None:
        """Register a Models row as a version of a model in MLflow's registry: the model file
        uploaded as the run's ``model`` artifact, the version's source that folder, its
        aliases set, sheettrack's version number and the file's sha256 as its tags."""
        name, run_id = str(row.get("name")), str(row.get("run_id") or "")
        found = self.find_run(run_id)
        if found is None:
            raise StoreError(f"{self.target}: run {run_id} is not in experiment {self.experiment!r}, "
                             "so no model version can point at it", self.target)
        with contextlib.suppress(StoreError):  # registered before
            self.call("registering a model", "create_registered_model", name)
        if row.get("model_path"):
            self.call("uploading the model file", "log_artifact", found, str(row["model_path"]), "model")
        tags = {f"sheettrack.{k}": str(row[k]) for k in ("version", "model_sha256", "registered_by")
                if row.get(k) not in (None, "")}
        version = self.call("registering a model version", "create_model_version", name,
                            f"runs:/{found}/model", run_id=found, tags=tags)
        for alias in [a.strip() for a in str(row.get("aliases") or "").split(",") if a.strip()]:
            self.call("setting an alias", "set_registered_model_alias", name, alias, version.version)


def batches(plan: RunPlan) -> list[tuple[list[tuple[str, float]], list[tuple[str, str]], list[tuple[str, str]]]]:
    """The run's values as ``log_batch`` requests within MLflow's limits (metrics, params,
    tags), the ``sheettrack.run_id`` tag in the last one."""
    metrics = list(plan.metrics.items())
    named = [("p", k, v) for k, v in plan.params.items()]
    named += [("t", k, v) for k, v in plan.tags.items() if k != RUN_ID_TAG]
    out = []
    while metrics or named:
        part, named = named[:BATCH_PARAMS_TAGS], named[BATCH_PARAMS_TAGS:]
        room = BATCH_METRICS - len(part)
        some, metrics = metrics[:room], metrics[room:]
        out.append((some, [(k, v) for w, k, v in part if w == "p"], [(k, v) for w, k, v in part if w == "t"]))
    if RUN_ID_TAG in plan.tags:
        last = out[-1] if out else None
        if last is not None and (len(last[1]) + len(last[2]) >= BATCH_PARAMS_TAGS
                                 or len(last[0]) + len(last[1]) + len(last[2]) >= BATCH_METRICS):
            last = None
        if last is None:
            out.append(([], [], []))
            last = out[-1]
        last[2].append((RUN_ID_TAG, plan.tags[RUN_ID_TAG]))
    return out


def schema_json(schema: Schema) -> str:
    """The template as the JSON kept in the experiment's tag."""
    return json.dumps(schema.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)


def first_line(exc: BaseException) -> str:
    """An exception's first line, shortened: MLflow's connection errors run to pages."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def view_of(run: Any) -> RunView:
    """The plain values of an MLflow ``Run`` a read needs."""
    info, data = run.info, run.data
    return RunView(mlflow_id=info.run_id, start_ms=info.start_time, end_ms=info.end_time,
                   status=info.status, params=dict(data.params), metrics=dict(data.metrics),
                   tags=dict(data.tags))
