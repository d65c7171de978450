"""The package's import graph has no cycle.

A cycle makes import order matter (a half-initialised module is seen by its partner) and
says that two modules share a job; `RunOutcome` living in the engine once made
`train.engine` and `train.run` import each other. The graph is read from the source with
`ast`, nothing is imported. Imports inside functions count (they are cycles deferred to
run time); imports under `if TYPE_CHECKING:` do not (they never run). `from pkg import
mod` is an edge to the submodule `pkg.mod`, not to `pkg`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every module under `src`."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: all nesting levels, except TYPE_CHECKING blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the modules of the same source tree it imports."""
    modules = _modules(src)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in modules.items():
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                deps.add(sub if sub in modules else base)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, iters = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "nb201.train.outcome" in graph["nb201.train.run"]
    assert (
        "nb201.train.task" in graph["nb201.train.engine"] and "nb201.train.run" in graph["nb201.train.spec"]
    )
    assert "nb201.data.cache" in graph["nb201.data.loading"]


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# The groups of docs/DESIGN.md's layout, lowest first: a module imports from its own group
# or a lower one, never upwards (the notebook layer on top, the rules written once below).
LAYERS = (
    (
        *("nb201", "nb201.util", "nb201.fsutil", "nb201.names"),
        *("nb201.config", "nb201.presets", "nb201.envinfo", "nb201.stats"),
    ),
    ("nb201.space", "nb201.data"),
    ("nb201.train", "nb201.validation"),
    ("nb201.benchmark",),
    ("nb201.search", "nb201.wsnas", "nb201.fidelity"),
    ("nb201.pipeline", "nb201.cli"),
)
# The one upward edge, lazy: `Benchmark.proxies` answers from the torch-free proxy tables.
UPWARD = {("nb201.benchmark.api", "nb201.fidelity.tables")}


def layer_of(module: str) -> int:
    """The layer of a module: that of the longest group name it falls under (the package
    itself, `nb201`, holds only its `__init__`)."""
    best = max(
        (
            g
            for layer in LAYERS
            for g in layer
            if module == g or (g != "nb201" and module.startswith(g + "."))
        ),
        key=len,
        default=None,
    )
    if best is None:
        raise KeyError(
            f"{module} belongs to no group of LAYERS; add it to tests/test_imports.py and DESIGN.md"
        )
    return next(k for k, layer in enumerate(LAYERS) if best in layer)


def test_groups_import_downwards():
    graph = import_graph()
    upward = sorted(
        f"{a} -> {d}"
        for a, deps in graph.items()
        for d in deps
        if layer_of(d) > layer_of(a) and (a, d) not in UPWARD
    )
    assert upward == [], "upward imports (move the shared piece down a layer): " + ", ".join(upward)
    assert all(d in graph[a] for a, d in UPWARD), "an allowed upward edge is gone: drop it from UPWARD"
