"""Metric and split names: the one place their grammar is read.

A benchmark speaks in names, and every stop used to parse them again by hand: the search
oracle read `x-valid-loss` as the set `x-valid`, the experiment as the set
`x-valid-loss`; four modules knew the `-valid` split rule. Here each rule is written once,
torch-free and importing nothing of nb201, so the store, the API, the search, the
analyses and the data module all ask the same functions.

**Metrics.** A per-epoch metric is `<set>-<quantity>`: `x-valid-accuracy` is the accuracy
on the set `x-valid`, `ori-test-all-time` the running sum of `ori-test-time`. A set is
`train`, `x-valid`, `x-test`, `ori-test` or a custom name (hyphens allowed); a quantity is
one of `QUANTITIES`. The one fallback, for a name that does not end in a known quantity:
its last hyphen-separated word is the quantity (`x-valid-top1` -> `x-valid`, `top1`), and a
name without a hyphen is a quantity of no set (`lr`). Per-architecture metrics have no set
and no epoch: `ranking-score` and the proxies `proxy:<label>:<name>`.

**Splits.** A split is named after its dataset: `<dataset>` trains on the whole training
pool, `<dataset>-valid` on one half of it, keeping the other half as `x-valid`.
`eval_pools` says which sets a split evaluates on and which pool each comes from;
`original_roles` maps them to the original APIs' generic `valid`/`test`/`valtest` keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

# Known quantities, compound ones first so `x-valid-all-time` reads as (x-valid, all-time).
QUANTITIES = ("all-time", "per-time", "accuracy", "loss", "top5", "time", "lr")
UNITS = {
    "loss": "mean cross entropy",
    "accuracy": "percent",
    "top5": "percent",
    "time": "seconds",
    "all-time": "seconds",
    "per-time": "seconds",
    "lr": "1",
}
TRAIN, VALID, TEST, WHOLE_TEST = "train", "x-valid", "x-test", "ori-test"
STANDARD_SETS = (TRAIN, VALID, TEST, WHOLE_TEST)  # the order sets are listed in; custom sets follow by name
VALID_SUFFIX = "-valid"
RANKING_SCORE = "ranking-score"
PROXY_PREFIX = "proxy:"


class Metric(NamedTuple):
    """A metric name read as (set, quantity); `set` is "" for set-less names (`lr`)."""

    set: str
    quantity: str

    @property
    def name(self) -> str:
        return f"{self.set}-{self.quantity}" if self.set else self.quantity


def parse_metric(name: str) -> Metric:
    """(set, quantity) of a metric name, by the grammar and the one fallback above."""
    for quantity in QUANTITIES:
        if name == quantity:
            return Metric("", quantity)
        if name.endswith("-" + quantity) and len(name) > len(quantity) + 1:
            return Metric(name[: -len(quantity) - 1], quantity)
    head, _, tail = name.rpartition("-")
    return Metric(head, tail)


def set_of(name: str) -> str:
    """The set a metric is measured on (`ori-test-loss` -> `ori-test`)."""
    return parse_metric(name).set


def is_per_arch(name: str) -> bool:
    """Whether `name` is a per-architecture metric (the ranking score, a proxy), not per epoch."""
    return name == RANKING_SCORE or name.startswith(PROXY_PREFIX)


def unit(name: str) -> str:
    """The unit of a metric's quantity, "unknown" for a quantity nb201 does not know."""
    return UNITS.get(parse_metric(name).quantity, "unknown")


def running_sum(name: str) -> str:
    """The running-sum name of a per-epoch time (`x-valid-time` -> `x-valid-all-time`);
    an original-API per-time key maps to the same sum (`valid-per-time` -> `valid-all-time`)."""
    metric = parse_metric(name)
    if metric.quantity not in ("time", "per-time"):
        raise ValueError(f"{name!r} is not a time metric (`<set>-time` or `<set>-per-time`).")
    return Metric(metric.set, "all-time").name


def eval_metrics(names: Iterable[str], quantity: str = "accuracy") -> list[str]:
    """The names measuring `quantity` on an evaluation set (training left out), in their order."""
    out = []
    for name in names:
        metric = parse_metric(name)
        if metric.quantity == quantity and metric.set and metric.set != TRAIN:
            out.append(name)
    return out


def sets_of(names: Iterable[str], quantity: str | None = None) -> list[str]:
    """The sets `names` measure (only those with `quantity`, if given): the standard sets in
    their order, then custom sets by name."""
    parsed = map(parse_metric, names)
    found = {m.set for m in parsed if m.set and (quantity is None or m.quantity == quantity)}
    return [s for s in STANDARD_SETS if s in found] + sorted(found - set(STANDARD_SETS))


# ---- splits ------------------------------------------------------------------------------
def valid_split(dataset: str) -> str:
    """The split of `dataset` that trains on half of its training pool (`cifar10-valid`)."""
    return dataset + VALID_SUFFIX


def is_valid_split(split: str, dataset: str | None = None) -> bool:
    """Whether `split` is the `-valid` form; with `dataset`, of that dataset (a folder may
    itself be named `x-valid`: its whole-pool split is then not the `-valid` form)."""
    if dataset is not None:
        return split == valid_split(dataset)
    return split.endswith(VALID_SUFFIX) and len(split) > len(VALID_SUFFIX)


def split_base(split: str) -> str:
    """The dataset a `-valid` split is named after (`cifar10-valid` -> `cifar10`); any
    other split unchanged."""
    return split[: -len(VALID_SUFFIX)] if is_valid_split(split) else split


def eval_pools(valid_form: bool, test_halves: bool) -> dict[str, str]:
    """Which sets a split evaluates on and the pool ("train" or "test") each comes from.

    The `-valid` form holds out half of the training pool as x-valid and tests on the whole
    test set. The whole-pool form tests on the whole test set and, for datasets whose test
    set is halved (`test_halves`: all but the paper's cifar10), on its two class-stratified
    halves x-valid and x-test."""
    if valid_form:
        return {VALID: "train", WHOLE_TEST: "test"}
    if test_halves:
        return {VALID: "test", TEST: "test", WHOLE_TEST: "test"}
    return {WHOLE_TEST: "test"}


def original_roles(split: str, sets: Iterable[str]) -> dict[str, str]:
    """The original APIs' role (`valid`/`test`/`valtest`) -> stored set, for a split holding `sets`.

    `valid` is x-valid. Where the test set is halved (the split holds x-test and is not a
    `-valid` split), `test` is x-test and `valtest` the whole test set, ori-test; otherwise
    `test` is ori-test (cifar10-valid, cifar10). Roles whose set is absent are left out."""
    have = set(sets)
    if TEST in have and not is_valid_split(split):
        roles = {"valid": VALID, "test": TEST, "valtest": WHOLE_TEST}
    else:
        roles = {"valid": VALID, "test": WHOLE_TEST}
    return {role: s for role, s in roles.items() if s in have}


def describe_roles(roles: Mapping[str, str]) -> dict[str, str]:
    """`{"valid-*": "x-valid-*", ...}`: the role mapping as a benchmark's meta.json states it."""
    return {f"{role}-*": f"{s}-*" for role, s in roles.items()}
