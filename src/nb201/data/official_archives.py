"""Readers for the official CIFAR-10/100 "python version" and ImageNet16 pickles.

Both formats are pickled dicts whose `data` rows are images flattened channel-first
(R plane, G plane, B plane); we return channels-last uint8 arrays like every other reader.
Pickles can execute code, so they are read with `nb201.util.PlainDataUnpickler`, which only
admits plain data and the numpy array constructors these files use: a corrupt or foreign
file fails with a clear error instead of running anything.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb201.util import hash_files, load_plain_pickle

from .cache import default_raw_dir


@dataclass(frozen=True)
class CifarFormat:
    name: str
    archive: str
    folder: str  # the archive's top folder
    md5: str  # published checksum of the archive
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str

    @property
    def url(self) -> str:
        return CIFAR_SITE + self.archive


CIFAR_SITE = "https://www.cs.toronto.edu/~kriz/"  # where both archives are published
CIFAR_FORMATS: dict[str, CifarFormat] = {
    "cifar10": CifarFormat(
        name="cifar10",
        archive="cifar-10-python.tar.gz",
        folder="cifar-10-batches-py",
        md5="c58f30108f718f92721af3b95e74349a",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
    ),
    "cifar100": CifarFormat(
        name="cifar100",
        archive="cifar-100-python.tar.gz",
        folder="cifar-100-python",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
    ),
}

IMAGENET16_TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_TEST = "val_data"
IMAGENET16_ZIPS = ("Imagenet16_train.zip", "Imagenet16_val.zip")
IMAGENET16_CLASSES = 120  # the paper keeps the images whose 1-based label is 1..120
IMAGENET16_HELP = (
    "ImageNet16-120 is the 16x16 'Downsampled ImageNet' of Chrabaszcz, Loshchilov & Hutter "
    "(2017), as used by NAS-Bench-201. It cannot be downloaded automatically (ImageNet terms): "
    "sign in at https://image-net.org/download-images.php, download 'Imagenet16_train.zip' "
    "and 'Imagenet16_val.zip' (Downsampled ImageNet 16x16), and put both zips in {where} "
    "(or unzip them so that train_data_batch_1..10 and val_data lie directly there)."
)
ENV_VERIFY = "NB201_VERIFY_MD5"


def verify_default() -> bool:
    """MD5 checks are on unless `NB201_VERIFY_MD5=0` (for hand-made archives in tests)."""
    return os.environ.get(ENV_VERIFY, "1") != "0"


# ---- safe unpickling --------------------------------------------------------------------
def unpickle(payload: bytes, where: str) -> dict[str, Any]:
    """Load one batch dict; keys normalized to `str` (Python 2 pickles give bytes keys)."""
    try:
        # latin1 is how numpy arrays pickled by Python 2 (the CIFAR files) round-trip.
        obj = load_plain_pickle(io.BytesIO(payload), encoding="latin1")
    except Exception as err:  # pickle raises many types on garbage input
        raise ValueError(f"{where} is not a valid pickled batch ({type(err).__name__}: {err}).") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{where} should hold a dict, found {type(obj).__name__}.")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _field(batch: dict[str, Any], key: str, where: str) -> Any:
    if key not in batch:
        raise ValueError(f"{where} has no '{key}' entry (keys: {sorted(batch)}); is it the right file?")
    return batch[key]


def chw_rows_to_nhwc(data: Any, side: int, where: str) -> np.ndarray:
    """Rows of `3*side*side` bytes (R, G, B planes) -> uint8 [n, side, side, 3]."""
    arr = np.asarray(data)
    row = 3 * side * side
    if arr.ndim != 2 or arr.shape[1] != row:
        raise ValueError(f"{where}: 'data' should be [n, {row}] (3x{side}x{side} images), got {arr.shape}.")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{where}: pixel values outside 0..255.")
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr.reshape(-1, 3, side, side).transpose(0, 2, 3, 1))


def _labels(batch: dict[str, Any], key: str, n: int, where: str) -> np.ndarray:
    y = np.asarray(_field(batch, key, where), dtype=np.int64).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{where}: {len(y)} labels for {n} images.")
    return y


# ---- CIFAR ------------------------------------------------------------------------------
def locate_cifar(fmt: CifarFormat, root: str | Path | None) -> Path | None:
    """The archive or extracted folder to read, or None when absent.

    `root` may be the archive, the extracted folder, or a directory holding either; the
    archive wins when both exist because it can be checked against the published MD5."""
    base = Path(root) if root is not None else default_raw_dir()
    if base.is_file():
        return base
    for candidate in (base / fmt.archive, base / fmt.folder, base):
        if candidate.is_file() or (candidate / fmt.meta_file).is_file():
            return candidate
    return None


def cifar_destination(fmt: CifarFormat, root: str | Path | None) -> Path:
    base = Path(root) if root is not None else default_raw_dir()
    return base if base.suffix == ".gz" else base / fmt.archive


def missing_cifar_error(fmt: CifarFormat, dest: Path, reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{fmt.name}: no archive at {dest} ({reason}). Download {fmt.url} "
        f"(md5 {fmt.md5}) and save it as {dest} -- e.g. `curl -L -o {dest} {fmt.url}` -- or "
        f"pass root=<the archive, its extracted '{fmt.folder}' folder, or their directory>."
    )


def download(url: str, dest: Path, md5: str, timeout: float = 30.0) -> Path:
    """Fetch `url` to `dest`, verifying its MD5 before the file appears under its name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            from tqdm.auto import tqdm

            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise ValueError(
                f"downloaded {url} but its md5 is {digest.hexdigest()}, expected {md5}; "
                "the download was damaged or intercepted. Try again."
            )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def fetch_cifar(fmt: CifarFormat, root: str | Path | None, allow_download: bool) -> Path:
    source = locate_cifar(fmt, root)
    if source is not None:
        return source
    dest = cifar_destination(fmt, root)
    if not allow_download:
        raise missing_cifar_error(fmt, dest, "file not found, downloading disabled")
    try:
        return download(fmt.url, dest, fmt.md5)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise missing_cifar_error(fmt, dest, f"file not found and download failed: {err}") from err


