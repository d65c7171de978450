"""What a search found, measured: derived archs looked up in a benchmark, trained if absent.

A weight-sharing search returns architectures, not accuracies. Every derived arch is
looked up in a benchmark (`nb201.benchmark.api.Benchmark`); an arch the benchmark lacks (a CPU-built
benchmark holds a few hundred of 15,625) is trained at the benchmark's own fidelity (its
preset, its seeds) through `nb201.train.sweep` and aggregated into it, where the archs
already there keep their numbers. So every number a report shows is a measured one, and
the compute spent on missing archs is capped (`max_new`) and reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.benchmark import Benchmark
from nb201.names import eval_metrics, set_of
from nb201.space import OPS, Arch

# The paper's results as later papers quote them (CIFAR-10 valid / test, CIFAR-100 test,
# ImageNet16-120 test; mean +- std over runs). Labelled "quoted": not reproduced here.
QUOTED = pd.DataFrame(
    [
        ("rsps", "80.42±3.58", "84.07±3.61", "52.31", "26.28"),
        ("darts-v1", "39.77±0.00", "54.30±0.00", "15.61", "16.32"),
        ("darts-v2", "39.77±0.00", "54.30±0.00", "15.61", "16.32"),
        ("gdas", "89.89±0.08", "93.61±0.09", "70.70", "41.71"),
        ("setn", "84.04±0.28", "87.64±0.00", "59.05", "32.52"),
        ("enas", "37.51±3.19", "53.89±0.58", "13.96", "14.84"),
    ],
    columns=[
        *("method", "cifar10-valid x-valid", "cifar10 ori-test"),
        *("cifar100 x-test", "ImageNet16-120 x-test"),
    ],
)


@dataclass
class Evaluation:
    """Accuracies of the looked-up archs and what it took to get them."""

    table: pd.DataFrame  # arch_index, arch, <set>-accuracy (final epoch, mean over seeds), source
    trained: list[str] = field(default_factory=list)  # archs trained into the benchmark now
    not_evaluated: list[str] = field(default_factory=list)  # missing archs over the budget
    cpu_hours: float = 0.0  # spent training the missing archs
    failed: list[str] = field(default_factory=list)


def plan(records: Sequence[dict[str, Any]], have: Iterable[int], max_new: int) -> tuple[list[Arch], str]:
    """Which derived archs to evaluate: all of them when at most `max_new` are missing from
    the benchmark, else the final archs (and as many per-epoch ones as fit); and a note."""
    have = set(int(i) for i in have)
    finals = [Arch.from_string(r["final"]["arch"]) for r in records]
    every = [Arch.from_string(e["arch"]) for r in records for e in reversed(r["epochs"])]
    ordered = list(dict.fromkeys(finals + every))
    missing = [a for a in ordered if a.index not in have]
    if len(missing) <= max_new:
        trained = f"{len(missing)} trained at the benchmark's fidelity"
        return ordered, f"all {len(ordered)} derived archs evaluated ({trained})."
    missing_finals = [a for a in dict.fromkeys(finals) if a.index not in have]
    budget = max(max_new, len(missing_finals))
    chosen = set(missing[:budget]) | set(missing_finals)
    keep = [a for a in ordered if a.index in have or a in chosen]
    return keep, (
        f"{len(missing)} of {len(ordered)} derived archs are not in the benchmark, more than the budget of "
        f"{max_new} trainings: the final archs are evaluated, and per-epoch archs only where they are in the "
        f"benchmark or fit the budget ({len(keep)} of {len(ordered)} evaluated)."
    )


def lookup(bench: Benchmark, archs: Sequence[Arch], split: str, hp: str) -> pd.DataFrame:
    """Final-epoch accuracy of every arch the benchmark holds (mean over its seeds)."""
    have = set(bench.indexes(split, hp).tolist())
    sets = eval_metrics(bench.metric_names(split, hp))
    rows = []
    for a in dict.fromkeys(archs):
        row: dict[str, Any] = {"arch_index": a.index, "arch": str(a), "in_benchmark": a.index in have}
        for m in sets:
            held = a.index in have
            row[m] = float(bench.metrics([a.index], m, dataset=split, hp=hp)[0]) if held else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_archs(
    archs: Sequence[Arch | str | int],
    benchmark_dir: str | Path,
    runs_dir: str | Path,
    *,
    dataset: str,
    split: str,
    preset: str,
    fidelity: dict[str, Any] | None = None,
    max_new: int = 10,
    data_root: str | None = None,
    engine_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Look `archs` up in the benchmark at `benchmark_dir` ((split, preset) sub-store);
    train up to `max_new` missing ones with `preset` and the benchmark's seeds into
    `runs_dir`, aggregate them into the benchmark, and look everything up again.

    `fidelity` are the overrides the benchmark's runs used (its hp is `preset[k=v]`)."""
    from nb201.benchmark.store.aggregate import aggregate, hp_label
    from nb201.train import sweep

    hp = hp_label(preset, fidelity)

    wanted = list(dict.fromkeys(Arch.coerce(a) for a in archs))
    bench = Benchmark.open(benchmark_dir)
    have = set(bench.indexes(split, hp).tolist())
    missing = [a for a in wanted if a.index not in have]
    to_train, over = missing[:max_new], missing[max_new:]
    out = Evaluation(table=pd.DataFrame(), not_evaluated=[str(a) for a in over])
    if to_train:
        summary = sweep(
            to_train,
            [(dataset, split)],
            preset,
            seeds=bench.seeds(split, hp),
            fidelity=fidelity,
            out_dir=runs_dir,
            data_root=data_root,
            progress=progress,
            engine_options=engine_options,
        )
        # the core-hours of the records (a record trained by an earlier, interrupted call
        # counts too; the sweep's own total would count it as a free skip)
        from nb201.train import load_records

        new_idx = {a.index for a in to_train}
        out.cpu_hours = (
            sum(
                float(r.get("cpu_time") or 0.0)
                for r in load_records(runs_dir)
                if r["arch_index"] in new_idx and r["spec"]["split"] == split and r["hp"] == preset
            )
            / 3600.0
            or summary.cpu_hours
        )
        out.failed = [f"{arch}: {reason.splitlines()[0]}" for _, arch, reason in summary.failed]
        aggregate(runs_dir, benchmark_dir)
        bench = Benchmark.open(benchmark_dir)
        out.trained = [str(a) for a in to_train if a.index in set(bench.indexes(split, hp).tolist())]
    out.table = lookup(bench, wanted, split, hp)
    out.table["source"] = [
        "trained for this report" if a in out.trained else ("benchmark" if ok else "not evaluated")
        for a, ok in zip(out.table["arch"], out.table["in_benchmark"])
    ]
    return out


