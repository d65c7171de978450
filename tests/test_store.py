"""The store: dense writer round trips, corrupt files, and aggregation of real run records
(incremental, duplicates, failed, degenerate, conflicting and malformed records)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nb201.benchmark import Benchmark
from nb201.benchmark.store import StoreError, open_substore, provenance, write_benchmark
from nb201.benchmark.store.aggregate import InvalidRecordsError, aggregate, hp_label
from nb201.space import Arch
from nb201.train import resolve_config

METRICS = ["train-loss", "train-accuracy", "train-time", "x-valid-accuracy", "x-valid-loss", "x-valid-time"]

# ---- dense writer -----------------------------------------------------------------------


def _dense(archs, seeds, epochs, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 100, size=(len(archs), len(seeds), epochs, len(METRICS))).astype(np.float32)


def test_write_benchmark_round_trip(tmp_path):
    archs, seeds = [900, 5, 42], [777, 888]
    values = _dense(archs, seeds, 4)
    values[1, 1] = np.nan  # arch 5 has no seed-888 run
    folder = write_benchmark(
        tmp_path,
        split="digits",
        hp="x",
        arch_indices=archs,
        seeds=seeds,
        metrics=METRICS,
        values=values,
        costs={"flops": [3.0, 1.0, 2.0], "params": [0.3, 0.1, 0.2], "latency": [0.03, 0.01, 0.02]},
        meta={"preset": "x"},
    )
    sub = open_substore(folder, verify=True)
    assert sub.archs.tolist() == [5, 42, 900]  # rows sorted by official index
    order = [1, 2, 0]
    np.testing.assert_array_equal(sub.data[:, :, :, : len(METRICS)], values[order])
    assert sub.present.tolist() == [[True, False], [True, True], [True, True]]
    # derived running sums
    k = sub.metrics.index("train-all-time")
    np.testing.assert_allclose(sub.data[..., k], np.cumsum(values[order][..., 2], axis=2), rtol=1e-6)
    assert np.isnan(sub.data[0, 1]).all()
    assert sub.meta["units"]["train-accuracy"] == "percent" and sub.meta["preset"] == "x"
    assert sub.costs()["flops"].tolist() == [1.0, 2.0, 3.0]
    # the tidy table holds the same numbers, one row per (arch, seed, epoch) that exists
    con = duckdb.connect()
    table = folder / "table.parquet"
    rows = con.execute(
        f"select arch_index, seed, epoch, \"train-loss\", arch from '{table}' order by 1, 2, 3"
    ).fetchall()
    assert len(rows) == 5 * 4
    assert rows[0][:3] == (5, 777, 0) and rows[0][3] == pytest.approx(float(values[1, 0, 0, 0]))
    assert rows[0][4] == str(Arch.from_index(5))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    archs=st.lists(st.integers(0, 15624), min_size=1, max_size=6, unique=True),
    n_seeds=st.integers(1, 3),
    epochs=st.integers(1, 5),
    data=st.data(),
)
def test_metrics_equal_written_values(tmp_path_factory, archs, n_seeds, epochs, data):
    """Whatever is written is what `metrics` and `get_more_info` read back, cell by cell."""
    root = tmp_path_factory.mktemp("prop")
    seeds = [777 + k for k in range(n_seeds)]
    values = _dense(archs, seeds, epochs, seed=len(archs))
    write_benchmark(
        root, split="digits", hp="1", arch_indices=archs, seeds=seeds, metrics=METRICS, values=values
    )
    b = Benchmark.open(root)
    a = data.draw(st.integers(0, len(archs) - 1))
    s = data.draw(st.integers(0, n_seeds - 1))
    e = data.draw(st.integers(0, epochs - 1))
    got = b.metrics([archs[a]], "x-valid-accuracy", epoch=e, seeds=seeds[s], dataset="digits")
    assert got[0] == values[a, s, e, 3]
    info = b.get_more_info(archs[a], "digits", iepoch=e, is_random=seeds[s])
    assert info["train-loss"] == values[a, s, e, 0]
    assert info["train-all-time"] == pytest.approx(values[a, s, : e + 1, 2].sum(dtype=np.float64), rel=1e-6)
    assert info["valid-per-time"] == pytest.approx(
        values[a, s, : e + 1, 5].sum(dtype=np.float64) / (e + 1), rel=1e-6
    )
    mean = b.metrics([archs[a]], "train-accuracy", epoch=e, dataset="digits")[0]
    assert mean == pytest.approx(values[a, :, e, 1].mean(dtype=np.float64), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"values": np.zeros((2, 1, 3, 6), np.float32)}, "expected \\[archs=1"),
        ({"arch_indices": [15625]}, "\\[0, 15624\\]"),
        ({"metrics": ["a"] * 6}, "duplicate metric"),
        ({"metrics": METRICS[:-1] + ["x-valid-all-time"]}, "derived"),
        ({"split": "a__b"}, "contain neither"),
        ({"seeds": [1, 1], "values": np.zeros((1, 2, 3, 6), np.float32)}, "duplicate seeds"),
    ],
)
def test_write_benchmark_bad_input(tmp_path, kwargs, match):
    args = dict(
        split="digits",
        hp="1",
        arch_indices=[3],
        seeds=[1],
        metrics=METRICS,
        values=np.zeros((1, 1, 3, 6), np.float32),
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        write_benchmark(tmp_path, **args)


def _small(tmp_path) -> Path:
    return write_benchmark(
        tmp_path,
        split="digits",
        hp="1",
        arch_indices=[1, 2],
        seeds=[7],
        metrics=METRICS,
        values=_dense([1, 2], [7], 3),
    )


def test_truncated_data_file_is_named(tmp_path):
    folder = _small(tmp_path)
    data = folder / "data.npy"
    data.write_bytes(data.read_bytes()[:-10])
    with pytest.raises(StoreError, match=r"data\.npy is truncated"):
        Benchmark.open(tmp_path).get_more_info(1, "digits")


def test_corrupt_data_detected_by_checksum(tmp_path):
    folder = _small(tmp_path)
    raw = bytearray((folder / "data.npy").read_bytes())
    raw[-5] ^= 0xFF
    (folder / "data.npy").write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="SHA-256"):
        open_substore(folder)  # same size, but a small data file is hashed on every open
    with pytest.raises(StoreError, match="SHA-256"):
        open_substore(folder, verify=True)
    with pytest.raises(StoreError, match="SHA-256"):
        Benchmark.open(tmp_path, verify=True)


@pytest.mark.parametrize(
    "victim, content, match",
    [
        ("meta.json", "{not json", "meta.json is corrupt"),
        ("meta.json", '{"schema": "other"}', "not an nb201 sub-store"),
        ("archs.npy", "garbage", "archs.npy is truncated or corrupt"),
        ("present.npy", None, "present.npy is missing"),
        ("costs.parquet", "garbage", "costs.parquet is (not a readable Parquet|truncated or corrupt)"),
    ],
)
def test_corrupt_side_files_are_named(tmp_path, victim, content, match):
    folder = _small(tmp_path)
    if content is None:
        (folder / victim).unlink()
    else:
        (folder / victim).write_text(content)
    with pytest.raises(StoreError, match=match):
        b = Benchmark.open(tmp_path)
        b.get_cost_info(1, "digits")


def test_open_rejects_non_benchmarks(tmp_path):
    with pytest.raises(FileNotFoundError, match="no benchmark"):
        Benchmark.open(tmp_path / "absent")
    (tmp_path / "f.pth").write_bytes(b"x")
    with pytest.raises(StoreError, match="nb201 import"):
        Benchmark.open(tmp_path / "f.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no <split>__<hp>/ sub-stores"):
        Benchmark.open(tmp_path / "empty")


# ---- aggregation of real run records -------------------------------------------------------

ARCHS = [Arch.from_index(i) for i in (11472, 7)]
DEGENERATE = next(a for a in (Arch.from_index(i) for i in range(200)) if a.is_degenerate())
SEEDS = [777, 888]
FIDELITY = {"epochs": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Real records: 2 archs + 1 degenerate cell, 2 seeds, 2 epochs of digits-cheap."""
    from nb201.train import sweep

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs")
    summary = sweep(
        ARCHS + [DEGENERATE],
        "digits",
        "digits-cheap",
        seeds=SEEDS,
        fidelity=FIDELITY,
        out_dir=out,
        progress=False,
    )
    assert not summary.failed and summary.done == 4 and summary.degenerate == 2
    return out


