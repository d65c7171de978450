"""Supernet training steps: nb201.wsnas against the original code, side by side.

For each method, one training step of ours (`nb201.wsnas.methods`, on `nb201.wsnas.supernet`)
and of the original (xautodl's `cell_searchs` search models driven by the step code of
AutoDL-Projects `exps/NAS-Bench-201-algos/*.py`, transcribed below) on the same random
batch, same C/N/batch/threads. Steps alternate between the two implementations in rounds,
so a machine that gets busier mid-run slows both alike; the median step time is reported.

    python benchmarks/supernet_throughput.py                      # both sizes, all methods
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
from nb201.wsnas.supernet import Supernet

SIZES = {"paper": ("paper", 32), "cheap": ("cpu-cifar", 16)}


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


def _original(method: str, C: int, N: int, config: dict) -> Callable[[tuple, tuple], None]:
    """A closure doing one training step of the original implementation."""
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
    net = cls(C, N, 4, 10, list(OPS), False, config["track_running_stats"])
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

    def step(train, valid):
        net.train()
        if method == "rsps":
            net.random_genotype(True)
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
            net.update_arch(sampled)
            w_step(*train)

    return step


def _ours(method: str, C: int, N: int, config: dict) -> Callable[[tuple, tuple], None]:
    net = Supernet(10, C=C, N=N, track_running_stats=config["track_running_stats"])
    m = make_method(method, net, config, torch.Generator().manual_seed(0))
    return lambda train, valid: m.step(train, lambda size=None: valid)


def measure(method: str, size: str, steps: int, batch: int | None) -> tuple[float, float]:
    """Median seconds per step (ours, original)."""
    preset, px = SIZES[size]
    config = resolve_search_config(method, preset)
    C, N = config["C"], config["N"]
    b, vb = batch or config["batch_size"], config["arch_batch_size"]
    g = torch.Generator().manual_seed(0)
    train = (torch.randn(b, 3, px, px, generator=g), torch.randint(10, (b,), generator=g))
    valid = (torch.randn(vb, 3, px, px, generator=g), torch.randint(10, (vb,), generator=g))
    torch.manual_seed(0)
    impls = {"ours": _ours(method, C, N, config), "original": _original(method, C, N, config)}
    times: dict[str, list[float]] = {k: [] for k in impls}
    for f in impls.values():  # warm-up
        f(train, valid)
    for _ in range(steps):
        for k, f in impls.items():
            t = time.perf_counter()
            f(train, valid)
            times[k].append(time.perf_counter() - t)
    return statistics.median(times["ours"]), statistics.median(times["original"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per implementation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=None, help="weight batch (default: the preset's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.steps} steps")
    print(f"{'size':<6} {'method':<9} {'ours ms':>9} {'orig ms':>9} {'speed-up':>9}")
    for size in args.sizes:
        for method in args.methods:
            ours, orig = measure(method, size, args.steps, args.batch)
            print(
                f"{size:<6} {method:<9} {1e3 * ours:9.1f} {1e3 * orig:9.1f} {orig / ours:8.2f}x", flush=True
            )


if __name__ == "__main__":
    main()
