"""The paper's analyses as plain functions on arrays and DataFrames.

Kept free of plotting and of file access so that the analysis notebook, the fidelity
study and the tests all compute the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nb201.names import eval_metrics
from nb201.space import EDGES, OPS, Arch


def _finite_pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"rank agreement needs two equal-length vectors, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = _finite_pairs(a, b)
    return float(stats.kendalltau(x, y).statistic) if len(x) > 1 else float("nan")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = _finite_pairs(a, b)
    return float(stats.spearmanr(x, y).statistic) if len(x) > 1 else float("nan")


def rank_agreement(
    a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Kendall tau and Spearman rho with percentile-bootstrap intervals over architectures.

    The interval answers "how much would the agreement move with another draw of
    architectures of the same size", which is what a calibration set of 60 can tell.
    """
    x, y = _finite_pairs(a, b)
    n = len(x)
    out = {"n": float(n), "kendall": kendall(x, y), "spearman": spearman(x, y)}
    if n < 3 or n_boot <= 0:
        return out | {k: float("nan") for k in ("kendall_lo", "kendall_hi", "spearman_lo", "spearman_hi")}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    rx, ry = stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    tau = np.array([stats.kendalltau(x[i], y[i]).statistic for i in idx])
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out["kendall_lo"], out["kendall_hi"] = (float(v) for v in np.nanpercentile(tau, [lo, hi]))
    out["spearman_lo"], out["spearman_hi"] = (float(v) for v in np.nanpercentile(rho, [lo, hi]))
    return out


def correlation_matrix(table: pd.DataFrame, method: str = "kendall") -> pd.DataFrame:
    """Pairwise rank correlation between the columns (e.g. one accuracy column per dataset)."""
    if method not in ("kendall", "spearman"):
        raise ValueError(f"unknown method {method!r}: use 'kendall' or 'spearman'")
    return table.corr(method=method)


def epoch_agreement(curves: np.ndarray, final: np.ndarray | None = None) -> pd.DataFrame:
    """How well the ranking after epoch k agrees with the final ranking, for every k.

    `curves` is [arch, epoch]; `final` defaults to the last epoch.
    """
    curves = np.asarray(curves, dtype=float)
    if curves.ndim != 2:
        raise ValueError(f"curves must be [arch, epoch], got shape {curves.shape}")
    target = curves[:, -1] if final is None else np.asarray(final, dtype=float)
    rows = [
        {"epoch": k + 1, "kendall": kendall(curves[:, k], target), "spearman": spearman(curves[:, k], target)}
        for k in range(curves.shape[1])
    ]
    return pd.DataFrame(rows)


def seed_spread(values: np.ndarray) -> pd.DataFrame:
    """Per-architecture mean, std and range over seeds; `values` is [arch, seed] (NaN = missing)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be [arch, seed], got shape {values.shape}")
    n = np.isfinite(values).sum(axis=1)
    safe = np.where(np.isfinite(values), values, 0.0)
    mean = np.divide(safe.sum(axis=1), n, out=np.full(len(n), np.nan), where=n > 0)
    dev = np.where(np.isfinite(values), values - mean[:, None], 0.0)
    std = np.sqrt(np.divide((dev**2).sum(axis=1), n - 1, out=np.full(len(n), np.nan), where=n > 1))
    hi = np.where(np.isfinite(values), values, -np.inf).max(axis=1)
    lo = np.where(np.isfinite(values), values, np.inf).min(axis=1)
    return pd.DataFrame({"seeds": n, "mean": mean, "std": std, "range": np.where(n > 0, hi - lo, np.nan)})


def op_frequency(archs: Sequence[Arch | str]) -> pd.DataFrame:
    """Fraction of the given architectures that use each op on each edge (rows: edges)."""
    cells = [Arch.coerce(a) for a in archs]
    counts = np.zeros((len(EDGES), len(OPS)))
    for a in cells:
        counts[np.arange(len(EDGES)), a.op_ids()] += 1
    freq = counts / max(len(cells), 1)
    return pd.DataFrame(freq, index=[f"{i}→{j}" for i, j in EDGES], columns=list(OPS))


# ---- reading a benchmark for the analyses ---------------------------------------------
# Everything is read through `nb201.benchmark.api.Benchmark`, never from the benchmark's files.
def analysis_hp(bench, split: str) -> str:
    """The schedule the analyses read: `Benchmark.default_hp(split, "report")`, the paper's
    "200" when present, else the longest."""
    return bench.default_hp(split, "report")


def eval_sets(bench, split: str, hp: str | None = None) -> list[str]:
    """Evaluation sets of a split, in the order x-valid, x-test, ori-test (`Benchmark.eval_sets`)."""
    return bench.eval_sets(split, hp or analysis_hp(bench, split))


def cost_frame(bench, split: str, hp: str | None = None) -> pd.DataFrame:
    """params (M), FLOPs (M) and latency (s) per architecture of a split, indexed by arch index."""
    costs = bench.cost_table(split, hp or analysis_hp(bench, split))
    frame = pd.DataFrame({k: v for k, v in costs.items() if k != "arch_index"}, index=costs["arch_index"])
    frame.index.name = "index"
    return frame


def epoch_curves(bench, split: str, metric: str, hp: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(arch indices, [arch, epoch] values averaged over seeds) for one stored metric."""
    hp = hp or analysis_hp(bench, split)
    archs = bench.indexes(split, hp).astype(np.int64)
    epochs = bench.num_epochs(split, hp)
    curves = np.stack(
        [bench.metrics(archs, metric, epoch=e, dataset=split, hp=hp) for e in range(epochs)], axis=1
    )
    return archs, curves


