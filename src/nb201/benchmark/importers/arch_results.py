"""One architecture's official results (`{hp: ArchResults state dict}`) -> the store's numbers.

The official files keep each architecture as `ArchResults` state dicts: per (dataset, seed)
a `ResultsCount` state with per-epoch dicts (`train_acc1es`, `eval_acc1es["x-valid@7"]`,
...). `arch_rows` turns one architecture's states into compact float32 arrays, checks that
the states name the architecture they were filed under, and applies the import's filters.
It is a pure function of plain data, so the folder importer runs it in worker processes
(where the bz2 and unpickling cost is) and only arrays travel back.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nb201.benchmark.store.format import StoreError
from nb201.space import Arch


class ImportFormatError(StoreError):
    """The input is not an official benchmark file of a kind we can import."""


@dataclass(frozen=True)
class ArchJob:
    """Where one architecture's results come from, and what they must name."""

    official: int  # its index in the source's `meta_archs`
    ours: int  # our index (the arch string's official index)
    arch: str  # `meta_archs[official]`
    where: str  # the file (and key) it is read from, for messages


@dataclass(frozen=True)
class Filters:
    """What an import keeps (`None`: everything) and how costs are summarised."""

    datasets: tuple[str, ...] | None
    hps: tuple[str, ...] | None
    flavour: str  # "pth" (mean over seeds) or "nats" (seed 888 where seeds disagree)


# (hp, dataset, {seed: {metric: per-epoch float32}}, costs, epochs) of one architecture
Row = tuple[str, str, dict[int, dict[str, np.ndarray]], dict[str, float], int]


def _seq(values: Any, n: int) -> np.ndarray:
    """Per-epoch values stored as list or {epoch: value} dict -> float array [n] (NaN if absent)."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, Mapping):
        if len(values) == n:
            try:  # the usual layout: every epoch 0..n-1 present
                return np.fromiter((values[e] for e in range(n)), dtype=np.float64, count=n)
            except (KeyError, TypeError):
                pass
        return np.array([np.nan if values.get(e) is None else float(values[e]) for e in range(n)])
    seq = [np.nan if v is None else float(v) for v in list(values)[:n]]
    return np.array(seq + [np.nan] * (n - len(seq)))


@functools.lru_cache(maxsize=256)
def _eval_keys(name: str, n: int) -> tuple[str, ...]:
    return tuple(f"{name}@{e}" for e in range(n))


def _eval_seq(src: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    keys = _eval_keys(name, n)
    try:
        return np.fromiter((src[k] for k in keys), dtype=np.float64, count=n)
    except (KeyError, TypeError):
        return np.array([np.nan if src.get(k) is None else float(src[k]) for k in keys])


def _run_metrics(rc: Mapping[str, Any]) -> tuple[int, dict[str, np.ndarray]]:
    """One ResultsCount state dict -> (epochs, {metric: per-epoch values})."""
    n = int(rc["epochs"])
    out = {
        "train-loss": _seq(rc.get("train_losses"), n),
        "train-accuracy": _seq(rc.get("train_acc1es"), n),
        "train-top5": _seq(rc.get("train_acc5es"), n),
        "train-time": _seq(rc.get("train_times"), n),
    }
    accs, losses = rc.get("eval_acc1es") or {}, rc.get("eval_losses") or {}
    times = rc.get("eval_times") or {}
    for name in rc.get("eval_names") or []:
        for metric, src in (("accuracy", accs), ("loss", losses), ("time", times)):
            out[f"{name}-{metric}"] = _eval_seq(src, name, n)
    # float32 from here on: that is what the store keeps, and it halves the import's memory
    return n, {k: v.astype(np.float32) for k, v in out.items() if not np.isnan(v).all()}


def _latency(rc: Mapping[str, Any]) -> float:
    lat = rc.get("latency")
    return -1.0 if lat is None else float(sum(lat) / len(lat))


def _arch_costs(arch_results: Mapping[str, Any], dataset: str, flavour: str) -> dict[str, float]:
    """`ArchResults.get_compute_costs`'s flops/params/latency, per the source's own rules."""
    seeds = list(arch_results["dataset_seed"][dataset])
    runs = [arch_results["all_results"][(dataset, s)] for s in seeds]
    flops = [float(r["flop"]) for r in runs]
    params = [float(r["params"]) for r in runs]
    if flavour == "nats":

        def fix(raw: list[float]) -> list[float]:
            if len(raw) > 1 and len({f"{x:.5f}" for x in raw}) > 1:
                return [raw[seeds.index(888)]]
            return raw

        flops, params = fix(flops), fix(params)
    lats = [x for x in (_latency(r) for r in runs) if x > 0]
    return {
        "flops": float(np.mean(flops)),
        "params": float(np.mean(params)),
        "latency": float(np.mean(lats)) if lats else float("nan"),
    }


@functools.lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    return str(Arch.from_string(text))


def _same_arch(named: Any, arch: str) -> bool:
    if named == arch:
        return True
    try:
        return _canonical(named) == arch
    except (TypeError, ValueError):
        return False


def check_names(state: Mapping[str, Any], job: ArchJob, hp: str) -> None:
    """Refuse a state that names another architecture than the one it is filed under: its
    `arch_index`/`arch_str`, and each run's `arch_config["arch_str"]` (where present)."""
    claims = [
        ("arch_index", state.get("arch_index"), job.official),
        ("arch_str", state.get("arch_str"), job.arch),
    ]
    for key, run in (state.get("all_results") or {}).items():
        config = run.get("arch_config") if isinstance(run, Mapping) else None
        if isinstance(config, Mapping):
            claims.append((f"all_results[{key!r}].arch_config.arch_str", config.get("arch_str"), job.arch))
    for field, named, expected in claims:
        if named is None:
            continue
        same = _same_arch(named, expected) if field != "arch_index" else _is_index(named, expected)
        if not same:
            raise ImportFormatError(
                f"{job.where} (hp {hp}) holds the results of another architecture: its {field} is "
                f"{named!r}, but it is filed as architecture {job.official} ({job.arch}). "
                "Each file must hold its own architecture's results; nothing was written."
            )


