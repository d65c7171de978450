"""Run records and epoch checkpoints on disk.

Layout under a sweep's `out_dir`:

    <run_id>.json        the finished run record (schema `nb201.run/1`), the only thing
                         the benchmark store reads; its presence means "done"
    <run_id>.pt          trained weights (state dict), only with `save_weights=True`
    ckpt/<run_id>.pt     the last epoch checkpoint of an unfinished run; deleted once the
                         record is written

Every file is written through `nb201.fsutil.atomic_write` (temp file + `os.replace`), so a
killed process leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from nb201.fsutil import atomic_write, atomic_write_json

SCHEMA = "nb201.run/1"
CKPT_SCHEMA = "nb201.ckpt/1"


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
    """All finished records in `out_dir`, in file-name order."""
    return [read_record(p) for p in sorted(Path(out_dir).glob("*.json"))]


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
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a truncated file cannot come from atomic_write, but a copy can be
        return None
    if not isinstance(state, dict) or state.get("schema") != CKPT_SCHEMA or state.get("run_id") != run_id:
        return None
    return state


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor]) -> Path:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))
