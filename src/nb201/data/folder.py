"""Class-per-folder image datasets, from a directory or a zip: `<root>/{train,test}/<class>/<img>`.

This is how users bring their own data, and how the shared JPEG CIFAR-10 is read. Zip
members are read in memory (no extraction to disk); decoding is fanned out to a small
process pool because Pillow's JPEG decoder, not I/O, is the cost (~0.1 ms per 32x32 image).
"""

from __future__ import annotations

import collections
import concurrent.futures
import concurrent.futures.process
import io
import itertools
import multiprocessing
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nb201.util import hash_files

from .cache import hash_bytes

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
POOLS = ("train", "test")
LAYOUT = "<root>/train/<class>/<image> and <root>/test/<class>/<image> (optionally under one top folder)"
_CHUNK = 1024  # images per decode task
_POOL_MIN = 4096  # below this, starting worker processes costs more than it saves
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


@dataclass(frozen=True)
class Listing:
    """What a folder dataset holds, before decoding: member paths and labels per pool."""

    path: Path
    is_zip: bool
    prefix: str  # top folder inside the source, "" or "name/"
    classes: tuple[str, ...]
    files: dict[str, list[str]]  # pool -> members (zip names or paths relative to `path`)
    labels: dict[str, np.ndarray]


def _visible(parts: list[str]) -> bool:
    return not any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _relative_files(path: Path) -> tuple[list[str], bool]:
    if path.is_dir():
        names = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if _visible([d])]
            rel = Path(dirpath).relative_to(path).as_posix()
            names += [f"{rel}/{f}" if rel != "." else f for f in filenames]
        return names, False
    if not path.is_file():
        raise FileNotFoundError(
            f"folder dataset {path} (resolved: {path.resolve()}) does not exist; give a directory "
            f"or a .zip laid out as {LAYOUT}."
        )
    try:
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()], True
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"{path} is not a readable zip ({err}); re-create or re-download it, "
            f"or extract it and pass the directory."
        ) from err


def list_folder(path: str | Path) -> Listing:
    """Find the train/test class folders and every image in them, in a stable order."""
    path = Path(path)
    names, is_zip = _relative_files(path)
    by_prefix: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for name in names:
        parts = name.split("/")
        if not _visible(parts) or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        for depth in (0, 1):  # "train/..." or "<top>/train/..."
            if len(parts) == depth + 3 and parts[depth] in POOLS:
                prefix = "".join(p + "/" for p in parts[:depth])
                by_prefix.setdefault(prefix, {p: [] for p in POOLS})[parts[depth]].append((parts[-2], name))
    complete = [p for p, pools in by_prefix.items() if all(pools[q] for q in POOLS)]
    if not complete:
        raise ValueError(
            f"{path} has no images in the expected layout {LAYOUT}; found "
            f"{len(names)} files. Arrange the images into train/ and test/ class folders."
        )
    if len(complete) > 1 and "" not in complete:
        raise ValueError(
            f"{path} holds several datasets ({sorted(complete)}); keep one top folder per zip or directory."
        )
    prefix = "" if "" in complete else complete[0]
    pools = by_prefix[prefix]
    classes = tuple(sorted({c for c, _ in pools["train"]}))
    extra = sorted({c for c, _ in pools["test"]} - set(classes))
    if extra:
        raise ValueError(
            f"{path}: test classes {extra} have no training images; every test class needs a "
            "train/<class>/ folder with images."
        )
    index = {c: k for k, c in enumerate(classes)}
    files, labels = {}, {}
    for pool in POOLS:
        items = sorted(pools[pool], key=lambda item: (index[item[0]], item[1]))
        files[pool] = [name for _, name in items]
        labels[pool] = np.array([index[c] for c, _ in items], dtype=np.int64)
    return Listing(path, is_zip, prefix, classes, files, labels)


def folder_key(listing: Listing) -> str:
    """Content hash of the source: the zip file itself, or every listed file of a directory
    (so a warm load of a directory reads all its files; a zip of the same data loads faster)."""
    if listing.is_zip:
        return hash_files([listing.path])
    members = [listing.path / m for pool in POOLS for m in listing.files[pool]]
    return hash_bytes("\n".join(listing.files["train"] + listing.files["test"]), hash_files(members))


# ---- decoding -------------------------------------------------------------------------
class _SizeMismatch(ValueError):
    """An image whose size differs from the dataset's (reported as is, not as undecodable)."""


