"""The teacher's loop with nbgrader on the class's hub, for real: JupyterHub on loopback with the repository's
config (deploy/jupyterhub_config.py, deploy/nbgrader/, deploy/singleuser-start; hubserver.py's test overrides), and
Debian's chromium for the students.

The teacher releases lesson 02 from the course singleuser-start made in their home; two students open JupyterLab's
Assignments list and fetch it; the first solves exercise 1 (the notebook as their editor would save it), both submit
from the list; the teacher collects, autogrades, and returns feedback; the scores are 1 and 0 out of 3, and the
first student fetches the feedback and reads it in the browser.

The teacher's steps are the commands docs/teaching.md gives for a terminal in the teacher's JupyterLab, run with
the teacher's settings (the formgrader's buttons run the same). As on the hub of deploy/, the teacher and each
student are Unix users of their own (hubserver.py makes them; the test needs root, as CI runs): the students'
submissions, the teacher's collecting and the feedback cross the shared exchange folder between different users,
which is where file permissions go wrong. Autograding runs lesson 02 twice: several minutes on 2 busy cores.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import hubserver
import pytest
from hubserver import TEACHER, UI_MS, assignment_row, home, nbgrader_as_teacher, open_assignment_list
from serving import warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.browser]

LESSON = "02_preprocessing"
SOLVER, IDLER = "ada", "grace"
EXERCISES = 3  # lesson 02's exercises, a point each
SPAWN_S = 300
ARTIFACTS = REPO_ROOT / "test-artifacts"
SOLUTION_STUB = "pass  # YOUR CODE HERE"
MY_SCALING = "    return pixels / 127.5 - 1"


@pytest.fixture(scope="module")
def hub():
    warm_model_cache()
    state = Path(tempfile.mkdtemp(prefix="labkit-nbgrader-hub-"))
    if os.geteuid() != 0:
        pytest.fail("the nbgrader hub test makes a Unix user for the teacher and each student: run it as root")
    running = hubserver.start_hub(
        state, log=ARTIFACTS / "jupyterhub-nbgrader.log", nbgrader=True, students=(TEACHER, SOLVER, IDLER)
    )
    yield running
    hubserver.stop_hub(running)
    shutil.rmtree(state, ignore_errors=True)


def solve_exercise_1(path: Path) -> None:
    """Write exercise 1's answer into the fetched notebook, as the student's editor would save it."""
    notebook = json.loads(path.read_text())
    cell = next(cell for cell in notebook["cells"] if cell.get("id") == "lesson02-q1-answer")
    source = "".join(cell["source"])
    assert SOLUTION_STUB in source
    cell["source"] = source.replace(SOLUTION_STUB, MY_SCALING.strip()).splitlines(True)
    owner = path.stat()
    path.write_text(json.dumps(notebook, indent=1))
    os.chown(path, owner.st_uid, owner.st_gid)  # still the student's file, as their editor leaves it


def test_the_teacher_releases_lesson_02_students_fetch_and_submit_and_get_graded_feedback(hub, browser):
    from nbgrader.api import Gradebook

    # The teacher's server: singleuser-start puts the course in their home, with the lessons as its sources.
    teacher = browser.new_context()
    hubserver.log_in(teacher, hub, TEACHER)
    hubserver.wait_for_server(hub, TEACHER, SPAWN_S)
    assert (home(hub, TEACHER) / "course" / "source" / LESSON / f"{LESSON}.ipynb").exists()
    nbgrader_as_teacher(hub, "generate_assignment", LESSON)
    nbgrader_as_teacher(hub, "release_assignment", LESSON)

    # Two students open the Assignments list in JupyterLab and fetch lesson 02.
    contexts = {name: browser.new_context() for name in (SOLVER, IDLER)}
    for name, context in contexts.items():
        hubserver.log_in(context, hub, name)
    pages = {}
    for name, context in contexts.items():
        hubserver.wait_for_server(hub, name, SPAWN_S)
        pages[name] = open_assignment_list(context.new_page(), hub, name)
        assignment_row(pages[name], "released", LESSON).get_by_role("button", name="Fetch").click(timeout=UI_MS)
        assignment_row(pages[name], "fetched", LESSON).wait_for(timeout=UI_MS)
        assert (home(hub, name) / LESSON / f"{LESSON}.ipynb").exists()
    assert sorted(hub.server_processes()) == sorted([TEACHER, SOLVER, IDLER])

    # The first solves exercise 1; both submit from the list.
    solve_exercise_1(home(hub, SOLVER) / LESSON / f"{LESSON}.ipynb")
    for page in pages.values():
        assignment_row(page, "fetched", LESSON).get_by_role("button", name="Submit").click(timeout=UI_MS)
        assignment_row(page, "submitted", LESSON).wait_for(timeout=UI_MS)
    inbound = sorted(path.name.split("+")[0] for path in (hub.exchange / "labkit" / "inbound").iterdir())
    assert inbound == sorted([SOLVER, IDLER]), inbound

    # The teacher collects, autogrades and returns feedback.
    nbgrader_as_teacher(hub, "collect", LESSON)
    nbgrader_as_teacher(hub, "autograde", LESSON)
    nbgrader_as_teacher(hub, "generate_feedback", LESSON)
    nbgrader_as_teacher(hub, "release_feedback", LESSON)
    with Gradebook(f"sqlite:///{home(hub, TEACHER) / 'course' / 'gradebook.db'}", "labkit") as gradebook:
        scores = {name: gradebook.find_submission(LESSON, name).score for name in (SOLVER, IDLER)}
        assert gradebook.find_submission(LESSON, SOLVER).max_score == EXERCISES
    assert scores == {SOLVER: 1, IDLER: 0}, scores

    # The first student fetches the feedback from the list and reads it in the browser.
    page = open_assignment_list(pages[SOLVER], hub, SOLVER)
    assignment_row(page, "submitted", LESSON).get_by_role("button", name="Fetch Feedback").click(timeout=UI_MS)
    feedback_files = []
    for _ in range(60):
        feedback_files = list((home(hub, SOLVER) / LESSON / "feedback").glob(f"*/{LESSON}.html"))
        if feedback_files:
            break
        page.wait_for_timeout(1000)
    assert len(feedback_files) == 1, "no feedback fetched"
    relative = feedback_files[0].relative_to(home(hub, SOLVER))
    page.goto(f"{hub.url}user/{SOLVER}/files/{relative}", wait_until="domcontentloaded")
    text = page.locator("body").inner_text(timeout=UI_MS)
    assert f"Score: 1.0 / {EXERCISES:.1f}" in text or f"1.0 / {EXERCISES:.1f}" in text, text[:500]
    assert "Correct!" in text and "Not done yet" in text

    for context in [teacher, *contexts.values()]:
        context.close()
