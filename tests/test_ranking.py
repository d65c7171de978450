"""The ranking study (`nb201.fidelity.ranking`): run records are filtered by fidelity, fitted
rankers are scored only out-of-fold, costs are counted, and the committed benchmark carries
its `ranking-score` through `Benchmark.metrics`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from nb201.benchmark import Benchmark
from nb201.benchmark.store import derived_blocks
from nb201.fidelity import ranking as R
from nb201.fidelity.proxies import ALL, PROXIES, assemble
from nb201.presets import resolve_config
from nb201.space import Arch

BENCH = REPO / "data" / "benchmarks" / "cifar10-cpu"
SUB = BENCH / "cifar10-jpeg__cpu-cifar"


def _record(index: int, seed: int, accs: list[float], fidelity: dict | None = None) -> dict:
    epochs = [
        {"ori-test-accuracy": a, "train-loss": 2.0 - a / 100, "train-accuracy": a + 1, "ori-test-loss": 1.5}
        for a in accs
    ]
    return {
        "status": "ok",
        "arch_index": index,
        "spec": {"seed": seed, "split": "cifar10-jpeg"},
        "config": resolve_config("cpu-cifar", fidelity),
        "epochs": epochs,
        "cpu_time": 50.0 + seed,
        "wall_time": 60.0,
    }


def test_load_runs_keeps_only_the_requested_fidelity_and_averages_seeds(tmp_path):
    recs = [
        _record(1, 0, [10, 20, 30, 40]),
        _record(1, 2, [20, 30, 40, 50]),
        _record(2, 0, [15, 25, 35, 45]),
        _record(3, 0, [90] * 8, {"epochs": 8, "train_fraction": 0.5}),  # another point: ignored
    ]
    for k, r in enumerate(recs):
        (tmp_path / f"{k}.json").write_text(json.dumps(r))
    runs = R.load_runs(tmp_path)
    assert list(runs.index) == [1, 2]
    assert runs.loc[1, "acc_final"] == 45 and runs.loc[1, "seeds"] == 2 and runs.loc[1, "core_seconds"] == 51
    assert runs.loc[2, "acc_gain"] == 10 and runs.loc[2, "acc_e1"] == 15
    assert "acc_e5" not in runs.columns
    assert list(R.load_runs(tmp_path, fidelity={"epochs": 8, "train_fraction": 0.5}).index) == [3]


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = rng.normal(size=n)
    return pd.DataFrame(
        {
            "good": target + 0.3 * rng.normal(size=n),
            "noise": rng.normal(size=n),
            "p:cheap": -target,
            R.TARGET: target,
            "core_seconds": 50.0,
        },
        index=np.arange(100, 100 + n),
    )


def test_out_of_fold_never_scores_a_row_with_a_model_that_saw_it(monkeypatch):
    frame = _frame()
    seen: list[tuple[set, set]] = []
    real = R.fit_predict

    def spy(method, train, test, seed=0):
        seen.append((set(train.index), set(test.index)))
        return real(method, train, test, seed)

    monkeypatch.setattr(R, "fit_predict", spy)
    pred = R.out_of_fold(R.Method("m", "ridge", ("good", "noise")), frame, k=5)
    assert len(seen) == 5 and all(not (tr & te) for tr, te in seen)
    assert set().union(*(te for _, te in seen)) == set(frame.index) and np.isfinite(pred).all()


def test_a_fitted_model_cannot_score_noise_by_memorising_it():
    """In-sample, boosted trees 'rank' pure noise; out-of-fold they cannot."""
    frame = _frame(80)
    frame[R.TARGET] = np.random.default_rng(9).normal(size=len(frame))
    m = R.Method("gbm noise", "gbm", ("noise", "good"))
    in_sample = R.fit_predict(m, frame, frame)
    assert pd.Series(in_sample).corr(frame[R.TARGET].reset_index(drop=True), method="spearman") > 0.8
    oof = R.out_of_fold(m, frame, k=5)
    assert abs(pd.Series(oof).corr(frame[R.TARGET].reset_index(drop=True), method="spearman")) < 0.4


def test_study_scores_costs_and_choice():
    frame = _frame()
    seconds = {R.TRAINING: 50.0, "p:cheap": 0.5}
    methods = [
        R.Method("good", "single", ("good",)),
        R.Method("cheap", "single", ("p:cheap",)),
        R.Method("avg", "rankavg", ("good", "noise")),
        R.Method("ridge", "ridge", ("good", "p:cheap")),
    ]
    res = R.study(frame, seconds, methods, curve=["good", "noise"], k=5, n_boot=50).set_index("method")
    assert res.loc["cheap", "spearman"] == pytest.approx(-1.0)
    assert (
        res.loc["good", "core_seconds_per_arch"] == 50.0 and res.loc["cheap", "core_seconds_per_arch"] == 0.5
    )
    assert (
        res.loc["ridge", "core_seconds_per_arch"] == 50.5 and "out-of-fold" in res.loc["ridge", "evaluation"]
    )
    assert res.loc["ridge", "spearman"] > 0.9 and res.loc["avg", "spearman_lo"] < res.loc["avg", "spearman"]
    assert (res["n"] == len(frame)).all()
    assert R.choose(res.reset_index(), budget=60)["method"] in ("ridge", "good")
    assert R.choose(res.reset_index(), budget=1)["method"] == "cheap"
    with pytest.raises(ValueError, match="no method costs"):
        R.choose(res.reset_index(), budget=0.1)


def test_default_methods_drop_missing_features_and_duplicates():
    curve = ["acc_e1", "acc_final"]
    cols = curve + [f"a:{n}" for n in ALL] + [f"b:{n}" for n in ALL if n != "grasp"]
    methods = R.default_methods(cols, ["a", "b"], curve)
    names = [m.name for m in methods]
    assert len(names) == len(set(names)) and "b:grasp" not in names and "a:grasp" in names
    assert all(set(m.features) <= set(cols) for m in methods)
    assert any(m.kind == "gbm" and "acc_final" in m.features and "a:nwot" in m.features for m in methods)


def _proxy_table(tmp_path, indices) -> str:
    rng = np.random.default_rng(0)
    work = tmp_path / "proxies"
    work.mkdir()
    for i in indices:
        rec = {  # a valid per-arch file (nb201.fidelity.workdir) with made-up values
            "schema": "nb201.proxies/1",
            "index": int(i),
            "arch": str(Arch.from_index(int(i))),
            "config": {"C": 2},
            "dataset": "fake",
            "values": {
                k: float(abs(rng.normal()) if k in ("params", "flops") else rng.normal()) for k in ALL
            },
            "seconds": {k: (0.1 if k in PROXIES else 0.0) for k in ALL},
            "env": {},
        }
        (work / f"{int(i)}.json").write_text(json.dumps(rec))
    assemble(work, tmp_path / "t.parquet")
    return str(tmp_path / "t.parquet")


def test_apply_to_benchmark_writes_a_readable_score_within_budget(tmp_path):
    sub = tmp_path / "bench" / SUB.name
    shutil.copytree(SUB, sub)  # its committed ranking set is replaced
    archs = Benchmark.open(sub.parent).evaluated_indexes
    table = {"t": _proxy_table(tmp_path, archs)}
    runs, seconds = R.join_features(None, R.load_runs(REPO / "data" / "cifar10-cpu" / "runs"), table)
    calib = runs.iloc[:40].copy()
    calib[R.TARGET] = calib["acc_final"] + calib["t:nwot"]
    method = R.Method("ridge: acc + nwot", "ridge", ("acc_final", "t:nwot"))
    result = {"n": 40, "evaluation": "5-fold", "spearman": 0.9, "spearman_lo": 0.8, "spearman_hi": 0.95}
    result |= {"kendall": 0.7, "kendall_lo": 0.6, "kendall_hi": 0.8}
    with pytest.raises(ValueError, match="over the budget"):
        R.apply_to_benchmark(
            method, calib, result, sub, REPO / "data" / "cifar10-cpu" / "runs", table, ["acc_final"], 50
        )
    block = R.apply_to_benchmark(
        method, calib, result, sub, REPO / "data" / "cifar10-cpu" / "runs", table, ["acc_final"]
    )
    bench = Benchmark.open(sub.parent)
    score = bench.metrics(archs, "ranking-score")
    assert np.isfinite(score).all() and len(np.unique(score)) > len(archs) // 2
    assert np.array_equal(bench.metrics(archs, "proxy:t:nwot"), runs.loc[archs, "t:nwot"].to_numpy())
    meta = json.loads((sub / "meta.json").read_text())
    assert derived_blocks(meta)["ranking"] == block and "ranking_metric" not in meta
    assert block["core_seconds_per_arch"]["proxies"] == pytest.approx(0.1)
    assert block["file"] == "ranking.parquet" and "ranking-score" in block["columns"]
    assert meta["compute"]["total_core_seconds_per_arch"] == pytest.approx(54.82 + 0.1, abs=0.01)
    assert bench.metrics(archs[:3], "ori-test-accuracy").shape == (3,), "stored metrics still read"


def test_committed_benchmark_carries_its_ranking_metric():
    """meta.json names the ranking metric, its cross-validated calibration score and its cost
    (at most 60 core-seconds per architecture, everything included); all 200 archs have it."""
    meta = json.loads((SUB / "meta.json").read_text())
    block = derived_blocks(meta)["ranking"]
    assert block["name"] == "ranking-score" and "accuracy" not in block["name"]
    cal = block["calibration"]
    assert cal["n"] >= 30 and cal["spearman_ci95"][0] <= cal["spearman"] <= cal["spearman_ci95"][1]
    assert "out-of-fold" in cal["evaluation"] or "direct" in cal["evaluation"]
    assert (
        meta["compute"]["total_core_seconds_per_arch"]
        == block["core_seconds_per_arch"]["benchmark_total"]
        <= 60
    )
    bench = Benchmark.open(BENCH)
    archs = np.asarray(bench.evaluated_indexes)
    score = bench.metrics(archs, "ranking-score")
    assert len(archs) == 200 and np.isfinite(score).all()


def test_paired_delta_sees_a_real_difference_and_none_between_equals():
    frame = _frame(80)
    t = frame[R.TARGET].to_numpy()
    d = R.paired_delta(frame["good"].to_numpy(), frame["noise"].to_numpy(), t, n_boot=200)
    assert d["delta_spearman"] > 0.5 and 0 < d["lo"] <= d["delta_spearman"] <= d["hi"]
    same = R.paired_delta(frame["good"].to_numpy(), frame["good"].to_numpy(), t, n_boot=200)
    assert same["delta_spearman"] == 0 and same["lo"] == same["hi"] == 0
