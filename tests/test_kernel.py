"""Issue 22 items 1 and 5, issue 21 item 1: the one task kernel (`nb201.train.task`) and what it
guarantees to every kind of work (a training run, a weight-sharing search, one architecture's
zero-cost proxies), plus one rule for query arguments and a config resolved once.

Every finding of issue 22 under "Weight-sharing searches", "Zero-cost proxies" and "Ignored
arguments" is reproduced here through public interfaces and must now end in a clear error, a
refusal or a recomputation, never a wrong number. Tasks are tiny (digits, C=2, one step), so
the file runs in seconds; the two-process races (20 trials per kind) are in conftest.SLOW_TESTS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from nb201 import presets
from nb201.benchmark import Benchmark
from nb201.fidelity import proxies as P
from nb201.fidelity.tables import load_table, lookup
from nb201.space import Arch
from nb201.train import RunSpec, records, sweep
from nb201.train import task as kernel
from nb201.wsnas import SearchSpec, SearchTask, load_search_records, read_search_record, run_search

REPO = Path(__file__).resolve().parents[1]
SRC = str(REPO / "src")
DATA = Path(__file__).resolve().parent / "data"
BENCH = REPO / "data" / "benchmarks" / "cifar10-cpu"
RUN_TINY = {"C": 4, "N": 1, "epochs": 1, "batch_size": 64, "train_fraction": 0.25, "eval_fraction": 0.5}
SEARCH_TINY = {
    "epochs": 2,
    "steps_per_epoch": 1,
    "eval_batches": 1,
    "derive_samples": 2,
    "C": 2,
    "train_fraction": 0.2,
    "valid_fraction": 0.2,
}
PROXY_CFG = P.ProxyConfig(C=2, N=1, image_size=8, batch_size=8)
PROXY_NAMES = ("synflow", "nwot", "params", "flops")


@pytest.fixture(autouse=True)
def tiny_env(tmp_path_factory, monkeypatch):
    """One torch thread; caches and splits in a temp dir."""
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path_factory.mktemp("nb201data")))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def search_spec(method: str = "gdas", **over) -> SearchSpec:
    return SearchSpec(method, "digits", "digits-valid", "digits", 777, {**SEARCH_TINY, **over})


def make_task(kind: str, index: int = 1):
    if kind == "run":
        return RunSpec(11472, "digits", "digits", "digits-cheap", 777, RUN_TINY)
    if kind == "search":
        return SearchTask(search_spec())
    return P.ProxyTask(index, "digits", PROXY_CFG, PROXY_NAMES)


def numbers(record: dict) -> dict:
    """What must be equal between two computations of one task (no times, no machine)."""
    skip = ("env", "wall_time", "cpu_time", "finished_at", "seconds")
    out = {k: v for k, v in record.items() if k not in skip}
    if "epochs" in record:
        out["epochs"] = [{k: v for k, v in e.items() if not k.endswith("-time")} for e in record["epochs"]]
    if isinstance(record.get("cost"), dict):
        out["cost"] = {k: v for k, v in record["cost"].items() if k != "latency"}
    return out


# ---- the kernel, for every kind -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["run", "search", "proxy"])
def test_every_kind_is_a_whole_task_and_a_found_result_is_its_outcome(kind, tmp_path):
    """Every method of the Task protocol, `finished` included: the Ray engine asks it when a
    retried task finds the result an earlier attempt wrote (a proxy task once lacked it)."""
    t = make_task(kind)
    assert isinstance(t, kernel.Task)
    first = kernel.execute(t, tmp_path)
    found = kernel.finished_outcome(t, first.path)
    assert (found.run_id, found.status, found.path) == (t.run_id, "ok", first.path)


@pytest.mark.parametrize("kind", ["run", "search", "proxy"])
def test_a_torn_result_of_every_kind_is_moved_aside_and_recomputed(kind, tmp_path):
    t = make_task(kind)
    first = kernel.execute(t, tmp_path)
    assert first.status == "ok" and kernel.is_done(t, tmp_path)
    path = Path(first.path)
    clean = json.loads(path.read_text())
    path.write_text(path.read_text()[:150])  # a partial copy
    assert not kernel.is_done(t, tmp_path)
    with pytest.warns(UserWarning, match="moved it to"):
        again = kernel.execute(t, tmp_path)
    assert again.status == "ok", "a torn file was counted as done"
    assert numbers(json.loads(path.read_text())) == numbers(clean)
    rejected = sorted(p.name for p in (tmp_path / "rejected").iterdir())
    assert rejected == [path.name, f"{path.stem}.reason.txt"]
    assert "JSON" in (tmp_path / "rejected" / f"{path.stem}.reason.txt").read_text()
    assert not (tmp_path / "ckpt").exists(), "a lock or checkpoint was left behind"


@pytest.mark.parametrize("kind", ["run", "search", "proxy"])
def test_a_result_that_another_task_wrote_is_not_served(kind, tmp_path):
    """A valid result of another task under this task's file name is moved aside and the task
    recomputed; it is never returned as this task's."""
    t, other = (
        make_task(kind),
        (
            RunSpec(11472, "digits", "digits", "digits-cheap", 778, RUN_TINY)
            if kind == "run"
            else SearchTask(search_spec("darts-v1"))
            if kind == "search"
            else P.ProxyTask(2, "digits", PROXY_CFG, PROXY_NAMES)
        ),
    )
    theirs = Path(kernel.execute(other, tmp_path / "other").path)
    (tmp_path / "mine").mkdir()
    shutil.copy(theirs, t.result_path(tmp_path / "mine"))
    with pytest.warns(UserWarning, match="moved it to"):
        assert kernel.execute(t, tmp_path / "mine").status == "ok"
    mine = kernel.load_result(t, tmp_path / "mine")
    assert numbers(mine) == numbers(json.loads(Path(kernel.execute(t, tmp_path / "clean").path).read_text()))


