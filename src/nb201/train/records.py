"""Run records and epoch checkpoints on disk.

Layout under a sweep's `out_dir`:

    <run_id>.json        the finished run record (schema `nb201.run/1`), the only thing
                         the benchmark store reads; its presence means "done"
    <run_id>.pt          trained weights (state dict), only with `save_weights=True`
    ckpt/<run_id>.pt     the last epoch checkpoint of an unfinished run; deleted once the
                         record is written

    ckpt/<run_id>.lock   held (flock) while a process trains the run, so two sweeps on
                         one folder never train the same run at once (`nb201.train.task`)
    rejected/<run_id>.json  a record that failed validation (torn by a copy, edited, another
                         run's, ...), moved aside with `<run_id>.reason.txt` so the run is
                         retrained (`nb201.train.task`)

Every file is written through `nb201.fsutil.atomic_write` (temp file + `os.replace`), so a
killed process leaves either the old file or the new one, never a torn one; a record can
still arrive torn or edited by other means (a partial copy, a sync), so every reader
validates it (`validate_record`; the run that asks for it checks it against its spec,
`RunSpec.check_result`) before trusting it.

Checkpoints are loaded with `torch.load(weights_only=True)`: a checkpoint in a shared
folder is data, never code. One that cannot be read, or does not fit its run, is
moved to `rejected/` with a warning and the run restarts from epoch 0. Training and search
checkpoints share this code (`schema` tells them apart); `nb201.train.task.resume` adds the
guards on their contents.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import torch

from nb201.fsutil import atomic_write, atomic_write_json, move_aside
from nb201.validation import RECORD_SCHEMA as SCHEMA
from nb201.validation import STATUSES, validate_record  # noqa: F401 - re-exported

CKPT_SCHEMA = "nb201.ckpt/1"
CKPT_DIR = "ckpt"  # checkpoints and task locks


def record_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / f"{run_id}.json"


def weights_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / f"{run_id}.pt"


def checkpoint_path(out_dir: str | Path, run_id: str) -> Path:
    """`ckpt/<run_id>.pt`, the state after the last finished epoch (runs and searches alike)."""
    return Path(out_dir) / CKPT_DIR / f"{run_id}.pt"


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


def select_records(
    records: Iterable[dict[str, Any]],
    *,
    split: str | None = None,
    preset: str | None = None,
    fidelity: dict[str, Any] | None = None,
    seeds: Collection[int] | None = None,
    arch_indexes: Collection[int] | None = None,
    ok: bool = False,
) -> list[dict[str, Any]]:
    """The records of one sweep (or one fidelity point): those whose spec has this `split`,
    `preset` and exactly these `fidelity` overrides (`{}`: none), whose seed is in `seeds`
    and arch in `arch_indexes`; with `ok=True` only finished runs. A filter left at None
    matches everything.

    One folder of records may hold several sweeps (the fidelity study keeps all its points
    together), so every report that reads a folder selects its own runs by spec, here."""
    want = {"split": split, "preset": preset, "fidelity": fidelity}
    want = {k: v for k, v in want.items() if v is not None}
    seed_set = None if seeds is None else {int(s) for s in seeds}
    arch_set = None if arch_indexes is None else {int(i) for i in arch_indexes}
    out = []
    for r in records:
        spec = r["spec"]
        if any(spec.get(k) != v for k, v in want.items()) or (ok and r.get("status") != "ok"):
            continue
        if seed_set is not None and int(spec["seed"]) not in seed_set:
            continue
        if arch_set is None or int(r["arch_index"]) in arch_set:
            out.append(r)
    return out


def save_checkpoint(path: str | Path, state: dict[str, Any], schema: str = CKPT_SCHEMA) -> Path:
    """Write an epoch checkpoint atomically (torch.save into memory, then one atomic write).

    `schema` tells training checkpoints from search ones (`nb201.wsnas.run`), which share
    this code and `load_checkpoint` but must never resume each other."""
    buf = io.BytesIO()
    torch.save({"schema": schema, **state}, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))


def progress_state(
    run_id: str, epochs: list[dict[str, Any]], seconds: float, cpu_seconds: float
) -> dict[str, Any]:
    """The part of a checkpoint every resumable run keeps: whose it is, the finished epochs'
    rows, and the wall and CPU seconds spent so far (so resumed runs report their full cost)."""
    return {"run_id": run_id, "epochs": epochs, "seconds": seconds, "cpu_seconds": cpu_seconds}


def load_checkpoint(path: str | Path, run_id: str, schema: str = CKPT_SCHEMA) -> dict[str, Any] | None:
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
    if not isinstance(state, dict) or state.get("schema") != schema:
        return discard_checkpoint(path, f"it is not an {schema} checkpoint")
    if state.get("run_id") != run_id:
        return discard_checkpoint(path, f"it belongs to run {state.get('run_id')!r}, not {run_id!r}")
    return state


def discard_checkpoint(path: str | Path, reason: str) -> None:
    """Move an unusable checkpoint to `<out_dir>/rejected/` (with its reason; never deleted,
    hours of a long search may be in it), with a warning naming it; the run restarts from
    epoch 0."""
    path = Path(path)
    dest = move_aside(path, reason, path.parent.parent / "rejected") if path.exists() else None
    warnings.warn(
        f"discarding checkpoint {path}: {reason}; the run restarts from epoch 0 (the file is kept: {dest}).",
        stacklevel=2,
    )
    return None


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor]) -> Path:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))
