"""nb201.search around the runs: the SearchProblem built once, the budget rule, paired
comparisons and findings, trajectories out, the leaderboard, and the search figures."""

from __future__ import annotations

import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from synthetic import write_synthetic

from nb201.benchmark import Benchmark
from nb201.pipeline import plots
from nb201.search import Oracle, SearchProblem, budget_rule, run_experiment, run_search
from nb201.search import problem as problem_module
from nb201.search.leaderboard import leaderboard, rank_intervals
from nb201.search.problem import MIN_QUERIES, PAPER_QUERIES, paper_equivalent_queries
from nb201.search.trajectories import TRAJECTORY_COLUMNS, export
from nb201.space import NUM_ARCHS

ARCHS = np.sort(np.random.default_rng(5).choice(NUM_ARCHS, size=60, replace=False))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def needle(tmp_path_factory):
    """60 architectures, one clearly best; cifar10-valid (12 and 200 epochs) and cifar10 (200)."""
    q = np.random.default_rng(6).uniform(0.0, 0.5, size=len(ARCHS))
    q[17] = 1.0
    root = write_synthetic(tmp_path_factory.mktemp("needle"), archs=ARCHS, seeds=(1, 2, 3), quality=q)
    return Benchmark.open(root), int(ARCHS[17])


def sweep(env, rng):
    """Visits every architecture the benchmark holds: always finds the best one."""
    for arch in env.available.tolist():
        if env.query(arch) is None:
            break


def one_guess(env, rng):
    """A single random query: a random answer."""
    env.query(env.random_arch(rng))


@pytest.fixture(scope="module")
def contrast(needle):
    """A clear-signal pair (sweep vs one guess) and a no-signal pair (RS twice, same seeds)."""
    bench, _ = needle
    algos = {"sweep": sweep, "guess": one_guess, "RS": "RS", "RS again": "RS"}
    return run_experiment(algos, bench, runs=30, budget=20000, seed=1)


# ---- the problem, built once --------------------------------------------------------------


def test_an_experiment_reads_each_oracle_once_whatever_the_number_of_runs(needle, monkeypatch):
    bench, _ = needle
    built = []
    real = problem_module.build_oracle

    def counting(*args, **kwargs):
        built.append(args[2] if len(args) > 2 else kwargs.get("hp"))
        return real(*args, **kwargs)

    monkeypatch.setattr(problem_module, "build_oracle", counting)
    exp = run_experiment(["RS", "REA", "BOHB"], bench, runs=7, seed=2)
    assert sorted(built) == ["12", "200"]  # the search schedule, and BOHB's 200-epoch curves
    assert all(r.budget == exp.problem.budget for rs in exp.results.values() for r in rs)


def test_a_problem_is_resolved_once_and_carried(needle):
    bench, _ = needle
    problem = SearchProblem.of(bench)
    assert (problem.dataset, problem.hp, problem.metric, problem.budget) == (
        "cifar10-valid",
        "12",
        "x-valid-accuracy",
        12000.0,
    )
    assert SearchProblem.of(problem) is problem
    cheaper = SearchProblem.of(problem, budget=3000)
    assert cheaper.budget == 3000 and cheaper.oracle is problem.oracle and "given" in cheaper.budget_rule
    with pytest.raises(ValueError, match="cannot be re-asked"):
        SearchProblem.of(problem, dataset="cifar10")
    with pytest.raises(TypeError, match="Benchmark.open"):
        SearchProblem.of(42)
    r = run_search("REA", problem, seed=3)
    assert r.replay(problem).archs.tolist() == r.archs.tolist() == r.replay(bench).archs.tolist()


def test_a_pickled_problem_keeps_what_it_read_and_its_rule(needle):
    bench, _ = needle
    problem = SearchProblem.of(bench, budget=5000)
    problem.oracle.column(None)
    again = pickle.loads(pickle.dumps(problem))
    assert again.benchmark is None and again.budget == 5000 and again.budget_rule == problem.budget_rule
    np.testing.assert_array_equal(again.oracle.column(None)[0], problem.oracle.column(None)[0])
    a = run_search("RS", problem, seed=4)
    b = run_search("RS", again, seed=4)
    assert a.archs.tolist() == b.archs.tolist()
    bohb = run_search("BOHB", again, seed=4)  # the 200-epoch curves: re-read from the folder
    assert bohb.hp == "200" and bohb.archs.tolist() == run_search("BOHB", problem, seed=4).archs.tolist()
    np.testing.assert_array_equal(again.oracle.column(3)[0], problem.oracle.column(3)[0])  # read on demand


def test_parallel_runs_of_an_unpicklable_algorithm_equal_serial_ones(needle):
    bench, _ = needle

    def local(env, rng):  # a closure: cannot be pickled, runs in forked workers all the same
        sweep(env, rng)

    one = run_experiment({"local": local, "BOHB": "BOHB"}, bench, runs=5, seed=9, budget=4000)
    two = run_experiment({"local": local, "BOHB": "BOHB"}, bench, runs=5, seed=9, budget=4000, workers=2)
    cols = ["algorithm", "seed", "arch_index", "queries", "used_time"]
    assert one.runs[cols].equals(two.runs[cols])


