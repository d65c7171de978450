"""Report prose is generated from the statistic beside it: a sentence states a direction or
a strength only when the interval supports it, and the fidelity study's choice and its
paired comparison are computed in `src`, not written by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nb201.benchmark import analysis
from nb201.fidelity import study as fid


def no_signal_table(n: int = 24, seed: int = 3) -> pd.DataFrame:
    """Cost and accuracy drawn independently: any relation in the sample is chance."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"params": rng.uniform(0.1, 1.5, n), "accuracy": rng.normal(80, 3, n)})


def test_no_signal_table_says_no_clear_relation():
    t = no_signal_table()
    agree = analysis.rank_agreement(t["params"], t["accuracy"], n_boot=500)
    assert agree["kendall_lo"] < 0 < agree["kendall_hi"]
    text = analysis.describe_correlation(agree, "parameter count", "accuracy")
    assert text.startswith("No clear relation between parameter count and accuracy")
    assert "covers zero" in text and "24 architectures" in text
    for word in ("Higher", "strong", "moderate", "weak", "tend"):
        assert word not in text


def test_a_clear_relation_gets_its_direction_and_a_supported_strength():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 200)
    up = analysis.rank_agreement(x, x + 0.05 * rng.normal(size=200), n_boot=300)
    text = analysis.describe_correlation(up, "FLOPs", "accuracy")
    assert text.startswith("Higher FLOPs goes with higher accuracy, a strong relation")
    down = analysis.rank_agreement(x, -x + 0.8 * rng.normal(size=200), n_boot=300)
    text = analysis.describe_correlation(down, "latency", "accuracy", method="spearman")
    assert text.startswith("Higher latency goes with lower accuracy")
    # graded by the interval's bound nearest zero, not by the point estimate
    graded = {"kendall": 0.5, "kendall_lo": 0.05, "kendall_hi": 0.8, "n": 30}
    assert ", a weak relation" in analysis.describe_correlation(graded, "a", "b")


def test_too_few_architectures_state_no_direction():
    agree = analysis.rank_agreement([1, 2], [2, 1], n_boot=100)
    assert analysis.describe_correlation(agree, "a", "b").startswith("Too few architectures (2)")


def test_noise_sentence_follows_the_ratio():
    assert analysis.describe_noise(1.0, 0.9).startswith("Mostly noise")
    assert analysis.describe_noise(3.0, 1.0).startswith("Some signal")
    assert analysis.describe_noise(9.0, 1.0).startswith("Clear signal")
    assert "cannot be measured" in analysis.describe_noise(2.0, float("nan"))


def test_single_axis_note_replaces_a_degenerate_figure():
    note = analysis.single_axis_note("datasets", ["digits"])
    assert note == "This benchmark holds 1 datasets (digits); this section needs at least 2."
    assert analysis.single_axis_note("seeds", [777, 888]) is None


# ---- the fidelity study's rule and comparison -------------------------------------------


def _points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [60, 60, 9, 60, np.nan],
            "spearman": [0.88, 0.91, 0.95, 0.93, np.nan],
            "core_seconds_per_arch": [57.0, 59.0, 20.0, 75.0, np.nan],
        },
        index=["four", "eight", "partial", "costly", "empty"],
    )


def test_choice_skips_incomplete_and_over_budget_points():
    marked = fid.mark_complete(_points(), 60, 60.0)
    assert marked["complete"].tolist() == [True, True, False, True, False]
    assert marked["within_budget"].tolist() == [True, True, True, False, False]
    assert fid.choose_point(_points(), 60, 60.0) == "eight"  # not "partial" (n=9), not "costly"
    assert fid.choose_point(_points(), 60, 58.0) == "four"
    assert fid.choose_point(_points(), 61, 100.0) is None


