"""The whole-space estimate: a 200-epoch accuracy for every architecture, with its
uncertainty, fitted on the calibration architectures' published accuracies.

Per dataset (CIFAR-10 test, CIFAR-100 x-test, ImageNet16-120 x-test):

1. **Features** (`feature_frame`): the zero-cost proxies of the published-size network
   (C=16, N=5, 32 px: `full:*`) and of the trained CPU size (C=8, N=1, 16 px: `small:*`),
   signed-log scaled, plus the cell's structure (`nb201.fidelity.cell_features`). Proxies
   are read per functional class (`nb201.fidelity.tables.lookup`), so class members share
   them; params/FLOPs are each arch's own.
2. **Ranker**: one of `CANDIDATES` (gradient-boosted trees, extremely randomised trees,
   random forests, and an average of trees and boosting), fitted to the rank of the
   published accuracy. Which one, with which hyperparameters, is chosen by an inner
   cross-validation inside every outer fold (`nested_cv`), so the outer figure is not
   flattered by the choice; the outer out-of-fold predictions give the reported Spearman
   and Kendall with bootstrap intervals.
3. **Accuracy scale**: a monotone map (`nb201.fidelity.monotone`) from score to percent,
   fitted on out-of-fold scores (realistic score noise), its kind chosen by the outer
   cross-validated RMSE.
4. **Uncertainty** (`Estimator.predict`): the spread of a bootstrap ensemble of rankers
   (resampled calibration sets; wider where the calibration is sparse, since resamples
   disagree there) combined with the out-of-fold residual scale at the arch's predicted
   accuracy (poor architectures are harder to place). Served as one standard deviation.

Architectures whose class the published-size proxy table lacks are estimated by the
same procedure without the `full:*` features (`FeatureSet` "small"), reported separately.
The degenerate cells are not modelled: `nb201.fidelity.whole_space` gives them chance
accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nb201.fidelity.cell_features import FEATURE_NAMES, cell_feature_table
from nb201.fidelity.monotone import MAP_KINDS, MonotoneMap, fit_map

FULL_PROXIES = ("synflow", "snip", "fisher", "jacob_cov", "grad_norm", "nwot", "params", "flops")
SMALL_PROXIES = ("synflow", "snip", "grasp", "fisher", "jacob_cov", "grad_norm", "nwot")
CELL = tuple(f for f in FEATURE_NAMES if f != "degenerate")


def signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): monotone (trees split alike), and synflow's 1e40 becomes ~92."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def feature_frame(indices: Sequence[int] | np.ndarray, tables: Mapping[str, str | Path]) -> pd.DataFrame:
    """One row per index: `<label>:<proxy>` for each proxy table (`full` at the published
    size, `small` at the CPU size; signed-log scaled; NaN where the table lacks the arch's
    class) and the cell features."""
    from nb201.fidelity.tables import lookup

    idx = np.asarray(indices, dtype=np.int64)
    parts = []
    for label, path in tables.items():
        names = FULL_PROXIES if label == "full" else SMALL_PROXIES
        frame = lookup(idx, str(path), list(names))
        parts.append(
            pd.DataFrame({f"{label}:{n}": signed_log(frame[n].to_numpy()) for n in names}, index=idx)
        )
    cells = cell_feature_table(idx)
    parts.append(cells[list(CELL)].set_axis(idx))
    out = pd.concat(parts, axis=1)
    out.index.name = "index"
    return out


@dataclass(frozen=True)
class FeatureSet:
    """Which features a model reads: `full` (both proxy tables + cell) or `small` (the
    CPU-size table + cell, for archs whose class the published-size table lacks)."""

    name: str
    columns: tuple[str, ...]


def feature_sets(columns: Sequence[str]) -> list[FeatureSet]:
    cols = list(columns)
    small = tuple(c for c in cols if not c.startswith("full:"))
    return [FeatureSet("full", tuple(cols)), FeatureSet("small", small)]


# ---- candidates ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A ranker and its hyperparameters, declared before any score is seen."""

    name: str
    kind: str  # gbm | et | rf | et+gbm
    params: tuple[tuple[str, Any], ...] = ()

    def make(self, seed: int) -> Any:
        from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor

        p = dict(self.params)
        if self.kind == "gbm":
            return GradientBoostingRegressor(random_state=seed, subsample=0.8, **p)
        if self.kind == "et":
            return ExtraTreesRegressor(n_estimators=200, random_state=seed, n_jobs=1, **p)
        if self.kind == "rf":
            return RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1, **p)
        if self.kind == "et+gbm":
            return _Average(
                [Candidate("et", "et", self.params).make(seed), Candidate("gbm", "gbm", GBM_D2).make(seed)]
            )
        raise ValueError(f"unknown candidate kind {self.kind!r}")


