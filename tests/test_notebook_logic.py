"""What the notebooks compute, tested without a notebook: the rules that used to live in
notebook cells (record selection by spec, the default ranking column, valid/test pairing,
seed variance, scoring the fidelity grid and choosing a point, the weight-sharing tables,
the ranking report's lines) on small real inputs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from nb201.benchmark import Benchmark, analysis
from nb201.benchmark.store import write_benchmark
from nb201.fidelity import ranking as R
from nb201.fidelity import study as fid
from nb201.pipeline import reports
from nb201.search.experiment import evaluation_table
from nb201.space import OPS, Arch
from nb201.train import select_records
from nb201.wsnas import evaluate as wse


# ---- record selection (01 train, 05 fidelity) ------------------------------------------------
def _rec(index: int, seed: int = 777, split: str = "digits", preset: str = "p", fidelity=None, status="ok"):
    accs = {
        "train-accuracy": 50.0 + index,
        "x-valid-accuracy": 40.0 + index,
        "ori-test-accuracy": 30.0 + index,
    }
    return {
        "arch_index": index,
        "status": status,
        "spec": {"split": split, "preset": preset, "fidelity": fidelity or {}, "seed": seed},
        "epochs": [{"epoch": 0, **{k: v - 10 for k, v in accs.items()}}, {"epoch": 1, **accs}],
        "cpu_time": 10.0 * (index + 1),
        "wall_time": 5.0,
        "cost": {"params": 0.1 * index},
    }


def test_select_records_filters_by_every_spec_field_it_is_given():
    recs = [
        _rec(1),
        _rec(2, seed=888),
        _rec(3, split="other"),
        _rec(4, preset="q"),
        _rec(5, fidelity={"epochs": 2, "train_fraction": 0.3}),
        _rec(6, status="failed"),
    ]
    assert [r["arch_index"] for r in select_records(recs)] == [1, 2, 3, 4, 5, 6]
    sweep = select_records(recs, split="digits", preset="p", fidelity={})
    assert [r["arch_index"] for r in sweep] == [1, 2, 6]  # {} means "no overrides", not "any"
    assert [r["arch_index"] for r in select_records(sweep, ok=True, seeds=[777])] == [1]
    assert [
        r["arch_index"]
        for r in select_records(recs, arch_indexes=[2, 5], fidelity={"epochs": 2, "train_fraction": 0.3})
    ] == [5]
    assert select_records(recs, seeds=[]) == []


def test_final_accuracy_stats_leave_training_accuracy_out():
    stats = analysis.final_accuracy_stats([_rec(1), _rec(3)])
    assert stats["final_accuracy_mean"] == {"x-valid-accuracy": 42.0, "ori-test-accuracy": 32.0}
    assert stats["final_accuracy_max"] == {"x-valid-accuracy": 43.0, "ori-test-accuracy": 33.0}


# ---- the analysis report (03) on a synthetic benchmark -------------------------------------
SETS = {
    "cifar10-valid": ["x-valid", "ori-test"],
    "cifar100": ["x-valid", "x-test", "ori-test"],
    "plain": ["ori-test"],
}
ARCHS = [10, 20, 30, 40, 50, 60]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Benchmark:
    root = tmp_path_factory.mktemp("nblogic")
    rng = np.random.default_rng(0)
    for split, evals in SETS.items():
        metrics = [f"{s}-{m}" for s in ["train"] + evals for m in ("loss", "accuracy", "time")]
        values = rng.uniform(1, 99, size=(len(ARCHS), 2, 4, len(metrics))).astype(np.float32)
        if split == "plain":  # the second seed copies the first: zero spread between seeds
            values[:, 1] = values[:, 0]
        write_benchmark(
            root,
            split=split,
            hp="200",
            arch_indices=ARCHS,
            seeds=[777, 888],
            metrics=metrics,
            values=values,
            costs={"flops": [1, 2, 3, 4, 5, 6], "params": [6, 5, 4, 3, 2, 1], "latency": [0.1] * 6},
        )
    return Benchmark.open(root)


def test_the_test_column_and_the_default_ranking_column(bench):
    assert analysis.test_column(bench, "cifar100") == "cifar100/x-test"
    assert analysis.test_column(bench, "cifar10-valid") == "cifar10-valid/ori-test"  # no x-test: the last set
    final = evaluation_table(bench)
    last_split = final.columns[-1].split("/")[0]
    assert analysis.resolve_rank_by(bench, final, None) == analysis.test_column(bench, last_split)
    assert analysis.resolve_rank_by(bench, final, "cifar100/x-valid") == "cifar100/x-valid"
    with pytest.raises(ValueError, match="choose from"):
        analysis.resolve_rank_by(bench, final, "cifar100/nope")


def test_valid_test_pairs_take_x_test_else_ori_test(bench):
    pairs = analysis.valid_test_pairs(bench, list(SETS))
    assert pairs == [
        ("cifar10-valid/x-valid", "cifar10-valid/ori-test"),
        ("cifar100/x-valid", "cifar100/x-test"),
    ]  # "plain" has no validation set


def test_seed_variance_reports_spread_only_where_seeds_differ(bench):
    stats, spreads = analysis.seed_variance(bench, list(SETS))
    assert stats["cifar100"]["seeds"] == [777, 888] and stats["cifar100"]["archs_with_2plus_seeds"] == len(
        ARCHS
    )
    assert stats["cifar100"]["median_std"] > 0 and -1 <= stats["cifar100"]["seed_pair_kendall"] <= 1
    assert set(spreads) == {"cifar10-valid/ori-test", "cifar100/ori-test", "plain/ori-test"}
    assert stats["plain"]["median_std"] == 0 and stats["plain"]["seed_pair_kendall"] == pytest.approx(1.0)
    assert "Mostly noise" not in analysis.signal_and_noise(bench, evaluation_table(bench), "plain/ori-test")


def test_epoch_agreement_ends_at_one_for_every_set(bench):
    agree = analysis.epoch_agreements(bench, ["cifar100"])
    assert list(agree) == ["cifar100/x-valid", "cifar100/x-test", "cifar100/ori-test"]
    assert all(a["kendall"].iloc[-1] == pytest.approx(1.0) and len(a) == 4 for a in agree.values())


def test_cost_agreement_and_the_top_table(bench):
    final = evaluation_table(bench)
    costs = analysis.cost_frame(bench, "cifar100")
    accuracy = pd.Series(costs["flops"].to_numpy() * 10.0, index=costs.index)  # rises with FLOPs
    joined, agree = analysis.cost_agreement(costs, accuracy, n_boot=20)
    assert len(joined) == len(ARCHS)
    assert agree["flops"]["kendall"] == pytest.approx(1.0) and agree["params"]["kendall"] == pytest.approx(
        -1.0
    )
    top = analysis.top_table(final, "cifar100/x-test", costs, rows=3)
    assert list(top.index) == final["cifar100/x-test"].sort_values(ascending=False).index[:3].tolist()
    assert top.loc[top.index[0], "arch"] == str(Arch.from_index(int(top.index[0])))
    assert "params (M)" in top.columns


# ---- the fidelity report (05) ------------------------------------------------------------
def _point_records(fidelity: dict, accs: dict[int, float], cpu: float) -> list[dict]:
    out = []
    for i, a in accs.items():
        r = _rec(i, split="cifar10-jpeg", preset="cpu-cifar", fidelity=fidelity)
        r["epochs"][-1]["ori-test-accuracy"] = a
        r["cpu_time"] = cpu
        out.append(r)
    return out


@pytest.fixture
def grid_study():
    calib = pd.DataFrame({"full": [90.0, 80.0, 70.0, 60.0, 50.0]}, index=[1, 2, 3, 4, 5])
    good = _point_records(
        {"epochs": 4, "train_fraction": 0.3}, {1: 9, 2: 8, 3: 7, 4: 6, 5: 5}, cpu=30.0
    )  # the full ranking
    bad = _point_records(
        {"epochs": 1, "train_fraction": 0.3}, {1: 5, 2: 6, 3: 7, 4: 8, 5: 9}, cpu=10.0
    )  # reversed
    partial = _point_records(
        {"epochs": 2, "train_fraction": 0.3}, {1: 9, 2: 8}, cpu=20.0
    )  # two of five archs
    dear = _point_records(
        {"epochs": 8, "train_fraction": 0.3}, {1: 9, 2: 8, 3: 7, 4: 6, 5: 5}, cpu=100.0
    )  # over budget
    points = [
        fid.FidelityPoint("good", {"epochs": 4, "train_fraction": 0.3}),
        fid.FidelityPoint("bad", {"epochs": 1, "train_fraction": 0.3}),
        fid.FidelityPoint("partial", {"epochs": 2, "train_fraction": 0.3}),
        fid.FidelityPoint("dear", {"epochs": 8, "train_fraction": 0.3}),
        fid.FidelityPoint("none", {"epochs": 3, "train_fraction": 0.3}),
    ]
    grid = fid.FidelityGrid("cpu-cifar", [777], 60.0, points)
    return grid, calib, good + bad + partial + dear


def test_score_grid_scores_each_point_on_its_own_records(grid_study):
    grid, calib, records = grid_study
    results, tables = fid.score_grid(records, grid.points, calib, "full", [1, 2, 3, 4, 5], 60.0, n_boot=20)
    assert results.loc["good", "spearman"] == pytest.approx(1.0) and results.loc[
        "bad", "spearman"
    ] == pytest.approx(-1.0)
    assert results["n"].to_dict() == {"good": 5, "bad": 5, "partial": 2, "dear": 5, "none": 0}
    assert (
        results.loc["good", "core_seconds_per_arch"] == 30.0 and results.loc["good", "mean_accuracy"] == 7.0
    )
    assert bool(results.loc["good", "within_budget"]) and not bool(results.loc["dear", "within_budget"])
    assert set(tables) == {p.name for p in grid.points} and tables["none"].empty
    scored, empty, partial, note = fid.coverage_notes(results, 5)
    assert empty == ["none"] and partial == ["partial"] and "none" not in scored.index
    assert "no records yet" in note and "partial (n=2)" in note


def test_select_chooses_by_the_rule_and_compares_with_the_benchmark_point(grid_study):
    grid, calib, records = grid_study
    results, tables = fid.score_grid(records, grid.points, calib, "full", [1, 2, 3, 4, 5], 60.0, n_boot=20)
    scored, *_ = fid.coverage_notes(results, 5)
    # "dear" ranks as well as "good" but costs too much; "partial" is incomplete
    sel = fid.select(scored, tables, grid, "digits-cheap", calib, "full", 5, n_boot=20)
    assert sel.chosen == "good" and "The rule chooses **good**" in sel.lines[0]
    assert sel.used is None and "not a point of this grid" in sel.lines[1] and sel.comparison is None
    # the benchmark built at the "bad" point: a paired comparison, and the chosen one is better
    bad_preset = fid.FidelityGrid("cpu-cifar", [777], 60.0, [fid.FidelityPoint("bad", {})])
    bad_grid = fid.FidelityGrid("cpu-cifar", [777], 60.0, [grid.points[0], bad_preset.points[0]])
    tables_bad = {"good": tables["good"], "bad": tables["bad"]}
    sel = fid.select(
        scored.loc[["good", "bad"]], tables_bad, bad_grid, "cpu-cifar", calib, "full", 5, n_boot=20
    )
    assert sel.used == "bad" and sel.comparison["diff"] == pytest.approx(2.0)
    assert any("worth rebuilding" in line for line in sel.lines)
    none = fid.select(scored.loc[["partial", "dear"]], tables, grid, "cpu-cifar", calib, "full", 5)
    assert none.chosen is None and "chooses none" in none.lines[0]


def test_points_json_is_plain_json():
    frame = pd.DataFrame({"n": [3], "spearman": [np.nan], "complete": [np.bool_(True)]}, index=["p"])
    assert fid.points_json(frame) == {"p": {"n": 3.0, "spearman": None, "complete": True}}


# ---- the weight-sharing report (06) ------------------------------------------------------
def _search(method: str, seed: int, archs: list[str], skip_mass: list[float]) -> dict:
    epochs = []
    for e, (a, p) in enumerate(zip(archs, skip_mass)):
        dist = np.full((6, len(OPS)), (1 - p) / (len(OPS) - 1))
        dist[:, OPS.index("skip_connect")] = p
        arch = Arch.from_string(a)
        epochs.append(
            {
                "epoch": e,
                "arch": a,
                "arch_index": arch.index,
                "valid-accuracy": 50.0 + e,
                "train-accuracy": 60.0,
            }
        )
        epochs[-1]["distribution"] = dist.tolist()
    final = {"arch": archs[-1], "arch_index": Arch.from_string(archs[-1]).index}
    return {
        "spec": {"method": method, "seed": seed},
        "epochs": epochs,
        "final": final,
        "cpu_time": 3600.0,
        "wall_time": 1800.0,
    }


CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_weight_sharing_tables_and_findings():
    records = [
        _search("gdas", 777, [SKIP, CONV], [0.2, 0.1]),
        _search("darts-v1", 777, [CONV, SKIP], [0.2, 0.9]),
        _search("darts-v1", 888, [CONV, SKIP], [0.4, 0.7]),
    ]
    searches = wse.search_table(records)
    acc = pd.DataFrame(
        {"ori-test-accuracy": [80.0, 20.0]},
        index=pd.Index([Arch.from_string(CONV).index, Arch.from_string(SKIP).index], name="arch_index"),
    )
    final = searches.join(acc, on="arch_index")
    reference = np.array([10.0, 30.0, 50.0, 70.0, 90.0])
    table = wse.side_by_side(final, ["ori-test-accuracy"], "digits", "ori-test-accuracy", reference)
    assert list(table.index) == ["gdas", "darts-v1"]
    assert (
        table.loc["gdas", "ours digits ori-test"] == "80.00"
        and table.loc["darts-v1", "ours digits ori-test"] == "20.00±0.00"
    )
    assert table.loc["darts-v1", wse.SKIP_EDGES] == 6 and table.loc["gdas", wse.SKIP_EDGES] == 0
    pct = [c for c in table.columns if c.startswith("ours: percentile")]
    assert table.loc["gdas", pct[0]] == 80.0 and table.loc["darts-v1", pct[0]] == 20.0
    assert "quoted (paper) cifar10 ori-test" in table.columns
    per_epoch = wse.per_epoch_table(records, acc)
    assert len(per_epoch) == 6 and per_epoch["ori-test-accuracy"].notna().all()
    skip = wse.skip_mass(records)
    darts = skip[skip.method == "darts-v1"]["p(skip_connect)"].tolist()
    assert darts == pytest.approx([0.3, 0.8])  # mean over the two seeds
    lines, collapsed = wse.findings("b [digits / hp]", final, table, skip, "ori-test-accuracy", reference)
    assert collapsed == ["darts-v1"] and "yes: darts-v1" in lines[-1]
    assert lines[0].startswith(
        "Benchmark b [digits / hp]: ori-test-accuracy of its 5 archs ranges 10.00 to 90.00"
    )
    assert "- gdas:" in lines[1] and "0.200 -> 0.100 over 2 epochs" in lines[1]


def test_mean_std_and_percentile_in():
    assert wse.mean_std(pd.Series([1.0, 3.0])) == "2.00±1.00" and wse.mean_std(pd.Series([np.nan])) == "n/a"
    pct = wse.percentile_in(pd.Series({"a": 25.0, "b": np.nan}), np.array([10.0, 20.0, 30.0, 40.0]))
    assert pct["a"] == 50.0 and np.isnan(pct["b"])


def test_describe_evaluation_counts_what_was_added():
    ev = wse.Evaluation(pd.DataFrame(), trained=["a", "b"], cpu_hours=0.5, failed=[])
    line = wse.describe_evaluation(ev, "bench [digits / hp]", held_before=3)
    assert "3 archs before, 5 after" in line and "0.500 core-hours" in line and "failed: none" in line


# ---- the ranking report (07) --------------------------------------------------------------
def _study(n: int = 40, chosen: str | None = "good") -> R.StudyResult:
    rng = np.random.default_rng(0)
    target = rng.normal(size=n)
    frame = pd.DataFrame(
        {"acc_final": target + 0.5 * rng.normal(size=n), "s:params": rng.normal(size=n), R.TARGET: target},
        index=np.arange(n),
    )
    methods = [R.Method("good", "single", ("acc_final",)), R.Method("params", "single", ("s:params",))]
    results = R.study(frame, {R.TRAINING: 50.0}, methods, ["acc_final"], k=5, n_boot=20)
    baseline = analysis.rank_agreement(frame["s:params"], target, n_boot=20)
    pick = next((m for m in methods if m.name == chosen), None)
    return R.StudyResult(frame, {R.TRAINING: 50.0}, ["acc_final"], methods, results, baseline, pick)


def test_describe_choice_and_paired_deltas():
    res = _study()
    lines = R.describe_choice(res, min_n=30)
    assert lines[0].startswith(
        "chosen: good (direct (nothing fitted)), on the 40 archs with a cheap run: Spearman"
    )
    assert (
        lines[-2].startswith("parameter count on the 40 archs: Spearman")
        and lines[-1] == "features: acc_final"
    )
    deltas = R.chosen_vs_baselines(res, k=5, n_boot=50)
    assert deltas["cheap run: final test acc"]["delta_spearman"] == pytest.approx(0.0)  # the same scores
    assert deltas["parameter count"]["delta_spearman"] > 0.3 and deltas["parameter count"]["n"] == 40
    none = _study(chosen=None)
    assert R.describe_choice(none, min_n=50) == [
        "not enough calibration architectures yet (40 < 50): nothing chosen"
    ]
    assert R.chosen_vs_baselines(none) == {}


def test_present_tables_leaves_absent_tables_out(tmp_path):
    small = REPO / "data" / "proxies" / "cifar10-C8-N1-16px-b64-s0.parquet"
    tables, lines = R.present_tables({"small": small, "gone": tmp_path / "nope.parquet"})
    assert tables == {"small": small}
    assert lines[0].startswith("small: ") and "core-hours" in lines[0]
    assert lines[1].startswith("proxy table 'gone'") and lines[1].endswith("is absent: left out")


# ---- the setup every notebook runs -----------------------------------------------------------
def test_notebook_setup_moves_to_the_project_folder(monkeypatch):
    monkeypatch.chdir(REPO / "notebooks")  # where JupyterLab starts a notebook
    with pd.option_context("display.max_colwidth", 50, "display.width", 80):
        assert reports.notebook_setup(max_colwidth=77, width=150) is None  # a cell ending in it shows none
        assert os.getcwd() == str(REPO)
        assert pd.get_option("display.max_colwidth") == 77 and pd.get_option("display.width") == 150
