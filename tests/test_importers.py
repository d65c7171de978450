"""Importers against the official packages: small files written with their own classes,
every imported number compared with what the official API returns for the same file."""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from nb201.benchmark import Benchmark
from nb201.benchmark.importers import ImportFormatError, detect_kind, import_official
from nb201.space import Arch, all_archs

nas_api = pytest.importorskip("nas_201_api")
nats_utils = pytest.importorskip("nats_bench.api_utils")
nats_top = pytest.importorskip("nats_bench.api_topology")

ARCHS = [0, 1, 11472, 15624, 777]  # official indices
SEEDS = (777, 888, 999)
EVALS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
HP_EPOCHS = {"12": 12, "200": 200}


def _arch_results(module, index: int, hp: str, rng: random.Random, with_times: bool = True):
    """One architecture's ArchResults for one hp, built with the package's own classes."""
    arch_str = str(Arch.from_index(index))
    ar = module.ArchResults(index, arch_str)
    n = HP_EPOCHS[hp]
    flop, params = rng.uniform(10, 200), rng.uniform(0.1, 1.5)
    for dataset, evals in EVALS.items():
        # a varying number of trials per arch, as in the real v1_0 file
        seeds = SEEDS[: 1 + (index + len(dataset)) % 3]
        for seed in seeds:
            rc = module.ResultsCount(
                dataset,
                None,
                None,
                None,
                params,
                flop,
                {"arch_str": arch_str, "channel": 16, "num_cells": 5, "class_num": 10},
                seed,
                n,
                [rng.uniform(0.001, 0.02)],
            )
            tr_acc = OrderedDict((e, rng.uniform(10, 100)) for e in range(n))
            tr_acc5 = OrderedDict((e, rng.uniform(50, 100)) for e in range(n))
            tr_loss = OrderedDict((e, rng.uniform(0.01, 2.5)) for e in range(n))
            tr_time = OrderedDict((e, rng.uniform(5, 30)) for e in range(n)) if with_times else None
            rc.update_train_info(tr_acc, tr_acc5, tr_loss, tr_time)
            accs, losses, times = {}, {}, {}
            for name in evals:
                for e in range(n):
                    accs[f"{name}@{e}"] = rng.uniform(10, 100)
                    losses[f"{name}@{e}"] = rng.uniform(0.01, 2.5)
                    times[f"{name}@{e}"] = rng.uniform(0.5, 3)
            rc.update_eval(accs, losses, times)
            ar.update(dataset, seed, rc)
    return ar


def _meta_archs() -> list[str]:
    return [str(a) for a in all_archs()]


@pytest.fixture(scope="module")
def pth_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    arch2infos = {
        i: {
            "less": _arch_results(nas_api.api_utils, i, "12", rng).state_dict(),
            "full": _arch_results(nas_api.api_utils, i, "200", rng).state_dict(),
        }
        for i in ARCHS
    }
    path = tmp_path_factory.mktemp("pth") / "NAS-Bench-201-v1_1-small.pth"
    torch.save({"meta_archs": _meta_archs(), "arch2infos": arch2infos, "evaluated_indexes": ARCHS}, path)
    return path


@pytest.fixture(scope="module")
def nats_folder(tmp_path_factory) -> Path:
    rng = random.Random(1)
    root = tmp_path_factory.mktemp("nats") / "NATS-tss-v1_0-3ffb9-simple"
    root.mkdir()
    nats_utils.pickle_save(
        {"meta_archs": _meta_archs()}, str(root / "meta.pickle")
    )  # pickle_save appends .pbz2
    for i in ARCHS:
        data = {hp: _arch_results(nats_utils, i, hp, rng).state_dict() for hp in ("12", "200")}
        nats_utils.pickle_save(data, str(root / f"{i:06d}.pickle"))
    return root


@pytest.fixture(scope="module")
def nats_file(tmp_path_factory) -> Path:
    rng = random.Random(2)
    root = tmp_path_factory.mktemp("natsfile")
    arch2infos = {
        i: {hp: _arch_results(nats_utils, i, hp, rng).state_dict() for hp in ("12", "200")} for i in ARCHS
    }
    nats_utils.pickle_save(
        {"meta_archs": _meta_archs(), "arch2infos": arch2infos, "evaluated_indexes": ARCHS},
        str(root / "NATS-tss-v1_0-3ffb9.pickle"),
    )
    return root / "NATS-tss-v1_0-3ffb9.pickle.pbz2"


