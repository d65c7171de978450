"""Run records (`nb201.run/1` JSON files) -> benchmark sub-stores, incrementally.

One sub-store per (split, hp). The hp label is the preset name, with the fidelity
overrides appended when there are any (`digits-cheap[epochs=2]`), because runs of one
preset at two fidelities are two different benchmarks and must never be averaged.

Incremental: `out/ingest.parquet` remembers every record file already seen (path relative
to `out`, size, mtime); re-aggregating parses only new files and rebuilds only the
sub-stores they change, from the sub-store's own tidy table plus the new runs. A record
whose run is already included (same run id, same numbers) is recognised even if the log
was lost, the mtimes changed (a fresh clone of a repository that commits both) or the
benchmark folder was moved relative to its records.

What goes in: runs with status `ok` and `degenerate` (chance-level numbers for cells whose
output is identically zero are real results), and only records that pass
`nb201.validation.validate_record` (finite numbers in range, the right types, all epochs
in order). What stays out, and is listed in the validation report (`out/report.json`,
also returned): failed runs (NaN loss, with epoch and reason), invalid records, runs whose
config differs from the one their sub-store declares (preset + overrides, resolved here;
never "whichever record came first"), and duplicates (a second run of the same arch and
seed, resolved by content: identical numbers are one run; numbers that disagree keep the
run with the lower (run id, content hash) whatever the time stamps or the order of the
folders). Invalid records, conflicts and disagreeing duplicates make `aggregate` raise
`InvalidRecordsError` without changing anything, unless `allow_invalid=True`. The report
also gives the coverage, counting only included runs: which (arch, seed) pairs are
missing out of the archs x seeds seen (an invalid record's own run included, where its
spec can be read), or out of `expected_archs` x `expected_seeds` when given.

Safety: one aggregation at a time per benchmark (`flock` on `out/.aggregate.lock`; a
second waits); an existing sub-store is verified against its manifest before it is built
upon; each sub-store is replaced in one atomic folder swap, and the ingest log, written
after, is trusted only where the sub-store bears it out, so a crash or kill at any point
leaves every sub-store old or new and the next aggregation completes the work. Temporary
files of killed writers are removed.

Derived per-arch sets a sub-store carries (the ranking score of `nb201.fidelity.ranking`)
are kept when it is rebuilt; when the new runs add archs the set has no value for, its
block says `stale` (how many, and which producer to re-run) and the report lists it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nb201.benchmark.store.derived import derived_tables
from nb201.benchmark.store.format import SEP, TABLE, StoreError, open_substore, write_benchmark
from nb201.fsutil import atomic_write, atomic_write_json, clean_leftovers, file_lock
from nb201.presets import resolve_config
from nb201.space import Arch
from nb201.validation import validate_record

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
    # derived per-arch sets carried over from the sub-store this one replaced (the ranking
    # score, ...): name -> "kept", or the `stale` note when new archs lack a value
    derived: dict[str, Any] = field(default_factory=dict)


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
            for name, state in sorted(r.derived.items()):
                if state != "kept":
                    lines.append(
                        f"    derived set {name!r} is stale: {state['archs_without_values']} archs lack a "
                        f"value; {state['fix']}"
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
    preset: str = ""


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return b is not None and a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, equal_nan=True))


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _digest(values: np.ndarray | None) -> str:
    """A content key for a run's numbers: duplicates are resolved by it, never by clocks."""
    if values is None:
        return ""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def _file_key(path: Path, out: Path) -> str:
    """How the benchmark names a record file: relative to the benchmark folder, so that a
    benchmark committed with its records still knows them in another clone."""
    try:
        return os.path.relpath(path.resolve(), out.resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path.resolve())


_SPEC = re.compile(r'"spec"\s*:\s*(\{[^{}]*(?:\{[^{}]*\}[^{}]*)?\})')


