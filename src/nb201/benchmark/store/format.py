"""The on-disk format of a benchmark, and the only code that reads or writes it.

A benchmark is a folder. Inside, one *sub-store* per (split, hp), named `<split>__<hp>/`:

- `data.npy`      dense float32 `[arch_row, seed, epoch, metric]`, NaN where absent. Opened
                  memory-mapped, so opening costs nothing and a lookup reads a few bytes.
- `archs.npy`     int64 `[arch_row]`: the official arch index of each row (sorted). A
                  benchmark may hold any subset of the 15,625 cells.
- `present.npy`   bool `[arch_row, seed]`: which (arch, seed) runs exist, so a random or
                  averaged query only touches real runs.
- `costs.parquet` one row per arch: arch_index, flops, params, latency (+ extra numeric
                  columns). Kept per hp because the originals' `get_cost_info` takes `hp`.
- `table.parquet` the same numbers as a tidy table (arch_index, arch, seed, epoch, metrics),
                  for pandas/duckdb users; written in chunks so full-size stores fit in RAM.
- `meta.json`     dataset, split, split semantics, hp, preset, fidelity, seeds, metric names,
                  units, shape, the size and SHA-256 of `data.npy`, versions and source;
                  when built from run records also the machines (`environments`) and
                  the compute spent (`compute`: CPU and wall seconds, summed over runs).
- `manifest.json` the size and SHA-256 of every other file of the sub-store.

Opening checks the structure every time, cheaply: every file's size against the manifest,
the hashes of `meta.json` and of the small files it reads whole (`archs.npy`,
`present.npy`, `costs.parquet` when first read, `data.npy` up to `HASH_AT_OPEN` bytes),
shapes and dtypes, archs unique, sorted and in range, seeds unique, metric names
consistent with the shape. `verify=True` (`--verify`) hashes every file. A sub-store
written before manifests existed opens with the structural checks and `data.npy`'s hash.

Per-epoch time metrics (`<set>-time`) are stored next to their running sums
(`<set>-all-time`, derived at write time): the originals' `*-all-time` and `*-per-time`
answers then cost one row read instead of a sum over epochs.

Per-architecture derived columns (the ranking score, the whole-space estimate) are further
Parquet files declared in meta.json's `derived` block; `nb201.benchmark.store.derived`
writes and reads them.

Every write goes to a temporary folder that replaces the old sub-store in one rename, so a
crash never leaves a half-written sub-store behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb201.fsutil import fsync_dir, fsync_tree, replace_dir
from nb201.names import describe_roles, original_roles, parse_metric, running_sum, sets_of, unit
from nb201.space import NUM_ARCHS, Arch
from nb201.util import json_default, sha256_file, utc_stamp

if TYPE_CHECKING:  # pyarrow is imported where tables are read or written: opening stays light
    import pandas as pd
    import pyarrow as pa

SCHEMA = "nb201.store/1"
SEP = "__"
DATA, ARCHS, PRESENT, COSTS, TABLE, META = (
    "data.npy",
    "archs.npy",
    "present.npy",
    "costs.parquet",
    "table.parquet",
    "meta.json",
)
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "nb201.manifest/1"
HASH_AT_OPEN = 16 << 20  # data.npy up to 16 MiB is hashed on every open (a few ms)
COST_COLUMNS = ("flops", "params", "latency")

# What each eval set of a split is, written into meta.json so a benchmark explains itself.
SET_DESCRIPTIONS = {
    "train": "the training set of this split (the data the network was trained on)",
    "x-valid": "the proposed validation set: for cifar10-valid the held-out half of the CIFAR-10 "
    "training set; for cifar100/ImageNet16-120/digits/folder datasets one class-stratified half "
    "of the test set",
    "x-test": "the proposed test set: the other class-stratified half of the test set",
    "ori-test": "the original, whole test set",
}


class StoreError(ValueError):
    """A benchmark file is missing, truncated, corrupt, or not a benchmark at all."""


class StoreKeyError(KeyError):
    """A lookup key (arch, dataset, hp, metric, seed) is not in the benchmark."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0]) if self.args else ""


