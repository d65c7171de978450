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
import subprocess
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


def _git(root: Path | None, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root or Path.cwd(), capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def git_commit(root: Path | None = None) -> str:
    """The commit a report was rendered from, `+dirty` when tracked files were modified."""
    try:
        commit = _git(root, "rev-parse", "--short=12", "HEAD") or "unknown"
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def header_markdown(title: str, params: dict[str, Any]) -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def cell(value: object) -> str:  # a table cell: no pipes or backticks to break the markdown
        return str(value).replace("|", "\\|").replace("`", "'")[:200]

    rows = "\n".join(f"| `{cell(k)}` | `{cell(repr(v))}` |" for k, v in params.items())
    return (
        f"# {title}\n\n"
        f"*Rendered {now} · git commit `{git_commit()}` · nb201 {__version__}*\n\n"
        f"| parameter | value |\n|---|---|\n{rows}\n"
    )


def header(title: str, params: dict[str, Any]) -> None:
    """Display the report header in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(header_markdown(title, params)))


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


def read_sidecar(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sidecar {path} not found: execute the notebook that writes it first")
    return json.loads(path.read_text())


def _is_stderr(output: dict[str, Any]) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def render_html(executed: str | Path, html_path: str | Path) -> Path:
    """Render an executed notebook to self-contained HTML with the code hidden.

    Readers of a shared report want figures and text; the code is one click away in the
    notebook itself, and so are stderr streams (progress bars, library warnings). Errors
    are kept: a notebook that failed must look failed.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:  # progress bars and library warnings stay in the executed notebook
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not _is_stderr(o)]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    title = nb.metadata.get("title") or Path(executed).stem
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    atomic_write_text(Path(html_path), body)
    return Path(html_path)
