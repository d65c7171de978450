"""nb201.search: the simulated-clock protocol and the four multi-trial algorithms.

Benchmarks here are synthetic (written with the store's own writer) so that the optimum
and the structure are known: an algorithm that uses structure must beat random search,
and every algorithm must find a clearly best architecture far more often than chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import write_synthetic

from nb201.benchmark import Benchmark
from nb201.search import (
    ALGORITHMS,
    PAPER_RESULTS,
    BudgetExhausted,
    Oracle,
    SearchEnv,
    index_of,
    ops_of,
    register,
    run_experiment,
    run_search,
)
from nb201.search.base import ALGORITHMS as REGISTRY
from nb201.search.problem import PAPER_QUERIES
from nb201.search.rea import mutate
from nb201.search.reinforce import _Adam
from nb201.space import NUM_ARCHS, Arch

PAPER_ALGOS = ["RS", "REA", "REINFORCE", "BOHB"]
ALL_OPS = ops_of(np.arange(NUM_ARCHS))


def nb201_like_quality(seed: int = 0) -> np.ndarray:
    """Additive quality with the same op ranking on every edge (conv3x3 > conv1x1 > skip >
    pool > none, as on the real benchmark) plus per-edge perturbations; in [0, 1]."""
    rng = np.random.default_rng(seed)
    w = np.array([-3.0, 0.0, 1.0, 2.0, -1.0]) + 0.5 * rng.normal(size=(6, 5))
    q = w[np.arange(6), ALL_OPS].sum(axis=1)
    return (q - q.min()) / (q.max() - q.min())


@pytest.fixture(scope="module")
def structured(tmp_path_factory):
    """Full space, only the search split and the 12-epoch schedule (no hp 200)."""
    q = nb201_like_quality(0)
    root = write_synthetic(
        tmp_path_factory.mktemp("structured"),
        seeds=(1, 2),
        hps={"12": 12},
        splits=("cifar10-valid",),
        quality=q,
    )
    return Benchmark.open(root), q


NEEDLE_ARCHS = np.sort(np.random.default_rng(5).choice(NUM_ARCHS, size=60, replace=False))


@pytest.fixture(scope="module")
def needle(tmp_path_factory):
    """60 architectures, one clearly best; cifar10-valid (12 and 200 epochs) and cifar10 (200)."""
    q = np.random.default_rng(6).uniform(0.0, 0.5, size=len(NEEDLE_ARCHS))
    best = int(NEEDLE_ARCHS[17])
    q[17] = 1.0
    root = write_synthetic(tmp_path_factory.mktemp("needle"), archs=NEEDLE_ARCHS, seeds=(1, 2, 3), quality=q)
    return Benchmark.open(root), best


def constant_oracle(cost: float = 100.0) -> Oracle:
    reward = 80.0 + 10.0 * nb201_like_quality(1)[:, None] + np.zeros((NUM_ARCHS, 2))
    return Oracle.from_arrays(reward, np.full((NUM_ARCHS, 2), cost))


# ---- the simulated clock ---------------------------------------------------------------


def test_env_refuses_the_query_that_would_overrun_and_charges_nothing_for_it():
    env = SearchEnv(constant_oracle(100.0), 250.0, np.random.default_rng(0))
    assert env.query(0) is not None and env.query(Arch.from_index(1)) is not None
    assert env.used == 200.0 and not env.exhausted
    assert env.query(2) is None
    assert env.exhausted and env.used == 200.0 and env.n_queries == 2
    with pytest.raises(BudgetExhausted, match="env.exhausted"):
        env.query(3)


@pytest.mark.parametrize("name", PAPER_ALGOS)
def test_every_algorithm_spends_exactly_what_fits(name):
    # 100 s per query and a budget of 2,050 s: exactly 20 queries, never a 21st.
    for seed in (0, 1):
        r = run_search(name, constant_oracle(100.0), budget=2050, seed=seed)
        assert r.n_queries == 20
        assert r.used_time == pytest.approx(2000.0)
        assert np.all(np.diff(r.times) > 0)


@pytest.mark.parametrize("name", PAPER_ALGOS)
@pytest.mark.parametrize("budget", [3000.0, 12000.0])
def test_budget_is_never_exceeded_on_a_benchmark(name, budget, needle):
    bench, _ = needle
    for seed in range(3):
        r = ALGORITHMS[name](bench, budget=budget, seed=seed)
        assert 0 < r.used_time <= budget
        assert r.times[-1] == r.used_time and np.all(np.diff(r.times) > 0)
        assert r.arch_index in set(NEEDLE_ARCHS.tolist())


# ---- determinism and replay --------------------------------------------------------------


@pytest.mark.parametrize("name", PAPER_ALGOS)
def test_deterministic_for_a_seed_and_replayable(name, needle):
    bench, _ = needle
    a = ALGORITHMS[name](bench, budget=6000, seed=11)
    b = ALGORITHMS[name](bench, budget=6000, seed=11)
    c = ALGORITHMS[name](bench, budget=6000, seed=12)
    for field in ("times", "archs", "rewards", "epochs"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.arch_index == b.arch_index
    assert not (len(a.archs) == len(c.archs) and np.array_equal(a.archs, c.archs))
    replay = a.replay(bench)
    np.testing.assert_array_equal(replay.archs, a.archs)
    assert replay.arch_index == a.arch_index and replay.settings == a.settings
    t, arch, reward = a.trace[0]
    assert isinstance(arch, Arch) and t == a.times[0] and reward == a.rewards[0]


def test_bohb_restores_global_random_state(needle):
    bench, _ = needle
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    ALGORITHMS["BOHB"](bench, budget=3000, seed=0)
    assert np.random.random() == expected


# ---- finding the best -------------------------------------------------------------------


@pytest.mark.parametrize("name, settings", [("RS", {}), ("REA", {}), ("REINFORCE", {}), ("BOHB", {})])
def test_finds_a_clearly_best_architecture_far_more_often_than_chance(name, settings, needle):
    bench, best = needle
    runs = 30
    found = sum(
        ALGORITHMS[name](bench, budget=12000, seed=s, **settings).arch_index == best for s in range(runs)
    )
    chance = 1 / len(NEEDLE_ARCHS)
    assert found / runs >= 5 * chance, f"{name} found the best architecture in {found}/{runs} runs"


def test_rea_and_reinforce_beat_random_search_on_structure(structured):
    bench, q = structured
    runs = 150

    def mean_quality(name, **settings):
        return np.mean([q[ALGORITHMS[name](bench, seed=s, **settings).arch_index] for s in range(runs)])

    rs = mean_quality("RS")
    # std of one run's answer is ~0.05 here, so 0.03 is > 7 standard errors of the difference.
    assert mean_quality("REA") > rs + 0.03
    # REINFORCE at its default lr 0.001 (the NB201 launcher's) moves each logit by at most
    # ~0.001 per Adam step: over the ~100 queries of this budget its policy stays within a
    # few percent of uniform, so it *is* random search here (as in the paper, where its edge
    # over RS was 0.15 pp). The test therefore checks that (a) the default is statistically
    # indistinguishable from RS, and (b) the policy gradient exploits structure at NATS-Bench's
    # larger rate 0.01 once the budget allows more updates (x4).
    default = mean_quality("REINFORCE")
    assert abs(default - rs) < 0.03
    fast = [ALGORITHMS["REINFORCE"](bench, budget=48000, seed=s, learning_rate=0.01) for s in range(60)]
    slow_rs = [ALGORITHMS["RS"](bench, budget=48000, seed=s) for s in range(60)]
    assert np.mean([q[r.arch_index] for r in fast]) > np.mean([q[r.arch_index] for r in slow_rs]) + 0.01


# ---- algorithm internals -----------------------------------------------------------------


def test_reinforce_update_equals_torch_adam_on_the_original_loss():
    rng = np.random.default_rng(0)
    logits = 1e-3 * rng.standard_normal((6, 5))
    param = torch.nn.Parameter(torch.tensor(logits.copy()))
    opt = torch.optim.Adam([param], lr=0.5)
    adam = _Adam(logits.shape, 0.5)
    num = den = 0.0
    for _ in range(25):
        action, reward = rng.integers(5, size=6), 80 + 10 * rng.random()
        num, den = 0.9 * num + 0.1 * reward, 0.9 * den + 0.1
        advantage = reward - num / den
        dist = torch.distributions.Categorical(torch.softmax(param, dim=-1))
        loss = (-dist.log_prob(torch.tensor(action)) * advantage).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = z / z.sum(axis=1, keepdims=True)
        onehot = np.eye(5)[action]
        adam.step(logits, (probs - onehot) * advantage)
    np.testing.assert_allclose(logits, param.detach().numpy(), atol=1e-10)


def test_reinforce_gradient_on_a_partial_benchmark_is_that_of_the_renormalized_policy():
    from nb201.search.reinforce import _renorm_grad

    rng = np.random.default_rng(1)
    sub = ALL_OPS[np.sort(rng.choice(NUM_ARCHS, size=40, replace=False))]
    logits = rng.normal(size=(6, 5))
    action, advantage = sub[7], 1.7
    theta = torch.tensor(logits, requires_grad=True)
    scores = theta[torch.arange(6), torch.tensor(sub)].sum(dim=1)  # [40] log-potentials
    loss = -(scores[7] - torch.logsumexp(scores, dim=0)) * advantage
    loss.backward()
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    mine = (probs - np.eye(5)[action]) * advantage + _renorm_grad(sub, logits, advantage)
    np.testing.assert_allclose(mine, theta.grad.numpy(), atol=1e-10)


def test_rea_mutation_changes_one_edge_choosing_the_node_first():
    rng = np.random.default_rng(0)
    parent = Arch.from_string(
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    )
    edges = []
    for _ in range(3000):
        diff = np.flatnonzero(ops_of(mutate(parent.index, rng)) != np.array(parent.op_ids()))
        assert len(diff) == 1
        edges.append(diff[0])
    share = np.bincount(edges, minlength=6) / len(edges)
    assert share[0] == pytest.approx(1 / 3, abs=0.03)  # node 1 has one input edge
    assert share[5] == pytest.approx(1 / 9, abs=0.03)  # node 3 has three


def test_index_and_ops_tables_round_trip():
    idx = np.arange(0, NUM_ARCHS, 37)
    np.testing.assert_array_equal(index_of(ops_of(idx)), idx)
    a = Arch.from_index(4321)
    assert index_of(a.op_ids()) == 4321 and tuple(ops_of(4321)) == a.op_ids()


def test_random_seed_per_query_comes_only_from_runs_that_exist():
    reward = np.full((NUM_ARCHS, 3), np.nan)
    cost = np.full((NUM_ARCHS, 3), 10.0)
    reward[:, 2] = 50.0  # only the third seed exists for every arch ...
    reward[7] = [60.0, 70.0, np.nan]  # ... except arch 7, which has the first two
    oracle = Oracle.from_arrays(reward, cost)
    env = SearchEnv(oracle, 1e9, np.random.default_rng(0))
    assert {env.query(3) for _ in range(50)} == {50.0}
    assert {env.query(7) for _ in range(200)} == {60.0, 70.0}


def test_bohb_reads_the_200_epoch_curve_at_hpbandsters_budgets(needle):
    bench, _ = needle
    r = ALGORITHMS["BOHB"](bench, budget=12000, seed=3)
    assert r.hp == "200"
    assert set(r.epochs.tolist()) <= {22, 66, 200}  # budgets 200 * 3^-k, read after int(b) epochs
    top = r.epochs == r.epochs.max()
    assert r.arch_index == r.archs[top][np.argmax(r.rewards[top])]


def test_bohb_falls_back_to_the_longest_curves_with_scaled_epochs(structured):
    bench, _ = structured
    r = ALGORITHMS["BOHB"](bench, budget=3000, seed=0)
    assert r.hp == "12" and set(r.epochs.tolist()) <= {1, 4, 12}


# ---- bad input ---------------------------------------------------------------------------


def test_bad_settings_give_clear_errors(needle):
    bench, _ = needle
    with pytest.raises(ValueError, match="budget must be a positive"):
        ALGORITHMS["RS"](bench, budget=-5, seed=0)
    with pytest.raises(ValueError, match="budget must be a positive"):
        ALGORITHMS["RS"](bench, budget=float("nan"), seed=0)
    with pytest.raises(KeyError, match="unknown dataset 'cifar7'"):
        ALGORITHMS["RS"](bench, dataset="cifar7")
    with pytest.raises(KeyError, match="no hp '7'"):
        ALGORITHMS["REA"](bench, hp="7")
    short = ALGORITHMS["REA"](bench, budget=500, seed=0)  # ~4 queries cannot fill a population of 10
    assert 0 < short.n_queries < 10 and short.arch_index == short.archs[np.argmax(short.rewards)]
    with pytest.raises(ValueError, match="sample_size"):
        ALGORITHMS["REA"](bench, sample_size=11)
    with pytest.raises(TypeError, match="population_size"):
        ALGORITHMS["REA"](bench, populaton_size=5)
    with pytest.raises(ValueError, match="learning_rate"):
        ALGORITHMS["REINFORCE"](bench, learning_rate=-0.5)
    with pytest.raises(ValueError, match="min_budget"):
        ALGORITHMS["BOHB"](bench, min_budget=300)
    with pytest.raises(ValueError, match="seed"):
        ALGORITHMS["RS"](bench, seed=-1)
    with pytest.raises(ValueError, match="single query"):
        ALGORITHMS["RS"](bench, budget=1.0)
    with pytest.raises(KeyError, match="unknown algorithm 'ENAS'"):
        run_search("ENAS", bench)
    with pytest.raises(KeyError, match="unknown algorithm"):
        run_experiment(["RS", "ENAS"], bench, runs=2)
    with pytest.raises(ValueError, match="runs"):
        run_experiment(["RS"], bench, runs=0)
    with pytest.raises(KeyError, match="settings given for"):
        run_experiment(["RS"], bench, runs=2, settings={"REA": {"sample_size": 2}})
    env = SearchEnv(Oracle.from_arrays(*_one_arch_arrays()), 1e6, np.random.default_rng(0))
    with pytest.raises(KeyError, match="not an architecture of the space"):
        env.query(NUM_ARCHS + 5)


def test_a_query_of_a_missing_architecture_is_free_and_returns_none():
    env = SearchEnv(Oracle.from_arrays(*_one_arch_arrays()), 25.0, np.random.default_rng(0))
    assert env.query(5) is None
    assert not env.exhausted and env.used == 0.0 and env.misses == 1 and env.n_queries == 0
    assert not env.contains(5) and env.contains(3) and env.contains(Arch.from_index(3))
    assert env.query(3) == 90.0 and env.used == 10.0
    env.MAX_CONSECUTIVE_MISSES = 50  # an algorithm that only proposes missing cells cannot loop forever
    with pytest.raises(RuntimeError, match="does not hold"):
        while True:
            env.query(5)


def local_search(env, rng, restarts_after: int = 20):
    """The README's plug-in, verbatim: written for the full space, unaware of subsets."""
    best, best_r, stale = env.random_arch(rng), -np.inf, 0
    while not env.exhausted:
        ops = ops_of(best).copy()
        ops[rng.integers(6)] = rng.integers(5)
        arch = index_of(ops) if stale < restarts_after else env.random_arch(rng)
        reward = env.query(arch)
        if reward is not None and reward > best_r:
            best, best_r, stale = arch, reward, 0
        else:
            stale += 1


