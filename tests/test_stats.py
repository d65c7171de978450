"""The comparison wording: chosen by the interval, never typed by hand."""

import numpy as np
import pytest

from nb201.stats import describe_difference, mean_std, paired_difference, unpaired_difference


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


def test_unpaired_samples_get_their_own_interval_and_wording():
    rng = np.random.default_rng(4)
    clear = unpaired_difference(rng.normal(93, 0.3, 3), rng.normal(90, 1, 100), "GDAS", "REA")
    assert not clear.paired and clear.n == 3 and clear.lo > 0
    text = describe_difference(clear)
    assert text.startswith("GDAS has higher accuracy than REA") and "Welch t interval" in text
    tied = unpaired_difference([89.2, 90.9, 90.1], rng.normal(90, 1, 100), "SETN", "RS")
    assert tied.covers_zero and "indistinguishable" in describe_difference(tied)


def test_three_seeds_get_a_t_interval_not_a_narrow_bootstrap():
    d = paired_difference([93.1, 92.8, 93.4], [92.0, 93.5, 92.2], "GDAS", "SETN")
    assert d.method == "t" and d.n == 3
    # t(0.975, 2) = 4.303: half-width 4.303 * sd(diff) / sqrt(3)
    diff = np.array([1.1, -0.7, 1.2])
    half = 4.302653 * diff.std(ddof=1) / np.sqrt(3)
    assert d.lo == pytest.approx(diff.mean() - half, abs=1e-4) and d.covers_zero
    assert "paired t interval" in describe_difference(d)
