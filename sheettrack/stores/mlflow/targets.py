"""Which targets name an MLflow experiment, and how one reads as a tracking URI and a name.

``mlflow://EXPERIMENT`` takes the tracking server from ``MLFLOW_TRACKING_URI``;
``mlflow+http://HOST[:PORT]/EXPERIMENT`` and ``mlflow+https://...`` name the server too (a
path before the last ``/`` stays part of the server's address, as behind a proxy).
"""

from __future__ import annotations

import os
import urllib.parse

from ...errors import TargetError

SCHEMES = ("mlflow://", "mlflow+http://", "mlflow+https://")
#: Longest experiment name MLflow takes.
MAX_EXPERIMENT_NAME = 500


def is_mlflow_target(text: str) -> bool:
    """Whether a target string names an MLflow experiment."""
    return text.strip().lower().startswith(SCHEMES)


def parse_target(text: str) -> tuple[str, str]:
    """``(tracking URI, experiment name)`` of an MLflow target; TargetError says what is wrong."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered.startswith("mlflow://"):
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not uri:
            raise TargetError(f"{text}: set MLFLOW_TRACKING_URI to the tracking server's address, "
                              "or name the server in the target: mlflow+http://HOST:PORT/EXPERIMENT")
        name = raw[len("mlflow://"):]
    elif lowered.startswith(("mlflow+http://", "mlflow+https://")):
        rest = raw[len("mlflow+"):]
        parts = urllib.parse.urlsplit(rest)
        server, _, name = parts.path.rpartition("/")
        if not parts.netloc:
            raise TargetError(f"{text}: no server: write mlflow+http://HOST:PORT/EXPERIMENT")
        uri = f"{parts.scheme}://{parts.netloc}{server}"
    else:
        raise TargetError(f"{text}: not an MLflow target (mlflow://EXPERIMENT or "
                          "mlflow+http://HOST:PORT/EXPERIMENT)")
    name = urllib.parse.unquote(name).strip("/ ")
    if not name:
        raise TargetError(f"{text}: no experiment named: add its name after the server, "
                          "as in mlflow+http://127.0.0.1:5000/digits")
    if len(name) > MAX_EXPERIMENT_NAME:
        raise TargetError(f"{text}: an MLflow experiment name holds at most {MAX_EXPERIMENT_NAME} "
                          f"characters, this one has {len(name)}")
    return uri, name
