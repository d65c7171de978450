"""The reports' figures: each function takes the data a notebook computed and returns a
matplotlib Figure, so that a notebook cell that plots is one call and the figures can be
tested without running a notebook.

Nothing here computes a result: the numbers come from `nb201.benchmark.analysis`, `nb201.fidelity.study`,
`nb201.fidelity.ranking` and `nb201.wsnas.evaluate`; a figure only draws them. Figures are made with
pyplot, so a notebook shows them inline (`plt.show()`), and a caller that only saves or
inspects them closes them (`plt.close(fig)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nb201.names import parse_metric

ACCURACY = "top-1 accuracy (%)"


def _ci_title(prefix: str, agree: dict[str, float]) -> str:
    return f"{prefix}Kendall {agree['kendall']:.2f} [{agree['kendall_lo']:.2f}, {agree['kendall_hi']:.2f}]"


# ---- 01 train, 02 aggregate ---------------------------------------------------------------
def learning_curves(records: Sequence[dict[str, Any]]) -> Figure:
    """Accuracy per epoch on every set of the runs' records (training accuracy included),
    one panel per set, one line per run."""
    sets = [m.set for m in map(parse_metric, records[0]["epochs"][0]) if m.quantity == "accuracy"]
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets) + 1.6, 3.4), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for r in records:
            epochs = [e["epoch"] + 1 for e in r["epochs"]]
            label = f"#{r['arch_index']} seed {r['spec']['seed']}"
            ax.plot(epochs, [e[f"{s}-accuracy"] for e in r["epochs"]], marker="o", ms=3, label=label)
        ax.set(title=f"{s} accuracy per epoch", xlabel="epoch", ylabel=ACCURACY)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="arch index", fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def accuracy_histogram(final: pd.DataFrame) -> Figure:
    """Histogram of the final accuracy of the benchmark's archs, one step line per column."""
    long = final.melt(var_name="split / set", value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sns.histplot(data=long, x="accuracy", hue="split / set", element="step", bins=30, ax=ax)
    ax.set(
        title="Final accuracy of the architectures in the benchmark", xlabel=ACCURACY, ylabel="architectures"
    )
    return fig


# ---- 03 analysis --------------------------------------------------------------------------
def accuracy_violins(final: pd.DataFrame) -> Figure:
    """One violin per `"<split>/<set>"` column of final accuracies."""
    long = final.melt(var_name="split / set", value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * final.shape[1]), 3.8))
    sns.violinplot(data=long, x="split / set", y="accuracy", cut=0, inner="quartile", ax=ax)
    ax.set(
        title="Final accuracy per split and evaluation set", xlabel="split / evaluation set", ylabel=ACCURACY
    )
    ax.tick_params(axis="x", rotation=20)
    return fig


def correlation_heatmaps(kendall: pd.DataFrame, spearman: pd.DataFrame) -> Figure:
    """Kendall (left) and Spearman (right) matrices between datasets, annotated."""
    n = kendall.shape[1]
    fig, axes = plt.subplots(1, 2, figsize=(min(16, 4 + 2.2 * n), 0.9 * n + 3))
    for ax, mat, name in zip(axes, (kendall, spearman), ("Kendall tau", "Spearman rho")):
        sns.heatmap(mat, annot=True, fmt=".2f", vmin=-1, vmax=1, cmap="vlag", square=True, ax=ax, cbar=False)
        ax.set(title=f"{name} between datasets", xlabel="dataset / test set", ylabel="dataset / test set")
    fig.tight_layout()
    return fig


