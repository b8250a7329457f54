"""Models and reproductions: ``register``, ``models`` and ``reproduce``."""

from __future__ import annotations

import click

import sheettrack

from ..frames import target_run_ids, with_short_ids
from ..reproduction import reproductions
from ..stores import resolve_target
from .output import emit_json, print_table
from .params import creds, split_target, target_and_run, target_arg


@click.command("reproduce")
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] RUN_ID")
@click.option("--check", is_flag=True, help="Only report mismatches; exit 1 when there are any.")
@click.option("--run", "run_it", is_flag=True,
              help="Run the command in a fresh git worktree (never this checkout) and log the new run.")
@click.option("--artifacts", type=click.Path(file_okay=False), default=None,
              help="Artifacts folder holding patch files [BOOK-artifacts beside a workbook; SHEETTRACK_ARTIFACTS].")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def reproduce_cmd(args: tuple[str, ...], check: bool, run_it: bool, artifacts: str | None,
                  as_json: bool) -> None:
    """The exact steps that reproduce a run, and what differs here (packages, data, code)."""
    target, run_id = target_and_run(args)
    plan = sheettrack.reproduce(target, run_id, credentials=creds(), artifacts=artifacts)
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
        _rerun(plan, target)


def _rerun(plan: sheettrack.Plan, target: str | None) -> None:
    """Run ``plan`` in a fresh worktree and say which new run reproduces it (exit as it did)."""
    click.echo(f"running in a fresh worktree at commit {plan.commit} ...", err=True)
    before = set(reproductions(target, plan.run_id, credentials=creds()))
    code = plan.run()
    if code != 0:
        raise SystemExit(code)
    new = [r for r in reproductions(target, plan.run_id, credentials=creds()) if r not in before]
    if new:
        click.echo(f"logged run {new[-1]} reproducing {plan.run_id}")
    else:
        click.echo(f"warning: the command finished but logged no run to {resolve_target(target)} "
                   f"reproducing {plan.run_id}; does the script log to a relative path? It ran in a "
                   "temporary worktree: let it take its target from SHEETTRACK_TARGET, or an absolute path",
                   err=True)


@click.command("register")
@click.argument("args", nargs=-1, metavar="[TARGET] [RUN_ID]")
@click.option("--name", required=True, help="The model's name; each registration adds its next version.")
@click.option("--alias", "aliases", multiple=True, help="An alias such as production (repeatable); it moves here.")
@click.option("--model", "model", type=click.Path(dir_okay=False), default=None,
              help="The model file: its path, size and sha256 are recorded.")
@click.option("--best", is_flag=True, help="Register the best finished run by the primary metric.")
@click.option("--metric", default=None, help="With --best: the metric to rank by [the primary metric].")
@click.option("--json", "as_json", is_flag=True, help="Print the registered version as JSON.")
def register_cmd(args: tuple[str, ...], name: str, aliases: tuple[str, ...], model: str | None,
                 best: bool, metric: str | None, as_json: bool) -> None:
    """Register a run's model in the Models sheet (version, aliases, metrics, params, file hash)."""
    target, rest = split_target(args, 0 if best else 1)
    if len(rest) > 1 or (not rest) != best:
        raise click.UsageError("give RUN_ID or --best (not both)")
    got = sheettrack.register_model(target, rest[0] if rest else None, name=name, aliases=aliases,
                                    model=model, best=best, metric=metric, credentials=creds())
    if as_json:
        emit_json(got.as_dict())
        return
    held = f" [{', '.join(got.aliases)}]" if got.aliases else ""
    click.echo(f"registered {got.name} v{got.version}{held} from run {got.run_id}")


@click.command("models")
@target_arg
@click.option("--name", default=None, help="Only this model's versions.")
@click.option("--wide", is_flag=True, help="Every column, whole run ids, however wide the lines get.")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def models_cmd(target: str | None, name: str | None, wide: bool, as_json: bool) -> None:
    """Registered models: version, aliases, run, metrics and whether the file still matches."""
    models = sheettrack.list_models(target, name, credentials=creds())
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
    table = pd.DataFrame(rows)
    if not wide:
        table = with_short_ids(table, target_run_ids(target, credentials=creds()))
    print_table(table, "version", wide=wide,
                priority=["name", "version", "aliases", "id", "run_id", "metrics", "file"])
    changed = [m for m in models if m.file_status() in ("changed", "missing")]
    for m in changed:
        click.echo(f"warning: {m.name} v{m.version}: model file {m.path} is {m.file_status()} since it was "
                   "registered", err=True)
