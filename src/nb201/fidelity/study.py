"""The fidelity study: how cheaply can a benchmark be trained and still rank architectures
the way the full 200-epoch protocol does?

A *fidelity point* is the `cpu-cifar` preset with some knobs overridden (channels, cells,
epochs, image size, training subset, batch size, schedule). Each point trains the 60
calibration architectures through the ordinary sweep (so its records are ordinary,
resumable run records) and is scored by the rank agreement of its final test accuracy with
the published full-protocol accuracy, against its CPU cost per architecture.
The grid lives in `configs/fidelity_grid.toml`, not in code; `nb201.config` types and reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.benchmark.analysis import rank_agreement, record_cpu_seconds
from nb201.config import FidelityGrid, FidelityPoint, load_grid  # noqa: F401 (the grid's home; re-exported)
from nb201.space import Arch

CALIBRATION_COLUMNS = {
    "cifar10": "cifar10_test_acc_200ep",
    "cifar100": "cifar100_xtest_acc_200ep",
    "ImageNet16-120": "imagenet16_120_xtest_acc_200ep",
}


def load_calibration(path: str | Path) -> pd.DataFrame:
    """The calibration CSV, indexed by the official arch index, checked against our space."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"calibration file {path} not found: it lives in ../shared/calibration/ next to the project"
        )
    table = pd.read_csv(path)
    missing = {"nb201_index", "arch", *CALIBRATION_COLUMNS.values()} - set(table.columns)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}; is it the nb201 calibration file?")
    for idx, text in zip(table["nb201_index"], table["arch"]):
        if Arch.from_string(text).index != int(idx):
            raise ValueError(f"{path}: arch {text} is index {Arch.from_string(text).index}, not {idx}")
    return table.set_index("nb201_index")


def point_table(records: list[dict[str, Any]], metric: str = "ori-test-accuracy") -> pd.DataFrame:
    """One row per architecture of a point's records: final accuracy (mean over seeds) and
    core-seconds per run."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        rows.append(
            {
                "index": int(r["arch_index"]),
                "seed": int(r["spec"]["seed"]),
                "accuracy": float(r["epochs"][-1][metric]),
                "core_seconds": record_cpu_seconds(r),
                "params": float(r["cost"]["params"]),
            }
        )
    if not rows:
        return pd.DataFrame(columns=["accuracy", "core_seconds", "params", "seeds"])
    frame = pd.DataFrame(rows)
    out = frame.groupby("index").agg(
        accuracy=("accuracy", "mean"),
        core_seconds=("core_seconds", "mean"),
        params=("params", "first"),
        seeds=("seed", "nunique"),
    )
    return out


def score_point(
    table: pd.DataFrame, calibration: pd.DataFrame, column: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Rank agreement of a point's accuracies with the full protocol, with bootstrap CIs."""
    joined = table.join(calibration[column], how="inner")
    out = rank_agreement(joined["accuracy"], joined[column], n_boot=n_boot, seed=seed)
    out["core_seconds_per_arch"] = float(joined["core_seconds"].mean()) if len(joined) else float("nan")
    return out


def params_baseline(
    calibration: pd.DataFrame, column: str, num_classes: int = 10, **kw: Any
) -> dict[str, float]:
    """The parameter count's own agreement with the full protocol: the bar a cheap benchmark
    must clear (about 0.75 Spearman on CIFAR-10)."""
    from nb201.space.cost import count_params

    params = np.array([count_params(Arch.from_index(int(i)), num_classes) for i in calibration.index])
    return rank_agreement(params, calibration[column].to_numpy(), **kw)


# ---- choosing a point, and comparing two -------------------------------------------------
SELECTION_RULE = (
    "the point with the highest Spearman agreement among those whose every calibration "
    "architecture has a record and whose mean cost is within the budget"
)


def mark_complete(results: pd.DataFrame, n_required: int, budget: float) -> pd.DataFrame:
    """`results` (one row per point: n, spearman, ..., core_seconds_per_arch) with two columns
    added: `complete` (every calibration architecture scored) and `within_budget`.

    A point scored on 9 of 60 architectures has an interval three times as wide and a
    different set of architectures, so it is not comparable with the complete ones; the
    report marks it instead of ranking it beside them."""
    out = results.copy()
    out["complete"] = out["n"].fillna(0).astype(int) >= n_required
    out["within_budget"] = out["core_seconds_per_arch"] <= budget
    return out


