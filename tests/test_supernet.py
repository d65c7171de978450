"""The supernet against the original search models and against nb201.space.model's networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nb201.space import EDGES, OPS, Arch, sample
from nb201.space.model import build_network
from nb201.wsnas.methods import gumbel_hard
from nb201.wsnas.supernet import SearchCell, Supernet, arch_ids, count_weights

xautodl = pytest.importorskip("xautodl.models.cell_searchs")


def _original(kind: str, C: int, N: int, track: bool = False):
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts
    from xautodl.models.cell_searchs.search_model_enas import TinyNetworkENAS
    from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS
    from xautodl.models.cell_searchs.search_model_random import TinyNetworkRANDOM
    from xautodl.models.cell_searchs.search_model_setn import TinyNetworkSETN

    cls = {
        "darts": TinyNetworkDarts,
        "gdas": TinyNetworkGDAS,
        "setn": TinyNetworkSETN,
        "enas": TinyNetworkENAS,
        "random": TinyNetworkRANDOM,
    }[kind]
    return cls(C, N, 4, 10, list(OPS), False, track)


def _weights(model) -> int:
    alphas = {id(p) for p in getattr(model, "get_alphas", list)()}
    if hasattr(model, "arch_parameters") and isinstance(model.arch_parameters, torch.nn.Parameter):
        alphas.add(id(model.arch_parameters))
    return sum(p.numel() for p in model.parameters() if id(p) not in alphas)


@pytest.mark.parametrize("C,N", [(16, 5), (8, 1)])
def test_parameter_count_equals_the_original_search_models(C: int, N: int) -> None:
    ours = sum(p.numel() for p in Supernet(10, C=C, N=N).parameters())
    assert ours == count_weights(10, C=C, N=N)
    for kind in ("darts", "gdas", "setn", "enas", "random"):
        assert _weights(_original(kind, C, N)) == ours, kind


def _copy_into_original(ours: Supernet, orig) -> None:
    """Our weights into the original model, edge by edge (its convs are ours' chunks)."""
    orig.stem.load_state_dict(ours.stem.state_dict())
    orig.lastact[0].load_state_dict(ours.last_bn.state_dict())
    orig.classifier.load_state_dict(ours.classifier.state_dict())
    for a, b in zip(ours.cells, orig.cells):
        if isinstance(a, SearchCell):
            for i in range(3):
                for t, j in enumerate(range(i + 1, 4)):
                    for k, op in ((1, 2), (3, 3)):
                        conv = a.convs[f"n{i}_k{k}"]
                        dst = b.edges[f"{j}<-{i}"][op].op[1]
                        dst.weight.data.copy_(conv.weight.reshape(3 - i, a.C, a.C, k, k)[t])
                        dst.bias.data.copy_(conv.bias.reshape(3 - i, a.C)[t])
        else:
            b.conv_a.op[1].weight.data.copy_(a.conv_a[0].weight)
            b.conv_a.op[2].load_state_dict(a.conv_a[1].state_dict())
            b.conv_b.op[1].weight.data.copy_(a.conv_b[0].weight)
            b.conv_b.op[2].load_state_dict(a.conv_b[1].state_dict())
            b.downsample[1].weight.data.copy_(a.shortcut[1].weight)


def test_mixture_equals_the_original_darts_model() -> None:
    torch.manual_seed(0)
    ours, orig = Supernet(10, C=4, N=2), _original("darts", 4, 2)
    _copy_into_original(ours, orig)
    alpha = torch.randn(6, 5)
    orig.arch_parameters.data.copy_(alpha)
    x = torch.randn(3, 3, 8, 8)
    torch.testing.assert_close(ours(x, weights=F.softmax(alpha, dim=1)), orig(x)[1], atol=1e-5, rtol=1e-5)


def _fixed_like(ours: Supernet, arch: Arch):
    """build_network(arch) carrying the supernet's weights (conv slices per edge)."""
    C = ours.stem[0].out_channels
    N = sum(isinstance(c, SearchCell) for c in ours.cells) // 3
    net = build_network(arch, 10, C=C, N=N)
    state = net.state_dict()
    state.update({k: v for k, v in ours.state_dict().items() if k in state and state[k].shape == v.shape})
    net.load_state_dict(state)
    ids = arch_ids(arch)
    for a, b in zip(ours.cells, net.cells):
        if not isinstance(a, SearchCell):
            continue
        for (i, j), (path, chunk) in b.edge_slots.items():
            k = 1 if OPS[ids[EDGES.index((i, j))]] == "nor_conv_1x1" else 3
            src = a.convs[f"n{i}_k{k}"].weight.reshape(3 - i, a.C, a.C, k, k)[j - i - 1]
            b.get_submodule(path)[0].weight.data.view(-1, a.C, a.C, k, k)[chunk].copy_(src)
    return net


@pytest.mark.parametrize(
    "arch",
    [
        *sample(6, seed=3),
        Arch.from_string("|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"),
        # node 2 reaches nothing: its convolutions are not run in arch mode
        Arch.from_string(
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
        ),
    ],
)
def test_one_hot_mixture_and_arch_mode_equal_build_network(arch: Arch) -> None:
    torch.manual_seed(1)
    ours = Supernet(10, C=4, N=2)
    with torch.no_grad():  # the fixed network's convs have no bias (BN cancels one anyway)
        for cell in ours.cells:
            for conv in getattr(cell, "convs", {}).values():
                conv.bias.zero_()
    net = _fixed_like(ours, arch)
    ours.train()
    net.train()  # batch statistics on both sides: the same BN settings
    x = torch.randn(4, 3, 8, 8)
    one_hot = F.one_hot(torch.tensor(arch_ids(arch)), 5).float()
    expected = net(x)
    torch.testing.assert_close(ours(x, weights=one_hot), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, arch=arch), expected, atol=1e-5, rtol=1e-5)


