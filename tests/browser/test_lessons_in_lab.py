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
    # The controls say which photo is shown: the list names the upload, the button counts it.
    expect(widget.locator("select").first).to_have_value(f"your photo: {tabby.name}")  # (ipywidgets: the label)
    expect(widget.locator(".widget-upload")).to_contain_text("(1)")
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


CLASS_LIST_NOTEBOOK = """
import numpy as np
from labkit.evaluate import EvaluationResult, score_logits
from labkit.lessons.accuracy import try_accuracy
names = [f"class {letter}" for letter in "abcdefghijkl"]
labels = np.arange(120) % 12
logits = np.eye(12)[labels] * 3.0
records = score_logits(logits, labels, [f"photo{n}.jpg" for n in range(120)], names, k=3)
result = EvaluationResult(records=records, k=3, elapsed_s=1.0, logits=logits, labels=labels, class_names=names)
try_accuracy(result, classes=names[:8])
"""


def test_lesson_06_s_class_list_shows_all_eight_chosen_classes(lab, repo_root):
    """Lesson 06's widget on a made-up evaluation of 12 classes (no model: a few seconds), 8 of them chosen."""
    import nbformat

    path = repo_root / "test-artifacts" / "class_list.ipynb"
    path.parent.mkdir(exist_ok=True)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(CLASS_LIST_NOTEBOOK)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(notebook, path)
    page = lab("test-artifacts/class_list.ipynb")
    page.run_all_and_wait()
    assert page.errors() == []
    box = page.notebook.locator(".labkit-try-accuracy select").first
    box.wait_for()
    shown = box.evaluate(
        """select => { const frame = select.getBoundingClientRect();
            return [...select.selectedOptions].filter(option => { const row = option.getBoundingClientRect();
                return row.height > 0 && row.top >= frame.top - 1 && row.bottom <= frame.bottom + 1; }).length; }"""
    )
    assert shown == 8, f"{shown} of the 8 chosen classes are in view"


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
