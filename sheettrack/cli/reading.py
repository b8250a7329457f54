"""Reading runs back: ``ls``, ``show``, ``best``, ``compare`` and ``export``."""

from __future__ import annotations

import os
from typing import Any

import click

import sheettrack

from .. import frames
from ..runids import short_ids
from .output import cell_text, emit_json, plural, print_table, records
from .params import creds, split_target, target_and_run, target_arg


def _ls_frame(df: Any, schema: Any, sort: str | None, top: int | None, where: str | None,
              columns: str | None, as_json: bool, wide: bool) -> tuple[Any, list[str] | None]:
    """The runs ``ls`` shows, filtered, sorted (by start time unless told), cut to ``top`` and
    to the chosen columns, with the order in which columns are kept when the terminal is
    narrow. By default: the short id, status, the params that have a value, the primary
    metric (else the metrics that have a value) and notes; ``wide`` adds the whole run id,
    start time and every param and metric that has a value."""
    if where:
        try:
            df = df.query(where, engine="python")
        except Exception as exc:  # pandas raises many kinds for a bad expression
            raise click.UsageError(f"--where {where!r}: {exc}") from None
    if sort:
        key = sort.lstrip("-")
        if key not in df.columns:
            raise click.UsageError(f"--sort: no column {key!r}")
        df = df.sort_values(key, ascending=not sort.startswith("-"), na_position="last", kind="stable")
    elif not as_json and "started_at" in df.columns:
        df = df.sort_values("started_at", na_position="first", kind="stable")
    if top is not None:
        df = df.head(top)
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        missing = [c for c in wanted if c not in df.columns and not (c == "id" and "id" in df.columns)]
        if missing:
            raise click.UsageError(f"--columns: no column {missing[0]!r}")
        return df[wanted], None
    if as_json:
        return df.drop(columns=["id"], errors="ignore"), None
    valued = {c.name for c in schema.columns if c.name in df.columns and df[c.name].notna().any()}
    params = [c.name for c in schema.columns if c.group == "params" and c.name in valued]
    metrics = [c.name for c in schema.columns if c.group == "metrics" and c.name in valued]
    pm = schema.primary_metric.name if schema.primary_metric is not None else None
    if wide:
        shown = ["id", "run_id", "started_at", "status", *params, *metrics, "notes"]
        return df[[c for c in shown if c in df.columns]], None
    scores = [pm] if pm is not None and pm in metrics else metrics[:3]
    shown = ["id", "status", *params, *scores, "notes"]
    shown = [c for c in shown if c in df.columns and (c in ("id", "status") or c in valued or c == pm)]
    return df[shown], ["id", "status", *scores, "notes", *params]


@click.command("ls")
@target_arg
@click.option("--sort", "sort", default=None,
              help="Column to sort by; prefix with - for descending [started_at, oldest first].")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Show only the first N runs (after sorting).")
@click.option("--where", default=None, help="Filter, e.g. \"accuracy > 0.9 and model == 'mlp'\".")
@click.option("--columns", "-c", default=None,
              help="Comma-separated columns to show (id is the short id, run_id the whole one).")
@click.option("--wide", is_flag=True, help="Every param and metric, whole run ids and start times, "
              "however wide the lines get.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON (every column, sheet order).")
def ls(target: str | None, sort: str | None, top: int | None, where: str | None, columns: str | None,
       wide: bool, as_json: bool) -> None:
    """List runs, oldest first, in a table that fits the terminal.

    The id column is a short id, unique within the workbook, that every command taking a
    run id accepts. Numbers are never cut; long text ends in an ellipsis; columns that do
    not fit are named below the table.
    """
    schema, df = frames.load_frame(target, credentials=creds())
    if "run_id" in df.columns and not as_json:
        ids = df["run_id"].astype("string").fillna("")
        df = df.assign(id=short_ids(ids.tolist()))
    df, priority = _ls_frame(df, schema, sort, top, where, columns, as_json, wide)
    if as_json:
        emit_json(records(df))
    else:
        print_table(df, wide=wide, priority=priority)


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] RUN_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def show(args: tuple[str, ...], as_json: bool) -> None:
    """Show every field of one run (a unique prefix of the run id is enough)."""
    target, run_id = target_and_run(args)
    row = frames.show(target, run_id, credentials=creds())
    if as_json:
        emit_json(row)
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        text = cell_text(value)
        if text:
            click.echo(f"{key:<{width}}  {text}")