def test_a_result_is_checked_before_it_is_written(tmp_path):
    """A task whose computation produced a record its reader would reject raises (a bug)
    instead of writing a file the next run would reject again."""
    t = make_task("run")
    with pytest.raises(ValueError, match="produced an invalid result"):
        kernel.write_result(t, tmp_path, {"schema": "nb201.run/1", "run_id": t.run_id})
    assert not list(tmp_path.iterdir())


# ---- two processes, one task: 20 trials per kind ---------------------------------------------

RACE = textwrap.dedent(
    """
    import json, sys, time, pathlib, torch
    torch.set_num_threads(1)
    from nb201.train import RunSpec, task as kernel
    from nb201.fidelity import proxies as P
    from nb201.wsnas import SearchSpec, SearchTask
    kind, base, trials, me = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cls = {"run": RunSpec, "search": SearchTask, "proxy": P.ProxyTask}[kind]
    real = cls.compute
    def counted(self, out_dir, *a, **k):
        with open(base / "computed.log", "a") as f:  # one short O_APPEND write per computation
            f.write(f"{out_dir.name} {self.run_id}\\n")
        return real(self, out_dir, *a, **k)
    cls.compute = counted
    if kind == "run":
        job = lambda out: [kernel.execute(RunSpec(11472, "digits", "digits", "digits-cheap", 777,
                                                  json.loads(sys.argv[5])), out).status]
    elif kind == "search":
        spec = SearchSpec("gdas", "digits", "digits-valid", "digits", 777, json.loads(sys.argv[5]))
        job = lambda out: [kernel.execute(SearchTask(spec), out).status]
    else:
        cfg = P.ProxyConfig(C=2, N=1, image_size=8, batch_size=8)
        job = lambda out: [P.run_job([1, 2, 3], out, "digits", cfg, names=["synflow", "params"])]
    job(base / "warm")  # load the data once, outside the trials
    out = []
    for t in range(trials):
        trial = base / f"t{t}"
        trial.mkdir(exist_ok=True)
        (trial / f"ready-{me}").touch()
        while len(list(trial.glob("ready-*"))) < 2:  # both processes start the trial together
            time.sleep(0.001)
        out.append(job(trial))
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("kind", ["search", "proxy", "run"])
def test_two_processes_never_compute_one_task_twice(kind, tmp_path):
    trials = 20
    over = json.dumps(SEARCH_TINY if kind == "search" else RUN_TINY)
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    kids = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, kind, str(tmp_path), str(trials), str(k), over],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(2)
    ]
    results = [json.loads(p.communicate(timeout=600)[0]) for p in kids]
    assert all(p.returncode == 0 for p in kids)
    log = [line.split() for line in (tmp_path / "computed.log").read_text().splitlines()]
    per_trial = [[rid for folder, rid in log if folder == f"t{t}"] for t in range(trials)]
    expected = 3 if kind == "proxy" else 1
    assert [len(c) for c in per_trial] == [expected] * trials, "a task was computed twice (or never)"
    assert all(len(set(c)) == expected for c in per_trial)
    for t in range(trials):
        a, b = results[0][t], results[1][t]
        if kind == "proxy":
            assert a[0]["done"] + b[0]["done"] == 3 and a[0]["skipped"] + b[0]["skipped"] == 3
            assert a[0]["failed"] == b[0]["failed"] == 0
        else:
            assert sorted(a + b) == ["ok", "skipped"]
        trial = tmp_path / f"t{t}"
        assert not (trial / "rejected").exists() and not (trial / "ckpt").exists()


# ---- weight-sharing searches ------------------------------------------------------------------


def test_search_record_whose_arch_index_disagrees_with_its_arch_is_refused(tmp_path):
    spec = search_spec()
    rec = run_search(spec, tmp_path)
    path = SearchTask(spec).result_path(tmp_path)
    wrong = (rec["final"]["arch_index"] + 1) % 15625
    rec["epochs"][-1]["arch_index"] = rec["final"]["arch_index"] = wrong  # notebook 06 joins on it
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=rf"{path.name} is invalid.*does not match arch"):
        read_search_record(path)
    with pytest.warns(UserWarning, match=f"skipping search record {path}"):
        assert load_search_records(tmp_path) == []
    with pytest.warns(UserWarning, match="moved it to"):
        again = run_search(spec, tmp_path)  # re-run, not served
    assert Arch.from_string(again["final"]["arch"]).index == again["final"]["arch_index"] != wrong


def test_another_methods_record_under_this_searchs_name_is_not_returned(tmp_path):
    gdas, darts = search_spec("gdas"), search_spec("darts-v1")
    theirs = run_search(darts, tmp_path / "darts")
    (tmp_path / "gdas").mkdir()
    SearchTask(gdas).result_path(tmp_path / "gdas").write_text(json.dumps(theirs))
    with pytest.warns(UserWarning, match=r"moved it to"):
        rec = run_search(gdas, tmp_path / "gdas")
    assert rec["run_id"] == gdas.run_id and rec["spec"]["method"] == "gdas"
    reason = (tmp_path / "gdas" / "rejected" / f"{gdas.run_id}.reason.txt").read_text()
    assert darts.run_id in reason and gdas.run_id in reason


def test_torn_search_record_names_the_file_and_the_search_is_rerun(tmp_path):
    spec = search_spec()
    clean = run_search(spec, tmp_path)
    path = SearchTask(spec).result_path(tmp_path)
    path.write_text(path.read_text()[:300])
    with pytest.raises(ValueError, match=rf"{path}.*not valid JSON"):
        read_search_record(path)
    with pytest.warns(UserWarning, match="moved it to"):
        assert numbers(run_search(spec, tmp_path)) == numbers(clean)


def test_a_search_record_and_checkpoint_in_todays_format_are_accepted_and_resumed(tmp_path):
    """Long searches run by the code of before the kernel write `nb201.search/1` records and
    `nb201.search-ckpt/1` checkpoints (tests/data: a 2-epoch gdas search of that code and
    its checkpoint after epoch 0). The record is served as it is; the checkpoint is resumed,
    not discarded: epoch 0 comes from it, epoch 1 is that code's numbers."""
    today = json.loads((DATA / "search-record-today.json").read_text())
    s = today["spec"]
    spec = SearchSpec(s["method"], s["dataset"], s["split"], s["preset"], s["seed"], s["overrides"])
    assert spec.run_id == today["run_id"], "run ids of existing searches must not change"
    done = tmp_path / "done"
    done.mkdir()
    shutil.copy(DATA / "search-record-today.json", done / f"{spec.run_id}.json")
    before = (done / f"{spec.run_id}.json").stat().st_mtime_ns
    assert run_search(spec, done) == today and (done / f"{spec.run_id}.json").stat().st_mtime_ns == before
    ckpt = records.checkpoint_path(tmp_path / "resume", spec.run_id)
    ckpt.parent.mkdir(parents=True)
    shutil.copy(DATA / "search-ckpt-today.pt", ckpt)
    saved = torch.load(ckpt, weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "discarding checkpoint"
        resumed = run_search(spec, tmp_path / "resume")
    assert resumed["epochs"][0] == saved["epochs"][0] == today["epochs"][0]  # restored, times and all
    got, want = numbers(resumed)["epochs"][1], numbers(today)["epochs"][1]
    assert {k: v for k, v in got.items() if not isinstance(v, float)} == {
        k: v for k, v in want.items() if not isinstance(v, float)
    }
    assert {k: v for k, v in got.items() if isinstance(v, float)} == pytest.approx(
        {k: v for k, v in want.items() if isinstance(v, float)}, rel=1e-5
    )
    assert not ckpt.exists()


def test_a_search_checkpoint_with_impossible_epochs_is_kept_aside_and_the_search_restarts(tmp_path):
    spec = SearchSpec(
        "gdas",
        "digits",
        "digits-valid",
        "digits",
        777,
        json.loads((DATA / "search-record-today.json").read_text())["spec"]["overrides"],
    )
    ckpt = records.checkpoint_path(tmp_path, spec.run_id)
    ckpt.parent.mkdir(parents=True)
    state = torch.load(DATA / "search-ckpt-today.pt", weights_only=True)
    state["epochs"][0]["arch_index"] += 1  # no longer the index of its arch string
    torch.save(state, ckpt)
    with pytest.warns(UserWarning, match="discarding checkpoint.*does not match arch"):
        rec = run_search(spec, tmp_path)
    assert rec["epochs"][0]["arch_index"] == Arch.from_string(rec["epochs"][0]["arch"]).index
    assert (tmp_path / "rejected" / ckpt.name).exists(), "a checkpoint is moved aside, never deleted"


# ---- zero-cost proxies ----------------------------------------------------------------------


def _counting(monkeypatch) -> list[tuple[int, tuple[str, ...]]]:
    calls: list[tuple[int, tuple[str, ...]]] = []
    real = P.compute

    def counted(arch, x, y, config, names):
        calls.append((Arch.coerce(arch).index, tuple(names)))
        return real(arch, x, y, config, names)

    monkeypatch.setattr(P, "compute", counted)
    return calls


def test_a_job_refuses_a_work_folder_of_another_configuration(tmp_path, capsys):
    work = tmp_path / "work"
    P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    other = P.ProxyConfig(C=3, N=1, image_size=8, batch_size=8)
    with pytest.raises(ValueError, match=rf"work folder {work} holds proxies of another configuration"):
        P.run_job([1, 2, 3], work, "digits", other, names=PROXY_NAMES)
    args = ["--dataset", "digits", "--indices", "1", "--C", "3", "--N", "1", "--image-size", "8"]
    args += ["--batch-size", "8", "--work-dir", str(work), "--out", str(tmp_path / "t.parquet")]
    assert P.main(args) == 2 and "another configuration" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in work.iterdir()} == before and not (
        tmp_path / "t.parquet"
    ).exists()


def test_a_table_whose_name_and_metadata_disagree_is_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    P.run_job([1, 2, 3], work, "digits", PROXY_CFG, names=PROXY_NAMES)  # C=2
    tables = tmp_path / "data" / "proxies"
    tables.mkdir(parents=True)
    P.assemble(work, tables / "digits-C5-N1-8px-b8-s0.parquet")  # a name that says C=5
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"digits-C5-N1-8px-b8-s0.parquet: config.C: the name says 5"):
        Benchmark.open(BENCH).proxies(1, size="C5-N1-8px", dataset="digits")
    os.replace(tables / "digits-C5-N1-8px-b8-s0.parquet", tables / "digits-C2-N1-8px-b8-s0.parquet")
    assert Benchmark.open(BENCH).proxies(1, size="C2-N1-8px", dataset="digits")["table_index"] == 1


