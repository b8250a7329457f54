"""The ``sheettrack`` command: a thin layer over the Python API, for shell and R users.

Every command mirrors an API call. A user error prints one line and exits 1 (2 for bad
usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import api, frames
from .errors import SheettrackError


def parse_value(text: str) -> Any:
    """A command-line value as int, float, bool or JSON where it looks like one, else text.

    Quoting keeps text as text: ``-p 'version="1.10"'`` stays the string ``1.10``.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        value = float(stripped)
        if lowered in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity") or any(ch.isdigit() for ch in stripped):
            return value
    except ValueError:
        pass
    if stripped[:1] in ("[", "{", '"'):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("lr=0.1", "model=mlp")`` -> ``{"lr": 0.1, "model": "mlp"}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"{option} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON (NaN and inf as null, dates as ISO 8601)."""
    click.echo(json.dumps(_clean(data), ensure_ascii=False, default=_json_default, indent=2))


def _clean(value: Any) -> Any:
    import math

    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class Main(click.Group):
    """Turns user errors into one line and an exit code: 1, or 2 for bad usage."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SheettrackError, FileNotFoundError, TypeError, ValueError, click.UsageError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
            click.echo(f"error: {message}", err=True)
            ctx.exit(2 if isinstance(exc, click.UsageError) else 1)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--credentials", type=click.Path(dir_okay=False), default=None,
              help="Google key file (service account or authorized user) for Google Sheets targets.")
@click.version_option(package_name="sheettrack")
@click.pass_context
def main(ctx: click.Context, debug: bool, credentials: str | None) -> None:
    """Track ML experiments in an Excel workbook or a Google Sheet: one row per run.

    TARGET is a workbook path such as runs.xlsx, or a Google Sheet as gsheet://ID[/TAB] or its
    browser address; it may be left out when SHEETTRACK_TARGET is set.
    """
    ctx.obj = {"debug": debug, "credentials": credentials}
    if not debug:  # a warning is one line for whoever reads the terminal, not a source excerpt
        import warnings

        before = warnings.showwarning
        warnings.showwarning = _warning_line
        ctx.call_on_close(lambda: setattr(warnings, "showwarning", before))


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    kind = "" if issubclass(category, UserWarning) else f"{category.__name__}: "
    click.echo(f"warning: {kind}{message}", err=True)


def creds() -> str | None:
    """The --credentials given to the command group (None: found as the README says)."""
    obj = click.get_current_context().find_root().obj or {}
    return obj.get("credentials")


target_arg = click.argument("target", required=False, envvar="SHEETTRACK_TARGET")


@main.command()
@target_arg
@click.option("--template", "-T", default=None, help="Built-in template name or YAML path [default].")
def init(target: str | None, template: str | None) -> None:
    """Create the workbook: a Runs sheet laid out from the template, and a Schema sheet."""
    created = api.init(target, template, credentials=creds())
    store_target = target or "(SHEETTRACK_TARGET)"
    click.echo(f"created {store_target}" if created else f"{store_target} exists already; left as it is")


@main.command("log")
@target_arg
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A hyperparameter.")
@click.option("-m", "--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="A metric.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag.")
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
              help="Exit 1 when the store cannot take the row now (it still waits in the outbox).")
def log_cmd(target: str | None, params: tuple, metrics: tuple, tags: tuple, data: tuple, notes: tuple,
            hypothesis: str | None, status: str, template: str | None, sweep_id: str | None,
            sweep_rank: int | None, as_json: bool, strict: bool) -> None:
    """Log one run; prints its run id.

    Values are read as int, float, bool or JSON where they look like one:
    -p lr=0.01 -p layers=[64,32] -p model=mlp
    """
    run_id = api.log(target, params=parse_pairs(params, "--param"),
                     metrics=parse_pairs(metrics, "--metric"), tags=parse_pairs(tags, "--tag"),
                     data=list(data) or None, notes="\n".join(notes) or None, hypothesis=hypothesis,
                     template=template, status=status, sweep_id=sweep_id, sweep_rank=sweep_rank,
                     credentials=creds(), on_error="raise" if strict else "warn")
    if as_json:
        emit_json({"run_id": run_id})
    else:
        click.echo(run_id)


def read_batch(path: str) -> list[dict[str, Any]]:
    """Rows for ``log-many`` from a JSON Lines, JSON or CSV file (``-``: JSON Lines on stdin).

    JSON rows are dicts as ``log_many`` takes them. A CSV header names params as they are
    (``lr``) or with ``param:``, metrics with ``metric:``, tags with ``tag:``; the columns
    ``run_id``, ``status``, ``error``, ``notes``, ``hypothesis``, ``duration_s``, ``sweep_rank``
    and ``data`` (a path) keep their meaning. Empty CSV cells are left out.
    """
    import csv
    import io

    from .batch import ROW_KEYS

    if path == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text, name = fh.read(), path
    lowered = name.lower()
    if lowered.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = []
        for line in reader:
            row: dict[str, Any] = {}
            for key, value in line.items():
                if key is None:
                    raise ValueError(f"{name}: line {reader.line_num} has more cells than the header")
                if value is None or value == "":
                    continue
                prefix, sep, rest = key.partition(":")
                group = {"param": "params", "metric": "metrics", "tag": "tags"}.get(prefix) if sep else None
                if group is not None:
                    row.setdefault(group, {})[rest.strip()] = parse_value(value)
                elif key in ROW_KEYS and key not in ("params", "metrics", "tags"):
                    row[key] = value if key in ("run_id", "status", "error", "notes", "hypothesis",
                                                "data") else parse_value(value)
                else:
                    row.setdefault("params", {})[key.strip()] = parse_value(value)
            rows.append(row)
        return rows
    if lowered.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{name}: not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise ValueError(f"{name}: expected a JSON list of rows")
        return data
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{name}: line {number} is not valid JSON: {exc}") from None
    return rows


@main.command("log-many")
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] FILE")
@click.option("--sweep-id", default=None, help="Id shared by the rows [a new one].")
@click.option("--no-sweep", is_flag=True, help="Do not mark the rows as one sweep.")
@click.option("--rank-by", default=None, help="Metric ranking the rows [the template's primary metric].")
@click.option("--goal", type=click.Choice(["max", "min"]), default=None, help="Direction of --rank-by.")
@click.option("--hypothesis", default=None, help="Hypothesis for rows that give none.")
@click.option("--template", "-T", default=None, help="Template for a new workbook.")
@click.option("--json", "as_json", is_flag=True, help="Print the run ids as JSON.")
def log_many_cmd(args: tuple[str, ...], sweep_id: str | None, no_sweep: bool, rank_by: str | None,
                 goal: str | None, hypothesis: str | None, template: str | None, as_json: bool) -> None:
    """Log many runs at once from FILE (.jsonl, .json, .csv, or - for JSON Lines on stdin).

    Every row is checked first (a bad one is named by its index, and nothing is written),
    then all are appended in one write; prints the run ids.
    """
    from .batch import log_many

    if len(args) > 2:
        raise click.UsageError("expected [TARGET] FILE (TARGET may come from SHEETTRACK_TARGET)")
    target, path = (None, args[0]) if len(args) == 1 else args
    if no_sweep and sweep_id:
        raise click.UsageError("--sweep-id and --no-sweep exclude each other")
    rows = read_batch(path)
    ids = log_many(target, rows, template=template, sweep_id=False if no_sweep else (sweep_id or True),
                   rank_by=rank_by, goal=goal, hypothesis=hypothesis, credentials=creds())
    if as_json:
        emit_json({"run_ids": ids})
    else:
        for run_id in ids:
            click.echo(run_id)


@main.command()
@target_arg
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate(target: str | None, as_json: bool) -> None:
    """Check every cell against the schema; exit 1 when any problem is found."""
    problems = api.validate(target, credentials=creds())
    if as_json:
        emit_json([{"address": p.address, "message": p.message} for p in problems])
    else:
        for p in problems:
            click.echo(str(p))
        if not problems:
            click.echo("no problems found")
    if problems:
        sys.exit(1)


@main.command("ls")
@target_arg
@click.option("--sort", "sort", default=None, help="Column to sort by; prefix with - for descending.")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Show only the first N runs (after sorting).")
@click.option("--where", default=None, help="Filter, e.g. \"accuracy > 0.9 and model == 'mlp'\".")
@click.option("--columns", "-c", default=None, help="Comma-separated columns to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def ls(target: str | None, sort: str | None, top: int | None, where: str | None, columns: str | None,
       as_json: bool) -> None:
    """List runs, newest last."""
    schema, df = frames.load_frame(target, credentials=creds())
    if where:
        try:
            df = df.query(where, engine="python")
        except Exception as exc:
            raise click.UsageError(f"--where {where!r}: {exc}") from None
    if sort:
        desc = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in df.columns:
            raise click.UsageError(f"--sort: no column {key!r}")
        df = df.sort_values(key, ascending=not desc, na_position="last")
    if top is not None:
        df = df.head(top)
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise click.UsageError(f"--columns: no column {missing[0]!r}")
        df = df[wanted]
    elif not as_json:
        default = [c for c in df.columns if c in ("run_id", "started_at", "status")]
        default += [c.name for c in schema.columns if c.group in ("params", "metrics") and c.name in df.columns
                    and df[c.name].notna().any()]
        df = df[default] if default else df
    if as_json:
        emit_json([{k: frames.plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")])
        return
    _print_table(df)


def _print_table(df: Any, noun: str = "run") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for name in df.columns:
        if name == "run_id":
            table.add_column("run_id", no_wrap=True, min_width=26)
        else:
            table.add_column(str(name), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[_fmt(v) for v in row])
    Console(width=max(100, min(240, 12 * len(df.columns)))).print(table)
    click.echo(f"{len(df)} {noun}{'s' if len(df) != 1 else ''}")


def _fmt(v: Any) -> str:
    v = frames.plain(v)
    if v is None or (isinstance(v, float) and v != v and str(v) == "nan"):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] RUN_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def show(args: tuple[str, ...], as_json: bool) -> None:
    """Show every field of one run (a unique prefix of the run id is enough)."""
    if len(args) > 2 or (len(args) == 1 and args[0].lower().endswith(".xlsx")):
        raise click.UsageError("expected [TARGET] RUN_ID (TARGET may come from SHEETTRACK_TARGET)")
    target, run_id = (None, args[0]) if len(args) == 1 else args
    row = frames.show(target, run_id, credentials=creds())
    if as_json:
        emit_json(row)
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        text = _fmt(value)
        if text:
            click.echo(f"{key:<{width}}  {text}")


@main.command()
@click.argument("source")
@click.argument("dest")
@click.option("--dest-credentials", type=click.Path(dir_okay=False), default=None,
              help="Key file for DEST when it needs other Google credentials than SOURCE.")
@click.option("--batch", default=500, show_default=True, help="Rows per write.")
def copy(source: str, dest: str, dest_credentials: str | None, batch: int) -> None:
    """Copy runs from SOURCE to DEST (workbook or Google Sheet, either way round).

    Runs whose run id DEST has already are skipped, so the copy can be repeated.
    """
    result = api.copy(source, dest, credentials=creds(), dest_credentials=dest_credentials, batch=batch)
    click.echo(f"copied {result.copied} run(s) to {dest}; skipped {result.skipped} already there")


@main.command("new-sheet")
@click.argument("title")
@click.option("--share", "share_with", multiple=True, metavar="EMAIL", help="Share with this person (repeatable).")
@click.option("--role", type=click.Choice(["reader", "commenter", "writer"]), default="writer", show_default=True)
@click.option("--template", "-T", default=None, help="Built-in template name or YAML path [default].")
def new_sheet(title: str, share_with: tuple[str, ...], role: str, template: str | None) -> None:
    """Create a Google Sheet laid out for the template, share it, and print its address."""
    url = api.create_google_sheet(title, share_with=share_with, role=role, template=template,
                                  credentials=creds())
    click.echo(url)


@main.command()
@click.argument("target")
@click.argument("email")
@click.option("--role", type=click.Choice(["reader", "commenter", "writer"]), default="reader",
              show_default=True)
@click.option("--no-notify", is_flag=True, help="Do not e-mail the person.")
def share(target: str, email: str, role: str, no_notify: bool) -> None:
    """Share a Google Sheet with EMAIL (reader by default)."""
    api.share(target, email, role, notify=not no_notify, credentials=creds())
    click.echo(f"shared {target} with {email} as {role}")


@main.command()
@click.argument("target", required=False)
def sync(target: str | None) -> None:
    """Deliver the rows waiting in the outbox (for TARGET, or for every target)."""
    results = api.sync(target, credentials=creds())
    if not results:
        click.echo("nothing waits in the outbox")
    failed = False
    for r in results:
        for lost in r.lost:
            click.echo(f"warning: {lost}", err=True)
        line = f"{r.target}: delivered {r.delivered}"
        if r.already:
            line += f", {r.already} already there (not written again)"
        if r.waiting_ids:
            failed = True
            line += f"; {len(r.waiting_ids)} still waiting: {r.reason}"
        click.echo(line)
    if failed:
        sys.exit(1)


@main.command("outbox")
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the waiting rows as JSON.")
@click.option("--drop", "drop_ids", multiple=True, metavar="RUN_ID",
              help="Take this waiting row out of TARGET's outbox without delivering it (repeatable).")
def outbox_cmd(target: str | None, as_json: bool, drop_ids: tuple[str, ...]) -> None:
    """List the rows waiting in the outbox, and why; prints the outbox folder."""
    from .outbox import outbox_dir

    if drop_ids:
        dropped = api.drop(target, drop_ids, credentials=creds())
        click.echo(f"dropped {len(dropped)} row(s) from the outbox: {', '.join(dropped)}")
        return
    rows = api.pending(target, credentials=creds())
    if as_json:
        emit_json({"folder": str(outbox_dir()), "waiting": rows})
        return
    click.echo(f"outbox folder: {outbox_dir()}")
    if not rows:
        click.echo("nothing waits")
    for r in rows:
        if r["run_id"] is None:
            click.echo(f"  {r['target']}: {r['reason']}")
            continue
        why = f" ({r['attempts']} attempt(s); last: {r['reason']})" if r["reason"] else ""
        click.echo(f"  {r['target']}  {r['run_id']}  queued {r['queued_at']}{why}")


@main.command()
@target_arg
@click.option("--by", default=None, help="Ad hoc summary: comma-separated columns to group by.")
@click.option("--values", default=None, help="Ad hoc summary: comma-separated columns to aggregate.")
@click.option("--agg", default=None, help="Ad hoc summary: mean, median, min, max, std, count, sum "
              "(comma-separated) [mean].")
@click.option("--columns", default=None, help="Ad hoc summary: columns whose values become columns.")
@click.option("--where", default=None, help="Ad hoc summary: filter, e.g. \"status == 'finished'\".")
@click.option("--name", default=None, help="Ad hoc summary: the sheet's name [By <columns>].")
@click.option("-n", "--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Runs on the Leaderboard sheet.")
def summarize(target: str | None, by: str | None, values: str | None, agg: str | None,
              columns: str | None, where: str | None, name: str | None, top: int) -> None:
    """(Re)build the summary sheets: the template's pivots, Leaderboard and Progress.

    With --by and --values, build one ad hoc pivot sheet instead. Only sheets sheettrack
    built are replaced; a sheet of yours with the same name is never overwritten.
    """
    from . import reports

    adhoc = any(v is not None for v in (by, values, agg, columns, name)) or where is not None
    if adhoc and (not by or not values):
        raise click.UsageError("an ad hoc summary needs --by and --values")
    names = reports.summarize(target, by=by, values=values, agg=agg, columns=columns, where=where,
                              name=name, top=top, credentials=creds()) if adhoc else \
        reports.summarize(target, top=top, credentials=creds())
    click.echo("wrote " + ", ".join(names))


@main.command("best")
@target_arg
@click.option("--metric", "-m", default=None, help="Metric to rank by [the primary metric].")
@click.option("-n", "top", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def best_cmd(target: str | None, metric: str | None, top: int, as_json: bool) -> None:
    """The best runs by a metric, with their key params, data, commit and notes."""
    from . import reports

    df = reports.best(target, metric=metric, n=top, credentials=creds())
    if as_json:
        emit_json([{k: frames.plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")])
        return
    if "git_commit" in df.columns:  # the short form people quote; --json has the whole hash
        df = df.assign(git_commit=df["git_commit"].astype("string").str.slice(0, 12))
    _print_table(df)


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] RUN_A RUN_B [RUN_C ...]")
@click.option("--only-changed", is_flag=True, help="Show only the fields that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(args: tuple[str, ...], only_changed: bool, as_json: bool) -> None:
    """Runs side by side: params, metrics, data and provenance; differing fields marked *."""
    import os

    from . import reports

    if args and args[0].lower().endswith(".xlsx"):
        target, run_ids = args[0], args[1:]
    elif os.environ.get("SHEETTRACK_TARGET"):
        target, run_ids = None, args
    else:
        raise click.UsageError("expected TARGET RUN_A RUN_B (TARGET may come from SHEETTRACK_TARGET)")
    if len(run_ids) < 2:
        raise click.UsageError("compare needs at least two run ids")
    df = reports.compare(target, *run_ids, only_changed=only_changed, credentials=creds())
    runs = [c for c in df.columns if c not in ("group", "differs")]
    if as_json:
        emit_json({"runs": runs, "fields": [
            {"field": f, "group": row["group"], "differs": bool(row["differs"]),
             "values": {r: frames.plain(row[r]) for r in runs}} for f, row in df.iterrows()]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("", no_wrap=True)
    table.add_column("field", no_wrap=True)
    for r in runs:
        table.add_column(r, overflow="fold")
    for f, row in df.iterrows():
        mark = "*" if row["differs"] else ""
        style = "bold" if row["differs"] else None
        table.add_row(mark, str(f), *[_fmt(row[r]) for r in runs], style=style)
    Console(width=max(100, min(240, 30 * (len(runs) + 1)))).print(table)
    changed = int(df["differs"].sum())
    click.echo(f"{changed} of {len(df)} field{'s' if len(df) != 1 else ''} differ (marked *)")


@main.command()
@target_arg
@click.option("--to", "to", type=click.Choice(["csv", "markdown", "html", "parquet"]), required=True,
              help="Output format.")
@click.option("-o", "--output", default=None, help="File to write [standard output; parquet needs a file].")
@click.option("--summary", default=None, help="Export this summary of the template instead of the runs.")
def export(target: str | None, to: str, output: str | None, summary: str | None) -> None:
    """Export the runs (or a summary) as CSV, Markdown, Parquet or a self-contained HTML report."""
    from . import reports

    text = reports.export(target, to, output, summary=summary, credentials=creds())
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("book", required=False, default="experiments.xlsx")
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials of the Optuna study.")
def demo(book: str, trials: int) -> None:
    """Build a demo workbook from real runs of the examples (about 30 s), and say what to open.

    Runs the digits MLPs, a grid search, an Optuna study and command-line logging on the
    digits images that ship with scikit-learn (install with the examples extra).
    """
    try:
        import optuna  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise click.UsageError(f"the demo needs scikit-learn and Optuna: pip install "
                               f"'sheettrack[examples]' ({exc})") from None
    from .demo import build_demo

    info = build_demo(book, n_trials=trials, echo=lambda line: click.echo(line, err=True))
    parts = ", ".join(f"{n} {what}" for what, n in info["counts"].items())
    click.echo(f"\nlogged {parts} to {book} in {info['seconds']:.0f} s ({info['runs']} runs in the workbook)")
    click.echo(f"open {book} in Excel or LibreOffice:")
    click.echo("  Runs    one row per run: params, metrics, data fingerprint, provenance; "
               "filter by sweep_id, sort by sweep_rank")
    for sheet in info["summary_sheets"]:
        click.echo(f"  {sheet}")
    click.echo("  Schema  what every column means")
    click.echo(f"then try:  sheettrack ls {book} --sort -accuracy --top 5")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def templates(ctx: click.Context, as_json: bool) -> None:
    """List the built-in templates (``templates show NAME`` prints one)."""
    if ctx.invoked_subcommand is not None:
        return
    from .templates import list_templates

    items = list_templates()
    if as_json:
        emit_json([{"name": s.name, "description": s.description, "columns": len(s.columns),
                    "primary_metric": s.primary_metric.name if s.primary_metric else None} for s in items])
        return
    for s in items:
        pm = f" (primary metric: {s.primary_metric.name}, {s.primary_metric.goal})" if s.primary_metric else ""
        click.echo(f"{s.name:<16} {s.description}{pm}")


@templates.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the template as JSON.")
def templates_show(name: str, as_json: bool) -> None:
    """Print a template (built-in name or YAML path), with its inherited columns resolved."""
    import yaml

    from .templates import load_template

    data = load_template(name).to_dict()
    if as_json:
        emit_json(data)
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), nl=False)


# -- reproduce and register ------------------------------------------------------------------

@main.command("reproduce")
@click.argument("target")
@click.argument("run_id")
@click.option("--check", is_flag=True, help="Only report mismatches; exit 1 when there are any.")
@click.option("--run", "run_it", is_flag=True,
              help="Run the command in a fresh git worktree (never this checkout) and log the new run.")
@click.option("--artifacts", type=click.Path(file_okay=False), default=None,
              help="Artifacts folder holding patch files [BOOK-artifacts beside a workbook; SHEETTRACK_ARTIFACTS].")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def reproduce_cmd(target: str, run_id: str, check: bool, run_it: bool, artifacts: str | None,
                  as_json: bool) -> None:
    """The exact steps that reproduce a run, and what differs here (packages, data, code)."""
    from .reproduce import reproduce

    plan = reproduce(target, run_id, credentials=creds(), artifacts=artifacts)
    if check:
        problems = plan.mismatches
        if as_json:
            emit_json(problems)
        else:
            for line in problems:
                click.echo(line)
            if not problems:
                click.echo(f"run {plan.run_id}: no mismatches")
        raise SystemExit(1 if problems else 0)
    if as_json:
        emit_json(plan.as_dict())
    else:
        click.echo(plan.text())
    if run_it:
        from .reproduce import reproductions

        click.echo(f"running in a fresh worktree at commit {plan.commit} ...", err=True)
        before = set(reproductions(target, plan.run_id, credentials=creds()))
        code = plan.run()
        if code != 0:
            raise SystemExit(code)
        new = [r for r in reproductions(target, plan.run_id, credentials=creds()) if r not in before]
        if new:
            click.echo(f"logged run {new[-1]} reproducing {plan.run_id}")
        else:
            click.echo(f"warning: the command finished but logged no run to {target} reproducing "
                       f"{plan.run_id}; does the script log to a relative path? It ran in a temporary "
                       "worktree: let it take its target from SHEETTRACK_TARGET, or an absolute path",
                       err=True)


@main.command("register")
@click.argument("target")
@click.argument("run_id", required=False)
@click.option("--name", required=True, help="The model's name; each registration adds its next version.")
@click.option("--alias", "aliases", multiple=True, help="An alias such as production (repeatable); it moves here.")
@click.option("--model", "model", type=click.Path(dir_okay=False), default=None,
              help="The model file: its path, size and sha256 are recorded.")
@click.option("--best", is_flag=True, help="Register the best finished run by the primary metric.")
@click.option("--metric", default=None, help="With --best: the metric to rank by [the primary metric].")
@click.option("--json", "as_json", is_flag=True, help="Print the registered version as JSON.")
def register_cmd(target: str, run_id: str | None, name: str, aliases: tuple[str, ...], model: str | None,
                 best: bool, metric: str | None, as_json: bool) -> None:
    """Register a run's model in the Models sheet (version, aliases, metrics, params, file hash)."""
    from .registry import register_model

    if (run_id is None) != best:
        raise click.UsageError("give RUN_ID or --best (not both)")
    got = register_model(target, run_id, name=name, aliases=aliases, model=model, best=best, metric=metric,
                         credentials=creds())
    if as_json:
        emit_json(got.as_dict())
        return
    held = f" [{', '.join(got.aliases)}]" if got.aliases else ""
    click.echo(f"registered {got.name} v{got.version}{held} from run {got.run_id}")


@main.command("models")
@click.argument("target", required=False, envvar="SHEETTRACK_TARGET")
@click.option("--name", default=None, help="Only this model's versions.")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def models_cmd(target: str | None, name: str | None, as_json: bool) -> None:
    """Registered models: version, aliases, run, metrics and whether the file still matches."""
    from .registry import list_models

    models = list_models(target, name, credentials=creds())
    if as_json:
        emit_json([m.as_dict() for m in models])
        return
    if not models:
        click.echo("no models registered" + (f" under {name!r}" if name else ""))
        return
    import pandas as pd

    rows = []
    for m in models:
        info = m.as_dict()
        rows.append({"name": m.name, "version": m.version, "aliases": ", ".join(m.aliases), "run_id": m.run_id,
                     "metrics": ", ".join(f"{k}={v}" for k, v in m.metrics.items()),
                     "file": info["file"], "model_path": m.path or "", "registered_by": m.registered_by or "",
                     "registered_at": m.registered_at or ""})
    _print_table(pd.DataFrame(rows), "version")
    changed = [m for m in models if m.file_status() in ("changed", "missing")]
    for m in changed:
        click.echo(f"warning: {m.name} v{m.version}: model file {m.path} is {m.file_status()} since it was "
                   "registered", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
