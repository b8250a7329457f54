"""From a run to one row: flattening nested config, run ids, and the fields of a row."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_run_id(now: float | None = None) -> str:
    """A unique, time-sortable run id (a ULID: 48 bits of milliseconds, 80 random bits)."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def flatten(values: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted names: ``{"optimizer": {"lr": 0.1}}`` -> ``optimizer.lr``.

    Lists and tuples stay whole (they are stored as JSON text); an empty dict stays a value.
    """
    out: dict[str, Any] = {}
    if values is None:
        return out
    if not isinstance(values, Mapping):
        if hasattr(values, "__dict__") and not isinstance(values, type):  # argparse.Namespace
            values = vars(values)
        else:
            raise TypeError(f"expected a mapping of names to values, got {type(values).__name__}")
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
