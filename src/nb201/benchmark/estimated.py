"""How a query says that its answer is estimated, and what an estimate cannot answer.

A sub-store whose meta.json carries an `estimate` block (the whole-space benchmark of
`nb201.fidelity.whole_space`) holds modelled numbers, not measured ones. Every query path
of `nb201.benchmark.api.Benchmark` marks them:

* `get_more_info` / `get_cost_info` return an `EstimatedInfo` dict with `"estimated": True`
  (and `estimate-std`, the per-arch uncertainty); a key the estimate lacks (`train-loss`,
  `valid-loss`, ...) raises `EstimateLacks` saying why instead of a bare KeyError;
* `metrics` and `seed_table` return an `EstimatedArray` (an ndarray with
  `.estimated = True` and `.estimate_info`);
* `find_best` and `simulate_train_eval` return the accuracy as an `EstimatedFloat` (a
  float with `.estimated = True`);
* `Benchmark.estimate_info(dataset, hp)` returns the block (None for measured data), which
  reports print.

A query for what the estimate does not have (a per-epoch curve, a loss, train accuracy)
raises `EstimateLacks`, a `StoreKeyError`, naming what is missing and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nb201.benchmark.store.format import StoreKeyError


class EstimateLacks(StoreKeyError):
    """The estimate has no such quantity (per-epoch curves, losses, ...)."""


class EstimatedFloat(float):
    """A float that is an estimate: `x.estimated` is True; arithmetic gives plain floats."""

    estimated = True

    def __repr__(self) -> str:
        return f"{float(self)!r} (estimated)"


class EstimatedArray(np.ndarray):
    """An ndarray of estimated values: `.estimated` is True, `.estimate_info` the block."""

    estimated = True
    estimate_info: dict[str, Any] | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self.estimate_info = getattr(obj, "estimate_info", None)


def mark_array(values: np.ndarray, info: Mapping[str, Any]) -> EstimatedArray:
    out = np.asarray(values).view(EstimatedArray)
    out.estimate_info = dict(info)
    return out


def lacks(info: Mapping[str, Any], what: str, where: str) -> EstimateLacks:
    """The error for a quantity `what` the estimate of `where` does not have."""
    return EstimateLacks(
        f"{what} is not available in {where}: it is an ESTIMATE ({info.get('what', 'modelled accuracies')}), "
        f"which has no {'; no '.join(info.get('lacks', []))}. Query the estimated accuracy "
        "(iepoch=None), estimate-std, params/flops/latency or the modelled times, or use a measured "
        "benchmark for training dynamics."
    )


class EstimatedInfo(dict):
    """`get_more_info`'s dict for an estimate: a missing key says why it is missing."""

    def __init__(self, values: Mapping[str, Any], info: Mapping[str, Any], where: str):
        super().__init__(values)
        self._info, self._where = dict(info), where

    def __missing__(self, key: str) -> Any:
        raise lacks(self._info, repr(key), self._where)


def check_epoch(info: Mapping[str, Any], iepoch: Any, where: str) -> int:
    """The stored epoch (0) for `iepoch` None, 0 (the one stored epoch) or the schedule's
    last (199); `EstimateLacks` for any other: curves are not estimated."""
    last = int(info.get("epochs", 200)) - 1
    if iepoch is None or (
        not isinstance(iepoch, bool) and isinstance(iepoch, (int, np.integer)) and iepoch in (0, last)
    ):
        return 0
    raise lacks(
        info,
        f"epoch {iepoch!r} (the estimate stores one epoch: the end of the {last + 1}-epoch schedule, "
        f"read with iepoch=None, 0 or {last})",
        where,
    )
