"""The NAS-Bench-201 cell search space.

A cell is a DAG of 4 nodes; each of the 6 edges i->j (i<j) carries one of 5 ops.
Node 0 is the cell input, node 3 its output, every node the sum of its incoming edges.
The official index of an architecture is not stored anywhere: it is *produced* by the
procedure the original benchmark used (Cartesian product, then a seeded shuffle), so we
recompute it once and cache it.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
# Edges in the order they appear in the arch string: grouped by target node, then source.
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for j in range(1, NUM_NODES) for i in range(j))
NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES
_OP_ID = {op: k for k, op in enumerate(OPS)}
_SHUFFLE_SEED = 88  # the original benchmark's seed for its architecture order
_NODE_RE = re.compile(r"^\|(?:[^|~]+~\d+\|)+$")


def _bad(what: str, text: object, fix: str) -> ValueError:
    return ValueError(f"{what}: {text!r}. {fix}")


@dataclass(frozen=True, order=True)
class Arch:
    """An immutable cell: one op per edge, in `EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != NUM_EDGES:
            raise _bad(
                f"an architecture has exactly {NUM_EDGES} edges, got {len(ops)}",
                ops,
                f"give one op per edge in the order {EDGES}.",
            )
        for op in ops:
            if op not in _OP_ID:
                raise _bad("unknown op", op, f"allowed ops are {list(OPS)}.")
        object.__setattr__(self, "ops", ops)

    # ---- text ----------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> Arch:
        """Parse the standard `|op~src|+|op~src|op~src|+|...|` string."""
        if not isinstance(text, str):
            raise _bad("an arch string must be a str", text, "pass e.g. Arch.from_index(0).__str__().")
        text = text.strip()
        nodes = text.split("+")
        if len(nodes) != NUM_NODES - 1:
            raise _bad(
                f"an arch string has {NUM_NODES - 1} node groups joined by '+', got {len(nodes)}",
                text,
                "use the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.",
            )
        ops: list[str] = []
        for j, node in enumerate(nodes, start=1):
            if not _NODE_RE.match(node):
                raise _bad(f"malformed node group {j}", node, "each group looks like |op~src|op~src|.")
            items = node.strip("|").split("|")
            if len(items) != j:
                raise _bad(
                    f"node {j} must have {j} incoming edges, got {len(items)}",
                    node,
                    "one edge per earlier node.",
                )
            for i, item in enumerate(items):
                op, _, src = item.partition("~")
                if int(src) != i:
                    raise _bad(
                        f"edge {item!r} of node {j} must come from node {i}",
                        text,
                        "list a node's inputs in source order 0, 1, ...",
                    )
                if op not in _OP_ID:
                    raise _bad("unknown op", op, f"allowed ops are {list(OPS)}.")
                ops.append(op)
        return cls(tuple(ops))

    def __str__(self) -> str:
        groups, k = [], 0
        for j in range(1, NUM_NODES):
            groups.append("|" + "|".join(f"{self.ops[k + i]}~{i}" for i in range(j)) + "|")
            k += j
        return "+".join(groups)

    def __repr__(self) -> str:
        return f"Arch('{self}')"

    # ---- index ---------------------------------------------------------------------
    @classmethod
    def from_index(cls, index: int) -> Arch:
        """The architecture at `index` in the official benchmark files."""
        order = _official_order()
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < NUM_ARCHS:
            raise _bad("arch index out of range", index, f"use an integer in [0, {NUM_ARCHS - 1}].")
        return order[int(index)]

    @property
    def index(self) -> int:
        """The official index (`architecture 11472` means the same cell as in every paper)."""
        return _official_position()[self.ops]

    @classmethod
    def coerce(cls, value: Arch | str | int | Sequence[str]) -> Arch:
        """Accept anything users naturally pass: an Arch, its string, its index, an op tuple."""
        if isinstance(value, Arch):
            return value
        if isinstance(value, str):
            return cls.from_string(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return cls.from_index(int(value))
        if isinstance(value, (tuple, list)):
            return cls(tuple(value))
        raise _bad(
            "cannot read an architecture from",
            value,
            "pass an Arch, an arch string, an index or an op tuple.",
        )

    # ---- encodings -----------------------------------------------------------------
    def op_ids(self) -> tuple[int, ...]:
        return tuple(_OP_ID[op] for op in self.ops)

    def one_hot(self) -> np.ndarray:
        """(6, 5) float32 one-hot of the op on each edge, the usual predictor input."""
        enc = np.zeros((NUM_EDGES, len(OPS)), dtype=np.float32)
        enc[np.arange(NUM_EDGES), self.op_ids()] = 1.0
        return enc

    def op_matrix(self) -> np.ndarray:
        """4x4 int matrix M[i, j] = op id on edge i->j (0 = none, also for i >= j)."""
        m = np.zeros((NUM_NODES, NUM_NODES), dtype=np.int64)
        for (i, j), op in zip(EDGES, self.ops):
            m[i, j] = _OP_ID[op]
        return m

    # ---- isomorphism ---------------------------------------------------------------
    def unique_key(self) -> str:
        """The paper's isomorphism key (6,466 classes), the original `to_unique_str(True)`.

        A node whose inputs are all zero is *not* zero downstream (its key is `#+#`, not
        `#`): that quirk is what the paper's count of 6,466 depends on, so we keep it.
        """
        keys = ["0"]
        for j in range(1, NUM_NODES):
            parts = []
            for i in range(j):
                op, src = self.ops[_edge_pos(i, j)], keys[i]
                if op == "none" or src == "#":
                    parts.append("#")
                elif op == "skip_connect":
                    parts.append(src)
                else:
                    parts.append(f"({src})@{op}")
            keys.append("+".join(sorted(parts)))
        return keys[-1]

    def functional_key(self) -> str:
        """Functional equivalence (5,390 classes): `unique_key`'s construction with zeros
        dropped from every sum and a node with no non-zero input itself zero downstream.

        All 341 cells whose output is identically zero share the key `"zero"`.
        """
        keys: list[str | None] = ["0"]
        for j in range(1, NUM_NODES):
            parts = []
            for i in range(j):
                op, src = self.ops[_edge_pos(i, j)], keys[i]
                if op == "none" or src is None:
                    continue
                parts.append(src if op == "skip_connect" else f"({src})@{op}")
            keys.append("+".join(sorted(parts)) if parts else None)
        return keys[-1] if keys[-1] is not None else "zero"

    def is_degenerate(self) -> bool:
        """True when the cell's output is identically zero (341 such cells)."""
        return self.functional_key() == "zero"

    def neighbors(self) -> list[Arch]:
        """All 24 single-edge mutations, the move set of REA and local search."""
        out = []
        for e in range(NUM_EDGES):
            for op in OPS:
                if op != self.ops[e]:
                    out.append(Arch(self.ops[:e] + (op,) + self.ops[e + 1 :]))
        return out


