"""The whole-space benchmark of ESTIMATED accuracies (issue 19): the monotone map, the
uncertainty ordering, the estimated flag on every query path, the clear errors for what an
estimate lacks, the reward that is not the scored value, classes, degenerate cells and
costs, and the paper's search protocol running on it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO
from scipy import stats

from nb201.benchmark import Benchmark
from nb201.benchmark.estimated import EstimatedArray, EstimatedFloat, EstimateLacks
from nb201.fidelity.cell_features import cell_features
from nb201.fidelity.estimate import Candidate, FeatureSet, fit_estimator
from nb201.fidelity.monotone import MAP_KINDS, fit_map
from nb201.space import NUM_ARCHS, Arch

WHOLE = REPO / "data" / "benchmarks" / "whole-space"
DATASETS = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}


# ---- the monotone map --------------------------------------------------------------------
@pytest.mark.parametrize("kind", MAP_KINDS)
def test_monotone_maps_never_reorder_and_stay_in_range(kind):
    rng = np.random.default_rng(0)
    score = rng.uniform(0, 1, 200)
    acc = 60 + 35 * score**2 + rng.normal(0, 2, 200)
    m = fit_map(kind, score, acc, floor=10.0)
    grid = np.linspace(-0.5, 1.5, 2001)
    out = m(grid)
    assert np.all(np.diff(out) >= -1e-12), "a monotone map went down"
    assert out.min() >= 10.0 and out.max() <= 100.0
    inside = m(np.sort(score))
    assert stats.spearmanr(np.sort(score), inside).statistic > 0.99


def test_isotonic_map_follows_the_labels_and_keeps_scores_distinct():
    rng = np.random.default_rng(1)
    score = np.sort(rng.uniform(0, 1, 300))
    truth = 50 + 40 * np.sqrt(score)
    m = fit_map("isotonic", score, truth + rng.normal(0, 1, 300))
    assert np.sqrt(np.mean((m(score) - truth) ** 2)) < 1.0  # recovers the curve
    inner = np.linspace(score[10], score[-10], 500)
    assert np.all(np.diff(m(inner)) > 0), "distinct scores inside the range must stay distinct"
    with pytest.raises(ValueError, match="unknown map kind"):
        fit_map("cubic", score, truth)


# ---- the uncertainty ---------------------------------------------------------------------
def test_uncertainty_is_wider_where_the_calibration_is_sparse():
    """180 calibration points in [0, 1], 20 in [1, 3]: the served sd is larger in the
    sparse part, at the same noise level."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(0, 1, 180), rng.uniform(1, 3, 20)]
    y = 60 + 10 * x + rng.normal(0, 1.0, len(x))
    feats = np.c_[x, rng.normal(size=len(x))]
    cand = Candidate("et", "et", (("max_features", 1.0), ("min_samples_leaf", 2)))
    est, _ = fit_estimator(feats, y, FeatureSet("t", ("x", "noise")), [cand], map_kind="isotonic", n_boot=20)
    dense = np.c_[np.linspace(0.2, 0.8, 50), np.zeros(50)]
    sparse = np.c_[np.linspace(1.4, 2.6, 50), np.zeros(50)]
    _, sd_dense = est.predict(dense)
    _, sd_sparse = est.predict(sparse)
    assert sd_sparse.mean() > 1.3 * sd_dense.mean(), (sd_dense.mean(), sd_sparse.mean())


