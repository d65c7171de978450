"""Importing a full-size NATS-tss folder: one process vs worker processes, beside the reference reader.

The folder is synthetic but in the official layout, written with the `nats_bench` package's
own classes (`ArchResults`, `ResultsCount`, `pickle_save`): `meta.pickle.pbz2` plus one
`NNNNNN.pickle.pbz2` per architecture (15,625), each `{hp: ArchResults state}` for hp 12
and 200, four datasets, one to three seeds (as in the real files), every epoch's train and
eval numbers. It is generated once into `data/cache/import-speed/` (git-ignored)
and reused.

Measured side by side in one run:

1. reference: the `nats_bench` reader, one process: `pickle_load` of every file and
   `ArchResults.create_from_state_dict` of each hp (what `NATStopology(fast_mode=True)` does
   per architecture) -- reading only, no store written;
2. ours, one process: `import_official(folder, out, workers=1)`, the whole import (the
   checks, reading, the store written);
3. ours, in parallel: the same with `--workers` processes (default 2: the target is a
   full-size import under 5 minutes on 2 cores).

`--sample N` times (1) and (2) on the first N files and extrapolates them to the folder
(labelled as such); (3) always reads the whole folder. Each line gives the wall time and
the CPU seconds of the process and its workers: on a shared machine the wall time says as
much about the neighbours as about the code, so the time on 2 free cores is also given as
an estimate: (3)'s CPU seconds over 2, or its main process's if longer (labelled).

Run from the repository root:  python benchmarks/import_speed.py [--workers 2] [--sample N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "data" / "cache" / "import-speed" / "NATS-tss-v1_0-3ffb9-simple"
N_ARCHS = 15_625
HPS = ("12", "200")
SEEDS = (777, 888, 999)
EVALS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
TARGET_S = 300.0


def _per_epoch(rng: np.random.Generator, n: int, low: float, high: float) -> OrderedDict:
    return OrderedDict(zip(range(n), rng.uniform(low, high, n).tolist()))


def _results(index: int, arch_str: str, hp: str, rng: np.random.Generator) -> dict:
    """One architecture's ArchResults state for one hp, built with the package's classes."""
    from nats_bench.api_utils import ArchResults, ResultsCount

    n = int(hp)
    ar = ArchResults(index, arch_str)
    flop, params = float(rng.uniform(10, 200)), float(rng.uniform(0.1, 1.5))
    for dataset, evals in EVALS.items():
        # one to three seeds, varying by arch and dataset, as in the real files (and the tests)
        for seed in SEEDS[: 1 + (index + len(dataset)) % 3]:
            config = {"arch_str": arch_str, "channel": 16, "num_cells": 5, "class_num": 10}
            rc = ResultsCount(dataset, None, None, None, params, flop, config, seed, n, [0.01])
            rc.update_train_info(
                _per_epoch(rng, n, 10, 100),
                _per_epoch(rng, n, 50, 100),
                _per_epoch(rng, n, 0.01, 2.5),
                _per_epoch(rng, n, 5, 30),
            )
            accs, losses, times = {}, {}, {}
            for name in evals:
                keys = [f"{name}@{e}" for e in range(n)]
                accs.update(zip(keys, rng.uniform(10, 100, n).tolist()))
                losses.update(zip(keys, rng.uniform(0.01, 2.5, n).tolist()))
                times.update(zip(keys, rng.uniform(0.5, 3, n).tolist()))
            rc.update_eval(accs, losses, times)
            ar.update(dataset, seed, rc)
    return ar.state_dict()


def _write_arch(args: tuple[Path, int, str]) -> None:
    from nats_bench.api_utils import pickle_save

    folder, index, arch_str = args
    rng = np.random.default_rng(index)
    tmp = folder / f".{index:06d}.tmp"
    pickle_save({hp: _results(index, arch_str, hp, rng) for hp in HPS}, str(tmp), ext="")
    os.replace(tmp, folder / f"{index:06d}.pickle.pbz2")


def ensure_folder(folder: Path, workers: int) -> Path:
    """The synthetic folder, generated (or completed) once; atomic per file, resumable."""
    from nats_bench.api_utils import pickle_save

    from nb201.space import all_archs

    if (folder / ".complete").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    # the meta lists the archs in the official order: meta_archs[i] is official index i
    meta = [str(a) for a in sorted(all_archs(), key=lambda a: a.index)]
    pickle_save({"meta_archs": meta}, str(folder / "meta.pickle"))
    todo = [(folder, i, meta[i]) for i in range(N_ARCHS) if not (folder / f"{i:06d}.pickle.pbz2").is_file()]
    print(
        f"generating {len(todo)} of {N_ARCHS} per-arch files into {folder} ({workers} processes) ...",
        flush=True,
    )
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        for k, _ in enumerate(pool.map(_write_arch, todo, chunksize=32), 1):
            if k % 1000 == 0:
                print(f"  {k} files, {time.perf_counter() - start:.0f} s", flush=True)
    (folder / ".complete").write_text("generated by benchmarks/import_speed.py\n")
    return folder


def arch_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("[0-9]*.pickle.pbz2"))


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its finished children (the worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, CPU seconds of its workers) of `fn()`."""
    wall, (main, kids) = time.perf_counter(), _cpu()
    fn()
    now_main, now_kids = _cpu()
    return time.perf_counter() - wall, now_main - main, now_kids - kids