def _records(folder: Path) -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


HP = hp_label("digits-cheap", FIDELITY)


def test_aggregate_matches_records(runs, tmp_path):
    report = aggregate(runs, tmp_path / "bench")
    name = f"digits__{HP}"
    r = report.substores[name]
    assert (r.archs, r.seeds, r.runs, r.added, r.degenerate) == (3, SEEDS, 6, 6, 2)
    assert r.coverage == 1.0 and not r.missing and not r.failed and not r.duplicates
    b = Benchmark.open(tmp_path / "bench")
    assert b.hps("digits") == [HP]
    for _, rec in _records(runs):
        idx, seed = rec["arch_index"], rec["spec"]["seed"]
        for e, row in enumerate(rec["epochs"]):
            info = b.get_more_info(idx, "digits", iepoch=e, is_random=seed)
            assert info["train-accuracy"] == pytest.approx(row["train-accuracy"], rel=1e-6)
            assert info["valid-loss"] == pytest.approx(row["x-valid-loss"], rel=1e-6)
            assert info["test-accuracy"] == pytest.approx(row["x-test-accuracy"], rel=1e-6)
            assert info["valtest-accuracy"] == pytest.approx(row["ori-test-accuracy"], rel=1e-6)
            assert info["train-all-time"] == pytest.approx(
                sum(x["train-time"] for x in rec["epochs"][: e + 1]), rel=1e-5
            )
        cost = b.get_cost_info(idx, "digits")
        assert cost["flops"] == pytest.approx(rec["cost"]["flops"]) and cost["params"] == pytest.approx(
            rec["cost"]["params"]
        )
    # degenerate cells are in, at chance level (10 classes)
    assert b.get_more_info(DEGENERATE.index, "digits", is_random=False)["valid-accuracy"] == pytest.approx(
        10.0
    )
    meta = json.loads((tmp_path / "bench" / f"digits__{HP}" / "meta.json").read_text())
    assert meta["config"]["epochs"] == 2 and meta["source"] == "nb201 run records"
    assert meta["fidelity_overrides"] == FIDELITY and meta["environments"][0]["torch"] == torch.__version__
    spelled_out = {k: meta["config"][k] for k in ("C", "N", "epochs", "batch_size", "lr", "schedule")}
    assert {k: meta["fidelity"][k] for k in spelled_out} == {**spelled_out, **FIDELITY}
    assert meta["environments"][0]["hostname"] and meta["environments"][0]["device"] == "cpu"
    records = [rec for _, rec in _records(runs)]
    spent = meta["compute"]  # the price of the benchmark, from the runs' own clocks
    assert spent["runs"] == spent["runs_timed"] == len(records)
    assert spent["cpu_seconds"] == pytest.approx(sum(r["cpu_time"] for r in records), abs=0.1)
    assert spent["wall_seconds"] == pytest.approx(sum(r["wall_time"] for r in records), abs=0.1)
    (made,) = provenance(tmp_path / "bench")  # what the reports print of it
    assert made["sub-store"] == name and made["runs"] == len(records) and made["seeds"] == SEEDS
    assert made["fidelity"]["epochs"] == 2 and made["machines"][0].startswith(records[0]["env"]["hostname"])
    assert meta["original_api_keys"] == {
        "valid-*": "x-valid-*",
        "test-*": "x-test-*",
        "valtest-*": "ori-test-*",
    }
    assert json.loads((tmp_path / "bench" / "report.json").read_text())["substores"][name]["runs"] == 6


