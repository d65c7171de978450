"""What an engine reports for one run, and which failures are results rather than bugs.

`RunOutcome` lives here, beside the records, and not in `engine` or `run`: `run_one`
returns it and every engine yields it, so keeping it in either of those modules made them
import each other. This module imports nothing from nb201, so anything may import it.

`is_expected_failure` is the one rule for exceptions raised by a run: a failure of the
machine or of its inputs (memory ran out, a file is missing or unreadable, the disk is
full) is reported as a `failed` outcome without a record, so the sweep goes on and a later
sweep retries the run; any other exception means a bug and propagates as a traceback. A
non-finite loss is neither: `run_one` records it as a finished `failed` run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOutcome:
    """What an engine reports for one spec (small and picklable)."""

    run_id: str
    status: str  # "ok" | "failed" | "degenerate" | "skipped" (record already existed)
    reason: str | None  # failure reason, None otherwise
    wall_time: float  # seconds spent in this call (0 for skipped)
    path: str  # record path ("" when the run raised before writing one)
    cpu_time: float = 0.0  # process CPU seconds spent in this call (all threads)


# How allocators word running out of memory: torch's CPU allocator ("DefaultCPUAllocator:
# can't allocate memory" / "not enough memory"), CUDA ("CUDA out of memory", raised as
# torch.OutOfMemoryError, a RuntimeError), MPS ("MPS backend out of memory").
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "not enough memory")


def is_expected_failure(exc: BaseException) -> bool:
    """True when `exc` is a failure of the machine or the inputs, not of the code.

    Expected: `MemoryError`, a `RuntimeError` whose message says memory ran out (torch
    raises those, on every device), and `OSError` (a dataset file missing or unreadable,
    a full disk, a lost network mount). Retrying such a run later can succeed; retrying a
    bug cannot, so everything else is left to propagate.
    """
    if isinstance(exc, (MemoryError, OSError)):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(marker in text for marker in _OUT_OF_MEMORY)
    return False
