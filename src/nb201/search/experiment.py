"""The paper's comparison protocol: many seeded runs per algorithm, one table, one plot.

Each algorithm runs `runs` times under the same budget; run `k` of every algorithm uses
the same seed (drawn once from `seed`), so a run is replayable and the comparison is
paired. A run's final architecture is then scored on every dataset of the benchmark with
the numbers a user would report: the accuracy after the full schedule (hp "200" where the
benchmark has it, else its longest), averaged over seeds. That is the paper's Table 5.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.benchmark.protocol import SEARCH_HP, query_cost
from nb201.search.base import (
    Algorithm,
    SearchResult,
    as_algorithm,
    check_budget,
    check_seed,
    oracle_for,
    run_search,
)
from nb201.search.oracle import Oracle, as_benchmark, resolve_dataset, resolve_hp
from nb201.space import Arch

# NAS-Bench-201 (Dong & Yang, ICLR 2020), Table 5: CIFAR-10 test accuracy (%) of the
# final architecture, mean and std over 500 runs, 12,000 s budget; "optimal" is the best
# architecture in the benchmark; "ResNet" the hand-designed ResNet trained with the same
# protocol (not a cell of the space, so no benchmark of the space holds it).
PAPER_RESULTS: dict[str, dict[str, tuple[float, float]]] = {
    "REA": {"cifar10/ori-test": (93.92, 0.30)},
    "REINFORCE": {"cifar10/ori-test": (93.85, 0.37)},
    "RS": {"cifar10/ori-test": (93.70, 0.36)},
    "BOHB": {"cifar10/ori-test": (93.61, 0.52)},
    "ResNet": {"cifar10/ori-test": (93.97, 0.0)},
    "optimal": {"cifar10/ori-test": (94.37, 0.0)},
}
PAPER_WHAT = (
    "NAS-Bench-201 paper, Table 5: CIFAR-10 test accuracy (%) of the final architecture after "
    "the full 200-epoch training on the 50k training images, mean ± std over 500 runs, "
    "searched on cifar10-valid with a 12,000 s budget"
)
PAPER_QUERIES = 25  # the default budget elsewhere: this many typical queries ...
MIN_QUERIES = 12  # ... but at least this many (REA's initial population is 10)
_SPLIT_ORDER = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}


def evaluation_table(benchmark: Any) -> pd.DataFrame:
    """Final accuracy of every architecture on every (split, eval set) of the benchmark.

    One row per official index the benchmark holds, one column `"<split>/<set>"` per
    evaluation set (`Benchmark.eval_sets`, in its order): the last epoch of the reporting
    schedule (`Benchmark.default_hp(split, "report")`: hp "200", else the split's hp with
    the most epochs), mean over the seeds that have a run.
    """
    bench = as_benchmark(benchmark)
    cols: dict[str, pd.Series] = {}
    for split in sorted(bench.datasets, key=lambda s: (_SPLIT_ORDER.get(s, 9), s)):
        hp = bench.default_hp(split, "report")
        archs = bench.indexes(split, hp)
        for s in bench.eval_sets(split, hp):
            vals = bench.metrics(archs, f"{s}-accuracy", epoch=None, seeds=None, dataset=split, hp=hp)
            cols[f"{split}/{s}"] = pd.Series(vals, index=archs)
    if not cols:
        raise ValueError(f"{bench} has no accuracy metric to score architectures with.")
    table = pd.DataFrame(cols)
    table.index.name = "arch_index"
    return table


def default_budget(bench: Any, dataset: str, hp: str) -> tuple[float, str]:
    """The simulated budget of a comparison and the rule that gave it, in words.

    The paper's 12,000 s on cifar10-valid with hp 12. Elsewhere the wall-clock budget has
    no meaning of its own, so it is set in queries: the cost of `PAPER_QUERIES` median
    queries, capped at half the architectures the benchmark holds (so that a small
    benchmark is not searched exhaustively), but at least `MIN_QUERIES`. A query's cost is
    the one the search charges, `nb201.benchmark.protocol.query_cost` of a full run (each
    architecture's seed mean).
    """
    bench = as_benchmark(bench)
    if dataset == "cifar10-valid" and str(hp) == SEARCH_HP:
        return 12000.0, "12,000 simulated seconds, the paper's budget on cifar10-valid with hp 12"
    archs = bench.indexes(dataset, hp)
    names = bench.metric_names(dataset, hp)
    valid = "x-valid-all-time" if "x-valid-all-time" in names else "valid-all-time"
    last = bench.num_epochs(dataset, hp) - 1
    cost = query_cost(
        bench.metrics(archs, "train-all-time", dataset=dataset, hp=hp),
        bench.metrics(archs, valid, dataset=dataset, hp=hp),
        last,
    )
    queries = max(MIN_QUERIES, min(PAPER_QUERIES, len(archs) // 2))
    median = float(np.nanmedian(cost))
    rule = (
        f"{queries} median queries ({queries} x {median:,.1f} s = {queries * median:,.0f} simulated s; "
        f"the rule: {PAPER_QUERIES} queries, at most half of the {len(archs)} architectures held, "
        f"at least {MIN_QUERIES})"
    )
    return float(queries * median), rule


def reported_columns(columns: Sequence[str], dataset: str, metric: str = "x-valid-accuracy") -> list[str]:
    """The evaluation columns a comparison may report: every column except the reward set
    and any set that contains it.

    The reward is `dataset`'s `metric` set. Where that split also has an x-test, its
    x-valid is one half of the test images and ori-test is their union, so ori-test
    contains the reward set and is dropped with it; on cifar10-valid x-valid comes from the
    training images and ori-test is disjoint from it.
    """
    reward_set = metric[: -len("-accuracy")] if metric.endswith("-accuracy") else metric
    drop = {f"{dataset}/{reward_set}"}
    if f"{dataset}/x-test" in columns and reward_set in ("x-valid", "x-test"):
        drop.add(f"{dataset}/ori-test")
    return [c for c in columns if c not in drop]


def default_curve_metric(columns: Sequence[str], dataset: str) -> str:
    """The column anytime curves follow: CIFAR-10 test as in the paper, else the search
    split's own test set."""
    base = dataset[: -len("-valid")] if dataset.endswith("-valid") else dataset
    for c in (
        "cifar10/ori-test",
        f"{base}/x-test",
        f"{base}/ori-test",
        f"{dataset}/x-test",
        f"{dataset}/ori-test",
    ):
        if c in columns:
            return c
    return list(columns)[0]


@dataclass
class Experiment:
    """What `run_experiment` returns: per-run scores, anytime curves, and every run."""

    runs: pd.DataFrame  # one row per (algorithm, run): seed, answer, accuracy per dataset
    curves: pd.DataFrame  # algorithm, time, mean, std, q25, median, q75, answered
    results: dict[str, list[SearchResult]]
    evaluation: pd.DataFrame = field(repr=False)  # evaluation_table of the benchmark
    curve_metric: str = ""
    budget: float = 0.0
    wall_time: dict[str, float] = field(default_factory=dict)  # seconds per algorithm
    dataset: str = ""  # the split searched on
    hp: str = ""  # its schedule
    metric: str = "x-valid-accuracy"  # the reward
    budget_rule: str = ""  # how the budget was chosen, in words

    @property
    def datasets(self) -> list[str]:
        """The columns the comparison reports: every evaluation set except the reward set
        and those containing it (see `reported_columns`)."""
        if not self.dataset:
            return list(self.evaluation.columns)
        return reported_columns(self.evaluation.columns, self.dataset, self.metric)

    @property
    def has_paper_columns(self) -> bool:
        """Whether the benchmark has a column the paper's rows can stand beside."""
        cols = {c for v in PAPER_RESULTS.values() for c in v}
        return bool(cols & set(self.datasets))

    def protocol(self) -> list[str]:
        """The comparison's protocol, one sentence per item, for a report to print."""
        n_archs = len(self.evaluation)
        runs = {len(v) for v in self.results.values()}
        reward_set = self.metric.removesuffix("-accuracy")
        # distinct cells a run trained to the full schedule (multi-fidelity queries of
        # partial curves do not count): the share of the benchmark a run has seen
        full = [
            len(set(r.archs[r.epochs == r.epochs.max()].tolist())) if r.n_queries else 0
            for rs in self.results.values()
            for r in rs
        ]
        queries = float(np.mean(full)) if full else 0.0
        lines = [
            f"Runs: {', '.join(map(str, sorted(runs)))} per algorithm (the paper: 500), run k of every "
            "algorithm from the same seed.",
            f"Budget: {self.budget_rule or f'{self.budget:,.0f} simulated seconds'}; "
            f"a run trains {queries:.1f} distinct architectures to the full schedule on average, of the "
            f"{n_archs} the benchmark holds.",
            f"Reward: {self.dataset}/{reward_set} accuracy after one training run (a random seed) at hp "
            f"{self.hp}.",
            f"Reported: {', '.join(self.datasets)} (final epoch of the longest schedule, mean over seeds); "
            "the reward set and any set containing it are not reported.",
        ]
        if self.has_paper_columns:
            lines.append(f"Rows marked (paper) are quoted, not computed: {PAPER_WHAT}.")
        else:
            lines.append(
                "The paper's rows are not shown: they are CIFAR-10 test accuracies after 200 epochs on "
                f"the official splits, and this benchmark has no such column (it has "
                f"{', '.join(self.evaluation.columns)})."
            )
        if n_archs and queries >= 0.25 * n_archs:
            lines.append(
                f"Caution: a run queries {queries:.0f} of the {n_archs} architectures "
                f"({100 * queries / n_archs:.0f}%), close to exhaustive search; differences between "
                "algorithms here say little about them."
            )
        return lines

    def key_numbers(self, benchmark: str | Path) -> dict[str, Any]:
        """The comparison's key numbers as JSON-ready values, for a report's sidecar:
        the protocol, mean and std per algorithm (and "optimal") and reported set, wall
        time and mean queries per algorithm. `benchmark` is how the report names it."""
        raw = self.summary(paper=False, formatted=False)
        runs = {len(rs) for rs in self.results.values()}
        return {
            "benchmark": str(benchmark),
            "search_dataset": self.dataset,
            "search_hp": self.hp,
            "budget": self.budget,
            "budget_rule": self.budget_rule,
            "runs": runs.pop() if len(runs) == 1 else sorted(runs),
            "curve_metric": self.curve_metric,
            "reported": self.datasets,
            "protocol": self.protocol(),
            **{
                stat: {a: {c: float(raw.loc[a, (c, stat)]) for c in self.datasets} for a in raw.index}
                for stat in ("mean", "std")
            },
            "wall_time_s": self.wall_time,
            "queries_mean": {a: float(np.mean([r.n_queries for r in rs])) for a, rs in self.results.items()},
        }

    def summary(self, paper: bool = True, formatted: bool = True) -> pd.DataFrame:
        """Mean ± std of the final architectures' accuracy per algorithm and reported
        dataset, the "optimal" row (best architecture per dataset) and, with `paper`, the
        paper's rows (labelled `<name> (paper)`, quoted, for the algorithms run plus
        ResNet and the optimum; CIFAR-10 test only) where the benchmark has that column."""
        g = self.runs.groupby("algorithm", sort=False)[self.datasets]
        mean, std = g.mean(), g.std(ddof=0)
        best = self.evaluation[self.datasets].max(axis=0)
        mean.loc["optimal"] = best
        std.loc["optimal"] = 0.0
        if paper:
            ran = set(self.results) | {"optimal", "ResNet"}
            for algo, vals in PAPER_RESULTS.items():
                if algo not in ran:
                    continue
                label = f"{algo} (paper)"
                mean.loc[label], std.loc[label] = np.nan, np.nan
                for col, (m, s) in vals.items():
                    if col in mean.columns:
                        mean.loc[label, col], std.loc[label, col] = m, s
            mean = mean.dropna(how="all")
            std = std.loc[mean.index]
        if not formatted:
            return pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1).sort_index(axis=1, level=0)
        out = mean.copy().astype(object)
        for c in mean.columns:
            out[c] = [
                "" if not np.isfinite(m) else (f"{m:.2f} ± {s:.2f}" if np.isfinite(s) else f"{m:.2f}")
                for m, s in zip(mean[c], std[c])
            ]
        return out[self.datasets]


