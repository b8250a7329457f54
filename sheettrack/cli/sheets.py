"""The workbook's own sheets: ``init``, ``validate``, ``summarize`` and ``templates``."""

from __future__ import annotations

import sys

import click

import sheettrack
from sheettrack.api import lay_out

from .output import emit_json
from .params import creds, target_arg


@click.command()
@target_arg
@click.option("--template", "-T", default=None, help="Built-in template name or YAML path [default].")
def init(target: str | None, template: str | None) -> None:
    """Create the workbook: a Runs sheet laid out from the template, and a Schema sheet. A
    workbook that exists gains what it lacks, and says what it gained."""
    done = lay_out(target, template, credentials=creds())
    store_target = target or "(SHEETTRACK_TARGET)"
    if not done:
        click.echo(f"{store_target} exists already; left as it is")
    elif len(done) == 1 and done[0].startswith("created "):
        click.echo(f"created {store_target}")
    else:
        click.echo(f"added to {store_target}: " + "; ".join(done))


@click.command()
@target_arg
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate(target: str | None, as_json: bool) -> None:
    """Check every cell against the schema; exit 1 when any problem is found."""
    problems = sheettrack.validate(target, credentials=creds())
    if as_json:
        emit_json([{"address": p.address, "message": p.message} for p in problems])
    else:
        for p in problems:
            click.echo(str(p))
        if not problems:
            click.echo("no problems found")
    if problems:
        sys.exit(1)


@click.command()
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
    adhoc = any(v is not None for v in (by, values, agg, columns, name)) or where is not None
    if adhoc and (not by or not values):
        raise click.UsageError("an ad hoc summary needs --by and --values")
    names = sheettrack.summarize(target, by=by, values=values, agg=agg, columns=columns, where=where,
                                 name=name, top=top, credentials=creds()) if adhoc else \
        sheettrack.summarize(target, top=top, credentials=creds())
    click.echo("wrote " + ", ".join(names))


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def templates(ctx: click.Context, as_json: bool) -> None:
    """List the built-in templates (``templates show NAME`` prints one)."""
    if ctx.invoked_subcommand is not None:
        return
    items = sheettrack.list_templates()
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

    data = sheettrack.load_template(name).to_dict()
    if as_json:
        emit_json(data)
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), nl=False)
