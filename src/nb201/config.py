"""One typed configuration layer: every knob a TOML file or `--set` can name is a dataclass field.

Training presets (`configs/presets/*.toml`, `TrainConfig`), weight-sharing search presets
(`configs/search/*.toml`, `SearchConfig`), the fidelity grid (`configs/fidelity_grid.toml`,
`FidelityGrid`) and the notebooks' parameters (`nb201.pipeline.profiles`) are dataclasses whose fields
carry a type, a default where one makes sense, a one-line help and the value rules. One
checker (`check_field`) and one loader (`from_table`) read them all, so a typo or a wrong
type fails the same way everywhere: before anything runs, with a message that names the key,
where it came from, and what is allowed. This module imports nothing of nb201, so every
other module (and the torch-free aggregation) can use it.
"""

from __future__ import annotations

import copy
import functools
import math
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints


class ConfigError(ValueError):
    """A key or value of a configuration is wrong; the message names the key, its source and
    what is allowed. A `ValueError`, so the CLIs report it as a usage error (exit code 2)."""


def knob(default: Any = MISSING, help: str = "", **rules: Any) -> Any:
    """A dataclass field with its one-line `help` and value `rules`: `low` (>=), `above` (>),
    `fraction` ((0, 1]), `choices`, `named` (the one string an `int | str` knob accepts),
    `multiple_of`, `expect` (the wording of "must be ..." when the rules need explaining),
    `of` (a table whose keys are the knobs of another config dataclass, each value checked
    by that knob's rules: a fidelity table `of=TrainConfig`), `known` (a function giving
    the names a string, each string of a list, or each key of a table must be one of: a
    registry read when the value is checked, e.g. the shipped presets).

    Lists and dicts get a fresh copy per instance, so a default can never be shared."""
    meta = {"help": help, **rules}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


@functools.cache
def _metas(cls: type) -> dict[str, Mapping[str, Any]]:
    return {f.name: f.metadata for f in fields(cls)}


def field_names(cls: type) -> list[str]:
    """The knobs of a config dataclass, in declaration order."""
    return [f.name for f in fields(cls)]


def defaults(cls: type) -> dict[str, Any]:
    """{knob: default} of every knob of `cls` that has one."""
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


class _Mismatch(Exception):
    """A value does not have a knob's type (turned into a ConfigError by `check_field`)."""


_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings")}


def _describe(tp: Any, plural: bool = False) -> str:
    """How a type reads in an error message: `list[int] | None` -> "a list of integers or None"."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arm, plural) for arm in get_args(tp))
    if tp is type(None):
        return "None"
    if tp is bool:
        return "true or false"
    if tp is Any:
        return "any value"
    if origin is list:
        return "a list of " + _describe(get_args(tp)[0], plural=True)
    if origin is dict:
        values = get_args(tp)[1]
        return "a table (dict)" + ("" if values is Any else " of " + _describe(values, plural=True))
    return _WORDS[tp][plural]


def _conform(value: Any, tp: Any) -> Any:
    """`value` as a value of type `tp` (ints widen to floats), else `_Mismatch`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        for arm in get_args(tp):
            try:
                return _conform(value, arm)
            except _Mismatch:
                pass
        raise _Mismatch
    if tp is type(None) and value is None:
        return None
    if tp is bool and isinstance(value, bool):
        return value
    if tp in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if tp is int and isinstance(value, int):
            return int(value)
        if tp is float and math.isfinite(value):
            return float(value)
    if tp is str and isinstance(value, str):
        return value
    if origin is list and isinstance(value, (list, tuple)):
        return [_conform(v, get_args(tp)[0]) for v in value]
    if origin is dict and isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _conform(v, get_args(tp)[1]) for k, v in value.items()}
    raise _Mismatch


def _expect(tp: Any, meta: Mapping[str, Any]) -> str:
    """What a knob accepts, in words, for "must be ..." messages (`int | None` with `low=1`:
    "an integer >= 1 or None")."""
    if "expect" in meta:
        return meta["expect"]
    arms = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    core = [a for a in arms if a is not type(None)]
    if len(core) != 1 or core[0] not in (int, float, str):
        return _describe(tp)
    word = "an integer" if core[0] is int else "a number"
    if "choices" in meta:
        text = f"one of {list(meta['choices'])}"
    elif "fraction" in meta:
        text = "a fraction in (0, 1]"
    elif "above" in meta:
        text = f"{word} > {meta['above']}"
    elif "low" in meta:
        text = f"{word} >= {meta['low']}"
    else:
        text = "a finite number" if core[0] is float else _describe(core[0])
    return text + (" or None" if len(arms) > 1 else "")


