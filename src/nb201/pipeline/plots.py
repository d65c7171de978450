"""The reports' figures: each function takes the data a notebook computed and returns a
`Plot`, the matplotlib Figure with the caption written from what it drew (how many
architectures, runs or points; which colour stands for which op), so that a caption can
never contradict its figure. A notebook shows one with `reports.show_figure(plot)`.

Nothing here computes a result: the numbers come from `nb201.benchmark.analysis`,
`nb201.fidelity.study`, `nb201.fidelity.ranking` and `nb201.wsnas.evaluate`; a figure only
draws them. Lines are told apart by line style and marker as well as colour (`line_style`),
axes that count (epochs, architectures) get integer ticks, and legends are legible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import TABLEAU_COLORS
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nb201.names import parse_metric

ACCURACY = "top-1 accuracy (%)"
LEGEND_SIZE = 10
# The colours every figure uses, by name: a caption that names a colour reads it from here
COLOR_NAMES: tuple[str, ...] = tuple(name.removeprefix("tab:") for name in TABLEAU_COLORS)
COLORS: tuple[str, ...] = tuple(TABLEAU_COLORS.values())
LINE_STYLES: tuple[str, ...] = ("-", "--", "-.", ":")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass
class Plot:
    """A report figure and what it shows in words.

    `caption` is written from the plotted data; `colors` maps each plotted label to the
    name of the colour it was drawn in (empty when colour carries no meaning). Attribute
    access falls through to the Figure, so `plot.axes` works as on a Figure."""

    figure: Figure
    caption: str
    colors: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name == "figure":  # not yet set (during unpickling / copying)
            raise AttributeError(name)
        return getattr(self.figure, name)


def line_style(k: int) -> dict[str, Any]:
    """Colour, line style and marker of the k-th line: no two of the first 40 lines look
    alike, even in grey print."""
    return {
        "color": COLORS[k % len(COLORS)],
        "ls": LINE_STYLES[k % len(LINE_STYLES)],
        "marker": MARKERS[k % len(MARKERS)],
    }


def color_name(k: int) -> str:
    return COLOR_NAMES[k % len(COLOR_NAMES)]


def integer_axis(axis: Any) -> None:
    """Integer ticks on an axis that counts (epochs, runs, architectures)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def _legend_below(fig: Figure, handles: list, labels: list, title: str | None = None) -> None:
    """One legend for the whole figure, under it, in as many columns as fit."""
    ncol = max(1, min(len(labels), 4))
    fig.legend(
        handles,
        labels,
        title=title,
        fontsize=LEGEND_SIZE,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol,
        frameon=False,
    )


def _ci_title(prefix: str, agree: dict[str, float]) -> str:
    return f"{prefix}Kendall {agree['kendall']:.2f} [{agree['kendall_lo']:.2f}, {agree['kendall_hi']:.2f}]"


def _n(count: int, what: str) -> str:
    return f"{count:,} {what if count != 1 else what.rstrip('s')}"


# ---- 01 train, 02 aggregate ---------------------------------------------------------------
def learning_curves(records: Sequence[dict[str, Any]]) -> Plot:
    """Accuracy per epoch on every set of the runs' records (training accuracy included),
    one panel per set, one line per run (colour, style and marker per run)."""
    sets = [m.set for m in map(parse_metric, records[0]["epochs"][0]) if m.quantity == "accuracy"]
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets) + 1.0, 3.6), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for k, r in enumerate(records):
            epochs = [e["epoch"] + 1 for e in r["epochs"]]
            label = f"#{r['arch_index']} seed {r['spec']['seed']}"
            ax.plot(epochs, [e[f"{s}-accuracy"] for e in r["epochs"]], ms=4, label=label, **line_style(k))
        ax.set(title=f"{s} accuracy per epoch", xlabel="epoch", ylabel=ACCURACY)
        integer_axis(ax.xaxis)
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, title="architecture index, seed")
    archs = len({r["arch_index"] for r in records})
    caption = (
        f"Accuracy per epoch of {_n(len(records), 'runs')} ({_n(archs, 'architectures')}) on "
        f"{', '.join(sets)}; one line per run."
    )
    return Plot(fig, caption)


