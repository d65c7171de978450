"""Run records (`nb201.run/1` JSON files) -> benchmark sub-stores, incrementally.

One sub-store per (split, hp). The hp label is the preset name, with the fidelity
overrides appended when there are any (`digits-cheap[epochs=2]`), because runs of one
preset at two fidelities are two different benchmarks and must never be averaged.

Incremental: `out/ingest.parquet` remembers every record file already seen (path relative
to `out`, size, mtime); re-aggregating parses only new files and rebuilds only the
sub-stores they change, from the sub-store's own tidy table plus the new runs. A record
whose run is already included (same run id, same file) is recognised even if the log was
lost or the mtimes changed (a fresh clone of a repository that commits both).

What goes in: runs with status `ok` and `degenerate` (chance-level numbers for cells whose
output is identically zero are real results). What stays out, and is listed in the
validation report (`out/report.json`, also returned): failed runs (NaN loss, with epoch
and reason), malformed records, duplicates (a second run of the same arch and seed; the
first included one is kept, and the report says whether the numbers agree), and runs
whose config differs from the sub-store's. The report also gives the coverage: which
(arch, seed) pairs are missing out of the archs x seeds seen, or out of `expected_archs`
x `expected_seeds` when given.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nb201.fsutil import atomic_write, atomic_write_json
from nb201.space import Arch
from nb201.store.format import SEP, TABLE, read_meta, write_benchmark

RECORD_SCHEMA = "nb201.run/1"
INGEST = "ingest.parquet"
REPORT = "report.json"
RUNS = "runs.parquet"
INCLUDED_STATUSES = ("ok", "degenerate")
# What of a run's environment the benchmark keeps: the software, and the machine it ran on.
_ENV_KEYS = (
    *("python", "torch", "numpy", "nb201", "git"),
    *("device", "device_name", "threads", "platform", "hostname"),
)


def hp_label(preset: str, fidelity: dict[str, Any] | None) -> str:
    """`preset`, or `preset[k=v,...]` when the preset was overridden."""
    if not fidelity:
        return str(preset)

    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    parts = ",".join(f"{k}={text(v)}" for k, v in sorted(fidelity.items()))
    return f"{preset}[{parts}]".replace("/", "_").replace(SEP, "_")


@dataclass
class SubstoreReport:
    split: str
    hp: str
    archs: int = 0
    seeds: list[int] = field(default_factory=list)
    runs: int = 0
    added: int = 0
    degenerate: int = 0
    coverage: float = 0.0
    missing: list[tuple[int, int]] = field(default_factory=list)  # (arch_index, seed)
    failed: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AggregationReport:
    out: str
    substores: dict[str, SubstoreReport] = field(default_factory=dict)
    new_files: int = 0
    known_files: int = 0
    malformed: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"benchmark {self.out}: {self.new_files} new record files, {self.known_files} already ingested"
        ]
        for name, r in sorted(self.substores.items()):
            lines.append(
                f"  {name}: {r.archs} archs x {len(r.seeds)} seeds, {r.runs} runs (+{r.added} new), "
                f"coverage {100 * r.coverage:.1f}%, missing {len(r.missing)}, failed {len(r.failed)}, "
                f"duplicates {len(r.duplicates)}, conflicts {len(r.conflicts)}, degenerate {r.degenerate}"
            )
            for f in r.failed[:10]:
                lines.append(f"    failed arch {f['arch_index']} seed {f['seed']}: {f['reason']}")
        for m in self.malformed[:10]:
            lines.append(f"  malformed {m['file']}: {m['reason']}")
        return "\n".join(lines)


@dataclass
class _Run:
    file: str
    size: int
    mtime_ns: int
    run_id: str
    split: str
    hp: str
    dataset: str
    arch_index: int
    seed: int
    status: str
    config: dict
    metrics: list[str]
    values: np.ndarray | None  # [E, M]
    params: float
    flops: float
    latency: float
    finished_at: str
    wall_time: float = float("nan")
    cpu_time: float = float("nan")
    failure: str = ""
    fidelity: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return b is not None and a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, equal_nan=True))


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _file_key(path: Path, out: Path) -> str:
    """How the benchmark names a record file: relative to the benchmark folder, so that a
    benchmark committed with its records still knows them in another clone."""
    try:
        return os.path.relpath(path.resolve(), out.resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path.resolve())


def _same_file(a: str, b: str, out: Path) -> bool:
    return (out / a).resolve() == (out / b).resolve()  # keys written as absolute paths still match


def _parse(path: Path, key: str) -> _Run:
    """One record file -> _Run; ValueError with the reason when it is not a usable record."""
    st = path.stat()
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(rec, dict) or rec.get("schema") != RECORD_SCHEMA:
        raise ValueError(f"not a {RECORD_SCHEMA} run record")
    try:
        spec, status, epochs = rec["spec"], rec["status"], rec["epochs"]
        arch = Arch.from_string(spec["arch"])
        if rec.get("arch_index") is not None and int(rec["arch_index"]) != arch.index:
            raise ValueError(
                f"arch_index {rec['arch_index']} does not match arch {spec['arch']} ({arch.index})"
            )
        metrics: list[str] = []
        for row in epochs:
            for k in row:
                if k != "epoch" and k not in metrics:
                    metrics.append(k)
        if [row.get("epoch") for row in epochs] != list(range(len(epochs))):
            raise ValueError("epochs are not numbered 0, 1, 2, ...")
        values = np.array([[_f(row.get(m)) for m in metrics] for row in epochs], dtype=np.float64).reshape(
            len(epochs), len(metrics)
        )
        config = dict(rec.get("config") or {})
        if status in INCLUDED_STATUSES and "epochs" in config and len(epochs) != int(config["epochs"]):
            raise ValueError(f"status {status!r} but {len(epochs)} of {config['epochs']} epochs recorded")
        if status not in INCLUDED_STATUSES + ("failed",):
            raise ValueError(f"unknown status {status!r}")
        cost = rec.get("cost") or {}
        failure = rec.get("failure") or {}
        return _Run(
            file=key,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            run_id=str(rec["run_id"]),
            split=str(spec["split"]),
            hp=hp_label(rec.get("hp") or spec["preset"], spec.get("fidelity")),
            dataset=str(spec["dataset"]),
            arch_index=arch.index,
            seed=int(spec["seed"]),
            status=str(status),
            config=config,
            metrics=metrics,
            values=values,
            params=_f(cost.get("params")),
            flops=_f(cost.get("flops")),
            latency=_f(cost.get("latency")),
            finished_at=str(rec.get("finished_at") or ""),
            wall_time=_f(rec.get("wall_time")),
            cpu_time=_f(rec.get("cpu_time")),
            failure=f"epoch {failure.get('epoch')}: {failure.get('reason')}" if failure else "",
            fidelity=dict(spec.get("fidelity") or {}),
            env={k: v for k, v in (rec.get("env") or {}).items() if k in _ENV_KEYS},
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or malformed field {exc}") from None


# The knobs that make a training protocol cheap or expensive (the fidelity study's grid).
FIDELITY_KNOBS = (
    *("C", "N", "epochs", "image_size", "train_fraction"),
    *("batch_size", "lr", "schedule", "warmup_epochs"),
)


def _effective_fidelity(config: dict | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The fidelity the runs were trained at, spelled out: the preset's values with the
    runs' overrides applied, so a reader need not look the preset up."""
    knobs = {k: (config or {}).get(k) for k in FIDELITY_KNOBS if k in (config or {})}
    return {**knobs, **overrides}