def op_fractions(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per method and epoch: the fraction of each op among the derived cells' six edges
    (averaged over seeds); a collapse to `skip_connect` shows as that column going to 1."""
    rows = []
    for r in records:
        for e in r["epochs"]:
            ops = Arch.from_string(e["arch"]).ops
            rows.append(
                {"method": r["spec"]["method"], "seed": r["spec"]["seed"], "epoch": e["epoch"]}
                | {op: ops.count(op) / len(ops) for op in OPS}
            )
    df = pd.DataFrame(rows)
    return df.groupby(["method", "epoch"], as_index=False)[list(OPS)].mean() if len(df) else df


def search_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, seed) search: final arch, epochs, supernet numbers, cost."""
    rows = []
    for r in records:
        last = r["epochs"][-1]
        rows.append(
            {
                "method": r["spec"]["method"],
                "seed": r["spec"]["seed"],
                "epochs": len(r["epochs"]),
                "final arch": r["final"]["arch"],
                "arch_index": r["final"]["arch_index"],
                "supernet train acc": last["train-accuracy"],
                "supernet valid acc": last["valid-accuracy"],
                "core-hours": r["cpu_time"] / 3600.0,
                "wall hours": r["wall_time"] / 3600.0,
            }
        )
    return pd.DataFrame(rows)


# ---- the weight-sharing report's steps (notebook 06) ---------------------------------------
SKIP_EDGES = "ours: skip_connect edges in final cell"
REFERENCE_METRICS = ("ori-test-accuracy", "x-test-accuracy", "x-valid-accuracy")


def reference(bench: Benchmark, split: str, hp: str) -> tuple[str, np.ndarray]:
    """(metric, its values over every arch the benchmark holds): the population a derived
    arch's percentile is taken in; the metric is the first of `REFERENCE_METRICS` it has.
    Read before the report trains anything into the benchmark."""
    metric = next(m for m in REFERENCE_METRICS if m in bench.metric_names(split, hp))
    return metric, bench.metrics(bench.indexes(split, hp), metric, dataset=split, hp=hp)


def describe_evaluation(evaluation: Evaluation, where: str, held_before: int) -> str:
    """One line on what evaluating the derived archs added to the benchmark and cost."""
    trained = len(evaluation.trained)
    return (
        f"benchmark {where}: {held_before} archs before, {held_before + trained} after; trained for this "
        f"report (at its fidelity): {trained} ({evaluation.cpu_hours:.3f} core-hours); "
        f"failed: {evaluation.failed or 'none'}"
    )


def mean_std(s: pd.Series) -> str:
    """`mean±std` over seeds (population std), the mean alone for one seed, n/a for none."""
    s = s.dropna()
    if s.empty:
        return "n/a"
    return f"{s.mean():.2f}±{s.std(ddof=0):.2f}" if len(s) > 1 else f"{s.mean():.2f}"


def percentile_in(values: pd.Series, reference_values: np.ndarray) -> pd.Series:
    """Percentage of the reference archs strictly below each value (NaN stays NaN)."""
    ref = np.asarray(reference_values, dtype=float)
    return values.map(lambda v: float(100 * np.mean(ref < v)) if np.isfinite(v) else np.nan)


def side_by_side(
    final: pd.DataFrame, acc_sets: list[str], split: str, ref_metric: str, reference_values: np.ndarray
) -> pd.DataFrame:
    """Per method (rows in search order): accuracy of its final archs on every set
    (`mean_std` over seeds), skip_connect edges in its final cells, the percentile of its
    mean `ref_metric` among the benchmark's archs; then the paper's numbers, labelled quoted.

    `final` is `search_table` joined with the archs' measured accuracies."""
    by_method = final.groupby("method", sort=False)
    ours = by_method[acc_sets].agg(mean_std)
    ours.columns = [f"ours {split} {set_of(c)}" for c in ours.columns]
    ours[SKIP_EDGES] = by_method["final arch"].agg(lambda s: np.mean([a.count("skip_connect") for a in s]))
    label = f"ours: percentile of {ref_metric} among the benchmark's {len(reference_values)} archs"
    ours[label] = percentile_in(by_method[ref_metric].mean(), reference_values)
    return ours.join(QUOTED.set_index("method").add_prefix("quoted (paper) "))


def per_epoch_table(records: Sequence[dict[str, Any]], acc: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, seed, epoch): the derived arch, the supernet's own valid accuracy
    and the derived arch's measured accuracies (`acc`, indexed by arch index; NaN where
    it was not evaluated)."""
    rows = [
        {
            "method": r["spec"]["method"],
            "seed": r["spec"]["seed"],
            "epoch": e["epoch"],
            "arch_index": e["arch_index"],
            "supernet valid acc": e["valid-accuracy"],
        }
        for r in records
        for e in r["epochs"]
    ]
    return pd.DataFrame(rows).join(acc, on="arch_index")


def skip_mass(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per (method, epoch), mean over seeds: the architecture distribution's mass on
    skip_connect averaged over the six edges (0.2 is uniform; a collapse goes to 1)."""
    k = OPS.index("skip_connect")
    rows = [
        {
            "method": r["spec"]["method"],
            "epoch": e["epoch"],
            "p(skip_connect)": float(np.mean(np.asarray(e["distribution"])[:, k])),
        }
        for r in records
        for e in r["epochs"]
    ]
    return (
        pd.DataFrame(rows).groupby(["method", "epoch"], as_index=False, sort=False)["p(skip_connect)"].mean()
    )


