"""The package's shape: no import cycles, imports inside functions only for optional
heavy packages, every subpackage installable.

The import graph is read from the source with ``ast`` (every ``import`` and ``from ...
import`` of a ``mixedext`` module, at any depth of the file), so a cycle hidden by import
order or by a function-level import is found too.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "mixedext"
DEFERRED = ("matplotlib", "dask")  # optional or heavy: imported where used


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """``(module imported, inside a function)`` for every import statement."""
    tree = ast.parse(path.read_text())
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(sub) for sub in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in in_function
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            yield node.module, id(node) in in_function
            for alias in node.names:  # "from mixedext.x import y" may import module x.y
                yield f"{node.module}.{alias.name}", id(node) in in_function


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _graph():
    graph = {}
    for name, path in MODULES.items():
        deps = {m for m, _ in _imports(path) if m in MODULES and m != name}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        for dep in list(deps):
            parts = dep.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts)))
        deps.discard(name)
        graph[name] = {d for d in deps if d in MODULES and not name.startswith(d + ".")}
    return graph


def test_no_import_cycles():
    graph = _graph()
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_function_level_imports_only_defer_optional_packages():
    found = [(str(path.relative_to(ROOT.parent)), mod) for path in MODULES.values()
             for mod, inner in _imports(path) if inner and not mod.startswith(DEFERRED)]
    assert not found, found


def test_every_package_directory_has_an_init():
    for folder in [ROOT, *[p for p in ROOT.rglob("*") if p.is_dir()]]:
        if folder.name in ("__pycache__", "data"):
            continue
        assert (folder / "__init__.py").exists(), folder
