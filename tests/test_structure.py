"""The shape of the package: rules about the code itself, checked on every run.

- No function in `src/nb201` is longer than `MAX_FUNCTION_LINES` (def line to last line,
  docstring included): a longer one is cut into named steps.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nb201"
MAX_FUNCTION_LINES = 80

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
