"""The ``sheettrack`` command: a thin layer over the Python API, for shell and R users.

Every command mirrors an API call and lives in the module of its family (``logging``,
``reading``, ``sheets``, ``outbox``, ``models``, ``google``, ``demo``); what they parse is in
``params``, how they print in ``output``. Exit codes: 0 when done (a logged row is in the
store); 75 (EX_TEMPFAIL) when rows wait in the outbox and ``sheettrack sync`` can send them
later; 1 for a user error (``SheettrackError``: one ``error:`` line, nothing written); 2 for
a command used wrongly. Anything else is a bug in sheettrack and says so in one line.
``--debug`` (or ``SHEETTRACK_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import click

from .. import __version__
from ..errors import SheettrackError
from . import demo, google, logging, models, outbox, reading, sheets
from .params import Settings, settings

__all__ = ["main"]


class Main(click.Group):
    """Turns errors into one line and an exit code: a user error 1, bad usage 2, and any other
    exception an internal error (1) naming its type, so a bug never passes for a user error."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, reporting what it raises unless --debug asks for the traceback."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): stop quietly, as cat does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            ctx.exit(141)
        except Exception as exc:
            if settings().debug:
                raise
            click.echo(_error_line(exc), err=True)
            ctx.exit(exc.exit_code if isinstance(exc, click.ClickException) else 1)


def _error_line(exc: Exception) -> str:
    """The one line the terminal shows for ``exc``."""
    if isinstance(exc, click.ClickException):
        return f"error: {exc.format_message()}"
    if isinstance(exc, SheettrackError):  # with its notes: a row that still waits says so
        return "error: " + "; ".join([str(exc), *getattr(exc, "__notes__", [])])
    message = " ".join(str(exc).split())
    return (f"internal error: {type(exc).__name__}" + (f": {message}" if message else "")
            + " (a bug in sheettrack; rerun with --debug for the traceback)")


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors [SHEETTRACK_DEBUG=1].")
@click.option("--credentials", type=click.Path(dir_okay=False), default=None,
              help="Google key file (service account or authorized user) for Google Sheets targets.")
@click.version_option(version=__version__, prog_name="sheettrack", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, debug: bool, credentials: str | None) -> None:
    """Track ML experiments in an Excel workbook or a Google Sheet: one row per run.

    TARGET is a workbook path such as runs.xlsx, or a Google Sheet as gsheet://ID[/TAB] or its
    browser address; it may be left out when SHEETTRACK_TARGET is set.
    """
    debug = debug or _debug_from_environment()
    ctx.obj = Settings(debug=debug, credentials=credentials)
    if not debug:  # a warning is one line for whoever reads the terminal, not a source excerpt
        before = warnings.showwarning
        warnings.showwarning = _warning_line
        ctx.call_on_close(lambda: setattr(warnings, "showwarning", before))


def _debug_from_environment() -> bool:
    """Whether SHEETTRACK_DEBUG asks for tracebacks: any value but empty, 0, false, no or off
    (a value of another spelling must not break every command)."""
    return os.environ.get("SHEETTRACK_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


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
