"""The task kernel: the one set of rules every kind of work obeys.

A training run (`nb201.train.RunSpec`), a weight-sharing search (`nb201.wsnas.SearchTask`)
and one architecture's zero-cost proxies (`nb201.fidelity.proxies.ProxyTask`) are the same
idea: a frozen, picklable spec whose identity names one result file. This module owns what
they share, so each kind (and any future one) gets every guarantee by construction:

- **identity**: `task.run_id`, a content hash of everything that determines the result,
  computed once when the spec is built (never re-resolved by an engine or a worker);
- **one lock per task**: `execute` computes only while holding `ckpt/<name>.lock`
  (`nb201.fsutil.file_lock`), and looks for the result again once it holds it, so two
  processes (two sweeps, two jobs, a Ray retry) never compute one task twice;
- **validation on read against the spec that asked** (`task.check_result`): the same
  identity and configuration, arch strings equal to their indices, epochs complete and in
  order, values finite and in range. A result that fails is never served nor counted done;
- **rejection**: a torn or foreign result file is moved to `rejected/` beside a
  `.reason.txt` (never deleted), under the task's lock, then the task is recomputed; a
  file that is the task's own but lacks a part the task can add (`Incomplete`) is left for
  `compute` to extend;
- **atomic writes** (`write_result`): the record is checked by the same `check_result` first,
  so a file the next reader would reject is never written;
- **checkpoint guards** (`resume`): a checkpoint is read weights-only, must belong to this
  task and schema, and must hold a plausible, ordered prefix of the epochs; otherwise it is
  discarded with a warning and the task starts from epoch 0.

A task provides `kind` (a word for messages), `run_id`, `result_path(out_dir)`,
`check_result(record)` (raise ValueError saying what is wrong), `compute(out_dir,
num_threads, device) -> RunOutcome` (called only under the lock; writes through
`write_result`) and `finished(record, path) -> RunOutcome` (what a valid existing result
stands for). Engines call `execute` and `is_done` and nothing else, so no engine ever tells
one kind from another.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nb201.fsutil import atomic_write_json, file_lock, move_aside
from nb201.train import records
from nb201.train.outcome import RunOutcome

REJECTED = "rejected"


class Incomplete(ValueError):
    """Raised by `check_result` for a file that is this task's result but lacks a part the
    task can add (a proxy file without a newly requested proxy): not done, yet not rejected;
    `compute` extends it."""


@runtime_checkable
class Task(Protocol):
    """What the kernel and every engine need of a unit of work (see the module doc)."""

    kind: str

    @property
    def run_id(self) -> str: ...

    def result_path(self, out_dir: str | Path) -> Path:
        """The one file the task writes; a valid one there means the task is done."""
        ...

    def check_result(self, record: dict[str, Any]) -> None:
        """Raise ValueError naming the field unless `record` is this task's complete result."""
        ...

    def compute(self, out_dir: Path, num_threads: int | None, device: str | None) -> RunOutcome:
        """Do the work (under the task's lock) and write the result with `write_result`."""
        ...

    def finished(self, record: dict[str, Any], path: Path) -> RunOutcome:
        """The outcome a valid existing result stands for (status from the record)."""
        ...


# ---- reading and rejecting results ----------------------------------------------------------


def read_json(path: str | Path) -> dict[str, Any] | None:
    """The JSON object at `path`, None when there is no file; ValueError naming the file
    when it is torn (truncated by a copy, half synced) or not an object."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not valid JSON text ({e})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); it is torn or not a result file") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a JSON {type(obj).__name__}, not a result object")
    return obj


def check(task: Task, path: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a valid result of `task` at `path`; (None, None) when there is
    none; (None, reason) for a file that is torn or is not this task's result."""
    try:
        record = read_json(path)
        if record is None:
            return None, None
        task.check_result(record)
    except ValueError as exc:
        return None, str(exc)
    except (TypeError, KeyError, AttributeError, IndexError) as exc:  # JSON of an unexpected shape
        return None, f"it has an unexpected shape ({type(exc).__name__}: {exc})"
    return record, None


def is_done(task: Task, out_dir: str | Path) -> bool:
    """Whether `out_dir` holds a valid result of `task`. Reads only: an invalid file is left
    for `execute` to move aside under the task's lock (a reader without the lock could
    otherwise move away a valid file another process has just written)."""
    return check(task, task.result_path(out_dir))[0] is not None


def load_result(task: Task, out_dir: str | Path) -> dict[str, Any]:
    """The valid result of `task`; ValueError naming the file and the reason otherwise."""
    path = task.result_path(out_dir)
    record, reason = check(task, path)
    if record is None:
        raise ValueError(
            f"{task.kind} {task.run_id}: {reason or f'no result at {path}'}; run it again to "
            "recompute it (an invalid file is moved to rejected/ first)."
        )
    return record


