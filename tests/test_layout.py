"""The house's rules, checked on the code itself: the module graph has no cycle, no module
uses another's private names or another object's private attributes, and the two store
packages never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sheettrack"


def modules() -> dict[str, ast.Module]:
    """Every module of the package by dotted name, parsed."""
    out = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(file.read_text(encoding="utf-8"), str(file))
    return out


def is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()


def imports(name: str, tree: ast.Module, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in ``tree``, function
    level included, resolved to modules of the package."""
    out = []
    base = name.split(".") if is_package(name) else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("sheettrack"):
                continue
            names = [a.name for a in node.names]
            for n in names:  # ``from . import delivery`` imports a module
                if f"{target}.{n}" in known:
                    out.append((f"{target}.{n}", [], node.lineno))
            out.append((target, [n for n in names if f"{target}.{n}" not in known], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names if a.name.startswith("sheettrack"))
    return [(t, n, line) for t, n, line in out if t in known]


def test_the_module_graph_has_no_cycle() -> None:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, tree in mods.items():
        edges = {t for t, _, _ in imports(name, tree, known) if t != name}
        # a package's own __init__ re-exporting its modules is not a cycle with them
        graph[name] = {t for t in edges if not (is_package(t) and name.startswith(t + "."))}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_names() -> None:
    mods = modules()
    known = set(mods)
    found = [f"{name}:{line} imports {n} from {target}"
             for name, tree in mods.items()
             for target, names, line in imports(name, tree, known) if target != name
             for n in names if n.startswith("_") and not n.startswith("__")]
    assert not found, "\n".join(found)


def test_no_module_reaches_into_another_objects_private_attributes() -> None:
    found = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and not (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                             and node.value.func.id == "super")):
                found.append(f"{name}:{node.lineno} uses .{node.attr}")
    assert not found, "\n".join(found)


def test_the_store_packages_never_import_each_other() -> None:
    mods = modules()
    known = set(mods)
    backends = tuple(sorted({".".join(n.split(".")[:3]) for n in known
                             if n.startswith("sheettrack.stores.") and n.count(".") >= 3}))  # each store package
    assert {"sheettrack.stores.xlsx", "sheettrack.stores.gsheets", "sheettrack.stores.mlflow"} <= set(backends)
    found = []
    for name, tree in mods.items():
        own = next((b for b in backends if name == b or name.startswith(b + ".")), None)
        if own is None:
            continue
        for target, _, line in imports(name, tree, known):
            other = next((b for b in backends if b != own and (target == b or target.startswith(b + "."))), None)
            if other is not None:
                found.append(f"{name}:{line} imports {target}")
    assert not found, "\n".join(found)
