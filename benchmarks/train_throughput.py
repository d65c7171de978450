"""Training throughput: nb201's loop against the original implementation, side by side.

Ours: `nb201.train.loop.train_epoch` (the code `run_one` runs), i.e. the split in memory
as one uint8 tensor, batched augmentation from `nb201.data.Augment`, channels-last, the
nb201 network, one host synchronization per epoch, deterministic mode as in `run_one`.

Reference: the original network (`xautodl`'s `TinyNetwork`, a benchmark-only dependency)
trained by a plain loop fed by a torch DataLoader with 2 workers applying per-image
pad-crop / flip / normalize transforms (written with torch ops: no torchvision here), with
a `.item()` per step for the running averages, as the original training procedure does.
Both use SGD (momentum 0.9, Nesterov, lr 0.1, weight decay 5e-4), batch 256.

Two numbers per architecture and fidelity:
  * end to end: images/s over whole epochs, data loading and augmentation included;
  * model step only: forward + backward + optimizer step on ready-made batches.

    python benchmarks/train_throughput.py                # ~2k images per epoch, both fidelities
    python benchmarks/train_throughput.py --images 512 --fidelity cheap
    python benchmarks/train_throughput.py --threads 1 --images 1024 --bf16   # busy machine

On a machine other jobs share, pass `--threads 1`: two intra-op threads fighting other
processes for two cores make every number (ours and the reference's) meaningless.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from nb201 import data as nbdata
from nb201.space import Arch
from nb201.space.model import build_network
from nb201.train import loop

REPO = Path(__file__).resolve().parents[1]
CIFAR_ZIP = REPO.parent / "shared" / "datasets" / "cifar10-jpeg.zip"
ARCHS = {
    "all-conv3x3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "paper-best": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "cheap": "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
}
FIDELITIES = {"paper": (16, 5), "cheap": (8, 1)}
MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
BATCH = 256


def load_images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """n CIFAR-10 training images (class-stratified), or random ones when the zip is absent."""
    try:
        data = nbdata.load_dataset(f"folder:{CIFAR_ZIP}")
        idx = nbdata.stratified_subset(
            np.arange(len(data.train_y)), data.train_y, min(1.0, n / len(data.train_y))
        )[:n]
        return data.train_x[idx], data.train_y[idx], f"real CIFAR-10 ({CIFAR_ZIP.name})"
    except Exception as e:  # noqa: BLE001 - the benchmark still runs, and says so
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        return x, rng.integers(0, 10, size=n), f"RANDOM uint8 images ({type(e).__name__}: {e})"


# ---- reference: per-image transforms in DataLoader workers ---------------------------
class PerImageCifar(Dataset):
    """The original pipeline's transforms, one image at a time: ToTensor, RandomCrop(32,
    padding=4), RandomHorizontalFlip, Normalize."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.mean = torch.tensor(MEAN).view(3, 1, 1)
        self.std = torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = torch.from_numpy(self.x[i]).permute(2, 0, 1).float().div_(255)  # ToTensor
        img = F.pad(img, (4, 4, 4, 4))  # RandomCrop(32, padding=4)
        top, left = (int(v) for v in torch.randint(0, 9, (2,)))
        img = img[:, top : top + 32, left : left + 32]
        if torch.rand(()) < 0.5:  # RandomHorizontalFlip
            img = img.flip(2)
        return (img - self.mean) / self.std, int(self.y[i])  # Normalize


def reference_epoch(net, opt, loader) -> None:
    net.train()
    losses, top1, n = 0.0, 0.0, 0
    for inputs, targets in loader:
        _, logits = net(inputs)
        loss = F.cross_entropy(logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        # the original's AverageMeter updates: a host sync per step
        losses += loss.item() * inputs.size(0)
        top1 += (logits.argmax(1) == targets).float().sum().item()
        n += inputs.size(0)


def make_reference(arch: str, C: int, N: int):
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    torch.manual_seed(0)
    return TinyNetwork(C, N, Structure.str2structure(arch), 10)


def sgd(net: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)


# ---- measurements ------------------------------------------------------------------
def time_ours(arch: str, C: int, N: int, prep: loop.Prepared, epochs: int, precision: str = "fp32") -> float:
    torch.manual_seed(0)
    net = build_network(Arch.from_string(arch), 10, C=C, N=N).to(memory_format=torch.channels_last)
    opt = sgd(net)
    gen = torch.Generator().manual_seed(0)
    aug = nbdata.Augment(prep.mean, prep.std, pad=4)
    cpu = torch.device("cpu")
    warm = loop.Prepared(prep.name, prep.train_x[:BATCH], prep.train_y[:BATCH], {}, 10, prep.mean, prep.std)
    loop.train_epoch(net, opt, warm, aug, gen, BATCH, cpu, precision)  # one-time kernel setup
    start = time.perf_counter()
    for _ in range(epochs):
        loop.train_epoch(net, opt, prep, aug, gen, BATCH, cpu, precision)
    return epochs * prep.train_x.shape[0] / (time.perf_counter() - start)


def time_reference(arch: str, C: int, N: int, x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    net = make_reference(arch, C, N)
    opt = sgd(net)
    ds = PerImageCifar(x, y)
    warm_x = torch.randn(BATCH, 3, 32, 32)
    _, logits = net(warm_x)  # same one-time setup as ours
    F.cross_entropy(logits, torch.zeros(BATCH, dtype=torch.long)).backward()
    opt.zero_grad()
    start = time.perf_counter()
    for _ in range(epochs):  # a new DataLoader iterator per epoch, as the original
        loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=2, drop_last=False)
        reference_epoch(net, opt, loader)
    return epochs * len(y) / (time.perf_counter() - start)


def time_step(
    net: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], tuple_out: bool
) -> float:
    opt = sgd(net)

    def step(xb, yb):
        out = net(xb)
        loss = F.cross_entropy(out[1] if tuple_out else out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    step(*batches[0])
    start = time.perf_counter()
    for xb, yb in batches:
        loss = step(xb, yb)
    loss.item()
    return sum(len(yb) for _, yb in batches) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2048, help="training images per epoch (default 2048)")
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs per measurement (default 1)")
    ap.add_argument("--step-batches", type=int, default=4, help="batches for the model-step-only timing")
    ap.add_argument("--fidelity", choices=[*FIDELITIES, "both"], default="both")
    ap.add_argument("--archs", nargs="+", choices=list(ARCHS), default=list(ARCHS))
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument(
        "--bf16",
        action="store_true",
        help="also time ours with precision='bf16' (opt-in knob, other numbers)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)  # as run_one does on CPU

    x, y, source = load_images(args.images)
    prep = loop.Prepared(
        "bench",
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(y.astype(np.int64)),
        {},
        10,
        MEAN,
        STD,
    )
    gen = torch.Generator().manual_seed(1)
    step_batches = [
        (torch.randn(BATCH, 3, 32, 32, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen))
        for _ in range(args.step_batches)
    ]
    print(f"data: {source}, {len(y)} images/epoch, batch {BATCH}, {args.epochs} timed epoch(s)")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads (shared machine: numbers are noisy)"
    )
    fids = list(FIDELITIES) if args.fidelity == "both" else [args.fidelity]
    header = (
        f"{'fidelity':<12}{'arch':<13}{'ours img/s':>11}{'ref img/s':>11}{'ratio':>7}"
        f"   {'ours step':>10}{'ref step':>10}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    e2e, steps, bf16 = [], [], []
    for fid in fids:
        C, N = FIDELITIES[fid]
        for name in args.archs:
            arch = ARCHS[name]
            ours = time_ours(arch, C, N, prep, args.epochs)
            ref = time_reference(arch, C, N, x, y, args.epochs)
            torch.manual_seed(0)
            ours_net = build_network(Arch.from_string(arch), 10, C=C, N=N).to(
                memory_format=torch.channels_last
            )
            ours_step = time_step(
                ours_net,
                [(xb.contiguous(memory_format=torch.channels_last), yb) for xb, yb in step_batches],
                False,
            )
            ref_step = time_step(make_reference(arch, C, N), step_batches, True)
            e2e.append(ours / ref)
            steps.append(ours_step / ref_step)
            extra = ""
            if args.bf16:
                ours_bf16 = time_ours(arch, C, N, prep, args.epochs, "bf16")
                bf16.append(ours_bf16 / ref)
                extra = f"   bf16 {ours_bf16:>6.0f} img/s {ours_bf16 / ref:>5.2f}x"
            print(
                f"{f'C={C} N={N}':<12}{name:<13}{ours:>11.0f}{ref:>11.0f}{ours / ref:>6.2f}x"
                f"   {ours_step:>10.0f}{ref_step:>10.0f}{ours_step / ref_step:>6.2f}x{extra}",
                flush=True,
            )
    gmean = lambda v: math.exp(sum(map(math.log, v)) / len(v))  # noqa: E731
    print(f"\nend-to-end ratio (geometric mean): {gmean(e2e):.2f}x   (target >= 2x)")
    print(f"model-step-only ratio (geometric mean): {gmean(steps):.2f}x")
    if bf16:
        print(f"end-to-end ratio with precision='bf16' (opt-in, not the protocol): {gmean(bf16):.2f}x")


if __name__ == "__main__":
    main()
