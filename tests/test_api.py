"""Every `Benchmark` method on a small benchmark built by really training a few archs on
the embedded digits dataset, the split semantics on every original split, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nb201.benchmark import Benchmark
from nb201.benchmark.store import StoreKeyError, write_benchmark
from nb201.benchmark.store.aggregate import aggregate, hp_label
from nb201.space import NUM_ARCHS, Arch

ARCHS = [Arch.from_index(i) for i in (11472, 1462, 300)]
DEGENERATE = next(a for a in (Arch.from_index(i) for i in range(200)) if a.is_degenerate())
SEEDS = [777, 888]
FIDELITY = {"epochs": 3}
HP = hp_label("digits-cheap", FIDELITY)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[dict]]:
    from nb201.train import sweep

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("api")
    sweep(
        ARCHS + [DEGENERATE],
        "digits",
        "digits-cheap",
        seeds=SEEDS,
        fidelity=FIDELITY,
        out_dir=root / "runs",
        progress=False,
    )
    report = aggregate(root / "runs", root / "bench")
    assert report.substores[f"digits__{HP}"].runs == 8
    recs = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*.json"))]
    return root / "bench", recs


@pytest.fixture
def b(trained) -> Benchmark:
    return Benchmark.open(trained[0], seed=0)


def _rec(recs, index, seed):
    return next(r for r in recs if r["arch_index"] == index and r["spec"]["seed"] == seed)


def test_space_methods(b, trained):
    assert len(b) == NUM_ARCHS
    assert b.arch(11472) == str(Arch.from_index(11472)) == b[11472]
    s = b.arch(11472)
    assert b.query_index_by_arch(s) == 11472 == b.query_index_by_arch(Arch.from_string(s))
    assert b.query_index_by_arch(11472) == 11472
    assert b.evaluated_indexes == sorted([a.index for a in ARCHS] + [DEGENERATE.index])
    assert b.datasets == ["digits"] and b.hps("digits") == [HP] and b.avaliable_hps == [HP]
    assert b.seeds("digits") == SEEDS and b.num_epochs("digits") == 3
    assert b.indexes("digits").tolist() == b.evaluated_indexes
    assert b.statistics("digits") == {0: NUM_ARCHS - 4, 2: 4}
    assert "x-valid-accuracy" in b.metric_names("digits") and b.meta("digits")["hp"] == HP
    assert b.get_dataset_seeds(11472, "digits") == SEEDS
    assert "digits/" in repr(b)


def test_get_more_info_equals_records(b, trained):
    _, recs = trained
    for arch in ARCHS:
        for e in (None, 0, 1, 2):
            ee = 2 if e is None else e
            per_seed = []
            for seed in SEEDS:
                rec = _rec(recs, arch.index, seed)
                row = rec["epochs"][ee]
                info = b.get_more_info(arch.index, "digits", iepoch=e, is_random=seed)
                # digits is laid out like cifar100: valid = x-valid, test = x-test, valtest = ori-test
                assert set(info) == {
                    f"{p}-{m}"
                    for p in ("train", "valid", "test", "valtest")
                    for m in ("loss", "accuracy", "per-time", "all-time")
                }
                for key, src in [
                    ("train", "train"),
                    ("valid", "x-valid"),
                    ("test", "x-test"),
                    ("valtest", "ori-test"),
                ]:
                    assert info[f"{key}-loss"] == pytest.approx(row[f"{src}-loss"], rel=1e-6)
                    assert info[f"{key}-accuracy"] == pytest.approx(row[f"{src}-accuracy"], rel=1e-6)
                    total = sum(r[f"{src}-time"] for r in rec["epochs"][: ee + 1])
                    assert info[f"{key}-all-time"] == pytest.approx(total, rel=1e-5)
                    assert info[f"{key}-per-time"] == pytest.approx(total / (ee + 1), rel=1e-5)
                per_seed.append(info)
            mean = b.get_more_info(arch.index, "digits", iepoch=e, is_random=False)
            for key in mean:
                assert mean[key] == pytest.approx(np.mean([p[key] for p in per_seed]), rel=1e-5)
            for _ in range(5):
                rnd = b.get_more_info(arch.index, "digits", iepoch=e)
                assert any(rnd == p for p in per_seed)
    # the arch may be given as a string or an Arch too
    assert b.get_more_info(str(ARCHS[0]), "digits", is_random=777) == b.get_more_info(
        ARCHS[0], "digits", is_random=777
    )


def test_random_seed_choice_is_reproducible_and_uses_all_seeds(trained):
    a = Benchmark.open(trained[0], seed=5)
    c = Benchmark.open(trained[0], seed=5)
    xs = [a.get_more_info(11472, "digits")["valid-loss"] for _ in range(30)]
    ys = [c.get_more_info(11472, "digits")["valid-loss"] for _ in range(30)]
    assert xs == ys and len(set(xs)) == 2


def test_get_cost_info(b, trained):
    _, recs = trained
    for arch in ARCHS + [DEGENERATE]:
        cost = b.get_cost_info(arch.index, "digits")
        rs = [_rec(recs, arch.index, s) for s in SEEDS]
        assert cost["flops"] == pytest.approx(rs[0]["cost"]["flops"]) and cost["params"] == pytest.approx(
            rs[0]["cost"]["params"]
        )
        assert cost["latency"] == pytest.approx(np.mean([r["cost"]["latency"] for r in rs]))
        assert b.get_latency(arch.index, "digits") == cost["latency"]
        t = [sum(x["train-time"] for x in r["epochs"]) for r in rs]
        assert cost["T-train@total"] == pytest.approx(np.mean(t), rel=1e-5)
        assert cost["T-train@epoch"] == pytest.approx(np.mean(t) / 3, rel=1e-5)
        assert {"T-x-valid@epoch", "T-x-test@total", "T-ori-test@epoch"} <= set(cost)


def test_simulate_train_eval_and_time(b):
    b.reset_time()
    assert b.used_time == 0
    total = 0.0
    for arch in ARCHS:
        for iepoch in (None, 1):
            acc, lat, cost, used = b.simulate_train_eval(arch, "digits", iepoch=iepoch)
            ee = 2 if iepoch is None else iepoch
            # the seed was drawn at random: it is one of the arch's seeds, with its own time cost
            infos = [b.get_more_info(arch.index, "digits", iepoch=ee, is_random=s) for s in SEEDS]
            options = [i["train-all-time"] + i["valid-per-time"] for i in infos if i["valid-accuracy"] == acc]
            assert any(cost == pytest.approx(x) for x in options)
            assert lat == b.get_latency(arch.index, "digits")
            total += cost
            assert used == pytest.approx(total)
    b.simulate_train_eval(ARCHS[0], "digits", account_time=False)
    assert b.used_time == pytest.approx(total)
    b.reset_time()
    assert b.used_time == 0


def _first_best(candidates, key):
    """The original's rule: scan archs in index order, keep the first strictly higher accuracy."""
    return max(sorted(candidates), key=lambda i: (key(i), -i))


