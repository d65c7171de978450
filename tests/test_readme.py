"""Every code block of the README runs, as written, against what a fresh clone has after
the README's first command (`make reports`): the committed CPU benchmark, the digits
benchmark that command builds, and `nb201` reached through `.venv`. Blocks that need the
official NAS-Bench-201 file run against a synthetic file in the official layout, written
with the official package's own classes (as the importer tests do)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from nb201.pipeline import load_profile, profile_names, run_pipeline

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# the docs the README's detail moved to, in reading order (a block may use what an earlier made)
DOCS = ("docs/usage.md", "docs/cifar10-cpu.md")  # docs/search.md: tests/test_docs_search.py
BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.S)
BLOCKS = [(m.group(1), m.group(2)) for m in BLOCK.finditer(README)]
DOC_BLOCKS = [(doc, m.group(1), m.group(2)) for doc in DOCS for m in BLOCK.finditer((REPO / doc).read_text())]
SETUP = ["make reports", "make test"]


def _commands(block: str) -> list[str]:
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_opens_with_its_title_a_results_table_then_the_two_setup_commands():
    lines = README.splitlines()
    assert lines[0].startswith("# nb201")
    fence = lines.index("```bash")
    table = [line for line in lines[1:fence] if line]
    assert table and all(line.startswith("|") for line in table), "only a results table before the commands"
    assert len(table) <= 10 and all(
        "](reports/" in r or "TODO" in r for r in table[2:]
    )  # each links its report
    kind, first = BLOCKS[0]
    assert kind == "bash" and _commands(first) == SETUP
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^reports:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "--profile $(PROFILE)" in makefile and "PROFILE ?= digits" in makefile


def test_inline_commands_name_existing_profiles_and_notebooks():
    names = set(profile_names())
    text = README + "".join((REPO / doc).read_text() for doc in DOCS)
    mentioned = set(re.findall(r"PROFILE=([\w.-]+)", text)) | set(re.findall(r"--profile\s+([\w.-]+)", text))
    assert mentioned and mentioned <= names, mentioned - names
    for only in re.findall(r"--only ([\w ]+)", text):
        for nb in only.split():
            assert (REPO / "notebooks" / f"{nb}.ipynb").exists(), nb


# ---- a fresh clone after `make reports` ----------------------------------------------------


def _official_file(path: Path) -> Path:
    """A NAS-Bench-201 .pth in the official layout: every hp (12, 200), dataset and eval set
    of the original, for 40 architectures including the README's cell (9930)."""
    import torch

    api_utils = pytest.importorskip("nas_201_api").api_utils
    from test_importers import _arch_results, _meta_archs

    rng = random.Random(0)
    archs = sorted({9930, 11472, *random.Random(1).sample(range(15625), 38)})
    arch2infos = {
        i: {
            "less": _arch_results(api_utils, i, "12", rng).state_dict(),
            "full": _arch_results(api_utils, i, "200", rng).state_dict(),
        }
        for i in archs
    }
    torch.save({"meta_archs": _meta_archs(), "arch2infos": arch2infos, "evaluated_indexes": archs}, path)
    return path


