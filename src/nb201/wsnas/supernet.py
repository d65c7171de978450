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
computed once for all its convolutions; `none` is never computed (its output is zero); in
arch mode the wide convolution runs only on the (narrowed, not copied) slices of the chosen
targets, and nodes that cannot reach the cell output are not run at all when BN keeps no
statistics. Mixture and hard-sample weights are split into per-edge scalars once per
forward for all 3N cells, not indexed in every cell (at the cheap scale those tiny autograd
ops cost as much as the convolutions).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import NamedTuple

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
_ALL_NODES = frozenset(range(NUM_NODES))
# edge ids of the edges leaving node i, in target order
_OUT_EDGES = [[_EDGE_ID[(i, j)] for j in range(i + 1, NUM_NODES)] for i in range(NUM_NODES - 1)]
# _INTO[j, e] = 1 when edge e enters node j (sums the hard-weight terms per node)
_INTO = torch.tensor([[float(edge[1] == j) for edge in EDGES] for j in range(NUM_NODES)])


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
        self.out_edges = _OUT_EDGES

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | MixWeights | HardWeights | None = None,
        arch: Sequence[int] | None = None,
    ) -> torch.Tensor:
        if arch is None:
            if weights is None:
                raise ValueError("a search cell needs mixture weights [6, 5] or an arch (six op ids).")
            return self._mixture(x, weights)
        arch = [int(a) for a in arch]
        if isinstance(weights, torch.Tensor):
            weights = HardWeights.of(weights, arch)
        return self._arch(x, arch, weights)

    def _conv(self, key: str, r: torch.Tensor) -> torch.Tensor:
        return self.bns[key](self.convs[key](r))

    def _mixture(self, x: torch.Tensor, w: torch.Tensor | MixWeights) -> torch.Tensor:
        mix = w if isinstance(w, MixWeights) else MixWeights.of(w)
        inbox: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for i in range(NUM_NODES - 1):
            h = x if i == 0 else _node_value(inbox[i], None, i, x)
            fan = NUM_NODES - 1 - i
            r = F.relu(h)
            y1 = self._conv(f"n{i}_k1", r).chunk(fan, dim=1)
            y3 = self._conv(f"n{i}_k3", r).chunk(fan, dim=1)
            p = _pool(h)
            for t, e in enumerate(self.out_edges[i]):
                we = mix.per_edge[e]
                inbox[i + 1 + t].append(y1[t] * we[CONV1] + y3[t] * we[CONV3] + h * we[SKIP] + p * we[POOL])
        return _node_value(inbox[-1], None, NUM_NODES - 1, x)

    def _bn_run(self, key: str, y: torch.Tensor, first: int, count: int, fan: int) -> torch.Tensor:
        """BN of the consecutive chunks `first .. first + count - 1` of a fused conv's output.

        BN is per channel, so the chunks' slice of the BN (its affine parameters and, when
        tracked, a view of its running statistics, updated in place) is exactly the edges' BNs.
        """
        bn = self.bns[key]
        if count == fan:
            return bn(y)
        if not self.track:  # batch statistics only: no buffers to slice
            sl = slice(first * self.C, (first + count) * self.C)
            w = None if bn.weight is None else bn.weight[sl]
            b = None if bn.bias is None else bn.bias[sl]
            return F.batch_norm(y, None, None, w, b, True, 0.0, bn.eps)
        sl = slice(first * self.C, (first + count) * self.C)
        return F.batch_norm(
            y,
            bn.running_mean[sl],
            bn.running_var[sl],
            None if bn.weight is None else bn.weight[sl],
            None if bn.bias is None else bn.bias[sl],
            self.training,
            bn.momentum,
            bn.eps,
        )

    def _run_kernel(self, i: int, k: int, r: torch.Tensor, chunks: list[int]) -> list[torch.Tensor]:
        """The chosen chunks of node i's fused k x k convolution (+ BN), one per chunk.

        Consecutive chunks run as one convolution on a narrowed (viewed, not copied) weight:
        slicing a weight by advanced indexing costs an index op forward and an index_put
        backward, which at the cheap scale costs as much as the convolution itself.
        """
        key, fan, C = f"n{i}_k{k}", NUM_NODES - 1 - i, self.C
        conv = self.convs[key]
        outs: list[torch.Tensor] = []
        for first, count in _runs(chunks):
            if count == fan:
                weight, bias = conv.weight, conv.bias
            else:
                weight = conv.weight.narrow(0, first * C, count * C)
                bias = None if conv.bias is None else conv.bias.narrow(0, first * C, count * C)
            y = self._bn_run(key, F.conv2d(r, weight, bias, padding=k // 2), first, count, fan)
            outs.extend(y.split(C, dim=1) if count > 1 else (y,))
        return outs

    def _arch(self, x: torch.Tensor, arch: Sequence[int], hard: HardWeights | None) -> torch.Tensor:
        # Nodes that cannot reach the output are not run when BN keeps no statistics: their
        # values have no effect (no gradient, no state). With tracked statistics the chosen
        # convolutions of every edge update their BN's running statistics, as before.
        live = _live_nodes(arch) if not self.track else _ALL_NODES
        inbox: list[list[torch.Tensor]] = [[] for _ in range(NUM_NODES)]
        for i in range(NUM_NODES - 1):
            if i not in live:
                continue
            h = x if i == 0 else _node_value(inbox[i], hard, i, x)
            outs: dict[int, torch.Tensor] = {}
            by_kernel: dict[int, list[int]] = {}
            pooled: torch.Tensor | None = None
            for t, e in enumerate(self.out_edges[i]):
                op = arch[e]
                if op == NONE or i + 1 + t not in live:
                    continue
                if op == SKIP:
                    outs[t] = h
                elif op == POOL:
                    pooled = _pool(h) if pooled is None else pooled
                    outs[t] = pooled
                else:
                    by_kernel.setdefault(_KERNEL_OF[op], []).append(t)
            if by_kernel:
                r = F.relu(h)
                for k, chunks in by_kernel.items():
                    outs.update(zip(chunks, self._run_kernel(i, k, r, chunks)))
            for t, out in outs.items():
                e = self.out_edges[i][t]
                inbox[i + 1 + t].append(out if hard is None else out * hard.chosen[e])
        return _node_value(inbox[-1], hard, NUM_NODES - 1, x)


class MixWeights(NamedTuple):
    """Mixture weights split into scalars once per forward, for all cells: `per_edge[e][op]`.

    Indexing `w[e][op]` in every cell cost two select ops per term forward, and backward a
    zero-filled [6, 5] gradient per select, all summed into alpha's gradient; one unbind per
    forward replaces them (3N cells x 6 edges x 5 ops of them)."""

    per_edge: tuple[tuple[torch.Tensor, ...], ...]

    @classmethod
    def of(cls, w: torch.Tensor) -> MixWeights:
        return cls(tuple(row.unbind() for row in w.unbind()))


class HardWeights(NamedTuple):
    """GDAS's straight-through weights of one sample, split once per forward for all cells.

    `chosen[e]` = w[e, op_e] (value 1; the chosen op's output is multiplied by it, which
    gives its alpha the gradient); `into[j]` = the sum, over the edges into node j, of the
    other ops' weights (value 0), added to node j so that every alpha gets a gradient, as
    the original. Computing these per edge in every cell cost about 90 tiny autograd ops
    per forward; here it is five, shared by the 3N cells.
    """

    chosen: tuple[torch.Tensor, ...]
    into: tuple[torch.Tensor, ...]

    @classmethod
    def of(cls, w: torch.Tensor, arch: Sequence[int]) -> HardWeights:
        chosen = w.gather(1, torch.tensor(arch)[:, None])[:, 0]
        others = w.sum(dim=1) - chosen  # exactly 0 for a hard sample: adding it changes no value
        into = _INTO.to(w.dtype) @ others
        return cls(chosen.unbind(), into.unbind())


def _runs(chunks: list[int]) -> list[tuple[int, int]]:
    """(first, count) of each run of consecutive chunk indices, e.g. [0, 1] -> [(0, 2)]."""
    runs: list[tuple[int, int]] = []
    for t in chunks:
        if runs and runs[-1][0] + runs[-1][1] == t:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((t, 1))
    return runs


def _node_value(terms: list[torch.Tensor], hard: HardWeights | None, j: int, x: torch.Tensor) -> torch.Tensor:
    """Sum of a node's inputs (zero without any), plus its hard-weight term under GDAS."""
    h = functools.reduce(operator.add, terms) if terms else torch.zeros_like(x)
    return h if hard is None else h + hard.into[j]


def _live_nodes(arch: Sequence[int]) -> frozenset[int]:
    """Nodes whose value reaches the cell output through edges that are not `none`."""
    live = {NUM_NODES - 1}
    for j in range(NUM_NODES - 2, -1, -1):
        if any(arch[_EDGE_ID[(j, k)]] != NONE and k in live for k in range(j + 1, NUM_NODES)):
            live.add(j)
    return frozenset(live)


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
        if weights is not None:  # split the weights once, for all cells
            weights = MixWeights.of(weights) if ops is None else HardWeights.of(weights, ops)
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
