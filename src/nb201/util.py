"""Small rules that several layers need, each written once.

- `hash_files` / `sha256_file`: content checksums of files (cache keys, benchmark
  checksums, download verification).
- `utc_stamp`: the one format of a UTC time stamp in a persisted file.
- `json_default`: how numpy values and paths are written as JSON.
- `PlainDataUnpickler` / `load_plain_pickle`: reading a pickle that may only hold plain
  data (containers, numbers, strings, numpy arrays), since unpickling anything else can
  run code a downloaded file chose.
- `progress_options`: how nb201's progress bars behave in a terminal and in a log.

This module sits below every other nb201 module and imports none of them.
"""

from __future__ import annotations

import _compat_pickle
import builtins
import codecs
import collections
import datetime as _dt
import hashlib
import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

_CHUNK = 1 << 22  # 4 MiB reads: large enough that hashing runs at disk speed


# ---- checksums ------------------------------------------------------------------------------
def hash_files(paths: Iterable[str | Path], algorithm: str = "sha256") -> str:
    """Content hash of files, read in the given order (sha256: the fastest here, SHA-NI)."""
    h = hashlib.new(algorithm)
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of one file's content, hex."""
    return hash_files([path])


# ---- time stamps ----------------------------------------------------------------------------
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # ISO 8601, seconds, "Z": sorts as text, parses everywhere


def content_hash(obj: Any, length: int) -> str:
    """The first `length` hex digits of the SHA-256 of `obj` as canonical JSON (sorted keys,
    no spaces): the identity of a task, so equal contents name the same result file."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def utc_stamp(when: _dt.datetime | None = None) -> str:
    """`when` (default: now) as e.g. `2026-11-28T10:00:00Z`, the format of every stored stamp."""
    when = _dt.datetime.now(_dt.UTC) if when is None else when.astimezone(_dt.UTC)
    return when.strftime(UTC_FORMAT)


# ---- JSON -----------------------------------------------------------------------------------
def json_default(obj: Any) -> Any:
    """`json.dumps(..., default=json_default)`: numpy scalars and arrays as plain numbers and
    lists, paths as strings; anything else is an error, not a silent `str()`."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


# ---- restricted unpickling ------------------------------------------------------------------
_NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spell the same functions so
_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "int", "float", "str", "bytes", "complex")

# Every global a plain-data pickle may name, mapped to the object itself: resolved here, so
# unpickling imports nothing (in particular not the deprecated `numpy.core` modules).
PLAIN_DATA_GLOBALS: dict[tuple[str, str], Any] = {
    **{("builtins", n): getattr(builtins, n) for n in _BUILTINS},
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocol-2 pickles written by Python 3 spell bytes as (_)codecs.encode(str, "latin1").
    ("codecs", "encode"): codecs.encode,
    ("_codecs", "encode"): codecs.encode,
    **{(f"{m}.multiarray", "_reconstruct"): np._core.multiarray._reconstruct for m in _NUMPY_CORE},
    **{(f"{m}.multiarray", "scalar"): np._core.multiarray.scalar for m in _NUMPY_CORE},
    **{(f"{m}.numeric", "_frombuffer"): np._core.numeric._frombuffer for m in _NUMPY_CORE},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
REFUSED = "refusing to load"  # how a refusal's message starts, for callers that tell it apart


class PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: a pickle can call any function it names, so a file is
    allowed to name only the constructors in `PLAIN_DATA_GLOBALS`. Anything else raises
    `pickle.UnpicklingError("refusing to load <module>.<name> ...")` before it is imported."""

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocol < 3 pickles say `__builtin__.set`), mapped as pickle does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return PLAIN_DATA_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{REFUSED} {module}.{name} (an unexpected object: only plain data and numpy arrays)"
            ) from None


def load_plain_pickle(file: IO[bytes], encoding: str = "ASCII") -> Any:
    """`pickle.load` restricted to plain data (`encoding="latin1"` for Python 2 numpy pickles)."""
    return PlainDataUnpickler(file, encoding=encoding).load()


PROGRESS_INTERVAL_S = 10.0  # outside a terminal: at most one progress update this often


def progress_options(stream: Any = None) -> dict[str, Any]:
    """tqdm keyword arguments for nb201's progress bars.

    In a terminal a bar may redraw often. Redirected to a log (papermill, CI, `> log`),
    every redraw is kept, so a 5-minute import would write thousands of updates; there
    a bar updates at most every `PROGRESS_INTERVAL_S` seconds, in plain ASCII."""
    import sys

    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return {}
    return {"mininterval": PROGRESS_INTERVAL_S, "maxinterval": max(PROGRESS_INTERVAL_S, 10.0), "ascii": True}
