"""The run spec whose hash names every run record (presets: `nb201.presets`, torch-free).

A run's *resolved config* is its preset's `[config]` table with the run's fidelity
overrides merged in and type-checked (`nb201.presets.resolve_config`); the run id
hashes that resolved config together with the arch, dataset, split, preset name and seed,
so two runs that would compute the same numbers share an id, and any change of a knob
(including editing a preset file) gives a new one instead of silently reusing old results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from nb201.config import check_run_identity
from nb201.data.registry import registered_names
from nb201.names import is_valid_split, split_base
from nb201.presets import KNOBS, PRESET_DIR, load_preset, preset_names, resolve_config
from nb201.space import Arch

__all__ = [
    "KNOBS",
    "PRESET_DIR",
    "RunSpec",
    "dataset_for_split",
    "load_preset",
    "preset_names",
    "resolve_config",
]


def dataset_for_split(split: str) -> str:
    """The built-in dataset a named split belongs to (`cifar10-valid` -> `cifar10`).

    Datasets registered by name (`nb201.data.registry`) name their splits `<dataset>` or
    `<dataset>-valid`; `folder:` datasets are given as an explicit (dataset, split) pair.
    """
    if is_valid_split(split) and split_base(split) in registered_names():
        return split_base(split)
    return split


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run; picklable, so any engine can ship it.

    `data_root` (where to find the data) and `save_weights` (whether to keep the trained
    weights) do not change the numbers, so they are not part of the run id.
    """

    arch: str
    dataset: str
    split: str
    preset: str
    seed: int
    fidelity: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    save_weights: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", str(Arch.coerce(self.arch)))
        check_run_identity(self, ("dataset", "split", "preset"))
        object.__setattr__(self, "fidelity", dict(self.fidelity or {}))
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(self.data_root))

    def __hash__(self) -> int:  # fidelity is a dict; hash by identity of the run instead
        return hash(self.run_id)

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config (preset + fidelity), validated."""
        return resolve_config(self.preset, self.fidelity)

    @property
    def arch_obj(self) -> Arch:
        return Arch.from_string(self.arch)

    def _named(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "dataset": self.dataset,
            "split": self.split,
            "preset": self.preset,
            "seed": self.seed,
        }

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: everything that can change the numbers."""
        return {**self._named(), "config": self.config}

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def to_record(self) -> dict[str, Any]:
        """The record's `spec` field."""
        return {**self._named(), "fidelity": dict(self.fidelity)}
