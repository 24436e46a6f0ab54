"""What a user does on the web app, as Playwright steps: the browser tests and benchmarks/browser.py use this
"page object" so they read as the user's actions. Not a test module.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Union

from playwright.sync_api import BrowserContext, Locator, Page
from serving import READY_TEXT

from labkit.app.widgets import gallery_button_name

READY_TIMEOUT_MS = 120_000  # a cold kernel on a busy 2-core machine; normally a few seconds
RESULT_TIMEOUT_MS = 60_000
# The first "Show where it looked" in a kernel imports TensorFlow and builds the Keras model: ~5 s idle, ~15 s on a
# busy machine, more when several kernels do it at once.
GRADCAM_TIMEOUT_MS = 180_000
TOP_IN_VIEW = "element => { const top = element.getBoundingClientRect().top; return top >= 0 && top < innerHeight; }"

# A file to hand to the page: a path, or (name, bytes) for something made up in the test.
FileLike = Union[Path, tuple[str, bytes]]


def _payload(file: FileLike) -> dict:
    if isinstance(file, Path):
        name, data = file.name, file.read_bytes()
    else:
        name, data = file
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(Path(name).suffix.lower(), "")
    return {"name": name, "mimeType": mime or "application/octet-stream", "buffer": data}


class DashboardPage:
    """One browser tab on the app, with one kernel behind it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def open(cls, context: BrowserContext, url: str, wait: bool = True) -> DashboardPage:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        dashboard = cls(page)
        if wait:
            dashboard.wait_until_ready()
        return dashboard

    def close(self) -> None:
        """Close the tab as a user would: Voilà's unload handler asks the server to shut this tab's kernel down."""
        self.page.close(run_before_unload=True)

    def wait_until_ready(self) -> None:
        self.page.get_by_text(READY_TEXT).wait_for(timeout=READY_TIMEOUT_MS)

    # --- the ways in -----------------------------------------------------------------------------------------

    def upload(self, *files: FileLike) -> None:
        """Click "Choose photos…" (ipywidgets' FileUpload) and pick ``files`` in the file chooser."""
        with self.page.expect_file_chooser() as chooser:
            self.page.locator(".labkit-upload").click()
        # A path is handed to chromium as is; bytes travel through Playwright (slow beyond a few megabytes).
        chooser.value.set_files([str(file) if isinstance(file, Path) else _payload(file) for file in files])

    def drop(self, *files: FileLike, target: str = ".labkit-intake") -> None:
        """Drag ``files`` onto the drop zone: dragenter, dragover and drop events carrying a real DataTransfer."""
        self._dispatch_files("drop", target, files)

    def drop_file_of_size(self, name: str, size: int) -> None:
        """Drop a file of ``size`` zero bytes, made in the page (quicker than sending that many bytes there)."""
        self.page.evaluate(
            """([name, size]) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([new Uint8Array(size)], name, { type: "image/jpeg" }));
                for (const type of ["dragenter", "dragover", "drop"]) {
                    document.querySelector(".labkit-intake").dispatchEvent(
                        new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
                }
            }""",
            [name, size],
        )

    def paste(self, *files: FileLike) -> None:
        """Paste ``files`` as if copied to the clipboard (a paste event on the page)."""
        self._dispatch_files("paste", "body", files)

    def _dispatch_files(self, how: str, target: str, files: tuple[FileLike, ...]) -> None:
        payloads = [
            {
                "name": payload["name"],
                "type": payload["mimeType"],
                "base64": base64.b64encode(payload["buffer"]).decode("ascii"),
            }
            for payload in map(_payload, files)
        ]
        self.page.evaluate(
            """([how, target, files]) => {
                const transfer = new DataTransfer();
                for (const file of files) {
                    const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
                    transfer.items.add(new File([bytes], file.name, { type: file.type }));
                }
                const element = document.querySelector(target);
                if (how === "paste") {
                    element.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true }));
                    return;
                }
                for (const type of ["dragenter", "dragover", "drop"]) {
                    element.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true,
                                                                cancelable: true }));
                }
            }""",
            [how, target, payloads],
        )

    def choose_model(self, label: str, ready_text: str) -> None:
        """Pick a model in the "Model" dropdown by the text it shows; wait until the status line says ``ready_text``."""
        self.page.get_by_label("Model", exact=True).select_option(label=label)
        self.page.locator(".labkit-status", has_text=ready_text).wait_for(timeout=READY_TIMEOUT_MS)

    def click_sample(self, label: str) -> None:
        self.page.get_by_role("button", name=gallery_button_name(label)).click()

    def take_webcam_photo(self) -> None:
        """Open the webcam dialog, wait for the camera's picture, and take the photo."""
        self.page.get_by_role("button", name="Take a photo").click()
        snap = self.page.get_by_role("button", name="Take photo", exact=True)
        snap.wait_for()
        self.page.wait_for_function("document.querySelector('.labkit-camera button.labkit-primary').disabled === false")
        snap.click()

    # --- what the user sees ------------------------------------------------------------------------------------

    @property
    def results(self) -> Locator:
        """Result cards (classified photos), newest first."""
        return self.page.locator(".labkit-card-result")

    @property
    def problems(self) -> Locator:
        """Cards for files that could not be classified."""
        return self.page.locator(".labkit-card-problem")

    @property
    def cards(self) -> Locator:
        return self.page.locator(".labkit-card")

    def wait_for_cards(self, count: int, timeout_ms: int = RESULT_TIMEOUT_MS) -> None:
        """Wait until at least ``count`` cards (results or problems) are on the page."""
        self.page.wait_for_function(f"document.querySelectorAll('.labkit-card').length >= {count}", timeout=timeout_ms)

    def wait_until_in_view(self, card: Locator, timeout_ms: int = 10_000) -> None:
        """Wait until the top of ``card`` is inside the window (the app scrolls to a new card smoothly)."""
        self.page.wait_for_function(
            TOP_IN_VIEW,
            arg=card.element_handle(),
            timeout=timeout_ms,
        )

    def best_labels(self) -> list[str]:
        return self.results.locator(".labkit-best-label").all_inner_texts()

    def show_where_it_looked(self, card: Locator) -> Locator:
        """Press a result card's "Show where it looked" button with the keyboard; return the overlay image, visible."""
        card.get_by_role("button", name="Show where it looked").focus()
        self.page.keyboard.press("Enter")
        overlay = card.locator("img.labkit-looked-overlay")
        overlay.wait_for(state="visible", timeout=GRADCAM_TIMEOUT_MS)
        return overlay

    def time_until_cards(self, count: int) -> float:
        """Seconds until ``count`` cards are visible (for the benchmark)."""
        start = time.perf_counter()
        self.wait_for_cards(count)
        return time.perf_counter() - start
