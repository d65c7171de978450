"""REINFORCE (Williams, 1992) with the paper's settings.

Mirrors the original `exps/algos/reinforce.py`: an independent categorical policy per edge
(6x5 logits drawn as 1e-3 * N(0, 1)), Adam with learning rate 0.001, and an exponential
moving-average baseline with momentum 0.9 whose bias is corrected as in the original
(numerator / denominator) and which is updated with the reward *before* the advantage is
computed. The loss is -log pi(a) * (r - b), with r the validation accuracy in percent.
The answer is the best reward seen.

The learning rate: the original NAS-Bench-201 launcher passes 0.001
(`scripts-search/NAS-Bench-201-algos/REINFORCE.sh 0.001`), which is the default here;
NATS-Bench's `exps/NATS-algos/reinforce.py` uses 0.01. (An earlier default of 0.5 came from
a wrong note.) With 0.001 and a budget of ~100 queries the policy barely moves from uniform,
which is why, in the paper, REINFORCE is close to random search.

The policy has 30 parameters, so its softmax, gradient and Adam step are written out in
numpy: a torch step costs ~100x more here, which matters for 500-run experiments. The Adam
update is torch's default (betas 0.9/0.999, eps 1e-8, no weight decay).

On a benchmark that holds only part of the space, the policy is renormalized over the
architectures the benchmark has (exact, not rejection sampling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nb201.search.base import ALGORITHMS, NUM_OPS, SearchEnv, index_of, ops_of, register
from nb201.space import NUM_EDGES


def _check(settings: Mapping[str, Any]) -> None:
    lr, m = settings["learning_rate"], settings["ema_momentum"]
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(
            f"learning_rate must be a positive number, got {lr!r} (the NB201 launcher uses 0.001, "
            "NATS-Bench 0.01)."
        )
    if not (isinstance(m, (int, float)) and 0 <= m < 1):
        raise ValueError(f"ema_momentum must be in [0, 1), got {m!r} (the paper uses 0.9).")


class _Adam:
    def __init__(
        self, shape: tuple[int, ...], lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
    ):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m *= self.b1
        self.m += (1 - self.b1) * grad
        self.v *= self.b2
        self.v += (1 - self.b2) * grad * grad
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        param -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


@register("REINFORCE", check=_check)
def reinforce(
    env: SearchEnv,
    rng: np.random.Generator,
    learning_rate: float = 0.001,
    ema_momentum: float = 0.9,
) -> None:
    logits = 1e-3 * rng.standard_normal((NUM_EDGES, NUM_OPS))
    adam = _Adam(logits.shape, learning_rate)
    num, den = 0.0, 0.0
    rows = np.arange(NUM_EDGES)
    sub_ops = None if env.full_space else ops_of(env.available)
    while not env.exhausted:
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        if sub_ops is None:
            u = rng.random(NUM_EDGES)
            action = (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
            arch = index_of(action)
        else:
            action, arch = _sample_within(sub_ops, env.available, logits, rng)
        reward = env.query(arch)
        if reward is None:
            return
        num = ema_momentum * num + (1 - ema_momentum) * reward
        den = ema_momentum * den + (1 - ema_momentum)
        advantage = reward - num / den
        # d/dlogits of -log pi(a) * A = -(onehot(a) - probs) * A
        onehot = np.zeros_like(probs)
        onehot[rows, action] = 1.0
        grad = (probs - onehot) * advantage
        if sub_ops is not None:
            grad += _renorm_grad(sub_ops, logits, advantage)
        adam.step(logits, grad)


def _sub_logp(sub_ops: np.ndarray, logits: np.ndarray) -> np.ndarray:
    z = logits[np.arange(NUM_EDGES), sub_ops].sum(axis=1)  # unnormalized log-prob per available arch
    return z - np.logaddexp.reduce(z)


def _sample_within(
    sub_ops: np.ndarray, avail: np.ndarray, logits: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    p = np.exp(_sub_logp(sub_ops, logits))
    k = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum()))
    k = min(k, len(p) - 1)
    return sub_ops[k], int(avail[k])


def _renorm_grad(sub_ops: np.ndarray, logits: np.ndarray, advantage: float) -> np.ndarray:
    """Correction turning the per-edge gradient into that of the policy renormalized over
    the benchmark's architectures: d(-log pi_sub(a) A) = -(onehot(a) - E_sub[onehot]) A."""
    p = np.exp(_sub_logp(sub_ops, logits))
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    expected = np.zeros_like(logits)
    for e in range(NUM_EDGES):
        expected[e] = np.bincount(sub_ops[:, e], weights=p, minlength=NUM_OPS)
    # The per-edge gradient already subtracted probs * A; swap probs for the renormalized expectation.
    return (expected - probs) * advantage


# The module's entry point: run(benchmark, budget=12000, seed=0, *, dataset=..., hp=..., **settings).
run = ALGORITHMS["REINFORCE"]