def test_spawned_workers_get_the_pickled_problem_and_give_the_same_runs(needle, monkeypatch):
    from nb201.search import runner

    bench, _ = needle
    problem = SearchProblem.of(bench, budget=4000)
    one = run_experiment(["RS", "BOHB"], problem, runs=4, seed=9)
    monkeypatch.setattr(runner, "can_fork", lambda: False)
    two = run_experiment(["RS", "BOHB"], problem, runs=4, seed=9, workers=2)
    cols = ["algorithm", "seed", "arch_index", "queries", "used_time"]
    assert one.runs[cols].equals(two.runs[cols])


# ---- the budget rule -------------------------------------------------------------------------


def _flat_oracle(n_archs: int, split: str = "synthetic", hp: str = "12", cost: float = 50.0) -> Oracle:
    reward = np.full((NUM_ARCHS, 2), np.nan)
    cost_ = np.full((NUM_ARCHS, 2), np.nan)
    reward[:n_archs] = 90.0
    cost_[:n_archs] = cost
    cost_[:n_archs, 1] = 3 * cost  # seed mean 2 x cost
    return Oracle.from_arrays(reward, cost_, split=split, hp=hp)


def test_budget_rule_matches_the_papers_query_count():
    budget, rule = budget_rule(_flat_oracle(5000))
    assert budget == pytest.approx(PAPER_QUERIES * 100.0) and rule.startswith(
        f"{PAPER_QUERIES} median queries"
    )
    assert "12,000 s" in rule and "estimated" in rule  # the paper's count is our estimate, said so
    small, rule = budget_rule(_flat_oracle(60))
    assert small == pytest.approx(30 * 100.0) and "capped at half of the 60" in rule
    tiny, _ = budget_rule(_flat_oracle(10))
    assert tiny == pytest.approx(MIN_QUERIES * 100.0)
    paper, rule = budget_rule(_flat_oracle(5000, split="cifar10-valid"))
    assert paper == 12000.0 and "the paper's budget" in rule
    estimated, _ = budget_rule(_flat_oracle(5000, split="cifar10-valid"), estimated=True)
    assert estimated == pytest.approx(PAPER_QUERIES * 100.0)  # modelled seconds are not the paper's


def test_paper_equivalent_queries_is_the_papers_budget_over_the_median_query(needle):
    bench, _ = needle
    problem = SearchProblem.of(bench)
    assert paper_equivalent_queries(problem) == pytest.approx(
        12000.0 / problem_module.median_query_cost(problem.oracle)
    )


# ---- comparisons and findings --------------------------------------------------------------


def test_a_clear_signal_gets_a_direction_and_no_signal_is_indistinguishable(contrast):
    table = contrast.comparisons().set_index(["a", "b"])
    clear = table.loc[("sweep", "guess")]
    assert clear["verdict"] == "sweep higher" and clear["interval low"] > 0 and clear["pairs"] == 30
    same = table.loc[("RS", "RS again")]
    assert same["verdict"] == "indistinguishable" and same["a − b (points)"] == 0.0
    assert "indistinguishable" in same["sentence"] and "sweep has higher" in clear["sentence"]


def test_findings_are_a_few_sentences_from_the_numbers(contrast):
    lines = contrast.findings()
    assert 3 <= len(lines) <= 6
    assert lines[0].startswith("sweep scores highest") and "30 runs" in lines[0]
    assert any("sweep has higher" in line for line in lines)
    told = next(line for line in lines if " of the 6 pairs" in line)
    assert int(told.split()[0]) == (contrast.comparisons()["verdict"] != "indistinguishable").sum()
    numbers = contrast.key_numbers("needle")
    assert numbers["findings"] == lines and len(numbers["differences"]) == 6


def test_the_paper_ordering_sentence_counts_reproduced_reversed_and_ties(needle):
    bench, _ = needle
    exp = run_experiment(["RS", "REA"], bench, runs=8, seed=3, budget=3000)
    line = exp.findings()[-1]
    assert line.startswith("The paper orders REA > RS") and "its 1 pairwise ordering among" in line


# ---- trajectories ----------------------------------------------------------------------------


def test_trajectories_hold_every_query_and_export_in_one_call(contrast, tmp_path):
    traj = contrast.trajectories()
    assert list(traj.columns) == list(TRAJECTORY_COLUMNS)
    assert len(traj) == int(contrast.runs["queries"].sum())
    last = traj.groupby(["algorithm", "run"]).tail(1).reset_index(drop=True)
    np.testing.assert_array_equal(last["incumbent"], contrast.runs["arch_index"])
    assert (traj.loc[traj.algorithm == "sweep"].groupby("run")["regret"].last() == 0).all()
    for name in ("t.parquet", "t.csv", "t.csv.gz"):
        path = contrast.export_trajectories(tmp_path / name)
        back = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path)
        pd.testing.assert_frame_equal(back, traj, check_dtype=False)
    with pytest.raises(ValueError, match="parquet"):
        export(traj, tmp_path / "t.xlsx")


