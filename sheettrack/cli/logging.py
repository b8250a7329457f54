"""``log`` and ``log-many``: runs from the command line, one at a time or from a file."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

import click

import sheettrack

from .output import emit_json, exit_if_queued, queued_rows
from .params import KEY_VALUE, creds, parse_value, target_arg

_TEXT_KEYS = ("run_id", "status", "error", "notes", "hypothesis", "data")
"""CSV columns kept as text, never read as numbers or JSON."""


@click.command("log")
@target_arg
@click.option("-p", "--param", "params", multiple=True, type=KEY_VALUE, metavar="KEY=VALUE",
              help="A hyperparameter.")
@click.option("-m", "--metric", "metrics", multiple=True, type=KEY_VALUE, metavar="KEY=VALUE", help="A metric.")
@click.option("-t", "--tag", "tags", multiple=True, type=KEY_VALUE, metavar="KEY=VALUE", help="A tag.")
@click.option("--data", "data", multiple=True, metavar="PATH", help="A data file or folder to fingerprint.")
@click.option("--note", "notes", multiple=True, help="A note (repeatable).")
@click.option("--hypothesis", default=None, help="What the run set out to show.")
@click.option("--status", type=click.Choice(["finished", "failed", "interrupted"]), default="finished",
              show_default=True)
@click.option("--template", "-T", default=None, help="Template for a new workbook.")
@click.option("--sweep-id", default=None, help="Id of the sweep this run belongs to.")
@click.option("--sweep-rank", type=int, default=None, help="Rank of this run within its sweep (1 = best).")
@click.option("--json", "as_json", is_flag=True, help="Print the run id as JSON.")
@click.option("--strict", is_flag=True,
              help="Make a row the store cannot take now an error (exit 1, no run id printed; "
                   "the row still waits in the outbox and 'sheettrack sync' sends it).")
@click.option("--mirror", default=None, metavar="TARGET",
              help="A second target that gets the run too, through its own outbox [SHEETTRACK_MIRROR].")
def log_cmd(target: str | None, params: tuple[tuple[str, Any], ...], metrics: tuple[tuple[str, Any], ...],
            tags: tuple[tuple[str, Any], ...], data: tuple[str, ...], notes: tuple[str, ...],
            hypothesis: str | None, status: str, template: str | None, sweep_id: str | None,
            sweep_rank: int | None, as_json: bool, strict: bool, mirror: str | None) -> None:
    """Log one run; prints its run id.

    Values are read as int, float, bool or JSON where they look like one:
    -p lr=0.01 -p layers=[64,32] -p model=mlp

    Exits 0 when the row is in the store; 75 when it waits in the outbox (one line says why
    and what to fix; 'sheettrack sync' sends it: do not log it again); 1 on a user error
    (nothing written); 2 on bad usage.
    """
    with queued_rows() as queued:
        run_id = sheettrack.log(target, params=dict(params), metrics=dict(metrics), tags=dict(tags),
                                data=list(data) or None, notes="\n".join(notes) or None,
                                hypothesis=hypothesis, template=template, status=status,
                                sweep_id=sweep_id, sweep_rank=sweep_rank, credentials=creds(),
                                strict=strict, mirror=mirror)
    if as_json:
        emit_json({"run_id": run_id})
    else:
        click.echo(run_id)
    exit_if_queued(queued)


def _csv_rows(text: str, name: str) -> list[dict[str, Any]]:
    """Rows from CSV text; the header names params (``lr`` or ``param:lr``), ``metric:`` and
    ``tag:`` columns, or a row key such as ``status``. Empty cells are left out."""
    from ..batch import ROW_KEYS

    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    for line in reader:
        row: dict[str, Any] = {}
        for key, value in line.items():
            if key is None:
                raise click.ClickException(f"{name}: line {reader.line_num} has more cells than the header")
            if value is None or value == "":
                continue
            prefix, sep, rest = key.partition(":")
            group = {"param": "params", "metric": "metrics", "tag": "tags"}.get(prefix) if sep else None
            if group is not None:
                row.setdefault(group, {})[rest.strip()] = parse_value(value)
            elif key in ROW_KEYS and key not in ("params", "metrics", "tags"):
                row[key] = value if key in _TEXT_KEYS else parse_value(value)
            else:
                row.setdefault("params", {})[key.strip()] = parse_value(value)
        rows.append(row)
    return rows


def _json_rows(text: str, name: str) -> list[Any]:
    """Rows from a JSON list."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise click.ClickException(f"{name}: expected a JSON list of rows")
    return data