def cost_scatter(
    joined: pd.DataFrame, agree: dict[str, dict[str, float]], rank_by: str, max_points: int = 5000
) -> Figure:
    """Accuracy against parameters (left) and FLOPs (right), at most `max_points` archs
    (sampled with a fixed seed); titles carry the Kendall tau and its interval."""
    shown = joined.sample(min(len(joined), max_points), random_state=0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    names = (("params", "parameters (M)", "parameter count"), ("flops", "FLOPs (M)", "FLOPs"))
    for ax, (col, unit, name) in zip(axes, names):
        ax.scatter(shown[col], shown["accuracy"], s=10, alpha=0.5)
        ax.set(title=_ci_title(f"{name} vs {rank_by}\n", agree[col]), xlabel=unit, ylabel=ACCURACY)
    fig.tight_layout()
    return fig


def epoch_agreement(agreements: dict[str, pd.DataFrame]) -> Figure:
    """Kendall tau between the ranking at epoch k and the final one, one line per set."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for label, agree in agreements.items():
        ax.plot(agree["epoch"], agree["kendall"], marker="o", ms=3, label=label)
    ax.set(title="Agreement of the ranking at epoch k with the final ranking", xlabel="epoch k")
    ax.set(ylabel="Kendall tau with the final epoch", ylim=(-0.1, 1.02))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="lower right")
    return fig


def valid_test_scatter(
    final: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    agreements: Sequence[dict[str, float]],
    max_points: int = 5000,
) -> Figure:
    """Test against validation accuracy, one panel per (valid, test) column pair with its
    `rank_agreement` in the title, at most `max_points` archs each."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 3.8), squeeze=False)
    for ax, (v, t), agree in zip(axes[0], pairs, agreements):
        d = final[[v, t]].dropna()
        d = d.sample(min(len(d), max_points), random_state=0)
        ax.scatter(d[v], d[t], s=10, alpha=0.5)
        ax.set(
            title=_ci_title(f"{v.split('/')[0]}: ", agree),
            xlabel=f"{v} accuracy (%)",
            ylabel=f"{t} accuracy (%)",
        )
    fig.tight_layout()
    return fig


def seed_std_density(spreads: dict[str, pd.Series]) -> Figure:
    """Density over architectures of the std of final accuracy over seeds, one per set."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, std in spreads.items():
        sns.kdeplot(std, ax=ax, label=label, warn_singular=False, cut=0)
    ax.set(title="Standard deviation of final accuracy over seeds", xlabel="std over seeds (accuracy points)")
    ax.set(ylabel="density over architectures")
    ax.legend(fontsize=8)
    return fig


def op_frequency_heatmap(freq: pd.DataFrame, title: str) -> Figure:
    """`analysis.op_frequency` as an annotated [edge, op] heatmap."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sns.heatmap(freq, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", ax=ax)
    ax.set(title=title, xlabel="operation", ylabel="edge (from→to node)")
    return fig


# ---- 05 fidelity, 07 ranking: agreement against cost ---------------------------------------
def _baseline_and_budget(ax: Any, baseline: dict[str, float], metric: str, budget: float) -> None:
    """The parameter count's agreement (band: its 95% interval) and the cost budget."""
    lo, hi = baseline[f"{metric}_lo"], baseline[f"{metric}_hi"]
    ax.axhspan(lo, hi, color="grey", alpha=0.2, label="parameter count (95% CI)")
    ax.axhline(baseline[metric], color="grey", lw=1)
    ax.axvline(budget, color="k", ls="--", lw=1, label="budget")


def _yerr(rows: pd.DataFrame | pd.Series, m: str) -> list:
    return [np.atleast_1d(rows[m] - rows[f"{m}_lo"]), np.atleast_1d(rows[f"{m}_hi"] - rows[m])]


