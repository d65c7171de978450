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
    """The same names, and the same specifiers except torch (a range for pip users, the tested
    CPU build pinned for conda and `make install`; see the next test)."""
    pip, conda = _pyproject_requirements(), _conda_pip_requirements()
    assert set(pip) == set(conda), json.dumps(
        {
            "only in pyproject": sorted(set(pip) - set(conda)),
            "only in environment.yml": sorted(set(conda) - set(pip)),
        }
    )
    for name in set(pip) - {"torch"}:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]}, environment.yml {conda[name]}"


def _makefile_torch() -> str:
    m = re.search(r"^TORCH \?= *(\S+)\s*$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert m, "the Makefile sets no TORCH ?= <pin>"
    return m.group(1)


def test_torch_is_a_range_that_includes_the_pinned_cpu_build() -> None:
    from packaging.requirements import Requirement

    required = Requirement(_pyproject_requirements()["torch"]).specifier
    pinned = _conda_pip_requirements()["torch"]
    assert pinned == "torch==2.13.0", f"environment.yml pins {pinned}, not the tested CPU build"
    assert _makefile_torch() == pinned, "the Makefile installs another torch than environment.yml pins"
    version = pinned.split("==", 1)[1]
    assert required.contains(version), f"pyproject's torch{required} excludes the tested {version}"
    assert not any(s.operator in ("==", "===") for s in required), f"pyproject pins torch exactly: {required}"


def test_the_makefile_installs_the_pin_before_the_package() -> None:
    """Else `pip install -e .` resolves the range itself and may fetch a CUDA build."""
    recipe = (
        (REPO / "Makefile").read_text().split("$(VENV)/.installed: pyproject.toml", 1)[1].split("\n\n")[0]
    )
    pin, package = recipe.find('install -q "$(TORCH)"'), recipe.find("install -q -e .")
    assert 0 <= pin < package, recipe


def test_duckdb_is_a_test_dependency_only() -> None:
    """DuckDB is used by the tests (SQL over the tidy tables), not by the package."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "duckdb" not in {_name(r) for r in meta["dependencies"]}
    assert "duckdb" in {_name(r) for r in meta["optional-dependencies"]["dev"]}
    uses = [
        p for p in (REPO / "src").rglob("*.py") if re.search(r"^\s*(import|from) duckdb", p.read_text(), re.M)
    ]
    assert not uses, f"src imports duckdb ({uses}): make it a dependency again"


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


def test_the_slow_tier_holds_notebooks_ray_and_real_data() -> None:
    from conftest import is_slow

    assert is_slow("test_notebooks.py", []) and is_slow("test_ray.py", ["tmp_path"])
    assert is_slow("test_cifar10_cpu.py", []) and is_slow("test_data.py", ["cifar10_jpeg_zip"])
    assert not is_slow("test_data.py", ["tmp_path"]) and not is_slow("test_search.py", [])
    assert is_slow("test_train.py", [], "test_resume_after_kill_gives_exactly_the_uninterrupted_numbers")
