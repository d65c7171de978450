"""Random search: the baseline every NAS method must beat.

Mirrors the original `exps/algos/RANDOM.py`: draw architectures uniformly (with
replacement), train each once, answer the one with the best reward seen.
"""

from __future__ import annotations

import numpy as np

from nb201.search.base import ALGORITHMS, SearchEnv, register


@register("RS")
def random_search(env: SearchEnv, rng: np.random.Generator) -> None:
    avail = env.available
    while not env.exhausted:
        # Draw in blocks: one Generator call per ~64 queries instead of one per query.
        for a in avail[rng.integers(len(avail), size=64)].tolist():
            if env.query(a) is None:
                break


# The module's entry point: run(benchmark, budget=12000, seed=0, *, dataset=..., hp=..., **settings).
run = ALGORITHMS["RS"]