def _obeys(value: Any, meta: Mapping[str, Any]) -> bool:
    """Whether a value of the right type also keeps the knob's rules."""
    if isinstance(value, str):
        if "named" in meta:
            return value == meta["named"]
        return "choices" not in meta or value in meta["choices"]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return True
    return (
        ("low" not in meta or value >= meta["low"])
        and ("above" not in meta or value > meta["above"])
        and ("fraction" not in meta or 0.0 < value <= 1.0)
        and ("multiple_of" not in meta or value % meta["multiple_of"] == 0)
    )


def check_field(cls: type, key: str, value: Any, where: str, label: str | None = None) -> Any:
    """`value` for knob `key` of dataclass `cls`, type-checked and normalised (lr=1 -> 1.0, so
    that equal configs hash equally). Raises ConfigError "<where>: <label> must be <what the
    knob accepts>, got <value>." (`label` defaults to "knob '<key>'"); KeyError when `cls` has
    no such knob (callers word that one with the list of known keys)."""
    meta = _metas(cls).get(key)
    if meta is None:
        raise KeyError(key)
    tp = _hints(cls)[key]
    label = label or f"knob {key!r}"
    try:
        out = _conform(value, tp)
    except _Mismatch:
        out = _Mismatch
    if out is _Mismatch or not _obeys(out, meta):
        raise ConfigError(f"{where}: {label} must be {_expect(tp, meta)}, got {value!r}.")
    if "known" in meta:
        _check_names(out, meta["known"], where, label)
    if "of" in meta and isinstance(out, Mapping):
        out = _check_table_of(meta["of"], out, where, label)
    return out


def _check_names(value: Any, known: Callable[[], Iterable[str]], where: str, label: str) -> None:
    """Every name `value` holds (a string, a list's strings, a table's keys) is one of `known()`."""
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, Mapping)) else []
    allowed = list(known())
    for name in names:
        if isinstance(name, str) and name not in allowed:
            raise unknown_key(where, f"{label}: {name!r}", allowed, "unknown name")


def _check_table_of(cls: type, table: Mapping[str, Any], where: str, label: str) -> dict[str, Any]:
    """A table of `cls` knobs (a fidelity or override table), each checked by its knob's rules."""
    names = field_names(cls)
    for key in table:
        if key not in names:
            raise unknown_key(where, f"{label}.{key}", names, "unknown knob")
    return {k: check_field(cls, k, v, where, f"{label}.{k}") for k, v in table.items()}


def unknown_key(where: str, key: str, known: list[str], what: str = "unknown parameter") -> ConfigError:
    """The one wording of an unknown key: "<where>: <key>: unknown parameter; known: a, b, ..."."""
    return ConfigError(f"{where}: {key}: {what}; known: {', '.join(sorted(known))}")


def from_table(cls: type, table: Mapping[str, Any], where: str, prefix: str = "", base: Any = None) -> Any:
    """An instance of config dataclass `cls` from a TOML table (or any mapping), each value
    checked; knobs the table leaves out keep `base`'s value (or the default). `prefix` is
    how a key is shown (`"01_train."` for a notebook's table). Unknown keys, wrong types and
    missing required knobs raise ConfigError naming `where`, the key and the known keys."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'table'} must be a table, got {table!r}.")
    names = field_names(cls)
    for key in table:
        if key not in names:
            raise unknown_key(where, f"{prefix}{key}", names)
    values = {k: check_field(cls, k, v, where, f"{prefix}{k}") for k, v in table.items()}
    if base is not None:
        return replace(base, **values)
    missing = [n for n in names if n not in values and n not in defaults(cls)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(prefix + m for m in missing)}; required: {names}")
    return cls(**values)


def validate_fields(obj: Any, where: str) -> None:
    """Check and normalise every field of a frozen config dataclass in place (`__post_init__`)."""
    for f in fields(obj):
        object.__setattr__(obj, f.name, check_field(type(obj), f.name, getattr(obj, f.name), where))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a syntax error names the file."""
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


