"""The one-shot report's findings, worded from synthetic search records."""

from __future__ import annotations

import numpy as np
import pytest

from nb201.space import OPS, Arch
from nb201.wsnas import findings as F

NORMAL = ("nor_conv_3x3", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1")


def _cell(skips: int) -> str:
    return str(Arch(tuple(["skip_connect"] * skips + list(NORMAL[skips:]))))


def _record(method: str, seed: int, skips_per_epoch: list[int], cpu: float = 360.0) -> dict:
    epochs = [
        {"epoch": e, "arch": _cell(k), "arch_index": Arch.from_string(_cell(k)).index}
        for e, k in enumerate(skips_per_epoch)
    ]
    return {
        "spec": {"method": method, "seed": seed},
        "epochs": epochs,
        "final": {"arch": epochs[-1]["arch"], "arch_index": epochs[-1]["arch_index"]},
        "cpu_time": cpu,
    }


def test_a_collapse_is_found_with_its_epoch():
    ramps = {777: [0, 1, 2, 3, 4, 5, 6, 6], 888: [0, 1, 2, 4, 5, 6, 6, 6], 999: [1, 2, 3, 3, 4, 6, 6, 6]}
    records = [_record("darts-v1", s, k) for s, k in ramps.items()]
    c = F.collapse(records, "darts-v1")
    assert c.collapsed and c.final_share == 1.0
    # mean share per epoch (1-based): 1/18, 4/18, 7/18, 10/18 > 0.5 at epoch 4
    assert c.epoch == 4
    assert c.seed_epochs == {777: 5, 888: 4, 999: 5}
    text = F.describe_collapse(c)
    assert text.startswith("DARTS-V1 collapses to skip_connect")
    assert "passes one half at epoch 4 of 8 (per seed: 5, 4, 5)" in text and "all-skip" in text


def test_no_collapse_is_worded_as_such():
    records = [_record("darts-v2", s, [0, 1, 2, 1, 1]) for s in (777, 888, 999)]
    c = F.collapse(records, "darts-v2")
    assert not c.collapsed and c.epoch is None
    text = F.describe_collapse(c)
    assert text.startswith("DARTS-V2 does not collapse at this scale")
    assert "peak 0.33 at epoch 3, final 0.17" in text


def test_a_passing_but_recovering_share_is_not_a_collapse():
    c = F.collapse([_record("darts-v1", 777, [0, 4, 4, 1])], "darts-v1")
    assert not c.collapsed and c.epoch == 2
    assert "does not stay collapsed" in F.describe_collapse(c)


def test_method_table_keeps_fidelities_apart_and_ranks_the_quoted_numbers():
    records = [_record(m, s, [0, 0]) for m in ("gdas", "darts-v1") for s in (777, 888, 999)]
    est = {"gdas": 93.0, "darts-v1": 60.0}
    lookup = {r["final"]["arch_index"]: r["spec"]["method"] for r in records}
    # each method's final cell: a distinct arch per method is not needed; accuracy by method
    final = F.final_table(records, {"cifar10 test": lambda i: 0.0})
    final["cifar10 test"] = final["method"].map(est) + final["seed"].map({777: 0.1, 888: -0.1, 999: 0.0})
    population = np.linspace(50, 95, 1001)
    table = F.method_table(final, "cifar10 test", population=population)
    assert list(table.index) == ["gdas", "darts-v1"]
    assert table.loc["gdas", "cifar10 test"] == "93.00 ± 0.10 (3 seeds)"
    assert table.loc["gdas", "paper, quoted (%)"] == 93.61
    assert table.loc["gdas", F.PAPER_PERCENTILE] == pytest.approx(100 * np.mean(population < 93.61))
    assert table.loc["gdas", F.PERCENTILE] == pytest.approx(100 * np.mean(population < 93.0))
    cheap = F.method_table(final, "cifar10 test", population=population, quoted=None)
    assert "paper, quoted (%)" not in cheap.columns
    assert lookup  # the records carry their final archs


def test_best_method_and_seed_differences_choose_their_wording():
    rows = []
    for s, noise in zip((777, 888, 999), (0.3, -0.2, 0.1)):
        rows += [
            {"method": "gdas", "seed": s, "acc": 93.0 + noise},
            {"method": "setn", "seed": s, "acc": 87.0 + noise},
            {"method": "rsps", "seed": s, "acc": 93.0 - noise * 3},
        ]
    import pandas as pd

    final = pd.DataFrame(rows)
    best, lines, diffs = F.describe_best(final, "acc", "CIFAR-10 test accuracy (estimated)")
    assert best == "gdas"
    by = {d.b_name: d for d in diffs}
    assert not by["SETN"].covers_zero and by["RSPS"].covers_zero
    assert "clearly ahead of SETN and indistinguishable from RSPS" in lines[1]
    assert any("GDAS and RSPS are indistinguishable" in line for line in lines)
    assert OPS  # the space's ops are what the cells above are built from


def test_archs_to_measure_puts_finals_first_and_skips_unreached_epochs():
    records = [_record("gdas", 777, [0, 1, 2, 3]), _record("enas", 777, [5, 5, 5, 6])]
    archs = F.archs_to_measure(records, epochs=(2, 4, 10))
    finals = [Arch.from_string(_cell(3)), Arch.from_string(_cell(6))]
    assert archs[:2] == finals
    assert set(archs) == {Arch.from_string(_cell(k)) for k in (3, 6, 1, 5)}


def test_equal_cost_buys_as_many_queries_as_the_one_shot_core_hours():
    import pandas as pd

    from nb201.benchmark import Benchmark

    ws = Benchmark.open("data/benchmarks/whole-space")
    final = pd.DataFrame(
        {
            "method": ["gdas"] * 3 + ["darts-v1"] * 3,
            "seed": [777, 888, 999] * 2,
            "core_hours": [0.3] * 3 + [0.05] * 3,
            "est": [99.0, 99.1, 98.9, 10.0, 11.0, 10.5],
        }
    )
    table = F.equal_cost(final, ws, "est", algorithms=("RS",), runs=10)
    by = table.set_index("method")
    assert by.loc["gdas", "budget core-s"] == pytest.approx(1080.0)
    # a query costs one modelled cheap training (tens of core-seconds): ~6x the budget, ~6x the queries
    assert by.loc["gdas", "queries per run"] > 3 * by.loc["darts-v1", "queries per run"] > 0
    text = F.describe_equal_cost(table, "the whole space")
    assert "RS (" in text and "ahead of DARTS-V1" in text and "behind GDAS" in text


def test_equal_cost_says_when_not_one_query_fits():
    import pandas as pd

    from nb201.benchmark import Benchmark

    final = pd.DataFrame(
        {"method": ["gdas"] * 2, "seed": [777, 888], "core_hours": [1e-4] * 2, "est": [90.0, 91.0]}
    )
    table = F.equal_cost(
        final, Benchmark.open("data/benchmarks/whole-space"), "est", algorithms=("RS",), runs=3
    )
    assert table["queries per run"].tolist() == [0.0]
    assert "no multi-trial search is possible" in F.describe_equal_cost(table, "the whole space")
    assert F.equal_cost_table(table)["verdict"].tolist() == ["no query affordable"]


def test_a_report_of_unfinished_searches_says_what_it_covers():
    from nb201.wsnas import SearchSpec

    records = [_record("darts-v1", s, [0, 6]) for s in (777, 888, 999)] + [_record("rsps", 777, [0, 0])]
    pending = (("rsps", 888), ("enas", 777))
    missing = [SearchSpec(m, "digits", "digits-valid", "digits", s) for m, s in pending]
    line = F.describe_coverage(records, missing)
    assert line.startswith("4 of 6 searches have finished and this report covers only them")
    assert "DARTS-V1 with seeds 777, 888, 999; RSPS with seed 777; ENAS not at all" in line
    assert F.describe_coverage(records, []) is None
    c = F.collapse(records, "darts-v1")
    final = F.final_table(records, {"acc": lambda i: 90.0})
    table = F.method_table(final, "acc", quoted=None)
    assert F.summary([c], ["a.", "b."], None, table, "darts-v1", line)[0] == line
    assert F.summary([c], ["a.", "b."], None, table, "darts-v1")[0].startswith("DARTS-V1 collapses")


def test_with_one_seed_per_method_the_lead_is_not_called_a_tie():
    records = [_record(m, 777, [0, 0]) for m in ("gdas", "darts-v1")]
    final = F.final_table(records, {"acc": lambda i: 0.0})
    final["acc"] = final["method"].map({"gdas": 86.0, "darts-v1": 85.0})
    best, lines, diffs = F.describe_best(final, "acc", "acc")
    assert best == "gdas" and lines[0].endswith("mean 86.00% over 1 seed.")
    assert lines[1].startswith("Whether GDAS's lead exceeds the spread between seeds cannot be told yet")
    assert "indistinguishable from" not in lines[1] and "too few to give an interval" in lines[2]


def test_equal_cost_wording_gives_no_verdict_without_an_interval():
    import pandas as pd

    from nb201.stats import Difference

    one = Difference("DARTS-V1", "RS", 85.7, 92.3, -6.6, np.nan, np.nan, 1)
    many = Difference("GDAS", "RS", 86.0, 92.3, -6.3, -7.0, -5.6, 3, paired=False, method="t")
    table = pd.DataFrame(
        {"algorithm": ["RS", "RS"], "queries per run": [6.0, 12.0], "difference": [one, many]}
    )
    text = F.describe_equal_cost(table, "the whole-space benchmark")
    assert "RS (6-12 queries per run) is ahead of GDAS, level with none and behind none" in text
    assert "scores 92.3% vs DARTS-V1 85.7%, with too few one-shot seeds for an interval" in text
    only = F.describe_equal_cost(table.iloc[:1], "the whole-space benchmark")
    assert "level with" not in only and "RS (6-6 queries per run) scores 92.3% vs DARTS-V1 85.7%" in only
