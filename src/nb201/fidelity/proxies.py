"""Zero-cost proxies: scores of an untrained network from one mini-batch.

Each proxy is a short function `fn(net, x, y) -> float` over a freshly initialised
`build_network(arch)` and one mini-batch, with the published definitions:

* `grad_norm`, `snip`, `grasp`, `fisher`, `synflow`, `jacob_cov`: Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (their `foresight` code: sums over the
  weights of every convolution and linear layer, network in training mode, one batch).
  `snip` is Lee et al. (ICLR 2019), `grasp` Wang et al. (ICLR 2020), `fisher` Theis et al.
  (2018) / Turner et al. (2020), `synflow` Tanaka et al. (NeurIPS 2020), `jacob_cov`
  Mellor et al. (2020, v1 of the NWOT paper).
* `nwot`: Mellor et al., "Neural Architecture Search without Training", ICML 2021: the
  log-determinant of the Hamming-similarity kernel of the ReLU on/off codes of the batch.
* `params`, `flops`: `nb201.space.cost` (millions), free.

Our network computes the same function as the original `TinyNetwork` but merges the
convolutions that leave one node (see `nb201.space.model`). Proxies that sum over weight
elements or output channels (snip, grasp, fisher, synflow) are unaffected; `grad_norm`
splits a merged weight back into its per-edge tensors so that its per-layer norms are the
original's; `nwot` counts a node's ReLU code once per live convolution edge applying it,
as the original (one ReLU per edge) does. Dead edges (output multiplied by zero) get zero
gradient in both networks; for `nwot` the original would also count their ReLU codes,
which we leave out (a documented deviation: those codes do not influence the output).

Determinism: `compute` seeds torch before building each network, so the same
(arch, batch, seed, config) gives the same numbers on the same machine and thread count.

The table job (`run_job`, `python -m nb201.fidelity.proxies`) runs one `ProxyTask` per architecture
through the training sweep's engines (`nb201.train.engine`: in process, or a Ray cluster),
one atomic JSON file each, so it resumes, never computes an architecture twice, and reports
failures of the machine or the inputs the way a sweep does. `assemble` makes the Parquet
table; `nb201.fidelity.tables` (torch-free) reads it for any architecture, also through
`Benchmark.proxies`.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from nb201.fidelity.tables import TABLE_SCHEMA, load_table  # noqa: F401 - load_table: re-exported (torch-free there)
from nb201.fidelity.workdir import (
    ForeignFolder,
    MissingProxies,
    arch_files,
    check_folder,
    check_identity,
    check_values,
)
from nb201.space import NUM_ARCHS, Arch, all_archs
from nb201.space.cost import count_flops, count_params
from nb201.space.model import Cell, Network, ResidualReduction, build_network
from nb201.train.outcome import RunOutcome
from nb201.train.task import Incomplete, is_done, read_json, write_result
from nb201.util import content_hash

ProxyFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]


def _weighted_layers(net: nn.Module) -> Iterator[nn.Module]:
    """Every convolution and linear layer, the layers the published proxies sum over."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            yield m


