"""Training protocol, run records, resume, sweeps: real training on the embedded digits.

Kept small (C=4, N=1, a quarter of the digits training set, 1-3 epochs) so the file runs
in well under a minute on one thread; every test trains real networks with real torch.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nb201.config import TrainConfig
from nb201.space import Arch
from nb201.space.model import build_network
from nb201.train import (
    KNOBS,
    LocalEngine,
    RunSpec,
    checkpoint_path,
    load_preset,
    loop,
    read_record,
    record_path,
    resolve_config,
    run_one,
    sweep,
)

TINY = {"C": 4, "N": 1, "epochs": 1, "batch_size": 64, "train_fraction": 0.25, "eval_fraction": 0.5}
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CHEAP = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
DEGENERATE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
TIME_KEYS = ("wall_time", "cpu_time", "finished_at", "env", "cost")


@pytest.fixture(scope="module", autouse=True)
def _small_and_isolated(tmp_path_factory):
    """One thread (determinism across processes, and a shared machine); splits and caches
    in a temp dir so that tests never write into the checkout."""
    old_threads, old_env = torch.get_num_threads(), os.environ.get("NB201_DATA_DIR")
    torch.set_num_threads(1)
    os.environ["NB201_DATA_DIR"] = str(tmp_path_factory.mktemp("nb201data"))
    loop.prepare.cache_clear()
    yield
    torch.set_num_threads(old_threads)
    if old_env is None:
        os.environ.pop("NB201_DATA_DIR", None)
    else:
        os.environ["NB201_DATA_DIR"] = old_env
    loop.prepare.cache_clear()


def spec(arch: str = BEST, seed: int = 777, **fidelity) -> RunSpec:
    return RunSpec(arch, "digits", "digits", "digits-cheap", seed, {**TINY, **fidelity})


def strip_times(record: dict) -> dict:
    """The record without anything that legitimately differs between two identical runs."""
    rec = {k: v for k, v in record.items() if k not in TIME_KEYS}
    rec["epochs"] = [{k: v for k, v in row.items() if not k.endswith("-time")} for row in record["epochs"]]
    return rec


def leftovers(out_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())


# ---- presets and configs -------------------------------------------------------------
def test_paper_presets_match_the_paper():
    for name, epochs in (("200", 200), ("12", 12)):
        p = load_preset(name)
        c = p["config"]
        assert p["seeds"] == [777, 888, 999]
        assert c["epochs"] == epochs and c["batch_size"] == 256 and c["lr"] == 0.1
        assert c["momentum"] == 0.9 and c["nesterov"] is True and c["weight_decay"] == 5e-4
        assert (c["C"], c["N"], c["train_fraction"], c["image_size"]) == (16, 5, 1.0, "native")
        assert (c["schedule"], c["loss"], c["warmup_epochs"], c["eta_min"]) == (
            "cosine",
            "cross_entropy",
            0,
            0.0,
        )
        for e in (0, 1, epochs // 2, epochs - 1):  # lr(e) = 0.05 (1 + cos(pi e / T))
            assert c["lr"] * loop.lr_factor(e, TrainConfig(**c)) == pytest.approx(
                0.05 * (1 + math.cos(math.pi * e / epochs))
            )
    assert load_preset("cpu-cifar")["provisional"] is False  # calibrated by the fidelity study
    assert set(load_preset("digits-cheap")["config"]) == set(KNOBS)


def test_run_id_hashes_the_resolved_config():
    a = spec()
    assert a.run_id == spec().run_id
    assert a.run_id == RunSpec(BEST, "digits", "digits", "digits-cheap", 777, {**TINY, "lr": 0.1}).run_id
    assert a.run_id != spec(seed=888).run_id
    assert a.run_id != spec(epochs=2).run_id
    assert a.run_id != spec(arch=CHEAP).run_id
    assert (
        RunSpec(Arch.from_string(BEST).index, "digits", "digits", "digits-cheap", 777, TINY).run_id
        == a.run_id
    )
    # where the data lives and whether weights are kept do not change the numbers
    assert (
        RunSpec(BEST, "digits", "digits", "digits-cheap", 777, TINY, data_root="/x", save_weights=True).run_id
        == a.run_id
    )


def test_bad_config_inputs_raise_clear_errors():
    with pytest.raises(
        KeyError, match="unknown preset 'nope'.*12, 200, cpu-cifar, cpu-cifar-8ep, digits-cheap"
    ):
        load_preset("nope")
    with pytest.raises(KeyError, match="unknown fidelity knob 'epoch'.*valid knobs"):
        resolve_config("12", {"epoch": 3})
    with pytest.raises(ValueError, match="train_fraction.*fraction in"):
        resolve_config("12", {"train_fraction": 1.5})
    with pytest.raises(ValueError, match="image_size.*multiple of 4"):
        resolve_config("12", {"image_size": 30})
    with pytest.raises(ValueError, match="'C' must be an integer"):
        resolve_config("12", {"C": 4.5})
    with pytest.raises(ValueError, match="unknown op"):
        RunSpec("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "digits", "digits", "12", 777)


# ---- one run -------------------------------------------------------------------------
def test_one_epoch_run_records_every_field(tmp_path):
    s = RunSpec(BEST, "digits", "digits", "digits-cheap", 777, TINY, save_weights=True)
    out = run_one(s, tmp_path)
    assert out.status == "ok" and out.reason is None and out.wall_time > 0 and out.cpu_time > 0
    rec = read_record(out.path)
    assert Path(out.path) == record_path(tmp_path, s.run_id)
    assert rec["schema"] == "nb201.run/1" and rec["run_id"] == s.run_id and rec["status"] == "ok"
    assert rec["spec"] == {
        "arch": BEST,
        "dataset": "digits",
        "split": "digits",
        "preset": "digits-cheap",
        "seed": 777,
        "fidelity": TINY,
    }
    assert rec["config"] == resolve_config("digits-cheap", TINY)
    assert rec["arch_index"] == Arch.from_string(BEST).index and rec["hp"] == "digits-cheap"
    assert rec["failure"] is None and rec["represents"] is None and rec["shared_from"] is None
    assert rec["data"]["num_classes"] == 10 and rec["data"]["input_shape"] == [1, 8, 8]
    assert set(rec["data"]["eval_sizes"]) == {"x-valid", "x-test", "ori-test"}

    assert len(rec["epochs"]) == 1
    row = rec["epochs"][0]
    expected = {"epoch", "lr", "train-loss", "train-accuracy", "train-top5", "train-time"}
    for name in ("x-valid", "x-test", "ori-test"):
        expected |= {f"{name}-loss", f"{name}-accuracy", f"{name}-time"}
    assert set(row) == expected
    assert row["epoch"] == 0 and row["lr"] == pytest.approx(0.1)
    assert 0 < row["train-loss"] < 10 and row["train-time"] > 0
    assert 0 <= row["train-accuracy"] <= row["train-top5"] <= 100
    for name in ("x-valid", "x-test", "ori-test"):
        assert (
            0 <= row[f"{name}-accuracy"] <= 100
            and math.isfinite(row[f"{name}-loss"])
            and row[f"{name}-time"] > 0
        )

    from nb201.space import cost as nbcost

    assert rec["cost"]["params"] == nbcost.count_params(BEST, 10, C=4, N=1, in_channels=1)
    assert rec["cost"]["flops"] == nbcost.count_flops(BEST, (1, 8, 8), 10, C=4, N=1)
    assert rec["cost"]["latency"] > 0
    env = rec["env"]
    for key in ("python", "torch", "numpy", "nb201", "device", "threads", "git", "hostname"):
        assert key in env
    assert env["torch"] == torch.__version__ and env["threads"] == 1 and env["device"] == "cpu"
    assert rec["wall_time"] > 0 and rec["cpu_time"] > 0 and rec["finished_at"].endswith("Z")

    # the weights are the trained network's; the checkpoint is gone; nothing else is left
    assert rec["weights"] == f"{s.run_id}.pt"
    net = build_network(BEST, 10, C=4, N=1, in_channels=1)
    net.load_state_dict(torch.load(tmp_path / rec["weights"]))
    assert not checkpoint_path(tmp_path, s.run_id).exists()
    assert leftovers(tmp_path) == sorted([f"{s.run_id}.json", f"{s.run_id}.pt"])
    json.loads(Path(out.path).read_text())  # plain JSON, no NaN


def test_rerun_of_a_finished_run_is_a_no_op(tmp_path):
    s = spec()
    first = run_one(s, tmp_path)
    before = Path(first.path).stat().st_mtime_ns, Path(first.path).read_bytes()
    again = run_one(s, tmp_path)
    assert again.status == "skipped" and again.wall_time == 0.0 and again.path == first.path
    assert (Path(first.path).stat().st_mtime_ns, Path(first.path).read_bytes()) == before


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a = read_record(run_one(spec(), tmp_path / "a").path)
    b = read_record(run_one(spec(), tmp_path / "b").path)
    c = read_record(run_one(spec(seed=888), tmp_path / "c").path)
    assert strip_times(a) == strip_times(b)
    assert a["epochs"][0]["train-loss"] != c["epochs"][0]["train-loss"]


CHILD = textwrap.dedent(
    """
    import json, sys, time, pathlib
    import torch
    torch.set_num_threads(1)
    import nb201.train.records as records
    from nb201.train import RunSpec, run_one

    out_dir, marker, spec = sys.argv[1], pathlib.Path(sys.argv[2]), RunSpec(**json.loads(sys.argv[3]))
    real_save = records.save_checkpoint

    def save_then_hang(path, state):
        real_save(path, state)
        marker.write_text(str(len(state["epochs"])))
        time.sleep(600)  # the parent kills us here, right after a real checkpoint

    records.save_checkpoint = save_then_hang
    run_one(spec, out_dir)
    """
)


def test_resume_after_kill_gives_exactly_the_uninterrupted_numbers(tmp_path, monkeypatch):
    s = spec(epochs=3)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    marker = tmp_path / "checkpointed"
    args = {
        "arch": str(s.arch),
        "dataset": s.dataset,
        "split": s.split,
        "preset": s.preset,
        "seed": s.seed,
        "fidelity": s.fidelity,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(killed), str(marker), json.dumps(args)], env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, "the child run ended before writing its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert marker.read_text() == "1"  # killed after epoch 0 of 3
    assert checkpoint_path(killed, s.run_id).exists() and not record_path(killed, s.run_id).exists()

    trained = []
    real_epoch = loop.train_epoch
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: trained.append(1) or real_epoch(*a, **k))
    resumed = run_one(s, killed)
    assert resumed.status == "ok" and len(trained) == 2  # resumed at epoch 1, not restarted
    assert not checkpoint_path(killed, s.run_id).exists()
    monkeypatch.undo()
    reference = run_one(s, clean)
    a, b = read_record(resumed.path), read_record(reference.path)
    assert len(a["epochs"]) == 3
    assert strip_times(a) == strip_times(b)  # bit-for-bit equal metrics


def test_stale_checkpoint_of_another_run_is_ignored(tmp_path):
    s = spec()
    ck = checkpoint_path(tmp_path, s.run_id)
    ck.parent.mkdir(parents=True)
    torch.save({"schema": "nb201.ckpt/1", "run_id": "someone-else", "epochs": [{"epoch": 0}]}, ck)
    rec = read_record(run_one(s, tmp_path).path)
    assert rec["status"] == "ok" and len(rec["epochs"]) == 1 and not ck.exists()


# ---- failures, degenerate cells, dedup ---------------------------------------------------
def test_nan_loss_is_recorded_as_failed_and_does_not_stop_the_sweep(tmp_path):
    out = run_one(spec(lr=1e6, epochs=2), tmp_path)
    assert out.status == "failed" and "non-finite" in out.reason
    rec = read_record(out.path)
    assert (
        rec["status"] == "failed"
        and rec["failure"]["epoch"] == 0
        and "non-finite" in rec["failure"]["reason"]
    )
    assert rec["epochs"] == [] and rec["weights"] is None
    assert leftovers(tmp_path) == [f"{rec['run_id']}.json"]  # no checkpoint left

    summary = sweep(
        [BEST, CHEAP],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity={**TINY, "lr": 1e6},
        out_dir=tmp_path / "sweep",
        progress=False,
    )
    assert summary.total == 2 and summary.done == 0 and len(summary.failed) == 2
    assert {arch for _, arch, _ in summary.failed} == {BEST, CHEAP}
    assert "failed" in str(summary)
    # a finished failure is a result: the next sweep skips it
    assert (
        sweep(
            [BEST, CHEAP],
            "digits",
            "digits-cheap",
            seeds=[777],
            fidelity={**TINY, "lr": 1e6},
            out_dir=tmp_path / "sweep",
            progress=False,
        ).skipped
        == 2
    )


def test_degenerate_arch_is_chance_level_without_training(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: pytest.fail("a degenerate cell must not train"))
    rec = read_record(run_one(spec(arch=DEGENERATE, epochs=2), tmp_path).path)
    assert rec["status"] == "degenerate" and len(rec["epochs"]) == 2
    for row in rec["epochs"]:
        assert row["train-accuracy"] == 10.0 and row["train-loss"] == pytest.approx(math.log(10))
        for name in ("x-valid", "x-test", "ori-test"):
            assert row[f"{name}-accuracy"] == 10.0 and row[f"{name}-loss"] == pytest.approx(math.log(10))
    assert rec["epochs"][1]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi / 2)))
    assert rec["cost"]["params"] > 0


def test_dedup_trains_one_per_functional_class_and_shares(tmp_path, monkeypatch):
    # Only the edge 0->3 (skip) reaches the output: nodes 1 and 2 are dead in both.
    a = Arch(("nor_conv_3x3", "nor_conv_3x3", "none", "skip_connect", "none", "none"))
    b = Arch(("avg_pool_3x3", "none", "nor_conv_1x1", "skip_connect", "none", "none"))
    assert a.functional_key() == b.functional_key() and a != b
    rep, member = sorted((a, b), key=lambda x: x.index)
    trained = []
    real_epoch = loop.train_epoch
    monkeypatch.setattr(loop, "train_epoch", lambda *x, **k: trained.append(1) or real_epoch(*x, **k))
    summary = sweep(
        [a, b, CHEAP, DEGENERATE],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity=TINY,
        out_dir=tmp_path,
        dedup=True,
        progress=False,
    )
    assert (summary.total, summary.done, summary.shared, summary.degenerate, summary.failed) == (
        4,
        2,
        1,
        1,
        [],
    )
    assert len(trained) == 2  # rep and CHEAP; not the member, not the degenerate cell
    rep_rec = read_record(record_path(tmp_path, spec(arch=str(rep)).run_id))
    mem_rec = read_record(record_path(tmp_path, spec(arch=str(member)).run_id))
    assert mem_rec["shared_from"] == rep_rec["run_id"] and mem_rec["spec"]["arch"] == str(member)
    assert mem_rec["arch_index"] == member.index and mem_rec["epochs"] == rep_rec["epochs"]
    assert rep_rec["represents"] == sorted([str(a), str(b)])
    from nb201.space import cost as nbcost

    assert mem_rec["cost"]["params"] == nbcost.count_params(member, 10, C=4, N=1, in_channels=1)
    assert mem_rec["cost"]["params"] != rep_rec["cost"]["params"]
    again = sweep(
        [a, b, CHEAP, DEGENERATE],
        "digits",
        "digits-cheap",
        seeds=[777],
        fidelity=TINY,
        out_dir=tmp_path,
        dedup=True,
        progress=False,
    )
    assert again.skipped == 4 and again.done == again.shared == 0


def test_sweep_summary_table_and_engine_contract(tmp_path):
    class Recording(LocalEngine):
        seen = []

        def map(self, specs, out_dir):
            self.seen.extend(specs)
            yield from super().map(specs, out_dir)

    eng = Recording()
    summary = sweep(
        [BEST],
        ["digits"],
        "digits-cheap",
        seeds=[777, 888],
        fidelity=TINY,
        out_dir=tmp_path,
        engine=eng,
        progress=True,
    )
    assert [s.seed for s in eng.seen] == [777, 888]
    assert summary.done == 2 and summary.cpu_hours > 0 and summary.wall_time > 0
    text = str(summary)
    assert "trained" in text and "cpu hours" in text
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(f"{s.run_id}.json" for s in eng.seen)


# ---- bad inputs: clear errors, nothing left behind -------------------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"dataset": "mnist", "split": "mnist"}, ValueError, "unknown dataset 'mnist'"),
        ({"split": "cifar10-valid"}, ValueError, "unknown split 'cifar10-valid'"),
        (
            {"dataset": "folder:/nonexistent/images.zip", "split": "images"},
            FileNotFoundError,
            "/nonexistent/images.zip",
        ),
        ({"preset": "nope"}, KeyError, "unknown preset"),
        ({"fidelity": {"lrr": 1}}, KeyError, "unknown fidelity knob"),
    ],
)
def test_bad_inputs_raise_and_leave_no_record(tmp_path, kwargs, error, match):
    fields = {
        "arch": BEST,
        "dataset": "digits",
        "split": "digits",
        "preset": "digits-cheap",
        "seed": 777,
        "fidelity": TINY,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        run_one(RunSpec(**fields), tmp_path)
    with pytest.raises(error, match=match):
        sweep(
            [BEST],
            [(fields["dataset"], fields["split"])],
            fields["preset"],
            seeds=[777],
            fidelity=fields["fidelity"],
            out_dir=tmp_path,
            progress=False,
        )
    assert not tmp_path.exists() or leftovers(tmp_path) == []


def test_sweep_rejects_unknown_engine_and_empty_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown engine 'dask'"):
        sweep([BEST], "digits", "digits-cheap", seeds=[777], fidelity=TINY, out_dir=tmp_path, engine="dask")
    with pytest.raises(ValueError, match="no architectures"):
        sweep([], "digits", "digits-cheap", out_dir=tmp_path)
    with pytest.raises(ValueError, match="no datasets"):
        sweep([BEST], [], "digits-cheap", out_dir=tmp_path)


def test_fidelity_knobs_shape_the_data(tmp_path):
    rec = read_record(run_one(spec(image_size=16, train_fraction=0.5, eval_fraction=0.25), tmp_path).path)
    data = rec["data"]
    assert data["input_shape"] == [1, 16, 16]
    assert data["train_size"] == pytest.approx(1198 * 0.5, abs=10)  # 2/3 of 1,797 digits, halved per class
    assert data["eval_sizes"]["ori-test"] == pytest.approx(599 * 0.25, abs=10)
    assert rec["config"]["image_size"] == 16 and rec["config"]["train_fraction"] == 0.5
    assert rec["cost"]["flops"] > read_record(run_one(spec(), tmp_path / "native").path)["cost"]["flops"]
    prepared = loop.prepare("digits", "digits", None, 0.5, 1.0, 16)
    counts = torch.bincount(prepared.train_y, minlength=10)
    assert counts.min() >= 55 and counts.max() <= 65  # class-stratified: ~60 per class


def test_a_crashing_run_is_reported_not_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real_epoch = loop.train_epoch

    def crash_on_cheap(model, *args, **kwargs):
        if str(model.arch) == CHEAP:
            raise RuntimeError("simulated out of memory")
        return real_epoch(model, *args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", crash_on_cheap)
    summary = sweep(
        [CHEAP, BEST], "digits", "digits-cheap", seeds=[777], fidelity=TINY, out_dir=tmp_path, progress=False
    )
    assert summary.done == 1 and len(summary.failed) == 1
    run_id, arch, reason = summary.failed[0]
    assert arch == CHEAP and "simulated out of memory" in reason
    assert not record_path(tmp_path, run_id).exists()  # not recorded: the next sweep retries it
    monkeypatch.undo()
    assert (
        sweep(
            [CHEAP, BEST],
            "digits",
            "digits-cheap",
            seeds=[777],
            fidelity=TINY,
            out_dir=tmp_path,
            progress=False,
        ).done
        == 1
    )


def test_a_bug_in_a_run_is_a_traceback_not_a_failed_row(tmp_path, monkeypatch):
    """Only failures of the machine or the inputs become `failed` outcomes; a bug (here a
    TypeError inside the epoch loop) stops the sweep with its own traceback."""

    def buggy(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(loop, "train_epoch", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        list(LocalEngine(num_threads=1).map([spec()], str(tmp_path)))
    with pytest.raises(TypeError, match="unsupported operand"):
        sweep([CHEAP], "digits", "digits-cheap", seeds=[777], fidelity=TINY, out_dir=tmp_path, progress=False)


@pytest.mark.parametrize(
    "exc, expected",
    [
        (MemoryError(), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"), True),
        (FileNotFoundError("no such dataset"), True),
        (OSError(28, "No space left on device"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (KeyError("lr"), False),
        (ValueError("bad"), False),
        (ZeroDivisionError(), False),
    ],
)
def test_which_failures_are_expected(exc, expected):
    from nb201.train.outcome import is_expected_failure

    assert is_expected_failure(exc) is expected


def test_the_ray_engine_applies_the_same_rule(tmp_path):
    """RayEngine._collect with a stand-in for ray (no cluster): an expected failure inside the
    task is a `failed` outcome, a bug is raised."""
    import types

    from nb201.train.ray_engine import RayEngine

    class RayError(Exception):
        pass

    class RayTaskError(RayError):
        def __init__(self, cause):
            super().__init__(f"worker traceback of {cause!r}")
            self.cause = cause

    def fake_ray(cause):
        def get(ref):
            raise RayTaskError(cause)

        errors = types.SimpleNamespace(RayTaskError=RayTaskError, RayError=RayError)
        return types.SimpleNamespace(get=get, exceptions=errors)

    engine, s = RayEngine(), spec()
    out = engine._collect(fake_ray(FileNotFoundError("no such dataset")), None, s)
    assert out.status == "failed" and out.path == "" and "no such dataset" in out.reason
    with pytest.raises(RayTaskError, match="KeyError"):
        engine._collect(fake_ray(KeyError("lr")), None, s)


def test_run_outcome_keeps_its_public_names():
    from nb201.train import RunOutcome, engine, outcome

    assert RunOutcome is outcome.RunOutcome is engine.RunOutcome


def test_bf16_precision_is_an_opt_in_knob_with_its_own_run_id(tmp_path):
    fp32, bf16 = spec(), spec(precision="bf16")
    assert fp32.config.precision == "fp32" and fp32.run_id != bf16.run_id
    a = read_record(run_one(fp32, tmp_path).path)
    b = read_record(run_one(bf16, tmp_path).path)
    assert b["status"] == "ok" and b["config"]["precision"] == "bf16"
    assert a["epochs"][0]["train-loss"] != b["epochs"][0]["train-loss"]
    assert abs(a["epochs"][0]["train-loss"] - b["epochs"][0]["train-loss"]) < 0.5


def test_shared_eval_pass_equals_evaluating_each_set(tmp_path, monkeypatch) -> None:
    """x-valid and x-test are halves of ori-test: one forward pass over the union must give
    every set the numbers a separate pass would."""
    import dataclasses

    from nb201 import data as nbdata
    from nb201.space.model import build_network
    from nb201.train import loop

    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path))
    torch.manual_seed(0)
    prepared = loop.prepare("digits", "digits", None, 1.0, 0.5, "native")
    assert prepared.eval_groups and sorted(prepared.eval_groups[0].members) == [
        "ori-test",
        "x-test",
        "x-valid",
    ]
    model = build_network(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|",
        10,
        C=4,
        N=1,
        in_channels=1,
    )
    augment = nbdata.Augment(prepared.mean, prepared.std, pad=1)
    shared = loop.evaluate_all(model, prepared, augment, 64, torch.device("cpu"))
    alone = loop.evaluate_all(
        model, dataclasses.replace(prepared, eval_groups=None), augment, 64, torch.device("cpu")
    )
    assert list(shared) == list(alone) == list(prepared.evals)
    for name in shared:
        assert shared[name][1] == alone[name][1]
        assert shared[name][0] == pytest.approx(alone[name][0], rel=1e-6)