@click.command("best")
@target_arg
@click.option("--metric", "-m", default=None, help="Metric to rank by [the primary metric].")
@click.option("-n", "top", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs.")
@click.option("--wide", is_flag=True, help="Every column, whole run ids, however wide the lines get.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def best_cmd(target: str | None, metric: str | None, top: int, wide: bool, as_json: bool) -> None:
    """The best runs by a metric, with their key params, data, commit and notes."""
    df = sheettrack.best(target, metric=metric, n=top, credentials=creds(), short_ids=not (as_json or wide))
    if as_json:
        emit_json(records(df))
        return
    if "git_commit" in df.columns:  # the short form people quote; --json has the whole hash
        df = df.assign(git_commit=df["git_commit"].astype("string").str.slice(0, 12))
    if not wide and len(df):  # a column no run of the board fills (no data logged, say) says nothing
        df = df[[c for c in df.columns if df[c].notna().any() and (df[c].astype("string") != "").any()]]
    first = [str(c) for c in df.columns[:3]] + ["notes"]  # rank, id, the metric; then notes
    print_table(df, wide=wide, priority=first)


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] RUN_A RUN_B [RUN_C ...]")
@click.option("--only-changed", is_flag=True, help="Show only the fields that differ.")
@click.option("--wide", is_flag=True, help="Values whole, however wide the lines get.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(args: tuple[str, ...], only_changed: bool, wide: bool, as_json: bool) -> None:
    """Runs side by side: params, metrics, data and provenance; differing fields marked *."""
    target, run_ids = split_target(args, None)
    if target is None and not os.environ.get("SHEETTRACK_TARGET", "").strip():
        raise click.UsageError("expected TARGET RUN_A RUN_B (TARGET may come from SHEETTRACK_TARGET)")
    if len(run_ids) < 2:
        raise click.UsageError("compare needs at least two run ids")
    df = sheettrack.compare(target, *run_ids, only_changed=only_changed, credentials=creds(), short_ids=not as_json)
    runs = [c for c in df.columns if c not in ("group", "differs")]
    if as_json:
        emit_json({"runs": runs, "fields": [
            {"field": f, "group": row["group"], "differs": bool(row["differs"]),
             "values": {r: frames.plain(row[r]) for r in runs}} for f, row in df.iterrows()]})
        return
    import pandas as pd

    table = pd.DataFrame({"": ["*" if d else "" for d in df["differs"]], "field": [str(f) for f in df.index],
                          **{r: [cell_text(v) for v in df[r]] for r in runs}})
    changed = int(df["differs"].sum())
    print_table(table, wide=wide, tail=f"{changed} of {plural(len(df), 'field')} differ (marked *)")


@click.command()
@target_arg
@click.option("--to", "to", type=click.Choice(["csv", "markdown", "html", "parquet"]), required=True,
              help="Output format.")
@click.option("-o", "--output", default=None, help="File to write [standard output; parquet needs a file].")
@click.option("--summary", default=None, help="Export this summary of the template instead of the runs.")
@click.option("--raw", is_flag=True,
              help="Keep text starting with = + - @ as it is (by default it gets a leading ' so a "
                   "spreadsheet opening the file shows it rather than running it as a formula).")
def export(target: str | None, to: str, output: str | None, summary: str | None, raw: bool) -> None:
    """Export the runs (or a summary) as CSV, Markdown, Parquet or a self-contained HTML report."""
    text = sheettrack.export(target, to, output, summary=summary, raw=raw, credentials=creds())
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)
