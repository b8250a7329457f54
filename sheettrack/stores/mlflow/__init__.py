"""MLflow as a store: an experiment on a tracking server, each row a run (``sheettrack[mlflow]``)."""

from typing import TYPE_CHECKING

from ...lazy import lazy_names
from .targets import is_mlflow_target, parse_target

if TYPE_CHECKING:
    from .store import MlflowStore

# The store and its client load on first use: telling a target's kind must not import them.
__getattr__, __dir__ = lazy_names(__name__, globals(), {"store": ("MlflowStore",)},
                                  modules=("mapping", "store", "targets"))

__all__ = ["MlflowStore", "is_mlflow_target", "parse_target"]