def substore_name(split: str, hp: str) -> str:
    for part, what in ((split, "split"), (hp, "hp")):
        if not part or SEP in part or "/" in part or part.startswith("."):
            raise ValueError(
                f"invalid {what} name {part!r}: it must be non-empty and contain neither {SEP!r} nor '/'. "
                "Rename it."
            )
    return f"{split}{SEP}{hp}"


def _versions() -> dict[str, str]:
    import pyarrow as pa

    import nb201

    return {
        "nb201": getattr(nb201, "__version__", "?"),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
    }


def write_benchmark(
    root: str | Path,
    *,
    split: str,
    hp: str | int,
    arch_indices: Sequence[int] | np.ndarray,
    seeds: Sequence[int],
    metrics: Sequence[str],
    values: np.ndarray,
    costs: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    dataset: str | None = None,
    present: np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
    tidy: bool = True,
    chunk_archs: int = 512,
    extra_tables: Mapping[str, pa.Table] | None = None,
    derived: Mapping[str, tuple[Any, Mapping[str, Any]]] | None = None,
) -> Path:
    """Write (or replace) the `<split>__<hp>` sub-store of the benchmark folder `root`.

    `values[a, s, e, m]` is metric `metrics[m]` after epoch `e` of seed `seeds[s]` for the
    architecture with official index `arch_indices[a]`; NaN where absent. It may be a
    memmap: it is read in chunks of `chunk_archs` archs, so full-size stores never sit in
    RAM twice. `costs` maps `flops`/`params`/`latency` (and any extra numeric column) to
    one value per arch. `present[a, s]` says which runs exist (default: any finite value).
    `meta` adds free-form provenance (preset, fidelity, source, ...) to meta.json;
    `extra_tables` are written as further Parquet files into the sub-store; `derived`
    maps a derived set's name to (table, block): one value per arch in `<name>.parquet`,
    declared in meta.json (`nb201.benchmark.store.derived`). Returns the sub-store folder.
    """
    import pyarrow.parquet as pq

    root, hp = Path(root), str(hp)
    name = substore_name(split, hp)
    plan = _plan(name, arch_indices, seeds, metrics, values, present, chunk_archs)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_data(tmp, values, plan, tidy, chunk_archs)
        np.save(tmp / ARCHS, plan.archs)
        np.save(tmp / PRESENT, plan.present)
        _write_costs(tmp, costs, plan)
        for fname, extra in (extra_tables or {}).items():
            pq.write_table(extra, tmp / fname)
        blocks = {}
        for set_name, (set_table, set_block) in (derived or {}).items():
            checked = check_table(set_name, set_table)
            blocks[set_name] = block_for(set_name, checked, set_block)
            pq.write_table(checked, tmp / blocks[set_name]["file"])
        meta_out = _meta(
            tmp, plan, split, hp, dataset or split, {**({DERIVED: blocks} if blocks else {}), **(meta or {})}
        )
        (tmp / META).write_text(json.dumps(meta_out, indent=1, sort_keys=False, default=json_default))
        _write_manifest(tmp, known={DATA: meta_out["data_sha256"]})
        fsync_tree(tmp)  # complete on disk before it becomes visible
        final = root / name
        replace_dir(tmp, final)  # readers see the old sub-store or the new, never half
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _is_time(metric: str) -> bool:
    """A per-epoch time (`<set>-time`), whose running sum the store derives."""
    return parse_metric(metric).quantity == "time"


@dataclass
class _Plan:
    """A checked `write_benchmark` call, rows in official-index order."""

    order: np.ndarray  # [A] position in the caller's arrays of each written row
    archs: np.ndarray  # [A] sorted official indices
    seeds: list[int]
    metrics: list[str]  # as given
    time_cols: list[int]  # positions of the `*-time` metrics
    all_metrics: list[str]  # metrics + their running sums
    present: np.ndarray  # [A, S] bool, sorted rows
    num_epochs: int


