"""Notebook 08 (the whole-space benchmark) under papermill, on a complete proxy table and one
dataset so that it runs in minutes: proxy step (nothing to do), nested-CV fit, store, the
sanity check; the report says everything is estimated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

from nb201.benchmark import Benchmark
from nb201.pipeline import run_pipeline

SMALL = REPO / "data" / "proxies" / "cifar10-C8-N1-16px-b64-s0.parquet"


@pytest.mark.slow
def test_whole_space_notebook_fits_and_writes_an_estimated_benchmark(tmp_path: Path) -> None:
    out, bench = tmp_path / "reports", tmp_path / "whole"
    overrides = [
        f"08_whole_space.full_table='{SMALL}'",  # complete coverage: the proxy step has nothing to do
        f"08_whole_space.benchmark_dir='{bench}'",
        f"08_whole_space.work_dir='{tmp_path / 'work'}'",
        f"08_whole_space.proxy_work_dir='{tmp_path / 'none'}'",
        "08_whole_space.datasets=['cifar10']",
        "08_whole_space.n_boot=5",
    ]
    run_pipeline("whole-space", out=out, overrides=overrides, only=["08_whole_space"], progress=False)
    s = json.loads((out / "08_whole_space.json").read_text())
    assert (
        s["estimated"] is True
        and s["proxy_step"]["status"] == "complete"
        and s["proxy_step"]["computed"] == 0
    )
    cv = s["cv"]["cifar10"]["full"]
    assert cv["n"] == 200 and cv["spearman_ci95"][0] <= cv["spearman"] <= cv["spearman_ci95"][1]
    assert cv["spearman"] > 0.9 and s["served_by"]["cifar10"] == {"full": 15284, "small": 0, "rule": 341}
    assert 0.5 < s["cpu_cifar_check"]["spearman"] <= 1 and s["cpu_cifar_check"]["n"] == 200
    b = Benchmark.open(bench)
    assert b.estimate_info("cifar10")["cv"]["full"]["spearman"] == cv["spearman"]
    html = (out / "08_whole_space.html").read_text()
    assert "Traceback" not in html and "estimated" in html and "PosixPath" not in html
