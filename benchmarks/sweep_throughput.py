"""Sweep throughput: the local engine against Ray, on the same runs, side by side.

Reference: `LocalEngine` (in-process, sequential), once with torch's default thread count
and once with one thread (on a machine shared with other jobs, multi-threaded CPU training
can be far slower than one thread).
Ours: `RayEngine` running `--ray-workers` single-CPU runs at once. With no `--ray-address`
it starts a private Ray instance of that many CPUs on this machine (its start-up time is
printed, not counted); otherwise it joins that cluster (`auto`, `host:port`,
`ray://host:10001`) and reserves `--num-cpus`/`--num-gpus` per run, so K runs per GPU is
`--num-gpus 1/K`.

Every engine runs in a fresh Python process and trains two batches of `--runs` different
runs from scratch: the *cold* batch pays what the start of a sweep pays (importing torch,
loading the dataset, for Ray starting worker processes), the *warm* batch is the steady
state of a long sweep. Prints runs/minute of both batches for every engine, and the ratios
Ray / local.

    python benchmarks/sweep_throughput.py                     # 2 x 16 cheap digits runs per engine
    python benchmarks/sweep_throughput.py --runs 32 --preset 12 --dataset cifar10-valid \\
        --fidelity '{}' --ray-address auto --num-gpus 0.25 --num-cpus 2 --skip-local
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("local", "local-1thread", "ray")


def make_specs(args: argparse.Namespace) -> list:
    from nb201.space import sample
    from nb201.train import RunSpec, dataset_for_split

    fidelity = json.loads(args.fidelity)
    archs = sample(2 * args.runs, seed=0, unique=True, exclude_degenerate=True)
    dataset = dataset_for_split(args.dataset)
    return [RunSpec(str(a), dataset, args.dataset, args.preset, 777, fidelity) for a in archs]


def timed(engine, specs: list, out: Path) -> dict:
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    for outcome in engine.map(specs, str(out)):
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return {"seconds": time.perf_counter() - start, "statuses": statuses}


def measure_one(args: argparse.Namespace) -> dict:
    """Run in a fresh process: cold and warm batch of one engine."""
    specs = make_specs(args)
    cold, warm = specs[: args.runs], specs[args.runs :]
    tmp = Path(tempfile.mkdtemp(prefix="nb201-sweep-tp-"))
    result: dict = {"engine": args.measure}
    try:
        if args.measure.startswith("local"):
            from nb201.train import LocalEngine

            engine = LocalEngine(num_threads=1 if args.measure == "local-1thread" else None)
            result["cold"] = timed(engine, cold, tmp / "cold")
            result["warm"] = timed(engine, warm, tmp / "warm")
            return result
        from nb201.train.ray_engine import RayEngine

        init = {"log_to_driver": False, "include_dashboard": False}
        if args.ray_address is None:
            init["_temp_dir"] = str(tmp / "ray")  # short path: Ray's sockets live under it
            if "RAY_AUTH_MODE" not in os.environ:
                # Token auth with the token in this process's environment: otherwise Ray
                # 2.60 writes ~/.ray/auth_token, which later `ray start` heads on this
                # machine would then demand from workers that do not send it.
                os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
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
            result["startup"] = time.perf_counter() - t0
            result["slots"] = engine.slots()
            result["cold"] = timed(engine, cold, tmp / "cold")
            result["warm"] = timed(engine, warm, tmp / "warm")
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=16, help="runs per batch (two batches per engine)")
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
    ap.add_argument("--measure", choices=ENGINES, help=argparse.SUPPRESS)  # internal: one engine
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.measure:
        print(json.dumps(measure_one(args)))
        return

    print(
        f"2 x {args.runs} runs of {args.preset} {args.fidelity} on {args.dataset}, per engine; "
        f"{platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(timings depend on what else runs here)"
    )
    rates: dict[str, dict[str, float]] = {}
    for name in ENGINES:
        if args.skip_local and name.startswith("local"):
            continue
        cmd = [sys.executable, __file__, *sys.argv[1:], "--measure", name]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rates[name] = {}
        for batch in ("cold", "warm"):
            b = res[batch]
            rates[name][batch] = rate = 60 * args.runs / b["seconds"]
            extra = ""
            if name == "ray":
                where = args.ray_address or f"local instance, {args.ray_workers} CPUs"
                extra = f"  ({where}; {res['slots']} at once; start-up {res['startup']:.1f} s not counted)"
            print(f"{name:<14} {batch}: {b['seconds']:7.1f} s  {rate:7.1f} runs/min  {b['statuses']}{extra}")
    if "ray" in rates:
        for name in ("local", "local-1thread"):
            if name in rates:
                cold = rates["ray"]["cold"] / rates[name]["cold"]
                warm = rates["ray"]["warm"] / rates[name]["warm"]
                print(f"ratio ray / {name:<14}: cold {cold:5.2f}   warm {warm:5.2f}")


if __name__ == "__main__":
    main()
