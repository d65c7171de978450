"""Monotone maps from a ranker's score to the accuracy scale, learned from calibration labels.

A ranker (`nb201.fidelity.estimate`) is fitted to the *rank* of the published accuracy: it
orders architectures well but says nothing about how far apart they are. A map learned
from (score, accuracy) pairs of the calibration set puts the scores back on the percent
scale. It must be monotone (non-decreasing), so that it never reorders what the ranker
ranked, and strictly increasing inside the calibrated range, so that distinct scores stay
distinct (ties would lower the rank agreement of the served estimate):

* `isotonic`: the isotonic regression of accuracy on score (pool-adjacent-violators,
  scikit-learn), interpolated linearly between the centres of its blocks and continued
  beyond the outermost blocks with the slope of the outermost segments;
* `linear`: least squares accuracy = a + b * score (b > 0 enforced);
* `quantile`: the empirical quantile function of the calibration accuracies at the score
  read as a rank in (0, 1), the natural inverse of a rank target, with a fitted affine
  recalibration of the score first (the ranker's scores are shrunk towards 0.5); flat
  beyond the calibration labels' range.

Which one serves is chosen by cross-validation (`nb201.fidelity.estimate`). Every map is
clipped to [floor, 100] percent (floor: chance accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAP_KINDS = ("isotonic", "linear", "quantile")


@dataclass(frozen=True)
class MonotoneMap:
    """A fitted map: `x` knots (increasing) -> `y` values (non-decreasing), linear between
    knots and beyond them with the end slopes, clipped to [`floor`, 100]."""

    kind: str
    x: np.ndarray
    y: np.ndarray
    floor: float = 0.0
    slope_lo: float = 0.0
    slope_hi: float = 0.0

    def __call__(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        out = np.interp(s, self.x, self.y)
        lo, hi = s < self.x[0], s > self.x[-1]
        out[lo] = self.y[0] + self.slope_lo * (s[lo] - self.x[0])
        out[hi] = self.y[-1] + self.slope_hi * (s[hi] - self.x[-1])
        return np.clip(out, self.floor, 100.0)

    def to_dict(self) -> dict:
        """JSON-ready description (meta.json): kind, knots, end slopes, floor."""
        return {
            "kind": self.kind,
            "knots_score": [round(float(v), 6) for v in self.x],
            "knots_accuracy": [round(float(v), 4) for v in self.y],
            "slope_below": round(float(self.slope_lo), 6),
            "slope_above": round(float(self.slope_hi), 6),
            "floor": self.floor,
        }


def _end_slopes(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 2:
        return 0.0, 0.0
    return float((y[1] - y[0]) / (x[1] - x[0])), float((y[-1] - y[-2]) / (x[-1] - x[-2]))


def fit_map(kind: str, score: np.ndarray, accuracy: np.ndarray, floor: float = 0.0) -> MonotoneMap:
    """Fit a `kind` map (one of `MAP_KINDS`) to calibration pairs (score, accuracy)."""
    s = np.asarray(score, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(a)
    s, a = s[ok], a[ok]
    if len(s) < 3 or np.ptp(s) == 0:
        raise ValueError(f"a monotone map needs at least 3 distinct scores; got {len(s)} pairs.")
    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(s, a).predict(s)
        order = np.argsort(s, kind="stable")
        s_o, f_o = s[order], fitted[order]
        # one knot per isotonic block: its mean score and its value
        starts = np.flatnonzero(np.r_[True, np.diff(f_o) != 0])
        bounds = np.r_[starts, len(s_o)]
        x = np.array([s_o[bounds[k] : bounds[k + 1]].mean() for k in range(len(starts))])
        y = f_o[starts]
        if len(x) == 1:  # a constant fit: no order at all in the scores
            x, y = np.array([s_o[0], s_o[-1]]), np.array([y[0], y[0]])
        lo, hi = _end_slopes(x, y)
        return MonotoneMap(kind, x, y, floor, max(lo, 0.0), max(hi, 0.0))
    if kind == "linear":
        b, c = np.polyfit(s, a, 1)
        b = max(float(b), 1e-9)
        x = np.array([s.min(), s.max()])
        return MonotoneMap(kind, x, c + b * x, floor, b, b)
    if kind == "quantile":
        # recalibrate the score to a rank in (0, 1) (affine fit to the calibration ranks),
        # then read the calibration accuracies' quantile function there
        ranks = (np.argsort(np.argsort(s, kind="stable"), kind="stable") + 0.5) / len(s)
        b, c = np.polyfit(s, ranks, 1)
        b = max(float(b), 1e-9)
        qs = np.linspace(0.0, 1.0, 41)
        x = (qs - c) / b
        y = np.quantile(a, qs)
        y = np.maximum.accumulate(y + np.arange(len(y)) * 1e-9)  # strictly increasing knots
        return MonotoneMap(kind, x, y, floor, 0.0, 0.0)  # the labels' range bounds it
    raise ValueError(f"unknown map kind {kind!r}; choose from {MAP_KINDS}.")
