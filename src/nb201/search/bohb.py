"""BOHB (Falkner et al., 2018) through hpbandster, the implementation the paper used.

Mirrors the original `exps/algos/BOHB.py`: one categorical hyperparameter per edge, eta 3,
budgets from 12 to 200 epochs (so hpbandster's brackets run at 22.2, 66.7 and 200), 4
samples to optimize the acquisition, no random fraction, bandwidth factor 3, minimum
bandwidth 0.3, loss = 100 - validation accuracy. A job with budget `b` reads the 200-epoch
learning curve after `int(b)` epochs (the original's `iepoch=int(budget)-1, hp='200'`)
and charges the training time of those epochs plus one validation pass. The search stops
at the first job the clock cannot pay for (the original let hpbandster go on until its
iteration count ran out, answering loss 100 for free: the paid evaluations are the same).
The answer is hpbandster's incumbent: the best loss among the runs on the largest budget (or, when
the clock ran out before any run reached it, on the largest budget reached).

On a benchmark that holds only part of the space, a proposed cell the benchmark lacks is
replaced by its nearest cell there (fewest differing edges, then lowest index); the loss
is reported for the proposed configuration.

If the benchmark has no 200-epoch curves for the search split, the curves of its hp with
the most epochs `E` are used and a budget `b` reads `max(1, int(b * E / 200))` epochs
(12-epoch curves: 1, 4 and 12).

How it runs: hpbandster's `Master` talks to its workers through a Pyro4 name server and
threads. We drive hpbandster's own parts without it: its BOHB config generator (the KDE
model), its `SuccessiveHalving` brackets with the budgets and bracket sizes of its `BOHB`
optimizer, and its `Result` for the incumbent; `_drive` is `Master.run` for one worker that
computes each job before the next is chosen (the original also ran one job at a time, so
the sequence of decisions is the same). No hpbandster module attribute is replaced.

The one global this needs is numpy's: hpbandster's config generator draws from the global
`numpy.random` (`np.random.rand`, `randint`, `choice`) and takes no generator, so a run
seeds it from the run's seed and restores the caller's state afterwards
(`_seeded_global_numpy`), holding a lock so that two BOHB runs in one process do not draw
from each other's stream. ConfigSpace has its own generator, seeded from the same seed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from nb201.search.base import ALGORITHMS, SearchEnv, index_of, ops_of, register
from nb201.space import EDGES, OPS

# hpbandster's config generator draws from numpy's global RNG: one BOHB run at a time owns it.
_GLOBAL_NUMPY_LOCK = threading.Lock()
# hpbandster logs a warning whenever the statsmodels KDE cannot score a categorical value it
# has not seen, which is routine here; keep its chatter off the console unless asked for.
_LOG = logging.getLogger("nb201.search.bohb")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


class _Stop(Exception):
    """Raised by a job when the simulated clock refuses it; ends the search."""


@contextlib.contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed `numpy.random`'s global state for the block and restore the caller's after.

    The only global BOHB touches, and only because hpbandster cannot be given a generator.
    The lock keeps concurrent BOHB runs in one process apart; other code that draws from
    the global numpy RNG in another thread during the block would still perturb the run.
    """
    with _GLOBAL_NUMPY_LOCK:
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _budgets(min_budget: float, max_budget: float, eta: float) -> np.ndarray:
    """hpbandster `BOHB`'s budget ladder: max_budget * eta^-k, k = S-1 .. 0 (12..200, eta 3:
    22.2, 66.7, 200)."""
    max_sh_iter = -int(np.log(min_budget / max_budget) / np.log(eta)) + 1
    return max_budget * np.power(eta, -np.linspace(max_sh_iter - 1, 0, max_sh_iter))


def _bracket(iteration: int, budgets: np.ndarray, eta: float, sampler: Callable) -> Any:
    """hpbandster `BOHB.get_next_iteration`: the `iteration`-th successive-halving bracket."""
    from hpbandster.optimizers.iterations import SuccessiveHalving

    max_sh_iter = len(budgets)
    s = max_sh_iter - 1 - (iteration % max_sh_iter)  # number of halvings in this bracket
    n0 = int(np.floor(max_sh_iter / (s + 1)) * eta**s)
    ns = [max(int(n0 * (eta ** (-i))), 1) for i in range(s + 1)]
    return SuccessiveHalving(
        HPB_iter=iteration, num_configs=ns, budgets=budgets[(-s - 1) :], config_sampler=sampler
    )


