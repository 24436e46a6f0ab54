"""Screenshot each lesson's "Try it" widget in a real JupyterLab and Debian chromium, for docs/ and the README.

It starts JupyterLab as the browser tests do (tools/lab_page.py), opens each lesson, runs all its cells and
saves the widget, in its default state, as docs/try-it/NN.png. Run from the repository root, after `make notebooks`:

    .venv/bin/python tools/widget_screenshots.py            # every lesson with a Try-it widget
    .venv/bin/python tools/widget_screenshots.py 03 05      # some of them
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from lab_page import LabPage, start_jupyterlab, stop_jupyterlab
from playwright.sync_api import sync_playwright
from serving import launch_chromium

REPO_ROOT = Path(__file__).resolve().parents[1]
# As tools/run_notebooks.py and the tests do: the weights and datasets beside the checkout, unless set.
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("LABKIT_DATA_DIR", str(REPO_ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = REPO_ROOT / "docs" / "try-it"
VIEWPORT = {"width": 1280, "height": 1000}


def main(numbers: list[str]) -> None:
    lessons = sorted(
        path
        for path in (REPO_ROOT / "notebooks").glob("0*.ipynb")
        if "labkit.lessons" in path.read_text(encoding="utf-8") and (not numbers or path.name[:2] in numbers)
    )
    with tempfile.TemporaryDirectory(prefix="labkit-screenshots-") as state:
        server = start_jupyterlab(REPO_ROOT / "test-artifacts" / "jupyterlab-screenshots.log", Path(state))
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, ())
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                for lesson in lessons:
                    page = LabPage.open_notebook(context, server, f"notebooks/{lesson.name}")
                    page.run_all_and_wait()
                    widget = page.notebook.locator(".labkit-try-it").first
                    saved = page.screenshot(widget, OUT / f"{lesson.name[:2]}.png")
                    print(f"{lesson.name}: {saved.relative_to(REPO_ROOT)}", flush=True)
                    page.page.close()
                    server.shut_down_kernels()
                browser.close()
        finally:
            stop_jupyterlab(server)


if __name__ == "__main__":
    main(sys.argv[1:])
