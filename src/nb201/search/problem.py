"""The search problem: what every run of a comparison shares, resolved and checked once.

A comparison runs hundreds of searches against one question: this split, this schedule,
this reward, this budget. Each of them used to work the question out again from whatever
it was handed (a Benchmark, a folder, an oracle), re-checking the split, the hp, the
budget and re-reading the oracle through a cache. A `SearchProblem` is that question
answered once: it is built at the boundary (`SearchProblem.of`), carries the oracle(s) the
algorithms query, and is handed as is to every run and every worker process.

The budget rule (`budget_rule`) lives here because it is part of the question: on the
paper's own benchmark the paper's 12,000 s; elsewhere as many queries as those 12,000 s
buy on the paper's benchmark, priced at this benchmark's median query (see `PAPER_QUERIES`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nb201.benchmark.protocol import SEARCH_HP, SimulatedClock
from nb201.search.oracle import Oracle, build_oracle, open_benchmark, resolve_dataset, resolve_hp

if TYPE_CHECKING:
    from nb201.benchmark import Benchmark
    from nb201.search.base import Algorithm

DEFAULT_METRIC = "x-valid-accuracy"  # the paper's reward: validation accuracy of the search split

# The paper's budget, and the number of queries it buys there. The paper (Dong & Yang, ICLR
# 2020, Sec. 5) gives each multi-trial search 12,000 simulated seconds on cifar10-valid with
# the 12-epoch schedule, charged with each query's recorded 12-epoch training time plus one
# validation pass; it does not print how many queries that is. We take the median such
# query on the paper's benchmark to cost about 120 s (12 epochs of about 9.5 s on the 25k
# cifar10-valid training images, plus a validation pass of about 1 s, on the paper's GPUs),
# so 12,000 s buy about 100 queries: an estimate, not a quoted number. On an imported
# official benchmark `paper_equivalent_queries(SearchProblem.of(bench))` computes it from
# the recorded times (12,000 s / the median cost); replace the constant with that figure.
PAPER_BUDGET_S = 12000.0
PAPER_MEDIAN_QUERY_S = 120.0  # estimated (see above)
PAPER_QUERIES = int(round(PAPER_BUDGET_S / PAPER_MEDIAN_QUERY_S))  # 100
MIN_QUERIES = 12  # at least this many (REA's initial population is 10)

Source = Union["Benchmark", str, Path, Oracle, "SearchProblem"]


def check_budget(budget: Any) -> float:
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise ValueError(f"budget must be a number of simulated seconds, got {budget!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"budget must be a positive, finite number of simulated seconds, got {budget!r}; e.g. 12000."
        )
    return value


def median_query_cost(oracle: Oracle) -> float:
    """Median over the architectures held of a full-schedule query's cost (mean over seeds)."""
    _, cost = oracle.column(None)
    held = oracle.available
    valid = np.arange(cost.shape[1])[None, :] < oracle.n_seeds[held, None]
    per_arch = np.where(valid, cost[held], 0.0).sum(axis=1) / oracle.n_seeds[held]
    return float(np.median(per_arch))


def is_paper_setting(oracle: Oracle, estimated: bool = False) -> bool:
    """Whether the oracle is the paper's search setting (cifar10-valid, hp 12) with measured times."""
    return oracle.split == "cifar10-valid" and oracle.hp == SEARCH_HP and not estimated