# ---- training presets ------------------------------------------------------------------
INT_POS = {"low": 1}
NONNEG = {"low": 0}


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (the resolved config whose hash names a run record).

    A preset's `[config]` table defines all of them, so a record's config is always complete
    and two presets are comparable key by key; fidelity overrides replace some."""

    epochs: int = knob(help="training epochs (the schedule's length)", **INT_POS)
    batch_size: int = knob(help="training batch size", **INT_POS)
    eval_batch_size: int = knob(help="batch size of the evaluation passes (not in the numbers)", **INT_POS)
    warmup_epochs: int = knob(help="linear warm-up epochs before the schedule", **NONNEG)
    C: int = knob(help="channels of the first cell stage", **INT_POS)
    N: int = knob(help="cells per stage", **NONNEG)
    lr: float = knob(help="peak learning rate", above=0)
    eta_min: float = knob(help="final learning rate of the cosine schedule", **NONNEG)
    momentum: float = knob(help="SGD momentum", **NONNEG)
    weight_decay: float = knob(help="L2 weight decay", **NONNEG)
    train_fraction: float = knob(help="fraction of the training images used (stratified)", fraction=True)
    eval_fraction: float = knob(help="fraction of each evaluation set used (stratified)", fraction=True)
    nesterov: bool = knob(help="Nesterov momentum")
    measure_latency: bool = knob(help="measure the trained network's latency")
    schedule: str = knob(help="learning-rate schedule", choices=("cosine", "constant"))
    loss: str = knob(help="training loss", choices=("cross_entropy",))
    # fp32 is the protocol; bf16 autocast is an opt-in speed knob that changes the numbers
    precision: str = knob(help="arithmetic of the forward pass", choices=("fp32", "bf16"))
    image_size: int | str = knob(
        help="input resolution ('native': the dataset's own)",
        named="native",
        low=4,
        multiple_of=4,
        expect="'native' or a multiple of 4, at least 4 (the network halves the resolution twice)",
    )
    pad: int | str = knob(
        help="pixels of padding for random crops ('auto': 4 at 32x32, scaled)",
        named="auto",
        low=0,
        expect="'auto' or an integer >= 0",
    )

    def __post_init__(self) -> None:
        validate_fields(self, "training config")


@dataclass(frozen=True)
class PresetInfo:
    """The keys of a training preset file besides its `[config]` table."""

    description: str = knob("", "one line on what the preset is for")
    provisional: bool = knob(False, "true while the preset's fidelity is not yet calibrated")
    seeds: list[int] = knob([], "the seeds a full build at this preset uses")


# ---- weight-sharing search presets -----------------------------------------------------
@dataclass(frozen=True)
class SearchConfig:
    """Every knob of a weight-sharing search; a search preset's `[common]` table defines all
    of them, its per-method tables override some. Checked as a whole: the GDAS temperature
    must anneal downwards and the cosine schedule must decay."""

    epochs: int = knob(help="search epochs", **INT_POS)
    batch_size: int = knob(help="training batch size (weights)", **INT_POS)
    valid_batch_size: int = knob(help="batch size of the valid half when scoring candidates", **INT_POS)
    # the original pairs each training batch with a valid batch of the same size for the
    # architecture step (its search loader) and scores candidates with a larger valid batch
    arch_batch_size: int = knob(help="batch size of the valid half in architecture steps", **INT_POS)
    lr_period: int = knob(help="ENAS warm-restart period in epochs (0: one cosine over all)", **NONNEG)
    C: int = knob(help="channels of the supernet's first stage", **INT_POS)
    N: int = knob(help="cells per stage of the supernet", **INT_POS)
    steps_per_epoch: int = knob(help="training steps per epoch (0: one pass over the data)", **NONNEG)
    derive_samples: int = knob(help="candidates sampled when deriving the final arch", **INT_POS)
    eval_batches: int = knob(help="valid batches that score a candidate (0: all)", **NONNEG)
    ctrl_steps: int = knob(help="ENAS controller steps per epoch", **INT_POS)
    ctrl_aggregate: int = knob(help="ENAS controller samples per step", **INT_POS)
    lr: float = knob(help="peak learning rate of the weights", above=0)
    eta_min: float = knob(help="final learning rate of the cosine schedule", **NONNEG)
    momentum: float = knob(help="SGD momentum", **NONNEG)
    weight_decay: float = knob(help="weight decay of the weights", **NONNEG)
    grad_clip: float = knob(help="gradient-norm clip of the weights (0: none)", **NONNEG)
    arch_lr: float = knob(help="Adam learning rate of the architecture parameters", above=0)
    arch_beta1: float = knob(help="Adam beta1 of the architecture parameters", **NONNEG)
    arch_beta2: float = knob(help="Adam beta2 of the architecture parameters", **NONNEG)
    arch_weight_decay: float = knob(help="weight decay of the architecture parameters", **NONNEG)
    arch_init_std: float = knob(help="std of the architecture parameters' initialisation", **NONNEG)
    tau_max: float = knob(help="GDAS start temperature", above=0)
    tau_min: float = knob(help="GDAS final temperature", above=0)
    train_fraction: float = knob(help="fraction of the train half used", fraction=True)
    valid_fraction: float = knob(help="fraction of the valid half used", fraction=True)
    ctrl_lr: float = knob(help="ENAS controller learning rate", above=0)
    ctrl_entropy_weight: float = knob(help="ENAS entropy bonus", **NONNEG)
    ctrl_baseline_decay: float = knob(help="ENAS reward baseline decay", **NONNEG)
    ctrl_grad_clip: float = knob(help="ENAS controller gradient-norm clip", **NONNEG)
    nesterov: bool = knob(help="Nesterov momentum")
    track_running_stats: bool = knob(help="BN keeps running statistics in the supernet")
    # how the supernet is run when it scores candidates and is evaluated: "running" = eval mode,
    # BN with running statistics (the original code); "batch" = batch statistics, as in training
    score_bn: str = knob(help="BN statistics when scoring candidates", choices=("running", "batch"))
    image_size: int | str = knob(
        help="input resolution ('native': the dataset's own)",
        named="native",
        low=4,
        multiple_of=4,
        expect="'native' or a multiple of 4",
    )

    def __post_init__(self) -> None:
        validate_fields(self, "search config")
        if self.tau_min > self.tau_max:
            raise ConfigError(
                f"GDAS temperature schedule inverted: tau_max={self.tau_max} < tau_min={self.tau_min}; "
                "tau anneals from tau_max down to tau_min, so set tau_max >= tau_min."
            )
        if self.eta_min > self.lr:
            raise ConfigError(f"eta_min={self.eta_min} exceeds lr={self.lr}; the cosine schedule decays lr.")


@dataclass(frozen=True)
class SearchPresetInfo:
    """The keys of a search preset file besides its `[common]` and per-method tables."""

    methods: list[str] | None = knob(None, "the methods the preset is written for (None: all registered)")
    description: str = knob("", "one line on what the preset is for")
    seeds: list[int] = knob([], "the seeds a full study at this preset uses")


# ---- the fidelity grid -----------------------------------------------------------------
@dataclass(frozen=True)
class FidelityPoint:
    """One point of the fidelity study: the grid's preset with `fidelity` overrides."""

    name: str = knob(help="the point's name (its runs' `fidelity` label)")
    fidelity: dict[str, Any] = knob({}, help="overrides of the grid's preset (TrainConfig knobs)")
    note: str = knob("", help="one line on what the point tests")


