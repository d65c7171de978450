"""environment.yml (conda) and pyproject.toml (pip) must list the same dependencies."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs.extend(extra)
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda_pip_requirements() -> dict[str, str]:
    """The entries of the `- pip:` block (conda's own packages are only python and pip)."""
    reqs, in_pip = [], False
    for line in (REPO / "environment.yml").read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip:
            m = re.match(r"^\s+- (\S.*)$", line)
            if m and not m.group(1).startswith("-e "):
                reqs.append(m.group(1).split("#")[0].strip())
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_conda_and_pip_list_the_same_dependencies() -> None:
    pip, conda = _pyproject_requirements(), _conda_pip_requirements()
    assert set(pip) == set(conda), json.dumps(
        {
            "only in pyproject": sorted(set(pip) - set(conda)),
            "only in environment.yml": sorted(set(conda) - set(pip)),
        }
    )
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]}, environment.yml {conda[name]}"


def test_torch_is_pinned_to_the_cpu_wheel() -> None:
    assert _pyproject_requirements()["torch"] == "torch==2.13.0"


def test_committed_notebooks_have_no_outputs() -> None:
    """Rendered output belongs in reports/; notebooks are stored clean."""
    import nbformat

    dirty = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.name)
                break
    assert not dirty, f"notebooks stored with outputs: {dirty}; run `make clean-notebooks`"


def test_every_notebook_has_one_commented_parameters_cell() -> None:
    import nbformat

    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert paths, "no notebooks found"
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', expected 1"
        for line in tagged[0].source.splitlines():
            if re.match(r"^[A-Za-z_]\w*\s*=", line):
                assert "#" in line, f"{path.name}: parameter line without a comment: {line!r}"
