"""The datasets nb201 knows by name, and what it knows of each: one entry per dataset.

Why a registry: what a name means (where its files are, how they decode, its published
channel statistics, which splits it offers and how its held-out sets are carved) used to
be keyed on the name in four modules. An entry says all of it once; `load_dataset` and
`get_split` read the entry, so a built-in dataset is one `register_dataset` call beside its
reader (`nb201.data.builtin` registers the paper's three and the embedded digits). A
dataset in an image folder (`folder:<path>`) needs no entry: it gets `dataset_entry`'s
defaults, named after its folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nb201.names import is_valid_split

Decoded = tuple[dict[str, np.ndarray], tuple[str, ...]]  # ({train_x, train_y, test_x, test_y}, classes)
Halves = tuple[np.ndarray, np.ndarray, str]  # (train indices, valid indices, procedure)


@dataclass(frozen=True)
class Source:
    """A dataset's source, located: its (final) name, the path recorded in the cache entry,
    the content key of its files, and how to decode it (called only on a cache miss)."""

    name: str
    path: Path
    key: str
    build: Callable[[], Decoded]


@dataclass(frozen=True)
class DatasetEntry:
    """What a dataset name means.

    `locate(root, download=, verify=) -> Source` finds and keys the files (None: not
    loadable by name, e.g. a folder's defaults). `stats`: the published per-channel
    (mean, std) in [0, 1] units; None computes them from the training pool. `valid_form`:
    it offers `<name>-valid` (half the training pool trains, the other half is x-valid).
    `test_halves`: its whole-pool split halves the test set into x-valid and x-test (the
    paper's cifar10 does not). `valid_halves(train_y) -> (train, valid, procedure)` carves
    the `-valid` halves; None: two class-stratified halves.
    """

    name: str
    locate: Callable[..., Source] | None = None
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    valid_form: bool = True
    test_halves: bool = True
    valid_halves: Callable[[np.ndarray], Halves] | None = None


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Make `entry.name` loadable by name. A name registered twice raises: two readers for
    one name would give runs that say the same dataset but saw different images."""
    if entry.locate is None:
        raise ValueError(f"dataset {entry.name!r}: an entry registered by name needs `locate`.")
    if not entry.name or ":" in entry.name or is_valid_split(entry.name):
        raise ValueError(
            f"invalid dataset name {entry.name!r}: it must be non-empty, contain no ':' and not end in "
            "'-valid' (that suffix names the split). Rename it."
        )
    old = _REGISTRY.get(entry.name)
    if old is not None and _origin(old) != _origin(entry):
        raise ValueError(
            f"dataset {entry.name!r} is registered already (by {_origin(old)}); choose another name."
        )
    _REGISTRY[entry.name] = entry
    return entry


def _origin(entry: DatasetEntry) -> str:
    """Where an entry's reader is defined: re-running the same registration (a reloaded
    module, a notebook cell run twice) is the same entry, another reader is not."""
    return f"{entry.locate.__module__}.{entry.locate.__qualname__}"


def registered_names() -> tuple[str, ...]:
    """The datasets loadable by name, in registration order."""
    return tuple(_REGISTRY)


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of `name`; for any other name (a folder dataset) the defaults."""
    return _REGISTRY.get(name) or DatasetEntry(name)
