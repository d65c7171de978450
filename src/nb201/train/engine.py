"""Engines execute run specs; the sweep does not care where.

The unit of work is `nb201.train.run_one(spec, out_dir)`, a plain function of a picklable
spec, so an engine is anything with `map(specs, out_dir) -> Iterator[RunOutcome]`. The
in-process `LocalEngine` is the default; `nb201.train.ray_engine.RayEngine` fans the same
function out over a Ray cluster.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nb201.train.config import RunSpec


@dataclass(frozen=True)
class RunOutcome:
    """What an engine reports for one spec (small and picklable)."""

    run_id: str
    status: str  # "ok" | "failed" | "degenerate" | "skipped" (record already existed)
    reason: str | None  # failure reason, None otherwise
    wall_time: float  # seconds spent in this call (0 for skipped)
    path: str  # record path ("" when the run raised before writing one)
    cpu_time: float = 0.0  # process CPU seconds spent in this call (all threads)


class Engine(Protocol):
    def map(self, specs: Sequence[RunSpec], out_dir: str) -> Iterator[RunOutcome]:
        """Run `run_one(spec, out_dir)` for every spec, yielding outcomes as they complete (any order)."""
        ...


class LocalEngine:
    """In-process and sequential; needs nothing but torch.

    An exception inside one run (a bug, out of memory) is reported as a `failed` outcome
    without a record, so the sweep goes on and a later sweep retries that run; a non-finite
    loss, in contrast, is a recorded result (see `run_one`).
    """

    def __init__(self, num_threads: int | None = None, device: str | None = None) -> None:
        self.num_threads = num_threads
        self.device = device

    def map(self, specs: Sequence[RunSpec], out_dir: str) -> Iterator[RunOutcome]:
        from nb201.train.run import run_one

        for spec in specs:
            try:
                yield run_one(spec, out_dir, num_threads=self.num_threads, device=self.device)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - reported, not swallowed
                reason = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"
                try:
                    run_id = spec.run_id
                except Exception:  # noqa: BLE001 - the spec itself is invalid
                    run_id = ""
                yield RunOutcome(run_id, "failed", reason, 0.0, "")
