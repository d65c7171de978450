"""`load_dataset`: name -> source files -> (cached) decoded arrays -> ImageData."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb201.util import hash_files

from . import folder, official_archives
from .cache import cached_arrays, default_cache_dir, hash_bytes, safe_name
from .imagedata import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET16_MEAN,
    IMAGENET16_STD,
    ImageData,
    channel_stats,
)
from .splits import stratified_partition

CACHE_FORMAT = 1  # bump when a reader's output changes, so old cache entries are not reused
# The built-in datasets (the paper's three and the embedded digits): the one list, also used by
# nb201.train.config to tell a built-in split (`<dataset>` or `<dataset>-valid`) from a folder one.
BUILTIN = ("cifar10", "cifar100", "ImageNet16-120", "digits")
FOLDER_PREFIX = "folder:"
DIGITS_TEST_FRACTION = 1 / 3
DIGITS_SEED = 1021
_PAPER_STATS = {
    "cifar10": (CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
    "ImageNet16-120": (IMAGENET16_MEAN, IMAGENET16_STD),
}


def dataset_names() -> tuple[str, ...]:
    return (*BUILTIN, f"{FOLDER_PREFIX}<path to a directory or .zip>")


def folder_dataset_name(path: Path) -> str:
    """A folder dataset is named after its directory or zip; never after a built-in, whose
    name carries meaning (e.g. "cifar10" selects the paper's split of the official order)."""
    stem = path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name
    stem = stem or "folder"
    return f"{stem}-folder" if stem in BUILTIN else stem


def _image_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}.")
    return (int(size[0]), int(size[1]))


def _digits_source() -> Path:
    """scikit-learn's bundled digits file, located without importing sklearn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'digits' dataset ships with scikit-learn: `pip install scikit-learn`.")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall scikit-learn (`pip install -U scikit-learn`).")
    return path


def _read_digits() -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """1,797 8x8 greyscale digits (values 0..16 -> 0..255), split 2/3 : 1/3 per class so
    that, like the other datasets, it has a test pool to carve validation sets from."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    test, train = stratified_partition(y, DIGITS_TEST_FRACTION, DIGITS_SEED)
    arrays = {"train_x": x[train], "train_y": y[train], "test_x": x[test], "test_y": y[test]}
    return arrays, tuple(str(k) for k in range(10))


_Decoder = Callable[[], tuple[dict[str, np.ndarray], tuple[str, ...]]]


@dataclass(frozen=True)
class _Source:
    """A dataset's source, located: its (final) name, the path recorded in the cache entry,
    the content key of its files, and how to decode it (called only on a cache miss)."""

    name: str
    path: Path
    key: str
    build: _Decoder


def _cifar(name: str, root: str | Path | None, download: bool, verify: bool | None) -> _Source:
    fmt = official_archives.CIFAR_FORMATS[name]
    source = official_archives.fetch_cifar(fmt, root, download)
    files = [source] if source.is_file() else [source / f for f in (*fmt.train_files, *fmt.test_files)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: {missing} missing; re-extract or re-download {fmt.url}.")
    check = official_archives.verify_default() if verify is None else verify

    def build() -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
        if check and source.is_file():
            official_archives.check_md5(fmt, source)
        return official_archives.read_cifar(fmt, source)

    return _Source(name, source, hash_files(files), build)


def _imagenet16(name: str, root: str | Path | None) -> _Source:
    files = official_archives.locate_imagenet16(root)
    key = hash_files(files)
    return _Source(name, files[0].parent, key, lambda: official_archives.read_imagenet16(files))


def _folder(name: str, root: str | Path | None, size: tuple[int, int] | None, workers: int | None) -> _Source:
    source = Path(name[len(FOLDER_PREFIX) :]).expanduser()
    if root is not None and not source.is_absolute():
        source = Path(root) / source
    listing = None if source.is_file() else folder.list_folder(source)
    key = folder.folder_key(listing) if listing is not None else hash_files([source])

    def build() -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
        found = listing if listing is not None else folder.list_folder(source)
        return folder.decode_folder(found, size, workers), found.classes

    return _Source(folder_dataset_name(source), source, key, build)


def _locate(
    name: str,
    root: str | Path | None,
    *,
    download: bool,
    verify: bool | None,
    size: tuple[int, int] | None,
    workers: int | None,
) -> _Source:
    """Find the source of dataset `name` (downloading CIFAR when allowed) and key its content."""
    if name in official_archives.CIFAR_FORMATS:
        return _cifar(name, root, download, verify)
    if name == "ImageNet16-120":
        return _imagenet16(name, root)
    if name == "digits":
        source = _digits_source()
        return _Source(name, source, hash_files([source]), _read_digits)
    if name.startswith(FOLDER_PREFIX):
        return _folder(name, root, size, workers)
    raise ValueError(f"unknown dataset {name!r}; valid datasets: {list(dataset_names())}.")


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

    name: "cifar10", "cifar100", "ImageNet16-120", "digits", or "folder:<dir or .zip>".
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

    def build_entry() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, classes = build()
        meta: dict[str, Any] = {"name": name, "classes": list(classes), "source": str(source), "key": key}
        if name not in _PAPER_STATS:
            meta["mean"], meta["std"] = channel_stats(arrays["train_x"])
        return arrays, meta

    entry = f"{safe_name(name)}-{hash_bytes(key, str(CACHE_FORMAT), str(size))[:20]}"
    arrays, meta = cached_arrays(cache, entry, build_entry, mmap=mmap)
    mean, std = _PAPER_STATS[name] if name in _PAPER_STATS else (meta["mean"], meta["std"])
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
