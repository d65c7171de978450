"""The metric grammar, its one fallback, and the split rules (`nb201.names`), and that every
module that once parsed names by hand now agrees with it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from nb201 import names
from nb201.names import Metric, parse_metric

SRC = Path(__file__).resolve().parents[1] / "src" / "nb201"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("x-valid-accuracy", ("x-valid", "accuracy")),
        ("ori-test-loss", ("ori-test", "loss")),
        ("train-accuracy", ("train", "accuracy")),
        ("train-top5", ("train", "top5")),
        ("x-test-time", ("x-test", "time")),
        ("x-valid-all-time", ("x-valid", "all-time")),  # compound quantities win over `time`
        ("valid-per-time", ("valid", "per-time")),
        ("my-custom-set-accuracy", ("my-custom-set", "accuracy")),  # sets may hold hyphens
        ("lr", ("", "lr")),
        ("time", ("", "time")),
    ],
)
def test_the_grammar(name: str, expected: tuple[str, str]) -> None:
    assert parse_metric(name) == expected
    assert parse_metric(name).name == name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("x-valid-top1", ("x-valid", "top1")),  # an unknown quantity: the last word
        ("x-valid-score-ema", ("x-valid-score", "ema")),
        ("epoch", ("", "epoch")),  # no hyphen: a quantity of no set
    ],
)
def test_the_one_fallback(name: str, expected: tuple[str, str]) -> None:
    assert parse_metric(name) == expected
    assert names.unit(name) == "unknown" or expected[1] in names.UNITS


def test_units_sets_and_running_sums() -> None:
    assert names.unit("x-valid-accuracy") == "percent" and names.unit("ori-test-all-time") == "seconds"
    assert names.unit("lr") == "1" and names.unit("train-loss") == "mean cross entropy"
    assert names.running_sum("x-valid-time") == "x-valid-all-time"
    assert names.running_sum("valid-per-time") == "valid-all-time"
    with pytest.raises(ValueError, match="not a time metric"):
        names.running_sum("x-valid-accuracy")
    metrics = ["lr", "train-loss", "train-accuracy", "zz-accuracy", "ori-test-accuracy", "x-valid-loss"]
    metrics += ["x-valid-accuracy", "x-valid-all-time", "aa-set-loss"]
    assert names.sets_of(metrics) == ["train", "x-valid", "ori-test", "aa-set", "zz"]
    assert names.sets_of(metrics, "accuracy") == ["train", "x-valid", "ori-test", "zz"]
    assert names.eval_metrics(metrics) == ["zz-accuracy", "ori-test-accuracy", "x-valid-accuracy"]
    assert names.is_per_arch("ranking-score") and names.is_per_arch("proxy:C8-N1-16px:synflow")
    assert not names.is_per_arch("x-valid-accuracy")
    assert Metric("x-valid", "accuracy").name == "x-valid-accuracy" and Metric("", "lr").name == "lr"


def test_the_valid_split_rule() -> None:
    assert names.valid_split("cifar10") == "cifar10-valid"
    assert names.is_valid_split("cifar10-valid") and names.is_valid_split("digits-valid")
    assert not names.is_valid_split("cifar10") and not names.is_valid_split("-valid")
    # a folder may itself be named "x-valid": its whole-pool split is not the -valid form
    assert not names.is_valid_split("x-valid", dataset="x-valid")
    assert names.is_valid_split("x-valid-valid", dataset="x-valid")
    assert names.split_base("cifar10-valid") == "cifar10" and names.split_base("cifar100") == "cifar100"


def test_which_sets_a_split_evaluates_on_and_their_roles() -> None:
    assert names.eval_pools(valid_form=True, test_halves=True) == {"x-valid": "train", "ori-test": "test"}
    assert names.eval_pools(valid_form=False, test_halves=False) == {"ori-test": "test"}
    halves = names.eval_pools(valid_form=False, test_halves=True)
    assert halves == {"x-valid": "test", "x-test": "test", "ori-test": "test"}
    assert names.original_roles("cifar10-valid", ["train", "x-valid", "ori-test"]) == {
        "valid": "x-valid",
        "test": "ori-test",
    }
    assert names.original_roles("cifar10", ["train", "ori-test"]) == {"test": "ori-test"}
    assert names.original_roles("cifar100", ["x-valid", "x-test", "ori-test"]) == {
        "valid": "x-valid",
        "test": "x-test",
        "valtest": "ori-test",
    }
    # the rule reads the sets a split holds, not its name: any split without halves of
    # its test set tests on the whole test set (before, only the name "cifar10" did)
    assert names.original_roles("my-folder", ["x-valid", "ori-test"]) == {
        "valid": "x-valid",
        "test": "ori-test",
    }
    assert names.describe_roles({"valid": "x-valid"}) == {"valid-*": "x-valid-*"}


def test_the_two_fallbacks_that_disagreed_now_agree() -> None:
    """The search oracle read a non-accuracy reward `x-valid-loss` as the set `x-valid`, the
    experiment as the set `x-valid-loss` (so it reported the reward set beside the reward).
    Both now read `nb201.names.set_of`: the set is what precedes the quantity."""
    from nb201.search.experiment import reported_columns

    columns = ["digits/x-valid", "digits/x-test", "digits/ori-test", "cifar10/ori-test"]
    for metric in ("x-valid-accuracy", "x-valid-loss"):
        assert reported_columns(columns, "digits", metric) == ["digits/x-test", "cifar10/ori-test"]
    assert reported_columns(columns, "cifar10-valid", "x-valid-loss") == columns


def _parses_by_hand(path: Path) -> list[str]:
    """`"-accuracy"`-suffix slicing, `rsplit("-", 1)` and `endswith("-valid")` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            arg = node.args[0]
            text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            if node.func.attr in ("rsplit", "rpartition") and text == "-":
                found.append(f"{path.name}:{node.lineno} {node.func.attr}('-')")
            if node.func.attr in ("endswith", "removesuffix") and text in (
                "-valid",
                "-accuracy",
                "-per-time",
            ):
                found.append(f"{path.name}:{node.lineno} {node.func.attr}({text!r})")
    return found


def test_no_module_parses_names_by_hand() -> None:
    offenders = [hit for p in sorted(SRC.rglob("*.py")) if p.name != "names.py" for hit in _parses_by_hand(p)]
    assert offenders == [], "use nb201.names instead of parsing metric or split names: " + ", ".join(
        offenders
    )


def test_the_store_and_the_api_read_roles_from_names(tmp_path: Path) -> None:
    from nb201.benchmark import Benchmark
    from nb201.benchmark.store.format import write_benchmark

    metrics = [f"{s}-{q}" for s in ("train", "x-valid", "ori-test") for q in ("loss", "accuracy", "time")]
    values = np.random.default_rng(0).uniform(1, 99, size=(2, 1, 3, len(metrics))).astype(np.float32)
    write_benchmark(
        tmp_path, split="tiny", hp="1", arch_indices=[3, 5], seeds=[1], metrics=metrics, values=values
    )
    b = Benchmark.open(tmp_path)
    assert b.meta("tiny")["original_api_keys"] == {"valid-*": "x-valid-*", "test-*": "ori-test-*"}
    info = b.get_more_info(3, "tiny", is_random=1)
    assert info["test-accuracy"] == b.metrics([3], "ori-test-accuracy", seeds=1)[0]
    assert b.eval_sets("tiny") == ["x-valid", "ori-test"]
