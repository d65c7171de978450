"""The search space: official index, round trips, bad input, isomorphism counts."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nb201 import space
from nb201.space import EDGES, NUM_ARCHS, OPS, Arch

archs = st.lists(st.sampled_from(OPS), min_size=6, max_size=6).map(lambda ops: Arch(tuple(ops)))
indices = st.integers(min_value=0, max_value=NUM_ARCHS - 1)

ANCHORS = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    11472: "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    1462: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    1651: "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
}


# ---- the official index ----------------------------------------------------------------
@pytest.mark.parametrize(("index", "text"), sorted(ANCHORS.items()))
def test_official_index_anchors(index, text):
    assert str(Arch.from_index(index)) == text
    assert Arch.from_string(text).index == index


def test_official_order_is_the_documented_procedure():
    """Independent re-derivation from the issue text: product in string order, then shuffle(88)."""
    cells = ["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops) for ops in itertools.product(OPS, repeat=6)]
    assert cells[0] == ANCHORS[1651]
    random.seed(88)
    random.shuffle(cells)
    assert [str(a) for a in space.all_archs()] == cells


def test_index_is_a_bijection():
    order = space.all_archs()
    assert len(order) == NUM_ARCHS == 5**6
    assert len(set(order)) == NUM_ARCHS
    assert all(a.index == k for k, a in enumerate(order[:500]))


# ---- round trips -----------------------------------------------------------------------
@given(arch=archs)
def test_string_round_trip(arch):
    text = str(arch)
    assert Arch.from_string(text) == arch
    assert Arch.from_string(f"  {text}\n") == arch
    assert Arch.coerce(text) == arch
    assert repr(arch) == f"Arch('{text}')"


@given(arch=archs)
def test_index_round_trip(arch):
    assert Arch.from_index(arch.index) == arch
    assert Arch.coerce(arch.index) == arch
    assert Arch.coerce(np.int64(arch.index)) == arch


@given(index=indices)
def test_index_to_string_and_back(index):
    arch = Arch.from_index(index)
    assert Arch.from_string(str(arch)).index == index


@given(arch=archs)
def test_coerce_forms(arch):
    assert Arch.coerce(arch) is arch
    assert Arch.coerce(arch.ops) == arch
    assert Arch.coerce(list(arch.ops)) == arch
    assert Arch(list(arch.ops)) == arch  # ops are normalised to a tuple
    assert isinstance(Arch(list(arch.ops)).ops, tuple)
    assert hash(Arch(list(arch.ops))) == hash(arch)


def test_arch_is_immutable():
    arch = Arch.from_index(0)
    with pytest.raises(AttributeError):
        arch.ops = ("none",) * 6  # type: ignore[misc]


# ---- bad input -------------------------------------------------------------------------
GOOD = ANCHORS[11472]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GOOD.replace("nor_conv_3x3~0", "conv_5x5~0", 1), "unknown op.*allowed ops"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|", "3 node groups"),
        (GOOD + "+|none~0|none~1|none~2|none~3|", "3 node groups"),
        ("|nor_conv_3x3~0|+|none~0|+|skip_connect~0|none~1|skip_connect~2|", "node 2 must have 2"),
        (
            "|nor_conv_3x3~0|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
            "node 1 must",
        ),
        ("|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "from node 0"),
        ("|nor_conv_3x3~0|+|none~1|nor_conv_3x3~0|+|skip_connect~0|none~1|skip_connect~2|", "from node 0"),
        ("nor_conv_3x3~0+none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "malformed"),
        ("|nor_conv_3x3-0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "malformed"),
        ("|nor_conv_3x3~a|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "malformed"),
        ("", "3 node groups"),
        ("++", "malformed"),
    ],
)
def test_bad_strings(text, match):
    with pytest.raises(ValueError, match=match):
        Arch.from_string(text)


def test_bad_string_type():
    with pytest.raises(ValueError, match="must be a str"):
        Arch.from_string(11472)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [-1, NUM_ARCHS, 10**9, True, 3.0, "12"])
def test_bad_index(index):
    with pytest.raises(ValueError, match=r"out of range.*\[0, 15624\]"):
        Arch.from_index(index)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ops", "match"),
    [
        (("none",) * 5, "exactly 6 edges"),
        (("none",) * 7, "exactly 6 edges"),
        (("none",) * 5 + ("max_pool_3x3",), "unknown op.*allowed ops"),
    ],
)
def test_bad_op_tuples(ops, match):
    with pytest.raises(ValueError, match=match):
        Arch(ops)
    with pytest.raises(ValueError, match=match):
        Arch.coerce(list(ops))


@pytest.mark.parametrize("value", [None, 3.5, {"ops": ()}])
def test_coerce_rejects_other_types(value):
    with pytest.raises(ValueError, match="cannot read an architecture"):
        Arch.coerce(value)


# ---- isomorphism -------------------------------------------------------------------------
def test_isomorphism_counts():
    order = space.all_archs()
    assert len({a.unique_key() for a in order}) == 6466
    functional = Counter(a.functional_key() for a in order)
    assert len(functional) == 5390
    assert functional["zero"] == 341
    assert sum(a.is_degenerate() for a in order) == 341


def test_keys_on_known_cells():
    # skip and conv order inside a node does not matter; a conv from a dead-zero node is zero
    a = Arch.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    b = Arch.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    assert a.unique_key() == b.unique_key()  # node 2 does not reach the output
    assert a.functional_key() == b.functional_key()
    assert Arch.from_string(ANCHORS[1651]).is_degenerate()
    assert not Arch.from_string(ANCHORS[11472]).is_degenerate()
    # output fed only by a node with no non-zero input: degenerate, but the paper's key
    # keeps it apart from all-none (the quirk behind 6,466)
    c = Arch.from_string("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|")
    assert c.is_degenerate() and c.functional_key() == "zero"
    assert c.unique_key() != Arch.from_string(ANCHORS[1651]).unique_key()


@given(arch=archs)
def test_unique_key_implies_functional_key(arch):
    """The paper's classes refine the functional classes: same paper key, same function."""
    for other in arch.neighbors():
        if other.unique_key() == arch.unique_key():
            assert other.functional_key() == arch.functional_key()


