"""Zero-cost proxies (`nb201.fidelity.proxies`) against hand-computed values on tiny networks, against
the published implementations run on the original `TinyNetwork`, and per-seed determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nb201.fidelity import proxies as P
from nb201.space import Arch
from nb201.space.model import build_network

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_linear(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    x = torch.randn(5, 1, 2, 2, dtype=torch.float64)
    return net.double(), x, torch.tensor([0, 1, 2, 1, 0])


def _softmax_grad(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, ...]:
    """By hand: logits a = X W^T, dL/da = (softmax(a) - onehot) / B, dL/dW = (dL/da)^T X."""
    w = net[1].weight.detach().numpy()
    xs = x.reshape(len(x), -1).numpy()
    a = xs @ w.T
    p = np.exp(a - a.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ga = (p - np.eye(3)[y.numpy()]) / len(x)
    return w, xs, a, ga, ga.T @ xs


def test_grad_norm_snip_fisher_by_hand():
    net, x, y = _tiny_linear()
    w, _, a, ga, gw = _softmax_grad(net, x, y)
    assert P.grad_norm(net, x, y) == pytest.approx(np.linalg.norm(gw), rel=1e-9)
    assert P.snip(net, x, y) == pytest.approx(np.abs(w * gw).sum(), rel=1e-9)
    assert P.fisher(net, x, y) == pytest.approx(0.5 * ((a * ga) ** 2).mean(0).sum(), rel=1e-9)


def test_synflow_by_hand_two_linear_layers():
    """R = 1^T |W2| |W1| 1, so dR/dW1[i, j] = colsum|W2|[i] and dR/dW2[k, i] = rowsum|W1|[i]."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False))
    w1, w2 = (np.abs(m.weight.detach().double().numpy()) for m in (net[1], net[2]))
    want = (w1 * w2.sum(0)[:, None]).sum() + (w2 * w1.sum(1)[None, :]).sum()
    assert P.synflow(net, torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64)) == pytest.approx(want)


def test_grasp_against_explicit_hessian():
    net, x, y = _tiny_linear()
    w0 = net[1].weight.detach().clone()

    def loss(w: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(x.reshape(len(x), -1) @ w.T, y)

    wr = w0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(wr), wr)
    hess = torch.autograd.functional.hessian(loss, w0).reshape(w0.numel(), w0.numel())
    hg = (hess @ grad.reshape(-1)).reshape(w0.shape)
    assert P.grasp(net, x, y) == pytest.approx(float((-w0 * hg).sum()), rel=1e-6)


def test_jacob_cov_by_formula():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(5, 1, 2, 2, dtype=torch.float64)
    jac = torch.stack(
        [torch.autograd.functional.jacobian(lambda v: net(v[None]).sum(), xi).reshape(-1) for xi in x]
    ).numpy()
    v = np.linalg.eigvalsh(np.corrcoef(jac))
    want = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert P.jacob_cov(net, x, torch.zeros(5, dtype=torch.int64)) == pytest.approx(want, rel=1e-6)


# ---- against the published definitions on the original network --------------------------------
NO_DEAD = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


class _Logits(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[1]


def _pair() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    from test_model import copy_from_original, original

    torch.manual_seed(0)
    orig = original(Arch.from_string(NO_DEAD), 10, C=4, N=1)
    ours = build_network(NO_DEAD, 10, C=4, N=1)
    copy_from_original(ours, orig)
    gen = torch.Generator().manual_seed(1)
    return _Logits(orig).train(), ours.train(), torch.randn(8, 3, 8, 8, generator=gen), torch.arange(8) % 10


def _mellor_nwot(net: nn.Module, x: torch.Tensor) -> float:
    """Mellor et al.'s published hook: every nn.ReLU's input codes, K += c c^T + (1-c)(1-c)^T."""
    k = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(_m, inp, _out):
        c = (inp[0].detach().reshape(len(x), -1) > 0).double()
        k.add_(c @ c.T + (1 - c) @ (1 - c).T)

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return float(torch.linalg.slogdet(k)[1])


@pytest.mark.parametrize("name", ["grad_norm", "snip", "fisher", "grasp", "jacob_cov", "synflow"])
def test_gradient_proxies_equal_on_the_original_network(name):
    """Our merged-convolution network gives the published value of the original layout."""
    orig, ours, x, y = _pair()
    want = P.PROXIES[name](orig, x, y)
    assert P.PROXIES[name](ours, x, y) == pytest.approx(want, rel=1e-4)


def test_nwot_equals_mellor_hooks_on_the_original_network():
    orig, ours, x, y = _pair()
    assert P.nwot(ours, x, y) == pytest.approx(_mellor_nwot(orig, x), rel=1e-9)


# ---- determinism, timing, the job --------------------------------------------------------------
def test_compute_is_deterministic_per_seed_and_timed():
    cfg = P.ProxyConfig(C=4, N=1, image_size=8, batch_size=8, seed=5)
    rng = np.random.default_rng(0)
    imgs, labels = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 10, 40)
    x, y = P.minibatch(imgs, labels, (0.5,) * 3, (0.25,) * 3, cfg)
    x2, y2 = P.minibatch(imgs, labels, (0.5,) * 3, (0.25,) * 3, cfg)
    assert torch.equal(x, x2) and torch.equal(y, y2) and x.shape == (8, 3, 8, 8)
    a = P.compute(NO_DEAD, x, y, cfg)
    b = P.compute(NO_DEAD, x, y, cfg)
    values = {k: v for k, v in a.items() if not k.endswith("_seconds")}
    assert values == {k: v for k, v in b.items() if not k.endswith("_seconds")}
    assert set(values) == set(P.ALL) and all(np.isfinite(v) for v in values.values())
    assert all(a[f"{k}_seconds"] >= 0 for k in P.ALL)
    other = P.compute(NO_DEAD, x, y, P.ProxyConfig(C=4, N=1, image_size=8, batch_size=8, seed=6))
    assert other["snip"] != a["snip"] and other["params"] == a["params"]
    with pytest.raises(ValueError, match="unknown proxies"):
        P.compute(NO_DEAD, x, y, cfg, names=["nope"])


