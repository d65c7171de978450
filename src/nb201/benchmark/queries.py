"""`Benchmark`'s second job: the original APIs' dict-shaped queries, one architecture at a time.

`get_more_info`, `get_cost_info`, `get_latency`, `find_best`, `get_dataset_seeds`,
`statistics` and `simulate_train_eval` with the names, arguments and returned keys of
`nas_201_api.NASBench201API` / `nats_bench`'s topology API (see `nb201.benchmark.api` for the split
semantics). `simulate_train_eval` charges `nb201.benchmark.protocol.query_cost` to a
`nb201.benchmark.protocol.SimulatedClock`, the same rule and clock `nb201.search.SearchEnv` uses.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from nb201.benchmark.estimated import EstimatedFloat, EstimatedInfo
from nb201.benchmark.protocol import SimulatedClock, query_cost
from nb201.benchmark.store.derived import columns_of
from nb201.benchmark.store.format import StoreKeyError
from nb201.benchmark.view import _View, seed_mean
from nb201.names import Metric, is_valid_split, parse_metric, sets_of, split_base, valid_split
from nb201.space import NUM_ARCHS

_NAN = float("nan")


def _check_limit(name: str, value: Any) -> None:
    """A cost limit is None or a real number; NaN would silently apply no limit."""
    if value is None:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}={value!r} is not a number; pass a limit such as {name}=100.0 or None.")
    if math.isnan(value):
        raise ValueError(f"{name} is NaN, which would apply no limit; pass a number or None.")


def _estimated_info(view: _View, index: int, vec: list[float]) -> EstimatedInfo:
    """`get_more_info` on an estimate: only the keys it has (accuracy, modelled times),
    `"estimated": True` and the arch's `estimate-std`; a missing key says why it is missing."""
    out: dict[str, Any] = {}
    for key, col, kind in view.plan:
        if col >= 0:
            v = vec[col]
            out[key] = (None if v != v else v) if kind else v
    out["estimated"] = True
    sd = columns_of(view.sub).column("estimate-std", np.array([index]))
    out["estimate-std"] = None if sd is None else float(sd[0])
    return EstimatedInfo(out, view.estimate or {}, view.where)


