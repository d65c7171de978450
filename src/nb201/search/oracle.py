"""The compact numpy view of a benchmark that search algorithms query.

A search run asks ~100-300 questions of the form "train this cell once, with a random
seed: what is its validation accuracy and what did it cost?". Answering each through the
dict-shaped API would dominate the run time of a 500-run experiment, so we read the
answers for *every* architecture and seed once, with the store's vectorized `metrics`,
into dense arrays indexed by the official architecture index. A query is then two array
reads.

The cost of a query is the original `simulate_train_eval`'s, `nb201.benchmark.protocol.query_cost`:
the training time of all epochs up to the one read, plus one validation pass (the mean
validation time per epoch). Everything is read through `nb201.benchmark.api.Benchmark`
(`seed_table`, `indexes`, `default_hp`), never from the benchmark's files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb201.benchmark.protocol import SEARCH_HP, query_cost
from nb201.names import set_of
from nb201.space import NUM_ARCHS

if TYPE_CHECKING:
    from nb201.benchmark import Benchmark

# (reward, cost) arrays for one epoch, both float64 [NUM_ARCHS, seeds], seeds packed.
Column = tuple[np.ndarray, np.ndarray]


@dataclass
class Oracle:
    """Rewards and costs of one (split, hp, eval set) for every (architecture, seed).

    Seeds are *packed*: for architecture `a`, columns `0 .. n_seeds[a]-1` hold its runs
    that exist, so drawing "one random seed" is one integer draw, with no mask to look at.
    Absent architectures have `n_seeds == 0`.
    """

    split: str
    hp: str
    metric: str  # the reward, e.g. "x-valid-accuracy"
    num_epochs: int
    n_seeds: np.ndarray  # int64 [NUM_ARCHS]
    loader: Callable[[int], Column] | None = field(default=None, repr=False)
    # The Benchmark the loader reads (None for `from_arrays`); dropped when pickled.
    bench: Benchmark | None = field(default=None, repr=False, compare=False)
    _columns: dict[int, Column] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.available = np.flatnonzero(self.n_seeds > 0)
        if len(self.available) == 0:
            raise ValueError(
                f"{self.split}/{self.hp} holds no run with {self.metric!r}; "
                "pick a split and hp that have results."
            )

    @classmethod
    def from_arrays(
        cls,
        reward: np.ndarray,
        cost: np.ndarray,
        *,
        split: str = "synthetic",
        hp: str = "12",
        metric: str = "x-valid-accuracy",
    ) -> Oracle:
        """An oracle from dense arrays `[NUM_ARCHS, seeds]` or `[NUM_ARCHS, seeds, epochs]`
        (NaN = run absent), for tests and for users with their own tables."""
        reward = np.asarray(reward, dtype=np.float64)
        cost = np.asarray(cost, dtype=np.float64)
        if reward.ndim == 2:
            reward, cost = reward[..., None], cost[..., None]
        if reward.shape != cost.shape or reward.ndim != 3 or reward.shape[0] != NUM_ARCHS:
            raise ValueError(
                f"reward and cost must both be [{NUM_ARCHS}, seeds(, epochs)], got {reward.shape} and "
                f"{cost.shape}; index rows by official architecture index."
            )
        present = np.isfinite(reward).all(axis=2) & np.isfinite(cost).all(axis=2)
        order, n_seeds = _packing(present)

        def loader(epoch: int) -> Column:
            return _pack(reward[:, :, epoch], order), _pack(cost[:, :, epoch], order)

        return cls(split, hp, metric, reward.shape[2], n_seeds, loader)

    def column(self, epoch: int | None = None) -> Column:
        """(reward, cost) after `epoch` (0-based; None = the last), cached."""
        e = self.num_epochs - 1 if epoch is None else int(epoch)
        if not 0 <= e < self.num_epochs:
            raise ValueError(
                f"epoch {epoch} is outside {self.split}/{self.hp}, which has epochs 0..{self.num_epochs - 1}."
            )
        col = self._columns.get(e)
        if col is None:
            with self._lock:
                col = self._columns.get(e)
                if col is None:
                    if self.loader is None:
                        raise RuntimeError(
                            f"epoch {e} of this oracle was not materialized and it has no loader."
                        )
                    col = self.loader(e)
                    _check_costs(col, self)
                    self._columns[e] = col
        return col

    def __getstate__(self) -> dict[str, Any]:
        # Loaders hold memory maps; a pickled oracle carries the columns read so far.
        state = dict(self.__dict__)
        state["loader"] = None
        state["bench"] = None  # the Benchmark it was read from (memory maps)
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _packing(present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(~present, axis=1, kind="stable")
    return order, present.sum(axis=1).astype(np.int64)


def _pack(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.take_along_axis(np.asarray(values, dtype=np.float64), order, axis=1))


def _check_costs(col: Column, oracle: Oracle) -> None:
    reward, cost = col
    n = oracle.n_seeds
    valid = np.arange(cost.shape[1])[None, :] < n[:, None]
    bad = valid & ~(np.isfinite(cost) & (cost > 0) & np.isfinite(reward))
    if bad.any():
        a = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{oracle.split}/{oracle.hp}: architecture {a} has a run without a positive time cost or without "
            f"{oracle.metric}; a simulated clock needs both. Re-import the benchmark with its time metrics."
        )


# ---- building from a benchmark ----------------------------------------------------------


def open_benchmark(benchmark: Benchmark | str | Path) -> Benchmark:
    """An opened `nb201.benchmark.Benchmark` for a Benchmark (returned as is) or a folder/name."""
    from nb201.benchmark import Benchmark

    if isinstance(benchmark, Benchmark):
        return benchmark
    if isinstance(benchmark, (str, Path)):
        return Benchmark.open(benchmark)
    raise TypeError(
        f"expected a Benchmark or a benchmark folder, got {type(benchmark).__name__}; "
        "open one with nb201.benchmark.Benchmark.open(path)."
    )


def build_oracle(
    benchmark: Benchmark | str | Path,
    dataset: str = "cifar10-valid",
    hp: str | None = None,
    metric: str = "x-valid-accuracy",
) -> Oracle:
    """The oracle for `dataset` (a split name) / `hp` of a benchmark (or its folder), read
    once: a `nb201.search.SearchProblem` holds it for every run of a comparison. `hp=None`:
    `resolve_hp` ("12" when the split has it, else its only hp)."""
    bench = open_benchmark(benchmark)
    return _from_benchmark(bench, dataset, resolve_hp(bench, dataset, hp), metric)


def _from_benchmark(bench: Benchmark, split: str, hp: str, metric: str) -> Oracle:
    check_dataset(bench, split, hp)
    eval_set = set_of(metric)
    names = bench.metric_names(split, hp)
    if metric not in names:
        raise KeyError(
            f"{split}/{hp} has no metric {metric!r} (it has {sorted(names)}); "
            "search on a split with a validation set, e.g. 'cifar10-valid'."
        )
    for needed in ("train-all-time", f"{eval_set}-all-time"):
        if needed not in names:
            raise KeyError(
                f"{split}/{hp} has no {needed!r}, so queries cannot be charged to the simulated clock; "
                "use a benchmark with timing metrics."
            )
    indices = bench.indexes(split, hp)
    num_epochs = int(bench.num_epochs(split, hp))

    def read(name: str, epoch: int) -> np.ndarray:
        full = np.full((NUM_ARCHS, len(bench.seeds(split, hp))), np.nan)
        full[indices] = bench.seed_table(name, split, hp, epoch=epoch)
        return full

    # An (arch, seed) run counts where its reward and its times exist at the last epoch
    # (absent runs read as NaN).
    last = num_epochs - 1
    ok = np.isfinite(read(metric, last)) & np.isfinite(read("train-all-time", last))
    ok &= np.isfinite(read(f"{eval_set}-all-time", last))
    order, n_seeds = _packing(ok)

    def loader(epoch: int) -> Column:
        reward = read(metric, epoch)
        cost = query_cost(read("train-all-time", epoch), read(f"{eval_set}-all-time", epoch), epoch)
        return _pack(reward, order), _pack(cost, order)

    return Oracle(split, hp, metric, num_epochs, n_seeds, loader, bench)


def check_dataset(bench: Benchmark, split: str, hp: str | None = None) -> None:
    """Clear KeyErrors for a split or hp the benchmark does not hold."""
    if split not in bench.datasets:
        raise KeyError(
            f"unknown dataset {split!r}: this benchmark has {bench.datasets}. Pass one of them as dataset=."
        )
    if hp is not None and str(hp) not in bench.hps(split):
        raise KeyError(
            f"dataset {split!r} has no hp {hp!r} (it has {bench.hps(split)}). Pass one of them as hp=."
        )


def resolve_dataset(bench: Benchmark, dataset: str | None) -> str:
    """`dataset`, or for None the paper's "cifar10-valid" when the benchmark has it, else
    its only split (a benchmark with several splits and no cifar10-valid must be told)."""
    if dataset is not None:
        check_dataset(bench, dataset)
        return dataset
    names = list(bench.datasets)
    if "cifar10-valid" in names:
        return "cifar10-valid"
    if len(names) == 1:
        return names[0]
    raise KeyError(f"this benchmark has several datasets {names} and no 'cifar10-valid'; pass dataset=... .")


def resolve_hp(bench: Benchmark, split: str, hp: str | int | None) -> str:
    """`hp`, or for None the search's default schedule (`Benchmark.default_hp(split,
    "search")`: the paper's "12" when the split has it, else the split's only hp)."""
    check_dataset(bench, split)
    if hp is None:
        try:
            return bench.default_hp(split, "search")
        except KeyError:
            raise KeyError(
                f"dataset {split!r} has several hp settings {bench.hps(split)} and no {SEARCH_HP!r}; "
                "pass hp=... ."
            ) from None
    check_dataset(bench, split, str(hp))
    return str(hp)
