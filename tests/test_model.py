"""The network equals the original `TinyNetwork`: same parameter count, same function."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nb201.space import EDGES, NUM_ARCHS, OPS, Arch, sample
from nb201.space.model import Cell, ResidualReduction, build_network

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

archs = st.lists(st.sampled_from(OPS), min_size=6, max_size=6).map(lambda ops: Arch(tuple(ops)))


pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def original(arch: Arch, num_classes: int, C: int = 16, N: int = 5) -> torch.nn.Module:
    pytest.importorskip("xautodl")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    return TinyNetwork(C, N, Structure.str2structure(str(arch)), num_classes)


def copy_from_original(ours: torch.nn.Module, orig: torch.nn.Module) -> None:
    """Load the original's weights and BN state into ours, edge by edge."""

    def conv_bn(dst: torch.nn.Sequential, src: torch.nn.Module, chunk: int = 0) -> None:
        conv, bn = src.op[1], src.op[2]
        c = conv.out_channels
        rows = slice(chunk * c, (chunk + 1) * c)
        dst[0].weight[rows] = conv.weight
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(dst[1], name)[rows] = getattr(bn, name)
        dst[1].num_batches_tracked.copy_(bn.num_batches_tracked)

    with torch.no_grad():
        ours.stem.load_state_dict(orig.stem.state_dict())
        assert len(ours.cells) == len(orig.cells)
        for mine, theirs in zip(ours.cells, orig.cells):
            if isinstance(mine, ResidualReduction):
                conv_bn(mine.conv_a, theirs.conv_a)
                conv_bn(mine.conv_b, theirs.conv_b)
                mine.shortcut[1].weight.copy_(theirs.downsample[1].weight)
            else:
                assert isinstance(mine, Cell)
                for e, edge in enumerate(EDGES):
                    if edge in mine.edge_slots:
                        path, chunk = mine.edge_slots[edge]
                        conv_bn(mine.get_submodule(path), theirs.layers[e], chunk)
        ours.last_bn.load_state_dict(orig.lastact[0].state_dict())
        ours.classifier.load_state_dict(orig.classifier.state_dict())


def randomize_bn(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BN state so that eval-mode equality means something."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def test_paper_parameter_counts():
    assert n_params(build_network(ALL_CONV3, 10)) == 1_531_546
    assert n_params(build_network(ALL_NONE, 10)) == 73_306


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=archs, num_classes=st.sampled_from([10, 100, 120]))
def test_parameter_count_equals_original(arch, num_classes):
    assert n_params(build_network(arch, num_classes)) == n_params(original(arch, num_classes))


@pytest.mark.parametrize("num_classes", [10, 100, 120])
def test_parameter_count_equals_original_extremes(num_classes):
    for arch in (ALL_CONV3, ALL_NONE, RESNET):
        a = Arch.from_string(arch)
        assert n_params(build_network(a, num_classes)) == n_params(original(a, num_classes))


# Cells chosen to cover the cell's special cases: dead edges (node 2 unreachable,
# node 1 unreachable), a zero node feeding a conv (BN bias leaks through), a degenerate
# cell, shared ReLU/pool/fused convs, 1x1 and 3x3 from the same node.
SPECIAL = [
    RESNET,
    ALL_CONV3,
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
    "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    ALL_NONE,
]


@pytest.mark.parametrize("arch", SPECIAL + [str(a) for a in sample(3, seed=7)])
def test_same_function_as_original(arch):
    """With the original's weights loaded, ours computes the same logits, train and eval."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    a = Arch.from_string(arch)
    orig = original(a, 10, C=8, N=2)
    randomize_bn(orig, gen)
    ours = build_network(a, 10, C=8, N=2)
    copy_from_original(ours, orig)
    x = torch.randn(4, 3, 16, 16, generator=gen)
    for mode in ("train", "eval"):
        orig.train(mode == "train")
        ours.train(mode == "train")
        want = orig(x)[1]
        got = ours(x)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=f"{mode} mode differs")


def test_gradients_match_original():
    gen = torch.Generator().manual_seed(2)
    a = Arch.from_string(SPECIAL[4])
    orig = original(a, 10, C=8, N=1)
    ours = build_network(a, 10, C=8, N=1)
    copy_from_original(ours, orig)
    x = torch.randn(4, 3, 8, 8, generator=gen)
    orig(x)[1].square().sum().backward()
    ours(x).square().sum().backward()
    torch.testing.assert_close(ours.stem[0].weight.grad, orig.stem[0].weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.classifier.weight.grad, orig.classifier.weight.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("in_channels", "size", "num_classes"), [(3, 32, 10), (3, 16, 120), (1, 8, 10), (3, 12, 100)]
)
def test_forward_shapes(in_channels, size, num_classes):
    torch.manual_seed(0)
    net = build_network(Arch.from_index(123), num_classes, C=8, N=2, in_channels=in_channels)
    x = torch.randn(2, in_channels, size, size)
    out = net(x)
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    assert net.stem[0].weight.grad is not None


def test_forward_full_size_cifar():
    torch.manual_seed(0)
    net = build_network(11472, 10).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_channels_last_matches_contiguous():
    """channels_last is much faster on CPU; it must not change the result, train or eval."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    for train in (True, False):
        net = build_network(SPECIAL[4], 10, C=8, N=2).train(train)
        net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
        want = net(x)
        got = net_cl(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        got.square().sum().backward()
        want.square().sum().backward()
        torch.testing.assert_close(net_cl.stem[0].weight.grad, net.stem[0].weight.grad, rtol=1e-4, atol=1e-5)


def test_none_edges_have_no_modules_and_dead_edges_are_not_run():
    cell = build_network(RESNET, 10, N=1).cells[0]
    assert set(cell.edge_slots) == {(0, 1), (1, 2)}
    # node 2 of this cell feeds the output by skip, so nothing is dead here
    assert len(cell.unused) == 0
    # edges 2->3 and 1->3 are none: nodes 2 and 1 cannot reach the output
    net = build_network(SPECIAL[2], 10, C=4, N=1)
    dead = net.cells[0]
    assert len(dead.unused) == 3
    assert {e for e, (path, _) in dead.edge_slots.items() if path.startswith("unused")} == {
        (0, 1),
        (0, 2),
        (1, 2),
    }
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(p.grad is None for p in dead.unused.parameters())
    assert all(p.grad is not None for p in dead.convs.parameters())


def test_fixed_seed_is_deterministic():
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = build_network(ALL_CONV3, 10, C=4, N=1)
        outs.append(net(torch.ones(1, 3, 8, 8)))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 10, "C": 0}, "C must be"),
        ({"num_classes": 10, "N": -1}, "N must be"),
        ({"num_classes": 10, "in_channels": 2.5}, "in_channels"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_network(ALL_CONV3, **kwargs)


def test_bad_arch_and_inputs():
    with pytest.raises(ValueError, match="out of range"):
        build_network(NUM_ARCHS, 10)
    with pytest.raises(ValueError, match="unknown op"):
        build_network(ALL_CONV3.replace("nor_conv_3x3~0", "conv_5x5~0", 1), 10)
    net = build_network(ALL_NONE, 10, C=4, N=1)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 3, 10, 10))
    with pytest.raises(ValueError, match="channel"):
        net(torch.zeros(1, 1, 8, 8))
