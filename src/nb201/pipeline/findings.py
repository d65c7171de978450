"""The Findings block of each report, generated from the numbers its sidecar holds.

Every sentence here is built from a number with its n or its interval, never typed: a
comparison is worded by `nb201.stats.describe_difference`, a relation by
`nb201.benchmark.analysis.describe_correlation`, a distribution by
`analysis.describe_distribution`. A notebook computes its numbers, calls its function
here and passes the sentences to `reports.findings`, which the renderer puts first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nb201 import names, stats
from nb201.benchmark import analysis


def _interval(d: dict[str, Any], key: str, digits: int = 3) -> str:
    lo, hi = d.get(f"{key}_lo"), d.get(f"{key}_hi")
    value = float(d.get(key, np.nan))
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f} (no interval)"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _plural(n: int, what: str) -> str:
    return f"{n:,} {what if n != 1 else what.rstrip('s')}"


# ---- 01 train -----------------------------------------------------------------------------
def train_findings(numbers: dict[str, Any], seeds: list[int]) -> list[str]:
    """01_train: what the selection holds, what this execution did, what the sweep cost,
    and the final accuracy of its runs (median, quartiles, best, n)."""
    out = [
        f"{numbers['records_ok']:,} of the {numbers['runs_total']:,} runs of this selection "
        f"({_plural(numbers['archs_selected'], 'architectures')} × {_plural(len(seeds), 'seeds')}) have a "
        f"complete record; {numbers['runs_failed']} failed.",
        f"This execution trained {numbers['runs_done']:,} runs and found {numbers['runs_skipped']:,} already "
        f"recorded; {numbers['runs_shared']:,} shared a functionally equivalent cell's record and "
        f"{numbers['runs_degenerate']:,} are degenerate cells recorded at chance level.",
    ]
    cost = numbers["sweep_cost"]
    if cost["runs"]:
        out.append(
            f"The sweep's {int(cost['runs']):,} run records cost {cost['cpu_hours']:.3f} core-hours in all, "
            f"{cost['core_seconds_per_run']:.1f} core-seconds per run on average "
            f"({int(cost['archs']):,} architectures)."
        )
    final = numbers.get("final_accuracy", {})
    key = next((k for k in ("ori-test-accuracy", "x-test-accuracy") if k in final), next(iter(final), None))
    if key:
        f = final[key]
        out.append(
            f"Final {names.set_of(key)} accuracy over the {f['n']:,} successful runs: median "
            f"{f['median']:.2f}%, interquartile range [{f['q25']:.2f}, {f['q75']:.2f}], best {f['max']:.2f}%."
        )
    return out


# ---- 02 aggregate -------------------------------------------------------------------------
def aggregate_findings(numbers: dict[str, Any], final: pd.DataFrame) -> list[str]:
    """02_aggregate: coverage of every sub-store (at most three), what this execution
    added, the compute the runs cost, and the final accuracy of the test column."""
    out = []
    for name, sub in list(numbers["substores"].items())[:3]:
        out.append(
            f"Sub-store {name}: {_plural(sub['archs'], 'architectures')} × "
            f"{_plural(len(sub['seeds']), 'seeds')}, "
            f"{sub['runs']:,} runs, coverage {sub['coverage']:.1%} of (architecture, seed) pairs "
            f"({sub['missing']} missing, {sub['failed']} failed, {sub['conflicts']} conflicting)."
        )
    added = sum(sub["added"] for sub in numbers["substores"].values())
    out.append(
        f"This execution added {added:,} runs to the benchmark: it read {numbers['new_files']:,} record "
        f"files not seen before ({numbers['known_files']:,} already ingested, {numbers['malformed']} "
        "malformed; a record whose run is already stored adds nothing)."
    )
    spent = [p for p in numbers.get("provenance", []) if p.get("CPU hours") is not None]
    if spent:
        hours = sum(float(p["CPU hours"]) for p in spent)
        runs = sum(int(p["runs"] or 0) for p in spent)
        out.append(f"Its runs cost {hours:.3f} core-hours ({runs:,} runs, as recorded in meta.json).")
    test = [c for c in final.columns if c.endswith(("/x-test", "/ori-test"))]
    if test:
        out.append(analysis.describe_distribution(final[test[0]], f"Final {test[0]} accuracy"))
    return out[:6]


# ---- 03 analysis --------------------------------------------------------------------------
def cost_sentences(
    agree: dict[str, dict[str, float]], target: str, params_flops_same_order: bool
) -> list[str]:
    """How parameter count and FLOPs relate to accuracy: one sentence for both when they
    order the architectures identically (then they are one finding, not two)."""
    if params_flops_same_order:
        name = "parameter count (and FLOPs, which order these architectures identically)"
        return [analysis.describe_correlation(agree["params"], name, target)]
    names = {"params": "parameter count", "flops": "FLOPs"}
    return [analysis.describe_correlation(agree[c], name, target) for c, name in names.items()]


def epoch_sentence(label: str, ends: dict[str, Any]) -> str | None:
    """How early a validation ranking predicts the final test ranking: epoch 1 against the
    last epoch, both with intervals."""
    first, last, epochs = ends["first"], ends["last"], ends["epochs"]
    if epochs < 2 or not np.isfinite(first.get("kendall", np.nan)):
        return None
    v, t = label.split(" after epoch k vs final ")
    return (
        f"The {v} ranking after epoch 1 agrees with the final {t} ranking at Kendall τ "
        f"{_interval(first, 'kendall', 2)}, after epoch {epochs} (the last) at "
        f"{_interval(last, 'kendall', 2)} (95% bootstrap intervals over {int(last['n']):,} architectures; "
        "the two sets hold different images)."
    )


def top_op_sentence(freq: pd.DataFrame, n: int, rank_by: str) -> str | None:
    """The operation most over-represented on one edge among the top `n`, counted."""
    if n == 0:
        return None
    edge, op = freq.stack().idxmax()
    share = float(freq.loc[edge, op])
    none_share = float(freq["none"].mean()) if "none" in freq else float("nan")
    tail = f"; {none_share:.0%} of their edges are missing (op none)" if np.isfinite(none_share) else ""
    return (
        f"Among the top {n} architectures by {rank_by}, {round(share * n)} of {n} carry {op} on edge {edge} "
        f"({0.2 * n:.1f} expected under uniform sampling){tail}."
    )


def describe_model(estimate: dict) -> str:
    """A few words on what made an estimate: its model's name and, where the estimate states
    it, its cross-validated agreement with the labels it was fitted to."""
    model = estimate.get("model") or estimate.get("method") or "a model"
    if isinstance(model, dict):
        model = model.get("ranker") or model.get("name") or "a fitted model"
    labels = estimate.get("labels")
    n = (labels.get("n") or labels.get("count")) if isinstance(labels, dict) else None
    cv = (estimate.get("cv") or {}).get("full") or {}
    words = f"{model}"
    if n:
        words += f" fitted on {n} published accuracies"
    if "spearman" in cv:
        lo, hi = cv.get("spearman_ci95", [float("nan")] * 2)
        words += f", cross-validated Spearman {cv['spearman']:.3f} [{lo:.3f}, {hi:.3f}]"
    return words


def analysis_findings(
    *,
    distribution: str,
    noise: str | None,
    costs: list[str],
    valid_test: list[str],
    epochs: list[str | None],
    top_op: str | None,
    best: tuple[int, float, str, int] | None,
    estimate: dict | None,
) -> list[str]:
    """03_analysis: at most six sentences, the estimate notice first on an estimated
    benchmark (whose report shows only what an estimate can support)."""
    out: list[str] = []
    if estimate is not None:
        out.append(
            f"This benchmark is an estimate (its numbers come from {describe_model(estimate)}, not from "
            "training): the "
            "distribution, cost and operation analyses below describe the estimate; cross-dataset, "
            "epoch and seed analyses of an estimate would measure the model, not the data, and are left out."
        )
    out.append(distribution)
    if noise and estimate is None:
        out.append(noise)
    out.extend(costs)
    if estimate is None:
        out.extend(valid_test[:1])
        out.extend(e for e in epochs[:1] if e)
    if top_op:
        out.append(top_op)
    if best:
        index, acc, column, n = best
        out.append(f"The best of the {n:,} architectures by {column} is #{index}, at {acc:.2f}%.")
    return out[:6]


# ---- 05 fidelity --------------------------------------------------------------------------
def fidelity_findings(
    results: pd.DataFrame,
    grid_size: int,
    n_archs: int,
    empty: list[str],
    baseline: dict[str, float],
    selection_lines: list[str],
    chosen: str | None,
    compared: bool = False,
) -> list[str]:
    """05_fidelity: how many grid points are complete (stated as such), the bar to clear,
    the chosen point with its interval and cost, and its comparison with the benchmark's."""
    complete = results.index[results["complete"].astype(bool)].tolist() if len(results) else []
    partial = [f"{p} (n={int(results.loc[p, 'n'])})" for p in results.index if p not in complete]
    out = [
        f"{len(complete)} of {grid_size} grid points are complete (all {n_archs} calibration architectures "
        f"scored); {len(partial)} are incomplete"
        + (f" ({', '.join(partial)})" if partial else "")
        + f" and {len(empty)} have no records yet, so only the complete ones can be chosen.",
        f"The parameter count alone ranks the {int(baseline['n'])} calibration architectures at Spearman "
        f"{_interval(baseline, 'spearman')} with the full protocol: the bar a cheap fidelity must clear.",
    ]
    if chosen is None:
        out.append("No grid point is complete and within the budget yet: nothing is chosen.")
        return out
    r = results.loc[chosen]
    out.append(
        f"The rule chooses {chosen}: Spearman {_interval(r, 'spearman')} at "
        f"{r['core_seconds_per_arch']:.1f} core-seconds per architecture (n = {int(r['n'])})."
    )
    # the selection's sentences: with a paired comparison (chosen point vs the benchmark's),
    # the comparison and its consequence; otherwise the one line on the benchmark's point
    out.extend(selection_lines[2:4] if compared else selection_lines[1:2])
    return out[:6]