def test_benchmark_committed_with_its_records_is_known_in_another_clone(runs, tmp_path):
    """Record files are named relative to the benchmark: a clone (new paths, new mtimes)
    re-reads the records, finds every one already included, and rewrites nothing."""
    repo = tmp_path / "repo"
    shutil.copytree(runs, repo / "runs")
    aggregate(repo / "runs", repo / "bench")
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone, copy_function=shutil.copy)  # as git does: fresh mtimes
    data = clone / "bench" / f"digits__{HP}" / "data.npy"
    stamp = data.stat().st_mtime_ns
    again = aggregate(clone / "runs", clone / "bench")
    sub = again.substores[f"digits__{HP}"]
    assert again.new_files == len(_records(runs)) and not again.malformed  # mtimes differ: re-read
    assert (sub.added, sub.duplicates, sub.conflicts, sub.runs) == (0, [], [], len(_records(runs)))
    assert data.stat().st_mtime_ns == stamp  # nothing new: not rewritten


def test_aggregate_is_incremental(runs, tmp_path):
    files = _records(runs)
    part = tmp_path / "part"
    part.mkdir()
    for p, _ in files[:3]:
        shutil.copy2(p, part / p.name)
    first = aggregate(part, tmp_path / "bench")
    assert first.new_files == 3 and first.substores[f"digits__{HP}"].runs == 3
    data = tmp_path / "bench" / f"digits__{HP}" / "data.npy"
    stamp = data.stat().st_mtime_ns
    again = aggregate(part, tmp_path / "bench")
    assert again.new_files == 0 and again.known_files == 3 and again.substores[f"digits__{HP}"].added == 0
    assert data.stat().st_mtime_ns == stamp  # nothing new: the sub-store is not rewritten
    for p, _ in files[3:]:
        shutil.copy2(p, part / p.name)
    more = aggregate(part, tmp_path / "bench")
    assert more.new_files == len(files) - 3 and more.known_files == 3
    r = more.substores[f"digits__{HP}"]
    assert r.added == len(files) - 3 and r.runs == 6
    # same numbers as aggregating everything at once
    once = aggregate(runs, tmp_path / "once")
    assert once.substores[f"digits__{HP}"].runs == 6
    a = open_substore(tmp_path / "bench" / f"digits__{HP}").data
    b = open_substore(tmp_path / "once" / f"digits__{HP}").data
    np.testing.assert_array_equal(a, b)


