"""The datasets nb201 ships by name: the paper's cifar10, cifar100, ImageNet16-120, and digits.

Each is one `register_dataset` entry (`nb201.data.registry`): its reader, its published
channel statistics and its split rules. The paper's rules, written here and nowhere
else: cifar10 offers `cifar10-valid` (the original's seeded halves of the training order)
and `cifar10`, which is evaluated on the whole test set only; cifar100 and ImageNet16-120
offer only the whole-pool split, evaluated on the test set and its two halves; digits
(scikit-learn's, embedded, so the pipeline runs offline) offers both forms.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from nb201.util import hash_files

from . import official_archives
from .imagedata import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    IMAGENET16_MEAN,
    IMAGENET16_STD,
)
from .registry import DatasetEntry, Decoded, Halves, Source, register_dataset
from .splits import PAPER_CIFAR10_TRAIN, paper_cifar10_valid, stratified_partition

DIGITS_TEST_FRACTION = 1 / 3
DIGITS_SEED = 1021


def _cifar(name: str, root: str | Path | None, download: bool = True, verify: bool | None = None) -> Source:
    fmt = official_archives.CIFAR_FORMATS[name]
    source = official_archives.fetch_cifar(fmt, root, download)
    files = [source] if source.is_file() else [source / f for f in (*fmt.train_files, *fmt.test_files)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: {missing} missing; re-extract or re-download {fmt.url}.")
    check = official_archives.verify_default() if verify is None else verify

    def build() -> Decoded:
        if check and source.is_file():
            official_archives.check_md5(fmt, source)
        return official_archives.read_cifar(fmt, source)

    return Source(name, source, hash_files(files), build)


def _cifar10(root: str | Path | None, **options: bool | None) -> Source:
    return _cifar("cifar10", root, **options)


def _cifar100(root: str | Path | None, **options: bool | None) -> Source:
    return _cifar("cifar100", root, **options)


def _cifar10_halves(train_y: np.ndarray) -> Halves:
    """The paper's cifar10-valid halves of the official training order; a CIFAR-10 of
    another size (a subset) gets class-stratified halves."""
    if len(train_y) == PAPER_CIFAR10_TRAIN:
        return (*paper_cifar10_valid(len(train_y)), "paper-cifar10-valid")
    return (*stratified_partition(train_y, 0.5), "stratified")


def _imagenet16(root: str | Path | None, **_: bool | None) -> Source:
    files = official_archives.locate_imagenet16(root)
    return Source(
        "ImageNet16-120", files[0].parent, hash_files(files), lambda: official_archives.read_imagenet16(files)
    )


def _digits_source() -> Path:
    """scikit-learn's bundled digits file, located without importing sklearn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'digits' dataset ships with scikit-learn: `pip install scikit-learn`.")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall scikit-learn (`pip install -U scikit-learn`).")
    return path


def _read_digits() -> Decoded:
    """1,797 8x8 greyscale digits (values 0..16 -> 0..255), split 2/3 : 1/3 per class so
    that, like the other datasets, it has a test pool to carve validation sets from."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int64)
    test, train = stratified_partition(y, DIGITS_TEST_FRACTION, DIGITS_SEED)
    arrays = {"train_x": x[train], "train_y": y[train], "test_x": x[test], "test_y": y[test]}
    return arrays, tuple(str(k) for k in range(10))


def _digits(root: str | Path | None, **_: bool | None) -> Source:
    source = _digits_source()
    return Source("digits", source, hash_files([source]), _read_digits)


CIFAR10 = register_dataset(
    DatasetEntry(
        "cifar10", _cifar10, (CIFAR10_MEAN, CIFAR10_STD), test_halves=False, valid_halves=_cifar10_halves
    )
)
CIFAR100 = register_dataset(
    DatasetEntry("cifar100", _cifar100, (CIFAR100_MEAN, CIFAR100_STD), valid_form=False)
)
IMAGENET16_120 = register_dataset(
    DatasetEntry("ImageNet16-120", _imagenet16, (IMAGENET16_MEAN, IMAGENET16_STD), valid_form=False)
)
DIGITS = register_dataset(DatasetEntry("digits", _digits))