def test_find_best(b):
    accs = {a.index: b.get_more_info(a.index, "digits", is_random=False) for a in ARCHS + [DEGENERATE]}
    best = _first_best(accs, lambda i: accs[i]["valid-accuracy"])
    assert b.find_best("digits", "valid") == (best, pytest.approx(accs[best]["valid-accuracy"]))
    best_test = _first_best(accs, lambda i: accs[i]["test-accuracy"])
    assert b.find_best("digits", "test")[0] == best_test == b.find_best("digits", "x-test")[0]
    # cost limits: only archs no bigger than the smallest non-degenerate one
    flops = {i: b.get_cost_info(i, "digits")["flops"] for i in accs}
    cap = min(flops[a.index] for a in ARCHS)
    allowed = [i for i in accs if flops[i] <= cap]
    want = _first_best(allowed, lambda i: accs[i]["valid-accuracy"])
    assert b.find_best("digits", "valid", FLOP_max=cap)[0] == want
    assert b.find_best("digits", "valid", FLOP_max=-1.0) == (-1, None)
    params = {i: b.get_cost_info(i, "digits")["params"] for i in accs}
    pcap = sorted(params.values())[1]
    want = _first_best([i for i in accs if params[i] <= pcap], lambda i: accs[i]["valid-accuracy"])
    assert b.find_best("digits", "valid", Param_max=pcap)[0] == want


def test_vectorized_metrics_equal_scalar_queries(b):
    idx = np.array([a.index for a in ARCHS] * 3 + [DEGENERATE.index])
    mean = b.metrics(idx, "x-valid-accuracy")
    assert mean.shape == idx.shape and mean.dtype == np.float64
    for i, v in zip(idx, mean):
        assert v == pytest.approx(
            b.get_more_info(int(i), "digits", is_random=False)["valid-accuracy"], rel=1e-6
        )
    # original-API names resolve through the split semantics
    np.testing.assert_array_equal(b.metrics(idx, "valid-accuracy"), mean)
    np.testing.assert_array_equal(
        b.metrics(idx, "test-loss", epoch=1, seeds=888, dataset="digits"),
        b.metrics(idx, "x-test-loss", epoch=1, seeds=888),
    )
    ep = np.array([0, 1, 2] * 3 + [0])
    sd = np.array([777, 888] * 5)
    got = b.metrics(idx, "train-all-time", epoch=ep, seeds=sd)
    for i, e, s, v in zip(idx, ep, sd, got):
        assert v == pytest.approx(
            b.get_more_info(int(i), "digits", iepoch=int(e), is_random=int(s))["train-all-time"]
        )
    per = b.metrics(idx, "valid-per-time", epoch=ep, seeds=sd)
    for i, e, s, v in zip(idx, ep, sd, per):
        assert v == pytest.approx(
            b.get_more_info(int(i), "digits", iepoch=int(e), is_random=int(s))["valid-per-time"]
        )
    rnd = b.metrics(np.repeat(idx[:1], 200), "x-valid-accuracy", seeds="random")
    options = {b.get_more_info(int(idx[0]), "digits", is_random=s)["valid-accuracy"] for s in SEEDS}
    assert set(rnd.tolist()) == options
    grid = b.metrics(idx.reshape(2, 5), "train-loss")
    assert grid.shape == (2, 5)


