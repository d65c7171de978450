"""The benchmark store: dense, memory-mapped results per (split, hp), built from run
records (`aggregate`) or from dense arrays (`write_benchmark`, used by importers and
synthetic benchmarks), derived per-arch columns (`write_columns`: the ranking score, the
whole-space estimate). No other module writes a benchmark folder.
`nb201.benchmark.api.Benchmark` is the query side."""

from nb201.benchmark.store.derived import derived_blocks, derived_tables, write_columns
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
    "derived_blocks",
    "derived_tables",
    "write_benchmark",
    "write_columns",
]
