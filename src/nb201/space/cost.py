"""What a network costs: parameters, FLOPs (as the paper counts them) and latency.

FLOPs follow the paper: multiply-accumulates of the convolution and linear layers of one
forward pass of one image, the classifier's bias included, BatchNorm, pooling and
additions not counted, in millions. Every edge of the original network runs, dead edges
included (only `none` edges cost nothing), so those are counted too. PyTorch's
`FlopCounterMode` reports 2 FLOPs per multiply-accumulate and ignores biases, hence
`flops = counter / 2 + num_classes`.

Costs are additive over edges and an edge's cost depends only on its op and stage (every
cell edge maps C_s channels to C_s channels at stride 1). So for one configuration
(input shape, classes, C, N) we measure six real networks once -- all-`none` (the
skeleton) and each op on all six edges -- with `FlopCounterMode` and parameter counts,
and every architecture's cost is the skeleton plus one sixth of the uniform network's
surplus per edge. That is exact (the tests compare it with the counter run on whole
networks, ours and the original) and builds the 15,625-row table in about a second
instead of hours.
"""

from __future__ import annotations

import functools
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from nb201.fsutil import atomic_write
from nb201.space import NUM_ARCHS, NUM_EDGES, OPS, Arch, all_archs
from nb201.space.model import build_network

_TABLE_VERSION = 1  # bump when the table's columns or counting rules change
COLUMNS = ("index", "arch", "unique_key", "functional_key", "degenerate", "params", "flops")