@pytest.mark.parametrize("name", [*PAPER_ALGOS, "local-search"])
def test_every_algorithm_searches_a_benchmark_holding_a_subset(name, needle):
    """60 of 15,625 cells: single-edge moves almost always leave the benchmark; no algorithm
    may crash, spend budget on a cell it cannot train, or answer one outside the benchmark."""
    bench, _ = needle
    algo = local_search if name == "local-search" else name
    for seed in range(3):
        r = run_search(algo, bench, budget=6000, seed=seed)
        held = set(NEEDLE_ARCHS.tolist())
        assert r.arch_index in held and set(r.archs.tolist()) <= held
        assert 0 < r.used_time <= 6000


def test_default_dataset_is_the_benchmarks_when_unambiguous(tmp_path, needle):
    bench, _ = needle
    assert run_search("RS", bench, budget=3000).dataset == "cifar10-valid"  # the paper's, when present
    two = Benchmark.open(
        write_synthetic(tmp_path / "two", archs=NEEDLE_ARCHS, splits=("digits", "cifar100"), hps={"c": 3})
    )
    with pytest.raises(KeyError, match="several datasets"):
        run_search("RS", two, budget=3000)
    assert run_search("RS", two, budget=3000, dataset="digits").dataset == "digits"


def _one_arch_arrays():
    reward = np.full((NUM_ARCHS, 1), np.nan)
    reward[3] = 90.0
    return reward, np.full((NUM_ARCHS, 1), 10.0)