def budget_rule(oracle: Oracle, estimated: bool = False) -> tuple[float, str]:
    """The simulated budget of a comparison on `oracle`, and the rule that gave it, in words.

    On the paper's setting (cifar10-valid with hp 12, measured times) the paper's 12,000 s.
    Anywhere else seconds mean something else (another device, another schedule, a time
    model), so the budget is set in queries, matched to the paper: `PAPER_QUERIES` (about
    what 12,000 s buy on the paper's benchmark) times this benchmark's median query cost
    (`median_query_cost`: the cost the search charges, `query_cost` of a full-schedule run),
    capped at half the architectures held so that a small benchmark is not searched
    exhaustively, and at least `MIN_QUERIES`.
    """
    if is_paper_setting(oracle, estimated):
        return PAPER_BUDGET_S, "12,000 simulated seconds, the paper's budget on cifar10-valid with hp 12"
    held = len(oracle.available)
    queries = max(MIN_QUERIES, min(PAPER_QUERIES, held // 2))
    median = median_query_cost(oracle)
    cap = f"; capped at half of the {held:,} architectures held" if queries < PAPER_QUERIES else ""
    rule = (
        f"{queries} median queries ({queries} x {median:,.1f} s = {queries * median:,.0f} simulated s): "
        f"as many queries as the paper's 12,000 s buy on its benchmark ({PAPER_QUERIES}, at an estimated "
        f"{PAPER_MEDIAN_QUERY_S:.0f} s per 12-epoch cifar10-valid query there), priced at this benchmark's "
        f"median full-schedule query{cap}"
    )
    return float(queries * median), rule


def paper_equivalent_queries(problem: SearchProblem) -> float:
    """Queries the paper's 12,000 s buy on `problem`'s benchmark at its median query cost:
    on an imported official benchmark (cifar10-valid, hp 12) this is the figure
    `PAPER_QUERIES` estimates."""
    return PAPER_BUDGET_S / median_query_cost(problem.oracle)


@dataclass(frozen=True, eq=False)
class SearchProblem:
    """One search question, resolved and checked once: the split searched on (`dataset`),
    its schedule (`hp`), the reward (`metric`), the simulated budget per run and the rule
    that set it, and the oracle(s) the runs query.

    `oracle` answers single-fidelity algorithms; a multi-fidelity algorithm (one with a
    `curve_hp`, BOHB) reads the learning curves of that hp, or of the split's longest
    schedule when it lacks it (`oracle_for`). `hp_epochs` lists the split's schedules.
    `estimated` is True when the benchmark's numbers for this split are modelled, not
    measured (`Benchmark.estimate_info`). Built with `SearchProblem.of`; picklable (a
    spawned worker re-opens the benchmark folder only if it needs a schedule not yet read).
    """

    dataset: str
    hp: str
    metric: str
    budget: float
    budget_rule: str
    oracle: Oracle = field(repr=False)
    hp_epochs: dict[str, int] = field(repr=False)
    estimated: bool = False
    benchmark: Benchmark | None = field(default=None, repr=False)
    _oracles: dict[str, Oracle] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _root: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._oracles.setdefault(self.oracle.hp, self.oracle)
        if self.benchmark is not None and self._root is None:
            object.__setattr__(self, "_root", str(self.benchmark.root))

    # ---- building ----------------------------------------------------------------------
    @classmethod
    def of(
        cls,
        source: Source,
        *,
        dataset: str | None = None,
        hp: str | int | None = None,
        metric: str | None = None,
        budget: float | None = None,
    ) -> SearchProblem:
        """The problem for `source` (a `Benchmark`, its folder, an `Oracle`, or a problem).

        `dataset=None`: "cifar10-valid" when the benchmark has it, else its only split;
        `hp=None`: "12" when the split has it, else its only hp; `metric=None`: x-valid
        accuracy; `budget=None`: `budget_rule`. A `SearchProblem` is returned as is (with
        `budget`, if given, replacing its own); it cannot be re-asked another dataset/hp/metric.
        """
        if isinstance(source, SearchProblem):
            asked = {"dataset": dataset, "hp": hp, "metric": metric}
            clash = {k: v for k, v in asked.items() if v is not None and str(v) != getattr(source, k)}
            if clash:
                raise ValueError(
                    f"this SearchProblem is {source.dataset}/{source.hp}/{source.metric}; it cannot be "
                    f"re-asked {clash}. Build another with SearchProblem.of(benchmark, ...)."
                )
            return source if budget is None else source.with_budget(budget)
        if isinstance(source, Oracle):
            if dataset is not None and dataset != source.split:
                raise ValueError(f"this oracle is of {source.split!r}, not {dataset!r}.")
            return cls._make(source, {source.hp: source.num_epochs}, budget, None, False)
        bench = open_benchmark(source)
        split = resolve_dataset(bench, dataset)
        search_hp = resolve_hp(bench, split, hp)
        oracle = build_oracle(bench, split, search_hp, metric or DEFAULT_METRIC)
        hp_epochs = {h: int(bench.num_epochs(split, h)) for h in bench.hps(split)}
        return cls._make(oracle, hp_epochs, budget, bench, estimated_split(bench, split, search_hp))

    @classmethod
    def _make(
        cls,
        oracle: Oracle,
        hp_epochs: dict[str, int],
        budget: float | None,
        bench: Benchmark | None,
        estimated: bool,
    ) -> SearchProblem:
        if budget is None:
            value, rule = budget_rule(oracle, estimated)
        else:
            value = check_budget(budget)
            rule = f"{value:,.0f} simulated seconds (given)"
        return cls(oracle.split, oracle.hp, oracle.metric, value, rule, oracle, hp_epochs, estimated, bench)

    def with_budget(self, budget: float) -> SearchProblem:
        """The same problem under another budget (the oracles are shared, not re-read)."""
        value = check_budget(budget)
        if value == self.budget:
            return self
        return replace(self, budget=value, budget_rule=f"{value:,.0f} simulated seconds (given)")

    # ---- what a run needs ------------------------------------------------------------------
    def clock(self) -> SimulatedClock:
        """A fresh clock for one run: the budget, charged with each query's cost."""
        return SimulatedClock(self.budget)

    def curve_hp(self, algorithm: Algorithm) -> str:
        """The schedule whose results `algorithm` reads: the search hp, or for a
        multi-fidelity algorithm its `curve_hp`, else the split's longest schedule."""
        want = algorithm.curve_hp
        if want is None:
            return self.hp
        if want in self.hp_epochs:
            return want
        return max(self.hp_epochs, key=lambda h: self.hp_epochs[h])

    def oracle_for(self, algorithm: Algorithm) -> Oracle:
        """The oracle `algorithm` queries (read once per problem and schedule)."""
        hp = self.curve_hp(algorithm)
        hit = self._oracles.get(hp)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._oracles.get(hp)
            if hit is None:
                hit = build_oracle(self._bench(), self.dataset, hp, self.metric)
                self._oracles[hp] = hit
        return hit

    def _bench(self) -> Benchmark:
        if self.benchmark is None:
            if self._root is None:
                raise RuntimeError(
                    "this SearchProblem was built from an oracle: it has no benchmark to read."
                )
            object.__setattr__(self, "benchmark", open_benchmark(self._root))
        return self.benchmark

    # ---- pickling (spawned workers): columns read so far travel, memory maps do not -------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["benchmark"] = None
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_lock", threading.Lock())
        if self._root is not None:  # columns not read before pickling: from the folder, on demand
            for oracle in self._oracles.values():
                if oracle.loader is None:
                    oracle.loader = _Reloader(self._root, oracle.split, oracle.hp, oracle.metric)


class _Reloader:
    """An unpickled oracle's loader: re-opens the benchmark folder the first time a column
    that did not travel is asked for (same folder, same packing of seeds)."""

    def __init__(self, root: str, split: str, hp: str, metric: str):
        self.args = (root, split, hp, metric)
        self._oracle: Oracle | None = None

    def __call__(self, epoch: int) -> Any:
        if self._oracle is None:
            root, split, hp, metric = self.args
            self._oracle = build_oracle(open_benchmark(root), split, hp, metric)
        return self._oracle.loader(epoch)


def estimated_split(bench: Benchmark, split: str, hp: str) -> bool:
    """Whether `bench`'s results for (split, hp) are modelled, not measured: the benchmark
    says so through `estimate_info` (whole-space sub-stores) or an "estimate" entry in the
    sub-store's meta."""
    info = getattr(bench, "estimate_info", None)
    if callable(info):
        return bool(info(split, hp))
    return bool(bench.meta(split, hp).get("estimate"))


__all__ = [
    "DEFAULT_METRIC",
    "MIN_QUERIES",
    "PAPER_BUDGET_S",
    "PAPER_MEDIAN_QUERY_S",
    "PAPER_QUERIES",
    "SearchProblem",
    "budget_rule",
    "check_budget",
    "median_query_cost",
    "open_benchmark",
    "paper_equivalent_queries",
]
