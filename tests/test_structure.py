"""The shape of the package: rules about the code itself, checked on every run.

- No function in `src/nb201` is longer than `MAX_FUNCTION_LINES` (def line to last line,
  docstring included): a longer one is cut into named steps.
- No notebook code cell has more than `MAX_CELL_LINES` lines of logic (non-blank,
  non-comment lines): a notebook orchestrates and plots, its science lives in `src` with
  tests. The `parameters` cell is exempt: it declares one parameter per line (papermill's
  contract) and holds no logic.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nb201"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_FUNCTION_LINES = 80
MAX_CELL_LINES = 15

# Known offenders, each to be cut and then removed from here: (file relative to
# src/nb201, qualified name) -> its length when listed. Add nothing new.
ALLOWED_LONG: dict[tuple[str, str], int] = {}


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """(qualified name, node) of every function and method, nested ones included."""
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                out.append((name, node))
            out.extend(_functions(node, name + "."))
        else:
            out.extend(_functions(node, prefix))
    return out


def long_functions(root: Path = SRC, limit: int = MAX_FUNCTION_LINES) -> dict[tuple[str, str], int]:
    """{(file, qualified name): lines} of every function longer than `limit` below `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        for name, node in _functions(ast.parse(path.read_text(), filename=str(path))):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found[(path.relative_to(root).as_posix(), name)] = lines
    return found


def test_no_function_is_longer_than_80_lines():
    found = long_functions()
    new = {key: n for key, n in found.items() if key not in ALLOWED_LONG}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (cut them into named steps): " + ", ".join(
        f"{f}:{name} ({n} lines)" for (f, name), n in sorted(new.items())
    )
    grown = {key: n for key, n in found.items() if key in ALLOWED_LONG and n > ALLOWED_LONG[key]}
    assert not grown, f"allowed long functions grew (cut them, do not extend them): {grown}"


def test_the_allow_list_holds_only_real_offenders():
    """An entry whose function was cut (or renamed) must leave the list."""
    stale = set(ALLOWED_LONG) - set(long_functions())
    assert not stale, f"no longer over {MAX_FUNCTION_LINES} lines; remove from ALLOWED_LONG: {sorted(stale)}"


def test_the_scan_sees_methods_and_nested_functions(tmp_path):
    def body(indent: str) -> str:
        return "\n".join(f"{indent}x{i} = {i}" for i in range(MAX_FUNCTION_LINES))

    source = [
        "class C:",
        "    def long(self):",
        body(" " * 8),
        "    def short(self):",
        "        pass",
        "def outer():",
        "    def inner():",
        body(" " * 8),
    ]
    (tmp_path / "m.py").write_text("\n".join(source) + "\n")
    assert long_functions(tmp_path) == {
        ("m.py", "C.long"): MAX_FUNCTION_LINES + 1,
        ("m.py", "outer"): MAX_FUNCTION_LINES + 2,
        ("m.py", "outer.inner"): MAX_FUNCTION_LINES + 1,
    }


def logic_lines(source: str) -> int:
    """Lines of a cell that do something: not blank, not only a comment."""
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def long_cells(folder: Path = NOTEBOOKS, limit: int = MAX_CELL_LINES) -> dict[tuple[str, int], int]:
    """{(notebook, cell index): logic lines} of every code cell over `limit`, the
    `parameters` cell left out."""
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        for k, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            params = "parameters" in cell.get("metadata", {}).get("tags", [])
            if cell["cell_type"] == "code" and not params and logic_lines(source) > limit:
                found[(path.name, k)] = logic_lines(source)
    return found


def test_no_notebook_cell_has_more_than_15_lines_of_logic():
    found = long_cells()
    assert not found, (
        f"notebook cells over {MAX_CELL_LINES} lines of logic (move the logic into src): "
        + ", ".join(f"{nb} cell {k} ({n} lines)" for (nb, k), n in sorted(found.items()))
    )


def test_the_cell_scan_counts_logic_and_skips_the_parameters_cell(tmp_path):
    code = "\n".join(["# a comment", "", *[f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1)]])
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": code},
        {"cell_type": "markdown", "metadata": {}, "source": code},
        {"cell_type": "code", "metadata": {}, "source": code.splitlines(keepends=True)},
        {"cell_type": "code", "metadata": {}, "source": "\n".join(code.splitlines()[:-1])},
    ]
    (tmp_path / "n.ipynb").write_text(json.dumps({"cells": cells}))
    assert long_cells(tmp_path) == {("n.ipynb", 2): MAX_CELL_LINES + 1}
    assert logic_lines("a = 1\n  # note\n\nb = 2  # trailing\n") == 2
