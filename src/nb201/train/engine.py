"""Engines execute run specs; the sweep does not care where.

The unit of work is `nb201.train.run_one(spec, out_dir)`, a plain function of a picklable
spec, so an engine is anything with `map(specs, out_dir) -> Iterator[RunOutcome]`. The
in-process `LocalEngine` is the default; `nb201.train.ray_engine.RayEngine` fans the same
function out over a Ray cluster.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from nb201.train.outcome import RunOutcome, is_expected_failure
from nb201.train.run import run_one

if TYPE_CHECKING:
    from nb201.train.config import RunSpec

__all__ = ["Engine", "LocalEngine", "RunOutcome"]  # RunOutcome: re-exported, it lives in outcome


class Engine(Protocol):
    def map(self, specs: Sequence[RunSpec], out_dir: str) -> Iterator[RunOutcome]:
        """Run `run_one(spec, out_dir)` for every spec, yielding outcomes as they complete (any order)."""
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

    def map(self, specs: Sequence[RunSpec], out_dir: str) -> Iterator[RunOutcome]:
        for spec in specs:
            try:
                yield run_one(spec, out_dir, num_threads=self.num_threads, device=self.device)
            except Exception as e:
                if not is_expected_failure(e):
                    raise
                reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
                yield RunOutcome(spec.run_id, "failed", reason, 0.0, "")