def test_gdas_hard_sample_computes_only_the_chosen_op_with_gradient_to_every_alpha() -> None:
    torch.manual_seed(2)
    net = Supernet(10, C=4, N=1)
    alpha = torch.nn.Parameter(1e-3 * torch.randn(6, 5))
    hard, ids = gumbel_hard(alpha, 5.0, torch.Generator().manual_seed(0))
    assert torch.equal(hard.detach().argmax(dim=1), torch.tensor(ids))
    x = torch.randn(4, 3, 8, 8)
    out = net(x, weights=hard, arch=ids)
    torch.testing.assert_close(out, net(x, arch=ids), atol=1e-6, rtol=1e-5)  # the chosen op's output
    out.square().sum().backward()
    assert alpha.grad is not None and (alpha.grad != 0).all(), alpha.grad


def test_gdas_hard_sample_equals_the_original_forward_gdas() -> None:
    torch.manual_seed(4)
    ours, orig = Supernet(10, C=4, N=1), _original("gdas", 4, 1)
    _copy_into_original(ours, orig)
    alpha = torch.nn.Parameter(torch.randn(6, 5))
    hard, ids = gumbel_hard(alpha, 1.0, torch.Generator().manual_seed(1))
    x = torch.randn(2, 4, 8, 8)
    theirs = orig.cells[0].forward_gdas(x, hard, torch.tensor(ids)[:, None])
    torch.testing.assert_close(ours.cells[0](x, hard, ids), theirs, atol=1e-5, rtol=1e-5)


def test_arch_mode_updates_running_stats_only_of_the_chosen_convolutions() -> None:
    torch.manual_seed(5)
    net = Supernet(10, C=4, N=1, track_running_stats=True)
    arch = Arch.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|none~2|")
    net.train()
    net(torch.randn(4, 3, 8, 8), arch=arch)
    bn = net.cells[0].bns["n0_k3"]  # edges (0,1), (0,2), (0,3): chunks 0 and 2 ran
    moved = (bn.running_mean != 0).reshape(3, 4).any(dim=1).tolist()
    assert moved == [True, False, True]
    net.eval()
    assert torch.isfinite(net(torch.randn(2, 3, 8, 8), arch=arch)).all()


def test_bad_weights_and_arch_are_rejected() -> None:
    net = Supernet(10, C=4, N=1)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\[6, 5\]"):
        net(x, weights=torch.ones(5, 5))
    with pytest.raises(ValueError, match="six|6 op ids"):
        net(x, arch=[0, 1, 2])
    with pytest.raises(ValueError, match="mixture weights"):
        net(x)
