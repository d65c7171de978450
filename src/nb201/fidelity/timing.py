"""Simulated training time for architectures nobody trained: a time model fitted to
measured runs.

A search on a benchmark pays simulated seconds per query. The whole-space estimate has no
training runs of its own, so its times come from the measured ones: the committed CPU
benchmark's and the fidelity study's `cpu-cifar` runs (one thread, C=8, N=1, 16 px, 4
epochs over the 50,000 CIFAR-10 training images). Training time is nearly additive over
the cell's edges, like FLOPs, but an op's seconds are not proportional to its FLOPs (a
pooling edge has none and still costs memory traffic), so two models are compared by
10-fold cross-validation: time linear in the network's FLOPs, and time linear in the
number of edges with each op (`nb201.space.cost.op_count_design`). The better one (lower
out-of-fold RMSE) serves; its fit is stated in the store's meta.json.

Wall times on a shared machine mostly measure the other jobs (R^2 of any arch model ~0.03),
so the model is fitted to each run's core-seconds (process time, R^2 ~0.5); it serves their
expectation given the architecture, which is what a simulated clock needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TIME_KINDS = ("flops", "op-counts")


def load_timed_runs(dirs: Iterable[str | Path], preset: str = "cpu-cifar") -> dict[str, np.ndarray]:
    """The ok run records of `preset` (exactly its resolved config, no overrides) in `dirs`:
    per run the arch index, its op ids, training seconds (the run's core-seconds, `cpu_time`:
    the process time of the whole run, which the load of a shared machine disturbs far less
    than its wall time), evaluation seconds of one pass over x-valid (mean `x-valid-time`
    per epoch) and FLOPs."""
    from nb201.presets import resolve_config
    from nb201.space import Arch

    want = resolve_config(preset, {})
    rows = []
    for d in dirs:
        for path in sorted(Path(d).glob("*.json")):
            r = json.loads(path.read_text())
            if r.get("status") != "ok" or r.get("config") != want or r.get("cpu_time") is None:
                continue
            ep = r["epochs"]
            rows.append(
                (
                    Arch.from_string(r["spec"]["arch"]).op_ids(),
                    float(r["cpu_time"]),
                    float(np.mean([float(e["x-valid-time"]) for e in ep])),
                    float(r["cost"]["flops"]),
                    int(r["arch_index"]),
                )
            )
    if not rows:
        raise ValueError(
            f"no ok {preset!r} run records in {list(map(str, dirs))}: nothing to fit a time model to."
        )
    ops, train, evals, flops, idx = zip(*rows)
    return {
        "op_ids": np.array(ops),
        "train_seconds": np.array(train),
        "eval_seconds": np.array(evals),
        "flops": np.array(flops),
        "arch_index": np.array(idx),
    }


def _design(kind: str, op_ids: np.ndarray, flops: np.ndarray) -> np.ndarray:
    from nb201.space.cost import op_count_design

    if kind == "flops":
        return np.column_stack([np.ones(len(flops)), flops])
    if kind == "op-counts":
        return op_count_design(op_ids)
    raise ValueError(f"unknown time model {kind!r}; choose from {TIME_KINDS}.")


def _cv_rmse(design: np.ndarray, y: np.ndarray, k: int = 10, seed: int = 0) -> float:
    fold = np.random.default_rng(seed).permutation(len(y)) % k
    err = np.empty(len(y))
    for f in range(k):
        tr, te = fold != f, fold == f
        coef = np.linalg.lstsq(design[tr], y[tr], rcond=None)[0]
        err[te] = design[te] @ coef - y[te]
    return float(np.sqrt(np.mean(err**2)))


@dataclass(frozen=True)
class TimeModel:
    """Train and eval seconds as linear functions of `kind`'s design."""

    kind: str
    train_coef: np.ndarray
    eval_coef: np.ndarray
    report: dict[str, Any]

    def predict(self, op_ids: np.ndarray, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(training seconds, one evaluation pass's seconds) per architecture, floored at
        the fastest measured run's (a linear fit must not go below what a run can cost)."""
        design = _design(self.kind, op_ids, flops)
        floor_t, floor_e = self.report["min_measured_train_s"], self.report["min_measured_eval_s"]
        return np.maximum(design @ self.train_coef, floor_t), np.maximum(design @ self.eval_coef, floor_e)


def fit_time_model(runs: dict[str, np.ndarray], k: int = 10, seed: int = 0) -> TimeModel:
    """Compare the `TIME_KINDS` by k-fold CV on the measured training seconds, fit the
    better one on all runs (training and evaluation seconds), and say how well it fits."""
    y, ev = runs["train_seconds"], runs["eval_seconds"]
    cv = {kind: _cv_rmse(_design(kind, runs["op_ids"], runs["flops"]), y, k, seed) for kind in TIME_KINDS}
    kind = min(cv, key=cv.get)
    design = _design(kind, runs["op_ids"], runs["flops"])
    train_coef = np.linalg.lstsq(design, y, rcond=None)[0]
    eval_coef = np.linalg.lstsq(design, ev, rcond=None)[0]
    resid = design @ train_coef - y
    report = {
        "kind": kind,
        "what": "core-seconds of one cpu-cifar run (C=8, N=1, 16 px, 4 epochs over 50,000 CIFAR-10 "
        "images, one thread; process time of the whole run) and wall seconds of one evaluation pass "
        "over x-valid, as nb201's runs measured them",
        "terms": ["intercept", "FLOPs (M, trained size)"]
        if kind == "flops"
        else [
            "skeleton",
            "per skip_connect edge",
            "per nor_conv_1x1 edge",
            "per nor_conv_3x3 edge",
            "per avg_pool_3x3 edge",
        ],
        "train_coefficients_s": [round(float(v), 4) for v in train_coef],
        "eval_coefficients_s": [round(float(v), 5) for v in eval_coef],
        "runs": int(len(y)),
        "cv_rmse_s": {kd: round(v, 3) for kd, v in cv.items()},
        "r2": round(float(1 - np.mean(resid**2) / np.var(y)), 4),
        "mean_measured_train_s": round(float(y.mean()), 3),
        "min_measured_train_s": round(float(y.min()), 3),
        "min_measured_eval_s": round(float(ev.min()), 4),
    }
    return TimeModel(kind, train_coef, eval_coef, report)
