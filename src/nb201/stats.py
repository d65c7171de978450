"""Comparisons with intervals, and the one place that words them.

Every comparison a report makes (two search algorithms over runs, two one-shot methods
over seeds, two fidelity points over architectures) is a paired difference with a
bootstrap interval, and the sentence about it is written here, from the interval: a
direction only when the interval excludes zero, "indistinguishable" when it covers zero.
A report can then never claim more than its numbers support.

Small samples (fewer than `SMALL_N`, e.g. three search seeds) get a Student-t interval
instead: a percentile bootstrap over three values has ten distinct resamples and an
interval far narrower than the data support.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

SMALL_N = 10  # below this many pairs (or per sample), intervals are Student-t, not bootstrap


@dataclass(frozen=True)
class Difference:
    """`a - b` of a statistic (default the mean) over paired samples, with its bootstrap
    interval at `level`; `n` pairs. NaN where there are too few pairs to resample."""

    a_name: str
    b_name: str
    a: float
    b: float
    diff: float
    lo: float
    hi: float
    n: int
    level: float = 0.95
    paired: bool = True  # False: two independent samples (`unpaired_difference`); n = the smaller
    method: str = "bootstrap"  # how the interval was made: "bootstrap" or "t" (small samples)

    @property
    def covers_zero(self) -> bool:
        return not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.lo <= 0.0 <= self.hi

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    a_name: str = "a",
    b_name: str = "b",
    statistic: str = "mean",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Difference:
    """`stat(a) - stat(b)` with a paired percentile-bootstrap interval: pair i is resampled
    as a whole, so what the pairs share (the same search seed, the same architecture)
    cancels. `a` and `b` must have equal length; NaN pairs are dropped."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be two 1-d arrays of one length, got {x.shape} and {y.shape}")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    stat = np.mean if statistic == "mean" else np.median
    n = len(x)
    if n == 0:
        return Difference(a_name, b_name, np.nan, np.nan, np.nan, np.nan, np.nan, 0, level)
    sa, sb = float(stat(x)), float(stat(y))
    lo = hi = float("nan")
    if 2 <= n < SMALL_N and statistic == "mean":
        lo, hi = _t_interval(float(np.mean(x - y)), float(np.std(x - y, ddof=1)) / np.sqrt(n), n - 1, level)
        return Difference(a_name, b_name, sa, sb, sa - sb, lo, hi, n, level, method="t")
    if n >= 2:
        idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        boot = stat(x[idx], axis=1) - stat(y[idx], axis=1)
        lo, hi = (float(v) for v in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))
    return Difference(a_name, b_name, sa, sb, sa - sb, lo, hi, n, level)


def _t_interval(center: float, se: float, df: float, level: float) -> tuple[float, float]:
    from scipy import stats

    half = float(stats.t.ppf((1 + level) / 2, df)) * se
    return center - half, center + half


def unpaired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    a_name: str = "a",
    b_name: str = "b",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Difference:
    """`mean(a) - mean(b)` of two independent samples (e.g. three one-shot seeds against 100
    multi-trial runs: nothing pairs them) with a percentile-bootstrap interval that
    resamples each sample on its own, or Welch's t interval when either sample has fewer
    than `SMALL_N` values. `n` is the smaller sample's size; NaNs are dropped."""
    x, y = (np.asarray(v, dtype=float) for v in (a, b))
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    n = int(min(len(x), len(y)))
    if n == 0:
        return Difference(a_name, b_name, np.nan, np.nan, np.nan, np.nan, np.nan, 0, level, paired=False)
    sa, sb = float(x.mean()), float(y.mean())
    lo = hi = float("nan")
    if 2 <= n < SMALL_N:
        va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
        df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)) if va + vb > 0 else 1.0
        lo, hi = _t_interval(sa - sb, float(np.sqrt(va + vb)), df, level)
        return Difference(a_name, b_name, sa, sb, sa - sb, lo, hi, n, level, paired=False, method="t")
    if n >= 2:
        rng = np.random.default_rng(seed)
        boot = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(1) - y[
            rng.integers(0, len(y), (n_boot, len(y)))
        ].mean(1)
        lo, hi = (float(v) for v in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))
    return Difference(a_name, b_name, sa, sb, sa - sb, lo, hi, n, level, paired=False)


def from_interval(
    a_name: str, b_name: str, diff: float, lo: float, hi: float, n: int, level: float = 0.95
) -> Difference:
    """A `Difference` from a paired difference computed elsewhere (e.g. of two rank
    correlations over the same architectures, `fidelity.ranking.paired_delta`), so that its
    sentence is worded by `describe_difference` like every other comparison."""
    nan = float("nan")
    return Difference(a_name, b_name, nan, nan, float(diff), float(lo), float(hi), int(n), level)


def describe_difference(
    d: Difference, quantity: str = "accuracy", unit: str = " points", digits: int = 2, levels: bool = False
) -> str:
    """One sentence about `d`, chosen by its interval: "A and B are indistinguishable in
    <quantity>" when it covers zero (or there is none), otherwise which is higher and by how
    much, always with the interval and n. `levels` adds both values ("A 0.91 vs B 0.88")."""
    f = f"{{:+.{digits}f}}"
    delta = f"{d.a_name} − {d.b_name} = {f.format(d.diff)}{unit}"
    if levels and np.isfinite(d.a) and np.isfinite(d.b):
        delta = f"{d.a_name} {d.a:.{digits}f} vs {d.b_name} {d.b:.{digits}f}, {delta}"
    if not np.isfinite(d.diff):
        return f"{d.a_name} and {d.b_name} cannot be compared: no pairs with both values."
    if not (np.isfinite(d.lo) and np.isfinite(d.hi)):
        return (
            f"{d.a_name} and {d.b_name} are indistinguishable in {quantity} with {d.n} pair"
            f"{'s' if d.n != 1 else ''}: {delta}, too few to give an interval."
        )
    kind = {
        (True, "bootstrap"): "paired bootstrap interval",
        (False, "bootstrap"): "bootstrap interval of independent samples",
        (True, "t"): "paired t interval",
        (False, "t"): "Welch t interval",
    }[(d.paired, d.method)]
    interval = f"[{f.format(d.lo)}, {f.format(d.hi)}], {d.level:.0%} {kind}"
    stat = f"{delta} {interval}, n = {d.n}"
    if d.covers_zero:
        return f"{d.a_name} and {d.b_name} are indistinguishable in {quantity}: {stat}, which covers zero."
    higher, lower = (d.a_name, d.b_name) if d.diff > 0 else (d.b_name, d.a_name)
    return f"{higher} has higher {quantity} than {lower}: {stat}."


def mean_std(values: Sequence[float] | np.ndarray, digits: int = 2, what: str = "seeds") -> str:
    """ "m ± s (n what)"; with one value, only the value and "(1 <what>, no spread)", so a
    table never prints a standard deviation of one sample."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "—"
    if len(v) == 1:
        return f"{v[0]:.{digits}f} (1 {what.rstrip('s')}, no spread)"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f} ({len(v)} {what})"


__all__ = [
    "Difference",
    "describe_difference",
    "from_interval",
    "mean_std",
    "paired_difference",
    "unpaired_difference",
]
