"""The Ray engine on a real two-node Ray cluster (loopback, 1 CPU per node), no mocks.

What is shown: a sweep through the cluster writes exactly one complete record per run,
with the same numbers as the local engine; killing the worker node's processes mid-sweep
loses nothing (Ray retries, the run resumes or restarts); killing the driver and starting
it again trains nothing twice. Every Ray process the tests start is stopped by pid at the
end (tests/raycluster.py), whatever the outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from raycluster import LocalRayCluster

from nb201.space import Arch
from nb201.train import LocalEngine, RunSpec, read_record, sweep
from nb201.train.ray_engine import RayEngine

pytestmark = pytest.mark.slow

# Cheap enough for a 2-core machine: 4 channels, one cell per stage, one epoch of 8x8 digits.
# No latency: it is a timing, and the records must compare equal.
FIDELITY = {"C": 4, "N": 1, "epochs": 1, "measure_latency": False}
ARCH_INDICES = (11, 123, 777, 1462, 2581, 4096, 6111, 8021, 11472, 15624)
SEEDS = (777, 888)
TIMED_KEYS = {"env", "finished_at"}  # and every "*time" key: measured, not computed


def make_specs() -> list[RunSpec]:
    return [
        RunSpec(str(Arch.from_index(i)), "digits", "digits", "digits-cheap", seed, FIDELITY)
        for seed in SEEDS
        for i in ARCH_INDICES
    ]


def comparable(record: dict) -> dict:
    """A record without what legitimately differs between two executions: times, env."""
    rec = {k: v for k, v in record.items() if k not in TIMED_KEYS and not k.endswith("time")}
    rec["epochs"] = [{k: v for k, v in e.items() if not k.endswith("time")} for e in record["epochs"]]
    return rec


def assert_one_complete_record_per_run(
    out: Path, specs: list[RunSpec], epochs: int = FIDELITY["epochs"]
) -> dict[str, dict]:
    """Exactly the expected record files, each a complete, parseable record of its run."""
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == sorted(f"{s.run_id}.json" for s in specs)
    recs = {}
    for s in specs:
        rec = read_record(out / f"{s.run_id}.json")  # raises on a torn file
        assert rec["run_id"] == s.run_id
        assert rec["status"] in ("ok", "degenerate")
        assert len(rec["epochs"]) == epochs
        recs[s.run_id] = rec
    assert not list((out / "ckpt").glob("*.pt")) if (out / "ckpt").exists() else True
    return recs


@pytest.fixture(scope="module")
def cluster():
    """Head + one worker node, 1 CPU each; this process is connected as a driver."""
    c = LocalRayCluster(num_cpus=1)
    saved = {k: os.environ.get(k) for k in c.auth}
    os.environ.update(c.auth)  # this process is a driver too
    try:
        c.start_head()
        c.add_node()
        ray.init(address=c.address, log_to_driver=False)
        c.wait_for_cpus(2)
        yield c
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        survivors = c.shutdown()
        assert not survivors, f"Ray processes survived the test cluster's shutdown: {survivors}"


@pytest.fixture
def two_nodes(cluster):
    """The cluster with a live worker node as `nodes[-1]`. A test before may have killed
    it, or Ray may have declared it dead; then Ray must notice the death before a fresh node
    stands in, or the dead node's CPU still counts and tasks are sent to it."""
    worker = cluster.nodes[-1]
    if not worker.alive_in_ray():
        worker.kill()  # whatever is left of it
        cluster.wait_until_dead_in_ray(worker)
        worker = cluster.add_node()
    cluster.wait_for_cpus(2)
    assert worker.alive_in_ray(), f"worker node {worker.name} did not join: {ray.nodes()}"
    for node in cluster.nodes:
        if node.alive_in_ray():
            _warm_up(node)
    return cluster


