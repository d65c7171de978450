"""The training presets, torch-free: which knobs a training protocol has, the shipped
presets (`nb201/configs/presets/<name>.toml`), and what a preset with fidelity overrides
resolves to.

A preset is a small TOML file so that the protocol lives in a reviewable file rather than in
code. A run's *resolved config* is the preset's `[config]` table with the run's fidelity
overrides merged in and type-checked (`resolve_train_config`, the frozen `TrainConfig` a
`nb201.train.spec.RunSpec` carries; `resolve_config`, its dict form records store). This
module sits below the store and the training code alike (it imports only `nb201.config`),
so that aggregating run records checks their configs without importing torch.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nb201.config import PresetInfo, TrainConfig, check_field, field_names, from_table, read_toml

PRESET_DIR = Path(__file__).resolve().parent / "configs" / "presets"

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
