"""The benchmark store: dense, memory-mapped results per (split, hp), built from run
records (`aggregate`) or from dense arrays (`write_benchmark`, used by importers and
synthetic benchmarks). `nb201.benchmark.api.Benchmark` is the query side."""

from nb201.benchmark.store.format import (
    SCHEMA,
    StoreError,
    StoreKeyError,
    Substore,
    list_substores,
    open_substore,
    provenance,
    substore_name,
    write_benchmark,
)

__all__ = [
    "SCHEMA",
    "StoreError",
    "StoreKeyError",
    "Substore",
    "list_substores",
    "open_substore",
    "provenance",
    "substore_name",
    "write_benchmark",
]