def checked_algorithms(
    algorithms: Sequence[str | Algorithm | Any] | Mapping[str, Any],
    settings: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[dict[str, Algorithm], dict[str, Mapping[str, Any]]]:
    """The algorithms by label, with their settings checked before any run starts."""
    items = algorithms.items() if isinstance(algorithms, Mapping) else [(None, a) for a in algorithms]
    algos: dict[str, Algorithm] = {}
    for label, a in items:
        algo = as_algorithm(a)
        label = label or algo.name
        if label in algos:
            raise ValueError(
                f"algorithm {label!r} is listed twice; give each entry its own label (pass a dict)."
            )
        algos[label] = algo
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(algos))
    if unknown:
        raise KeyError(f"settings given for {unknown}, which are not among the algorithms {list(algos)}.")
    for label, algo in algos.items():
        algo.resolve(settings.get(label, {}))  # bad settings fail before any run
    return algos, settings


def run_experiment(
    algorithms: Sequence[str | Algorithm | Any] | Mapping[str, Any],
    benchmark: Any,
    runs: int = 500,
    budget: float | None = None,
    seed: int = 0,
    *,
    dataset: str | None = None,
    hp: str | None = None,
    metric: str = "x-valid-accuracy",
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
    grid: int | Sequence[float] = 101,
    curve_metric: str | None = None,
    progress: bool = False,
) -> Experiment:
    """Run every algorithm `runs` times and score the answers.

    `algorithms`: registered names, `Algorithm`s or functions `fn(env, rng, **settings)`;
    or a mapping label -> one of those (to run one algorithm under several settings,
    give `settings={label: {...}}`). `benchmark`: a `Benchmark` or its folder. `dataset`,
    `hp`, `metric`: the split searched on (None: "cifar10-valid" when the benchmark has it,
    else its only split), its schedule (None: "12" when the split has it, else its only
    hp) and the reward. `budget`: simulated seconds per run (None: `default_budget`).
    `workers` > 1
    spreads runs over processes (each reuses the oracle built here). `grid`: the number of
    equally spaced times in [0, budget] for the anytime curves, or the times themselves.
    """
    seed = check_seed(seed)
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise ValueError(f"runs must be a positive integer, got {runs!r} (the paper uses 500).")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}.")
    bench = as_benchmark(benchmark)
    dataset = resolve_dataset(bench, dataset)
    hp = resolve_hp(bench, dataset, hp)
    if budget is None:
        budget, budget_rule = default_budget(bench, dataset, hp)
    else:
        budget_rule = ""
    budget = check_budget(budget)
    if not budget_rule:
        budget_rule = f"{budget:,.0f} simulated seconds (given)"
    algos, settings = checked_algorithms(algorithms, settings)
    evaluation = evaluation_table(bench)
    reported = reported_columns(evaluation.columns, dataset, metric)
    curve = curve_metric or default_curve_metric(reported, dataset)
    if curve not in evaluation.columns:
        raise KeyError(
            f"curve_metric {curve!r} is not a dataset of this benchmark; "
            f"choose from {list(evaluation.columns)}."
        )
    run_seeds = [int(s) for s in np.random.default_rng(seed).choice(2**31 - 1, size=runs, replace=False)]

    results: dict[str, list[SearchResult]] = {}
    wall: dict[str, float] = {}
    for label, algo in algos.items():
        t0 = time.perf_counter()
        kw = dict(settings.get(label, {}))
        results[label] = _run_many(
            algo, bench, budget, run_seeds, dataset, hp, metric, kw, workers, progress, label
        )
        wall[label] = time.perf_counter() - t0

    times = np.linspace(0.0, budget, int(grid)) if np.ndim(grid) == 0 else np.asarray(grid, dtype=np.float64)
    return Experiment(
        runs=_runs_frame(results, evaluation),
        curves=_curves(results, evaluation[curve], times),
        results=results,
        evaluation=evaluation,
        curve_metric=curve,
        budget=budget,
        wall_time=wall,
        dataset=dataset,
        hp=hp,
        metric=metric,
        budget_rule=budget_rule,
    )


