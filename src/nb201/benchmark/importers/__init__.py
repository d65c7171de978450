"""Importers for the official NAS-Bench-201 / NATS-Bench (topology) data files."""

from nb201.benchmark.importers.official import ImportFormatError, detect_kind, import_official

__all__ = ["ImportFormatError", "detect_kind", "import_official"]
