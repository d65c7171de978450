"""Run records and epoch checkpoints on disk.

Layout under a sweep's `out_dir`:

    <run_id>.json        the finished run record (schema `nb201.run/1`), the only thing
                         the benchmark store reads; its presence means "done"
    <run_id>.pt          trained weights (state dict), only with `save_weights=True`
    ckpt/<run_id>.pt     the last epoch checkpoint of an unfinished run; deleted once the
                         record is written

    ckpt/<run_id>.lock   held (flock) while a process trains the run, so two sweeps on
                         one folder never train the same run at once
    rejected/<run_id>.json  a record that failed validation (torn by a copy, edited, ...),
                         moved aside with `<run_id>.reason.txt` so the run is retrained

Every file is written through `nb201.fsutil.atomic_write` (temp file + `os.replace`), so a
killed process leaves either the old file or the new one, never a torn one; a record can
still arrive torn or edited by other means (a partial copy, a sync), so every reader
validates it (`validate_record`) before trusting it.

Checkpoints are loaded with `torch.load(weights_only=True)`: a checkpoint in a shared
folder is data, never code. One that cannot be read, or does not fit its run, is
discarded with a warning and the run restarts from epoch 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nb201.fsutil import atomic_write, atomic_write_json, atomic_write_text, file_lock

SCHEMA = "nb201.run/1"
CKPT_SCHEMA = "nb201.ckpt/1"
STATUSES = ("ok", "degenerate", "failed")
REJECTED = "rejected"


def record_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / f"{run_id}.json"


def weights_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / f"{run_id}.pt"


def checkpoint_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / "ckpt" / f"{run_id}.pt"


def write_record(out_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write `record` atomically as `<run_id>.json`."""
    if record.get("schema") != SCHEMA or not record.get("run_id"):
        raise ValueError(f"not a {SCHEMA} record (schema/run_id missing); build it with nb201.train.")
    # allow_nan=False: a NaN must never reach the file (JSON has no NaN); failed runs
    # are recorded with their finite epochs and a `failure` entry instead.
    return atomic_write_json(
        record_path(out_dir, record["run_id"]), record, indent=1, sort_keys=False, allow_nan=False
    )


def read_record(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no run record at {path}; run it with nb201.train.run_one first.") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"run record {path} is not valid JSON ({e}); delete it and re-run the run."
        ) from None
    if rec.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a {SCHEMA} run record (schema={rec.get('schema')!r}).")
    return rec


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """All valid finished records in `out_dir`, in file-name order.

    A record that is torn, edited or otherwise invalid is skipped with a warning naming the
    file and the reason (one bad file must not break every analysis of the folder); the
    next sweep moves it aside and retrains the run."""
    out = []
    for p in sorted(Path(out_dir).glob("*.json")):
        try:
            rec = read_record(p)
            validate_record(rec)
        except ValueError as exc:
            warnings.warn(f"skipping invalid run record {p}: {exc}", stacklevel=2)
            continue
        out.append(rec)
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_value(key: str, v: Any, where: str) -> None:
    """One per-epoch number: a finite real in the range its kind allows."""
    if not _is_number(v):
        raise ValueError(f"{where}: {key} is {v!r} ({type(v).__name__}), not a number")
    if not math.isfinite(v):
        raise ValueError(f"{where}: {key} is {v}, not finite")
    kind = key.rsplit("-", 1)[-1]
    if kind in ("accuracy", "top5") and not 0.0 <= v <= 100.0:
        raise ValueError(f"{where}: {key} = {v} is outside [0, 100] (accuracies are percent)")
    if kind in ("loss", "time", "lr") and v < 0:
        raise ValueError(f"{where}: {key} = {v} is negative")


def _check_epochs(epochs: Any) -> list[str]:
    """Epoch rows: dicts numbered 0, 1, 2, ..., the same metrics in each, valid numbers."""
    if not isinstance(epochs, list):
        raise ValueError(f"epochs is {type(epochs).__name__}, not a list")
    names: list[str] | None = None
    for k, row in enumerate(epochs):
        if not isinstance(row, dict) or type(row.get("epoch")) is not int or row["epoch"] != k:
            raise ValueError("epochs are not numbered 0, 1, 2, ... in order")
        keys = [m for m in row if m != "epoch"]
        if names is None:
            names = keys
        elif sorted(keys) != sorted(names):
            raise ValueError(f"epoch {k} has metrics {sorted(keys)}, epoch 0 has {sorted(names)}")
        for m in keys:
            _check_value(m, row[m], f"epoch {k}")
    return names or []


