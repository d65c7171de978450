"""One leaderboard for the ten methods (and any user algorithm) under one protocol.

Multi-trial searches (RS, REA, REINFORCE, BOHB, or a registered user algorithm) come from
an `Experiment`: many runs on the simulated clock. One-shot searches (RSPS, DARTS-V1/V2,
GDAS, SETN, ENAS) come from their `nb201.search/1` records (`nb201.wsnas.run`): one
supernet search per seed, whose derived architecture is looked up in a benchmark. Both are
then scored the same way: the final architecture's accuracy on one reported column of one
benchmark (the experiment's, unless another is given), labelled with what those numbers
are (measured at a fidelity, or estimated). Each row also states its search cost twice:
the simulated training seconds the search was charged (multi-trial: the clock at its end)
and the core-hours actually spent (one-shot: the record's CPU time; multi-trial: this
process's CPU time for the simulation, per run).

Rank comes with an interval: each method's runs (or seeds) are resampled with replacement,
the methods re-ranked by mean, and the 2.5% and 97.5% quantiles of each method's rank
reported. The paper's rows are appended, marked quoted: they are the paper's numbers, on
the paper's benchmark, not reproduced here, and carry no rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nb201.search.experiment import PAPER_RESULTS, fidelity_labels
from nb201.stats import mean_std

if TYPE_CHECKING:
    from nb201.benchmark import Benchmark
    from nb201.search.experiment import Experiment

PAPER_COLUMN = "cifar10/ori-test"
PAPER_FIDELITY = "quoted from the paper: CIFAR-10 test, 200 epochs, its benchmark"
LEADERBOARD_COLUMNS = (
    "method",
    "kind",
    "n",
    "accuracy",
    "mean",
    "std",
    "fidelity",
    "simulated s per run",
    "core-h per run",
    "rank",
    "rank low",
    "rank high",
)


def one_shot_rows(
    records: Sequence[Mapping[str, Any]] | str | Path, scores: pd.Series
) -> dict[str, dict[str, np.ndarray]]:
    """Per one-shot method (display name, e.g. "DARTS-V1"): the looked-up `scores` of its
    final archs (NaN where the benchmark lacks one), their seeds and CPU seconds, in seed order."""
    if isinstance(records, (str, Path)):
        from nb201.wsnas.run import load_search_records

        records = load_search_records(records)
    by_method: dict[str, list[tuple[int, float, float]]] = {}
    for rec in records:
        if rec.get("schema") != "nb201.search/1":
            raise ValueError(
                f"not an nb201.search/1 record (schema {rec.get('schema')!r}); see nb201.wsnas.run."
            )
        if rec.get("status", "ok") != "ok":
            continue
        arch = int(rec["final"]["arch_index"])
        score = float(scores.get(arch, np.nan))
        by_method.setdefault(rec["spec"]["method"].upper(), []).append(
            (int(rec["spec"]["seed"]), score, float(rec.get("cpu_time", np.nan)))
        )
    out = {}
    for method, rows in by_method.items():
        rows.sort()
        seeds, vals, cpu = (np.array(c) for c in zip(*rows))
        out[method] = {"seeds": seeds, "scores": vals, "cpu_s": cpu}
    return out


def rank_intervals(
    samples: Mapping[str, np.ndarray], n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Rank by mean (1 = best; ties share the best rank) of each method, and the `level`
    interval of its rank when each method's samples are resampled with replacement
    (independently per method: one-shot seeds do not pair with multi-trial runs)."""
    names = [m for m, v in samples.items() if np.isfinite(v).any()]
    clean = {m: np.asarray(samples[m], dtype=float)[np.isfinite(samples[m])] for m in names}
    means = np.array([clean[m].mean() for m in names])
    point = _ranks(means[None, :])[0]
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(names)))
    for j, m in enumerate(names):
        v = clean[m]
        boot[:, j] = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    ranks = _ranks(boot)
    lo, hi = np.quantile(ranks, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame({"rank": point, "rank low": lo.astype(int), "rank high": hi.astype(int)}, index=names)


def _ranks(means: np.ndarray) -> np.ndarray:
    """Rank of each column in each row of means, 1 = highest; ties share the best rank."""
    return 1 + (means[:, None, :] > means[:, :, None]).sum(axis=2)


def leaderboard(
    experiment: Experiment,
    one_shot: Sequence[Mapping[str, Any]] | str | Path = (),
    benchmark: Benchmark | str | Path | None = None,
    column: str | None = None,
    paper: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """All methods on one column (`LEADERBOARD_COLUMNS`), best rank first, quoted rows last.

    `experiment`: the multi-trial runs (every algorithm in it, yours included). `one_shot`:
    `nb201.search/1` records, or the folder holding them. `benchmark`: where the one-shot
    archs are looked up (default: the experiment's own evaluation table, i.e. its
    benchmark). `column`: the reported `"<split>/<set>"` (default: the experiment's
    `curve_metric`). `paper`: append the paper's rows (CIFAR-10 test), marked quoted.
    """
    col = column or experiment.curve_metric
    if benchmark is None:
        scores, label = experiment.evaluation[col], experiment.fidelity.get(col, "")
    else:
        from nb201.search.experiment import evaluation_table

        table = evaluation_table(benchmark)
        if col not in table.columns:
            raise KeyError(f"{col!r} is not a column of {benchmark}; it has {list(table.columns)}.")
        scores, label = table[col], fidelity_labels(benchmark).get(col, "")
    rows, samples = _multi_trial_rows(experiment, col, label)
    for method, got in one_shot_rows(one_shot, scores).items():
        samples[method] = got["scores"]
        core_h = float(np.nanmean(got["cpu_s"])) / 3600
        rows.append(_row(method, "one-shot", got["scores"], label, np.nan, core_h, "seeds"))
    board = pd.DataFrame(rows).set_index("method")
    board = board.join(rank_intervals(samples, n_boot=n_boot, seed=seed)).sort_values("rank", kind="stable")
    best = _row("optimal", "reference", np.array([scores.max()]), label, np.nan, np.nan, "archs")
    best["accuracy"] = f"{scores.max():.2f}"  # the best architecture of the benchmark on the column
    board = pd.concat([board, pd.DataFrame([best]).set_index("method")])
    if paper:
        board = pd.concat([board, _paper_rows()])
    board = board.reset_index()[list(LEADERBOARD_COLUMNS)]
    return board.astype({c: "Int64" for c in ("n", "rank", "rank low", "rank high")})


def _row(
    method: str, kind: str, vals: np.ndarray, label: str, sim_s: float, core_h: float, what: str
) -> dict:
    v = np.asarray(vals, dtype=float)
    fin = v[np.isfinite(v)]
    missing = len(v) - len(fin)
    fidelity = label + (f"; {missing} of {len(v)} not in the benchmark" if missing else "")
    return {
        "method": method,
        "kind": kind,
        "n": len(fin),
        "accuracy": mean_std(fin, what=what),
        "mean": float(fin.mean()) if len(fin) else np.nan,
        "std": float(fin.std(ddof=1)) if len(fin) > 1 else np.nan,
        "fidelity": fidelity,
        "simulated s per run": sim_s,
        "core-h per run": core_h,
    }


def _multi_trial_rows(exp: Experiment, col: str, label: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    rows, samples = [], {}
    workers = getattr(exp, "workers", 1) or 1
    for algo, g in exp.runs.groupby("algorithm", sort=False):
        vals = g[col].to_numpy(dtype=float)
        samples[str(algo)] = vals
        core_h = exp.wall_time.get(algo, np.nan) * workers / max(len(g), 1) / 3600
        rows.append(_row(str(algo), "multi-trial", vals, label, float(g["used_time"].mean()), core_h, "runs"))
    return rows, samples


def _paper_rows() -> pd.DataFrame:
    """The paper's Table 5 rows (CIFAR-10 test): the four multi-trial methods, the six
    one-shot ones (as later papers quote them, `nb201.wsnas.evaluate.QUOTED`), ResNet
    and the optimum; marked quoted, no rank."""
    from nb201.wsnas.evaluate import QUOTED

    rows = []
    for method, cols in PAPER_RESULTS.items():
        m, s = cols[PAPER_COLUMN]
        rows.append((method, m, s, "multi-trial" if method not in ("ResNet", "optimal") else "reference"))
    for rec in QUOTED.to_dict("records"):
        m, _, s = str(rec["cifar10 ori-test"]).partition("±")
        rows.append((rec["method"].upper(), float(m), float(s) if s else np.nan, "one-shot"))
    out = []
    for method, m, s, kind in rows:
        out.append(
            {
                "method": f"{method} (paper)",
                "kind": f"quoted ({kind})",
                "n": 500 if kind == "multi-trial" else np.nan,
                "accuracy": f"{m:.2f} ± {s:.2f}" if np.isfinite(s) else f"{m:.2f}",
                "mean": m,
                "std": s,
                "fidelity": PAPER_FIDELITY,
                "simulated s per run": 12000.0 if kind == "multi-trial" else np.nan,
                "core-h per run": np.nan,
                "rank": np.nan,
                "rank low": np.nan,
                "rank high": np.nan,
            }
        )
    return pd.DataFrame(out).set_index("method")


__all__ = ["LEADERBOARD_COLUMNS", "leaderboard", "one_shot_rows", "rank_intervals"]
