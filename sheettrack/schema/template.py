"""Finding schema templates: the built-in ones shipped in the wheel, or a YAML file path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from ..files import stamp
from .core import Schema


def builtin_dir() -> Path:
    """The folder holding the built-in templates (inside the installed package)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "builtin_templates", here.parent / "templates"):
        if (candidate / "default.yaml").is_file():
            return candidate
    raise TemplateError("the built-in templates are missing from the installation; reinstall sheettrack")


def builtin_names() -> list[str]:
    """Names of the built-in templates, ``default`` first."""
    names = sorted(p.stem for p in builtin_dir().glob("*.yaml"))
    return sorted(names, key=lambda n: (n != "default", n))


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError(f"{path}:{where}: not valid YAML: {problem}") from None


def load_template(template: str | os.PathLike | dict | Schema | None = None, _seen: tuple = ()) -> Schema:
    """Load a template by built-in name, YAML path or dict (None means ``default``)."""
    if isinstance(template, Schema):
        return template
    if template is None:
        template = "default"
    if isinstance(template, dict):
        return _from_data(template, "<template dict>", Path.cwd(), _seen)
    text = os.fspath(template)
    path = Path(text)
    is_path = path.suffix in (".yaml", ".yml") or os.sep in text or "/" in text
    if not is_path:
        candidate = builtin_dir() / f"{text}.yaml"
        if not candidate.is_file():
            raise TemplateError(f"no template named {text!r}; built-in templates are "
                                f"{', '.join(builtin_names())}, or give the path of a YAML file")
        path = candidate
    elif not path.is_file():
        raise TemplateError(f"{path}: template file not found")
    path = path.resolve()
    if str(path) in _seen:
        raise TemplateError(f"{path}: key 'extends' makes a loop ({' -> '.join(_seen)})")
    key = str(path)
    hit = _LOADED.get(key)
    if hit is not None and all(stamp(p) == k for p, k in hit[0]):
        _note(hit[0])
        return hit[1]
    deps: list[tuple[str, tuple | None]] = [(key, stamp(key))]
    _TRACKING.append(deps)
    try:
        schema = _from_data(_read_yaml(path), key, path.parent, _seen + (key,))
    finally:
        _TRACKING.pop()
    _LOADED[key] = (tuple(deps), schema)
    _note(deps)
    return schema


# Loaded template files: path -> (the files it was built from with their stamps, schema).
# A sweep passing template= on every log() call parses the YAML once; an edited file (or an
# edited file it extends) is loaded again. Schemas are never changed in place.
_LOADED: dict[str, tuple[tuple, Schema]] = {}
_TRACKING: list[list] = []  # the dependency lists of the loads under way (extends nest them)


def _note(deps: Any) -> None:
    for collecting in _TRACKING:
        collecting.extend(deps)


def _from_data(data: Any, source: str, folder: Path, seen: tuple) -> Schema:
    base = None
    if isinstance(data, dict) and data.get("extends"):
        parent = data["extends"]
        if not isinstance(parent, str):
            raise TemplateError(f"{source}: key 'extends' must name a template or a path")
        if ("/" in parent or parent.endswith((".yaml", ".yml"))) and not os.path.isabs(parent):
            parent = str(folder / parent)
        try:
            base = load_template(parent, seen)
        except TemplateError as exc:
            raise TemplateError(f"{source}: key 'extends': {exc}") from None
    return Schema.from_dict(data, source=source, base=base)


def list_templates() -> list[Schema]:
    """Every built-in template, loaded."""
    return [load_template(n) for n in builtin_names()]
