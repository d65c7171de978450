"""What a cell computes, as numbers a ranker can use: op counts, live edges, and the four
input-to-output paths.

Zero-cost proxies see a network through one random initialisation and one mini-batch;
the cell's wiring is known exactly and costs nothing. These features describe it:

* `n_<op>`: edges with each op (all six edges);
* `live_<op>`: edges with each op that carry signal from the input to the output (an edge
  whose source no non-zero path reaches, or whose target reaches no output, is dead: it
  costs compute but cannot change the function);
* the four input-to-output paths of the 4-node cell (0-3, 0-1-3, 0-2-3, 0-1-2-3): how many
  are alive (no `none` on them), how many of those carry a convolution, the most and the
  fewest convolutions on an alive path (the depth of the longest conv path, and whether a
  parameter-free shortcut exists), the most 3x3 convolutions on one path, the largest
  receptive-field growth of a path (each 3x3 conv or pool widens it by 2), and whether a
  path of skips only exists (an identity shortcut) or a path of pooling without a conv;
* `degenerate`: the output is identically zero (`Arch.is_degenerate`).

Everything is a function of the architecture alone, so functional-class members differ
only where dead edges differ (`n_*`), never in the live structure. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nb201.space import EDGES, NUM_NODES, OPS, Arch

# Edge positions of each input-to-output path (EDGES order: 0-1, 0-2, 1-2, 0-3, 1-3, 2-3).
PATHS: tuple[tuple[int, ...], ...] = (
    (EDGES.index((0, 3)),),
    (EDGES.index((0, 1)), EDGES.index((1, 3))),
    (EDGES.index((0, 2)), EDGES.index((2, 3))),
    (EDGES.index((0, 1)), EDGES.index((1, 2)), EDGES.index((2, 3))),
)
_CONVS = {"nor_conv_1x1", "nor_conv_3x3"}
_WIDEN = {"nor_conv_3x3": 2, "avg_pool_3x3": 2}
_SHORT = {
    "none": "none",
    "skip_connect": "skip",
    "nor_conv_1x1": "c1",
    "nor_conv_3x3": "c3",
    "avg_pool_3x3": "pool",
}


def _live_edges(ops: Sequence[str]) -> list[bool]:
    """Which edges lie on an alive input-to-output path (forward reachability from the input
    through non-`none` edges, backward reachability from the output)."""
    reach = [True] + [False] * (NUM_NODES - 1)
    for j in range(1, NUM_NODES):
        reach[j] = any(reach[i] and ops[EDGES.index((i, j))] != "none" for i in range(j))
    out_reach = [False] * (NUM_NODES - 1) + [True]
    for i in range(NUM_NODES - 2, -1, -1):
        out_reach[i] = any(
            out_reach[j] and ops[EDGES.index((i, j))] != "none" for j in range(i + 1, NUM_NODES)
        )
    return [ops[e] != "none" and reach[i] and out_reach[j] for e, (i, j) in enumerate(EDGES)]


def cell_features(arch: Arch | str | int) -> dict[str, float]:
    """The features of one architecture (see the module docstring)."""
    a = Arch.coerce(arch)
    ops = a.ops
    live = _live_edges(ops)
    row: dict[str, float] = {}
    for op in OPS:
        row[f"n_{_SHORT[op]}"] = float(sum(o == op for o in ops))
    for op in OPS[1:]:
        row[f"live_{_SHORT[op]}"] = float(sum(o == op and lv for o, lv in zip(ops, live)))
    alive = [p for p in PATHS if all(ops[e] != "none" for e in p)]
    convs = [sum(ops[e] in _CONVS for e in p) for p in alive]
    row["paths_alive"] = float(len(alive))
    row["paths_with_conv"] = float(sum(c > 0 for c in convs))
    row["path_convs_max"] = float(max(convs, default=0))
    row["path_convs_min"] = float(min(convs, default=0))
    row["path_c3_max"] = float(max((sum(ops[e] == "nor_conv_3x3" for e in p) for p in alive), default=0))
    row["path_widen_max"] = float(max((sum(_WIDEN.get(ops[e], 0) for e in p) for p in alive), default=0))
    row["skip_only_path"] = float(any(all(ops[e] == "skip_connect" for e in p) for p in alive))
    row["pool_no_conv_path"] = float(
        any(all(ops[e] not in _CONVS for e in p) and any(ops[e] == "avg_pool_3x3" for e in p) for p in alive)
    )
    row["degenerate"] = float(a.is_degenerate())
    return row


FEATURE_NAMES: tuple[str, ...] = tuple(cell_features(0))


def cell_feature_table(indices: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """`cell_features` of many architectures: one row per official index (index `index`)."""
    idx = [int(i) for i in np.asarray(indices).reshape(-1)]
    frame = pd.DataFrame([cell_features(i) for i in idx], index=pd.Index(idx, name="index"))
    return frame[list(FEATURE_NAMES)]
