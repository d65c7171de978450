"""BOHB leaves the process as it found it: no hpbandster attribute replaced, the global
numpy and `random` states restored, and a run a pure function of its seed; and its fast
config generator decides exactly as hpbandster's (the search behaviour itself is tested
with the other algorithms in test_search.py)."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from nb201.search import ALGORITHMS, Algorithm, Oracle, bohb, ops_of, run_search
from nb201.search.bohb import _budgets
from nb201.space import NUM_ARCHS


def _oracle() -> Oracle:
    """Rewards that depend on the architecture, 100 s per query: 20 queries fit 2,050 s."""
    reward = 80.0 + 10.0 * np.random.default_rng(1).random((NUM_ARCHS, 1)) + np.zeros((NUM_ARCHS, 2))
    return Oracle.from_arrays(reward, np.full((NUM_ARCHS, 2), 100.0))


def _trace(seed: int):
    r = run_search("BOHB", _oracle(), budget=2050, seed=seed)
    return r.archs.tolist(), r.rewards.tolist(), r.epochs.tolist(), r.arch_index


def test_no_module_attribute_of_hpbandster_is_replaced():
    import hpbandster.core.dispatcher as hb_dispatcher
    import hpbandster.core.master as hb_master

    before = (hb_master.Dispatcher, hb_dispatcher.Dispatcher, dict(vars(hb_master)))
    _trace(0)
    assert hb_master.Dispatcher is before[0] is hb_dispatcher.Dispatcher is before[1]
    assert dict(vars(hb_master)) == before[2]
    assert not [t for t in threading.enumerate() if "dispatcher" in t.name.lower()]


def test_global_random_states_are_restored_and_the_run_is_deterministic():
    np.random.seed(123)
    random.seed(456)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(456)
    first = _trace(3)
    assert (np.random.random(), random.random()) == expected
    # the caller's global state does not leak into the run either
    np.random.seed(999)
    assert _trace(3) == first
    assert _trace(4) != first


def test_budget_ladder_is_hpbandsters():
    np.testing.assert_allclose(_budgets(12, 200, 3), [200 / 9, 200 / 3, 200])
    assert _budgets(1, 27, 3).tolist() == [1.0, 3.0, 9.0, 27.0]


def _curve_oracle() -> Oracle:
    """Learning curves of 20 epochs that saturate towards an additive score, 3 seeds: BOHB
    reads epochs 2, 6 and 20 of them (budgets 22.2, 66.7, 200 of 200)."""
    rng = np.random.default_rng(2)
    score = rng.normal(size=(6, 5))[np.arange(6), ops_of(np.arange(NUM_ARCHS))].sum(axis=1)
    curve = 1 - np.exp(-4 * np.arange(1, 21) / 20)
    reward = 60 + (20 + 2 * score[:, None, None]) * curve + rng.normal(0, 0.3, (NUM_ARCHS, 3, 20))
    cost = np.cumsum(np.full((NUM_ARCHS, 3, 20), 5.0) * (1 + 0.1 * rng.random((NUM_ARCHS, 3, 1))), axis=2)
    return Oracle.from_arrays(reward, cost)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels divides by zero on one-level columns
@pytest.mark.parametrize(
    "oracle, budget", [(_oracle(), 9000), (_curve_oracle(), 6000)], ids=["final", "curves"]
)
def test_the_numpy_config_generator_decides_exactly_as_hpbandsters(oracle, budget):
    """`KDEGenerator` (what BOHB uses) against hpbandster's own generator: same jobs, same
    rewards, same answer, seed for seed, once the KDE model is in play (~90 jobs a run)."""
    from hpbandster.optimizers.config_generators.bohb import BOHB as HpbandsterGenerator

    def reference(env, rng, **settings):
        return bohb.search(env, rng, HpbandsterGenerator, **settings)

    ref = Algorithm("BOHB-hpbandster", reference, ALGORITHMS["BOHB"].defaults, curve_hp="200")
    for seed in range(3):
        ours = run_search("BOHB", oracle, budget=budget, seed=seed)
        theirs = run_search(ref, oracle, budget=budget, seed=seed)
        assert ours.n_queries > 60
        np.testing.assert_array_equal(ours.archs, theirs.archs)
        np.testing.assert_array_equal(ours.epochs, theirs.epochs)
        np.testing.assert_array_equal(ours.rewards, theirs.rewards)
        assert ours.arch_index == theirs.arch_index
