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
from typing import Any

import numpy as np
import torch

import nb201

_REPO = Path(nb201.__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout nb201 runs from; (None, None) outside a git clone."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def device_name(device: str | torch.device = "cpu") -> str:
    """A readable device description (`cpu: <processor>` or the CUDA device name)."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}"


def env_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """The `env` field of a run record."""
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
