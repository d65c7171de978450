"""The worked examples of docs/DESIGN.md's "Extension points" run, and cost what they say.

Each example is marked `<!-- example: NAME, files: N -->` and followed by its code blocks:
```` ```python file=PATH ```` (or `toml`) blocks are the files the extension adds, written
into a temporary folder; the ```` ```python run ```` block uses them, executed there with
`WORK` (that folder) and `REPO` (the checkout) defined and `$NB201_DATA_DIR` under `WORK`.
The test checks that an example adds exactly the N files it states, at most 2, and that
running it edits no file of the package: the extension is those files and nothing else.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs" / "DESIGN.md"
MARKER = re.compile(r"<!-- example: (?P<name>[\w-]+), files: (?P<files>\d+) -->")
FENCE = re.compile(r"^```(?P<lang>\w+)(?: (?P<role>file=\S+|run))?\n(?P<body>.*?)^```$", re.M | re.S)
MAX_FILES = 2


def examples(text: str) -> dict[str, dict]:
    """NAME -> {"files": {path: text}, "run": code, "stated": N}, read from DESIGN.md."""
    marks = list(MARKER.finditer(text))
    out = {}
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        heading = re.search(r"^#{1,3} ", text[mark.end() : end], re.M)
        chunk = text[mark.end() : mark.end() + heading.start()] if heading else text[mark.end() : end]
        files, run = {}, None
        for block in FENCE.finditer(chunk):
            role = block["role"] or ""
            if role.startswith("file="):
                files[role[len("file=") :]] = block["body"]
            elif role == "run":
                run = block["body"]
        out[mark["name"]] = {"files": files, "run": run, "stated": int(mark["files"])}
    return out


EXAMPLES = examples(DESIGN.read_text(encoding="utf-8"))
EXTENSIONS = (
    "multi-trial-algorithm",
    "weight-sharing-method",
    "zero-cost-proxy",
    "image-folder-dataset",
    "built-in-dataset",
)


def test_design_shows_every_extension_point() -> None:
    assert set(EXAMPLES) == set(EXTENSIONS)
    assert all(ex["run"] for ex in EXAMPLES.values()), "every example needs a ```python run block"


def test_the_reader_finds_files_and_runs() -> None:
    text = "<!-- example: x, files: 1 -->\n```python file=a.py\nA = 1\n```\n"
    text += "```python run\nimport a\n```\n## next\n```python run\nnot = 'this'\n```\n"
    assert examples(text) == {"x": {"files": {"a.py": "A = 1\n"}, "run": "import a\n", "stated": 1}}


def _package_state() -> dict[str, str]:
    return {
        str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((REPO / "src" / "nb201").rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _registries() -> list[dict]:
    """The registries an example adds to, restored afterwards so no test sees its entries."""
    from nb201.data import registry
    from nb201.fidelity.proxies import PROXIES
    from nb201.search import ALGORITHMS
    from nb201.wsnas.methods import METHOD_CLASSES

    return [ALGORITHMS, METHOD_CLASSES, registry._REGISTRY, PROXIES]


@pytest.mark.parametrize("name", EXTENSIONS)
def test_the_example_runs_and_touches_at_most_two_files(name, tmp_path, monkeypatch) -> None:
    example = EXAMPLES[name]
    assert len(example["files"]) == example["stated"] <= MAX_FILES, example["files"].keys()
    for rel, body in example["files"].items():
        assert not Path(rel).is_absolute() and ".." not in Path(rel).parts, rel
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.syspath_prepend(str(tmp_path))
    before, saved = _package_state(), [dict(r) for r in _registries()]
    modules = set(sys.modules)
    try:
        exec(compile(example["run"], f"DESIGN.md:{name}", "exec"), {"WORK": tmp_path, "REPO": REPO})
    finally:
        for registry, old in zip(_registries(), saved):
            registry.clear()
            registry.update(old)
        for mod in set(sys.modules) - modules:
            if str(tmp_path) in str(getattr(sys.modules[mod], "__file__", None) or ""):
                del sys.modules[mod]
    assert _package_state() == before, "the example edited the package"
