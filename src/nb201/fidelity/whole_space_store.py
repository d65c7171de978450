"""The whole-space estimate written as a benchmark: sub-stores, meta.json and the build.

`nb201.fidelity.whole_space` says what is served and why; this module turns the fitted
estimates into the four sub-stores (through `nb201.benchmark.store.write_benchmark`, the
one writer of benchmark folders) with the `estimate` block every query path reads, and
runs the whole build: `python -m nb201.fidelity.whole_space_store` (the `whole-space`
pipeline profile runs it from notebook 08).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.fidelity import whole_space as ws
from nb201.fidelity.estimate import CANDIDATES, DatasetFit
from nb201.fidelity.monotone import MAP_KINDS
from nb201.names import is_valid_split
from nb201.space import NUM_ARCHS

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TABLES = {
    "full": "data/proxies/cifar10-C16-N5-32px-b64-s0.parquet",
    "small": "data/proxies/cifar10-C8-N1-16px-b64-s0.parquet",
}
DEFAULT_RUNS = ("data/cifar10-cpu/runs", "data/fidelity/runs")


def _r(v: Any, nd: int = 4) -> Any:
    return round(float(v), nd) if v is not None and np.isfinite(v) else None


NESTED = (
    "nested cross-validation: 10 outer folds; in each, the ranker chosen by 4-fold CV on the outer "
    "training fold among the candidates, the monotone map fitted on its inner out-of-fold scores; "
    "agreement of the outer out-of-fold estimates with the published accuracies, 95% percentile-"
    "bootstrap intervals over architectures"
)
FIXED = (
    "10-fold cross-validation of the full feature set's chosen ranker and map, refitted without the "
    "published-size proxies (no selection on these features); map fitted on inner out-of-fold scores; "
    "95% percentile-bootstrap intervals over architectures"
)


def cv_block(fit: DatasetFit) -> dict[str, Any]:
    """The cross-validation of one dataset's estimator, for meta.json and reports."""
    a = fit.agreement
    chosen = fit.nested.chosen
    return {
        "evaluation": NESTED if fit.features.name == "full" else FIXED,
        "n": int(a["n"]),
        "spearman": _r(a["spearman"]),
        "spearman_ci95": [_r(a["spearman_lo"]), _r(a["spearman_hi"])],
        "kendall": _r(a["kendall"]),
        "kendall_ci95": [_r(a["kendall_lo"]), _r(a["kendall_hi"])],
        "rmse_percent": _r(a["rmse"], 3),
        "mae_percent": _r(a["mae"], 3),
        "chosen_per_outer_fold": {c: chosen.count(c) for c in dict.fromkeys(chosen)},
        "map_rmse_percent": {k: _r(v, 3) for k, v in fit.nested.map_rmse.items()},
        "interval_coverage_95": _r(fit.coverage_95, 3),
    }


def proxy_tables_block(tables: Mapping[str, str | Path]) -> dict[str, Any]:
    """What each proxy table the estimate reads holds: file, configuration, coverage."""
    from nb201.fidelity.tables import load_table

    out = {}
    for label, path in tables.items():
        meta = load_table(path)[1]
        out[label] = {
            "file": str(path),
            "config": meta["config"],
            "proxies": meta["proxies"],
            **meta["coverage"],
        }
    return out


