"""The committed CPU-built CIFAR-10 benchmark (`data/benchmarks/cifar10-cpu`) is what the
README says it is: at least 200 functionally distinct, non-degenerate architectures, none of
them equivalent to a calibration architecture, every one with a complete per-epoch record
at the `cpu-cifar` fidelity, and the provenance (fidelity, seeds, machine, CPU time) in its
metadata. The store must also be exactly what its committed run records aggregate to, so a
stale store cannot pass for the records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO

from nb201.benchmark import Benchmark
from nb201.benchmark.store import list_substores, open_substore
from nb201.benchmark.store.aggregate import aggregate
from nb201.fidelity.study import load_calibration
from nb201.presets import load_preset
from nb201.space import Arch

BENCH = REPO / "data" / "benchmarks" / "cifar10-cpu"
RUNS = REPO / "data" / "cifar10-cpu" / "runs"
NAME = "cifar10-jpeg__cpu-cifar"


@pytest.fixture(scope="module")
def sub():
    assert [p.name for p in list_substores(BENCH)] == [NAME]
    return open_substore(BENCH / NAME)


def test_opens_and_holds_200_complete_architectures(sub):
    bench = Benchmark.open(BENCH)
    assert bench.datasets == ["cifar10-jpeg"] and bench.hps("cifar10-jpeg") == ["cpu-cifar"]
    n_epochs = load_preset("cpu-cifar")["config"]["epochs"]
    assert len(sub.archs) >= 200 and sub.present.all()
    assert sub.data.shape[:3] == (len(sub.archs), 1, n_epochs)
    assert np.isfinite(sub.data).all(), "every epoch of every run has every metric"
    some = int(sub.archs[0])
    last = bench.get_more_info(some, "cifar10-jpeg", hp="cpu-cifar", iepoch=n_epochs - 1, is_random=False)
    assert 10 < last["valtest-accuracy"] < 100


def test_architectures_are_distinct_non_degenerate_and_not_calibration(sub, calibration_csv):
    archs = [Arch.from_index(int(i)) for i in sub.archs]
    keys = [a.functional_key() for a in archs]
    assert len(set(keys)) == len(keys) and not any(a.is_degenerate() for a in archs)
    calibration = {Arch.from_index(int(i)).functional_key() for i in load_calibration(calibration_csv).index}
    assert not calibration & set(keys)


def test_metadata_names_fidelity_seeds_machine_and_cpu_time(sub):
    meta = sub.meta
    config = load_preset("cpu-cifar")["config"]
    assert meta["preset"] == "cpu-cifar" and meta["fidelity_overrides"] == {}
    assert {k: config[k] for k in ("C", "N", "epochs", "image_size", "train_fraction", "batch_size")} == {
        k: meta["fidelity"][k] for k in ("C", "N", "epochs", "image_size", "train_fraction", "batch_size")
    }
    assert meta["seeds"] == [777]
    assert meta["environments"] and all(e["hostname"] and e["device"] == "cpu" for e in meta["environments"])
    spent = meta["compute"]
    assert spent["runs"] == spent["runs_timed"] == len(sub.archs)
    assert 0 < spent["cpu_seconds_per_run"] <= 60, "the fidelity's budget is 60 core-seconds per architecture"


def test_store_is_what_the_committed_records_aggregate_to(sub, tmp_path):
    report = aggregate(RUNS, tmp_path / "fresh")
    assert not report.malformed and report.substores[NAME].failed == []
    fresh = open_substore(tmp_path / "fresh" / NAME)
    assert np.array_equal(fresh.archs, sub.archs) and np.array_equal(fresh.present, sub.present)
    assert fresh.metrics == sub.metrics
    np.testing.assert_array_equal(fresh.data, sub.data)
    # nb201.fidelity.ranking's post-step (notebook 07) adds the ranking cost to the aggregated compute
    ranking_keys = ("ranking_core_seconds_per_arch", "total_core_seconds_per_arch")
    aggregated = {k: v for k, v in sub.meta["compute"].items() if k not in ranking_keys}
    assert json.loads(json.dumps(fresh.meta["compute"])) == aggregated


def test_readme_links_resolve_and_include_every_committed_report():
    """The README is how a visitor finds the reports: every relative link must resolve,
    and every committed report of this benchmark must be linked."""
    import re

    text = (REPO / "README.md").read_text()
    links = {m for m in re.findall(r"\]\(([^)\s#]+)\)", text) if "://" not in m}
    assert not [link for link in links if not (REPO / link).exists()], "README links to missing files"
    reports = {str(p.relative_to(REPO)) for p in (REPO / "reports" / "cifar10-cpu").glob("*.html")}
    assert reports and reports <= links