def test_a_per_arch_file_holding_another_arch_is_recomputed_not_served(tmp_path, monkeypatch):
    work = tmp_path / "work"
    P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    own = json.loads((work / "1.json").read_text())
    shutil.copy(work / "2.json", work / "1.json")  # 101.json holding 102's record, as found
    with pytest.raises(ValueError, match=r"1.json: it holds arch 2, not 1"):
        P.assemble(work, tmp_path / "t.parquet")
    calls = _counting(monkeypatch)
    with pytest.warns(UserWarning, match="moved it to"):
        counts = P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    assert (counts["done"], counts["skipped"]) == (1, 1) and [c[0] for c in calls] == [1]
    tables = tmp_path / "tables"
    frame = P.assemble(work, tables / "digits-C2-N1-8px-b8-s0.parquet")
    assert list(frame["index"]) == [1, 2]
    got = lookup([1, 2], "C2-N1-8px", dataset="digits", dirs=[tables])  # was: InvalidIndexError
    assert got.loc[1, "nwot"] == own["values"]["nwot"] and list(got["table_index"]) == [1, 2]


def test_a_per_arch_file_whose_arch_string_is_another_arch_is_recomputed(tmp_path):
    work = tmp_path / "work"
    P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    own = json.loads((work / "1.json").read_text())
    lie = {
        **own,
        "arch": str(Arch.from_index(2)),
        "values": json.loads((work / "2.json").read_text())["values"],
    }
    (work / "1.json").write_text(json.dumps(lie))
    with pytest.raises(ValueError, match=r"1.json: its arch string .* is arch 2, not 1"):
        P.assemble(work, tmp_path / "t.parquet")
    with pytest.warns(UserWarning, match="moved it to"):
        P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    assert json.loads((work / "1.json").read_text())["values"] == own["values"]