def estimate_block(
    dataset: str,
    fits: Mapping[str, DatasetFit],
    labels: Mapping[str, Any],
    time_report: Mapping[str, Any],
    latency: Mapping[str, Any],
    served: Mapping[str, np.ndarray],
    role: str,
) -> dict[str, Any]:
    """meta.json's `estimate` block: what is estimated, how, how well, and what is not."""
    full, small = fits["full"], fits.get("small")
    scored = ws.DATASETS[dataset][0]
    counts = {
        name: int((served["model"] == code).sum()) for code, name in enumerate(("full", "small", "rule"))
    }
    return {
        "estimated": True,
        "what": f"estimated {ws.EPOCHS}-epoch {dataset} {scored} accuracy (%) of the published network "
        "(C=16, N=5) under the NAS-Bench-201 protocol, for every architecture; not measured",
        "role": role,
        "dataset": dataset,
        "scored_set": scored,
        "epochs": ws.EPOCHS,
        "stored_epochs": 1,
        "labels": {k: v for k, v in labels.items() if k != "proxy_tables"},
        "proxy_tables": labels.get("proxy_tables"),
        "model": {
            "ranker": full.chosen["candidate"],
            "ranker_candidates": [c.name for c in CANDIDATES],
            "target": "rank of the published accuracy among the calibration archs",
            "accuracy_map": full.estimator.accuracy_map.to_dict(),
            "map_candidates": list(MAP_KINDS),
            "features": list(full.features.columns),
            "fallback": None
            if small is None
            else {
                "when": "the published-size proxy table lacks the arch's functional class",
                "ranker": small.chosen["candidate"],
                "features": list(small.features.columns),
                "accuracy_map": small.estimator.accuracy_map.to_dict(),
            },
            "archs_served_by": counts,
            "candidates_tried": len(CANDIDATES) * len(MAP_KINDS),
            "selection_note": "the nested CV guards the choice among these rankers and maps; before it, "
            "10 exploratory configurations (the proxy tables and cell features alone and together, with "
            "gradient boosting, random forest, extra trees, their average and an ARD Gaussian process) were "
            "scored by plain 10-fold CV on the same 200 archs, which chose the feature set and candidate "
            "families: held-out agreement may be a little lower than the nested figure",
        },
        "cv": {name: cv_block(f) for name, f in fits.items()},
        "uncertainty": "estimate-std: sqrt(spread of a 30-member bootstrap ensemble of the ranker^2 + "
        "c * residual sd at the estimate^2), c fitted so the out-of-fold residuals have unit variance "
        "in units of the served sd; estimate-lo/hi = estimate -/+ 1.96 sd",
        "classes": "members of a functional class share the estimate, its sd and its draws "
        "(class_index = the class's lowest index); params, FLOPs and latency are each arch's own",
        "degenerate_rule": f"the 341 cells whose output is identically zero: {ws.chance(dataset):.4g}% "
        f"(100 / {ws.DATASETS[dataset][1]} classes: a constant prediction on a class-balanced set), sd 0",
        "reward": "x-valid-accuracy: 3 fixed pseudo-seed draws per class, estimate + sd * z (z seeded per "
        "(dataset, class), centred over the seeds, unit variance); their mean is the estimate. A search "
        "rewards with one random draw and is scored on the estimate (the test set's column)",
        "seeds": "pseudo-seeds 0, 1, 2; the test set's accuracy is the estimate for every one",
        "time_model": dict(time_report),
        "latency_model": {
            k: v for k, v in latency.items() if k not in ("measured_latency_s", "measured_archs")
        },
        "costs": "params and FLOPs: nb201.space.cost.table of the published network (C=16, N=5) for "
        "this dataset's input and classes; latency: latency_model (measured on this machine, modelled)",
        "lacks": list(ws.LACKS),
    }


