"""The whole-space proxy tables through `nb201.fidelity.tables.lookup` and `Benchmark.proxies`:
a held arch reads its own Parquet row, any other arch its functional class's representative
(costs exact), degenerate cells NaN, and unknown sizes fail naming what exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nb201.benchmark import Benchmark
from nb201.fidelity import tables as T
from nb201.space import Arch, all_archs

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "data" / "proxies" / "cifar10-C8-N1-16px-b64-s0.parquet"
NETWORK = ["synflow", "snip", "grasp", "fisher", "jacob_cov", "grad_norm", "nwot"]


@pytest.fixture(scope="module")
def parquet() -> pd.DataFrame:
    return pq.read_table(TABLE).to_pandas().set_index("index")


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return Benchmark.open(REPO / "data" / "benchmarks" / "cifar10-cpu")


def _member_outside(parquet: pd.DataFrame, differing_cost: bool) -> tuple[int, int]:
    """(arch not in the table, the table's representative of its class), optionally one whose
    parameter count differs from the representative's (dead edges)."""
    from nb201.space.cost import count_params

    reps = parquet.reset_index().sort_values("index").drop_duplicates("functional_key")
    rep_of = dict(zip(reps["functional_key"], reps["index"]))
    for a in all_archs():
        key = a.functional_key()
        if a.index in parquet.index or key not in rep_of:
            continue
        rep = int(rep_of[key])
        if not differing_cost or count_params(a, 10, C=8, N=1) != count_params(rep, 10, C=8, N=1):
            return a.index, rep
    raise AssertionError("no such architecture")


def test_an_arch_in_the_table_reads_its_parquet_row(parquet, bench):
    held = [int(i) for i in parquet.index[[0, 17, 2500, -1]]]
    frame = T.lookup(held, dirs=[TABLE.parent])
    columns = NETWORK + ["params", "flops"]
    np.testing.assert_array_equal(frame[columns].to_numpy(), parquet.loc[held, columns].to_numpy())
    assert list(frame["table_index"]) == held
    one = bench.proxies(held[1])
    assert one == {**parquet.loc[held[1], columns].to_dict(), "table_index": held[1]}


def test_a_class_member_gets_its_representatives_proxies_and_its_own_costs(parquet, bench):
    from nb201.space.cost import count_flops, count_params

    index, rep = _member_outside(parquet, differing_cost=True)
    assert Arch.from_index(index).functional_key() == parquet.loc[rep, "functional_key"]
    row = bench.proxies([index]).iloc[0]
    assert row["table_index"] == rep
    for name in NETWORK:
        assert row[name] == parquet.loc[rep, name]
    assert row["params"] == pytest.approx(count_params(index, 10, C=8, N=1), abs=1e-12)
    assert row["flops"] == pytest.approx(count_flops(index, (3, 16, 16), 10, C=8, N=1), abs=1e-12)
    assert row["params"] != pytest.approx(parquet.loc[rep, "params"], abs=1e-9)


def test_every_arch_of_the_space_has_values_and_degenerate_cells_are_nan(bench):
    frame = bench.proxies(np.arange(15625), names=["snip", "params"])
    degenerate = np.array([a.is_degenerate() for a in all_archs()])
    assert frame["snip"].isna().to_numpy().tolist() == degenerate.tolist()  # 341 cells, no table row
    assert (frame["table_index"].to_numpy() < 0).tolist() == degenerate.tolist()
    assert frame["params"].notna().all()  # costs exist for every cell, degenerate ones too


def test_unknown_size_or_proxy_fails_naming_what_exists(bench):
    with pytest.raises(ValueError, match=r"cifar10-C8-N1-16px-b64-s0.*C8-N1-16px"):
        bench.proxies(1, size="C4-N1-8px")
    with pytest.raises(ValueError, match="cifar10-C16-N5-32px-b64-s0"):
        T.lookup([1], size="C4-N1-8px", dirs=[TABLE.parent])
    with pytest.raises(ValueError, match="has no proxies"):
        bench.proxies(1, names=["grasp"], size="C16-N5-32px")  # the full-size table skipped grasp
    with pytest.raises(ValueError, match="integer arch indices"):
        bench.proxies(15625)


def test_tables_are_found_in_nb201_data_dir_first(tmp_path, monkeypatch, parquet):
    """A table under $NB201_DATA_DIR/proxies shadows the shipped one of the same name."""
    import pyarrow as pa

    table = pq.read_table(TABLE)
    meta = json.loads(table.schema.metadata[b"nb201"])
    small = table.to_pandas().iloc[:50].assign(snip=-1.0)
    out = pa.Table.from_pandas(small, preserve_index=False)
    out = out.replace_schema_metadata({b"nb201": json.dumps(meta).encode()})
    (tmp_path / "proxies").mkdir()
    pq.write_table(out, tmp_path / "proxies" / TABLE.name)
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path))
    assert T.table_dirs()[0] == tmp_path / "proxies"
    frame = T.lookup([int(small["index"].iloc[3])])
    assert frame["snip"].iloc[0] == -1.0


def test_reading_tables_does_not_import_torch():
    code = (
        "import sys; from nb201.benchmark import Benchmark; "
        "b = Benchmark.open('data/benchmarks/cifar10-cpu'); v = b.proxies([0, 7209]); "
        "assert len(v) == 2; print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