def _plan(
    name: str,
    arch_indices: Sequence[int] | np.ndarray,
    seeds: Sequence[int],
    metrics: Sequence[str],
    values: np.ndarray,
    present: np.ndarray | None,
    chunk_archs: int,
) -> _Plan:
    """Check the arguments of `write_benchmark` (raising ValueError) and order the rows."""
    arch_idx = np.asarray(arch_indices, dtype=np.int64).reshape(-1)
    seeds = [int(s) for s in seeds]
    metrics = [str(m) for m in metrics]
    _check_inputs(name, arch_idx, seeds, metrics, values)
    order = np.argsort(arch_idx, kind="stable")
    time_cols = [k for k, m in enumerate(metrics) if _is_time(m)]
    return _Plan(
        order=order,
        archs=arch_idx[order],
        seeds=seeds,
        metrics=metrics,
        time_cols=time_cols,
        all_metrics=metrics + [running_sum(metrics[k]) for k in time_cols],
        present=_present_of(values, present, len(seeds), chunk_archs)[order],
        num_epochs=values.shape[2],
    )


def _check_inputs(
    name: str, arch_idx: np.ndarray, seeds: list[int], metrics: list[str], values: np.ndarray
) -> None:
    n_arch, n_seed = len(arch_idx), len(seeds)
    if (
        values.ndim != 4
        or values.shape[0] != n_arch
        or values.shape[1] != n_seed
        or values.shape[3] != len(metrics)
    ):
        raise ValueError(
            f"values has shape {values.shape}; expected [archs={n_arch}, seeds={n_seed}, epochs, "
            f"metrics={len(metrics)}]. Reshape it to [arch, seed, epoch, metric]."
        )
    if n_arch == 0 or n_seed == 0 or values.shape[2] == 0:
        raise ValueError(
            f"refusing to write an empty sub-store {name} (shape {values.shape}); add results first."
        )
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"duplicate metric names in {metrics}; each metric must appear once.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate seeds in {seeds}; each seed must appear once.")
    bad = [m for m in metrics if parse_metric(m).quantity == "all-time"]
    if bad:
        raise ValueError(
            f"metrics {bad} are derived (running sums) and written by the store; pass only '*-time'."
        )
    if arch_idx.min() < 0 or arch_idx.max() >= NUM_ARCHS:
        raise ValueError(
            f"arch indices must lie in [0, {NUM_ARCHS - 1}]; got min {arch_idx.min()}, max {arch_idx.max()}."
        )
    if len(np.unique(arch_idx)) != n_arch:
        raise ValueError("arch_indices contains duplicates; give each architecture one row.")


def _present_of(values: np.ndarray, present: np.ndarray | None, n_seed: int, chunk_archs: int) -> np.ndarray:
    """The caller's `present`, checked, or (default) every run with any finite value."""
    n_arch = values.shape[0]
    if present is None:
        present_arr = np.zeros((n_arch, n_seed), dtype=bool)
        for lo in range(0, n_arch, chunk_archs):
            block = np.asarray(values[lo : lo + chunk_archs])
            present_arr[lo : lo + chunk_archs] = np.isfinite(block).any(axis=(2, 3))
        return present_arr
    present_arr = np.asarray(present, dtype=bool)
    if present_arr.shape != (n_arch, n_seed):
        raise ValueError(f"present has shape {present_arr.shape}; expected {(n_arch, n_seed)}.")
    return present_arr


