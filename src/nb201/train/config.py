"""Which built-in dataset a split name belongs to (torch-free). The presets and what they
resolve to are `nb201.presets`; the run spec is `nb201.train.spec.RunSpec`."""

from __future__ import annotations

from nb201.data.registry import registered_names
from nb201.names import is_valid_split, split_base


def dataset_for_split(split: str) -> str:
    """The built-in dataset a named split belongs to (`cifar10-valid` -> `cifar10`).

    Datasets registered by name (`nb201.data.registry`) name their splits `<dataset>` or
    `<dataset>-valid`; `folder:` datasets are given as an explicit (dataset, split) pair.
    """
    if is_valid_split(split) and split_base(split) in registered_names():
        return split_base(split)
    return split
