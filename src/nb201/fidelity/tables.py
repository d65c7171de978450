"""Whole-space proxy tables, read without torch: any architecture's zero-cost proxies.

A proxy table (`python -m nb201.fidelity.proxies ... --out TABLE`, see `nb201.fidelity.proxies`) holds one
row per computed architecture; the committed `data/proxies/cifar10-C8-N1-16px-b64-s0.parquet`
holds one representative of every non-degenerate functional class. Architectures of one
class compute the same function (`nb201.space.Arch.functional_key`), so `lookup` answers
for all 15,625 indices:

* an index the table holds: its own row;
* any other index: the row of the lowest-indexed table member of its functional class
  (`table_index` says which). A network proxy of two class members differs only through
  the random draw of their initial weights, which a table of one draw per class does not
  resolve anyway;
* `params` and `flops` are exact for every index: costs are additive over edges
  (`nb201.space.cost`), and members of a class can differ in them (dead edges cost too), so they
  are recomputed from the additive basis fitted, exactly, to the table's own rows;
* the degenerate class `"zero"` (341 cells whose output is identically zero, never in
  the job's `space="functional"` list): the table's value when it holds a zero-class row,
  else NaN for the network proxies. A class the table lacks gets NaN likewise.

Tables are found by name, `<dataset>-<size>-b<batch>-s<seed>.parquet`, in
`$NB201_DATA_DIR/proxies/` (default `data/proxies/`) and then in the `data/proxies/` of
the source tree nb201 runs from. `Benchmark.proxies` is this module's `lookup`.
This module imports pandas and pyarrow but never torch, so `nb201.benchmark.api` stays light.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.space import NUM_ARCHS, OPS, Arch

TABLE_SCHEMA = "nb201.proxies/1"
DEFAULT_SIZE = "C8-N1-16px"  # the committed whole-space table: the trained network's size
COSTS = ("params", "flops")  # additive over edges: exact for every index (see module doc)
_REPO_TABLES = Path(__file__).resolve().parents[3] / "data" / "proxies"


def load_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A proxy table and its metadata (configuration, coverage, core-hours), indexed by arch
    index, after checking that it is what it claims (`check_table`)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    try:
        meta = json.loads((table.schema.metadata or {}).get(b"nb201", b"{}"))
    except ValueError:
        meta = {}
    if not isinstance(meta, dict) or meta.get("schema") != TABLE_SCHEMA:
        raise ValueError(f"{path} is not an nb201 proxy table (schema {meta.get('schema')!r})")
    frame = table.to_pandas()
    check_table(Path(path), frame, meta)
    return frame.set_index("index"), meta


# `<dataset>-C<C>-N<N>-<image>px-b<batch>-s<seed>`: what a table's file name claims
_NAME = re.compile(
    r"^(?P<dataset>.+?)-C(?P<C>\d+)-N(?P<N>\d+)-(?P<image_size>\d+)px(?:-b(?P<batch_size>\d+))?(?:-s(?P<seed>\d+))?$"
)


def _short_name(dataset: Any) -> str:
    """How a table's name spells its dataset: a built-in's name, a folder dataset's file stem."""
    text = str(dataset)
    if text.startswith("folder:"):
        return Path(text[len("folder:") :].rstrip("/")).name.split(".")[0]
    return text


def _bad(path: Path, field: str, problem: str) -> ValueError:
    return ValueError(
        f"proxy table {path}: {field}: {problem}; the file does not hold what it claims, so it is not "
        "served. Recompute it with `python -m nb201.fidelity.proxies ... --out` (or rename it to match "
        "its metadata)."
    )