def _write_data(tmp: Path, values: np.ndarray, plan: _Plan, tidy: bool, chunk_archs: int) -> None:
    """`data.npy` (with the running time sums) and, when `tidy`, `table.parquet`, chunk by chunk."""
    import pyarrow.parquet as pq

    n_metric = len(plan.metrics)
    shape = (len(plan.archs), len(plan.seeds), plan.num_epochs, len(plan.all_metrics))
    out = np.lib.format.open_memmap(tmp / DATA, mode="w+", dtype=np.float32, shape=shape)
    arch_strings = [str(Arch.from_index(int(i))) for i in plan.archs]
    writer = None
    try:
        for lo in range(0, len(plan.archs), chunk_archs):
            rows = plan.order[lo : lo + chunk_archs]
            full = _full_block(values, rows, plan.present[lo : lo + len(rows)], plan)
            out[lo : lo + len(rows)] = full
            if tidy:
                table = _tidy_chunk(
                    plan.archs[lo : lo + len(rows)],
                    arch_strings[lo : lo + len(rows)],
                    plan.seeds,
                    full[..., :n_metric],
                    plan.present[lo : lo + len(rows)],
                    plan.metrics,
                )
                if writer is None:
                    writer = pq.ParquetWriter(tmp / TABLE, table.schema, compression="zstd")
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if tidy and writer is None:  # nothing present at all: still write the (empty) schema
        empty = np.zeros((0, len(plan.seeds), plan.num_epochs, n_metric), np.float32)
        pq.write_table(
            _tidy_chunk(plan.archs[:0], [], plan.seeds, empty, plan.present[:0], plan.metrics), tmp / TABLE
        )
    out.flush()
    del out


def _full_block(values: np.ndarray, rows: np.ndarray, present: np.ndarray, plan: _Plan) -> np.ndarray:
    """Rows `rows` of `values` as float32 with the running time sums appended; absent runs NaN."""
    contiguous = len(rows) and rows[-1] - rows[0] == len(rows) - 1 and np.all(np.diff(rows) == 1)
    picked = values[rows[0] : rows[-1] + 1] if contiguous else values[rows]
    block = np.asarray(picked, dtype=np.float32)
    full = np.empty(block.shape[:3] + (len(plan.all_metrics),), dtype=np.float32)
    full[..., : len(plan.metrics)] = block
    if plan.time_cols:
        full[..., len(plan.metrics) :] = np.cumsum(block[..., plan.time_cols], axis=2, dtype=np.float64)
    # Absent runs stay NaN everywhere, derived columns included.
    full[~present] = np.nan
    return full


def _write_costs(tmp: Path, costs: Mapping[str, Sequence[float] | np.ndarray] | None, plan: _Plan) -> None:
    """`costs.parquet`: arch_index, the cost columns (NaN where not given) and any extra column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_arch = len(plan.archs)
    cost_table = {"arch_index": plan.archs}
    for col in COST_COLUMNS:
        cost_table[col] = np.full(n_arch, np.nan)
    for col, vals in (costs or {}).items():
        arr = np.asarray(vals, dtype=np.float64).reshape(-1)
        if len(arr) != n_arch:
            raise ValueError(f"costs[{col!r}] has {len(arr)} values; expected one per arch ({n_arch}).")
        cost_table[col] = arr[plan.order]
    pq.write_table(pa.table(cost_table), tmp / COSTS)


def _meta(
    tmp: Path, plan: _Plan, split: str, hp: str, dataset: str, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """meta.json's content: what the sub-store holds and how to read it, then `extra`
    (provenance) for the keys it does not already set."""
    metrics, all_metrics = plan.metrics, plan.all_metrics
    shape = [len(plan.archs), len(plan.seeds), plan.num_epochs, len(all_metrics)]
    meta_out = {
        "schema": SCHEMA,
        "split": split,
        "dataset": dataset,
        "hp": hp,
        "seeds": plan.seeds,
        "metrics": all_metrics,
        "base_metrics": metrics,
        "derived_metrics": {running_sum(metrics[k]): f"running sum of {metrics[k]}" for k in plan.time_cols},
        "units": {m: unit(m) for m in all_metrics},
        "eval_sets": {s: SET_DESCRIPTIONS.get(s, "custom eval set") for s in sets_of(metrics)},
        "original_api_keys": describe_roles(original_roles(split, sets_of(metrics, "accuracy"))),
        "num_archs": shape[0],
        "num_epochs": shape[2],
        "num_runs": int(plan.present.sum()),
        "shape": shape,
        "dtype": "float32",
        "data_bytes": (tmp / DATA).stat().st_size,
        "data_sha256": sha256_file(tmp / DATA),
        "created_at": utc_stamp(),
        "versions": _versions(),
    }
    for key, val in (extra or {}).items():
        meta_out.setdefault(key, val)
    return meta_out


def _write_manifest(folder: Path, known: Mapping[str, str] | None = None) -> None:
    """`manifest.json`: size and SHA-256 of every file in `folder` (written last)."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name != MANIFEST:
            digest = (known or {}).get(p.name) or sha256_file(p)
            files[p.name] = {"bytes": p.stat().st_size, "sha256": digest}
    (folder / MANIFEST).write_text(json.dumps({"schema": MANIFEST_SCHEMA, "files": files}, indent=1))


