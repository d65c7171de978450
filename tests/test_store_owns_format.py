"""The store owns its format (issue 21, item 3): derived per-arch columns are written and
read through `nb201.benchmark.store`, re-aggregation keeps them (or says they are stale),
and no module outside the store writes inside a benchmark folder."""

from __future__ import annotations

import builtins
import inspect
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from nb201.benchmark import Benchmark
from nb201.benchmark.store import derived_blocks, open_substore, write_benchmark, write_columns
from nb201.benchmark.store.format import StoreError, StoreKeyError

SUB = REPO / "data" / "benchmarks" / "cifar10-cpu" / "cifar10-jpeg__cpu-cifar"


def _bench(tmp_path: Path, archs=(1, 5, 9)) -> Path:
    values = np.arange(len(archs) * 2 * 3, dtype=np.float32).reshape(len(archs), 1, 2, 3)
    write_benchmark(
        tmp_path / "b",
        split="s",
        hp="h",
        arch_indices=list(archs),
        seeds=[0],
        metrics=["a", "b", "c"],
        values=values,
    )
    return tmp_path / "b" / "s__h"


def test_write_columns_round_trip_keeps_meta_and_manifest_consistent(tmp_path):
    import pandas as pd

    sub = _bench(tmp_path)

    table = pd.DataFrame({"arch_index": [9, 1, 5], "my-score": [0.9, 0.1, 0.5]})
    block = write_columns(sub, "score", table, {"producer": "a test"}, compute={"extra_s": 1.0})
    assert block["file"] == "score.parquet" and block["columns"] == ["my-score"] and block["archs"] == 3
    opened = open_substore(sub, verify=True)  # the manifest covers the new file and meta.json
    assert derived_blocks(opened.meta)["score"] == block and opened.meta["compute"]["extra_s"] == 1.0
    bench = Benchmark.open(sub.parent)
    assert bench.metrics([5, 9], "my-score", dataset="s").tolist() == [0.5, 0.9]
    # the file is checked against the manifest: an edit is caught when it is read
    pq.write_table(pq.read_table(sub / "score.parquet").slice(0, 2), sub / "score.parquet")
    with pytest.raises(StoreError):
        Benchmark.open(sub.parent).metrics([5], "my-score", dataset="s")


def test_write_columns_refuses_bad_tables_and_names(tmp_path):
    import pandas as pd

    sub = _bench(tmp_path)
    with pytest.raises(ValueError, match="arch_index"):
        write_columns(sub, "x", pd.DataFrame({"v": [1.0]}), {})
    with pytest.raises(ValueError, match="distinct"):
        write_columns(sub, "x", pd.DataFrame({"arch_index": [1, 1], "v": [1.0, 2.0]}), {})
    with pytest.raises(ValueError, match="store's own files"):
        write_columns(sub, "costs", pd.DataFrame({"arch_index": [1], "v": [1.0]}), {})
    assert "derived" not in open_substore(sub).meta  # nothing was written


def test_committed_ranking_is_read_through_the_store():
    """The committed benchmark's ranking set (an older meta.json layout) reads as the set `ranking`."""
    meta = json.loads((SUB / "meta.json").read_text())
    assert derived_blocks(meta)["ranking"]["name"] == "ranking-score"
    bench = Benchmark.open(SUB.parent)
    idx = np.asarray(bench.evaluated_indexes)
    assert np.isfinite(bench.metrics(idx, "ranking-score")).all()


# ---- re-aggregation keeps derived columns -------------------------------------------------
def _records(tmp_path: Path) -> Path:
    from nb201.train import sweep

    out = tmp_path / "runs"
    import nb201.space as space

    summary = sweep(
        [space.Arch.from_index(i) for i in (11472, 7)],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity={"epochs": 1},
        out_dir=out,
        progress=False,
    )
    assert summary.done == 2
    return out


def test_reaggregation_keeps_derived_columns_and_marks_them_stale(tmp_path):
    import pandas as pd
    import torch

    from nb201.benchmark.store.aggregate import aggregate

    torch.set_num_threads(1)
    runs = _records(tmp_path)
    files = sorted(runs.glob("*.json"))
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy2(files[0], part / files[0].name)
    aggregate(part, tmp_path / "bench")
    (sub,) = [p for p in (tmp_path / "bench").iterdir() if p.is_dir()]
    held = open_substore(sub).archs.tolist()
    write_columns(
        sub, "ranking", pd.DataFrame({"arch_index": held, "ranking-score": [0.5]}), {"producer": "t"}
    )
    shutil.copy2(files[1], part / files[1].name)  # a new arch arrives
    report = aggregate(part, tmp_path / "bench")
    state = report.substores[sub.name].derived["ranking"]
    assert state != "kept" and state["archs_without_values"] == 1 and "re-run" in state["fix"]
    assert "stale" in str(report)
    bench = Benchmark.open(tmp_path / "bench")
    assert bench.metrics(held, "ranking-score").tolist() == [0.5]  # kept, not dropped
    new = sorted(set(bench.evaluated_indexes) - set(held))
    with pytest.raises(StoreKeyError, match="re-run the producer"):
        bench.metrics(new, "ranking-score")
    assert (
        derived_blocks(open_substore(sub, verify=True).meta)["ranking"]["stale"]["archs_without_values"] == 1
    )