def _edge_pos(i: int, j: int) -> int:
    return j * (j - 1) // 2 + i


@functools.lru_cache(maxsize=1)
def _official_order() -> tuple[Arch, ...]:
    cells = [Arch(ops) for ops in itertools.product(OPS, repeat=NUM_EDGES)]
    rng = random.Random()
    rng.seed(_SHUFFLE_SEED)
    rng.shuffle(cells)
    return tuple(cells)


@functools.lru_cache(maxsize=1)
def _official_position() -> dict[tuple[str, ...], int]:
    return {a.ops: k for k, a in enumerate(_official_order())}


def all_archs() -> tuple[Arch, ...]:
    """All 15,625 architectures in official index order."""
    return _official_order()


def sample(
    n: int,
    seed: int,
    unique: bool = False,
    exclude_degenerate: bool = False,
    exclude: Iterable[Arch | str | int] | None = None,
) -> list[Arch]:
    """`n` architectures drawn without replacement, deterministic for `seed`.

    With `unique=True` at most one member of each functional class is drawn, which is
    what a cheap benchmark wants: every trained network is a different function.
    `exclude` removes whole functional classes (e.g. a calibration set's) from the pool, so
    a held-out evaluation never meets an equivalent of a calibration architecture.
    """
    if n < 0:
        raise _bad("sample size must be >= 0", n, "pass a non-negative n.")
    pool = list(_official_order())
    if exclude is not None:
        banned = {Arch.coerce(a).functional_key() for a in exclude}
        pool = [a for a in pool if a.functional_key() not in banned]
    if exclude_degenerate:
        pool = [a for a in pool if not a.is_degenerate()]
    if unique:
        seen: dict[str, Arch] = {}
        for a in pool:
            seen.setdefault(a.functional_key(), a)
        pool = list(seen.values())
    if n > len(pool):
        raise _bad(
            f"cannot draw more than {len(pool)} architectures", n, "lower n or drop unique/exclude flags."
        )
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=n, replace=False)
    return [pool[k] for k in picks]


def _first_per_key(archs: Sequence[Arch], key: str) -> list[Arch]:
    seen: dict[str, Arch] = {}
    for a in archs:
        seen.setdefault(getattr(a, key)(), a)
    return list(seen.values())


def select(
    spec: str | Sequence[str | Arch], seed: int = 0, exclude: Iterable[Arch | str | int] | None = None
) -> list[Arch]:
    """Resolve a notebook-style architecture selection to a list of `Arch`.

    - `"all"`: the 15,625 cells in official index order;
    - `"unique"`: one cell per `unique_key` class (the paper's 6,466);
    - `"distinct"`: one per functional class, degenerate ones left out (5,389);
    - `"sample:N"`: N cells drawn uniformly with `seed`;
    - `"sample-distinct:N"`: N functionally distinct, non-degenerate cells drawn with `seed`;
    - no selection keeps a cell functionally equivalent to one in `exclude` (samples
      draw from the reduced pool, so they still return N cells);
    - a list of arch strings, indices or `Arch` values.
    """
    chosen = _select(spec, seed, exclude)
    if exclude is None:
        return chosen
    banned = {Arch.coerce(a).functional_key() for a in exclude}
    return [a for a in chosen if a.functional_key() not in banned]


def _select(
    spec: str | Sequence[str | Arch], seed: int, exclude: Iterable[Arch | str | int] | None
) -> list[Arch]:
    if isinstance(spec, str):
        kind, _, count = spec.partition(":")
        if kind == "all" and not count:
            return list(all_archs())
        if kind == "unique" and not count:
            return _first_per_key(all_archs(), "unique_key")
        if kind == "distinct" and not count:
            return [a for a in _first_per_key(all_archs(), "functional_key") if not a.is_degenerate()]
        if kind in ("sample", "sample-distinct") and count.isdigit():
            distinct = kind == "sample-distinct"
            return sample(int(count), seed, unique=distinct, exclude_degenerate=distinct, exclude=exclude)
        if "|" in spec:
            return [Arch.from_string(spec)]
        raise _bad(
            "unknown architecture selection",
            spec,
            "use 'all', 'unique', 'distinct', 'sample:N', 'sample-distinct:N' or a list of arch strings.",
        )
    return [Arch.coerce(a) for a in spec]