def _tidy_chunk(
    arch_idx: np.ndarray,
    arch_strings: Sequence[str],
    seeds: Sequence[int],
    block: np.ndarray,
    present: np.ndarray,
    metrics: Sequence[str],
) -> pa.Table:
    import pyarrow as pa

    n_arch, n_seed, n_epoch, _ = block.shape
    a_pos, s_pos = np.nonzero(present)
    sel = block[a_pos, s_pos]  # [R, E, M]
    reps = n_epoch
    cols: dict[str, Any] = {
        "arch_index": np.repeat(arch_idx[a_pos], reps).astype(np.int32),
        "arch": pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(a_pos, reps).astype(np.int32)), pa.array(list(arch_strings), type=pa.string())
        ),
        "seed": np.repeat(np.asarray(seeds, dtype=np.int64)[s_pos], reps),
        "epoch": np.tile(np.arange(n_epoch, dtype=np.int32), len(a_pos)),
    }
    flat = sel.reshape(-1, len(metrics))
    for k, m in enumerate(metrics):
        cols[m] = flat[:, k]
    return pa.table(cols)


# ---- derived per-arch column sets: names and checks (written by nb201.benchmark.store.derived)
DERIVED = "derived"  # meta.json key: set name -> block
LEGACY = {"ranking_metric": "ranking"}  # older meta.json keys of a derived set -> its name
_RESERVED = {"data", "archs", "present", "costs", "table", "meta", "manifest", "runs", "ingest", "report"}


def column_file(name: str) -> str:
    """The file of derived set `name` (`ranking` -> `ranking.parquet`), refusing names that
    would collide with the store's own files."""
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name in _RESERVED:
        raise ValueError(
            f"invalid derived column set name {name!r}: use letters, digits, '-' or '_', and none of "
            f"{sorted(_RESERVED)} (the store's own files)."
        )
    return f"{name}.parquet"


def derived_blocks(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> block of every derived set a sub-store's meta.json declares."""
    out = {str(k): dict(v) for k, v in (meta.get(DERIVED) or {}).items()}
    for key, name in LEGACY.items():
        if key in meta and name not in out:
            out[name] = dict(meta[key])
    return out


def _as_arrow(table: pd.DataFrame | pa.Table) -> pa.Table:
    import pyarrow as pa

    return table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)


def check_table(name: str, table: pd.DataFrame | pa.Table) -> pa.Table:
    """A derived set as Arrow, checked: an int `arch_index` column of distinct indices in
    range, and numeric value columns (ValueError naming what is wrong)."""
    tbl = _as_arrow(table)
    if "arch_index" not in tbl.column_names:
        raise ValueError(f"derived set {name!r} needs an 'arch_index' column; it has {tbl.column_names}.")
    idx = np.asarray(tbl.column("arch_index").to_numpy(zero_copy_only=False))
    if idx.dtype.kind not in "iu" or len(np.unique(idx)) != len(idx):
        raise ValueError(f"derived set {name!r}: arch_index must be distinct integers.")
    if len(idx) and (idx.min() < 0 or idx.max() >= NUM_ARCHS):
        raise ValueError(f"derived set {name!r}: arch indices must lie in [0, {NUM_ARCHS - 1}].")
    return tbl


