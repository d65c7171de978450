"""How much the decoded-array cache and batched augmentation save, measured side by side.

1. Loading the real CIFAR-10 JPEG zip: the reference is the straightforward decode a user
   would write (zipfile + Pillow, one image after another); ours cold (first load: decode
   in a small process pool, write the cache) and warm (later loads: hash the zip, memory-map
   the arrays), warm also in a fresh process so no in-process state helps. Target: a
   warm load of CIFAR-size data under 1 s.
2. Augmentation: the reference is the original recipe applied per image (pad 4, random
   crop, random flip, normalize; torchvision-style, here in plain torch ops), ours is
   `Augment` on the whole batch.

Run from the repository root:  python benchmarks/data_cache.py [--zip PATH] [--batches N]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nb201.data import Augment, load_dataset

DEFAULT_ZIP = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.zip"


def reference_decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The plain way: read every member, decode it with Pillow, stack."""
    images, labels, classes = [], [], {}
    with zipfile.ZipFile(path) as zf:
        for name in sorted(n for n in zf.namelist() if n.endswith(".jpg")):
            cls = name.split("/")[-2]
            labels.append(classes.setdefault(cls, len(classes)))
            with Image.open(io.BytesIO(zf.read(name))) as img:
                images.append(np.asarray(img.convert("RGB")))
    return np.stack(images), np.array(labels)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def warm_in_fresh_process(zip_path: Path, cache: Path) -> float:
    code = (
        "import time; t = time.perf_counter(); from nb201.data import load_dataset; "
        f"d = load_dataset('folder:{zip_path}', cache_dir={str(cache)!r}); "
        "int(d.train_x[-1].sum()); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def reference_augment(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator):
    """Per image, as RandomHorizontalFlip + RandomCrop(32, padding=4) + ToTensor + Normalize."""
    out = []
    for img in x:  # img: HWC uint8
        chw = img.permute(2, 0, 1)
        if torch.rand(1, generator=gen).item() < 0.5:
            chw = chw.flip(2)
        padded = torch.nn.functional.pad(chw, (4, 4, 4, 4))
        i, j = torch.randint(0, 9, (2,), generator=gen).tolist()
        crop = padded[:, i : i + 32, j : j + 32].float().div(255)
        out.append((crop - mean[:, None, None]) / std[:, None, None])
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--batches", type=int, default=20, help="augmentation batches of 256")
    parser.add_argument("--skip-reference-decode", action="store_true")
    args = parser.parse_args()
    if not args.zip.is_file():
        sys.exit(f"{args.zip} not found; pass --zip <path to cifar10-jpeg.zip>.")
    torch.set_num_threads(1)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine?)")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        if not args.skip_reference_decode:
            t_ref, (ref_x, _) = timed(lambda: reference_decode(args.zip))
            rows.append(("reference: zipfile + Pillow, serial", t_ref))
        t_cold, data = timed(lambda: load_dataset(f"folder:{args.zip}", cache_dir=cache))
        rows.append(("ours cold: decode (2 procs) + write cache", t_cold))
        warm = []
        for _ in range(3):
            t, again = timed(lambda: load_dataset(f"folder:{args.zip}", cache_dir=cache))
            warm.append(t)
        rows.append(("ours warm: same process (best of 3)", min(warm)))
        t_touch, _ = timed(lambda: int(np.asarray(again.train_x).sum(dtype=np.int64)))
        rows.append(("  + reading every pixel once (page cache)", t_touch))
        rows.append(("ours warm: fresh process incl. imports", warm_in_fresh_process(args.zip, cache)))
        if not args.skip_reference_decode:
            same = np.array_equal(
                np.sort(ref_x.reshape(len(ref_x), -1).sum(1)),
                np.sort(np.concatenate([data.train_x, data.test_x]).reshape(len(ref_x), -1).sum(1)),
            )
            print(f"reference and ours decode the same pixels: {same}")

    print(f"\n{'loading ' + args.zip.name:<46}{'seconds':>10}")
    for label, seconds in rows:
        print(f"{label:<46}{seconds:>10.3f}")
    best_warm = min(warm)
    if not args.skip_reference_decode:
        print(f"cold vs reference: {t_ref / t_cold:.1f}x; warm vs reference: {t_ref / best_warm:.0f}x")
    print(f"warm vs our cold: {t_cold / best_warm:.0f}x; warm load under 1 s: {best_warm < 1.0}")

    # ---- augmentation ----
    x = torch.from_numpy(np.asarray(data.train_x[: 256 * args.batches]))
    mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    aug = Augment(data.mean, data.std, pad=4)
    batches = x.split(256)
    gen = torch.Generator().manual_seed(0)
    t_ref_aug, _ = timed(lambda: [reference_augment(b, mean, std, gen) for b in batches])
    t_ours_aug, _ = timed(lambda: [aug(b, gen) for b in batches])
    n = len(x)
    print(f"\n{'augmentation (pad-crop-flip-normalize)':<46}{'images/s':>10}")
    print(f"{'reference: per image':<46}{n / t_ref_aug:>10.0f}")
    print(f"{'ours: batched Augment':<46}{n / t_ours_aug:>10.0f}")
    print(f"augmentation speedup: {t_ref_aug / t_ours_aug:.1f}x (1 thread)")


if __name__ == "__main__":
    main()
