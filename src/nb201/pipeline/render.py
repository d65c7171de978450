"""Render an executed notebook into the shared HTML report, in the frame of
`nb201.pipeline.reports`: the title, then the Findings block (moved up from wherever the
notebook computed it), then the sections in notebook order, and last the parameter table
and the provenance (date, commit, nb201 version).

The renderer is also the last guard of what a reader sees: stderr (progress bars, library
warnings) and bare reprs (a cell's return value with no rich form: a path, an object) are
left out, the checkout's absolute path is written relative to it, and a report that would
still show a `PosixPath(` or a `<Figure size ...>` repr, or load anything from the network,
is refused with the cell that caused it. The HTML needs no network resource: the template
(`templates/nb201-report`) drops JupyterLab's require.js, MathJax and mermaid loaders, and
every image is embedded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nb201.fsutil import atomic_write_text
from nb201.pipeline.reports import (
    FINDINGS,
    ROLE_KEY,
    TITLE,
    notebook_parameters,
    parameter_table,
    provenance,
    repo_root_or_none,
)

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "nb201-report"
NOTEBOOK_ONLY = "notebook-only"  # cell tag: shown in JupyterLab, left out of the report
STRAY = (re.compile(r"PosixPath\("), re.compile(r"<Figure size \d+"))
_FIGURE_LINE = re.compile(r"^<Figure size [^>]*>\n?", re.M)
# a resource the browser would fetch: <script src>, <link href>, <img src>, CSS url(), import()
_REMOTE = re.compile(
    r"""(<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//)"""
    r"""|(<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//)"""
    r"""|(url\(\s*["']?(?:https?:)?//)|(import\(\s*["'](?:https?:)?//)""",
    re.I,
)


class ReportError(ValueError):
    """A report that would show a reader something it must not (a repr, a remote load)."""


def _role(output: dict[str, Any]) -> str | None:
    meta = output.get("metadata", {}).get(ROLE_KEY)
    return meta.get("role") if isinstance(meta, dict) else None


def _is_stderr(output: dict[str, Any]) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def _is_bare_repr(output: dict[str, Any]) -> bool:
    """A cell's return value that has only a plain-text repr (a path, a number, an object):
    notebooks render what they mean to show explicitly."""
    return output.get("output_type") == "execute_result" and set(output.get("data", {})) <= {"text/plain"}


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _relative(text: str, root: str | None) -> str:
    if not root:
        return text
    return text.replace(root + "/", "").replace(root, ".")


def _clean_output(output: dict[str, Any], root: str | None) -> dict[str, Any] | None:
    """The output as a reader sees it, or None when it is left out."""
    if _is_stderr(output) or _is_bare_repr(output):
        return None
    if output.get("output_type") == "stream":
        text = _FIGURE_LINE.sub("", _relative(_text(output.get("text", "")), root))
        if not text.strip():
            return None
        output["text"] = text
    for mime, value in list(output.get("data", {}).items()):
        if mime.startswith("text/"):
            output["data"][mime] = _relative(_text(value), root)
    return output


def _refuse_strays(nb: Any) -> None:
    for k, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            shown = [_text(output.get("text", ""))] + [
                _text(v) for m, v in output.get("data", {}).items() if m in ("text/html", "text/markdown")
            ]
            if output.get("output_type") in ("execute_result", "display_data"):
                data = output.get("data", {})
                if set(data) - {"text/plain"} == set():
                    shown.append(_text(data.get("text/plain", "")))
            for pattern in STRAY:
                for text in shown:
                    if m := pattern.search(text):
                        shown_repr = text[m.start() : m.start() + 60]
                        raise ReportError(
                            f"cell {k} of the report would show a bare repr ({shown_repr!r}): "
                            "render what the cell means to show (reports.show_text / show_table / "
                            "show_figure) and end the cell with a statement, or assign the value (`_ = ...`)"
                        )


def _provenance_markdown(meta: dict[str, Any]) -> str:
    return (
        f"Rendered {meta.get('rendered', 'at an unknown time')} from git commit "
        f"`{meta.get('git_commit', 'unknown')}` with nb201 {meta.get('nb201', '?')}. "
        "A commit shown with a *dirty* suffix means the code or the notebooks differed from it "
        "when the report was made (the pipeline's own outputs under reports/ and data/ do not "
        'count); "unknown" means it was not made in a git clone.'
    )


def frame_notebook(nb: Any, title: str | None = None) -> Any:
    """Rearrange an executed notebook into the report frame, in place (see the module)."""
    import nbformat

    root_path = repo_root_or_none()
    root = str(root_path) if root_path else None
    rows = notebook_parameters(nb)
    title_out, found, cells = None, [], []
    for cell in nb.cells:
        if NOTEBOOK_ONLY in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            kept = []
            for output in cell.get("outputs", []):
                role = _role(output)
                if role == TITLE and title_out is None:
                    title_out = output
                elif role == FINDINGS:
                    found.append(output)
                elif (clean := _clean_output(output, root)) is not None:
                    kept.append(clean)
            cell.outputs = kept
        cells.append(cell)
    meta = dict(title_out["metadata"][ROLE_KEY]) if title_out else provenance()
    nb.metadata["title"] = meta.get("title") or title or nb.metadata.get("title") or "Report"
    heading = title_out or nbformat.v4.new_output(
        "display_data", data={"text/markdown": f"# {nb.metadata['title']}\n"}
    )
    top = nbformat.v4.new_code_cell("")
    top.outputs = [heading, *found]
    end = nbformat.v4.new_code_cell("")
    end.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "## Parameters and provenance\n"}),
        nbformat.v4.new_output("display_data", data={"text/html": parameter_table(rows)}),
        nbformat.v4.new_output("display_data", data={"text/markdown": _provenance_markdown(meta)}),
    ]
    if not rows:
        end.outputs.pop(1)
    nb.cells = [top, *cells, end]
    _refuse_strays(nb)
    return nb


def html_of(nb: Any, title: str) -> str:
    """The offline HTML of a framed notebook (code hidden, images embedded)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    if m := _REMOTE.search(body):
        raise ReportError(
            f"the rendered report would load a network resource ({body[m.start() : m.start() + 120]!r}): "
            "a shared report must open offline; embed it or leave it out"
        )
    return body


def render_html(executed: str | Path, html_path: str | Path) -> Path:
    """Render an executed notebook to self-contained HTML in the report frame, the code
    hidden. Errors are kept: a notebook that failed must look failed."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    frame_notebook(nb, title=Path(executed).stem)
    atomic_write_text(Path(html_path), html_of(nb, nb.metadata["title"]))
    return Path(html_path)


__all__ = ["NOTEBOOK_ONLY", "ReportError", "frame_notebook", "html_of", "render_html"]
