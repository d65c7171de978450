"""Shared fixtures: where the real data lives, and how absence is handled; the test tiers.

Tests that need `../shared` skip with a reason when it is absent; CI sets
NB201_REQUIRE_SHARED=1 so that absence fails loudly instead of passing silently.

Tiers: `pytest -m "not slow"` (`make test-fast`) runs the units; the `slow` marker is set
here, in one place, on whole files (notebooks under papermill, the Ray cluster, the
committed CPU benchmark) and on every test that reads real data from `../shared`. The full
suite (`make test`, what CI and the README run) includes them.
"""

from __future__ import annotations

import fnmatch
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


@pytest.fixture
def one_thread():
    """Small networks gain nothing from threads on a shared 2-core machine: modules of them
    use this (`pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


# Files whose every test is slow: notebooks executed under papermill, a real Ray cluster,
# the checks of the committed CPU benchmark.
SLOW_FILES = ("test_notebooks*.py", "test_ray.py", "test_cifar10_cpu.py")
# Fixtures that hand a test real data from ../shared.
REAL_DATA_FIXTURES = frozenset({"cifar10_jpeg_zip", "calibration_csv", "calibration_csv_200"})


def is_slow(filename: str, fixturenames: tuple[str, ...] | list[str]) -> bool:
    """The tier rule: in a slow file, or using real data."""
    return any(fnmatch.fnmatch(filename, pattern) for pattern in SLOW_FILES) or bool(
        REAL_DATA_FIXTURES.intersection(fixturenames)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item.path.name, getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
