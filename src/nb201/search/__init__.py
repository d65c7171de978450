"""Multi-trial NAS algorithms on the benchmark, and the protocol that compares them.

Every algorithm searches under the paper's rules: a query trains an architecture once on
`cifar10-valid` with the 12-epoch schedule (one random seed), its reward is the x-valid
accuracy, its cost (training time plus one validation pass) goes on a simulated clock,
and the search ends when the next query would overrun the budget (the paper's 12,000 s on
its own setting; elsewhere as many queries as those buy, `nb201.search.problem.budget_rule`).
That question is a `SearchProblem`, built once (`SearchProblem.of(bench)`) and handed to
every run: it holds compact numpy oracles, so that 500 runs take seconds.

    from nb201.benchmark import Benchmark
    from nb201.search import ALGORITHMS, SearchProblem, run_experiment

    bench = Benchmark.open("data/benchmarks/nb201")
    problem = SearchProblem.of(bench)                            # resolved and checked once
    result = ALGORITHMS["REA"](problem, seed=3)                  # one run
    result.arch, result.trace[:2]                                # answer; (time, arch, reward)
    assert result.replay(bench).arch_index == result.arch_index  # replays from its seed

    exp = run_experiment(["RS", "REA", "REINFORCE", "BOHB"], bench, runs=500)
    exp.summary()       # mean ± std per algorithm and dataset, the optimum, the paper's rows
    exp.comparisons()   # paired differences with bootstrap intervals ("indistinguishable" ...)
    exp.findings()      # the sentences a report opens with
    exp.curves          # best-so-far test accuracy vs simulated time: mean, std, quartiles
    exp.runs            # one row per run: seed, answer, its accuracy on every dataset
    exp.export_trajectories("runs.parquet")                      # every query of every run

`nb201.search.leaderboard.leaderboard(exp, one_shot_records)` ranks these with the six
one-shot methods and the paper's quoted rows; `docs/search.md` walks through all of it.

On your own benchmark pass the split and (if it has several) the schedule:
`run_experiment(..., dataset="digits")` uses its only hp.

Your own algorithm is a function of the environment and a numpy Generator; it queries
until the budget is spent and may return its answer (default: the best reward seen).
Registered, it runs under the same protocol as the paper's algorithms:

    import numpy as np
    from nb201.search import index_of, ops_of, register, run_experiment

    @register("local-search")
    def local_search(env, rng, restarts_after: int = 20):
        best, best_reward, stale = env.random_arch(rng), -np.inf, 0
        while not env.exhausted:
            ops = ops_of(best).copy()
            ops[rng.integers(6)] = rng.integers(5)           # a random single-edge move
            arch = index_of(ops) if stale < restarts_after else env.random_arch(rng)
            reward = env.query(arch)                         # None once the budget is spent
            if reward is not None and reward > best_reward:
                best, best_reward, stale = arch, reward, 0
            else:
                stale += 1

    run_experiment(["RS", "local-search"], bench, runs=100).summary()

Passing the function itself, `run_experiment([local_search], ...)`, works without
registering; settings are its keyword arguments (`settings={"local-search":
{"restarts_after": 10}}`). `env.query(arch)` takes an official index, an `Arch`, an arch
string or an op tuple; `env.available` lists what the benchmark holds; `env.used`,
`env.remaining` and `env.budget` are the simulated clock.
"""

from nb201.search import bohb, random_search, rea, reinforce  # noqa: F401  (registers the algorithms)
from nb201.search.base import (
    ALGORITHMS,
    Algorithm,
    BudgetExhausted,
    SearchEnv,
    SearchResult,
    as_algorithm,
    index_of,
    ops_of,
    register,
    run_search,
)
from nb201.search.experiment import PAPER_RESULTS, Experiment, evaluation_table, run_experiment
from nb201.search.oracle import Oracle, build_oracle
from nb201.search.problem import SearchProblem, budget_rule

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BudgetExhausted",
    "Experiment",
    "Oracle",
    "PAPER_RESULTS",
    "SearchEnv",
    "SearchProblem",
    "SearchResult",
    "as_algorithm",
    "budget_rule",
    "build_oracle",
    "evaluation_table",
    "index_of",
    "ops_of",
    "register",
    "run_experiment",
    "run_search",
]
