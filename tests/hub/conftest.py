"""What the hub's tests share: Debian's chromium, one per test module, with no camera."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from serving import launch_chromium  # noqa: E402


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = launch_chromium(playwright, camera_args=())
    yield chromium
    chromium.close()
