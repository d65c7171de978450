"""Convert the official NAS-Bench-201 / NATS-Bench (topology) files into an nb201 benchmark.

Supported inputs (the files users already have):

- `NAS-Bench-201-v1_0-e61699.pth`, `NAS-Bench-201-v1_1-096897.pth`: one `torch.save`d dict
  `{"meta_archs": [arch strings], "arch2infos": {index: {"less": ArchResults state,
  "full": ArchResults state}}, "evaluated_indexes": [...]}`; "less" is hp 12, "full" 200.
- `NATS-tss-v1_0-3ffb9-simple/`: `meta.pickle.pbz2` (`{"meta_archs": ...}`) plus one
  bz2-pickle per architecture, `{:06d}.pickle.pbz2` = `{hp: ArchResults state}`. Read one
  file at a time, so memory stays at the size of the numbers, not of Python objects.
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

import bz2
import functools
import pickle
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nb201.benchmark.store.format import StoreError, write_benchmark
from nb201.names import split_base
from nb201.space import Arch
from nb201.util import REFUSED, load_plain_pickle

NATS_EXT = ".pickle.pbz2"
PTH_HPS = {"less": "12", "full": "200"}
_KIND_HELP = (
    "expected one of: a NAS-Bench-201 file (NAS-Bench-201-v1_0-e61699.pth / NAS-Bench-201-v1_1-096897.pth), "
    "a NATS-Bench topology folder (NATS-tss-v1_0-3ffb9-simple/ with meta.pickle.pbz2), or the single-file "
    "NATS-tss-v1_0-3ffb9.pickle.pbz2"
)


class ImportFormatError(StoreError):
    """The input is not an official benchmark file of a kind we can import."""


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
        raise FileNotFoundError(f"{path} does not exist; {_KIND_HELP}.")
    if path.is_dir():
        if (path / ("meta" + NATS_EXT)).is_file():
            return "nats-folder"
        raise ImportFormatError(f"{path} is a folder without meta{NATS_EXT}; {_KIND_HELP}.")
    name = path.name
    if name.endswith(NATS_EXT) or name.endswith(".pbz2"):
        return "nats-file"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if name.endswith(".pth") or head[:2] == b"PK" or head[:1] == b"\x80":
        return "pth"
    raise ImportFormatError(f"{path} is neither a .pth nor a .pickle.pbz2 file; {_KIND_HELP}.")


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
        raise ImportFormatError(f"{path} is not a readable torch file ({exc}); {_KIND_HELP}.") from None


def _load_pbz2(path: Path, allow_pickle: bool = False) -> Any:
    try:
        with bz2.BZ2File(path, "rb") as fh:
            # Plain data only (nb201.util.PLAIN_DATA_GLOBALS), unless the user trusts the file.
            return pickle.load(fh) if allow_pickle else load_plain_pickle(fh)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith(REFUSED):
            raise ImportFormatError(
                f"{path} holds Python objects beyond plain data ({exc}). If you trust the file, "
                "re-run with allow_pickle=True (CLI: --allow-pickle)."
            ) from None
        raise ImportFormatError(f"{path} is not a readable bz2 pickle ({exc}); {_KIND_HELP}.") from None
    except (OSError, EOFError) as exc:
        raise ImportFormatError(f"{path} is not a readable bz2 pickle ({exc}); {_KIND_HELP}.") from None


def _check_top(obj: Any, path: Path) -> None:
    if not isinstance(obj, Mapping) or not {"meta_archs", "arch2infos"} <= set(obj):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise ImportFormatError(
            f"{path} does not look like an official benchmark: expected a dict with keys 'meta_archs', "
            f"'arch2infos', 'evaluated_indexes', found {keys}; {_KIND_HELP}."
        )


def _index_map(meta_archs: list[str], path: Path) -> Callable[[int], tuple[int, str]]:
    def official_to_ours(i: int) -> tuple[int, str]:
        text = meta_archs[i]
        try:
            arch = Arch.from_string(text)
        except ValueError as exc:
            hint = " (this looks like the NATS-Bench *size* space; only the topology space is NAS-Bench-201)"
            raise ImportFormatError(
                f"{path}: architecture {i} is {text!r}, not a NAS-Bench-201 cell"
                f"{hint if ':' in text else ''}: {exc}"
            ) from None
        return arch.index, str(arch)

    return official_to_ours


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


def _add_arch(
    groups: dict[tuple[str, str], _Group],
    our_index: int,
    hp: str,
    arch_results: Mapping[str, Any],
    flavour: str,
) -> None:
    if not isinstance(arch_results, Mapping) or "all_results" not in arch_results:
        raise ImportFormatError(
            f"architecture {our_index} hp={hp}: expected an ArchResults state dict with 'all_results'."
        )
    for dataset, seeds in arch_results["dataset_seed"].items():
        g = groups.setdefault((dataset, hp), _Group())
        per_seed: dict[int, dict[str, np.ndarray]] = {}
        for seed in seeds:
            n, mets = _run_metrics(arch_results["all_results"][(dataset, seed)])
            g.epochs = max(g.epochs, n)
            for m in mets:
                if m not in g.metrics:
                    g.metrics.append(m)
            per_seed[int(seed)] = mets
        g.rows[our_index] = per_seed
        g.costs[our_index] = _arch_costs(arch_results, dataset, flavour)


def _iter_source(path: Path, kind: str, allow_pickle: bool) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """Yield (our index, hp, ArchResults state dict) for every architecture in the source."""
    if kind == "nats-folder":
        meta = _load_pbz2(path / ("meta" + NATS_EXT), allow_pickle)
        if not isinstance(meta, Mapping) or "meta_archs" not in meta:
            raise ImportFormatError(f"{path / ('meta' + NATS_EXT)} has no 'meta_archs'; {_KIND_HELP}.")
        to_ours = _index_map(list(meta["meta_archs"]), path)
        files = sorted(p for p in path.iterdir() if re.fullmatch(r"\d+" + re.escape(NATS_EXT), p.name))
        if not files:
            raise ImportFormatError(
                f"{path} has meta{NATS_EXT} but no per-architecture NNNNNN{NATS_EXT} files."
            )
        for f in files:
            official = int(f.name.split(".")[0])
            ours, _ = to_ours(official)
            xdata = _load_pbz2(f, allow_pickle)
            if not isinstance(xdata, Mapping):
                raise ImportFormatError(
                    f"{f}: expected a dict {{hp: ArchResults state}}, got {type(xdata).__name__}."
                )
            for hp, state in xdata.items():
                yield ours, str(hp), state
        return
    top = _load_pbz2(path, allow_pickle) if kind == "nats-file" else _load_pth(path, allow_pickle)
    _check_top(top, path)
    to_ours = _index_map(list(top["meta_archs"]), path)
    for official in sorted(top["arch2infos"]):
        ours, _ = to_ours(int(official))
        infos = top["arch2infos"][official]
        if kind == "pth":
            missing = set(PTH_HPS) - set(infos)
            if missing:
                raise ImportFormatError(
                    f"{path}: architecture {official} lacks {sorted(missing)}; {_KIND_HELP}."
                )
            for key, hp in PTH_HPS.items():
                yield ours, hp, infos[key]
        else:
            for hp, state in infos.items():
                yield ours, str(hp), state


def import_official(
    path: str | Path,
    out: str | Path,
    *,
    datasets: list[str] | None = None,
    hps: list[str] | None = None,
    allow_pickle: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Convert an official NAS-Bench-201/NATS-Bench topology file or folder into benchmark folder `out`.

    `datasets`/`hps` restrict what is imported. Returns the written sub-store folders.
    Only plain data is unpickled (containers, numbers, numpy arrays): a pickle can run any
    code it names. `allow_pickle=True` lifts that for a file you trust.
    """
    path = Path(path)
    kind = detect_kind(path)
    flavour = "pth" if kind == "pth" else "nats"
    groups: dict[tuple[str, str], _Group] = {}
    items = _iter_source(path, kind, allow_pickle)
    if progress:
        from tqdm import tqdm

        from nb201.util import progress_options

        items = tqdm(items, desc=f"reading {path.name}", unit="arch-hp", **progress_options())
    for ours, hp, state in items:
        if hps is not None and hp not in hps:
            continue
        if datasets is not None:
            state = dict(state)
            state["dataset_seed"] = {d: s for d, s in state["dataset_seed"].items() if d in datasets}
        _add_arch(groups, ours, hp, state, flavour)
    if not groups:
        raise ImportFormatError(
            f"{path} contained no results for datasets={datasets} hps={hps}; "
            "drop the filters to see what it has."
        )
    written = []
    for dataset, hp in sorted(groups):
        g = groups.pop((dataset, hp))  # free each group's numbers once written
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
        written.append(
            write_benchmark(
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
                meta={"source": {"kind": kind, "file": path.name, "flavour": flavour}},
            )
        )
        del values
    return written