def _is_index(named: Any, expected: int) -> bool:
    return not isinstance(named, bool) and isinstance(named, (int, np.integer)) and int(named) == expected


def arch_rows(infos: Mapping[Any, Any], job: ArchJob, filters: Filters) -> list[Row]:
    """The rows of one architecture's `{hp: ArchResults state}`, checked and filtered."""
    hps = [str(hp) for hp in infos]
    if len(set(hps)) != len(hps):
        raise ImportFormatError(
            f"{job.where}: hp keys {list(infos)} name one hp twice (as text and as a number); "
            "nothing was written."
        )
    rows: list[Row] = []
    for hp_key, state in infos.items():
        hp = str(hp_key)
        if not isinstance(state, Mapping) or "all_results" not in state or "dataset_seed" not in state:
            raise ImportFormatError(
                f"{job.where} hp={hp}: expected an ArchResults state dict with 'all_results' and "
                f"'dataset_seed' (architecture {job.official})."
            )
        check_names(state, job, hp)
        if filters.hps is not None and hp not in filters.hps:
            continue
        for dataset, seeds in state["dataset_seed"].items():
            if filters.datasets is not None and dataset not in filters.datasets:
                continue
            if len(set(seeds)) != len(seeds):
                raise ImportFormatError(
                    f"{job.where} hp={hp}: dataset_seed[{dataset!r}] lists a seed twice ({list(seeds)}); "
                    "nothing was written."
                )
            per_seed: dict[int, dict[str, np.ndarray]] = {}
            epochs = 0
            for seed in seeds:
                n, mets = _run_metrics(state["all_results"][(dataset, seed)])
                epochs = max(epochs, n)
                per_seed[int(seed)] = mets
            rows.append((hp, dataset, per_seed, _arch_costs(state, dataset, filters.flavour), epochs))
    return rows
