"""What a comparison of search algorithms may claim: paired differences and findings.

Run k of every algorithm starts from the same seed, so the runs pair up: what the seed
shares (the first architectures drawn, the training seeds the clock picks) cancels in the
difference. Each pair of algorithms gets `nb201.stats.paired_difference` of its final
accuracies (a percentile-bootstrap interval over the paired runs), and every sentence about
it is `nb201.stats.describe_difference`'s: "indistinguishable" when the interval covers
zero. The findings a report opens with are written here from those numbers, so the prose
can never claim more than the intervals do.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nb201.stats import Difference, describe_difference, mean_std, paired_difference

if TYPE_CHECKING:
    from nb201.search.experiment import Experiment

PAPER_ORDER = ("REA", "REINFORCE", "RS", "BOHB")  # the paper's Table 5, best first (CIFAR-10 test)


def paired_table(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Final `column` accuracy, one row per run seed, one column per algorithm (run order)."""
    order = list(dict.fromkeys(runs["algorithm"]))
    wide = runs.pivot_table(index="seed", columns="algorithm", values=column, aggfunc="first")
    return wide[order]


def differences(
    exp: Experiment, column: str | None = None, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> list[Difference]:
    """`paired_difference` for every pair of algorithms, the higher mean first (a - b > 0)."""
    col = column or exp.curve_metric
    wide = paired_table(exp.runs, col)
    ranked = list(wide.mean().sort_values(ascending=False, kind="stable").index)
    return [
        paired_difference(wide[a], wide[b], a, b, n_boot=n_boot, level=level, seed=seed)
        for a, b in itertools.combinations(ranked, 2)
    ]


def comparison_table(
    exp: Experiment, column: str | None = None, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """One row per pair of algorithms: both means, the paired difference, its interval, n,
    the verdict ("indistinguishable" or which is higher) and the sentence that words it."""
    col = column or exp.curve_metric
    rows = []
    for d in differences(exp, col, n_boot, level, seed):
        verdict = "indistinguishable" if d.covers_zero else f"{d.a_name if d.diff > 0 else d.b_name} higher"
        rows.append(
            {
                "a": d.a_name,
                "b": d.b_name,
                "mean a (%)": d.a,
                "mean b (%)": d.b,
                "a − b (points)": d.diff,
                "interval low": d.lo,
                "interval high": d.hi,
                "pairs": d.n,
                "verdict": verdict,
                "sentence": describe_difference(d, quantity=f"mean {col} accuracy"),
            }
        )
    return pd.DataFrame(rows)


def findings(exp: Experiment, column: str | None = None, n_boot: int = 2000, seed: int = 0) -> list[str]:
    """The comparison's findings, 3-6 sentences from its numbers: which algorithm scores
    highest and how that compares with the best architecture; the top algorithm against
    each other one (worded by its interval); how many pairs can be told apart; and whether
    the paper's ordering is reproduced where the intervals allow a direction."""
    col = column or exp.curve_metric
    label = exp.fidelity.get(col, "")
    what = f"{col} accuracy" + (f" ({label})" if label else "")
    wide = paired_table(exp.runs, col)
    means = wide.mean().sort_values(ascending=False, kind="stable")
    top = str(means.index[0])
    best = float(exp.evaluation[col].max())
    out = [
        f"{top} scores highest in final {what}: {mean_std(wide[top], what='runs')}; the best architecture "
        f"in the benchmark scores {best:.2f}."
    ]
    diffs = differences(exp, col, n_boot=n_boot, seed=seed)
    out += [describe_difference(d, quantity=f"mean {col} accuracy") for d in diffs if d.a_name == top][:3]
    apart = sum(not d.covers_zero for d in diffs)
    out.append(
        f"{apart} of the {len(diffs)} pairs of algorithms can be told apart (95% paired bootstrap "
        f"interval excluding zero); {_the_others(len(diffs) - apart)} indistinguishable."
    )
    paper = paper_agreement(diffs)
    if paper:
        out.append(paper)
    return out[:6]


def paper_agreement(diffs: list[Difference]) -> str | None:
    """One sentence on the paper's ordering (REA > REINFORCE > RS > BOHB): of its pairwise
    orderings among the algorithms run here, how many are reproduced with an interval
    excluding zero, reversed likewise, or indistinguishable."""
    rank = {a: k for k, a in enumerate(PAPER_ORDER)}
    pairs = [d for d in diffs if d.a_name in rank and d.b_name in rank]
    if len(pairs) < 1:
        return None
    agree = reverse = 0
    for d in pairs:
        if d.covers_zero:
            continue
        higher = d.a_name if d.diff > 0 else d.b_name
        lower = d.b_name if higher == d.a_name else d.a_name
        agree += rank[higher] < rank[lower]
        reverse += rank[higher] > rank[lower]
    ran = [a for a in PAPER_ORDER if any(a in (d.a_name, d.b_name) for d in pairs)]
    n = len(pairs)
    return (
        f"The paper orders {' > '.join(ran)} (quoted, CIFAR-10 test); of its {n} pairwise "
        f"ordering{'s' if n != 1 else ''} among the algorithms run here, {agree} "
        f"{'is' if agree == 1 else 'are'} reproduced with an interval excluding zero, {reverse} reversed "
        f"and {n - agree - reverse} indistinguishable."
    )


def difference_records(diffs: list[Difference]) -> list[dict]:
    """JSON-ready records of the differences (for a report's sidecar)."""
    return [
        {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in d.to_dict().items()}
        for d in diffs
    ]


__all__ = ["comparison_table", "differences", "findings", "paired_table", "paper_agreement"]


def _the_others(k: int) -> str:
    return "none is" if k == 0 else "the other one is" if k == 1 else f"the other {k} are"