def _run_many(
    algo: Algorithm,
    bench: Any,
    budget: float,
    seeds: list[int],
    dataset: str,
    hp: str,
    metric: str,
    settings: dict[str, Any],
    workers: int,
    progress: bool,
    label: str,
) -> list[SearchResult]:
    oracle = oracle_for(algo, bench, dataset, hp, metric)
    if workers == 1:
        it = seeds
        if progress:
            from tqdm.auto import tqdm

            from nb201.pipeline.reports import progress_options

            it = tqdm(seeds, desc=label, **progress_options())
        return [
            run_search(algo, oracle, budget, s, dataset=dataset, hp=hp, metric=metric, **settings) for s in it
        ]
    # Multi-fidelity oracles read epochs lazily; a pickled oracle carries only what was read,
    # so hand workers the benchmark folder when it has one.
    oracle.column(None)  # materialize what single-fidelity runs read before it is pickled
    target: Any = oracle if algo.curve_hp is None else str(Path(bench.root))
    chunks = [seeds[i :: workers * 4] for i in range(workers * 4)]
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [
            pool.submit(_worker, algo, target, budget, c, dataset, hp, metric, settings) for c in chunks if c
        ]
        parts = [f.result() for f in futures]
    by_seed = {r.seed: r for part in parts for r in part}
    return [by_seed[s] for s in seeds]