def accuracy_histogram(final: pd.DataFrame) -> Plot:
    """Histogram of the final accuracy of the benchmark's archs, one step line per column."""
    long = final.melt(var_name="split / set", value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    palette = dict(zip(final.columns, COLORS))
    sns.histplot(data=long, x="accuracy", hue="split / set", element="step", bins=30, ax=ax, palette=palette)
    ax.set(
        title="Final accuracy of the architectures in the benchmark", xlabel=ACCURACY, ylabel="architectures"
    )
    integer_axis(ax.yaxis)
    if ax.get_legend() is not None:
        plt.setp(ax.get_legend().get_texts(), fontsize=LEGEND_SIZE)
    caption = (
        f"Final accuracy of {_n(int(final.notna().any(axis=1).sum()), 'architectures')} in 30 bins, one "
        f"step line per split / set ({', '.join(map(str, final.columns))})."
    )
    return Plot(fig, caption, {str(c): color_name(k) for k, c in enumerate(final.columns)})


# ---- 03 analysis --------------------------------------------------------------------------
def accuracy_violins(final: pd.DataFrame) -> Plot:
    """One violin per `"<split>/<set>"` column of final accuracies."""
    long = final.melt(var_name="split / set", value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * final.shape[1]), 3.8))
    sns.violinplot(data=long, x="split / set", y="accuracy", cut=0, inner="quartile", ax=ax, color=COLORS[0])
    ax.set(
        title="Final accuracy per split and evaluation set", xlabel="split / evaluation set", ylabel=ACCURACY
    )
    ax.tick_params(axis="x", rotation=20)
    caption = (
        f"Final accuracy of {_n(int(final.notna().any(axis=1).sum()), 'architectures')} per split / set: "
        "each violin spans the observed range (no extrapolation); the dashed lines are the quartiles."
    )
    return Plot(fig, caption)


def correlation_heatmaps(kendall: pd.DataFrame, spearman: pd.DataFrame, n: int | None = None) -> Plot:
    """Kendall (left) and Spearman (right) matrices between datasets, annotated."""
    k = kendall.shape[1]
    fig, axes = plt.subplots(1, 2, figsize=(min(16, 4 + 2.2 * k), 0.9 * k + 3))
    for ax, mat, name in zip(axes, (kendall, spearman), ("Kendall tau", "Spearman rho")):
        sns.heatmap(mat, annot=True, fmt=".2f", vmin=-1, vmax=1, cmap="vlag", square=True, ax=ax, cbar=False)
        ax.set(title=f"{name} between datasets", xlabel="dataset / test set", ylabel="dataset / test set")
    fig.tight_layout()
    over = f" over {_n(n, 'architectures')} evaluated on both" if n else ""
    return Plot(
        fig,
        f"Rank correlation between {k} datasets' test accuracies{over}: Kendall τ left, Spearman ρ right.",
    )


def cost_scatter(
    joined: pd.DataFrame,
    agree: dict[str, dict[str, float]],
    rank_by: str,
    max_points: int = 5000,
    same_order: bool = False,
) -> Plot:
    """Accuracy against parameters (left) and FLOPs (right), at most `max_points` archs
    (sampled with a fixed seed); titles carry the Kendall tau and its interval. With
    `same_order` (FLOPs order the archs exactly as the parameter count) one panel shows both."""
    shown = joined.sample(min(len(joined), max_points), random_state=0)
    names = (("params", "parameters (M)", "parameter count"), ("flops", "FLOPs (M)", "FLOPs"))
    names = names[:1] if same_order else names
    fig, axes = plt.subplots(1, len(names), figsize=(5.6 * len(names), 3.9), squeeze=False)
    for ax, (col, unit, name) in zip(axes[0], names):
        ax.scatter(shown[col], shown["accuracy"], s=10, alpha=0.5, color=COLORS[0])
        label = "parameter count (and FLOPs, same order)" if same_order else name
        ax.set(title=_ci_title(f"{label} vs {rank_by}\n", agree[col]), xlabel=unit, ylabel=ACCURACY)
    fig.tight_layout()
    caption = f"Each dot is one of {_n(len(shown), 'architectures')}" + (
        f" (a seeded sample of {len(joined):,})" if len(shown) < len(joined) else ""
    )
    caption += (
        "; FLOPs order these architectures exactly as the parameter count does, so one panel stands for both."
        if same_order
        else "; parameter count left, FLOPs right."
    )
    return Plot(fig, caption)