def seed_matrix(
    bench, split: str, metric: str, hp: str | None = None
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """(arch indices, seeds, [arch, seed] final-epoch values; NaN where a seed has no run)."""
    hp = hp or analysis_hp(bench, split)
    return (
        bench.indexes(split, hp).astype(np.int64),
        bench.seeds(split, hp),
        bench.seed_table(metric, split, hp),
    )


# ---- report text that follows from the numbers ------------------------------------------
# Thresholds on |rank correlation| for the words "weak", "moderate", "strong" (Kendall's tau
# runs about two thirds of Spearman's rho on the same data, hence two scales).
_STRENGTH = {"kendall": (0.2, 0.45), "spearman": (0.3, 0.6)}
_SYMBOL = {"kendall": "Kendall τ", "spearman": "Spearman ρ"}


def describe_correlation(
    agreement: dict[str, float],
    x: str,
    y: str,
    method: str = "kendall",
    level: float = 0.95,
) -> str:
    """One sentence about how `x` relates to `y`, generated from a `rank_agreement` result.

    The sentence states a direction only when the bootstrap interval excludes zero, and
    then grades the strength by the interval's bound nearest zero (the strength the data
    support), not the point estimate; when the interval covers zero it says "no clear
    relation". Report prose is written by this function so that a sentence can never claim
    more than the statistic beside it.
    """
    if method not in _STRENGTH:
        raise ValueError(f"unknown method {method!r}: use 'kendall' or 'spearman'")
    value = float(agreement.get(method, float("nan")))
    lo = float(agreement.get(f"{method}_lo", float("nan")))
    hi = float(agreement.get(f"{method}_hi", float("nan")))
    n = int(agreement.get("n", 0) or 0)
    symbol = _SYMBOL[method]
    if not np.isfinite(value) or not (np.isfinite(lo) and np.isfinite(hi)):
        shown = f" ({symbol} = {value:.2f}, no interval)" if np.isfinite(value) else ""
        return f"Too few architectures ({n}) to say how {x} relates to {y}{shown}."
    stat = (
        f"{symbol} = {value:.2f} [{lo:.2f}, {hi:.2f}], {level:.0%} bootstrap interval over {n} architectures"
    )
    if lo <= 0 <= hi:
        return f"No clear relation between {x} and {y}: {stat}, which covers zero."
    weak, strong = _STRENGTH[method]
    supported = min(abs(lo), abs(hi))
    grade = "strong" if supported >= strong else "moderate" if supported >= weak else "weak"
    direction = "higher" if value > 0 else "lower"
    return f"Higher {x} goes with {direction} {y}, a {grade} relation: {stat}."


def describe_noise(between_archs_std: float, seed_std: float, what: str = "accuracy") -> str:
    """One sentence comparing the spread of `what` between architectures with its spread
    between seeds of one architecture; where the two are comparable, the ranking is mostly
    noise and the sentence says so."""
    if not (np.isfinite(between_archs_std) and np.isfinite(seed_std)):
        return f"Only one seed per architecture: the seed noise in {what} cannot be measured here."
    ratio = between_archs_std / seed_std if seed_std > 0 else float("inf")
    numbers = (
        f"the spread of {what} between architectures (std {between_archs_std:.2f}) is {ratio:.1f}x "
        f"its spread between seeds of one architecture (median std {seed_std:.2f})"
    )
    if ratio < 2:
        return (
            f"Mostly noise: {numbers}, so the ranking of architectures here is largely the luck of "
            "the seed; read the figures below as a demonstration of the pipeline, not as findings."
        )
    if ratio < 5:
        return f"Some signal: {numbers}; close architectures are within seed noise of each other."
    return f"Clear signal: {numbers}."


def describe_distribution(
    values: Sequence[float] | pd.Series, what: str = "accuracy", unit: str = "%"
) -> str:
    """One sentence on how `what` is distributed over architectures: median, quartiles and
    range with n, and whether there is a long left tail, counted (architectures more than
    1.5 interquartile ranges below the lower quartile, Tukey's rule), never asserted."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 4:
        return f"Too few architectures ({len(v)}) to describe the distribution of {what}."
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    iqr = q3 - q1
    low, high = int((v < q1 - 1.5 * iqr).sum()), int((v > q3 + 1.5 * iqr).sum())
    head = (
        f"{what} over {len(v):,} architectures: median {med:.2f}{unit}, interquartile range "
        f"[{q1:.2f}, {q3:.2f}], range [{v.min():.2f}, {v.max():.2f}]"
    )
    rule = "more than 1.5 interquartile ranges below the lower quartile"
    if low == 0:
        return f"{head}; none lies {rule}: no long left tail."
    # a tail is several low outliers, not one: at least 2 and at least 2% of the architectures
    long_tail = low >= max(2, 0.02 * len(v))
    verdict = "a long left tail" if long_tail else "no long left tail"
    above = f"; {high} lie as far above the upper quartile" if high else ""
    return (
        f"{head}; {low} ({low / len(v):.1%}) {'lies' if low == 1 else 'lie'} {rule}, down to "
        f"{v.min():.2f}{unit}: {verdict}{above}."
    )


def same_order(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when `a` and `b` rank the architectures identically (ties included): e.g. FLOPs
    and parameter count in the NAS-Bench-201 space, which then make one finding, not two."""
    x, y = _finite_pairs(a, b)
    return len(x) > 1 and kendall(x, y) >= 1 - 1e-12


def estimate_of(bench, split: str, hp: str | None = None) -> dict | None:
    """The `estimate` block of a sub-store whose numbers are modelled rather than measured
    (meta.json's "estimate" key), None for a measured one. The one place the analyses ask
    whether a benchmark is an estimate: on an estimate, cross-dataset and seed analyses
    measure the model, not the data."""
    meta = bench.meta(split, hp or analysis_hp(bench, split))
    if "estimate" not in meta:
        return None
    block = meta["estimate"]
    return dict(block) if isinstance(block, dict) else {"estimate": block}


def single_axis_note(kind: str, have: Sequence[str], need: int = 2) -> str | None:
    """The one line a section prints instead of a degenerate figure when the benchmark has
    fewer than `need` datasets / seeds / epochs; None when the figure is meaningful."""
    have = list(have)
    if len(have) >= need:
        return None
    held = ", ".join(map(str, have)) or "none"
    return f"This benchmark holds {len(have)} {kind} ({held}); this section needs at least {need}."


def benchmark_archs(path: str | Path, dataset: str | None = None) -> list[Arch]:
    """The architectures a built benchmark holds (for one dataset, or all), in index order:
    the `archs = "benchmark:<folder>"` selection that rebuilds a benchmark's sample
    elsewhere (e.g. from the official CIFAR-10 archive instead of the JPEG zip)."""
    from nb201.benchmark.api import Benchmark

    bench = Benchmark.open(path)
    indices: set[int] = set()
    for split in [dataset] if dataset else bench.datasets:
        for hp in bench.hps(split):
            indices |= {int(i) for i in bench.indexes(split, hp)}
    return [Arch.from_index(i) for i in sorted(indices)]


def select_archs(
    spec: str | Sequence[str], seed: int = 0, exclude: Sequence[str] | None = None
) -> list[Arch]:
    """`space.select`, plus `"benchmark:<folder>"`: the architectures an existing benchmark holds."""
    from nb201 import space

    if isinstance(spec, str) and spec.startswith("benchmark:"):
        return benchmark_archs(spec.removeprefix("benchmark:"))
    return space.select(spec, seed=seed, exclude=exclude)


COST_UNITS = {"params": ("params (M)", 1.0), "flops": ("FLOPs (M)", 1.0), "latency": ("latency (ms)", 1e3)}


def with_units(costs: pd.DataFrame) -> pd.DataFrame:
    """A cost frame for display: params and FLOPs in millions, latency in milliseconds
    (stored in seconds, where a CPU-scale cell shows as 0.000), the unit in each name."""
    out = costs.copy()
    for col, (_name, scale) in COST_UNITS.items():
        if col in out:
            out[col] = out[col] * scale
    return out.rename(columns={c: n for c, (n, _) in COST_UNITS.items()})


def record_cpu_seconds(record: dict) -> float:
    """Core-seconds a run cost: its measured process CPU time when recorded, else wall time
    times the threads it ran with (an upper bound on a busy machine)."""
    if record.get("cpu_time") is not None:
        return float(record["cpu_time"])
    return float(record["wall_time"]) * int(record.get("env", {}).get("threads", 1))


def sweep_cost(records: Sequence[dict]) -> dict[str, float]:
    """What a sweep cost so far, over all its run records (not only one execution's):
    runs, architectures, CPU-hours (measured process CPU time, i.e. core-hours; wall time x
    threads for records without it), wall-hours, and core-seconds per run."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("wall_time") is not None]
    cpu = float(sum(record_cpu_seconds(r) for r in ok))
    wall = float(sum(float(r["wall_time"]) for r in ok))
    return {
        "runs": float(len(ok)),
        "archs": float(len({int(r["arch_index"]) for r in ok})),
        "cpu_hours": cpu / 3600,
        "wall_hours": wall / 3600,
        "core_seconds_per_run": cpu / len(ok) if ok else float("nan"),
    }


# ---- the analysis report's steps (notebook 03), each one rule in one place -----------------
def test_column(bench, split: str) -> str:
    """The `"<split>/<set>"` column that stands for a split's test accuracy: x-test when the
    split has it, else its last evaluation set (ori-test)."""
    sets = eval_sets(bench, split)
    return f"{split}/{'x-test' if 'x-test' in sets else sets[-1]}"


def resolve_rank_by(bench, final: pd.DataFrame, rank_by: str | None) -> str:
    """The column that ranks the architectures: `rank_by`, or the last split's test column;
    an unknown column fails with the choices named."""
    if rank_by is None:
        rank_by = test_column(bench, final.columns[-1].split("/")[0])
    if rank_by not in final.columns:
        raise ValueError(
            f"rank_by={rank_by!r} is not a column of this benchmark; choose from {list(final.columns)}"
        )
    return rank_by


def signal_and_noise(bench, final: pd.DataFrame, rank_by: str) -> str:
    """`describe_noise` for the ranking column: the spread between architectures against the
    median spread between seeds of one architecture."""
    split, set_name = rank_by.split("/")
    _, _, seed_mat = seed_matrix(bench, split, f"{set_name}-accuracy")
    seed_std = seed_spread(seed_mat)["std"]
    return describe_noise(float(final[rank_by].std()), float(seed_std.median()), f"{rank_by} accuracy")


def cost_agreement(
    costs: pd.DataFrame, accuracy: pd.Series, n_boot: int = 1000
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """(costs joined with `accuracy` on the architectures that have both, {"params" and
    "flops": `rank_agreement` with accuracy}): the baseline a cheap proxy must beat."""
    joined = costs.join(accuracy.rename("accuracy"), how="inner").dropna(subset=["accuracy"])
    agree = {c: rank_agreement(joined[c], joined["accuracy"], n_boot=n_boot) for c in ("params", "flops")}
    return joined, agree


def epoch_agreements(bench, splits: Sequence[str]) -> dict[str, pd.DataFrame]:
    """{"<split>/<set>": `epoch_agreement` of its learning curves}, for every evaluation set."""
    out = {}
    for split in splits:
        for s in eval_sets(bench, split):
            _, curves = epoch_curves(bench, split, f"{s}-accuracy")
            out[f"{split}/{s}"] = epoch_agreement(curves)
    return out


def epoch_agreement_across(
    bench, pairs: Sequence[tuple[str, str]], n_boot: int = 0
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, dict[str, float]]]]:
    """How well the ranking on a validation set after epoch k predicts the final ranking on
    a disjoint test set, for every k and every (valid, test) pair: what a search stopped at
    epoch k sees against what it is judged on. Scored against an independent target, the
    last epoch is not trivially 1.0 (scoring a set's epoch-k ranking against its own final
    one would be). Returns ({label: [epoch, kendall, spearman]}, {label: {"first": and
    "last": `rank_agreement` with `n_boot` intervals}})."""
    curves_out, ends = {}, {}
    for v, t in pairs:
        split, vset = v.split("/")
        tset = t.split("/")[1]
        _, valid = epoch_curves(bench, split, f"{vset}-accuracy")
        _, test = epoch_curves(bench, split, f"{tset}-accuracy")
        label = f"{v} after epoch k vs final {t}"
        curves_out[label] = epoch_agreement(valid, test[:, -1])
        ends[label] = {
            "first": rank_agreement(valid[:, 0], test[:, -1], n_boot=n_boot),
            "last": rank_agreement(valid[:, -1], test[:, -1], n_boot=n_boot),
            "epochs": valid.shape[1],
        }
    return curves_out, ends


def valid_test_pairs(bench, splits: Sequence[str]) -> list[tuple[str, str]]:
    """(validation column, test column) of every split that has both: x-valid against x-test,
    or against ori-test when the split has no x-test. A search selects on the first and is
    judged on the second."""
    pairs = []
    for split in splits:
        sets = eval_sets(bench, split)
        test = next((t for t in ("x-test", "ori-test") if t in sets), None)
        if "x-valid" in sets and test:
            pairs.append((f"{split}/x-valid", f"{split}/{test}"))
    return pairs


def seed_variance(bench, splits: Sequence[str]) -> tuple[dict[str, dict], dict[str, pd.Series]]:
    """Per split, on its last evaluation set: ({split: seeds, archs with 2+ seeds, median std,
    Kendall tau between the first two seeds}, {"<split>/<set>": std over seeds per arch with
    2+ seeds}). Differences between architectures smaller than this spread are noise."""
    stats_, spreads = {}, {}
    for split in splits:
        s = eval_sets(bench, split)[-1]
        _, seeds, mat = seed_matrix(bench, split, f"{s}-accuracy")
        spread = seed_spread(mat)
        multi = spread[spread["seeds"] > 1]
        entry = {"seeds": seeds, "archs_with_2plus_seeds": int(len(multi))}
        if len(multi):
            spreads[f"{split}/{s}"] = multi["std"]
            entry["median_std"] = float(multi["std"].median())
            if mat.shape[1] >= 2:
                entry["seed_pair_kendall"] = kendall(mat[:, 0], mat[:, 1])
        stats_[split] = entry
    return stats_, spreads


def top_table(final: pd.DataFrame, rank_by: str, costs: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The `rows` best architectures by `rank_by`: their arch string, accuracy on every
    column and costs with units."""
    ranked = final[rank_by].dropna().sort_values(ascending=False)
    table = final.loc[ranked.index[:rows]].copy()
    table.insert(0, "arch", [str(Arch.from_index(int(i))) for i in table.index])
    return table.join(with_units(costs), how="left")


def final_accuracy_stats(records: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Over run records, the last epoch's accuracy on each evaluation set (training accuracy
    left out): {"final_accuracy_mean": {set: mean}, "final_accuracy_max": {set: max},
    "final_accuracy": {set: {n, median, q25, q75, min, max}}}."""
    final: dict[str, list[float]] = {}
    for r in records:
        last = r["epochs"][-1]
        for k in eval_metrics(last):
            final.setdefault(k, []).append(last[k])

    def summary(v: list[float]) -> dict[str, float]:
        q25, med, q75 = (float(x) for x in np.percentile(v, [25, 50, 75]))
        return {
            "n": len(v),
            "median": med,
            "q25": q25,
            "q75": q75,
            "min": float(np.min(v)),
            "max": float(np.max(v)),
        }

    return {
        "final_accuracy_mean": {k: float(np.mean(v)) for k, v in final.items()},
        "final_accuracy_max": {k: float(np.max(v)) for k, v in final.items()},
        "final_accuracy": {k: summary(v) for k, v in final.items()},
    }