def _shim(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout after `make reports`: the tracked files the README relies on, `.venv/bin`
    with `python`, `nb201` and `activate`, the committed benchmarks and search records, and
    `data/benchmarks/digits` built by the default
    profile's own notebooks (a smaller sample, to keep the test short)."""
    root = tmp_path_factory.mktemp("clone")
    for name in ("pyproject.toml", "Makefile"):
        shutil.copy(REPO / name, root / name)
    (root / "notebooks").symlink_to(REPO / "notebooks")
    (root / "data" / "benchmarks").mkdir(parents=True)
    for committed in ("cifar10-cpu", "whole-space"):  # the committed benchmarks a fresh clone has
        (root / "data" / "benchmarks" / committed).symlink_to(REPO / "data" / "benchmarks" / committed)
    (root / "data" / "cifar10-cpu").symlink_to(REPO / "data" / "cifar10-cpu")  # committed search records
    venv = root / ".venv" / "bin"
    venv.mkdir(parents=True)
    _shim(venv / "python", f'exec "{sys.executable}" "$@"')
    _shim(venv / "nb201", f'exec "{sys.executable}" -m nb201.cli "$@"')
    (venv / "activate").write_text(f'export PATH="{venv}:$PATH"\n')
    cwd = Path.cwd()
    os.chdir(root)
    try:
        runs, bench = root / "data" / "runs" / "digits", root / "data" / "benchmarks" / "digits"
        overrides = [
            "01_train.archs=sample-distinct:8",
            "01_train.seeds=[777]",
            "01_train.fidelity={'epochs': 2}",
            f"01_train.runs_dir='{runs}'",
            f"02_aggregate.runs_dir='{runs}'",
            f"02_aggregate.benchmark_dir='{bench}'",
        ]
        run_pipeline(
            "digits",
            out=root / "reports",
            overrides=overrides,
            only=["01_train", "02_aggregate"],
            progress=False,
        )
    finally:
        os.chdir(cwd)
    _official_file(root / "NAS-Bench-201-v1_1-096897.pth")
    return root


def _run(kind: str, code: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg"}
    if kind == "bash":
        cmd = ["bash", "-c", "set -euo pipefail\n" + code]
    else:
        cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)


def test_every_readme_block_runs_as_written(clone: Path):
    """The README's blocks, then those of the docs it links (each in order: a block may use
    what an earlier one made, as a reader would)."""
    blocks = [("README.md", kind, code) for kind, code in BLOCKS[1:]] + DOC_BLOCKS
    assert len(blocks) >= 8
    for k, (where, kind, code) in enumerate(blocks, start=1):
        done = _run(kind, code, clone)
        assert done.returncode == 0, (
            f"{where} block {k} ({kind}) failed:\n{code}\n--- stderr:\n{done.stderr[-3000:]}"
        )
        if "exp.summary()" in code:  # the plug-in ran on the committed CPU benchmark and on digits
            assert done.stdout.count("local-search") >= 2 and "cifar10-jpeg/x-test" in done.stdout
            assert "digits/x-test" in done.stdout
        if 'print(api.datasets, api.hps("cifar10-jpeg"))' in code:  # the numbers quoted in comments
            assert "['cifar10-jpeg'] ['cpu-cifar']" in done.stdout
        if "get_more_info(7209" in code:
            assert "64.48" in done.stdout and "64.04" in done.stdout


# ---- the CIFAR-10 profiles without ../shared: the official archive in data/raw ------------


def _tiny_official_cifar10(raw: Path) -> Path:
    from test_data import cifar10_files, write_tar

    files, _ = cifar10_files(per_batch=40, n_test=40)
    raw.mkdir(parents=True, exist_ok=True)
    path = write_tar(raw / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with tarfile.open(path) as tar:
        assert sorted(m.name.split("/")[-1] for m in tar.getmembers())[:2] == ["batches.meta", "data_batch_1"]
    return path


def test_the_official_archive_profile_rebuilds_the_committed_benchmarks_architectures(tmp_path, monkeypatch):
    prof = load_profile("cifar10-cpu-official")
    assert prof.params["01_train"]["dataset"] == "cifar10"
    assert prof.params["01_train"]["archs"] == "benchmark:data/benchmarks/cifar10-cpu"
    assert prof.params["01_train"]["preset"] == load_profile("cifar10-cpu").params["01_train"]["preset"]
    from nb201.benchmark import Benchmark
    from nb201.benchmark.analysis import select_archs

    committed = Benchmark.open(REPO / "data" / "benchmarks" / "cifar10-cpu")
    archs = select_archs(f"benchmark:{committed.root}")
    held = sorted(committed.indexes("cifar10-jpeg", "cpu-cifar").tolist())
    assert len(archs) == 200 and [a.index for a in archs] == held

    # the profile itself, on a tiny archive in the official format, two architectures
    _tiny_official_cifar10(tmp_path / "raw")
    monkeypatch.setenv("NB201_VERIFY_MD5", "0")  # a synthetic archive has no official checksum
    monkeypatch.chdir(REPO)
    runs, bench = tmp_path / "runs", tmp_path / "bench"
    overrides = [
        "01_train.archs=sample-distinct:2",
        f"01_train.data_root='{tmp_path / 'raw'}'",
        "01_train.fidelity={'C': 4, 'N': 1, 'image_size': 8, 'epochs': 1}",
        f"01_train.runs_dir='{runs}'",
        f"02_aggregate.runs_dir='{runs}'",
        f"02_aggregate.benchmark_dir='{bench}'",
    ]
    run_pipeline(
        "cifar10-cpu-official",
        out=tmp_path / "reports",
        overrides=overrides,
        only=["01_train", "02_aggregate"],
        progress=False,
    )
    built = Benchmark.open(bench)
    (hp,) = built.hps("cifar10-valid")
    assert built.datasets == ["cifar10-valid"] and hp.startswith("cpu-cifar")  # + the tiny overrides
    assert "x-valid-accuracy" in built.metric_names("cifar10-valid", hp)
