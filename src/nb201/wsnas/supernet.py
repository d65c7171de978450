"""The weight-sharing supernet: the fixed network's skeleton around 15 search cells.

Stem, reduction blocks and head are `nb201.space.model.Network`'s (built by it, through its
`make_cell` hook), so a supernet cannot drift from the networks the benchmark trains
(one library's NB201 supernet lacked the final BN+ReLU and lost 5-6 points). Every cell
edge is a mixed op over the five ops, as the original `NAS201SearchCell`: the BN inside
the search cells has `affine=False`; `track_running_stats` is a setting (the original's
tracker: batch statistics only search better).

Three ways to run a cell:

* **mixture** `forward(x, weights=w)` with `w` `[6, 5]`: every edge is
  `sum_k w[e, k] * op_k(x)` (DARTS, SETN's arch step);
* **one architecture** `forward(x, arch=ops)` with `ops` six op ids: only the chosen op
  of each edge runs (RSPS, SETN's weight step, ENAS, final scoring);
* **hard sample** `forward(x, arch=ops, weights=hard)`: GDAS, only the sampled op runs and
  is multiplied by its (straight-through, value 1) weight; the other ops' hard weights
  (value 0) are added so every alpha of the edge gets a gradient, as the original.

What buys the speed (the original runs one module per edge and op): the convolutions of
one kernel leaving a node are one wider convolution (`C -> C * fan_out`), with one BN over
the stacked channels (BN is per channel, so this equals one BN per edge); a node's ReLU is
computed once for all its convolutions; `none` is never computed (its output is zero); a
mixture weights all edges leaving a node in one broadcast multiply-add; in arch mode the
wide convolution runs only on the slices of the chosen targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nb201.space import EDGES, NUM_NODES, OPS, Arch
from nb201.space.model import Network, ResidualReduction

NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
_EDGE_ID = {edge: e for e, edge in enumerate(EDGES)}
NONE, SKIP, CONV1, CONV3, POOL = range(NUM_OPS)
_KERNEL_OF = {CONV1: 1, CONV3: 3}


def _pool(h: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)


class SearchCell(nn.Module):
    """All five ops on all six edges, convolutions fused per (source node, kernel).

    `convs[f"n{i}_k{k}"]` maps C -> C * (3 - i) channels: chunk t is the edge (i, i + 1 + t).
    """

    def __init__(self, C: int, affine: bool = False, track_running_stats: bool = False) -> None:
        super().__init__()
        self.C = C
        self.track = track_running_stats
        self.convs = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        for i in range(NUM_NODES - 1):
            fan = NUM_NODES - 1 - i
            for k in (1, 3):
                # bias exactly when BN has no affine, as the original's ReLUConvBN (the
                # parameter count matches; under batch statistics BN cancels the bias)
                self.convs[f"n{i}_k{k}"] = nn.Conv2d(C, C * fan, k, padding=k // 2, bias=not affine)
                self.bns[f"n{i}_k{k}"] = nn.BatchNorm2d(
                    C * fan, affine=affine, track_running_stats=track_running_stats
                )
        # edge ids of the edges leaving node i, in target order
        self.out_edges = [[_EDGE_ID[(i, j)] for j in range(i + 1, NUM_NODES)] for i in range(NUM_NODES - 1)]

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor | None = None, arch: Sequence[int] | None = None
    ) -> torch.Tensor:
        if arch is None:
            if weights is None:
                raise ValueError("a search cell needs mixture weights [6, 5] or an arch (six op ids).")
            return self._mixture(x, weights)
        return self._arch(x, arch, weights)

    def _conv(self, key: str, r: torch.Tensor) -> torch.Tensor:
        return self.bns[key](self.convs[key](r))

    def _mixture(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        inbox: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for i in range(NUM_NODES - 1):
            h = x if i == 0 else sum(inbox[i][1:], inbox[i][0])
            fan = NUM_NODES - 1 - i
            r = F.relu(h)
            y1 = self._conv(f"n{i}_k1", r).chunk(fan, dim=1)
            y3 = self._conv(f"n{i}_k3", r).chunk(fan, dim=1)
            p = _pool(h)
            for t, e in enumerate(self.out_edges[i]):
                we = w[e]
                inbox[i + 1 + t].append(y1[t] * we[CONV1] + y3[t] * we[CONV3] + h * we[SKIP] + p * we[POOL])
        return sum(inbox[-1][1:], inbox[-1][0])

    def _bn_slices(self, key: str, y: torch.Tensor, chunks: list[int], fan: int) -> torch.Tensor:
        """BN of the chosen chunks of a fused conv, each with its own running statistics."""
        bn = self.bns[key]
        if len(chunks) == fan:
            return bn(y)
        use_batch = self.training or not self.track
        if not self.track:
            return F.batch_norm(y, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
        C = self.C
        parts = []
        for n, t in enumerate(chunks):
            sl = slice(t * C, (t + 1) * C)
            parts.append(
                F.batch_norm(
                    y[:, n * C : (n + 1) * C],
                    bn.running_mean[sl],
                    bn.running_var[sl],
                    None if bn.weight is None else bn.weight[sl],
                    None if bn.bias is None else bn.bias[sl],
                    use_batch,
                    bn.momentum,
                    bn.eps,
                )
            )
        return torch.cat(parts, dim=1)

    def _run_kernel(self, i: int, k: int, r: torch.Tensor, chunks: list[int]) -> list[torch.Tensor]:
        key, fan, C = f"n{i}_k{k}", NUM_NODES - 1 - i, self.C
        conv = self.convs[key]
        weight, bias = conv.weight, conv.bias
        if len(chunks) != fan:
            weight = weight.reshape(fan, C, C, k, k)[chunks].reshape(len(chunks) * C, C, k, k)
            bias = None if bias is None else bias.reshape(fan, C)[chunks].reshape(-1)
        y = F.conv2d(r, weight, bias, padding=k // 2)
        return list(self._bn_slices(key, y, chunks, fan).chunk(len(chunks), dim=1))

    def _arch(self, x: torch.Tensor, arch: Sequence[int], w: torch.Tensor | None) -> torch.Tensor:
        inbox: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        extra: list[torch.Tensor | None] = [None] * NUM_NODES  # the hard weights of unchosen ops
        for i in range(NUM_NODES - 1):
            if i == 0:
                h = x
            else:
                h = sum(inbox[i][1:], inbox[i][0]) if inbox[i] else torch.zeros_like(x)
                if extra[i] is not None:
                    h = h + extra[i]
            outs: dict[int, torch.Tensor] = {}
            by_kernel: dict[int, list[int]] = {}
            for t, e in enumerate(self.out_edges[i]):
                op = int(arch[e])
                if op == SKIP:
                    outs[t] = h
                elif op == POOL:
                    outs[t] = _pool(h)
                elif op in _KERNEL_OF:
                    by_kernel.setdefault(_KERNEL_OF[op], []).append(t)
            if by_kernel:
                r = F.relu(h)
                for k, chunks in by_kernel.items():
                    outs.update(zip(chunks, self._run_kernel(i, k, r, chunks)))
            for t, e in enumerate(self.out_edges[i]):
                j, op = i + 1 + t, int(arch[e])
                if w is not None:
                    others = w[e].sum() - w[e, op]  # value 0 for a hard sample, gradient 1
                    extra[j] = others if extra[j] is None else extra[j] + others
                    if t in outs:
                        outs[t] = outs[t] * w[e, op]
                if t in outs:
                    inbox[j].append(outs[t])
        out = sum(inbox[-1][1:], inbox[-1][0]) if inbox[-1] else torch.zeros_like(x)
        return out if extra[-1] is None else out + extra[-1]


class Supernet(Network):
    """The NB201 supernet (C=16, N=5 in the paper); returns logits `[B, num_classes]`.

    `forward(x, weights=None, arch=None)`: see the module docstring for the three modes.
    """

    def __init__(
        self,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        in_channels: int = 3,
        affine: bool = False,
        track_running_stats: bool = False,
    ) -> None:
        for name, value, low in (("num_classes", num_classes, 1), ("C", C, 1), ("N", N, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}; e.g. C=16, N=5.")
        super().__init__(
            None,
            num_classes,
            C=C,
            N=N,
            in_channels=in_channels,
            make_cell=lambda width: SearchCell(width, affine, track_running_stats),
        )
        self.track_running_stats = track_running_stats
        # channels-last: on CPU the oneDNN convolutions run ~1.5x faster in this layout
        self.to(memory_format=torch.channels_last)

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | None = None,
        arch: Arch | Sequence[int] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.check_input(x)
        if weights is not None and tuple(weights.shape) != (NUM_EDGES, NUM_OPS):
            raise ValueError(f"weights must be [{NUM_EDGES}, {NUM_OPS}], got {tuple(weights.shape)}.")
        ops = None if arch is None else arch_ids(arch)
        h = self.stem(x.contiguous(memory_format=torch.channels_last))
        for cell in self.cells:
            h = cell(h) if isinstance(cell, ResidualReduction) else cell(h, weights, ops)
        return self.head(h)


def arch_ids(arch: Arch | Sequence[int] | torch.Tensor | str) -> list[int]:
    """Six op ids (in `EDGES` order) from an Arch, its string, or ids."""
    if isinstance(arch, (Arch, str)):
        return list(Arch.coerce(arch).op_ids())
    ids = [int(a) for a in (arch.tolist() if isinstance(arch, torch.Tensor) else arch)]
    if len(ids) != NUM_EDGES or not all(0 <= a < NUM_OPS for a in ids):
        raise ValueError(f"an arch is {NUM_EDGES} op ids in [0, {NUM_OPS}), got {ids}.")
    return ids


def ids_to_arch(ids: Sequence[int]) -> Arch:
    """The Arch of six op ids."""
    return Arch(tuple(OPS[int(i)] for i in ids))


def count_weights(num_classes: int, C: int = 16, N: int = 5, in_channels: int = 3) -> int:
    """Number of supernet weights (the original search model's, alphas excluded)."""
    net = Supernet(num_classes, C=C, N=N, in_channels=in_channels)
    return sum(p.numel() for p in net.parameters())
