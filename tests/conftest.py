"""Fixtures shared by the tests: the repository, and the 60 labelled photos read from ../shared at run time.

Environment defaults (LABKIT_WEIGHTS_DIR, TF_CPP_MIN_LOG_LEVEL) and nbval settings live in the root conftest.py,
so they reach the notebooks as well.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's top folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """../shared/samples: 60 real ImageNet photos and their labels.csv (never copied into git; labkit never reads
    them, the tests compare against them). ``$LABKIT_SHARED_DIR`` moves the shared folder."""
    folder = Path(os.environ.get("LABKIT_SHARED_DIR", REPO_ROOT.parent / "shared")) / "samples"
    if not (folder / "labels.csv").is_file():
        pytest.fail(
            f"The shared sample photos are missing: no {folder / 'labels.csv'}. "
            "Check out labkit beside the course's shared/ folder, or set LABKIT_SHARED_DIR to it."
        )
    return folder


@pytest.fixture(scope="session")
def sample_labels(samples_dir: Path) -> list[dict]:
    """Rows of samples/labels.csv as dicts: file, wnid, label (str) and class_index (int, Keras' 0..999)."""
    with open(samples_dir / "labels.csv", newline="", encoding="utf-8") as handle:
        return [{**row, "class_index": int(row["class_index"])} for row in csv.DictReader(handle)]


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole run, shared by tests/browser and tests/hub: its sync API refuses a second
    driver while one is running in the same thread (a module-level second one made the hub test error in CI)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running
