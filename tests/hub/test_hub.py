"""The class deployment, for real: JupyterHub with configurable-http-proxy and the repository's one-machine config
(deploy/jupyterhub_config.py, with the test-only overrides hubserver.py lists), on loopback, driven by Debian's
chromium. Three students log in at the same moment, each lands on the app through the hub and classifies a photo;
an idle student's server is stopped by jupyterhub-idle-culler; logging in again gets a fresh server that works.

Needs configurable-http-proxy in .hub/ (`make hub-deps`, part of `make test`). A few minutes on 2 busy cores.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import hubserver
import pytest
from classroom import expected_labels, photo_paths
from dashboard_page import DashboardPage
from serving import warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.browser]

STUDENTS = ("ada", "grace", "alan")
CULL_TIMEOUT_S = 45  # idle seconds before the culler stops a server (the real config: an hour)
SPAWN_AND_READY_S = 300  # three servers and their app kernels starting together on 2 shared cores
CULLED_WITHIN_S = CULL_TIMEOUT_S + 120  # timeout, the culler's round, activity reports, stopping the server
APP_PATH = "voila/render/notebooks/dashboard.ipynb"
ARTIFACTS = REPO_ROOT / "test-artifacts"  # the hub's log stays here after the test (its state folder does not)


@pytest.fixture(scope="module")
def hub():
    warm_model_cache()  # the LiteRT conversion once, here, not in three students' kernels at once
    state = Path(tempfile.mkdtemp(prefix="labkit-hub-test-"))  # the hub's state and the students' homes
    running = hubserver.start_hub(state, cull_timeout_s=CULL_TIMEOUT_S, log=ARTIFACTS / "jupyterhub.log")
    yield running
    hubserver.stop_hub(running)
    shutil.rmtree(state, ignore_errors=True)


def classify(page, photo: Path) -> str:
    """Upload ``photo`` through the app's file chooser; return the label on its result card."""
    dashboard = DashboardPage(page)
    dashboard.upload(photo)
    dashboard.wait_for_cards(1)
    return dashboard.best_labels()[0]


def wait_until(condition, seconds: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def test_students_log_in_together_use_the_app_and_an_idle_server_is_culled_then_started_afresh(hub, browser):
    labels = expected_labels()
    photos = photo_paths(len(STUDENTS))

    # Three students log in at the same moment; each lands on the app (the hub's default URL) in their own server.
    contexts = {name: browser.new_context() for name in STUDENTS}
    pages = {name: hubserver.log_in(contexts[name], hub, name) for name in STUDENTS}
    for name, page in pages.items():
        hubserver.wait_until_ready(page, SPAWN_AND_READY_S)
        assert page.url.startswith(f"{hub.url}user/{name}/{APP_PATH}"), page.url
    servers = hub.server_processes()
    assert sorted(servers) == sorted(STUDENTS), "each student should have a single-user server of their own"
    assert len({process.pid for process in servers.values()}) == len(STUDENTS)

    # Each classifies a photo and sees its label, with the class's converted model linked into their own cache
    # by deploy/singleuser-start (a kernel that converted it would have written a file of its own there).
    for (name, page), photo in zip(pages.items(), photos, strict=True):
        assert classify(page, photo) == labels[photo.name], f"{name}'s card for {photo.name}"
        cached = list((hub.state / "home" / name / ".cache" / "labkit" / "litert").iterdir())
        assert cached and all(path.is_symlink() for path in cached), f"{name}'s kernel converted the model itself"

    # Lessons are one click away: JupyterLab in the same server, with the course's notebooks in the home folder.
    lab = contexts[STUDENTS[1]].new_page()
    lab.goto(f"{hub.url}user/{STUDENTS[1]}/lab/tree/notebooks")
    lab.get_by_text("dashboard.ipynb").first.wait_for(timeout=120_000)
    lab.close()

    # The first student leaves; with nothing happening in their server, the culler stops it.
    first = STUDENTS[0]
    culled_process, started = servers[first], hub.server(first)["started"]
    contexts.pop(first).close()
    assert wait_until(lambda: hub.server(first) is None, CULLED_WITHIN_S), (
        f"{first}'s idle server was not culled within {CULLED_WITHIN_S} s; see {hub.log}"
    )
    assert wait_until(lambda: not culled_process.is_running(), 30), "the culled server's process is still running"

    # Logging in again starts a fresh server, and the app works in it.
    again = browser.new_context()
    page = hubserver.log_in(again, hub, first)
    hubserver.wait_until_ready(page, SPAWN_AND_READY_S)
    assert hub.server(first)["started"] != started
    assert hub.server_processes()[first].pid != culled_process.pid
    assert classify(page, photos[0]) == labels[photos[0].name]

    for context in [again, *contexts.values()]:
        context.close()
