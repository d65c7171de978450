"""One search run: train a supernet with a method, one record per run, resumable.

The data path is nb201.train's (in-memory uint8 tensors, batched augmentation, one
generator): the train half of a `*-valid` split trains the weights, its valid half
(`x-valid`, drawn from the training images) trains the architecture and scores
candidates, a random valid batch per step with training augmentation, as the original.

Layout under `out_dir`: `<run_id>.json` (schema `nb201.search/1`, written atomically; a
valid one means done) and `ckpt/<run_id>.pt` (the state after the last finished epoch;
tensors and plain containers only, read with `torch.load(weights_only=True)`). A search is a
task of the kernel (`nb201.train.task`, as `SearchTask`): one lock per search, so two
processes never train one search twice; a record is checked against the spec that asks for
it (run id, method, dataset, split, preset, seed, config; every epoch numbered in order with
finite values in range and an arch string equal to its index; `final` equal to the last
epoch's) and a torn or foreign one is moved to `rejected/` and the search re-run; a
checkpoint must belong to the search and hold an ordered prefix of its epochs, else it is
discarded and the search starts from epoch 0.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from nb201 import data as nbdata
from nb201.config import SearchConfig
from nb201.envinfo import env_info
from nb201.space import EDGES, OPS
from nb201.train import loop, records, task
from nb201.train.outcome import RunOutcome
from nb201.train.run import _torch_settings
from nb201.util import utc_stamp
from nb201.wsnas.config import SearchSpec
from nb201.wsnas.methods import Method, make_method
from nb201.wsnas.records import SEARCH_SCHEMA, check_search_record, check_search_rows
from nb201.wsnas.supernet import Supernet, ids_to_arch

_CKPT_SCHEMA = "nb201.search-ckpt/1"


def prepare_search_data(spec: SearchSpec) -> loop.Prepared:
    """Load the split; raise (before anything is written) when it has no valid half."""
    config = spec.config
    prepared = loop.prepare(
        spec.dataset,
        spec.split,
        spec.data_root,
        config.train_fraction,
        config.valid_fraction,
        config.image_size,
    )
    data = loop._load(spec.dataset, spec.data_root)
    pool = nbdata.get_split(data, spec.split).evals.get("x-valid", ("", None))[0]
    if pool != "train":
        raise ValueError(
            f"split {spec.split!r} has no valid half of the training set (its x-valid comes from "
            f"{pool or 'nowhere'}); weight-sharing search trains the architecture on held-out training "
            f"images: use the '-valid' split, e.g. {spec.split + '-valid'!r}."
        )
    return prepared


class _Data:
    """Train batches in a seeded permutation; random valid batches on demand."""

    def __init__(self, prepared: loop.Prepared, config: SearchConfig, g: torch.Generator) -> None:
        self.p, self.c, self.g = prepared, config, g
        self.vx, self.vy = prepared.evals["x-valid"]
        pad = prepared.input_shape[1] // 8
        self.augment = nbdata.Augment(prepared.mean, prepared.std, pad=pad)

    def train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, b = self.p.train_x.shape[0], self.c.batch_size
        perm = torch.randperm(n, generator=self.g)
        steps = math.ceil(n / b)
        if self.c.steps_per_epoch:
            steps = min(steps, self.c.steps_per_epoch)
        for s in range(steps):
            idx = perm[s * b : (s + 1) * b]
            yield self.augment(self.p.train_x[idx], self.g), self.p.train_y[idx]

    def next_valid(self, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random valid batch of `size` images (default `valid_batch_size`, for scoring)."""
        idx = torch.randint(self.vx.shape[0], (size or self.c.valid_batch_size,), generator=self.g)
        return self.augment(self.vx[idx], self.g), self.vy[idx]

    def eval_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        b, limit, total = self.c.valid_batch_size, self.c.eval_batches, self.vx.shape[0]
        n = total if not limit else min(total, limit * b)
        # a subset is a fixed random one: the valid half is stored class by class, so its first
        # images would all be of one class (and the run's generator is left untouched)
        idx = (
            torch.arange(total)
            if n == total
            else torch.randperm(total, generator=torch.Generator().manual_seed(0))
        )
        for s in range(0, n, b):
            part = idx[s : min(s + b, n)]
            yield self.augment.normalize(self.vx[part]), self.vy[part]


