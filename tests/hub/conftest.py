"""What the hub's tests share: Debian's chromium, one per test module, with no camera."""

from __future__ import annotations

import pytest
from serving import launch_chromium


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = launch_chromium(playwright, camera_args=())
    yield chromium
    chromium.close()
