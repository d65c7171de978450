"""Time to build the 15,625-row cost table, against the 60 s target and the naive way.

Ours: `nb201.space.cost.table` cold (empty cache directory, in-process caches cleared) and
from its Parquet cache. Reference: what PyTorch's `FlopCounterMode` takes when run on
the whole network of every architecture, measured on a sample and extrapolated.

    python benchmarks/cost_table.py [--shape 3 32 32] [--classes 10] [--sample 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from nb201 import space
from nb201.space import cost
from nb201.space.model import build_network

TARGET_S = 60.0


def clear_caches() -> None:
    cost._basis.cache_clear()
    space._official_order.cache_clear()
    space._official_position.cache_clear()


def naive_seconds_per_arch(shape: tuple[int, int, int], classes: int, n: int) -> float:
    """Build each network and run the counter on one image: the straightforward way."""
    archs = space.sample(n, seed=0)
    start = time.perf_counter()
    for arch in archs:
        net = build_network(arch, classes, in_channels=shape[0]).eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            net(torch.zeros(1, *shape))
        counter.get_total_flops()
        sum(p.numel() for p in net.parameters())
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(3, 32, 32))
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="cold builds to time")
    parser.add_argument("--sample", type=int, default=50, help="archs for the naive reference")
    args = parser.parse_args()
    shape = tuple(args.shape)

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            clear_caches()
            start = time.perf_counter()
            df = cost.table(shape, args.classes, cache_dir=tmp)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            cost.table(shape, args.classes, cache_dir=tmp)
            warm.append(time.perf_counter() - start)
    naive = naive_seconds_per_arch(shape, args.classes, args.sample) * len(df)

    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(
        f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f} (shared machine: other sessions may be running)"
    )
    print(
        f"cost table {shape}, {args.classes} classes: {len(df)} rows, "
        f"FLOPs {df.flops.min():.3f}..{df.flops.max():.3f} M, "
        f"params {df.params.min():.6f}..{df.params.max():.6f} M"
    )
    print(
        f"ours, cold build (median of {args.repeats}):  {cold_s:8.2f} s   "
        f"(target {TARGET_S:.0f} s, {cold_s / TARGET_S:.3f} of target, {TARGET_S / cold_s:.0f}x headroom)"
    )
    print(f"ours, from Parquet cache:            {warm_s:8.3f} s")
    print(
        f"naive FlopCounterMode per network:   {naive:8.0f} s   "
        f"(extrapolated from {args.sample} archs; {naive / cold_s:.0f}x slower than ours cold)"
    )
    print(
        "PASS" if cold_s < TARGET_S else "FAIL",
        f"cold build {'<' if cold_s < TARGET_S else '>='} {TARGET_S:.0f} s",
    )


if __name__ == "__main__":
    main()
