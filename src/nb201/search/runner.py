"""Many runs of one algorithm on one `SearchProblem`, in this process or in worker processes.

The problem is built once by the caller and every run receives it as is. With workers,
where the platform can fork (Linux), the problem and the algorithm are handed to the
workers by inheritance: they are put in a module-level table before the pool forks, and a
task names them by key. Nothing is pickled on the way in, so a worker queries the very
oracle arrays (and memory maps) of the parent, copy-on-write, reads any learning-curve
column it needs through the parent's own loader, and even an unpicklable algorithm (a
function defined in a notebook cell or a test) runs in parallel. Where the platform
cannot fork, the problem is pickled with the columns read so far, and a worker re-opens the
benchmark folder only for a column it has not got.

Runs are independent and each is fully determined by its seed, so the results do not
depend on the number of workers (`tests/test_search.py` checks it).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from nb201.search.base import Algorithm, SearchResult, run_one
from nb201.search.problem import SearchProblem

_SHARED: dict[int, tuple[Algorithm, SearchProblem]] = {}  # key -> what forked workers inherit
_KEYS = itertools.count()


def run_many(
    algo: Algorithm,
    problem: SearchProblem,
    seeds: Sequence[int],
    settings: Mapping[str, Any],
    workers: int = 1,
    progress: str | None = None,
) -> list[SearchResult]:
    """`run_one` for every seed, in seed order; `settings` resolved, seeds checked (the
    caller's job, done once). `progress`: a label for a progress bar (one process only)."""
    settings = dict(settings)
    if workers == 1:
        it: Any = seeds
        if progress is not None:
            from tqdm.auto import tqdm

            from nb201.util import progress_options

            it = tqdm(seeds, desc=progress, **progress_options())
        return [run_one(algo, problem, s, settings) for s in it]
    oracle = problem.oracle_for(algo)
    oracle.column(None)  # read once here, shared by every worker
    chunks = [list(seeds[i :: workers * 4]) for i in range(workers * 4)]
    chunks = [c for c in chunks if c]
    if can_fork():
        key = next(_KEYS)
        _SHARED[key] = (algo, problem)
        try:
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork")
            ) as pool:
                parts = list(pool.map(_inherited, [key] * len(chunks), chunks, [settings] * len(chunks)))
        finally:
            _SHARED.pop(key, None)
    else:
        ctx = multiprocessing.get_context("spawn")  # the platform cannot fork: a fresh interpreter
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            n = len(chunks)
            parts = list(pool.map(_pickled, [algo] * n, [problem] * n, chunks, [settings] * n))
    by_seed = {r.seed: r for part in parts for r in part}
    return [by_seed[s] for s in seeds]


def can_fork() -> bool:
    """Whether workers can be forked (and so inherit the problem) on this platform."""
    return "fork" in multiprocessing.get_all_start_methods()


def _inherited(key: int, seeds: list[int], settings: dict[str, Any]) -> list[SearchResult]:
    algo, problem = _SHARED[key]
    return [run_one(algo, problem, s, settings) for s in seeds]


def _pickled(
    algo: Algorithm, problem: SearchProblem, seeds: list[int], settings: dict[str, Any]
) -> list[SearchResult]:
    return [run_one(algo, problem, s, settings) for s in seeds]


__all__ = ["run_many"]
