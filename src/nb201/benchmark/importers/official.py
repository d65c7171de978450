"""Convert the official NAS-Bench-201 / NATS-Bench (topology) files into an nb201 benchmark.

Supported inputs (the files users already have):

- `NAS-Bench-201-v1_0-e61699.pth`, `NAS-Bench-201-v1_1-096897.pth`: one `torch.save`d dict
  `{"meta_archs": [arch strings], "arch2infos": {index: {"less": ArchResults state,
  "full": ArchResults state}}, "evaluated_indexes": [...]}`; "less" is hp 12, "full" 200.
- `NATS-tss-v1_0-3ffb9-simple/`: `meta.pickle.pbz2` (`{"meta_archs": ...}`) plus one
  bz2-pickle per architecture, `{:06d}.pickle.pbz2` = `{hp: ArchResults state}`. Read by
  worker processes, one file at a time, so memory stays at the size of the numbers.
- `NATS-tss-v1_0-3ffb9.pickle.pbz2`: the same as one bz2-pickled dict like the `.pth`
  (`arch2infos[index] = {hp: ArchResults state}`).

We read the *state dicts* (plain dicts) directly, so importing needs neither official
package; the tests check every imported number against what the official APIs return
for the same files. Official indices are mapped to ours through the arch string, never
trusted positionally. The per-(dataset, hp) cost summaries follow the official
`ArchResults.get_compute_costs` of the source: mean over seeds (nas_201_api), or seed 888's
values where seeds disagree (NATS-Bench's "legacy fix").
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nb201.benchmark.importers.arch_results import ArchJob, Filters, ImportFormatError, Row, arch_rows
from nb201.benchmark.importers.sources import (
    KIND_HELP,
    NATS_EXT,
    default_workers,
    folder_jobs,
    load_pbz2,
    meta_index,
    read_files,
    table_jobs,
)
from nb201.benchmark.store.format import write_benchmark
from nb201.names import split_base

__all__ = ["ImportFormatError", "detect_kind", "import_official"]

PTH_HPS = {"less": "12", "full": "200"}


@dataclass
class _Group:
    """Accumulates the runs of one (dataset, hp) while streaming architectures."""

    rows: dict[int, dict[int, dict[str, np.ndarray]]] = field(
        default_factory=dict
    )  # arch -> seed -> metric -> [E]
    costs: dict[int, dict[str, float]] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    epochs: int = 0


def detect_kind(path: str | Path) -> str:
    """`"pth"`, `"nats-folder"` or `"nats-file"`; ImportFormatError naming what was expected."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {KIND_HELP}.")
    if path.is_dir():
        if (path / ("meta" + NATS_EXT)).is_file():
            return "nats-folder"
        raise ImportFormatError(f"{path} is a folder without meta{NATS_EXT}; {KIND_HELP}.")
    name = path.name
    if name.endswith(NATS_EXT) or name.endswith(".pbz2"):
        return "nats-file"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if name.endswith(".pth") or head[:2] == b"PK" or head[:1] == b"\x80":
        return "pth"
    raise ImportFormatError(f"{path} is neither a .pth nor a .pickle.pbz2 file; {KIND_HELP}.")


