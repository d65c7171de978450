"""Presets, fidelity overrides and the run spec whose hash names every run record.

A preset is a small TOML file (`nb201/configs/presets/<name>.toml`) so that the protocol
lives in a reviewable file rather than in code. A run's *resolved config* is the preset's
`[config]` table with the run's fidelity overrides merged in and type-checked; the run id
hashes that resolved config together with the arch, dataset, split, preset name and seed,
so two runs that would compute the same numbers share an id, and any change of a knob
(including editing a preset file) gives a new one instead of silently reusing old results.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nb201.config import (
    PresetInfo,
    TrainConfig,
    check_field,
    check_run_identity,
    field_names,
    from_table,
    read_toml,
)
from nb201.data.registry import registered_names
from nb201.names import is_valid_split, split_base
from nb201.space import Arch

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "presets"

# Every knob a config has: the fields of `nb201.config.TrainConfig`, which carries their
# types, rules and help. Presets must define all of them, so a record's config is always
# complete and two presets are comparable key by key.
KNOBS: tuple[str, ...] = tuple(field_names(TrainConfig))


def preset_names() -> list[str]:
    """The presets shipped with nb201 (file stems under `configs/presets`)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


@functools.cache
def _read_preset(name: str) -> dict[str, Any]:
    path = PRESET_DIR / f"{name}.toml"
    if not isinstance(name, str) or "/" in name or not path.is_file():
        raise KeyError(
            f"unknown preset {name!r}; available presets: {', '.join(preset_names())} "
            f"(files in {PRESET_DIR}); pass one of those names, or add a <name>.toml there."
        )
    raw = read_toml(path)
    if "config" not in raw:
        raise ValueError(f"preset file {path} has no [config] table; copy the layout of 200.toml.")
    missing = [k for k in KNOBS if k not in raw["config"]]
    unknown = [k for k in raw["config"] if k not in KNOBS]
    if missing or unknown:
        raise ValueError(
            f"preset file {path}: missing knobs {missing}, unknown knobs {unknown}; "
            f"a preset defines exactly {list(KNOBS)}."
        )
    config = {k: _check_knob(k, v, f"preset {name!r}") for k, v in raw["config"].items()}
    info = from_table(PresetInfo, {k: v for k, v in raw.items() if k != "config"}, f"preset file {path}")
    return {"name": name, **asdict(info), "config": {k: config[k] for k in KNOBS}}


def load_preset(name: str) -> dict[str, Any]:
    """The preset `name`: `{"name", "description", "provisional", "seeds", "config"}`.

    Raises KeyError naming the available presets when `name` is unknown.
    """
    p = _read_preset(str(name))
    return {**p, "seeds": list(p["seeds"]), "config": dict(p["config"])}


def _check_knob(key: str, value: Any, where: str) -> Any:
    """Validate one knob and normalize its type (lr=1 and lr=1.0 must hash the same); the
    rules live on `TrainConfig`'s fields."""
    if key not in KNOBS:
        raise KeyError(f"{where}: unknown knob {key!r}; valid knobs are {list(KNOBS)}.")
    return check_field(TrainConfig, key, value, where)


def resolve_config(preset: str, fidelity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset's config with `fidelity` overrides merged in and validated (as a whole, by
    `TrainConfig`), as a dict in `KNOBS` order: the form records store and run ids hash."""
    config = load_preset(preset)["config"]
    for key, value in (fidelity or {}).items():
        if key not in KNOBS:
            raise KeyError(
                f"unknown fidelity knob {key!r}; valid knobs are {list(KNOBS)} "
                f"(preset {preset!r} sets them all; override only those you mean to change)."
            )
        config[key] = _check_knob(key, value, "fidelity override")
    TrainConfig(**config)
    return config


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
