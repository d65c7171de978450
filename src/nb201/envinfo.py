"""What a result was computed with: library versions, device, threads, code version, host.

Stored in every run record so that a number in the benchmark can be traced back to the
software and machine that produced it (and differences between two benchmarks explained).
"""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nb201

if TYPE_CHECKING:
    import torch

_REPO = Path(nb201.__file__).resolve().parents[2]

# What "the code" is when deciding whether a result came from a modified checkout: the
# package, the notebooks and the files that pin its dependencies. Reports, run records and
# built benchmarks (reports/, data/) are outputs; the pipeline writes them itself, so they
# must not make its own next report say "+dirty".
CODE_PATHS = ("src", "notebooks", "pyproject.toml", "environment.yml", "Makefile")


def read_git_state(root: str | Path | None = None) -> tuple[str | None, bool | None]:
    """(full commit, dirty) of the checkout at `root` (default: the one nb201 runs from);
    dirty means a tracked file under `CODE_PATHS` differs from the commit. (None, None)
    outside a git clone. The one git helper: run records and report headers both use it."""
    repo = str(root or _REPO)
    try:
        commit = subprocess.run(
            ["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """`read_git_state()` of nb201's own checkout, read once per process (run records)."""
    return read_git_state()


def device_name(device: str | torch.device = "cpu") -> str:
    """A readable device description (`cpu: <processor>` or the CUDA device name)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}"


def env_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """The `env` field of a run record."""
    import numpy as np
    import torch

    commit, dirty = git_state()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "nb201": nb201.__version__,
        "platform": platform.platform(),
        "device": str(torch.device(device)),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "git": commit,
        "git_dirty": dirty,
        "hostname": socket.gethostname(),
        "executable": sys.executable,
    }
