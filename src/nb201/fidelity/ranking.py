"""The ranking study (issue 15): which cheap signal ranks architectures like the full
200-epoch protocol, per core-second?

Candidates, all scored on the calibration architectures against their published
accuracies (rank agreement with bootstrap intervals, `nb201.benchmark.analysis.rank_agreement`):

* each zero-cost proxy alone (`nb201.fidelity.proxies`; Abdelfattah et al. ICLR 2021, Mellor et al.
  ICML 2021), the parameter count and FLOPs (free);
* the cheap training point alone (final test accuracy of the `cpu-cifar` run) and its
  learning-curve features (per-epoch test accuracy and training loss);
* rank averages fixed in advance (the published vote of synflow, jacob_cov and snip; the
  cheap accuracy with proxies), which fit nothing and need no cross-validation;
* fitted rankers (ridge regression on rank-transformed features, gradient-boosted trees)
  over proxies, costs and learning-curve features, as White et al. ("How Powerful are
  Performance Predictors in NAS?", NeurIPS 2021) recommend. These are scored only on
  out-of-fold predictions of a k-fold cross-validation, never in-sample.

A method's cost is the core-seconds per architecture of everything it reads: the training
run's measured CPU time when it uses training features, plus the measured seconds of each
network proxy it uses (params and FLOPs are closed-form and cost nothing measurable).

The chosen method is then fitted on all calibration architectures and applied to the
committed benchmark's architectures (`apply_to_benchmark`), whose sub-store gets the
derived set `ranking` (a Parquet file and a `derived.ranking` block in `meta.json`),
written through `nb201.benchmark.store.write_columns`. Re-aggregating the benchmark keeps
the set; archs added since lack a score and the block says `stale` until the `ranking`
pipeline profile (notebook 07) is re-run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold

from nb201.benchmark.analysis import rank_agreement
from nb201.fidelity.proxies import PROXIES, load_table
from nb201.fidelity.study import record_cpu_seconds
from nb201.names import PROXY_PREFIX, RANKING_SCORE

TARGET = "target"
TRAINING = "training"  # the pseudo-feature source whose cost is the training run
PROXY_NAMES = tuple(PROXIES)
COST_NAMES = ("params", "flops")
RANKING_SET = "ranking"  # the derived set a benchmark sub-store carries the score in
SCORE_NAME = RANKING_SCORE


# ---- inputs ------------------------------------------------------------------------------
def curve_features(epochs: list[dict[str, Any]]) -> dict[str, float]:
    """Learning-curve features of one cheap run: test accuracy and training loss after every
    epoch, the last epoch's gain, final training accuracy and test loss."""
    out: dict[str, float] = {}
    for e, ep in enumerate(epochs, start=1):
        out[f"acc_e{e}"] = float(ep["ori-test-accuracy"])
        out[f"train_loss_e{e}"] = float(ep["train-loss"])
    out["acc_final"] = float(epochs[-1]["ori-test-accuracy"])
    out["acc_gain"] = out["acc_final"] - float(epochs[-2]["ori-test-accuracy"]) if len(epochs) > 1 else 0.0
    out["train_acc_final"] = float(epochs[-1]["train-accuracy"])
    out["test_loss_final"] = float(epochs[-1]["ori-test-loss"])
    return out


