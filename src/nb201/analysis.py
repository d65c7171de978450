"""The paper's analyses as plain functions on arrays and DataFrames.

Kept free of plotting and of file access so that the analysis notebook, the fidelity
study and the tests all compute the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

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
def analysis_hp(bench, split: str) -> str:
    """The schedule the analyses read: the paper's "200" when present, else the longest."""
    hps = bench.hps(split)
    return "200" if "200" in hps else max(hps, key=lambda h: bench.num_epochs(split, h))


def _substore(bench, split: str, hp: str):
    from nb201.store import open_substore, substore_name

    return open_substore(Path(bench.root) / substore_name(split, str(hp)))


def eval_sets(bench, split: str, hp: str | None = None) -> list[str]:
    """Evaluation sets of a split, in the order x-valid, x-test, ori-test."""
    hp = hp or analysis_hp(bench, split)
    order = {"x-valid": 0, "x-test": 1, "ori-test": 2}
    sets = [
        m[: -len("-accuracy")]
        for m in bench.metric_names(split, hp)
        if m.endswith("-accuracy") and not m.startswith("train")
    ]
    return sorted(sets, key=lambda s: (order.get(s, 9), s))


def cost_frame(bench, split: str, hp: str | None = None) -> pd.DataFrame:
    """params (M), FLOPs (M) and latency (s) per architecture of a split, indexed by arch index."""
    sub = _substore(bench, split, hp or analysis_hp(bench, split))
    costs = sub.costs()
    frame = pd.DataFrame({k: v for k, v in costs.items() if k != "arch_index"}, index=costs["arch_index"])
    frame.index.name = "index"
    return frame


def epoch_curves(bench, split: str, metric: str, hp: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(arch indices, [arch, epoch] values averaged over seeds) for one stored metric."""
    hp = hp or analysis_hp(bench, split)
    archs = _substore(bench, split, hp).archs.astype(np.int64)
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
    sub = _substore(bench, split, hp)
    archs = sub.archs.astype(np.int64)
    seeds = list(sub.seeds)
    cols = []
    for k, s in enumerate(seeds):
        vals = np.full(len(archs), np.nan)
        have = sub.present[:, k]
        if have.any():
            vals[have] = bench.metrics(archs[have], metric, seeds=s, dataset=split, hp=hp)
        cols.append(vals)
    return archs, seeds, np.stack(cols, axis=1) if cols else np.empty((len(archs), 0))
