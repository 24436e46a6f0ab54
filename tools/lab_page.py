"""JupyterLab for the browser tests: one real server for the session (the ``jupyterlab`` fixture), and the few steps a
student takes in it, as Playwright helpers (:class:`LabPage`). Not a test module: conftest.py registers the fixture.

The server is started as ``make lab`` starts it: loopback only (a free port here), a token, ``--allow-root`` when
run as root, the repository as its root folder, no browser. Unlike ``make lab`` it keeps its workspaces and user
settings in a temporary folder, so no tab a developer left open is reopened and no news pop-up covers the page.
Its kernels inherit the environment (``LABKIT_WEIGHTS_DIR``, ``PYTHONPATH``), so they import the checkout's labkit.
Its log goes to ``test-artifacts/jupyterlab.log``.

(This file's name shadows the ``jupyterlab`` package inside the test process only; the server itself runs in its own
process from the repository root, where the real package is the one imported.)

Example::

    def test_lesson_runs(lab):
        lesson = lab("notebooks/03_first_predictions.ipynb")   # a new tab; its kernel is shut down afterwards
        lesson.run_all_and_wait()
        assert lesson.errors() == []
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from playwright.sync_api import BrowserContext, Locator, Page, expect
from serving import REPO_ROOT, free_port, wait_for_server, wait_or_kill

SERVER_START_S = 90  # a cold start on a busy 2-core machine (extensions, the kernel specs); normally ~5 s
NOTEBOOK_OPEN_MS = 120_000
KERNEL_IDLE_MS = 300_000  # a whole lesson: importing TensorFlow, Grad-CAM, a few dozen photos
ARTIFACTS = REPO_ROOT / "test-artifacts"
# User settings written for the test server: no "would you like news?" toast, no update check (they would cover the
# widgets and reach for the network), no autosave, and every cell rendered, not only those in view (JupyterLab 4's
# default windowing), so that a test finds any cell's widget and sees every cell's prompt.
TEST_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Never autosave: a test runs the repository's own lessons, whose committed outputs nbval checks.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

FileLike = Union[Path, tuple[str, bytes]]


@dataclass(frozen=True)
class JupyterLabServer:
    """A running JupyterLab: its base URL (ends with ``/``), its token and its process."""

    url: str
    token: str
    process: subprocess.Popen
    log_path: Path

    def notebook_url(self, path: str) -> str:
        """The URL that opens ``path`` (relative to the repository) alone in JupyterLab, logged in by the token.

        ``reset`` starts from an empty workspace: the server remembers the tabs an earlier test opened.
        """
        return f"{self.url}lab/tree/{path}?reset&token={self.token}"

    def shut_down_kernels(self) -> None:
        """Shut every notebook's kernel down (each lesson's kernel holds a model: hundreds of megabytes)."""
        for session in self.api("api/sessions") or []:
            self.api(f"api/sessions/{session['id']}", method="DELETE")

    def api(self, endpoint: str, method: str = "GET") -> dict | list | None:
        """Call the server's REST API (``endpoint`` like ``"api/status"``) with the token; return its JSON."""
        request = urllib.request.Request(
            f"{self.url}{endpoint}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else None


def lab_command(port: int, token: str, state_dir: Path) -> list[str]:
    """The command line that starts JupyterLab like ``make lab``, with its state kept in ``state_dir``."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={REPO_ROOT}",
        f"--LabApp.workspaces_dir={state_dir / 'workspaces'}",
        f"--LabApp.user_settings_dir={state_dir / 'settings'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI run as root; JupyterLab refuses to start otherwise
    return command


def write_test_settings(settings_dir: Path) -> None:
    for name, values in TEST_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def start_jupyterlab(log_path: Path, state_dir: Path) -> JupyterLabServer:
    """Start JupyterLab on a free loopback port and wait until its API answers with the token.

    Raises:
        RuntimeError: the server exited, or did not answer within :data:`SERVER_START_S` (see the log).
    """
    port, token = free_port(), secrets.token_hex(16)
    write_test_settings(state_dir / "settings")
    (state_dir / "workspaces").mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime")}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            lab_command(port, token, state_dir), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    server = JupyterLabServer(f"http://127.0.0.1:{port}/", token, process, log_path)
    wait_for_server(
        process,
        lambda: server.api("api/status"),
        "JupyterLab",
        seconds=SERVER_START_S,
        poll_s=0.3,
        log=log_path,
        stop_server=lambda: stop_jupyterlab(server),
    )
    return server


def stop_jupyterlab(server: JupyterLabServer) -> None:
    """Shut the server down through its API (it stops its kernels first), then make sure the process is gone."""
    if server.process.poll() is None:
        try:
            server.api("api/shutdown", method="POST")
        except (OSError, urllib.error.URLError):
            server.process.terminate()
        wait_or_kill(server.process, 30)


def _payload(file: FileLike) -> str | dict:
    if isinstance(file, Path):
        return str(file)
    name, data = file
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(Path(name).suffix.lower())
    return {"name": name, "mimeType": mime or "application/octet-stream", "buffer": data}


class LabPage:
    """One JupyterLab tab showing one notebook, and what a student does in it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def open_notebook(cls, context: BrowserContext, server: JupyterLabServer, path: str) -> LabPage:
        """Open ``path`` (relative to the repository) in a new tab; return once its kernel is started and idle.

        The toolbar's indicator says "idle" before the kernel is even launched, so this first waits for the server
        to report the notebook's kernel idle; cells run before that could be lost while the kernel connects.
        """
        page = context.new_page()
        page.goto(server.notebook_url(path), wait_until="commit")
        lab = cls(page)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=NOTEBOOK_OPEN_MS)
        deadline = time.monotonic() + NOTEBOOK_OPEN_MS / 1000
        while not any(
            session["path"].endswith(path) and session["kernel"]["execution_state"] == "idle"
            for session in server.api("api/sessions")
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"The kernel of {path} was not idle within {NOTEBOOK_OPEN_MS / 1000:.0f} s")
            time.sleep(0.3)
        page.get_by_text("| Idle").first.wait_for(timeout=NOTEBOOK_OPEN_MS)  # the status bar: connected, idle
        lab.wait_until_idle(timeout_ms=NOTEBOOK_OPEN_MS)
        return lab

    @property
    def notebook(self) -> Locator:
        """The notebook panel in view."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def run_all_cells(self) -> None:
        """Run > Run All Cells, through the menu bar as a student would; return once the cells are queued.

        Saved prompts ("[3]:") look like fresh ones, so a watcher notes when a prompt turns to "[*]" (queued or
        running) after the click; :meth:`wait_until_idle` then means "all of them ran".
        """
        self.page.evaluate(
            """() => {
                window.labkitCellsQueued = false;
                const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                const queued = () => [...panel.querySelectorAll('.jp-InputPrompt')]
                    .some(p => p.textContent.includes('*'));
                new MutationObserver((_, observer) => {
                    if (queued()) { window.labkitCellsQueued = true; observer.disconnect(); }
                }).observe(panel, { subtree: true, childList: true, characterData: true });
            }"""
        )
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        self.page.wait_for_function("() => window.labkitCellsQueued === true", timeout=NOTEBOOK_OPEN_MS)

    def wait_until_idle(self, timeout_ms: int = KERNEL_IDLE_MS) -> None:
        """Wait until the kernel is idle and no cell is waiting to run (no ``[*]`` prompt)."""
        self.page.wait_for_function(
            """() => {
                const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                if (!panel) return false;
                const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
                const idle = indicator && indicator.getAttribute('data-status') === 'idle';
                const queued = [...panel.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
                return idle && !queued;
            }""",
            timeout=timeout_ms,
            polling=250,
        )

    def run_cell(self, text: str) -> None:
        """Select the code cell whose source contains ``text`` and run it with Shift+Enter, as a student would;
        return once the kernel is idle again."""
        cell = self.notebook.locator(".jp-CodeCell").filter(has_text=text).first
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")
        self.wait_until_idle()

    def run_all_and_wait(self, timeout_ms: int = KERNEL_IDLE_MS) -> None:
        """Run every cell and wait until the last one has finished."""
        self.run_all_cells()
        self.wait_until_idle(timeout_ms)

    def errors(self) -> list[str]:
        """The text of every traceback in the notebook's outputs: a test asserts it is empty.

        JupyterLab renders an error like stderr (``application/vnd.jupyter.stderr``); log lines a library writes to
        stderr are not errors, so only outputs with a Python traceback count.
        """
        outputs = self.notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        return [text for text in outputs.all_inner_texts() if "Traceback (most recent call last)" in text]

    def widget(self, description: str) -> Locator:
        """The ipywidgets control whose description, aria-label or tooltip is exactly ``description``.

        ipywidgets 8 renders a description as ``<label class="widget-label">``, the first child of the control's own
        box; a ``tooltip`` becomes the ``title`` attribute. Containers around the control do not match.
        """
        text = json.dumps(description)  # an XPath string literal for any text without both kinds of quote
        if '"' in description:
            text = f"'{description}'"
        return self.notebook.locator(
            f"xpath=.//*[contains(concat(' ', @class, ' '), ' jupyter-widgets ')]"
            f"[label[contains(@class, 'widget-label') and normalize-space(.)={text}] or @aria-label={text}"
            f" or @title={text}]"
        ).first

    def slider(self, description: str) -> Locator:
        """The draggable handle (role ``slider``) of the slider labelled ``description``: focus it and press keys."""
        return self.widget(description).get_by_role("slider")

    def press_on_slider(self, description: str, *keys: str) -> None:
        """Move a slider with the keyboard (e.g. ``"ArrowRight"``, ``"End"``), as a keyboard-only student would."""
        handle = self.slider(description)
        handle.focus()
        for key in keys:
            self.page.keyboard.press(key)

    def upload(self, *files: FileLike, button: str | None = None) -> None:
        """Click a FileUpload button (the one whose text contains ``button``, or the last one) and pick ``files`` in
        the file chooser that opens; paths go as they are, ``(name, bytes)`` pairs are made up by the test."""
        buttons = self.notebook.locator(".widget-upload")
        target = (buttons.filter(has_text=button) if button else buttons).last
        with self.page.expect_file_chooser() as chooser:
            target.click()
        chooser.value.set_files([_payload(file) for file in files])

    def screenshot(self, locator: Locator, path: Path) -> Path:
        """Save a PNG of one element (a widget's output, say) for the docs; return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=path)
        return path


class TrainerPanel:
    """Lesson 08's trainer widget in a :class:`LabPage`, and what a student does with it (tests/browser/,
    tests/hub/): name classes and give them photos, set the epochs, train, export."""

    def __init__(self, lesson: LabPage, training_ms: int) -> None:
        self.lesson = lesson
        self.training_ms = training_ms  # TensorFlow's import, MobileNetV2's build and the epochs, on a busy machine
        self.widget = lesson.notebook.locator(".labkit-trainer").last
        self.widget.wait_for()

    def text_box(self, description: str) -> Locator:
        """The input of the text or number box labelled ``description`` ("New class", "Model name"...)."""
        label = self.lesson.page.get_by_text(description, exact=True)
        return self.widget.locator(".widget-inline-hbox", has=label).locator("input").first

    def button(self, name: str) -> Locator:
        """The button called ``name`` (its icon joins its accessible name, hence the pattern)."""
        return self.widget.locator("button").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))

    def add_class(self, name: str, photos: list[Path]) -> Locator:
        """Type a class name, press *Add class*, and pick ``photos`` with its card's *Add photos*; return the card."""
        cards = self.widget.locator(".labkit-trainer-class")
        count = cards.count()
        self.widget.locator(".widget-text", has=self.lesson.page.get_by_text("New class", exact=True)).locator(
            "input"
        ).fill(name)
        self.button("Add class").click()
        expect(cards).to_have_count(count + 1)  # the new class's card is drawn
        card = cards.nth(count)
        expect(card.locator("input").first).to_have_value(name)
        with self.lesson.page.expect_file_chooser() as chooser:  # this class's own "Add photos" button
            card.locator(".widget-upload").click()
        chooser.value.set_files([str(photo) for photo in photos])
        card.get_by_text(f"{len(photos)} photos", exact=True).wait_for()
        return card

    def train(self, head_epochs: int, fine_tune_epochs: int, classes: str) -> None:
        """Set the epochs, press *Train*, and wait for the curves and "trained on ``classes``"."""
        for description, value in (("New-head epochs", head_epochs), ("Fine-tuning epochs", fine_tune_epochs)):
            box = self.text_box(description)
            box.fill(str(value))
            box.press("Tab")
        self.button("Train").click()
        self.widget.locator("img[alt^='Training curves over']").wait_for(timeout=self.training_ms)
        self.widget.get_by_text(f"trained on {classes}", exact=False).wait_for(timeout=self.training_ms)

    def export(self, name: str) -> str:
        """Type the model's name, press *Export*, and return the message that says where it went."""
        box = self.text_box("Model name")
        box.fill(name)
        box.press("Tab")
        self.button("Export").click()
        message = self.widget.get_by_text("Exported to", exact=False)
        message.wait_for(timeout=self.training_ms)
        return message.inner_text()
