"""`load_dataset`: name -> source files -> (cached) decoded arrays -> ImageData."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nb201.util import hash_files

from . import builtin, folder, registry  # noqa: F401  (importing builtin registers the datasets nb201 ships)
from .cache import cached_arrays, default_cache_dir, hash_bytes, safe_name
from .imagedata import ImageData, channel_stats
from .registry import Source

CACHE_FORMAT = 1  # bump when a reader's output changes, so old cache entries are not reused
FOLDER_PREFIX = "folder:"


def dataset_names() -> tuple[str, ...]:
    """What `load_dataset` accepts: the registered names and the folder form."""
    return (*registry.registered_names(), f"{FOLDER_PREFIX}<path to a directory or .zip>")


def folder_dataset_name(path: Path) -> str:
    """A folder dataset is named after its directory or zip; never after a built-in, whose
    name carries meaning (e.g. "cifar10" selects the paper's split of the official order)."""
    stem = path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name
    stem = stem or "folder"
    return f"{stem}-folder" if stem in registry.registered_names() else stem


def _image_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}.")
    return (int(size[0]), int(size[1]))


def _folder(name: str, root: str | Path | None, size: tuple[int, int] | None, workers: int | None) -> Source:
    source = Path(name[len(FOLDER_PREFIX) :]).expanduser()
    if root is not None and not source.is_absolute():
        source = Path(root) / source
    listing = None if source.is_file() else folder.list_folder(source)
    key = folder.folder_key(listing) if listing is not None else hash_files([source])

    def build() -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
        found = listing if listing is not None else folder.list_folder(source)
        return folder.decode_folder(found, size, workers), found.classes

    return Source(folder_dataset_name(source), source, key, build)


def _locate(
    name: str,
    root: str | Path | None,
    *,
    download: bool,
    verify: bool | None,
    size: tuple[int, int] | None,
    workers: int | None,
) -> Source:
    """Find the source of dataset `name` (downloading CIFAR when allowed) and key its content."""
    if name.startswith(FOLDER_PREFIX):
        return _folder(name, root, size, workers)
    entry = registry.dataset_entry(name)
    if entry.locate is None:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {list(dataset_names())}.")
    return entry.locate(root, download=download, verify=verify)


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    verify: bool | None = None,
    image_size: int | tuple[int, int] | None = None,
    workers: int | None = None,
    mmap: bool = True,
) -> ImageData:
    """Load a dataset by name, decoding it once and reading the cache afterwards.

    name: a registered dataset (`dataset_names()`: "cifar10", "cifar100", "ImageNet16-120",
        "digits", and any `nb201.data.registry.register_dataset` added), or "folder:<dir or .zip>".
    root: where the source lives (CIFAR: the archive, its extracted folder, or their
        directory; ImageNet16-120: the folder of batch files or of the two downloaded
        zips `Imagenet16_train.zip`, `Imagenet16_val.zip`; folder datasets: a base for
        a relative path). Default: `$NB201_DATA_DIR/raw` (`data/raw`), with ImageNet16 files
        in its `ImageNet16/`.
    cache_dir: decoded-array cache, default `$NB201_DATA_DIR/cache` (`data/cache`).
    download: fetch a missing CIFAR archive from its official URL.
    verify: check a CIFAR archive's MD5 when first decoded (default on; `NB201_VERIFY_MD5=0`).
    image_size: folder datasets only: resize every image to (H, W) instead of requiring one size.
    workers: decode processes for folder datasets (default min(2, CPUs)).
    mmap: memory-map cached arrays (copy-on-write: writable, but writes never reach the
        cache) instead of reading them into memory.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    size = _image_size(image_size)
    if size is not None and not name.startswith(FOLDER_PREFIX):
        raise ValueError(
            f"image_size applies to folder datasets only; {name} has a fixed size "
            "(resize batches in the training loop instead)."
        )
    src = _locate(name, root, download=download, verify=verify, size=size, workers=workers)
    name, source, key, build = src.name, src.path, src.key, src.build
    stats = registry.dataset_entry(name).stats  # published statistics, else the training pool's

    def build_entry() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, classes = build()
        meta: dict[str, Any] = {"name": name, "classes": list(classes), "source": str(source), "key": key}
        if stats is None:
            meta["mean"], meta["std"] = channel_stats(arrays["train_x"])
        return arrays, meta

    entry = f"{safe_name(name)}-{hash_bytes(key, str(CACHE_FORMAT), str(size))[:20]}"
    arrays, meta = cached_arrays(cache, entry, build_entry, mmap=mmap)
    mean, std = stats if stats is not None else (meta["mean"], meta["std"])
    return ImageData(
        name=name,
        train_x=arrays["train_x"],
        train_y=arrays["train_y"],
        test_x=arrays["test_x"],
        test_y=arrays["test_y"],
        classes=tuple(meta["classes"]),
        mean=tuple(mean),
        std=tuple(std),
    )
