"""Search presets and the search spec whose hash names every search record.

A search preset is a TOML file in `nb201/configs/search/` (or a path to one): `methods`
(which methods it is written for), a `[common]` table with every knob, and one optional
table per method overriding some of them (the paper's settings differ per method). The
resolved config of a search is common + the method's table + the run's overrides, checked
knob by knob, so a typo or an impossible value fails before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEARCH_PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "search"
METHODS: tuple[str, ...] = ("rsps", "darts-v1", "darts-v2", "gdas", "setn", "enas")

_INT = (
    "epochs", "batch_size", "valid_batch_size", "lr_period", "C", "N", "steps_per_epoch",
    "derive_samples", "eval_batches", "ctrl_steps", "ctrl_aggregate",
)  # fmt: skip
_FLOAT = (
    "lr", "eta_min", "momentum", "weight_decay", "grad_clip", "arch_lr", "arch_beta1", "arch_beta2",
    "arch_weight_decay", "arch_init_std", "tau_max", "tau_min", "train_fraction", "valid_fraction",
    "ctrl_lr", "ctrl_entropy_weight", "ctrl_baseline_decay", "ctrl_grad_clip",
)  # fmt: skip
_BOOL = ("nesterov", "track_running_stats")
_ZERO_OK = ("lr_period", "steps_per_epoch", "eval_batches")  # 0 means "the default"
# how the supernet is run when it scores candidates and is evaluated: "running" = eval mode,
# BN with running statistics (the original code); "batch" = batch statistics, as in training
_CHOICE = {"score_bn": ("running", "batch")}
SEARCH_KNOBS: tuple[str, ...] = _INT + _FLOAT + _BOOL + tuple(_CHOICE) + ("image_size",)


def search_preset_names() -> list[str]:
    """The search presets shipped with nb201."""
    return sorted(p.stem for p in SEARCH_PRESET_DIR.glob("*.toml"))


def _preset_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return path
    path = SEARCH_PRESET_DIR / f"{name}.toml"
    if "/" in str(name) or not path.is_file():
        raise KeyError(
            f"unknown search preset {name!r}; available: {search_preset_names()} (files in "
            f"{SEARCH_PRESET_DIR}), or pass the path of a .toml file of the same form."
        )
    return path


def load_search_preset(name: str) -> dict[str, Any]:
    """`{"name", "description", "methods", "seeds", "common", "<method>": {...}}` of a preset."""
    path = _preset_path(name)
    with path.open("rb") as f:
        raw = tomllib.load(f)
    methods = raw.get("methods")
    if not isinstance(methods, list) or not methods or any(m not in METHODS for m in methods):
        raise ValueError(
            f"search preset {path}: `methods` must list some of {list(METHODS)}, got {methods!r}."
        )
    common = raw.get("common")
    if not isinstance(common, dict):
        raise ValueError(f"search preset {path} has no [common] table; copy the layout of paper.toml.")
    missing = [k for k in SEARCH_KNOBS if k not in common]
    unknown = [k for k in common if k not in SEARCH_KNOBS]
    if missing or unknown:
        raise ValueError(
            f"search preset {path}: missing knobs {missing}, unknown knobs {unknown}; "
            f"[common] defines exactly {list(SEARCH_KNOBS)}."
        )
    out = {
        "name": str(name),
        "description": str(raw.get("description", "")),
        "methods": list(methods),
        "seeds": list(raw.get("seeds", [])),
        "common": dict(common),
    }
    for m in METHODS:
        if m in raw:
            out[m] = dict(raw[m])
    return out


def _check(key: str, value: Any, where: str) -> Any:
    def bad(expect: str) -> ValueError:
        return ValueError(f"{where}: knob {key!r} must be {expect}, got {value!r}.")

    if key not in SEARCH_KNOBS:
        raise KeyError(f"{where}: unknown search knob {key!r}; valid knobs are {list(SEARCH_KNOBS)}.")
    if key in _INT:
        low = 0 if key in _ZERO_OK else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad(f"an integer >= {low}")
        return int(value)
    if key in _FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a finite number")
        value = float(value)
        if key.endswith("fraction") and not 0.0 < value <= 1.0:
            raise bad("a fraction in (0, 1]")
        if key in ("lr", "arch_lr", "ctrl_lr", "tau_max", "tau_min") and value <= 0:
            raise bad("a number > 0")
        if value < 0:
            raise bad("a number >= 0")
        return value
    if key in _BOOL:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key in _CHOICE:
        if value not in _CHOICE[key]:
            raise bad(f"one of {list(_CHOICE[key])}")
        return value
    if value == "native":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 4 or value % 4:
        raise bad("'native' or a multiple of 4")
    return int(value)


def resolve_search_config(
    method: str, preset: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config of `method` under `preset` with `overrides`, validated as a whole."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}.")
    p = load_search_preset(preset)
    if method not in p["methods"]:
        raise ValueError(
            f"search preset {preset!r} is written for {p['methods']}, not for {method!r}; "
            f"use a preset listing {method!r} (e.g. {search_preset_names()})."
        )
    config: dict[str, Any] = {}
    for src, where in (
        (p["common"], f"preset {preset!r}"),
        (p.get(method, {}), f"preset {preset!r} [{method}]"),
    ):
        for k, v in src.items():
            config[k] = _check(k, v, where)
    for k, v in (overrides or {}).items():
        config[k] = _check(k, v, "override")
    if config["tau_min"] > config["tau_max"]:
        raise ValueError(
            f"GDAS temperature schedule inverted: tau_max={config['tau_max']} < tau_min={config['tau_min']}; "
            "tau anneals from tau_max down to tau_min, so set tau_max >= tau_min."
        )
    if config["eta_min"] > config["lr"]:
        raise ValueError(
            f"eta_min={config['eta_min']} exceeds lr={config['lr']}; the cosine schedule decays lr."
        )
    return {k: config[k] for k in SEARCH_KNOBS}


@dataclass(frozen=True)
class SearchSpec:
    """One search run: (method, dataset, split, preset, seed) plus knob overrides.

    Picklable; `run_id` hashes everything that changes the numbers (`data_root` does not).
    """

    method: str
    dataset: str
    split: str
    preset: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}; e.g. 777.")
        for name in ("method", "dataset", "split", "preset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}.")
        object.__setattr__(self, "overrides", dict(self.overrides or {}))

    def __hash__(self) -> int:
        return hash(self.run_id)

    @property
    def config(self) -> dict[str, Any]:
        return resolve_search_config(self.method, self.preset, self.overrides)

    def to_record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "dataset": self.dataset,
            "split": self.split,
            "preset": self.preset,
            "seed": self.seed,
            "overrides": dict(self.overrides),
        }

    @property
    def run_id(self) -> str:
        ident = {**self.to_record(), "config": self.config}
        ident.pop("overrides")
        blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
        return "s" + hashlib.sha256(blob.encode()).hexdigest()[:23]