def block_for(name: str, table: pa.Table, block: Mapping[str, Any]) -> dict[str, Any]:
    """The meta.json block of a derived set: the producer's `block`, plus the file and columns."""
    return {
        **dict(block),
        "file": column_file(name),
        "columns": [c for c in table.column_names if c != "arch_index"],
        "archs": table.num_rows,
    }


# ---- reading --------------------------------------------------------------------------


@dataclass
class Substore:
    """One opened (split, hp) sub-store. `data` is a read-only memory map."""

    path: Path
    meta: dict
    data: np.ndarray  # [A, S, E, M] float32, memory-mapped
    archs: np.ndarray  # [A] int64
    present: np.ndarray  # [A, S] bool
    manifest: dict | None = None  # file name -> {"bytes", "sha256"}; None for older sub-stores
    _costs: dict[str, np.ndarray] | None = field(default=None, repr=False)
    derived_cache: Any = field(default=None, repr=False)  # nb201.benchmark.store.derived.columns_of

    @property
    def split(self) -> str:
        return self.meta["split"]

    @property
    def hp(self) -> str:
        return self.meta["hp"]

    @property
    def seeds(self) -> list[int]:
        return self.meta["seeds"]

    @property
    def metrics(self) -> list[str]:
        return self.meta["metrics"]

    @property
    def num_epochs(self) -> int:
        return self.meta["num_epochs"]

    def costs(self) -> dict[str, np.ndarray]:
        """Per-arch costs, read (and checked against the manifest) once."""
        if self._costs is None:
            self._costs = self._read_costs()
        return self._costs

    def _read_costs(self) -> dict[str, np.ndarray]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path / COSTS
        try:
            raw = path.read_bytes()
            _check_hash(path, raw, self.manifest)
            table = pq.read_table(pa.BufferReader(raw))
        except FileNotFoundError:
            raise StoreError(
                f"{path} is missing; the sub-store is incomplete. Re-aggregate or re-import it."
            ) from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise StoreError(
                f"{path} is not a readable Parquet file ({exc}); re-aggregate or re-import it."
            ) from None
        out = {name: table.column(name).to_numpy() for name in table.column_names}
        if not np.array_equal(out.get("arch_index", np.array([])), self.archs):
            raise StoreError(
                f"{path} does not list the same architectures as {self.path / ARCHS}; re-aggregate it."
            )
        return out

    def verify(self) -> None:
        """Full check: recompute the SHA-256 of every file against the manifest (reads
        everything), and check that the tidy table has the metric columns meta.json names."""
        if self.manifest is None:  # written before manifests: data.npy's hash is all there is
            _check_hash(self.path / DATA, None, {DATA: {"sha256": self.meta.get("data_sha256")}})
            return
        for name in self.manifest:
            _check_hash(self.path / name, None, self.manifest)
        if (self.path / TABLE).is_file():
            import pyarrow.parquet as pq

            columns = pq.read_schema(self.path / TABLE).names
            want = ["arch_index", "arch", "seed", "epoch", *self.meta["base_metrics"]]
            if columns != want:
                raise StoreError(
                    f"{self.path / TABLE} has columns {columns}, but {self.path / META} names {want}; "
                    "the files do not belong together. Re-aggregate or re-import it."
                )


