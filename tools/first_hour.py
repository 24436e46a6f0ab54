"""A student's first hour, walked again: `make lab` in a checkout, the eight lessons run top to bottom in
JupyterLab (Debian's chromium), then `make app` as a teacher; what a newcomer sees, with screenshots.

The walk is the one docs/try-it/README.md reports. It starts the servers with the Makefile itself (``make lab`` and
``make app``, on free ports, with ``-o`` so that Make does not reinstall the environment), in an environment
stripped of CI's settings: no ``TF_CPP_MIN_LOG_LEVEL``, no ``LABKIT_WEIGHTS_DIR`` (labkit builds MobileNetV2's
weights from the model in the repository, as on a student's machine) and an empty labkit cache. It keeps
``LABKIT_DATA_DIR`` when set: the folder ``labkit fetch`` fills on a machine with internet.

For each lesson of ``practice/`` (the student's copies ``make lab`` opens) it runs every cell, then counts the red
boxes (outputs on stderr) and tracebacks, times the run, and saves the lesson's "Try it" widget as
``docs/try-it/walk-NN.png``; then it opens the app, picks a sample photo, and saves the page with its answer as
``docs/try-it/walk-app.png``. It prints one line per step.

    .venv/bin/python tools/first_hour.py            # the walk, from this checkout (use a fresh clone)
    .venv/bin/python tools/first_hour.py 01 03      # some lessons only
    .venv/bin/python tools/first_hour.py app        # the app only
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from dashboard_page import DashboardPage
from lab_page import JupyterLabServer, LabPage, write_test_settings
from playwright.sync_api import sync_playwright
from serving import READY_TEXT, free_port, launch_chromium, wait_for_server

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "docs" / "try-it"
VIEWPORT = {"width": 1280, "height": 1000}
LESSON_MS = 1_800_000  # lesson 08 trains a model; the first lesson also builds the weights, on 2 slow cores
STAMP = ".venv/.installed-run"  # the Makefile's: `make -o` keeps Make from reinstalling into a shared .venv
CI_ONLY = ("TF_CPP_MIN_LOG_LEVEL", "CI", "LABKIT_WEIGHTS_DIR", "LABKIT_CACHE_DIR", "LABKIT_MODELS_DIR")
APP_PHOTO = "pizza"  # a gallery photo the teacher clicks
STOP_GRACE_S = 2  # after make has stopped: time for the server it started to shut its kernels down
ARRIVAL_MS = 1000  # a new result card fades in (0.25 s): the screenshot waits until it has


def student_environment(cache: Path) -> dict[str, str]:
    """This process's environment without CI's settings, with an empty labkit cache."""
    environment = {name: value for name, value in os.environ.items() if name not in CI_ONLY}
    environment["LABKIT_CACHE_DIR"] = str(cache)
    return environment


def make(target: str, log: Path, environment: dict[str, str], *variables: str) -> subprocess.Popen:
    """Start ``make TARGET`` in the checkout, its output in ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        return subprocess.Popen(
            ["make", "-o", STAMP, target, *variables],
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )


def start_lab(state: Path, environment: dict[str, str]) -> JupyterLabServer:
    """``make lab`` on a free loopback port, with a known token and its own workspace and settings."""
    port, token = free_port(), secrets.token_hex(16)
    write_test_settings(state / "settings")  # no "news" pop-up over the lessons
    arguments = (
        f"--no-browser --IdentityProvider.token={token} --LabApp.workspaces_dir={state / 'workspaces'} "
        f"--LabApp.user_settings_dir={state / 'settings'}"
    )
    log = REPO_ROOT / "test-artifacts" / "first-hour-lab.log"
    process = make("lab", log, environment, f"LAB_PORT={port}", f"LAB_ARGS={arguments}")
    server = JupyterLabServer(f"http://127.0.0.1:{port}/", token, process, log)
    wait_for_server(
        process,
        lambda: server.api("api/status"),
        "make lab",
        seconds=600,
        poll_s=0.5,
        log=log,
        stop_server=lambda: stop(process),
    )
    return server


def walk_lessons(context, server: JupyterLabServer, numbers: list[str]) -> None:
    """Run each practice lesson in JupyterLab; print a line per lesson, and the text of each red box."""
    for lesson in sorted((REPO_ROOT / "practice").glob("0*.ipynb")):
        if numbers and lesson.name[:2] not in numbers:
            continue
        start = time.monotonic()
        page = LabPage.open_notebook(context, server, f"practice/{lesson.name}")
        page.run_all_and_wait(timeout_ms=LESSON_MS)
        seconds = time.monotonic() - start
        red = page.notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        widget = page.notebook.locator(".labkit-try-it").first
        shot = page.screenshot(widget, OUT / f"walk-{lesson.name[:2]}.png") if widget.count() else None
        print(
            f"{lesson.name}: ran in {seconds:.0f} s; red boxes {red.count()}, tracebacks {len(page.errors())}; "
            f"widget {shot.relative_to(REPO_ROOT) if shot else 'none'}",
            flush=True,
        )
        for text in red.all_inner_texts():
            print(f"  in red: {' '.join(text.split())[:300]}", flush=True)
        page.page.close()
        server.shut_down_kernels()


def walk_app(context, environment: dict[str, str]) -> None:
    """``make app`` as a teacher, a sample photo picked in the gallery; print one line."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = REPO_ROOT / "test-artifacts" / "first-hour-app.log"
    process = make("app", log, environment, f"PORT={port}", "VOILA_ARGS=--no-browser --Voila.ip=127.0.0.1")
    try:
        start = time.monotonic()
        # `make app` first makes the model ready, then starts Voilà
        wait_for_server(
            process,
            lambda: urllib.request.urlopen(url, timeout=30).close(),
            "make app",
            seconds=600,
            poll_s=1,
            log=log,
            stop_server=lambda: None,  # stopped below
        )
        page = context.new_page()
        page.goto(url, wait_until="commit")
        dashboard = DashboardPage(page)
        dashboard.wait_until_ready()
        ready_s = time.monotonic() - start
        dashboard.click_sample(APP_PHOTO)
        dashboard.wait_for_cards(1)
        page.wait_for_timeout(ARRIVAL_MS)
        page.screenshot(path=str(OUT / "walk-app.png"), full_page=False)
        card = [line.strip() for line in dashboard.results.first.inner_text().splitlines() if line.strip()]
        line = f"make app: '{READY_TEXT}' {ready_s:.0f} s after the command; {APP_PHOTO} -> {' / '.join(card[:4])}"
        print(line, flush=True)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a ``make`` and the server it started: SIGTERM to the whole process group, then, once make has gone and
    a grace period after it, SIGKILL to whatever is left of the group (the server and its kernels outlive make)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(STOP_GRACE_S)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is gone already


def main(numbers: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-first-hour-") as folder:
        state = Path(folder)
        environment = student_environment(state / "cache")
        server = start_lab(state, environment)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, ())
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                lessons = [number for number in numbers if number != "app"]
                if lessons or not numbers:
                    walk_lessons(context, server, lessons)
                if "app" in numbers or not numbers:
                    walk_app(context, environment)
                browser.close()
        finally:
            stop(server.process)


if __name__ == "__main__":
    main(sys.argv[1:])