def test_a_torn_per_arch_file_is_named_and_recomputed(tmp_path):
    work = tmp_path / "work"
    P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    own = json.loads((work / "1.json").read_text())
    (work / "1.json").write_text((work / "1.json").read_text()[:60])
    with pytest.raises(ValueError, match=r"1.json: .*not valid JSON"):
        P.assemble(work, tmp_path / "t.parquet")
    with pytest.warns(UserWarning, match="moved it to"):
        assert P.run_job([1, 2], work, "digits", PROXY_CFG, names=PROXY_NAMES)["done"] == 1
    assert json.loads((work / "1.json").read_text())["values"] == own["values"]


def test_a_per_arch_file_in_todays_format_is_accepted_and_extended_only_by_new_proxies(tmp_path, monkeypatch):
    """The ~5,400 files of the published-size job were written by the code of before the
    kernel: compact JSON, keys index/arch/config/dataset/values/seconds/env, no grasp. They are
    accepted by content and not recomputed; asking for grasp too computes grasp alone."""
    from nb201 import data as nbdata

    data = nbdata.load_dataset("digits")
    x, y = P.minibatch(data.train_x, data.train_y, data.mean, data.std, PROXY_CFG)
    values = P.compute(7, x, y, PROXY_CFG, ["synflow", "snip", "nwot", "params", "flops"])
    work = tmp_path / "work"
    work.mkdir()
    today = {
        "schema": "nb201.proxies/1",
        "index": 7,
        "arch": str(Arch.from_index(7)),
        "config": {"C": 2, "N": 1, "image_size": 8, "batch_size": 8, "num_classes": 10, "seed": 0},
        "dataset": "digits",
        "values": {k: v for k, v in values.items() if not k.endswith("_seconds")},
        "seconds": {k[: -len("_seconds")]: v for k, v in values.items() if k.endswith("_seconds")},
        "env": {
            "torch": "2.13.0+cpu",
            "nb201": "0.1.0",
            "device": "cpu",
            "hostname": "vm",
            "git": "x",
            "threads": 1,
        },
    }
    (work / "7.json").write_text(json.dumps(today))
    blob = (work / "7.json").read_bytes()
    calls = _counting(monkeypatch)
    counts = P.run_job([7], work, "digits", PROXY_CFG, names=["synflow", "nwot", "params"])
    assert counts["skipped"] == 1 and calls == [] and (work / "7.json").read_bytes() == blob
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # extended, not rejected
        assert P.run_job([7], work, "digits", PROXY_CFG, names=["synflow", "grasp"])["done"] == 1
    assert calls == [(7, ("grasp",))]
    extended = json.loads((work / "7.json").read_text())
    assert {k: extended["values"][k] for k in today["values"]} == today["values"]
    assert extended["values"]["grasp"] == P.compute(7, x, y, PROXY_CFG, ["grasp"])["grasp"]


