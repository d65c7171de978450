"""Search records (`nb201.search/1`) checked on read: what makes one trustworthy.

Notebook 06 joins a search's derived architecture to benchmark accuracies by `arch_index`,
so a record whose index disagrees with its arch string, or a record of another search
saved under this one's name, would report another architecture's accuracy. Every reader
checks a record here first: on its own (`check_search_record(record)`), and, when a search
asks for its own record, against the spec that asks (`check_search_record(record, spec)`).
Torch-free.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nb201.space import Arch
from nb201.validation import check_epochs, config_diff

if TYPE_CHECKING:
    from nb201.wsnas.config import SearchSpec

SEARCH_SCHEMA = "nb201.search/1"


def _check_arch(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{where}: arch is {value!r}, not an arch string")
    Arch.from_string(value)


def _check_index(value: Any, where: str) -> None:
    if type(value) is not int:
        raise ValueError(f"{where}: arch_index is {value!r}, not an integer")


def _check_distribution(value: Any, where: str) -> None:
    """The 6x5 operation probabilities per edge: finite numbers."""
    rows = value if isinstance(value, list) else None
    if not rows or not all(isinstance(r, list) and r for r in rows):
        raise ValueError(f"{where}: distribution is not a table (list of lists) of numbers")
    for r in rows:
        for v in r:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{where}: distribution holds {v!r}, not a finite number")


_OTHERS = {"arch": _check_arch, "arch_index": _check_index, "distribution": _check_distribution}


def check_search_rows(epochs: Any) -> None:
    """Epoch rows of a search (a record's or a checkpoint's): numbered in order, finite
    numbers in range, and each row's derived `arch` string equal to its `arch_index`."""
    check_epochs(epochs, _OTHERS)
    for row in epochs:
        if "arch" not in row or "arch_index" not in row:
            raise ValueError(f"epoch {row['epoch']} has no derived arch and arch_index")
        if Arch.from_string(row["arch"]).index != row["arch_index"]:
            raise ValueError(
                f"epoch {row['epoch']}: arch_index {row.get('arch_index')!r} does not match arch "
                f"{row['arch']} ({Arch.from_string(row['arch']).index})"
            )


def _check_own(record: Any) -> None:
    """Everything a search record must be, whichever search asks."""
    if not isinstance(record, dict) or record.get("schema") != SEARCH_SCHEMA:
        raise ValueError(f"not a {SEARCH_SCHEMA} search record")
    if not isinstance(record.get("run_id"), str) or not record["run_id"]:
        raise ValueError("run_id is missing or not a string")
    if record.get("status") != "ok":
        raise ValueError(f"status is {record.get('status')!r}, not 'ok'")
    spec, config = record.get("spec"), record.get("config")
    if not isinstance(spec, dict) or not isinstance(config, dict):
        raise ValueError("spec or config is missing")
    epochs = record.get("epochs")
    check_search_rows(epochs)
    if not epochs or ("epochs" in config and len(epochs) != config["epochs"]):
        raise ValueError(f"{len(epochs)} of {config.get('epochs')} epochs recorded")
    final, last = record.get("final"), epochs[-1]
    if not isinstance(final, dict) or (final.get("arch"), final.get("arch_index")) != (
        last.get("arch"),
        last.get("arch_index"),
    ):
        raise ValueError(
            f"final {final!r} is not the last epoch's arch {last.get('arch')} ({last.get('arch_index')})"
        )
    for key in ("wall_time", "cpu_time"):
        v = record.get(key)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
        ):
            raise ValueError(f"{key} is {v!r}; expected a finite number >= 0 or null")


def check_search_record(record: Any, spec: SearchSpec | None = None) -> None:
    """Raise ValueError saying what is wrong unless `record` is a complete, plausible
    search record, and, with `spec`, the record of exactly that search (run id, method,
    dataset, split, preset, seed and resolved config)."""
    _check_own(record)
    if spec is None:
        return
    if record["run_id"] != spec.run_id:
        raise ValueError(f"it holds search {record['run_id']!r}, not {spec.run_id!r}")
    for key, want in spec.to_record().items():
        if key != "overrides" and record["spec"].get(key) != want:
            raise ValueError(f"its spec.{key} is {record['spec'].get(key)!r}, not {want!r}")
    diff = config_diff(record["config"], spec.config_dict())
    if diff:
        raise ValueError(f"its config differs from this search's in {diff}")