def load_runs(
    runs_dir: str | Path,
    preset: str = "cpu-cifar",
    fidelity: dict[str, Any] | None = None,
    split: str = "cifar10-jpeg",
) -> pd.DataFrame:
    """One row per architecture of the ok run records of `split` trained with exactly the
    resolved configuration of (`preset`, `fidelity`) in `runs_dir`: learning-curve features
    (mean over seeds), `core_seconds` per run, `seeds`. Records of other fidelities in the
    same folder (the fidelity study keeps all its points together) are ignored."""
    from nb201.presets import resolve_config

    want = resolve_config(preset, fidelity or {})
    rows = []
    for path in sorted(Path(runs_dir).glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("status") != "ok" or r["spec"].get("split") != split:
            continue
        if any(r.get("config", {}).get(k) != v for k, v in want.items()):
            continue
        rows.append(
            {
                "index": int(r["arch_index"]),
                "seed": int(r["spec"]["seed"]),
                "core_seconds": record_cpu_seconds(r),
            }
            | curve_features(r["epochs"])
        )
    if not rows:
        return pd.DataFrame(columns=["core_seconds", "seeds"]).rename_axis("index")
    frame = pd.DataFrame(rows)
    out = frame.drop(columns="seed").groupby("index").mean()
    out["seeds"] = frame.groupby("index")["seed"].nunique()
    return out


def curve_names(runs: pd.DataFrame) -> list[str]:
    """The learning-curve feature columns of `load_runs`'s frame, in a stable order."""
    return [c for c in runs.columns if c not in ("core_seconds", "seeds")]


def join_features(
    target: pd.Series | None, runs: pd.DataFrame | None, proxy_tables: dict[str, str | Path]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The study's frame: one row per architecture that has a run (every architecture of
    `target` when `runs` is None: zero-cost methods need none), every proxy table's values
    (columns `<label>:<proxy>`) and, when `target` is given, a target; plus the mean
    core-seconds per architecture of each source (`training`, `<label>:<proxy>`) over
    exactly those rows."""
    if runs is None:
        frame = pd.DataFrame({"core_seconds": np.nan}, index=target.index)
    else:
        frame = runs.drop(columns=["seeds"], errors="ignore")
    if target is not None:
        frame = frame.join(target.rename(TARGET), how="inner")
    available = {}
    for label, path in proxy_tables.items():
        table, meta = load_table(path)
        available[label] = [n for n in PROXY_NAMES + COST_NAMES if n in meta["proxies"]]
        names = available[label]
        cols = {n: f"{label}:{n}" for n in names} | {f"{n}_seconds": f"{label}:{n}_seconds" for n in names}
        frame = frame.join(table[list(cols)].rename(columns=cols), how="inner")
    seconds = {TRAINING: float(frame["core_seconds"].mean()) if len(frame) else float("nan")}
    for label, names in available.items():
        for n in names:
            spent = frame.pop(f"{label}:{n}_seconds")
            seconds[f"{label}:{n}"] = float(spent.mean()) if n in PROXY_NAMES else 0.0
    return frame.sort_index(), seconds


# ---- methods -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """One way of ranking: `kind` is `single` (one feature), `rankavg` (mean of the
    features' ranks, fixed in advance), `ridge` or `gbm` (fitted, cross-validated)."""

    name: str
    kind: str
    features: tuple[str, ...]
    note: str = ""

    @property
    def fitted(self) -> bool:
        return self.kind in ("ridge", "gbm")

    def sources(self, curve: Sequence[str]) -> set[str]:
        """What the method must pay for: `training` and/or `<label>:<proxy>`."""
        return {TRAINING if f in curve else f for f in self.features}


def default_methods(columns: Sequence[str], labels: Sequence[str], curve: Sequence[str]) -> list[Method]:
    """The study's candidates, declared before looking at any score. Features a proxy table
    lacks (`columns` are the study frame's) are left out of a method; a method left
    without features, or with the same features as an earlier one, is dropped."""
    zc = {lab: tuple(f"{lab}:{n}" for n in PROXY_NAMES + COST_NAMES) for lab in labels}
    curve = tuple(curve)
    methods = [Method("cheap run: final test acc", "single", ("acc_final",), "the cpu-cifar point alone")]
    for lab in labels:
        methods += [Method(f, "single", (f,)) for f in zc[lab]]
        vote = tuple(f"{lab}:{n}" for n in ("synflow", "jacob_cov", "snip"))
        methods.append(
            Method(f"vote {lab} (synflow, jacob_cov, snip)", "rankavg", vote, "Abdelfattah et al.")
        )
        methods += [Method(f"{kind}: {lab} proxies + costs", kind, zc[lab]) for kind in ("ridge", "gbm")]
    methods += [Method(f"{kind}: learning curve", kind, curve) for kind in ("ridge", "gbm")]
    for lab in labels:
        trio = ("acc_final", f"{lab}:synflow", f"{lab}:nwot")
        methods.append(Method(f"rank avg: acc + {lab}:synflow + {lab}:nwot", "rankavg", trio))
        for kind in ("ridge", "gbm"):
            methods.append(Method(f"{kind}: learning curve + {lab} proxies + costs", kind, curve + zc[lab]))
        no_grasp = tuple(f for f in zc[lab] if not f.endswith(":grasp"))
        methods.append(
            Method(f"ridge: learning curve + {lab} proxies (no grasp) + costs", "ridge", curve + no_grasp)
        )
    if len(labels) > 1:
        every = curve + tuple(f for lab in labels for f in zc[lab])
        methods.append(Method("ridge: learning curve + all proxies + costs", "ridge", every))
    have, out, seen = set(columns), [], set()
    for m in methods:
        feats = tuple(f for f in m.features if f in have)
        if feats and (m.kind, feats) not in seen and (m.kind != "single" or feats == m.features):
            seen.add((m.kind, feats))
            out.append(Method(m.name, m.kind, feats, m.note))
    return out


def method_cost(method: Method, seconds: dict[str, float], curve: Sequence[str]) -> float:
    """Core-seconds per architecture of everything the method reads."""
    return float(sum(seconds.get(s, 0.0) for s in method.sources(curve)))


# ---- fitting and scoring ------------------------------------------------------------------
def _quantiles(train: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each column of `values` mapped through the empirical CDF of the same column of
    `train` (mid-ranks, in (0, 1)): monotone, robust to synflow's 1e30 scale and to
    outliers, and learned from the training fold only."""
    out = np.empty(values.shape, dtype=float)
    for j in range(train.shape[1]):
        col = np.sort(train[:, j])
        lo = np.searchsorted(col, values[:, j], side="left")
        hi = np.searchsorted(col, values[:, j], side="right")
        out[:, j] = (lo + hi) / (2.0 * len(col))
    return out


def _signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): monotone, so trees split the same way, but synflow's 1e40 at
    full size fits the float32 that scikit-learn's trees compute in."""
    return np.sign(x) * np.log1p(np.abs(np.nan_to_num(x)))


def _rank01(y: np.ndarray) -> np.ndarray:
    return (pd.Series(y).rank().to_numpy() - 0.5) / len(y)


def fit_predict(method: Method, train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """Fit `method` on `train` (features and `target`) and score `test`; higher = better.

    The target is the training fold's rank of the full-protocol accuracy (a ranker needs
    the order, and ranks tame the long tail of poor architectures). Ridge sees the
    features' training-fold quantiles; the trees a signed log of the raw values (only the
    order matters to them).
    """
    cols = list(method.features)
    xtr, xte = train[cols].to_numpy(float), test[cols].to_numpy(float)
    ytr = _rank01(train[TARGET].to_numpy(float))
    if method.kind == "ridge":
        model = RidgeCV(alphas=np.logspace(-3, 3, 13))
        model.fit(_quantiles(xtr, xtr), ytr)
        return model.predict(_quantiles(xtr, xte))
    if method.kind == "gbm":
        model = GradientBoostingRegressor(
            n_estimators=200, max_depth=2, learning_rate=0.05, subsample=0.8, random_state=seed
        )
        model.fit(_signed_log(xtr), ytr)
        return model.predict(_signed_log(xte))
    raise ValueError(f"method {method.name!r} of kind {method.kind!r} is not fitted")


def direct_scores(method: Method, frame: pd.DataFrame) -> np.ndarray:
    """Scores of an unfitted method: the feature itself, or the mean of the features' ranks."""
    if method.kind == "single":
        return frame[method.features[0]].to_numpy(float)
    if method.kind == "rankavg":
        return frame[list(method.features)].rank().mean(axis=1).to_numpy(float)
    raise ValueError(f"method {method.name!r} is fitted: use out_of_fold")


def out_of_fold(method: Method, frame: pd.DataFrame, k: int = 10, seed: int = 0) -> np.ndarray:
    """k-fold cross-validated predictions: every architecture is scored by a model that
    never saw it. Rank agreement is then computed over all out-of-fold predictions."""
    pred = np.full(len(frame), np.nan)
    folds = KFold(n_splits=min(k, len(frame)), shuffle=True, random_state=seed)
    for tr, te in folds.split(frame):
        pred[te] = fit_predict(method, frame.iloc[tr], frame.iloc[te], seed=seed)
    return pred


def scores(method: Method, frame: pd.DataFrame, k: int = 10, seed: int = 0) -> np.ndarray:
    """Calibration scores of a method: out-of-fold if fitted, direct otherwise."""
    return out_of_fold(method, frame, k, seed) if method.fitted else direct_scores(method, frame)


def study(
    frame: pd.DataFrame,
    seconds: dict[str, float],
    methods: Sequence[Method],
    curve: Sequence[str],
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per method: Spearman and Kendall with the full protocol on the calibration
    architectures with bootstrap 95% intervals (out-of-fold for fitted methods), and the
    method's core-seconds per architecture."""
    rows = []
    for m in methods:
        pred = scores(m, frame, k, seed)
        agree = rank_agreement(pred, frame[TARGET].to_numpy(float), n_boot=n_boot, seed=seed)
        rows.append(
            {
                "method": m.name,
                "kind": m.kind,
                "evaluation": f"{k}-fold CV (out-of-fold)" if m.fitted else "direct (nothing fitted)",
                "uses_training": TRAINING in m.sources(curve),
                "core_seconds_per_arch": method_cost(m, seconds, curve),
                **{key: agree[key] for key in ("n", "spearman", "spearman_lo", "spearman_hi")},
                **{key: agree[key] for key in ("kendall", "kendall_lo", "kendall_hi")},
            }
        )
    return pd.DataFrame(rows)


def choose(
    results: pd.DataFrame, budget: float, by: str = "spearman", eligible: Sequence[str] | None = None
) -> pd.Series:
    """The best method (by `by`) among those costing at most `budget` core-seconds per
    architecture (and named in `eligible`, when given). Choosing the maximum over many
    candidates flatters the winner a little: its calibration figure is optimistic, and
    held-out agreement may be lower."""
    within = results[results["core_seconds_per_arch"] <= budget]
    if eligible is not None:
        within = within[within["method"].isin(list(eligible))]
    if within.empty:
        raise ValueError(f"no method costs <= {budget} core-seconds per architecture")
    return within.loc[within[by].idxmax()]


# ---- the committed benchmark carries the result ------------------------------------------
def apply_to_benchmark(
    method: Method,
    calibration: pd.DataFrame,
    result: dict[str, Any],
    substore: str | Path,
    runs_dir: str | Path,
    proxy_tables: dict[str, str | Path],
    curve: Sequence[str],
    budget: float = 60.0,
) -> dict[str, Any]:
    """Fit `method` on all calibration architectures, score every architecture of the
    benchmark sub-store, and write the derived set `ranking` (arch_index, `ranking-score`,
    and each proxy as `proxy:<label>:<name>`) into it through the store.

    The cost recorded is the sub-store's measured training CPU time per run plus the
    measured seconds of the proxies the method uses on these architectures; exceeding
    `budget` raises instead of writing. Returns the block written."""
    from nb201.benchmark.store import open_substore

    folder = Path(substore)
    sub = open_substore(folder)
    archs = sub.archs.astype(np.int64)
    needed = {f.split(":")[0] for f in method.features if ":" in f}
    tables = {  # the method's tables, and any other that covers the benchmark (its proxies ride along)
        lab: p
        for lab, p in proxy_tables.items()
        if lab in needed or set(archs) <= set(load_table(p)[0].index)
    }
    runs = load_runs(runs_dir, sub.meta["preset"], sub.meta.get("fidelity_overrides"), sub.split)
    frame, seconds = join_features(None, runs, tables)
    missing = sorted(set(archs.tolist()) - set(frame.index))
    if missing:
        raise ValueError(f"{len(missing)} benchmark archs lack a run or proxies (e.g. {missing[:5]})")
    frame = frame.loc[archs]
    score = fit_predict(method, calibration, frame) if method.fitted else direct_scores(method, frame)
    trained = float(sub.meta["compute"]["cpu_seconds_per_run"])  # spent whether the method reads it or not
    training = trained if TRAINING in method.sources(curve) else 0.0
    proxy_cost = sum(seconds[s] for s in method.sources(curve) if s != TRAINING)
    if trained + proxy_cost > budget:
        raise ValueError(
            f"{method.name}: training {trained:.1f} + proxies {proxy_cost:.1f} core-s per arch "
            f"is over the budget of {budget}"
        )
    out = pd.DataFrame({"arch_index": archs, SCORE_NAME: score})
    for col in [c for c in frame.columns if ":" in c]:
        out[PROXY_PREFIX + col] = frame[col].to_numpy(float)
    block = _ranking_block(method, result, len(calibration), training, proxy_cost, tables)
    block["core_seconds_per_arch"]["benchmark_total"] = round(trained + proxy_cost, 3)
    return _write_ranking(folder, out, block)


def _ranking_block(
    method: Method,
    result: dict[str, Any],
    n_calibration: int,
    training: float,
    proxy_cost: float,
    proxy_tables: dict[str, str | Path],
) -> dict[str, Any]:
    def r3(v: Any) -> float:
        return round(float(v), 3)

    return {
        "name": SCORE_NAME,
        "producer": "nb201.fidelity.ranking.apply_to_benchmark (the ranking profile, notebook 07)",
        "unit": "score (higher ranks better; a predicted rank, not an accuracy)",
        "method": asdict(method)
        | {"features": list(method.features), "fitted_on": f"all {n_calibration} calibration architectures"},
        "calibration": {
            "n": int(result["n"]),
            "evaluation": result["evaluation"],
            "spearman": r3(result["spearman"]),
            "spearman_ci95": [r3(result["spearman_lo"]), r3(result["spearman_hi"])],
            "kendall": r3(result["kendall"]),
            "kendall_ci95": [r3(result["kendall_lo"]), r3(result["kendall_hi"])],
            "note": "cross-validated on the calibration set; held-out agreement may be lower",
        },
        "core_seconds_per_arch": {
            "training": r3(training),
            "proxies": r3(proxy_cost),
            "method_total": r3(training + proxy_cost),
        },
        "proxy_tables": {k: str(v) for k, v in proxy_tables.items()},
    }


def _write_ranking(folder: Path, table: pd.DataFrame, block: dict[str, Any]) -> dict[str, Any]:
    """Write the score file and the block naming it through the store (one atomic swap of
    the sub-store; `write_columns` keeps meta.json and the manifest consistent)."""
    from nb201.benchmark.store import write_columns

    compute = {
        "ranking_core_seconds_per_arch": block["core_seconds_per_arch"]["proxies"],
        "total_core_seconds_per_arch": block["core_seconds_per_arch"]["benchmark_total"],
    }
    return write_columns(folder, RANKING_SET, table, block, compute=compute)


# ---- the notebook's driver ------------------------------------------------------------------
@dataclass
class StudyResult:
    """Everything notebook 07 shows: the frame it scored, per-source costs, the methods,
    their scores, the parameter-count baseline and the chosen method (None below `min_n`)."""

    frame: pd.DataFrame
    seconds: dict[str, float]
    curve: list[str]
    methods: list[Method]
    results: pd.DataFrame
    baseline: dict[str, float]
    chosen: Method | None
    zc_frame: pd.DataFrame | None = None  # every calibration arch with proxies (no run needed)
    zc_results: pd.DataFrame | None = None  # the zero-cost methods scored on zc_frame

    def calibration_of(self, method: Method) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The calibration frame to fit `method` on and its score: every calibration arch
        for a zero-cost method (more data, tighter intervals), else those with a run."""
        if self.zc_results is not None and method.name in set(self.zc_results["method"]):
            return self.zc_frame, self.zc_results.set_index("method").loc[method.name].to_dict()
        return self.frame, self.results.set_index("method").loc[method.name].to_dict()


def run_study(
    calibration_csv: str | Path,
    runs_dir: str | Path,
    proxy_tables: dict[str, str | Path],
    preset: str = "cpu-cifar",
    fidelity: dict[str, Any] | None = None,
    split: str = "cifar10-jpeg",
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
    budget: float = 60.0,
    min_n: int = 30,
    apply_archs: Sequence[int] | None = None,
) -> StudyResult:
    """Load the calibration set, the cheap runs and the proxy tables, score every default
    method and the parameter count (computed by `nb201.space.cost`, independent of the tables)
    on the calibration architectures that have all of them, and choose within `budget`
    among the methods whose proxy tables cover `apply_archs` (the benchmark to score)."""
    from nb201.fidelity.study import CALIBRATION_COLUMNS, load_calibration
    from nb201.space import Arch
    from nb201.space.cost import count_params

    calibration = load_calibration(calibration_csv)
    runs = load_runs(runs_dir, preset, fidelity, split)
    curve = curve_names(runs)
    target = calibration[CALIBRATION_COLUMNS["cifar10"]]
    frame, seconds = join_features(target, runs, proxy_tables)
    methods = default_methods(list(frame.columns), list(proxy_tables), curve)
    results = study(frame, seconds, methods, curve, k=k, n_boot=n_boot, seed=seed)
    zc_frame, zc_seconds = join_features(target, None, proxy_tables)
    zc_methods = [m for m in methods if TRAINING not in m.sources(curve)]
    zc_results = study(zc_frame, zc_seconds, zc_methods, curve, k=k, n_boot=n_boot, seed=seed)
    params = np.array([count_params(Arch.from_index(int(i)), 10) for i in frame.index])
    baseline = rank_agreement(params, frame[TARGET].to_numpy(float), n_boot=n_boot, seed=seed)
    chosen = None
    if len(frame) >= min_n:
        covering = set(proxy_tables)
        if apply_archs is not None:
            covering = {
                lab for lab, p in proxy_tables.items() if set(apply_archs) <= set(load_table(p)[0].index)
            }
        eligible = [
            m.name for m in methods if all(f.split(":")[0] in covering for f in m.features if ":" in f)
        ]
        name = choose(results, budget, eligible=eligible)["method"]
        chosen = next(m for m in methods if m.name == name)
    return StudyResult(frame, seconds, curve, methods, results, baseline, chosen, zc_frame, zc_results)


def paired_delta(
    a: np.ndarray, b: np.ndarray, target: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Spearman(a, target) - Spearman(b, target) with a paired percentile-bootstrap 95%
    interval (both scores resampled on the same architectures): separate intervals that
    overlap can still hide a real difference, and non-overlapping ones overstate it."""
    from scipy import stats

    a, b, t = (np.asarray(v, dtype=float) for v in (a, b, target))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), size=(n_boot, len(t)))

    def rho(x: np.ndarray) -> np.ndarray:
        rx, rt = stats.rankdata(x[idx], axis=1), stats.rankdata(t[idx], axis=1)
        rx -= rx.mean(1, keepdims=True)
        rt -= rt.mean(1, keepdims=True)
        return (rx * rt).sum(1) / np.sqrt((rx**2).sum(1) * (rt**2).sum(1))

    delta = float(stats.spearmanr(a, t).statistic - stats.spearmanr(b, t).statistic)
    lo, hi = np.nanpercentile(rho(a) - rho(b), [2.5, 97.5])
    return {"delta_spearman": delta, "lo": float(lo), "hi": float(hi), "n": float(len(t))}


# ---- the ranking report's steps (notebook 07) ----------------------------------------------
def present_tables(proxy_tables: dict[str, str | Path]) -> tuple[dict[str, str | Path], list[str]]:
    """(the proxy tables that exist, one line per table: what it holds and cost, or that it
    is absent and left out)."""
    present, lines = {}, []
    for label, path in proxy_tables.items():
        if not Path(path).exists():
            lines.append(f"proxy table {label!r} ({path}) is absent: left out")
            continue
        present[label] = path
        meta = load_table(path)[1]
        cov = meta["coverage"]
        lines.append(
            f"{label}: {meta['config']}; proxies {meta['proxies']}; "
            f"{cov['archs']} of {cov['of_archs']} archs "
            f"({cov['functional_classes']} of {cov['of_functional_classes']} functional classes); "
            f"{meta['core_hours']:.2f} core-hours"
        )
    return present, lines


def _interval(row: dict[str, Any] | pd.Series, m: str) -> str:
    return f"{row[m]:.3f} [{row[f'{m}_lo']:.3f}, {row[f'{m}_hi']:.3f}]"


def describe_choice(res: StudyResult, min_n: int) -> list[str]:
    """The report's lines on the chosen method: its agreement on the archs with a cheap run,
    on every calibration arch when it needs no run, the parameter count's beside it, and
    its features; or why nothing was chosen."""
    n = len(res.frame)
    if res.chosen is None:
        return [f"not enough calibration architectures yet ({n} < {min_n}): nothing chosen"]
    row = res.results.set_index("method").loc[res.chosen.name]
    lines = [
        f"chosen: {res.chosen.name} ({row['evaluation']}), on the {int(row['n'])} archs with a cheap run: "
        f"Spearman {_interval(row, 'spearman')}, Kendall {_interval(row, 'kendall')}, "
        f"{row['core_seconds_per_arch']:.2f} core-s per architecture"
    ]
    cal_frame, cal_row = res.calibration_of(res.chosen)
    if len(cal_frame) != n:
        lines.append(
            f"  on all {int(cal_row['n'])} calibration archs (it needs no run): "
            f"Spearman {_interval(cal_row, 'spearman')}, Kendall {_interval(cal_row, 'kendall')}"
        )
    lines.append(f"parameter count on the {n} archs: Spearman {_interval(res.baseline, 'spearman')}")
    lines.append("features: " + ", ".join(res.chosen.features))
    return lines


def chosen_vs_baselines(res: StudyResult, k: int = 10, seed: int = 0, n_boot: int = 1000) -> dict[str, dict]:
    """`paired_delta` of the chosen method's scores (out-of-fold when fitted) against the
    cheap training run alone and against the parameter count, on the archs with a run;
    empty when nothing was chosen."""
    if res.chosen is None:
        return {}
    t = res.frame[TARGET].to_numpy(float)
    mine = scores(res.chosen, res.frame, k, seed)
    params = res.frame.columns[res.frame.columns.str.endswith(":params")][0]
    others = {"cheap run: final test acc": res.frame["acc_final"], "parameter count": res.frame[params]}
    return {
        name: paired_delta(mine, o.to_numpy(float), t, n_boot=n_boot, seed=seed) for name, o in others.items()
    }
