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

How it runs: hpbandster's `Master` normally talks to its workers through a Pyro4 name
server. We keep hpbandster's optimizer, its config generator and its `Master.run`
scheduling loop unchanged and swap only the dispatcher for an in-process one that computes
each job synchronously. With one worker the original also ran one job at a time, so the
sequence of decisions is the same; there is no network, no thread race, and a run is
deterministic: ConfigSpace is seeded from the run's seed and the global `numpy.random`
and `random` states (which hpbandster and statsmodels draw from) are seeded for the
duration of the run and restored afterwards.
"""

from __future__ import annotations

import logging
import random
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nb201.search.base import ALGORITHMS, SearchEnv, index_of, ops_of, register
from nb201.space import EDGES, OPS

_PATCH_LOCK = threading.Lock()
# hpbandster logs a warning whenever the statsmodels KDE cannot score a categorical value it
# has not seen, which is routine here; keep its chatter off the console unless asked for.
_LOG = logging.getLogger("nb201.search.bohb")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


class _Stop(Exception):
    """Raised inside hpbandster's loop when the simulated clock refuses the next job."""


class _SyncDispatcher:
    """Stands in for `hpbandster.core.dispatcher.Dispatcher`: one in-process worker that
    computes each submitted job before `submit_job` returns."""

    compute: Callable[[dict, float], dict] | None = None

    def __init__(self, new_result_callback: Callable, queue_callback: Callable | None = None, **_: Any):
        from hpbandster.core.dispatcher import Job

        self._job_cls = Job
        self.new_result_callback = new_result_callback
        self.queue_callback = queue_callback

    def run(self) -> None:  # the Master starts this in a thread; nothing to serve
        return None

    def number_of_workers(self) -> int:
        return 1

    def trigger_discover_worker(self) -> None:
        return None

    def submit_job(self, id: tuple, **kwargs: Any) -> None:
        job = self._job_cls(id, **kwargs)
        job.time_it("submitted")
        job.time_it("started")
        job.worker_name = "in-process"
        job.result = self.compute(kwargs["config"], kwargs["budget"])
        job.time_it("finished")
        self.new_result_callback(job)

    def shutdown(self, shutdown_workers: bool = False) -> None:
        return None


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
    import hpbandster.core.master as hb_master
    from hpbandster.core.result import Result
    from hpbandster.optimizers import BOHB as HpBandSterBOHB

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
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        with warnings.catch_warnings():
            # ConfigSpace 1.x deprecations inside hpbandster; statsmodels' RNG notice.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            with _PATCH_LOCK:
                original = hb_master.Dispatcher
                hb_master.Dispatcher = _SyncDispatcher
                try:
                    opt = HpBandSterBOHB(
                        configspace=configspace(seed),
                        run_id=f"nb201-bohb-{seed}",
                        eta=eta,
                        min_budget=min_budget,
                        max_budget=max_budget,
                        num_samples=num_samples,
                        random_fraction=random_fraction,
                        bandwidth_factor=bandwidth_factor,
                        min_bandwidth=min_bandwidth,
                        top_n_percent=top_n_percent,
                        logger=_LOG,
                    )
                finally:
                    hb_master.Dispatcher = original
            opt.dispatcher.compute = compute
            opt.config_generator.logger = _LOG
            opt.adjust_queue_size(1)
            try:
                opt.run(n_iterations=10**9)  # ends only when the clock refuses a job
            except _Stop:
                pass
        result = Result([it.data for it in opt.iterations], opt.config)
        incumbent = result.get_incumbent_id()
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    if incumbent is None:
        return None  # nothing reached max_budget: the env's incumbent is the largest budget's best
    # The incumbent's own run tells which (possibly projected) cell was trained.
    return int(result.data[incumbent].results[max_budget]["info"]["arch"])


# The module's entry point: run(benchmark, budget=12000, seed=0, *, dataset=..., hp=..., **settings).
run = ALGORITHMS["BOHB"]