def test_duplicates_failed_conflicts_malformed(runs, tmp_path):
    aggregate(runs, tmp_path / "bench")
    extra = tmp_path / "extra"
    extra.mkdir()
    (p0, rec0), (p1, rec1) = _records(runs)[:2]
    # a second run of the same arch and seed under another run id (e.g. another machine)
    dup = dict(rec0, run_id="dup" + rec0["run_id"][3:])
    dup["epochs"] = [dict(row, **{"train-loss": row["train-loss"] + 1.0}) for row in rec0["epochs"]]
    (extra / "dup.json").write_text(json.dumps(dup))
    shutil.copy2(p1, extra / "copy.json")  # a byte-identical copy of an included run
    # a failed run of a new seed
    failed = dict(
        rec0,
        run_id="failedrun",
        status="failed",
        epochs=rec0["epochs"][:1],
        failure={"epoch": 1, "reason": "loss became NaN"},
    )
    failed["spec"] = dict(rec0["spec"], seed=999)
    (extra / "failed.json").write_text(json.dumps(failed))
    # a run trained with another config under the same label
    other = dict(rec0, run_id="otherconfig", config=dict(rec0["config"], lr=0.5))
    other["spec"] = dict(rec0["spec"], seed=1234)
    (extra / "other.json").write_text(json.dumps(other))
    (extra / "broken.json").write_text("{ truncated")
    (extra / "wrong.json").write_text(json.dumps({"schema": "something/else"}))
    before = open_substore(tmp_path / "bench" / f"digits__{HP}").data.copy()

    with pytest.raises(InvalidRecordsError, match="nothing was changed") as err:
        aggregate([runs, extra], tmp_path / "bench", expected_seeds=[777, 888, 999])
    assert all(f in str(err.value) for f in ("broken.json", "wrong.json", "other.json", "dup.json"))
    np.testing.assert_array_equal(open_substore(tmp_path / "bench" / f"digits__{HP}").data, before)
    report = aggregate([runs, extra], tmp_path / "bench", expected_seeds=[777, 888, 999], allow_invalid=True)
    r = report.substores[f"digits__{HP}"]
    assert r.added == 0 and r.runs == 6
    dups = {d["dropped"]: d for d in r.duplicates}
    assert dups[dup["run_id"]]["same_values"] is False and dups[dup["run_id"]]["kept"] == rec0["run_id"]
    assert dups[rec1["run_id"]]["same_values"] is True
    assert [(f["run_id"], f["seed"]) for f in r.failed] == [("failedrun", 999)]
    assert "NaN" in r.failed[0]["reason"]
    assert r.conflicts and r.conflicts[0]["differs_in"] == ["lr"]
    assert {Path(m["file"]).name for m in report.malformed} == {"broken.json", "wrong.json"}
    # seed 999 was expected: every arch misses it (the failed one included)
    assert sorted(r.missing) == sorted((a, 999) for a in [x.index for x in ARCHS] + [DEGENERATE.index])
    assert r.coverage == pytest.approx(6 / 9)
    np.testing.assert_array_equal(open_substore(tmp_path / "bench" / f"digits__{HP}").data, before)
    assert "failed arch" in str(report)
    # nothing new: the same problems are still reported, from the sub-store's memory
    again = aggregate(
        [runs, extra], tmp_path / "bench", expected_seeds=[777, 888, 999], allow_invalid=True
    ).substores[f"digits__{HP}"]
    assert again.added == 0 and len(again.duplicates) == len(r.duplicates) and again.conflicts == r.conflicts
    assert again.failed == r.failed and again.missing == r.missing
    # a failed run later redone successfully leaves the failed list
    redo = dict(rec0, run_id="redo999")
    redo["spec"] = dict(rec0["spec"], seed=999)
    (extra / "redo.json").write_text(json.dumps(redo))
    r2 = aggregate([runs, extra], tmp_path / "bench", allow_invalid=True).substores[f"digits__{HP}"]
    assert r2.added == 1 and not r2.failed and 999 in r2.seeds


