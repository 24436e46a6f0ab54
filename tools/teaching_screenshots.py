"""Retake docs/teaching.md's screenshots: a student's Assignment List in JupyterLab, and the teacher's formgrader.

Runs the class's hub on loopback with the repository's config (tests/hub/hubserver.py, as tests/hub/ does), the
teacher releases lesson 02, a student fetches and submits it from the Assignment List (photographed), the teacher
collects and autogrades it, and the formgrader's page of lesson 02's submissions is photographed. In Debian's
chromium, as the browser tests; autograding runs lesson 02 once, so a few minutes.

Usage (from the repository's root): .venv/bin/python tools/teaching_screenshots.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hubserver  # tools/, this script's folder
from playwright.sync_api import sync_playwright
from serving import launch_chromium, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]

LESSON = "02_preprocessing"
STUDENT = "ada"
OUT = REPO_ROOT / "docs" / "teaching"
VIEWPORT = {"width": 1200, "height": 640}
SPAWN_S = 300


def main() -> None:
    warm_model_cache()
    state = Path(tempfile.mkdtemp(prefix="labkit-teaching-screenshots-"))
    hub = hubserver.start_hub(state, log=state / "jupyterhub.log", nbgrader=True)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, camera_args=())
            teacher = browser.new_context(viewport=VIEWPORT)
            hubserver.log_in(teacher, hub, hubserver.TEACHER)
            hubserver.wait_for_server(hub, hubserver.TEACHER, SPAWN_S)
            hubserver.nbgrader_as_teacher(hub, "generate_assignment", LESSON)
            hubserver.nbgrader_as_teacher(hub, "release_assignment", LESSON)

            student = browser.new_context(viewport=VIEWPORT)
            hubserver.log_in(student, hub, STUDENT)
            hubserver.wait_for_server(hub, STUDENT, SPAWN_S)
            page = hubserver.open_assignment_list(student.new_page(), hub, STUDENT)
            hubserver.assignment_row(page, "released", LESSON).get_by_role("button", name="Fetch").click()
            fetched = hubserver.assignment_row(page, "fetched", LESSON)
            fetched.get_by_role("button", name="Submit").click(timeout=hubserver.UI_MS)
            hubserver.assignment_row(page, "submitted", LESSON).wait_for(timeout=hubserver.UI_MS)
            news = page.get_by_role("button", name="No")  # JupyterLab's "notified about Jupyter news?" toast
            if news.count():
                news.first.click()
            page.screenshot(path=OUT / "assignments.png")

            hubserver.nbgrader_as_teacher(hub, "collect", LESSON)
            hubserver.nbgrader_as_teacher(hub, "autograde", LESSON)
            formgrader = teacher.new_page()
            formgrader.goto(f"{hub.url}user/{hubserver.TEACHER}/formgrader/manage_submissions/{LESSON}")
            formgrader.get_by_text(STUDENT).first.wait_for(timeout=hubserver.UI_MS)
            formgrader.screenshot(path=OUT / "formgrader.png")
            browser.close()
    finally:
        hubserver.stop_hub(hub)
        shutil.rmtree(state, ignore_errors=True)
    print(f"wrote {OUT / 'assignments.png'} and {OUT / 'formgrader.png'}")


if __name__ == "__main__":
    main()
