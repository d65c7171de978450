"""Notebook 07 (the ranking study) runs top to bottom under papermill with tiny parameters
on the committed cheap runs and proxy table, and its sidecar holds sensible numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from nb201.benchmark.store import derived_blocks
from nb201.pipeline import run_pipeline

SUB = REPO / "data" / "benchmarks" / "cifar10-cpu" / "cifar10-jpeg__cpu-cifar"
SMALL = REPO / "data" / "proxies" / "cifar10-C8-N1-16px-b64-s0.parquet"


@pytest.mark.slow
def test_ranking_notebook_scores_every_method_and_applies_the_choice(
    tmp_path: Path, calibration_csv_200: Path
) -> None:
    sub = tmp_path / "bench" / SUB.name
    shutil.copytree(SUB, sub)
    out = tmp_path / "reports"
    overrides = [
        f"07_ranking.calibration_csv='{calibration_csv_200}'",
        f"07_ranking.runs_dir='{REPO / 'data' / 'fidelity' / 'runs'}'",
        f"07_ranking.proxy_tables={{'small': '{SMALL}'}}",
        f"07_ranking.benchmark_substore='{sub}'",
        f"07_ranking.benchmark_runs='{REPO / 'data' / 'cifar10-cpu' / 'runs'}'",
        "07_ranking.k_folds=3",
        "07_ranking.n_boot=20",
        "07_ranking.min_calibration=20",
    ]
    run_pipeline("ranking", out=out, overrides=overrides, progress=False)
    s = json.loads((out / "07_ranking.json").read_text())
    n = s["n_calibration"]
    assert n >= 50, "the committed fidelity records hold at least the first 60 calibration archs"
    assert 0.5 < s["baseline_params"]["spearman"] < 0.9 and s["baseline_params"]["n"] == n
    methods = s["methods"]
    assert {"cheap run: final test acc", "small:synflow", "small:nwot", "small:params"} <= set(methods)
    assert any(m["kind"] == "gbm" for m in methods.values()) and any(
        m["kind"] == "rankavg" for m in methods.values()
    )
    for m in methods.values():
        assert m["n"] == n and -1 <= m["kendall"] <= 1 and m["core_seconds_per_arch"] >= 0
        assert m["spearman_lo"] <= m["spearman_hi"]
    assert methods["small:params"]["spearman"] == pytest.approx(s["baseline_params"]["spearman"], abs=1e-9)
    assert 30 < methods["cheap run: final test acc"]["core_seconds_per_arch"] <= 60  # within the budget
    block = s["ranking_metric"]
    assert s["chosen"] == block["method"]["name"] and block["core_seconds_per_arch"]["benchmark_total"] <= 60
    # a method that reads no training run is calibrated on every calibration arch with proxies
    scored = s["zero_cost_methods"].get(s["chosen"], methods[s["chosen"]])
    assert block["calibration"]["spearman"] == pytest.approx(scored["spearman"], abs=1e-3)
    assert s["n_zero_cost"] == 200 and all(m["n"] == 200 for m in s["zero_cost_methods"].values())
    assert derived_blocks(json.loads((sub / "meta.json").read_text()))["ranking"] == block
    d = s["paired_deltas"]["cheap run: final test acc"]
    assert d["lo"] <= d["delta_spearman"] <= d["hi"] and d["n"] == n
    html = (out / "07_ranking.html").read_text()
    assert "Traceback" not in html and "data:image/png;base64" in html
