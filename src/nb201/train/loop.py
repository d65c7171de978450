"""The epoch loop: in-memory data, batched augmentation, no per-step host synchronization.

Why it looks like this: on a small CPU the original's DataLoader workers (per-image
transforms in separate processes) compete with the model for the same cores, and a
`.item()` per step stalls the pipeline. Here the whole split is one uint8 tensor, an epoch
is a permutation of its indices drawn from the run's generator, each batch is sliced,
augmented as a batch (nb201.data.Augment) in channels-last layout, and the running loss and
hit counts stay on-tensor until the epoch ends. The same generator drives shuffling and
augmentation, so its state at an epoch boundary (saved in the checkpoint) is all the
randomness a resumed run needs.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nb201 import data as nbdata
from nb201.config import TrainConfig


@dataclass(frozen=True)
class EvalGroup:
    """Eval sets of one pool: `members[name]` are positions into the union of their images."""

    pool: str
    members: dict[str, torch.Tensor]
    size: int


@dataclass(frozen=True)
class Prepared:
    """A split ready for training: uint8 NHWC tensors, resized and subset as configured."""

    name: str
    train_x: torch.Tensor  # uint8 [n, H, W, C]
    train_y: torch.Tensor  # int64 [n]
    evals: dict[str, tuple[torch.Tensor, torch.Tensor]]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eval_groups: list[EvalGroup] | None = None  # None: evaluate every set on its own

    @property
    def input_shape(self) -> tuple[int, int, int]:
        n, h, w, c = self.train_x.shape
        return (c, h, w)

    def summary(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "train_size": int(self.train_x.shape[0]),
            "eval_sizes": {k: int(v[1].shape[0]) for k, v in self.evals.items()},
        }


def resize_uint8(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize a uint8 NHWC tensor to `size`x`size` (bilinear, antialiased when shrinking)."""
    if x.shape[1] == size and x.shape[2] == size:
        return x
    out = torch.empty((x.shape[0], size, size, x.shape[3]), dtype=torch.uint8)
    for s in range(0, x.shape[0], chunk):
        part = x[s : s + chunk].permute(0, 3, 1, 2).float()
        part = F.interpolate(
            part, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[1]
        )
        out[s : s + chunk] = part.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return out


@functools.lru_cache(maxsize=4)
def _load(dataset: str, data_root: str | None) -> nbdata.ImageData:
    return nbdata.load_dataset(dataset, root=data_root)


@functools.lru_cache(maxsize=2)
def prepare(
    dataset: str,
    split: str,
    data_root: str | None,
    train_fraction: float,
    eval_fraction: float,
    image_size: int | str,
) -> Prepared:
    """Load, split, subset and resize once per process (a local sweep reuses it)."""
    data = _load(dataset, data_root)
    sp = nbdata.get_split(data, split)

    def take(pool: str, idx: np.ndarray, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = (data.train_x, data.train_y) if pool == "train" else (data.test_x, data.test_y)
        # class-stratified and seeded by nb201.data, the same subset for every run
        idx = nbdata.stratified_subset(np.asarray(idx), ys, fraction)
        x = torch.from_numpy(np.ascontiguousarray(xs[idx]))
        if image_size != "native":
            x = resize_uint8(x, int(image_size))
        return x, torch.from_numpy(np.asarray(ys[idx], dtype=np.int64))

    train_x, train_y = take("train", sp.train, train_fraction)
    evals = {name: take(pool, idx, eval_fraction) for name, (pool, idx) in sp.evals.items()}
    return Prepared(
        name=sp.name,
        train_x=train_x,
        train_y=train_y,
        evals=evals,
        num_classes=len(data.classes),
        mean=tuple(data.mean),
        std=tuple(data.std),
        eval_groups=_eval_groups(sp, data, eval_fraction),
    )


def _eval_groups(sp: nbdata.Split, data: nbdata.ImageData, fraction: float) -> list[EvalGroup]:
    """Eval sets drawn from the same pool share one forward pass over their union.

    x-valid and x-test are the two halves of ori-test for most splits: evaluating the union
    once halves the evaluation cost, and every set's numbers come from the same logits.
    """
    by_pool: dict[str, dict[str, np.ndarray]] = {}
    for name, (pool, idx) in sp.evals.items():
        ys = data.train_y if pool == "train" else data.test_y
        by_pool.setdefault(pool, {})[name] = nbdata.stratified_subset(np.asarray(idx), ys, fraction)
    groups = []
    for pool, members in by_pool.items():
        union = np.unique(np.concatenate(list(members.values())))
        groups.append(
            EvalGroup(
                pool=pool,
                # positions in the order `take` lays each member's images out
                members={n: torch.from_numpy(np.searchsorted(union, idx)) for n, idx in members.items()},
                size=len(union),
            )
        )
    return groups


def lr_factor(epoch: int, config: TrainConfig) -> float:
    """The multiplier of the base lr at `epoch`, the original's closed form, per epoch.

    cosine: eta_min/lr + (1 - eta_min/lr) * (1 + cos(pi * e / T)) / 2 over the epochs after
    warmup (lr(e) = 0.05 (1 + cos(pi e / T)) for the paper); linear warmup before that.
    """
    lr, eta_min, warm, total = config.lr, config.eta_min, config.warmup_epochs, config.epochs
    if epoch < warm:
        return (epoch + 1) / warm
    if config.schedule == "constant":
        return 1.0
    t_max = max(1, total - warm)
    return (eta_min + (lr - eta_min) * (1 + math.cos(math.pi * (epoch - warm) / t_max)) / 2) / lr


def _autocast(device: torch.device, precision: str) -> torch.autocast:
    """fp32 (the protocol) or bf16 mixed precision (opt-in: ~1.7x faster convolutions on
    CPUs with AVX512-BF16, different numbers)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the run is recorded as failed."""


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    prepared: Prepared,
    augment: nbdata.Augment,
    generator: torch.Generator,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
) -> dict[str, float]:
    """One pass over the training set; running averages as the original's AverageMeter."""
    model.train()
    x_all, y_all = prepared.train_x, prepared.train_y
    n = x_all.shape[0]
    k = min(5, prepared.num_classes)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hit1 = torch.zeros((), dtype=torch.int64, device=device)
    hit5 = torch.zeros((), dtype=torch.int64, device=device)
    start = time.perf_counter()
    perm = torch.randperm(n, generator=generator)
    for s in range(0, n, batch_size):
        idx = perm[s : s + batch_size]
        xb = augment(x_all[idx].to(device, non_blocking=True), generator)
        yb = y_all[idx].to(device, non_blocking=True)
        with _autocast(device, precision):
            logits = model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            loss_sum += loss.detach().double() * idx.shape[0]
            hits = logits.topk(k, dim=1).indices == yb[:, None]
            hit1 += hits[:, 0].sum()
            hit5 += hits.any(dim=1).sum()
    loss_value = loss_sum.item()  # the one host synchronization of the epoch
    seconds = time.perf_counter() - start
    if not math.isfinite(loss_value):
        raise NonFiniteLoss(f"training loss became {loss_value} (non-finite)")
    return {
        "train-loss": loss_value / n,
        "train-accuracy": 100.0 * hit1.item() / n,
        "train-top5": 100.0 * hit5.item() / n,
        "train-time": seconds,
    }


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    augment: nbdata.Augment,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
) -> tuple[float, float, float]:
    """(mean loss, top-1 accuracy %, seconds) of the model in eval mode on one set."""
    model.eval()
    start = time.perf_counter()
    losses, hits = _EvalPass(model, augment, batch_size, device, precision).per_sample(x_all, y_all)
    loss_value, hit = losses.sum().item(), hits.sum().item()
    n = x_all.shape[0]
    return loss_value / n, 100.0 * hit / n, time.perf_counter() - start


