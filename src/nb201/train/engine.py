"""Engines execute run specs; the sweep does not care where.

The unit of work is `nb201.train.run_one(spec, out_dir)`, a plain function of a picklable
spec, so an engine is anything with `map(specs, out_dir) -> Iterator[RunOutcome]`. The
in-process `LocalEngine` is the default; `nb201.train.ray_engine.RayEngine` fans the same
function out over a Ray cluster.

Work other than training goes through the same engines as a `Task`: a picklable object
with a `run_id`, the path of its one result file, and a `run` method that writes that
file atomically, skips itself when it exists, and returns a `RunOutcome` (the proxy table
job's `nb201.fidelity.proxies.ProxyTask` is one). `execute` and `result_path` are the one place
that tells the two kinds apart, so both engines keep the same resumability, idempotence
and expected-failure rules for either kind.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from nb201.train.config import RunSpec
from nb201.train.outcome import RunOutcome, is_expected_failure
from nb201.train.records import record_path
from nb201.train.run import run_one

# RunOutcome: re-exported, it lives in outcome
__all__ = ["Engine", "LocalEngine", "RunOutcome", "Task", "execute", "result_path"]


class Task(Protocol):
    """A unit of work other than a training run, runnable by every engine (see the module doc)."""

    @property
    def run_id(self) -> str: ...

    def result_path(self, out_dir: str | Path) -> Path:
        """The one file the task writes; its existence means the task is done."""
        ...

    def run(
        self, out_dir: str | Path, num_threads: int | None = None, device: str | None = None
    ) -> RunOutcome:
        """Do the work unless its result exists (then return a `skipped` outcome at once)."""
        ...


Work = RunSpec | Task  # what engines accept: a training run or another task


def execute(
    spec: Work, out_dir: str | Path, num_threads: int | None = None, device: str | None = None
) -> RunOutcome:
    """Run one unit of work: `run_one` for a `RunSpec`, the task's own `run` otherwise."""
    if isinstance(spec, RunSpec):
        return run_one(spec, out_dir, num_threads=num_threads, device=device)
    return spec.run(out_dir, num_threads=num_threads, device=device)


def result_path(spec: Work, out_dir: str | Path) -> Path:
    """Where `spec`'s result goes (a run record, or a task's file): present means done."""
    if isinstance(spec, RunSpec):
        return record_path(out_dir, spec.run_id)
    return spec.result_path(out_dir)


class Engine(Protocol):
    def map(self, specs: Sequence[Work], out_dir: str) -> Iterator[RunOutcome]:
        """Run `execute(spec, out_dir)` (`run_one` for a `RunSpec`) for every spec, yielding
        outcomes as they complete (any order)."""
        ...


class LocalEngine:
    """In-process and sequential; needs nothing but torch.

    A run that fails for a reason outside the code (out of memory, a missing or unreadable
    file: `nb201.train.outcome.is_expected_failure`) is reported as a `failed` outcome
    without a record, so the sweep goes on and a later sweep retries that run. Any other
    exception is a bug and propagates with its traceback, so it is fixed rather than
    hidden in a summary line. A non-finite loss is a recorded result (see `run_one`).
    """

    def __init__(self, num_threads: int | None = None, device: str | None = None) -> None:
        self.num_threads = num_threads
        self.device = device

    def map(self, specs: Sequence[Work], out_dir: str) -> Iterator[RunOutcome]:
        for spec in specs:
            try:
                yield execute(spec, out_dir, num_threads=self.num_threads, device=self.device)
            except Exception as e:
                if not is_expected_failure(e):
                    raise
                reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
                yield RunOutcome(spec.run_id, "failed", reason, 0.0, "")
