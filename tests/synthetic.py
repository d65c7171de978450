"""Synthetic benchmarks with known structure, for testing and timing search algorithms.

Real benchmarks take GPU-years; to check that a search algorithm *uses* structure (REA
and REINFORCE should beat random search when accuracy depends smoothly on the op choices)
we need a benchmark whose optimum and structure we know. Accuracy here is an additive
function of the op on each edge plus per-seed noise, learning curves saturate towards it,
and the training time grows with the convolutions a cell has, as on the real benchmark.
The result is written with the store's own writer, so it is an ordinary benchmark folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from nb201.benchmark.store import write_benchmark
from nb201.search.base import ops_of
from nb201.space import NUM_ARCHS

# Eval sets per split, as in the original benchmark.
SPLIT_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
_OFFSET = {"cifar10-valid": 0.0, "cifar10": 0.4, "cifar100": -21.0, "ImageNet16-120": -48.0}


def additive_quality(seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A random additive score in [0, 1] of op ids `[n, 6]`: each edge's op adds its weight."""
    w = np.random.default_rng(seed).normal(size=(6, 5))
    lo, hi = w.min(axis=1).sum(), w.max(axis=1).sum()

    def quality(ops: np.ndarray) -> np.ndarray:
        return (w[np.arange(6), ops].sum(axis=-1) - lo) / (hi - lo)

    return quality


def write_synthetic(
    root: str | Path,
    *,
    archs: Sequence[int] | np.ndarray | None = None,
    seeds: Sequence[int] = (777, 888, 999),
    hps: Mapping[str, int] | None = None,
    splits: Sequence[str] = ("cifar10-valid", "cifar10"),
    quality: Callable[[np.ndarray], np.ndarray] | np.ndarray | None = None,
    low: float = 80.0,
    high: float = 94.4,
    noise: float = 0.3,
    epoch_time: float = 5.0,
    seed: int = 0,
    tidy: bool = False,
) -> Path:
    """Write a benchmark folder with the given splits and `{hp: epochs}` (default
    `{"12": 12, "200": 200}` for the search split, `{"200": 200}` for the others).

    Final x-valid accuracy of an arch is `low + (high - low) * quality` (+ split offset
    and N(0, noise) per seed); `quality` is a function of op ids `[n, 6]` or one value
    per arch. Per-epoch training time is `epoch_time * (1 + 0.5 * #conv3x3 + 0.2 *
    #conv1x1)` (x 12/200-epoch rate for the short schedule), jittered per seed.
    """
    root = Path(root)
    idx = np.arange(NUM_ARCHS) if archs is None else np.asarray(archs, dtype=np.int64)
    ops = ops_of(idx)
    if quality is None:
        quality = additive_quality(seed)
    q = np.asarray(quality(ops) if callable(quality) else quality, dtype=np.float64).reshape(-1)
    if len(q) != len(idx):
        raise ValueError(f"quality has {len(q)} values for {len(idx)} architectures; give one per arch.")
    rng = np.random.default_rng(seed)
    n_conv3, n_conv1 = (ops == 3).sum(axis=1), (ops == 2).sum(axis=1)
    base_time = epoch_time * (1 + 0.5 * n_conv3 + 0.2 * n_conv1)
    for split in splits:
        sets = SPLIT_SETS.get(split, ("x-valid", "x-test", "ori-test"))
        schedule = (
            hps if hps is not None else ({"12": 12, "200": 200} if split == splits[0] else {"200": 200})
        )
        for hp, epochs in schedule.items():
            metrics = ["train-time"] + [f"{s}-{k}" for s in sets for k in ("accuracy", "time")]
            vals = np.empty((len(idx), len(seeds), epochs, len(metrics)), dtype=np.float32)
            final = low + (high - low) * q + _OFFSET.get(split, 0.0) - (0.0 if epochs >= 200 else 2.0)
            t = np.arange(1, epochs + 1) / epochs
            shape = (1 - np.exp(-4 * t)) / (1 - np.exp(-4))  # saturating learning curve
            for s in range(len(seeds)):
                jitter = rng.normal(1.0, 0.05, size=len(idx))
                vals[:, s, :, 0] = (base_time * jitter)[:, None]
                for k, _ in enumerate(sets):
                    acc = final + rng.normal(0.0, noise, size=len(idx))
                    start = 10.0
                    vals[:, s, :, 1 + 2 * k] = start + (acc - start)[:, None] * shape[None, :]
                    vals[:, s, :, 2 + 2 * k] = (0.2 * base_time * jitter)[:, None]
            write_benchmark(
                root,
                split=split,
                hp=hp,
                arch_indices=idx,
                seeds=list(seeds),
                metrics=metrics,
                values=vals,
                dataset=split,
                meta={"source": "synthetic", "seed": seed},
                tidy=tidy,
            )
    return root