# ---- neighbours, sampling, encodings -------------------------------------------------------
@given(arch=archs)
def test_neighbors(arch):
    nbrs = arch.neighbors()
    assert len(nbrs) == 24 == len(set(nbrs))
    assert arch not in nbrs
    for other in nbrs:
        assert sum(x != y for x, y in zip(arch.ops, other.ops)) == 1


def test_sample_is_deterministic_and_distinct():
    a = space.sample(50, seed=3)
    assert a == space.sample(50, seed=3)
    assert a != space.sample(50, seed=4)
    assert len(set(a)) == 50
    assert space.sample(0, seed=0) == []
    assert len(set(space.sample(NUM_ARCHS, seed=0))) == NUM_ARCHS


def test_sample_unique_and_exclude_degenerate():
    picks = space.sample(2000, seed=1, unique=True)
    assert len({a.functional_key() for a in picks}) == 2000
    assert len(space.sample(5390, seed=1, unique=True)) == 5390
    with pytest.raises(ValueError, match="cannot draw more than 5390"):
        space.sample(5391, seed=1, unique=True)
    clean = space.sample(500, seed=2, exclude_degenerate=True)
    assert not any(a.is_degenerate() for a in clean)
    with pytest.raises(ValueError, match="cannot draw more than 5389"):
        space.sample(5390, seed=1, unique=True, exclude_degenerate=True)
    with pytest.raises(ValueError, match=">= 0"):
        space.sample(-1, seed=0)


@given(arch=archs)
def test_encodings(arch):
    ids = arch.op_ids()
    assert tuple(OPS[k] for k in ids) == arch.ops
    enc = arch.one_hot()
    assert enc.shape == (6, 5) and enc.dtype == np.float32
    assert (enc.sum(axis=1) == 1).all()
    assert tuple(enc.argmax(axis=1)) == ids
    m = arch.op_matrix()
    assert m.shape == (4, 4)
    assert all(m[i, j] == k for (i, j), k in zip(EDGES, ids))
    assert (np.tril(m) == 0).all()  # only edges i<j carry ops


def test_constants():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert NUM_ARCHS == 15_625


def test_sample_can_exclude_whole_functional_classes() -> None:
    """A held-out benchmark never meets an equivalent of a calibration architecture."""
    held_out = space.sample(60, seed=1, unique=True, exclude_degenerate=True)
    drawn = space.select("sample-distinct:300", seed=2, exclude=[str(a) for a in held_out])
    banned = {a.functional_key() for a in held_out}
    assert len(drawn) == 300 and not any(a.functional_key() in banned for a in drawn)
    assert len({a.functional_key() for a in drawn}) == 300 and not any(a.is_degenerate() for a in drawn)
