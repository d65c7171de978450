"""`Benchmark`'s first job: choosing the sub-store a question is about.

A benchmark folder holds one sub-store per (split, hp). Every query names a split (the
originals' `dataset`) and maybe an hp; this part resolves them (`hp=None` through the
one default-schedule rule, `nb201.benchmark.protocol.default_hp`) to a `_View`: the sub-store's
memory-mapped data plus the lookup plans that make a query a row read. It also answers the
questions about a sub-store's shape (its archs, seeds, epochs, metrics, eval sets) and
hands whole columns to the search and analysis code (`seed_table`, `cost_table`), so that
they never open a sub-store by path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nb201.benchmark.estimated import check_epoch, lacks, mark_array
from nb201.benchmark.protocol import default_hp
from nb201.benchmark.store.format import StoreKeyError, Substore
from nb201.names import TRAIN, Metric, original_roles, parse_metric, running_sum, sets_of
from nb201.space import NUM_ARCHS, Arch


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
        self.roles = original_roles(self.split, sets_of(self.metrics, "accuracy"))
        # (key, column or -1, kind): kind 0 = value, 1 = time / (iepoch+1), 2 = time
        plan: list[tuple[str, int, int]] = []
        for prefix, set_name in [("train", "train")] + [
            (r, self.roles[r]) for r in ("valid", "test", "valtest") if r in self.roles
        ]:
            allc = self.col.get(Metric(set_name, "all-time").name, -1)
            plan += [
                (f"{prefix}-loss", self.col.get(Metric(set_name, "loss").name, -1), 0),
                (f"{prefix}-accuracy", self.col.get(Metric(set_name, "accuracy").name, -1), 0),
                (f"{prefix}-per-time", allc, 1),
                (f"{prefix}-all-time", allc, 2),
            ]
        self.plan = plan
        self.aliases: dict[str, str] = {}
        for m in self.metrics:
            metric = parse_metric(m)
            for role, set_name in self.roles.items():
                if metric.set == set_name:
                    self.aliases[Metric(role, metric.quantity).name] = m
        self._costs: dict[str, list] | None = None
        # an ESTIMATED sub-store (nb201.fidelity.whole_space): every query path marks it
        self.estimate: dict | None = sub.meta.get("estimate")
        self.where = f"{self.split!r} hp={self.hp!r}"

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
        if self.estimate is not None:
            return check_epoch(self.estimate, iepoch, self.where)
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
        if self.estimate is not None:
            raise lacks(self.estimate, f"metric {name!r}", self.where)
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


def seed_mean(view: _View, rows: np.ndarray, col: int, ep: Any) -> np.ndarray:
    """Mean over each arch's present seeds (the originals' is_random=False)."""
    base = rows * view.stride_arch + np.asarray(ep) * view.stride_epoch + col
    flat = base[:, None] + (np.arange(len(view.seeds)) * view.stride_seed)[None, :]
    vals = view.flat.take(flat)
    if view.all_present:
        return vals.mean(axis=1, dtype=np.float64)
    mask = view.present[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mask, vals, 0.0).sum(axis=1, dtype=np.float64) / view.counts[rows]


class SubstoreViews:
    """Sub-store resolution and the shape of each sub-store (mixed into `Benchmark`)."""

    _hps: dict[str, list[str]]
    _paths: dict[tuple[str, str], Any]
    _subs: dict[tuple[str, str], Substore]
    _views: dict[tuple[str, str], _View]
    _resolved: dict[tuple[str, Any, str], _View]

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

    def _view(self, dataset: str, hp: Any, purpose: str = "query") -> _View:
        key = (dataset, hp, purpose)
        view = self._resolved.get(key)
        if view is not None:
            return view
        self._check_dataset(dataset)
        hps = self._hps[dataset]
        if hp is None:
            hp_s = default_hp(hps, purpose, lambda h: self._view_exact(dataset, h).num_epochs)
            if hp_s is None:
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

    # ---- rules and whole columns, for the search and the analyses ---------------------
    def default_hp(self, dataset: str, purpose: str = "query") -> str:
        """The hp that `hp=None` means on `dataset` for `purpose` (`nb201.benchmark.protocol.HP_PURPOSES`):
        "query" as the originals' queries ("200", else the only hp), "search" as the
        originals' `simulate_train_eval` and the paper's search ("12", else the only hp),
        "report" as the analyses and comparison tables ("200", else the longest schedule).
        KeyError when the split has several hps and none is the default."""
        return self._view(dataset, None, purpose).hp

    def eval_sets(self, dataset: str, hp: Any = None) -> list[str]:
        """The sets a split is evaluated on (those with an accuracy, train excluded), in the
        order x-valid, x-test, ori-test, then any custom set by name."""
        return [s for s in sets_of(self._view(dataset, hp).metrics, "accuracy") if s != TRAIN]

    def seed_table(self, metric: str, dataset: str, hp: Any = None, epoch: int | None = None) -> np.ndarray:
        """`metric` after `epoch` (None = last) for every (arch, seed) of one sub-store:
        float64 `[len(indexes(dataset, hp)), len(seeds(dataset, hp))]`, rows in `indexes`
        order, NaN where a seed has no run. One strided read of the memory map: what a
        search oracle or a seed-variance analysis needs without a query per arch.

        `metric` is a stored name or an original-API key (`valid-accuracy`, ...;
        `*-per-time` = all-time / (epoch+1)).
        """
        view = self._view(dataset, hp)
        e = view.epoch(epoch)
        per_time = parse_metric(metric).quantity == "per-time"
        if per_time:
            metric = running_sum(metric)
        out = view.data[:, :, e, view.col[view.metric(metric)]].astype(np.float64)
        if not view.all_present:
            out[~view.present] = np.nan
        out = out / (e + 1) if per_time else out
        return out if view.estimate is None else mark_array(out, view.estimate)

    def estimate_info(self, dataset: str, hp: Any = None) -> dict | None:
        """What a sub-store's numbers are when they are ESTIMATED (the whole-space benchmark,
        `nb201.fidelity.whole_space`): the `estimate` block of its meta.json (model,
        features, labels' source and count, cross-validated agreement with intervals, the
        reward, time and degenerate rules, what it lacks); None for measured data. Reports
        call it to label such numbers "estimated"."""
        view = self._view(dataset, hp)
        return None if view.estimate is None else dict(view.estimate)

    def cost_table(self, dataset: str, hp: Any = None) -> dict[str, np.ndarray]:
        """The per-architecture costs of one sub-store as arrays: `arch_index` plus `flops`
        (M), `params` (M), `latency` (s) and whatever else the benchmark recorded (copies)."""
        return {k: np.array(v, copy=True) for k, v in self._view(dataset, hp).sub.costs().items()}
