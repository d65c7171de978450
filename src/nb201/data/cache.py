"""Where data lives on disk, and the decoded-array cache.

Decoding 60,000 JPEGs or un-gzipping a 160 MB tarball takes seconds; every training run
needs the same uint8 arrays. So each source is decoded once into plain `.npy` files
keyed by a hash of the source's *content* (size and mtime are not enough: a
re-downloaded or edited file keeps both plausible), and later loads memory-map them.

Locations: everything hangs off one data directory, `$NB201_DATA_DIR` if set, else
`./data` relative to the current working directory (the repository root when you run
the notebooks and tests from there). Inside it: `raw/` (downloads), `cache/` (decoded
arrays), `splits/` (split index files).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ENV_DATA_DIR = "NB201_DATA_DIR"
_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def data_dir() -> Path:
    """The root of raw data, caches and splits (`$NB201_DATA_DIR` or `./data`)."""
    return Path(os.environ.get(ENV_DATA_DIR) or "data")


def default_cache_dir() -> Path:
    return data_dir() / "cache"


def default_splits_dir() -> Path:
    return data_dir() / "splits"


def default_raw_dir() -> Path:
    return data_dir() / "raw"


def hash_bytes(*parts: bytes | str | np.ndarray) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def safe_name(text: str) -> str:
    """A filesystem-safe rendering of a dataset name (keeps it readable)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "data"


def cached_arrays(
    cache_dir: Path,
    entry: str,
    build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    mmap: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return the arrays and metadata cached as `cache_dir/entry/`, building them once.

    The entry is written into a temporary sibling directory and renamed into place, so a
    crash or a decoding error never leaves a half-written entry behind, and two processes
    racing to build the same entry both end up reading one complete copy. Entry files are
    never rewritten in place (a damaged entry is removed and rebuilt under a new inode),
    which keeps the memory maps of running processes valid: truncating a mapped file by
    hand would crash them with SIGBUS.
    """
    final = cache_dir / entry
    if final.is_dir():
        try:
            return _read_entry(final, mmap)
        except (OSError, ValueError, KeyError) as err:
            # The cache is derived data: a damaged entry is rebuilt, not fatal.
            warnings.warn(f"rebuilding damaged cache entry {final} ({err})", stacklevel=3)
            shutil.rmtree(final, ignore_errors=True)
    arrays, meta = build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{entry}.", suffix=".tmp"))
    try:
        for key in _ARRAYS:
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(arrays[key]))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _read_entry(final, mmap)


def _read_entry(path: Path, mmap: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    meta = json.loads((path / "meta.json").read_text())
    mode = "c" if mmap else None  # copy-on-write: writable, writes never reach the file
    arrays = {key: np.load(path / f"{key}.npy", mmap_mode=mode, allow_pickle=False) for key in _ARRAYS}
    n, m = len(arrays["train_y"]), len(arrays["test_y"])
    if len(arrays["train_x"]) != n or len(arrays["test_x"]) != m:
        raise ValueError("image and label counts differ")
    return arrays, meta