def test_curves_by_queries_step_through_each_runs_incumbent(contrast):
    curves = contrast.curves_by_queries()
    sweep_ = curves[curves.algorithm == "sweep"]
    assert sweep_["queries"].tolist() == list(range(1, int(contrast.runs["queries"].max()) + 1))
    assert sweep_["mean"].iloc[len(ARCHS) - 1] == pytest.approx(
        contrast.evaluation[contrast.curve_metric].max()
    )
    guess = curves[curves.algorithm == "guess"]
    assert guess["mean"].nunique() == 1  # one query, then the answer stands


# ---- the leaderboard -----------------------------------------------------------------------------


def _record(method: str, seed: int, arch: int, cpu: float = 36.0) -> dict:
    return {
        "schema": "nb201.search/1",
        "status": "ok",
        "spec": {"method": method, "seed": seed},
        "final": {"arch_index": arch},
        "cpu_time": cpu,
    }


def test_the_leaderboard_ranks_every_method_under_one_protocol(contrast, needle):
    _, best = needle
    outside = int(np.setdiff1d(np.arange(NUM_ARCHS), ARCHS)[0])
    records = [_record("gdas", s, best) for s in (1, 2, 3)] + [
        _record("darts-v1", 1, int(ARCHS[0])),
        _record("darts-v1", 2, outside),
    ]
    board = leaderboard(contrast, records).set_index("method")
    ours = board[~board.kind.str.startswith(("quoted", "reference"))]
    assert set(ours.index) == {"sweep", "guess", "RS", "RS again", "GDAS", "DARTS-V1"}
    # GDAS always finds the best architecture, as does the sweep: tied first
    assert (
        board.loc["GDAS", "rank"] == board.loc["sweep", "rank"] == 1
        and board.loc["GDAS", "kind"] == "one-shot"
    )
    assert board.loc["GDAS", "core-h per run"] == pytest.approx(0.01)
    assert "1 of 2 not in the benchmark" in board.loc["DARTS-V1", "fidelity"]
    assert board.loc["DARTS-V1", "n"] == 1 and "no spread" in board.loc["DARTS-V1", "accuracy"]
    assert (ours["rank low"] <= ours["rank"]).all() and (ours["rank"] <= ours["rank high"]).all()
    assert board.loc["sweep", "simulated s per run"] > 0 and board.loc["sweep", "kind"] == "multi-trial"
    quoted = board[board.kind.str.startswith("quoted")]
    assert {"REA (paper)", "GDAS (paper)", "ENAS (paper)", "ResNet (paper)"} <= set(quoted.index)
    assert quoted["rank"].isna().all() and board.loc["REA (paper)", "accuracy"] == "93.92 ± 0.30"
    assert list(board.kind)[-1].startswith("quoted")  # quoted rows last
    with pytest.raises(ValueError, match="nb201.search/1"):
        leaderboard(contrast, [{"schema": "other"}])


def test_rank_intervals_are_tight_for_clear_gaps_and_wide_for_ties():
    rng = np.random.default_rng(0)
    clear = rank_intervals({"a": rng.normal(10, 1, 50), "b": rng.normal(0, 1, 50)})
    assert clear.loc["a"].tolist() == [1, 1, 1] and clear.loc["b"].tolist() == [2, 2, 2]
    same = rank_intervals({"a": rng.normal(0, 1, 50), "b": rng.normal(0, 1, 50)})
    assert (same["rank low"] == 1).all() and (same["rank high"] == 2).all()


# ---- figures -------------------------------------------------------------------------------------


def test_search_figures_tell_lines_apart_without_colour(contrast):
    fig = plots.search_anytime(contrast.curves, contrast.curve_metric, optimum=1.0)
    lines = fig.axes[0].lines[:4]
    assert len(fig.axes[0].lines) == 5  # four algorithms and the optimum
    assert len({(ln.get_linestyle(), ln.get_marker()) for ln in lines}) == 4
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:4] == list(contrast.results)
    by_q = plots.search_anytime(contrast.curves_by_queries(), contrast.curve_metric, x="queries")
    ticks = by_q.axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks))  # a count axis has integer ticks
    regret = plots.search_regret(contrast.curves, 95.0, contrast.curve_metric)
    assert regret.axes[0].get_yscale() == "log"
    ecdf = plots.search_ecdf(contrast.runs, contrast.curve_metric)
    assert ecdf.axes[0].lines[0].get_ydata()[-1] == pytest.approx(1.0)
    # captions are read from the drawn data: every algorithm with its end value, colours named
    ends = contrast.curves.sort_values("time").groupby("algorithm")["mean"].last()
    for algo, value in ends.items():
        assert f"{algo} {value:.2f}" in fig.caption
    assert set(fig.colors) == set(contrast.results) and "median" in ecdf.caption