def _salvage(text: str) -> tuple[str, str, int, int] | None:
    """(split, hp, arch index, seed) of a record too broken to use, when its spec survived:
    the run then counts as missing from its sub-store's coverage instead of vanishing."""
    hp = None
    try:
        rec = json.loads(text)
        spec, hp = rec.get("spec"), rec.get("hp")
    except (ValueError, AttributeError):
        m = _SPEC.search(text)
        try:
            spec = json.loads(m.group(1)) if m else None
        except ValueError:
            spec = None
    try:
        return (
            str(spec["split"]),
            hp_label(hp if isinstance(hp, str) and hp else spec["preset"], spec.get("fidelity")),
            Arch.from_string(spec["arch"]).index,
            int(spec["seed"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _parse(path: Path, key: str) -> _Run:
    """One record file -> _Run; ValueError with the reason when it is not a usable record
    (see `nb201.train.records.validate_record`: types, ranges, finiteness, completeness)."""
    st = path.stat()
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise ValueError("not a text file") from None
    try:
        metrics = validate_record(rec)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"missing or malformed field {exc}") from None
    spec, epochs = rec["spec"], rec["epochs"]
    values = np.array([[float(row[m]) for m in metrics] for row in epochs], dtype=np.float64).reshape(
        len(epochs), len(metrics)
    )
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
        arch_index=Arch.from_string(spec["arch"]).index,
        seed=int(spec["seed"]),
        status=str(rec["status"]),
        config=dict(rec.get("config") or {}),
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
        preset=str(spec["preset"]),
    )


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


class InvalidRecordsError(ValueError):
    """Aggregation found invalid records, conflicts or disagreeing duplicates and, without
    `allow_invalid=True`, changed nothing. `.report` lists every one with its reason."""

    def __init__(self, message: str, report: AggregationReport):
        super().__init__(message)
        self.report = report


def _resolve_config(preset: str, fidelity: dict[str, Any]) -> dict | None:
    """What `preset` + `fidelity` resolve to here (None when the preset is unknown here).
    `nb201.presets` is torch-free, so aggregating never imports torch."""
    try:
        return resolve_config(preset, fidelity)
    except (KeyError, ValueError, TypeError, OSError):
        return None


def _existing_runs(
    folder: Path,
) -> tuple[list[dict[str, Any]], dict[tuple[int, int], np.ndarray], list[str], dict]:
    """Included runs of an existing sub-store: run rows, (arch, seed) -> [E, M] values, metrics, meta.

    The sub-store is verified first (every file against its manifest): building on a
    corrupt or edited sub-store would carry its damage into a freshly checksummed one."""
    meta = open_substore(folder, verify=True).meta
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
    if len(arr) % n_ep or len(arr) // n_ep != len(runs):
        raise StoreError(
            f"{folder / TABLE} has {len(arr)} rows for {len(runs)} runs of {n_ep} epochs; "
            "delete the sub-store folder and re-aggregate it from its records."
        )
    arr = arr.reshape(-1, n_ep, len(metrics))
    values = {(int(ai), int(si)): arr[k] for k, (ai, si) in enumerate(zip(a[::n_ep], s[::n_ep]))}
    if set(values) != {(int(r["arch_index"]), int(r["seed"])) for r in runs}:
        raise StoreError(
            f"{folder / TABLE} and {folder / RUNS} list different runs; "
            "delete the sub-store folder and re-aggregate it from its records."
        )
    return runs, values, metrics, meta


@dataclass
class _Sub:
    """One sub-store while it is being merged: what it holds and what happened to it."""

    name: str
    split: str
    hp: str
    folder: Path
    rep: SubstoreReport
    old_runs: list[dict[str, Any]] = field(default_factory=list)
    values: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    metrics: list[str] | None = None
    config: dict | None = None
    dataset: str | None = None
    fidelity: dict[str, Any] = field(default_factory=dict)
    envs: list[dict[str, Any]] = field(default_factory=list)
    dup_log: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: bool = False
    problems: list[str] = field(default_factory=list)
    outcome: dict[str, str] = field(default_factory=dict)  # record file -> what became of it

    def by_pair(self) -> dict[tuple[int, int], dict[str, Any]]:
        return {(r["arch_index"], r["seed"]): r for r in self.old_runs}


def _open_sub(out: Path, name: str, failed_rows: list[dict[str, Any]]) -> _Sub:
    split, _, hp = name.partition(SEP)
    sub = _Sub(name=name, split=split, hp=hp, folder=out / name, rep=SubstoreReport(split=split, hp=hp))
    sub.failed = {f["run_id"]: f for f in failed_rows}
    if sub.folder.is_dir():
        sub.old_runs, sub.values, sub.metrics, meta = _existing_runs(sub.folder)
        sub.config, sub.dataset = meta.get("config"), meta.get("dataset", split)
        sub.dup_log = list(meta.get("duplicates", []))
        sub.conflicts = list(meta.get("conflicts", []))
        sub.fidelity = dict(meta.get("fidelity_overrides", meta.get("fidelity")) or {})
        sub.envs = list(meta.get("environments") or [])
    else:
        sub.changed = True
    return sub


def _declare(sub: _Sub, fresh: list[_Run]) -> None:
    """Fix a new sub-store's config from what its runs declare (preset + overrides), never
    from which record came first; where the preset is unknown here, from the config most
    of its runs share (ties broken by content)."""
    ok = [r for r in fresh if r.status != "failed"]
    if sub.config is not None or not ok:
        return
    first = ok[0]
    declared = _resolve_config(first.preset, first.fidelity)
    if declared is None:
        texts = [json.dumps(r.config, sort_keys=True) for r in ok]
        declared = json.loads(min(set(texts), key=lambda t: (-texts.count(t), t)))
    sub.config, sub.fidelity = declared, dict(first.fidelity)
    agree = [r for r in ok if r.config == declared] or ok
    names = [json.dumps([r.dataset, r.metrics]) for r in agree]
    sub.dataset, metrics = json.loads(min(set(names), key=lambda t: (-names.count(t), t)))
    sub.metrics = list(metrics)


def _run_row(r: _Run) -> dict[str, Any]:
    return {
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


def _include(sub: _Sub, r: _Run, replace: dict[str, Any] | None = None) -> None:
    if replace is not None:
        sub.old_runs = [row for row in sub.old_runs if row is not replace]
    sub.old_runs.append(_run_row(r))
    sub.values[(r.arch_index, r.seed)] = r.values  # type: ignore[assignment]
    sub.rep.added += 1
    sub.changed = True
    sub.outcome[r.file] = "included"
    if r.env and r.env not in sub.envs:
        sub.envs.append(r.env)


def _merge(sub: _Sub, r: _Run, out: Path, by_pair: dict[tuple[int, int], dict[str, Any]]) -> None:
    """Add one fresh run to the sub-store, or say why it stays out."""
    if r.status == "failed":
        sub.failed[r.run_id] = {
            "run_id": r.run_id,
            "arch_index": r.arch_index,
            "seed": r.seed,
            "reason": r.failure,
            "file": r.file,
        }
        sub.changed, sub.outcome[r.file] = True, "failed"
        return
    diff = sorted(
        k for k in set(sub.config or {}) | set(r.config) if (sub.config or {}).get(k) != r.config.get(k)
    )
    if diff or r.dataset != sub.dataset or r.metrics != sub.metrics:
        what = diff or (["dataset"] if r.dataset != sub.dataset else ["metric names"])
        entry = {"run_id": r.run_id, "file": r.file, "differs_in": what}
        if entry not in sub.conflicts:
            sub.conflicts.append(entry)
            sub.problems.append(f"{r.file}: config differs from {sub.name}'s in {what}")
        sub.changed, sub.outcome[r.file] = True, "conflict"
        return
    pair = (r.arch_index, r.seed)
    kept = by_pair.get(pair)
    if kept is None:
        _include(sub, r)
        by_pair[pair] = sub.old_runs[-1]
        return
    same = _same(sub.values[pair], r.values)
    if kept["run_id"] == r.run_id and same and (kept["file"] == r.file or not (out / kept["file"]).exists()):
        if kept["file"] != r.file:  # the same run, found elsewhere (the benchmark or its records moved)
            kept["file"], sub.changed = r.file, True
        sub.outcome[r.file] = "included"
        return
    dropped, kept_id = (r.run_id, r.file), kept["run_id"]
    if not same and (r.run_id, _digest(r.values)) < (kept["run_id"], _digest(sub.values[pair])):
        # resolved by content, whatever the order or the time stamps: the lower key wins
        dropped, kept_id = (kept["run_id"], kept["file"]), r.run_id
        if sub.outcome.get(kept["file"]) == "included":  # included earlier in this pass
            sub.rep.added -= 1
        sub.outcome[kept["file"]] = "duplicate"
        _include(sub, r, replace=kept)
        by_pair[pair] = sub.old_runs[-1]
    entry = {
        "arch_index": r.arch_index,
        "seed": r.seed,
        "kept": kept_id,
        "dropped": dropped[0],
        "file": dropped[1],
        "same_values": same,
    }
    if entry not in sub.dup_log:
        sub.dup_log.append(entry)
        if not same:
            sub.problems.append(
                f"{r.file} and {kept['file']}: two runs of arch {pair[0]} seed {pair[1]} disagree"
            )
    sub.changed = True
    sub.outcome.setdefault(r.file, "duplicate")


LOCK = ".aggregate.lock"


def aggregate(
    records: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    expected_archs: Sequence[int | str | Arch] | None = None,
    expected_seeds: Sequence[int] | None = None,
    allow_invalid: bool = False,
    lock_timeout: float | None = None,
) -> AggregationReport:
    """Add the run records in `records` (folders of `<run_id>.json`, or files) to benchmark `out`.

    Every record is validated first. Invalid records, runs whose config differs from their
    sub-store's, and two runs of one (arch, seed) that disagree raise `InvalidRecordsError`
    listing each with its reason, and nothing is changed; `allow_invalid=True` builds the
    benchmark without them (they stay listed in the report). One aggregation at a time
    writes a benchmark: a second waits for the lock (`lock_timeout` seconds, None =
    forever, then `LockBusy`), so concurrent aggregations never lose each other's runs.
    """
    out = Path(out)
    dirs = [records] if isinstance(records, (str, Path)) else list(records)
    files = _record_files(dirs)  # raises before anything is created
    exp_archs = None if expected_archs is None else sorted({Arch.coerce(a).index for a in expected_archs})
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(out / LOCK, timeout=lock_timeout, remove=True, what=f"benchmark {out}"):
            clean_leftovers(out)
            for sub_dir in out.iterdir():
                if sub_dir.is_dir() and SEP in sub_dir.name:
                    clean_leftovers(sub_dir)
            return _aggregate_locked(files, out, exp_archs, expected_seeds, allow_invalid, created)
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing was written: leave no empty folder behind


def _known_files(out: Path) -> dict[str, dict[str, Any]]:
    """The ingest log, less any entry its sub-store does not bear out.

    The log is written after the sub-stores, and it is only trusted where the sub-store
    (swapped in atomically with its own run list) agrees: a run the log calls included but
    the store lacks (a lost write, a crash, a restored backup) is read again, never lost."""
    tbl = _read_parquet(out / INGEST)
    if tbl is None:
        return {}
    held: dict[str, set[str]] = {}
    for row in tbl.to_pylist():
        name = f"{row['split']}{SEP}{row['hp']}"
        if name not in held:
            runs = out / name / RUNS
            held[name] = (
                set(pq.read_table(runs, columns=["run_id"]).column(0).to_pylist())
                if runs.is_file()
                else set()
            )
    known = {}
    for row in tbl.to_pylist():
        outcome = row.get("outcome") or ("included" if row["status"] in INCLUDED_STATUSES else "failed")
        if outcome == "included" and row["run_id"] not in held[f"{row['split']}{SEP}{row['hp']}"]:
            continue
        known[row["file"]] = {**row, "reason": row.get("reason") or "", "outcome": outcome}
    return known


def _scan(
    files: list[Path], out: Path, known: dict[str, dict[str, Any]], report: AggregationReport
) -> tuple[list[_Run], dict[tuple[str, str], set[tuple[int, int]]]]:
    """Parse the record files not seen before; invalid ones go to `report.malformed`, and
    where their spec survived, their (arch, seed) counts as missing from coverage."""
    new_runs: list[_Run] = []
    lost: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for path in files:
        key = _file_key(path, out)
        st = path.stat()
        k = known.get(key) or known.get(str(path.resolve()))
        if k is not None and k["size"] == st.st_size and k["mtime_ns"] == st.st_mtime_ns:
            report.known_files += 1
            continue
        report.new_files += 1
        try:
            new_runs.append(_parse(path, key))
        except ValueError as exc:
            report.malformed.append({"file": str(path), "reason": str(exc)})
            found = _salvage(path.read_bytes().decode("utf-8", "replace"))
            if found:
                lost.setdefault(found[:2], set()).add(found[2:])
    return new_runs, lost


def _aggregate_locked(
    files: list[Path],
    out: Path,
    exp_archs: list[int] | None,
    expected_seeds: Sequence[int] | None,
    allow_invalid: bool,
    created: bool,
) -> AggregationReport:
    known = _known_files(out)
    report = AggregationReport(out=str(out))
    new_runs, lost = _scan(files, out, known, report)
    failed_by_store: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in known.values():
        if row["outcome"] == "failed":
            failed_by_store.setdefault((row["split"], row["hp"]), []).append(
                {k: row.get(k) for k in ("run_id", "arch_index", "seed", "reason", "file")}
            )
    by_store: dict[tuple[str, str], list[_Run]] = {}
    for r in new_runs:
        by_store.setdefault((r.split, r.hp), []).append(r)
    existing = {p.name for p in out.iterdir() if p.is_dir() and SEP in p.name and not p.name.startswith(".")}
    names = sorted(existing | {f"{s}{SEP}{h}" for s, h in list(by_store) + list(failed_by_store)})
    subs: list[_Sub] = []
    for name in names:
        split, _, hp = name.partition(SEP)
        folder = out / name
        if (split, hp) not in by_store and folder.is_dir() and not (folder / RUNS).is_file():
            continue  # e.g. an imported sub-store: not ours to report on
        sub = _open_sub(out, name, failed_by_store.get((split, hp), []))
        report.substores[name] = sub.rep
        fresh = sorted(
            by_store.get((split, hp), []),
            key=lambda r: (r.status == "failed", r.run_id, _digest(r.values), r.file),
        )
        _declare(sub, fresh)
        by_pair = sub.by_pair()
        for r in fresh:
            _merge(sub, r, out, by_pair)
        _summarize(sub, exp_archs, expected_seeds, lost.get((split, hp), set()))
        subs.append(sub)
    problems = [f"{m['file']}: {m['reason']}" for m in report.malformed]
    problems += [p for sub in subs for p in sub.problems]
    if problems and not allow_invalid:
        if not created:
            atomic_write_json(out / REPORT, report.to_dict(), indent=1)
        shown = "\n  ".join(problems[:10]) + (
            f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise InvalidRecordsError(
            f"{len(problems)} record(s) cannot go into {out} as they are, so nothing was changed:"
            f"\n  {shown}\n"
            "Fix or remove those files (a run can be retrained by deleting its record), or pass "
            "allow_invalid=True (`--allow-invalid`) to build the benchmark without them.",
            report,
        )
    for sub in subs:
        if sub.changed and sub.old_runs:
            _write(out, sub)
    _write_ingest(out, known, new_runs, subs)
    atomic_write_json(out / REPORT, report.to_dict(), indent=1)
    return report


def _summarize(
    sub: _Sub,
    exp_archs: list[int] | None,
    expected_seeds: Sequence[int] | None,
    lost: set[tuple[int, int]],
) -> None:
    """Fill the sub-store's report: coverage counts only valid, included runs."""
    by_pair = sub.by_pair()
    rep = sub.rep
    # a failed run later replaced by a successful one is no longer "failed" for coverage
    rep.failed = [f for f in sub.failed.values() if (f["arch_index"], f["seed"]) not in by_pair]
    rep.duplicates, rep.conflicts = sub.dup_log, sub.conflicts
    if not sub.old_runs:
        return
    rep.archs = len({p[0] for p in by_pair})
    rep.seeds = sorted({p[1] for p in by_pair})
    rep.runs = len(sub.old_runs)
    rep.degenerate = sum(r["status"] == "degenerate" for r in sub.old_runs)
    seen_a = sorted({p[0] for p in by_pair} | {p[0] for p in lost})
    want_a = exp_archs if exp_archs is not None else seen_a
    want_s = (
        sorted(expected_seeds)
        if expected_seeds is not None
        else sorted(set(rep.seeds) | {p[1] for p in lost})
    )
    rep.missing = [(a, s) for a in want_a for s in want_s if (a, s) not in by_pair]
    total = len(want_a) * len(want_s)
    rep.coverage = (total - len(rep.missing)) / total if total else 0.0


def _write(out: Path, sub: _Sub) -> None:
    """Write the merged sub-store (one atomic folder swap), carrying over the derived
    per-arch sets of the sub-store it replaces (marked stale where new archs lack a value)."""
    archs, seeds, metrics, dense, present = _dense(sub)
    derived = derived_tables(sub.folder, np.asarray(archs)) if sub.folder.is_dir() else {}
    sub.rep.derived = {name: block.get("stale", "kept") for name, (_, block) in derived.items()}
    write_benchmark(
        out,
        split=sub.split,
        hp=sub.hp,
        arch_indices=archs,
        seeds=seeds,
        metrics=metrics,
        values=dense,
        present=present,
        costs=_mean_costs(sub.old_runs, archs),
        dataset=sub.dataset,
        meta=_substore_meta(sub),
        extra_tables={RUNS: _runs_table(sub.old_runs)},
        derived=derived,
    )


def _runs_table(runs: Sequence[dict[str, Any]]) -> pa.Table:
    """`runs.parquet`: one row per included run, by (arch, seed)."""
    return pa.Table.from_pylist(sorted(runs, key=lambda r: (r["arch_index"], r["seed"])))


def _dense(sub: _Sub) -> tuple[list[int], list[int], list[str], np.ndarray, np.ndarray]:
    """(archs, seeds, metrics, values [A, S, E, M] NaN where absent, present [A, S]) of a sub-store."""
    by_pair = sub.by_pair()
    archs = sorted({p[0] for p in by_pair})
    seeds = sorted({p[1] for p in by_pair})
    n_ep = int(next(iter(sub.values.values())).shape[0])
    metrics = list(sub.metrics or [])
    apos = {a: k for k, a in enumerate(archs)}
    spos = {s: k for k, s in enumerate(seeds)}
    dense = np.full((len(archs), len(seeds), n_ep, len(metrics)), np.nan, dtype=np.float32)
    present = np.zeros((len(archs), len(seeds)), dtype=bool)
    for a, s in by_pair:
        dense[apos[a], spos[s]] = sub.values[(a, s)]
        present[apos[a], spos[s]] = True
    return archs, seeds, metrics, dense, present


def _mean_costs(runs: Sequence[dict[str, Any]], archs: list[int]) -> dict[str, list[float]]:
    """Per-arch params, FLOPs and latency: the mean over the arch's runs (NaN where none has it)."""
    cost_cols: dict[str, list[float]] = {}
    for col in ("params", "flops", "latency"):
        acc: dict[int, list[float]] = {}
        for r in runs:
            if not math.isnan(r[col]):
                acc.setdefault(r["arch_index"], []).append(r[col])
        cost_cols[col] = [float(np.mean(acc[a])) if a in acc else float("nan") for a in archs]
    return cost_cols


def _substore_meta(sub: _Sub) -> dict[str, Any]:
    """The provenance a sub-store built from records carries in its meta.json."""
    return {
        "source": "nb201 run records",
        "fidelity": _effective_fidelity(sub.config, sub.fidelity),
        "fidelity_overrides": sub.fidelity,
        "environments": sub.envs,
        "preset": sub.hp.split("[")[0],
        "config": sub.config,
        "failed_runs": sub.rep.failed,
        "duplicates": sub.dup_log,
        "conflicts": sub.conflicts,
        "coverage": sub.rep.coverage,
        "missing_runs": len(sub.rep.missing),
        "compute": _compute_spent(sub.old_runs),
    }


def _write_ingest(
    out: Path, known: dict[str, dict[str, Any]], new_runs: list[_Run], subs: list[_Sub]
) -> None:
    """The ingest log, written after the sub-stores it describes (see `_known_files`)."""
    outcome = {f: o for sub in subs for f, o in sub.outcome.items()}
    ingest = {f: {**row, "outcome": outcome.get(f, row["outcome"])} for f, row in known.items()}
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
            "outcome": outcome.get(r.file, "failed" if r.status == "failed" else "included"),
        }
    if ingest:
        tbl = pa.Table.from_pylist(list(ingest.values()))
        atomic_write(out / INGEST, lambda f: pq.write_table(tbl, f))