def _lr(epoch: int, config: SearchConfig) -> float:
    """Cosine from lr to eta_min, stepped per epoch; with `lr_period`, restarting every period."""
    period = config.lr_period or config.epochs
    t = epoch % period
    return config.eta_min + (config.lr - config.eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def _epoch(method: Method, data: _Data, epoch: int) -> dict[str, Any]:
    """Train one epoch, then evaluate and derive; the epoch's row of the record."""
    method.set_epoch(epoch)
    lr = _lr(epoch, data.c)
    for group in method.w_optimizer.param_groups:
        group["lr"] = lr
    row: dict[str, Any] = {"epoch": epoch, "lr": lr}
    if method.name == "gdas":
        row["tau"] = method.tau
    t0 = time.perf_counter()
    loss_sum, hits, n = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64), 0
    for xb, yb in data.train_batches():
        loss, hit = method.step((xb, yb), data.next_valid)
        loss_sum += loss.double() * len(yb)
        hits += hit
        n += len(yb)
    row.update(method.end_epoch(data.next_valid))
    row["train-loss"], row["train-accuracy"] = loss_sum.item() / n, 100.0 * hits.item() / n
    row["train-time"] = time.perf_counter() - t0
    if not math.isfinite(row["train-loss"]):
        raise FloatingPointError(
            f"{method.name}: supernet training loss became {row['train-loss']} at epoch {epoch}"
        )
    t1 = time.perf_counter()
    method.scoring_mode()
    v_loss, v_hits, v_n = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in data.eval_batches():
            logits = method.eval_forward(xb)
            v_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            v_hits += (logits.argmax(1) == yb).sum().item()
            v_n += len(yb)
    row["valid-loss"], row["valid-accuracy"] = v_loss / v_n, 100.0 * v_hits / v_n
    row["valid-time"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    arch = ids_to_arch(method.derive(data.next_valid))
    row["derive-time"] = time.perf_counter() - t2
    row.update(arch=str(arch), arch_index=arch.index, distribution=method.distribution().tolist())
    row["epoch-time"] = time.perf_counter() - t0
    return row


def _build(spec: SearchSpec, prepared: loop.Prepared) -> tuple[Method, torch.Generator]:
    config = spec.config
    g = torch.Generator().manual_seed(spec.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        net = Supernet(
            prepared.num_classes,
            C=config.C,
            N=config.N,
            in_channels=prepared.input_shape[0],
            track_running_stats=config.track_running_stats,
        )
        method = make_method(spec.method, net, spec.config_dict(), g)
    return method, g


def run_search(spec: SearchSpec, out_dir: str | Path, num_threads: int | None = None) -> dict[str, Any]:
    """Run (or resume, or skip when a valid record exists) one search; returns its record.

    Bad settings raise before anything is written: unknown method or preset, a preset for
    another method, bad knobs (epochs <= 0, inverted tau schedule) when the spec is built;
    a split without a valid half, missing data here. A torn record, or one that is not this
    search's, is moved to `rejected/` and the search re-run.
    """
    search = SearchTask(spec)
    task.execute(search, out_dir, num_threads=num_threads)
    return task.load_result(search, out_dir)


def _resume(
    spec: SearchSpec, ckpt: Path, prepared: loop.Prepared
) -> tuple[Method, torch.Generator, list, float, float]:
    """The method and generator as they were after the last checkpointed epoch (or fresh)."""
    method, g = _build(spec, prepared)

    def restore(state: dict[str, Any]) -> None:
        method.load_state_dict(state["method"])
        g.set_state(state["generator"])

    resumed = task.resume(ckpt, spec.run_id, _CKPT_SCHEMA, spec.config.epochs, check_search_rows, restore)
    if resumed is None:  # discarded part-way through restoring: start from fresh objects
        method, g = _build(spec, prepared)
        resumed = [], 0.0, 0.0
    return method, g, *resumed


def _search_locked(spec: SearchSpec, out_dir: Path, num_threads: int | None) -> RunOutcome:
    """Train the search and write its record; the kernel calls it holding the search's lock."""
    t0, c0 = time.perf_counter(), time.process_time()
    run_id, epochs_total = spec.run_id, spec.config.epochs
    ckpt = records.checkpoint_path(out_dir, run_id)
    with _torch_settings(num_threads, deterministic=True):
        prepared = prepare_search_data(spec)
        method, g, epochs, earlier, earlier_cpu = _resume(spec, ckpt, prepared)
        data = _Data(prepared, spec.config, g)
        for epoch in range(len(epochs), epochs_total):
            epochs.append(_epoch(method, data, epoch))
            if epoch + 1 < epochs_total:
                state = {"method": method.state_dict(), "generator": g.get_state()}
                spent = (earlier + time.perf_counter() - t0, earlier_cpu + time.process_time() - c0)
                records.save_checkpoint(
                    ckpt, records.progress_state(run_id, epochs, *spent) | state, _CKPT_SCHEMA
                )
        record = {
            "schema": SEARCH_SCHEMA,
            "run_id": run_id,
            "status": "ok",
            "spec": spec.to_record(),
            "config": spec.config_dict(),
            "data": prepared.summary(),
            "ops": list(OPS),
            "edges": [list(e) for e in EDGES],
            "epochs": epochs,
            "final": {"arch": epochs[-1]["arch"], "arch_index": epochs[-1]["arch_index"]},
            "env": env_info(torch.device("cpu")),
            "wall_time": earlier + time.perf_counter() - t0,
            "cpu_time": earlier_cpu + time.process_time() - c0,
            "finished_at": utc_stamp(),
        }
        path = task.write_result(SearchTask(spec), out_dir, record)
    ckpt.unlink(missing_ok=True)
    return RunOutcome(run_id, "ok", None, time.perf_counter() - t0, str(path), time.process_time() - c0)


@dataclasses.dataclass(frozen=True)
class SearchTask:
    """One search as a task of the kernel (`nb201.train.task`), so searches run on the
    sweep's engines (in process, or fanned out over a Ray cluster) with the same rules as
    training runs: the record is the one result file, a valid one means done, one process
    runs a search at a time, an expected failure (out of memory, a missing file) is a
    `failed` outcome, a bug raises. Searches run on the CPU (an engine's device is unused)."""

    spec: SearchSpec
    kind: ClassVar[str] = "search"

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    def result_path(self, out_dir: str | Path) -> Path:
        return records.record_path(out_dir, self.spec.run_id)

    def check_result(self, record: dict[str, Any]) -> None:
        check_search_record(record, self.spec)

    def compute(self, out_dir: Path, num_threads: int | None, device: str | None) -> RunOutcome:
        return _search_locked(self.spec, out_dir, num_threads)

    def finished(self, record: dict[str, Any], path: Path) -> RunOutcome:
        return RunOutcome(self.run_id, "ok", None, 0.0, str(path))


def run_searches(
    specs: Sequence[SearchSpec],
    out_dir: str | Path,
    engine: str | Any = "local",
    engine_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run (resume, or skip) every search of `specs` through a sweep engine and return their
    records in the order of `specs`: `"local"` (in process; options e.g. `{"num_threads":
    1}`), `"ray"` (`RayEngine(**engine_options)`, e.g. `{"address": "auto", "num_cpus": 2}`;
    `out_dir` must be on a file system every node mounts) or an engine object.

    Every spec's settings are checked before any search starts. Searches that fail for an
    expected reason are retried by the next call; this one raises, naming them."""
    from nb201.train.sweep import make_engine

    out = Path(out_dir).expanduser().resolve()  # Ray workers do not share the driver's cwd
    out.mkdir(parents=True, exist_ok=True)
    here = str(Path.cwd())
    tasks = []
    for spec in specs:  # every spec was resolved and checked when it was built
        relative = spec.dataset.startswith("folder:") and not Path(spec.dataset[7:]).is_absolute()
        if spec.data_root is None and relative:  # a relative folder means the same on every node
            spec = dataclasses.replace(spec, data_root=here)
        tasks.append(SearchTask(spec))
    runner = make_engine(engine, engine_options) if isinstance(engine, str) else engine
    try:
        failed = [
            f"{o.run_id}: {(o.reason or '').splitlines()[0]}"
            for o in runner.map(tasks, str(out))
            if o.status == "failed"
        ]
    finally:
        if isinstance(engine, str) and hasattr(runner, "close"):
            runner.close()
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(tasks)} searches failed (rerun to retry them): {failed}")
    return [task.load_result(SearchTask(s), out) for s in specs]


def finished_searches(
    specs: Sequence[SearchSpec], out_dir: str | Path
) -> tuple[list[dict[str, Any]], list[SearchSpec]]:
    """The valid records of the `specs` whose searches have finished in `out_dir`, in the
    order of `specs`, and the specs still missing (not started, or interrupted: a
    checkpoint is not a result). Reads only, so a report can be rendered from what has
    finished while the other searches go on in the background (`run_searches` resumes them)."""
    out = Path(out_dir).expanduser().resolve()
    done, missing = [], []
    for spec in specs:
        t = SearchTask(spec)
        record = task.check(t, t.result_path(out))[0]  # read and checked once
        if record is not None:
            done.append(record)
        else:
            missing.append(spec)
    return done, missing


def read_search_record(path: str | Path) -> dict[str, Any]:
    """The search record at `path`, checked on its own (schema, epochs, arch strings equal
    to their indices, finite values); ValueError naming the file otherwise. A search that
    asks for its record checks it against its spec as well (`SearchTask.check_result`)."""
    record = task.read_json(path)
    if record is None:
        raise FileNotFoundError(f"no search record at {path}; run the search with nb201.wsnas.run_search.")
    try:
        check_search_record(record)
    except ValueError as exc:
        raise ValueError(f"search record {path} is invalid: {exc}") from None
    return record


def load_search_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """All valid finished search records in `out_dir`; an invalid one is skipped with a
    warning naming the file and the reason (the next run of its search moves it aside)."""
    out = []
    for p in sorted(Path(out_dir).glob("*.json")):
        try:
            out.append(read_search_record(p))
        except ValueError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=2)
    return out
