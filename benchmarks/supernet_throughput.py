"""Supernet training steps and search hot paths: nb201.wsnas against the original code.

For each method, one training step of ours (`nb201.wsnas.methods`, on `nb201.wsnas.supernet`)
and of the original (xautodl's `cell_searchs` search models driven by the step code of
AutoDL-Projects `exps/NAS-Bench-201-algos/*.py`, transcribed below) on the same random
batch, same C/N/batch/threads. Two more rows time what dominates the long searches besides
the step (preset `cpu-cifar-paper` at the cheap size, `paper` at the paper size):

* `score`: scoring one candidate, a no-grad forward of one arch on a valid batch (512
  images; RSPS, SETN and ENAS score 100 per epoch), ours `Method.score` against the
  original's `search_find_best` forward;
* `enas-ctrl`: one ENAS controller step, 20 sampled archs each scored on its own valid
  batch of 128 then one REINFORCE update (50 per epoch), ours `ENAS.end_epoch` against the
  original's `train_controller` loop.

How it is measured: one torch thread; the two implementations alternate in rounds and
swap order every round (ABBA), so a machine that gets busier mid-run slows both alike; the
median over the timed rounds is reported, after one untimed warm-up round each. Where the
step runs one architecture (RSPS, ENAS), both run the same architecture in a round (the one
ours is about to draw), so the ratio is not at the mercy of which archs each drew. The
process is not niced: it competes with whatever else runs, like the searches it stands for.
Numbers recorded in the commit that last changed this file were taken on the 2-core
development machine with two long background jobs (and other helpers) running.

    python benchmarks/supernet_throughput.py                      # both sizes, all rows
    python benchmarks/supernet_throughput.py --sizes cheap --steps 5 --methods gdas darts-v1

Sizes: `paper` = C=16, N=5, 32x32, batch 64 (valid batch as the paper's per method);
`cheap` = the cpu-cifar search preset, C=8, N=1, 16x16, batch 64.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nb201.space import OPS
from nb201.wsnas import METHODS, make_method, resolve_search_config
from nb201.wsnas.methods import Batch, random_arch
from nb201.wsnas.supernet import Supernet, ids_to_arch

# size: (preset of the training step, preset of the hot-path rows, image size)
SIZES = {"paper": ("paper", "paper", 32), "cheap": ("cpu-cifar", "cpu-cifar-paper", 16)}
HOT_PATHS = ("score", "enas-ctrl")
Step = Callable[..., None]  # step(train, valid, arch=None)


# ---- the original step code (AutoDL-Projects exps/NAS-Bench-201-algos), transcribed -------------
def _concat(xs):
    return torch.cat([x.view(-1) for x in xs])


def _hessian_vector_product(vector, network, criterion, base_inputs, base_targets, r=1e-2):
    R = r / _concat(vector).norm()
    for p, v in zip(network.get_weights(), vector):
        p.data.add_(v, alpha=R)
    _, logits = network(base_inputs)
    grads_p = torch.autograd.grad(criterion(logits, base_targets), network.get_alphas())
    for p, v in zip(network.get_weights(), vector):
        p.data.sub_(v, alpha=2 * R)
    _, logits = network(base_inputs)
    grads_n = torch.autograd.grad(criterion(logits, base_targets), network.get_alphas())
    for p, v in zip(network.get_weights(), vector):
        p.data.add_(v, alpha=R)
    return [(x - y).div_(2 * R) for x, y in zip(grads_p, grads_n)]


def _backward_step_unrolled(
    network, criterion, base_inputs, base_targets, w_optimizer, arch_inputs, arch_targets
):
    _, logits = network(base_inputs)
    loss = criterion(logits, base_targets)
    group = w_optimizer.param_groups[0]
    LR, WD, momentum = group["lr"], group["weight_decay"], group["momentum"]
    with torch.no_grad():
        theta = _concat(network.get_weights())
        try:
            moment = _concat(w_optimizer.state[v]["momentum_buffer"] for v in network.get_weights())
            moment = moment.mul_(momentum)
        except KeyError:
            moment = torch.zeros_like(theta)
        dtheta = _concat(torch.autograd.grad(loss, network.get_weights())) + WD * theta
        params = theta.sub(moment + dtheta, alpha=LR)
    unrolled_model = copy.deepcopy(network)
    model_dict = unrolled_model.state_dict()
    new_params, offset = {}, 0
    for k, v in network.named_parameters():
        if "arch_parameters" in k:
            continue
        v_length = int(np.prod(v.size()))
        new_params[k] = params[offset : offset + v_length].view(v.size())
        offset += v_length
    model_dict.update(new_params)
    unrolled_model.load_state_dict(model_dict)
    unrolled_model.zero_grad()
    _, unrolled_logits = unrolled_model(arch_inputs)
    criterion(unrolled_logits, arch_targets).backward()
    dalpha = unrolled_model.arch_parameters.grad
    vector = [v.grad.data for v in unrolled_model.get_weights()]
    [implicit_grads] = _hessian_vector_product(vector, network, criterion, base_inputs, base_targets)
    dalpha.data.sub_(implicit_grads.data, alpha=LR)
    network.arch_parameters.grad = copy.deepcopy(dalpha)


def _structure(ids: list[int]):
    """The original's genotype of six op ids (its edge and op orders are ours)."""
    from xautodl.models.cell_searchs.genotypes import Structure

    return Structure.str2structure(str(ids_to_arch(ids)))