def _write_table(path: Path, frame, meta: dict) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({b"nb201": json.dumps(meta).encode()}), path)


def test_a_table_is_checked_against_what_it_claims_when_opened(tmp_path):
    work = tmp_path / "work"
    P.run_job([1, 2, 3], work, "digits", PROXY_CFG, names=PROXY_NAMES)
    good = tmp_path / "digits-C2-N1-8px-b8-s0.parquet"
    frame = P.assemble(work, good)
    _, meta = load_table(good)
    bad = tmp_path / "bad" / good.name
    bad.parent.mkdir()
    cases = {
        "index": frame.assign(index=frame["index"].astype(float)),
        "index: arch 2 has 2 rows": frame.assign(index=[1, 2, 2]),
        "arch: the row of arch 1": frame.assign(arch=[str(Arch.from_index(i)) for i in (2, 2, 3)]),
        "functional_key": frame.assign(functional_key=["x", *frame["functional_key"][1:]]),
    }
    for field, broken in cases.items():
        _write_table(bad, broken, meta)
        with pytest.raises(ValueError, match=rf"{bad}: {field}"):
            load_table(bad)
    _write_table(bad, frame, {**meta, "dataset": "cifar100"})
    with pytest.raises(ValueError, match=rf"{bad}: dataset: the name says 'digits'"):
        load_table(bad)


