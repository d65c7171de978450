"""`Benchmark`'s vectorised reads: `metrics`, many architectures in one numpy call.

A search or an analysis asks for one metric of thousands of architectures at once; this
part answers with one `np.take` from the flat memory map (precomputed strides, see
`nb201.benchmark.view._View`), so 100,000 lookups cost milliseconds. The per-architecture
derived columns (`ranking-score`, the zero-cost proxies, `estimate-std`; read through
`nb201.benchmark.store.derived`) are served here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nb201.benchmark.estimated import mark_array
from nb201.benchmark.store.derived import columns_of
from nb201.benchmark.store.format import StoreKeyError
from nb201.benchmark.view import _View, seed_mean
from nb201.names import parse_metric, running_sum
from nb201.space import NUM_ARCHS


def _check_integers(name: str, value: Any) -> None:
    """An epoch or seed argument must be integers: 1.7 or True must not quietly become 1."""
    arr = np.asarray(value)
    if isinstance(value, (bool, np.bool_)) or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}={value!r} is not an integer (or an array of integers); pass e.g. {name}=0.")


def _refuse_per_run_arguments(metric: str, epoch: Any, seeds: Any) -> None:
    """A per-architecture metric has no epochs and no seeds: an `epoch` or `seeds` argument
    would be silently ignored, so it is refused, as a wrong one is for accuracy metrics."""
    given = [f"{k}={v!r}" for k, v in (("epoch", epoch), ("seeds", seeds)) if v is not None]
    if given:
        raise ValueError(
            f"{metric!r} is one value per architecture, with no epochs or seeds; drop {', '.join(given)} "
            "(or ask for a per-epoch metric such as 'x-valid-accuracy')."
        )


def _derived_metric(view: _View, metric: str, idx: np.ndarray) -> np.ndarray | None:
    """`metric` from the sub-store's derived per-architecture columns (the ranking score and
    proxies of `nb201.fidelity.ranking`, the whole-space estimate's uncertainty), one value
    per architecture whatever the epoch or seed, read through the store
    (`nb201.benchmark.store.derived.columns_of`). None for the stored per-epoch metrics."""
    if metric in view.col or metric in view.aliases or metric == "arch_index":
        return None
    return columns_of(view.sub).column(metric, idx)


def _rows_of(view: _View, idx: np.ndarray) -> np.ndarray:
    """The store rows of official arch indices, with a descriptive error for one it lacks."""
    if idx.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers (official arch indices); got dtype {idx.dtype}.")
    if len(idx) and (idx.min() < 0 or idx.max() >= NUM_ARCHS):
        raise ValueError(f"arch indices must lie in [0, {NUM_ARCHS - 1}].")
    rows = view.row_of_np[idx]
    if len(rows) and rows.min() < 0:
        view.row(int(np.unique(idx[rows < 0])[0]))  # raises the descriptive error
    return rows


def _marked(view: _View, values: np.ndarray) -> np.ndarray:
    """`values` as they are, or marked as estimated when the sub-store is an estimate."""
    return values if view.estimate is None else mark_array(values, view.estimate)


def _epochs_of(view: _View, epoch: Any, n: int, dataset: str) -> Any:
    """The epoch to read: the last (None), one int, or one per index (checked integers in range)."""
    if view.estimate is not None:
        for e in np.unique(np.asarray(epoch if epoch is not None else [None], dtype=object)):
            view.epoch(e)  # EstimateLacks for a per-epoch read
        return 0
    if epoch is None:
        return view.num_epochs - 1
    _check_integers("epoch", epoch)
    ep = np.asarray(epoch).reshape(-1) if np.ndim(epoch) else int(epoch)
    if np.any(np.asarray(ep) < 0) or np.any(np.asarray(ep) >= view.num_epochs):
        raise ValueError(f"epoch must lie in [0, {view.num_epochs - 1}] for {dataset!r} hp={view.hp!r}.")
    if np.ndim(ep) and len(ep) not in (1, n):
        raise ValueError(f"epoch has {len(ep)} entries for {n} indices; give one or one per index.")
    return ep


class VectorMetrics:
    """`metrics` and its seed handling (mixed into `Benchmark`)."""

    _hps: dict[str, list[str]]
    _np_rng: np.random.Generator

    # ---- vectorized ------------------------------------------------------------------
    def metrics(
        self,
        indices: Sequence[int] | np.ndarray | int,
        metric: str,
        epoch: int | Sequence[int] | np.ndarray | None = None,
        seeds: int | str | Sequence[int] | np.ndarray | None = None,
        dataset: str | None = None,
        hp: Any = None,
    ) -> np.ndarray:
        """`metric` for many archs at once: float64 array shaped like `indices`.

        `metric` is a stored name (`x-valid-accuracy`, `train-all-time`, ...) or an
        original-API key resolved per split (`valid-accuracy`, `test-loss`, ...; `*-per-time`
        = all-time / (epoch+1)). `epoch`: None (last), an int, or one per index. `seeds`:
        None averages each arch's seeds, an int selects that seed, `"random"` draws one per
        index from the benchmark's RNG, an array gives one seed per index.
        """
        if dataset is None:
            if len(self._hps) != 1:
                raise StoreKeyError(f"pass dataset=...; this benchmark has {self.datasets}.")
            dataset = next(iter(self._hps))
        view = self._view(dataset, hp)
        idx = np.asarray(indices)
        if idx.size == 0:  # an empty list (float64 by numpy's default) asks for nothing
            idx = idx.astype(np.int64)
        shape = idx.shape
        idx = idx.reshape(-1)
        rows = _rows_of(view, idx)
        derived = _derived_metric(view, metric, idx)  # ranking-score, proxies, estimate-std
        if derived is not None:
            _refuse_per_run_arguments(metric, epoch, seeds)
            return _marked(view, derived.reshape(shape))
        per_time = parse_metric(metric).quantity == "per-time"
        if per_time:
            metric = running_sum(metric)
        col = view.col[view.metric(metric)]
        ep = _epochs_of(view, epoch, len(rows), dataset)
        if seeds is None:
            out = seed_mean(view, rows, col, ep)
        else:
            spos = self._seed_positions(view, seeds, rows, dataset)
            flat = rows * view.stride_arch + spos * view.stride_seed + ep * view.stride_epoch + col
            out = view.flat.take(flat).astype(np.float64)
        if per_time:
            out = out / (np.asarray(ep) + 1)
        return _marked(view, out.reshape(shape))

    def _seed_positions(self, view: _View, seeds: Any, rows: np.ndarray, dataset: str) -> Any:
        """Each index's seed position in the store: one drawn per index (`"random"`), one
        given seed, or one seed per index."""
        if isinstance(seeds, str):
            if seeds != "random":
                raise ValueError(
                    f"invalid seeds={seeds!r}: use None (average), 'random', a seed, or an array."
                )
            if view.all_present:
                return self._np_rng.integers(0, len(view.seeds), len(rows))
            counts = view.counts[rows]
            if len(counts) and counts.min() == 0:
                raise StoreKeyError("some architectures have no completed run; cannot draw a seed for them.")
            pick = (self._np_rng.random(len(rows)) * counts).astype(np.int64)
            return view.pos_table[rows, pick]
        _check_integers("seeds", seeds)
        sarr = np.asarray(seeds).reshape(-1)
        uniq = np.unique(sarr)
        unknown = [int(s) for s in uniq if int(s) not in view.seed_pos]
        if unknown:
            raise StoreKeyError(
                f"unknown seeds {unknown}; {dataset!r} hp={view.hp!r} has seeds {view.seeds}."
            )
        if len(sarr) not in (1, len(rows)):
            raise ValueError(
                f"seeds has {len(sarr)} entries for {len(rows)} indices; give one or one per index."
            )
        if len(uniq) == 1:
            return view.seed_pos[int(uniq[0])]
        upos = np.array([view.seed_pos[int(s)] for s in uniq], dtype=np.int64)
        return upos[np.searchsorted(uniq, sarr)]
