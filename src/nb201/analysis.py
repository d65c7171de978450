"""The paper's analyses as plain functions on arrays and DataFrames.

Kept free of plotting and of file access so that the analysis notebook, the fidelity
study and the tests all compute the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

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