# ---- one rule for query arguments -----------------------------------------------------------


def test_a_per_architecture_metric_refuses_epoch_and_seed_arguments():
    bench = Benchmark.open(BENCH)
    archs = np.asarray(bench.evaluated_indexes[:5])
    score = bench.metrics(archs, "ranking-score")
    assert np.isfinite(score).all()
    for bad in ({"epoch": 999}, {"epoch": 0}, {"seeds": "bogus"}, {"seeds": 777}):
        with pytest.raises(ValueError, match="one value per architecture"):
            bench.metrics(archs, "ranking-score", **bad)
    with pytest.raises(ValueError, match="epoch must lie"):  # as the accuracy metrics do
        bench.metrics(archs, "ori-test-accuracy", epoch=999)
    with pytest.raises(ValueError, match="invalid seeds"):
        bench.metrics(archs, "ori-test-accuracy", seeds="bogus")


def test_empty_index_lists_give_empty_results():
    bench = Benchmark.open(BENCH)
    for metric in ("ranking-score", "ori-test-accuracy"):
        out = bench.metrics([], metric)
        assert out.shape == (0,) and out.dtype == np.float64
        assert bench.metrics(np.zeros((0, 3), dtype=np.int64), metric).shape == (0, 3)
    assert bench.metrics([], "ori-test-accuracy", epoch=0, seeds="random").shape == (0,)
    assert len(bench.proxies([])) == 0 and len(lookup([])) == 0
    with pytest.raises(ValueError, match="epoch must lie"):  # the arguments are still checked
        bench.metrics([], "ori-test-accuracy", epoch=999)


# ---- resolve once, carry the object ----------------------------------------------------------


def test_a_sweep_of_three_runs_resolves_each_runs_config_once(tmp_path, monkeypatch):
    calls = []
    real = presets.resolve_train_config

    def counted(preset, fidelity=None):
        calls.append(preset)
        return real(preset, fidelity)

    monkeypatch.setattr(presets, "resolve_train_config", counted)
    summary = sweep(
        [11472, 7, 1000],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity=RUN_TINY,
        out_dir=tmp_path,
        progress=False,
        engine_options={"num_threads": 1},
    )
    assert summary.done + summary.degenerate == 3 and not summary.failed
    assert calls == ["digits-cheap"] * 3, f"{len(calls)} resolutions for 3 runs"
    again = sweep(
        [11472, 7, 1000],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity=RUN_TINY,
        out_dir=tmp_path,
        progress=False,
    )
    assert again.skipped == 3 and len(calls) == 6


def test_a_spec_carries_its_resolved_config_and_arch():
    s = RunSpec(str(Arch.from_index(11472)), "digits", "digits", "digits-cheap", 777, RUN_TINY)
    assert isinstance(s.arch, Arch) and s.arch.index == 11472
    assert s.config.epochs == 1 and s.config_dict() == presets.resolve_config("digits-cheap", RUN_TINY)
    with pytest.raises(AttributeError):
        s.config.epochs = 3  # frozen
    clone = __import__("pickle").loads(__import__("pickle").dumps(s))
    assert clone.run_id == s.run_id and clone.config == s.config
