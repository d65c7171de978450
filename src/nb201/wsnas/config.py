"""Search presets and the search spec whose hash names every search record.

A search preset is a TOML file in `nb201/configs/search/` (or a path to one): a `[common]`
table with every shared knob (`nb201.config.SearchConfig`), one optional table per method
overriding some of them (the paper's settings differ per method) or setting the method's
own knobs (`Method.knobs`), and optionally `methods`, the methods it is written for (default:
every registered method, `nb201.wsnas.methods.METHOD_CLASSES`). The resolved config of a
search is the method's own defaults + common + the method's table + the run's overrides,
checked knob by knob, so a typo or an impossible value fails before anything is written.
"""

from __future__ import annotations

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
from nb201.util import content_hash
from nb201.wsnas.methods import METHOD_CLASSES, method_class

SEARCH_PRESET_DIR = Path(__file__).resolve().parent.parent / "configs" / "search"
# The methods nb201 ships (the paper's six, registered by `nb201.wsnas.methods`); checks read
# the registry itself, so a method registered later is searchable too.
METHODS: tuple[str, ...] = tuple(METHOD_CLASSES)
# Every shared search knob: the fields of `nb201.config.SearchConfig` (types, rules and help live there).
SEARCH_KNOBS: tuple[str, ...] = tuple(field_names(SearchConfig))


def search_preset_names() -> list[str]:
    """The search presets shipped with nb201."""
    return sorted(p.stem for p in SEARCH_PRESET_DIR.glob("*.toml"))


def chosen_methods(methods: list[str] | None) -> list[str]:
    """`methods`, each checked to be registered, or for None every registered method (so a
    method added with `@register_method` joins notebook 06 without editing it)."""
    if methods is None:
        return list(METHOD_CLASSES)
    for m in methods:
        method_class(m)
    return list(methods)


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
    info_keys = {k: v for k, v in raw.items() if k != "common" and k not in METHOD_CLASSES}
    info = from_table(SearchPresetInfo, info_keys, f"search preset {path}")
    methods = list(METHOD_CLASSES) if info.methods is None else info.methods
    if not methods or any(m not in METHOD_CLASSES for m in methods):
        raise ValueError(
            f"search preset {path}: `methods` must list some of {list(METHOD_CLASSES)}, got {methods!r}."
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
    for m in METHOD_CLASSES:
        if m in raw:
            for k, v in raw[m].items():  # a typo in any method's table fails now, not when it runs
                _check(m, k, v, f"search preset {path} [{m}]")
            out[m] = dict(raw[m])
    return out


def _check(method: str, key: str, value: Any, where: str) -> Any:
    """One knob, checked and normalised by `SearchConfig`'s rules or the method's own."""
    own = method_class(method).knobs
    if key in SEARCH_KNOBS:
        return check_field(SearchConfig, key, value, where)
    if own is not None and key in field_names(own):
        return check_field(own, key, value, where)
    known = list(SEARCH_KNOBS) + (field_names(own) if own is not None else [])
    raise KeyError(f"{where}: unknown search knob {key!r} for {method!r}; valid knobs are {known}.")


def resolve_search_config(
    method: str, preset: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config of `method` under `preset` with `overrides`, validated as a whole, as a
    dict: the shared knobs in `SEARCH_KNOBS` order, then the method's own (the form records
    store and run ids hash)."""
    shared, own = _resolve(method, preset, overrides)
    return _as_dict(shared, own)


def _as_dict(shared: SearchConfig, own: Any) -> dict[str, Any]:
    return {**asdict(shared), **(asdict(own) if own is not None else {})}


def _resolve(method: str, preset: str, overrides: dict[str, Any] | None) -> tuple[SearchConfig, Any]:
    """The one resolution of a search's config: the method's own defaults + common + the
    method's table + overrides, as (the shared `SearchConfig`, the method's own knobs or None)."""
    own = method_class(method).knobs
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
        (overrides or {}, "override"),
    ):
        for k, v in src.items():
            config[k] = _check(method, k, v, where)
    # the checks across knobs (temperature and lr schedules) run as the config is built
    shared = SearchConfig(**{k: config[k] for k in SEARCH_KNOBS})
    if own is None:
        return shared, None
    mine = {k: v for k, v in config.items() if k not in SEARCH_KNOBS}
    return shared, from_table(own, mine, f"preset {preset!r} [{method}]")


@dataclass(frozen=True)
class SearchSpec:
    """One search run: (method, dataset, split, preset, seed) plus knob overrides.

    Picklable. Resolved once, when it is built: `config` is the frozen, validated
    `SearchConfig` (the shared knobs), `method_knobs` the method's own knobs (its
    `Method.knobs` dataclass, None when it has none), and `run_id` hashes everything that
    changes the numbers (`data_root` does not); bad settings raise here, before anything is
    written.
    """

    method: str
    dataset: str
    split: str
    preset: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    config: SearchConfig = field(init=False, repr=False, compare=False)
    method_knobs: Any = field(init=False, repr=False, compare=False)
    run_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_run_identity(self, ("method", "dataset", "split", "preset"))
        object.__setattr__(self, "overrides", dict(self.overrides or {}))
        shared, own = _resolve(self.method, self.preset, self.overrides)
        object.__setattr__(self, "config", shared)
        object.__setattr__(self, "method_knobs", own)
        ident = {**self._named(), "config": self.config_dict()}
        object.__setattr__(self, "run_id", "s" + content_hash(ident, 23))

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
        """The resolved config as records store it: the shared knobs in `SEARCH_KNOBS` order,
        then the method's own (`method_knobs`)."""
        return _as_dict(self.config, self.method_knobs)

    def to_record(self) -> dict[str, Any]:
        return {**self._named(), "overrides": dict(self.overrides)}
