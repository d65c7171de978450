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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nb201.config import (
    SearchConfig,
    SearchPresetInfo,
    check_field,
    check_run_identity,
    field_names,
    from_table,
    read_toml,
)

SEARCH_PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "search"
METHODS: tuple[str, ...] = ("rsps", "darts-v1", "darts-v2", "gdas", "setn", "enas")
# Every search knob: the fields of `nb201.config.SearchConfig` (types, rules and help live there).
SEARCH_KNOBS: tuple[str, ...] = tuple(field_names(SearchConfig))


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
    raw = read_toml(path)
    info_keys = {k: v for k, v in raw.items() if k != "common" and k not in METHODS}
    info = from_table(SearchPresetInfo, info_keys, f"search preset {path}")
    methods = info.methods
    if not methods or any(m not in METHODS for m in methods):
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
        "description": info.description,
        "methods": list(methods),
        "seeds": list(info.seeds),
        "common": dict(common),
    }
    for m in METHODS:
        if m in raw:
            for k, v in raw[m].items():  # a typo in any method's table fails now, not when it runs
                _check(k, v, f"search preset {path} [{m}]")
            out[m] = dict(raw[m])
    return out


def _check(key: str, value: Any, where: str) -> Any:
    """One knob, checked and normalised by `SearchConfig`'s rules."""
    if key not in SEARCH_KNOBS:
        raise KeyError(f"{where}: unknown search knob {key!r}; valid knobs are {list(SEARCH_KNOBS)}.")
    return check_field(SearchConfig, key, value, where)


def resolve_search_config(
    method: str, preset: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config of `method` under `preset` with `overrides`, validated as a whole, as a
    dict in `SEARCH_KNOBS` order (the form records store and run ids hash)."""
    return asdict(_resolve(method, preset, overrides))


def _resolve(method: str, preset: str, overrides: dict[str, Any] | None) -> SearchConfig:
    """The one resolution of a search's config: common + the method's table + overrides."""
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
    return SearchConfig(**config)  # with the checks across knobs (temperature and lr schedules)


@dataclass(frozen=True)
class SearchSpec:
    """One search run: (method, dataset, split, preset, seed) plus knob overrides.

    Picklable. Resolved once, when it is built: `config` is the frozen, validated
    `SearchConfig` and `run_id` hashes everything that changes the numbers (`data_root`
    does not); bad settings raise here, before anything is written.
    """

    method: str
    dataset: str
    split: str
    preset: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    config: SearchConfig = field(init=False, repr=False, compare=False)
    run_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_run_identity(self, ("method", "dataset", "split", "preset"))
        object.__setattr__(self, "overrides", dict(self.overrides or {}))
        object.__setattr__(self, "config", _resolve(self.method, self.preset, self.overrides))
        ident = {**self._named(), "config": self.config_dict()}
        blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "run_id", "s" + hashlib.sha256(blob.encode()).hexdigest()[:23])

    def __hash__(self) -> int:
        return hash(self.run_id)

    def _named(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "dataset": self.dataset,
            "split": self.split,
            "preset": self.preset,
            "seed": self.seed,
        }

    def config_dict(self) -> dict[str, Any]:
        """The resolved config as records store it (a dict in `SEARCH_KNOBS` order)."""
        return asdict(self.config)

    def to_record(self) -> dict[str, Any]:
        return {**self._named(), "overrides": dict(self.overrides)}