def _load_pth(path: Path, allow_pickle: bool) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        raise ImportFormatError(
            f"{path} holds Python objects beyond plain data ({str(exc).splitlines()[0]}). "
            "If you trust the file, "
            "re-run with allow_pickle=True (CLI: --allow-pickle)."
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ImportFormatError(f"{path} is not a readable torch file ({exc}); {KIND_HELP}.") from None


def _check_top(obj: Any, path: Path) -> None:
    if not isinstance(obj, Mapping) or not {"meta_archs", "arch2infos"} <= set(obj):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise ImportFormatError(
            f"{path} does not look like an official benchmark: expected a dict with keys 'meta_archs', "
            f"'arch2infos', 'evaluated_indexes', found {keys}; {KIND_HELP}."
        )


def _add_rows(groups: dict[tuple[str, str], _Group], ours: int, rows: list[Row]) -> None:
    for hp, dataset, per_seed, costs, epochs in rows:
        g = groups.setdefault((dataset, hp), _Group())
        g.epochs = max(g.epochs, epochs)
        for mets in per_seed.values():
            for m in mets:
                if m not in g.metrics:
                    g.metrics.append(m)
        g.rows[ours] = per_seed
        g.costs[ours] = costs


def _table_infos(infos: Any, job: ArchJob, kind: str) -> Mapping[Any, Any]:
    """`{hp: ArchResults state}` of one `arch2infos` entry (a .pth names its hps less/full)."""
    if not isinstance(infos, Mapping):
        raise ImportFormatError(
            f"{job.where}: expected a dict of hp -> ArchResults state, got {type(infos).__name__}."
        )
    if kind != "pth":
        return infos
    missing = set(PTH_HPS) - set(infos)
    if missing:
        raise ImportFormatError(
            f"{job.where}: architecture {job.official} lacks {sorted(missing)}; {KIND_HELP}."
        )
    return {hp: infos[key] for key, hp in PTH_HPS.items()}


def _read_source(
    path: Path, kind: str, allow_pickle: bool, filters: Filters, workers: int | None
) -> tuple[int, Iterator[tuple[ArchJob, list[Row]]]]:
    """(number of architectures, their (job, rows) in index order) of a source; every check
    that needs no per-architecture file runs before this returns."""
    if kind == "nats-folder":
        meta_path = path / ("meta" + NATS_EXT)
        meta = load_pbz2(meta_path, allow_pickle)
        if not isinstance(meta, Mapping) or "meta_archs" not in meta:
            raise ImportFormatError(f"{meta_path} has no 'meta_archs'; {KIND_HELP}.")
        jobs = folder_jobs(path, meta_index(meta["meta_archs"], str(meta_path)))
        n_workers = default_workers(len(jobs)) if workers is None else workers
        return len(jobs), read_files(jobs, filters, allow_pickle, n_workers)
    top = load_pbz2(path, allow_pickle) if kind == "nats-file" else _load_pth(path, allow_pickle)
    _check_top(top, path)
    entries = table_jobs(top["arch2infos"], meta_index(top["meta_archs"], str(path)), str(path))
    arch2infos = top["arch2infos"]
    rows = ((job, arch_rows(_table_infos(arch2infos[key], job, kind), job, filters)) for key, job in entries)
    return len(entries), rows


def import_official(
    path: str | Path,
    out: str | Path,
    *,
    datasets: list[str] | None = None,
    hps: list[str] | None = None,
    allow_pickle: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> list[Path]:
    """Convert an official NAS-Bench-201/NATS-Bench topology file or folder into benchmark folder `out`.

    `datasets`/`hps` restrict what is imported. Returns the written sub-store folders.
    Only plain data is unpickled (containers, numbers, numpy arrays): a pickle can run any
    code it names. `allow_pickle=True` lifts that for a file you trust. A NATS-tss folder is
    read by `workers` processes (None: one per core for a large folder); the store written
    is the same for any number. An ambiguous source (an architecture listed or filed twice,
    a file naming another architecture, results the meta does not list) is refused before
    anything is written (`nb201.benchmark.importers.sources`).
    """
    path = Path(path)
    kind = detect_kind(path)
    filters = Filters(
        datasets=None if datasets is None else tuple(datasets),
        hps=None if hps is None else tuple(str(h) for h in hps),
        flavour="pth" if kind == "pth" else "nats",
    )
    total, items = _read_source(path, kind, allow_pickle, filters, workers)
    if progress:
        from tqdm import tqdm

        from nb201.util import progress_options

        items = tqdm(items, total=total, desc=f"reading {path.name}", unit="arch", **progress_options())
    groups: dict[tuple[str, str], _Group] = {}
    for job, rows in items:
        _add_rows(groups, job.ours, rows)
    if not groups:
        raise ImportFormatError(
            f"{path} contained no results for datasets={datasets} hps={hps}; "
            "drop the filters to see what it has."
        )
    meta = {"source": {"kind": kind, "file": path.name, "flavour": filters.flavour}}
    return [_write_group(out, dataset, hp, groups.pop((dataset, hp)), meta) for dataset, hp in sorted(groups)]


def _write_group(out: str | Path, dataset: str, hp: str, g: _Group, meta: dict[str, Any]) -> Path:
    """One (dataset, hp) sub-store from its accumulated runs."""
    archs = sorted(g.rows)
    seeds = sorted({s for r in g.rows.values() for s in r})
    spos = {s: k for k, s in enumerate(seeds)}
    values = np.full((len(archs), len(seeds), g.epochs, len(g.metrics)), np.nan, dtype=np.float32)
    present = np.zeros((len(archs), len(seeds)), dtype=bool)
    for a, idx in enumerate(archs):
        for seed, mets in g.rows[idx].items():
            present[a, spos[seed]] = True
            for k, m in enumerate(g.metrics):
                if m in mets:
                    values[a, spos[seed], : len(mets[m]), k] = mets[m]
    costs = {c: [g.costs[i][c] for i in archs] for c in ("flops", "params", "latency")}
    return write_benchmark(
        out,
        split=dataset,
        hp=hp,
        arch_indices=archs,
        seeds=seeds,
        metrics=g.metrics,
        values=values,
        present=present,
        costs=costs,
        dataset=split_base(dataset),
        meta=meta,
    )