def _drive(generator: Any, budgets: np.ndarray, eta: float, compute: Callable[[dict, float], dict]) -> list:
    """hpbandster's `Master.run` with one synchronous worker, until `compute` raises `_Stop`.

    Each step asks the open brackets, oldest first, for their next job, and opens a new
    bracket when none has one; the job's result is registered with its bracket and then
    with the config generator, in that order, exactly as `Master.job_callback` does.
    Returns the brackets (their `.data` is what `hpbandster.core.result.Result` reads).
    """
    from hpbandster.core.dispatcher import Job

    brackets: list = []
    while True:
        job_spec = None
        for bracket in brackets:
            if not bracket.is_finished:
                job_spec = bracket.get_next_run()
                if job_spec is not None:
                    break
        if job_spec is None:
            brackets.append(_bracket(len(brackets), budgets, eta, generator.get_config))
            continue
        config_id, config, budget = job_spec
        job = Job(config_id, config=config, budget=budget, working_directory=".")
        job.worker_name = "in-process"
        job.time_it("submitted")
        job.time_it("started")
        try:
            job.result = compute(config, budget)
        except _Stop:
            return brackets
        job.time_it("finished")
        brackets[config_id[0]].register_result(job)
        generator.new_result(job)


def _check(settings: Mapping[str, Any]) -> None:
    lo, hi, eta = settings["min_budget"], settings["max_budget"], settings["eta"]
    if not (0 < lo < hi):
        raise ValueError(
            f"BOHB needs 0 < min_budget < max_budget, got {lo!r} and {hi!r} (the paper: 12 and 200)."
        )
    if not eta >= 2:
        raise ValueError(f"BOHB's eta must be >= 2, got {eta!r} (the paper uses 3).")
    if int(settings["num_samples"]) < 1:
        raise ValueError(f"num_samples must be >= 1, got {settings['num_samples']!r} (the paper uses 4).")


def configspace(seed: int) -> Any:
    """Six categorical hyperparameters, one per edge, named like the original (`j<-i`)."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    for i, j in EDGES:
        cs.add(CS.CategoricalHyperparameter(f"{j}<-{i}", list(OPS)))
    return cs


@register("BOHB", curve_hp="200", check=_check)
def bohb(
    env: SearchEnv,
    rng: np.random.Generator,
    eta: float = 3,
    min_budget: float = 12,
    max_budget: float = 200,
    num_samples: int = 4,
    random_fraction: float = 0.0,
    bandwidth_factor: float = 3,
    min_bandwidth: float = 0.3,
    top_n_percent: int = 15,
) -> int | None:
    from nb201.search.bohb_kde import KDEGenerator

    return search(
        env,
        rng,
        KDEGenerator,
        eta=eta,
        min_budget=min_budget,
        max_budget=max_budget,
        num_samples=num_samples,
        random_fraction=random_fraction,
        bandwidth_factor=bandwidth_factor,
        min_bandwidth=min_bandwidth,
        top_n_percent=top_n_percent,
    )


def search(
    env: SearchEnv,
    rng: np.random.Generator,
    generator_class: type,
    *,
    eta: float,
    min_budget: float,
    max_budget: float,
    num_samples: int,
    random_fraction: float,
    bandwidth_factor: float,
    min_bandwidth: float,
    top_n_percent: int,
) -> int | None:
    """One BOHB search with `generator_class` as the config generator: `KDEGenerator`
    (what `bohb` uses), or hpbandster's own `BOHB` generator, which makes the same
    decisions more slowly (the test that they agree runs both)."""
    from hpbandster.core.result import Result

    names = [f"{j}<-{i}" for i, j in EDGES]
    op_id = {op: k for k, op in enumerate(OPS)}
    scale = env.max_epochs / float(max_budget)

    avail_ops = None if env.full_space else ops_of(env.available)

    def compute(config: dict, budget: float) -> dict:
        ops = np.array([op_id[str(config[n])] for n in names])
        arch = index_of(ops)
        if avail_ops is not None and not env.contains(arch):
            arch = int(env.available[np.argmin((avail_ops != ops).sum(axis=1))])
        epochs = min(env.max_epochs, max(1, int(budget * scale + 1e-9)))  # 66.67*12/200 -> 4, not 3
        reward = env.query(arch, epochs=epochs)
        if reward is None:
            raise _Stop
        return {"loss": 100.0 - reward, "info": {"arch": arch, "epochs": epochs}}

    seed = int(rng.integers(2**31 - 1))
    budgets = _budgets(min_budget, max_budget, eta)
    with _seeded_global_numpy(seed), warnings.catch_warnings():
        # ConfigSpace 1.x deprecations inside hpbandster; statsmodels' RNG notice.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        generator = generator_class(
            configspace=configspace(seed),
            top_n_percent=top_n_percent,
            num_samples=num_samples,
            random_fraction=random_fraction,
            bandwidth_factor=bandwidth_factor,
            min_bandwidth=min_bandwidth,
            logger=_LOG,
        )
        started = time.time()  # hpbandster keeps wall-clock stamps relative to the run's start
        brackets = _drive(generator, budgets, eta, compute)
    result = Result([b.data for b in brackets], {"max_budget": max_budget, "time_ref": started})
    incumbent = result.get_incumbent_id()
    if incumbent is None:
        return None  # nothing reached max_budget: the env's incumbent is the largest budget's best
    # The incumbent's own run tells which (possibly projected) cell was trained.
    return int(result.data[incumbent].results[max_budget]["info"]["arch"])


# The module's entry point: run(benchmark, budget=12000, seed=0, *, dataset=..., hp=..., **settings).
run = ALGORITHMS["BOHB"]