def points_vs_cost(results: pd.DataFrame, baseline: dict[str, float], budget: float) -> Figure:
    """Each scored fidelity point's Spearman (left) and Kendall (right) agreement with the
    full protocol and its interval against its cost per architecture; hollow markers are
    incomplete points. One legend for both panels."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    scored = results.dropna(subset=["spearman"])
    for ax, m in zip(axes, ("spearman", "kendall")):
        _baseline_and_budget(ax, baseline, m, budget)
        for k, (name, r) in enumerate(scored.iterrows()):
            color, note = f"C{k % 10}", "" if r["complete"] else ", incomplete"
            ax.errorbar(
                r["core_seconds_per_arch"],
                r[m],
                yerr=_yerr(r, m),
                fmt="o",
                capsize=3,
                color=color,
                mfc=color if r["complete"] else "white",
                label=f"{name} (n={r['n']}{note})",
            )
        ax.set(
            title=f"{m.capitalize()} with the full protocol vs cost",
            ylabel=f"{m} (CIFAR-10 test, 200 epochs)",
        )
        ax.set_xlabel("CPU cost per architecture (core-seconds)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


METHOD_MARKERS = {"single": "o", "rankavg": "s", "ridge": "D", "gbm": "^"}


def methods_vs_cost(results: pd.DataFrame, baseline: dict[str, float], budget: float, n: int) -> Figure:
    """Each ranking method's Spearman (left) and Kendall (right) agreement and interval
    against its cost per architecture (symlog: proxies cost fractions of a second, training
    about a minute); one marker per kind of method."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), sharex=True)
    for ax, m in zip(axes, ("spearman", "kendall")):
        _baseline_and_budget(ax, baseline, m, budget)
        for kind, marker in METHOD_MARKERS.items():
            sel = results[results["kind"] == kind]
            ax.errorbar(
                sel["core_seconds_per_arch"],
                sel[m],
                yerr=_yerr(sel, m),
                fmt=marker,
                capsize=2,
                alpha=0.75,
                label=kind,
            )
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set(
            xlabel="cost per architecture (core-seconds, symlog)", ylabel=f"{m} with the 200-epoch accuracy"
        )
        ax.set_title(f"{m.capitalize()} vs cost (n = {n})")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def score_scatter(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, ylabel: str) -> Figure:
    """One dot per architecture: a cheap score against the full protocol's accuracy."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.scatter(x, y, s=12)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=9)
    return fig


# ---- 06 weight sharing --------------------------------------------------------------------
def search_epochs(per_epoch: pd.DataFrame, shown: str) -> Figure:
    """Per method, over search epochs: the derived arch's measured `shown` accuracy (left)
    and the supernet's own accuracy on the valid half (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    kw: dict[str, Any] = {"data": per_epoch, "x": "epoch", "hue": "method", "marker": "o", "errorbar": None}
    sns.lineplot(y=shown, ax=axes[0], **kw)
    axes[0].set(title=f"derived arch, trained at the benchmark's fidelity: {shown}", ylabel="accuracy (%)")
    sns.lineplot(y="supernet valid acc", ax=axes[1], **kw)
    axes[1].set(title="the supernet itself on the valid half (one-shot accuracy)", ylabel="accuracy (%)")
    fig.tight_layout()
    return fig


def op_shares(fractions: pd.DataFrame, methods: Sequence[str], ops: Sequence[str]) -> Figure:
    """One stacked-area panel per method: the share of each op among the derived cell's
    edges over the epochs (`wsnas.evaluate.op_fractions`)."""
    fig, axes = plt.subplots(1, len(methods), figsize=(3.1 * len(methods), 3.4), sharey=True, squeeze=False)
    colors = dict(zip(ops, sns.color_palette("tab10", len(ops))))
    for ax, m in zip(axes[0], methods):
        d = fractions[fractions.method == m].set_index("epoch")[list(ops)]
        ax.stackplot(d.index, d.T.values, labels=list(ops), colors=[colors[o] for o in ops], alpha=0.85)
        ax.set(title=m, xlabel="epoch", ylim=(0, 1))
    axes[0][0].set_ylabel("share of the derived cell's edges")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    fig.tight_layout()
    return fig