def check_md5(fmt: CifarFormat, archive: Path) -> None:
    got = hash_files([archive], "md5")
    if got != fmt.md5:
        raise ValueError(
            f"{archive} has md5 {got}, but the official {fmt.archive} has {fmt.md5}: the file is "
            f"damaged or not the official archive. Delete it and download {fmt.url} again "
            f"(or set {ENV_VERIFY}=0 to read a hand-made archive in the official format)."
        )


def _read_members(source: Path, fmt: CifarFormat) -> dict[str, bytes]:
    wanted = {*fmt.train_files, *fmt.test_files, fmt.meta_file}
    found: dict[str, bytes] = {}
    if source.is_dir():
        for name in wanted:
            path = source / name
            if path.is_file():
                found[name] = path.read_bytes()
    else:
        seen: dict[str, str] = {}
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and base in wanted:
                        if base in seen:  # two members for one batch: which one is the data?
                            raise _twice(source, base, [seen[base], member.name])
                        seen[base] = member.name
                        handle = tar.extractfile(member)
                        assert handle is not None
                        found[base] = handle.read()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise ValueError(
                f"{source} is not a readable tar.gz archive ({type(err).__name__}: {err}); it is "
                f"probably truncated. Delete it and download {fmt.url} again."
            ) from err
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValueError(
            f"{source} lacks {missing}; expected the official '{fmt.folder}' files "
            f"{sorted(wanted)}. Re-download {fmt.url}."
        )
    return found


def _twice(source: Any, name: str, members: list[str]) -> ValueError:
    return ValueError(
        f"{source} holds {name} twice ({', '.join(members)}); an official archive has one of each "
        "batch, so this one cannot say which is the data. Remove one, or download the archive again."
    )


