"""Deprecated name of `nb201.data.cache` (the data folders and the decoded-array cache).

The module was renamed so that `nb201.data.cache` (derived data) is not confused with
`nb201.store` (the benchmark format). This alias stays until nothing imports it; new code
imports `nb201.data.cache` (and `nb201.util.hash_files`).
"""

from __future__ import annotations

from nb201.data.cache import (
    ENV_DATA_DIR,
    cached_arrays,
    data_dir,
    default_cache_dir,
    default_raw_dir,
    default_splits_dir,
    hash_bytes,
    safe_name,
)
from nb201.util import hash_files

__all__ = [
    "ENV_DATA_DIR",
    "cached_arrays",
    "data_dir",
    "default_cache_dir",
    "default_raw_dir",
    "default_splits_dir",
    "hash_bytes",
    "hash_files",
    "safe_name",
]