def _check_hash(path: Path, raw: bytes | None, manifest: Mapping[str, Any] | None) -> None:
    """Raise StoreError unless `path` (or its bytes `raw`) has the manifest's SHA-256."""
    entry = (manifest or {}).get(path.name)
    if not entry:
        return
    if raw is not None:
        digest = hashlib.sha256(raw).hexdigest()
    else:
        try:
            digest = sha256_file(path)
        except FileNotFoundError:
            raise StoreError(f"{path} is missing; re-aggregate or re-import the sub-store.") from None
    if digest != entry.get("sha256"):
        source = path.parent / (MANIFEST if path.name != DATA else META)
        raise StoreError(
            f"{path} is corrupt or was edited: its SHA-256 {digest[:12]}... differs from the one in "
            f"{source} ({str(entry.get('sha256'))[:12]}...). "
            "Re-aggregate or re-import it."
        )


def read_meta(folder: Path, raw: bytes | None = None) -> dict:
    path = folder / META
    try:
        meta = json.loads(path.read_bytes() if raw is None else raw)
    except FileNotFoundError:
        raise StoreError(
            f"{path} is missing: {folder} is not an nb201 sub-store. Re-aggregate or re-import it."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is corrupt ({exc}); re-aggregate or re-import the sub-store.") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise StoreError(
            f"{path} is not an nb201 sub-store description "
            f"(schema {meta.get('schema') if isinstance(meta, dict) else None!r}, expected {SCHEMA!r})."
        )
    return meta


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is corrupt ({exc}); re-aggregate or re-import the sub-store.") from None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("schema") == MANIFEST_SCHEMA else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise StoreError(f"{path} is not an {MANIFEST_SCHEMA} manifest; re-aggregate or re-import it.")
    return files


