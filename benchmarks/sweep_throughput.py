"""Sweep throughput: the local engine against Ray, on the same runs, side by side.

Reference: `LocalEngine` (in-process, sequential, torch's default thread count).
Ours: `RayEngine` with `--ray-workers` single-CPU tasks at once; with no `--ray-address`
it starts a private Ray instance of that many CPUs on this machine (its start-up time is
reported separately and not counted in runs/minute), otherwise it joins the cluster
(`auto`, `host:port`, `ray://host:10001`) and reserves `--num-cpus`/`--num-gpus` per run,
so K runs per GPU is `--num-gpus 1/K`.

Each engine trains the same specs from scratch into its own temporary folder; the first
runs of each engine include loading the dataset and, for Ray, starting the workers, as a
real sweep does. Prints runs/minute for both and the ratio Ray / local.

    python benchmarks/sweep_throughput.py                       # 24 cheap digits runs, 2 workers
    python benchmarks/sweep_throughput.py --runs 32 --preset 12 --dataset cifar10-valid \\
        --ray-address auto --num-gpus 0.25 --num-cpus 2 --skip-local
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from nb201.space import sample
from nb201.train import LocalEngine, RunSpec, dataset_for_split


def make_specs(n: int, dataset: str, split: str, preset: str, fidelity: dict) -> list[RunSpec]:
    archs = sample(n, seed=0, unique=True, exclude_degenerate=True)
    return [RunSpec(str(a), dataset, split, preset, 777, fidelity) for a in archs]


def timed(engine, specs: list[RunSpec], out: Path) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for outcome in engine.map(specs, str(out)):
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return time.perf_counter() - start, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--dataset", default="digits", help="a split name, e.g. digits or cifar10-valid")
    ap.add_argument("--preset", default="digits-cheap")
    ap.add_argument(
        "--fidelity",
        default='{"C": 4, "N": 1, "epochs": 1, "measure_latency": false}',
        help="JSON overrides of the preset ({} for the preset as is)",
    )
    ap.add_argument("--ray-address", default=None, help="default: a private local instance")
    ap.add_argument("--ray-workers", type=int, default=2, help="CPUs of the private local instance")
    ap.add_argument("--num-cpus", type=float, default=1.0, help="CPUs reserved per run")
    ap.add_argument("--num-gpus", type=float, default=0.0, help="GPUs reserved per run (0.25: 4 per GPU)")
    ap.add_argument("--skip-local", action="store_true", help="measure Ray only (e.g. on a GPU cluster)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.ray_address is None and "RAY_AUTH_MODE" not in os.environ:
        # A private instance with token auth, the token kept in this process's environment:
        # otherwise Ray 2.60 writes ~/.ray/auth_token, which later `ray start` heads on
        # this machine would then demand from workers that do not send it.
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))

    fidelity = json.loads(args.fidelity)
    specs = make_specs(args.runs, dataset_for_split(args.dataset), args.dataset, args.preset, fidelity)
    print(
        f"{len(specs)} runs of {args.preset} {fidelity} on {args.dataset}; "
        f"{platform.node()}, {os.cpu_count()} CPUs (timings depend on what else runs here)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="nb201-sweep-tp-"))
    try:
        local_rate = None
        if not args.skip_local:
            seconds, statuses = timed(LocalEngine(), specs, tmp / "local")
            local_rate = 60 * len(specs) / seconds
            print(f"local engine   : {seconds:7.1f} s  {local_rate:7.2f} runs/min  {statuses}")

        from nb201.train.ray_engine import RayEngine

        init = {"log_to_driver": False, "include_dashboard": False}
        if args.ray_address is None:
            init["_temp_dir"] = tempfile.mkdtemp(prefix="nb201ray-", dir="/tmp")
        engine = RayEngine(
            address=args.ray_address,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            local_num_cpus=args.ray_workers if args.ray_address is None else None,
            init_kwargs=init,
        )
        with engine:
            t0 = time.perf_counter()
            engine.connect()
            startup = time.perf_counter() - t0
            slots = engine.slots()
            seconds, statuses = timed(engine, specs, tmp / "ray")
        ray_rate = 60 * len(specs) / seconds
        where = args.ray_address or f"local instance, {args.ray_workers} CPUs"
        print(
            f"ray engine     : {seconds:7.1f} s  {ray_rate:7.2f} runs/min  {statuses}  "
            f"({where}; {slots} runs at once; Ray start-up {startup:.1f} s not counted)"
        )
        if local_rate is not None:
            print(f"ratio ray/local: {ray_rate / local_rate:.2f}")
        if args.ray_address is None:
            shutil.rmtree(init["_temp_dir"], ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