@dataclass(frozen=True)
class FidelityGrid:
    """The fidelity study's grid (`configs/fidelity_grid.toml`): a preset, seeds, the cost
    budget per architecture and the points (`[[point]]` tables)."""

    preset: str = knob(help="the training preset every point overrides")
    seeds: list[int] = knob(help="training seeds of every point")
    budget_core_seconds: float = knob(help="cost limit per architecture (core-seconds)", above=0)
    points: list[FidelityPoint] = knob([], help="the grid's points, in file order")

    def point(self, name: str) -> FidelityPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"no fidelity point {name!r}; the grid has {[p.name for p in self.points]}")


def load_grid(path: str | Path | None = None) -> FidelityGrid:
    """The study's grid: `configs/fidelity_grid.toml` unless a path is given. Every point's
    overrides are checked against `TrainConfig`, so a misspelt knob fails here, not hours in."""
    if path is None:
        path = Path(str(resources.files("nb201") / "configs" / "fidelity_grid.toml"))
    raw = read_toml(path)
    table = {k: v for k, v in raw.items() if k != "point"}
    grid = from_table(FidelityGrid, table, str(path))
    tables = raw.get("point", [])
    points = [from_table(FidelityPoint, p, f"{path} [[point]] {i}") for i, p in enumerate(tables)]
    for p in points:
        for key, value in p.fidelity.items():
            where = f"{path} point {p.name!r}"
            if key not in field_names(TrainConfig):
                raise unknown_key(where, f"fidelity.{key}", field_names(TrainConfig), "unknown knob")
            check_field(TrainConfig, key, value, where)
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ConfigError(f"fidelity grid has duplicate point names: {names}")
    return replace(grid, points=points)


def check_run_identity(spec: Any, names: tuple[str, ...]) -> None:
    """The identity checks every run spec shares (training `RunSpec`, search `SearchSpec`):
    an integer seed and non-empty names, so a bad spec fails before it names a record."""
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int):
        raise ValueError(f"seed must be an integer, got {spec.seed!r}; e.g. 777.")
    for name in names:
        if not isinstance(getattr(spec, name), str) or not getattr(spec, name):
            raise ValueError(f"{name} must be a non-empty string, got {getattr(spec, name)!r}.")
