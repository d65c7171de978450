"""Engines execute tasks; the sweep does not care where.

The unit of work is a task of the kernel (`nb201.train.task`): a training run
(`nb201.train.RunSpec`), a weight-sharing search (`nb201.wsnas.SearchTask`), one
architecture's zero-cost proxies (`nb201.fidelity.proxies.ProxyTask`), or any other object
with the kernel's contract. `nb201.train.task.execute(task, out_dir)` runs any of them with
the same rules (skip a valid result, one lock per task, reject torn or foreign files,
atomic writes), so an engine is anything with `map(specs, out_dir) -> Iterator[RunOutcome]`
that calls it, and no engine tells one kind of task from another. The in-process
`LocalEngine` is the default; `nb201.train.ray_engine.RayEngine` fans the same call out over
a Ray cluster.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from typing import Protocol

from nb201.train.outcome import RunOutcome, is_expected_failure
from nb201.train.task import Task, execute

# RunOutcome: re-exported, it lives in outcome
__all__ = ["Engine", "LocalEngine", "RunOutcome", "Task"]


class Engine(Protocol):
    def map(self, specs: Sequence[Task], out_dir: str) -> Iterator[RunOutcome]:
        """Run `nb201.train.task.execute(spec, out_dir)` for every spec, yielding outcomes as
        they complete (any order)."""
        ...


class LocalEngine:
    """In-process and sequential; needs nothing but torch.

    A task that fails for a reason outside the code (out of memory, a missing or unreadable
    file: `nb201.train.outcome.is_expected_failure`) is reported as a `failed` outcome
    without a result, so the sweep goes on and a later sweep retries it. Any other
    exception is a bug and propagates with its traceback, so it is fixed rather than
    hidden in a summary line. A non-finite loss is a recorded result (see `run_one`).
    """

    def __init__(self, num_threads: int | None = None, device: str | None = None) -> None:
        self.num_threads = num_threads
        self.device = device

    def map(self, specs: Sequence[Task], out_dir: str) -> Iterator[RunOutcome]:
        for spec in specs:
            try:
                yield execute(spec, out_dir, num_threads=self.num_threads, device=self.device)
            except Exception as e:
                if not is_expected_failure(e):
                    raise
                reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
                yield RunOutcome(spec.run_id, "failed", reason, 0.0, "")