def test_fidelity_overrides_make_separate_substores(runs, tmp_path):
    (p0, rec0) = _records(runs)[0]
    other = dict(rec0, run_id="full", hp="digits-cheap")
    other["spec"] = dict(rec0["spec"], fidelity={})
    other["config"] = resolve_config("digits-cheap")  # what it declares: the preset, no overrides
    other["epochs"] = [dict(row, epoch=e) for e, row in enumerate(rec0["epochs"] * 10)][:10]
    d = tmp_path / "r"
    d.mkdir()
    shutil.copy2(p0, d / p0.name)
    (d / "full.json").write_text(json.dumps(other))
    report = aggregate(d, tmp_path / "bench")
    assert set(report.substores) == {f"digits__{HP}", "digits__digits-cheap"}
    assert Benchmark.open(tmp_path / "bench").hps("digits") == ["digits-cheap", HP]


def test_tidy_table_is_queryable_with_duckdb(runs, tmp_path):
    aggregate(runs, tmp_path / "bench")
    table = tmp_path / "bench" / f"digits__{HP}" / "table.parquet"
    n, archs = (
        duckdb.connect().execute(f"select count(*), count(distinct arch_index) from '{table}'").fetchall()[0]
    )
    assert (n, archs) == (3 * 2 * 2, 3)
    runs_tbl = pq.read_table(tmp_path / "bench" / f"digits__{HP}" / "runs.parquet").to_pylist()
    assert {r["status"] for r in runs_tbl} == {"ok", "degenerate"}


