"""The in-memory form every reader produces: uint8 images, int64 labels, two pools."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .cache import hash_bytes

# Per-channel statistics the paper used, in [0, 1] units (the original code wrote them
# as x/255). Datasets without published numbers get theirs from their training pool.
CIFAR10_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
CIFAR10_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
CIFAR100_MEAN = tuple(v / 255 for v in (129.3, 124.1, 112.4))
CIFAR100_STD = tuple(v / 255 for v in (68.2, 65.4, 70.4))
IMAGENET16_MEAN = tuple(v / 255 for v in (122.68, 116.66, 104.01))
IMAGENET16_STD = tuple(v / 255 for v in (63.22, 61.26, 65.09))


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled image dataset with a training pool and a test pool.

    Arrays are usually copy-on-write memory maps of the cache: indexing copies, and an
    in-place write stays private to the process (the cache file is never modified).
    `eq=False`: identity semantics, since comparing arrays element-wise is neither cheap
    nor meaningful as `==`.
    """

    name: str
    train_x: np.ndarray  # uint8 [n, H, W, C]
    train_y: np.ndarray  # int64 [n]
    test_x: np.ndarray  # uint8 [m, H, W, C]
    test_y: np.ndarray  # int64 [m]
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, [0, 1] units
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for pool in ("train", "test"):
            x, y = getattr(self, f"{pool}_x"), getattr(self, f"{pool}_y")
            if x.ndim != 4 or x.dtype != np.uint8:
                raise ValueError(
                    f"ImageData.{pool}_x must be uint8 [n, H, W, C], got {x.dtype} {x.shape}; "
                    "decode images to channels-last uint8 first."
                )
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(f"ImageData.{pool}_y must be 1-D with one label per image ({len(x)}).")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {self.train_x.shape[1:]} vs "
                f"{self.test_x.shape[1:]}; resize them to one size."
            )
        c = self.train_x.shape[3]
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean/std need one value per channel ({c}).")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[3])

    @functools.cached_property
    def fingerprint(self) -> str:
        """Content hash (name, labels and pixels): split files are keyed by it, so a split
        computed for one dataset is never silently applied to another."""
        return hash_bytes(self.name, self.train_y, self.test_y, self.train_x, self.test_x)


def channel_stats(x: np.ndarray, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 NHWC images, in [0, 1] units.

    Computed exactly from a 256-bin histogram per channel (integer counts, no float copy
    of the pool), so 150k images cost a fraction of a second and the result does not
    depend on summation order."""
    c = x.shape[3]
    hist = np.zeros((c, 256), np.int64)
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk]).reshape(-1, c)
        for k in range(c):
            hist[k] += np.bincount(block[:, k], minlength=256)
    count = hist[0].sum()
    if count == 0:
        raise ValueError("cannot compute channel statistics of an empty training pool.")
    values = np.arange(256, dtype=np.float64)
    mean = hist @ values / count
    var = hist @ values**2 / count - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    std = np.where(std > 0, std, 1.0)  # a constant channel: avoid dividing by zero
    return tuple(float(v) for v in mean / 255), tuple(float(v) for v in std / 255)
