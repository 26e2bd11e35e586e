"""The library's modules import each other without circles.

The graph is read from the source with `ast`: every import statement of every module,
function-level ones included, relative ones resolved. An import of `a.b.c` is an edge to `a.b.c`
and to the packages on the way (`a`, `a.b`) that do not contain the importing module: Python
has loaded those before the importing module runs.
"""

import ast
import pathlib
import sys

import pytest

from tests import conftest

LIBRARY_ROOTS = ("tfbiggan", "export")


def module_name(root, path):
    """`tfbiggan/layers/__init__.py` -> `tfbiggan.layers`; `tfbiggan/gan.py` -> `tfbiggan.gan`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _packages_of(module):
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def import_graph(root, tops=LIBRARY_ROOTS):
    """{module: {imported module: line of the first such import}} for the modules under
    `root/<top>` for each top-level name in `tops`."""
    files = {}
    for top in tops:
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[module_name(root, path)] = path
    known = set(files)

    def resolve(name):
        """The longest prefix of `name` that is a module of the library (or None)."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in known:
                return ".".join(parts[:end])
        return None

    graph = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        edges = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module
                # `from a import b` imports module a.b when there is one, else names of a.
                targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known
                           else prefix for alias in node.names]
            for target in targets:
                imported = resolve(target)
                if imported is None:
                    continue
                own = _packages_of(module) | ({module} if is_package else set())
                for needed in (_packages_of(imported) | {imported}) - own:
                    if needed in known and needed != module:
                        edges.setdefault(needed, node.lineno)
        graph[module] = edges
    return graph, files


def find_cycle(graph):
    """One import cycle as a list of modules [a, b, ..., a], or None."""
    state = {}  # 1: on the current path; 2: finished.
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            for successor in stack[-1]:
                if state.get(successor) == 1:
                    return path[path.index(successor):] + [successor]
                if successor not in state:
                    state[successor] = 1
                    path.append(successor)
                    stack.append(iter(sorted(graph.get(successor, ()))))
                    break
            else:
                state[path.pop()] = 2
                stack.pop()
    return None


def describe(cycle, graph, files, root):
    return " -> ".join(cycle) + "  (" + "; ".join(
        f"{files[a].relative_to(root)}:{graph[a][b]} imports {b}"
        for a, b in zip(cycle, cycle[1:])) + ")"


def test_the_library_has_no_import_cycle():
    root = conftest.REPO_ROOT
    graph, files = import_graph(root)
    assert {"tfbiggan.sampling", "tfbiggan.standing_stats", "tfbiggan.training.trainer",
            "tfbiggan.training.semi_supervised", "tfbiggan.gan",
            "tfbiggan.export.export_hub", "export.export_hub"} <= set(graph)
    assert sum(len(edges) for edges in graph.values()) > 100
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + describe(cycle, graph, files, root)


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_cycles_through_function_level_and_relative_imports_are_found(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.core import Thing\n",
        "pkg/core.py": "import numpy\n\nclass Thing:\n    pass\n",
        "pkg/sampling.py": ("def sheet():\n"
                            "    from pkg import stats  # pylint: disable=import-outside-toplevel\n"
                            "    return stats\n"),
        "pkg/stats.py": "from . import sampling\nfrom .core import Thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/leaf.py": "from ..core import Thing\nimport pkg.sub\n",
    })
    graph, files = import_graph(tmp_path, tops=("pkg",))
    assert graph["pkg.stats"] == {"pkg.sampling": 1, "pkg.core": 2}
    assert graph["pkg.sampling"] == {"pkg.stats": 2}
    # The enclosing packages of a module are not edges (no cycle with a re-exporting
    # __init__); a package imported from outside it is.
    assert graph["pkg.sub.leaf"] == {"pkg.core": 1}
    assert graph["pkg"] == {"pkg.core": 1}
    cycle = find_cycle(graph)
    assert cycle in (["pkg.sampling", "pkg.stats", "pkg.sampling"],
                     ["pkg.stats", "pkg.sampling", "pkg.stats"])
    assert "pkg/sampling.py:2 imports pkg.stats" in describe(cycle, graph, files, tmp_path)
    # Moving the shared piece out breaks it.
    _write(tmp_path, {"pkg/stats.py": "from .core import Thing\n"})
    assert find_cycle(import_graph(tmp_path, tops=("pkg",))[0]) is None


def test_a_longer_cycle_is_reported_in_order():
    graph = {"a": {"b": 1}, "b": {"c": 3}, "c": {"a": 5}, "d": {"a": 1}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}, "c": {"a": 2, "b": 2}}) is None


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