def choose_point(
    results: pd.DataFrame, n_required: int, budget: float, metric: str = "spearman"
) -> str | None:
    """The selection rule (`SELECTION_RULE`): best `metric` among complete points within the
    budget; None when no point qualifies."""
    marked = mark_complete(results, n_required, budget)
    eligible = marked[marked["complete"] & marked["within_budget"] & marked[metric].notna()]
    return str(eligible[metric].idxmax()) if len(eligible) else None


def paired_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    calibration: pd.DataFrame,
    column: str,
    method: str = "spearman",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Rank agreement of point `a` minus that of point `b`, with a paired bootstrap interval.

    Both points are scored on the architectures both hold, and every bootstrap resample
    draws the same architectures for both, so the interval reflects only how differently
    the two points rank them (the architectures' own spread cancels). A difference whose
    interval covers zero is not significant.
    """
    if method not in ("spearman", "kendall"):
        raise ValueError(f"unknown method {method!r}: use 'kendall' or 'spearman'")
    joined = (
        a[["accuracy"]]
        .rename(columns={"accuracy": "a"})
        .join(b[["accuracy"]].rename(columns={"accuracy": "b"}), how="inner")
        .join(calibration[[column]], how="inner")
        .dropna()
    )
    n = len(joined)
    x, y, t = (joined[c].to_numpy(dtype=float) for c in ("a", "b", column))
    from scipy import stats

    def corr(u: np.ndarray, v: np.ndarray) -> float:
        f = stats.spearmanr if method == "spearman" else stats.kendalltau
        return float(f(u, v).statistic)

    out = {"n": float(n), "a": float("nan"), "b": float("nan"), "diff": float("nan")}
    out |= {"diff_lo": float("nan"), "diff_hi": float("nan")}
    if n < 3:
        return out
    out["a"], out["b"] = corr(x, t), corr(y, t)
    out["diff"] = out["a"] - out["b"]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        i = rng.integers(0, n, size=n)
        diffs[k] = corr(x[i], t[i]) - corr(y[i], t[i])
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out["diff_lo"], out["diff_hi"] = (float(v) for v in np.nanpercentile(diffs, [lo, hi]))
    return out


def describe_difference(diff: dict[str, float], a: str, b: str, method: str = "spearman") -> str:
    """One sentence on a `paired_difference`, worded by `nb201.stats.describe_difference`
    (the one function that words comparisons): a direction only when the interval excludes
    zero, "indistinguishable" otherwise."""
    from nb201 import stats as st

    d = st.Difference(
        a,
        b,
        float(diff.get("a", np.nan)),
        float(diff.get("b", np.nan)),
        float(diff.get("diff", np.nan)),
        float(diff.get("diff_lo", np.nan)),
        float(diff.get("diff_hi", np.nan)),
        int(diff.get("n", 0) or 0),
    )
    quantity = f"{method.capitalize()} agreement with the full protocol"
    return st.describe_difference(d, quantity=quantity, unit="", digits=3, levels=True)


def preset_point(grid: FidelityGrid, preset: str) -> str | None:
    """The grid point whose resolved training config equals `preset`'s (None if none does):
    how a report names the point a benchmark was built at."""
    from nb201.train import resolve_config

    target = resolve_config(preset, {})
    for p in grid.points:
        if resolve_config(grid.preset, p.fidelity) == target:
            return p.name
    return None


# ---- the fidelity report's steps (notebook 05) ---------------------------------------------
def score_grid(
    records: list[dict[str, Any]],
    points: list[FidelityPoint],
    calibration: pd.DataFrame,
    column: str,
    arch_indexes: list[int],
    budget: float,
    n_boot: int = 1000,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Score every grid point on the calibration architectures `arch_indexes`.

    `records` are the study's records of one (preset, split); each point's are those trained
    with exactly its fidelity overrides. Returns (one row per point: n, the rank agreement
    with the full protocol and its intervals, core_seconds_per_arch, mean_accuracy,
    complete, within_budget; {point: its `point_table`})."""
    from nb201.train.records import select_records

    rows, tables = [], {}
    for p in points:
        table = point_table(select_records(records, fidelity=p.fidelity))
        table = table[table.index.isin(arch_indexes)]
        tables[p.name] = table
        score = score_point(table, calibration, column, n_boot=n_boot)
        mean_acc = table["accuracy"].mean() if len(table) else np.nan
        rows.append({"point": p.name, **score, "mean_accuracy": mean_acc})
    results = mark_complete(pd.DataFrame(rows).set_index("point"), len(arch_indexes), budget)
    results["n"] = results["n"].astype(int)
    return results, tables


def coverage_notes(results: pd.DataFrame, n_required: int) -> tuple[pd.DataFrame, list[str], list[str], str]:
    """(the points with at least one record, the names of those without any, the names of
    the incomplete ones, a note saying both; empty when every point is complete)."""
    empty = results.index[results["n"] == 0].tolist()
    scored = results[results["n"] > 0]
    partial = scored.index[~scored["complete"]].tolist()
    notes = []
    if empty:
        notes.append(f"no records yet (left out below): {', '.join(empty)}")
    if partial:
        shown = ", ".join(f"{p} (n={scored.loc[p, 'n']})" for p in partial)
        notes.append(f"incomplete (n < {n_required}; shown hollow in the figure, never chosen): {shown}")
    return scored, empty, partial, "\n".join(notes)


@dataclass
class Selection:
    """What the selection rule chose, the point the benchmark was built at, their paired
    comparison (when both are scored and differ) and the report's sentences on all three."""

    chosen: str | None
    used: str | None
    comparison: dict[str, float] | None
    lines: list[str]


def _chosen_line(results: pd.DataFrame, grid: FidelityGrid, chosen: str | None) -> str:
    if not chosen:
        return "No point within the budget is complete yet: the rule chooses none."
    c = results.loc[chosen]
    return (
        f"The rule chooses **{chosen}**: Spearman {c['spearman']:.3f} [{c['spearman_lo']:.3f}, "
        f"{c['spearman_hi']:.3f}], Kendall {c['kendall']:.3f}, {c['core_seconds_per_arch']:.1f} core-s per "
        f"architecture, n = {c['n']} (fidelity {grid.point(chosen).fidelity})."
    )


def _used_line(results: pd.DataFrame, used: str, preset: str) -> str:
    u = results.loc[used] if used in results.index else None
    scored = f" (Spearman {u['spearman']:.3f}, n = {u['n']}, {u['core_seconds_per_arch']:.1f} core-s)"
    return (
        f"The committed benchmark was built at preset `{preset}`, the grid point **{used}**"
        + (scored if u is not None else "")
        + ": the point the same rule chose when the benchmark was built, "
        "before the other points had finished."
    )


def select(
    results: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    grid: FidelityGrid,
    benchmark_preset: str,
    calibration: pd.DataFrame,
    column: str,
    n_required: int,
    n_boot: int = 1000,
) -> Selection:
    """Apply `SELECTION_RULE` (`choose_point`) to the scored points, name the point the
    benchmark was built at (`preset_point`), and when the two differ compare them with a
    paired bootstrap; the sentences say whether a rebuild would be worth it."""
    chosen = choose_point(results, n_required, grid.budget_core_seconds)
    used = preset_point(grid, benchmark_preset)
    lines, comparison = [_chosen_line(results, grid, chosen)], None
    if used is None:
        lines.append(f"The benchmark's preset {benchmark_preset!r} is not a point of this grid.")
    elif used == chosen:
        lines.append(f"The committed benchmark uses this point (preset `{benchmark_preset}`).")
    else:
        lines.append(_used_line(results, used, benchmark_preset))
        if chosen and used in tables:
            comparison = paired_difference(tables[chosen], tables[used], calibration, column, n_boot=n_boot)
            lines.append(describe_difference(comparison, chosen, used))
            significant = not (comparison["diff_lo"] <= 0 <= comparison["diff_hi"])
            lines.append(
                "The benchmark would be worth rebuilding at the chosen point."
                if significant
                else f"So the benchmark stays at `{benchmark_preset}`; "
                "the chosen point ships as its own preset."
            )
    return Selection(chosen, used, comparison, lines)


def points_json(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The scored points as plain JSON values: booleans kept, numbers as floats, NaN as None."""

    def plain(v: Any) -> Any:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        return None if pd.isna(v) else float(v)

    return {k: {kk: plain(vv) for kk, vv in v.items()} for k, v in results.to_dict(orient="index").items()}
