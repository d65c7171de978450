"""Derived per-architecture columns of a sub-store: written and read here, nowhere else.

Some numbers belong to an architecture, not to an (epoch, seed): the ranking score of
`nb201.fidelity.ranking`, the zero-cost proxies that ride along with it, the whole-space
estimate and its uncertainty (`nb201.fidelity.estimate`). A sub-store keeps each such set
as one Parquet file `<name>.parquet` (column `arch_index` plus value columns) and one block
in `meta.json` under `derived` -> `<name>`: the file, its columns and whatever provenance
the producer states (method, calibration, cost). The manifest covers the file like any
other, so an edited or truncated column file fails at open.

* `write_columns` adds or replaces one set in an existing sub-store: the sub-store is
  copied, changed and swapped in with one rename (readers see the old or the new, never a
  meta.json naming a file that is not there), with its manifest rewritten.
* `derived_tables` hands a sub-store's sets to `write_benchmark` when a sub-store is
  rebuilt (`nb201 aggregate`), so re-aggregating keeps them; an architecture a set lacks
  is recorded in the block as `stale` (how many, and how to refresh it) instead of
  silently dropped.
* `columns_of(sub)` reads them, checked, once per opened sub-store.

Sub-stores written before this layout carry a `ranking_metric` block for `ranking.parquet`;
it is read as the set named `ranking`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb201.benchmark.store.format import (
    DERIVED,
    LEGACY,
    META,
    StoreError,
    StoreKeyError,
    Substore,
    _check_hash,
    _write_manifest,
    block_for,
    check_table,
    column_file,
    derived_blocks,
    open_substore,
    read_meta,
)
from nb201.fsutil import fsync_dir, fsync_tree, replace_dir
from nb201.util import json_default, utc_stamp

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def write_columns(
    folder: str | Path,
    name: str,
    table: pd.DataFrame | pa.Table,
    block: Mapping[str, Any],
    compute: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Add or replace the derived set `name` of the sub-store `folder`: `<name>.parquet`
    from `table` (`arch_index` + value columns) and `meta.json`'s `derived.<name>` block
    (`block` + file and columns), `compute` merged into meta.json's `compute`, the manifest
    rewritten; all in one atomic swap of the sub-store. The sub-store is verified first
    (a damaged one is not built upon). Returns the block written."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    open_substore(folder, verify=True)
    tbl = check_table(name, table)
    written = block_for(name, tbl, block)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(folder, tmp)
    try:
        pq.write_table(tbl, tmp / written["file"])
        meta = json.loads((tmp / META).read_text())
        for key, legacy in LEGACY.items():
            if legacy == name:
                meta.pop(key, None)
        meta.setdefault(DERIVED, {})[name] = written
        if compute:
            meta.setdefault("compute", {}).update(dict(compute))
        (tmp / META).write_text(json.dumps(meta, indent=1, default=json_default))
        (tmp / "manifest.json").unlink(missing_ok=True)
        _write_manifest(tmp, known={"data.npy": meta["data_sha256"]})
        fsync_tree(tmp)
        replace_dir(tmp, folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def derived_tables(folder: str | Path, archs: np.ndarray) -> dict[str, tuple[pa.Table, dict[str, Any]]]:
    """The derived sets of the sub-store `folder`, to be written again with a rebuilt
    sub-store that holds `archs`: each set's table (rows of archs no longer held dropped) and
    its block, marked `stale` when some of `archs` have no value (say how many, and that the
    producer must be re-run), and unmarked when it covers them all."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    out: dict[str, tuple[pa.Table, dict[str, Any]]] = {}
    for name, block in derived_blocks(read_meta(folder)).items():
        path = folder / block.get("file", column_file(name))
        if not path.is_file():
            continue
        table = pq.read_table(path)
        have = np.asarray(table.column("arch_index").to_numpy(zero_copy_only=False))
        keep = np.isin(have, archs)
        if not keep.all():
            table = table.filter(keep)
        lacking = int(np.setdiff1d(archs, have).size)
        block = {k: v for k, v in block.items() if k != "stale"}
        if lacking:
            block["stale"] = {
                "archs_without_values": lacking,
                "since": utc_stamp(),
                "fix": f"re-run the producer of {name!r} ({block.get('producer', 'see its block')}) "
                "on the re-aggregated sub-store",
            }
        out[name] = (table, block)
    return out


class DerivedColumns:
    """A sub-store's derived sets, read once: `column(metric, idx)` gives one value per index."""

    def __init__(self, folder: Path, meta: Mapping[str, Any], manifest: Mapping[str, Any] | None):
        self.folder = folder
        self.blocks = derived_blocks(meta)
        self._manifest = manifest
        self._columns: dict[str, tuple[str, np.ndarray, np.ndarray]] | None = None

    def names(self) -> list[str]:
        """Every derived column name (`ranking-score`, `estimate-std`, ...)."""
        return sorted(c for b in self.blocks.values() for c in b.get("columns", []))

    def block_of(self, column: str) -> tuple[str, dict[str, Any]] | None:
        """(set name, block) of the set that holds `column`, or None."""
        for name, block in self.blocks.items():
            if column in block.get("columns", []):
                return name, block
        self._load()
        for col, (name, _, _) in (self._columns or {}).items():
            if col == column:
                return name, self.blocks[name]
        return None

    def _load(self) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
        if self._columns is None:
            self._columns = {}
            for name, block in self.blocks.items():
                self._columns.update(self._read(name, block))
        return self._columns

    def _read(self, name: str, block: Mapping[str, Any]) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from nb201.space import NUM_ARCHS

        path = self.folder / block.get("file", column_file(name))
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"{path} is missing, but {self.folder / 'meta.json'} declares the derived set {name!r}; "
                "re-run its producer or re-aggregate the sub-store."
            ) from None
        _check_hash(path, raw, self._manifest)
        table = pq.read_table(pa.BufferReader(raw))
        idx = np.asarray(table.column("arch_index").to_numpy(zero_copy_only=False), dtype=np.int64)
        pos = np.full(NUM_ARCHS, -1, dtype=np.int64)
        pos[idx] = np.arange(len(idx))
        return {
            c: (name, pos, np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float64))
            for c in table.column_names
            if c != "arch_index"
        }

    def column(self, metric: str, idx: np.ndarray) -> np.ndarray | None:
        """`metric` for the official indices `idx` (float64), None when no set holds it.
        StoreKeyError when the set lacks some of them (a stale set says how to refresh it)."""
        found = self._load().get(metric)
        if found is None:
            return None
        name, pos, values = found
        rows = pos[idx]
        if len(rows) and rows.min() < 0:
            missing = np.unique(idx[rows < 0])
            stale = self.blocks[name].get("stale")
            hint = stale["fix"] if stale else f"re-run the producer of {name!r}"
            raise StoreKeyError(
                f"{metric!r} has no value for {len(missing)} of these architectures (e.g. "
                f"{missing[:5].tolist()}) in {self.folder}: {hint}."
            )
        return values[rows]


def columns_of(sub: Substore) -> DerivedColumns:
    """The derived per-arch columns of an opened sub-store (ranking score, estimate, ...),
    read and checked against its manifest on first use, then kept with the sub-store."""
    if sub.derived_cache is None:
        sub.derived_cache = DerivedColumns(sub.path, sub.meta, sub.manifest)
    return sub.derived_cache
