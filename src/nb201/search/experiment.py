"""The paper's comparison protocol: many seeded runs per algorithm, one table, one plot.

Each algorithm runs `runs` times under the same budget; run `k` of every algorithm uses
the same seed (drawn once from `seed`), so a run is replayable and the comparison is
paired. A run's final architecture is then scored on every dataset of the benchmark with
the numbers a user would report: the accuracy after the full schedule (hp "200" where the
benchmark has it, else its longest), averaged over seeds. That is the paper's Table 5.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nb201.names import parse_metric, set_of, split_base
from nb201.search.base import Algorithm, SearchFn, SearchResult, as_algorithm, check_seed
from nb201.search.compare import comparison_table, difference_records, differences, findings
from nb201.search.oracle import open_benchmark
from nb201.search.problem import SearchProblem, estimated_split
from nb201.search.runner import run_many
from nb201.search.trajectories import anytime_curves, export, trajectories
from nb201.space import Arch

if TYPE_CHECKING:
    from nb201.benchmark import Benchmark

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
_SPLIT_ORDER = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}


def evaluation_table(benchmark: Benchmark | str | Path) -> pd.DataFrame:
    """Final accuracy of every architecture on every (split, eval set) of the benchmark.

    One row per official index the benchmark holds, one column `"<split>/<set>"` per
    evaluation set (`Benchmark.eval_sets`, in its order): the last epoch of the reporting
    schedule (`Benchmark.default_hp(split, "report")`: hp "200", else the split's hp with
    the most epochs), mean over the seeds that have a run.
    """
    bench = open_benchmark(benchmark)
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


def fidelity_labels(benchmark: Benchmark | str | Path) -> dict[str, str]:
    """What the numbers of each `evaluation_table` column are: "estimated, 200 epochs"
    where the benchmark models them (`Benchmark.estimate_info`), else "measured, <E> epochs,
    hp <hp>", for the reporting schedule each column is read at."""
    bench = open_benchmark(benchmark)
    out = {}
    for split in bench.datasets:
        hp = bench.default_hp(split, "report")
        epochs = int(bench.num_epochs(split, hp))
        if estimated_split(bench, split, hp):
            info = bench.estimate_info(split, hp) if hasattr(bench, "estimate_info") else None
            epochs = int((info or {}).get("epochs", epochs))
            label = f"estimated, {epochs} epochs"
        else:
            label = f"measured, {epochs} epochs, hp {hp}"
        for s in bench.eval_sets(split, hp):
            out[f"{split}/{s}"] = label
    return out


def reported_columns(columns: Sequence[str], dataset: str, metric: str = "x-valid-accuracy") -> list[str]:
    """The evaluation columns a comparison may report: every column except the reward set
    and any set that contains it.

    The reward is `dataset`'s `metric` set. Where that split also has an x-test, its
    x-valid is one half of the test images and ori-test is their union, so ori-test
    contains the reward set and is dropped with it; on cifar10-valid x-valid comes from the
    training images and ori-test is disjoint from it.
    """
    reward_set = set_of(metric)
    drop = {f"{dataset}/{reward_set}"}
    if f"{dataset}/x-test" in columns and reward_set in ("x-valid", "x-test"):
        drop.add(f"{dataset}/ori-test")
    return [c for c in columns if c not in drop]


def default_curve_metric(columns: Sequence[str], dataset: str) -> str:
    """The column anytime curves follow: CIFAR-10 test as in the paper, else the search
    split's own test set."""
    base = split_base(dataset)
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
    problem: SearchProblem | None = field(default=None, repr=False)  # the question every run answered
    workers: int = 1  # processes the runs were spread over (for the wall times)
    fidelity: dict[str, str] = field(default_factory=dict)  # evaluation column -> what its numbers are

    # ---- statistics, findings and traces (nb201.search.compare, nb201.search.trajectories)
    def comparisons(self, column: str | None = None, n_boot: int = 2000, level: float = 0.95) -> pd.DataFrame:
        """Paired differences between every two algorithms (runs paired by seed) in final
        `column` accuracy (default `curve_metric`), with bootstrap intervals and the
        sentence `nb201.stats.describe_difference` words each with."""
        return comparison_table(self, column, n_boot, level)

    def findings(self, column: str | None = None) -> list[str]:
        """3-6 sentences a report opens with, each from the comparison's numbers."""
        return findings(self, column)

    def trajectories(self, column: str | None = None) -> pd.DataFrame:
        """Every query of every run (`nb201.search.trajectories.TRAJECTORY_COLUMNS`), the
        incumbent scored on `column` (default `curve_metric`)."""
        return trajectories(self.results, self.evaluation[column or self.curve_metric])

    def export_trajectories(self, path: str | Path, column: str | None = None) -> Path:
        """`trajectories()` written to `path` (.parquet, .csv or .csv.gz), atomically."""
        return export(self.trajectories(column), path)

    def curves_by_queries(self, column: str | None = None, max_queries: int | None = None) -> pd.DataFrame:
        """Anytime curves against the number of queries made (1 .. the longest run)."""
        n = max_queries or int(self.runs["queries"].max())
        grid = np.arange(1, n + 1, dtype=np.float64)
        return anytime_curves(self.results, self.evaluation[column or self.curve_metric], grid, by="queries")

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
        reward_set, quantity = parse_metric(self.metric)
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
            f"Reward: {self.dataset}/{reward_set} {quantity} after one training run (a random seed) at hp "
            f"{self.hp}.",
            f"Reported: {self._reported_words()}: the final epoch of the longest schedule, mean over seeds; "
            "the reward set and any set containing it are not reported.",
            "Comparisons: each pair of algorithms by the difference of mean final accuracy over runs "
            "paired by seed, with a 95% percentile-bootstrap interval; indistinguishable when it "
            "covers zero.",
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

    def _reported_words(self) -> str:
        labels = [self.fidelity.get(c) for c in self.datasets]
        if labels and len(set(labels)) == 1 and labels[0]:
            return f"{', '.join(self.datasets)} ({labels[0]})"
        return ", ".join(f"{c} ({lab})" if lab else c for c, lab in zip(self.datasets, labels))

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
            "workers": self.workers,
            "fidelity": {c: self.fidelity.get(c, "") for c in self.datasets},
            "differences": difference_records(differences(self)),
            "findings": self.findings(),
        }

    def summary(self, paper: bool = True, formatted: bool = True) -> pd.DataFrame:
        """Mean ± std of the final architectures' accuracy per algorithm and reported
        dataset, the "optimal" row (best architecture per dataset) and, with `paper`, the
        paper's rows (labelled `<name> (paper)`, quoted, for the algorithms run plus
        ResNet and the optimum; CIFAR-10 test only) where the benchmark has that column."""
        g = self.runs.groupby("algorithm", sort=False)[self.datasets]
        mean, std = g.mean(), g.std(ddof=1)  # sample std, as nb201.stats.mean_std
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
    algorithms: Sequence[str | Algorithm | SearchFn] | Mapping[str, str | Algorithm | SearchFn],
    settings: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, tuple[Algorithm, dict[str, Any]]]:
    """The algorithms by label with their resolved settings, checked before any run starts."""
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
    return {label: (algo, algo.resolve(settings.get(label, {}))) for label, algo in algos.items()}


