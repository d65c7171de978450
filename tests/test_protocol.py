"""nb201.benchmark.protocol: one clock, one query-cost rule and one default-schedule rule, shared by the
query API (`Benchmark.simulate_train_eval`), the search (`SearchEnv`, the oracle, the default
budget) and the analyses; and the `Benchmark` columns they read instead of opening files."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_synthetic

from nb201.benchmark import Benchmark
from nb201.benchmark.protocol import HP_PURPOSES, SimulatedClock, default_hp, query_cost
from nb201.benchmark.store import write_benchmark
from nb201.search import SearchEnv, build_oracle, run_experiment
from nb201.search.problem import MIN_QUERIES, PAPER_QUERIES, budget_rule
from nb201.space import NUM_ARCHS

SRC = Path(__file__).resolve().parents[1] / "src" / "nb201"
ARCHS = np.sort(np.random.default_rng(5).choice(NUM_ARCHS, size=120, replace=False))


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Benchmark:
    root = tmp_path_factory.mktemp("protocol") / "b"
    write_synthetic(
        root,
        archs=ARCHS,
        seeds=(0, 1, 2),
        splits=("cifar10-valid", "cifar10", "cifar100"),
        hps={"12": 12, "30": 30},
        seed=2,
    )
    return Benchmark.open(root, seed=0)


def test_clock_charges_what_fits_and_refuses_the_rest():
    clock = SimulatedClock(10.0)
    assert clock.charge(4.0) and clock.charge(6.0) and clock.used == 10.0 and clock.remaining == 0.0
    assert not clock.charge(0.5) and clock.used == 10.0  # refused: nothing added
    clock.reset()
    assert clock.used == 0.0 and clock.budget == 10.0
    free = SimulatedClock()
    assert free.charge(1e12) and free.used == 1e12 and math.isinf(free.budget)


def test_query_cost_is_nats_bench_train_all_time_plus_one_evaluation():
    # nats_bench: train-all-time + valid-per-time, valid-per-time = valid-all-time / (iepoch+1)
    assert query_cost(100.0, 30.0, 2) == 100.0 + 30.0 / 3
    np.testing.assert_array_equal(
        query_cost(np.array([1.0, 2.0]), np.array([4.0, 8.0]), 3), np.array([2.0, 4.0])
    )


@pytest.mark.parametrize(
    ("hps", "purpose", "want"),
    [
        (["12", "200"], "query", "200"),
        (["12", "200"], "search", "12"),
        (["12", "200"], "report", "200"),
        (["cheap"], "query", "cheap"),
        (["cheap"], "search", "cheap"),
        (["a", "b"], "query", None),
        (["a", "b"], "search", None),
        (["a", "b"], "report", "b"),  # the longest
    ],
)
def test_default_hp_rule(hps, purpose, want):
    assert default_hp(hps, purpose, {"a": 3, "b": 9}.get) == want


def test_default_hp_rejects_an_unknown_purpose():
    with pytest.raises(ValueError, match="unknown purpose"):
        default_hp(["12"], "final")
    assert set(HP_PURPOSES) == {"query", "search", "report"}


def test_benchmark_answers_the_default_schedule_for_every_purpose(bench):
    assert bench.default_hp("cifar100", "search") == "12"
    assert bench.default_hp("cifar100", "report") == "30"  # no "200": the longest
    with pytest.raises(KeyError, match="several hp settings"):
        bench.default_hp("cifar100")  # the originals' queries do not guess
    assert bench.eval_sets("cifar100", "12") == ["x-valid", "x-test", "ori-test"]
    assert bench.eval_sets("cifar10-valid", "12") == ["x-valid", "ori-test"]


def test_seed_table_and_cost_table_agree_with_the_queries(bench):
    table = bench.seed_table("x-valid-accuracy", "cifar100", "12", epoch=4)
    seeds = bench.seeds("cifar100", "12")
    assert table.shape == (len(ARCHS), len(seeds)) and table.dtype == np.float64
    for k, s in enumerate(seeds):
        np.testing.assert_array_equal(
            table[:, k],
            bench.metrics(ARCHS, "x-valid-accuracy", epoch=4, seeds=s, dataset="cifar100", hp="12"),
        )
    per = bench.seed_table("valid-per-time", "cifar100", "12", epoch=4)
    np.testing.assert_allclose(per, bench.seed_table("x-valid-all-time", "cifar100", "12", epoch=4) / 5)
    costs = bench.cost_table("cifar100", "12")
    costs["arch_index"][:] = -1  # a copy: the benchmark is unchanged
    assert bench.cost_table("cifar100", "12")["arch_index"].tolist() == ARCHS.tolist()


def test_seed_table_marks_absent_runs_nan(tmp_path):
    values = np.arange(2 * 2 * 1 * 2, dtype=np.float32).reshape(2, 2, 1, 2)
    present = np.array([[True, False], [True, True]])
    write_benchmark(
        tmp_path / "b",
        split="digits",
        hp="1",
        arch_indices=[3, 7],
        seeds=[0, 1],
        metrics=["x-valid-accuracy", "train-time"],
        values=values,
        present=present,
        tidy=False,
    )
    t = Benchmark.open(tmp_path / "b").seed_table("x-valid-accuracy", "digits")
    np.testing.assert_array_equal(t, [[0.0, np.nan], [4.0, 6.0]])


def test_api_and_search_share_the_clock_and_the_cost(bench):
    assert isinstance(bench.clock, SimulatedClock)
    oracle = build_oracle(bench, "cifar10-valid", "12")
    env = SearchEnv(oracle, 1e9, np.random.default_rng(0))
    assert isinstance(env.clock, SimulatedClock) and env.budget == 1e9
    bench.reset_time()
    reward, cost = oracle.column(4)
    arch = int(ARCHS[7])
    for seed_pos, seed in enumerate(bench.seeds("cifar10-valid", "12")):
        info = bench.get_more_info(arch, "cifar10-valid", iepoch=4, hp="12", is_random=seed)
        assert cost[arch, seed_pos] == info["train-all-time"] + info["valid-per-time"]
        assert reward[arch, seed_pos] == info["valid-accuracy"]
    acc, _, time_cost, used = bench.simulate_train_eval(arch, "cifar10", iepoch=4)
    pos = list(reward[arch]).index(acc)  # the seed simulate_train_eval drew
    assert time_cost == cost[arch, pos] and used == bench.used_time == bench.clock.used == time_cost


def test_default_budget_is_median_queries_at_the_search_cost(bench):
    oracle = build_oracle(bench, "cifar100", "12")
    budget, rule = budget_rule(oracle)
    _, cost = oracle.column(None)
    median = float(np.median(cost[ARCHS].mean(axis=1)))
    queries = max(MIN_QUERIES, min(PAPER_QUERIES, len(ARCHS) // 2))
    assert budget == pytest.approx(queries * median, rel=1e-6)
    assert f"{queries} median queries" in rule


def test_key_numbers_are_what_the_report_sidecar_holds(bench):
    exp = run_experiment(["RS", "REA"], bench, runs=2, dataset="cifar100", hp="12")
    numbers = exp.key_numbers("bench-name")
    assert numbers["benchmark"] == "bench-name" and numbers["runs"] == 2
    assert set(numbers["mean"]) == {"RS", "REA", "optimal"} and numbers["reported"] == exp.datasets
    assert numbers["search_hp"] == "12" and numbers["budget"] == exp.budget
    assert set(numbers["queries_mean"]) == {"RS", "REA"}


def test_search_and_analysis_never_open_benchmark_files():
    """They ask `Benchmark`, so they also work on a benchmark that is not a local folder."""
    files = [SRC / "benchmark" / "analysis.py", *sorted((SRC / "search").glob("*.py"))]
    for path in files:
        names = {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nb201.benchmark.store")
            for alias in node.names
        }
        assert not names & {"open_substore", "substore_name", "Substore"}, path