# ---- no module outside the store writes inside a benchmark folder -------------------------
_HELPERS = ("nb201.fsutil", "nb201.util")


class _Writes:
    """Records, for every write into `root`, the first nb201 module on the stack that is
    not a file helper (nb201.fsutil / nb201.util): the module responsible for the write."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.by: list[tuple[str, str]] = []

    def note(self, target) -> None:
        try:
            path = Path(os.fsdecode(target)).resolve()
        except TypeError:
            return
        if not path.is_relative_to(self.root):
            return
        for frame in inspect.stack()[2:]:
            name = frame.frame.f_globals.get("__name__", "")
            if name.startswith("nb201.") and not name.startswith(_HELPERS):
                self.by.append((name, str(path.relative_to(self.root))))
                return
        self.by.append(("<no nb201 module>", str(path)))


@pytest.fixture
def writes(monkeypatch, tmp_path):
    rec = _Writes(tmp_path / "bench")
    real_open, real_replace, real_rename = builtins.open, os.replace, os.rename
    real_write_table, real_writer_init = pq.write_table, pq.ParquetWriter.__init__
    real_save, real_memmap = np.save, np.lib.format.open_memmap

    def fake_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            rec.note(file)
        return real_open(file, mode, *a, **k)

    def fake_write_table(table, where, *a, **k):
        rec.note(where)
        return real_write_table(table, where, *a, **k)

    def fake_writer_init(self, where, *a, **k):
        rec.note(where)
        return real_writer_init(self, where, *a, **k)

    def fake_save(file, *a, **k):
        rec.note(file)
        return real_save(file, *a, **k)

    def fake_memmap(filename, mode="r+", *a, **k):
        if mode != "r":
            rec.note(filename)
        return real_memmap(filename, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "replace", lambda s, d, **k: (rec.note(d), real_replace(s, d, **k))[1])
    monkeypatch.setattr(os, "rename", lambda s, d, **k: (rec.note(d), real_rename(s, d, **k))[1])
    monkeypatch.setattr(pq, "write_table", fake_write_table)
    monkeypatch.setattr(pq.ParquetWriter, "__init__", fake_writer_init)
    monkeypatch.setattr(np, "save", fake_save)
    monkeypatch.setattr(np.lib.format, "open_memmap", fake_memmap)
    return rec


def test_only_the_store_writes_benchmark_folders(tmp_path, writes):
    """Aggregation, the ranking post-step and the whole-space writer all touch benchmark
    folders; every write they make is made by a module of nb201.benchmark.store."""
    import pandas as pd
    import torch

    from nb201.benchmark.store.aggregate import aggregate
    from nb201.fidelity import ranking as R

    torch.set_num_threads(1)
    runs = _records(tmp_path)
    aggregate(runs, tmp_path / "bench")
    (sub,) = [p for p in (tmp_path / "bench").iterdir() if p.is_dir()]
    archs = open_substore(sub).archs
    R._write_ranking(
        sub,
        pd.DataFrame({"arch_index": archs, R.SCORE_NAME: np.arange(len(archs), dtype=float)}),
        {"core_seconds_per_arch": {"proxies": 0.0, "benchmark_total": 1.0}},
    )
    write_benchmark(
        tmp_path / "bench",
        split="whole",
        hp="200",
        arch_indices=[0, 1],
        seeds=[0],
        metrics=["x-test-accuracy"],
        values=np.ones((2, 1, 1, 1), dtype=np.float32),
        derived={"estimate": (pd.DataFrame({"arch_index": [0, 1], "estimate-std": [0.1, 0.2]}), {})},
    )
    assert writes.by, "the writers were not observed"
    outside = sorted({(m, p) for m, p in writes.by if not m.startswith("nb201.benchmark.store")})
    assert not outside, f"modules outside nb201.benchmark.store wrote benchmark files: {outside}"
    assert {m for m, _ in writes.by} >= {"nb201.benchmark.store.format", "nb201.benchmark.store.derived"}


def test_no_module_outside_the_store_names_a_store_file_writer():
    """Source check, beside the runtime one: the store's private writers and its file names
    are used only inside nb201.benchmark.store."""
    src = REPO / "src" / "nb201"
    forbidden = ("refresh_manifest", "_write_manifest", "manifest.json", "ranking.parquet", "open_memmap")
    found = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src)
        if rel.parts[:2] == ("benchmark", "store"):
            continue
        text = path.read_text()
        found += [f"{rel}: {word}" for word in forbidden if word in text]
    assert not found, found