def _sub_arrays(
    split: str, dataset: str, served: Mapping[str, np.ndarray], train_s: np.ndarray, eval_s: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """(metrics, values [NUM_ARCHS, seeds, 1, metrics]) of one sub-store."""
    reps, _ = ws.class_representatives()
    est, sd = served["estimate"], served["estimate-std"]
    cols: dict[str, np.ndarray] = {"train-time": np.repeat(train_s[:, None], len(ws.PSEUDO_SEEDS), axis=1)}
    scored = ws.DATASETS[dataset][0]
    if is_valid_split(split) or dataset != "cifar10":
        cols["x-valid-accuracy"] = ws.reward_draws(est, sd, reps, dataset)
        cols["x-valid-time"] = np.repeat(eval_s[:, None], len(ws.PSEUDO_SEEDS), axis=1)
    if not is_valid_split(split):
        cols[f"{scored}-accuracy"] = np.repeat(est[:, None], len(ws.PSEUDO_SEEDS), axis=1)
        scale = ws.EVAL_IMAGES[scored] / ws.EVAL_IMAGES["x-valid"]
        cols[f"{scored}-time"] = np.repeat(eval_s[:, None] * scale, len(ws.PSEUDO_SEEDS), axis=1)
    metrics = list(cols)
    values = np.stack([cols[m] for m in metrics], axis=-1)[:, :, None, :].astype(np.float32)
    return metrics, values


def write_store(
    out: str | Path,
    frame: pd.DataFrame,
    fits: Mapping[str, Mapping[str, DatasetFit]],
    labels: Mapping[str, Any],
    time_model: Any,
    latency: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, np.ndarray]]:
    """Write the whole-space benchmark into `out` (one sub-store per split, see
    `nb201.fidelity.whole_space`); returns what was served per dataset."""
    from nb201.benchmark.store import write_benchmark
    from nb201.space import all_archs
    from nb201.space.cost import table

    op_ids = np.array([a.op_ids() for a in all_archs()])
    small_flops = table((3, 16, 16), 10, C=8, N=1)["flops"].to_numpy(np.float64)
    train_s, eval_s = time_model.predict(op_ids, small_flops)
    served_all = {}
    for dataset, dfits in fits.items():
        served = ws.estimate_space(frame, dfits, dataset)
        served_all[dataset] = served
        images = ws.DATASETS[dataset][3]
        train_ds = train_s * images / ws.DATASETS["cifar10"][3]
        costs = ws._costs(dataset, latency[dataset])
        derived_table = pd.DataFrame({"arch_index": np.arange(NUM_ARCHS), **served})
        splits = ["cifar10-valid", "cifar10"] if dataset == "cifar10" else [dataset]
        for split in splits:
            role = "reward (search)" if is_valid_split(split) else "scored (reported) and reward"
            if dataset == "cifar10" and split == "cifar10":
                role = "scored (reported)"
            metrics, values = _sub_arrays(split, dataset, served, train_ds, eval_s)
            block = estimate_block(dataset, dfits, labels, time_model.report, latency[dataset], served, role)
            write_benchmark(
                out,
                split=split,
                hp=ws.HP,
                arch_indices=np.arange(NUM_ARCHS),
                seeds=list(ws.PSEUDO_SEEDS),
                metrics=metrics,
                values=values,
                costs=costs,
                dataset=dataset,
                meta={"source": "nb201 whole-space estimate (nb201.fidelity.whole_space)", "estimate": block},
                derived={
                    ws.SET_NAME: (
                        derived_table,
                        {
                            "producer": "nb201.fidelity.whole_space_store (pipeline profile whole-space)",
                            "unit": "percent (estimated)",
                            "model_codes": "0 full features, 1 fallback features, 2 degenerate rule",
                        },
                    )
                },
            )
    return served_all


