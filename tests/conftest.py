"""Shared fixtures: where the real data lives, and how absence is handled.

Tests that need `../shared` skip with a reason when it is absent; CI sets
NB201_REQUIRE_SHARED=1 so that absence fails loudly instead of passing silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _shared_file(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        msg = f"{path} is absent (real-data test; CI provides ../shared next to the clone)"
        if os.environ.get("NB201_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " and NB201_REQUIRE_SHARED=1")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def cifar10_jpeg_zip() -> Path:
    """The real 60,000-image CIFAR-10 as a class-per-folder zip."""
    return _shared_file("datasets/cifar10-jpeg.zip")


@pytest.fixture(scope="session")
def calibration_csv() -> Path:
    """Full-protocol accuracies of 60 calibration architectures."""
    return _shared_file("calibration/nb201-calibration-60.csv")


@pytest.fixture(scope="session")
def calibration_csv_200() -> Path:
    """Full-protocol accuracies of 200 calibration architectures (its first 60 rows are the 60 set)."""
    return _shared_file("calibration/nb201-calibration-200.csv")
