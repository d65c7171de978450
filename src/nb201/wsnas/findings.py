"""What the one-shot searches found, in sentences computed from their records.

The weight-sharing report (notebook 06) opens with these findings, so each one is a
function of the search records and of the accuracies looked up for their derived
architectures, never typed by hand:

* whether DARTS collapses to `skip_connect` and at which epoch the `skip_connect` share
  of its derived cell passes one half (`collapse`);
* which method's final cells are best, and whether the differences between methods
  exceed the spread between seeds (paired over seeds, `nb201.stats`);
* the per-method table: final-arch accuracy (estimated at the full protocol and measured
  at the cheap fidelity, kept in separate columns named by their fidelity), its
  percentile among all architectures of a reference population (the whole-space
  benchmark), the paper's quoted accuracy with its percentile in the same population, and
  the search cost.

Everything here is plain data in, plain data out (records are `nb201.search/1` dicts,
accuracies are looked up by the caller), so the wording is tested on synthetic records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nb201 import names
from nb201.space import Arch
from nb201.stats import Difference, describe_difference, mean_std, paired_difference, unpaired_difference
from nb201.wsnas.evaluate import QUOTED

if TYPE_CHECKING:
    from nb201.wsnas.config import SearchSpec

SKIP = "skip_connect"
COLLAPSE_SHARE = 0.5  # a derived cell whose skip_connect share passes one half has collapsed
DARTS = ("darts-v1", "darts-v2")

# The paper's CIFAR-10 test accuracy (%) of each method's final cell (mean over runs, full
# 200-epoch protocol; `evaluate.QUOTED`): quoted, not reproduced here.
PAPER_CIFAR10_TEST = {m: float(v.split("±")[0]) for m, v in zip(QUOTED["method"], QUOTED["cifar10 ori-test"])}


def skip_shares(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (method, seed, epoch): the `skip_connect` share of the derived cell's six
    edges. Epochs are counted from 1 (the cell derived after that many epochs)."""
    rows = [
        {
            "method": r["spec"]["method"],
            "seed": int(r["spec"]["seed"]),
            "epoch": int(e["epoch"]) + 1,
            "skip_share": Arch.from_string(e["arch"]).ops.count(SKIP) / 6,
        }
        for r in records
        for e in r["epochs"]
    ]
    return pd.DataFrame(rows, columns=["method", "seed", "epoch", "skip_share"])


def first_epoch_above(shares: pd.Series, threshold: float = COLLAPSE_SHARE) -> int | None:
    """The first epoch (index of `shares`) whose share exceeds `threshold`, or None."""
    above = shares[shares > threshold]
    return int(above.index[0]) if len(above) else None


@dataclass(frozen=True)
class Collapse:
    """How one method's derived cells moved towards `skip_connect` (mean over seeds)."""

    method: str
    seeds: int
    epochs: int
    collapsed: bool  # the mean share passed one half at some epoch and ended above it
    epoch: int | None  # first epoch the mean share over seeds passes one half
    seed_epochs: dict[int, int | None]  # the same per seed
    final_share: float  # mean over seeds at the last epoch
    peak_share: float
    peak_epoch: int

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "seed_epochs": {str(k): v for k, v in self.seed_epochs.items()}
        }


def collapse(records: Sequence[Mapping[str, Any]], method: str) -> Collapse:
    """Whether `method`'s derived cells collapse to `skip_connect`, and when."""
    s = skip_shares([r for r in records if r["spec"]["method"] == method])
    if s.empty:
        raise ValueError(f"no search records of {method!r}")
    mean = s.groupby("epoch")["skip_share"].mean()
    per_seed = {
        int(seed): first_epoch_above(g.set_index("epoch")["skip_share"]) for seed, g in s.groupby("seed")
    }
    epoch = first_epoch_above(mean)
    return Collapse(
        method=method,
        seeds=int(s["seed"].nunique()),
        epochs=int(mean.index.max()),
        collapsed=epoch is not None and float(mean.iloc[-1]) > COLLAPSE_SHARE,
        epoch=epoch,
        seed_epochs=per_seed,
        final_share=float(mean.iloc[-1]),
        peak_share=float(mean.max()),
        peak_epoch=int(mean.idxmax()),
    )


