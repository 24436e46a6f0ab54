"""The class deployment, for real: JupyterHub with configurable-http-proxy and the repository's one-machine config
(deploy/jupyterhub_config.py, with the test-only overrides hubserver.py lists), on loopback, driven by Debian's
chromium. Each student is a Unix user of their own, as on the real hub (their servers run as them; the repository
is root's and read-only for them). Three students log in at the same moment, each lands on the app through the hub
and classifies a photo. One leaves: jupyterhub-idle-culler stops that idle server. Meanwhile another opens lesson 08
in JupyterLab, trains its trainer briefly on two classes of photos and exports the model, which goes to their home;
in the app they pick that model in the Model menu and it answers. Logging in again after the culling gets a fresh
server that works.

Needs root (useradd; CI and this sandbox are root) and configurable-http-proxy in .hub/ (`make hub-deps`, part of
`make test`). Several minutes: lesson 08 imports TensorFlow, trains and converts its export in the student's kernel.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import hubserver
import pytest
from classroom import expected_labels, photo_paths
from dashboard_page import DashboardPage
from lab_page import LabPage, TrainerPanel
from serving import warm_model_cache

from labkit.export import describe_export
from labkit.lessons.trainer_photos import EXAMPLE_PHOTOS

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.browser]

STUDENTS = ("ada", "grace", "alan")
TRAINER = "grace"  # the student who trains and exports a model in lesson 08
LESSON_08 = "notebooks/08_teach_it_your_own_classes.ipynb"
CLASSES, PHOTOS_PER_CLASS, MODEL = ("glass", "metal"), 6, "hub-sorter"
TRAINING_MS = 600_000  # TensorFlow's import, MobileNetV2's build, 3 short epochs and the LiteRT export
CULL_TIMEOUT_S = 60  # idle seconds before the culler stops a server (the real config: an hour)
SPAWN_AND_READY_S = 300  # three servers and their app kernels starting together on 2 shared cores
CULLED_WITHIN_S = CULL_TIMEOUT_S + 120  # timeout, the culler's round, activity reports, stopping the server
APP_PATH = "voila/render/notebooks/dashboard.ipynb"
ARTIFACTS = REPO_ROOT / "test-artifacts"  # the hub's log stays here after the test (its state folder does not)


@pytest.fixture(scope="module")
def hub():
    warm_model_cache()  # the LiteRT conversion once, here, not in three students' kernels at once
    state = Path(tempfile.mkdtemp(prefix="labkit-hub-test-"))  # the hub's state and the students' homes
    if os.geteuid() != 0:
        pytest.fail("the hub test makes a Unix user per student (useradd): run it as root, as CI does")
    running = hubserver.start_hub(
        state, cull_timeout_s=CULL_TIMEOUT_S, log=ARTIFACTS / "jupyterhub.log", students=STUDENTS
    )
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
    assert {name: process.username() for name, process in servers.items()} == {name: name for name in STUDENTS}

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

    # The first student leaves; with nothing happening in their server, the culler will stop it.
    first = STUDENTS[0]
    culled_process, started = servers[first], hub.server(first)["started"]
    contexts.pop(first).close()

    # Meanwhile another trains lesson 08's trainer in JupyterLab and exports the model: it goes to their home (the
    # repository is not theirs to write), and the app's Model menu lists it there; it answers a photo.
    folder = train_and_export_in_lesson_08(contexts[TRAINER], hub)
    assert folder == hub.state / "home" / TRAINER / "labkit-exports" / MODEL
    assert folder.stat().st_uid == pwd.getpwnam(TRAINER).pw_uid and (folder / "model.tflite").is_file()
    app = pages[TRAINER]
    app.reload()
    hubserver.wait_until_ready(app, SPAWN_AND_READY_S)
    dashboard = DashboardPage(app)
    dashboard.choose_model(describe_export(folder), ready_text=f"Ready: {MODEL} ({', '.join(CLASSES)})")
    unseen = sorted((EXAMPLE_PHOTOS / "glass").glob("*.jpg"))[PHOTOS_PER_CLASS]  # not one it was trained on
    dashboard.upload(unseen)
    dashboard.wait_for_cards(1)
    card = dashboard.results.first
    assert card.locator(".labkit-answered-by").inner_text() == MODEL
    assert card.locator(".labkit-best-label").inner_text() in CLASSES

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


def train_and_export_in_lesson_08(context, hub) -> Path:
    """As the trainer student: open lesson 08 in JupyterLab through the hub, run its configuration cell and the
    empty trainer's, add two classes of a few photos, train briefly and export; return the export's folder."""
    page = context.new_page()
    page.goto(f"{hub.url}user/{TRAINER}/lab/tree/{LESSON_08}", wait_until="commit")
    lesson = LabPage(page)
    page.get_by_text("| Idle").first.wait_for(timeout=SPAWN_AND_READY_S * 1000)  # the status bar: kernel connected
    lesson.wait_until_idle()
    lesson.run_cell("# Configuration")
    lesson.run_cell("yours = trainer()")
    trainer = TrainerPanel(lesson, TRAINING_MS)
    for material in CLASSES:
        trainer.add_class(material, sorted((EXAMPLE_PHOTOS / material).glob("*.jpg"))[:PHOTOS_PER_CLASS])
    trainer.train(head_epochs=3, fine_tune_epochs=0, classes=", ".join(CLASSES))
    message = trainer.export(MODEL)
    assert f"Exported to labkit-exports/{MODEL}" in message, message
    assert lesson.errors() == []
    page.close()
    return hub.state / "home" / TRAINER / "labkit-exports" / MODEL
