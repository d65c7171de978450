"""What every notebook report carries: a header (title, parameters, commit, date), a
JSON sidecar of its key numbers, and its HTML rendering.

The sidecar exists so that tests and later notebooks read a notebook's results without
scraping its outputs; the header exists so that a shared HTML page says exactly what
produced it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

from nb201 import __version__
from nb201.fsutil import atomic_write_text


def repo_root(start: Path | None = None) -> Path:
    """The project folder (the one holding pyproject.toml), searched upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "notebooks").is_dir():
            return folder
    raise FileNotFoundError(
        f"no nb201 project folder above {here}: run the notebooks from a checkout of the project"
    )


def chdir_to_repo() -> Path:
    """Make relative paths (data/, reports/) mean the same in JupyterLab and papermill."""
    root = repo_root()
    os.chdir(root)
    return root


def notebook_setup(max_colwidth: int = 120, width: int | None = None) -> Path:
    """Every notebook's first step, in one call: the project folder as working directory
    (relative paths mean the same in JupyterLab and under papermill), figures inline, one
    plot style and pandas display width. Returns the project folder.

    It lives here so that the setup is one line in each notebook instead of a block copied
    into all of them."""
    import pandas as pd
    import seaborn as sns

    root = chdir_to_repo()
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        shell = None
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.max_colwidth", max_colwidth)
    if width is not None:
        pd.set_option("display.width", width)
    return root


def git_commit(root: Path | None = None) -> str:
    """The commit a report was rendered from (12 hex digits), `+dirty` when the code or the
    notebooks differ from it (`envinfo.read_git_state`: the pipeline's own outputs under
    reports/ and data/ do not count); "unknown" outside a git clone."""
    from nb201.envinfo import read_git_state

    commit, dirty = read_git_state(root or repo_root_or_none())
    if commit is None:
        return "unknown"
    return commit[:12] + ("+dirty" if dirty else "")


def repo_root_or_none() -> Path | None:
    try:
        return repo_root()
    except FileNotFoundError:
        return None


def header_markdown(title: str) -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"# {title}\n\n*Rendered {now} · git commit `{git_commit()}` · nb201 {__version__}*\n"


def header(title: str, params: dict[str, Any] | None = None) -> None:
    """Display the report header (title, date, commit) in a notebook.

    The parameter table is not passed here: `render_html` reads every parameter the
    notebook actually ran with from the executed notebook (its `parameters` cell, and what
    papermill injected) and places the table under this header, so it can never miss one.
    `params` is accepted for old notebooks and ignored.
    """
    from IPython.display import Markdown, display

    display(Markdown(header_markdown(title)))


def show_table(frame: Any, title: str) -> None:
    """Display a table under a bold title line (a report never shows an untitled table)."""
    from IPython.display import Markdown, display

    display(Markdown(f"**{title}**"))
    display(frame)


def show_text(*lines: str | None) -> None:
    """Display generated prose (e.g. `analysis.describe_correlation`) as markdown; None skipped."""
    from IPython.display import Markdown, display

    text = "\n\n".join(line for line in lines if line)
    if text:
        display(Markdown(text))


def _assignments(source: str) -> dict[str, Any]:
    """`name = value` pairs of a parameters cell, values as Python literals (else source text)."""
    import ast

    out: dict[str, Any] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                out[node.targets[0].id] = ast.get_source_segment(source, node.value)
    return out


def notebook_parameters(nb: Any) -> list[tuple[str, Any, str]]:
    """(name, value, where it came from) of every parameter an executed notebook ran with:
    the defaults of its `parameters` cell, overridden by what papermill injected (recorded
    in `metadata.papermill.parameters` and in the `injected-parameters` cell)."""
    defaults: dict[str, Any] = {}
    injected: dict[str, Any] = {}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and "parameters" in tags:
            defaults.update(_assignments(cell.source))
        elif cell.cell_type == "code" and "injected-parameters" in tags:
            injected.update(_assignments(cell.source))
    injected.update(nb.metadata.get("papermill", {}).get("parameters", {}) or {})
    rows = [(k, injected.get(k, v), "run" if k in injected else "default") for k, v in defaults.items()]
    rows += [(k, v, "run") for k, v in injected.items() if k not in defaults]
    return rows


def parameter_table(rows: list[tuple[str, Any, str]]) -> str:
    """The markdown table of `notebook_parameters`."""

    def cell(value: object) -> str:  # a table cell: no pipes or backticks to break the markdown
        text = str(value).replace("|", "\\|").replace("`", "'").replace("\n", " ")
        return text if len(text) <= 200 else text[:197] + "..."

    body = "\n".join(f"| `{cell(k)}` | `{cell(repr(v))}` | {src} |" for k, v, src in rows)
    return (
        "| parameter | value | set by |\n|---|---|---|\n" + body + "\n\n"
        "*set by*: `default` is the notebook's own value, `run` was passed by the pipeline "
        "(profile or `--set`).\n"
    )


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays, paths and NaN into plain JSON (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_sidecar(path: str | Path, numbers: dict[str, Any]) -> Path:
    """Write a notebook's key numbers as JSON, atomically."""
    path = Path(path)
    payload = {
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        **_jsonable(numbers),
    }
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def _is_stderr(output: dict[str, Any]) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def _is_header(output: dict[str, Any]) -> bool:
    text = output.get("data", {}).get("text/markdown", "")
    text = "".join(text) if isinstance(text, list) else text
    return output.get("output_type") == "display_data" and text.startswith("# ") and "git commit" in text


def add_parameter_table(nb: Any) -> None:
    """Put the parameter table under the report header (or first, when there is none)."""
    import nbformat

    rows = notebook_parameters(nb)
    if not rows:
        return
    table = nbformat.v4.new_output("display_data", data={"text/markdown": parameter_table(rows)})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for k, output in enumerate(cell.get("outputs", [])):
            if _is_header(output):
                cell.outputs.insert(k + 1, table)
                return
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(parameter_table(rows)))


def render_html(executed: str | Path, html_path: str | Path) -> Path:
    """Render an executed notebook to self-contained HTML with the code hidden.

    Readers of a shared report want figures and text; the code is one click away in the
    notebook itself, and so are stderr streams (progress bars, library warnings). Errors
    are kept: a notebook that failed must look failed.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    add_parameter_table(nb)
    for cell in nb.cells:  # progress bars and library warnings stay in the executed notebook
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not _is_stderr(o)]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    title = nb.metadata.get("title") or Path(executed).stem
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    atomic_write_text(Path(html_path), body)
    return Path(html_path)