class OriginalQueries:
    """The originals' queries and their simulated clock (mixed into `Benchmark`)."""

    _hps: dict[str, list[str]]
    _rng: random.Random
    _resolved: dict[tuple[str, Any, str], _View]
    clock: SimulatedClock

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
        view = self._resolved.get((dataset, hp, "query")) or self._view(dataset, hp)
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
        if view.estimate is not None:
            return _estimated_info(view, index, vec)
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
        """`flops` (M), `params` (M), `latency` (s) and the time summaries `T-<set>@epoch|total`
        (on an estimate: `"estimated": True`; latency and times are modelled there)."""
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
            set_name, quantity = parse_metric(m)
            if quantity == "time":
                if not choices:
                    out[f"T-{set_name}@epoch"] = out[f"T-{set_name}@total"] = None
                    continue
                t = view.data[row, choices, :, view.col[m]].astype(np.float64)  # [S, E]
                per, tot = float(t.mean(axis=1).mean()), float(t.sum(axis=1).mean())
                out[f"T-{set_name}@epoch"] = None if math.isnan(per) else per
                out[f"T-{set_name}@total"] = None if math.isnan(tot) else tot
        if view.estimate is not None:
            return EstimatedInfo({**out, "estimated": True}, view.estimate, view.where)
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
        if dataset == "cifar10" and metric_on_set == "valid" and valid_split(dataset) in self._hps:
            dataset, set_name = valid_split(dataset), "x-valid"  # the originals' remap_dataset_set_names
        else:
            view0 = self._view(dataset, hp)
            if metric_on_set in view0.roles:
                set_name = view0.roles[metric_on_set]
            elif Metric(metric_on_set, "accuracy").name in view0.col:
                set_name = metric_on_set
            else:
                sets = set(sets_of(view0.metrics, "accuracy"))
                raise StoreKeyError(
                    f"unknown metric_on_set {metric_on_set!r} for {dataset!r}; "
                    f"choose from {sorted(set(view0.roles) | sets)}."
                )
        view = self._view(dataset, hp)
        for name, limit in (("FLOP_max", FLOP_max), ("Param_max", Param_max)):
            _check_limit(name, limit)
        acc = seed_mean(
            view, np.arange(len(view.archs)), view.col[Metric(set_name, "accuracy").name], view.num_epochs - 1
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
        value = float(acc[best])
        return int(view.archs[best]), value if view.estimate is None else EstimatedFloat(value)

    # ---- simulated search -----------------------------------------------------------
    @property
    def used_time(self) -> float:
        """Simulated seconds `simulate_train_eval` has charged since open or `reset_time`."""
        return self.clock.used

    def reset_time(self) -> None:
        self.clock.reset()

    def simulate_train_eval(
        self, arch: Any, dataset: str, iepoch: int | None = None, hp: Any = None, account_time: bool = True
    ) -> tuple[float, float | None, float, float]:
        """(valid accuracy, latency, time cost, total simulated time), as `nats_bench`.

        Training `arch` on `dataset` for `iepoch+1` epochs and evaluating it once costs
        `nb201.benchmark.protocol.query_cost` (`train-all-time + valid-per-time`) simulated seconds,
        charged to `clock` (read back as `used_time`).
        """
        index = self.query_index_by_arch(arch)
        if is_valid_split(dataset):
            raise ValueError(
                f"simulate_train_eval takes the dataset, not the split: pass {split_base(dataset)!r} "
                f"(it reads {dataset!r} itself, as the originals do)."
            )
        split = valid_split(dataset) if valid_split(dataset) in self._hps else dataset
        self._check_dataset(split)
        hp_s = self._hp_for(split, hp)
        info = self.get_more_info(index, split, iepoch=iepoch, hp=hp_s, is_random=True)
        role = "valid" if "valid-accuracy" in info else "valtest" if "valtest-accuracy" in info else None
        if role is None:
            raise StoreKeyError(
                f"{split!r} has no validation metrics to simulate a search with; use another dataset."
            )
        valid_acc, eval_time = info[f"{role}-accuracy"], info.get(f"{role}-all-time")
        if info["train-all-time"] is None or eval_time is None:
            raise ValueError(
                f"{split!r} hp={hp_s!r} recorded no train/eval times, so a simulated time cost "
                "cannot be computed; use a benchmark with timed runs."
            )
        time_cost = query_cost(info["train-all-time"], eval_time, self._view(split, hp_s).epoch(iepoch))
        cost_split = dataset if dataset in self._hps else split
        # Latency belongs to the network, not the schedule: read it from the hp asked for
        # when the cost split has it, else from that split's default (e.g. cifar10 holds
        # only hp 200 while the search reads cifar10-valid at hp 12).
        cost_hp = hp if hp is not None and str(hp) in self.hps(cost_split) else None
        latency = self.get_latency(index, cost_split, hp=self._hp_for(cost_split, cost_hp))
        if account_time:
            self.clock.charge(time_cost)
        if info.get("estimated"):
            valid_acc = EstimatedFloat(valid_acc)
        return valid_acc, latency, time_cost, self.clock.used

    def _hp_for(self, split: str, hp: Any) -> str:
        return self._view(split, hp, "search").hp

    def statistics(self, dataset: str, hp: Any = None) -> dict[int, int]:
        """{number of seeds: number of archs}, as the originals' `statistics`."""
        view = self._view(dataset, hp)
        counts = view.present.sum(axis=1)
        out = {int(k): int(v) for k, v in zip(*np.unique(counts, return_counts=True))}
        missing = NUM_ARCHS - len(view.archs)
        if missing:
            out[0] = out.get(0, 0) + missing
        return dict(sorted(out.items()))
