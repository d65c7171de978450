"""The benchmark: its store (one writer of benchmark folders), the query API, the
importers of the official files, the search protocol's rules and the paper's analyses.

    from nb201.benchmark import Benchmark
"""

from nb201.benchmark.api import Benchmark

__all__ = ["Benchmark"]
