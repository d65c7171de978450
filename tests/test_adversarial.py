"""Issue 13, probed as a cluster user sharing a runs folder would: every finding is
reproduced here and must now end in a clear error or the correct answer, with nothing lost.

Most tests use synthetic records (valid `nb201.run/1` JSON written directly, no training),
so they take seconds; the few that need the sweep train tiny digits networks. The
concurrency and kill trials run real aggregations in subprocesses.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nb201 import cli
from nb201.benchmark import Benchmark
from nb201.benchmark.store import StoreError, open_substore
from nb201.benchmark.store.aggregate import InvalidRecordsError, aggregate
from nb201.space import Arch
from nb201.train import RunSpec, SweepSummary, loop, records, resolve_config, run_one

SRC = str(Path(__file__).resolve().parents[1] / "src")
PRESET, FID = "digits-cheap", {"epochs": 2}
HP = "digits-cheap[epochs=2]"
NAME = f"digits__{HP}"
TINY = {"C": 4, "N": 1, "epochs": 1, "batch_size": 64, "train_fraction": 0.25, "eval_fraction": 0.5}
ARCHS = [i for i in range(200, 400) if not Arch.from_index(i).is_degenerate()]


def make_record(arch_index: int, seed: int = 777, acc: float = 60.0, **over) -> dict:
    """A valid record of (arch, seed) under digits-cheap[epochs=2], as run_one writes it."""
    arch = Arch.from_index(arch_index)
    spec = RunSpec(str(arch), "digits", "digits", PRESET, seed, dict(FID))
    epochs = [
        {
            "epoch": e,
            "lr": 0.1,
            "train-loss": 1.0,
            "train-accuracy": acc - 1,
            "train-top5": 90.0,
            "train-time": 0.5,
            "x-valid-loss": 1.1,
            "x-valid-accuracy": acc + e,
            "x-valid-time": 0.1,
            "x-test-loss": 1.2,
            "x-test-accuracy": acc - 0.5,
            "x-test-time": 0.1,
        }
        for e in range(2)
    ]
    rec = {
        "schema": "nb201.run/1",
        "run_id": spec.run_id,
        "status": "ok",
        "spec": spec.to_record(),
        "config": resolve_config(PRESET, FID),
        "arch_index": arch.index,
        "hp": PRESET,
        "epochs": epochs,
        "cost": {"params": 0.1 + arch_index / 1e4, "flops": 5.0 + arch_index / 100, "latency": None},
        "failure": None,
        "env": {"hostname": "h", "device": "cpu"},
        "wall_time": 1.0,
        "cpu_time": 1.0,
        "finished_at": "2026-12-01T10:00:00Z",
    }
    rec.update(over)
    return rec


def write(folder: Path, rec: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{rec['run_id']}.json")
    path.write_text(json.dumps(rec))  # json.dumps writes NaN/Infinity tokens, as a hand edit could
    return path


def genuine(folder: Path, n: int = 5, seed: int = 777) -> list[dict]:
    recs = [make_record(a, seed, acc=50.0 + k) for k, a in enumerate(ARCHS[:n])]
    for r in recs:
        write(folder, r)
    return recs


# ---- 1. a checkpoint runs code ------------------------------------------------------------


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file when unpickled


@pytest.fixture
def digits_env(tmp_path_factory, monkeypatch):
    """Tiny real training: one thread, splits and caches in a temp dir."""
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path_factory.mktemp("nb201data")))
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    loop.prepare.cache_clear()
    yield
    torch.set_num_threads(old)
    loop.prepare.cache_clear()


def tiny_spec(arch: int = 11472, **fid) -> RunSpec:
    return RunSpec(str(Arch.from_index(arch)), "digits", "digits", PRESET, 777, {**TINY, **fid})


def test_crafted_checkpoint_runs_no_code_and_is_discarded(tmp_path):
    marker = tmp_path / "pwned"
    ck = records.checkpoint_path(tmp_path, "r1")
    ck.parent.mkdir(parents=True)
    torch.save({"schema": records.CKPT_SCHEMA, "run_id": "r1", "x": _Evil(str(marker))}, ck)
    with pytest.warns(UserWarning, match=rf"discarding checkpoint .*{ck.name}"):
        assert records.load_checkpoint(ck, "r1") is None
    assert not marker.exists(), "loading a checkpoint executed code"
    assert not ck.exists()


def test_mismatched_checkpoint_restarts_the_run_from_epoch_0(tmp_path, digits_env):
    s = tiny_spec(epochs=2)
    ck = records.checkpoint_path(tmp_path, s.run_id)
    ck.parent.mkdir(parents=True)
    # a valid weights-only checkpoint of this run id whose contents do not fit the network
    state = {"run_id": s.run_id, "epochs": [{"epoch": 0}], "seconds": 1.0, "model": {"w": torch.zeros(3)}}
    records.save_checkpoint(ck, {**state, "optimizer": {}, "scheduler": {}, "generator": torch.zeros(2)})
    with pytest.warns(UserWarning, match=rf"discarding checkpoint .*{ck.name}.*does not fit"):
        out = run_one(s, tmp_path)
    rec = records.read_record(out.path)
    assert out.status == "ok" and len(rec["epochs"]) == 2 and not ck.exists()
    clean = records.read_record(run_one(s, tmp_path / "clean").path)
    assert rec["epochs"][-1]["train-loss"] == clean["epochs"][-1]["train-loss"]  # a true restart


def test_checkpoint_with_impossible_epochs_restarts_the_run(tmp_path, digits_env):
    s = tiny_spec(epochs=2)
    first = tmp_path / "first"
    real = records.save_checkpoint
    kept = []
    records.save_checkpoint = lambda path, state: kept.append(copy.deepcopy(state)) or real(path, state)
    try:
        run_one(s, first)
    finally:
        records.save_checkpoint = real
    saved = kept[0]  # the real checkpoint after epoch 0 ...
    saved["epochs"][0]["train-loss"] = float("nan")  # ... edited
    records.save_checkpoint(records.checkpoint_path(tmp_path, s.run_id), saved)
    with pytest.warns(UserWarning, match="does not fit.*not finite"):
        out = run_one(s, tmp_path)
    assert out.status == "ok"

    def numbers(path):  # a full restart gives the clean run's numbers (times aside)
        rows = records.read_record(path)["epochs"]
        return [{k: v for k, v in row.items() if not k.endswith("time")} for row in rows]

    assert numbers(out.path) == numbers(first / f"{s.run_id}.json")


# ---- 2. impossible values ---------------------------------------------------------------------


def _poison(rec: dict, key: str, value) -> dict:
    rec = json.loads(json.dumps(rec))
    rec["epochs"][1][key] = value
    return rec


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("x-valid-accuracy", float("nan"), "not finite"),
        ("x-valid-accuracy", float("inf"), "not finite"),
        ("x-valid-accuracy", None, "not a number"),
        ("x-valid-accuracy", 500.0, "outside \\[0, 100\\]"),
        ("x-valid-accuracy", -3.0, "outside \\[0, 100\\]"),
        ("train-time", -1.0, "negative"),
        ("train-loss", -0.5, "negative"),
        ("x-valid-accuracy", "62.1", "not a number"),
        ("x-valid-accuracy", True, "not a number"),
    ],
)
def test_impossible_values_are_refused(tmp_path, key, value, reason):
    runs = tmp_path / "runs"
    genuine(runs)
    bad = write(runs, _poison(make_record(ARCHS[10], acc=40.0), key, value), "bad.json")
    with pytest.raises(InvalidRecordsError, match=rf"bad\.json: .*{reason}"):
        aggregate(runs, tmp_path / "bench")
    assert not (tmp_path / "bench").exists()  # nothing written, no empty folder
    assert cli.main(["aggregate", str(runs), "--out", str(tmp_path / "bench")]) == 2
    report = aggregate(runs, tmp_path / "bench", allow_invalid=True)
    assert [Path(m["file"]).name for m in report.malformed] == ["bad.json"] and bad.exists()
    b = Benchmark.open(tmp_path / "bench")
    idx, acc = b.find_best("digits", "valid")
    assert idx == ARCHS[4] and math.isfinite(acc) and ARCHS[10] not in b.indexes("digits")
    # the poisoned run counts as missing, not as covered
    assert report.substores[NAME].coverage < 1.0 and (ARCHS[10], 777) in report.substores[NAME].missing


# ---- 3. one foreign record takes over a sub-store --------------------------------------------


def test_foreign_config_cannot_take_over_a_substore(tmp_path):
    runs = tmp_path / "runs"
    genuine(runs)
    foreign = make_record(ARCHS[20], finished_at="2000-01-01T00:00:00Z")  # the earliest of all
    foreign["config"] = dict(foreign["config"], lr=0.5)
    write(runs, foreign, "foreign.json")
    with pytest.raises(InvalidRecordsError, match=r"foreign\.json: config differs .* \['lr'\]"):
        aggregate(runs, tmp_path / "bench")
    sub = aggregate(runs, tmp_path / "bench", allow_invalid=True).substores[NAME]
    assert sub.runs == 5 and [c["file"].rsplit("/", 1)[-1] for c in sub.conflicts] == ["foreign.json"]
    assert open_substore(tmp_path / "bench" / NAME).meta["config"]["lr"] == 0.1


def test_faked_duplicate_is_refused_and_resolution_ignores_time_stamps(tmp_path):
    runs, other = tmp_path / "runs", tmp_path / "other"
    recs = genuine(runs)
    aggregate(runs, tmp_path / "bench")
    best = Benchmark.open(tmp_path / "bench").find_best("digits", "valid")
    fake = make_record(ARCHS[0], acc=98.9, finished_at="2000-01-01T00:00:00Z")
    assert fake["run_id"] == recs[0]["run_id"]  # same arch, seed and config: same run id
    write(other, fake)
    with pytest.raises(InvalidRecordsError, match="disagree"):
        aggregate([runs, other], tmp_path / "bench")
    assert Benchmark.open(tmp_path / "bench").find_best("digits", "valid") == best  # unchanged
    # with the flag, the outcome depends on the contents only: not on order, not on clocks
    results = []
    for order, stamp in (([runs, other], "2000"), ([other, runs], "2000"), ([runs, other], "2999")):
        fake["finished_at"] = f"{stamp}-01-01T00:00:00Z"
        write(other, fake)
        shutil.rmtree(tmp_path / "b2", ignore_errors=True)
        aggregate(order, tmp_path / "b2", allow_invalid=True)
        results.append(open_substore(tmp_path / "b2" / NAME).data.tobytes())
    assert results[0] == results[1] == results[2]


def test_problems_accepted_once_are_reported_but_not_raised_again(tmp_path):
    runs, other, bench = tmp_path / "runs", tmp_path / "other", tmp_path / "bench"
    genuine(runs)
    write(other, make_record(ARCHS[0], acc=98.9, run_id="0" * 24))  # another id that sorts first
    first = aggregate([runs, other], bench, allow_invalid=True).substores[NAME]
    assert first.duplicates[0]["same_values"] is False and first.runs == 5
    again = aggregate([runs, other], bench)  # accepted before: listed, not raised, not re-read
    assert again.new_files == 0 and again.substores[NAME].duplicates == first.duplicates


# ---- 4. concurrent aggregation -----------------------------------------------------------------

CHILD_AGG = textwrap.dedent(
    """
    import sys, time, pathlib
    from nb201.benchmark.store.aggregate import aggregate
    recs, out, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.002)
    t = time.perf_counter()
    aggregate(recs, out)
    print(time.perf_counter() - t, flush=True)
    """
)


def _child(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-c", CHILD_AGG, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    return p


LOOP_AGG = textwrap.dedent(
    """
    import sys, time, pathlib
    from nb201.benchmark.store.aggregate import aggregate
    recs, base, trials = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    for t in range(trials):  # imports once, then one aggregation per trial on a go signal
        while not (base / f"go{t}").exists():
            time.sleep(0.001)
        aggregate(recs, base / f"bench{t}")
        print(t, flush=True)
    """
)


def test_two_aggregations_at_once_lose_no_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for k, arch in enumerate(ARCHS[:40]):
        write(a if k % 2 else b, make_record(arch))
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    kids = [
        subprocess.Popen(
            [sys.executable, "-c", LOOP_AGG, str(recs), str(tmp_path), "20"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for recs in (a, b)
    ]
    try:
        assert all(p.stdout.readline().strip() == "ready" for p in kids)
        for trial in range(20):
            (tmp_path / f"go{trial}").touch()  # both start together
            assert all(p.stdout.readline().strip() == str(trial) for p in kids), "an aggregation failed"
            out = tmp_path / f"bench{trial}"
            sub = open_substore(out / NAME, verify=True)
            assert sorted(sub.archs.tolist()) == sorted(ARCHS[:40]), f"trial {trial} lost runs"
            again = aggregate([a, b], out)
            assert again.new_files == 0 and again.substores[NAME].coverage == 1.0
    finally:
        for p in kids:
            p.kill()
            p.wait()


def test_ingest_log_never_claims_a_run_the_store_lacks(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    genuine(a, 3)
    for arch in ARCHS[10:13]:
        write(b, make_record(arch))
    aggregate(a, tmp_path / "bench")
    old = tmp_path / "old-sub"
    shutil.copytree(tmp_path / "bench" / NAME, old)
    aggregate([a, b], tmp_path / "bench")
    # the log written, the data not: as if the two had been written in the other order
    shutil.rmtree(tmp_path / "bench" / NAME)
    shutil.copytree(old, tmp_path / "bench" / NAME)
    again = aggregate([a, b], tmp_path / "bench")
    assert again.substores[NAME].runs == 6 and again.substores[NAME].added == 3


# ---- kill -9 during aggregation ------------------------------------------------------------------


def test_kill_during_aggregation_leaves_old_or_new_store(tmp_path):
    base, more = tmp_path / "base", tmp_path / "more"
    for arch in ARCHS[:10]:
        write(base, make_record(arch))
    for arch in ARCHS[10:40]:
        write(more, make_record(arch))
    seed_bench = tmp_path / "seed-bench"
    aggregate(base, seed_bench)
    old_set, new_set = set(ARCHS[:10]), set(ARCHS[:40])
    probe = tmp_path / "probe"
    shutil.copytree(seed_bench, probe)
    p = _child(str(more), str(probe), str(tmp_path / "go-probe"))
    t0 = time.perf_counter()
    (tmp_path / "go-probe").touch()
    p.stdout.readline()  # the aggregation is done (as seen from here)
    duration = time.perf_counter() - t0
    p.communicate(timeout=120)
    outcomes = []
    rng = random.Random(13)
    for trial in range(20):
        out, go = tmp_path / f"k{trial}", tmp_path / f"go-k{trial}"
        shutil.copytree(seed_bench, out)
        p = _child(str(more), str(out), str(go))
        go.touch()
        time.sleep(rng.uniform(0, duration * 1.2))
        p.kill()
        p.communicate()
        sub = open_substore(out / NAME, verify=True)  # whole and consistent, whichever it is
        got = set(sub.archs.tolist())
        assert got in (old_set, new_set), f"trial {trial}: a mixed store"
        outcomes.append("new" if got == new_set else "old")
        aggregate(more, out)  # the next aggregation completes it
        assert set(open_substore(out / NAME, verify=True).archs.tolist()) == new_set
        assert not [q.name for q in out.iterdir() if ".tmp" in q.name or ".old-" in q.name]
    assert len(outcomes) == 20
    print(f"kill -9 trials: {outcomes.count('old')} left the old store, {outcomes.count('new')} the new")


# ---- 5. integrity checks cover every file ---------------------------------------------------------


@pytest.fixture
def bench(tmp_path) -> Path:
    genuine(tmp_path / "runs")
    aggregate(tmp_path / "runs", tmp_path / "bench")
    return tmp_path / "bench"


def test_same_size_corruption_of_data_is_caught_on_a_normal_open(bench):
    data = bench / NAME / "data.npy"
    raw = bytearray(data.read_bytes())
    raw[-8:-4] = np.float32(8.49e37).tobytes()
    data.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="data.npy is corrupt"):
        Benchmark.open(bench).get_more_info(ARCHS[0], "digits")


def test_swapped_metric_names_are_caught(bench):
    meta_path = bench / NAME / "meta.json"
    text = meta_path.read_text()
    swapped = text.replace('"x-valid-accuracy"', '"TMP"').replace('"x-test-accuracy"', '"x-valid-accuracy"')
    meta_path.write_text(swapped.replace('"TMP"', '"x-test-accuracy"'))
    with pytest.raises(StoreError, match="meta.json is corrupt or was edited"):
        Benchmark.open(bench).find_best("digits", "valid")


def test_rolled_archs_are_caught(bench):
    path = bench / NAME / "archs.npy"
    np.save(path, np.roll(np.load(path), 1))
    with pytest.raises(StoreError, match="archs.npy is corrupt or was edited"):
        Benchmark.open(bench).find_best("digits", "valid")


def test_edited_table_is_not_carried_into_a_new_store(bench, tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = bench / NAME / "table.parquet"
    table = pq.read_table(path)
    col = table.column_names.index("x-valid-accuracy")
    table = table.set_column(col, "x-valid-accuracy", pc.add(table.column(col), 30.0))
    pq.write_table(table, path)
    with pytest.raises(StoreError, match="table.parquet is"):
        Benchmark.open(bench, verify=True)
    write(tmp_path / "more", make_record(ARCHS[30]))
    with pytest.raises(StoreError, match="table.parquet is"):
        aggregate(tmp_path / "more", bench)
    assert cli.main(["query", str(bench), "--info", "--verify"]) == 2


# ---- 6. torn records ---------------------------------------------------------------------------


def test_torn_record_is_retrained_not_counted_done(tmp_path, digits_env):
    s = tiny_spec()
    path = Path(run_one(s, tmp_path).path)
    path.write_text(path.read_text()[:200])  # a partial copy
    with pytest.warns(UserWarning, match="skipping invalid run record"):
        assert records.load_records(tmp_path) == []
    with pytest.warns(UserWarning, match="moved it to"):
        again = run_one(s, tmp_path)
    assert again.status == "ok"  # retrained, not "skipped"
    assert records.read_record(path)["status"] == "ok"
    rejected = tmp_path / "rejected"
    assert (rejected / path.name).exists() and "JSON" in (rejected / f"{s.run_id}.reason.txt").read_text()


def test_torn_record_does_not_count_as_covered(tmp_path):
    runs = tmp_path / "runs"
    genuine(runs, 3)
    torn = json.dumps(make_record(ARCHS[7]))
    (runs / "torn.json").write_text(torn[: torn.index('"epochs"') + 20])
    report = aggregate(runs, tmp_path / "bench", allow_invalid=True)
    sub = report.substores[NAME]
    assert (ARCHS[7], 777) in sub.missing and sub.coverage == pytest.approx(3 / 4)


# ---- 7. the lesser findings -------------------------------------------------------------------


def test_two_sweeps_at_once_train_each_run_once(tmp_path, digits_env):
    script = textwrap.dedent(
        """
        import json, sys, time, pathlib, torch
        torch.set_num_threads(1)
        from nb201.train import loop, sweep
        log, go = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
        real = loop.train_epoch
        def counted(*a, **k):
            with open(log, "a") as f:
                f.write("x")
            return real(*a, **k)
        loop.train_epoch = counted
        while not go.exists():
            time.sleep(0.01)
        s = sweep([11472, 7, 1000], "digits", "digits-cheap", seeds=[777], out_dir=sys.argv[1],
                  fidelity=json.loads(sys.argv[4]), progress=False)
        print(s.done, s.skipped, len(s.failed))
        """
    )
    go, out = tmp_path / "go", tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": SRC}
    kids = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(out), str(tmp_path / f"log{k}"), str(go), json.dumps(TINY)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(2)
    ]
    go.touch()
    results = [p.communicate(timeout=300)[0].split() for p in kids]
    assert all(p.returncode == 0 for p in kids)
    trained = sum(
        len((tmp_path / f"log{k}").read_text()) for k in range(2) if (tmp_path / f"log{k}").exists()
    )
    assert trained == 3, f"{trained} epochs trained for 3 one-epoch runs: some run was trained twice"
    assert sum(int(r[0]) for r in results) == 3 and all(r[2] == "0" for r in results)
    assert len(list(out.glob("*.json"))) == 3 and not (out / "ckpt").exists()


def test_strict_arguments(bench):
    b = Benchmark.open(bench)
    for bad in (1.7, True, np.float64(1.0), [0.5]):
        with pytest.raises(TypeError, match="epoch"):
            b.metrics([ARCHS[0]], "valid-accuracy", epoch=bad, dataset="digits")
    with pytest.raises(TypeError, match="seeds"):
        b.metrics([ARCHS[0]], "valid-accuracy", seeds=777.5, dataset="digits")
    with pytest.raises(ValueError, match="NaN"):
        b.find_best("digits", "valid", FLOP_max=float("nan"))
    with pytest.raises(TypeError, match="Param_max"):
        b.find_best("digits", "valid", Param_max="10")
    assert b.metrics([ARCHS[0]], "valid-accuracy", epoch=np.int64(1), dataset="digits")[0] == 51.0


@pytest.mark.parametrize("exc", [OSError("disk on fire"), IndexError("i"), TypeError("t"), RuntimeError("r")])
def test_cli_errors_are_one_line_with_exit_2(monkeypatch, capsys, tmp_path, exc):
    import nb201.benchmark.api

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(nb201.benchmark.api.Benchmark, "open", boom)
    assert cli.main(["query", str(tmp_path), "--info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nb201 query: error: ") and "Traceback" not in err
    monkeypatch.setenv("NB201_DEBUG", "1")  # a suspected bug: the traceback, not one line
    with pytest.raises(type(exc)):
        cli.main(["query", str(tmp_path), "--info"])


def test_cli_sweep_exits_non_zero_when_runs_failed(monkeypatch, capsys):
    import nb201.train

    monkeypatch.setattr(
        nb201.train, "sweep", lambda *a, **k: SweepSummary(total=1, failed=[("r", "a", "NaN")])
    )
    assert cli.main(["sweep", "11472", "--datasets", "digits", "--preset", "digits-cheap", "--out", "x"]) == 1
    monkeypatch.setattr(nb201.train, "sweep", lambda *a, **k: SweepSummary(total=1, done=1))
    assert cli.main(["sweep", "11472", "--datasets", "digits", "--preset", "digits-cheap", "--out", "x"]) == 0


def test_aggregate_of_nonexistent_folder_leaves_no_litter(tmp_path, capsys):
    assert cli.main(["aggregate", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "bench")]) == 2
    assert not (tmp_path / "bench").exists()
    assert "does not exist" in capsys.readouterr().err


def test_stale_temp_folders_are_cleaned(bench, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = bench / f".{NAME}.tmp-{dead.pid}"
    stale.mkdir()
    (stale / "data.npy").write_bytes(b"half")
    stale_file = bench / f".ingest.parquet.abc123.{dead.pid}.tmp"
    stale_file.write_bytes(b"x")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = bench / f".{NAME}.tmp-{alive.pid}"  # a writer that still runs: kept
        live.mkdir()
        write(tmp_path / "more", make_record(ARCHS[30]))
        aggregate(tmp_path / "more", bench)
        assert not stale.exists() and not stale_file.exists() and live.exists()
    finally:
        alive.kill()
        alive.wait()


def test_moved_benchmark_still_recognises_its_records(tmp_path):
    runs = tmp_path / "runs"
    genuine(runs)
    aggregate(runs, tmp_path / "bench")
    moved = tmp_path / "deeper" / "still" / "bench"
    moved.parent.mkdir(parents=True)
    shutil.move(tmp_path / "bench", moved)
    again = aggregate(runs, moved)
    sub = again.substores[NAME]
    assert sub.duplicates == [] and sub.added == 0 and sub.runs == 5
    assert aggregate(runs, moved).new_files == 0  # and the log is up to date again