def _check_count(name: str, value: Any, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}{hint}.")
    return int(value)


def run_experiment(
    algorithms: Sequence[str | Algorithm | SearchFn] | Mapping[str, str | Algorithm | SearchFn],
    benchmark: Benchmark | str | Path | SearchProblem,
    runs: int = 500,
    budget: float | None = None,
    seed: int = 0,
    *,
    dataset: str | None = None,
    hp: str | None = None,
    metric: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
    grid: int | Sequence[float] = 101,
    curve_metric: str | None = None,
    progress: bool = False,
) -> Experiment:
    """Run every algorithm `runs` times and score the answers.

    `algorithms`: registered names, `Algorithm`s or functions `fn(env, rng, **settings)`;
    or a mapping label -> one of those (to run one algorithm under several settings,
    give `settings={label: {...}}`). `benchmark`: a `Benchmark`, its folder, or a
    `SearchProblem` built from one. `dataset`, `hp`, `metric`: the split searched on
    (None: "cifar10-valid" when the benchmark has it, else its only split), its schedule
    (None: "12" when the split has it, else its only hp) and the reward (None: x-valid
    accuracy). `budget`: simulated seconds per run (None: `nb201.search.problem.budget_rule`).

    The `SearchProblem` is built here once and every run (and every worker) receives it.
    `workers` > 1 spreads runs over processes (forked where the platform allows: they
    share the problem's arrays). `grid`: the number of equally spaced times in
    [0, budget] for the anytime curves, or the times themselves.
    """
    seed = check_seed(seed)
    runs = _check_count("runs", runs, " (the paper uses 500)")
    workers = _check_count("workers", workers)
    problem = SearchProblem.of(benchmark, dataset=dataset, hp=hp, metric=metric, budget=budget)
    checked = checked_algorithms(algorithms, settings)
    bench = problem._bench()
    evaluation = evaluation_table(bench)
    reported = reported_columns(evaluation.columns, problem.dataset, problem.metric)
    curve = curve_metric or default_curve_metric(reported, problem.dataset)
    if curve not in evaluation.columns:
        raise KeyError(
            f"curve_metric {curve!r} is not a dataset of this benchmark; "
            f"choose from {list(evaluation.columns)}."
        )
    run_seeds = [int(s) for s in np.random.default_rng(seed).choice(2**31 - 1, size=runs, replace=False)]

    results: dict[str, list[SearchResult]] = {}
    wall: dict[str, float] = {}
    for label, (algo, resolved) in checked.items():
        t0 = time.perf_counter()
        results[label] = run_many(
            algo, problem, run_seeds, resolved, workers, progress=label if progress else None
        )
        wall[label] = time.perf_counter() - t0

    times = (
        np.linspace(0.0, problem.budget, int(grid))
        if np.ndim(grid) == 0
        else np.asarray(grid, dtype=np.float64)
    )
    return Experiment(
        runs=_runs_frame(results, evaluation),
        curves=anytime_curves(results, evaluation[curve], times),
        results=results,
        evaluation=evaluation,
        curve_metric=curve,
        budget=problem.budget,
        wall_time=wall,
        dataset=problem.dataset,
        hp=problem.hp,
        metric=problem.metric,
        budget_rule=problem.budget_rule,
        problem=problem,
        workers=workers,
        fidelity=fidelity_labels(bench),
    )


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