def reference_read(files: list[Path]) -> None:
    """The nats_bench reader over `files`, one process."""
    from nats_bench.api_utils import ArchResults, pickle_load

    for f in files:
        for state in pickle_load(str(f)).values():
            ArchResults.create_from_state_dict(state)


def subset(folder: Path, n: int, into: Path) -> Path:
    """A folder with the meta and the first `n` per-arch files (hard links, no copy)."""
    into.mkdir(parents=True)
    os.link(folder / "meta.pickle.pbz2", into / "meta.pickle.pbz2")
    for f in arch_files(folder)[:n]:
        os.link(f, into / f.name)
    return into


def ours(folder: Path, workers: int, scratch: Path) -> None:
    from nb201.benchmark.importers import import_official

    out = scratch / f"bench-{workers}"
    import_official(folder, out, workers=workers)
    shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel import")
    parser.add_argument("--sample", type=int, default=None, help="time (1) and (2) on this many files")
    parser.add_argument("--gen-workers", type=int, default=2, help="processes generating the folder")
    args = parser.parse_args()
    folder = ensure_folder(args.folder, args.gen_workers)
    n_files = len(arch_files(folder))
    size = sum(f.stat().st_size for f in arch_files(folder)) / 2**30
    print(f"folder: {folder}, {n_files} per-arch files, {size:.2f} GiB")
    with tempfile.TemporaryDirectory(dir=ROOT / "data" / "cache") as tmp:
        scratch = Path(tmp)
        sample = folder if not args.sample else subset(folder, args.sample, scratch / "sample")
        scale = n_files / len(arch_files(sample))
        label = (
            "" if scale == 1 else f"  (timed on {len(arch_files(sample))} files, x{scale:.2f}: extrapolated)"
        )
        print("timing (1) ...", flush=True)
        ref = [x * scale for x in timed(lambda: reference_read(arch_files(sample)))]
        print("timing (2) ...", flush=True)
        one = [x * scale for x in timed(lambda: ours(sample, 1, scratch))]
        print("timing (3) ...", flush=True)
        par = list(timed(lambda: ours(folder, args.workers, scratch)))
    load = os.getloadavg()[0]
    print(f"{n_files} files, 2 hps each; load average {load:.1f} on {os.cpu_count()} cores while measuring")
    rows = [
        ("(1) reference nats_bench reader, 1 process", ref, label),
        ("(2) ours, 1 process", one, label),
        (f"(3) ours, {args.workers} worker processes", par, ""),
    ]
    for name, (wall, main, kids), note in rows:
        cpu = f"CPU {main + kids:6.1f} s (main {main:6.1f} s, workers {kids:6.1f} s)"
        print(f"{name:44s}: wall {wall:7.1f} s ({2 * n_files / wall:5.1f} arch-hp/s)  {cpu}{note}")
    # all the CPU spread over the cores, unless the main process alone takes longer
    free = max((par[1] + par[2]) / args.workers, par[1])
    print(f"{'ratio (2)/(3) wall: speed-up of the workers':44s}: {one[0] / par[0]:.2f}x")
    print(f"{'ratio (1)/(3) wall: vs the reference reader':44s}: {ref[0] / par[0]:.2f}x")
    print(f"{'ratio (2)/(1) CPU: our checked import / reading':44s}: {sum(one[1:]) / sum(ref[1:]):.2f}x")
    print(f"(3) on {args.workers} free cores (estimate, CPU / {args.workers} or main's): {free:.0f} s")
    for what, took in (("measured wall", par[0]), (f"estimate on {args.workers} free cores", free)):
        verdict = "met" if took < TARGET_S else "NOT met"
        print(
            f"target: a full-size import under {TARGET_S:.0f} s on 2 cores, {what}: {verdict} ({took:.0f} s)"
        )


if __name__ == "__main__":
    main()