def skip_mass(skip: pd.DataFrame) -> Figure:
    """The architecture distribution's mean mass on skip_connect per method and epoch
    (`wsnas.evaluate.skip_mass`), with the uniform 0.2 dotted."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    sns.lineplot(data=skip, x="epoch", y="p(skip_connect)", hue="method", marker="o", errorbar=None, ax=ax)
    ax.axhline(0.2, color="grey", ls=":", lw=1)
    ax.set(title="architecture distribution: mean mass on skip_connect over the 6 edges")
    return fig


# ==== 04 search: anytime, regret and ECDF of search runs (nb201.search) ======================
# Every line of these figures is told apart by its line style and marker as well as by its
# colour, in a fixed order per algorithm label, so that the figures read in greyscale and
# overlapping curves (near-identical algorithms) stay distinguishable.
SEARCH_STYLES = ("-", "--", "-.", ":")
SEARCH_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _search_style(k: int, n_points: int) -> dict[str, Any]:
    """Style of the k-th line: colour, dash and marker cycle with different periods; about 10
    markers per line, staggered between lines so that coincident curves stay visible."""
    every = max(1, n_points // 10)
    return {
        "color": sns.color_palette("tab10", 10)[k % 10],
        "ls": SEARCH_STYLES[k % len(SEARCH_STYLES)],
        "marker": SEARCH_MARKERS[k % len(SEARCH_MARKERS)],
        "markevery": (min(k * max(1, every // 4), max(0, n_points - 1)), every),
        "ms": 5,
        "lw": 1.6,
    }


def search_anytime(
    curves: pd.DataFrame, metric: str, x: str = "time", band: bool = False, optimum: float | None = None
) -> Figure:
    """Mean accuracy of each algorithm's current answer over its runs, against simulated
    time (`x="time"`, `Experiment.curves`) or queries made (`x="queries"`,
    `Experiment.curves_by_queries()`; integer ticks). `band`: shade the interquartile range;
    `optimum`: the best architecture's accuracy, dotted."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (algo, g) in enumerate(curves.groupby("algorithm", sort=False)):
        ax.plot(g[x], g["mean"], label=str(algo), **_search_style(k, len(g)))
        if band:
            ax.fill_between(g[x], g["q25"], g["q75"], alpha=0.12, color=_search_style(k, len(g))["color"])
    if optimum is not None:
        ax.axhline(optimum, color="grey", ls=":", lw=1, label=f"best architecture ({optimum:.2f})")
    xlabel = "simulated time (s)" if x == "time" else "queries made"
    ax.set(
        title=f"Accuracy of the current answer ({metric}), mean over runs",
        xlabel=xlabel,
        ylabel=f"{metric} accuracy (%)",
    )
    if x != "time":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="algorithm", fontsize=9)
    fig.tight_layout()
    return fig


def search_regret(curves: pd.DataFrame, optimum: float, metric: str, x: str = "time") -> Figure:
    """Simple regret (the best architecture's accuracy minus the mean accuracy of the current
    answer) per algorithm, on a log scale, against simulated time or queries made."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (algo, g) in enumerate(curves.groupby("algorithm", sort=False)):
        regret = (optimum - g["mean"]).clip(lower=1e-3)
        ax.plot(g[x], regret, label=str(algo), **_search_style(k, len(g)))
    ax.set_yscale("log")
    xlabel = "simulated time (s)" if x == "time" else "queries made"
    ax.set(
        title=f"Regret of the current answer ({metric})",
        xlabel=xlabel,
        ylabel="regret (accuracy points, log)",
    )
    if x != "time":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="algorithm", fontsize=9)
    fig.tight_layout()
    return fig


def search_ecdf(runs: pd.DataFrame, column: str) -> Figure:
    """Empirical CDF of the final answer's `column` accuracy over each algorithm's runs
    (`Experiment.runs`): a curve further right is better; the paper's sorted-accuracy view
    with its axes swapped."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (algo, g) in enumerate(runs.groupby("algorithm", sort=False)):
        vals = np.sort(g[column].dropna().to_numpy())
        share = np.arange(1, len(vals) + 1) / max(len(vals), 1)
        ax.step(vals, share, where="post", label=f"{algo} ({len(vals)} runs)", **_search_style(k, len(vals)))
    ax.set(
        title=f"Final {column} accuracy over runs (ECDF)",
        xlabel=f"{column} accuracy (%)",
        ylabel="share of runs at or below",
        ylim=(0, 1.02),
    )
    ax.legend(title="algorithm", fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig
