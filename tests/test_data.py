"""nb201.data: official-format readers on tiny generated files, the folder reader (tiny
zip/dir and, when present, the real shared CIFAR-10 zip), caching, splits, augmentation,
and the errors bad input must raise."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nb201.data import (
    Augment,
    ImageData,
    get_split,
    load_dataset,
    normalize,
    paper_cifar10_valid,
    stratified_partition,
    stratified_subset,
    valid_splits,
)
from nb201.data import folder as folder_mod
from nb201.data import official_archives as official
from nb201.data.imagedata import CIFAR10_MEAN, CIFAR10_STD


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own data dir: nothing is written into the repository."""
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NB201_VERIFY_MD5", raising=False)


def cache_entries(root: Path) -> list[str]:
    cache = root / "data" / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# ---- generators of official-format files ------------------------------------------------
def pattern(n: int, side: int, offset: int = 0) -> np.ndarray:
    """Distinct, position- and channel-dependent pixels, uint8 [n, side, side, 3]."""
    k, r, c, ch = np.meshgrid(np.arange(n), np.arange(side), np.arange(side), np.arange(3), indexing="ij")
    return ((k * 31 + r * side + c + ch * 85 + offset) % 256).astype(np.uint8)


def py2_pickle(obj: object) -> bytes:
    """Pickle the way the official (Python 2 era) files are: protocol 2, numpy.core names."""
    payload = pickle.dumps(obj, protocol=2)
    return payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def rows(x: np.ndarray) -> np.ndarray:
    """NHWC -> the official [n, 3*H*W] rows (R plane, G plane, B plane)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar10_files(per_batch: int = 3, n_test: int = 4) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    files, xs, ys = {}, [], []
    for i in range(1, 6):
        x = pattern(per_batch, 32, offset=i)
        y = [(i + j) % 10 for j in range(per_batch)]
        files[f"data_batch_{i}"] = py2_pickle(
            {b"batch_label": b"training batch %d of 5" % i, b"labels": y, b"data": rows(x), b"filenames": []}
        )
        xs.append(x)
        ys += y
    test_x = pattern(n_test, 32, offset=99)
    test_y = [j % 10 for j in range(n_test)]
    files["test_batch"] = py2_pickle({b"labels": test_y, b"data": rows(test_x)})
    files["batches.meta"] = py2_pickle(
        {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": per_batch}
    )
    truth = {
        "train_x": np.concatenate(xs),
        "train_y": np.array(ys),
        "test_x": test_x,
        "test_y": np.array(test_y),
    }
    return files, truth


def cifar100_files(n: int = 6, n_test: int = 4) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    train_x, test_x = pattern(n, 32, 5), pattern(n_test, 32, 7)
    train_y, test_y = [(7 * j) % 100 for j in range(n)], [(13 * j) % 100 for j in range(n_test)]
    files = {
        "train": py2_pickle({b"data": rows(train_x), b"fine_labels": train_y, b"coarse_labels": [0] * n}),
        "test": py2_pickle({b"data": rows(test_x), b"fine_labels": test_y, b"coarse_labels": [0] * n_test}),
        "meta": py2_pickle({b"fine_label_names": [f"c{k}".encode() for k in range(100)]}),
    }
    truth = {"train_x": train_x, "train_y": np.array(train_y), "test_x": test_x, "test_y": np.array(test_y)}
    return files, truth


def write_tar(path: Path, folder: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def write_dir(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    for name, payload in files.items():
        (path / name).write_bytes(payload)
    return path


@pytest.fixture
def cifar10_archive(tmp_path):
    files, truth = cifar10_files()
    return write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files), truth


# ---- CIFAR ------------------------------------------------------------------------------
def test_cifar10_archive_decodes_to_nhwc_and_caches(tmp_path, cifar10_archive, monkeypatch):
    archive, truth = cifar10_archive
    data = load_dataset("cifar10", root=tmp_path, verify=False)
    assert data.name == "cifar10"
    assert data.train_x.shape == (15, 32, 32, 3) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (4, 32, 32, 3)
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(data, key), value)
    assert data.train_y.dtype == np.int64
    assert data.classes == tuple(CIFAR10_NAMES)
    assert data.mean == pytest.approx(CIFAR10_MEAN) and data.std == pytest.approx(CIFAR10_STD)
    assert data.mean[0] == pytest.approx(125.3 / 255)
    assert len(cache_entries(tmp_path)) == 1

    # The second load must come from the cache, not from the archive.
    def no_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(official, "read_cifar", no_decode)
    again = load_dataset("cifar10", root=archive, verify=False)
    np.testing.assert_array_equal(again.train_x, data.train_x)
    np.testing.assert_array_equal(again.test_y, data.test_y)


def test_cifar10_extracted_folder_matches_archive(tmp_path, cifar10_archive):
    files, truth = cifar10_files()
    folder = write_dir(tmp_path / "x" / "cifar-10-batches-py", files)
    for root in (folder, folder.parent):
        data = load_dataset("cifar10", root=root, verify=True)  # folders have no archive MD5
        np.testing.assert_array_equal(data.train_x, truth["train_x"])
        np.testing.assert_array_equal(data.test_y, truth["test_y"])


def test_damaged_cache_entry_is_rebuilt(tmp_path, cifar10_archive):
    _, truth = cifar10_archive
    load_dataset("cifar10", root=tmp_path, verify=False)  # mapped arrays dropped at once
    (entry,) = cache_entries(tmp_path)
    (tmp_path / "data" / "cache" / entry / "train_x.npy").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="rebuilding damaged cache entry"):
        again = load_dataset("cifar10", root=tmp_path, verify=False)
    np.testing.assert_array_equal(again.train_x, truth["train_x"])
    assert cache_entries(tmp_path) == [entry]


def test_cifar_cache_key_follows_content(tmp_path):
    files, _ = cifar10_files()
    archive = write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    first = load_dataset("cifar10", root=archive, verify=False)
    files2, truth2 = cifar10_files(per_batch=2)
    write_tar(archive, "cifar-10-batches-py", files2)  # same path, new content
    second = load_dataset("cifar10", root=archive, verify=False)
    assert len(first.train_y) == 15 and len(second.train_y) == 10
    np.testing.assert_array_equal(second.train_x, truth2["train_x"])
    assert len(cache_entries(tmp_path)) == 2


def test_cifar100_reads_fine_labels(tmp_path):
    files, truth = cifar100_files()
    write_tar(tmp_path / "cifar-100-python.tar.gz", "cifar-100-python", files)
    data = load_dataset("cifar100", root=tmp_path, verify=False)
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(data, key), value)
    assert data.num_classes == 100 and data.classes[7] == "c7"
    assert data.mean[0] == pytest.approx(129.3 / 255) and data.std[2] == pytest.approx(70.4 / 255)


def test_md5_mismatch_is_reported_and_leaves_no_cache(tmp_path, cifar10_archive):
    with pytest.raises(ValueError, match=r"md5.*c58f30108f718f92721af3b95e74349a.*cs\.toronto\.edu"):
        load_dataset("cifar10", root=tmp_path)
    assert cache_entries(tmp_path) == []


def test_md5_check_can_be_disabled_by_env(tmp_path, cifar10_archive, monkeypatch):
    monkeypatch.setenv("NB201_VERIFY_MD5", "0")
    assert len(load_dataset("cifar10", root=tmp_path).train_y) == 15


def test_truncated_archive(tmp_path, cifar10_archive):
    archive, _ = cifar10_archive
    payload = archive.read_bytes()
    archive.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="truncated.*download"):
        load_dataset("cifar10", root=tmp_path, verify=False)
    assert cache_entries(tmp_path) == []


def test_bad_pickle_in_archive(tmp_path):
    files, _ = cifar10_files()
    files["data_batch_3"] = b"this is not a pickle"
    write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with pytest.raises(ValueError, match="data_batch_3.*not a valid pickled batch"):
        load_dataset("cifar10", root=tmp_path, verify=False)
    assert cache_entries(tmp_path) == []


def test_pickle_with_foreign_objects_is_refused(tmp_path):
    files, _ = cifar10_files()
    files["test_batch"] = pickle.dumps({"data": Path("x")})  # anything but numpy arrays
    write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with pytest.raises(ValueError, match="test_batch.*unexpected object"):
        load_dataset("cifar10", root=tmp_path, verify=False)


def test_archive_missing_a_batch(tmp_path):
    files, _ = cifar10_files()
    del files["data_batch_5"]
    write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with pytest.raises(ValueError, match="data_batch_5"):
        load_dataset("cifar10", root=tmp_path, verify=False)


def test_a_batch_twice_in_the_archive_is_refused(tmp_path):
    """Two members for one batch (another folder, or appended to the tar): one would be read
    silently; now the archive is refused with both members named."""
    files, _ = cifar10_files()
    path = write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with tarfile.open(path, "w:gz") as tar:
        for folder in ("cifar-10-batches-py", "copy"):
            for name, payload in files.items():
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(
        ValueError, match=r"holds data_batch_1 twice \(cifar-10-batches-py/data_batch_1, copy/data_batch_1\)"
    ):
        load_dataset("cifar10", root=tmp_path, verify=False)


def test_missing_archive_names_path_and_url(tmp_path):
    expected = tmp_path / "nowhere" / "cifar-10-python.tar.gz"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", root=tmp_path / "nowhere", download=False)
    assert str(expected) in str(info.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(info.value)


def test_missing_archive_default_location_is_data_raw(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"data/raw/cifar-100-python\.tar\.gz.*cifar-100-python"):
        load_dataset("cifar100", download=False)


def test_offline_download_failure_explains_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(official.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match=r"download failed.*no network.*curl -L -o .*cifar-10-python"):
        load_dataset("cifar10", root=tmp_path)
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*part"))


class _Response(io.BytesIO):
    headers: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_verifies_md5_and_lands_atomically(tmp_path, monkeypatch):
    files, truth = cifar10_files()
    payload = write_tar(tmp_path / "src.tar.gz", "cifar-10-batches-py", files).read_bytes()
    fmt = official.CIFAR_FORMATS["cifar10"]
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return _Response(payload)

    monkeypatch.setattr(official.urllib.request, "urlopen", fake_urlopen)
    raw = tmp_path / "raw"
    # A wrong checksum: the partial download is removed and nothing appears under the name.
    with pytest.raises(ValueError, match="md5"):
        load_dataset("cifar10", root=raw)
    assert not (raw / fmt.archive).exists() and list(raw.iterdir()) == []
    # The right checksum (of our tiny archive): downloaded, verified, decoded.
    good = dataclasses.replace(fmt, md5=official.hash_files([tmp_path / "src.tar.gz"], "md5"))
    monkeypatch.setitem(official.CIFAR_FORMATS, "cifar10", good)
    data = load_dataset("cifar10", root=raw)
    assert urls == [fmt.url, fmt.url]
    assert (raw / fmt.archive).read_bytes() == payload
    np.testing.assert_array_equal(data.train_x, truth["train_x"])


# ---- ImageNet16-120 ---------------------------------------------------------------------
def write_imagenet16(folder: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    xs, ys = [], []
    for i in range(1, 11):
        x = pattern(per_batch, 16, offset=i)
        y = np.array([1 + (i * 37 + j * 59) % 240 for j in range(per_batch)])  # half beyond 120
        with open(folder / f"train_data_batch_{i}", "wb") as f:
            pickle.dump({"data": rows(x), "labels": y.tolist(), "mean": np.zeros(768)}, f)
        xs.append(x)
        ys.append(y)
    val_x = pattern(6, 16, offset=50)
    val_y = np.array([1, 120, 121, 1000, 60, 2])
    with open(folder / "val_data", "wb") as f:
        pickle.dump({"data": rows(val_x), "labels": val_y.tolist()}, f)
    train_x, train_y = np.concatenate(xs), np.concatenate(ys)
    keep, vkeep = train_y <= 120, val_y <= 120
    return {
        "train_x": train_x[keep],
        "train_y": train_y[keep] - 1,
        "test_x": val_x[vkeep],
        "test_y": val_y[vkeep] - 1,
    }


def test_imagenet16_keeps_labels_1_to_120(tmp_path):
    truth = write_imagenet16(tmp_path / "raw" / "ImageNet16")
    data = load_dataset("ImageNet16-120", root=tmp_path / "raw")  # finds the ImageNet16/ sub-folder
    assert data.train_x.shape[1:] == (16, 16, 3)
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(data, key), value)
    assert data.test_y.tolist() == [0, 119, 59, 1]
    assert data.num_classes == 120 and 0 < len(data.train_y) < 40
    assert data.mean[0] == pytest.approx(122.68 / 255)


def test_imagenet16_default_location(tmp_path):
    write_imagenet16(tmp_path / "data" / "raw" / "ImageNet16")
    assert load_dataset("ImageNet16-120").test_y.tolist() == [0, 119, 59, 1]


def test_imagenet16_from_the_downloaded_zips(tmp_path):
    truth = write_imagenet16(tmp_path / "batches")
    with zipfile.ZipFile(tmp_path / "Imagenet16_train.zip", "w") as zf:
        for i in range(1, 11):
            zf.write(tmp_path / "batches" / f"train_data_batch_{i}", f"Imagenet16_train/train_data_batch_{i}")
    with zipfile.ZipFile(tmp_path / "Imagenet16_val.zip", "w") as zf:
        zf.write(tmp_path / "batches" / "val_data", "val_data")
    data = load_dataset("ImageNet16-120", root=tmp_path)
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(data, key), value)


def test_imagenet16_zips_with_a_batch_twice_are_refused(tmp_path):
    write_imagenet16(tmp_path / "batches")
    with zipfile.ZipFile(tmp_path / "Imagenet16_train.zip", "w") as zf:
        for i in range(1, 11):
            zf.write(tmp_path / "batches" / f"train_data_batch_{i}", f"Imagenet16_train/train_data_batch_{i}")
    with zipfile.ZipFile(tmp_path / "Imagenet16_val.zip", "w") as zf:
        zf.write(tmp_path / "batches" / "val_data", "val_data")
        zf.write(tmp_path / "batches" / "train_data_batch_3", "extra/train_data_batch_3")
    with pytest.raises(
        ValueError, match=r"holds train_data_batch_3 twice \(.*Imagenet16_train/train_data_batch_3, "
    ):
        load_dataset("ImageNet16-120", root=tmp_path)


def test_imagenet16_missing_files_say_where_to_get_them(tmp_path):
    write_imagenet16(tmp_path / "in16")
    (tmp_path / "in16" / "val_data").unlink()
    with pytest.raises(FileNotFoundError, match=r"val_data.*image-net\.org.*Imagenet16_train\.zip"):
        load_dataset("ImageNet16-120", root=tmp_path / "in16")


def test_imagenet16_corrupt_batch(tmp_path):
    write_imagenet16(tmp_path / "in16")
    (tmp_path / "in16" / "train_data_batch_4").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="train_data_batch_4"):
        load_dataset("ImageNet16-120", root=tmp_path / "in16")
    assert cache_entries(tmp_path) == []


# ---- digits -----------------------------------------------------------------------------
def test_digits_is_embedded_and_stratified():
    data = load_dataset("digits")
    assert data.name == "digits" and data.num_classes == 10
    assert data.train_x.shape == (1198, 8, 8, 1) and data.test_x.shape == (599, 8, 8, 1)
    assert data.train_x.dtype == np.uint8 and data.train_x.max() == 255 and data.train_x.min() == 0
    counts = np.bincount(data.test_y, minlength=10) / np.bincount(data.train_y, minlength=10)
    assert np.all(np.abs(counts - 0.5) < 0.03)  # 1/3 : 2/3 in every class
    assert len(data.mean) == 1 and 0.2 < data.mean[0] < 0.4
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.train_x, data.train_x)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"unknown dataset 'mnist'.*cifar10.*cifar100.*ImageNet16-120.*digits"
    ):
        load_dataset("mnist")


# ---- class-per-folder datasets ----------------------------------------------------------
def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).save(buf, format="PNG")
    return buf.getvalue()


def folder_files(grey: bool = False, side: int = 8) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """Images named so that file order != creation order; classes 'cat' < 'dog' < 'emu'."""
    files, truth = {}, {}
    for pool, n in (("train", 4), ("test", 2)):
        xs, ys = [], []
        for label, cls in enumerate(("cat", "dog", "emu")):
            for j in range(n):
                x = pattern(1, side, offset=label * 10 + j + (pool == "test") * 100)[0]
                x = x[..., :1] if grey else x
                files[f"{pool}/{cls}/img{j:02d}.png"] = png(x)
                xs.append(x)
                ys.append(label)
        truth[f"{pool}_x"], truth[f"{pool}_y"] = np.stack(xs), np.array(ys)
    return files, truth


def write_zip(path: Path, files: dict[str, bytes], top: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in reversed(list(files.items())):
            zf.writestr(top + name, payload)
        zf.writestr("__MACOSX/._junk.png", b"not an image")
    return path


def test_folder_zip_with_top_folder(tmp_path):
    files, truth = folder_files()
    path = write_zip(tmp_path / "tiny.zip", files, top="tiny/")
    data = load_dataset(f"folder:{path}")
    assert data.name == "tiny" and data.classes == ("cat", "dog", "emu")
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(data, key), value)
    mean = truth["train_x"].reshape(-1, 3).mean(0) / 255
    assert data.mean == pytest.approx(tuple(mean))
    assert valid_splits(data) == ("tiny", "tiny-valid")


def test_folder_directory_and_relative_root(tmp_path):
    files, truth = folder_files(grey=True)
    write_dir(tmp_path / "mine" / "train", {})
    for name, payload in files.items():
        (tmp_path / "mine" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mine" / name).write_bytes(payload)
    data = load_dataset("folder:mine", root=tmp_path)
    assert data.train_x.shape == (12, 8, 8, 1)  # greyscale stays one channel
    np.testing.assert_array_equal(data.test_x, truth["test_x"])
    np.testing.assert_array_equal(data.train_y, truth["train_y"])


def test_folder_named_like_a_builtin_is_renamed(tmp_path):
    files, _ = folder_files()
    data = load_dataset(f"folder:{write_zip(tmp_path / 'cifar10.zip', files)}")
    assert data.name == "cifar10-folder"
    assert valid_splits(data) == ("cifar10-folder", "cifar10-folder-valid")


def test_folder_named_like_a_valid_form(tmp_path):
    files, _ = folder_files()
    data = load_dataset(f"folder:{write_zip(tmp_path / 'foo-valid.zip', files)}")
    plain = get_split(data, "foo-valid")
    assert len(plain.train) == 12 and sorted(plain.evals) == ["ori-test", "x-test", "x-valid"]
    halves = get_split(data, "foo-valid-valid")
    assert len(halves.train) == 6 and halves.evals["x-valid"][0] == "train"


def test_folder_parallel_decode_equals_serial(tmp_path, monkeypatch):
    files, truth = folder_files()
    path = write_zip(tmp_path / "tiny.zip", files)
    listing = folder_mod.list_folder(path)
    monkeypatch.setattr(folder_mod, "_POOL_MIN", 1)
    monkeypatch.setattr(folder_mod, "_CHUNK", 5)
    parallel = folder_mod.decode_folder(listing, workers=2)
    serial = folder_mod.decode_folder(listing, workers=1)
    for key in truth:
        np.testing.assert_array_equal(parallel[key], serial[key])
        np.testing.assert_array_equal(parallel[key], truth[key])


def test_folder_mixed_sizes_error_and_resize(tmp_path):
    files, _ = folder_files()
    files["test/dog/img01.png"] = png(pattern(1, 12)[0])
    path = write_zip(tmp_path / "mixed.zip", files)
    with pytest.raises(ValueError, match=r"test/dog/img01\.png is 12x12.*8x8.*image_size"):
        load_dataset(f"folder:{path}")
    assert cache_entries(tmp_path) == []
    data = load_dataset(f"folder:{path}", image_size=6)
    assert data.train_x.shape == (12, 6, 6, 3) and data.test_x.shape == (6, 6, 6, 3)


def test_folder_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.zip"):
        load_dataset(f"folder:{tmp_path / 'absent.zip'}")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK not really a zip")
    with pytest.raises(ValueError, match="not a readable zip"):
        load_dataset(f"folder:{bad}")
    flat = write_zip(tmp_path / "flat.zip", {"a/img.png": png(pattern(1, 8)[0])})
    with pytest.raises(ValueError, match="expected layout"):
        load_dataset(f"folder:{flat}")
    files, _ = folder_files()
    files["train/cat/img01.png"] = b"\x89PNG broken"
    broken = write_zip(tmp_path / "broken.zip", files)
    with pytest.raises(ValueError, match=r"cannot decode image train/cat/img01\.png"):
        load_dataset(f"folder:{broken}")
    files, _ = folder_files()
    files["test/yak/img00.png"] = png(pattern(1, 8)[0])
    with pytest.raises(ValueError, match=r"test classes \['yak'\]"):
        load_dataset(f"folder:{write_zip(tmp_path / 'yak.zip', files)}")
    assert cache_entries(tmp_path) == []
    with pytest.raises(ValueError, match="folder datasets only"):
        load_dataset("digits", image_size=4)


# ---- splits -----------------------------------------------------------------------------
def synthetic(name: str, n: int, m: int, classes: int = 10, seed: int = 0) -> ImageData:
    rng = np.random.default_rng(seed)
    return ImageData(
        name=name,
        train_x=rng.integers(0, 256, (n, 2, 2, 3), dtype=np.uint8),
        train_y=rng.integers(0, classes, n).astype(np.int64),
        test_x=rng.integers(0, 256, (m, 2, 2, 3), dtype=np.uint8),
        test_y=np.arange(m, dtype=np.int64) % classes,
        classes=tuple(map(str, range(classes))),
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
    )


def test_paper_cifar10_valid_anchors():
    train, valid = paper_cifar10_valid()
    assert len(train) == len(valid) == 25_000
    assert (train[0], train[10], train[111]) == (0, 26, 203)
    assert (valid[0], valid[10], valid[111]) == (1, 18, 242)
    assert np.intersect1d(train, valid).size == 0
    assert np.array_equal(np.union1d(train, valid), np.arange(50_000))


def test_cifar10_valid_uses_paper_procedure_on_official_order(tmp_path):
    data = synthetic("cifar10", 50_000, 100)
    split = get_split(data, "cifar10-valid", tmp_path)
    assert split.procedure == "paper-cifar10-valid"
    assert split.train[[0, 10, 111]].tolist() == [0, 26, 203]
    pool, valid = split.evals["x-valid"]
    assert pool == "train" and valid[[0, 10, 111]].tolist() == [1, 18, 242]
    assert split.evals["ori-test"][0] == "test" and len(split.evals["ori-test"][1]) == 100
    full = get_split(data, "cifar10", tmp_path)
    assert len(full.train) == 50_000 and list(full.evals) == ["ori-test"]


def test_cifar100_style_split_halves_the_test_set(tmp_path):
    data = synthetic("cifar100", 300, 1_000)
    split = get_split(data, "cifar100", tmp_path)
    assert np.array_equal(split.train, np.arange(300))
    (pv, xv), (pt, xt), (po, ori) = (split.evals[k] for k in ("x-valid", "x-test", "ori-test"))
    assert pv == pt == po == "test"
    assert len(xv) == len(xt) == 500 and np.intersect1d(xv, xt).size == 0
    assert np.array_equal(np.union1d(xv, xt), ori) and len(ori) == 1_000
    assert np.all(np.bincount(data.test_y[xv]) == 50) and np.all(np.bincount(data.test_y[xt]) == 50)
    assert sorted(split.evals) == ["ori-test", "x-test", "x-valid"]
    x, y = split.eval_arrays(data, "x-test")
    np.testing.assert_array_equal(y, data.test_y[xt])
    assert x.shape == (500, 2, 2, 3)


def test_split_is_written_once_and_reused(tmp_path, monkeypatch):
    data = synthetic("digits", 200, 61)
    first = get_split(data, "digits-valid", tmp_path)
    assert first.path is not None and first.path.parent == tmp_path and "digits" in first.path.name
    assert first.procedure == "stratified"
    from nb201.data import splits as splits_mod

    monkeypatch.setattr(splits_mod, "_compute", lambda *a: pytest.fail("recomputed"))
    second = get_split(data, "digits-valid", tmp_path)
    assert np.array_equal(first.train, second.train)
    assert np.array_equal(first.evals["x-valid"][1], second.evals["x-valid"][1])
    assert np.intersect1d(first.train, first.evals["x-valid"][1]).size == 0
    assert len(first.train) + len(first.evals["x-valid"][1]) == 200


def test_split_default_dir_and_other_data_gets_other_file(tmp_path):
    a = get_split(synthetic("digits", 100, 40, seed=1), "digits")
    b = get_split(synthetic("digits", 100, 40, seed=2), "digits")
    assert a.path.parent == tmp_path / "data" / "splits"
    assert a.path != b.path and len(list(a.path.parent.iterdir())) == 2


def test_tiny_cifar10_falls_back_to_stratified(tmp_path, cifar10_archive):
    data = load_dataset("cifar10", root=tmp_path, verify=False)
    split = get_split(data, "cifar10-valid")
    assert split.procedure == "stratified" and len(split.train) == 8 and len(split.evals["x-valid"][1]) == 7


def test_unknown_split_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown split 'cifar100'.*\['cifar10', 'cifar10-valid'\]"):
        get_split(synthetic("cifar10", 10, 10), "cifar100", tmp_path)
    with pytest.raises(ValueError, match=r"\['ImageNet16-120'\]"):
        get_split(synthetic("ImageNet16-120", 10, 10), "ImageNet16-120-valid", tmp_path)


def test_corrupt_split_file_is_reported(tmp_path):
    data = synthetic("digits", 50, 20)
    split = get_split(data, "digits", tmp_path)
    split.path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="delete it"):
        get_split(data, "digits", tmp_path)


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=1, max_size=120),
    fraction=st.sampled_from([0.0, 0.25, 1 / 3, 0.5, 0.9, 1.0]),
    seed=st.integers(0, 5),
)
def test_stratified_partition_properties(labels, fraction, seed):
    y = np.array(labels)
    a, b = stratified_partition(y, fraction, seed)
    assert len(a) == int(np.floor(len(y) * fraction + 0.5))
    assert np.intersect1d(a, b).size == 0 and np.array_equal(np.union1d(a, b), np.arange(len(y)))
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)
    for cls in np.unique(y):
        assert abs(np.sum(y[a] == cls) - fraction * np.sum(y == cls)) < 1 + 1e-9
    a2, b2 = stratified_partition(y, fraction, seed)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)


def test_stratified_subset():
    labels = np.repeat(np.arange(4), 25)
    pool = np.arange(0, 100, 2)
    sub = stratified_subset(pool, labels, 0.5)
    assert len(sub) == 25 and np.isin(sub, pool).all()
    assert np.array_equal(stratified_subset(pool, labels, 1.0), pool)


# ---- augmentation -----------------------------------------------------------------------
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def batch(n: int = 32, side: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, side, side, 3), generator=gen, dtype=torch.uint8)


def reference(x: torch.Tensor, pad: int, oy: int, ox: int, flip: bool) -> torch.Tensor:
    """Per-image pad-crop-flip in pixel space, then normalize: the torchvision recipe."""
    h, w = x.shape[:2]
    padded = torch.zeros(h + 2 * pad, w + 2 * pad, 3, dtype=torch.uint8)
    padded[pad : pad + h, pad : pad + w] = x
    crop = padded[oy : oy + h, ox : ox + w]
    crop = crop.flip(1) if flip else crop
    out = (crop.permute(2, 0, 1).float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[
        :, None, None
    ]
    return out


def test_normalize_matches_formula():
    x = batch(4, 8)
    out = normalize(x, MEAN, STD)
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.float32
    expected = torch.stack([reference(img, 0, 0, 0, False) for img in x])
    torch.testing.assert_close(out, expected)
    assert normalize(x.numpy(), MEAN, STD, channels_last=False).is_contiguous()


def test_augment_is_a_pad_crop_flip_of_each_image():
    x = batch(12, 16)
    aug = Augment(MEAN, STD)  # default pad = 16 // 8 = 2
    out = aug(x, torch.Generator().manual_seed(3))
    assert out.shape == (12, 3, 16, 16) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    seen_flip, seen_shift = False, False
    for img, got in zip(x, out):
        matches = [
            (oy, ox, flip)
            for oy in range(5)
            for ox in range(5)
            for flip in (False, True)
            if torch.allclose(got, reference(img, 2, oy, ox, flip), atol=1e-5)
        ]
        assert matches, "output is not any pad-crop-flip of its input"
        seen_flip |= any(f for _, _, f in matches)
        seen_shift |= any((oy, ox) != (2, 2) for oy, ox, _ in matches)
    assert seen_flip and seen_shift


def test_augment_padding_is_zero_pixels_then_normalized():
    x = torch.full((64, 32, 32, 3), 255, dtype=torch.uint8)
    out = Augment(MEAN, STD, pad=4, flip=False)(x, torch.Generator().manual_seed(0))
    pad_value = torch.tensor([(0 - m) / s for m, s in zip(MEAN, STD)])
    white = torch.tensor([(1 - m) / s for m, s in zip(MEAN, STD)])
    values = out.permute(0, 2, 3, 1).reshape(-1, 3)
    is_pad = torch.isclose(values, pad_value).all(1)
    is_white = torch.isclose(values, white).all(1)
    assert is_pad.any() and is_white.any() and (is_pad | is_white).all()
    assert out.min() >= pad_value.min() - 1e-6 and out.max() <= white.max() + 1e-6


def test_augment_is_deterministic_given_the_generator():
    x, aug = batch(), Augment(MEAN, STD)
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    c = aug(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    gen = torch.Generator().manual_seed(7)
    assert not torch.equal(aug(x, gen), aug(x, gen))  # the stream advances between batches


def test_augment_without_crop_and_flip_is_normalize():
    x = batch(8, 8)
    aug = Augment(MEAN, STD, pad=0, flip=False, channels_last=False)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.is_contiguous()
    torch.testing.assert_close(out, normalize(x, MEAN, STD))
    torch.testing.assert_close(aug.normalize(x), out)


def test_augment_flip_only_mirrors_some_images():
    x = batch(64, 8)
    out = Augment(MEAN, STD, pad=0)(x, torch.Generator().manual_seed(1))
    plain = normalize(x, MEAN, STD)
    same = (out == plain).flatten(1).all(1)
    mirrored = (out == plain.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()


def test_augment_offsets_and_flips_are_uniform():
    """A single marked pixel reveals each image's (row offset, column offset, flip)."""
    n, side = 3_600, 8
    x = torch.zeros((n, side, side, 1), dtype=torch.uint8)
    x[:, 3, 2] = 255
    out = Augment((0.0,), (1.0,), pad=1)(x, torch.Generator().manual_seed(0))
    hot = (out[:, 0] > 0.5).flatten(1).float().argmax(1)
    r, c = hot // side, hot % side
    flipped = c >= side // 2  # marker column 2 lands at 1..3 unflipped, 4..6 flipped
    oy = 3 + 1 - r  # output row = 3 + pad - oy
    ox = torch.where(flipped, c - (side - 1 - 2) + 1, 2 + 1 - c)
    combos = torch.bincount((oy * 3 + ox) * 2 + flipped.long(), minlength=18)
    assert combos.sum() == n and (oy.min(), oy.max(), ox.min(), ox.max()) == (0, 2, 0, 2)
    assert combos.min() > 120 and combos.max() < 280  # expected 200 each