def _loss_backward(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()


def grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over layers of the L2 norm of the loss gradient of the layer's weight."""
    _loss_backward(net, x, y)
    total = 0.0
    for _weight, grad in _edge_weights(net):
        total += float(grad.norm()) if grad is not None else 0.0
    return total


def _edge_weights(net: nn.Module) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(weight, grad) per layer of the original network: merged cell convolutions are split
    along their output channels into one tensor per edge (see `nb201.space.model.Cell`)."""
    merged: set[int] = set()
    for cell in (m for m in net.modules() if isinstance(m, Cell)):
        for seq in cell.convs.values():
            conv = seq[0]
            parts = conv.out_channels // conv.in_channels
            merged.add(id(conv))
            grads = conv.weight.grad.chunk(parts) if conv.weight.grad is not None else [None] * parts
            yield from zip(conv.weight.detach().chunk(parts), grads)
    for layer in _weighted_layers(net):
        if id(layer) not in merged:
            yield layer.weight.detach(), layer.weight.grad


def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity: sum |w * dL/dw| (Lee et al. 2019; the gradient of the loss
    with respect to a multiplicative mask of ones, at the mask)."""
    _loss_backward(net, x, y)
    return sum(
        float((layer.weight.detach() * layer.weight.grad).abs().sum())
        for layer in _weighted_layers(net)
        if layer.weight.grad is not None
    )


def grasp(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Gradient signal preservation: sum of -w * (H g), H the loss Hessian and g its
    gradient, both at initialisation on the batch (Wang et al. 2020, as in `foresight`)."""
    weights = [layer.weight for layer in _weighted_layers(net)]
    net.zero_grad(set_to_none=True)
    g = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    g_graph = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((a.detach() * b).sum() for a, b in zip(g, g_graph) if a is not None and b is not None)
    z.backward()
    return sum(float((-w.detach() * w.grad).sum()) for w in weights if w.grad is not None)


def fisher(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fisher information of channels: for every conv / linear output channel k,
    0.5 * mean_n (sum_spatial a * dL/da)^2, summed (Theis et al. 2018; Turner et al. 2020)."""
    acts: list[torch.Tensor] = []

    def keep(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        acts.append(out)

    handles = [layer.register_forward_hook(keep) for layer in _weighted_layers(net)]
    try:
        _loss_backward(net, x, y)
    finally:
        for h in handles:
            h.remove()
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        g_nk = a.detach() * a.grad
        if g_nk.dim() == 4:
            g_nk = g_nk.sum(dim=(2, 3))
        total += float(g_nk.pow(2).mean(0).mul(0.5).sum())
    return total


def jacob_cov(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Correlation of input Jacobians across the batch: -sum(log(v + k) + 1 / (v + k)) over
    the eigenvalues v of their correlation matrix, k = 1e-5 (Mellor et al. 2020 v1)."""
    x = x.clone().requires_grad_(True)
    net.zero_grad(set_to_none=True)
    net(x).sum().backward()
    if x.grad is None:  # the output does not depend on the input (a degenerate cell): undefined
        return float("nan")
    jac = x.grad.reshape(len(x), -1).double().numpy()
    v = np.linalg.eigvalsh(np.corrcoef(jac))
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def _relu_code_sites(net: nn.Module) -> Iterator[tuple[nn.Module, int, bool]]:
    """(module, multiplicity, codes-from-output) for every place a ReLU's output is read:
    a conv-BN block whose input is a ReLU output (codes from its input), the final BN
    followed by ReLU (codes from its output)."""
    for m in net.modules():
        if isinstance(m, Cell):
            for seq in m.convs.values():
                yield seq, seq[0].out_channels // seq[0].in_channels, False
        elif isinstance(m, ResidualReduction):
            yield m.conv_a, 1, False
            yield m.conv_b, 1, False
    if isinstance(net, Network):
        yield net.last_bn, 1, True


def nwot(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log|K|, K[i, j] = number of ReLU units on which images i and j have the same on/off
    state (Mellor et al. ICML 2021): activation patterns that separate the images well
    predict trainability."""
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def add(codes: torch.Tensor, weight: int) -> None:
        c = (codes.detach().reshape(n, -1) > 0).double()
        kernel.add_(weight * (c @ c.T + (1 - c) @ (1 - c).T))

    handles = []
    for module, weight, from_output in _relu_code_sites(net):
        if from_output:
            handles.append(module.register_forward_hook(lambda _m, _i, out, w=weight: add(out, w)))
        else:
            handles.append(module.register_forward_pre_hook(lambda _m, inp, w=weight: add(inp[0], w)))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel)[1])


def synflow(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Synaptic flow: sum |w * dR/dw|, R = sum of the outputs of the network with every
    parameter replaced by its absolute value, BatchNorm removed, in float64, on an input of
    ones (Tanaka et al. 2020; BN off as in `foresight`). Data-independent."""
    for module in list(net.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, child_name, nn.Identity())
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones(1, *x.shape[1:], dtype=torch.float64)).sum().backward()
    return sum(
        float((layer.weight.detach() * layer.weight.grad).abs().sum())
        for layer in _weighted_layers(net)
        if layer.weight.grad is not None
    )


PROXIES: dict[str, ProxyFn] = {
    "synflow": synflow,
    "snip": snip,
    "grasp": grasp,
    "fisher": fisher,
    "jacob_cov": jacob_cov,
    "grad_norm": grad_norm,
    "nwot": nwot,
}
FREE = ("params", "flops")  # closed-form costs, computed without a network
ALL = tuple(PROXIES) + FREE  # what nb201 ships; `proxy_names()` adds those registered since


def register_proxy(name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator: make `fn(net, x, y) -> float` (a freshly initialised network in train
    mode, one batch) the proxy `name`, computable by `compute`, `run_job` and `assemble`.
    Another function under a taken name raises: a table's column must mean one thing."""

    def add(fn: ProxyFn) -> ProxyFn:
        old = PROXIES.get(name)
        if name in FREE or (
            old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__)
        ):
            raise ValueError(f"proxy {name!r} is taken; choose another name.")
        PROXIES[name] = fn
        return fn

    return add


def proxy_names() -> tuple[str, ...]:
    """Every proxy `compute` knows: the registered ones, then the closed-form costs."""
    return (*PROXIES, *FREE)


@dataclass(frozen=True)
class ProxyConfig:
    """The network and batch a proxy table is computed at (recorded with every value)."""

    C: int = 16
    N: int = 5
    image_size: int = 32
    batch_size: int = 64
    num_classes: int = 10
    seed: int = 0


def compute(
    arch: Arch | str | int,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ProxyConfig = ProxyConfig(),
    names: Sequence[str] = ALL,
) -> dict[str, float]:
    """Every requested proxy of `arch` on the batch (x float NCHW, y int64 labels).

    Each proxy gets its own network built after `torch.manual_seed(config.seed)` (so all
    see the same initial weights, and a proxy that modifies its network cannot affect
    another). Returns `{name: value, name + "_seconds": process CPU seconds of the call}`;
    CPU seconds are core-seconds when torch runs on one thread.
    """
    unknown = [n for n in names if n not in proxy_names()]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; choose from {list(proxy_names())}")
    arch = Arch.coerce(arch)
    out: dict[str, float] = {}
    shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    for name in names:
        start = time.process_time()
        if name == "params":
            value = count_params(arch, config.num_classes, C=config.C, N=config.N, in_channels=shape[0])
        elif name == "flops":
            value = count_flops(arch, shape, config.num_classes, C=config.C, N=config.N)
        else:
            torch.manual_seed(config.seed)
            net = build_network(arch, config.num_classes, C=config.C, N=config.N, in_channels=shape[0])
            value = PROXIES[name](net.train(), x, y)
        out[name] = value if math.isfinite(value) else float("nan")
        out[name + "_seconds"] = time.process_time() - start
    return out


def minibatch(
    train_x: np.ndarray | torch.Tensor,
    train_y: np.ndarray | torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    config: ProxyConfig = ProxyConfig(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded mini-batch of training images (uint8 NHWC in, normalised NCHW out),
    resized to `config.image_size` the way the training loop resizes (no augmentation)."""
    from nb201.data.augment import normalize
    from nb201.train.loop import resize_uint8

    rng = np.random.default_rng(config.seed)
    idx = np.sort(rng.choice(len(train_y), size=config.batch_size, replace=False))
    xb = torch.as_tensor(np.ascontiguousarray(np.asarray(train_x)[idx]))
    xb = resize_uint8(xb, config.image_size)
    yb = torch.as_tensor(np.asarray(train_y)[idx], dtype=torch.int64)
    return normalize(xb, mean, std, channels_last=False).contiguous(), yb


# ---- the proxy table: a resumable job over many architectures ------------------------------


def config_tag(config: ProxyConfig) -> str:
    """A file-name-safe name of everything that changes a proxy value."""
    return f"C{config.C}-N{config.N}-{config.image_size}px-b{config.batch_size}-s{config.seed}"


def arch_list(
    calibration_csv: str | Path | None = None, benchmark: str | Path | None = None, space: str = "none"
) -> list[int]:
    """The architectures to compute, in priority order, without repeats: the calibration
    set, then a benchmark's architectures, then `space` = "functional" (one representative,
    the lowest index, per functionally distinct class) or "all" (every index)."""
    order: list[int] = []
    if calibration_csv is not None:
        order += [int(i) for i in pd.read_csv(calibration_csv)["nb201_index"]]
    if benchmark is not None:
        from nb201.benchmark import Benchmark

        bench = Benchmark.open(benchmark)
        order += [int(i) for i in bench.evaluated_indexes]
    if space in ("functional", "all"):
        seen: set[str] = set()
        for a in all_archs():
            key = a.functional_key()
            if space == "all" or (key not in seen and key != "zero"):
                order.append(a.index)
            seen.add(key)
    elif space != "none":
        raise ValueError(f"space must be 'none', 'functional' or 'all', got {space!r}")
    return list(dict.fromkeys(order))


@functools.lru_cache(maxsize=4)
def _batch(dataset: str, data_root: str | None, config: ProxyConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The job's mini-batch, loaded once per process (a Ray worker keeps it across tasks)."""
    from nb201 import data as nbdata

    data = nbdata.load_dataset(dataset, root=data_root)
    return minibatch(data.train_x, data.train_y, data.mean, data.std, config)


@functools.lru_cache(maxsize=1)
def _env() -> dict[str, Any]:
    from nb201.envinfo import env_info

    env = env_info("cpu")
    return {k: env.get(k) for k in ("torch", "nb201", "device", "hostname", "git")}


@dataclass(frozen=True)
class ProxyTask:
    """One architecture of the proxy table job, as a task of the kernel
    (`nb201.train.task`) that every sweep engine runs (`LocalEngine`, `RayEngine`).

    Its result is `<out_dir>/<index>.json`, taken as done only when its content is this
    task's (`nb201.fidelity.workdir`: index, arch string, configuration, dataset, the
    requested proxies, plausible values), so a job killed at any point resumes with the
    architectures it lacks, a task run twice (a Ray retry, a second job) computes once (one
    lock per task), a torn or foreign file is moved to `rejected/` and recomputed, and a
    file lacking only newly requested proxies is extended with them (each proxy builds its
    own seeded network, so a value does not depend on the others computed with it).
    Proxies run on the CPU, torch on `num_threads` threads (default 1), so the recorded CPU
    seconds are core-seconds with one thread; a GPU a Ray task may hold is not used. A
    failure of the machine or of the inputs (a missing dataset, out of memory) raises and
    becomes the engine's `failed` outcome without a file, so the next job retries it.
    """

    index: int
    dataset: str
    config: ProxyConfig = ProxyConfig()
    names: tuple[str, ...] = ALL
    data_root: str | None = None
    run_id: str = field(init=False, compare=False)

    kind: ClassVar[str] = "proxy file"

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, (int, np.integer)):
            raise ValueError(f"index must be an arch index (an integer), got {self.index!r}.")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "names", tuple(dict.fromkeys(self.names)))
        unknown = [n for n in self.names if n not in proxy_names()]
        if unknown or not self.names:
            raise ValueError(f"unknown proxies {unknown or 'none given'}; choose from {list(proxy_names())}")
        ident = {
            "arch": str(Arch.from_index(self.index)),
            "dataset": self.dataset,
            "config": asdict(self.config),
        }
        tag = f"{config_tag(self.config)}-{self.index}"
        digest = content_hash({**ident, "names": sorted(self.names)}, 8)
        object.__setattr__(self, "run_id", f"proxies-{tag}-{digest}")

    def result_path(self, out_dir: str | Path) -> Path:
        return Path(out_dir) / f"{self.index}.json"

    def check_result(self, record: dict[str, Any]) -> None:
        check_identity(record, self.index, asdict(self.config), self.dataset)
        try:
            check_values(record, self.names)
        except MissingProxies as exc:
            raise Incomplete(str(exc)) from None

    def compute(self, out_dir: Path, num_threads: int | None, device: str | None) -> RunOutcome:
        """Compute the proxies the file lacks (all of them for a new file) and write it."""
        path = self.result_path(out_dir)
        wall, cpu = time.perf_counter(), time.process_time()
        kept = self._kept(path)
        todo = [n for n in self.names if n not in kept.get("values", {})]
        threads, previous = max(1, int(num_threads or 1)), torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            x, y = _batch(self.dataset, self.data_root, self.config)
            arch = Arch.from_index(self.index)
            values = compute(arch, x, y, self.config, todo)
        finally:
            torch.set_num_threads(previous)
        record = {
            "schema": TABLE_SCHEMA,
            "index": self.index,
            "arch": str(arch),
            "config": asdict(self.config),
            "dataset": self.dataset,
            "values": kept.get("values", {})
            | {k: v for k, v in values.items() if not k.endswith("_seconds")},
            "seconds": kept.get("seconds", {})
            | {k[: -len("_seconds")]: v for k, v in values.items() if k.endswith("_seconds")},
            "env": _env() | {"threads": threads},
        }
        write_result(self, out_dir, record, allow_nan=True, indent=None)
        return RunOutcome(
            self.run_id, "ok", None, time.perf_counter() - wall, str(path), time.process_time() - cpu
        )

    def finished(self, record: dict[str, Any], path: Path) -> RunOutcome:
        """A valid proxy file is an `ok` outcome (the Ray engine asks when a retried task finds
        the file an earlier attempt wrote)."""
        return RunOutcome(self.run_id, "ok", None, 0.0, str(path))

    def _kept(self, path: Path) -> dict[str, Any]:
        """The file's values and timings when it is this task's but lacks some proxies."""
        try:
            record = read_json(path)
            if record is None:
                return {}
            self.check_result(record)
        except Incomplete:
            return {"values": record["values"], "seconds": record["seconds"]}
        except (ValueError, TypeError, KeyError, AttributeError):  # not this task's: recomputed whole
            return {}
        return {}


def run_job(
    indices: Sequence[int],
    work_dir: str | Path,
    dataset: str,
    config: ProxyConfig = ProxyConfig(),
    limit_seconds: float | None = None,
    data_root: str | None = None,
    names: Sequence[str] = ALL,
    engine: str | Any = "local",
    engine_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the proxies of `indices` into `work_dir/<index>.json`, one atomic file per
    architecture, as `ProxyTask`s through a sweep engine: `"local"` (in process), `"ray"`
    (`RayEngine(**engine_options)`, e.g. `{"address": "auto", "num_cpus": 1}`; `work_dir`
    must then be on a file system every node mounts) or an engine object. Architectures
    with a valid file are skipped, so an interrupted job resumes where it stopped; a folder
    holding files of another configuration or dataset is refused (ValueError) before
    anything runs. `names` picks the proxies (e.g. leave out `grasp`, the dearest, where
    CPU time is short). Stops starting new architectures once `limit_seconds` of wall time
    have passed (the Ray engine cancels what is in flight; nothing partial is written).

    Returns counts `done`, `skipped`, `left` (not attempted because of the limit) and
    `failed` (expected failures, see `ProxyTask`; one line each in `failures`).
    """
    from nb201.train.sweep import make_engine

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    check_folder(work, asdict(config), dataset, f" (e.g. data/cache/proxies/{config_tag(config)})")
    if data_root is None and dataset.startswith("folder:") and not Path(dataset[7:]).is_absolute():
        data_root = str(Path.cwd())  # a relative folder dataset means the same on every Ray worker
    tasks = [ProxyTask(int(i), dataset, config, tuple(names), data_root) for i in dict.fromkeys(indices)]
    todo = [t for t in tasks if not is_done(t, work)]
    counts: dict[str, Any] = {"done": 0, "skipped": len(tasks) - len(todo), "left": len(todo), "failed": 0}
    if not todo:
        return counts | {"failures": []}
    runner = make_engine(engine, engine_options) if isinstance(engine, str) else engine
    start, failures = time.perf_counter(), []
    outcomes = runner.map(todo, str(work))
    try:
        for outcome in outcomes:
            counts["left"] -= 1
            if outcome.status == "failed":
                failures.append(f"{outcome.run_id}: {(outcome.reason or 'unknown').splitlines()[0]}")
            else:  # a file another job wrote meanwhile counts as skipped
                counts["skipped" if outcome.status == "skipped" else "done"] += 1
            if limit_seconds is not None and time.perf_counter() - start > limit_seconds:
                break
    finally:
        getattr(outcomes, "close", lambda: None)()  # stops the engine (Ray cancels what is in flight)
        if isinstance(engine, str) and hasattr(runner, "close"):
            runner.close()
    counts["failed"] = len(failures)
    return counts | {"failures": failures}


def _read_work(work_dir: str | Path) -> list[dict[str, Any]]:
    """Every per-arch file of a work folder, by index, each checked against its own name and
    the folder's one configuration (the first file's); ValueError naming the files otherwise."""
    found = list(arch_files(work_dir))
    if not found:
        raise FileNotFoundError(
            f"no proxy records in {work_dir}: run `python -m nb201.fidelity.proxies` first"
        )
    records, bad = [], []
    for index, path in found:
        try:
            record = read_json(path)
            first = records[0] if records else record if isinstance(record, dict) else {}
            check_identity(record, index, first.get("config") or {}, first.get("dataset"))
            check_values(record, ())
        except ValueError as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        records.append(record)
    if bad:
        raise ValueError(
            f"{len(bad)} per-arch files of {work_dir} cannot be assembled ({'; '.join(bad[:3])}); run the "
            "job again over those architectures (it moves such files to rejected/ and recomputes them), or "
            "move them away."
        )
    return records


def assemble(work_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Collect a job's per-architecture files into one Parquet table (one row per arch:
    `index, arch, functional_key`, each proxy, each proxy's `<name>_seconds`, and
    `core_seconds` for all network proxies together) whose metadata says what it covers
    and what it cost. Every file is checked first (`nb201.fidelity.workdir`): its index is
    its name's and its arch string's, all share one configuration and dataset, its values
    are plausible; any that is not makes this raise, naming the file, and nothing is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nb201.fsutil import atomic_write

    records = _read_work(work_dir)
    computed = [k for k in proxy_names() if all(k in r["values"] for r in records)]
    rows = []
    for r in records:
        key = Arch.from_index(r["index"]).functional_key()
        row = {"index": r["index"], "arch": r["arch"], "functional_key": key}
        row |= {k: r["values"][k] for k in computed}
        row |= {f"{k}_seconds": r["seconds"][k] for k in computed}
        row["core_seconds"] = sum(r["seconds"][k] for k in computed if k in PROXIES)
        rows.append(row)
    frame = pd.DataFrame(rows)
    classes = {k for k in frame["functional_key"] if k != "zero"}
    meta = {
        "schema": TABLE_SCHEMA,
        "config": records[0]["config"],
        "dataset": records[0]["dataset"],
        "proxies": computed,
        "coverage": {
            "archs": len(frame),
            "of_archs": NUM_ARCHS,
            "functional_classes": len(classes),
            "of_functional_classes": 5390,
        },
        "core_seconds_per_arch": {k: float(frame[f"{k}_seconds"].mean()) for k in computed}
        | {"all_network_proxies": float(frame["core_seconds"].mean())},
        "core_hours": float(frame[[f"{k}_seconds" for k in computed]].to_numpy().sum() / 3600),
        "threads": 1,
        "env": max(records, key=lambda r: f"{r['index']}.json")["env"],  # the last file by name
        "references": [
            "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021",
            "Mellor et al., Neural Architecture Search without Training, ICML 2021",
        ],
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = {**(table.schema.metadata or {}), b"nb201": json.dumps(meta).encode()}
    table = table.replace_schema_metadata(schema_meta)
    atomic_write(out, lambda f: pq.write_table(table, f))
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nb201.fidelity.proxies --calibration CSV --benchmark DIR [--space functional] --out TABLE
    [--engine ray --ray-address auto]`: compute (resumably, through a sweep engine) and
    assemble a proxy table. Exits 1 when an architecture failed (rerun to retry it)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m nb201.fidelity.proxies", description=main.__doc__)
    p.add_argument("--dataset", default="folder:../shared/datasets/cifar10-jpeg.zip")
    p.add_argument("--calibration", default=None, help="calibration CSV (its archs go first)")
    p.add_argument("--benchmark", default=None, help="benchmark folder (its archs go next)")
    p.add_argument("--space", default="none", choices=["none", "functional", "all"])
    p.add_argument("--indices", nargs="+", type=int, default=[], help="these arch indices too (first)")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--proxies", nargs="+", default=list(ALL), choices=list(ALL), help="default: all")
    p.add_argument("--work-dir", default=None, help="per-arch results (default data/cache/proxies/<config>)")
    p.add_argument("--limit-seconds", type=float, default=None, help="stop starting archs after this")
    p.add_argument("--out", default=None, help="assemble the table into this Parquet file")
    p.add_argument("--data-root", default=None, help="base of a relative folder dataset (default: cwd)")
    p.add_argument("--engine", default="local", choices=["local", "ray"], help="where the archs run")
    p.add_argument("--ray-address", default=None, help="ray: 'auto', 'host:6379' (default: a local instance)")
    p.add_argument("--num-cpus", type=float, default=1, help="ray: CPUs reserved per arch (= torch threads)")
    a = p.parse_args(argv)
    config = ProxyConfig(C=a.C, N=a.N, image_size=a.image_size, batch_size=a.batch_size, seed=a.seed)
    work = Path(a.work_dir or Path("data/cache/proxies") / config_tag(config))
    indices = list(dict.fromkeys(a.indices + arch_list(a.calibration, a.benchmark, a.space)))
    options = {"address": a.ray_address, "num_cpus": a.num_cpus} if a.engine == "ray" else {"num_threads": 1}
    try:
        counts = run_job(
            indices, work, a.dataset, config, a.limit_seconds, a.data_root, a.proxies, a.engine, options
        )
    except ForeignFolder as exc:  # a usage error: one line, exit 2, nothing written
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts), flush=True)
    if a.out:
        frame = assemble(work, a.out)
        print(f"wrote {a.out}: {len(frame)} architectures")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
