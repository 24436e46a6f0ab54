"""Screenshot the web app with three of the open sample photos classified, as docs/screenshot.png (README, course page).

It serves notebooks/dashboard.ipynb with Voilà on a free loopback port and drives Debian's chromium, with the browser
tests' own helpers (tools/serving.py starts the server, tools/dashboard_page.py clicks as a user
would): it uploads cab.jpg, whale_shark.jpg (a photo of none of the 1000 classes: the app says "not sure") and
tabby.jpg from data/samples, opens "Show where it looked" on the tabby, and saves the whole page. (The tabby rather
than the beagle: the beagle's heatmap is warmest on the background beside the dog, a confusing first picture.) Only the
repository's public-domain/CC0 samples (data/samples/CREDITS.md) appear in the picture, never an ImageNet photo.
Run from the repository root:

    .venv/bin/python tools/app_screenshot.py                      # writes docs/screenshot.png
    .venv/bin/python tools/app_screenshot.py --out /tmp/app.png   # somewhere else
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dashboard_page import DashboardPage
from playwright.sync_api import sync_playwright
from serving import launch_chromium, start_voila, stop, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
# As tools/widget_screenshots.py and the tests do: the weights beside the checkout, unless set.
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SAMPLES = REPO_ROOT / "data" / "samples"
# Uploaded in this order; the app lists the newest first, so the last one (with its heatmap) is at the top.
PHOTOS = ("cab.jpg", "whale_shark.jpg", "tabby.jpg")
LOOKED_AT = "tabby.jpg"  # the card whose "Show where it looked" is opened
VIEWPORT = {"width": 1280, "height": 1000}  # as the browser tests: a laptop screen


def take_screenshot(out: Path) -> Path:
    """Serve the app, classify :data:`PHOTOS`, open the heatmap of :data:`LOOKED_AT` and save the full page to ``out``.

    Example: ``take_screenshot(Path("docs/screenshot.png"))``. Raises RuntimeError (with the log's path) if Voilà
    does not start, and Playwright's TimeoutError if the app never answers.
    """
    warm_model_cache()  # a missing LiteRT conversion happens once, here, not in the app's kernel
    process, url = start_voila(REPO_ROOT / "test-artifacts" / "voila-screenshot.log")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, ())  # no camera: the screenshot needs none
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            app = DashboardPage.open(context, url)
            for count, name in enumerate(PHOTOS, start=1):
                app.upload(SAMPLES / name)
                app.wait_for_cards(count)
            card = app.results.filter(has_text=LOOKED_AT).first
            app.show_where_it_looked(card)
            app.page.mouse.move(0, 0)  # no hover highlight on whatever the pointer last touched
            app.page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring either
            # Voilà's page scrolls inside its own container, so a "full page" screenshot would stop at the window:
            # make the window as tall as the app instead (as tests/browser/test_dashboard_app.py does).
            height = app.page.evaluate("document.querySelector('.labkit-app').getBoundingClientRect().height")
            app.page.set_viewport_size({"width": VIEWPORT["width"], "height": int(height) + 60})
            out.parent.mkdir(parents=True, exist_ok=True)
            app.page.screenshot(path=str(out), animations="disabled")
            browser.close()
    finally:
        stop(process)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png", help="the PNG to write")
    saved = take_screenshot(parser.parse_args(argv).out)
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