def _close(ours, theirs, key):
    if theirs is None:
        assert ours is None, key
    else:
        assert ours == pytest.approx(float(theirs), rel=2e-6, abs=1e-6), key


def _compare_all(official, b: Benchmark):
    """Every number get_more_info/get_cost_info return, for every arch, hp, dataset, seed, epoch."""
    checked = 0
    for index in ARCHS:
        for hp, n in HP_EPOCHS.items():
            for dataset in EVALS:
                seeds = (
                    official.arch2infos_dict[index][hp].get_dataset_seeds(dataset)
                    if hasattr(official, "arch2infos_dict") and index in official.arch2infos_dict
                    else None
                )
                if seeds is None:
                    official._prepare_info(index)
                    seeds = official.arch2infos_dict[index][hp].get_dataset_seeds(dataset)
                assert b.get_dataset_seeds(index, dataset, hp=hp) == seeds
                epochs = [None, 0, n // 2, n - 1]
                for iepoch in epochs:
                    for is_random in [*seeds, False]:
                        theirs = official.get_more_info(
                            index, dataset, iepoch=iepoch, hp=hp, is_random=is_random
                        )
                        theirs.pop("comment", None)
                        ours = b.get_more_info(index, dataset, iepoch=iepoch, hp=hp, is_random=is_random)
                        assert set(ours) == set(theirs), (dataset, set(ours) ^ set(theirs))
                        for key in theirs:
                            _close(ours[key], theirs[key], (index, hp, dataset, iepoch, is_random, key))
                            checked += 1
                theirs = official.get_cost_info(index, dataset, hp=hp)
                ours = b.get_cost_info(index, dataset, hp=hp)
                assert set(ours) == set(theirs)
                for key in theirs:
                    _close(ours[key], theirs[key], (index, hp, dataset, key))
                    checked += 1
    return checked


def test_pth_import_matches_official_api(pth_file, tmp_path):
    assert detect_kind(pth_file) == "pth"
    written = import_official(pth_file, tmp_path / "bench")
    assert {p.name for p in written} == {f"{d}__{hp}" for d in EVALS for hp in HP_EPOCHS}
    official = nas_api.NASBench201API(str(pth_file), verbose=False)
    b = Benchmark.open(tmp_path / "bench")
    assert sorted(b.evaluated_indexes) == sorted(ARCHS)
    assert _compare_all(official, b) > 5_000
    for dataset, set_name in [
        ("cifar10", "valid"),
        ("cifar10", "test"),
        ("cifar100", "valid"),
        ("cifar100", "test"),
        ("ImageNet16-120", "x-valid"),
        ("cifar10-valid", "x-valid"),
    ]:
        for hp in HP_EPOCHS:
            theirs = official.find_best(dataset, set_name, hp=hp)
            ours = b.find_best(dataset, set_name, hp=hp)
            assert ours[0] == theirs[0]
            assert ours[1] == pytest.approx(theirs[1], rel=1e-6)
            flop_cap = official.get_cost_info(ARCHS[2], dataset, hp=hp)["flops"]
            assert (
                b.find_best(dataset, set_name, FLOP_max=flop_cap, hp=hp)[0]
                == official.find_best(dataset, set_name, FLOP_max=flop_cap, hp=hp)[0]
            )


@pytest.mark.parametrize("which", ["folder", "file"])
def test_nats_import_matches_official_api(which, nats_folder, nats_file, tmp_path):
    src = nats_folder if which == "folder" else nats_file
    assert detect_kind(src) == ("nats-folder" if which == "folder" else "nats-file")
    import_official(src, tmp_path / "bench")
    official = nats_top.NATStopology(str(src), fast_mode=(which == "folder"), verbose=False)
    b = Benchmark.open(tmp_path / "bench")
    assert _compare_all(official, b) > 5_000
    # simulate_train_eval: same accuracy and time cost for a single-seed arch, same latency
    for index in ARCHS:
        for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
            split = "cifar10-valid" if dataset == "cifar10" else dataset
            seeds = b.get_dataset_seeds(index, split, hp="12")
            if len(seeds) != 1:
                continue
            theirs = official.simulate_train_eval(index, dataset, iepoch=5, hp="12")
            ours = b.simulate_train_eval(index, dataset, iepoch=5, hp="12")
            for o, t in zip(ours[:3], theirs[:3]):
                assert o == pytest.approx(t, rel=2e-6)


def test_import_filters_and_metric_names(pth_file, tmp_path):
    import_official(pth_file, tmp_path / "b", datasets=["cifar10"], hps=["12"])
    b = Benchmark.open(tmp_path / "b")
    assert b.datasets == ["cifar10"] and b.hps("cifar10") == ["12"]
    names = b.metric_names("cifar10")
    assert "ori-test-accuracy" in names and not any(n.startswith("x-") for n in names)
    info = b.get_more_info(ARCHS[0], "cifar10")
    assert "valid-accuracy" not in info and "valtest-accuracy" not in info and "test-accuracy" in info


def test_import_without_times_gives_none(tmp_path):
    rng = random.Random(3)
    arch2infos = {
        i: {
            "less": _arch_results(nas_api.api_utils, i, "12", rng, with_times=False).state_dict(),
            "full": _arch_results(nas_api.api_utils, i, "12", rng, with_times=False).state_dict(),
        }
        for i in ARCHS[:2]
    }
    path = tmp_path / "notimes.pth"
    torch.save({"meta_archs": _meta_archs(), "arch2infos": arch2infos, "evaluated_indexes": ARCHS[:2]}, path)
    import_official(path, tmp_path / "b", hps=["12"])
    official = nas_api.NASBench201API(str(path), verbose=False)
    b = Benchmark.open(tmp_path / "b")
    ours = b.get_more_info(ARCHS[0], "cifar100", hp="12", is_random=False)
    theirs = official.get_more_info(ARCHS[0], "cifar100", hp="12", is_random=False)
    assert ours["train-all-time"] is None and theirs["train-all-time"] is None
    assert ours["train-accuracy"] == pytest.approx(theirs["train-accuracy"], rel=1e-6)
    with pytest.raises(ValueError, match="no train/eval times"):
        b.simulate_train_eval(ARCHS[0], "cifar100", hp="12")


def test_wrong_kind_of_file(tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    with pytest.raises(ImportFormatError, match="expected one of"):
        import_official(junk, tmp_path / "o")
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    with pytest.raises(ImportFormatError, match="meta_archs"):
        import_official(other, tmp_path / "o")
    size_space = tmp_path / "sss.pth"
    torch.save(
        {
            "meta_archs": ["64:64:64:64:64"],
            "arch2infos": {0: {"less": {}, "full": {}}},
            "evaluated_indexes": [0],
        },
        size_space,
    )
    with pytest.raises(ImportFormatError, match="size"):
        import_official(size_space, tmp_path / "o")
    with pytest.raises(ImportFormatError, match="meta.pickle.pbz2"):
        import_official(tmp_path, tmp_path / "o")
    with pytest.raises(FileNotFoundError):
        import_official(tmp_path / "nope.pth", tmp_path / "o")
    truncated = tmp_path / "t.pickle.pbz2"
    truncated.write_bytes(b"BZh91AY&SY")
    with pytest.raises(ImportFormatError, match="bz2"):
        import_official(truncated, tmp_path / "o")


def test_import_is_official_index_exact(pth_file, tmp_path):
    """Importing maps through arch strings: our row for official index i is arch string meta_archs[i]."""
    import_official(pth_file, tmp_path / "b", hps=["12"], datasets=["cifar100"])
    b = Benchmark.open(tmp_path / "b")
    official = nas_api.NASBench201API(str(pth_file), verbose=False)
    for i in ARCHS:
        assert b.arch(i) == official.arch(i)
        assert b.query_index_by_arch(official.arch(i)) == i
    arr = b.metrics(np.array(ARCHS), "x-valid-accuracy", seeds=None, dataset="cifar100", hp="12")
    for i, v in zip(ARCHS, arr):
        assert v == pytest.approx(
            official.get_more_info(i, "cifar100", hp="12", is_random=False)["valid-accuracy"], rel=1e-6
        )


def test_cli_import(pth_file, tmp_path, capsys):
    from nb201.cli import main

    assert (
        main(
            ["import", str(pth_file), str(tmp_path / "b"), "--hps", "12", "--datasets", "cifar100", "--quiet"]
        )
        == 0
    )
    assert capsys.readouterr().out.strip().endswith("cifar100__12")
    assert Benchmark.open(tmp_path / "b").datasets == ["cifar100"]
    (tmp_path / "junk.txt").write_text("x")
    assert main(["import", str(tmp_path / "junk.txt"), str(tmp_path / "c")]) == 2
    assert "expected one of" in capsys.readouterr().err


def test_every_epoch_matches_official_results(pth_file, tmp_path):
    """Every per-epoch number of every run, read through the official ResultsCount, equals ours."""
    import_official(pth_file, tmp_path / "b")
    official = nas_api.NASBench201API(str(pth_file), verbose=False)
    b = Benchmark.open(tmp_path / "b")
    checked = 0
    for index in ARCHS:
        for hp, n in HP_EPOCHS.items():
            archres = official.query_meta_info_by_index(index, hp)
            for dataset, evals in EVALS.items():
                for seed, rc in archres.query(dataset).items():
                    epochs = np.arange(n)
                    idx = np.full(n, index)
                    for set_name in ("train",) + evals:
                        theirs = [
                            rc.get_train(e) if set_name == "train" else rc.get_eval(set_name, e)
                            for e in epochs
                        ]
                        for key, metric in (
                            ("loss", "loss"),
                            ("accuracy", "accuracy"),
                            ("cur_time", "time"),
                            ("all_time", "all-time"),
                        ):
                            ours = b.metrics(
                                idx, f"{set_name}-{metric}", epoch=epochs, seeds=seed, dataset=dataset, hp=hp
                            )
                            np.testing.assert_allclose(ours, [t[key] for t in theirs], rtol=2e-6)
                            checked += n
                    cost = archres.get_compute_costs(dataset)
                    assert b.get_cost_info(index, dataset, hp=hp)["flops"] == pytest.approx(cost["flops"])
    assert checked > 100_000


def test_nats_pickle_may_name_only_plain_data_unless_trusted(tmp_path):
    import bz2
    import datetime
    import pickle

    risky = tmp_path / "risky.pickle.pbz2"
    with bz2.BZ2File(risky, "wb") as fh:
        pickle.dump({"meta_archs": [], "arch2infos": {}, "when": datetime.date(2020, 1, 1)}, fh)
    with pytest.raises(ImportFormatError, match=r"beyond plain data.*datetime.*allow_pickle=True"):
        import_official(risky, tmp_path / "o")
    # trusted: it is loaded, and then judged on its content (an empty benchmark here)
    with pytest.raises(ImportFormatError) as caught:
        import_official(risky, tmp_path / "o", allow_pickle=True)
    assert "beyond plain data" not in str(caught.value)


# ---- ambiguous sources are refused, with the files and indices named; nothing is written ----
def _folder_copy(nats_folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(nats_folder, tmp_path / nats_folder.name))


def _refused_by_cli(src: Path, out: Path, capsys, *needles: str) -> str:
    """`nb201 import` exits 2 with one line naming every needle, and writes nothing."""
    from nb201.cli import main

    assert main(["import", str(src), str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nb201 import: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()
    return err


def test_two_files_for_one_arch_are_refused(nats_folder, tmp_path, capsys):
    src = _folder_copy(nats_folder, tmp_path)
    (src / "1.pickle.pbz2").write_bytes((src / "000001.pickle.pbz2").read_bytes())
    _refused_by_cli(
        src,
        tmp_path / "out",
        capsys,
        "two files for one architecture",
        "index 1:",
        "000001.pickle.pbz2",
        " 1.pickle.pbz2",
    )
    with pytest.raises(ImportFormatError, match=r"index 1: 000001.pickle.pbz2, 1.pickle.pbz2"):
        import_official(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_arch_listed_twice_in_meta_is_refused(nats_folder, tmp_path, capsys):
    src = _folder_copy(nats_folder, tmp_path)
    meta = _meta_archs()
    meta[777] = meta[0]  # index 777 now claims to be arch 0: one of them would serve the other's numbers
    nats_utils.pickle_save({"meta_archs": meta}, str(src / "meta.pickle"))
    _refused_by_cli(
        src, tmp_path / "out", capsys, "lists an architecture twice", "indices 0 and 777", meta[0]
    )
    pth = tmp_path / "twice.pth"
    torch.save({"meta_archs": meta, "arch2infos": {}, "evaluated_indexes": []}, pth)
    with pytest.raises(ImportFormatError, match=r"twice: .* at indices 0 and 777"):
        import_official(pth, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_naming_another_arch_is_refused(nats_folder, tmp_path, capsys, workers):
    src = _folder_copy(nats_folder, tmp_path)
    (src / "000001.pickle.pbz2").write_bytes((src / "000777.pickle.pbz2").read_bytes())
    with pytest.raises(
        ImportFormatError,
        match=r"000001.pickle.pbz2 \(hp 12\) holds the results of another "
        r"architecture: its arch_index is 777, but it is filed as architecture 1 ",
    ):
        import_official(src, tmp_path / "out", workers=workers)
    assert not (tmp_path / "out").exists()
    _refused_by_cli(
        src, tmp_path / "out", capsys, "000001.pickle.pbz2", "arch_index is 777", "architecture 1"
    )
    # the arch string alone (arch_index dropped) is enough to tell
    data = nats_utils.pickle_load(str(src / "000777.pickle.pbz2"))
    for state in data.values():
        del state["arch_index"]
    nats_utils.pickle_save(data, str(src / "000001.pickle"))
    with pytest.raises(ImportFormatError, match=rf"its arch_str is '{re.escape(str(Arch.from_index(777)))}'"):
        import_official(src, tmp_path / "out", workers=workers)
    assert not (tmp_path / "out").exists()


def test_results_for_archs_the_meta_does_not_list_are_refused(nats_folder, tmp_path, capsys):
    """A meta of 10 archs beside a file for arch 3000: once `IndexError: list index out of range`."""
    src = _folder_copy(nats_folder, tmp_path)
    nats_utils.pickle_save({"meta_archs": _meta_archs()[:10]}, str(src / "meta.pickle"))
    (src / "003000.pickle.pbz2").write_bytes((src / "000001.pickle.pbz2").read_bytes())
    _refused_by_cli(
        src,
        tmp_path / "out",
        capsys,
        "the meta does not list",
        "3000 (003000.pickle.pbz2)",
        "11472 (011472.pickle.pbz2)",
        "lists 10 architectures (indices 0..9)",
    )
    pth = tmp_path / "short.pth"
    torch.save(
        {
            "meta_archs": _meta_archs()[:10],
            "arch2infos": {3000: {"less": {}, "full": {}}},
            "evaluated_indexes": [3000],
        },
        pth,
    )
    with pytest.raises(
        ImportFormatError, match=r"does not list: 3000; its meta_archs lists 10 architectures"
    ):
        import_official(pth, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_arch_under_two_keys_of_a_single_file_is_refused(pth_file, tmp_path):
    top = torch.load(pth_file, weights_only=True)
    top["arch2infos"]["1"] = top["arch2infos"][1]
    bad = tmp_path / "twice-keys.pth"
    torch.save(top, bad)
    with pytest.raises(
        ImportFormatError, match=r"arch2infos holds one architecture twice \(index 1: keys \[1, '1'\]\)"
    ):
        import_official(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_parallel_workers_write_the_same_store(nats_folder, tmp_path):
    import_official(nats_folder, tmp_path / "one", workers=1)
    import_official(nats_folder, tmp_path / "two", workers=2)
    one, two = Benchmark.open(tmp_path / "one"), Benchmark.open(tmp_path / "two")
    assert one.datasets == two.datasets and sorted(one.evaluated_indexes) == sorted(ARCHS)
    for dataset in one.datasets:
        for hp in one.hps(dataset):
            names = one.metric_names(dataset)
            assert names == two.metric_names(dataset)
            for name in names:
                a = one.metrics(np.array(ARCHS), name, seeds=None, dataset=dataset, hp=hp)
                b = two.metrics(np.array(ARCHS), name, seeds=None, dataset=dataset, hp=hp)
                np.testing.assert_array_equal(a, b)
