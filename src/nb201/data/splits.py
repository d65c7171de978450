"""Train/evaluation splits as NAS-Bench-201 defines them, computed once and kept on disk.

A benchmark's numbers mean something only if every run of every architecture saw the
same images, so a split is computed by a fixed procedure, written to `data/splits/` as an
index file, and from then on read, never recomputed. The file name carries the dataset's
content fingerprint: a split made for one dataset is never applied to another.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nb201.fsutil import atomic_write_bytes
from nb201.names import TEST, VALID, eval_pools, is_valid_split, valid_split

from .cache import default_splits_dir, safe_name
from .imagedata import ImageData
from .registry import Halves, dataset_entry

SPLIT_SEED = 1021  # the seed of the paper's cifar10-valid split, reused for ours
PAPER_CIFAR10_TRAIN = 50_000
SPLIT_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Split:
    """Which images train a network and which evaluate it.

    `evals` maps an evaluation-set name (`x-valid`, `x-test`, `ori-test`) to the pool it
    indexes ("train" or "test") and the indices into that pool.
    """

    name: str
    dataset: str
    train: np.ndarray
    evals: dict[str, tuple[str, np.ndarray]]
    procedure: str = ""  # "paper-cifar10-valid" or "stratified", recorded for provenance
    path: Path | None = field(default=None, compare=False)

    def eval_arrays(self, data: ImageData, eval_name: str) -> tuple[np.ndarray, np.ndarray]:
        if eval_name not in self.evals:
            raise KeyError(f"split {self.name} has no eval set {eval_name!r}; it has {sorted(self.evals)}.")
        pool, idx = self.evals[eval_name]
        return getattr(data, f"{pool}_x")[idx], getattr(data, f"{pool}_y")[idx]


def paper_cifar10_valid(n: int = PAPER_CIFAR10_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """The original benchmark's cifar10-valid halves of the official training order.

    It is a procedure, not a file: seed Python's RNG with 1021, shuffle 0..49999, and the
    first half (sorted) trains while the second half (sorted) validates."""
    order = list(range(n))
    random.Random(SPLIT_SEED).shuffle(order)
    half = n // 2
    return np.array(sorted(order[:half]), np.int64), np.array(sorted(order[half:]), np.int64)


def stratified_partition(
    y: np.ndarray, fraction: float, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions 0..len(y)-1 into two disjoint sorted parts, the first holding
    round(fraction * n) items with every class represented in proportion.

    Per-class shares are rounded by largest remainder (ties to the smaller class id), so
    two equal halves of 10 classes x 1,000 images are exactly 500 + 500 per class."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}.")
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    target = int(np.floor(len(y) * fraction + 0.5))
    quotas = counts * fraction
    take = np.floor(quotas).astype(np.int64)
    extra = target - int(take.sum())
    if extra > 0:
        order = np.argsort(-(quotas - take), kind="stable")
        take[order[:extra]] += 1
    rng = random.Random(seed)
    first, second = [], []
    for cls, k in zip(classes, take):
        members = np.flatnonzero(y == cls)
        perm = list(range(len(members)))
        rng.shuffle(perm)
        chosen = np.zeros(len(members), bool)
        chosen[perm[:k]] = True
        first.append(members[chosen])
        second.append(members[~chosen])
    a = np.sort(np.concatenate(first)) if first else np.empty(0, np.int64)
    b = np.sort(np.concatenate(second)) if second else np.empty(0, np.int64)
    return a.astype(np.int64), b.astype(np.int64)


def stratified_subset(
    indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int = SPLIT_SEED
) -> np.ndarray:
    """A class-stratified `fraction` of `indices` (labels are those of the full pool), for
    cheap runs on part of a training set. fraction=1 returns the indices unchanged."""
    indices = np.asarray(indices, np.int64)
    if fraction >= 1.0:
        return indices
    keep, _ = stratified_partition(np.asarray(labels)[indices], fraction, seed)
    return indices[keep]


def valid_splits(data: ImageData) -> tuple[str, ...]:
    """The split names defined for this dataset (its registry entry says whether it offers
    the `-valid` form)."""
    return (data.name, valid_split(data.name)) if dataset_entry(data.name).valid_form else (data.name,)


def _stratified_halves(train_y: np.ndarray) -> Halves:
    return (*stratified_partition(train_y, 0.5), "stratified")


def _compute(data: ImageData, split: str) -> tuple[np.ndarray, dict[str, tuple[str, np.ndarray]], str]:
    """Train indices, eval sets and the procedure of `split`, by the dataset's registry entry
    and the one rule of which sets a split evaluates on (`nb201.names.eval_pools`)."""
    entry = dataset_entry(data.name)
    valid_form = is_valid_split(split, data.name)
    pools = eval_pools(valid_form, entry.test_halves)
    n, m = len(data.train_y), len(data.test_y)
    held: dict[str, np.ndarray] = {}
    if valid_form:
        train, held[VALID], procedure = (entry.valid_halves or _stratified_halves)(data.train_y)
    else:
        train, procedure = np.arange(n, dtype=np.int64), "all"
        if TEST in pools:
            held[VALID], held[TEST] = stratified_partition(data.test_y, 0.5)
            procedure = "stratified"
    whole_test = np.arange(m, dtype=np.int64)
    return train, {s: (pool, held.get(s, whole_test)) for s, pool in pools.items()}, procedure


def split_path(data: ImageData, split: str, splits_dir: Path) -> Path:
    return splits_dir / f"{safe_name(data.name)}__{safe_name(split)}__{data.fingerprint[:16]}.npz"


def _write(path: Path, split: Split, data: ImageData) -> None:
    meta = {
        "format": SPLIT_FORMAT,
        "split": split.name,
        "dataset": split.dataset,
        "fingerprint": data.fingerprint,
        "procedure": split.procedure,
        "seed": SPLIT_SEED,
        "evals": {k: pool for k, (pool, _) in split.evals.items()},
    }
    arrays = {"train": split.train, **{f"eval:{k}": idx for k, (_, idx) in split.evals.items()}}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _read(path: Path, data: ImageData) -> Split:
    def bad(why: str) -> ValueError:
        return ValueError(f"split file {path} is invalid ({why}); delete it and it will be recomputed.")

    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            train = f["train"].astype(np.int64)
            evals = {k: (pool, f[f"eval:{k}"].astype(np.int64)) for k, pool in meta["evals"].items()}
    except (OSError, ValueError, KeyError) as err:
        raise bad(f"{type(err).__name__}: {err}") from err
    if meta.get("fingerprint") != data.fingerprint:
        raise bad("it was computed for different data")
    sizes = {"train": len(data.train_y), "test": len(data.test_y)}
    for name, (pool, idx) in {"train": ("train", train), **evals}.items():
        if pool not in sizes or (len(idx) and (idx.min() < 0 or idx.max() >= sizes[pool])):
            raise bad(f"indices of {name} fall outside the {pool} pool")
    return Split(meta["split"], meta["dataset"], train, evals, meta.get("procedure", ""), path)


def get_split(data: ImageData, split: str, splits_dir: str | Path | None = None) -> Split:
    """The named split of `data`, read from `splits_dir` (default `$NB201_DATA_DIR/splits`,
    i.e. `data/splits`) or computed and written there on first use."""
    allowed = valid_splits(data)
    if split not in allowed:
        raise ValueError(f"unknown split {split!r} for dataset {data.name!r}; valid splits: {list(allowed)}.")
    directory = Path(splits_dir) if splits_dir is not None else default_splits_dir()
    path = split_path(data, split, directory)
    if path.is_file():
        return _read(path, data)
    train, evals, procedure = _compute(data, split)
    result = Split(split, data.name, train, evals, procedure, path)
    _write(path, result, data)
    return result