def _json_lines_rows(text: str, name: str) -> list[Any]:
    """Rows from JSON Lines, one object a line; blank lines are skipped."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise click.ClickException(f"{name}: line {number} is not valid JSON: {exc}") from None
    return rows


def read_batch(path: str) -> list[Any]:
    """Rows for ``log-many`` from a JSON Lines, JSON or CSV file (``-``: JSON Lines on stdin).

    JSON rows are dicts as ``log_many`` takes them. A CSV header names params as they are
    (``lr``) or with ``param:``, metrics with ``metric:``, tags with ``tag:``; the columns
    ``run_id``, ``status``, ``error``, ``notes``, ``hypothesis``, ``duration_s``, ``sweep_rank``
    and ``data`` (a path) keep their meaning. Empty CSV cells are left out. A file that cannot
    be read or parsed is a one-line error naming it.
    """
    if path == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                text, name = fh.read(), path
        except OSError as exc:
            raise click.ClickException(f"{path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{path}: not UTF-8 text ({exc.reason})") from None
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return _csv_rows(text, name)
    if lowered.endswith(".json"):
        return _json_rows(text, name)
    return _json_lines_rows(text, name)


@click.command("log-many")
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] FILE")
@click.option("--sweep-id", default=None, help="Id shared by the rows [a new one].")
@click.option("--no-sweep", is_flag=True, help="Do not mark the rows as one sweep.")
@click.option("--rank-by", default=None, help="Metric ranking the rows [the template's primary metric].")
@click.option("--goal", type=click.Choice(["max", "min"]), default=None, help="Direction of --rank-by.")
@click.option("--hypothesis", default=None, help="Hypothesis for rows that give none.")
@click.option("--template", "-T", default=None, help="Template for a new workbook.")
@click.option("--json", "as_json", is_flag=True, help="Print the run ids as JSON.")
@click.option("--mirror", default=None, metavar="TARGET",
              help="A second target that gets the runs too, through its own outbox [SHEETTRACK_MIRROR].")
def log_many_cmd(args: tuple[str, ...], sweep_id: str | None, no_sweep: bool, rank_by: str | None,
                 goal: str | None, hypothesis: str | None, template: str | None, as_json: bool,
                 mirror: str | None) -> None:
    """Log many runs at once from FILE (.jsonl, .json, .csv, or - for JSON Lines on stdin).

    Every row is checked first (a bad one is named by its index, and nothing is written),
    then all are appended in one write; prints the run ids. Exits as ``log`` does: 75 when
    the rows wait in the outbox.
    """
    if len(args) > 2:
        raise click.UsageError("expected [TARGET] FILE (TARGET may come from SHEETTRACK_TARGET)")
    target, path = (None, args[0]) if len(args) == 1 else args
    if no_sweep and sweep_id:
        raise click.UsageError("--sweep-id and --no-sweep exclude each other")
    rows = read_batch(path)
    with queued_rows() as queued:
        ids = sheettrack.log_many(target, rows, template=template,
                                  sweep_id=False if no_sweep else (sweep_id or True), rank_by=rank_by,
                                  goal=goal, hypothesis=hypothesis, credentials=creds(), mirror=mirror)
    if as_json:
        emit_json({"run_ids": ids})
    else:
        for run_id in ids:
            click.echo(run_id)
    exit_if_queued(queued)
