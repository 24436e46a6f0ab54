"""The lessons in a real JupyterLab, driven in Debian's chromium as a student would: open a lesson, run all cells,
then play with its "Try it" widget (click, type, upload through the file chooser, move a slider with the keyboard).
"""

from __future__ import annotations

import re

import pytest
from accessibility import axe_violations, blocking, describe
from playwright.sync_api import expect

from labkit.lessons.tryit import find_sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESULT_TIMEOUT_MS = 60_000  # a busy 2-core machine; normally about a second


def test_lesson_01_a_click_on_the_photo_reads_that_pixel(lab):
    lesson = lab("notebooks/01_images_are_arrays.ipynb")
    lesson.run_all_and_wait()
    assert lesson.errors() == []
    widget = lesson.notebook.locator(".labkit-try-pixels")
    photo = widget.locator("img.labkit-pick-pixel")
    text = widget.locator(".labkit-try-result .labkit-try-text")
    before = text.inner_text()

    box = photo.bounding_box()
    photo.click(position={"x": 2, "y": box["height"] - 2})  # bottom-left corner: last rows, first columns

    left_edge = re.compile(r"pixel at row \d+, column [0-4]:")
    expect(text).to_have_text(left_edge, timeout=RESULT_TIMEOUT_MS)
    assert text.inner_text() != before
    rows = widget.get_by_role("slider").first
    assert float(rows.get_attribute("aria-valuenow")) > float(rows.get_attribute("aria-valuemax")) * 0.9


def test_lesson_03_a_photo_uploaded_through_the_file_chooser_gets_its_answer(lab):
    lesson = lab("notebooks/03_first_predictions.ipynb")
    lesson.run_all_and_wait()
    assert lesson.errors() == []
    widget = lesson.notebook.locator(".labkit-try-your-photo")
    first = widget.locator(".labkit-try-best").inner_text()  # the sample shown with no click

    tabby = find_sample("tabby").path
    lesson.upload(tabby, button="Upload your photo")

    expect(widget.get_by_role("img", name=f"Your photo, {tabby.name}")).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(widget.locator(".labkit-try-guesses")).to_contain_text("tabby")
    assert widget.locator(".labkit-try-best").inner_text() != first or "tabby" in first
    # The widget after an upload, audited with axe-core: nothing serious or critical (JupyterLab's own page aside).
    violations = axe_violations(lesson.page, ".labkit-try-your-photo")
    assert not blocking(violations), describe(violations)


def test_lesson_05_the_temperature_slider_moved_by_keyboard_redraws_the_reliability_diagram(lab):
    lesson = lab("notebooks/05_when_not_to_trust_it.ipynb")
    lesson.run_all_and_wait()
    assert lesson.errors() == []
    diagram = lesson.notebook.locator(".labkit-try-trust .labkit-try-result").first.get_by_role("img")
    before = diagram.get_attribute("alt")
    assert before.startswith("Reliability diagram at temperature")

    lesson.press_on_slider("Temperature", *["ArrowRight"] * 10)

    expect(diagram).not_to_have_attribute("alt", before, timeout=RESULT_TIMEOUT_MS)
    after = diagram.get_attribute("alt")
    assert float(after.split("temperature ")[1].split(":")[0]) > float(before.split("temperature ")[1].split(":")[0])


WIDGETS_NOTEBOOK = """
import ipywidgets as widgets
size = widgets.IntSlider(value=3, min=0, max=10, description="Patch size")
upload = widgets.FileUpload(accept="image/*", description="Your photo")
shown = widgets.HTML(description="Shown")
def show(_change=None):
    names = [file.name + " " + str(len(file.content)) for file in upload.value]
    shown.value = f"size {size.value}; files: {', '.join(names) or 'none'}"
size.observe(show, "value")
upload.observe(show, "value")
show()
widgets.VBox([size, upload, shown])
"""


def test_the_harness_moves_a_slider_and_uploads_through_the_file_chooser(lab, repo_root):
    """The helpers every lesson test relies on, on a two-widget notebook made up here (no model, a few seconds)."""
    import nbformat

    path = repo_root / "test-artifacts" / "harness_widgets.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(WIDGETS_NOTEBOOK)],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        ),
        path,
    )
    notebook = lab("test-artifacts/harness_widgets.ipynb")
    notebook.run_all_and_wait()
    shown = notebook.widget("Shown")
    shown.get_by_text("size 3; files: none").wait_for()

    notebook.press_on_slider("Patch size", "ArrowRight", "ArrowRight")
    shown.get_by_text("size 5; files: none").wait_for()

    notebook.upload(("made-up.png", b"12345"), button="Your photo")
    shown.get_by_text("size 5; files: made-up.png 5").wait_for()
    assert notebook.errors() == []