def _warm_up(node) -> None:
    """Leave an idle worker process with torch and nb201 imported on `node`. A cold worker
    spends seconds importing torch, while the warm one on the other node may finish a short
    sweep alone; then nothing runs on the node that a test kills mid-run."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    def _import_training() -> int:  # nested: pickled by value, workers cannot import tests/
        import nb201.train.run  # noqa: F401 - the import is the point

        return os.getpid()

    pinned = NodeAffinitySchedulingStrategy(node.node_id(), soft=False)
    pid = ray.get(ray.remote(_import_training).options(num_cpus=1, scheduling_strategy=pinned).remote())
    assert pid in node.pids(), f"the warm-up ran outside node {node.name}"


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> dict[str, dict]:
    """The same runs through the in-process engine, one thread (as a 1-CPU Ray task)."""
    out = tmp_path_factory.mktemp("local")
    specs = make_specs()
    outcomes = list(LocalEngine(num_threads=1).map(specs, str(out)))
    assert all(o.status in ("ok", "degenerate") for o in outcomes), outcomes
    return assert_one_complete_record_per_run(out, specs)


def test_two_node_sweep_matches_local_engine(two_nodes, local_reference, tmp_path):
    specs = make_specs()
    out = tmp_path / "runs"
    outcomes = list(RayEngine(address=two_nodes.address, num_cpus=1).map(specs, str(out)))

    assert sorted(o.run_id for o in outcomes) == sorted(s.run_id for s in specs)
    assert all(o.status in ("ok", "degenerate") for o in outcomes), [o.reason for o in outcomes]
    recs = assert_one_complete_record_per_run(out, specs)
    for rid, rec in recs.items():
        assert rec["env"]["threads"] == 1  # placement: torch threads = the task's num_cpus
        assert comparable(rec) == comparable(local_reference[rid])
    _assert_same_benchmark(out, local_reference, tmp_path)


def _assert_same_benchmark(out: Path, local_reference: dict[str, dict], tmp_path: Path) -> None:
    """The benchmark built from the Ray records equals the one from the local records."""
    from nb201.benchmark.store import list_substores, open_substore
    from nb201.benchmark.store.aggregate import aggregate

    local_dir = tmp_path / "local-runs"
    local_dir.mkdir()
    for rid, rec in local_reference.items():
        (local_dir / f"{rid}.json").write_text(json.dumps(rec))
    subs = {}
    for name, runs in (("ray", out), ("local", local_dir)):
        report = aggregate(runs, tmp_path / f"bench-{name}")
        assert not report.malformed, report
        for r in report.substores.values():
            assert (r.runs, r.failed, r.duplicates, r.conflicts) == (len(local_reference), [], [], []), report
        (path,) = list_substores(tmp_path / f"bench-{name}")
        subs[name] = open_substore(path)
    ray_sub, local_sub = subs["ray"], subs["local"]
    assert ray_sub.metrics == local_sub.metrics and ray_sub.seeds == local_sub.seeds
    assert np.array_equal(ray_sub.archs, local_sub.archs)
    assert np.array_equal(ray_sub.present, local_sub.present) and ray_sub.present.all()
    numbers = [k for k, m in enumerate(ray_sub.metrics) if not m.endswith("-time")]
    assert len(numbers) >= 6  # losses and accuracies of every eval set, not just the lr
    np.testing.assert_array_equal(ray_sub.data[..., numbers], local_sub.data[..., numbers])
    ray_costs, local_costs = ray_sub.costs(), local_sub.costs()
    for col in ("params", "flops"):
        np.testing.assert_array_equal(ray_costs[col], local_costs[col])


DRIVER = textwrap.dedent(
    """
    import json, sys
    from nb201.train import RunSpec
    from nb201.train.ray_engine import RayEngine
    address, specs_file, out = sys.argv[1:4]
    specs = [RunSpec(**d) for d in json.loads(open(specs_file).read())]
    engine = RayEngine(address=address, num_cpus=1, init_kwargs={"log_to_driver": False})
    for outcome in engine.map(specs, out):
        print(outcome.run_id, outcome.status, flush=True)
    """
)


def test_driver_killed_and_restarted_trains_nothing_twice(two_nodes, tmp_path):
    specs = make_specs()
    out = tmp_path / "runs"
    specs_file = tmp_path / "specs.json"
    specs_file.write_text(
        json.dumps(
            [
                {
                    "arch": str(s.arch),
                    "dataset": s.dataset,
                    "split": s.split,
                    "preset": s.preset,
                    "seed": s.seed,
                    "fidelity": s.fidelity,
                }
                for s in specs
            ]
        )
    )
    driver = two_nodes.spawn(
        [sys.executable, "-c", DRIVER, two_nodes.address, str(specs_file), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.json"))) < 4:
        assert driver.poll() is None, driver.stdout.read().decode()
        assert time.monotonic() < deadline, "the driver wrote no records in 300 s"
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    driver.stdout.close()
    # Ray kills the dead driver's tasks; one may still finish meanwhile, so wait until the
    # cluster has no task of that job left before taking stock.
    _wait_for_idle_cluster()

    before = {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in out.glob("*.json")}
    assert 4 <= len(before) < len(specs), "kill the driver mid-sweep, not after it"

    summary = sweep(
        [s.arch for s in specs[: len(ARCH_INDICES)]],
        "digits",
        "digits-cheap",
        seeds=list(SEEDS),
        fidelity=FIDELITY,
        out_dir=out,
        engine="ray",
        engine_options={"address": two_nodes.address, "num_cpus": 1},
        progress=False,
    )
    assert summary.total == len(specs)
    assert summary.skipped == len(before), summary
    assert summary.done + summary.degenerate == len(specs) - len(before), summary
    assert not summary.failed, summary
    for name, (mtime, digest) in before.items():  # finished runs were not rewritten
        path = out / name
        assert path.stat().st_mtime_ns == mtime and _sha(path) == digest
    assert_one_complete_record_per_run(out, specs)


def test_worker_node_killed_mid_sweep(two_nodes, local_reference, tmp_path):
    specs = make_specs()
    out = tmp_path / "runs"
    worker = two_nodes.nodes[-1]
    killed: dict[str, object] = {}

    sweep_over = threading.Event()
    polls = {"n": 0, "worker_busy": 0}

    def kill_when_some_records_exist() -> None:
        # Kill while the worker node is training a run, so that a task really dies.
        while not sweep_over.is_set():
            busy = worker.running_tasks("_run_task")
            polls["n"] += 1
            polls["worker_busy"] += bool(busy)
            if len(list(out.glob("*.json"))) >= 3 and busy:
                killed["records_before"] = len(list(out.glob("*.json")))
                killed["busy"] = busy
                killed["pids"] = worker.kill()
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_some_records_exist, daemon=True)
    killer.start()
    try:
        outcomes = list(RayEngine(address=two_nodes.address, num_cpus=1, max_retries=3).map(specs, str(out)))
    finally:
        sweep_over.set()
        killer.join(timeout=60)

    assert "busy" in killed, f"never saw the worker node train a run once 3 records existed: {polls}"
    assert set(killed["busy"]) <= set(killed["pids"]), "no run was in flight there"
    assert killed["records_before"] < len(specs), "the worker node died only after the sweep"
    assert not any(_alive(p) for p in killed["pids"])
    assert sorted(o.run_id for o in outcomes) == sorted(s.run_id for s in specs)
    assert all(o.status in ("ok", "degenerate") for o in outcomes), [o.reason for o in outcomes]
    recs = assert_one_complete_record_per_run(out, specs)
    for rid, rec in recs.items():  # retried runs computed the same numbers
        assert comparable(rec) == comparable(local_reference[rid])


def test_retried_run_resumes_from_its_checkpoint(two_nodes, tmp_path):
    """Kill the worker node mid-run: the retried run continues from its last epoch
    checkpoint (its first epochs, wall-clock times included, are the ones trained before
    the kill) and ends with the same numbers as an uninterrupted run."""
    from nb201.train.records import checkpoint_path, load_checkpoint, record_path

    fidelity = {**FIDELITY, "C": 8, "epochs": 10}
    archs = [str(Arch.from_index(i)) for i in (11472, 6111)]
    specs = [RunSpec(a, "digits", "digits", "digits-cheap", 777, fidelity) for a in archs]
    out = tmp_path / "runs"
    worker = two_nodes.nodes[-1]
    seen: dict[str, object] = {}
    sweep_over = threading.Event()
    polls = {"n": 0, "worker_busy": 0}

    def kill_when_every_unfinished_run_has_a_checkpoint() -> None:
        # The worker node trains one of the two runs; once every run is either finished or
        # has a checkpoint while the worker is busy, the worker's run has one too.
        while not sweep_over.is_set():
            busy = worker.running_tasks("_run_task")
            polls["n"] += 1
            polls["worker_busy"] += bool(busy)
            unfinished = [s for s in specs if not record_path(out, s.run_id).exists()]
            try:
                snapshot = {s.run_id: checkpoint_path(out, s.run_id).read_bytes() for s in unfinished}
            except FileNotFoundError:  # atomic files: complete or absent
                snapshot = None
            if busy and unfinished and snapshot is not None:
                seen["pids"] = worker.kill()
                seen["snapshot"] = snapshot
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_every_unfinished_run_has_a_checkpoint, daemon=True)
    killer.start()
    try:
        outcomes = list(RayEngine(address=two_nodes.address, num_cpus=1).map(specs, str(out)))
    finally:
        sweep_over.set()
        killer.join(timeout=60)

    assert "snapshot" in seen, f"never saw the worker node training a run that had a checkpoint: {polls}"
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.reason for o in outcomes]
    recs = assert_one_complete_record_per_run(out, specs, epochs=10)
    for run_id, blob in seen["snapshot"].items():
        (tmp_path / "ckpt.pt").write_bytes(blob)
        done = load_checkpoint(tmp_path / "ckpt.pt", run_id)["epochs"]
        assert 1 <= len(done) < 10
        assert recs[run_id]["epochs"][: len(done)] == done  # resumed: the same epochs, same times
    for spec in specs:
        (uninterrupted,) = LocalEngine(num_threads=1).map([spec], str(tmp_path / "reference"))
        assert comparable(recs[spec.run_id]) == comparable(read_record(uninterrupted.path))


def test_a_run_that_raises_is_a_failed_outcome_and_the_others_go_on(cluster, tmp_path):
    missing = tmp_path / "no-such-dataset"
    bad = RunSpec(make_specs()[1].arch, f"folder:{missing}", "no-such-dataset", "digits-cheap", 777, FIDELITY)
    good = make_specs()[0]
    engine = RayEngine(address=cluster.address)
    outcomes = {o.run_id: o for o in engine.map([bad, good], str(tmp_path / "runs"))}
    assert outcomes[good.run_id].status == "ok"
    failed = outcomes[bad.run_id]
    assert failed.status == "failed" and failed.path == ""
    assert "FileNotFoundError" in failed.reason and str(missing) in failed.reason
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == [f"{good.run_id}.json"]


def test_proxy_job_on_the_cluster_equals_direct_computation_and_resumes(two_nodes, tmp_path, one_thread):
    """The proxy table job (`nb201.fidelity.proxies.ProxyTask` through the same engine): stopped after
    its first architecture, then rerun, it computes only the missing ones, each equal to the
    in-process computation; an expected failure is a `failed` outcome without a file."""
    from test_proxies import JOB, TINY, direct_values

    from nb201.fidelity import proxies as P

    work, options = tmp_path / "proxies", {"address": two_nodes.address, "num_cpus": 1}
    first = P.run_job(JOB, work, "digits", TINY, limit_seconds=0.0, engine="ray", engine_options=options)
    assert first["done"] == 1 and first["failed"] == 0, first
    kept = {p.name: p.read_text() for p in work.glob("*.json")}
    second = P.run_job(JOB, work, "digits", TINY, engine="ray", engine_options=options)
    assert second["skipped"] >= len(kept) and second["done"] + second["skipped"] == len(JOB), second
    assert second["failed"] == 0 and {n: (work / n).read_text() for n in kept} == kept
    for index in JOB:
        record = json.loads((work / f"{index}.json").read_text())
        assert record["values"] == direct_values(index) and record["env"]["threads"] == 1
    assert ray.is_initialized(), "the engine left the driver's own connection open"
    bad = P.ProxyTask(JOB[0], f"folder:{tmp_path / 'no-such-dataset'}", TINY)
    (failed,) = RayEngine(address=two_nodes.address).map([bad], str(tmp_path / "bad"))
    assert failed.status == "failed" and failed.path == "" and "no-such-dataset" in failed.reason
    assert not list((tmp_path / "bad").glob("*.json"))


def test_local_instance_when_no_address(tmp_path, cluster):
    """address=None starts a private Ray instance even though a cluster runs here."""
    specs = make_specs()[:2]
    script = textwrap.dedent(
        """
        import json, sys
        import ray
        from nb201.train import RunSpec
        from nb201.train.ray_engine import RayEngine
        out, temp_dir, fid, *archs = sys.argv[1:]
        specs = [RunSpec(a, "digits", "digits", "digits-cheap", 777, json.loads(fid)) for a in archs]
        kwargs = {"_temp_dir": temp_dir, "include_dashboard": False, "log_to_driver": False}
        with RayEngine(local_num_cpus=1, init_kwargs=kwargs) as engine:
            statuses = [o.status for o in engine.map(specs, out)]
            nodes = len(ray.nodes())
        print(json.dumps({"statuses": statuses, "nodes": nodes}))
        """
    )
    temp_dir = tempfile.mkdtemp(prefix="nb201ray-", dir="/tmp")  # short: unix socket paths
    try:
        proc = cluster.spawn(
            [sys.executable, "-c", script, str(tmp_path / "runs"), temp_dir, json.dumps(FIDELITY)]
            + [str(s.arch) for s in specs],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result == {"statuses": ["ok", "ok"], "nodes": 1}  # its own node, not the 2-node cluster
    assert_one_complete_record_per_run(tmp_path / "runs", specs)


def test_ray_is_imported_only_for_the_ray_engine(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from nb201.train import sweep
        s = sweep([{ARCH_INDICES[0]}], "digits", "digits-cheap", seeds=[777], fidelity={FIDELITY!r},
                  out_dir={str(tmp_path / "runs")!r}, progress=False)
        assert s.done == 1, s
        assert "ray" not in sys.modules, "the local engine imported ray"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_cpus": 0, "num_gpus": 0}, "both 0"),
        ({"num_gpus": 1.5}, "whole number"),
        ({"num_cpus": -1}, "num_cpus"),
        ({"max_retries": "3"}, "max_retries"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ],
)
def test_bad_options_are_rejected_with_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RayEngine(**kwargs)


def test_url_results_folder_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="mount the storage"):
        list(RayEngine().map(make_specs()[:1], "s3://bucket/runs"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_idle_cluster(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total, avail = ray.cluster_resources(), ray.available_resources()
        if avail.get("CPU", 0) >= total.get("CPU", 0):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the dead driver's tasks still hold CPUs after {timeout}s")


def test_weight_sharing_searches_on_the_cluster_equal_local_runs(two_nodes, tmp_path, one_thread):
    """Supernet searches (`nb201.wsnas.run_searches`) fan out over the same Ray engine as
    training runs and give the records an in-process search gives."""
    from nb201.wsnas import SearchSpec, run_search, run_searches

    specs = [SearchSpec(m, "digits", "digits-valid", "digits", 777, {"epochs": 1}) for m in ("rsps", "enas")]
    options = {"address": two_nodes.address, "num_cpus": 1}
    records = run_searches(specs, tmp_path / "ray", engine="ray", engine_options=options)
    drop = ("env", "wall_time", "cpu_time", "finished_at")
    times = ("train-time", "valid-time", "derive-time", "epoch-time")

    def numbers(rec: dict) -> dict:
        out = {k: v for k, v in rec.items() if k not in drop}
        out["epochs"] = [{k: v for k, v in e.items() if k not in times} for e in rec["epochs"]]
        return out

    for spec, rec in zip(specs, records):
        assert rec["run_id"] == spec.run_id
        assert numbers(rec) == numbers(run_search(spec, tmp_path / "local", num_threads=1))
    assert ray.is_initialized(), "the engine left the driver's own connection open"
