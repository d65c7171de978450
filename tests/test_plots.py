"""The reports' figures (`nb201.pipeline.plots`) draw what they are given: one panel per set or
pair, one line per run or method, one point per architecture."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from nb201.pipeline import plots
from nb201.space import OPS


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _run(index: int, seed: int, n_epochs: int = 3) -> dict:
    epochs = [{"epoch": e, "train-accuracy": 10.0 * e, "x-test-accuracy": 9.0 * e} for e in range(n_epochs)]
    return {"arch_index": index, "spec": {"seed": seed}, "epochs": epochs}


def _points(ax) -> int:
    """Points drawn by scatter calls on an axes."""
    return sum(len(c.get_offsets()) for c in ax.collections)


def test_learning_curves_one_panel_per_set_one_line_per_run():
    fig = plots.learning_curves([_run(1, 777), _run(2, 777), _run(1, 888)])
    assert len(fig.axes) == 2  # train and x-test
    assert all(len(ax.lines) == 3 for ax in fig.axes)
    assert list(fig.axes[1].lines[0].get_ydata()) == [0.0, 9.0, 18.0]
    assert list(fig.axes[1].lines[0].get_xdata()) == [1, 2, 3]  # epochs counted from 1


def _final(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"d/x-valid": rng.uniform(50, 90, n), "d/x-test": rng.uniform(50, 90, n)})


def test_accuracy_histogram_and_violins_draw_one_shape_per_column():
    fig = plots.accuracy_histogram(_final())
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    fig = plots.accuracy_violins(_final())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["d/x-valid", "d/x-test"]


def test_correlation_heatmaps_and_op_frequency():
    mat = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    fig = plots.correlation_heatmaps(mat, mat)
    assert len(fig.axes) == 2 and len(fig.axes[0].texts) == 4  # every cell annotated
    freq = pd.DataFrame(np.full((6, len(OPS)), 0.2), columns=list(OPS))
    fig = plots.op_frequency_heatmap(freq, "top 5")
    assert fig.axes[0].get_title() == "top 5" and len(fig.axes[0].texts) == 6 * len(OPS)


def _agree(k: float) -> dict[str, float]:
    return {"kendall": k, "kendall_lo": k - 0.1, "kendall_hi": k + 0.1}


def test_cost_scatter_samples_at_most_the_limit():
    rng = np.random.default_rng(0)
    joined = pd.DataFrame(
        {"params": rng.uniform(size=50), "flops": rng.uniform(size=50), "accuracy": rng.uniform(size=50)}
    )
    fig = plots.cost_scatter(joined, {"params": _agree(0.3), "flops": _agree(0.4)}, "d/x-test", max_points=20)
    assert [_points(ax) for ax in fig.axes] == [20, 20]
    assert "Kendall 0.40 [0.30, 0.50]" in fig.axes[1].get_title()


def test_epoch_agreement_and_seed_density_one_line_per_set():
    agree = pd.DataFrame({"epoch": [1, 2, 3], "kendall": [0.2, 0.6, 1.0]})
    fig = plots.epoch_agreement({"d/x-valid": agree, "d/x-test": agree})
    assert len(fig.axes[0].lines) == 2 and list(fig.axes[0].lines[1].get_ydata()) == [0.2, 0.6, 1.0]
    std = pd.Series([0.5, 1.0, 1.5, 0.7])
    fig = plots.seed_std_density({"a": std, "b": std * 2})
    assert len(fig.axes[0].lines) == 2


def test_valid_test_scatter_one_panel_per_pair():
    final = _final(30)
    fig = plots.valid_test_scatter(final, [("d/x-valid", "d/x-test")], [_agree(0.5)], max_points=10)
    assert len(fig.axes) == 1 and _points(fig.axes[0]) == 10
    assert fig.axes[0].get_title().startswith("d: Kendall 0.50")


def _scored(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spearman": np.linspace(0.5, 0.9, n),
            "spearman_lo": np.linspace(0.4, 0.8, n),
            "spearman_hi": np.linspace(0.6, 0.95, n),
            "kendall": np.linspace(0.3, 0.7, n),
            "kendall_lo": np.linspace(0.2, 0.6, n),
            "kendall_hi": np.linspace(0.4, 0.8, n),
            "core_seconds_per_arch": np.linspace(1, 100, n),
            "n": [60] * n,
            "complete": [True] * (n - 1) + [False],
            "kind": ["single", "gbm", "ridge", "rankavg"][:n],
        },
        index=[f"p{i}" for i in range(n)],
    )


BASELINE = {
    "spearman": 0.7,
    "spearman_lo": 0.6,
    "spearman_hi": 0.8,
    "kendall": 0.5,
    "kendall_lo": 0.4,
    "kendall_hi": 0.6,
}


def test_points_vs_cost_one_marker_per_point_and_one_shared_legend():
    fig = plots.points_vs_cost(_scored(3), BASELINE, budget=60)
    assert len(fig.axes) == 2 and len(fig.axes[0].containers) == 3  # one errorbar per point
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "p2 (n=60, incomplete)" in labels and "budget" in labels


def test_methods_vs_cost_one_errorbar_per_kind():
    fig = plots.methods_vs_cost(_scored(4), BASELINE, budget=60, n=60)
    assert len(fig.axes[0].containers) == len(plots.METHOD_MARKERS)
    assert fig.axes[0].get_xscale() == "symlog" and fig.axes[1].get_title() == "Kendall vs cost (n = 60)"


def test_score_scatter_one_point_per_architecture():
    fig = plots.score_scatter([1, 2, 3], [3, 2, 1], "t", "x", "y")
    assert _points(fig.axes[0]) == 3 and fig.axes[0].get_xlabel() == "x"


def test_weight_sharing_figures():
    per_epoch = pd.DataFrame(
        {"method": ["a", "a", "b", "b"], "epoch": [0, 1, 0, 1], "x-valid-accuracy": [10.0, 20, 30, 40]}
        | {"supernet valid acc": [1.0, 2, 3, 4]}
    )
    fig = plots.search_epochs(per_epoch, "x-valid-accuracy")
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 2 for ax in fig.axes)
    fractions = pd.DataFrame({"method": ["a", "a"], "epoch": [0, 1]} | {op: [0.2, 0.2] for op in OPS})
    fig = plots.op_shares(fractions, ["a"], OPS)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == len(OPS)  # one band per op
    skip = pd.DataFrame({"method": ["a", "a"], "epoch": [0, 1], "p(skip_connect)": [0.2, 0.6]})
    fig = plots.skip_mass(skip)
    assert any(list(line.get_ydata()) == [0.2, 0.6] for line in fig.axes[0].lines)


def test_derived_accuracy_bands_over_seeds_and_captions_the_final_estimates():
    import numpy as np
    import pandas as pd

    rows = [
        {
            "method": m,
            "seed": s,
            "epoch": e,
            "est": 80 + e * 0.1 + (s - 888) * 0.01 + 3 * i,
            "meas": 60.0 if e % 10 == 0 else np.nan,
        }
        for i, m in enumerate(["gdas", "darts-v1"])
        for s in (777, 888, 999)
        for e in range(1, 51)
    ]
    p = plots.derived_accuracy(pd.DataFrame(rows), "est", "meas")
    assert p.caption.endswith("final estimate: gdas 85.00%, darts-v1 88.00%.")
    assert "range over seeds shaded" in p.caption and p.colors == {"gdas": "blue", "darts-v1": "orange"}
    assert len(p.axes[0].collections) == 2  # one band per method
    lines = p.axes[0].lines
    assert len({(ln.get_linestyle(), ln.get_marker()) for ln in lines}) == 2
