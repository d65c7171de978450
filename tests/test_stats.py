"""The comparison wording: chosen by the interval, never typed by hand."""

import numpy as np

from nb201.stats import describe_difference, mean_std, paired_difference


def test_no_signal_is_indistinguishable():
    rng = np.random.default_rng(1)
    shared = rng.normal(90, 1, 500)
    a, b = shared + rng.normal(0, 0.5, 500), shared + rng.normal(0, 0.5, 500)
    d = paired_difference(a, b, "REA", "RS")
    assert d.covers_zero and d.n == 500
    assert "REA and RS are indistinguishable in accuracy" in describe_difference(d)


def test_clear_signal_gets_a_direction():
    rng = np.random.default_rng(2)
    shared = rng.normal(90, 1, 200)
    a, b = shared + 0.5 + rng.normal(0, 0.1, 200), shared + rng.normal(0, 0.1, 200)
    d = paired_difference(a, b, "REA", "RS")
    assert d.lo > 0 and not d.covers_zero
    assert describe_difference(d).startswith("REA has higher accuracy than RS: REA − RS = +0.51")
    flipped = describe_difference(paired_difference(b, a, "RS", "REA"))
    assert flipped.startswith("REA has higher accuracy than RS: RS − REA = -0.51")


def test_pairing_removes_the_shared_spread():
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 10, 50)  # a large spread both share: unpaired it would swamp 0.3
    d = paired_difference(shared + 0.3 + rng.normal(0, 0.05, 50), shared, "a", "b")
    assert d.lo > 0.2 and d.hi < 0.4


def test_one_pair_has_no_interval_and_one_seed_no_spread():
    d = paired_difference([1.0], [0.0], "x", "y")
    assert d.covers_zero and "too few to give an interval" in describe_difference(d)
    assert mean_std([93.123]) == "93.12 (1 seed, no spread)"
    assert mean_std([1.0, 3.0]) == "2.00 ± 1.41 (2 seeds)"
    assert mean_std([np.nan]) == "—"
