"""Fixtures for the browser tests: one real Voilà server for the whole session, one chromium, a fresh tab per test.

The server runs notebooks/dashboard.ipynb from the repository root on a free port of 127.0.0.1, so it reads
./voila.json, and inherits LABKIT_WEIGHTS_DIR (set by the root conftest.py when unset). Its log, and a screenshot of
each failing test's page, go to test-artifacts/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from dashboard_page import DashboardPage
from serving import REPO_ROOT, launch_chromium, start_voila, stop, warm_model_cache

ARTIFACTS = REPO_ROOT / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 1000}


@pytest.fixture(scope="session")
def voila_url() -> str:
    """The URL of the app, served by one Voilà process for the whole session."""
    warm_model_cache()
    process, url = start_voila(ARTIFACTS / "voila.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's chromium with a fake webcam."""
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser, request):
    """A fresh browser profile; on failure its pages are saved to test-artifacts/ as screenshots."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    for number, page in enumerate(context.pages):
        try:
            if getattr(request.node, "failed", False):
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}-{number}.png")
            page.close(run_before_unload=True)  # so Voilà shuts the tab's kernel down, as when a user leaves
        except PlaywrightError:  # the test closed this tab itself (closing with unload handlers does not wait)
            pass
    context.close()


@pytest.fixture
def dashboard(context, voila_url) -> DashboardPage:
    """A tab on the app, its model loaded (the status line says "Ready")."""
    return DashboardPage.open(context, voila_url)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report
