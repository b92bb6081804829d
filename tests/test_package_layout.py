"""The package's shape: no import cycles between cnnkit's subpackages, and every public
module names its API in ``__all__`` (issue 14).

The import graph is read from the source with :mod:`ast`, so an import inside a function
counts as much as one at the top (a lazy import still ties the two packages together)."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import cnnkit

SRC = Path(cnnkit.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    """``root/../cnnkit/data/mnist.py`` -> ``cnnkit.data.mnist`` (a package is its __init__)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every module name an import statement anywhere in ``tree`` names, with its line; for
    ``from a import b`` both ``a`` and ``a.b`` (b may be a submodule)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno


def _unit(module: str, root: Path) -> str | None:
    """The part of the package ``module`` belongs to: its first-level subpackage
    (``cnnkit.data``) or top-level module (``cnnkit.errors``); None for the root package,
    whose lazy public API imports everything by design."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] == "__main__":
        return None
    if (root / parts[1]).is_dir() or (root / f"{parts[1]}.py").is_file():
        return f"{parts[0]}.{parts[1]}"
    return None  # a name of the lazy root API (``from cnnkit import build``), not a module


def import_graph(root: Path) -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> the import lines ``path:line module`` that make the edge."""
    name = root.name
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        source = _unit(module, root)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        seen: set[str] = set()
        for target, line in _imported(tree, module, path.name == "__init__.py"):
            if target != name and not target.startswith(f"{name}."):
                continue
            dest = _unit(target, root)
            where = f"{path.relative_to(root.parent)}:{line}"
            if dest is not None and dest != source and where not in seen:
                seen.add(where)  # ``from a import b`` names a and a.b: report the line once
                edges.setdefault((source, dest), []).append(f"{where} imports {target}")
    return edges


def find_cycle(edges: dict[tuple[str, str], list[str]]) -> list[str] | None:
    """One cycle of the unit graph as [a, b, ..., a], or None when the graph is acyclic."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def _describe(cycle: list[str], edges: dict[tuple[str, str], list[str]]) -> str:
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        lines += [f"  {where}" for where in edges[(a, b)][:3]]
    return "\n".join(lines)


def test_no_import_cycle_between_subpackages() -> None:
    edges = import_graph(SRC)
    assert ("cnnkit.detect", "cnnkit.data") in edges  # the graph is really read
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between cnnkit's parts:\n" + _describe(cycle, edges)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "__init__.py": "from pkg import a, b\n",  # the root may import everything
        "a/__init__.py": "",
        "a/x.py": "from pkg.b.y import f\n",
        "b/__init__.py": "",
        "b/y.py": "def f():\n    from ..c import z\n",
        "c/__init__.py": "",
        "c/z.py": "def g():\n    import pkg.a.x\n",
        "errors.py": "",
        "d/__init__.py": "from pkg import errors\n",
    })  # fmt: skip
    edges = import_graph(root)
    assert set(edges) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"), ("pkg.d", "pkg.errors")}
    cycle = find_cycle(edges)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"pkg.a", "pkg.b", "pkg.c"}
    del edges[("pkg.c", "pkg.a")]
    assert find_cycle(edges) is None


def _public_modules(root: Path) -> list[Path]:
    """Every module whose dotted name has no private part (``_name``) and is not __main__."""
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        out.append(path)
    return out


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (definitions, assignments, imports), looking
    into top-level if / try blocks."""
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
            return [n.value for n in ast.walk(node.value) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return None


@pytest.mark.parametrize("path", _public_modules(SRC), ids=lambda p: str(p.relative_to(SRC.parent)))
def test_public_module_defines_all_of_existing_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    declared = _declared_all(tree)
    assert declared is not None, f"{path.relative_to(SRC.parent)} has no __all__ (list its public names)"
    assert len(declared) == len(set(declared)), f"__all__ repeats a name: {sorted(declared)}"
    missing = [n for n in declared if n not in _bound_names(tree)]
    if missing and "__getattr__" in _bound_names(tree):  # a lazy module: ask the module itself
        module = importlib.import_module(_module_name(path, SRC))
        missing = [n for n in missing if not hasattr(module, n)]
    assert not missing, f"__all__ of {path.relative_to(SRC.parent)} names what it does not define: {missing}"
