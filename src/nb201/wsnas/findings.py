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
from typing import Any

import numpy as np
import pandas as pd

from nb201.space import Arch
from nb201.stats import Difference, describe_difference, mean_std, paired_difference, unpaired_difference
from nb201.wsnas.evaluate import QUOTED

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


def method_table(
    final: pd.DataFrame,
    estimated: str,
    measured: str | None,
    population: np.ndarray,
    quoted: Mapping[str, float] = PAPER_CIFAR10_TEST,
) -> pd.DataFrame:
    """Per method (in search order): mean ± std over seeds of the final arch's `estimated`
    and `measured` accuracy (separate columns, fidelity in the header), the percentile of
    the mean estimate among `population`, the search cost, and beside it the paper's quoted
    accuracy with its percentile in the same population, so the two compare by rank."""
    rows = []
    for method, g in final.groupby("method", sort=False):
        est = g[estimated].to_numpy(dtype=float)
        row: dict[str, Any] = {"method": method, "seeds": len(g)}
        row[f"{estimated} (estimated)"] = mean_std(est)
        if measured is not None:
            row[f"{measured} (measured)"] = mean_std(g[measured].to_numpy(dtype=float))
        row["percentile (estimated, all archs)"] = percentile(float(np.nanmean(est)), population)
        row["search core-hours"] = mean_std(g["core_hours"].to_numpy(dtype=float), digits=3)
        q = quoted.get(method, float("nan"))
        row["paper, quoted (%)"] = q
        row["paper percentile (same population)"] = percentile(q, population)
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
    head = f"{best.upper()}'s final cells are best by {label}: mean {mean[best]:.2f}% over {n} seeds."
    clear = [d.b_name for d in diffs if not d.covers_zero]
    tied = [d.b_name for d in diffs if d.covers_zero]
    summary = (
        f"Over seeds, {best.upper()} is clearly ahead of {', '.join(clear) or 'no method'}"
        + (f" and indistinguishable from {', '.join(tied)}" if tied else "")
        + " (paired bootstrap intervals over seeds below)."
    )
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
    rows = []
    for method, g in final.groupby("method", sort=False):
        seconds = float(g["core_hours"].mean() * 3600.0)
        exp = run_experiment(list(algorithms), base.with_budget(seconds), runs=runs, seed=seed)
        scored = exp.curve_metric
        for algo, r in exp.runs.groupby("algorithm", sort=False):
            d = unpaired_difference(g[column], r[scored], method.upper(), str(algo), seed=seed)
            rows.append(
                {
                    "method": method,
                    "algorithm": str(algo),
                    "budget core-s": seconds,
                    "queries per run": float(r["queries"].mean()),
                    "one-shot": float(g[column].mean()),
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
    for algo, g in table.groupby("algorithm", sort=False):
        ahead = [d.a_name for d in g["difference"] if not d.covers_zero and d.diff < 0]
        behind = [d.a_name for d in g["difference"] if not d.covers_zero and d.diff > 0]
        level = [d.a_name for d in g["difference"] if d.covers_zero]
        q = g["queries per run"]
        parts.append(
            f"{algo} ({q.min():.0f}-{q.max():.0f} queries per run) is ahead of "
            f"{', '.join(ahead) or 'none'}, level with {', '.join(level) or 'none'} and behind "
            f"{', '.join(behind) or 'none'}"
        )
    return (
        f"At equal search cost in core-hours, on {label}: "
        + "; ".join(parts)
        + " (each by a 95% interval of one-shot minus multi-trial; table below)."
    )


__all__ = [
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
