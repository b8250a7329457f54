"""The ``sheettrack`` command: a thin layer over the Python API, for shell and R users.

Every command mirrors an API call. A user error prints one line and exits 1 (2 for bad
usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import api
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
@click.version_option(package_name="sheettrack")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Track ML experiments in an Excel workbook: one row per run.

    TARGET is a workbook path such as runs.xlsx; it may be left out when SHEETTRACK_TARGET
    is set.
    """
    ctx.obj = {"debug": debug}


target_arg = click.argument("target", required=False, envvar="SHEETTRACK_TARGET")


@main.command()
@target_arg
@click.option("--template", "-T", default=None, help="Built-in template name or YAML path [default].")
def init(target: str | None, template: str | None) -> None:
    """Create the workbook: a Runs sheet laid out from the template, and a Schema sheet."""
    created = api.init(target, template)
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
def log_cmd(target: str | None, params: tuple, metrics: tuple, tags: tuple, data: tuple, notes: tuple,
            hypothesis: str | None, status: str, template: str | None, sweep_id: str | None,
            sweep_rank: int | None, as_json: bool) -> None:
    """Log one run; prints its run id.

    Values are read as int, float, bool or JSON where they look like one:
    -p lr=0.01 -p layers=[64,32] -p model=mlp
    """
    run_id = api.log(target, params=parse_pairs(params, "--param"),
                     metrics=parse_pairs(metrics, "--metric"), tags=parse_pairs(tags, "--tag"),
                     data=list(data) or None, notes="\n".join(notes) or None, hypothesis=hypothesis,
                     template=template, status=status, sweep_id=sweep_id, sweep_rank=sweep_rank)
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
                   rank_by=rank_by, goal=goal, hypothesis=hypothesis)
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
    problems = api.validate(target)
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
    schema, df = api._load(target)
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
        emit_json([{k: api._plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")])
        return
    _print_table(df)


def _print_table(df: Any) -> None:
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
    click.echo(f"{len(df)} run{'s' if len(df) != 1 else ''}")


def _fmt(v: Any) -> str:
    v = api._plain(v)
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
    row = api.show(target, run_id)
    if as_json:
        emit_json(row)
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        text = _fmt(value)
        if text:
            click.echo(f"{key:<{width}}  {text}")


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


if __name__ == "__main__":  # pragma: no cover
    main()
