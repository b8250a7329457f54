"""Moving to Google Sheets: ``new-sheet``, ``share``, and ``copy`` between any two targets."""

from __future__ import annotations

import click

import sheettrack

from .params import TARGET, creds


@click.command()
@click.argument("source", type=TARGET)
@click.argument("dest", type=TARGET)
@click.option("--dest-credentials", type=click.Path(dir_okay=False), default=None,
              help="Key file for DEST when it needs other Google credentials than SOURCE.")
@click.option("--batch", default=500, show_default=True, help="Rows per write.")
def copy(source: str, dest: str, dest_credentials: str | None, batch: int) -> None:
    """Copy runs from SOURCE to DEST (workbook or Google Sheet, either way round).

    Runs whose run id DEST has already are skipped, so the copy can be repeated; the registered
    model versions DEST lacks come along (into MLflow's model registry for an MLflow target).
    """
    result = sheettrack.copy(source, dest, credentials=creds(), dest_credentials=dest_credentials, batch=batch)
    models = f"; {result.models} registered model version(s)" if result.models else ""
    click.echo(f"copied {result.copied} run(s) to {dest}; skipped {result.skipped} already there{models}")


@click.command("new-sheet")
@click.argument("title")
@click.option("--share", "share_with", multiple=True, metavar="EMAIL", help="Share with this person (repeatable).")
@click.option("--role", type=click.Choice(["reader", "commenter", "writer"]), default="writer", show_default=True)
@click.option("--template", "-T", default=None, help="Built-in template name or YAML path [default].")
def new_sheet(title: str, share_with: tuple[str, ...], role: str, template: str | None) -> None:
    """Create a Google Sheet laid out for the template, share it, and print its address."""
    url = sheettrack.create_google_sheet(title, share_with=share_with, role=role, template=template,
                                         credentials=creds())
    click.echo(url)


@click.command()
@click.argument("target", type=TARGET)
@click.argument("email")
@click.option("--role", type=click.Choice(["reader", "commenter", "writer"]), default="reader",
              show_default=True)
@click.option("--no-notify", is_flag=True, help="Do not e-mail the person.")
def share(target: str, email: str, role: str, no_notify: bool) -> None:
    """Share a Google Sheet with EMAIL (reader by default)."""
    sheettrack.share(target, email, role, notify=not no_notify, credentials=creds())
    click.echo(f"shared {target} with {email} as {role}")