def _check_config(input_shape: Sequence[int], num_classes: int, C: int, N: int) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape):
        raise ValueError(
            f"input_shape must be (channels, height, width) of positive integers, got {input_shape!r}; "
            "e.g. (3, 32, 32) for CIFAR, (3, 16, 16) for ImageNet16, (1, 8, 8) for digits."
        )
    if shape[1] % 4 or shape[2] % 4:
        raise ValueError(
            f"image size {shape[1:]} is not divisible by 4; the network's two stride-2 reductions "
            "need H and W divisible by 4 (e.g. 32x32, 16x16, 8x8)."
        )
    for name, value, low in (("num_classes", num_classes, 1), ("C", C, 1), ("N", N, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return tuple(int(v) for v in shape)  # type: ignore[return-value]


def _measure(arch: Arch, shape: tuple[int, int, int], num_classes: int, C: int, N: int) -> tuple[int, int]:
    """(parameters, paper MACs) of one real network, by counting, not by formula."""
    net = build_network(arch, num_classes, C=C, N=N, in_channels=shape[0]).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(torch.zeros(1, *shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0, "FlopCounterMode counts 2 FLOPs per multiply-accumulate"
    return sum(p.numel() for p in net.parameters()), flops // 2 + num_classes


@functools.lru_cache(maxsize=64)
def _basis(shape: tuple[int, int, int], num_classes: int, C: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-op cost of one edge (summed over all cells), and the skeleton as row 0.

    Returns `params`, `macs`: int64 arrays of length 1 + len(OPS); entry 0 is the
    all-`none` network, entry 1 + k the cost of op k on one edge position.
    """
    params = np.zeros(1 + len(OPS), dtype=np.int64)
    macs = np.zeros(1 + len(OPS), dtype=np.int64)
    params[0], macs[0] = _measure(Arch(("none",) * NUM_EDGES), shape, num_classes, C, N)
    for k, op in enumerate(OPS):
        p, m = _measure(Arch((op,) * NUM_EDGES), shape, num_classes, C, N)
        dp, dm = p - params[0], m - macs[0]
        assert dp % NUM_EDGES == 0 and dm % NUM_EDGES == 0, "edge costs must be position independent"
        params[1 + k], macs[1 + k] = dp // NUM_EDGES, dm // NUM_EDGES
    return params, macs


def _costs(op_ids: np.ndarray, shape: tuple[int, int, int], num_classes: int, C: int, N: int):
    params, macs = _basis(shape, num_classes, C, N)
    return params[0] + params[1 + op_ids].sum(axis=-1), macs[0] + macs[1 + op_ids].sum(axis=-1)


def count_params(
    arch: Arch | str | int, num_classes: int, C: int = 16, N: int = 5, in_channels: int = 3
) -> float:
    """Parameters in millions (1e6, as the paper), of the original network for `arch`."""
    # Parameters do not depend on the image size; 32x32 is only needed to build the basis.
    shape = _check_config((in_channels, 32, 32), num_classes, C, N)
    params, _ = _costs(np.array(Arch.coerce(arch).op_ids()), shape, num_classes, C, N)
    return float(params) / 1e6


def count_flops(
    arch: Arch | str | int,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    C: int = 16,
    N: int = 5,
) -> float:
    """FLOPs of one image's forward pass in millions, counted as the paper counts them."""
    shape = _check_config(input_shape, num_classes, C, N)
    _, macs = _costs(np.array(Arch.coerce(arch).op_ids()), shape, num_classes, C, N)
    return float(macs) / 1e6


def measure_latency(
    model_or_arch: torch.nn.Module | Arch | str | int,
    input_shape: Sequence[int] = (3, 32, 32),
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    device: str | torch.device = "cpu",
    num_classes: int = 10,
    threads: int | None = None,
) -> dict:
    """Median wall time of one inference forward pass, and what it was measured on.

    The median of many runs after warm-up resists the noise of a shared machine; the
    batch size, thread count and device are recorded because latency means nothing
    without them. `threads` sets torch's intra-op threads for the measurement only.
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(
            f"need repeats >= 1, warmup >= 0, batch_size >= 1; got {repeats}, {warmup}, {batch_size}."
        )
    shape = _check_config(input_shape, num_classes, 1, 0)
    if isinstance(model_or_arch, torch.nn.Module):
        model = model_or_arch
    else:
        model = build_network(model_or_arch, num_classes, in_channels=shape[0])
    device = torch.device(device)
    model = model.to(device).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *shape, generator=gen).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        used_threads = torch.get_num_threads()
        times = []
        with torch.inference_mode():
            for k in range(warmup + repeats):
                sync()
                start = time.perf_counter()
                model(x)
                sync()
                if k >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return {
        "latency": statistics.median(times),
        "batch_size": batch_size,
        "threads": used_threads,
        "device": str(device),
        "repeats": repeats,
        "warmup": warmup,
    }


def _cache_path(cache_dir: Path, shape: tuple[int, int, int], num_classes: int, C: int, N: int) -> Path:
    c, h, w = shape
    return cache_dir / f"costs-v{_TABLE_VERSION}-{c}x{h}x{w}-k{num_classes}-C{C}-N{N}.parquet"


def _build_table(shape: tuple[int, int, int], num_classes: int, C: int, N: int) -> pd.DataFrame:
    archs = all_archs()
    op_ids = np.array([a.op_ids() for a in archs], dtype=np.int64)
    params, macs = _costs(op_ids, shape, num_classes, C, N)
    functional = [a.functional_key() for a in archs]
    return pd.DataFrame(
        {
            "index": np.arange(len(archs), dtype=np.int64),
            "arch": [str(a) for a in archs],
            "unique_key": [a.unique_key() for a in archs],
            "functional_key": functional,
            "degenerate": np.array([k == "zero" for k in functional], dtype=bool),
            "params": params / 1e6,
            "flops": macs / 1e6,
        }
    )


def table(
    input_shape: Sequence[int],
    num_classes: int,
    C: int = 16,
    N: int = 5,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Costs of all 15,625 architectures in official index order, cached as Parquet.

    The cache file name holds every argument that changes a number, so a cached table
    is never served for another configuration; it is written to a temporary file and
    renamed, so an interrupted build never leaves a truncated cache behind.
    """
    shape = _check_config(input_shape, num_classes, C, N)
    if cache_dir is None:
        from nb201.data.cache import default_cache_dir

        cache_dir = default_cache_dir() / "costs"  # beside the other caches, under $NB201_DATA_DIR
    cache_dir = Path(cache_dir)
    path = _cache_path(cache_dir, shape, int(num_classes), int(C), int(N))
    if path.exists():
        try:
            cached = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # a damaged file is rebuilt, not trusted
            warnings.warn(f"rebuilding unreadable cost cache {path}: {exc}", stacklevel=2)
        else:
            if tuple(cached.columns) == COLUMNS and len(cached) == NUM_ARCHS:
                return cached
            warnings.warn(f"rebuilding cost cache {path}: unexpected columns or row count", stacklevel=2)
    df = _build_table(shape, int(num_classes), int(C), int(N))
    atomic_write(path, lambda f: df.to_parquet(f, index=False))
    return pd.read_parquet(path)


def op_count_design(op_ids: np.ndarray) -> np.ndarray:
    """[1, edges with each op but `none`] per architecture (`op_ids`: [n, 6]): the design of
    a cost that is additive over edges (FLOPs and params exactly; time and latency nearly)."""
    op_ids = np.asarray(op_ids, dtype=np.int64).reshape(-1, NUM_EDGES)
    counts = [(op_ids == k).sum(axis=1) for k, op in enumerate(OPS) if op != "none"]
    return np.column_stack([np.ones(len(op_ids)), *counts]).astype(np.float64)


def latency_basis(
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    C: int = 16,
    N: int = 5,
    n_archs: int = 40,
    seed: int = 0,
    threads: int = 1,
) -> dict:
    """An additive latency model: the measured latency (`measure_latency`, batch 1, median
    of 30 runs) of `n_archs` seeded random architectures, fitted by least squares to the
    skeleton plus one cost per op per edge (every edge runs, dead ones too, so latency is
    nearly additive over edges). Returns the coefficients (seconds; `op_count_design`
    order), the fit's RMS error relative to the mean latency in a 5-fold cross-validation,
    and what was measured on. Latency is a property of the machine: the model says so."""
    from nb201.envinfo import env_info

    rng = np.random.default_rng(seed)
    picks = rng.choice(NUM_ARCHS, size=n_archs, replace=False)
    op_ids = np.array([Arch.from_index(int(i)).op_ids() for i in picks])
    lat = np.array(
        [
            measure_latency(
                build_network(Arch.from_index(int(i)), num_classes, C=C, N=N, in_channels=input_shape[0]),
                input_shape,
                threads=threads,
                num_classes=num_classes,
            )["latency"]
            for i in picks
        ]
    )
    design = op_count_design(op_ids)
    coef = np.linalg.lstsq(design, lat, rcond=None)[0]
    folds = np.arange(n_archs) % 5
    err = np.empty(n_archs)
    for f in range(5):
        tr, te = folds != f, folds == f
        c = np.linalg.lstsq(design[tr], lat[tr], rcond=None)[0]
        err[te] = design[te] @ c - lat[te]
    env = env_info("cpu")
    return {
        "model": "latency = skeleton + sum over edges of a per-op latency (least squares)",
        "terms": ["skeleton"] + [f"per {op} edge" for op in OPS if op != "none"],
        "coefficients_s": [float(v) for v in coef],
        "cv_relative_rmse": float(np.sqrt(np.mean(err**2)) / lat.mean()),
        "measured_archs": [int(i) for i in picks],
        "measured_latency_s": [float(v) for v in lat],
        "input_shape": list(input_shape),
        "num_classes": int(num_classes),
        "C": int(C),
        "N": int(N),
        "batch_size": 1,
        "threads": int(threads),
        "machine": {k: env.get(k) for k in ("device_name", "platform", "torch")},
    }


def latency_from_basis(op_ids: np.ndarray, basis: dict) -> np.ndarray:
    """Latency (s) of architectures (`op_ids` [n, 6]) from a `latency_basis` model."""
    return op_count_design(op_ids) @ np.asarray(basis["coefficients_s"], dtype=np.float64)