def read_cifar(fmt: CifarFormat, source: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Decode an official archive or extracted folder into uint8 NHWC arrays."""
    files = _read_members(source, fmt)
    meta = unpickle(files[fmt.meta_file], f"{source}:{fmt.meta_file}")
    classes = tuple(
        c.decode() if isinstance(c, bytes) else str(c)
        for c in _field(meta, fmt.names_key, f"{source}:{fmt.meta_file}")
    )
    arrays: dict[str, np.ndarray] = {}
    for pool, names in (("train", fmt.train_files), ("test", fmt.test_files)):
        xs, ys = [], []
        for name in names:
            where = f"{source}:{name}"
            batch = unpickle(files.pop(name), where)
            x = chw_rows_to_nhwc(_field(batch, "data", where), 32, where)
            y = _labels(batch, fmt.label_key, len(x), where)
            if len(y) and (y.min() < 0 or y.max() >= len(classes)):
                raise ValueError(f"{where}: labels outside 0..{len(classes) - 1}.")
            xs.append(x)
            ys.append(y)
        arrays[f"{pool}_x"] = np.concatenate(xs)
        arrays[f"{pool}_y"] = np.concatenate(ys)
    return arrays, classes


# ---- ImageNet16 -------------------------------------------------------------------------
def locate_imagenet16(root: str | Path | None) -> list[Path]:
    """The source files: the 11 batch files (10 train, then val), or the two zips as
    downloaded (read in memory); else a FileNotFoundError saying how to get them."""
    base = Path(root) if root is not None else default_raw_dir() / "ImageNet16"
    for folder in (base, base / "ImageNet16"):
        files = [folder / n for n in (*IMAGENET16_TRAIN, IMAGENET16_TEST)]
        if all(f.is_file() for f in files):
            return files
        zips = [folder / n for n in IMAGENET16_ZIPS]
        if all(z.is_file() for z in zips):
            return zips
    missing = [n for n in (*IMAGENET16_TRAIN, IMAGENET16_TEST) if not (base / n).is_file()]
    raise FileNotFoundError(
        f"ImageNet16-120: missing {missing} in {base}. " + IMAGENET16_HELP.format(where=base)
    )


def _imagenet16_batches(files: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(where, payload) of each batch in order train_data_batch_1..10, val_data."""
    names = (*IMAGENET16_TRAIN, IMAGENET16_TEST)
    if [f.name for f in files] != list(IMAGENET16_ZIPS):
        for path in files:
            yield str(path), path.read_bytes()
        return
    try:
        archives = [zipfile.ZipFile(z) for z in files]
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{files}: not readable zips ({err}); download them again.") from err
    try:
        members: dict[str, tuple[zipfile.ZipFile, zipfile.ZipInfo]] = {}
        for zf in archives:
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if info.is_dir() or base not in names:
                    continue
                if base in members:
                    other = members[base]
                    shown = [f"{other[0].filename}:{other[1].filename}", f"{zf.filename}:{info.filename}"]
                    raise _twice(" + ".join(map(str, files)), base, shown)
                members[base] = (zf, info)
        missing = [n for n in names if n not in members]
        if missing:
            raise ValueError(f"{files} lack {missing}; are they the 16x16 'Imagenet16' pickled batches?")
        for name in names:
            zf, info = members[name]
            try:
                yield f"{zf.filename}:{info.filename}", zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ValueError(f"{zf.filename}: damaged member {info.filename} ({err}).") from err
    finally:
        for zf in archives:
            zf.close()


def read_imagenet16(files: list[Path]) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Keep the images labelled 1..120 (the paper's ImageNet16-120), relabelled 0..119."""
    pools: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"train": ([], []), "test": ([], [])}
    for k, (where, payload) in enumerate(_imagenet16_batches(files)):
        batch = unpickle(payload, where)
        y = np.asarray(_field(batch, "labels", where), dtype=np.int64).reshape(-1)
        if len(y) and y.min() < 1:
            raise ValueError(f"{where}: labels must be 1-based (1..1000), found {y.min()}.")
        keep = y <= IMAGENET16_CLASSES
        data = np.asarray(_field(batch, "data", where))
        if data.ndim != 2 or len(data) != len(y):
            raise ValueError(f"{where}: 'data' should be [n, 768] with n = {len(y)} labels.")
        xs, ys = pools["train" if k < len(IMAGENET16_TRAIN) else "test"]
        xs.append(chw_rows_to_nhwc(data[keep], 16, where))
        ys.append(y[keep] - 1)
    arrays = {}
    for pool, (xs, ys) in pools.items():
        arrays[f"{pool}_x"], arrays[f"{pool}_y"] = np.concatenate(xs), np.concatenate(ys)
    classes = tuple(str(k) for k in range(1, IMAGENET16_CLASSES + 1))  # the original 1-based ids
    return arrays, classes