def test_job_is_resumable_and_table_says_what_it_covers(tmp_path, monkeypatch):
    from nb201 import data as nbdata

    rng = np.random.default_rng(0)
    fake = nbdata.ImageData(
        "fake",
        rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        rng.integers(0, 10, 20),
        rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8),
        rng.integers(0, 10, 4),
        tuple(str(i) for i in range(10)),
        (0.5,) * 3,
        (0.25,) * 3,
    )
    monkeypatch.setattr(nbdata, "load_dataset", lambda name, root=None: fake)
    cfg = P.ProxyConfig(C=2, N=1, image_size=8, batch_size=4)
    work = tmp_path / "work"
    done_one = {"done": 1, "skipped": 0, "left": 2, "failed": 0, "failures": []}
    assert P.run_job([1, 2, 3], work, "fake", cfg, limit_seconds=0.0) == done_one
    first = (work / "1.json").read_text()
    assert P.run_job([1, 2, 3], work, "fake", cfg) == {
        "done": 2,
        "skipped": 1,
        "left": 0,
        "failed": 0,
        "failures": [],
    }
    assert (work / "1.json").read_text() == first, "done architectures are not recomputed"
    frame = P.assemble(work, tmp_path / "t.parquet")
    table, meta = P.load_table(tmp_path / "t.parquet")
    assert list(table.index) == [1, 2, 3] and set(P.ALL) <= set(table.columns)
    assert meta["coverage"]["archs"] == 3 and meta["config"]["C"] == 2 and meta["core_hours"] > 0
    assert json.loads(first)["values"]["snip"] == table.loc[1, "snip"] == frame.iloc[0]["snip"]


# ---- the job through the sweep engines (local here; Ray in tests/test_ray.py) -----------------
TINY = P.ProxyConfig(C=2, N=1, image_size=8, batch_size=8)
JOB = [1, 2, 3, 4]
DONE = {"skipped": 0, "left": 0, "failed": 0, "failures": []}


def direct_values(index: int, cfg: P.ProxyConfig = TINY, dataset: str = "digits") -> dict[str, float]:
    """The proxies computed by hand, outside any job or engine."""
    from nb201 import data as nbdata

    data = nbdata.load_dataset(dataset)
    x, y = P.minibatch(data.train_x, data.train_y, data.mean, data.std, cfg)
    return {k: v for k, v in P.compute(index, x, y, cfg).items() if not k.endswith("_seconds")}


def _counting(monkeypatch, fail: dict[int, BaseException] | None = None) -> list[int]:
    """Record which archs `compute` is called for (optionally raising for some)."""
    calls: list[int] = []
    real = P.compute

    def counted(arch, *args, **kwargs):
        index = Arch.coerce(arch).index
        calls.append(index)
        if fail and index in fail:
            raise fail[index]
        return real(arch, *args, **kwargs)

    monkeypatch.setattr(P, "compute", counted)
    return calls


def test_job_through_the_local_engine_equals_direct_computation(tmp_path):
    from nb201.train import LocalEngine

    assert P.run_job(JOB, tmp_path, "digits", TINY, engine="local") == {"done": 4, **DONE}
    for index in JOB:
        record = json.loads((tmp_path / f"{index}.json").read_text())
        assert record["values"] == direct_values(index) and record["env"]["threads"] == 1
        assert record["index"] == index and record["config"]["C"] == TINY.C
    # idempotent: a task whose file exists does nothing, on any engine
    (outcome,) = LocalEngine().map([P.ProxyTask(1, "digits", TINY)], str(tmp_path))
    assert outcome.status == "skipped" and outcome.path == str(tmp_path / "1.json")


