"""The six weight-sharing methods: one training step, the derived arch, the distribution.

Each method follows the original code (AutoDL-Projects `exps/NAS-Bench-201-algos`):

* rsps: weights on one uniformly random arch per batch; no arch step; derived: the best
  of `derive_samples` random archs, each scored on one valid batch.
* darts-v1: weights on the softmax(alpha) mixture, then alpha (first order) on a valid
  batch; derived: argmax alpha per edge (`none` included).
* darts-v2: alpha by the unrolled second-order step (finite-difference Hessian-vector
  product), then the weights; derived: argmax alpha.
* gdas: weights, then alpha, each on one hard Gumbel sample shared by all cells
  (straight-through, tau linear from tau_max to tau_min); derived: argmax alpha.
* setn: weights on a uniformly random arch, then alpha on the softmax mixture; derived:
  the top `derive_samples` archs by alpha log-probability, one valid batch each.
* enas: shared weights on controller samples for an epoch, then the LSTM controller by
  REINFORCE; derived: the best of `derive_samples` controller samples.

All randomness (arch samples, Gumbel noise, controller samples, data order) comes from
one `torch.Generator`, so a run is a function of its seed and resumes exactly from a
checkpoint of the generator state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nb201.space import NUM_ARCHS, Arch, all_archs
from nb201.wsnas.supernet import NUM_EDGES, NUM_OPS, Supernet

Batch = tuple[torch.Tensor, torch.Tensor]
NextValid = Callable[..., Batch]  # the next random valid batch: `next_valid(size=valid_batch_size)`


def random_arch(generator: torch.Generator) -> list[int]:
    """Six uniformly random op ids."""
    return torch.randint(NUM_OPS, (NUM_EDGES,), generator=generator).tolist()


def gumbel_hard(
    alpha: torch.Tensor, tau: float, generator: torch.Generator
) -> tuple[torch.Tensor, list[int]]:
    """GDAS: one hard Gumbel-softmax sample per edge, straight-through (forward one-hot,
    backward the softmax's gradient); resampled if the noise overflowed, as the original."""
    while True:
        gumbels = -torch.empty_like(alpha).exponential_(generator=generator).log()
        probs = F.softmax((alpha.log_softmax(dim=1) + gumbels) / tau, dim=1)
        if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
            break
    index = probs.argmax(dim=1)
    one_hot = torch.zeros_like(probs).scatter_(1, index[:, None], 1.0)
    return one_hot - probs.detach() + probs, index.tolist()


def unrolled_alpha_grad(
    net: Supernet,
    alpha: torch.Tensor,
    w_optimizer: torch.optim.Optimizer,
    train: Batch,
    valid: Batch,
    r: float = 1e-2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DARTS-V2's hypergradient of the valid loss after one virtual SGD step, and that loss.

    w' = w - lr (momentum buffer * momentum + dL_train/dw + wd w); the gradient is
    dL_val(w', a)/da - lr * d2L_train/(da dw) . dL_val/dw', the second term by a central
    finite difference with step r / |dL_val/dw'| (the original `_hessian_vector_product`).
    """
    group = w_optimizer.param_groups[0]
    lr, wd, mom = group["lr"], group["weight_decay"], group["momentum"]
    names, params = zip(*net.named_parameters())
    a = alpha.detach()
    loss = F.cross_entropy(net(train[0], weights=F.softmax(a, dim=1)), train[1])
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        new = []
        for p, g in zip(params, grads):
            buf = w_optimizer.state.get(p, {}).get("momentum_buffer")
            step = g + wd * p + (0.0 if buf is None else mom * buf)
            new.append((p - lr * step).requires_grad_())
    a_req = a.clone().requires_grad_()
    logits = functional_call(net, dict(zip(names, new)), (valid[0],), {"weights": F.softmax(a_req, dim=1)})
    vloss = F.cross_entropy(logits, valid[1])
    dalpha, *dws = torch.autograd.grad(vloss, [a_req, *new])
    R = r / torch.cat([d.reshape(-1) for d in dws]).norm()

    def train_alpha_grad() -> torch.Tensor:
        a2 = a.clone().requires_grad_()
        return torch.autograd.grad(
            F.cross_entropy(net(train[0], weights=F.softmax(a2, dim=1)), train[1]), a2
        )[0]

    with torch.no_grad():
        for p, d in zip(params, dws):
            p.add_(d, alpha=R)
    g_pos = train_alpha_grad()
    with torch.no_grad():
        for p, d in zip(params, dws):
            p.sub_(d, alpha=2 * R)
    g_neg = train_alpha_grad()
    with torch.no_grad():
        for p, d in zip(params, dws):
            p.add_(d, alpha=R)
    return dalpha - lr * (g_pos - g_neg) / (2 * R), vloss.detach()


class Controller(nn.Module):
    """ENAS's controller (the original `Controller`): a 2-layer LSTM emits one op per edge,
    each conditioned on the previous; logits = tanh_constant * tanh(logits / temperature).

    Batched: `forward(n, generator)` samples n archs; `forward(arch=ids)` scores given ones.
    """

    def __init__(
        self, hidden: int = 32, layers: int = 2, tanh_constant: float = 2.5, temperature: float = 5.0
    ):
        super().__init__()
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.input_vars = nn.Parameter(torch.empty(1, 1, hidden))
        self.w_lstm = nn.LSTM(input_size=hidden, hidden_size=hidden, num_layers=layers)
        self.w_embd = nn.Embedding(NUM_OPS, hidden)
        self.w_pred = nn.Linear(hidden, NUM_OPS)
        for t in (self.input_vars, self.w_lstm.weight_hh_l0, self.w_lstm.weight_ih_l0):
            nn.init.uniform_(t, -0.1, 0.1)
        nn.init.uniform_(self.w_embd.weight, -0.1, 0.1)
        nn.init.uniform_(self.w_pred.weight, -0.1, 0.1)

    def forward(
        self, n: int = 1, generator: torch.Generator | None = None, arch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log-prob [n], entropy [n], op ids [n, 6]) of n sampled (or the given) archs."""
        if arch is not None:
            arch = torch.as_tensor(arch, dtype=torch.long).reshape(-1, NUM_EDGES)
            n = arch.shape[0]
        inputs, state = self.input_vars.expand(1, n, -1), None
        logps, ents, ids = [], [], []
        for e in range(NUM_EDGES):
            out, state = self.w_lstm(inputs, state)
            logits = self.tanh_constant * torch.tanh(self.w_pred(out[0]) / self.temperature)
            logp = logits.log_softmax(dim=1)
            if arch is None:
                with torch.no_grad():
                    op = torch.multinomial(logp.exp(), 1, generator=generator)[:, 0]
            else:
                op = arch[:, e]
            logps.append(logp.gather(1, op[:, None])[:, 0])
            ents.append(-(logp.exp() * logp).sum(dim=1))
            ids.append(op)
            inputs = self.w_embd(op)[None]
        return torch.stack(logps).sum(0), torch.stack(ents).sum(0), torch.stack(ids, dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Op ids [n, 6] of n sampled archs: `forward`'s samples (the same ops on the same
        generator draws), without the log-probabilities and entropies nothing uses there."""
        inputs, state = self.input_vars.expand(1, n, -1), None
        ids = []
        for _ in range(NUM_EDGES):
            out, state = self.w_lstm(inputs, state)
            logits = self.tanh_constant * torch.tanh(self.w_pred(out[0]) / self.temperature)
            op = torch.multinomial(logits.log_softmax(dim=1).exp(), 1, generator=generator)[:, 0]
            ids.append(op)
            inputs = self.w_embd(op)[None]
        return torch.stack(ids, dim=1)


METHOD_CLASSES: dict[str, type[Method]] = {}  # name -> class, in registration order


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: make `cls` a weight-sharing method, searchable by `cls.name` in every
    preset (whose `[common]` table applies; a `[<name>]` table is optional) and notebook 06.
    Registering another class under a taken name raises: one name, one algorithm."""
    if not (isinstance(cls, type) and issubclass(cls, Method)) or not cls.name:
        raise TypeError(f"{cls!r}: register a `Method` subclass that sets `name`.")
    old = METHOD_CLASSES.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"method {cls.name!r} is registered already ({old.__module__}.{old.__qualname__}).")
    METHOD_CLASSES[cls.name] = cls
    return cls


def _hits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == y).sum()


class Method:
    """Base: the supernet, its weight optimizer, and the steps every method shares.

    A method is a subclass registered with `@register_method`: its `name`, whether it
    learns `alpha`, its `step` (and optionally `end_epoch`, `derive`, `distribution`) and,
    when it has knobs of its own, `knobs`: a frozen dataclass of `nb201.config.knob` fields
    with defaults (set in a preset's `[<name>]` table or an override; shared knobs are
    `nb201.config.SearchConfig`'s)."""

    name = ""
    has_alpha = False
    knobs: type | None = None

    def __init__(self, net: Supernet, config: dict[str, Any], generator: torch.Generator) -> None:
        self.net, self.config, self.g = net, config, generator
        self.clip = config["grad_clip"]
        self.arch_batch = config["arch_batch_size"]  # architecture steps; scoring uses valid_batch_size
        self.w_optimizer = torch.optim.SGD(
            net.parameters(),
            lr=config["lr"],
            momentum=config["momentum"],
            nesterov=config["nesterov"],
            weight_decay=config["weight_decay"],
        )
        self.alpha: torch.Tensor | None = None
        self.a_optimizer: torch.optim.Optimizer | None = None
        if self.has_alpha:
            init = config["arch_init_std"] * torch.randn(NUM_EDGES, NUM_OPS, generator=generator)
            self.alpha = nn.Parameter(init)
            self.a_optimizer = torch.optim.Adam(
                [self.alpha],
                lr=config["arch_lr"],
                betas=(config["arch_beta1"], config["arch_beta2"]),
                weight_decay=config["arch_weight_decay"],
            )
        self.epoch = 0

    # -- the shared pieces ------------------------------------------------------------
    def weight_step(self, batch: Batch, forward: Callable[[torch.Tensor], torch.Tensor]) -> tuple[float, int]:
        self.net.train()
        logits = forward(batch[0])
        loss = F.cross_entropy(logits, batch[1])
        self.w_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.w_optimizer.step()
        return loss.detach(), _hits(logits.detach(), batch[1])

    def arch_step(self, batch: Batch, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """One alpha step. Only alpha's gradient is computed: the weights' gradients of this
        loss were never used (the next weight step clears them before its own backward), and
        skipping them halves the backward (no weight gradients, nothing behind the stem)."""
        self.net.train()
        loss = F.cross_entropy(forward(batch[0]), batch[1])
        (grad,) = torch.autograd.grad(loss, [self.alpha])
        self.a_optimizer.zero_grad(set_to_none=True)
        self.alpha.grad = grad
        self.a_optimizer.step()

    def mixture(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        a = self.alpha.detach() if detach else self.alpha
        return self.net(x, weights=F.softmax(a, dim=1))

    def scoring_mode(self) -> None:
        """Eval mode (BN running statistics, the original) or, with `score_bn = "batch"`,
        train mode: BN running statistics accumulated over many sampled archs describe none
        of them, and at CPU scale eval-mode scores were at chance level."""
        self.net.train(self.config["score_bn"] == "batch")

    def score(self, ids: list[int], batch: Batch) -> float:
        """Top-1 of one arch on one batch (the original's one-valid-batch scoring); in
        inference mode (no autograd bookkeeping at all: it runs 100 times per epoch)."""
        self.scoring_mode()
        with torch.inference_mode():
            return _hits(self.net(batch[0], arch=ids), batch[1]).item() / len(batch[1])

    def best_of(self, candidates: list[list[int]], next_valid: Callable[[], Batch]) -> list[int]:
        scores = [self.score(c, next_valid()) for c in candidates]
        return candidates[int(np.argmax(scores))]

    def argmax_arch(self) -> list[int]:
        return self.alpha.detach().argmax(dim=1).tolist()

    # -- what each method defines -------------------------------------------------------
    def step(self, train: Batch, next_valid: Callable[[], Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def end_epoch(self, next_valid: Callable[[], Batch]) -> dict[str, float]:
        return {}

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def derive(self, next_valid: Callable[[], Batch]) -> list[int]:
        return self.argmax_arch()

    def distribution(self) -> np.ndarray:
        return F.softmax(self.alpha.detach(), dim=1).double().numpy()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    # -- checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"net": self.net.state_dict(), "w_optimizer": self.w_optimizer.state_dict()}
        if self.has_alpha:
            state.update(alpha=self.alpha.detach().clone(), a_optimizer=self.a_optimizer.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        if self.has_alpha:
            with torch.no_grad():
                self.alpha.copy_(state["alpha"])
            self.a_optimizer.load_state_dict(state["a_optimizer"])


@register_method
class RSPS(Method):
    name = "rsps"

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        ids = random_arch(self.g)
        return self.weight_step(train, lambda x: self.net(x, arch=ids))

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, arch=random_arch(self.g))

    def derive(self, next_valid: NextValid) -> list[int]:
        return self.best_of([random_arch(self.g) for _ in range(self.config["derive_samples"])], next_valid)

    def distribution(self) -> np.ndarray:
        return np.full((NUM_EDGES, NUM_OPS), 1.0 / NUM_OPS)


@register_method
class DartsV1(Method):
    name, has_alpha = "darts-v1", True

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.weight_step(train, lambda x: self.mixture(x, detach=True))
        self.arch_step(next_valid(self.arch_batch), self.mixture)
        return out

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixture(x)


@register_method
class DartsV2(DartsV1):
    name = "darts-v2"

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        self.net.train()
        grad, _ = unrolled_alpha_grad(
            self.net, self.alpha, self.w_optimizer, train, next_valid(self.arch_batch)
        )
        self.a_optimizer.zero_grad(set_to_none=True)
        self.alpha.grad = grad
        self.a_optimizer.step()
        return self.weight_step(train, lambda x: self.mixture(x, detach=True))


@register_method
class GDAS(Method):
    name, has_alpha = "gdas", True

    @property
    def tau(self) -> float:
        c = self.config
        return c["tau_max"] - (c["tau_max"] - c["tau_min"]) * self.epoch / max(1, c["epochs"] - 1)

    def hard(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        hard, ids = gumbel_hard(self.alpha.detach() if detach else self.alpha, self.tau, self.g)
        return self.net(x, weights=hard, arch=ids)

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.weight_step(train, lambda x: self.hard(x, detach=True))
        self.arch_step(next_valid(self.arch_batch), self.hard)
        return out

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, arch=self.argmax_arch())


@register_method
class SETN(Method):
    name, has_alpha = "setn", True

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        ids = random_arch(self.g)
        out = self.weight_step(train, lambda x: self.net(x, arch=ids))
        self.arch_step(next_valid(self.arch_batch), self.mixture)
        return out

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixture(x)

    def derive(self, next_valid: NextValid) -> list[int]:
        logp = F.log_softmax(self.alpha.detach().double(), dim=1).numpy()
        ids = _all_ids()
        total = logp[np.arange(NUM_EDGES)[None, :], ids].sum(axis=1)
        top = np.argsort(-total, kind="stable")[: self.config["derive_samples"]]
        return self.best_of([ids[i].tolist() for i in top], next_valid)


@register_method
class ENAS(Method):
    name = "enas"

    def __init__(self, net: Supernet, config: dict[str, Any], generator: torch.Generator) -> None:
        super().__init__(net, config, generator)
        self.controller = Controller()
        self.c_optimizer = torch.optim.Adam(
            self.controller.parameters(), lr=config["ctrl_lr"], betas=(0.0, 0.999), eps=1e-3
        )
        self.baseline: torch.Tensor | None = None
        self._last_samples: np.ndarray | None = None

    def sample(self, n: int) -> list[list[int]]:
        return self.controller.sample(n, self.g).tolist()

    def step(self, train: Batch, next_valid: NextValid) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.sample(1)[0]
        return self.weight_step(train, lambda x: self.net(x, arch=ids))

    def end_epoch(self, next_valid: NextValid) -> dict[str, float]:
        """REINFORCE with a moving baseline, `ctrl_aggregate` archs per controller step."""
        c = self.config
        self.controller.train()
        rewards = []
        for _ in range(c["ctrl_steps"]):
            self.c_optimizer.zero_grad(set_to_none=True)
            logp, ent, ids = self.controller(c["ctrl_aggregate"], self.g)
            loss = torch.zeros(())
            for k in range(ids.shape[0]):
                top1 = torch.tensor(self.score(ids[k].tolist(), next_valid()))
                reward = top1 + c["ctrl_entropy_weight"] * ent[k]
                prev = top1 if self.baseline is None else self.baseline
                baseline = prev - (1 - c["ctrl_baseline_decay"]) * (prev - reward)
                loss = loss - logp[k] * (reward - baseline)
                self.baseline = baseline.detach()
                rewards.append(float(top1))
            loss.backward()
            nn.utils.clip_grad_norm_(self.controller.parameters(), c["ctrl_grad_clip"])
            self.c_optimizer.step()
        return {"controller-reward": float(np.mean(rewards)) if rewards else float("nan")}

    def eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, arch=self.sample(1)[0])

    def derive(self, next_valid: NextValid) -> list[int]:
        candidates = self.sample(self.config["derive_samples"])
        self._last_samples = np.asarray(candidates)
        return self.best_of(candidates, next_valid)

    def distribution(self) -> np.ndarray:
        """Per-edge op frequencies of the controller's samples (its marginals)."""
        samples = self._last_samples if self._last_samples is not None else np.asarray(self.sample(100))
        freq = np.zeros((NUM_EDGES, NUM_OPS))
        for e in range(NUM_EDGES):
            freq[e] = np.bincount(samples[:, e], minlength=NUM_OPS) / len(samples)
        return freq

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controller": self.controller.state_dict(),
            "c_optimizer": self.c_optimizer.state_dict(),
            "baseline": self.baseline,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.c_optimizer.load_state_dict(state["c_optimizer"])
        self.baseline = state["baseline"]


_IDS: np.ndarray | None = None


def _all_ids() -> np.ndarray:
    """[15625, 6] op ids of every architecture (official order)."""
    global _IDS
    if _IDS is None:
        _IDS = np.array([a.op_ids() for a in all_archs()], dtype=np.int64)
        assert len(_IDS) == NUM_ARCHS
    return _IDS


def method_class(name: str) -> type[Method]:
    """The registered method `name`; a clear error naming the registered ones otherwise."""
    if name not in METHOD_CLASSES:
        raise ValueError(
            f"unknown method {name!r}; choose one of {list(METHOD_CLASSES)} "
            "(or register one: `@nb201.wsnas.register_method` on a `Method` subclass)."
        )
    return METHOD_CLASSES[name]


def make_method(name: str, net: Supernet, config: dict[str, Any], generator: torch.Generator) -> Method:
    """The method `name` around `net`."""
    return method_class(name)(net, config, generator)


__all__ = [
    "Arch",
    "Controller",
    "Method",
    "METHOD_CLASSES",
    "gumbel_hard",
    "make_method",
    "method_class",
    "register_method",
    "unrolled_alpha_grad",
]