@pytest.fixture(scope="module")
def original_splits(tmp_path_factory) -> Path:
    """A synthetic benchmark with the four original splits and their real eval sets."""
    root = tmp_path_factory.mktemp("splits")
    sets = {
        "cifar10-valid": ["x-valid", "ori-test"],
        "cifar10": ["ori-test"],
        "cifar100": ["x-valid", "x-test", "ori-test"],
        "ImageNet16-120": ["x-valid", "x-test", "ori-test"],
    }
    rng = np.random.default_rng(0)
    for split, evals in sets.items():
        metrics = [f"{s}-{m}" for s in ["train"] + evals for m in ("loss", "accuracy", "time")]
        for hp, n in (("12", 12), ("200", 20)):
            values = rng.uniform(1, 99, size=(3, 2, n, len(metrics))).astype(np.float32)
            write_benchmark(
                root,
                split=split,
                hp=hp,
                arch_indices=[10, 20, 30],
                seeds=[777, 888],
                metrics=metrics,
                values=values,
                costs={"flops": [1, 2, 3], "params": [1, 2, 3], "latency": [0.1, 0.2, 0.3]},
            )
    return root


@pytest.mark.parametrize(
    "split, mapping",
    [
        ("cifar10-valid", {"valid": "x-valid", "test": "ori-test"}),
        ("cifar10", {"test": "ori-test"}),
        ("cifar100", {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"}),
        ("ImageNet16-120", {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"}),
    ],
)
def test_split_semantics_mirror_the_original(original_splits, split, mapping):
    b = Benchmark.open(original_splits)
    info = b.get_more_info(20, split, iepoch=3, hp="12", is_random=888)
    roles = {k.rsplit("-", 1)[0].removesuffix("-per").removesuffix("-all") for k in info} - {"train"}
    assert roles == set(mapping)
    for role, src in mapping.items():
        v = b.metrics([20], f"{src}-accuracy", epoch=3, seeds=888, dataset=split, hp="12")[0]
        assert info[f"{role}-accuracy"] == v


def test_original_dataset_conventions(original_splits):
    b = Benchmark.open(original_splits, seed=1)
    # hp=None: "200" for queries, "12" for simulate_train_eval, as the originals' defaults
    assert b.num_epochs("cifar100") == 20
    acc, lat, cost, used = b.simulate_train_eval(10, "cifar10")  # reads cifar10-valid, hp 12
    infos = [b.get_more_info(10, "cifar10-valid", hp="12", is_random=s) for s in (777, 888)]
    assert acc in [i["valid-accuracy"] for i in infos]
    assert lat == pytest.approx(0.1)
    with pytest.raises(ValueError, match="pass 'cifar10'"):
        b.simulate_train_eval(10, "cifar10-valid")
    # find_best remaps ("cifar10", "valid") to cifar10-valid/x-valid, ("cifar10", "test") to cifar10/ori-test
    vals = b.metrics([10, 20, 30], "x-valid-accuracy", dataset="cifar10-valid", hp="200")
    assert b.find_best("cifar10", "valid", hp="200")[0] == [10, 20, 30][int(np.argmax(vals))]
    vals = b.metrics([10, 20, 30], "ori-test-accuracy", dataset="cifar10", hp="200")
    assert b.find_best("cifar10", "test")[0] == [10, 20, 30][int(np.argmax(vals))]
    assert b.find_best("cifar10", "test", FLOP_max=2, Param_max=1)[0] == 10


# ---- bad input --------------------------------------------------------------------------------


def test_bad_inputs_list_valid_choices(b):
    with pytest.raises(KeyError, match=r"architecture 5 has no results .* holds 4 architectures"):
        b.get_more_info(5, "digits")
    with pytest.raises(ValueError, match=r"\[0, 15624\]"):
        b.get_more_info(15625, "digits")
    with pytest.raises(ValueError, match="unknown op"):
        b.get_more_info("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "digits")
    with pytest.raises(KeyError, match=r"unknown dataset 'cifar10'; this benchmark has \['digits'\]"):
        b.get_more_info(11472, "cifar10")
    with pytest.raises(KeyError, match=r"unknown hp '200' .* choose from"):
        b.get_more_info(11472, "digits", hp="200")
    with pytest.raises(ValueError, match=r"invalid iepoch=3 .* \[0, 2\]"):
        b.get_more_info(11472, "digits", iepoch=3)
    with pytest.raises(ValueError, match=r"seed 1 has no run .* \[777, 888\]"):
        b.get_more_info(11472, "digits", is_random=1)
    with pytest.raises(ValueError, match="is_random"):
        b.get_more_info(11472, "digits", is_random="yes")
    with pytest.raises(KeyError, match="unknown metric 'accuracy'.*choose from"):
        b.metrics([11472], "accuracy")
    with pytest.raises(KeyError, match="unknown seeds \\[5\\]"):
        b.metrics([11472], "train-loss", seeds=5)
    with pytest.raises(ValueError, match="epoch must lie in \\[0, 2\\]"):
        b.metrics([11472], "train-loss", epoch=7)
    with pytest.raises(KeyError, match="architecture 5 has no results"):
        b.metrics([11472, 5], "train-loss")
    with pytest.raises(ValueError, match="integers"):
        b.metrics([1.5], "train-loss")
    with pytest.raises(KeyError, match="unknown metric_on_set 'nope'"):
        b.find_best("digits", "nope")
    with pytest.raises(KeyError, match="unknown dataset"):
        b.simulate_train_eval(11472, "cifar100")
    with pytest.raises(KeyError, match="unknown dataset"):
        b.get_cost_info(11472, "imagenet")


def test_open_by_name(trained, monkeypatch):
    root = trained[0]
    monkeypatch.setenv("NB201_BENCHMARKS", str(root.parent))
    assert Benchmark.open(root.name).datasets == ["digits"]
    with pytest.raises(FileNotFoundError, match="NB201_BENCHMARKS"):
        Benchmark.open("no-such-benchmark")


def test_open_by_name_under_the_data_dir(trained, monkeypatch, tmp_path):
    """A moved data directory ($NB201_DATA_DIR) moves the benchmarks looked up by name too."""
    import shutil

    monkeypatch.delenv("NB201_BENCHMARKS", raising=False)
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "elsewhere"))
    shutil.copytree(trained[0], tmp_path / "elsewhere" / "benchmarks" / "moved")
    assert Benchmark.open("moved").datasets == ["digits"]


def test_store_key_error_is_a_key_error():
    assert issubclass(StoreKeyError, KeyError)
    assert str(StoreKeyError("plain message")) == "plain message"


def test_cli_query(trained, capsys):
    from nb201.cli import main

    bench = str(trained[0])
    b = Benchmark.open(bench)
    assert main(["query", bench, "11472", "--dataset", "digits", "--seed", "777", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["11472"] == b.get_more_info(11472, "digits", is_random=777)
    assert (
        main(["query", bench, "11472", str(ARCHS[1]), "--dataset", "digits", "--metric", "valid-accuracy"])
        == 0
    )
    lines = capsys.readouterr().out.split()
    assert float(lines[1]) == b.metrics([11472], "x-valid-accuracy")[0] and lines[2] == str(ARCHS[1].index)
    assert main(["query", bench, "11472", "--dataset", "digits", "--cost", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["11472"]["flops"] == b.get_cost_info(11472, "digits")["flops"]
    assert main(["query", bench, "--dataset", "digits", "--find-best", "valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["index"] == b.find_best("digits", "valid")[0]
    assert main(["query", bench, "--info"]) == 0
    assert json.loads(capsys.readouterr().out)[f"digits/{HP}"]["num_runs"] == 8
    assert main(["query", bench, "5", "--dataset", "digits"]) == 2
    assert "architecture 5 has no results" in capsys.readouterr().err
    assert main(["query", bench, "11472", "--dataset", "cifar10"]) == 2
    assert "['digits']" in capsys.readouterr().err


def test_simulate_train_eval_reads_latency_when_the_cost_split_lacks_the_hp(tmp_path) -> None:
    """The search reads cifar10-valid at hp 12; the cifar10 split holds only hp 200, and its
    latency (a property of the network, not the schedule) must still be found."""
    from synthetic import write_synthetic

    root = write_synthetic(tmp_path / "b", archs=[0, 1, 2, 11472], seeds=(777,))
    bench = Benchmark.open(root)
    assert bench.hps("cifar10") == ["200"] and "12" in bench.hps("cifar10-valid")
    acc, latency, cost, total = bench.simulate_train_eval(11472, "cifar10", hp="12")
    assert acc == bench.get_more_info(11472, "cifar10-valid", hp="12", is_random=777)["valid-accuracy"]
    assert latency == bench.get_latency(11472, "cifar10", hp="200")
    assert cost > 0 and total == cost
