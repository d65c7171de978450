"""Training: the paper's protocol, resumable run records, and sweeps over many runs.

from nb201.train import sweep, RunSpec, run_one, load_preset
summary = sweep(nb201.space.sample(30, seed=0), "digits", "digits-cheap", seeds=[777], out_dir="runs")
print(summary)
"""

from nb201.presets import KNOBS, load_preset, preset_names, resolve_config
from nb201.train.config import dataset_for_split
from nb201.train.engine import Engine, LocalEngine
from nb201.train.outcome import RunOutcome, is_expected_failure
from nb201.train.records import (
    SCHEMA,
    checkpoint_path,
    load_records,
    read_record,
    record_path,
    select_records,
)
from nb201.train.run import arch_cost, run_one
from nb201.train.spec import RunSpec
from nb201.train.sweep import SweepSummary, share_record, sweep

__all__ = [
    "KNOBS",
    "SCHEMA",
    "Engine",
    "LocalEngine",
    "RunOutcome",
    "RunSpec",
    "SweepSummary",
    "arch_cost",
    "checkpoint_path",
    "dataset_for_split",
    "is_expected_failure",
    "load_preset",
    "load_records",
    "preset_names",
    "read_record",
    "record_path",
    "resolve_config",
    "select_records",
    "run_one",
    "share_record",
    "sweep",
]
