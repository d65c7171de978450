"""Shared fixtures: where the real data lives, and how absence is handled; the test tiers.

Tests that need `../shared` skip with a reason when it is absent; CI sets
NB201_REQUIRE_SHARED=1 so that absence fails loudly instead of passing silently.

Tiers: `pytest -m "not slow"` (`make test-fast`) runs the units; the `slow` marker is set
here, in one place, on whole files (notebooks under papermill, the Ray cluster, the
committed CPU benchmark, the README run as written), on every test that reads real data
from `../shared`, and on the few tests that kill and restart processes to prove
resumability (each several seconds). The full suite (`make test`, what CI and the README
run) includes them.
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
# the checks of the committed CPU benchmark, the README's and docs' blocks run as written, the
# committed reports opened in a real browser.
SLOW_FILES = (
    "test_notebooks*.py",
    "test_ray.py",
    "test_cifar10_cpu.py",
    "test_readme.py",
    "test_docs_*.py",
    "test_reports_browser.py",  # every committed report in a real browser (about a second each)
)
# Fixtures that hand a test real data from ../shared.
REAL_DATA_FIXTURES = frozenset({"cifar10_jpeg_zip", "calibration_csv", "calibration_csv_200"})


# Tests that kill, race or restart real processes (resume and concurrency guarantees).
SLOW_TESTS = frozenset(
    {
        "test_search_killed_and_resumed_equals_uninterrupted",
        "test_kill_during_aggregation_leaves_old_or_new_store",
        "test_job_killed_mid_run_resumes_with_only_the_missing_archs",
        "test_two_sweeps_at_once_train_each_run_once",
        "test_two_aggregations_at_once_lose_no_run",
        "test_resume_after_kill_gives_exactly_the_uninterrupted_numbers",
        "test_two_processes_never_compute_one_task_twice",
    }
)


def is_slow(filename: str, fixturenames: tuple[str, ...] | list[str], name: str = "") -> bool:
    """The tier rule: in a slow file, using real data, or one of the process-killing tests."""
    return (
        any(fnmatch.fnmatch(filename, pattern) for pattern in SLOW_FILES)
        or bool(REAL_DATA_FIXTURES.intersection(fixturenames))
        or name in SLOW_TESTS
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = {getattr(item, "originalname", item.name) for item in items}
    stale = SLOW_TESTS - names
    if stale and len(items) > 400:  # a whole-suite run: every listed test must still exist
        raise pytest.UsageError(f"conftest.SLOW_TESTS names tests that no longer exist: {sorted(stale)}")
    for item in items:
        if is_slow(
            item.path.name, getattr(item, "fixturenames", ()), getattr(item, "originalname", item.name)
        ):
            item.add_marker(pytest.mark.slow)