# ---- plugging in your own algorithm and the experiment protocol -----------------------


def test_user_algorithm_plugs_in_registered_or_passed_directly(needle):
    bench, best = needle

    def greedy_sweep(env, rng, stride: int = 1):
        for arch in env.available[::stride].tolist():
            if env.query(arch) is None:
                break

    try:
        register("sweep-test")(greedy_sweep)
        exp = run_experiment(
            {"sweep": "sweep-test", "sweep2": greedy_sweep}, bench, runs=3, settings={"sweep2": {"stride": 2}}
        )
    finally:
        REGISTRY.pop("sweep-test", None)
    assert set(exp.runs["algorithm"]) == {"sweep", "sweep2"}
    assert (exp.runs.loc[exp.runs.algorithm == "sweep", "arch_index"] == best).all()  # it visits all 60
    assert exp.results["sweep2"][0].settings == {"stride": 2}
    with pytest.raises(ValueError, match="already registered"):
        register("RS")(greedy_sweep)


def test_run_experiment_tables_curves_and_paper_rows(needle):
    bench, best = needle
    exp = run_experiment(["RS", "REA", "REINFORCE", "BOHB"], bench, runs=6, seed=4, grid=25)
    assert list(exp.evaluation.columns) == [
        "cifar10-valid/x-valid",
        "cifar10-valid/ori-test",
        "cifar10/ori-test",
    ]
    assert exp.curve_metric == "cifar10/ori-test"
    runs = exp.runs
    assert len(runs) == 24 and set(runs.algorithm) == set(PAPER_ALGOS)
    assert (runs.used_time <= 12000).all()
    # paired design: run k of every algorithm has the same seed
    assert runs.groupby("run")["seed"].nunique().eq(1).all()
    scores = exp.evaluation.loc[runs.arch_index, "cifar10/ori-test"].to_numpy()
    np.testing.assert_allclose(runs["cifar10/ori-test"].to_numpy(), scores)
    table = exp.summary(formatted=False)
    assert table.loc["optimal", ("cifar10/ori-test", "mean")] == pytest.approx(
        exp.evaluation["cifar10/ori-test"].max()
    )
    assert exp.evaluation["cifar10/ori-test"].idxmax() == best
    assert (
        table.loc["REA (paper)", ("cifar10/ori-test", "mean")] == PAPER_RESULTS["REA"]["cifar10/ori-test"][0]
    )
    text = exp.summary()
    assert text.loc["REA (paper)", "cifar10/ori-test"] == "93.92 ± 0.30"
    assert text.loc["ResNet (paper)", "cifar10/ori-test"] == "93.97 ± 0.00"
    # the reward (cifar10-valid/x-valid, from the training images) is not reported; ori-test is disjoint
    assert exp.datasets == ["cifar10-valid/ori-test", "cifar10/ori-test"]
    assert any(line.startswith("Rows marked (paper) are quoted") for line in exp.protocol())
    assert "12,000 simulated seconds" in exp.budget_rule
    assert text.loc["RS", "cifar10/ori-test"].count("±") == 1
    curves = exp.curves
    assert len(curves) == 4 * 25
    first, last = curves[curves.time == 0], curves[curves.time == 12000]
    assert (first.answered == 0).all() and (last.answered == 1).all() and last["mean"].notna().all()
    rs = exp.results["RS"][0]
    np.testing.assert_array_equal(rs.incumbents[-1], rs.arch_index)


