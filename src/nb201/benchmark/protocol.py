"""The simulated-search protocol's rules, each written once: the clock, the cost of a query,
and which schedule (hp) a question means when it names none.

`nb201.benchmark.api.Benchmark.simulate_train_eval` (the originals' one-query-at-a-time API) and
`nb201.search.SearchEnv` (the vectorised oracle 500-run experiments use) both charge their
queries to a `SimulatedClock` with the cost `query_cost`, and every part of the package
that picks a default schedule (the query API, the search, the analyses, the comparison
tables) asks `default_hp`. Changing a rule here changes it everywhere; nothing else in the
package may restate one of them.

Nothing here imports the rest of the package, so every floor may use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

# The paper's schedules: "200" is the full training whose results are reported and the
# originals' default for queries; "12" is the short schedule the paper searches on and the
# originals' default for `simulate_train_eval`.
FULL_HP = "200"
SEARCH_HP = "12"

# purpose -> (preferred hp, fallback when absent and the split has several):
# "query": the originals' `get_more_info`/`find_best`/... default; no guess among several.
# "search": the originals' `simulate_train_eval` default and the paper's search; no guess.
# "report": what the analyses and comparison tables score with: the longest schedule.
HP_PURPOSES: dict[str, tuple[str, str | None]] = {
    "query": (FULL_HP, None),
    "search": (SEARCH_HP, None),
    "report": (FULL_HP, "longest"),
}


def default_hp(
    hps: Sequence[str], purpose: str = "query", epochs: Callable[[str], int] | None = None
) -> str | None:
    """The hp that `hp=None` means among a split's `hps`, for one `purpose` of `HP_PURPOSES`.

    The purpose's preferred schedule when the split holds it, else the split's only one;
    with several and none preferred, the one with the most epochs (`epochs(hp)`) for
    "report", else None: the caller must ask for an explicit hp rather than guess.
    """
    if purpose not in HP_PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; choose from {sorted(HP_PURPOSES)}.")
    preferred, fallback = HP_PURPOSES[purpose]
    if preferred in hps:
        return preferred
    if len(hps) == 1:
        return hps[0]
    if fallback == "longest" and epochs is not None and hps:
        return max(hps, key=epochs)
    return None


def query_cost(train_all_time: Any, eval_all_time: Any, epoch: Any) -> Any:
    """Simulated seconds one query costs: train for epochs 0..`epoch`, then evaluate once.

    `train_all_time` and `eval_all_time` are the times summed over epochs 0..`epoch` (the
    stored `*-all-time`); one evaluation is their mean per epoch. This is `nats_bench`'s
    `simulate_train_eval` (`train-all-time + valid-per-time`, with `valid-per-time =
    valid-all-time / (iepoch+1)`), written so that scalars and numpy arrays both work.
    """
    return train_all_time + eval_all_time / (epoch + 1)


class SimulatedClock:
    """Simulated seconds spent by queries, against an optional budget.

    `charge(seconds)` adds a query's cost when the budget can pay for it and returns True;
    otherwise it adds nothing and returns False (the query is not run). The budget is
    therefore never exceeded. Without a budget (`math.inf`) every charge is paid, as the
    originals' `simulate_train_eval` clock.
    """

    __slots__ = ("budget", "used")

    def __init__(self, budget: float = math.inf):
        self.budget = float(budget)
        self.used = 0.0

    def charge(self, seconds: float) -> bool:
        used = self.used + seconds
        if used > self.budget:
            return False
        self.used = used
        return True

    @property
    def remaining(self) -> float:
        return self.budget - self.used

    def reset(self) -> None:
        self.used = 0.0

    def __repr__(self) -> str:
        return f"SimulatedClock(used={self.used:g}, budget={self.budget:g})"