# ---- 07 ranking ---------------------------------------------------------------------------
def ranking_findings(
    chosen: str | None,
    row: dict[str, Any] | None,
    n: int,
    k_folds: int,
    deltas: dict[str, dict[str, float]],
    candidates: int,
    best_zero_cost: dict[str, Any] | None,
    n_zero_cost: int,
) -> list[str]:
    """07_ranking: the chosen method's cross-validated agreement, its paired differences
    with the cheap run and the parameter count (worded by `nb201.stats`), the best single
    zero-cost proxy, and why the figure is optimistic and not a search reward."""
    if chosen is None or row is None:
        return [f"Only {n} calibration architectures are scored: no method is chosen yet."]
    how = (
        f"out-of-fold predictions of a {k_folds}-fold cross-validation"
        if "CV" in str(row.get("evaluation", ""))
        else "direct scores (nothing fitted)"
    )
    out = [
        f"The chosen ranker, {chosen}, agrees with the published 200-epoch accuracies at Spearman "
        f"{_interval(row, 'spearman')}, Kendall {_interval(row, 'kendall')} on {int(row['n'])} calibration "
        f"architectures ({how}), at {row['core_seconds_per_arch']:.2f} core-seconds per architecture."
    ]
    names = {"cheap run: final test acc": "the cheap training run alone"}
    for other, d in deltas.items():
        diff = stats.from_interval(
            "the chosen ranker", names.get(other, other), d["delta_spearman"], d["lo"], d["hi"], int(d["n"])
        )
        text = stats.describe_difference(diff, quantity="Spearman agreement", unit="", digits=3)
        out.append(text[0].upper() + text[1:])  # it starts with "the chosen ranker"
    if best_zero_cost:
        out.append(
            f"The best single zero-cost proxy, {best_zero_cost['method']}, reaches Spearman "
            f"{_interval(best_zero_cost, 'spearman')} on {n_zero_cost} calibration architectures."
        )
    out.append(
        f"These are calibration figures of the best of {candidates} candidates chosen on the same "
        "architectures, so they are optimistic; and the ranking-score is fitted to published accuracies, "
        "so using it as a search reward leaks those labels into the search."
    )
    return out[:6]


