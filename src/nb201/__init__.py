"""nb201: a reproducible benchmark for neural architecture search (NAS-Bench-201 rebuilt)."""

__version__ = "0.1.0"
