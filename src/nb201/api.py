"""`Benchmark`: the query side of a benchmark folder, with the original APIs' names.

Existing NAS code written for `nas_201_api.NASBench201API` or `nats_bench`'s topology
API ports by changing the import: method names, arguments and the keys of the returned
dicts are the originals'. Opening memory-maps the data, so it costs milliseconds and a few
MB whatever the benchmark's size; a query reads one row.

Split semantics (written down here, enforced by the code below, identical to the originals)
--------------------------------------------------------------------------------------------
Every stored metric name says which set it comes from: `train-*`, `x-valid-*`, `x-test-*`,
`ori-test-*`. What the sets are, per split (`dataset` argument):

=================  ==========================  ==========================  ==================
split              x-valid                     x-test                      ori-test
=================  ==========================  ==========================  ==================
cifar10-valid      held-out half of CIFAR-10   --                          CIFAR-10 test set
                   *training* set
cifar10            --                          --                          CIFAR-10 test set
cifar100,          one class-stratified half   the other half of the       the whole test set
ImageNet16-120,    of the test set             test set
digits, folder:*
=================  ==========================  ==========================  ==================

`get_more_info` maps those to the originals' generic keys exactly as
`nas_201_api.NASBench201API.get_more_info` / `nats_bench` `NATStopology.get_more_info` do:

- `train-loss`, `train-accuracy`, `train-per-time`, `train-all-time`: the training set.
- `cifar10-valid` (and any `<name>-valid` split): `valid-*` = x-valid, `test-*` = ori-test.
- `cifar10`: `test-*` = ori-test, no `valid-*` and no `valtest-*` keys (there is no
  validation set: the network was trained on all 50,000 images).
- every other split: `valid-*` = x-valid, `test-*` = x-test, `valtest-*` = ori-test.

`*-all-time` is the time summed over epochs 0..iepoch, `*-per-time` that sum / (iepoch+1),
None when the run recorded no times (as the originals). Nothing is ever relabelled: test
accuracy is never returned under a `valid` key.

`find_best(dataset, metric_on_set)` remaps like the originals' `remap_dataset_set_names`:
`("cifar10", "valid")` -> split cifar10-valid, set x-valid; `("cifar10", "test")` -> cifar10,
ori-test; for the others `valid` -> x-valid, `test` -> x-test. Explicit set names work too.

`simulate_train_eval(arch, "cifar10")` reads split cifar10-valid (and generally
`<dataset>-valid` when the benchmark has it), as the originals do; the time cost is
`train-all-time + valid-per-time`: the training time up to `iepoch` plus one evaluation.

Deviations from the originals, all deliberate: bad input raises KeyError/ValueError that
lists the valid choices (the originals assert or return -1); `hp=None` means the originals'
default (`"200"` for queries, `"12"` for `simulate_train_eval`) when the benchmark has it,
else the only hp it has; `is_random=True` draws from this object's own RNG (`seed=` at open)
so searches are reproducible; `len(b)` is the size of the search space (15,625) as in the
originals, `b.evaluated_indexes` what the benchmark actually holds.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nb201.space import NUM_ARCHS, Arch
from nb201.store.format import (
    ALL_TIME_SUFFIX,
    TIME_SUFFIX,
    StoreError,
    StoreKeyError,
    Substore,
    iter_specs,
    open_substore,
    role_sets,
)

_NAN = float("nan")
_DEFAULT_HP = "200"
_SIMULATE_HP = "12"


def _check_integers(name: str, value: Any) -> None:
    """An epoch or seed argument must be integers: 1.7 or True must not quietly become 1."""
    arr = np.asarray(value)
    if isinstance(value, (bool, np.bool_)) or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}={value!r} is not an integer (or an array of integers); pass e.g. {name}=0.")


def _check_limit(name: str, value: Any) -> None:
    """A cost limit is None or a real number; NaN would silently apply no limit."""
    if value is None:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}={value!r} is not a number; pass a limit such as {name}=100.0 or None.")
    if math.isnan(value):
        raise ValueError(f"{name} is NaN, which would apply no limit; pass a number or None.")


class _View:
    """One sub-store plus the precomputed lookup plans that make a query a row read."""

    def __init__(self, sub: Substore):
        self.sub = sub
        self.split, self.hp = sub.split, sub.hp
        self.data = sub.data
        self.metrics: list[str] = list(sub.metrics)
        self.col = {m: k for k, m in enumerate(self.metrics)}
        self.seeds: list[int] = list(sub.seeds)
        self.seed_pos = {s: k for k, s in enumerate(self.seeds)}
        self.num_epochs: int = sub.num_epochs
        self.archs = sub.archs
        self.present = sub.present
        row_of = np.full(NUM_ARCHS, -1, dtype=np.int64)
        row_of[self.archs] = np.arange(len(self.archs))
        self.row_of_np = row_of
        self.row_of: list[int] = row_of.tolist()
        # Vectorized lookups gather from the flat memory map with precomputed strides:
        # one np.take instead of multi-dimensional fancy indexing.
        n_a, n_s, n_e, n_m = self.data.shape
        self.flat = self.data.reshape(-1)
        self.stride_arch, self.stride_seed, self.stride_epoch = n_s * n_e * n_m, n_e * n_m, n_m
        self.counts = self.present.sum(axis=1)
        self.pos_table = np.argsort(~self.present, axis=1, kind="stable")  # present seed positions first
        self.present_seeds: list[tuple[int, ...]] = [
            tuple(r[:c]) for r, c in zip(self.pos_table.tolist(), self.counts.tolist())
        ]
        self.all_present = bool(self.present.all())
        self.roles = role_sets(self.split, self.metrics)
        # (key, column or -1, kind): kind 0 = value, 1 = time / (iepoch+1), 2 = time
        plan: list[tuple[str, int, int]] = []
        for prefix, set_name in [("train", "train")] + [
            (r, self.roles[r]) for r in ("valid", "test", "valtest") if r in self.roles
        ]:
            allc = self.col.get(set_name + ALL_TIME_SUFFIX, -1)
            plan += [
                (f"{prefix}-loss", self.col.get(set_name + "-loss", -1), 0),
                (f"{prefix}-accuracy", self.col.get(set_name + "-accuracy", -1), 0),
                (f"{prefix}-per-time", allc, 1),
                (f"{prefix}-all-time", allc, 2),
            ]
        self.plan = plan
        self.aliases: dict[str, str] = {}
        for role, set_name in self.roles.items():
            for m in self.metrics:
                if m.startswith(set_name + "-"):
                    self.aliases[role + m[len(set_name) :]] = m
        self._costs: dict[str, list] | None = None

    # ---- validation helpers -------------------------------------------------------
    def row(self, index: int) -> int:
        if not 0 <= index < NUM_ARCHS:
            raise ValueError(f"invalid architecture index {index}: use an integer in [0, {NUM_ARCHS - 1}].")
        r = self.row_of[index]
        if r < 0:
            sample = ", ".join(str(i) for i in self.archs[:8].tolist())
            raise StoreKeyError(
                f"architecture {index} has no results in {self.split!r} hp={self.hp!r}; this sub-store holds "
                f"{len(self.archs)} architectures ({sample}{', ...' if len(self.archs) > 8 else ''}). "
                "Query one of those (b.evaluated_indexes) or train and aggregate this one."
            )
        return r

    def epoch(self, iepoch: int | None) -> int:
        if iepoch is None:
            return self.num_epochs - 1
        if (
            isinstance(iepoch, bool)
            or not isinstance(iepoch, (int, np.integer))
            or not 0 <= iepoch < self.num_epochs
        ):
            raise ValueError(
                f"invalid iepoch={iepoch!r} for {self.split!r} hp={self.hp!r}: use None (last) or an "
                f"integer in "
                f"[0, {self.num_epochs - 1}]."
            )
        return int(iepoch)

    def metric(self, name: str) -> str:
        if name in self.col:
            return name
        if name in self.aliases:
            return self.aliases[name]
        raise StoreKeyError(
            f"unknown metric {name!r} for {self.split!r} hp={self.hp!r}; choose from {self.metrics} "
            f"or the original-API names {sorted(self.aliases)}."
        )

    def seed_choices(self, row: int) -> list[int]:
        return [self.seeds[k] for k in self.present_seeds[row]]

    def costs(self) -> dict[str, list]:
        if self._costs is None:
            self._costs = {k: v.tolist() for k, v in self.sub.costs().items()}
        return self._costs


# ---- issue 15: per-architecture derived metrics (ranking score, zero-cost proxies) ---------
def _derived_metric(view: _View, metric: str, idx: np.ndarray) -> np.ndarray | None:
    """`metric` from the per-architecture file named by meta.json's `ranking_metric`
    (`ranking.parquet`, written by `nb201.ranking`: the ranking score and the proxies), one
    value per architecture whatever the epoch or seed. None for stored per-epoch metrics."""
    if metric in view.col or metric in view.aliases or metric == "arch_index":
        return None
    if "derived" not in view.__dict__:
        name = view.sub.meta.get("ranking_metric", {}).get("file")
        derived = None
        if name and (view.sub.path / name).exists():
            import pyarrow.parquet as pq

            table = pq.read_table(view.sub.path / name)
            derived = {c: table.column(c).to_numpy() for c in table.column_names}
            pos = np.full(NUM_ARCHS, -1, dtype=np.int64)
            pos[derived["arch_index"]] = np.arange(len(derived["arch_index"]))
            derived["arch_index"] = pos
        view.__dict__["derived"] = derived
    derived = view.__dict__["derived"]
    if derived is None or metric not in derived:
        return None
    rows = derived["arch_index"][idx]
    if len(rows) and rows.min() < 0:
        raise StoreKeyError(f"{metric!r} is missing for some of these architectures in {view.sub.path}.")
    return derived[metric][rows].astype(np.float64)


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


def _epochs_of(view: _View, epoch: Any, n: int, dataset: str) -> Any:
    """The epoch to read: the last (None), one int, or one per index (checked integers in range)."""
    if epoch is None:
        return view.num_epochs - 1
    _check_integers("epoch", epoch)
    ep = np.asarray(epoch).reshape(-1) if np.ndim(epoch) else int(epoch)
    if np.any(np.asarray(ep) < 0) or np.any(np.asarray(ep) >= view.num_epochs):
        raise ValueError(f"epoch must lie in [0, {view.num_epochs - 1}] for {dataset!r} hp={view.hp!r}.")
    if np.ndim(ep) and len(ep) not in (1, n):
        raise ValueError(f"epoch has {len(ep)} entries for {n} indices; give one or one per index.")
    return ep


def _benchmark_dirs() -> list[Path]:
    env = os.environ.get("NB201_BENCHMARKS", "")
    dirs = [Path(p) for p in env.split(os.pathsep) if p]
    from nb201.data.cache import data_dir

    return dirs + [data_dir() / "benchmarks"]


class Benchmark:
    """A benchmark folder opened for querying. Use `Benchmark.open(path_or_name)`."""

    def __init__(self, root: Path, substores: dict[tuple[str, str], Path], seed: int | None, verify: bool):
        self.root = root
        self._paths = substores
        self._views: dict[tuple[str, str], _View] = {}
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)
        self._verify = verify
        self._used_time = 0.0
        self._hps: dict[str, list[str]] = {}
        for split, hp in substores:
            self._hps.setdefault(split, []).append(hp)
        self._resolved: dict[tuple[str, Any, str], _View] = {}
        # Every sub-store's structure (and, with `verify`, every hash) is checked now, so a
        # damaged benchmark fails at open; the lookup plans are built on first use.
        self._subs: dict[tuple[str, str], Substore] = {
            key: open_substore(path, verify=verify) for key, path in substores.items()
        }

    # ---- opening ------------------------------------------------------------------
    @classmethod
    def open(cls, path_or_name: str | Path, *, seed: int | None = None, verify: bool = False) -> Benchmark:
        """Open a benchmark folder, or a name looked up in $NB201_BENCHMARKS, then in
        $NB201_DATA_DIR/benchmarks/ (default data/benchmarks/).

        Cheap: reads the small files and memory-maps the data, checking every sub-store's
        structure (sizes against its manifest, hashes of the small files, shapes, dtypes,
        archs, seeds, metric names); `verify=True` also checks every file's SHA-256
        (reads everything).
        """
        root = Path(path_or_name)
        if not root.exists() and os.sep not in str(path_or_name):
            for d in _benchmark_dirs():
                if (d / str(path_or_name)).is_dir():
                    root = d / str(path_or_name)
                    break
        if not root.exists():
            searched = [str(d) for d in _benchmark_dirs()]
            raise FileNotFoundError(
                f"no benchmark at {str(path_or_name)!r} (also looked in {searched}). "
                "Pass the folder written by "
                "`nb201 aggregate`/`nb201 import`, or set NB201_BENCHMARKS."
            )
        if root.is_file():
            raise StoreError(
                f"{root} is a file, but a benchmark is a folder of <split>__<hp>/ sub-stores. "
                "To use an official "
                "NAS-Bench-201/NATS-Bench file, convert it first: `nb201 import <file> <out-folder>`."
            )
        subs = {(split, hp): p for split, hp, p in iter_specs(root)}
        if not subs:
            raise StoreError(
                f"{root} holds no <split>__<hp>/ sub-stores, so it is not an nb201 benchmark. Build one with "
                "nb201.store.aggregate or `nb201 import`."
            )
        return cls(root, subs, seed, verify)

    def __repr__(self) -> str:
        subs = ", ".join(f"{s}/{h}" for s, h in sorted(self._paths))
        return f"Benchmark({str(self.root)!r}, [{subs}])"

    # ---- sub-store resolution ------------------------------------------------------
    @property
    def datasets(self) -> list[str]:
        """The splits this benchmark holds (the originals' `dataset` argument)."""
        return sorted(self._hps)

    def hps(self, dataset: str) -> list[str]:
        self._check_dataset(dataset)
        return sorted(self._hps[dataset], key=lambda h: (not h.isdigit(), int(h) if h.isdigit() else 0, h))

    @property
    def avaliable_hps(self) -> list[str]:  # the originals' spelling
        return sorted({h for hs in self._hps.values() for h in hs})

    def _check_dataset(self, dataset: str) -> None:
        if dataset not in self._hps:
            raise StoreKeyError(f"unknown dataset {dataset!r}; this benchmark has {self.datasets}.")

    def _view_exact(self, split: str, hp: str) -> _View:
        key = (split, hp)
        view = self._views.get(key)
        if view is None:
            view = _View(self._subs[key])
            self._views[key] = view
        return view

    def _view(self, dataset: str, hp: Any, default: str = _DEFAULT_HP) -> _View:
        key = (dataset, hp, default)
        view = self._resolved.get(key)
        if view is not None:
            return view
        self._check_dataset(dataset)
        hps = self._hps[dataset]
        if hp is None:
            if default in hps:
                hp_s = default
            elif len(hps) == 1:
                hp_s = hps[0]
            else:
                raise StoreKeyError(
                    f"dataset {dataset!r} has several hp settings {self.hps(dataset)}; pass hp=... ."
                )
        else:
            hp_s = str(hp)
            if hp_s not in hps:
                raise StoreKeyError(
                    f"unknown hp {hp!r} for dataset {dataset!r}; choose from {self.hps(dataset)}."
                )
        view = self._view_exact(dataset, hp_s)
        self._resolved[key] = view
        return view

    # ---- the search space -----------------------------------------------------------
    def __len__(self) -> int:
        return NUM_ARCHS

    def arch(self, index: int) -> str:
        """The arch string of official index `index`."""
        return str(Arch.from_index(index))

    def __getitem__(self, index: int) -> str:
        return self.arch(index)

    def query_index_by_arch(self, arch: Any) -> int:
        """Official index of an arch given as index, string, `Arch`, op tuple, or anything with `tostr()`."""
        if type(arch) is int:
            if 0 <= arch < NUM_ARCHS:
                return arch
            raise ValueError(f"invalid architecture index {arch}: use an integer in [0, {NUM_ARCHS - 1}].")
        if hasattr(arch, "tostr") and not isinstance(arch, Arch):
            arch = arch.tostr()
        return Arch.coerce(arch).index

    @property
    def evaluated_indexes(self) -> list[int]:
        """Official indices of the architectures with results in any sub-store."""
        out: set[int] = set()
        for split, hp in self._paths:
            out.update(self._view_exact(split, hp).archs.tolist())
        return sorted(out)

    def indexes(self, dataset: str, hp: Any = None) -> np.ndarray:
        """Official indices of the architectures one (split, hp) sub-store holds, sorted."""
        return self._view(dataset, hp).archs.copy()

    def seeds(self, dataset: str, hp: Any = None) -> list[int]:
        return list(self._view(dataset, hp).seeds)

    def num_epochs(self, dataset: str, hp: Any = None) -> int:
        return self._view(dataset, hp).num_epochs

    def metric_names(self, dataset: str, hp: Any = None) -> list[str]:
        return list(self._view(dataset, hp).metrics)

    def meta(self, dataset: str, hp: Any = None) -> dict:
        return dict(self._view(dataset, hp).sub.meta)

    def get_dataset_seeds(self, index: Any, dataset: str, hp: Any = None) -> list[int]:
        """Seeds with a run for this arch (the originals' `ArchResults.get_dataset_seeds`)."""
        view = self._view(dataset, hp)
        return view.seed_choices(view.row(self.query_index_by_arch(index)))

    # ---- the originals' queries ---------------------------------------------------
    def get_more_info(
        self,
        index: Any,
        dataset: str,
        iepoch: int | None = None,
        hp: Any = None,
        is_random: bool | int = True,
    ) -> dict[str, float | None]:
        """Metrics of one arch after epoch `iepoch` (None = last), keys as the originals'.

        `is_random=True` picks one of the arch's seeds at random, `False` averages them, an
        int selects that seed. See the module docstring for what `valid`/`test`/`valtest` are.
        """
        view = self._resolved.get((dataset, hp, _DEFAULT_HP)) or self._view(dataset, hp)
        if type(index) is not int:
            index = self.query_index_by_arch(index)
        row = view.row(index)
        e = view.epoch(iepoch)
        choices = view.present_seeds[row]
        if not choices:
            raise StoreKeyError(f"architecture {index} has no completed run in {dataset!r} hp={view.hp!r}.")
        if is_random is True:
            vec = view.data[
                row, choices[self._rng.randrange(len(choices))] if len(choices) > 1 else choices[0], e
            ].tolist()
        elif is_random is False:
            vec = view.data[row, list(choices), e].mean(axis=0, dtype=np.float64).tolist()
        elif isinstance(is_random, (int, np.integer)):
            pos = view.seed_pos.get(int(is_random), -1)
            if pos not in choices:
                raise ValueError(
                    f"seed {is_random} has no run for architecture {index} on {dataset!r} hp={view.hp!r}; "
                    f"its seeds are {view.seed_choices(row)}."
                )
            vec = view.data[row, pos, e].tolist()
        else:
            raise ValueError(
                f"invalid is_random={is_random!r}: use True (random seed), False (average) or a seed int."
            )
        total = e + 1
        out: dict[str, float | None] = {}
        for key, col, kind in view.plan:
            v = vec[col] if col >= 0 else _NAN
            if kind:
                if v != v:
                    v = None
                elif kind == 1:
                    v = v / total
            out[key] = v
        return out

    def get_cost_info(self, index: Any, dataset: str, hp: Any = None) -> dict[str, float | None]:
        """`flops` (M), `params` (M), `latency` (s) and the time summaries `T-<set>@epoch|total`."""
        view = self._view(dataset, hp)
        index = self.query_index_by_arch(index)
        row = view.row(index)
        costs = view.costs()
        out: dict[str, float | None] = {}
        for name, vals in costs.items():
            if name == "arch_index":
                continue
            v = vals[row]
            out[name] = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        choices = list(view.present_seeds[row])
        for m in view.metrics:
            if m.endswith(TIME_SUFFIX) and not m.endswith(ALL_TIME_SUFFIX):
                set_name = m[: -len(TIME_SUFFIX)]
                if not choices:
                    out[f"T-{set_name}@epoch"] = out[f"T-{set_name}@total"] = None
                    continue
                t = view.data[row, choices, :, view.col[m]].astype(np.float64)  # [S, E]
                per, tot = float(t.mean(axis=1).mean()), float(t.sum(axis=1).mean())
                out[f"T-{set_name}@epoch"] = None if math.isnan(per) else per
                out[f"T-{set_name}@total"] = None if math.isnan(tot) else tot
        return out

    def get_latency(self, index: Any, dataset: str, hp: Any = None) -> float | None:
        return self.get_cost_info(index, dataset, hp)["latency"]

    def find_best(
        self,
        dataset: str,
        metric_on_set: str,
        FLOP_max: float | None = None,
        Param_max: float | None = None,
        hp: Any = None,
    ) -> tuple[int, float | None]:
        """Highest seed-averaged last-epoch accuracy under the cost limits, as the originals.

        Returns `(index, accuracy)`, or `(-1, None)` when no architecture qualifies.
        """
        if dataset == "cifar10" and metric_on_set == "valid" and "cifar10-valid" in self._hps:
            dataset, set_name = "cifar10-valid", "x-valid"
        else:
            view0 = self._view(dataset, hp)
            if metric_on_set in view0.roles:
                set_name = view0.roles[metric_on_set]
            elif metric_on_set + "-accuracy" in view0.col:
                set_name = metric_on_set
            else:
                sets = {m[: -len("-accuracy")] for m in view0.metrics if m.endswith("-accuracy")}
                raise StoreKeyError(
                    f"unknown metric_on_set {metric_on_set!r} for {dataset!r}; "
                    f"choose from {sorted(set(view0.roles) | sets)}."
                )
        view = self._view(dataset, hp)
        for name, limit in (("FLOP_max", FLOP_max), ("Param_max", Param_max)):
            _check_limit(name, limit)
        acc = self._seed_mean(
            view, np.arange(len(view.archs)), view.col[set_name + "-accuracy"], view.num_epochs - 1
        )
        ok = ~np.isnan(acc)
        if FLOP_max is not None or Param_max is not None:
            costs = view.sub.costs()
            if FLOP_max is not None:
                ok &= ~(costs["flops"] > FLOP_max)
            if Param_max is not None:
                ok &= ~(costs["params"] > Param_max)
        if not ok.any():
            return -1, None
        masked = np.where(ok, acc, -np.inf)
        best = int(np.argmax(masked))
        return int(view.archs[best]), float(acc[best])

    # ---- simulated search -----------------------------------------------------------
    @property
    def used_time(self) -> float:
        return self._used_time

    def reset_time(self) -> None:
        self._used_time = 0.0

    def simulate_train_eval(
        self, arch: Any, dataset: str, iepoch: int | None = None, hp: Any = None, account_time: bool = True
    ) -> tuple[float, float | None, float, float]:
        """(valid accuracy, latency, time cost, total simulated time), as `nats_bench`.

        Training `arch` on `dataset` for `iepoch+1` epochs and evaluating it once costs
        `train-all-time + valid-per-time` simulated seconds, added to `used_time`.
        """
        index = self.query_index_by_arch(arch)
        if dataset.endswith("-valid"):
            raise ValueError(
                f"simulate_train_eval takes the dataset, not the split: pass {dataset[: -len('-valid')]!r} "
                f"(it reads {dataset!r} itself, as the originals do)."
            )
        split = dataset + "-valid" if dataset + "-valid" in self._hps else dataset
        self._check_dataset(split)
        info = self.get_more_info(index, split, iepoch=iepoch, hp=self._hp_for(split, hp), is_random=True)
        if "valid-accuracy" in info:
            valid_acc, per = info["valid-accuracy"], info["valid-per-time"]
        elif "valtest-accuracy" in info:
            valid_acc = info["valtest-accuracy"]
            per = info.get("valtest-per-time")
        else:
            raise StoreKeyError(
                f"{split!r} has no validation metrics to simulate a search with; use another dataset."
            )
        if info["train-all-time"] is None or per is None:
            raise ValueError(
                f"{split!r} hp={self._hp_for(split, hp)!r} recorded no train/eval times, "
                "so a simulated time cost "
                "cannot be computed; use a benchmark with timed runs."
            )
        time_cost = info["train-all-time"] + per
        cost_split = dataset if dataset in self._hps else split
        # Latency belongs to the network, not the schedule: read it from the hp asked for
        # when the cost split has it, else from that split's default (e.g. cifar10 holds
        # only hp 200 while the search reads cifar10-valid at hp 12).
        cost_hp = hp if hp is not None and str(hp) in self.hps(cost_split) else None
        latency = self.get_latency(index, cost_split, hp=self._hp_for(cost_split, cost_hp))
        if account_time:
            self._used_time += time_cost
        return valid_acc, latency, time_cost, self._used_time

    def _hp_for(self, split: str, hp: Any) -> str:
        return self._view(split, hp, _SIMULATE_HP).hp

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
        shape = idx.shape
        idx = idx.reshape(-1)
        rows = _rows_of(view, idx)
        derived = _derived_metric(view, metric, idx)  # ranking-score, proxies (nb201.ranking)
        if derived is not None:
            return derived.reshape(shape)
        per_time = False
        if metric.endswith("-per-time"):
            per_time, metric = True, metric[: -len("-per-time")] + ALL_TIME_SUFFIX
        col = view.col[view.metric(metric)]
        ep = _epochs_of(view, epoch, len(rows), dataset)
        if seeds is None:
            out = self._seed_mean(view, rows, col, ep)
        else:
            spos = self._seed_positions(view, seeds, rows, dataset)
            flat = rows * view.stride_arch + spos * view.stride_seed + ep * view.stride_epoch + col
            out = view.flat.take(flat).astype(np.float64)
        if per_time:
            out = out / (np.asarray(ep) + 1)
        return out.reshape(shape)

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

    @staticmethod
    def _seed_mean(view: _View, rows: np.ndarray, col: int, ep: Any) -> np.ndarray:
        """Mean over each arch's present seeds (the originals' is_random=False)."""
        base = rows * view.stride_arch + np.asarray(ep) * view.stride_epoch + col
        flat = base[:, None] + (np.arange(len(view.seeds)) * view.stride_seed)[None, :]
        vals = view.flat.take(flat)
        if view.all_present:
            return vals.mean(axis=1, dtype=np.float64)
        mask = view.present[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(mask, vals, 0.0).sum(axis=1, dtype=np.float64) / view.counts[rows]

    def statistics(self, dataset: str, hp: Any = None) -> dict[int, int]:
        """{number of seeds: number of archs}, as the originals' `statistics`."""
        view = self._view(dataset, hp)
        counts = view.present.sum(axis=1)
        out = {int(k): int(v) for k, v in zip(*np.unique(counts, return_counts=True))}
        missing = NUM_ARCHS - len(view.archs)
        if missing:
            out[0] = out.get(0, 0) + missing
        return dict(sorted(out.items()))

    def proxies(
        self,
        index: Any,
        size: str = "C8-N1-16px",
        names: Sequence[str] | None = None,
        dataset: str = "cifar10",
    ) -> dict[str, float] | Any:
        """Zero-cost proxies (`nb201.proxies`) of ANY architecture, from the whole-space table
        of `dataset` at network `size` (`<root>/proxies/`, `$NB201_DATA_DIR/proxies/`, the
        repo's `data/proxies/`): the arch's own row, else its functional class's
        representative's (params/FLOPs exact), NaN for degenerate cells
        (`nb201.proxy_tables.lookup`). An int gives `{name: value}`, a sequence a DataFrame.
        """
        from nb201.proxy_tables import lookup, table_dirs

        frame = lookup(np.atleast_1d(index), size, names, dataset, [self.root / "proxies", *table_dirs()])
        return {k: v[0] for k, v in frame.to_dict("list").items()} if np.ndim(index) == 0 else frame
