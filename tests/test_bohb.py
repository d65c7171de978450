"""BOHB leaves the process as it found it: no hpbandster attribute replaced, the global
numpy and `random` states restored, and a run a pure function of its seed (the search
behaviour itself is tested with the other algorithms in test_search.py)."""

from __future__ import annotations

import random
import threading

import numpy as np

from nb201.search import Oracle, run_search
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