def test_cli_aggregate(runs, tmp_path, capsys):
    from nb201.cli import main

    assert main(["aggregate", str(runs), "--out", str(tmp_path / "b"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["substores"][f"digits__{HP}"]["runs"] == 6
    assert main(["aggregate", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_aggregate_refuses_to_mix_into_imported_substore(runs, tmp_path):
    rec = json.loads(sorted(runs.glob("*.json"))[0].read_text())
    write_benchmark(
        tmp_path / "b",
        split="digits",
        hp=HP,
        arch_indices=[1],
        seeds=[7],
        metrics=METRICS,
        values=_dense([1], [7], 2),
        meta={"source": "imported"},
    )
    with pytest.raises(ValueError, match="not built from run records"):
        aggregate(runs, tmp_path / "b")
    # an imported sub-store that no record targets is left alone
    write_benchmark(
        tmp_path / "c",
        split="cifar10",
        hp="200",
        arch_indices=[1],
        seeds=[7],
        metrics=METRICS,
        values=_dense([1], [7], 2),
    )
    report = aggregate(runs, tmp_path / "c")
    assert set(report.substores) == {f"digits__{HP}"}
    assert Benchmark.open(tmp_path / "c").datasets == ["cifar10", "digits"]
    assert rec["spec"]["split"] == "digits"


def test_hp_label():
    assert hp_label("12", None) == "12" == hp_label("12", {})
    assert (
        hp_label("digits-cheap", {"epochs": 2, "image_size": "native"})
        == "digits-cheap[epochs=2,image_size=native]"
    )
    assert "/" not in hp_label("x", {"data": "a/b"})


def test_really_failed_run_is_reported_not_stored(tmp_path):
    """A run whose loss really diverges (lr 1e8) is recorded as failed by nb201.train; the
    aggregation lists it with its reason and stores no numbers for it."""
    from nb201.train import sweep

    torch.set_num_threads(1)
    fid = {"epochs": 2, "lr": 1e8}
    summary = sweep(
        [ARCHS[0]],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity=fid,
        out_dir=tmp_path / "r",
        progress=False,
    )
    assert len(summary.failed) == 1
    report = aggregate(tmp_path / "r", tmp_path / "b")
    r = report.substores[f"digits__{hp_label('digits-cheap', fid)}"]
    assert r.runs == 0 and [(f["arch_index"], f["seed"]) for f in r.failed] == [(ARCHS[0].index, 777)]
    assert "nan" in r.failed[0]["reason"].lower()
    assert not any(p.is_dir() for p in (tmp_path / "b").iterdir())
    assert json.loads((tmp_path / "b" / "report.json").read_text())["substores"][r.split + "__" + r.hp][
        "failed"
    ]
    again = aggregate(tmp_path / "r", tmp_path / "b")  # nothing new, the failure is still reported
    assert again.new_files == 0 and again.substores[f"{r.split}__{r.hp}"].failed == r.failed


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "move-aside"])
def test_replace_dir_swaps_in_the_new_folder(tmp_path, monkeypatch, exchange):
    """Both ways of replacing a sub-store end with the new folder and no leftovers; with
    the exchange, a reader polling meanwhile never finds the folder missing."""
    import threading

    from nb201 import fsutil

    if not exchange:
        monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    else:
        (tmp_path / "p").mkdir(), (tmp_path / "q").mkdir()
        if not fsutil._exchange(tmp_path / "p", tmp_path / "q"):
            pytest.skip("this kernel or file system has no renameat2(RENAME_EXCHANGE)")
        (tmp_path / "p").rmdir(), (tmp_path / "q").rmdir()
    final = tmp_path / "sub"
    final.mkdir()
    (final / "v").write_text("0")
    missing = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            if not final.is_dir():
                missing.append(1)

    t = threading.Thread(target=reader)
    t.start()
    for k in range(1, 200):
        new = tmp_path / f".sub.tmp{k}"
        new.mkdir()
        (new / "v").write_text(str(k))
        fsutil.replace_dir(new, final)
    done.set()
    t.join()
    assert (final / "v").read_text() == "199"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    if exchange:
        assert not missing
