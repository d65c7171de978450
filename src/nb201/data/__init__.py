"""Datasets, splits and augmentation for NAS-Bench-201 training.

`load_dataset(name)` gives an `ImageData` (uint8 NHWC pools, cached after the first
decode), `get_split(data, split)` the paper's train/evaluation indices (stored once under
`data/splits/`), and `Augment` / `normalize` the batched tensor transforms. The torch-based
names are imported lazily so that decode worker processes and data-only users stay light.

Where files go: `$NB201_DATA_DIR` (default `./data`): `raw/` for source archives
(`raw/cifar-10-python.tar.gz`, `raw/cifar-100-python.tar.gz`, `raw/ImageNet16/`),
`cache/` for decoded arrays, `splits/` for split index files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import data_dir
from .imagedata import ImageData, channel_stats
from .loading import dataset_names, load_dataset
from .splits import (
    Split,
    get_split,
    paper_cifar10_valid,
    stratified_partition,
    stratified_subset,
    valid_splits,
)

if TYPE_CHECKING:
    from .augment import Augment, normalize

__all__ = [
    "Augment",
    "ImageData",
    "Split",
    "channel_stats",
    "data_dir",
    "dataset_names",
    "get_split",
    "load_dataset",
    "normalize",
    "paper_cifar10_valid",
    "stratified_partition",
    "stratified_subset",
    "valid_splits",
]


def __getattr__(name: str) -> Any:
    if name in ("Augment", "normalize"):
        from . import augment

        return getattr(augment, name)
    raise AttributeError(f"module 'nb201.data' has no attribute {name!r}")