def _check_size(path: Path, expected: Any, source: Path) -> int:
    """Raise StoreError unless `path` exists with the size `source` (a manifest or meta.json) gives."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; re-aggregate or re-import the sub-store.") from None
    if size != expected:
        raise StoreError(
            f"{path} is truncated or corrupt: {size} bytes on disk, {expected} expected "
            f"from {source}. Re-aggregate or re-import it."
        )
    return size


def _check_sizes(folder: Path, manifest: dict) -> None:
    for name, entry in manifest.items():
        _check_size(folder / name, entry.get("bytes"), folder / MANIFEST)


def _check_meta(folder: Path, meta: dict) -> tuple[int, int, int, int]:
    """The structure meta.json describes must hang together; returns the data shape."""

    def bad(what: str) -> StoreError:
        return StoreError(
            f"{folder / META} is inconsistent: {what}. Re-aggregate or re-import the sub-store."
        )

    shape = meta.get("shape")
    if not isinstance(shape, list) or len(shape) != 4 or not all(type(n) is int and n > 0 for n in shape):
        raise bad(f"shape {shape!r} is not four positive integers")
    metrics, base, seeds = meta.get("metrics"), meta.get("base_metrics"), meta.get("seeds")
    if not isinstance(metrics, list) or len(metrics) != shape[3] or len(set(metrics)) != len(metrics):
        raise bad(f"{shape[3]} metric columns, but metrics lists {metrics!r}")
    derived = [running_sum(m) for m in base or [] if _is_time(m)]
    if not isinstance(base, list) or metrics != base + derived:
        raise bad("metrics is not base_metrics followed by their running time sums")
    if not isinstance(seeds, list) or len(seeds) != shape[1] or len(set(seeds)) != len(seeds):
        raise bad(f"{shape[1]} seed columns, but seeds lists {seeds!r}")
    if meta.get("num_epochs") != shape[2] or meta.get("num_archs", shape[0]) != shape[0]:
        raise bad(f"num_epochs/num_archs disagree with shape {shape}")
    return tuple(shape)  # type: ignore[return-value]


def open_substore(folder: str | Path, verify: bool = False) -> Substore:
    """Open one sub-store: cheap structural checks always (see the module docstring),
    every file's SHA-256 when `verify`."""
    folder = Path(folder)
    try:
        raw_meta = (folder / META).read_bytes()
    except FileNotFoundError:
        raw_meta = None  # read_meta names it
    meta = read_meta(folder, raw_meta)
    manifest = _read_manifest(folder)
    if manifest is not None:
        _check_sizes(folder, manifest)
    _check_hash(folder / META, raw_meta, manifest)
    shape = _check_meta(folder, meta)
    data_path = folder / DATA
    size = _check_size(data_path, meta.get("data_bytes"), folder / META)
    if not verify and size <= HASH_AT_OPEN:  # small: hashing costs less than a query plan
        _check_hash(data_path, None, {DATA: {"sha256": meta.get("data_sha256")}})
    try:
        data = np.load(data_path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise StoreError(
            f"{data_path} is not a valid .npy file ({exc}); re-aggregate or re-import it."
        ) from None
    if data.shape != shape or data.dtype != np.float32:
        raise StoreError(
            f"{data_path} holds {data.dtype}{list(data.shape)}, "
            f"but {folder / META} says float32{list(shape)}; "
            "the files do not belong together. Re-aggregate or re-import it."
        )
    archs = _load_small(folder / ARCHS, (shape[0],), np.int64, manifest)
    if len(archs) and (archs[0] < 0 or archs[-1] >= NUM_ARCHS or not np.all(np.diff(archs) > 0)):
        raise StoreError(
            f"{folder / ARCHS} is not a sorted list of distinct arch indices in [0, {NUM_ARCHS - 1}]; "
            "re-aggregate or re-import the sub-store."
        )
    present = _load_small(folder / PRESENT, (shape[0], shape[1]), np.bool_, manifest)
    sub = Substore(
        path=folder, meta=meta, data=data.view(np.ndarray), archs=archs, present=present, manifest=manifest
    )
    if verify:
        sub.verify()
    return sub


def _load_small(path: Path, shape: tuple[int, ...], dtype: Any, manifest: dict | None = None) -> np.ndarray:
    try:
        raw = path.read_bytes()
        _check_hash(path, raw, manifest)
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; re-aggregate or re-import the sub-store.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise StoreError(
            f"{path} is truncated or corrupt ({exc}); re-aggregate or re-import the sub-store."
        ) from None
    if arr.shape != shape or arr.dtype != dtype:
        raise StoreError(
            f"{path} holds {arr.dtype}{list(arr.shape)}; expected {np.dtype(dtype)}{list(shape)}."
        )
    return arr


def list_substores(root: str | Path) -> list[Path]:
    """Sub-store folders of a benchmark, sorted."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and SEP in p.name and not p.name.startswith("."))


def provenance(root: str | Path) -> list[dict[str, Any]]:
    """One row per sub-store saying how it was made: fidelity, seeds, machines, compute.

    A benchmark is only as credible as its protocol and its price; reports print this so a
    reader sees both without opening meta.json."""
    rows = []
    for path in list_substores(root):
        meta = read_meta(path)
        spent = meta.get("compute") or {}
        machines = sorted(
            {
                " · ".join(str(e[k]) for k in ("hostname", "device_name", "platform") if e.get(k))
                + (f" · {e['threads']} thread(s)" if e.get("threads") else "")
                for e in meta.get("environments") or []
            }
        )
        rows.append(
            {
                "sub-store": path.name,
                "source": meta.get("source"),
                "fidelity": meta.get("fidelity"),
                "seeds": meta.get("seeds"),
                "archs": meta.get("shape", [None])[0],
                "runs": spent.get("runs"),
                "CPU hours": spent.get("cpu_hours"),
                "CPU s / run": spent.get("cpu_seconds_per_run"),
                "wall s / run": spent.get("wall_seconds_per_run"),
                "machines": machines,
                "software": sorted(
                    {
                        f"torch {e.get('torch')}, nb201 {e.get('nb201')}"
                        for e in meta.get("environments") or []
                    }
                ),
            }
        )
    return rows


def iter_specs(root: str | Path) -> Iterable[tuple[str, str, Path]]:
    for p in list_substores(root):
        split, _, hp = p.name.partition(SEP)
        yield split, hp, p
