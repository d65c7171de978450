"""What the notebooks' parameters must name, and the checks across knobs, before anything runs.

The parameter dataclasses (`nb201.pipeline.profiles`) declare each knob's type and rules;
`nb201.config.check_field` applies them, including the tables of another config's knobs
(`of=TrainConfig`) and the names a knob must be one of (`known=`, the registries below).
What one knob cannot say alone is checked here, once per notebook, on the parameters it
will run with: a fidelity table against its preset as a whole, weight-sharing overrides
against every method's preset, an algorithm's settings against its signature, grid points
against the grid, engine options against the engine. Each check calls the same public
loader the notebook calls, so the pre-check and the notebook cannot disagree; an error
names the notebook, the knob and what is allowed, in one line (CLI exit code 2).

The registries are imported when a value is checked: the training and weight-sharing
loaders import torch, which only a pipeline that reaches these knobs needs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nb201.config import ConfigError, load_grid, unknown_key


# ---- the registries the `known=` rules read ---------------------------------------------
def train_preset_names() -> list[str]:
    """The shipped training presets (`configs/presets/*.toml`)."""
    from nb201.train import preset_names

    return preset_names()


def ws_method_names() -> list[str]:
    """The registered weight-sharing methods (`nb201.wsnas.register_method`)."""
    from nb201.wsnas import chosen_methods

    return chosen_methods(None)


def algorithm_names() -> list[str]:
    """The registered multi-trial algorithms (`nb201.search.ALGORITHMS`)."""
    from nb201.search import ALGORITHMS

    return sorted(ALGORITHMS)


# ---- checks across knobs ----------------------------------------------------------------
@contextmanager
def _about(where: str, label: str) -> Iterator[None]:
    """A loader's error (ValueError, KeyError, TypeError, a missing file) as one ConfigError
    line that says which notebook knob it is about."""
    try:
        yield
    except (ValueError, KeyError, TypeError, OSError) as err:
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
        raise ConfigError(f"{where}: {label}: {text}") from err


def _engine_options(engine: str, options: dict[str, Any], where: str, label: str) -> None:
    """The options are keyword arguments of the engine's constructor."""
    if engine == "ray":
        from nb201.train.ray_engine import RayEngine as cls
    else:
        from nb201.train import LocalEngine as cls
    known = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    for key in options:
        if key not in known:
            raise unknown_key(where, f"{label}.{key}", known, f"not an option of the {engine} engine")


def _train(s: Any, where: str) -> None:
    from nb201.train import resolve_config

    with _about(where, "01_train.fidelity"):
        resolve_config(s.preset, s.fidelity)
    _engine_options(s.engine, s.engine_options, where, "01_train.engine_options")


def _search(s: Any, where: str) -> None:
    from nb201.search.experiment import checked_algorithms

    with _about(where, "04_search.settings"):
        checked_algorithms(s.algorithms, s.settings)


def _fidelity(s: Any, where: str) -> None:
    from nb201.train import resolve_config

    with _about(where, "05_fidelity.grid"):
        grid = load_grid(s.grid)
        for point in grid.points:
            resolve_config(grid.preset, point.fidelity)
    names = [p.name for p in grid.points]
    for name in s.points or []:
        if name not in names:
            raise unknown_key(where, f"05_fidelity.points: {name!r}", names, "not a point of the grid")


def _weight_sharing(s: Any, where: str) -> None:
    from nb201.train import resolve_config
    from nb201.wsnas import chosen_methods, load_search_preset, resolve_search_config

    with _about(where, "06_weight_sharing.methods"):
        methods = chosen_methods(s.methods)  # None: every registered method
    with _about(where, "06_weight_sharing.preset"):
        load_search_preset(s.preset)
        for method in methods:  # the preset must be written for every method asked for
            resolve_search_config(method, s.preset)
    with _about(where, "06_weight_sharing.overrides"):
        for method in methods:
            resolve_search_config(method, s.preset, s.overrides)
    with _about(where, "06_weight_sharing.bench_fidelity"):
        resolve_config(s.bench_preset, s.bench_fidelity)
    _engine_options(s.engine, s.engine_options, where, "06_weight_sharing.engine_options")


def _ranking(s: Any, where: str) -> None:
    from nb201.train import resolve_config

    with _about(where, "07_ranking.fidelity"):
        resolve_config(s.preset, s.fidelity)


CHECKS: dict[str, Callable[[Any, str], None]] = {
    "01_train": _train,
    "04_search": _search,
    "05_fidelity": _fidelity,
    "06_weight_sharing": _weight_sharing,
    "07_ranking": _ranking,
}


def check_notebook(notebook: str, settings: Any, where: str) -> None:
    """The checks across knobs of `notebook` run with typed `settings` (each knob already
    checked alone); ConfigError "<where>: <notebook>.<knob>: <what is wrong and allowed>"."""
    check = CHECKS.get(notebook)
    if check is not None:
        check(settings, where)