def _decode_chunk(task: tuple[list[str], list[bytes], tuple[int, int], str, bool]) -> np.ndarray:
    """Decode images to one uint8 [k, H, W, C] block (runs in worker processes)."""
    names, blobs, (h, w), mode, resize = task
    c = 1 if mode == "L" else 3
    out = np.empty((len(blobs), h, w, c), np.uint8)
    for i, (name, blob) in enumerate(zip(names, blobs)):
        try:
            with Image.open(io.BytesIO(blob)) as img:
                img = img if img.mode == mode else img.convert(mode)
                if img.size != (w, h):
                    if not resize:
                        raise _SizeMismatch(
                            f"{name} is {img.size[0]}x{img.size[1]} but the first image is {w}x{h}; all "
                            "images must share one size -- pass image_size=(H, W) to resize them."
                        )
                    img = img.resize((w, h), Image.BILINEAR)
                out[i] = np.asarray(img).reshape(h, w, c)
        except _SizeMismatch:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ValueError(f"cannot decode image {name} ({err}); replace or remove the file.") from err
    return out


def _blobs(listing: Listing, names: list[str]) -> Iterator[list[bytes]]:
    """Raw image bytes in chunks, read in memory from the zip (opened once: parsing the
    central directory of 60k members alone takes ~0.4 s) or from the directory."""
    if listing.is_zip:
        try:
            with zipfile.ZipFile(listing.path) as zf:
                for start in range(0, len(names), _CHUNK):
                    yield [zf.read(n) for n in names[start : start + _CHUNK]]
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ValueError(f"{listing.path}: damaged zip member ({err}); re-create the zip.") from err
    else:
        for start in range(0, len(names), _CHUNK):
            yield [(listing.path / n).read_bytes() for n in names[start : start + _CHUNK]]


def _probe(blob: bytes, name: str) -> tuple[tuple[int, int], str]:
    try:
        with Image.open(io.BytesIO(blob)) as img:
            return (img.size[1], img.size[0]), ("L" if img.mode in _GREY_MODES else "RGB")
    except (OSError, SyntaxError) as err:
        raise ValueError(f"cannot decode image {name} ({err}); replace or remove the file.") from err


def _decode_parallel(tasks: Iterator[tuple], workers: int) -> list[np.ndarray]:
    """Decode chunks in worker processes while this process keeps reading the next ones.

    fork, not spawn: spawn re-imports the caller's __main__ (a notebook cell or a script
    without a main guard would run again in every worker). The workers only run Pillow
    and numpy, so the caller's torch/OpenMP threads do not matter to them. A worker that
    dies raises BrokenProcessPool here instead of hanging, as multiprocessing.Pool would.
    """
    blocks: list[np.ndarray] = []
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        try:
            for task in tasks:
                pending.append(pool.submit(_decode_chunk, task))
                if len(pending) > 2 * workers:  # bound the bytes held in flight
                    blocks.append(pending.popleft().result())
            blocks += [f.result() for f in pending]
        except concurrent.futures.process.BrokenProcessPool as err:
            raise RuntimeError(f"an image decoding worker died ({err}); retry with workers=1.") from err
        finally:
            for f in pending:
                f.cancel()
    return blocks


def decode_folder(
    listing: Listing, image_size: tuple[int, int] | None = None, workers: int | None = None
) -> dict[str, np.ndarray]:
    """Decode both pools to uint8 NHWC. The first training image fixes size and colour mode
    (greyscale datasets stay one-channel) unless `image_size` asks for a resize."""
    names = listing.files["train"] + listing.files["test"]
    chunks = _blobs(listing, names)
    first_chunk = next(chunks)
    size, mode = _probe(first_chunk[0], names[0])
    resize = image_size is not None
    if image_size is not None:
        size = image_size
    tasks = (
        (names[s : s + _CHUNK], blobs, size, mode, resize)
        for s, blobs in zip(range(0, len(names), _CHUNK), itertools.chain([first_chunk], chunks))
    )
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers > 1 and len(names) >= _POOL_MIN and "fork" in multiprocessing.get_all_start_methods():
        blocks = _decode_parallel(tasks, workers)
    else:
        blocks = [_decode_chunk(task) for task in tasks]
    x = np.concatenate(blocks)
    n = len(listing.files["train"])
    return {
        "train_x": x[:n],
        "train_y": listing.labels["train"],
        "test_x": x[n:],
        "test_y": listing.labels["test"],
    }