def test_own_benchmark_with_one_hp_and_no_cifar(tmp_path):
    """A digits-like benchmark: one split with x-valid/x-test/ori-test, one short schedule."""
    archs = np.sort(np.random.default_rng(1).choice(NUM_ARCHS, size=200, replace=False))
    bench = Benchmark.open(
        write_synthetic(tmp_path / "digits", archs=archs, seeds=(0, 1), splits=("digits",), hps={"cheap": 5})
    )
    exp = run_experiment(PAPER_ALGOS, bench, runs=3, budget=3000, dataset="digits")
    assert list(exp.evaluation.columns) == ["digits/x-valid", "digits/x-test", "digits/ori-test"]
    assert exp.curve_metric == "digits/x-test"
    assert "REA (paper)" not in exp.summary().index  # no CIFAR-10 column to compare with
    bohb = exp.results["BOHB"][0]
    assert bohb.hp == "cheap" and set(bohb.epochs.tolist()) <= {1, 5}  # 22.2, 66.7, 200 of 200 -> of 5
    assert all(r.hp == "cheap" and r.dataset == "digits" for rs in exp.results.values() for r in rs)
    assert run_experiment(["RS"], bench, runs=1, budget=3000).dataset == "digits"  # its only split
    # reward x-valid is half of the test images and ori-test their union: neither is reported
    assert exp.datasets == ["digits/x-test"]
    assert list(exp.summary().columns) == ["digits/x-test"]
    lines = exp.protocol()
    assert any(line.startswith("Reward: digits/x-valid") for line in lines)
    assert any(line.startswith("Reported: digits/x-test") for line in lines)
    assert any("paper's rows are not shown" in line for line in lines)
    auto = run_experiment(["RS"], bench, runs=2)
    # 200 held archs: the paper-matched 100 queries, half of them, not capped
    assert auto.budget_rule.startswith(f"{PAPER_QUERIES} median queries") and "capped" not in auto.budget_rule


def test_parallel_workers_give_the_same_runs(needle):
    bench, _ = needle
    one = run_experiment(["RS", "REA", "BOHB"], bench, runs=5, seed=9, workers=1)
    two = run_experiment(["RS", "REA", "BOHB"], bench, runs=5, seed=9, workers=2)
    cols = ["algorithm", "seed", "arch_index", "queries", "used_time"]
    assert one.runs[cols].equals(two.runs[cols])
