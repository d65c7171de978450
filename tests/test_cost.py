"""Costs: the additive count equals PyTorch's counter on whole networks, ours and the original."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from nb201.space import NUM_ARCHS, OPS, Arch, cost
from nb201.space.model import build_network

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"

archs = st.lists(st.sampled_from(OPS), min_size=6, max_size=6).map(lambda ops: Arch(tuple(ops)))
configs = st.sampled_from(
    [
        # (input_shape, num_classes, C, N)
        ((3, 32, 32), 10, 8, 2),
        ((3, 16, 16), 120, 8, 1),
        ((3, 8, 12), 100, 4, 3),
        ((3, 32, 32), 10, 16, 1),
    ]
)


pytestmark = pytest.mark.usefixtures("one_thread")


def counter_macs(net: torch.nn.Module, shape, num_classes: int) -> int:
    """The paper's count from PyTorch's counter: 2 FLOPs per MAC, plus the classifier bias."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(torch.zeros(1, *shape))
    return counter.get_total_flops() // 2 + num_classes


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_paper_numbers():
    assert cost.count_params(ALL_CONV3, 10) == pytest.approx(1.531546, abs=1e-12)
    assert cost.count_params(ALL_NONE, 10) == pytest.approx(0.073306, abs=1e-12)
    assert round(cost.count_flops(ALL_NONE), 3) == 7.783
    assert round(cost.count_flops(ALL_CONV3), 3) == 220.120
    # CIFAR-100 and ImageNet16-120 as published by the original benchmark
    assert round(cost.count_flops(ALL_CONV3, (3, 32, 32), 100), 3) == 220.126
    assert round(cost.count_flops(ALL_CONV3, (3, 16, 16), 120), 3) == 55.038


@pytest.mark.parametrize(
    "arch",
    [
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
        # nodes 1 and 2 are dead: the original still runs (and the paper counts) their convs
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
    ],
)
def test_full_size_count_equals_original(arch):
    pytest.importorskip("xautodl")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    orig = TinyNetwork(16, 5, Structure.str2structure(arch), 10)
    orig_forward = orig.forward
    orig.forward = lambda x: orig_forward(x)[1]
    assert round(cost.count_flops(arch) * 1e6) == counter_macs(orig, (3, 32, 32), 10)
    assert round(cost.count_params(arch, 10) * 1e6) == n_params(orig)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=archs, config=configs)
def test_additive_count_equals_counter_on_original_network(arch, config):
    """The original runs every edge (dead ones too): the paper's count is its count."""
    pytest.importorskip("xautodl")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    shape, num_classes, C, N = config
    orig = TinyNetwork(C, N, Structure.str2structure(str(arch)), num_classes)
    orig_forward = orig.forward
    orig.forward = lambda x: orig_forward(x)[1]
    assert cost.count_flops(arch, shape, num_classes, C, N) * 1e6 == pytest.approx(
        counter_macs(orig, shape, num_classes), abs=1e-6
    )
    assert cost.count_params(arch, num_classes, C, N) * 1e6 == pytest.approx(n_params(orig), abs=1e-6)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=archs, config=configs, in_channels=st.sampled_from([1, 3]))
def test_additive_count_equals_counter_on_our_network(arch, config, in_channels):
    shape, num_classes, C, N = config
    shape = (in_channels, *shape[1:])
    net = build_network(arch, num_classes, C=C, N=N, in_channels=in_channels)
    assert cost.count_params(arch, num_classes, C, N, in_channels) * 1e6 == pytest.approx(
        n_params(net), abs=1e-6
    )
    ours = counter_macs(net, shape, num_classes)
    want = round(cost.count_flops(arch, shape, num_classes, C, N) * 1e6)
    if N == 0 or len(net.cells[0].unused) == 0:
        assert ours == want
    else:  # our network skips dead edges; the paper counts them
        assert ours < want


def test_count_accepts_index_and_string():
    a = Arch.from_index(11472)
    assert cost.count_flops(11472) == cost.count_flops(str(a)) == cost.count_flops(a)