def findings(
    where: str,
    final: pd.DataFrame,
    ours: pd.DataFrame,
    skip: pd.DataFrame,
    ref_metric: str,
    reference_values: np.ndarray,
) -> tuple[list[str], list[str]]:
    """(the report's findings: one line on the benchmark `where` the archs were measured, one
    per method; the DARTS variants whose final cells have 4+ skip_connect edges on average).

    `ours` is `side_by_side`, `skip` is `skip_mass`."""
    ref = np.asarray(reference_values, dtype=float)
    lines = [
        f"Benchmark {where}: {ref_metric} of its {len(ref)} archs ranges {np.min(ref):.2f} to "
        f"{np.max(ref):.2f} (median {np.median(ref):.2f})."
    ]
    final_ref = final.groupby("method", sort=False)[ref_metric].mean()
    pct = percentile_in(final_ref, ref)
    for m in ours.index:
        p = skip[skip["method"] == m]["p(skip_connect)"]
        lines.append(
            f"- {m}: final cell(s) {', '.join(final.loc[final.method == m, 'final arch'])}; "
            f"{ref_metric} {final_ref.get(m, np.nan):.2f} (percentile {pct.get(m, np.nan):.0f}); "
            f"skip_connect edges {ours.loc[m, SKIP_EDGES]:.1f}/6; distribution mass on skip_connect "
            f"{p.iloc[0]:.3f} -> {p.iloc[-1]:.3f} over {len(p)} epochs."
        )
    collapsed = [m for m in ours.index if m.startswith("darts") and ours.loc[m, SKIP_EDGES] >= 4]
    lines.append(
        "DARTS collapse to skip_connect at this preset: "
        f"{'yes: ' + ', '.join(collapsed) if collapsed else 'no'} "
        "(the paper's 50 GPU epochs end in all-skip cells)."
    )
    return lines, collapsed
