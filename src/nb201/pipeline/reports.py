"""The report frame every notebook uses: a title, a Findings block of 3-6 sentences
generated from numbers, then figures and tables, and at the end the parameter table and
the provenance (date, git commit, nb201 version); plus the JSON sidecar of key numbers.

A notebook calls `header`, `show_figure`, `show_table`, `show_text` and, once its numbers
exist, `findings` and `write_sidecar`; the renderer (`nb201.pipeline.render`) puts the
findings under the title however late they were computed, and the parameters and
provenance last. The sidecar exists so that tests and later notebooks read a notebook's
results without scraping its outputs. Every function here returns None, so that no cell
ever shows a bare repr (a path, an object) as its output.
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


def notebook_setup(max_colwidth: int = 120, width: int | None = None) -> None:
    """Every notebook's first step, in one call: the project folder as working directory
    (relative paths mean the same in JupyterLab and under papermill), figures inline, one
    plot style and pandas display width. Returns the project folder.

    It lives here so that the setup is one line in each notebook instead of a block copied
    into all of them. It returns None, so that a cell ending with it shows nothing (the
    project folder is `repo_root()`; a report never shows a machine path)."""
    import pandas as pd
    import seaborn as sns

    chdir_to_repo()
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


# ---- the report frame: what a notebook calls to show things ---------------------------------
# Output roles the renderer (`nb201.pipeline.render`) reads from an output's metadata: the
# title goes first, the findings right under it wherever the notebook computed them, and
# the provenance (with the parameter table) at the end.
ROLE_KEY = "nb201"
TITLE, FINDINGS = "title", "findings"
MAX_FINDINGS = 6


def provenance() -> dict[str, str]:
    """When, from which commit and with which nb201 a report was executed."""
    return {
        "rendered": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(),
        "nb201": __version__,
    }


def header(title: str, params: dict[str, Any] | None = None) -> None:
    """Display the report's title; the date, commit and parameter table go to the end of
    the rendered report (`nb201.pipeline.render`), so the first screen holds the title and
    the findings. The provenance is taken now, when the notebook runs, and carried in the
    output's metadata. `params` is accepted for old notebooks and ignored: the renderer
    reads every parameter from the executed notebook itself."""
    from IPython.display import Markdown, display

    display(Markdown(f"# {title}\n"), metadata={ROLE_KEY: {"role": TITLE, "title": title, **provenance()}})


def findings(sentences: list[str | None], numbers: dict[str, Any] | None = None) -> None:
    """Display the report's Findings block: 1-6 sentences (3-6 for a full report), each
    generated from a number of the sidecar with its interval or n (`nb201.pipeline.findings`).
    A notebook calls this once, where the numbers exist (usually at its end); the renderer
    moves the block under the title. With `numbers`, the sentences are stored in it under
    "findings", so the sidecar carries exactly what the report states."""
    from IPython.display import Markdown, display

    shown = [s.strip() for s in sentences if s and s.strip()]
    if not 1 <= len(shown) <= MAX_FINDINGS:
        raise ValueError(
            f"a Findings block holds 1 to {MAX_FINDINGS} sentences, got {len(shown)}: "
            "state the report's main results, each from one number with its interval or n"
        )
    if numbers is not None:
        numbers["findings"] = shown
    text = "## Findings\n\n" + "\n".join(f"- {s}" for s in shown) + "\n"
    display(Markdown(text), metadata={ROLE_KEY: {"role": FINDINGS}})


def show_table(
    frame: Any,
    title: str,
    kinds: dict[str, str] | None = None,
    note: str | None = None,
    index: bool | None = None,
    default: str | None = None,
) -> None:
    """Display a table under a bold title line, through the one formatter
    (`nb201.pipeline.tables`: digits per column kind, integers as integers, units in the
    headers, horizontal scrolling when wide). `kinds` names a column's kind where the name
    does not tell it; `default` is the kind of otherwise generic numeric columns."""
    from IPython.display import HTML, Markdown, display

    from nb201.pipeline.tables import table_html

    display(Markdown(f"**{title}**"))
    display(HTML(table_html(frame, kinds, index=index, default=default)))
    if note:
        display(Markdown(f"*{note}*"))


def show_text(*lines: str | None) -> None:
    """Display generated prose (e.g. `analysis.describe_correlation`) as markdown; None skipped."""
    from IPython.display import Markdown, display

    text = "\n\n".join(line for line in lines if line)
    if text:
        display(Markdown(text))


def show_lines(lines: list[str], title: str | None = None) -> None:
    """Display status lines (what a step did) as a markdown list, instead of a bare print."""
    shown = [line for line in lines if line]
    if shown:
        show_text(f"**{title}**" if title else None, "\n".join(f"- {line}" for line in shown))


def show_figure(plot: Any, caption: str | None = None) -> None:
    """Display a figure of `nb201.pipeline.plots` (a `plots.Plot`, or a bare matplotlib
    Figure) as an embedded PNG with its caption under it, then close it (so the inline
    backend does not show it a second time). The caption is the plot's own, written from
    the data it drew, unless `caption` replaces it."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    fig = getattr(plot, "figure", plot)
    text = caption if caption is not None else getattr(plot, "caption", None)
    display(fig)
    plt.close(fig)
    if text:
        display(Markdown(f"*{text}*"))


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
    """The HTML table of `notebook_parameters` (through the one table formatter, so a long
    value scrolls instead of widening the page), with the note on what *set by* means."""
    import pandas as pd

    from nb201.pipeline.tables import table_html

    def cell(value: object) -> str:
        text = repr(value).replace("\n", " ")
        return text if len(text) <= 200 else text[:197] + "..."

    frame = pd.DataFrame([(k, cell(v), src) for k, v, src in rows], columns=["parameter", "value", "set by"])
    kinds = {"parameter": "text", "value": "text", "set by": "text"}
    return table_html(frame, kinds, index=False) + (
        "<p><em>set by</em>: <code>default</code> is the notebook's own value, <code>run</code> "
        "was passed by the pipeline (profile or <code>--set</code>).</p>"
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


def write_sidecar(path: str | Path, numbers: dict[str, Any]) -> None:
    """Write a notebook's key numbers as JSON, atomically (returns None: a notebook cell
    ending with it shows nothing)."""
    path = Path(path)
    payload = {
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        **_jsonable(numbers),
    }
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
