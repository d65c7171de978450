"""The proxy table job's work folder: one file per architecture, checked on read.

`<work>/<index>.json` (schema `nb201.proxies/1`; keys `index`, `arch`, `config`, `dataset`,
`values`, `seconds`, `env`) holds one architecture's proxies, as `ProxyTask` writes it. A
file is taken as the result of a task only when its content says so: the same index as its
name and as its arch string, the same configuration and dataset, every requested proxy
present, each value a number (finite, or NaN where a proxy is undefined, e.g. `jacob_cov`
of a cell whose output ignores its input; `params` and `flops` finite and >= 0) and each
timing finite and >= 0. A folder holds one configuration: a job refuses a folder whose files
are of another configuration or dataset (`check_folder`), so a C=4 folder is never read as
a C=5 one. Torch-free, so that checking a folder never imports a training stack.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nb201.space import Arch
from nb201.validation import config_diff

FILE_SCHEMA = "nb201.proxies/1"  # the per-arch files share the table's schema string
COSTS = ("params", "flops")  # closed-form: always finite


class ForeignFolder(ValueError):
    """A work folder holds files of another configuration or dataset (a usage error)."""


class MissingProxies(ValueError):
    """A file of the right architecture and configuration that lacks requested proxies."""

    def __init__(self, missing: Sequence[str]):
        super().__init__(f"it lacks the proxies {list(missing)}")
        self.missing = list(missing)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_identity(record: Any, index: int, config: Mapping[str, Any], dataset: str) -> None:
    """Raise ValueError naming the field unless `record` is a proxy file of arch `index`
    (its name's), computed at `config` on `dataset`."""
    if not isinstance(record, dict) or record.get("schema") != FILE_SCHEMA:
        raise ValueError(f"not a {FILE_SCHEMA} proxy file")
    if type(record.get("index")) is not int or record["index"] != index:
        raise ValueError(f"it holds arch {record.get('index')!r}, not {index} (its file name)")
    arch = Arch.from_string(record.get("arch")) if isinstance(record.get("arch"), str) else None
    if arch is None or arch.index != index:
        raise ValueError(
            f"its arch string {record.get('arch')!r} is arch {arch.index if arch else '?'}, not {index}"
        )
    diff = config_diff(record.get("config"), config)
    if diff:
        got = record.get("config") if isinstance(record.get("config"), dict) else {}
        pairs = ", ".join(f"{k}={got.get(k)!r} (asked {config.get(k)!r})" for k in diff)
        raise ValueError(f"its config differs: {pairs}")
    if record.get("dataset") != dataset:
        raise ValueError(f"its dataset is {record.get('dataset')!r}, not {dataset!r}")


def check_values(record: dict[str, Any], names: Iterable[str]) -> None:
    """Every value and timing the file holds is plausible, and `names` are all there
    (`MissingProxies` naming the absent ones otherwise)."""
    values, seconds = record.get("values"), record.get("seconds")
    if not isinstance(values, dict) or not isinstance(seconds, dict):
        raise ValueError("values or seconds is missing")
    for name, v in values.items():
        if name in COSTS and not (_number(v) and math.isfinite(v) and v >= 0):
            raise ValueError(f"values.{name} is {v!r}; expected a finite number >= 0 (a cost)")
        if not _number(v) or math.isinf(v):
            raise ValueError(f"values.{name} is {v!r}; expected a finite number (or NaN: undefined)")
        s = seconds.get(name)
        if not _number(s) or not math.isfinite(s) or s < 0:
            raise ValueError(f"seconds.{name} is {s!r}; expected a finite number >= 0")
    missing = [n for n in names if n not in values]
    if missing:
        raise MissingProxies(missing)


def check_proxy_file(
    record: Any, index: int, config: Mapping[str, Any], dataset: str, names: Iterable[str]
) -> None:
    """`check_identity` and `check_values`: the file is the result asked for."""
    check_identity(record, index, config, dataset)
    check_values(record, names)


def arch_files(work_dir: str | Path) -> Iterator[tuple[int, Path]]:
    """(index, path) of every per-arch file `<index>.json` of a work folder, by index."""
    found = [(int(p.stem), p) for p in Path(work_dir).glob("*.json") if p.stem.isdigit()]
    yield from sorted(found)


def check_folder(work_dir: str | Path, config: Mapping[str, Any], dataset: str, hint: str = "") -> None:
    """Refuse a work folder that holds files of another configuration or dataset (a job
    must not skip them as done, nor move a whole folder of another job aside). Torn files
    are left to the job, which moves them aside and recomputes them."""
    foreign = []
    for _, path in arch_files(work_dir):
        try:
            record = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        if not isinstance(record, dict):
            continue
        if config_diff(record.get("config"), config) or record.get("dataset") != dataset:
            foreign.append(f"{path.name}: config {record.get('config')}, dataset {record.get('dataset')!r}")
    if foreign:
        raise ForeignFolder(
            f"work folder {work_dir} holds proxies of another configuration or dataset ({len(foreign)} "
            f"files, e.g. {foreign[0]}); this job computes config {dict(config)} on {dataset!r}. "
            f"Give the job its own folder{hint}, or move those files away."
        )
