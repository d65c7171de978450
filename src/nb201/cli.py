"""`nb201` command line: thin wrappers for scripting; the work is done by the library.

Subcommands register themselves in `COMMANDS` (name -> function adding a subparser and
returning the handler), so a new one (e.g. `run-notebooks`) is one function plus one entry.
Answers go to stdout as JSON (`--json`) or text; every error goes to stderr as one line,
exit status 2 (never a traceback); a sweep with failed runs exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from nb201.util import json_default

Handler = Callable[[argparse.Namespace], int]


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=json_default)


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
    from nb201.benchmark import Benchmark

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
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes reading a NATS-tss folder (default: one per core)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _run_import


def _options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """Keyword arguments taken from the options of the same name, plus `progress` from
    `--quiet`: how the long-running commands pass their options on."""
    return {n: getattr(args, n) for n in names} | {"progress": not args.quiet}


def _run_import(args: argparse.Namespace) -> int:
    from nb201.benchmark.importers import import_official

    written = import_official(
        args.source, args.out, **_options(args, "datasets", "hps", "allow_pickle", "workers")
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
    p.add_argument(
        "--allow-invalid",
        action="store_true",
        help="build without invalid, conflicting or disagreeing records (they stay listed in the report) "
        "instead of refusing",
    )
    p.add_argument(
        "--wait", type=float, default=None, help="seconds to wait for another aggregation (default: forever)"
    )
    return _run_aggregate


def _run_aggregate(args: argparse.Namespace) -> int:
    from nb201.benchmark.store.aggregate import aggregate

    report = aggregate(
        args.records,
        args.out,
        expected_archs=args.expected_archs,
        expected_seeds=args.expected_seeds,
        allow_invalid=args.allow_invalid,
        lock_timeout=args.wait,
    )
    print(_dump(report.to_dict()) if args.json else report)
    left_out = len(report.malformed) + sum(len(r.conflicts) for r in report.substores.values())
    if args.allow_invalid and left_out:
        print(f"nb201 aggregate: warning: {left_out} record(s) left out; see the report.", file=sys.stderr)
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> Handler:
    p = sub.add_parser(
        "sweep",
        help="train archs x datasets x seeds into a runs folder (exit 1 when any run failed)",
    )
    p.add_argument("archs", nargs="+", type=_arch_arg, help="official arch indices or arch strings")
    p.add_argument("--datasets", nargs="+", required=True, help="split names, e.g. digits cifar10-valid")
    p.add_argument("--preset", required=True, help="training preset, e.g. digits-cheap")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the preset's")
    p.add_argument("--out", required=True, help="runs folder (records, checkpoints)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _run_sweep


def _run_sweep(args: argparse.Namespace) -> int:
    from nb201.train import sweep

    summary = sweep(
        args.archs,
        args.datasets,
        args.preset,
        out_dir=args.out,
        engine_options={"num_threads": args.threads},
        **_options(args, "seeds", "data_root"),
    )
    print(summary)
    if not summary.ok:
        print(f"nb201 sweep: {len(summary.failed)} run(s) failed; see above.", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], Handler]] = {
    "query": _add_query,
    "import": _add_import,
    "aggregate": _add_aggregate,
    "sweep": _add_sweep,
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
    except KeyboardInterrupt:
        print(f"nb201 {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - every error reaches the user as one line, exit 2
        if os.environ.get("NB201_DEBUG"):  # a suspected bug: the whole traceback
            raise
        print(f"nb201 {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The error's message on one line; the class name too when it is not one of ours
    (a bug, or an OS error), so that a report of it still says what happened."""
    msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = "; ".join(line.strip() for line in msg.splitlines() if line.strip()) or "(no message)"
    expected = (ValueError, KeyError, FileNotFoundError, TimeoutError)
    if isinstance(exc, expected):
        return msg
    return f"{type(exc).__name__}: {msg} (NB201_DEBUG=1 shows the traceback)"


if __name__ == "__main__":
    sys.exit(main())