def _original_net(method: str, C: int, N: int, config: dict) -> nn.Module:
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts
    from xautodl.models.cell_searchs.search_model_enas import TinyNetworkENAS
    from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS
    from xautodl.models.cell_searchs.search_model_random import TinyNetworkRANDOM
    from xautodl.models.cell_searchs.search_model_setn import TinyNetworkSETN

    cls = {
        "rsps": TinyNetworkRANDOM,
        "darts-v1": TinyNetworkDarts,
        "darts-v2": TinyNetworkDarts,
        "gdas": TinyNetworkGDAS,
        "setn": TinyNetworkSETN,
        "enas": TinyNetworkENAS,
    }[method]
    return cls(C, N, 4, 10, list(OPS), False, config["track_running_stats"])


def _original(method: str, C: int, N: int, config: dict) -> Step:
    """A closure doing one training step of the original implementation.

    `arch`, where given, replaces the arch the original would draw (RSPS: its genotype) or its
    controller did draw (ENAS: six op ids; the sampling is still done and timed).
    """
    net = _original_net(method, C, N, config)
    crit = nn.CrossEntropyLoss()
    weights = net.get_weights() if hasattr(net, "get_weights") else list(net.parameters())
    w_opt = torch.optim.SGD(
        weights, lr=config["lr"], momentum=0.9, weight_decay=config["weight_decay"], nesterov=True
    )
    a_opt = None
    if hasattr(net, "arch_parameters") and isinstance(net.arch_parameters, nn.Parameter):
        a_opt = torch.optim.Adam(net.get_alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    controller = net.create_controller() if method == "enas" else None
    if method == "gdas":
        net.set_tau(10.0)

    def w_step(x, y):
        w_opt.zero_grad()
        _, logits = net(x)
        crit(logits, y).backward()
        if config["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(net.parameters(), config["grad_clip"])
        w_opt.step()

    def a_step(x, y):
        a_opt.zero_grad()
        _, logits = net(x)
        crit(logits, y).backward()
        a_opt.step()

    def step(train, valid, arch=None):
        net.train()
        if method == "rsps":
            net.random_genotype(True)
            if arch is not None:
                net.arch_cache = arch
            w_step(*train)
        elif method == "darts-v1" or method == "gdas":
            w_step(*train)
            a_step(*valid)
        elif method == "darts-v2":
            a_opt.zero_grad()
            _backward_step_unrolled(net, crit, *train, w_opt, *valid)
            a_opt.step()
            w_step(*train)
        elif method == "setn":
            net.set_cal_mode("urs", None)
            w_step(*train)
            net.set_cal_mode("joint", None)
            a_step(*valid)
        else:  # enas: the shared-weights step (controller in eval mode samples the arch)
            controller.eval()
            with torch.no_grad():
                _, _, sampled = controller()
            net.update_arch(sampled if arch is None else arch)
            w_step(*train)

    return step


def _ours(method: str, C: int, N: int, config: dict) -> tuple[Step, Callable[[], list[int] | None]]:
    """Our step, and `peek()`: the arch our next step will draw (RSPS, ENAS), else None."""
    net = Supernet(10, C=C, N=N, track_running_stats=config["track_running_stats"])
    m = make_method(method, net, config, torch.Generator().manual_seed(0))

    def peek() -> list[int] | None:
        g = torch.Generator().set_state(m.g.get_state())
        if method == "rsps":
            return random_arch(g)
        if method == "enas":
            return m.controller.sample(1, g)[0].tolist()
        return None

    return (lambda train, valid, arch=None: m.step(train, lambda size=None: valid)), peek


def _batch(n: int, px: int, g: torch.Generator) -> Batch:
    return torch.randn(n, 3, px, px, generator=g), torch.randint(10, (n,), generator=g)


def _alternate(
    impls: dict[str, Callable[[int], None]], rounds: int, prepare: Callable[[], None] = lambda: None
) -> dict[str, float]:
    """Median seconds of `impls[k](round)`, alternating them and swapping order each round;
    `prepare()` runs (untimed) before each round."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for f in impls.values():  # warm-up
        prepare()
        f(-1)
    for r in range(rounds):
        prepare()
        for k in list(impls) if r % 2 == 0 else list(reversed(impls)):
            t = time.perf_counter()
            impls[k](r)
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def measure(method: str, size: str, steps: int, batch: int | None) -> tuple[float, float]:
    """Median seconds per training step (ours, original)."""
    preset, _, px = SIZES[size]
    config = resolve_search_config(method, preset)
    C, N = config["C"], config["N"]
    g = torch.Generator().manual_seed(0)
    train = _batch(batch or config["batch_size"], px, g)
    valid = _batch(config["arch_batch_size"], px, g)
    torch.manual_seed(0)
    ours, peek = _ours(method, C, N, config)
    original = _original(method, C, N, config)
    arch: list = [None]  # the arch of this round: what ours will draw, in the original's form

    def prepare() -> None:
        ids = peek()
        arch[0] = _structure(ids) if method == "rsps" else ids

    impls = {"ours": lambda r: ours(train, valid), "original": lambda r: original(train, valid, arch[0])}
    t = _alternate(impls, steps, prepare)
    return t["ours"], t["original"]


# ---- scoring one candidate ------------------------------------------------------------------------
def measure_score(size: str, rounds: int) -> tuple[float, float]:
    """Median seconds to score one arch on one valid batch (ours, original), the same archs."""
    _, preset, px = SIZES[size]
    config = resolve_search_config("rsps", preset)
    C, N, vb = config["C"], config["N"], config["valid_batch_size"]
    g = torch.Generator().manual_seed(1)
    batch = _batch(vb, px, g)
    archs = [random_arch(g) for _ in range(rounds + 1)]
    torch.manual_seed(0)
    m = make_method("rsps", Supernet(10, C=C, N=N), config, torch.Generator().manual_seed(0))
    orig = _original_net("rsps", C, N, config)

    def run_original(r: int) -> None:  # the original's search_find_best, one candidate
        orig.arch_cache = _structure(archs[r])
        with torch.no_grad():
            orig.eval()
            _, logits = orig(batch[0])
            (logits.argmax(dim=1) == batch[1]).float().mean().item()

    t = _alternate({"ours": lambda r: m.score(archs[r], batch), "original": run_original}, rounds)
    return t["ours"], t["original"]


# ---- one ENAS controller step -------------------------------------------------------------------
def measure_controller(size: str, rounds: int) -> tuple[float, float]:
    """Median seconds of one controller step: `ctrl_aggregate` sampled archs, each scored on its
    own valid batch, one REINFORCE update (ours `ENAS.end_epoch`, original `train_controller`)."""
    _, preset, px = SIZES[size]
    config = {**resolve_search_config("enas", preset), "ctrl_steps": 1}
    C, N, vb, k = config["C"], config["N"], config["valid_batch_size"], config["ctrl_aggregate"]
    g = torch.Generator().manual_seed(2)
    batches = [_batch(vb, px, g) for _ in range(k)]
    torch.manual_seed(0)
    m = make_method("enas", Supernet(10, C=C, N=N), config, torch.Generator().manual_seed(0))
    net = _original_net("enas", C, N, config)
    controller = net.create_controller()
    c_opt = torch.optim.Adam(controller.parameters(), lr=config["ctrl_lr"], betas=(0.0, 0.999), eps=1e-3)

    def run_ours(r: int) -> None:
        it = iter(batches)
        m.end_epoch(lambda size=None: next(it))

    def run_original(r: int) -> None:  # AutoDL-Projects ENAS.py train_controller, one update
        controller.train()
        controller.zero_grad()
        baseline = None
        for inputs, targets in batches:
            log_prob, entropy, sampled = controller()
            net.update_arch(sampled)
            with torch.no_grad():
                net.eval()
                _, logits = net(inputs)
                top1 = (logits.argmax(dim=1) == targets).float().mean().view(-1)
            reward = top1 + config["ctrl_entropy_weight"] * entropy
            prev = top1 if baseline is None else baseline
            baseline = prev - (1 - config["ctrl_baseline_decay"]) * (prev - reward)
            (-1 * log_prob * (reward - baseline)).backward()
            baseline = baseline.detach()
        nn.utils.clip_grad_norm_(controller.parameters(), config["ctrl_grad_clip"])
        c_opt.step()

    t = _alternate({"ours": run_ours, "original": run_original}, rounds)
    return t["ours"], t["original"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    rows = [*METHODS, *HOT_PATHS]
    parser.add_argument("--methods", nargs="+", default=rows, choices=rows, help="rows to time")
    parser.add_argument("--steps", type=int, default=9, help="timed rounds per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=None, help="weight batch (default: the preset's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.steps} alternating rounds")
    print(f"{'size':<6} {'row':<10} {'ours ms':>9} {'orig ms':>9} {'speed-up':>9}")
    for size in args.sizes:
        for row in args.methods:
            if row == "score":
                ours, orig = measure_score(size, args.steps)
            elif row == "enas-ctrl":
                ours, orig = measure_controller(size, args.steps)
            else:
                ours, orig = measure(row, size, args.steps, args.batch)
            print(f"{size:<6} {row:<10} {1e3 * ours:9.1f} {1e3 * orig:9.1f} {orig / ours:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
