"""Every query of every search run as one long table, and the anytime curves drawn from it.

A comparison's summary (final accuracy per algorithm) hides how each run got there. The
trajectory table keeps it all: one row per query with the simulated time after it, the
architecture trained, the epochs read, the reward seen, and the incumbent (the answer the
run would give at that point) with its reported score and its regret against the best
architecture of the benchmark. `export` writes it to Parquet or CSV in one call (written
atomically), so a user can analyse or plot their own runs anywhere; the anytime curves
the reports draw (`anytime_curves`, by simulated time or by query count) come from the
same results.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nb201.fsutil import atomic_write
from nb201.search.base import SearchResult
from nb201.space import NUM_ARCHS, all_archs

TRAJECTORY_COLUMNS = (
    "algorithm",
    "run",
    "seed",
    "query",
    "time",
    "arch_index",
    "arch",
    "epochs",
    "reward",
    "incumbent",
    "incumbent_score",
    "regret",
)


@functools.lru_cache(maxsize=1)
def _arch_strings() -> np.ndarray:
    return np.array([str(a) for a in all_archs()], dtype=object)


def _lookup(scores: pd.Series | None) -> np.ndarray:
    table = np.full(NUM_ARCHS, np.nan)
    if scores is not None:
        table[scores.index.to_numpy(dtype=np.int64)] = scores.to_numpy(dtype=np.float64)
    return table


def trajectories(
    results: Mapping[str, Sequence[SearchResult]], scores: pd.Series | None = None
) -> pd.DataFrame:
    """One row per query of every run (`TRAJECTORY_COLUMNS`): `query` counts from 1, `time`
    is the simulated clock after it, `incumbent` the run's answer after it. With `scores`
    (reported accuracy per official arch index, e.g. `Experiment.evaluation[column]`),
    `incumbent_score` is the incumbent's and `regret` the best score minus it; else NaN."""
    lookup = _lookup(scores)
    best = float(np.nanmax(lookup)) if scores is not None and np.isfinite(lookup).any() else np.nan
    names = _arch_strings()
    parts = []
    for label, rs in results.items():
        for k, r in enumerate(rs):
            n = r.n_queries
            inc_score = lookup[r.incumbents]
            parts.append(
                pd.DataFrame(
                    {
                        "algorithm": label,
                        "run": k,
                        "seed": r.seed,
                        "query": np.arange(1, n + 1),
                        "time": r.times,
                        "arch_index": r.archs,
                        "arch": names[r.archs],
                        "epochs": r.epochs,
                        "reward": r.rewards,
                        "incumbent": r.incumbents,
                        "incumbent_score": inc_score,
                        "regret": best - inc_score,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=list(TRAJECTORY_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def export(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a trajectory (or any) table to `path`, atomically: `.parquet` or `.csv`
    (`.csv.gz` compressed); the suffix chooses."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        return atomic_write(path, lambda f: frame.to_parquet(f, index=False))
    if name.endswith((".csv", ".csv.gz")):
        compression = "gzip" if name.endswith(".gz") else None
        return atomic_write(path, lambda f: frame.to_csv(f, index=False, compression=compression))
    raise ValueError(f"cannot tell the format of {path.name!r}: name it *.parquet, *.csv or *.csv.gz.")


def anytime_curves(
    results: Mapping[str, Sequence[SearchResult]],
    scores: pd.Series,
    grid: np.ndarray,
    by: str = "time",
) -> pd.DataFrame:
    """Reported score of each run's incumbent at each grid point (simulated seconds for
    `by="time"`, queries made for `by="queries"`), summarised over runs per algorithm:
    mean, std, q25, median, q75, and `answered` (the share of runs with an answer yet).
    Columns: algorithm, `by`, the statistics."""
    if by not in ("time", "queries"):
        raise ValueError(f"by must be 'time' or 'queries', got {by!r}.")
    lookup = _lookup(scores)
    grid = np.asarray(grid, dtype=np.float64)
    frames = []
    for label, rs in results.items():
        mat = np.full((len(rs), len(grid)), np.nan)
        for i, r in enumerate(rs):
            if r.n_queries == 0:
                continue
            if by == "time":
                pos = np.searchsorted(r.times, grid, side="right") - 1
            else:
                pos = np.minimum(grid.astype(np.int64), r.n_queries) - 1
            got = pos >= 0
            mat[i, got] = lookup[r.incumbents[pos[got]]]
        answered = np.isfinite(mat).mean(axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any answer
            stats = {
                "mean": np.nanmean(mat, axis=0),
                "std": np.nanstd(mat, axis=0),
                "q25": np.nanpercentile(mat, 25, axis=0),
                "median": np.nanmedian(mat, axis=0),
                "q75": np.nanpercentile(mat, 75, axis=0),
            }
        frames.append(pd.DataFrame({"algorithm": label, by: grid, **stats, "answered": answered}))
    return pd.concat(frames, ignore_index=True)


__all__ = ["TRAJECTORY_COLUMNS", "anytime_curves", "export", "trajectories"]
