"""One run: train (or resume, or skip) an architecture and write its record.

`run_one` is a plain module-level function of a picklable `RunSpec`, so any engine (the
in-process loop, a Ray task) can execute it; the record it writes is the same whichever
engine ran it, apart from `env` and times. Skipping, the lock, rejection of a torn or
foreign record and the checkpoint guards are the task kernel's (`nb201.train.task`); this
module is the training itself, reading the spec's resolved `TrainConfig` and `Arch`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nb201.config import TrainConfig
from nb201.envinfo import env_info
from nb201.space import Arch
from nb201.space import cost as nbcost
from nb201.space.model import build_network
from nb201.train import loop, records, task
from nb201.train.outcome import RunOutcome
from nb201.util import utc_stamp
from nb201.validation import check_epochs

if TYPE_CHECKING:
    from nb201.train.spec import RunSpec


@contextlib.contextmanager
def _torch_settings(num_threads: int | None, deterministic: bool) -> Iterator[None]:
    """Pin threads / deterministic mode for the run, restoring the caller's settings after."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        if deterministic:
            torch.use_deterministic_algorithms(True)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _pad(config: TrainConfig, image_size: int) -> int:
    # The paper pads 4 pixels at 32x32 and 2 at 16x16: one eighth of the side.
    return image_size // 8 if config.pad == "auto" else int(config.pad)


def arch_cost(
    arch: Arch,
    input_shape: tuple[int, int, int],
    num_classes: int,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    model: torch.nn.Module | None = None,
) -> dict[str, float | None]:
    """The record's `cost`: params (M), FLOPs (M MACs) and, if configured, batch-1 latency (s)."""
    c, h, w = input_shape
    k = num_classes
    out = {
        "params": float(nbcost.count_params(arch, k, C=config.C, N=config.N, in_channels=c)),
        "flops": float(
            nbcost.count_flops(arch, input_shape=(c, h, w), num_classes=k, C=config.C, N=config.N)
        ),
        "latency": None,
    }
    if config.measure_latency:
        if model is None:
            model = build_network(arch, k, C=config.C, N=config.N, in_channels=c)
        lat = nbcost.measure_latency(model, (c, h, w), batch_size=1, device=str(device))
        out["latency"] = float(lat["latency"])
    return out


def _base_record(spec: RunSpec, prepared: loop.Prepared, device) -> dict[str, Any]:
    return {
        "schema": records.SCHEMA,
        "run_id": spec.run_id,
        "status": None,
        "spec": spec.to_record(),
        "config": spec.config_dict(),
        "arch_index": spec.arch.index,
        "hp": spec.preset,
        "data": prepared.summary(),
        "epochs": [],
        "cost": None,
        "failure": None,
        "env": env_info(device),
        "wall_time": None,
        "finished_at": None,
        "represents": None,
        "shared_from": None,
        "weights": None,
    }


def _degenerate_epochs(config: TrainConfig, prepared: loop.Prepared) -> list[dict[str, Any]]:
    """Chance level without training: a cell whose output is identically zero makes the
    network's logits independent of the input (accuracy 1/K, loss ln K at best)."""
    k = prepared.num_classes
    chance, loss = 100.0 / k, math.log(k)
    rows = []
    for e in range(config.epochs):
        row = {
            "epoch": e,
            "lr": config.lr * loop.lr_factor(e, config),
            "train-loss": loss,
            "train-accuracy": chance,
            "train-top5": 100.0 * min(5, k) / k,
            "train-time": 0.0,
        }
        for name in prepared.evals:
            row.update({f"{name}-loss": loss, f"{name}-accuracy": chance, f"{name}-time": 0.0})
        rows.append(row)
    return rows


def _fresh(
    spec: RunSpec, prepared: loop.Prepared, device: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any, torch.Generator]:
    """Model, optimizer, schedule and data-order generator as they are before epoch 0."""
    config, c = spec.config, prepared.input_shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = build_network(spec.arch, prepared.num_classes, C=config.C, N=config.N, in_channels=c)
    model = model.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(loop.lr_factor, config=config))
    return model, optimizer, scheduler, torch.Generator().manual_seed(spec.seed)