def _calibration(n: int = 60, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(80, 94, n)
    return pd.DataFrame({"full": truth}, index=np.arange(n)), truth


def test_paired_difference_of_a_point_with_itself_is_zero_and_not_significant():
    cal, truth = _calibration()
    rng = np.random.default_rng(2)
    a = pd.DataFrame({"accuracy": truth + rng.normal(0, 3, len(truth))}, index=cal.index)
    d = fid.paired_difference(a, a, cal, "full", n_boot=200)
    assert d["diff"] == 0 and d["diff_lo"] == 0 and d["diff_hi"] == 0
    assert fid.describe_difference(d, "x", "y").startswith(
        "x and y are indistinguishable in Spearman agreement with the full protocol"
    )


def test_paired_difference_detects_a_clearly_better_point():
    cal, truth = _calibration()
    rng = np.random.default_rng(3)
    good = pd.DataFrame({"accuracy": truth + rng.normal(0, 0.5, len(truth))}, index=cal.index)
    bad = pd.DataFrame({"accuracy": truth + rng.normal(0, 6, len(truth))}, index=cal.index).iloc[:50]
    d = fid.paired_difference(good, bad, cal, "full", n_boot=300)
    assert d["n"] == 50  # scored on the architectures both hold
    assert d["diff"] > 0 and d["diff_lo"] > 0
    text = fid.describe_difference(d, "good", "bad")
    assert text.startswith("good has higher Spearman agreement with the full protocol than bad")
    swapped = fid.paired_difference(bad, good, cal, "full", n_boot=300)
    assert fid.describe_difference(swapped, "bad", "good").startswith("good has higher")


def test_each_shipped_cifar_preset_is_a_point_of_the_grid():
    grid = fid.load_grid()
    assert fid.preset_point(grid, "cpu-cifar") == "c8n1-16px-4ep-full"
    assert fid.preset_point(grid, "cpu-cifar-8ep") == "c8n1-16px-8ep-50pct"
    assert fid.preset_point(grid, "digits-cheap") is None


@pytest.mark.parametrize("method", ["pearson", "tau"])
def test_unknown_methods_are_refused(method):
    with pytest.raises(ValueError, match="unknown method"):
        analysis.describe_correlation({"n": 3}, "a", "b", method=method)


# ---- report headers ------------------------------------------------------------------------


def test_parameter_table_lists_every_parameter_the_executed_notebook_used():
    import nbformat

    from nb201.pipeline import reports

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'runs = 50  # runs\nbudget = None  # s\nworkers = 1\nname = "x" + "y"\n'
    )
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('runs = 500\nsidecar = "out/04.json"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [params, injected]
    nb.metadata["papermill"] = {"parameters": {"runs": 500, "sidecar": "out/04.json"}}
    rows = reports.notebook_parameters(nb)
    assert rows == [
        ("runs", 500, "run"),
        ("budget", None, "default"),
        ("workers", 1, "default"),
        ("name", '"x" + "y"', "default"),
        ("sidecar", "out/04.json", "run"),
    ]
    table = reports.parameter_table(rows)
    for name in ("runs", "budget", "workers", "name", "sidecar"):
        assert f'<td class="txt">{name}</td>' in table
    assert '<td class="txt">500</td><td class="txt">run</td>' in table


def test_dirty_means_code_or_notebooks_differ_not_the_pipelines_outputs(tmp_path):
    import subprocess

    from nb201.envinfo import read_git_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    for rel in ("src/m.py", "notebooks/n.ipynb", "reports/r.html", "data/benchmarks/b/meta.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("0")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    commit, dirty = read_git_state(tmp_path)
    assert len(commit) == 40 and dirty is False
    (tmp_path / "reports/r.html").write_text("1")  # what the pipeline itself writes
    (tmp_path / "data/benchmarks/b/meta.json").write_text("1")
    assert read_git_state(tmp_path) == (commit, False)
    (tmp_path / "notebooks/n.ipynb").write_text("1")
    assert read_git_state(tmp_path) == (commit, True)
    assert read_git_state(tmp_path / "nowhere") == (None, None)


def test_progress_outside_a_terminal_updates_every_few_seconds_at_most(tmp_path):
    import io

    from tqdm import tqdm

    from nb201.util import PROGRESS_INTERVAL_S, progress_options

    log = io.StringIO()  # a redirected log: not a tty
    opts = progress_options(log)
    assert opts["mininterval"] == PROGRESS_INTERVAL_S >= 2
    for _ in tqdm(range(20_000), file=log, **opts):
        pass
    assert log.getvalue().count("\r") <= 3  # start, end; not one per item

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_options(Tty()) == {}
