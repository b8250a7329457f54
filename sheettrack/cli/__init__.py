"""The ``sheettrack`` command: a thin layer over the Python API, for shell and R users.

Every command mirrors an API call and lives in the module of its family (``logging``,
``reading``, ``sheets``, ``outbox``, ``models``, ``google``, ``demo``); what they parse is in
``params``, how they print in ``output``. A user error prints one line and exits 1 (2 for
bad usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from ..errors import SheettrackError
from . import demo, google, logging, models, outbox, reading, sheets
from .params import Settings, settings

__all__ = ["main"]


class Main(click.Group):
    """Turns user errors into one line and an exit code: 1, or 2 for bad usage."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, reporting a user error in one line unless --debug is given."""
        try:
            return super().invoke(ctx)
        except (SheettrackError, FileNotFoundError, TypeError, ValueError, click.ClickException) as exc:
            if settings().debug:
                raise
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            click.echo(f"error: {message}", err=True)
            ctx.exit(exc.exit_code if isinstance(exc, click.ClickException) else 1)


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
    ctx.obj = Settings(debug=debug, credentials=credentials)
    if not debug:  # a warning is one line for whoever reads the terminal, not a source excerpt
        before = warnings.showwarning
        warnings.showwarning = _warning_line
        ctx.call_on_close(lambda: setattr(warnings, "showwarning", before))


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    kind = "" if issubclass(category, UserWarning) else f"{category.__name__}: "
    click.echo(f"warning: {kind}{message}", err=True)


for _command in (
    logging.log_cmd, logging.log_many_cmd,
    reading.ls, reading.show, reading.best_cmd, reading.compare, reading.export,
    sheets.init, sheets.validate, sheets.summarize, sheets.templates,
    outbox.sync, outbox.outbox_cmd,
    models.register_cmd, models.models_cmd, models.reproduce_cmd,
    google.copy, google.new_sheet, google.share,
    demo.demo,
):
    main.add_command(_command)