@dataclass(frozen=True)
class _EvalPass:
    """How images go through the model for evaluation: normalised, in batches, on a device."""

    model: torch.nn.Module
    augment: nbdata.Augment
    batch_size: int
    device: torch.device
    precision: str

    def per_sample(self, x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image cross-entropy (float64) and top-1 hit (bool), kept on the device."""
        losses, hits = [], []
        for s in range(0, x_all.shape[0], self.batch_size):
            xb = self.augment.normalize(x_all[s : s + self.batch_size].to(self.device, non_blocking=True))
            yb = y_all[s : s + self.batch_size].to(self.device, non_blocking=True)
            with _autocast(self.device, self.precision):
                logits = self.model(xb).float()
            losses.append(F.cross_entropy(logits, yb, reduction="none").double())
            hits.append(logits.argmax(dim=1) == yb)
        return torch.cat(losses), torch.cat(hits)


@torch.inference_mode()
def evaluate_all(
    model: torch.nn.Module,
    prepared: Prepared,
    augment: nbdata.Augment,
    batch_size: int,
    device: torch.device,
    precision: str = "fp32",
) -> dict[str, tuple[float, float, float]]:
    """{set: (mean loss, top-1 %, seconds)} for every eval set, one forward pass per pool.

    A set's seconds are the pass's time scaled to the set's size: what evaluating it alone
    costs, which is what `*-per-time` means in the original API.
    """
    if prepared.eval_groups is None:
        return {
            name: evaluate(model, x, y, augment, batch_size, device, precision)
            for name, (x, y) in prepared.evals.items()
        }
    model.eval()
    out: dict[str, tuple[float, float, float]] = {}
    for group in prepared.eval_groups:
        # the union's images: every member's tensor is a subset of it
        x_u = torch.empty((group.size, *prepared.train_x.shape[1:]), dtype=torch.uint8)
        y_u = torch.empty(group.size, dtype=torch.int64)
        for name, pos in group.members.items():
            x, y = prepared.evals[name]
            x_u[pos], y_u[pos] = x, y
        start = time.perf_counter()
        losses, hits = _EvalPass(model, augment, batch_size, device, precision).per_sample(x_u, y_u)
        sums = {n: (losses[p.to(device)].sum(), hits[p.to(device)].sum()) for n, p in group.members.items()}
        values = {n: (ls.item(), h.item()) for n, (ls, h) in sums.items()}
        seconds = time.perf_counter() - start
        for name, pos in group.members.items():
            n = len(pos)
            loss_sum, hit = values[name]
            # what evaluating this set alone would have cost, as the original timed it
            out[name] = (loss_sum / n, 100.0 * hit / n, seconds * n / group.size)
    return {name: out[name] for name in prepared.evals}
