"""Validation of run records (`nb201.run/1`), shared by the sweep, `load_records` and the
benchmark store. Torch-free, so that aggregating records never imports a training stack.

A wrong number that passes here would be served by every benchmark built from the record,
so nothing in a record is taken on trust: types, ranges, finiteness and completeness.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from nb201.names import parse_metric
from nb201.space import Arch

RECORD_SCHEMA = "nb201.run/1"
STATUSES = ("ok", "degenerate", "failed")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_value(key: str, v: Any, where: str) -> None:
    """One per-epoch number: a finite real in the range its kind allows."""
    if not _is_number(v):
        raise ValueError(f"{where}: {key} is {v!r} ({type(v).__name__}), not a number")
    if not math.isfinite(v):
        raise ValueError(f"{where}: {key} is {v}, not finite")
    kind = parse_metric(key).quantity
    if kind in ("accuracy", "top5") and not 0.0 <= v <= 100.0:
        raise ValueError(f"{where}: {key} = {v} is outside [0, 100] (accuracies are percent)")
    if kind in ("loss", "time", "all-time", "per-time", "lr") and v < 0:
        raise ValueError(f"{where}: {key} = {v} is negative")


def check_epochs(epochs: Any, others: Mapping[str, Callable[[Any, str], None]] | None = None) -> list[str]:
    """Epoch rows: dicts numbered 0, 1, 2, ..., the same metrics in each, valid numbers.

    `others` checks the entries that are not numbers (a search row's `arch` string, its
    `distribution`): key -> `check(value, where)`, raising ValueError."""
    others = others or {}
    if not isinstance(epochs, list):
        raise ValueError(f"epochs is {type(epochs).__name__}, not a list")
    names: list[str] | None = None
    for k, row in enumerate(epochs):
        if not isinstance(row, dict) or type(row.get("epoch")) is not int or row["epoch"] != k:
            raise ValueError("epochs are not numbered 0, 1, 2, ... in order")
        keys = [m for m in row if m != "epoch"]
        if names is None:
            names = keys
        elif sorted(keys) != sorted(names):
            raise ValueError(f"epoch {k} has metrics {sorted(keys)}, epoch 0 has {sorted(names)}")
        for m in keys:
            (others[m] if m in others else functools.partial(_check_value, m))(row[m], f"epoch {k}")
    return names or []


def config_diff(stored: Any, wanted: Mapping[str, Any]) -> list[str]:
    """The knobs in which a record's stored config differs from the one a spec resolved
    (missing or extra knobs included); [] when they are equal."""
    if not isinstance(stored, Mapping):
        return sorted(wanted)
    missing = object()
    keys = set(stored) | set(wanted)
    return sorted(k for k in keys if stored.get(k, missing) != wanted.get(k, missing))


def _check_optional(obj: dict, keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        v = obj.get(key)
        if v is not None and (not _is_number(v) or not math.isfinite(v) or v < 0):
            raise ValueError(f"{where}{key} is {v!r}; expected a finite number >= 0 or null")


def validate_record(rec: Any) -> list[str]:
    """Raise ValueError saying what is wrong unless `rec` is a complete, plausible
    `nb201.run/1` record; return its per-epoch metric names.

    Checked: the schema, the status, the spec (arch parses and matches arch_index, seed is
    an int), every epoch (numbered in order, same metrics, finite numbers: accuracies in
    [0, 100], losses, times and lr >= 0), completeness (an ok run has all its epochs), and
    the costs and clocks (finite, >= 0, or null). A wrong number that passes here would be
    served by every benchmark built from the record, so nothing is taken on trust."""
    if not isinstance(rec, dict) or rec.get("schema") != RECORD_SCHEMA:
        raise ValueError(f"not a {RECORD_SCHEMA} run record")
    if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
        raise ValueError("run_id is missing or not a string")
    status = rec.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {list(STATUSES)}")
    spec = rec.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec is missing")
    for key in ("arch", "dataset", "split", "preset"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ValueError(f"spec.{key} is missing or not a string")
    if type(spec.get("seed")) is not int:
        raise ValueError(f"spec.seed is {spec.get('seed')!r}, not an integer")
    if not isinstance(spec.get("fidelity") or {}, dict) or not isinstance(rec.get("config") or {}, dict):
        raise ValueError("spec.fidelity or config is not a mapping")
    arch = Arch.from_string(spec["arch"])
    if rec.get("arch_index") is not None and rec["arch_index"] != arch.index:
        raise ValueError(
            f"arch_index {rec['arch_index']!r} does not match arch {spec['arch']} ({arch.index})"
        )
    names = check_epochs(rec.get("epochs"))
    want = (rec.get("config") or {}).get("epochs")
    if status != "failed":
        if not rec["epochs"]:
            raise ValueError(f"status {status!r} but no epochs recorded")
        if want is not None and len(rec["epochs"]) != want:
            raise ValueError(f"status {status!r} but {len(rec['epochs'])} of {want} epochs recorded")
    elif not isinstance(rec.get("failure"), dict):
        raise ValueError("status 'failed' but no failure entry")
    cost = rec.get("cost")
    if cost is not None and not isinstance(cost, dict):
        raise ValueError("cost is not a mapping")
    _check_optional(cost or {}, ("params", "flops", "latency"), "cost.")
    _check_optional(rec, ("wall_time", "cpu_time"), "")
    return names
