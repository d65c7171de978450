"""The training run spec: one run, resolved once, as a task of the kernel (`nb201.train.task`).

A `RunSpec` is built from names (preset, dataset, split, seed, fidelity overrides) and
resolves them once, when it is built: it keeps its frozen, validated `TrainConfig`, its arch
as an `Arch` and its `run_id` (the hash of everything that changes the numbers). Engines
ship it pickled, so a Ray worker trains exactly what the driver resolved, and nothing
resolves the preset again. Its result is the run record `<run_id>.json` (`nb201.train.records`),
checked on read against this spec: the same run id, arch, dataset, split, preset, seed and
resolved config, plus everything `nb201.validation.validate_record` checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nb201 import presets
from nb201.config import TrainConfig, check_run_identity
from nb201.space import Arch
from nb201.train import records, run
from nb201.train.outcome import RunOutcome
from nb201.util import content_hash
from nb201.validation import config_diff, validate_record


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run; picklable, so any engine can ship it.

    `arch` accepts an `Arch`, its string or its index and is kept as an `Arch`. `config`
    (the resolved `TrainConfig`) and `run_id` are computed once, at construction.
    `data_root` (where to find the data) and `save_weights` (whether to keep the trained
    weights) do not change the numbers, so they are not part of the run id.
    """

    arch: Arch
    dataset: str
    split: str
    preset: str
    seed: int
    fidelity: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    save_weights: bool = False
    config: TrainConfig = field(init=False, repr=False, compare=False)
    run_id: str = field(init=False, repr=False, compare=False)

    kind: ClassVar[str] = "training run"

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", Arch.coerce(self.arch))
        check_run_identity(self, ("dataset", "split", "preset"))
        object.__setattr__(self, "fidelity", dict(self.fidelity or {}))
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(self.data_root))
        object.__setattr__(self, "config", presets.resolve_train_config(self.preset, self.fidelity))
        object.__setattr__(self, "run_id", content_hash(self.identity(), 24))

    def __hash__(self) -> int:  # fidelity is a dict; hash by identity of the run instead
        return hash(self.run_id)

    def _named(self) -> dict[str, Any]:
        return {
            "arch": str(self.arch),
            "dataset": self.dataset,
            "split": self.split,
            "preset": self.preset,
            "seed": self.seed,
        }

    def config_dict(self) -> dict[str, Any]:
        """The resolved config as records store it (a dict in `KNOBS` order)."""
        return asdict(self.config)

    def identity(self) -> dict[str, Any]:
        """What the run id hashes: everything that can change the numbers."""
        return {**self._named(), "config": self.config_dict()}

    def to_record(self) -> dict[str, Any]:
        """The record's `spec` field."""
        return {**self._named(), "fidelity": dict(self.fidelity)}

    # ---- the task contract (nb201.train.task) ------------------------------------------
    def result_path(self, out_dir: str | Path) -> Path:
        return records.record_path(out_dir, self.run_id)

    def check_result(self, record: dict[str, Any]) -> None:
        """A valid `nb201.run/1` record of this very run (see the module doc)."""
        validate_record(record)
        if record["run_id"] != self.run_id:
            raise ValueError(f"it holds run {record['run_id']!r}, not {self.run_id!r}")
        for key, want in self._named().items():
            if record["spec"].get(key) != want:
                raise ValueError(f"its spec.{key} is {record['spec'].get(key)!r}, not {want!r}")
        diff = config_diff(record.get("config"), self.config_dict())
        if diff:
            raise ValueError(f"its config differs from this run's in {diff}")

    def compute(self, out_dir: Path, num_threads: int | None, device: str | None) -> RunOutcome:
        return run.train_locked(self, out_dir, num_threads, device)

    def finished(self, record: dict[str, Any], path: Path) -> RunOutcome:
        failure = record.get("failure")
        reason = None if not failure else f"epoch {failure.get('epoch')}: {failure.get('reason')}"
        return RunOutcome(self.run_id, record["status"], reason, 0.0, str(path))
