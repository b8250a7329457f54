"""The outbox, where rows wait when their store cannot take them: ``sync`` and ``outbox``."""

from __future__ import annotations

import sys

import click

import sheettrack

from ..outbox import outbox_dir
from .output import EX_TEMPFAIL, emit_json
from .params import TARGET, creds


@click.command()
@click.argument("target", required=False, type=TARGET)
def sync(target: str | None) -> None:
    """Deliver the rows waiting in the outbox (for TARGET, or for every target).

    Exits 0 when nothing waits any more; 75 when rows still wait for their store (try again
    later); 1 when a row waits because the sheet's own rules refuse it (fix the sheet, or drop
    the row with 'sheettrack outbox --drop').
    """
    results = sheettrack.sync(target, credentials=creds())
    if not results:
        click.echo("nothing waits in the outbox")
    failed = refused = False
    for r in results:
        for lost in r.lost:
            click.echo(f"warning: {lost}", err=True)
        line = f"{r.target}: delivered {r.delivered}"
        if r.already:
            line += f", {r.already} already there (not written again)"
        if r.waiting_ids:
            failed = True
            refused = refused or bool(r.refused)
            line += f"; {len(r.waiting_ids)} still waiting: {r.reason}"
        click.echo(line)
    if failed:
        sys.exit(1 if refused else EX_TEMPFAIL)


@click.command("outbox")
@click.argument("target", required=False, type=TARGET)
@click.option("--json", "as_json", is_flag=True, help="Print the waiting rows as JSON.")
@click.option("--drop", "drop_ids", multiple=True, metavar="RUN_ID",
              help="Take this waiting row out of TARGET's outbox without delivering it (repeatable).")
def outbox_cmd(target: str | None, as_json: bool, drop_ids: tuple[str, ...]) -> None:
    """List the rows waiting in the outbox, and why; prints the outbox folder."""
    if drop_ids:
        dropped = sheettrack.drop(target, drop_ids, credentials=creds())
        click.echo(f"dropped {len(dropped)} row(s) from the outbox: {', '.join(dropped)}")
        return
    rows = sheettrack.pending(target, credentials=creds())
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