def _check_optional(obj: dict, keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        v = obj.get(key)
        if v is not None and (not _is_number(v) or not math.isfinite(v) or v < 0):
            raise ValueError(f"{where}{key} is {v!r}; expected a finite number >= 0 or null")


def validate_record(rec: Any) -> list[str]:
    """Raise ValueError saying what is wrong unless `rec` is a complete, plausible
    `nb201.run/1` record; return its per-epoch metric names.

    Checked: the schema, the status, the spec (arch parses and matches arch_index, seed is
    an int), every epoch (numbered in order, same metrics, finite numbers: accuracies in
    [0, 100], losses, times and lr >= 0), completeness (an ok run has all its epochs), and
    the costs and clocks (finite, >= 0, or null). A wrong number that passes here would be
    served by every benchmark built from the record, so nothing is taken on trust."""
    from nb201.space import Arch

    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} run record")
    if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
        raise ValueError("run_id is missing or not a string")
    status = rec.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {list(STATUSES)}")
    spec = rec.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec is missing")
    for key in ("arch", "dataset", "split", "preset"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ValueError(f"spec.{key} is missing or not a string")
    if type(spec.get("seed")) is not int:
        raise ValueError(f"spec.seed is {spec.get('seed')!r}, not an integer")
    if not isinstance(spec.get("fidelity") or {}, dict) or not isinstance(rec.get("config") or {}, dict):
        raise ValueError("spec.fidelity or config is not a mapping")
    arch = Arch.from_string(spec["arch"])
    if rec.get("arch_index") is not None and rec["arch_index"] != arch.index:
        raise ValueError(f"arch_index {rec['arch_index']!r} does not match arch {spec['arch']} ({arch.index})")
    names = _check_epochs(rec.get("epochs"))
    want = (rec.get("config") or {}).get("epochs")
    if status != "failed":
        if not rec["epochs"]:
            raise ValueError(f"status {status!r} but no epochs recorded")
        if want is not None and len(rec["epochs"]) != want:
            raise ValueError(f"status {status!r} but {len(rec['epochs'])} of {want} epochs recorded")
    elif not isinstance(rec.get("failure"), dict):
        raise ValueError("status 'failed' but no failure entry")
    cost = rec.get("cost")
    if cost is not None and not isinstance(cost, dict):
        raise ValueError("cost is not a mapping")
    _check_optional(cost or {}, ("params", "flops", "latency"), "cost.")
    _check_optional(rec, ("wall_time", "cpu_time"), "")
    return names


def record_is_done(out_dir: str | Path, run_id: str) -> bool:
    """Whether `out_dir` holds a valid record of `run_id`. An invalid one (torn by a copy,
    edited) is moved aside to `rejected/` with its reason, so the run is retrained rather
    than counted as done."""
    path = record_path(out_dir, run_id)
    if not path.exists():
        return False
    try:
        rec = read_record(path)
        validate_record(rec)
        if rec["run_id"] != run_id:
            raise ValueError(f"it holds run {rec['run_id']!r}, not {run_id!r}")
    except ValueError as exc:
        reject_record(path, str(exc))
        return False
    return True


def reject_record(path: str | Path, reason: str) -> Path:
    """Move an invalid record to `<out_dir>/rejected/` beside a `.reason.txt`; never delete it."""
    path = Path(path)
    dest_dir = path.parent / REJECTED
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / path.name
    atomic_write_text(dest.with_suffix(".reason.txt"), f"{reason}\n")
    os.replace(path, dest)
    warnings.warn(f"run record {path} is invalid ({reason}); moved it to {dest}, the run will be retrained.")
    return dest


@contextlib.contextmanager
def run_lock(out_dir: str | Path, run_id: str, timeout: float | None = None) -> Iterator[None]:
    """Hold `ckpt/<run_id>.lock` while training a run: a second sweep on the same folder
    waits here instead of training the run again, then finds its record and skips it."""
    lock = Path(out_dir) / "ckpt" / f"{run_id}.lock"
    with file_lock(lock, timeout=timeout, remove=True, what=f"run {run_id}"):
        yield
    with contextlib.suppress(OSError):
        lock.parent.rmdir()  # only when empty: no other run is in progress or resumable


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write an epoch checkpoint atomically (torch.save into memory, then one atomic write)."""
    buf = io.BytesIO()
    torch.save({"schema": CKPT_SCHEMA, **state}, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load_checkpoint(path: str | Path, run_id: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to `run_id`, else None (a stale or foreign
    file is ignored, so the run restarts from scratch rather than mixing two runs)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        # weights_only: tensors and plain containers only; a crafted pickle cannot run code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, foreign, or a pickle of objects
        return discard_checkpoint(path, f"it cannot be read as weights only ({type(exc).__name__})")
    if not isinstance(state, dict) or state.get("schema") != CKPT_SCHEMA:
        return discard_checkpoint(path, f"it is not an {CKPT_SCHEMA} checkpoint")
    if state.get("run_id") != run_id:
        return discard_checkpoint(path, f"it belongs to run {state.get('run_id')!r}, not {run_id!r}")
    return state


def discard_checkpoint(path: str | Path, reason: str) -> None:
    """Delete an unusable checkpoint with a warning naming it; the run restarts from epoch 0."""
    warnings.warn(f"discarding checkpoint {path}: {reason}; the run restarts from epoch 0.", stacklevel=2)
    Path(path).unlink(missing_ok=True)
    return None


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor]) -> Path:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))
