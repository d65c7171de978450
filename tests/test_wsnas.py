"""The six weight-sharing methods: their maths, their runs on digits, their records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import nb201
from nb201.space import Arch
from nb201.train.records import checkpoint_path, record_path
from nb201.wsnas import (
    METHODS,
    Controller,
    SearchSpec,
    SearchTask,
    make_method,
    resolve_search_config,
    run_search,
    unrolled_alpha_grad,
)
from nb201.wsnas.supernet import Supernet

TIME_KEYS = ("train-time", "valid-time", "derive-time", "epoch-time")


def _numbers(record: dict) -> dict:
    """A record without what legitimately differs between two runs (times, machine)."""
    out = {k: v for k, v in record.items() if k not in ("env", "wall_time", "cpu_time", "finished_at")}
    out["epochs"] = [{k: v for k, v in e.items() if k not in TIME_KEYS} for e in record["epochs"]]
    return out


def _spec(method: str, seed: int = 777, **overrides) -> SearchSpec:
    return SearchSpec(method, "digits", "digits-valid", "digits", seed, overrides)


def test_darts_v2_hypergradient_matches_finite_differences() -> None:
    torch.manual_seed(0)
    # big enough that no ReLU kink lies within the finite-difference steps (with C=2 and a
    # batch of 6 the loss is not smooth at that scale and no finite difference is meaningful)
    net = Supernet(4, C=4, N=1).double()
    net.train()
    alpha = torch.randn(6, 5, dtype=torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    train = (torch.randn(32, 3, 8, 8, dtype=torch.float64), torch.randint(4, (32,)))
    valid = (torch.randn(32, 3, 8, 8, dtype=torch.float64), torch.randint(4, (32,)))
    grad, _ = unrolled_alpha_grad(net, alpha, opt, train, valid, r=1e-5)

    names, params = zip(*[(n, p.detach()) for n, p in net.named_parameters()])

    def unrolled_valid_loss(a: torch.Tensor) -> float:
        ps = [p.clone().requires_grad_() for p in params]
        logits = functional_call(net, dict(zip(names, ps)), (train[0],), {"weights": F.softmax(a, 1)})
        gs = torch.autograd.grad(F.cross_entropy(logits, train[1]), ps)
        new = {n: p - 0.05 * (g + 5e-4 * p) for n, p, g in zip(names, ps, gs)}
        out = functional_call(net, new, (valid[0],), {"weights": F.softmax(a, 1)})
        return F.cross_entropy(out, valid[1]).item()

    eps, fd = 1e-5, torch.zeros_like(alpha)
    for e in range(6):
        for k in range(5):
            d = torch.zeros_like(alpha)
            d[e, k] = eps
            fd[e, k] = (unrolled_valid_loss(alpha + d) - unrolled_valid_loss(alpha - d)) / (2 * eps)
    assert fd.abs().max() > 1e-4  # the check is not vacuous
    torch.testing.assert_close(grad, fd, atol=1e-4 * fd.abs().max().item(), rtol=1e-4)


def test_enas_controller_log_probs_agree_with_sampling_frequencies() -> None:
    torch.manual_seed(0)
    ctrl = Controller()
    with torch.no_grad():  # a peaked controller, so single archs have measurable frequencies
        ctrl.w_pred.weight.mul_(400)
        ctrl.w_pred.bias.normal_(0, 20)
    n = 40000
    logp, _, ids = ctrl(n, torch.Generator().manual_seed(1))
    archs, counts = np.unique(ids.numpy(), axis=0, return_counts=True)
    order = np.argsort(-counts)[:5]
    scored, _, _ = ctrl(arch=torch.as_tensor(archs[order]))
    for c, lp in zip(counts[order], scored.detach().exp().numpy()):
        sigma = np.sqrt(lp * (1 - lp) / n)
        assert abs(c / n - lp) < 5 * sigma + 1e-3, (c / n, lp)
    # the log-probs returned while sampling are those of the sampled archs
    again, _, _ = ctrl(arch=ids[:50])
    torch.testing.assert_close(again, logp[:50])
    # the sampling-only path draws the same archs from the same generator state
    _, _, few = ctrl(500, torch.Generator().manual_seed(2))
    assert torch.equal(ctrl.sample(500, torch.Generator().manual_seed(2)), few)


@pytest.mark.parametrize("method", ["darts-v1", "gdas", "setn"])
def test_arch_step_computes_alpha_gradient_only(method: str) -> None:
    """The arch step's alpha gradient equals a full backward's; the weights get none."""
    config = resolve_search_config(method, "digits")
    torch.manual_seed(0)
    batch = (torch.randn(16, 1, 8, 8), torch.randint(10, (16,)))
    grads = []
    for full in (True, False):
        torch.manual_seed(1)  # the same weights on both sides
        net = Supernet(10, C=4, N=1, in_channels=1)
        m = make_method(method, net, config, torch.Generator().manual_seed(3))
        forward = m.mixture if method != "gdas" else m.hard
        if full:
            m.net.train()
            F.cross_entropy(forward(batch[0]), batch[1]).backward()
            assert any(p.grad is not None for p in m.net.parameters())
        else:
            m.arch_step(batch, forward)
            assert all(p.grad is None for p in m.net.parameters())
        grads.append(m.alpha.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_runs_one_epoch_on_digits(method: str, tmp_path: Path) -> None:
    rec = run_search(_spec(method, epochs=1), tmp_path, num_threads=1)
    assert rec["status"] == "ok" and rec["spec"]["method"] == method
    (row,) = rec["epochs"]
    arch = Arch.from_string(row["arch"])
    assert arch.index == row["arch_index"] == rec["final"]["arch_index"]
    dist = np.asarray(row["distribution"])
    assert dist.shape == (6, 5) and np.allclose(dist.sum(axis=1), 1.0)
    assert 0 <= row["valid-accuracy"] <= 100 and np.isfinite(row["train-loss"])
    assert record_path(tmp_path, rec["run_id"]).exists()
    assert not checkpoint_path(tmp_path, rec["run_id"]).exists()


@pytest.mark.parametrize("method", ["gdas", "enas", "darts-v2"])
def test_same_seed_same_record(method: str, tmp_path: Path) -> None:
    a = run_search(_spec(method, epochs=2), tmp_path / "a", num_threads=1)
    b = run_search(_spec(method, epochs=2), tmp_path / "b", num_threads=1)
    assert _numbers(a) == _numbers(b)
    c = run_search(_spec(method, seed=778, epochs=2), tmp_path / "c", num_threads=1)
    assert _numbers(c)["epochs"] != _numbers(a)["epochs"]


def test_alpha_learns_on_digits(tmp_path: Path) -> None:
    rec = run_search(_spec("darts-v1", epochs=2), tmp_path, num_threads=1)
    first, last = (np.asarray(e["distribution"]) for e in (rec["epochs"][0], rec["epochs"][-1]))
    assert np.abs(last - 0.2).max() > np.abs(first - 0.2).max() > 0


def test_search_killed_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    spec = _spec("darts-v2", epochs=4)
    code = (
        "from nb201.wsnas import SearchSpec, run_search\n"
        f"run_search(SearchSpec('darts-v2', 'digits', 'digits-valid', 'digits', 777, {{'epochs': 4}}), "
        f"{str(tmp_path / 'killed')!r}, num_threads=1)\n"
    )
    src = str(Path(nb201.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    ckpt = checkpoint_path(tmp_path / "killed", spec.run_id)
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the search finished or failed before it could be killed"
    assert not record_path(tmp_path / "killed", spec.run_id).exists()
    resumed = run_search(spec, tmp_path / "killed", num_threads=1)
    whole = run_search(spec, tmp_path / "whole", num_threads=1)
    assert _numbers(resumed) == _numbers(whole)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SearchSpec("dartz", "digits", "digits-valid", "digits", 1), "unknown method"),
        (lambda: _spec("gdas", epochs=0), "epochs"),
        (lambda: _spec("gdas", tau_max=0.1, tau_min=10.0), "inverted"),
        (lambda: SearchSpec("gdas", "digits", "digits", "digits", 1), "no valid half"),
        (lambda: SearchSpec("gdas", "digits", "digits-valid", "no-such-preset", 1), "unknown search preset"),
        (lambda: _spec("gdas", epoch=3), "unknown search knob"),
        (lambda: _spec("rsps", score_bn="median"), "score_bn"),
    ],
)
def test_bad_settings_raise_and_write_nothing(make, match: str, tmp_path: Path) -> None:
    """Bad settings raise when the spec is built (the data, when the search starts)."""
    with pytest.raises((ValueError, KeyError), match=match):
        run_search(make(), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_a_preset_for_another_method_is_rejected(tmp_path: Path) -> None:
    text = (Path(nb201.__file__).parent / "configs" / "search" / "digits.toml").read_text()
    preset = tmp_path / "gdas-only.toml"
    assert "methods" not in text  # the shipped presets are written for every registered method
    preset.write_text('methods = ["gdas"]\n' + text)
    assert resolve_search_config("gdas", str(preset))["epochs"] == 3
    with pytest.raises(ValueError, match="written for"):
        SearchSpec("darts-v1", "digits", "digits-valid", str(preset), 1)
    assert not (tmp_path / "out").exists()


def test_paper_preset_holds_the_papers_settings() -> None:
    darts = resolve_search_config("darts-v1", "paper")
    enas = resolve_search_config("enas", "paper")
    assert (darts["epochs"], darts["C"], darts["N"], darts["lr"], darts["arch_lr"]) == (
        50,
        16,
        5,
        0.025,
        3e-4,
    )
    assert (enas["epochs"], enas["batch_size"], enas["lr"], enas["lr_period"]) == (250, 128, 0.05, 10)
    assert resolve_search_config("setn", "paper")["grad_clip"] == 0.0
    assert resolve_search_config("rsps", "paper")["valid_batch_size"] == 512


def test_supernet_evaluation_subset_mixes_the_classes() -> None:
    """The valid half is stored class by class: a subset must not be its first images."""
    from nb201.wsnas.run import _Data, prepare_search_data

    spec = _spec("rsps", eval_batches=1, valid_batch_size=64)
    data = _Data(prepare_search_data(spec), spec.config, torch.Generator().manual_seed(0))
    (batch,) = list(data.eval_batches())
    assert len(batch[1]) == 64 and len(set(batch[1].tolist())) >= 8


def test_searches_through_the_sweep_engine_equal_direct_runs_and_resume(tmp_path: Path) -> None:
    """`run_searches` dispatches `SearchTask`s through a sweep engine: records in spec order,
    equal to `run_search` in process, finished searches skipped on a rerun, an expected
    failure (missing data) reported by name after the others ran."""
    from nb201.train.engine import LocalEngine
    from nb201.wsnas import finished_searches, run_searches

    specs = [_spec("rsps", epochs=1), _spec("gdas", epochs=1)]
    records = run_searches(specs, tmp_path / "eng", engine_options={"num_threads": 1})
    assert [r["run_id"] for r in records] == [s.run_id for s in specs]
    for spec, rec in zip(specs, records):
        assert _numbers(rec) == _numbers(run_search(spec, tmp_path / "direct", num_threads=1))
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "eng").glob("*.json")}
    outcomes = list(LocalEngine().map([SearchTask(s) for s in specs], str(tmp_path / "eng")))
    assert [o.status for o in outcomes] == ["skipped", "skipped"]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "eng").glob("*.json")} == before
    missing = SearchSpec("rsps", f"folder:{tmp_path / 'no-such'}", "x-valid", "digits", 777, {"epochs": 1})
    with pytest.raises(RuntimeError, match=r"1 of 2 searches failed .*no-such"):
        run_searches([missing, specs[0]], tmp_path / "eng")
    assert not list((tmp_path / "eng").glob(f"{missing.run_id}*"))
    # a report rendered while searches go on reads the finished ones only, and writes nothing
    third = _spec("rsps", seed=888, epochs=1)
    done, left = finished_searches([specs[1], third, specs[0]], tmp_path / "eng")
    assert [r["run_id"] for r in done] == [specs[1].run_id, specs[0].run_id]
    assert left == [third] and not list((tmp_path / "eng").glob(f"{third.run_id}*"))


def test_the_method_registry_and_a_methods_own_knobs(monkeypatch) -> None:
    from dataclasses import dataclass

    from nb201.config import knob
    from nb201.wsnas import METHOD_CLASSES, Method, chosen_methods, register_method
    from nb201.wsnas.methods import RSPS

    assert (
        METHODS
        == tuple(METHOD_CLASSES)[: len(METHODS)]
        == ("rsps", "darts-v1", "darts-v2", "gdas", "setn", "enas")
    )
    with pytest.raises(ValueError, match="registered already"):
        register_method(type("Other", (RSPS,), {"name": "gdas"}))
    with pytest.raises(TypeError, match="sets `name`"):
        register_method(type("Nameless", (Method,), {}))

    @dataclass(frozen=True)
    class Knobs:
        rounds: int = knob(2, "rounds", low=1)

    monkeypatch.setitem(
        METHOD_CLASSES, "rsps-own", type("Own", (RSPS,), {"name": "rsps-own", "knobs": Knobs})
    )
    assert chosen_methods(None)[-1] == "rsps-own" and chosen_methods(["gdas"]) == ["gdas"]
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        chosen_methods(["nope"])
    config = resolve_search_config("rsps-own", "digits")
    assert config["rounds"] == 2 and config["epochs"] == 3  # its own default, then [common]
    assert resolve_search_config("rsps-own", "digits", {"rounds": 4})["rounds"] == 4
    with pytest.raises(ValueError, match="rounds"):
        resolve_search_config("rsps-own", "digits", {"rounds": 0})
    with pytest.raises(KeyError, match="unknown search knob 'rounds' for 'gdas'"):
        resolve_search_config("gdas", "digits", {"rounds": 4})  # another method's knob
    assert "rounds" not in resolve_search_config("rsps", "digits")
