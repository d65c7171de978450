"""`nb201` command line: thin wrappers for scripting; the work is done by the library.

Subcommands register themselves in `COMMANDS` (name -> function adding a subparser and
returning the handler), so a new one (e.g. `run-notebooks`) is one function plus one entry.
Answers go to stdout as JSON (`--json`) or text; errors to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def _seed_arg(text: str) -> bool | int:
    if text == "random":
        return True
    if text == "mean":
        return False
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seed takes 'random', 'mean' or an integer seed, not {text!r}"
        ) from None


def _arch_arg(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


# ---- query ---------------------------------------------------------------------------------


def _add_query(sub: argparse._SubParsersAction) -> Handler:
    p = sub.add_parser(
        "query",
        help="query a benchmark folder (get_more_info, costs, find_best, vectorized metrics)",
        description="Query a benchmark. Examples:\n"
        "  nb201 query bench/ 11472 --dataset cifar10-valid --hp 200\n"
        "  nb201 query bench/ 1 2 3 --dataset digits --metric x-valid-accuracy\n"
        "  nb201 query bench/ --dataset cifar10 --find-best valid --flop-max 100\n"
        "  nb201 query bench/ --info",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("benchmark", help="benchmark folder (or a name in $NB201_BENCHMARKS)")
    p.add_argument("archs", nargs="*", type=_arch_arg, help="official arch indices or arch strings")
    p.add_argument(
        "--dataset", help="split name: cifar10-valid, cifar10, cifar100, ImageNet16-120, digits, ..."
    )
    p.add_argument(
        "--hp", default=None, help="hp setting (e.g. 12, 200); default: 200 if present, else the only one"
    )
    p.add_argument("--iepoch", type=int, default=None, help="epoch index (default: last)")
    p.add_argument("--seed", type=_seed_arg, default=False, help="'mean' (default), 'random', or a seed")
    p.add_argument("--cost", action="store_true", help="print get_cost_info instead of get_more_info")
    p.add_argument("--metric", help="vectorized: print this metric for all given archs")
    p.add_argument("--find-best", metavar="SET", help="find_best on this set (valid, test, x-valid, ...)")
    p.add_argument("--flop-max", type=float, default=None)
    p.add_argument("--param-max", type=float, default=None)
    p.add_argument("--info", action="store_true", help="list sub-stores, seeds, epochs, metrics")
    p.add_argument("--verify", action="store_true", help="check every data file's SHA-256 on open")
    p.add_argument("--json", action="store_true", help="JSON output")
    return _run_query


def _run_query(args: argparse.Namespace) -> int:
    from nb201.api import Benchmark

    b = Benchmark.open(args.benchmark, verify=args.verify)
    if args.info:
        out = {
            f"{d}/{h}": {
                k: b.meta(d, h)[k]
                for k in ("dataset", "num_archs", "seeds", "num_epochs", "num_runs", "metrics")
            }
            for d in b.datasets
            for h in b.hps(d)
        }
        print(_dump(out))
        return 0
    if not args.dataset:
        raise ValueError(f"--dataset is required; this benchmark has {b.datasets}.")
    if args.find_best:
        idx, acc = b.find_best(args.dataset, args.find_best, args.flop_max, args.param_max, hp=args.hp)
        res = {"index": idx, "accuracy": acc, "arch": b.arch(idx) if idx >= 0 else None}
        print(_dump(res) if args.json else f"{idx}\t{acc}\t{res['arch']}")
        return 0
    if not args.archs:
        raise ValueError("give at least one arch index or string (or --find-best / --info).")
    indices = [b.query_index_by_arch(a) for a in args.archs]
    if args.metric:
        seeds = None if args.seed is False else ("random" if args.seed is True else args.seed)
        vals = b.metrics(
            indices, args.metric, epoch=args.iepoch, seeds=seeds, dataset=args.dataset, hp=args.hp
        )
        if args.json:
            print(_dump(dict(zip(map(str, indices), vals.tolist()))))
        else:
            for i, v in zip(indices, vals.tolist()):
                print(f"{i}\t{v}")
        return 0
    res = {
        str(i): (
            b.get_cost_info(i, args.dataset, hp=args.hp)
            if args.cost
            else b.get_more_info(i, args.dataset, iepoch=args.iepoch, hp=args.hp, is_random=args.seed)
        )
        for i in indices
    }
    if args.json or len(res) > 1:
        print(_dump(res))
    else:
        for k, v in next(iter(res.values())).items():
            print(f"{k:18s} {v}")
    return 0


# ---- import / aggregate ----------------------------------------------------------------------


def _add_import(sub: argparse._SubParsersAction) -> Handler:
    p = sub.add_parser(
        "import",
        help="convert official NAS-Bench-201 (.pth) / NATS-Bench topology data into a benchmark folder",
        description="Convert NAS-Bench-201-v1_0-e61699.pth, NAS-Bench-201-v1_1-096897.pth, the "
        "NATS-tss-v1_0-3ffb9-simple/ folder or NATS-tss-v1_0-3ffb9.pickle.pbz2 into an nb201 benchmark.",
    )
    p.add_argument("source", help="the official file or folder")
    p.add_argument("out", help="benchmark folder to write (sub-stores are added or replaced)")
    p.add_argument("--datasets", nargs="+", help="only these splits (default: all)")
    p.add_argument("--hps", nargs="+", help="only these hp settings, e.g. 12 200 (default: all)")
    p.add_argument(
        "--allow-pickle", action="store_true", help="load any pickled object (a .pth/.pbz2 you trust)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _run_import


def _run_import(args: argparse.Namespace) -> int:
    from nb201.importers import import_official

    written = import_official(
        args.source,
        args.out,
        datasets=args.datasets,
        hps=args.hps,
        allow_pickle=args.allow_pickle,
        progress=not args.quiet,
    )
    for p in written:
        print(p)
    return 0


def _add_aggregate(sub: argparse._SubParsersAction) -> Handler:
    p = sub.add_parser(
        "aggregate",
        help="add run records (nb201.run/1 JSON) to a benchmark folder, with a validation report",
    )
    p.add_argument("records", nargs="+", help="folders of <run_id>.json records (or record files)")
    p.add_argument("--out", required=True, help="benchmark folder")
    p.add_argument(
        "--expected-archs", nargs="+", type=_arch_arg, help="archs that should be there (for coverage)"
    )
    p.add_argument("--expected-seeds", nargs="+", type=int, help="seeds that should be there (for coverage)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    return _run_aggregate


def _run_aggregate(args: argparse.Namespace) -> int:
    from nb201.store.aggregate import aggregate

    report = aggregate(
        args.records, args.out, expected_archs=args.expected_archs, expected_seeds=args.expected_seeds
    )
    print(_dump(report.to_dict()) if args.json else report)
    return 0


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], Handler]] = {
    "query": _add_query,
    "import": _add_import,
    "aggregate": _add_aggregate,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nb201", description="nb201: NAS-Bench-201, rebuilt.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, add in COMMANDS.items():
        handler = add(sub)
        sub.choices[name].set_defaults(func=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nb201 {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