__all__ = [
    "aggregate_findings",
    "analysis_findings",
    "cost_sentences",
    "epoch_sentence",
    "fidelity_findings",
    "ranking_findings",
    "top_op_sentence",
    "train_findings",
]


_SCORED = {
    "cifar10": "CIFAR-10 test",
    "cifar100": "CIFAR-100 x-test",
    "ImageNet16-120": "ImageNet16-120 x-test",
}


def whole_space_findings(
    summary: dict[str, Any],
    check: dict[str, Any],
    estimates: dict[str, np.ndarray],
    spreads: dict[str, np.ndarray],
) -> list[str]:
    """08_whole_space: how well the estimate ranks (nested CV per dataset, the held-out
    sanity check), what serves which cells, and what the estimated population looks like."""
    cv = []
    for ds, sets in summary["cv"].items():
        full = sets.get("full") or next(iter(sets.values()))
        lo, hi = full["spearman_ci95"]
        cv.append(f"{_SCORED.get(ds, ds)} {full['spearman']:.3f} [{lo:.3f}, {hi:.3f}]")
    n = next(iter(next(iter(summary["cv"].values())).values()))["n"]
    out = [
        f"The estimate ranks the {n} calibration architectures like the published 200-epoch protocol at "
        f"Spearman {'; '.join(cv)} (nested cross-validation, out-of-fold, 95% bootstrap intervals); "
        "agreement on other architectures may be somewhat lower.",
        f"On the committed CPU benchmark's {check.get('n', 200):.0f} architectures, held out from the "
        f"calibration set and measured at a cheap 4-epoch protocol, the CIFAR-10 estimate agrees at Spearman "
        f"{check['spearman']:.3f} [{check['spearman_lo']:.3f}, {check['spearman_hi']:.3f}].",
    ]
    served = summary["served_by"].get("cifar10") or next(iter(summary["served_by"].values()))
    parts = ", ".join(
        f"{v:,} by the {k} model" if k != "rule" else f"{v:,} by the degenerate rule"
        for k, v in served.items()
    )
    out.append(f"All {sum(served.values()):,} cells are served: {parts}.")
    est, sd = estimates.get("cifar10"), spreads.get("cifar10")
    if est is not None:
        q10, q50, q90 = np.percentile(est, [10, 50, 90])
        out.append(
            f"Estimated CIFAR-10 test accuracy over the whole space: median {q50:.2f}%, 10th-90th "
            f"percentile [{q10:.2f}, {q90:.2f}], best {np.max(est):.2f}%; the median per-architecture "
            f"uncertainty (estimate-std) is {np.median(sd):.2f} points."
        )
    return out