def test_augment_one_channel_and_bad_input():
    x = torch.randint(0, 256, (5, 8, 8, 1), dtype=torch.uint8)
    out = Augment((0.3,), (0.4,))(x, torch.Generator().manual_seed(0))
    assert out.shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match="uint8 batch"):
        Augment(MEAN, STD)(x.float(), torch.Generator())
    with pytest.raises(ValueError, match="channels"):
        Augment(MEAN, STD)(x, torch.Generator())
    with pytest.raises(ValueError, match="std must be positive"):
        Augment(MEAN, (0.1, 0.0, 0.2))


# ---- the real shared CIFAR-10 zip -------------------------------------------------------
@pytest.fixture(scope="module")
def shared_cache(request) -> Path:
    """The decoded real zip persists in pytest's own cache folder (.pytest_cache, ignored by
    git): the first run decodes it (several seconds), later runs hit the cache. Entries are
    keyed by the zip's content hash, so a changed zip is decoded afresh."""
    return Path(request.config.cache.mkdir("nb201-data-cache"))


def test_shared_cifar10_zip(cifar10_jpeg_zip, shared_cache, monkeypatch, tmp_path):
    data = load_dataset(f"folder:{cifar10_jpeg_zip}", cache_dir=shared_cache)
    assert data.name == "cifar10-jpeg"
    assert data.train_x.shape == (50_000, 32, 32, 3) and data.test_x.shape == (10_000, 32, 32, 3)
    assert data.classes == tuple(CIFAR10_NAMES)
    assert np.all(np.bincount(data.train_y) == 5_000) and np.all(np.bincount(data.test_y) == 1_000)
    # Close to the paper's CIFAR-10 statistics (JPEG re-encoding shifts them a little).
    assert data.mean == pytest.approx(CIFAR10_MEAN, abs=0.01) and data.std == pytest.approx(
        CIFAR10_STD, abs=0.01
    )

    monkeypatch.setattr(folder_mod, "decode_folder", lambda *a, **k: pytest.fail("decoded twice"))
    again = load_dataset(f"folder:{cifar10_jpeg_zip}", cache_dir=shared_cache)
    assert np.array_equal(again.test_x[::997], data.test_x[::997])

    split = get_split(again, "cifar10-jpeg", tmp_path)
    xv, xt = split.evals["x-valid"][1], split.evals["x-test"][1]
    assert len(split.train) == 50_000 and len(xv) == len(xt) == 5_000
    assert np.all(np.bincount(data.test_y[xv]) == 500)
    valid = get_split(again, "cifar10-jpeg-valid", tmp_path)
    assert len(valid.train) == len(valid.evals["x-valid"][1]) == 25_000
    assert np.all(np.bincount(data.train_y[valid.train]) == 2_500)


def test_the_dataset_registry_refuses_what_would_make_a_name_ambiguous():
    from nb201.data import registry
    from nb201.data.builtin import CIFAR10

    def reader(root, **options):
        raise AssertionError("never located")

    with pytest.raises(ValueError, match="registered already"):
        registry.register_dataset(registry.DatasetEntry("cifar10", reader))
    with pytest.raises(ValueError, match="-valid"):
        registry.register_dataset(registry.DatasetEntry("mine-valid", reader))
    with pytest.raises(ValueError, match="needs `locate`"):
        registry.register_dataset(registry.DatasetEntry("mine"))
    assert registry.register_dataset(CIFAR10) is CIFAR10  # the same entry again is no conflict
    assert registry.registered_names()[:4] == ("cifar10", "cifar100", "ImageNet16-120", "digits")
    # a name nobody registered (a folder dataset) gets the defaults: both forms, halved test set
    assert registry.dataset_entry("tiny") == registry.DatasetEntry("tiny")
    assert valid_splits(synthetic("cifar100", 10, 10)) == ("cifar100",)
    assert valid_splits(synthetic("cifar10", 10, 10)) == ("cifar10", "cifar10-valid")
