"""Registered models: the ``Models`` sheet, one row per registered version.

``register_model`` adds a row: the name, a version counted per name (1, 2, ...), aliases
(``production``, ``staging``), the run id with the run's metrics and params, the model
file's path, size and sha256, who registered it and when. Rows are only ever appended, so
the sheet is also the history: an alias belongs to the latest version registered with it,
and the row that takes an alias over says so in ``alias_moves`` (``production: v1 -> v2``).
Registration writes to the store directly (it is an explicit command, not a training log).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import delivery
from .errors import SheetNotFoundError, ValidationError
from .record import Record
from .references import now_text
from .schema import Schema
from .session import Session
from .stores import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

MODELS_SHEET = "Models"
MODELS_HEADER = ["name", "version", "aliases", "alias_moves", "run_id", "metrics", "params", "model_path",
                 "model_size", "model_sha256", "registered_by", "registered_at"]
NAME_RULE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


@dataclass
class Model:
    """One registered model version, with the aliases it holds now."""

    name: str
    version: int
    run_id: str
    aliases: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    registered_by: str | None = None
    registered_at: str | None = None

    def file_status(self) -> str:
        """``ok`` (the file's sha256 matches), ``changed``, ``missing``, or ``none`` (no file registered)."""
        if not self.path:
            return "none"
        file = Path(self.path)
        if not file.is_file():
            return "missing"
        return "ok" if sha256_of(file) == self.sha256 else "changed"

    def as_dict(self) -> dict[str, Any]:
        """The version as plain values, with the file's status now."""
        return {"name": self.name, "version": self.version, "aliases": self.aliases, "run_id": self.run_id,
                "metrics": self.metrics, "params": self.params, "model_path": self.path,
                "model_size": self.size, "model_sha256": self.sha256, "file": self.file_status(),
                "registered_by": self.registered_by, "registered_at": self.registered_at}


def sha256_of(path: Path) -> str:
    """The full sha256 of a file's bytes, read in 1 MiB steps."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json(text: Any) -> Any:
    if text in (None, ""):
        return {}
    try:
        return json.loads(str(text))
    except ValueError:
        return {}


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _rows(store: Store) -> list[dict[str, Any]]:
    """The Models sheet's rows in sheet order (none when the sheet is absent)."""
    try:
        table = store.read(MODELS_SHEET)
    except SheetNotFoundError:
        return []
    return [dict(zip(table.header, r)) for r in table.rows]


def copy_models(source: Store, dest: Session) -> int:
    """Copy the registered model versions SOURCE has and DEST lacks (by name and version), in
    the order they were registered; returns how many. Into an MLflow target each becomes a
    version in MLflow's model registry, as ``register_model`` does there."""
    have = {(str(r.get("name")), _int(r.get("version"))) for r in _rows(dest.store)} if dest.store.exists() else set()
    rows = []
    for r in _rows(source):
        key = (str(r.get("name")), _int(r.get("version")))
        if not r.get("name") or key[1] is None or key in have:
            continue
        have.add(key)
        rows.append({k: (int(v) if k in ("version", "model_size") and _int(v) is not None else v)
                     for k, v in r.items() if k in MODELS_HEADER and v not in (None, "")})
    if rows and dest.store.exists():  # a DEST that got no runs has nothing for them to name
        delivery.write_reference(dest, MODELS_SHEET, MODELS_HEADER, rows)
        return len(rows)
    return 0


def _models(rows: list[dict[str, Any]]) -> list[Model]:
    """Every registered version, with each alias given to the latest version registered with it."""
    out: list[Model] = []
    holder: dict[tuple[str, str], Model] = {}
    for r in rows:
        version = _int(r.get("version"))
        if not r.get("name") or version is None:
            continue
        size = _int(r.get("model_size"))
        model = Model(name=str(r["name"]), version=version, run_id=str(r.get("run_id") or ""),
                      metrics=_json(r.get("metrics")), params=_json(r.get("params")),
                      path=str(r.get("model_path")) if r.get("model_path") not in (None, "") else None,
                      size=size, sha256=str(r.get("model_sha256") or "") or None,
                      registered_by=str(r.get("registered_by") or "") or None,
                      registered_at=str(r.get("registered_at") or "") or None)
        for alias in [a.strip() for a in str(r.get("aliases") or "").split(",") if a.strip()]:
            previous = holder.get((model.name, alias))
            if previous is not None and alias in previous.aliases:
                previous.aliases.remove(alias)
            holder[(model.name, alias)] = model
            model.aliases.append(alias)
        out.append(model)
    return out


def list_models(target: str | os.PathLike | None = None, name: str | None = None, *,
                credentials: Any = None) -> list[Model]:
    """Every registered version (of ``name``, or of every model), oldest first."""
    models = _models(_rows(open_store(target, credentials)))
    return [m for m in models if name is None or m.name == name]


def get_model(target: str | os.PathLike | None, name: str, alias: str | None = None, *,
              version: int | None = None, credentials: Any = None) -> Model:
    """The version of model ``name`` holding ``alias``, or number ``version``, or else the latest."""
    models = list_models(target, name, credentials=credentials)
    if not models:
        raise ValidationError(f"name: no model {name!r} is registered in {target}")
    if alias is not None:
        hits = [m for m in models if alias in m.aliases]
        if not hits:
            raise ValidationError(f"alias: model {name!r} has no version with alias {alias!r}")
        return hits[-1]
    if version is not None:
        hits = [m for m in models if m.version == version]
        if not hits:
            raise ValidationError(f"version: model {name!r} has no version {version} "
                                  f"(versions: {', '.join(str(m.version) for m in models)})")
        return hits[-1]
    return models[-1]


def _best_run(df: pd.DataFrame, schema: Schema, metric: str | None, target: Any) -> str:
    """The run id of the best finished run of ``df`` by ``metric`` (the primary metric by
    default), ranked as ``best`` ranks: from the frame already read, not a second read."""
    from .summary import leaderboard_frame

    top = leaderboard_frame(df, schema, metric, 1)
    if top.empty:
        raise ValidationError(f"--best: no finished run with a value of the metric in {target}")
    return str(top.iloc[0]["run_id"])


def register_model(target: str | os.PathLike | None = None, run_id: str | None = None, *, name: str,
                   aliases: list[str] | tuple[str, ...] | str = (), model: str | os.PathLike | None = None,
                   best: bool = False, metric: str | None = None, credentials: Any = None) -> Model:
    """Register a run's model as the next version of ``name`` in the ``Models`` sheet and return it.

    ``run_id`` may be a unique prefix; ``best=True`` picks the best finished run by the primary
    metric (or ``metric``) instead. ``aliases`` (e.g. ``"production"``) move to this version.
    ``model`` is the model file: its path, size and sha256 are recorded, so a file changed
    later is noticed. Every value is checked before anything is written.
    """
    import pandas as pd

    from .frames import find_run, load_frame, plain

    if not isinstance(name, str) or not re.fullmatch(NAME_RULE, name):
        raise ValidationError(f"name: {name!r} must be 1 to 100 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit")
    alias_list = [aliases] if isinstance(aliases, str) else list(aliases)
    for alias in alias_list:
        if not re.fullmatch(NAME_RULE, alias):
            raise ValidationError(f"alias: {alias!r} must be letters, digits, '.', '_' or '-' (no commas)")
    if best == (run_id is not None):
        raise ValidationError("run_id: give a run id, or best=True (--best) to pick the best run, not both")
    file_info: dict[str, Any] = {}
    if model is not None:
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise ValidationError(f"model: {str(model)!r} is not a file")
        file_info = {"model_path": str(path), "model_size": path.stat().st_size, "model_sha256": sha256_of(path)}
    schema, df = load_frame(target, credentials=credentials)
    if best:
        run_id = _best_run(df, schema, metric, target)
    row = find_run(df, str(run_id), target)
    values = {str(col): plain(value) for col, value in row.items()
              if not (value is None or (not isinstance(value, (list, dict)) and pd.isna(value)))}
    run = Record.from_stored(values, {c.name: c.group for c in schema.columns})
    picked = {"metrics": dict(run.metrics), "params": dict(run.params)}

    session = Session.open(target, credentials)
    existing = _models(_rows(session.store))
    versions = [m.version for m in existing if m.name == name]
    version = max(versions, default=0) + 1
    moves = []
    for alias in alias_list:
        holder = [m for m in existing if m.name == name and alias in m.aliases]
        if holder:
            moves.append(f"{alias}: v{holder[-1].version} -> v{version}")
    entry = {"name": name, "version": version, "aliases": ", ".join(alias_list),
              "alias_moves": "; ".join(moves) or None, "run_id": run.run_id,
              "metrics": json.dumps(picked["metrics"], default=str, ensure_ascii=False),
              "params": json.dumps(picked["params"], default=str, ensure_ascii=False),
              **file_info, "registered_by": _user(), "registered_at": now_text()}
    delivery.write_reference(session, MODELS_SHEET, MODELS_HEADER, [entry])
    return get_model(target, name, version=version, credentials=credentials)


def _user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no passwd entry in a container
        return "unknown"


__all__ = ["MODELS_SHEET", "Model", "get_model", "list_models", "register_model"]
