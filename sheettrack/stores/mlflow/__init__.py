"""MLflow as a store: an experiment on a tracking server, each row a run (``sheettrack[mlflow]``)."""

from .store import MlflowStore
from .targets import is_mlflow_target, parse_target

__all__ = ["MlflowStore", "is_mlflow_target", "parse_target"]
