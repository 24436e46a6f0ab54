"""Fixtures for the browser tests: one real Voilà server for the whole session, one chromium, a fresh tab per test.
The lessons' tests get a JupyterLab server instead (``jupyterlab``, started only when a test asks for it). The
servers and pages these tests drive are in tools/ (serving.py, dashboard_page.py, lab_page.py, and tests/hub's
hubserver.py), shared with the benchmarks and the screenshot tools; pyproject's pytest ``pythonpath`` puts tools/
on sys.path.

The server runs notebooks/dashboard.ipynb from the repository root on a free port of 127.0.0.1, so it reads
./voila.json, and inherits LABKIT_WEIGHTS_DIR (set by the root conftest.py when unset). Its log, and a screenshot of
each failing test's page, go to test-artifacts/. A second server, serving a model exported for the tests, starts
only for the tests that ask for it (``exported_model_server``).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from dashboard_page import DashboardPage
from lab_page import JupyterLabServer, LabPage, start_jupyterlab, stop_jupyterlab
from playwright.sync_api import Error as PlaywrightError
from serving import (
    REPO_ROOT,
    TRAINING_CLASSES,
    TRAINING_PHOTOS,
    export_small_model,
    launch_chromium,
    start_voila,
    stop,
    warm_model_cache,
)

ARTIFACTS = REPO_ROOT / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 1000}
ANOTHER_HOST = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])[a-z]+://")  # not data: or blob: (never routed)


@pytest.fixture(scope="session")
def voila_url() -> str:
    """The URL of the app, served by one Voilà process for the whole session."""
    warm_model_cache()
    process, url = start_voila(ARTIFACTS / "voila.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def trashnet_dir() -> Path:
    """data/trashnet-mini: one folder of photos per class (glass, metal, paper, plastic), in the repository."""
    from labkit.paths import TRASHNET_MINI_DIR

    return TRASHNET_MINI_DIR


@pytest.fixture(scope="session")
def exported_model_server(tmp_path_factory, trashnet_dir) -> tuple[str, Path]:
    """A second Voilà server whose models folder (LABKIT_MODELS_DIR) holds one model fine-tuned on a few
    trashnet-mini photos. Returns its URL and the export folder."""
    training = tmp_path_factory.mktemp("training")
    for name in TRAINING_CLASSES:
        (training / name).mkdir()
        for photo in sorted((trashnet_dir / name).glob("*.jpg"))[:TRAINING_PHOTOS]:
            shutil.copy(photo, training / name)
    export = export_small_model(training, tmp_path_factory.mktemp("models") / "trash-sorter")
    process, url = start_voila(ARTIFACTS / "voila-exported-model.log", env={"LABKIT_MODELS_DIR": str(export.parent)})
    yield url, export
    stop(process)


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
def outside_requests() -> list[str]:
    """The URLs the app's tab asked of any host but this machine: each one was refused, as in an offline classroom
    (the ``dashboard`` fixture blocks them)."""
    return []


@pytest.fixture
def dashboard(context, voila_url, outside_requests) -> DashboardPage:
    """A tab on the app, offline, its model loaded (the status line says "Ready"). The app must need nothing from the
    internet: the test errs if its page asked another host for anything (a font, a stylesheet, a script)."""

    def refuse(route) -> None:
        outside_requests.append(route.request.url)
        route.abort("internetdisconnected")

    context.route(ANOTHER_HOST, refuse)
    yield DashboardPage.open(context, voila_url)
    assert not outside_requests, f"The app asked the internet for {outside_requests}; serve them from the installation."


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report


# --- JupyterLab, for the lessons' tests ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def jupyterlab() -> JupyterLabServer:
    """One JupyterLab for the whole session, serving the repository; stopped (with its kernels) at the end."""
    with tempfile.TemporaryDirectory(prefix="labkit-jupyterlab-") as state:
        server = start_jupyterlab(ARTIFACTS / "jupyterlab.log", Path(state))
        yield server
        stop_jupyterlab(server)


@pytest.fixture
def lab(jupyterlab, context) -> Callable[[str], LabPage]:
    """Open a notebook in a new tab of the test's browser: ``lab("notebooks/03_first_predictions.ipynb")``.

    When the test ends, the kernels it started are shut down, and each notebook it opened must be unchanged on disk
    (the committed lessons are nbval's reference: a test runs them, it never saves them).
    """
    opened: dict[Path, bytes] = {}

    def open_notebook(path: str) -> LabPage:
        opened.setdefault(REPO_ROOT / path, (REPO_ROOT / path).read_bytes())
        return LabPage.open_notebook(context, jupyterlab, path)

    yield open_notebook
    jupyterlab.shut_down_kernels()
    changed = [str(path.relative_to(REPO_ROOT)) for path, content in opened.items() if path.read_bytes() != content]
    assert not changed, f"The browser test saved over {changed}; JupyterLab's autosave should be off (TEST_SETTINGS)."