def finished_outcome(task: Task, path: str | Path) -> RunOutcome | None:
    """The outcome a valid result at `path` stands for, None when there is none."""
    record, _ = check(task, path)
    return None if record is None else task.finished(record, Path(path))


def reject(path: str | Path, reason: str, what: str = "result") -> Path:
    """Move an invalid result to `<folder>/rejected/` beside a `.reason.txt` (never delete
    it), with a warning naming it; the caller then recomputes the task."""
    dest = move_aside(path, reason)
    warnings.warn(f"{what} {path} is invalid ({reason}); moved it to {dest} to recompute it.", stacklevel=3)
    return dest


# ---- the one execution path ---------------------------------------------------------------


@contextlib.contextmanager
def task_lock(out_dir: str | Path, name: str, timeout: float | None = None) -> Iterator[None]:
    """Hold `ckpt/<name>.lock` while a task computes: a second process on the same folder
    waits here instead of computing it again, then finds its result and skips it. The lock
    is released when its holder dies, so a killed process never leaves a stale one."""
    lock = Path(out_dir) / records.CKPT_DIR / f"{name}.lock"
    try:
        with file_lock(lock, timeout=timeout, remove=True, what=name):
            yield
    finally:
        with contextlib.suppress(OSError):
            lock.parent.rmdir()  # only when empty: no other task is in progress or resumable


def _skipped(task: Task, path: Path) -> RunOutcome:
    return RunOutcome(task.run_id, "skipped", None, 0.0, str(path))


def execute(
    task: Task, out_dir: str | Path, num_threads: int | None = None, device: str | None = None
) -> RunOutcome:
    """Compute `task` into `out_dir` unless a valid result is there (then `skipped`).

    The result is looked for again under the task's lock, and a torn or foreign file is
    moved to `rejected/` only then, so exactly one process computes a task."""
    out = Path(out_dir)
    path = task.result_path(out)
    if check(task, path)[0] is not None:
        return _skipped(task, path)
    with task_lock(out, path.stem):
        record, reason = check(task, path)
        if record is not None:
            return _skipped(task, path)
        if reason is not None and not _incomplete(task, path):
            reject(path, reason, f"{task.kind} result")
        return task.compute(out, num_threads, device)


def _incomplete(task: Task, path: Path) -> bool:
    try:
        task.check_result(read_json(path) or {})
    except Incomplete:
        return True
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return False
    return False


def write_result(
    task: Task, out_dir: str | Path, record: dict[str, Any], allow_nan: bool = False, indent: int | None = 1
) -> Path:
    """Write `record` atomically as the task's result, after checking it as a reader will:
    a record its own next reader would reject is a bug, raised here instead of written.
    `allow_nan`: whether NaN (JSON `NaN`) may stand for an undefined value."""
    try:
        task.check_result(record)
    except ValueError as exc:
        raise ValueError(
            f"{task.kind} {task.run_id} produced an invalid result ({exc}); not written"
        ) from exc
    return atomic_write_json(task.result_path(out_dir), record, indent=indent, allow_nan=allow_nan)


# ---- checkpoint guards ------------------------------------------------------------------------


def resume(
    path: str | Path,
    run_id: str,
    schema: str,
    total_epochs: int,
    check_rows: Callable[[list[dict[str, Any]]], Any],
    restore: Callable[[dict[str, Any]], None],
) -> tuple[list[dict[str, Any]], float, float] | None:
    """Restore a task from its checkpoint: (epoch rows, wall seconds, CPU seconds) spent
    so far, `([], 0, 0)` when there is no usable checkpoint, or None when one was found but
    `restore` failed part-way (then it is discarded and the caller builds fresh objects).

    Guards: read weights-only, this schema and run id (`records.load_checkpoint`), between 1
    and `total_epochs - 1` rows that `check_rows` accepts (numbered in order, finite, in
    range), and a state `restore` can load."""
    state = records.load_checkpoint(path, run_id, schema)
    if state is None:
        return [], 0.0, 0.0
    try:
        epochs = state["epochs"]
        if not isinstance(epochs, list) or not 0 < len(epochs) < total_epochs:
            raise ValueError(f"it holds {len(epochs) if isinstance(epochs, list) else '?'} epochs")
        check_rows(epochs)
        seconds, cpu_seconds = float(state["seconds"]), float(state.get("cpu_seconds", 0.0))
        restore(state)
    except Exception as exc:  # noqa: BLE001 - a checkpoint that does not fit this task
        records.discard_checkpoint(path, f"it does not fit this run ({type(exc).__name__}: {exc})")
        return None
    return list(epochs), seconds, cpu_seconds
