"""Many runs: the cross product of archs x datasets x seeds, on a pluggable engine.

Everything the sweep can check before spending compute it checks first (preset, fidelity
knobs, dataset files, split names), so a typo fails in a second, not after an hour. Runs
whose record exists are skipped, so re-running a sweep resumes it.

Deduplication (`dedup=True`): architectures that compute the same function (same
`Arch.functional_key`) give the same numbers up to training noise, so only one
representative per class is trained (the lowest official index among the class members in
the sweep). Every other member still gets its own record under its own run id, with the
representative's epochs, its own cost, and `"shared_from": <representative run id>`; the
representative's record lists the class members in `"represents"`. Degenerate cells are
recorded individually as chance level, never trained.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nb201.config import TrainConfig
from nb201.presets import load_preset
from nb201.space import Arch
from nb201.train import loop, records, task
from nb201.train.config import dataset_for_split
from nb201.train.engine import Engine, LocalEngine
from nb201.train.outcome import RunOutcome
from nb201.train.run import arch_cost
from nb201.train.spec import RunSpec
from nb201.util import progress_options


@dataclass
class SweepSummary:
    """What a sweep did; `print(summary)` shows a small table."""

    total: int = 0
    done: int = 0  # trained to completion in this sweep
    skipped: int = 0  # record already existed
    degenerate: int = 0  # recorded as chance level, untrained
    shared: int = 0  # records written from a representative (dedup)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (run_id, arch, reason)
    wall_time: float = 0.0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0  # wall time x GPUs reserved per run (Ray engine with num_gpus)
    out_dir: str = ""

    def table(self) -> str:
        rows = [
            ("runs", self.total),
            ("trained", self.done),
            ("shared (dedup)", self.shared),
            ("degenerate", self.degenerate),
            ("skipped (done before)", self.skipped),
            ("failed", len(self.failed)),
            ("wall time", f"{self.wall_time:.1f} s"),
            ("cpu hours", f"{self.cpu_hours:.3f}"),
            ("gpu hours", f"{self.gpu_hours:.3f}"),
            ("records in", self.out_dir),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        for run_id, arch, reason in self.failed:
            lines.append(f"  failed {run_id} {arch}: {reason.splitlines()[0] if reason else ''}")
        return "\n".join(lines)

    __str__ = table

    @property
    def ok(self) -> bool:
        """True when no run failed; scripts should exit non-zero otherwise."""
        return not self.failed


def _as_pairs(datasets: str | Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
    """Accept a split name, a (dataset, split) tuple, or a list of either."""
    if isinstance(datasets, (str, tuple)):
        datasets = [datasets]  # type: ignore[list-item]
    pairs = []
    for d in datasets:  # type: ignore[union-attr]
        if isinstance(d, str):
            pairs.append((dataset_for_split(d), d))
        elif isinstance(d, (tuple, list)) and len(d) == 2 and all(isinstance(x, str) for x in d):
            pairs.append((d[0], d[1]))
        else:
            raise ValueError(
                f"cannot read a dataset from {d!r}; pass a split name such as 'cifar10-valid' or 'digits', "
                "or a (dataset, split) pair such as "
                "('folder:../shared/datasets/cifar10-jpeg.zip', 'cifar10-jpeg-valid')."
            )
    if not pairs:
        raise ValueError("no datasets given; pass e.g. datasets=['digits'].")
    return list(dict.fromkeys(pairs))


def make_engine(engine: str | Engine, options: dict[str, Any] | None) -> Engine:
    """`"local"`, `"ray"` (with its options) or an engine object, as the engine to map work on."""
    options = dict(options or {})
    if engine == "local":
        return LocalEngine(**options)
    if engine == "ray":
        from nb201.train.ray_engine import RayEngine  # Ray is imported only when used

        return RayEngine(**options)
    if isinstance(engine, str):
        raise ValueError(
            f"unknown engine {engine!r}; use 'local', 'ray', or an object with a map(specs, out_dir) method."
        )
    if not callable(getattr(engine, "map", None)):
        raise TypeError(
            f"{engine!r} is not an engine: it needs a map(specs, out_dir) method yielding RunOutcome."
        )
    return engine


def share_record(rep_path: str | Path, member: RunSpec, out_dir: str | Path, device: str = "cpu") -> Path:
    """Write `member`'s record from its representative's (dedup), and list it there.

    The member's record is written under its own lock and checked as its reader will check
    it (`nb201.train.task.write_result`); the representative's is rewritten under its lock."""
    rep = records.read_record(rep_path)
    records.validate_record(rep)
    arch = member.arch
    rec = copy.deepcopy(rep)
    rec.update(
        run_id=member.run_id,
        spec=member.to_record(),
        config=member.config_dict(),
        arch_index=arch.index,
        represents=None,
        shared_from=rep["run_id"],
        weights=None,
    )
    data = rep["data"]
    rec["cost"] = arch_cost(arch, tuple(data["input_shape"]), data["num_classes"], member.config, device)
    with task.task_lock(out_dir, member.run_id):
        reason = task.check(member, member.result_path(out_dir))[1]
        if reason is not None:  # a torn or foreign file in its place: moved aside, not overwritten
            task.reject(member.result_path(out_dir), reason, "run record")
        path = task.write_result(member, out_dir, rec)
    with task.task_lock(out_dir, rep["run_id"]):
        rep = records.read_record(rep_path)  # again, under the lock: another member may have joined
        rep["represents"] = sorted(set(rep.get("represents") or [rep["spec"]["arch"]]) | {str(arch)})
        records.write_record(out_dir, rep)
    return path