def epoch_agreement(agreements: dict[str, pd.DataFrame], target: str = "the final ranking") -> Plot:
    """Kendall tau between the ranking at epoch k and `target`, one line per set (styles
    and markers differ)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.9))
    for k, (label, agree) in enumerate(agreements.items()):
        ax.plot(agree["epoch"], agree["kendall"], ms=5, label=label, **line_style(k))
    ax.set(title=f"Ranking after epoch k against {target}", xlabel="epoch k")
    ax.set(ylabel="Kendall tau", ylim=(-0.1, 1.02))
    integer_axis(ax.xaxis)
    ax.legend(fontsize=LEGEND_SIZE, loc="lower right")
    lines = ", ".join(agreements)
    return Plot(
        fig, f"Kendall τ between the ranking after epoch k and {target}, one line per ranking ({lines})."
    )


def valid_test_scatter(
    final: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    agreements: Sequence[dict[str, float]],
    max_points: int = 5000,
) -> Plot:
    """Test against validation accuracy, one panel per (valid, test) column pair with its
    `rank_agreement` in the title, at most `max_points` archs each."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 3.9), squeeze=False)
    counts = []
    for ax, (v, t), agree in zip(axes[0], pairs, agreements):
        d = final[[v, t]].dropna()
        d = d.sample(min(len(d), max_points), random_state=0)
        counts.append(len(d))
        ax.scatter(d[v], d[t], s=10, alpha=0.5, color=COLORS[0])
        ax.set(
            title=_ci_title(f"{v.split('/')[0]}: ", agree),
            xlabel=f"{v} accuracy (%)",
            ylabel=f"{t} accuracy (%)",
        )
    fig.tight_layout()
    return Plot(
        fig,
        f"Each dot is one architecture ({', '.join(f'{c:,}' for c in counts)} per panel): "
        "test against validation accuracy.",
    )


def seed_std_density(spreads: dict[str, pd.Series]) -> Plot:
    """Density over architectures of the std of final accuracy over seeds, one per set."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for k, (label, std) in enumerate(spreads.items()):
        style = line_style(k)
        sns.kdeplot(
            std,
            ax=ax,
            label=f"{label} (n={len(std)})",
            warn_singular=False,
            cut=0,
            color=style["color"],
            ls=style["ls"],
        )
    ax.set(title="Standard deviation of final accuracy over seeds", xlabel="std over seeds (accuracy points)")
    ax.set(ylabel="density over architectures")
    ax.legend(fontsize=LEGEND_SIZE)
    sizes = ", ".join(f"{label}: {len(s):,}" for label, s in spreads.items())
    return Plot(
        fig, f"Density of the per-architecture std over seeds (architectures with 2+ seeds: {sizes})."
    )


def op_frequency_heatmap(freq: pd.DataFrame, title: str, n: int | None = None) -> Plot:
    """`analysis.op_frequency` as an annotated [edge, op] heatmap."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.heatmap(freq, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", ax=ax)
    ax.set(title=title, xlabel="operation", ylabel="edge (from→to node)")
    among = f"the {n} architectures" if n else "the architectures"
    return Plot(
        fig, f"Share of {among} that carry each operation on each edge; 0.20 everywhere would be uniform."
    )


# ---- 05 fidelity, 07 ranking: agreement against cost ---------------------------------------
def _baseline_and_budget(ax: Any, baseline: dict[str, float], metric: str, budget: float) -> None:
    """The parameter count's agreement (band: its 95% interval) and the cost budget."""
    lo, hi = baseline[f"{metric}_lo"], baseline[f"{metric}_hi"]
    ax.axhspan(lo, hi, color="grey", alpha=0.2, label="parameter count (95% CI)")
    ax.axhline(baseline[metric], color="grey", lw=1)
    ax.axvline(budget, color="k", ls="--", lw=1, label="budget")


def _yerr(rows: pd.DataFrame | pd.Series, m: str) -> list:
    return [np.atleast_1d(rows[m] - rows[f"{m}_lo"]), np.atleast_1d(rows[f"{m}_hi"] - rows[m])]