GBM_D2 = (("n_estimators", 200), ("max_depth", 2), ("learning_rate", 0.05))
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("gbm depth 2", "gbm", GBM_D2),
    Candidate("gbm depth 3", "gbm", (("n_estimators", 300), ("max_depth", 3), ("learning_rate", 0.03))),
    Candidate("extra trees, 1/2 features, leaf 2", "et", (("max_features", 0.5), ("min_samples_leaf", 2))),
    Candidate("extra trees, all features, leaf 1", "et", (("max_features", 1.0), ("min_samples_leaf", 1))),
    Candidate("extra trees, 1/3 features, leaf 3", "et", (("max_features", 0.33), ("min_samples_leaf", 3))),
    Candidate("random forest, 1/3 features, leaf 2", "rf", (("max_features", 0.33), ("min_samples_leaf", 2))),
    Candidate("extra trees + gbm average", "et+gbm", (("max_features", 0.5), ("min_samples_leaf", 2))),
)


class _Average:
    """The mean prediction of several fitted regressors (an ensemble of two model families)."""

    def __init__(self, models: list[Any]):
        self.models = models

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Average:
        for m in self.models:
            m.fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.predict(x) for m in self.models], axis=0)


def rank01(y: np.ndarray) -> np.ndarray:
    """Mid-ranks scaled into (0, 1): the ranker's target."""
    return (stats.rankdata(y) - 0.5) / len(y)


def _fit_score(
    cand: Candidate, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int
) -> np.ndarray:
    return cand.make(seed).fit(x_tr, rank01(y_tr)).predict(x_te)


