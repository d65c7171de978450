"""Zero-cost proxies (`nb201.proxies`) against hand-computed values on tiny networks, against
the published implementations run on the original `TinyNetwork`, and per-seed determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nb201 import proxies as P
from nb201.model import build_network
from nb201.space import Arch

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
    assert P.run_job([1, 2, 3], work, "fake", cfg) == {"done": 2, "skipped": 1, "left": 0, "failed": 0, "failures": []}
    assert (work / "1.json").read_text() == first, "done architectures are not recomputed"
    frame = P.assemble(work, tmp_path / "t.parquet")
    table, meta = P.load_table(tmp_path / "t.parquet")
    assert list(table.index) == [1, 2, 3] and set(P.ALL) <= set(table.columns)
    assert meta["coverage"]["archs"] == 3 and meta["config"]["C"] == 2 and meta["core_hours"] > 0
    assert json.loads(first)["values"]["snip"] == table.loc[1, "snip"] == frame.iloc[0]["snip"]
