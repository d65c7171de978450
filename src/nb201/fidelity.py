"""The fidelity study: how cheaply can a benchmark be trained and still rank architectures
the way the full 200-epoch protocol does?

A *fidelity point* is the `cpu-cifar` preset with some knobs overridden (channels, cells,
epochs, image size, training subset, batch size, schedule). Each point trains the 60
calibration architectures through the ordinary sweep (so its records are ordinary,
resumable run records) and is scored by the rank agreement of its final test accuracy with
the published full-protocol accuracy, against its CPU cost per architecture.
The grid lives in `configs/fidelity_grid.toml`, not in code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nb201.analysis import rank_agreement
from nb201.space import Arch

CALIBRATION_COLUMNS = {
    "cifar10": "cifar10_test_acc_200ep",
    "cifar100": "cifar100_xtest_acc_200ep",
    "ImageNet16-120": "imagenet16_120_xtest_acc_200ep",
}


@dataclass(frozen=True)
class FidelityPoint:
    name: str
    fidelity: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class FidelityGrid:
    preset: str
    seeds: list[int]
    budget_core_seconds: float
    points: list[FidelityPoint]

    def point(self, name: str) -> FidelityPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"no fidelity point {name!r}; the grid has {[p.name for p in self.points]}")


def load_grid(path: str | Path | None = None) -> FidelityGrid:
    """The study's grid: `configs/fidelity_grid.toml` unless a path is given."""
    if path is None:
        text = (resources.files("nb201") / "configs" / "fidelity_grid.toml").read_text()
    else:
        text = Path(path).read_text()
    raw = tomllib.loads(text)
    points = [FidelityPoint(p["name"], dict(p.get("fidelity", {})), p.get("note", "")) for p in raw["point"]]
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ValueError(f"fidelity grid has duplicate point names: {names}")
    return FidelityGrid(raw["preset"], list(raw["seeds"]), float(raw["budget_core_seconds"]), points)


def load_calibration(path: str | Path) -> pd.DataFrame:
    """The calibration CSV, indexed by the official arch index, checked against our space."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"calibration file {path} not found: it lives in ../shared/calibration/ next to the project"
        )
    table = pd.read_csv(path)
    missing = {"nb201_index", "arch", *CALIBRATION_COLUMNS.values()} - set(table.columns)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}; is it the nb201 calibration file?")
    for idx, text in zip(table["nb201_index"], table["arch"]):
        if Arch.from_string(text).index != int(idx):
            raise ValueError(f"{path}: arch {text} is index {Arch.from_string(text).index}, not {idx}")
    return table.set_index("nb201_index")


def record_cpu_seconds(record: dict[str, Any]) -> float:
    """Core-seconds a run cost: its measured process CPU time when recorded, else wall time
    times the threads it ran with (an upper bound on a busy machine)."""
    if record.get("cpu_time") is not None:
        return float(record["cpu_time"])
    return float(record["wall_time"]) * int(record.get("env", {}).get("threads", 1))


def point_table(records: list[dict[str, Any]], metric: str = "ori-test-accuracy") -> pd.DataFrame:
    """One row per architecture of a point's records: final accuracy (mean over seeds) and
    core-seconds per run."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        rows.append(
            {
                "index": int(r["arch_index"]),
                "seed": int(r["spec"]["seed"]),
                "accuracy": float(r["epochs"][-1][metric]),
                "core_seconds": record_cpu_seconds(r),
                "params": float(r["cost"]["params"]),
            }
        )
    if not rows:
        return pd.DataFrame(columns=["accuracy", "core_seconds", "params", "seeds"])
    frame = pd.DataFrame(rows)
    out = frame.groupby("index").agg(
        accuracy=("accuracy", "mean"),
        core_seconds=("core_seconds", "mean"),
        params=("params", "first"),
        seeds=("seed", "nunique"),
    )
    return out


def score_point(
    table: pd.DataFrame, calibration: pd.DataFrame, column: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Rank agreement of a point's accuracies with the full protocol, with bootstrap CIs."""
    joined = table.join(calibration[column], how="inner")
    out = rank_agreement(joined["accuracy"], joined[column], n_boot=n_boot, seed=seed)
    out["core_seconds_per_arch"] = float(joined["core_seconds"].mean()) if len(joined) else float("nan")
    return out


def params_baseline(
    calibration: pd.DataFrame, column: str, num_classes: int = 10, **kw: Any
) -> dict[str, float]:
    """The parameter count's own agreement with the full protocol: the bar a cheap benchmark
    must clear (about 0.75 Spearman on CIFAR-10)."""
    from nb201.cost import count_params

    params = np.array([count_params(Arch.from_index(int(i)), num_classes) for i in calibration.index])
    return rank_agreement(params, calibration[column].to_numpy(), **kw)