@pytest.mark.parametrize(
    ("shape", "match"),
    [((3, 30, 30), "divisible by 4"), ((32, 32), "channels, height, width"), ((3, 0, 32), "positive")],
)
def test_bad_shapes(shape, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        cost.count_flops(ALL_CONV3, shape)
    with pytest.raises(ValueError, match=match):
        cost.table(shape, 10, cache_dir=tmp_path)


def test_bad_config(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        cost.table((3, 32, 32), 0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="C must be"):
        cost.count_flops(ALL_CONV3, C=0)
    with pytest.raises(ValueError, match="out of range"):
        cost.count_params(NUM_ARCHS, 10)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def cifar10_table(tmp_path_factory):
    cache = tmp_path_factory.mktemp("costs")
    return cost.table((3, 32, 32), 10, cache_dir=cache), cache


def test_table_shape_and_ranges(cifar10_table):
    df, _ = cifar10_table
    assert list(df.columns) == list(cost.COLUMNS)
    assert len(df) == NUM_ARCHS == 15_625
    assert (df["index"].to_numpy() == np.arange(NUM_ARCHS)).all()
    assert round(df.flops.min(), 3) == 7.783 and round(df.flops.max(), 3) == 220.120
    assert df.params.min() == pytest.approx(0.073306) and df.params.max() == pytest.approx(1.531546)
    assert df.degenerate.sum() == 341
    assert df.unique_key.nunique() == 6466
    assert df.functional_key.nunique() == 5390
    assert (df.functional_key[df.degenerate] == "zero").all()


def test_table_rows_match_single_counts(cifar10_table):
    df, _ = cifar10_table
    rng = np.random.default_rng(0)
    for i in rng.choice(NUM_ARCHS, size=20, replace=False):
        row = df.iloc[i]
        a = Arch.from_index(int(i))
        assert row["arch"] == str(a)
        assert row["unique_key"] == a.unique_key()
        assert bool(row["degenerate"]) == a.is_degenerate()
        assert row["flops"] == cost.count_flops(a)
        assert row["params"] == cost.count_params(a, 10)


def test_table_cache_hit_is_identical_and_not_rebuilt(cifar10_table, monkeypatch):
    df, cache = cifar10_table
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".parquet"  # no temporary file left behind

    def no_rebuild(*args, **kwargs):
        raise AssertionError("cache miss: the table was rebuilt")

    monkeypatch.setattr(cost, "_build_table", no_rebuild)
    again = cost.table([3, 32, 32], 10, cache_dir=cache)
    pd.testing.assert_frame_equal(again, df)
    # a different configuration is a different cache entry, never the cached one
    with pytest.raises(AssertionError, match="cache miss"):
        cost.table((3, 32, 32), 100, cache_dir=cache)
    with pytest.raises(AssertionError, match="cache miss"):
        cost.table((3, 32, 32), 10, N=3, cache_dir=cache)


def test_default_cache_follows_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "d"))
    cost.table((1, 8, 8), 10, C=4, N=1)
    assert [p.suffix for p in (tmp_path / "d" / "cache" / "costs").iterdir()] == [".parquet"]


def test_small_table_for_digits(tmp_path):
    df = cost.table((1, 8, 8), 10, C=4, N=1, cache_dir=tmp_path)
    a = Arch.from_string(ALL_CONV3)
    net = build_network(a, 10, C=4, N=1, in_channels=1)
    assert df.params.iloc[a.index] * 1e6 == pytest.approx(n_params(net))
    assert df.flops.iloc[a.index] * 1e6 == pytest.approx(counter_macs(net, (1, 8, 8), 10))


def test_measure_latency_records_setup():
    before = torch.get_num_threads()
    net = build_network(ALL_CONV3, 10, C=4, N=1)
    result = cost.measure_latency(net, (3, 16, 16), batch_size=2, repeats=3, warmup=1, threads=before + 1)
    assert result["latency"] > 0
    assert result["batch_size"] == 2 and result["threads"] == before + 1 and result["device"] == "cpu"
    assert torch.get_num_threads() == before
    # an arch (index) is built with the input's channel count and the class count given
    result = cost.measure_latency(1651, (1, 8, 8), repeats=2, warmup=0, num_classes=5)
    assert result["latency"] > 0 and result["repeats"] == 2 and result["warmup"] == 0
    with pytest.raises(ValueError, match="repeats"):
        cost.measure_latency(net, (3, 8, 8), repeats=0)


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    """A failed write leaves neither a cache file nor a temporary file."""

    def broken(self, target, **kwargs):  # target: the temporary file being written
        target.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        cost.table((1, 8, 8), 3, C=2, N=0, cache_dir=tmp_path)
    assert os.listdir(tmp_path) == []


def test_damaged_cache_is_rebuilt(tmp_path):
    df = cost.table((1, 8, 8), 3, C=2, N=0, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not parquet")
    with pytest.warns(UserWarning, match="unreadable"):
        again = cost.table((1, 8, 8), 3, C=2, N=0, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again, df)
    df.head(10).to_parquet(path)
    with pytest.warns(UserWarning, match="row count"):
        again = cost.table((1, 8, 8), 3, C=2, N=0, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again, df)