def _compute_spent(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What building the sub-store cost, from its runs' own clocks: a cheap benchmark's claim
    is its price, so the price travels with it. CPU seconds are core-seconds (process time)."""

    def total(key: str) -> tuple[float, int]:
        vals = [float(r[key]) for r in runs if r.get(key) is not None and not math.isnan(float(r[key]))]
        return float(sum(vals)), len(vals)

    cpu, n_cpu = total("cpu_time")
    wall, n_wall = total("wall_time")
    return {
        "runs": len(runs),
        "runs_timed": n_cpu,
        "cpu_seconds": round(cpu, 1),
        "cpu_hours": round(cpu / 3600, 3),
        "wall_seconds": round(wall, 1),
        "cpu_seconds_per_run": round(cpu / n_cpu, 2) if n_cpu else None,
        "wall_seconds_per_run": round(wall / n_wall, 2) if n_wall else None,
    }


def _record_files(dirs: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(sorted(d.glob("*.json")))
        else:
            raise FileNotFoundError(
                f"record folder {d} does not exist; pass the out_dir of nb201.train.sweep."
            )
    return files


def _read_parquet(path: Path) -> pa.Table | None:
    return pq.read_table(path) if path.is_file() else None


def _existing_runs(
    folder: Path,
) -> tuple[list[dict[str, Any]], dict[tuple[int, int], np.ndarray], list[str], dict]:
    """Included runs of an existing sub-store: run rows, (arch, seed) -> [E, M] values, metrics, meta."""
    meta = read_meta(folder)
    if not (folder / RUNS).is_file():
        raise ValueError(
            f"{folder} was not built from run records (source: {meta.get('source')!r}), so records cannot be "
            "added to it; aggregate into another benchmark folder."
        )
    runs = pq.read_table(folder / RUNS).to_pylist()
    for row in runs:  # sub-stores written before run times were kept
        row.setdefault("wall_time", float("nan"))
        row.setdefault("cpu_time", float("nan"))
    table = pq.read_table(folder / TABLE)
    metrics = list(meta["base_metrics"])
    n_ep = int(meta["num_epochs"])
    arr = np.stack(
        [table.column(m).to_numpy(zero_copy_only=False).astype(np.float64) for m in metrics], axis=1
    )
    a = table.column("arch_index").to_numpy()
    s = table.column("seed").to_numpy()
    if len(arr) % n_ep:
        raise ValueError(
            f"{folder / TABLE} has {len(arr)} rows, not a multiple of {n_ep} epochs; "
            "re-aggregate from scratch."
        )
    arr = arr.reshape(-1, n_ep, len(metrics))
    values = {(int(ai), int(si)): arr[k] for k, (ai, si) in enumerate(zip(a[::n_ep], s[::n_ep]))}
    return runs, values, metrics, meta


def aggregate(
    records: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    expected_archs: Sequence[int | str | Arch] | None = None,
    expected_seeds: Sequence[int] | None = None,
) -> AggregationReport:
    """Add the run records in `records` (folders of `<run_id>.json`, or files) to benchmark `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = [records] if isinstance(records, (str, Path)) else list(records)
    ingest_tbl = _read_parquet(out / INGEST)
    known = {}
    if ingest_tbl is not None:
        for row in ingest_tbl.to_pylist():
            known[row["file"]] = row
    report = AggregationReport(out=str(out))
    new_runs: list[_Run] = []
    ingest_rows = list(known.values())
    for path in _record_files(dirs):
        key = _file_key(path, out)
        st = path.stat()
        k = known.get(key) or known.get(str(path.resolve()))
        if k is not None and k["size"] == st.st_size and k["mtime_ns"] == st.st_mtime_ns:
            report.known_files += 1
            continue
        report.new_files += 1
        try:
            run = _parse(path, key)
        except ValueError as exc:
            report.malformed.append({"file": str(path), "reason": str(exc)})
            continue
        new_runs.append(run)

    ingest = {row["file"]: {**row, "reason": row.get("reason") or ""} for row in ingest_rows}
    for r in new_runs:
        ingest[r.file] = {
            "file": r.file,
            "size": r.size,
            "mtime_ns": r.mtime_ns,
            "run_id": r.run_id,
            "split": r.split,
            "hp": r.hp,
            "arch_index": r.arch_index,
            "seed": r.seed,
            "status": r.status,
            "reason": r.failure,
        }
    ingest_rows = list(ingest.values())
    failed_by_store: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in ingest_rows:
        if row["status"] == "failed":
            failed_by_store.setdefault((row["split"], row["hp"]), []).append(
                {k: row.get(k) for k in ("run_id", "arch_index", "seed", "reason", "file")}
            )

    by_store: dict[tuple[str, str], list[_Run]] = {}
    for r in new_runs:
        by_store.setdefault((r.split, r.hp), []).append(r)
    existing_names = {
        p.name for p in out.iterdir() if p.is_dir() and SEP in p.name and not p.name.startswith(".")
    }
    names = sorted(existing_names | {f"{s}{SEP}{h}" for s, h in list(by_store) + list(failed_by_store)})
    exp_archs = None if expected_archs is None else sorted({Arch.coerce(a).index for a in expected_archs})

    for name in names:
        split, _, hp = name.partition(SEP)
        folder = out / name
        rep = SubstoreReport(split=split, hp=hp)
        report.substores[name] = rep
        old_runs: list[dict[str, Any]] = []
        values: dict[tuple[int, int], np.ndarray] = {}
        metrics: list[str] = []
        config: dict | None = None
        dataset = split
        old_failed = failed_by_store.get((split, hp), [])
        dup_log: list[dict[str, Any]] = []
        conflicts: list[dict[str, Any]] = []
        fidelity: dict[str, Any] = {}
        envs: list[dict[str, Any]] = []
        if (split, hp) not in by_store and folder.is_dir() and not (folder / RUNS).is_file():
            del report.substores[name]  # e.g. an imported sub-store: not ours to report on
            continue
        if folder.is_dir():
            old_runs, values, metrics, meta = _existing_runs(folder)
            config, dataset = meta.get("config"), meta.get("dataset", split)
            dup_log = list(meta.get("duplicates", []))
            conflicts = list(meta.get("conflicts", []))
            fidelity = dict(meta.get("fidelity_overrides", meta.get("fidelity")) or {})
            envs = list(meta.get("environments") or [])
        included_ids = {r["run_id"]: r for r in old_runs}
        by_pair = {(r["arch_index"], r["seed"]): r for r in old_runs}
        failed = {f["run_id"]: f for f in old_failed}
        fresh = sorted(
            by_store.get((split, hp), []), key=lambda r: (r.status == "failed", r.finished_at, r.run_id)
        )
        changed = not folder.is_dir()
        for r in fresh:
            if r.run_id in included_ids:
                kept = included_ids[r.run_id]
                if not _same_file(kept["file"], r.file, out):  # a copy (e.g. synced from another machine)
                    changed = True
                    dup_log.append(
                        {
                            "arch_index": r.arch_index,
                            "seed": r.seed,
                            "kept": kept["run_id"],
                            "dropped": r.run_id,
                            "file": r.file,
                            "same_values": _same(values[(r.arch_index, r.seed)], r.values),
                        }
                    )
                continue  # the same file seen again (rewritten, a fresh clone, or the ingest log was lost)
            changed = True  # a new run, failure, conflict or duplicate: the sub-store is rewritten
            if r.status == "failed":
                failed[r.run_id] = {
                    "run_id": r.run_id,
                    "arch_index": r.arch_index,
                    "seed": r.seed,
                    "reason": r.failure,
                    "file": r.file,
                }
                continue
            if config is None:
                config, dataset, metrics, fidelity = r.config, r.dataset, list(r.metrics), r.fidelity
            diff = sorted(k for k in set(config) | set(r.config) if config.get(k) != r.config.get(k))
            if diff or r.dataset != dataset or r.metrics != metrics:
                what = diff or (["dataset"] if r.dataset != dataset else ["metric names"])
                conflicts.append({"run_id": r.run_id, "file": r.file, "differs_in": what})
                continue
            pair = (r.arch_index, r.seed)
            if pair in by_pair:
                kept = by_pair[pair]
                same = _same(values[pair], r.values)
                dup_log.append(
                    {
                        "arch_index": r.arch_index,
                        "seed": r.seed,
                        "kept": kept["run_id"],
                        "dropped": r.run_id,
                        "file": r.file,
                        "same_values": same,
                    }
                )
                continue
            row = {
                "run_id": r.run_id,
                "arch_index": r.arch_index,
                "seed": r.seed,
                "status": r.status,
                "file": r.file,
                "params": r.params,
                "flops": r.flops,
                "latency": r.latency,
                "finished_at": r.finished_at,
                "wall_time": r.wall_time,
                "cpu_time": r.cpu_time,
            }
            old_runs.append(row)
            by_pair[pair] = row
            included_ids[r.run_id] = row
            values[pair] = r.values
            rep.added += 1
            if r.env and r.env not in envs:
                envs.append(r.env)
        # a failed run later replaced by a successful one is no longer "failed" for coverage
        failed_list = [f for f in failed.values() if (f["arch_index"], f["seed"]) not in by_pair]
        rep.failed, rep.duplicates, rep.conflicts = failed_list, dup_log, conflicts
        if not old_runs:
            continue
        archs = sorted({p[0] for p in by_pair})
        seeds = sorted({p[1] for p in by_pair})
        n_ep = int(next(iter(values.values())).shape[0])
        apos = {a: k for k, a in enumerate(archs)}
        spos = {s: k for k, s in enumerate(seeds)}
        dense = np.full((len(archs), len(seeds), n_ep, len(metrics)), np.nan, dtype=np.float32)
        present = np.zeros((len(archs), len(seeds)), dtype=bool)
        for (a, s), v in values.items():
            dense[apos[a], spos[s]] = v
            present[apos[a], spos[s]] = True
        cost_cols: dict[str, list[float]] = {}
        for col in ("params", "flops", "latency"):
            acc: dict[int, list[float]] = {}
            for r in old_runs:
                if not math.isnan(r[col]):
                    acc.setdefault(r["arch_index"], []).append(r[col])
            cost_cols[col] = [float(np.mean(acc[a])) if a in acc else float("nan") for a in archs]
        rep.archs, rep.seeds, rep.runs = len(archs), seeds, len(old_runs)
        rep.degenerate = sum(r["status"] == "degenerate" for r in old_runs)
        want_a = exp_archs if exp_archs is not None else archs
        want_s = sorted(expected_seeds) if expected_seeds is not None else seeds
        rep.missing = [(a, s) for a in want_a for s in want_s if (a, s) not in by_pair]
        total = len(want_a) * len(want_s)
        rep.coverage = (total - len(rep.missing)) / total if total else 0.0
        if not changed:
            continue  # nothing new for this sub-store: leave its files untouched
        runs_tbl = pa.Table.from_pylist(sorted(old_runs, key=lambda r: (r["arch_index"], r["seed"])))
        write_benchmark(
            out,
            split=split,
            hp=hp,
            arch_indices=archs,
            seeds=seeds,
            metrics=metrics,
            values=dense,
            present=present,
            costs=cost_cols,
            dataset=dataset,
            meta={
                "source": "nb201 run records",
                "fidelity": _effective_fidelity(config, fidelity),
                "fidelity_overrides": fidelity,
                "environments": envs,
                "preset": hp.split("[")[0],
                "config": config,
                "failed_runs": failed_list,
                "duplicates": dup_log,
                "conflicts": conflicts,
                "coverage": rep.coverage,
                "missing_runs": len(rep.missing),
                "compute": _compute_spent(old_runs),
            },
            extra_tables={RUNS: runs_tbl},
        )

    if ingest_rows:
        tbl = pa.Table.from_pylist(ingest_rows)
        atomic_write(out / INGEST, lambda f: pq.write_table(tbl, f))
    atomic_write_json(out / REPORT, report.to_dict(), indent=1)
    return report