def _worker(
    algo: Algorithm,
    target: Any,
    budget: float,
    seeds: list[int],
    dataset: str,
    hp: str,
    metric: str,
    settings: dict,
) -> list[SearchResult]:
    if not isinstance(target, Oracle):
        target = oracle_for(algo, _opened(target), dataset, hp, metric)
    return [
        run_search(algo, target, budget, s, dataset=dataset, hp=hp, metric=metric, **settings) for s in seeds
    ]


@functools.lru_cache(maxsize=4)
def _opened(path: str) -> Any:
    """A worker process's Benchmark for a folder, opened once per process for all its chunks
    (bounded: a long-lived worker that sees many benchmarks keeps the latest few)."""
    return as_benchmark(path)


def _runs_frame(results: dict[str, list[SearchResult]], evaluation: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, rs in results.items():
        for k, r in enumerate(rs):
            rows.append(
                {
                    "algorithm": label,
                    "run": k,
                    "seed": r.seed,
                    "arch_index": r.arch_index,
                    "arch": str(Arch.from_index(r.arch_index)),
                    "queries": r.n_queries,
                    "used_time": r.used_time,
                    "search_reward": float(r.rewards[r.archs == r.arch_index].max())
                    if r.n_queries
                    else np.nan,
                }
            )
    frame = pd.DataFrame(rows)
    scores = evaluation.reindex(frame["arch_index"].to_numpy())
    scores.index = frame.index
    return pd.concat([frame, scores], axis=1)


def _curves(results: dict[str, list[SearchResult]], test: pd.Series, times: np.ndarray) -> pd.DataFrame:
    """Best-so-far test accuracy (of each run's current answer) at each grid time."""
    lookup = np.full(int(test.index.max()) + 1, np.nan)
    lookup[test.index.to_numpy()] = test.to_numpy()
    frames = []
    for label, rs in results.items():
        mat = np.full((len(rs), len(times)), np.nan)
        for i, r in enumerate(rs):
            if r.n_queries == 0:
                continue
            pos = np.searchsorted(r.times, times, side="right") - 1
            got = pos >= 0
            mat[i, got] = lookup[r.incumbents[pos[got]]]
        answered = np.isfinite(mat).mean(axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any answer
            stats = {
                "mean": np.nanmean(mat, axis=0),
                "std": np.nanstd(mat, axis=0),
                "q25": np.nanpercentile(mat, 25, axis=0),
                "median": np.nanmedian(mat, axis=0),
                "q75": np.nanpercentile(mat, 75, axis=0),
            }
        frames.append(pd.DataFrame({"algorithm": label, "time": times, **stats, "answered": answered}))
    return pd.concat(frames, ignore_index=True)