def build(
    out: str | Path = "data/benchmarks/whole-space",
    calibration_csv: str | Path = "data/calibration/nb201-calibration-200.csv",
    tables: Mapping[str, str | Path] | None = None,
    runs_dirs: Sequence[str | Path] = DEFAULT_RUNS,
    work_dir: str | Path = "data/cache/whole-space",
    datasets: Sequence[str] = tuple(ws.DATASETS),
    n_boot: int = 30,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit, estimate and write the whole-space benchmark; returns the build's summary
    (CV agreement per dataset, archs per model, core-seconds spent)."""
    from nb201.fidelity.timing import fit_time_model, load_timed_runs
    from nb201.fsutil import atomic_write_json

    t0, c0 = time.perf_counter(), time.process_time()
    tables = dict(tables or DEFAULT_TABLES)
    frame, fits = ws.fit_all(calibration_csv, tables, datasets, n_boot=n_boot, seed=seed, progress=progress)
    time_model = fit_time_model(load_timed_runs(runs_dirs))
    latency = ws.latency_models(work_dir, datasets, benchmark=out)
    labels = {
        "source": ws.LABELS_SOURCE,
        "file": str(calibration_csv),
        "sha256": ws._file_sha(calibration_csv),
        "n": int(len(pd.read_csv(calibration_csv))),
        "proxy_tables": proxy_tables_block(tables),
    }
    served = write_store(out, frame, fits, labels, time_model, latency)
    summary = {
        "benchmark": str(out),
        "cv": {ds: {fs: cv_block(f) for fs, f in dfits.items()} for ds, dfits in fits.items()},
        "served_by": {
            ds: {name: int((s["model"] == code).sum()) for code, name in enumerate(("full", "small", "rule"))}
            for ds, s in served.items()
        },
        "time_model": time_model.report,
        "core_seconds": round(time.process_time() - c0, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "proxy_tables": {k: str(v) for k, v in tables.items()},
    }
    atomic_write_json(Path(work_dir) / "build.json", summary, indent=1)
    return summary


def proxy_step(
    table: str | Path,
    work_dir: str | Path,
    calibration_csv: str | Path,
    benchmark: str | Path | None = "data/benchmarks/cifar10-cpu",
    run: bool = True,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Make the published-size proxy table cover every functional class: nothing to do (no
    torch, no data) when it does; else resume the proxy job (`nb201.fidelity.proxies`, the
    table's own configuration, proxies and dataset) for the archs it lacks and assemble the
    table again from the job's folder. With `run=False` only count what is missing (the
    fallback model then serves those classes). Returns what it found and did."""
    from nb201.fidelity.tables import load_table

    frame, meta = load_table(table)
    from nb201.fidelity.proxies import arch_list

    need = arch_list(calibration_csv, benchmark, "functional")
    missing = [i for i in need if i not in set(frame.index)]
    out: dict[str, Any] = {"table": str(table), "archs": len(frame), "missing": len(missing), "computed": 0}
    if not missing or not run:
        return out | {"status": "complete" if not missing else "incomplete (not run)"}
    from nb201.fidelity.proxies import ProxyConfig, assemble, run_job

    config = ProxyConfig(**meta["config"])
    names = list(meta["proxies"])
    counts = run_job(missing, work_dir, meta["dataset"], config, data_root=data_root, names=names)
    done = {int(p.stem) for p in Path(work_dir).glob("*.json")}
    lost = sorted(set(frame.index) - done)
    if lost:
        raise ValueError(
            f"{work_dir} lacks the records of {len(lost)} archs the table {table} holds (e.g. {lost[:5]}); "
            "assembling from it would drop them. Point work_dir at the job folder the table was built from."
        )
    assemble(work_dir, table)
    return out | {"status": "assembled", "computed": counts["done"], "failed": counts["failed"]}


def cpu_cifar_check(
    whole: str | Path = "data/benchmarks/whole-space",
    measured: str | Path = "data/benchmarks/cifar10-cpu",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Agreement of the CIFAR-10 estimate with the measured cpu-cifar test accuracies of
    the committed CPU benchmark's archs (held out from the calibration set): a sanity
    check nb201 can run itself. The measured numbers are a cheap 4-epoch protocol, not the
    200-epoch one the estimate targets, so perfect agreement is not expected."""
    from nb201.benchmark import Benchmark
    from nb201.benchmark.analysis import rank_agreement

    est_b, m = Benchmark.open(whole), Benchmark.open(measured)
    (split,) = m.datasets
    hp = m.default_hp(split, "report")
    idx = m.indexes(split, hp)
    acc = m.metrics(idx, "ori-test-accuracy", dataset=split, hp=hp)
    est = np.asarray(est_b.metrics(idx, "ori-test-accuracy", dataset="cifar10"))
    agree = rank_agreement(est, acc, n_boot=n_boot, seed=seed)
    return {
        "what": f"Spearman/Kendall of the CIFAR-10 estimate with {m.root.name}'s measured {split} ori-test "
        f"accuracy at hp {hp} ({len(idx)} archs, none in the calibration set)",
        **{k: float(v) for k, v in agree.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nb201.fidelity.whole_space_store [--out DIR] [--calibration CSV] [--full TABLE]
    [--small TABLE]`: fit the estimate and write the whole-space benchmark."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m nb201.fidelity.whole_space_store", description=main.__doc__)
    p.add_argument("--out", default="data/benchmarks/whole-space")
    p.add_argument("--calibration", default="data/calibration/nb201-calibration-200.csv")
    p.add_argument("--full", default=DEFAULT_TABLES["full"], help="published-size proxy table")
    p.add_argument("--small", default=DEFAULT_TABLES["small"], help="CPU-size proxy table")
    p.add_argument("--work-dir", default="data/cache/whole-space")
    p.add_argument("--n-boot", type=int, default=30)
    a = p.parse_args(argv)
    summary = build(
        a.out, a.calibration, {"full": a.full, "small": a.small}, work_dir=a.work_dir, n_boot=a.n_boot
    )
    print(json.dumps({k: summary[k] for k in ("cv", "served_by", "core_seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