def sweep(
    archs: Iterable[Arch | str | int],
    datasets: str | Iterable[str | tuple[str, str]],
    preset: str,
    seeds: int | Sequence[int] | None = None,
    fidelity: dict[str, Any] | None = None,
    out_dir: str | Path = "runs",
    engine: str | Engine = "local",
    dedup: bool = False,
    data_root: str | None = None,
    progress: bool = True,
    engine_options: dict[str, Any] | None = None,
    save_weights: bool = False,
) -> SweepSummary:
    """Train every (arch, dataset, seed) with `preset` (+ `fidelity` overrides) into `out_dir`.

    `datasets` are split names (`"cifar10-valid"`, `"digits"`) or (dataset, split) pairs;
    `seeds` default to the preset's. Returns a `SweepSummary`; failures are listed there,
    never raised, except bad inputs, which raise before any run starts.

    A folder dataset's path is part of its name and so of the run id: give it relative to
    `data_root` (`("folder:cifar10-jpeg.zip", "cifar10-jpeg-valid")`, `data_root=
    "../shared/datasets"`) to keep run ids independent of the working directory.
    `engine_options` go to the engine; on a busy machine `{"num_threads": 1}` for the local
    engine avoids the large slowdown of oversubscribed intra-op threads (measured here:
    tiny networks ran many times slower with 2 threads than with 1 while other jobs ran).
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    seed_list, arch_list, pairs = _checked_names(archs, datasets, preset, seeds)

    def spec(a: Arch, dataset: str, split: str, seed: int) -> RunSpec:
        return RunSpec(a, dataset, split, preset, seed, dict(fidelity or {}), data_root, save_weights)

    # every spec resolves its preset once, here; then the data is checked with their config
    specs = {(a, d, sp, s): spec(a, d, sp, s) for d, sp in pairs for s in seed_list for a in arch_list}
    _check_data(pairs, data_root, next(iter(specs.values())).config)
    runner = make_engine(engine, engine_options)
    to_run, members_of = _plan_runs(specs, _representatives(arch_list, dedup))
    summary = SweepSummary(total=len(specs), out_dir=str(out_dir))
    resources = getattr(runner, "task_resources", None)
    gpus_per_run = float(resources().get("GPU", 0.0)) if callable(resources) else 0.0
    arch_by_id = {s.run_id: str(s.arch) for s in to_run}
    cpu_seconds = gpu_seconds = 0.0
    bar = tqdm(
        total=summary.total,
        disable=not progress,
        desc=f"sweep {preset}",
        unit="run",
        dynamic_ncols=True,
        **progress_options(),
    )
    try:
        for outcome in runner.map(to_run, str(out_dir)):
            cpu_seconds += outcome.cpu_time
            gpu_seconds += outcome.wall_time * gpus_per_run
            _count(summary, outcome, arch_by_id.get(outcome.run_id, "?"))
            bar.update(1)
            for m in members_of.pop(outcome.run_id, []):
                _share(summary, outcome, m, out_dir)
                bar.update(1)
            bar.set_postfix(failed=len(summary.failed), refresh=False)
    finally:
        bar.close()
    summary.wall_time = time.perf_counter() - t0
    summary.cpu_hours = cpu_seconds / 3600.0
    summary.gpu_hours = gpu_seconds / 3600.0
    return summary


def _checked_names(
    archs: Iterable[Arch | str | int],
    datasets: str | Iterable[str | tuple[str, str]],
    preset: str,
    seeds: int | Sequence[int] | None,
) -> tuple[list[int], list[Arch], list[tuple[str, str]]]:
    """Seeds, archs and (dataset, split) pairs of a sweep, checked before any spec is built."""
    seed_list = list(
        load_preset(preset)["seeds"] if seeds is None else ([seeds] if isinstance(seeds, int) else seeds)
    )
    if not seed_list:
        raise ValueError(f"no seeds: preset {preset!r} lists none; pass seeds=[777] or similar.")
    arch_list = list(dict.fromkeys(Arch.coerce(a) for a in archs))
    if not arch_list:
        raise ValueError("no architectures given; pass e.g. archs=nb201.space.sample(30, seed=0).")
    return seed_list, arch_list, _as_pairs(datasets)


def _check_data(pairs: list[tuple[str, str]], data_root: str | None, config: TrainConfig) -> None:
    """Fail now, before compute is spent, on a missing file or an unknown split."""
    for dataset, split in pairs:
        loop.prepare(
            dataset, split, data_root, config.train_fraction, config.eval_fraction, config.image_size
        )


def _representatives(arch_list: list[Arch], dedup: bool) -> dict[Arch, Arch]:
    """Which arch stands for which: identity unless `dedup`, else the lowest official index
    of each functional class (degenerate cells stand for themselves)."""
    rep_of: dict[Arch, Arch] = {a: a for a in arch_list}
    if dedup:
        classes: dict[str, list[Arch]] = {}
        for a in arch_list:
            if not a.is_degenerate():
                classes.setdefault(a.functional_key(), []).append(a)
        for members in classes.values():
            rep = min(members, key=lambda a: a.index)
            for a in members:
                rep_of[a] = rep
    return rep_of


def _plan_runs(
    specs: dict[tuple[Arch, str, str, int], RunSpec], rep_of: dict[Arch, Arch]
) -> tuple[list[RunSpec], dict[str, list[RunSpec]]]:
    """The runs to train, and for each representative's run id the member runs it stands for."""
    to_run: list[RunSpec] = []
    members_of: dict[str, list[RunSpec]] = {}
    for (a, dataset, split, seed), s in specs.items():
        if rep_of[a] == a:
            to_run.append(s)
        else:
            members_of.setdefault(specs[rep_of[a], dataset, split, seed].run_id, []).append(s)
    return to_run, members_of


def _count(summary: SweepSummary, outcome: RunOutcome, arch: str) -> None:
    """Count one trained (or skipped, degenerate, failed) run in `summary`."""
    if outcome.status == "skipped":
        summary.skipped += 1
    elif outcome.status == "ok":
        summary.done += 1
    elif outcome.status == "degenerate":
        summary.degenerate += 1
    else:
        summary.failed.append((outcome.run_id, arch, outcome.reason or "unknown"))


def _share(summary: SweepSummary, outcome: RunOutcome, member: RunSpec, out_dir: Path) -> None:
    """Give `member` its record from its representative's `outcome` (dedup), and count it."""
    if task.is_done(member, out_dir):
        summary.skipped += 1
    elif not outcome.path:
        summary.failed.append(
            (member.run_id, str(member.arch), f"representative {outcome.run_id} failed: {outcome.reason}")
        )
    else:
        share_record(outcome.path, member, out_dir)
        summary.shared += 1
        if outcome.status == "failed":
            reason = f"shared from {outcome.run_id}: {outcome.reason}"
            summary.failed.append((member.run_id, str(member.arch), reason))