def describe_collapse(c: Collapse) -> str:
    """One sentence: collapsed or not, when, and to what share, with n seeds."""
    seeds = f"{c.seeds} seed{'s' if c.seeds != 1 else ''}"
    if c.collapsed:
        per_seed = ", ".join("never" if e is None else str(e) for e in c.seed_epochs.values())
        full = " (all-skip cells)" if c.final_share >= 1.0 else ""
        return (
            f"{c.method.upper()} collapses to skip_connect: the skip_connect share of its derived cell "
            f"(mean over {seeds}) passes one half at epoch {c.epoch} of {c.epochs} (per seed: {per_seed}) "
            f"and ends at {c.final_share:.2f}{full}."
        )
    if c.epoch is not None:
        return (
            f"{c.method.upper()} does not stay collapsed: the skip_connect share of its derived cell "
            f"(mean over {seeds}) passes one half at epoch {c.epoch} but ends at {c.final_share:.2f} "
            f"after {c.epochs} epochs."
        )
    return (
        f"{c.method.upper()} does not collapse at this scale: the skip_connect share of its derived cell "
        f"(mean over {seeds}) stays at or below one half for all {c.epochs} epochs (peak "
        f"{c.peak_share:.2f} at epoch {c.peak_epoch}, final {c.final_share:.2f})."
    )


@dataclass(frozen=True)
class Estimate:
    """Instant lookups of estimated full-protocol accuracy (a whole-space benchmark): the
    column label, every architecture's value (the population percentiles are taken in) and
    the estimate's cross-validated agreement as its meta states it."""

    label: str
    values: np.ndarray  # [15,625] by official index
    dataset: str
    metric: str
    info: dict[str, Any]

    def __call__(self, index: int) -> float:
        return float(self.values[int(index)])


def estimate_of(bench: Any, dataset: str, metric: str) -> Estimate:
    """The whole-space benchmark's estimate of `metric` on `dataset` for every architecture;
    refuses a measured benchmark (its numbers are not an estimate of the full protocol)."""
    from nb201.space import NUM_ARCHS

    hp = bench.default_hp(dataset)
    info = bench.estimate_info(dataset, hp)
    if info is None:
        raise ValueError(
            f"{dataset}/{hp} of this benchmark is measured, not an estimate; pass the whole-space one."
        )
    held = bench.indexes(dataset, hp)
    if len(held) != NUM_ARCHS:
        raise ValueError(f"{dataset}/{hp} holds {len(held)} architectures, not all {NUM_ARCHS}.")
    values = np.asarray(bench.metrics(np.arange(NUM_ARCHS), metric, dataset=dataset, hp=hp), dtype=float)
    label = f"{dataset} {names.set_of(metric)} (estimated, {hp} epochs)"
    return Estimate(label, values, dataset, metric, info)


def archs_to_measure(
    records: Sequence[Mapping[str, Any]], epochs: Sequence[int] = (10, 25, 50, 100, 250)
) -> list[Arch]:
    """The archs worth training at the cheap fidelity: every search's final arch, then the
    archs derived after each of `epochs` (counted from 1; epochs a search does not reach are
    skipped), without repeats, finals first (so a capped budget measures them first)."""
    finals = [Arch.from_string(r["final"]["arch"]) for r in records]
    fixed = [
        Arch.from_string(e["arch"])
        for r in records
        for e in r["epochs"]
        if int(e["epoch"]) + 1 in set(epochs)
    ]
    return list(dict.fromkeys(finals + fixed))


def final_table(
    records: Sequence[Mapping[str, Any]], accuracy: Mapping[str, Callable[[int], float]]
) -> pd.DataFrame:
    """One row per search: method, seed, final arch index and string, core-hours, and one
    column per entry of `accuracy` (name -> arch index -> accuracy, NaN when unknown)."""
    rows = []
    for r in records:
        idx = int(r["final"]["arch_index"])
        row = {
            "method": r["spec"]["method"],
            "seed": int(r["spec"]["seed"]),
            "arch_index": idx,
            "arch": r["final"]["arch"],
            "core_hours": float(r["cpu_time"]) / 3600.0,
        }
        rows.append(row | {name: float(f(idx)) for name, f in accuracy.items()})
    return pd.DataFrame(rows)


def percentile(value: float, population: np.ndarray) -> float:
    """Percentage of `population` strictly below `value` (NaN for NaN)."""
    pop = np.asarray(population, dtype=float)
    return float(100.0 * np.mean(pop < value)) if np.isfinite(value) else float("nan")


PERCENTILE = "percentile in population"
PAPER_PERCENTILE = "paper's percentile in population"


