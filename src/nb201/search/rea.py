"""Regularized evolution (Real et al., 2019) with the paper's settings.

Mirrors the original `exps/algos/R_EA.py`: a random initial population of 10; each cycle
samples 3 members *with replacement*, mutates the best of them and appends the child while
the oldest member dies. The mutation, as in the original, picks a node uniformly, then one
of its incoming edges, and gives it a different op uniformly (so edge 1<-0, the only input
of node 1, is chosen a third of the time). The answer is the best reward in the history.

When the budget runs out before the initial population is full (a small budget, or a run
that happened to draw expensive cells), the search ends there and answers the best cell
seen, as random search would; the original keeps training past its budget instead.

On a benchmark that holds only part of the space, a mutation is redrawn until the child
is in the benchmark (after 24 misses, a random member of the benchmark is used).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from nb201.search.base import ALGORITHMS, NUM_OPS, SearchEnv, check_positive_int, index_of, ops_of, register
from nb201.space import NUM_NODES

# Edge position (in EDGES order) of the k-th input of node j: edges are grouped by target.
_NODE_EDGES = [list(range(j * (j - 1) // 2, j * (j - 1) // 2 + j)) for j in range(1, NUM_NODES)]


def _check(settings: Mapping[str, Any]) -> None:
    check_positive_int(settings, "population_size", "sample_size")
    if settings["sample_size"] > settings["population_size"]:
        raise ValueError(
            f"sample_size ({settings['sample_size']}) cannot exceed population_size "
            f"({settings['population_size']}); lower it (the paper uses 3 of 10)."
        )


def mutate(parent: int, rng: np.random.Generator) -> int:
    """One single-edge mutation of `parent` (official index), as the original draws it."""
    ops = ops_of(parent).copy()
    node = _NODE_EDGES[int(rng.integers(len(_NODE_EDGES)))]
    edge = node[int(rng.integers(len(node)))]
    shift = int(rng.integers(1, NUM_OPS))  # a different op, uniformly
    ops[edge] = (ops[edge] + shift) % NUM_OPS
    return index_of(ops)


@register("REA", check=_check)
def regularized_evolution(
    env: SearchEnv, rng: np.random.Generator, population_size: int = 10, sample_size: int = 3
) -> None:
    population: deque[tuple[int, float]] = deque()
    while len(population) < population_size:
        arch = env.random_arch(rng)
        reward = env.query(arch)
        if reward is None:  # the budget ran out while filling the population: REA was random search
            return
        population.append((arch, reward))
    full = env.full_space
    while not env.exhausted:
        picks = rng.integers(population_size, size=sample_size)
        parent = max((population[i] for i in picks), key=lambda m: m[1])[0]
        child = mutate(parent, rng)
        if not full:
            child = _into_benchmark(env, parent, child, rng)
        reward = env.query(child)
        if reward is None:
            break
        population.append((child, reward))
        population.popleft()


def _into_benchmark(env: SearchEnv, parent: int, child: int, rng: np.random.Generator) -> int:
    for _ in range(24):
        if env.contains(child):
            return child
        child = mutate(parent, rng)
    return child if env.contains(child) else env.random_arch(rng)


# The module's entry point: run(benchmark, budget=12000, seed=0, *, dataset=..., hp=..., **settings).
run = ALGORITHMS["REA"]