def test_interrupted_job_resumes_computing_only_the_missing_archs(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    first = P.run_job(JOB, tmp_path, "digits", TINY, limit_seconds=0.0)
    assert first == {**DONE, "done": 1, "left": 3} and calls == [1]
    kept = (tmp_path / "1.json").read_text()
    (tmp_path / ".2.json.abcd.999.tmp").write_text('{"schema": "nb201.pro')  # a writer killed mid-file
    assert P.run_job(JOB, tmp_path, "digits", TINY) == {**DONE, "done": 3, "skipped": 1}
    assert calls == [1, 2, 3, 4], "only the missing architectures are computed"
    assert (tmp_path / "1.json").read_text() == kept
    assert P.run_job(JOB, tmp_path, "digits", TINY) == {**DONE, "done": 0, "skipped": 4} and len(calls) == 4
    assert list(P.assemble(tmp_path, tmp_path / "t.parquet")["index"]) == JOB


def test_expected_failure_is_reported_and_retried_by_the_next_job(tmp_path, monkeypatch):
    _counting(
        monkeypatch,
        fail={2: OSError("disk vanished"), 3: RuntimeError("DefaultCPUAllocator: not enough memory")},
    )
    counts = P.run_job(JOB, tmp_path, "digits", TINY)
    assert (counts["done"], counts["failed"], counts["left"]) == (2, 2, 0)
    assert "disk vanished" in counts["failures"][0] and "-2" in counts["failures"][0].split(":")[0]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["1.json", "4.json"]
    monkeypatch.undo()  # the machine recovered
    calls = _counting(monkeypatch)
    assert P.run_job(JOB, tmp_path, "digits", TINY) == {**DONE, "done": 2, "skipped": 2}
    assert calls == [2, 3]


def test_a_bug_in_a_task_propagates(tmp_path, monkeypatch):
    _counting(monkeypatch, fail={2: ValueError("a bug")})
    with pytest.raises(ValueError, match="a bug"):
        P.run_job(JOB, tmp_path, "digits", TINY)


def test_cli_runs_the_job_on_an_engine_and_assembles(tmp_path, capsys):
    args = ["--dataset", "digits", "--indices", "3", "1", "--C", "2", "--N", "1", "--image-size", "8"]
    args += ["--batch-size", "8", "--work-dir", str(tmp_path / "w"), "--out", str(tmp_path / "t.parquet")]
    assert P.main([*args, "--engine", "local"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["done"] == 2
    table, meta = P.load_table(tmp_path / "t.parquet")
    assert list(table.index) == [1, 3] and table.loc[3, "nwot"] == direct_values(3)["nwot"]
    with pytest.raises(SystemExit):
        P.main([*args, "--engine", "spark"])


def test_job_killed_mid_run_resumes_with_only_the_missing_archs(tmp_path, monkeypatch):
    """A real SIGKILL of the CLI process while it writes; the rerun computes exactly the
    architectures without a file, and every file is a complete record."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    indices, names = list(range(80)), ["synflow", "snip", "nwot", "params"]  # cheap, about 40 ms an arch
    work = tmp_path / "work"
    args = ["--dataset", "digits", "--C", "2", "--N", "1", "--image-size", "8", "--batch-size", "8"]
    args += ["--proxies", *names]
    cmd = [
        sys.executable,
        "-m",
        "nb201.fidelity.proxies",
        *args,
        "--work-dir",
        str(work),
        "--indices",
        *map(str, indices),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(P.__file__).resolve().parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(work.glob("*.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    written = {int(p.stem) for p in work.glob("*.json")}
    assert 3 <= len(written) < len(indices), "the kill must land mid-job"
    calls = _counting(monkeypatch)
    counts = P.run_job(indices, work, "digits", TINY, names=names)
    assert counts == {**DONE, "done": len(indices) - len(written), "skipped": len(written)}
    assert calls == [i for i in indices if i not in written]
    assert all(json.loads(p.read_text())["index"] == int(p.stem) for p in work.glob("*.json"))
    assert len(P.assemble(work, tmp_path / "t.parquet")) == len(indices)


def test_a_registered_proxy_is_computed_and_a_taken_name_refused(monkeypatch) -> None:
    monkeypatch.setattr(P, "PROXIES", dict(P.PROXIES))

    @P.register_proxy("ones")
    def ones(net, x, y):
        return float(len(x))

    assert P.proxy_names()[-3:] == ("ones", "params", "flops")
    x, y = torch.zeros(3, 1, 8, 8), torch.zeros(3, dtype=torch.int64)
    values = P.compute(11472, x, y, P.ProxyConfig(C=2, N=1, image_size=8, batch_size=3), names=["ones"])
    assert values["ones"] == 3.0
    for taken in ("synflow", "params"):
        with pytest.raises(ValueError, match="is taken"):
            P.register_proxy(taken)(ones)