def check_table(path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Raise ValueError naming the file and the field unless the table's file name, its
    metadata and its contents agree: the name's dataset, C, N, image size, batch and seed
    are the metadata's; the index column holds unique integer arch indices; every row's
    `arch` string and `functional_key` are those of its index; every listed proxy is a column."""
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    m = _NAME.match(path.stem)
    if m:
        for key, claimed in m.groupdict().items():
            if claimed is None or key == "dataset":
                continue
            if config.get(key) != int(claimed):
                raise _bad(
                    path, f"config.{key}", f"the name says {claimed}, the metadata {config.get(key)!r}"
                )
        short = _short_name(meta.get("dataset"))
        if not (short == m["dataset"] or short.startswith(m["dataset"] + "-")):
            raise _bad(
                path, "dataset", f"the name says {m['dataset']!r}, the metadata {meta.get('dataset')!r}"
            )
    if "index" not in frame.columns or frame["index"].dtype.kind not in "iu":
        raise _bad(path, "index", f"not an integer column ({frame.get('index', pd.Series()).dtype})")
    idx = frame["index"].to_numpy()
    if len(idx) and (idx.min() < 0 or idx.max() >= NUM_ARCHS):
        raise _bad(path, "index", f"values outside [0, {NUM_ARCHS - 1}]")
    dup = pd.Index(idx)[pd.Index(idx).duplicated()]
    if len(dup):
        raise _bad(path, "index", f"arch {int(dup[0])} has {int((idx == dup[0]).sum())} rows")
    archs = [Arch.from_index(int(i)) for i in idx]
    for column, value in (("arch", str), ("functional_key", Arch.functional_key)):
        if column in frame.columns:
            wrong = [(int(i), v) for i, a, v in zip(idx, archs, frame[column]) if value(a) != v]
            if wrong:
                raise _bad(path, column, f"the row of arch {wrong[0][0]} holds {wrong[0][1]!r}, not its own")
    missing = [n for n in meta.get("proxies", []) if n not in frame.columns]
    if missing:
        raise _bad(path, "proxies", f"the metadata lists {missing}, which are not columns")


def table_dirs() -> list[Path]:
    """Where tables are looked for, in order: `$NB201_DATA_DIR/proxies`, the source tree's."""
    from nb201.data.cache import data_dir

    out: list[Path] = []
    for d in (data_dir() / "proxies", _REPO_TABLES):
        if all(d.resolve() != seen.resolve() for seen in out):  # the same folder once
            out.append(d)
    return out


def available_tables(dirs: Sequence[str | Path] | None = None) -> dict[str, Path]:
    """Table name (file stem, e.g. `cifar10-C8-N1-16px-b64-s0`) -> path; earlier dirs win."""
    found: dict[str, Path] = {}
    for d in table_dirs() if dirs is None else [Path(p) for p in dirs]:
        for path in sorted(Path(d).glob("*.parquet")) if Path(d).is_dir() else []:
            found.setdefault(path.stem, path)
    return found


def find_table(
    size: str = DEFAULT_SIZE, dataset: str = "cifar10", dirs: Sequence[str | Path] | None = None
) -> Path:
    """The table of `dataset` at `size` (`C8-N1-16px`, or a full tag `C8-N1-16px-b64-s0`,
    or a path to a Parquet file). Raises ValueError naming the available tables when there is
    none, or several (then give the full tag)."""
    if str(size).endswith(".parquet") and Path(size).is_file():
        return Path(size)
    tables = available_tables(dirs)
    stem = f"{dataset}-{size}"
    hits = [name for name in tables if name == stem or name.startswith(stem + "-")]
    if len(hits) == 1:
        return tables[hits[0]]
    searched = [str(d) for d in (table_dirs() if dirs is None else dirs)]
    if not hits:
        raise ValueError(
            f"no proxy table of {dataset!r} at size {size!r} in {searched}; available tables: "
            f"{sorted(tables) or 'none'} (size = the part after the dataset, e.g. {DEFAULT_SIZE!r}). "
            "Compute one with `python -m nb201.fidelity.proxies --space functional --out ...`."
        )
    raise ValueError(
        f"size {size!r} matches several tables {sorted(hits)}; give the full tag, e.g. {hits[0]!r}."
    )


@functools.lru_cache(maxsize=8)
def _prepared(path: str, mtime: float) -> tuple[pd.DataFrame, dict[str, Any], dict[str, int], dict[str, Any]]:
    """The table, its metadata, functional key -> representative index (the lowest in the
    table), and for each cost column its exact additive basis (None when the fit is not exact)."""
    frame, meta = load_table(path)
    frame = frame.sort_index()
    reps: dict[str, int] = {}
    for index, key in zip(frame.index, frame["functional_key"]):
        reps.setdefault(str(key), int(index))
    design = _op_counts(frame.index.to_numpy())
    bases = {c: _exact_basis(design, frame[c].to_numpy(np.float64)) for c in COSTS if c in frame.columns}
    return frame, meta, reps, bases


def _op_counts(indices: np.ndarray) -> np.ndarray:
    """[1, number of edges with op k for every op but `none`] per architecture."""
    ops = np.array([Arch.from_index(int(i)).op_ids() for i in indices], dtype=np.int64).reshape(
        len(indices), -1
    )
    counts = [(ops == k).sum(axis=1) for k, op in enumerate(OPS) if op != "none"]
    return np.column_stack([np.ones(len(indices)), *counts]).astype(np.float64)


def _exact_basis(design: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Skeleton + per-op cost fitted by least squares; None unless it reproduces every row
    (costs are additive, so a table with enough distinct rows determines them exactly)."""
    ok = np.isfinite(values)
    if ok.sum() < design.shape[1] or np.linalg.matrix_rank(design[ok]) < design.shape[1]:
        return None
    coef = np.linalg.lstsq(design[ok], values[ok], rcond=None)[0]
    return (
        coef
        if np.max(np.abs(design[ok] @ coef - values[ok])) <= 1e-9 * max(1.0, np.abs(values).max())
        else None
    )


def lookup(
    indices: Sequence[int] | np.ndarray | int,
    size: str = DEFAULT_SIZE,
    names: Sequence[str] | None = None,
    dataset: str = "cifar10",
    dirs: Sequence[str | Path] | None = None,
) -> pd.DataFrame:
    """Proxies of any architectures (official indices) from the table of `dataset` at `size`.

    One row per requested index, in order (index `index`), one column per proxy (`names`,
    default every proxy the table holds) plus `table_index`: the table row the network
    proxies come from (the index itself, its class representative, or -1 for NaN).
    See the module doc for the class rule, exact costs and the degenerate class.
    """
    path = find_table(size, dataset, dirs)
    frame, meta, reps, bases = _prepared(str(path), path.stat().st_mtime)
    idx = np.asarray(indices).reshape(-1)
    if idx.size == 0:  # an empty list (float64 by numpy's default) asks for nothing
        idx = idx.astype(np.int64)
    if idx.dtype.kind not in "iu" or (len(idx) and (idx.min() < 0 or idx.max() >= NUM_ARCHS)):
        raise ValueError(f"indices must be integer arch indices in [0, {NUM_ARCHS - 1}], got {indices!r}.")
    names = list(meta.get("proxies", []) if names is None else names)
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise ValueError(f"{path.name} has no proxies {unknown}; it has {meta.get('proxies')}.")
    held = set(frame.index)
    source = np.array(
        [i if i in held else reps.get(Arch.from_index(int(i)).functional_key(), -1) for i in idx.tolist()],
        dtype=np.int64,
    )
    out = pd.DataFrame(index=pd.Index(idx, name="index"))
    found, other = source >= 0, source != idx
    counts = _op_counts(idx[other]) if any(bases.get(n) is not None for n in names) and other.any() else None
    for name in names:
        column = np.full(len(idx), np.nan)
        column[found] = frame[name].to_numpy(np.float64)[frame.index.get_indexer(source[found])]
        if bases.get(name) is not None and counts is not None:  # a cost of an arch the table lacks
            column[other] = counts @ bases[name]
        out[name] = column
    out["table_index"] = source
    return out
