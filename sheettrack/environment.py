"""The Python environment a run used: interpreter, platform and every installed distribution.

An environment is stored once, in the ``Environments`` sheet, under a short hash of its
contents; each run row carries that hash (``env_hash``). The distribution list and its hash
are computed once per process, so a sweep of many runs pays for them once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Environment:
    """One environment: Python version, platform and installed distributions (name -> version)."""

    python: str
    platform: str
    packages: dict[str, str]

    @cached_property
    def key(self) -> str:
        """A 12-hex-character hash of the environment's contents, the same on every machine
        (computed once: every row of a sweep asks for it)."""
        payload = json.dumps([self.python, self.platform, sorted(self.packages.items())],
                             separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]

    def packages_text(self) -> str:
        """The distributions as ``name==version`` lines, sorted: compact and readable in a cell."""
        return "\n".join(f"{n}=={v}" for n, v in sorted(self.packages.items()))


def parse_packages(text: Any) -> dict[str, str]:
    """The ``name==version`` lines of an Environments row back as a dict (JSON text also read)."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    text = str(text)
    if text.lstrip().startswith("{"):
        return {str(k): str(v) for k, v in json.loads(text).items()}
    out = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name:
            out[name] = version
    return out


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503: lower case, runs of -_. as one -)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(path: list[str] | None = None) -> dict[str, str]:
    """Every installed distribution visible on ``path`` (default ``sys.path``): name -> version.

    A wheel-installed ``NAME-VERSION.dist-info`` folder is read by its name (the wheel spec
    fixes that shape), which avoids parsing every METADATA file, and an ``.egg-info`` folder
    (an editable install's, in a project's root) by the first lines of its PKG-INFO; other
    layouts (a zip on the path, a damaged folder) are read through ``importlib.metadata``,
    which is imported only then."""
    found: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        try:
            with os.scandir(entry or ".") as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # not a folder: a zip, or gone
            if entry and os.path.isfile(entry):
                for name, version in _parsed([entry]):
                    found.setdefault(name, version)
            continue
        for folder in names:
            stem, _, suffix = folder.rpartition(".")
            name, sep, version = stem.partition("-")
            if suffix == "dist-info" and sep and name and version and "-" not in version:
                found.setdefault(normalize_name(name), version)  # the first on the path wins, as for import
            elif suffix == "egg-info" and (pkg := _pkg_info(os.path.join(entry or ".", folder))) is not None:
                found.setdefault(*pkg)
            else:
                for name, version in _parsed([entry], folder):
                    found.setdefault(name, version)
    return found


def _pkg_info(folder: str) -> tuple[str, str] | None:
    """(normalized name, version) from the header of an ``.egg-info`` folder's PKG-INFO (its
    first lines: ``Metadata-Version``, ``Name``, ``Version``); None when they are not there."""
    fields: dict[str, str] = {}
    try:
        with open(os.path.join(folder, "PKG-INFO"), encoding="utf-8", errors="replace") as fh:
            for line, _ in zip(fh, range(8)):
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version"):
                    fields[key] = value.strip()
    except OSError:  # an egg-info file, not a folder, or unreadable: the careful path
        return None
    if fields.get("Name") and fields.get("Version"):
        return normalize_name(fields["Name"]), fields["Version"]
    return None


def _parsed(path: list[str], folder: str | None = None) -> list[tuple[str, str]]:
    """(normalized name, version) of the distributions on ``path`` read from their metadata
    (only the one in ``folder``, when given)."""
    from importlib import metadata

    out = []
    for dist in metadata.distributions(path=path):
        if folder is not None and getattr(getattr(dist, "_path", None), "name", "") != folder:
            continue
        try:
            name, version = dist.metadata["Name"], dist.version
        except Exception:  # noqa: BLE001 - a damaged metadata folder: leave it out
            continue
        if name and version:
            out.append((normalize_name(name), str(version)))
    return out


def _platform() -> str:
    parts = [platform.system(), platform.release(), platform.machine()]
    return "-".join(part for part in parts if part) or sys.platform


_current: Environment | None = None


def current() -> Environment:
    """This process's environment, computed once per process."""
    global _current
    if _current is None:
        _current = Environment(platform.python_version(), _platform(), distributions())
    return _current


def forget() -> None:
    """Compute the environment afresh next time (after installing packages in the process)."""
    global _current
    _current = None


@dataclass
class PackageDiff:
    """How a recorded environment differs from another: changed, missing and extra distributions."""

    changed: dict[str, tuple[str, str]]  # name -> (recorded, here)
    missing: dict[str, str]  # recorded, not installed here
    extra: dict[str, str]  # installed here, not recorded

    @property
    def same(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def pip_command(self) -> str | None:
        """The pip command that installs the recorded versions of what differs (None when nothing does)."""
        pins = {**{n: v for n, (v, _) in self.changed.items()}, **self.missing}
        if not pins:
            return None
        return "pip install " + " ".join(f"'{n}=={v}'" for n, v in sorted(pins.items()))


def compare(recorded: dict[str, str], here: dict[str, str]) -> PackageDiff:
    """Compare a recorded distribution list with another (names compared as pip compares them)."""
    rec = {normalize_name(n): v for n, v in recorded.items()}
    now = {normalize_name(n): v for n, v in here.items()}
    changed = {n: (v, now[n]) for n, v in rec.items() if n in now and now[n] != v}
    missing = {n: v for n, v in rec.items() if n not in now}
    extra = {n: v for n, v in now.items() if n not in rec}
    return PackageDiff(changed, missing, extra)


__all__ = ["Environment", "PackageDiff", "compare", "current", "distributions", "forget", "parse_packages"]
