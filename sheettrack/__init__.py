"""sheettrack: experiment tracking kept in an Excel workbook or a Google Sheet.

    import sheettrack
    run_id = sheettrack.log("runs.xlsx", params={"lr": 0.01}, metrics={"accuracy": 0.93})

    with sheettrack.start_run("runs.xlsx", hypothesis="two layers beat one") as run:
        run.log_params({"hidden_layers": [64, 32]})
        run.log_metric("accuracy", 0.95)

    df = sheettrack.load("runs.xlsx")

Importing sheettrack imports neither pandas nor openpyxl: one call at the end of a
training script stays cheap.
"""

from typing import TYPE_CHECKING

from .errors import (
    CorruptWorkbookError,
    SchemaMismatchError,
    SheetNotFoundError,
    SheettrackError,
    StoreError,
    StoreUnavailableError,
    TargetError,
    TemplateError,
    ValidationError,
    WorkbookLockedError,
)
from .lazy import lazy_names

if TYPE_CHECKING:
    from .api import (
        CopyResult,
        Delivery,
        MirrorWarning,
        Problem,
        RowQueuedWarning,
        copy,
        create_google_sheet,
        drop,
        init,
        log,
        pending,
        schema_of,
        share,
        start_run,
        sync,
        validate,
    )
    from .batch import log_many
    from .frames import load, show
    from .record import Record
    from .registry import Model, get_model, list_models, register_model
    from .reports import best, compare, export, summarize
    from .reproduction import Plan, reproduce
    from .run import Run
    from .schema import Column, Schema, SheettrackWarning
    from .templates import list_templates, load_template

# Where each public name lives; a name's module is imported when the name is first used, so
# ``import sheettrack`` stays cheap for the one call at the end of a training script.
_HOMES = {
    "api": ("CopyResult", "Delivery", "Problem", "RowQueuedWarning", "MirrorWarning", "copy", "create_google_sheet", "drop", "init", "log",
            "pending", "schema_of", "share", "start_run", "sync", "validate"),
    "batch": ("log_many",),
    "frames": ("load", "show"),
    "record": ("Record",),
    "registry": ("Model", "get_model", "list_models", "register_model"),
    "reports": ("best", "compare", "export", "summarize"),
    "reproduction": ("Plan", "reproduce"),
    "run": ("Run",),
    "schema": ("Column", "Schema", "SheettrackWarning"),
    "templates": ("list_templates", "load_template"),
}
__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES)

__version__ = "0.2.0"

__all__ = [
    "log", "log_many", "start_run", "load", "init", "validate", "show", "schema_of", "Run", "Problem",
    "CopyResult", "Delivery", "Record",
    "summarize", "best", "compare", "export", "copy", "share", "sync", "pending", "drop", "create_google_sheet",
    "register_model", "get_model", "list_models", "Model", "reproduce", "Plan",
    "Schema", "Column", "load_template", "list_templates", "SheettrackWarning",
    "RowQueuedWarning", "MirrorWarning",
    "SheettrackError", "TemplateError", "ValidationError", "SchemaMismatchError", "TargetError",
    "StoreError", "StoreUnavailableError", "WorkbookLockedError", "CorruptWorkbookError", "SheetNotFoundError",
    "__version__",
]