def points_vs_cost(results: pd.DataFrame, baseline: dict[str, float], budget: float) -> Plot:
    """Each scored fidelity point's Spearman (left) and Kendall (right) agreement with the
    full protocol and its interval against its cost per architecture; hollow markers are
    incomplete points. One legend for both panels, under them."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    scored = results.dropna(subset=["spearman"])
    for ax, m in zip(axes, ("spearman", "kendall")):
        _baseline_and_budget(ax, baseline, m, budget)
        for k, (name, r) in enumerate(scored.iterrows()):
            style, note = line_style(k), "" if r["complete"] else ", incomplete"
            ax.errorbar(
                r["core_seconds_per_arch"],
                r[m],
                yerr=_yerr(r, m),
                fmt=style["marker"],
                ms=7,
                capsize=3,
                color=style["color"],
                mfc=style["color"] if r["complete"] else "white",
                label=f"{name} (n={int(r['n'])}{note})",
            )
        ax.set(
            title=f"{m.capitalize()} with the full protocol vs cost",
            ylabel=f"{m} (CIFAR-10 test, 200 epochs)",
        )
        ax.set_xlabel("CPU cost per architecture (core-seconds)")
    fig.tight_layout()
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels)
    complete = int(scored["complete"].sum())
    caption = (
        f"{_n(len(scored), 'fidelity points')} scored, {complete} complete (filled markers) and "
        f"{len(scored) - complete} incomplete (hollow); bars are 95% bootstrap intervals over architectures, "
        "the grey band the parameter count's interval, the dashed line the budget."
    )
    return Plot(fig, caption)


METHOD_MARKERS = {"single": "o", "rankavg": "s", "ridge": "D", "gbm": "^"}


def methods_vs_cost(results: pd.DataFrame, baseline: dict[str, float], budget: float, n: int) -> Plot:
    """Each ranking method's Spearman (left) and Kendall (right) agreement and interval
    against its cost per architecture (symlog: proxies cost fractions of a second, training
    about a minute); one marker and colour per kind of method."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharex=True)
    for ax, m in zip(axes, ("spearman", "kendall")):
        _baseline_and_budget(ax, baseline, m, budget)
        for k, (kind, marker) in enumerate(METHOD_MARKERS.items()):
            sel = results[results["kind"] == kind]
            ax.errorbar(
                sel["core_seconds_per_arch"],
                sel[m],
                yerr=_yerr(sel, m),
                fmt=marker,
                ms=6,
                capsize=2,
                alpha=0.8,
                color=COLORS[k],
                label=kind,
            )
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set(
            xlabel="cost per architecture (core-seconds, symlog)", ylabel=f"{m} with the 200-epoch accuracy"
        )
        ax.set_title(f"{m.capitalize()} vs cost (n = {n})")
    fig.tight_layout()
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels)
    counts = results["kind"].value_counts()
    kinds = ", ".join(f"{kind} {int(counts.get(kind, 0))}" for kind in METHOD_MARKERS)
    caption = (
        f"{_n(len(results), 'methods')} scored on {n} calibration architectures ({kinds}); bars are 95% "
        "bootstrap intervals, the grey band the parameter count's interval, the dashed line the budget."
    )
    return Plot(fig, caption, {kind: color_name(k) for k, kind in enumerate(METHOD_MARKERS)})


def score_scatter(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, ylabel: str) -> Plot:
    """One dot per architecture: a cheap score against the full protocol's accuracy."""
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    ax.scatter(x, y, s=12, color=COLORS[0])
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title, fontsize=10)
    return Plot(
        fig, f"Each dot is one of {_n(len(np.asarray(x)), 'architectures')}: {ylabel} against {xlabel}."
    )