def _train(
    spec: RunSpec, prepared: loop.Prepared, device: torch.device, out_dir: Path, t0: float, c0: float
) -> tuple[list[dict], dict | None, torch.nn.Module, float, float]:
    """The epoch loop with a checkpoint after every epoch.

    Returns (epochs, failure, model, wall and CPU seconds spent by earlier, interrupted attempts).
    """
    config, run_id = spec.config, spec.run_id
    fresh = _fresh(spec, prepared, device)
    model, optimizer, scheduler, generator = fresh
    augment = loop.nbdata.Augment(prepared.mean, prepared.std, pad=_pad(config, prepared.input_shape[1]))
    ckpt_path = records.checkpoint_path(out_dir, run_id)

    def restore(state: dict) -> None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])

    # check_epochs: numbered in order, finite numbers in range, else the record could not be written
    resumed = task.resume(ckpt_path, run_id, records.CKPT_SCHEMA, config.epochs, check_epochs, restore)
    if resumed is None:  # discarded part-way through restoring: start from fresh objects
        model, optimizer, scheduler, generator = _fresh(spec, prepared, device)
        resumed = [], 0.0, 0.0
    epochs, seconds, cpu_seconds = resumed

    failure = None
    for epoch in range(len(epochs), config.epochs):
        row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        try:
            row.update(
                loop.train_epoch(
                    model,
                    optimizer,
                    prepared,
                    augment,
                    generator,
                    config.batch_size,
                    device,
                    config.precision,
                )
            )
        except loop.NonFiniteLoss as e:
            failure = {"epoch": epoch, "reason": str(e)}
            break
        evaluated = loop.evaluate_all(
            model, prepared, augment, config.eval_batch_size, device, config.precision
        )
        for name, (loss, acc, secs) in evaluated.items():
            row.update({f"{name}-loss": loss, f"{name}-accuracy": acc, f"{name}-time": secs})
        if not all(math.isfinite(v) for v in row.values()):
            failure = {"epoch": epoch, "reason": "evaluation loss became non-finite"}
            break
        epochs.append(row)
        scheduler.step()
        if epoch + 1 < config.epochs:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
            }
            spent = (seconds + time.perf_counter() - t0, cpu_seconds + time.process_time() - c0)
            records.save_checkpoint(ckpt_path, records.progress_state(run_id, epochs, *spent) | state)
    return epochs, failure, model, seconds, cpu_seconds


def run_one(
    spec: RunSpec, out_dir: str | Path, num_threads: int | None = None, device: str | None = None
) -> RunOutcome:
    """Train `spec` (or resume it from its checkpoint, or skip it when its record exists).

    Writes `out_dir/<run_id>.json` atomically and deletes the checkpoint afterwards. Bad
    inputs (unknown preset, knob, dataset or split; missing data) raise before anything is
    written (the preset and knobs when the spec is built). A non-finite loss is a result,
    not an error: the run is recorded as `failed`. A record that is torn or not this run's
    is moved to `rejected/` and the run retrained; one process trains a run at a time.
    """
    return task.execute(spec, out_dir, num_threads=num_threads, device=device)


def train_locked(spec: RunSpec, out_dir: Path, num_threads: int | None, device: str | None) -> RunOutcome:
    """Train `spec` and write its record; the kernel calls it holding the run's lock."""
    t0, c0 = time.perf_counter(), time.process_time()
    run_id, config = spec.run_id, spec.config
    path = records.record_path(out_dir, run_id)
    dev = torch.device(device or "cpu")
    with _torch_settings(num_threads, deterministic=dev.type == "cpu"):
        prepared = loop.prepare(
            spec.dataset,
            spec.split,
            spec.data_root,
            config.train_fraction,
            config.eval_fraction,
            config.image_size,
        )
        record = _base_record(spec, prepared, dev)
        arch = spec.arch
        if arch.is_degenerate():
            record.update(status="degenerate", epochs=_degenerate_epochs(config, prepared))
            record["cost"] = arch_cost(arch, prepared.input_shape, prepared.num_classes, config, dev)
            earlier = earlier_cpu = 0.0
        else:
            epochs, failure, model, earlier, earlier_cpu = _train(spec, prepared, dev, out_dir, t0, c0)
            record.update(status="ok" if failure is None else "failed", epochs=epochs, failure=failure)
            record["cost"] = arch_cost(
                arch, prepared.input_shape, prepared.num_classes, config, dev, model=copy.deepcopy(model)
            )
            if spec.save_weights and failure is None:
                wpath = records.weights_path(out_dir, run_id)
                records.save_weights(wpath, {k: v.cpu() for k, v in model.state_dict().items()})
                record["weights"] = wpath.name
        record["wall_time"] = earlier + time.perf_counter() - t0
        # core-seconds (process CPU time, all threads), the cost unit of CPU-scale benchmarks
        record["cpu_time"] = earlier_cpu + time.process_time() - c0
        record["finished_at"] = utc_stamp()
        task.write_result(spec, out_dir, record)
    records.checkpoint_path(out_dir, run_id).unlink(missing_ok=True)
    failure = record["failure"]
    return RunOutcome(
        run_id,
        record["status"],
        None if failure is None else f"epoch {failure['epoch']}: {failure['reason']}",
        time.perf_counter() - t0,
        str(path),
        cpu_time=time.process_time() - c0,
    )