def test_cell_features_describe_the_wiring():
    conv = cell_features(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert conv["paths_alive"] == 4 and conv["path_convs_max"] == 3 and conv["path_convs_min"] == 1
    assert conv["live_c3"] == 6 and conv["skip_only_path"] == 0
    # only 0->3 alive, a skip: an identity cell; edges into node 1/2 are dead
    skip = cell_features("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert (
        skip["paths_alive"] == 1
        and skip["skip_only_path"] == 1
        and skip["live_c3"] == 0
        and skip["n_c3"] == 1
    )
    assert cell_features(Arch(("none",) * 6))["degenerate"] == 1


# ---- the committed whole-space benchmark -------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    if not WHOLE.is_dir():
        pytest.fail(f"{WHOLE} is missing: build it with `make reports PROFILE=whole-space`")
    return Benchmark.open(WHOLE, seed=0)


def test_every_arch_is_served_on_three_datasets(bench):
    assert set(bench.datasets) == {"cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"}
    for ds, s in DATASETS.items():
        assert len(bench.indexes(ds)) == NUM_ARCHS
        acc = bench.metrics(np.arange(NUM_ARCHS), f"{s}-accuracy", dataset=ds)
        assert np.isfinite(acc).all() and 0 < acc.min() and acc.max() <= 100


def test_classes_share_the_estimate_degenerate_get_chance_costs_are_their_own(bench):
    from nb201.space.cost import latency_from_basis, table

    archs = [Arch.from_index(i) for i in range(NUM_ARCHS)]
    keys = np.array([a.functional_key() for a in archs])
    idx = np.arange(NUM_ARCHS)
    shapes = {
        "cifar10": ((3, 32, 32), 10),
        "cifar100": ((3, 32, 32), 100),
        "ImageNet16-120": ((3, 16, 16), 120),
    }
    for ds, s in DATASETS.items():
        acc = bench.metrics(idx, f"{s}-accuracy", dataset=ds)
        sd = bench.metrics(idx, "estimate-std", dataset=ds)
        draws = bench.seed_table("x-valid-accuracy", "cifar10-valid" if ds == "cifar10" else ds)
        for key in ("zero", keys[11472], keys[7]):
            members = keys == key
            assert len(np.unique(acc[members])) == 1 and len(np.unique(sd[members])) == 1
            assert len(np.unique(draws[members], axis=0)) == 1
        assert (keys == "zero").sum() == 341
        np.testing.assert_allclose(acc[keys == "zero"], 100 / shapes[ds][1], rtol=1e-6)
        assert np.all(sd[keys == "zero"] == 0)
        costs = bench.cost_table(ds)
        t = table(*shapes[ds])
        np.testing.assert_allclose(costs["params"], t["params"], rtol=1e-12)
        np.testing.assert_allclose(costs["flops"], t["flops"], rtol=1e-12)
        basis = bench.estimate_info(ds)["latency_model"]
        op_ids = np.array([a.op_ids() for a in archs])
        np.testing.assert_allclose(costs["latency"], latency_from_basis(op_ids, basis), rtol=1e-9)
        # members of one class differ in cost where their dead edges differ
        members = np.flatnonzero(keys == keys[7])
        if len(members) > 1:
            assert len(np.unique(costs["flops"][members])) >= 1


def test_every_query_path_says_the_value_is_estimated(bench):
    assert bench.estimate_info("cifar10")["estimated"] is True
    assert bench.meta("cifar100")["estimate"]["labels"]["n"] == 200
    info = bench.get_more_info(11472, "cifar10")
    assert info["estimated"] is True and info["test-accuracy"] > 0 and info["estimate-std"] >= 0
    assert bench.get_cost_info(11472, "cifar100")["estimated"] is True
    vals = bench.metrics([1, 2], "x-test-accuracy", dataset="cifar100")
    assert isinstance(vals, EstimatedArray) and vals.estimated and vals.estimate_info["dataset"] == "cifar100"
    assert isinstance(bench.seed_table("x-valid-accuracy", "cifar10-valid"), EstimatedArray)
    index, acc = bench.find_best("cifar10", "test")
    assert isinstance(acc, EstimatedFloat) and acc.estimated and 0 <= index < NUM_ARCHS
    valid, latency, cost, _ = bench.simulate_train_eval(11472, "cifar10")
    assert isinstance(valid, EstimatedFloat) and cost > 0 and latency > 0
    for ds in DATASETS:
        cv = bench.estimate_info(ds)["cv"]["full"]
        assert cv["spearman_ci95"][0] <= cv["spearman"] <= cv["spearman_ci95"][1] and cv["n"] == 200


def test_what_the_estimate_lacks_is_a_clear_error(bench):
    with pytest.raises(EstimateLacks, match="per-epoch learning curves"):
        bench.get_more_info(11472, "cifar10", iepoch=5)
    info = bench.get_more_info(11472, "cifar10")
    with pytest.raises(EstimateLacks, match="'train-loss' is not available.*ESTIMATE"):
        info["train-loss"]
    with pytest.raises(EstimateLacks, match="metric 'train-loss'"):
        bench.metrics([1], "train-loss", dataset="cifar10")
    with pytest.raises(EstimateLacks, match="epoch 7"):
        bench.metrics([1], "ori-test-accuracy", dataset="cifar10", epoch=7)
    assert bench.get_more_info(11472, "cifar10", iepoch=199)["test-accuracy"] == info["test-accuracy"]


def test_the_reward_is_not_the_scored_value_and_is_reproducible(bench):
    from nb201.search import run_search

    idx = np.arange(NUM_ARCHS)
    est = bench.metrics(idx, "ori-test-accuracy", dataset="cifar10")
    draws = bench.seed_table("x-valid-accuracy", "cifar10-valid")
    live = est > 10.0 + 1e-6
    clipped = ((draws <= 0) | (draws >= 100)).any(axis=1)  # draws are clipped to [0, 100]
    assert clipped.mean() < 0.01
    ok = live & ~clipped
    np.testing.assert_allclose(draws[ok].mean(axis=1), est[ok], atol=2e-3)  # centred on the estimate
    assert np.mean(np.abs(draws[live] - est[live, None]) > 0.05) > 0.9  # but not equal to it
    a = run_search("RS", bench, budget=3000, seed=7)
    b = run_search("RS", Benchmark.open(WHOLE, seed=99), budget=3000, seed=7)
    assert np.array_equal(a.archs, b.archs) and np.array_equal(a.rewards, b.rewards)
    scored = est[a.archs]
    assert not np.allclose(a.rewards, scored)
    for arch, r in zip(a.archs, a.rewards):
        assert np.isclose(draws[arch], r, atol=1e-4).any()  # each reward is one pseudo-seed draw
    c = run_search("RS", bench, budget=3000, seed=8)
    assert not np.array_equal(a.archs, c.archs)


def test_the_paper_protocol_runs_on_it(bench):
    from nb201.search import run_experiment

    exp = run_experiment(["RS", "REA", "REINFORCE", "BOHB"], bench, runs=2)
    assert exp.dataset == "cifar10-valid" and exp.hp == "200" and exp.metric == "x-valid-accuracy"
    assert "cifar10/ori-test" in exp.datasets and "cifar10-valid/x-valid" not in exp.datasets
    assert exp.runs["cifar10/ori-test"].notna().all() and len(exp.runs) == 8


def test_time_model_is_fitted_to_measured_runs_and_stated():
    from nb201.fidelity.timing import TIME_KINDS, fit_time_model, load_timed_runs

    runs = load_timed_runs([REPO / "data" / "cifar10-cpu" / "runs", REPO / "data" / "fidelity" / "runs"])
    model = fit_time_model(runs)
    assert model.kind in TIME_KINDS and model.report["runs"] == len(runs["train_seconds"]) >= 200
    assert set(model.report["cv_rmse_s"]) == set(TIME_KINDS) and 0 < model.report["r2"] < 1
    train, evals = model.predict(runs["op_ids"], runs["flops"])
    assert (train >= runs["train_seconds"].min() - 1e-9).all() and (evals > 0).all()
    # a 3x3 convolution costs more training time than a skip
    conv = model.predict(np.full((1, 6), 3), np.array([runs["flops"].max()]))[0]
    skip = model.predict(np.full((1, 6), 1), np.array([runs["flops"].min()]))[0]
    assert conv[0] > skip[0]


def test_proxy_step_is_free_when_the_table_covers_every_class():
    from nb201.fidelity.whole_space_store import proxy_step

    cal = REPO / "data" / "calibration" / "nb201-calibration-200.csv"
    small = REPO / "data" / "proxies" / "cifar10-C8-N1-16px-b64-s0.parquet"
    done = proxy_step(small, "/nonexistent", cal, REPO / "data" / "benchmarks" / "cifar10-cpu")
    assert done["status"] == "complete" and done["missing"] == 0 and done["computed"] == 0
    full = REPO / "data" / "proxies" / "cifar10-C16-N5-32px-b64-s0.parquet"
    counted = proxy_step(full, "/nonexistent", cal, REPO / "data" / "benchmarks" / "cifar10-cpu", run=False)
    assert counted["computed"] == 0 and counted["status"].startswith(("complete", "incomplete"))
