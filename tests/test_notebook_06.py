"""Notebook 06 (weight-sharing NAS) runs under papermill on digits, and its sidecar holds
numbers that make sense: every method searched, every final arch measured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nb201.benchmark.store.aggregate import aggregate
from nb201.pipeline import run_pipeline
from nb201.space import Arch
from nb201.train import sweep
from nb201.wsnas import METHODS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ws_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ws")
    bench, runs = out / "bench", out / "runs"
    # a small benchmark at digits-cheap[epochs=2]: two archs the searches will not all find
    start = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
    ]
    sweep(start, "digits", "digits-cheap", seeds=[777], fidelity={"epochs": 2}, out_dir=runs, progress=False)
    aggregate(runs, bench)
    overrides = [
        "06_weight_sharing.seeds=[777]",
        "06_weight_sharing.overrides={'epochs': 2}",
        f"06_weight_sharing.searches_dir='{out / 'searches'}'",
        f"06_weight_sharing.benchmark='{bench}'",
        "06_weight_sharing.bench_fidelity={'epochs': 2}",
        f"06_weight_sharing.runs_dir='{runs}'",
        "06_weight_sharing.max_new=3",
        "06_weight_sharing.measure_epochs=[1]",
        "06_weight_sharing.whole_space='data/benchmarks/whole-space'",
        "06_weight_sharing.multi_trial_runs=5",
    ]
    run_pipeline("digits-ws", out=out, overrides=overrides, progress=False)
    (out / "full").mkdir()
    for name in ("06_weight_sharing.json", "06_weight_sharing.html"):
        (out / name).rename(out / "full" / name)
    # rendered again while a second seed has not run: only the finished searches are reported
    partial = [o for o in overrides if not o.startswith("06_weight_sharing.seeds")]
    partial += ["06_weight_sharing.seeds=[777, 888]", "06_weight_sharing.run_missing=False"]
    run_pipeline("digits-ws", out=out / "partial", overrides=partial, progress=False)
    return out / "full"


def test_notebook_06_reports_finished_searches_only_and_says_so(ws_report: Path) -> None:
    s = json.loads((ws_report.parent / "partial" / "06_weight_sharing.json").read_text())
    assert s["searches_finished"] == len(METHODS)
    assert {(m["method"], m["seed"]) for m in s["searches_missing"]} == {(m, 888) for m in METHODS}
    assert s["findings"][0].startswith(f"{len(METHODS)} of {2 * len(METHODS)} searches have finished")
    assert len(list((ws_report.parent / "searches").glob("*.json"))) == len(METHODS)  # nothing ran


def test_notebook_06_searches_every_method_and_measures_the_final_archs(ws_report: Path) -> None:
    s = json.loads((ws_report / "06_weight_sharing.json").read_text())
    assert s["methods"] == list(METHODS) and s["searches"] == len(METHODS)
    assert s["epochs"] == {m: 2 for m in METHODS}
    for key, arch in s["final_archs"].items():
        assert key.split("/")[0] in METHODS
        Arch.from_string(arch)  # a valid cell
    est = s["estimate"]["label"]
    assert est.startswith("cifar10 ori-test (estimated")
    # every final arch has an estimate; the measured column is NaN only beyond max_new
    for row in s["final"]:
        assert 0 <= row[est] <= 100
    measured = [k for k in s["final"][0] if k.endswith("(measured, digits-cheap[epochs=2])")]
    assert len(measured) == 1
    assert s["archs_held_before"] == 2 and 1 <= s["archs_trained_now"] <= 3
    assert s["search_core_hours"].keys() == set(METHODS) and all(
        v > 0 for v in s["search_core_hours"].values()
    )
    assert math.isclose(
        s["total_core_hours"], sum(s["search_core_hours"].values()) + s["eval_core_hours"], rel_tol=1e-6
    )
    assert {q["method"] for q in s["quoted"]} == set(METHODS)
    assert set(s["collapse"]) == {"darts-v1", "darts-v2"} and s["best"] in METHODS
    rows = {r["method"]: r for r in s["method_table"]}
    assert all(0 <= rows[m]["percentile in population"] <= 100 for m in METHODS)
    assert {(r["method"], r["algorithm"]) for r in s["equal_cost"]} == {
        (m, a) for m in METHODS for a in ("RS", "REA")
    }
    assert 3 <= len(s["findings"]) <= 6
    assert (ws_report / "06_weight_sharing.html").stat().st_size > 10_000
