"""Presets and fidelity overrides: what a training run's config resolves to.

A preset is a small TOML file (`nb201/configs/presets/<name>.toml`) so that the protocol
lives in a reviewable file rather than in code. A run's *resolved config* is the preset's
`[config]` table with the run's fidelity overrides merged in and type-checked; the run id
hashes that resolved config together with the arch, dataset, split, preset name and seed,
so two runs that would compute the same numbers share an id, and any change of a knob
(including editing a preset file) gives a new one instead of silently reusing old results.
The run spec itself is `nb201.train.spec.RunSpec`; this module stays torch-free, so that the
benchmark store can resolve a preset without importing a training stack.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nb201.config import (
    PresetInfo,
    TrainConfig,
    check_field,
    field_names,
    from_table,
    read_toml,
)
from nb201.data.registry import registered_names
from nb201.names import is_valid_split, split_base

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


def resolve_train_config(preset: str, fidelity: dict[str, Any] | None = None) -> TrainConfig:
    """The preset's config with `fidelity` overrides merged in and validated, as the frozen
    `TrainConfig` a run carries. The one place a preset is resolved: a `RunSpec` calls it
    once, when it is built, and every engine, loop and record reads the object it keeps."""
    config = load_preset(preset)["config"]
    for key, value in (fidelity or {}).items():
        if key not in KNOBS:
            raise KeyError(
                f"unknown fidelity knob {key!r}; valid knobs are {list(KNOBS)} "
                f"(preset {preset!r} sets them all; override only those you mean to change)."
            )
        config[key] = _check_knob(key, value, "fidelity override")
    return TrainConfig(**config)


def resolve_config(preset: str, fidelity: dict[str, Any] | None = None) -> dict[str, Any]:
    """`resolve_train_config` as a dict in `KNOBS` order: the form records store and run ids
    hash (for readers of records, which compare their stored config with it)."""
    return asdict(resolve_train_config(preset, fidelity))


def dataset_for_split(split: str) -> str:
    """The built-in dataset a named split belongs to (`cifar10-valid` -> `cifar10`).

    Datasets registered by name (`nb201.data.registry`) name their splits `<dataset>` or
    `<dataset>-valid`; `folder:` datasets are given as an explicit (dataset, split) pair.
    """
    if is_valid_split(split) and split_base(split) in registered_names():
        return split_base(split)
    return split
