"""What every search algorithm shares: the simulated clock, the result, the registry.

An algorithm is a plain function `fn(env, rng, **settings)` that calls `env.query(arch)`
until `env.exhausted`. The environment charges each query's simulated training time to a
clock and refuses the query that would overrun the budget, so no algorithm can cheat the
protocol and every algorithm is compared under the same rules. Determinism comes from one
seed: it is split into an independent stream for the algorithm (`rng`) and one for the
environment's choice of training seed per query, so a run replays exactly from its seed.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nb201.benchmark.protocol import SimulatedClock
from nb201.search.oracle import Oracle
from nb201.search.problem import SearchProblem, Source
from nb201.space import EDGES, NUM_ARCHS, NUM_EDGES, OPS, Arch, all_archs

NUM_OPS = len(OPS)
_POW = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1)


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    ops = np.array([a.op_ids() for a in all_archs()], dtype=np.int64)  # [NUM_ARCHS, 6]
    index_of_code = np.empty(NUM_ARCHS, dtype=np.int64)
    index_of_code[ops @ _POW] = np.arange(NUM_ARCHS)
    ops.setflags(write=False)
    index_of_code.setflags(write=False)
    return ops, index_of_code


def ops_of(index: int | np.ndarray) -> np.ndarray:
    """Op ids (`[6]` or `[n, 6]`) of official architecture indices; vectorized."""
    return _tables()[0][index]


def index_of(op_ids: Sequence[int] | np.ndarray) -> int | np.ndarray:
    """Official index of op-id vectors (`[6]` -> int, `[n, 6]` -> `[n]`); vectorized."""
    code = np.asarray(op_ids, dtype=np.int64) @ _POW
    out = _tables()[1][code]
    return int(out) if np.ndim(out) == 0 else out


class BudgetExhausted(RuntimeError):
    """Raised by `SearchEnv.query` when called again after the budget ran out."""


class SearchEnv:
    """The simulated clock an algorithm searches against.

    The clock is a `nb201.benchmark.protocol.SimulatedClock` (the one `Benchmark.simulate_train_eval`
    charges too), with the query's cost read from the oracle (`nb201.benchmark.protocol.query_cost`).
    `query(arch)` trains `arch` once (a random seed of the benchmark) and returns its
    reward, charging the run's cost. A query that would push the clock past the budget is
    not run: it returns None and the env becomes `exhausted`, which ends the search. The
    budget is therefore never exceeded, and the refused query is not part of the trace.

    A benchmark may hold only part of the space (a sample trained on a CPU). A query of an
    architecture it does not hold also returns None, but spends nothing and leaves
    `exhausted` False: nothing was trained, so nothing is charged, and an algorithm written
    for the full space (e.g. a mutation that lands outside the sample) keeps searching
    instead of crashing. `env.misses` counts such queries; `env.contains(arch)` and
    `env.available` let an algorithm avoid them. So that a search that only ever proposes
    missing architectures cannot loop forever, `MAX_CONSECUTIVE_MISSES` misses in a row
    raise a RuntimeError.
    """

    MAX_CONSECUTIVE_MISSES = 100_000

    def __init__(self, oracle: Oracle, budget: float, rng: np.random.Generator):
        self.oracle = oracle
        self.clock = SimulatedClock(budget)
        self.exhausted = False
        self.max_epochs = oracle.num_epochs  # of the learning curves `query(..., epochs=)` reads
        self._rng = rng
        self._n_seeds = oracle.n_seeds
        self._final = oracle.column(None)
        self._u = rng.random(256)
        self._k = 0
        self._times: list[float] = []
        self._archs: list[int] = []
        self._rewards: list[float] = []
        self._epochs: list[int] = []
        self._best = (-1, -math.inf)  # (epochs, reward) of the incumbent
        self._best_arch = -1
        self.misses = 0  # queries of architectures the benchmark does not hold (free, None)
        self._miss_run = 0

    # ---- the search space, as the benchmark holds it --------------------------------
    @property
    def available(self) -> np.ndarray:
        """Official indices of the architectures this benchmark has results for."""
        return self.oracle.available

    @property
    def full_space(self) -> bool:
        return len(self.oracle.available) == NUM_ARCHS

    def contains(self, arch: Any) -> bool:
        """Whether the benchmark holds `arch` (index, `Arch`, string or op tuple)."""
        index = arch if type(arch) is int else _to_index(arch)
        return 0 <= index < NUM_ARCHS and self._n_seeds[index] > 0

    def random_arch(self, rng: np.random.Generator) -> int:
        """A uniformly random architecture of the benchmark (official index)."""
        avail = self.oracle.available
        return int(avail[rng.integers(len(avail))])

    @property
    def budget(self) -> float:
        """Simulated seconds the search may spend."""
        return self.clock.budget

    @property
    def used(self) -> float:
        """Simulated seconds spent so far (never above `budget`)."""
        return self.clock.used

    @property
    def remaining(self) -> float:
        return self.clock.remaining

    @property
    def n_queries(self) -> int:
        return len(self._archs)

    @property
    def incumbent(self) -> int:
        """The current answer: best reward seen at the largest fidelity seen (-1 before any query)."""
        return self._best_arch

    # ---- the one thing an algorithm does ---------------------------------------------
    def query(self, arch: Any, epochs: int | None = None) -> float | None:
        """Reward of one training run of `arch` (index, `Arch`, string or op tuple).

        `epochs` (multi-fidelity algorithms) reads the learning curve after that many
        epochs and charges only their time; None means the full schedule. Returns None
        when the budget cannot pay for the run (the env is then `exhausted`) or when the
        benchmark does not hold `arch` (free; `exhausted` stays False, `misses` grows).
        """
        if self.exhausted:
            raise BudgetExhausted(
                f"the budget of {self.budget:g} simulated seconds is spent; "
                "stop querying when env.exhausted is True."
            )
        idx = arch if type(arch) is int else _to_index(arch)
        k = self._n_seeds[idx] if 0 <= idx < NUM_ARCHS else 0
        if k == 0:
            if not 0 <= idx < NUM_ARCHS:
                raise KeyError(f"{arch!r} is not an architecture of the space (0 <= index < {NUM_ARCHS}).")
            self.misses += 1
            self._miss_run += 1
            if self._miss_run >= self.MAX_CONSECUTIVE_MISSES:
                raise RuntimeError(
                    f"{self._miss_run} queries in a row asked for architectures this benchmark does not "
                    f"hold (it holds {len(self.oracle.available)}); propose from env.available or "
                    "check env.contains(arch) first."
                )
            return None
        self._miss_run = 0
        if self._k == len(self._u):
            self._u = self._rng.random(256)
            self._k = 0
        s = int(self._u[self._k] * k)
        self._k += 1
        if epochs is None:
            reward_col, cost_col = self._final
            e = self.oracle.num_epochs
        else:
            e = int(epochs)
            reward_col, cost_col = self.oracle.column(e - 1)
        clock = self.clock
        if not clock.charge(cost_col[idx, s]):
            self.exhausted = True
            return None
        reward = float(reward_col[idx, s])
        self._times.append(clock.used)
        self._archs.append(idx)
        self._rewards.append(reward)
        self._epochs.append(e)
        if e > self._best[0] or (e == self._best[0] and reward > self._best[1]):
            self._best = (e, reward)
            self._best_arch = idx
        return reward


def _to_index(arch: Any) -> int:
    if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
        return int(arch)
    return Arch.coerce(arch).index


@dataclass(frozen=True)
class SearchResult:
    """One search run: its answer, its full trace, and what is needed to replay it."""

    algorithm: str
    seed: int
    budget: float
    dataset: str
    hp: str
    metric: str
    settings: dict[str, Any]
    arch_index: int
    times: np.ndarray  # float64 [n]: the simulated clock after each query
    archs: np.ndarray  # int64 [n]: official index queried
    rewards: np.ndarray  # float64 [n]
    epochs: np.ndarray  # int64 [n]: training epochs the reward was read after
    incumbents: np.ndarray = field(repr=False, default=None)  # int64 [n]: the answer after each query

    @property
    def arch(self) -> Arch:
        return Arch.from_index(self.arch_index)

    @property
    def trace(self) -> list[tuple[float, Arch, float]]:
        """(simulated time, architecture, reward) per query, in order."""
        return [
            (float(t), Arch.from_index(int(a)), float(r))
            for t, a, r in zip(self.times, self.archs, self.rewards)
        ]

    @property
    def used_time(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0

    @property
    def n_queries(self) -> int:
        return len(self.archs)

    def replay(self, benchmark: Source) -> SearchResult:
        """Run the same algorithm again from this result's seed and settings, on
        `benchmark` (a Benchmark, its folder, an Oracle or the run's `SearchProblem`)."""
        if isinstance(benchmark, SearchProblem):
            problem = benchmark.with_budget(self.budget)
        else:
            problem = SearchProblem.of(
                benchmark, dataset=self.dataset, hp=self.hp, metric=self.metric, budget=self.budget
            )
        algo = as_algorithm(self.algorithm)
        return run_one(algo, problem, self.seed, algo.resolve(self.settings))


def _incumbents(archs: np.ndarray, rewards: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Index of the answer after each query: best reward at the largest fidelity so far."""
    n = len(archs)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    if epochs.min() == epochs.max():  # single fidelity: a running argmax, vectorized
        best = np.maximum.accumulate(rewards)
        is_new = np.r_[True, rewards[1:] > best[:-1]]
        pos = np.maximum.accumulate(np.where(is_new, np.arange(n), 0))
        return archs[pos]
    be, br, ba = -1, -math.inf, -1
    for i in range(n):
        e, r = epochs[i], rewards[i]
        if e > be or (e == be and r > br):
            be, br, ba = e, r, archs[i]
        out[i] = ba
    return out


# ---- algorithms and their registry -------------------------------------------------------

SearchFn = Callable[..., Any]


@dataclass(frozen=True)
class Algorithm:
    """A registered search algorithm: the function plus its published default settings.

    `curve_hp` marks a multi-fidelity algorithm: it searches on that hp's learning curves
    (the original BOHB reads the 200-epoch curves), falling back to the hp of the search
    split with the most epochs when the benchmark lacks it.
    """

    name: str
    fn: SearchFn
    defaults: Mapping[str, Any]
    curve_hp: str | None = None
    check: Callable[[Mapping[str, Any]], None] | None = None

    def __call__(
        self,
        benchmark: Source,
        budget: float | None = None,
        seed: int = 0,
        *,
        dataset: str | None = None,
        hp: str | None = None,
        **settings: Any,
    ) -> SearchResult:
        return run_search(self, benchmark, budget, seed, dataset=dataset, hp=hp, **settings)

    def resolve(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name} has no setting(s) {unknown}; its settings are {sorted(self.defaults)}."
            )
        out = {**self.defaults, **settings}
        if self.check is not None:
            self.check(out)
        return out


ALGORITHMS: dict[str, Algorithm] = {}


def register(
    name: str | None = None,
    *,
    curve_hp: str | None = None,
    check: Callable[[Mapping[str, Any]], None] | None = None,
    replace: bool = False,
) -> Callable[[SearchFn], SearchFn]:
    """Decorator adding `fn(env, rng, **settings)` to `ALGORITHMS`, with the keyword
    defaults of its signature as its settings."""

    def deco(fn: SearchFn) -> SearchFn:
        algo = as_algorithm(fn, name=name, curve_hp=curve_hp, check=check)
        if algo.name in ALGORITHMS and not replace and ALGORITHMS[algo.name].fn is not fn:
            raise ValueError(
                f"an algorithm named {algo.name!r} is already registered; pass replace=True or rename it."
            )
        ALGORITHMS[algo.name] = algo
        return fn

    return deco


def as_algorithm(
    algorithm: str | Algorithm | SearchFn,
    *,
    name: str | None = None,
    curve_hp: str | None = None,
    check: Callable[[Mapping[str, Any]], None] | None = None,
) -> Algorithm:
    """Look up a registered name, or wrap a plain `fn(env, rng, **settings)`."""
    if isinstance(algorithm, Algorithm):
        return algorithm
    if isinstance(algorithm, str):
        try:
            return ALGORITHMS[algorithm]
        except KeyError:
            raise KeyError(
                f"unknown algorithm {algorithm!r}; registered ones are {sorted(ALGORITHMS)}. "
                "Pass a function fn(env, rng, **settings) or register one with @nb201.search.register()."
            ) from None
    if not callable(algorithm):
        raise TypeError(
            f"an algorithm is a name, an Algorithm or a function fn(env, rng, **settings), got {algorithm!r}."
        )
    params = list(inspect.signature(algorithm).parameters.values())
    if len(params) < 2 or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"{algorithm!r} must take (env, rng, **settings).")
    defaults = {p.name: p.default for p in params[2:] if p.default is not inspect.Parameter.empty}
    return Algorithm(name or algorithm.__name__, algorithm, defaults, curve_hp, check)


def run_search(
    algorithm: str | Algorithm | SearchFn,
    benchmark: Source,
    budget: float | None = None,
    seed: int = 0,
    *,
    dataset: str | None = None,
    hp: str | None = None,
    metric: str | None = None,
    **settings: Any,
) -> SearchResult:
    """Run one search: `algorithm` against `benchmark` (a `Benchmark`, its folder, an
    `Oracle` or a `SearchProblem`) under `budget` simulated seconds (None: the problem's
    budget, `nb201.search.problem.budget_rule` for a benchmark), deterministic for `seed`.
    `dataset=None` means the paper's "cifar10-valid" when the benchmark has it, else its
    only split; `hp=None` means "12" when `dataset` has it, else its only hp.

    Everything is checked here, once; many runs of one question should build the
    `SearchProblem` once (`SearchProblem.of(bench)`) and pass it, as `run_experiment` does.
    """
    algo = as_algorithm(algorithm)
    problem = SearchProblem.of(benchmark, dataset=dataset, hp=hp, metric=metric, budget=budget)
    return run_one(algo, problem, check_seed(seed), algo.resolve(settings))


def run_one(algo: Algorithm, problem: SearchProblem, seed: int, settings: Mapping[str, Any]) -> SearchResult:
    """One run of `algo` with resolved `settings` on a built `problem` from a checked `seed`.

    The inner loop of a comparison: nothing here is re-checked or re-read (the problem
    holds the oracle), so a run costs only the algorithm's own work.
    """
    oracle = problem.oracle_for(algo)
    algo_ss, env_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.Generator(np.random.PCG64(algo_ss))
    env = SearchEnv(oracle, problem.budget, np.random.Generator(np.random.PCG64(env_ss)))
    try:
        answer = algo.fn(env, rng, **settings)
    except BudgetExhausted:
        answer = None
    if env.n_queries == 0:
        cheapest = float(np.min(oracle.column(None)[1][oracle.available, 0]))
        raise ValueError(
            f"a budget of {problem.budget:g} s does not pay for a single query of {oracle.split}/{oracle.hp} "
            f"(the cheapest full run costs about {cheapest:.1f} s); raise the budget."
        )
    arch_index = env.incumbent if answer is None else _to_index(answer)
    if not env.contains(arch_index):
        raise KeyError(f"{algo.name} answered architecture {arch_index}, which is not in this benchmark.")
    archs = np.asarray(env._archs, dtype=np.int64)
    rewards = np.asarray(env._rewards, dtype=np.float64)
    epochs = np.asarray(env._epochs, dtype=np.int64)
    return SearchResult(
        algorithm=algo.name,
        seed=seed,
        budget=problem.budget,
        dataset=problem.dataset,
        hp=oracle.hp,
        metric=oracle.metric,
        settings=dict(settings),
        arch_index=int(arch_index),
        times=np.asarray(env._times, dtype=np.float64),
        archs=archs,
        rewards=rewards,
        epochs=epochs,
        incumbents=_incumbents(archs, rewards, epochs),
    )


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def check_positive_int(settings: Mapping[str, Any], *names: str) -> None:
    for n in names:
        v = settings[n]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"setting {n} must be a positive integer, got {v!r}.")


__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BudgetExhausted",
    "EDGES",
    "SearchEnv",
    "SearchResult",
    "as_algorithm",
    "index_of",
    "ops_of",
    "register",
    "run_search",
]
