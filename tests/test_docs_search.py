"""Every python block of docs/search.md runs as written, in order, in one namespace, from
the repository root, against the committed CPU benchmark and notebook 06's committed
one-shot records; and each block's key claim holds on what it returns."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "search.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)


@pytest.fixture
def at_repo():
    before = Path.cwd()
    os.chdir(REPO)
    yield
    os.chdir(before)
    plt.close("all")


def test_docs_search_blocks_run_as_written(at_repo):
    from nb201.search.base import ALGORITHMS

    assert len(BLOCKS) == 4
    ns: dict = {}
    try:
        for block in BLOCKS:
            exec(compile(block, "docs/search.md", "exec"), ns)
    finally:
        ALGORITHMS.pop("local-search", None)
        out = REPO / "data" / "cache" / "search-trajectories.parquet"
        out.unlink(missing_ok=True)
    assert ns["problem"].budget_rule.startswith("100 median queries")  # 200 held: 100 queries, half of them
    assert set(ns["pairs"]["verdict"]) <= {"indistinguishable"} | {f"{a} higher" for a in ns["exp"].results}
    board = ns["board"].set_index("method")
    assert {"local-search", "RS", "GDAS", "DARTS-V1", "REA (paper)"} <= set(board.index)
    from nb201.wsnas import load_search_records

    gdas = [
        r
        for r in load_search_records(REPO / "data/cifar10-cpu/wsnas/paper-searches")
        if r["spec"]["method"] == "gdas"
    ]
    assert (
        board.loc["GDAS", "n"] == len(gdas) >= 1 and board.loc["GDAS", "kind"] == "one-shot"
    )  # one row per seed
    assert len(ns["traj"]) == int(ns["exp"].runs["queries"].sum())
