"""Names of a package loaded from their modules on first use (PEP 562), so importing the
package stays cheap: ``import sheettrack`` for one call at the end of a training script, or
telling a target's kind without loading the Google client."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_names(package: str, namespace: dict[str, Any], homes: Mapping[str, Iterable[str]],
               modules: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``homes`` (module -> names)
    is imported from its module when first asked for, and kept in ``namespace`` (the package's
    globals); ``modules`` are submodules handed out as attributes (``package.module``)."""
    home_of = {name: module for module, names in homes.items() for name in names}
    submodules = set(modules)

    def getattr_(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(home_of) | submodules)

    return getattr_, dir_
