"""The NAS-Bench-201 network: a fixed skeleton around 15 copies of one searched cell.

The skeleton is the paper's (and the original `TinyNetwork`'s):

    stem: Conv3x3(in_channels -> C) + BN
    stage 1: N cells at C channels
    reduction: residual block C -> 2C, stride 2
    stage 2: N cells at 2C channels
    reduction: residual block 2C -> 4C, stride 2
    stage 3: N cells at 4C channels
    head: BN + ReLU, global average pool, Linear(4C -> num_classes)

Parameter counts equal the original's for every architecture (the tests build the
original next to ours and compare). The cell is written for speed rather than as one
module per edge, without changing the function it computes:

* `none` edges are skipped entirely (the original multiplies its input by zero);
* a node's ReLU is computed once and shared by all convolutions leaving it, and all
  convolutions with the same kernel leaving one node run as one wider convolution. A
  BatchNorm over the stacked channels is the same as one BatchNorm per edge, because
  BatchNorm is per channel; default initialisation draws from the same distribution
  (same fan-in), so training statistics are unchanged;
* edges whose target node cannot reach the cell output through non-`none` edges ("dead"
  edges) are not run: their result would be multiplied by zero. Their parameters still
  exist (in `Cell.unused`) so that parameter counts match the original and the paper.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nb201.space import EDGES, NUM_NODES, Arch

_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv (no bias: BN follows) + affine BN; the ReLU in front is applied by the caller."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _sum(terms: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    # A node with no non-zero input is zero; it is still fed to the convolutions leaving
    # it, because BN(conv(0)) is BN's bias, not zero, exactly as in the original.
    return functools.reduce(operator.add, terms) if terms else torch.zeros_like(like)


class Cell(nn.Module):
    """One searched cell at `C` channels, stride 1.

    `plans[i]` says what leaves node i: `skip` and `pool` target lists, and `convs`, a list
    of (module key, targets) where the module's output channels are split in target order.
    `edge_slots[(i, j)] = (module path, chunk)` locates each convolution edge's weights,
    so weights can be copied from an original `InferCell` edge by edge.
    """

    def __init__(self, arch: Arch, C: int) -> None:
        super().__init__()
        op_of = dict(zip(EDGES, arch.ops))
        live = {NUM_NODES - 1}  # nodes whose value reaches the cell output
        for j in range(NUM_NODES - 2, 0, -1):
            if any(op_of[(j, k)] != "none" and k in live for k in range(j + 1, NUM_NODES)):
                live.add(j)

        self.convs = nn.ModuleDict()
        self.unused = nn.ModuleList()  # dead convolution edges: parameters only
        self.edge_slots: dict[tuple[int, int], tuple[str, int]] = {}
        self.plans: list[dict] = []
        for i in range(NUM_NODES - 1):
            plan: dict = {"skip": [], "pool": [], "convs": []}
            by_kernel: dict[int, list[int]] = {}
            for j in range(i + 1, NUM_NODES):
                op = op_of[(i, j)]
                if op == "none":
                    continue
                if j not in live:
                    if op in _KERNEL:
                        self.edge_slots[(i, j)] = (f"unused.{len(self.unused)}", 0)
                        self.unused.append(_conv_bn(C, C, _KERNEL[op]))
                    continue
                if op == "skip_connect":
                    plan["skip"].append(j)
                elif op == "avg_pool_3x3":
                    plan["pool"].append(j)
                else:
                    by_kernel.setdefault(_KERNEL[op], []).append(j)
            for kernel, targets in by_kernel.items():
                key = f"n{i}_k{kernel}"
                self.convs[key] = _conv_bn(C, C * len(targets), kernel)
                plan["convs"].append((key, targets))
                for chunk, j in enumerate(targets):
                    self.edge_slots[(i, j)] = (f"convs.{key}", chunk)
            self.plans.append(plan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inbox: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for i, plan in enumerate(self.plans):
            if not (plan["skip"] or plan["pool"] or plan["convs"]):
                continue
            h = x if i == 0 else _sum(inbox[i], x)
            for j in plan["skip"]:
                inbox[j].append(h)
            if plan["pool"]:
                pooled = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
                for j in plan["pool"]:
                    inbox[j].append(pooled)
            if plan["convs"]:
                r = F.relu(h)
                for key, targets in plan["convs"]:
                    y = self.convs[key](r)
                    for j, part in zip(targets, y.chunk(len(targets), dim=1)):
                        inbox[j].append(part)
        return _sum(inbox[NUM_NODES - 1], x)


class ResidualReduction(nn.Module):
    """The fixed block between stages: halves the resolution and changes the width."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = _conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_b(F.relu(self.conv_a(F.relu(x))))
        return self.shortcut(x) + y


class Network(nn.Module):
    """The full network for one architecture; returns logits `[B, num_classes]`."""

    def __init__(
        self,
        arch: Arch | None,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        in_channels: int = 3,
        make_cell: Callable[[int], nn.Module] | None = None,
    ) -> None:
        # `make_cell(width)` builds each cell; the default is `Cell(arch, width)`. The
        # supernet (nb201.wsnas.supernet) passes its search cell, so both share this skeleton.
        super().__init__()
        self.arch = arch
        make = make_cell or functools.partial(Cell, arch)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                layers.append(ResidualReduction(width // 2, width))
            layers.extend(make(width) for _ in range(N))
        self.cells = nn.Sequential(*layers)
        self.last_bn = nn.BatchNorm2d(4 * C)
        self.classifier = nn.Linear(4 * C, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Final BN + ReLU, global average pool, classifier (shared with the supernet)."""
        x = F.relu(self.last_bn(x))
        return self.classifier(x.mean(dim=(2, 3)))

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.stem[0].in_channels:
            raise ValueError(
                f"expected input [batch, {self.stem[0].in_channels}, H, W], got {tuple(x.shape)}; "
                "pass a batch of images in NCHW layout with the channel count the network was built for."
            )
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"image size {tuple(x.shape[2:])} is not divisible by 4; the two stride-2 reductions "
                "need H and W divisible by 4 (e.g. 32x32, 16x16, 8x8): resize or crop the images."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.head(self.cells(self.stem(x)))


def build_network(
    arch: Arch | str | int, num_classes: int, C: int = 16, N: int = 5, in_channels: int = 3
) -> Network:
    """The network of `arch` (an Arch, its string, or its official index)."""
    for name, value, low in (
        ("num_classes", num_classes, 1),
        ("C", C, 1),
        ("N", N, 0),
        ("in_channels", in_channels, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}; pass e.g. C=16, N=5.")
    return Network(Arch.coerce(arch), num_classes, C=C, N=N, in_channels=in_channels)