# ---- 06 weight sharing --------------------------------------------------------------------
def _method_lines(ax: Any, data: pd.DataFrame, y: str, methods: list[str], band: bool = False) -> None:
    """One line per method: the mean of `y` over seeds per epoch (about 12 markers per line,
    staggered so coincident lines stay visible); `band` shades the range over seeds."""
    for k, m in enumerate(methods):
        g = data[data["method"] == m].groupby("epoch", sort=True)[y]
        d = g.mean()
        every = max(1, len(d) // 12)
        style = line_style(k)
        ax.plot(
            d.index,
            d.values,
            ms=5,
            label=m,
            markevery=(min(k * max(1, every // 6), len(d) - 1), every),
            **style,
        )
        if band and g.count().max() > 1:
            ax.fill_between(d.index, g.min().values, g.max().values, color=style["color"], alpha=0.15, lw=0)
    integer_axis(ax.xaxis)


def derived_accuracy(per_epoch: pd.DataFrame, estimated: str, measured: str | None = None) -> Plot:
    """The paper's figure: per method, the accuracy of the arch derived after each search
    epoch, mean over seeds with the range over seeds shaded (`estimated`: an instant lookup
    in the whole-space benchmark); `measured`: the archs trained at the cheap fidelity, as
    points on a second panel (NaN where an arch was not trained)."""
    methods = list(dict.fromkeys(per_epoch["method"]))
    panels = 2 if measured else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.2), squeeze=False)
    ax = axes[0][0]
    _method_lines(ax, per_epoch, estimated, methods, band=True)
    seeds = int(per_epoch.groupby("method")["seed"].nunique().max())
    ax.set(title=f"{estimated} (estimated)", xlabel="search epoch", ylabel="accuracy (%)")
    if measured:
        pts = per_epoch.dropna(subset=[measured])
        for k, m in enumerate(methods):
            d = pts[pts["method"] == m].groupby("epoch")[measured].mean()
            st = line_style(k)
            axes[0][1].plot(
                d.index, d.values, color=st["color"], ls="none", marker=st["marker"], ms=6, label=m
            )
        axes[0][1].set(title=f"{measured} (measured)", xlabel="search epoch", ylabel="accuracy (%)")
        integer_axis(axes[0][1].xaxis)
    fig.tight_layout()
    handles, labels = ax.get_legend_handles_labels()
    _legend_below(fig, handles, labels, title="method")
    at_end = per_epoch["epoch"] == per_epoch.groupby("method")["epoch"].transform("max")
    ends = per_epoch[at_end].groupby("method")[estimated].mean()
    caption = (
        f"Mean over {seeds} seed{'s' if seeds != 1 else ''} per search epoch"
        f"{', range over seeds shaded' if seeds > 1 else ''}; final estimate: "
        + ", ".join(f"{m} {ends[m]:.2f}%" for m in methods if m in ends)
        + "."
    )
    return Plot(fig, caption, {m: color_name(k) for k, m in enumerate(methods)})


def search_epochs(per_epoch: pd.DataFrame, shown: str) -> Plot:
    """Per method, over search epochs (mean over seeds): the derived arch's measured `shown`
    accuracy (left) and the supernet's own accuracy on the valid half (right)."""
    methods = list(dict.fromkeys(per_epoch["method"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    _method_lines(axes[0], per_epoch, shown, methods)
    axes[0].set(
        title=f"derived arch, at the benchmark's fidelity: {shown}",
        xlabel="search epoch",
        ylabel="accuracy (%)",
    )
    _method_lines(axes[1], per_epoch, "supernet valid acc", methods)
    axes[1].set(
        title="the supernet on the valid half (one-shot accuracy)",
        xlabel="search epoch",
        ylabel="accuracy (%)",
    )
    fig.tight_layout()
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, title="method")
    caption = f"Mean over seeds per search epoch, one line per method ({', '.join(methods)})."
    return Plot(fig, caption, {m: color_name(k) for k, m in enumerate(methods)})


def op_colors(ops: Sequence[str]) -> dict[str, str]:
    """{op: colour name} as `op_shares` draws them."""
    return {op: color_name(k) for k, op in enumerate(ops)}


def op_shares(fractions: pd.DataFrame, methods: Sequence[str], ops: Sequence[str]) -> Plot:
    """One stacked-area panel per method: the share of each op among the derived cell's
    edges over the epochs (`wsnas.evaluate.op_fractions`). The caption names each op's
    colour from the colour map drawn, so a sentence about one op's band is never wrong."""
    fig, axes = plt.subplots(
        1, len(methods), figsize=(2.9 * len(methods) + 0.6, 3.6), sharey=True, squeeze=False
    )
    colors = {op: COLORS[k % len(COLORS)] for k, op in enumerate(ops)}
    for ax, m in zip(axes[0], methods):
        d = fractions[fractions.method == m].set_index("epoch")[list(ops)]
        ax.stackplot(d.index, d.T.values, labels=list(ops), colors=[colors[o] for o in ops], alpha=0.85)
        ax.set(title=m, xlabel="epoch", ylim=(0, 1))
        integer_axis(ax.xaxis)
    axes[0][0].set_ylabel("share of the derived cell's edges")
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, title="operation")
    names = op_colors(ops)
    legend = ", ".join(f"{op} {names[op]}" for op in ops)
    return Plot(fig, f"Share of each operation among the derived cell's edges per epoch ({legend}).", names)


def skip_mass(skip: pd.DataFrame) -> Plot:
    """The architecture distribution's mean mass on skip_connect per method and epoch
    (`wsnas.evaluate.skip_mass`), with the uniform 0.2 dotted."""
    methods = list(dict.fromkeys(skip["method"]))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    _method_lines(ax, skip, "p(skip_connect)", methods)
    ax.axhline(0.2, color="grey", ls=":", lw=1)
    ax.set(
        title="mean mass on skip_connect over the 6 edges", xlabel="search epoch", ylabel="p(skip_connect)"
    )
    ax.legend(fontsize=LEGEND_SIZE, title="method")
    caption = (
        f"Mean probability of skip_connect per edge, one line per method ({', '.join(methods)}); "
        "dotted: uniform 0.2."
    )
    return Plot(fig, caption, {m: color_name(k) for k, m in enumerate(methods)})


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
        "color": COLORS[k % len(COLORS)],
        "ls": SEARCH_STYLES[k % len(SEARCH_STYLES)],
        "marker": SEARCH_MARKERS[k % len(SEARCH_MARKERS)],
        "markevery": (min(k * max(1, every // 4), max(0, n_points - 1)), every),
        "ms": 5,
        "lw": 1.6,
    }


def search_anytime(
    curves: pd.DataFrame, metric: str, x: str = "time", band: bool = False, optimum: float | None = None
) -> Plot:
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
    ax.legend(title="algorithm", fontsize=10)
    fig.tight_layout()
    return Plot(fig, _anytime_caption(curves, metric, x, optimum), _algorithm_colors(curves))


def _algorithm_colors(frame: pd.DataFrame) -> dict[str, str]:
    """{algorithm: colour name} in the order the search figures draw them."""
    return {str(a): color_name(k) for k, a in enumerate(dict.fromkeys(frame["algorithm"]))}


def _anytime_caption(curves: pd.DataFrame, metric: str, x: str, optimum: float | None) -> str:
    """What the anytime figure shows at its right edge, read from the drawn curves."""
    ends = curves.sort_values(x).groupby("algorithm", sort=False)["mean"].last()
    order = ", ".join(f"{a} {v:.2f}" for a, v in ends.sort_values(ascending=False).items())
    gap = f"; the best architecture: {optimum:.2f}" if optimum is not None else ""
    what = "simulated time" if x == "time" else "queries made"
    return (
        f"Mean {metric} accuracy of the current answer over {what}; at the end of the budget: {order}{gap}."
    )


def search_regret(curves: pd.DataFrame, optimum: float, metric: str, x: str = "time") -> Plot:
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
    ax.legend(title="algorithm", fontsize=10)
    fig.tight_layout()
    ends = (optimum - curves.sort_values(x).groupby("algorithm", sort=False)["mean"].last()).sort_values()
    caption = (
        "Regret of the current answer at the end of the budget: "
        + ", ".join(f"{a} {v:.2f} points" for a, v in ends.items())
        + "."
    )
    return Plot(fig, caption, _algorithm_colors(curves))


def search_ecdf(runs: pd.DataFrame, column: str) -> Plot:
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
    ax.legend(title="algorithm", fontsize=10, loc="upper left")
    fig.tight_layout()
    medians = runs.groupby("algorithm", sort=False)[column].median().sort_values(ascending=False)
    caption = (
        f"Share of runs whose final {column} accuracy is at or below x; medians: "
        + ", ".join(f"{a} {v:.2f}" for a, v in medians.items())
        + "."
    )
    return Plot(fig, caption, _algorithm_colors(runs))