def method_table(
    final: pd.DataFrame,
    primary: str,
    others: Sequence[str] = (),
    population: np.ndarray | None = None,
    quoted: Mapping[str, float] | None = PAPER_CIFAR10_TEST,
) -> pd.DataFrame:
    """Per method (in search order): mean ± std over seeds of the final arch's `primary`
    accuracy and of each of `others` (separate columns: each names its fidelity), the
    percentile of the mean `primary` in `population` (e.g. all 15,625 archs' estimates), the
    search cost, and beside it the paper's `quoted` accuracy with its percentile in the same
    population, so the two compare by rank, not by numbers of different fidelities. Pass
    `quoted=None` when the population is not on the paper's scale (a cheap benchmark)."""
    rows = []
    for method, g in final.groupby("method", sort=False):
        main = g[primary].to_numpy(dtype=float)
        row: dict[str, Any] = {"method": method, "seeds": len(g), primary: mean_std(main)}
        row |= {c: mean_std(g[c].to_numpy(dtype=float)) for c in others}
        if population is not None:
            row[PERCENTILE] = percentile(float(np.nanmean(main)), population)
        row["search core-hours"] = mean_std(g["core_hours"].to_numpy(dtype=float), digits=3)
        if quoted is not None:
            q = quoted.get(method, float("nan"))
            row["paper, quoted (%)"] = q
            if population is not None:
                row[PAPER_PERCENTILE] = percentile(q, population)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def seed_differences(final: pd.DataFrame, column: str, best: str) -> list[Difference]:
    """`best` minus every other method in `column`, paired by seed (a seed is one search of
    each method): the interval shows whether the gap exceeds the spread between seeds."""
    wide = final.pivot_table(index="seed", columns="method", values=column, aggfunc="mean")
    return [
        paired_difference(wide[best], wide[m], best.upper(), m.upper(), n_boot=4000)
        for m in wide.columns
        if m != best and wide[m].notna().any()
    ]


def best_method(final: pd.DataFrame, column: str) -> str:
    """The method whose final archs have the highest mean `column`."""
    return str(final.groupby("method")[column].mean().idxmax())


def describe_best(final: pd.DataFrame, column: str, label: str) -> tuple[str, list[str], list[Difference]]:
    """(the best method, sentences: which is best and how it compares with each other
    method over seeds, the differences)."""
    best = best_method(final, column)
    diffs = seed_differences(final, column, best)
    mean = final.groupby("method")[column].mean()
    n = int((final.method == best).sum())
    seeds = f"{n} seed{'s' * (n != 1)}"
    head = f"{best.upper()}'s final cells are best by {label}: mean {mean[best]:.2f}% over {seeds}."
    clear = [d.b_name for d in diffs if not d.covers_zero]
    tied = [d.b_name for d in diffs if d.covers_zero and np.isfinite(d.lo)]
    open_ = [d.b_name for d in diffs if not np.isfinite(d.lo)]  # fewer than two shared seeds
    summary = (
        f"Over seeds, {best.upper()} is clearly ahead of {', '.join(clear) or 'no method'}"
        + (f" and indistinguishable from {', '.join(tied)}" if tied else "")
        + " (paired intervals over seeds below)."
    )
    if open_ and not clear and not tied:
        summary = (
            f"Whether {best.upper()}'s lead exceeds the spread between seeds cannot be told yet: it shares "
            f"fewer than two seeds with {', '.join(open_)}, too few for an interval."
        )
    elif open_:
        summary = summary[:-1] + f"; against {', '.join(open_)} too few seeds are shared for an interval."
    return best, [head, summary] + [describe_difference(d, quantity=label) for d in diffs], diffs


def equal_cost(
    final: pd.DataFrame,
    benchmark: Any,
    column: str,
    algorithms: Sequence[str] = ("RS", "REA"),
    runs: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Multi-trial search at each one-shot method's own search cost.

    For every method in `final` (`final_table`, with `column` its estimated accuracy), each
    of `algorithms` runs `runs` times on `benchmark` (the whole-space benchmark) with a
    budget of the method's mean search core-seconds. That benchmark's clock charges a query
    the modelled core-seconds of one cheap-fidelity training run, so the budget buys as
    many trainings as the one-shot search cost. One row per (method, algorithm): the
    budget, the queries a run made, the multi-trial answers' accuracy in `column`, and the
    difference one-shot minus multi-trial (independent samples: `unpaired_difference`)."""
    from nb201.search import SearchProblem, run_experiment

    base = SearchProblem.of(benchmark)
    _, cost = base.oracle.column(None)
    cheapest = float(np.min(cost[base.oracle.available, 0]))  # the dearest budget that buys nothing
    rows = []
    for method, g in final.groupby("method", sort=False):
        seconds = float(g["core_hours"].mean() * 3600.0)
        row = {"method": method, "budget core-s": seconds, "one-shot": float(g[column].mean())}
        if seconds < cheapest:  # not one cheap training fits into what the one-shot search cost
            for algo in algorithms:
                d = Difference(method.upper(), str(algo), row["one-shot"], np.nan, np.nan, np.nan, np.nan, 0)
                rows.append(
                    row
                    | {
                        "algorithm": str(algo),
                        "queries per run": 0.0,
                        "multi-trial": np.nan,
                        "multi-trial std": np.nan,
                        "runs": 0,
                        "difference": d,
                    }
                )
            continue
        exp = run_experiment(list(algorithms), base.with_budget(seconds), runs=runs, seed=seed)
        scored = exp.curve_metric
        for algo, r in exp.runs.groupby("algorithm", sort=False):
            d = unpaired_difference(g[column], r[scored], method.upper(), str(algo), seed=seed)
            rows.append(
                row
                | {
                    "algorithm": str(algo),
                    "queries per run": float(r["queries"].mean()),
                    "multi-trial": float(r[scored].mean()),
                    "multi-trial std": float(r[scored].std(ddof=1)),
                    "runs": int(len(r)),
                    "difference": d,
                }
            )
    return pd.DataFrame(rows)


def describe_equal_cost(table: pd.DataFrame, label: str) -> str:
    """One sentence: against how many one-shot methods each multi-trial algorithm is ahead,
    level or behind at equal core-hours (by each difference's interval)."""
    parts = []
    unaffordable = sorted({d.a_name for d in table["difference"] if d.n == 0})
    table = table[[d.n > 0 for d in table["difference"]]]
    if table.empty:
        return (
            f"At equal search cost, no multi-trial search is possible on {label}: not one query fits into "
            f"the core-hours of any one-shot search ({', '.join(unaffordable)})."
        )
    for algo, g in table.groupby("algorithm", sort=False):
        told = [d for d in g["difference"] if np.isfinite(d.lo) and np.isfinite(d.hi)]
        untold = [d for d in g["difference"] if d not in told]  # one one-shot seed: no interval
        ahead = [d.a_name for d in told if not d.covers_zero and d.diff < 0]
        behind = [d.a_name for d in told if not d.covers_zero and d.diff > 0]
        level = [d.a_name for d in told if d.covers_zero]
        q = g["queries per run"]
        part = f"{algo} ({q.min():.0f}-{q.max():.0f} queries per run)"
        if told:
            part += (
                f" is ahead of {', '.join(ahead) or 'none'}, level with {', '.join(level) or 'none'} and "
                f"behind {', '.join(behind) or 'none'}"
            )
        if untold:
            scores = ", ".join(f"{d.b:.1f}% vs {d.a_name} {d.a:.1f}%" for d in untold)
            too_few = "with too few one-shot seeds for an interval"
            part += (" and" if told else "") + f" scores {scores}, {too_few}"
        parts.append(part)
    return (
        f"At equal search cost in core-hours, on {label}: "
        + "; ".join(parts)
        + " (each by a 95% interval of one-shot minus multi-trial where there is one; table below)."
    )


def describe_coverage(records: Sequence[Mapping[str, Any]], missing: Sequence[SearchSpec]) -> str | None:
    """None when every (method, seed) search has finished; else one sentence naming what the
    report covers (methods by their finished seeds) and how many searches it lacks, so a
    report rendered while searches go on does not pass for the full design."""
    if not missing:
        return None
    seeds: dict[str, list[int]] = {}
    for r in records:
        seeds.setdefault(r["spec"]["method"], []).append(int(r["spec"]["seed"]))
    by_seeds: dict[tuple[int, ...], list[str]] = {}
    for method, s in seeds.items():
        by_seeds.setdefault(tuple(sorted(s)), []).append(method.upper())
    covered = "; ".join(
        f"{', '.join(ms)} with seed{'s' if len(k) > 1 else ''} {', '.join(map(str, k))}"
        for k, ms in by_seeds.items()
    )
    absent = sorted({spec.method.upper() for spec in missing} - {m.upper() for m in seeds})
    return (
        f"{len(records)} of {len(records) + len(missing)} searches have finished and this report covers only "
        f"them ({covered or 'none'}"
        + (f"; {', '.join(absent)} not at all" if absent else "")
        + "): every mean and interval over seeds is over the finished seeds of each method."
    )


def summary(
    collapses: Sequence[Collapse],
    best_lines: Sequence[str],
    equal_cost_line: str | None,
    table: pd.DataFrame,
    best: str,
    coverage_line: str | None = None,
) -> list[str]:
    """The report's Findings block (3-6 sentences): the collapse of each DARTS variant, the
    best method and whether its lead exceeds the spread between seeds, how one-shot fares
    against multi-trial search at equal cost, and where the best final cells stand in the
    whole population next to the paper's own result for the method; first, when some
    searches have not finished, which ones the report covers (`describe_coverage`)."""
    out = [coverage_line] if coverage_line else []
    out += [describe_collapse(c) for c in collapses][:2]
    out += list(best_lines[:2])
    if equal_cost_line:
        out.append(equal_cost_line)
    row = table.loc[best]
    pct, paper = row.get(PERCENTILE, np.nan), row.get(PAPER_PERCENTILE, np.nan)
    if np.isfinite(pct) and np.isfinite(paper):
        out.append(
            f"{best.upper()}'s final cells sit at percentile {pct:.1f} of all architectures; the paper's "
            f"{best.upper()} result ({row['paper, quoted (%)']:.2f}%, quoted) sits at percentile "
            f"{paper:.1f} of the same population."
        )
    return out[:6]


# ---- the report's presentation steps (notebook 06) -------------------------------------------


def describe_cv(cv: Mapping[str, Any]) -> str:
    """The estimate's cross-validated Spearman with its interval, as its meta states it."""
    full = cv.get("full") or next(iter(cv.values()), {})
    if "spearman" not in full:
        return "not stated"
    lo, hi = full.get("spearman_ci95", [float("nan")] * 2)
    return f"Spearman {full['spearman']:.3f} [{lo:.3f}, {hi:.3f}] over n = {full.get('n', '?')} architectures"


def measured_metric(acc_sets: Sequence[str]) -> str:
    """The cheap benchmark's test-like accuracy: ori-test, else x-test, else the first set."""
    return next((m for m in ("ori-test-accuracy", "x-test-accuracy") if m in acc_sets), acc_sets[0])


def derived_indices(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Every arch index any search derived at any epoch, once."""
    return list(dict.fromkeys(int(e["arch_index"]) for r in records for e in r["epochs"]))


def equal_cost_table(equal: pd.DataFrame) -> pd.DataFrame:
    """`equal_cost` for display: one row per (method, algorithm), the difference with its interval."""
    shown = equal.drop(columns="difference").rename(columns={"budget core-s": "budget"})
    shown["one-shot − multi-trial"] = [
        f"{d.diff:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}]" if d.n else "—" for d in equal["difference"]
    ]
    shown["verdict"] = [
        "no query affordable"
        if d.n == 0
        else "indistinguishable"
        if d.covers_zero
        else ("one-shot ahead" if d.diff > 0 else "multi-trial ahead")
        for d in equal["difference"]
    ]
    return shown


def sidecar_numbers(
    records: Sequence[Mapping[str, Any]],
    final: pd.DataFrame,
    table: pd.DataFrame,
    collapses: Sequence[Collapse],
    best: str,
    diffs: Sequence[Difference],
    equal: pd.DataFrame | None,
) -> dict[str, Any]:
    """Every number the findings state, and the per-search facts behind them."""
    return {
        "methods": list(dict.fromkeys(final["method"])),
        "seeds": sorted({int(s) for s in final["seed"]}),
        "searches": len(records),
        "epochs": {r["spec"]["method"]: len(r["epochs"]) for r in records},
        "final_archs": {f"{r['spec']['method']}/{r['spec']['seed']}": r["final"]["arch"] for r in records},
        "final": final.to_dict(orient="records"),
        "method_table": table.reset_index().to_dict(orient="records"),
        "collapse": {c.method: c.to_dict() for c in collapses},
        "best": best,
        "best_differences": [d.to_dict() for d in diffs],
        "equal_cost": None
        if equal is None
        else [
            {k: v for k, v in row.items() if k != "difference"} | {"difference": row["difference"].to_dict()}
            for row in equal.to_dict(orient="records")
        ],
        "search_core_hours": final.groupby("method", sort=False)["core_hours"].sum().to_dict(),
    }


__all__ = [
    "PAPER_PERCENTILE",
    "PERCENTILE",
    "Estimate",
    "estimate_of",
    "summary",
    "describe_equal_cost",
    "equal_cost",
    "COLLAPSE_SHARE",
    "Collapse",
    "PAPER_CIFAR10_TEST",
    "archs_to_measure",
    "best_method",
    "collapse",
    "describe_best",
    "describe_collapse",
    "final_table",
    "method_table",
    "percentile",
    "seed_differences",
    "skip_shares",
]
