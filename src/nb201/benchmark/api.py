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

`Benchmark` is composed of three parts, one job each: `nb201.benchmark.view.SubstoreViews`
(choosing the sub-store a question is about, and whole columns for the search and the
analyses), `nb201.benchmark.queries.OriginalQueries` (the originals' dict queries and the
simulated clock of `simulate_train_eval`) and `nb201.benchmark.metrics.VectorMetrics` (the
vectorised `metrics`). The rules they share (the default schedule, the cost of a query,
the clock) live in `nb201.benchmark.protocol`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nb201.benchmark.metrics import VectorMetrics
from nb201.benchmark.protocol import SimulatedClock
from nb201.benchmark.queries import OriginalQueries
from nb201.benchmark.store.format import StoreError, Substore, iter_specs, open_substore
from nb201.benchmark.view import SubstoreViews, _View

__all__ = ["Benchmark"]


def _benchmark_dirs() -> list[Path]:
    env = os.environ.get("NB201_BENCHMARKS", "")
    dirs = [Path(p) for p in env.split(os.pathsep) if p]
    from nb201.data.cache import data_dir

    return dirs + [data_dir() / "benchmarks"]


class Benchmark(SubstoreViews, OriginalQueries, VectorMetrics):
    """A benchmark folder opened for querying. Use `Benchmark.open(path_or_name)`.

    `clock` is the simulated clock `simulate_train_eval` charges (`used_time`, `reset_time`).
    """

    def __init__(self, root: Path, substores: dict[tuple[str, str], Path], seed: int | None, verify: bool):
        self.root = root
        self._paths = substores
        self._views: dict[tuple[str, str], _View] = {}
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)
        self._verify = verify
        self.clock = SimulatedClock()
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
                "nb201.benchmark.store.aggregate or `nb201 import`."
            )
        return cls(root, subs, seed, verify)

    def __repr__(self) -> str:
        subs = ", ".join(f"{s}/{h}" for s, h in sorted(self._paths))
        return f"Benchmark({str(self.root)!r}, [{subs}])"

    # ---- zero-cost proxies of the whole space -------------------------------------
    def proxies(
        self,
        index: Any,
        size: str = "C8-N1-16px",
        names: Sequence[str] | None = None,
        dataset: str = "cifar10",
    ) -> dict[str, float] | Any:
        """Zero-cost proxies (`nb201.fidelity.proxies`) of ANY architecture, from the whole-space table
        of `dataset` at network `size` (`<root>/proxies/`, `$NB201_DATA_DIR/proxies/`, the
        repo's `data/proxies/`): the arch's own row, else its functional class's
        representative's (params/FLOPs exact), NaN for degenerate cells
        (`nb201.fidelity.tables.lookup`). An int gives `{name: value}`, a sequence a DataFrame.
        """
        from nb201.fidelity.tables import lookup, table_dirs

        frame = lookup(np.atleast_1d(index), size, names, dataset, [self.root / "proxies", *table_dirs()])
        return {k: v[0] for k, v in frame.to_dict("list").items()} if np.ndim(index) == 0 else frame
