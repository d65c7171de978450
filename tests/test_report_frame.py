"""The report frame: findings under the title however late they are computed, parameters
and provenance last, no bare repr, no network resource; one table formatter; findings
generated from numbers (a no-signal input is worded "indistinguishable" / "no clear
relation", a clear signal gets its direction)."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest

from nb201.benchmark import analysis
from nb201.pipeline import findings, render, reports, tables
from nb201.pipeline.reports import FINDINGS, ROLE_KEY, TITLE


def _display(md: str, role: str | None = None, **meta) -> dict:
    out = nbformat.v4.new_output("display_data", data={"text/markdown": md})
    if role:
        out["metadata"] = {ROLE_KEY: {"role": role, **meta}}
    return out


def _executed() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    intro = nbformat.v4.new_markdown_cell("*how to run me*")
    intro.metadata["tags"] = ["notebook-only"]
    params = nbformat.v4.new_code_cell("runs = 5  # runs")
    params.metadata["tags"] = ["parameters"]
    setup = nbformat.v4.new_code_cell("reports.notebook_setup()")
    setup.outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "PosixPath('/somewhere/checkout')"})
    ]
    head = nbformat.v4.new_code_cell("reports.header('T')")
    head.outputs = [_display("# T\n", TITLE, title="T", rendered="2026-01-01 00:00 UTC", git_commit="abc")]
    body = nbformat.v4.new_code_cell("...")
    body.outputs = [
        _display("## Section"),
        nbformat.v4.new_output("stream", name="stderr", text="progress 10%\n"),
        nbformat.v4.new_output("stream", name="stdout", text="<Figure size 700x360 with 1 Axes>\n"),
    ]
    late = nbformat.v4.new_code_cell("reports.findings(...)")
    late.outputs = [_display("## Findings\n\n- one\n- two\n", FINDINGS)]
    nb.cells = [intro, params, setup, head, body, late]
    return nb


def test_frame_puts_title_then_findings_first_and_parameters_last():
    nb = render.frame_notebook(_executed())
    first = nb.cells[0].outputs
    assert first[0]["metadata"][ROLE_KEY]["role"] == TITLE
    assert first[1]["data"]["text/markdown"].startswith("## Findings")
    texts = [
        o.get("text", "") + "".join(str(v) for v in o.get("data", {}).values())
        for c in nb.cells
        for o in c.get("outputs", [])
    ]
    joined = "\n".join(texts)
    assert "how to run me" not in str([c.source for c in nb.cells])  # notebook-only cell left out
    assert "PosixPath" not in joined and "progress 10%" not in joined and "<Figure size" not in joined
    assert joined.count("## Findings") == 1
    last = "".join(str(v) for o in nb.cells[-1].outputs for v in o["data"].values())
    assert "Parameters and provenance" in last and "abc" in last and "2026-01-01" in last
    assert ">runs<" in last and "+dirty" not in last


def test_renderer_refuses_a_repr_it_cannot_strip():
    nb = _executed()
    nb.cells[4].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="saved PosixPath('x')\n"))
    with pytest.raises(render.ReportError, match="bare repr"):
        render.frame_notebook(nb)


def test_html_loads_nothing_from_the_network():
    html = render.html_of(render.frame_notebook(_executed()), "T")
    assert "<script src" not in html and "cdnjs" not in html and "mathjax" not in html.lower()
    assert html.index("Findings") < html.index("Section") < html.index("Parameters and provenance")


def test_the_renderer_refuses_a_remote_resource():
    nb = _executed()
    nb.cells[4].outputs.append(
        nbformat.v4.new_output("display_data", data={"text/html": '<img src="https://x.org/a.png">'})
    )
    with pytest.raises(render.ReportError, match="network resource"):
        render.html_of(render.frame_notebook(nb), "T")


def test_findings_block_holds_one_to_six_sentences():
    with pytest.raises(ValueError, match="1 to 6 sentences"):
        reports.findings([f"s{i}." for i in range(7)])
    with pytest.raises(ValueError, match="1 to 6 sentences"):
        reports.findings([None, " "])


# ---- the one table formatter ----------------------------------------------------------------
def test_counts_are_integers_and_decimals_follow_the_column_kind():
    frame = pd.DataFrame(
        {
            "count": [200.0, 60.0],
            "x/x-test": [58.931818, 64.0],
            "kendall": [0.541234, 0.1],
            "latency": [0.000808, 0.0012],
            "core-s per arch": [57.1234, 1234.5],
            "within budget": [True, False],
        },
        index=pd.Index([7209, 11472], name="index"),
    )
    text = tables.format_frame(frame)
    assert text["count"].tolist() == ["200", "60"]
    assert text["x/x-test (%)"].tolist() == ["58.93", "64.00"]  # accuracy: 2 decimals, unit in the header
    assert text["kendall"].tolist() == ["0.541", "0.100"]
    assert text["latency (ms)"].tolist() == ["0.808", "1.20"]  # stored in s, shown in ms
    assert text["core-s per arch"].tolist() == ["57.1", "1,234"]
    assert text["within budget"].tolist() == ["yes", "no"]
    assert text.index.tolist() == ["7209", "11472"]  # an index is an id: no thousands separator
    html = tables.table_html(frame)
    assert 'style="overflow-x:auto' in html and '<td class="num">58.93</td>' in html


def test_a_kind_for_a_missing_column_is_an_error():
    with pytest.raises(ValueError, match="does not have"):
        tables.format_frame(pd.DataFrame({"a": [1]}), kinds={"b": "count"})
    with pytest.raises(ValueError, match="unknown column kinds"):
        tables.format_frame(pd.DataFrame({"a": [1]}), kinds={"a": "furlongs"})


# ---- findings from numbers ------------------------------------------------------------------
def test_no_signal_cost_finding_says_no_clear_relation_and_merges_identical_orders():
    rng = np.random.default_rng(3)
    params = rng.uniform(0.1, 1.5, 30)
    acc = pd.Series(rng.normal(80, 3, 30))
    joined, agree = analysis.cost_agreement(
        pd.DataFrame({"params": params, "flops": 30 * params}), acc, n_boot=300
    )
    same = analysis.same_order(joined["params"], joined["flops"])
    assert same
    (text,) = findings.cost_sentences(agree, "accuracy", same)
    assert text.startswith("No clear relation between parameter count (and FLOPs") and "covers zero" in text


def test_clear_signal_ranking_finding_states_the_direction():
    deltas = {"the cheap run": {"delta_spearman": 0.056, "lo": 0.024, "hi": 0.095, "n": 200}}
    none = {"parameter count": {"delta_spearman": 0.01, "lo": -0.03, "hi": 0.05, "n": 200}}
    row = {"spearman": 0.93, "spearman_lo": 0.9, "spearman_hi": 0.95, "kendall": 0.78, "kendall_lo": 0.74}
    row |= {
        "kendall_hi": 0.82,
        "n": 200,
        "core_seconds_per_arch": 2.9,
        "evaluation": "10-fold CV (out-of-fold)",
    }
    out = findings.ranking_findings("gbm", row, 200, 10, deltas | none, 34, None, 200)
    assert out[1].startswith("The chosen ranker has higher Spearman agreement than the cheap run")
    assert out[2].startswith("The chosen ranker and parameter count are indistinguishable")
    assert "leaks" in out[-1] and "34 candidates" in out[-1]


def test_distribution_sentence_counts_the_left_tail():
    flat = analysis.describe_distribution(np.linspace(50, 60, 40), "acc")
    assert "no long left tail" in flat and "40 architectures" in flat
    tailed = analysis.describe_distribution(np.r_[np.linspace(55, 60, 40), [20.0, 25.0]], "acc")
    assert (
        "2 (4.8%) lie more than 1.5 interquartile ranges below" in tailed and ": a long left tail" in tailed
    )
    one = analysis.describe_distribution(np.r_[np.linspace(55, 60, 199), [20.0]], "acc")
    assert "1 (0.5%) lies more than" in one and ": no long left tail" in one  # one outlier is no tail


def test_fidelity_finding_states_how_many_points_are_complete():
    results = pd.DataFrame(
        {
            "n": [60, 60, 24],
            "complete": [True, True, False],
            "spearman": [0.88, 0.91, 0.8],
            "spearman_lo": [0.8, 0.84, 0.6],
            "spearman_hi": [0.93, 0.94, 0.9],
            "core_seconds_per_arch": [57.0, 59.0, 45.9],
        },
        index=["a", "b", "c"],
    )
    base = {"n": 60, "spearman": 0.72, "spearman_lo": 0.6, "spearman_hi": 0.8}
    out = findings.fidelity_findings(
        results, 5, 60, ["d", "e"], base, ["chosen b", "used a", "cmp", "so"], "b", True
    )
    assert out[0].startswith("2 of 5 grid points are complete") and "c (n=24)" in out[0]
    assert "2 have no records yet" in out[0]
    assert out[2].startswith("The rule chooses b: Spearman 0.910 [0.840, 0.940] at 59.0 core-seconds")
    assert out[3:] == ["cmp", "so"]  # the paired comparison with the benchmark's point, and what follows


class _Bench:
    def __init__(self, meta: dict):
        self._meta = meta

    def default_hp(self, split: str, purpose: str) -> str:
        return "hp"

    def meta(self, split: str, hp: str) -> dict:
        return self._meta


def test_an_estimated_substore_is_recognised_by_its_meta():
    assert analysis.estimate_of(_Bench({"source": "nb201 run records"}), "s") is None
    assert analysis.estimate_of(_Bench({"estimate": {"model": "a surrogate"}}), "s") == {
        "model": "a surrogate"
    }
    out = findings.analysis_findings(
        distribution="d.",
        noise="n.",
        costs=["c."],
        valid_test=["v."],
        epochs=["e."],
        top_op="o.",
        best=None,
        estimate={"model": "a surrogate"},
    )
    assert out[0].startswith("This benchmark is an estimate (its numbers come from a surrogate")
    assert "v." not in out and "e." not in out and "n." not in out  # model, not data