def cv_scores(cand: Candidate, x: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-fold out-of-fold scores of one candidate."""
    from sklearn.model_selection import KFold

    out = np.full(len(y), np.nan)
    for tr, te in KFold(min(k, len(y)), shuffle=True, random_state=seed).split(x):
        out[te] = _fit_score(cand, x[tr], y[tr], x[te], seed)
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)


def select(
    x: np.ndarray, y: np.ndarray, candidates: Sequence[Candidate], k: int, seed: int
) -> tuple[Candidate, np.ndarray, dict[str, float]]:
    """The candidate with the best k-fold Spearman on (x, y), its out-of-fold scores, and
    every candidate's Spearman."""
    table, best = {}, None
    for cand in candidates:
        oof = cv_scores(cand, x, y, k, seed)
        table[cand.name] = _spearman(oof, y)
        if best is None or table[cand.name] > table[best[0].name]:
            best = (cand, oof)
    assert best is not None
    return best[0], best[1], table


@dataclass
class NestedResult:
    """The outer cross-validation of the whole procedure (selection + map)."""

    oof_score: np.ndarray  # outer out-of-fold ranker scores
    oof_estimate: dict[str, np.ndarray]  # map kind -> outer out-of-fold accuracy estimates
    chosen: list[str]  # the candidate chosen in each outer fold
    map_rmse: dict[str, float]
    map_kind: str
    fold: np.ndarray  # outer fold of each calibration arch


def nested_cv(
    x: np.ndarray,
    y: np.ndarray,
    candidates: Sequence[Candidate] = CANDIDATES,
    outer: int = 10,
    inner: int = 4,
    seed: int = 0,
    floor: float = 0.0,
) -> NestedResult:
    """Outer `outer`-fold CV of: choose a candidate by inner `inner`-fold CV on the outer
    training fold, fit it there, score the outer test fold; fit each map kind on the inner
    out-of-fold scores of the chosen candidate and map the test fold's scores."""
    from sklearn.model_selection import KFold

    n = len(y)
    score = np.full(n, np.nan)
    est = {kind: np.full(n, np.nan) for kind in MAP_KINDS}
    fold = np.full(n, -1)
    chosen = []
    for f, (tr, te) in enumerate(KFold(outer, shuffle=True, random_state=seed).split(x)):
        cand, inner_oof, _ = select(x[tr], y[tr], candidates, inner, seed + 1 + f)
        chosen.append(cand.name)
        score[te] = _fit_score(cand, x[tr], y[tr], x[te], seed)
        fold[te] = f
        for kind in MAP_KINDS:
            est[kind][te] = fit_map(kind, inner_oof, y[tr], floor)(score[te])
    rmse = {kind: float(np.sqrt(np.mean((est[kind] - y) ** 2))) for kind in MAP_KINDS}
    return NestedResult(score, est, chosen, rmse, min(rmse, key=rmse.get), fold)


# ---- the fitted estimator ------------------------------------------------------------------
@dataclass
class Estimator:
    """A chosen candidate fitted on all calibration archs, its map, its bootstrap ensemble
    and its residual scale: `predict(x)` -> (estimate, std)."""

    candidate: Candidate
    features: FeatureSet
    model: Any
    accuracy_map: MonotoneMap
    ensemble: list[Any]
    residual_acc: np.ndarray  # out-of-fold estimates of the calibration archs (sorted)
    residual_sd: np.ndarray  # smoothed out-of-fold residual sd at those estimates
    oob_extra: float  # weight c of the residual profile: sd^2 = spread^2 + c * profile^2
    oob_spread: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per calibration arch
    fit_seconds: float = 0.0

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est = self.accuracy_map(self.model.predict(x))
        members = np.array([self.accuracy_map(m.predict(x)) for m in self.ensemble])
        spread = members.std(axis=0, ddof=1) if len(members) > 1 else np.zeros(len(est))
        level = np.interp(est, self.residual_acc, self.residual_sd)
        return est, np.sqrt(spread**2 + self.oob_extra * level**2)


def _residual_profile(est: np.ndarray, y: np.ndarray, k: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Residual sd as a function of the estimate: the RMS of the `k` nearest calibration
    residuals (by estimate) at each calibration estimate. No shape is imposed: poor and
    excellent archs can both be hard to place."""
    order = np.argsort(est)
    e, r = est[order], (y - est)[order]
    k = min(k, len(e))
    sd = np.empty(len(e))
    for i in range(len(e)):
        lo = max(0, min(i - k // 2, len(e) - k))
        sd[i] = np.sqrt(np.mean(r[lo : lo + k] ** 2))
    return e, sd


def _calibrate_scale(resid: np.ndarray, spread: np.ndarray, level: np.ndarray) -> float:
    """The weight c >= 0 that makes the out-of-fold residuals unit-variance in units of
    sqrt(spread^2 + c * level^2) (bisection; the ensemble spread is out-of-bag), so the
    served sd is calibrated on archs the fit did not see."""

    def msz(c: float) -> float:
        return float(np.mean(resid**2 / np.maximum(spread**2 + c * level**2, 1e-12)))

    if msz(0.0) <= 1.0:
        return 0.0
    lo, hi = 0.0, 1.0
    while msz(hi) > 1.0 and hi < 1e6:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if msz(mid) > 1.0 else (lo, mid)
    return hi


def fit_estimator(
    x: np.ndarray,
    y: np.ndarray,
    features: FeatureSet,
    candidates: Sequence[Candidate] = CANDIDATES,
    map_kind: str | None = None,
    k: int = 10,
    n_boot: int = 30,
    seed: int = 0,
    floor: float = 0.0,
) -> tuple[Estimator, dict[str, Any]]:
    """Choose a candidate by k-fold CV on all of (x, y), fit it, fit the map (`map_kind`,
    None: the better of the CV maps by out-of-fold RMSE) on its out-of-fold scores, and a
    bootstrap ensemble of `n_boot` rankers; returns the estimator and what was chosen."""
    t0 = time.process_time()
    cand, oof, table = select(x, y, candidates, k, seed)
    maps = {kind: fit_map(kind, oof, y, floor) for kind in MAP_KINDS}
    if map_kind is None:
        map_kind = min(maps, key=lambda kd: float(np.mean((maps[kd](oof) - y) ** 2)))
    acc_map = maps[map_kind]
    model = cand.make(seed).fit(x, rank01(y))
    rng = np.random.default_rng(seed)
    ensemble, oob = [], [[] for _ in range(len(y))]
    for b in range(n_boot):
        pick = rng.integers(0, len(y), len(y))
        member = cand.make(seed + 1 + b).fit(x[pick], rank01(y[pick]))
        ensemble.append(member)
        out = np.setdiff1d(np.arange(len(y)), pick)
        for i, v in zip(out, acc_map(member.predict(x[out]))):
            oob[i].append(v)
    oof_est = acc_map(oof)
    res_e, res_sd = _residual_profile(oof_est, y)
    level = np.interp(oof_est, res_e, res_sd)
    spread = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in oob])
    extra = _calibrate_scale(y - oof_est, spread, level)
    est = Estimator(cand, features, model, acc_map, ensemble, res_e, res_sd, extra, spread)
    est.fit_seconds = time.process_time() - t0
    return est, {"candidate": cand.name, "candidates_cv_spearman": table, "map": map_kind}


@dataclass
class DatasetFit:
    """Everything fitted for one dataset and feature set, and its cross-validated agreement."""

    dataset: str
    features: FeatureSet
    estimator: Estimator
    nested: NestedResult
    agreement: dict[str, float]
    chosen: dict[str, Any] = field(default_factory=dict)
    coverage_95: float = float("nan")
    core_seconds: float = 0.0


def fit_dataset(
    frame: pd.DataFrame,
    y: pd.Series,
    features: FeatureSet,
    dataset: str,
    floor: float,
    outer: int = 10,
    inner: int = 4,
    n_boot: int = 30,
    n_boot_ci: int = 1000,
    seed: int = 0,
    fixed: tuple[Candidate, str] | None = None,
) -> DatasetFit:
    """Nested CV of the procedure on the calibration archs, then the final fit on all.

    `fixed` = (candidate, map kind) skips the selection: the fallback feature set reuses
    the full set's choice, so a plain 10-fold CV of that fixed method is honest for it."""
    from nb201.benchmark.analysis import rank_agreement

    t0 = time.process_time()
    x = frame.loc[y.index, list(features.columns)].to_numpy(np.float64)
    yv = y.to_numpy(np.float64)
    if fixed is None:
        nested = nested_cv(x, yv, outer=outer, inner=inner, seed=seed, floor=floor)
        candidates: Sequence[Candidate] = CANDIDATES
    else:
        nested = _fixed_cv(x, yv, fixed[0], fixed[1], outer, seed, floor)
        candidates = [fixed[0]]
    oof = nested.oof_estimate[nested.map_kind]
    agree = rank_agreement(oof, yv, n_boot=n_boot_ci, seed=seed)
    agree["rmse"] = nested.map_rmse[nested.map_kind]
    agree["mae"] = float(np.mean(np.abs(oof - yv)))
    est, chosen = fit_estimator(
        x, yv, features, candidates, map_kind=nested.map_kind, n_boot=n_boot, seed=seed, floor=floor
    )
    fit = DatasetFit(dataset, features, est, nested, agree, chosen)
    # out-of-fold residuals against the sd they would be served with (out-of-bag spread)
    oof_final = est.accuracy_map(cv_scores(est.candidate, x, yv, 10, seed))
    level = np.interp(oof_final, est.residual_acc, est.residual_sd)
    sd = np.sqrt(est.oob_spread**2 + est.oob_extra * level**2)
    fit.coverage_95 = float(np.mean(np.abs(yv - oof_final) <= 1.96 * sd))
    fit.core_seconds = time.process_time() - t0
    return fit


def _fixed_cv(
    x: np.ndarray, y: np.ndarray, cand: Candidate, map_kind: str, k: int, seed: int, floor: float
) -> NestedResult:
    """k-fold CV of one fixed method (ranker + map kind); the map is fitted on the training
    fold's own out-of-fold scores, as in `nested_cv`."""
    from sklearn.model_selection import KFold

    score, est, fold = np.full(len(y), np.nan), np.full(len(y), np.nan), np.full(len(y), -1)
    for f, (tr, te) in enumerate(KFold(k, shuffle=True, random_state=seed).split(x)):
        score[te] = _fit_score(cand, x[tr], y[tr], x[te], seed)
        inner_oof = cv_scores(cand, x[tr], y[tr], 4, seed + 1 + f)
        est[te] = fit_map(map_kind, inner_oof, y[tr], floor)(score[te])
        fold[te] = f
    rmse = float(np.sqrt(np.mean((est - y) ** 2)))
    return NestedResult(score, {map_kind: est}, [cand.name] * k, {map_kind: rmse}, map_kind, fold)
