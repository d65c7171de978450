"""The whole-space benchmark of ESTIMATED accuracies: all 15,625 cells, three datasets.

`build` fits `nb201.fidelity.estimate` on the calibration architectures' published
200-epoch accuracies (CIFAR-10 test, CIFAR-100 x-test, ImageNet16-120 x-test), applies it
to one representative of every functional class, and writes a benchmark folder through
the store (`nb201.benchmark.store.write_benchmark`), one sub-store per split at hp "200":

=====================  ==================================================  ==============
sub-store              metrics (one stored epoch: the end of 200)          seeds
=====================  ==================================================  ==============
cifar10-valid__200     x-valid-accuracy = reward draws around the CIFAR-10  0, 1, 2
                       estimate; train-time, x-valid-time (modelled)       (pseudo-seeds)
cifar10__200           ori-test-accuracy = the CIFAR-10 estimate            0, 1, 2
cifar100__200,         x-valid-accuracy = reward draws; x-test-accuracy =  0, 1, 2
ImageNet16-120__200    the estimate; times
=====================  ==================================================  ==============

Design (stated again in every sub-store's meta.json under `estimate`):

* **The scored value is the estimate.** The test sets (`cifar10/ori-test`, `*/x-test`)
  hold it, identical for every pseudo-seed, so a seed mean, a random seed and any seed
  return the estimate itself.
* **The reward is not the scored value.** `x-valid-accuracy` holds three fixed pseudo-seed
  draws per class, estimate + sd * z, with z drawn once per (dataset, class) from a
  seeded generator and centred over the three seeds (scaled so each draw keeps variance
  sd^2): their mean is the estimate, a search that reads one random seed (as the paper's
  searches read one training run) sees the estimate blurred by as much as the
  calibration says the estimate may be wrong. `nb201.search` rewards with
  `cifar10-valid/x-valid-accuracy` and reports the test columns, as on the real benchmark.
* **Uncertainty** per arch: `estimate-std` (and a 95% interval `estimate-lo/hi`) in the
  derived set `estimate` (`nb201.fidelity.estimate`).
* **Functional classes** share the estimate, its uncertainty and its draws; params and
  FLOPs are each arch's own (`nb201.space.cost.table`, the published C=16, N=5 network),
  latency each arch's own from an additive latency model measured here
  (`nb201.space.cost.latency_basis`).
* **Degenerate cells** (341, output identically zero): the network predicts the same class
  for every image, so its accuracy on a class-balanced set is chance, 100 / classes (10%,
  1%, 0.833%, as the published benchmark reports for them), with sd 0 and no spread.
* **Time**: `nb201.fidelity.timing`'s model of one `cpu-cifar` run's core-seconds (the
  same for every dataset but ImageNet16-120, scaled by its 151,700 / 50,000 training
  images); one evaluation pass over a 5,000-image half, twice that over a 10,000-image
  test set.
* **What it lacks**: per-epoch curves, losses, train accuracy, top-5, the lr schedule,
  measured seeds. `nb201.benchmark` raises a clear error for each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.fidelity.estimate import DatasetFit, feature_frame, feature_sets, fit_dataset
from nb201.space import NUM_ARCHS, all_archs

HP = "200"
EPOCHS = 200
PSEUDO_SEEDS = (0, 1, 2)
SET_NAME = "estimate"  # the derived set of every sub-store
# dataset -> (calibration column key, scored set, classes, input shape, training images)
DATASETS: dict[str, tuple[str, int, tuple[int, int, int], int]] = {
    "cifar10": ("ori-test", 10, (3, 32, 32), 50_000),
    "cifar100": ("x-test", 100, (3, 32, 32), 50_000),
    "ImageNet16-120": ("x-test", 120, (3, 16, 16), 151_700),
}
EVAL_IMAGES = {"x-valid": 5_000, "x-test": 5_000, "ori-test": 10_000}
LABELS_SOURCE = (
    "published NATS-Bench topology results (hp=200; Dong et al., TPAMI 2021 = NAS-Bench-201, ICLR 2020), "
    "mean over the available seeds"
)
LACKS = (
    "per-epoch learning curves (only the end of the 200-epoch schedule is estimated)",
    "losses (train, valid, test)",
    "train accuracy and top-5 accuracies",
    "the learning-rate schedule",
    "measured seeds (the pseudo-seeds are draws of the reward around the estimate)",
)


def chance(dataset: str) -> float:
    """The degenerate cells' accuracy: 100 / number of classes (a constant prediction on a
    class-balanced evaluation set)."""
    return 100.0 / DATASETS[dataset][1]


def class_representatives() -> tuple[np.ndarray, np.ndarray]:
    """(representative index of every arch's functional class (its lowest member), whether
    the arch is degenerate), over all 15,625 archs."""
    rep: dict[str, int] = {}
    out = np.empty(NUM_ARCHS, dtype=np.int64)
    degenerate = np.zeros(NUM_ARCHS, dtype=bool)
    for a in all_archs():
        key = a.functional_key()
        out[a.index] = rep.setdefault(key, a.index)
        degenerate[a.index] = key == "zero"
    return out, degenerate


def reward_draws(
    est: np.ndarray, sd: np.ndarray, reps: np.ndarray, dataset: str, seed: int = 0
) -> np.ndarray:
    """[archs, pseudo-seeds] draws estimate + sd * z, z fixed per (dataset, class), centred
    over the pseudo-seeds and scaled to unit variance, clipped to [0, 100]."""
    n = len(PSEUDO_SEEDS)
    key = int.from_bytes(hashlib.sha256(f"{dataset}/{seed}".encode()).digest()[:8], "little")
    z_class = np.random.default_rng(key).standard_normal((NUM_ARCHS, n))  # row = class representative
    z = z_class[reps]
    z = (z - z.mean(axis=1, keepdims=True)) * np.sqrt(n / (n - 1))
    return np.clip(est[:, None] + sd[:, None] * z, 0.0, 100.0)


def _file_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fit_all(
    calibration_csv: str | Path,
    tables: Mapping[str, str | Path],
    datasets: Sequence[str] = tuple(DATASETS),
    n_boot: int = 30,
    seed: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict[str, dict[str, DatasetFit]]]:
    """The whole space's feature frame and, per dataset and feature set, the fitted
    estimator with its nested-CV agreement."""
    from nb201.fidelity.study import CALIBRATION_COLUMNS, load_calibration

    cal = load_calibration(calibration_csv)
    frame = feature_frame(np.arange(NUM_ARCHS), tables)
    missing = frame.loc[cal.index].isna().any(axis=1)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} calibration archs lack proxies (e.g. {list(cal.index[missing][:5])}); "
            "compute them first: python -m nb201.fidelity.proxies --calibration "
            f"{calibration_csv} ... (see data/proxies/README.md)."
        )
    reps, degenerate = class_representatives()
    live = np.unique(reps[~degenerate])
    full_set, small_set = feature_sets(frame.columns)
    lacking = int(frame.loc[live, list(full_set.columns)].isna().any(axis=1).sum())
    sets = [full_set, small_set] if lacking else [full_set]  # the fallback only where it serves
    if progress:
        print(f"[whole-space] {lacking} of {len(live)} classes lack the published-size proxies", flush=True)
    fits: dict[str, dict[str, DatasetFit]] = {}
    for ds in datasets:
        fits[ds] = {}
        for fs in sets:
            if progress:
                print(f"[whole-space] fitting {ds} ({fs.name} features)", flush=True)
            full = fits[ds].get("full")  # the fallback reuses the full set's choice (no new selection)
            fixed = None if full is None else (full.estimator.candidate, full.nested.map_kind)
            fits[ds][fs.name] = fit_dataset(
                frame, cal[CALIBRATION_COLUMNS[ds]], fs, ds, chance(ds), n_boot=n_boot, seed=seed, fixed=fixed
            )
    return frame, fits


def estimate_space(
    frame: pd.DataFrame, fits: Mapping[str, DatasetFit], dataset: str
) -> dict[str, np.ndarray]:
    """Per arch (all 15,625): estimate, sd, 95% interval, the class representative, and
    which model served (0 = full features, 1 = without the published-size proxies for a
    class that table lacks, 2 = the degenerate rule)."""
    reps, degenerate = class_representatives()
    uniq = np.unique(reps[~degenerate])
    x_rep = frame.loc[uniq]
    full_cols = list(fits["full"].features.columns)
    has_full = x_rep[full_cols].notna().all(axis=1).to_numpy()
    est_rep, sd_rep = np.full(len(uniq), np.nan), np.full(len(uniq), np.nan)
    which_rep = np.where(has_full, 0, 1)
    for code, name in ((0, "full"), (1, "small")):
        rows = which_rep == code
        if rows.any():
            if name not in fits:
                raise ValueError(f"{int(rows.sum())} classes need the {name!r} model, which was not fitted.")
            cols = list(fits[name].features.columns)
            est_rep[rows], sd_rep[rows] = fits[name].estimator.predict(
                x_rep.loc[rows, cols].to_numpy(np.float64)
            )
    pos = np.full(NUM_ARCHS, -1, dtype=np.int64)
    pos[uniq] = np.arange(len(uniq))
    est, sd, which = np.full(NUM_ARCHS, chance(dataset)), np.zeros(NUM_ARCHS), np.full(NUM_ARCHS, 2)
    live = ~degenerate
    est[live], sd[live], which[live] = (
        est_rep[pos[reps[live]]],
        sd_rep[pos[reps[live]]],
        which_rep[pos[reps[live]]],
    )
    floor = chance(dataset)
    return {
        "estimate": est,
        "estimate-std": sd,
        "estimate-lo": np.clip(est - 1.96 * sd, floor, 100.0),
        "estimate-hi": np.clip(est + 1.96 * sd, floor, 100.0),
        "class_index": reps.astype(np.float64),
        "model": which.astype(np.float64),
    }


def _costs(dataset: str, latency: Mapping[str, Any]) -> dict[str, np.ndarray]:
    from nb201.space.cost import latency_from_basis, table

    _, classes, shape, _ = DATASETS[dataset]
    t = table(shape, classes)
    op_ids = np.array([a.op_ids() for a in all_archs()])
    return {
        "flops": t["flops"].to_numpy(np.float64),
        "params": t["params"].to_numpy(np.float64),
        "latency": latency_from_basis(op_ids, latency),
    }


def latency_models(
    work_dir: str | Path,
    datasets: Sequence[str],
    benchmark: str | Path | None = None,
    remeasure: bool = False,
) -> dict[str, dict]:
    """The additive latency model per dataset's network (input shape, classes): the one the
    existing `benchmark` states (so a rebuild serves the same latencies), else the one kept
    in `work_dir`, else measured now (`nb201.space.cost.latency_basis`) and kept there."""
    from nb201.fsutil import atomic_write_json
    from nb201.space.cost import latency_basis

    work = Path(work_dir)
    out = {}
    for ds in datasets:
        _, classes, shape, _ = DATASETS[ds]
        path = work / f"latency-{shape[0]}x{shape[1]}x{shape[2]}-k{classes}-C16-N5.json"
        stated = _stated_latency(benchmark, ds) if benchmark is not None and not remeasure else None
        if stated is not None:
            out[ds] = stated
        elif path.is_file() and not remeasure:
            out[ds] = json.loads(path.read_text())
        else:
            out[ds] = latency_basis(shape, classes)
            atomic_write_json(path, out[ds], indent=1)
    return out


def _stated_latency(benchmark: str | Path, dataset: str) -> dict | None:
    """The latency model an existing whole-space benchmark's sub-store of `dataset` states."""
    meta = Path(benchmark) / f"{dataset}__{HP}" / "meta.json"
    if not meta.is_file():
        return None
    model = json.loads(meta.read_text()).get("estimate", {}).get("latency_model")
    return model if model and "coefficients_s" in model else None
