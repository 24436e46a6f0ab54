"""The lessons in a real JupyterLab, driven in Debian's chromium as a student would: open a lesson, run all cells,
then play with its "Try it" widget (click, type, upload through the file chooser, move a slider with the keyboard).
"""

from __future__ import annotations

import pytest

from jupyterlab import LabPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_lesson_runs_top_to_bottom_in_jupyterlab(jupyterlab, context):
    lab = LabPage.open_notebook(context, jupyterlab, "notebooks/01_images_are_arrays.ipynb")
    lab.run_all_and_wait()

    assert lab.errors() == []
    prompts = lab.notebook.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and all("[" in text and "*" not in text and text.strip() != "[ ]:" for text in prompts), prompts


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


def test_the_harness_moves_a_slider_and_uploads_through_the_file_chooser(jupyterlab, context, repo_root):
    """The helpers every lesson test relies on, on a two-widget notebook made up here (no model, a few seconds)."""
    import nbformat

    path = repo_root / "test-artifacts" / "harness_widgets.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGETS_NOTEBOOK)],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}), path)
    lab = LabPage.open_notebook(context, jupyterlab, "test-artifacts/harness_widgets.ipynb")
    lab.run_all_and_wait()
    shown = lab.widget("Shown")
    shown.get_by_text("size 3; files: none").wait_for()

    lab.press_on_slider("Patch size", "ArrowRight", "ArrowRight")
    shown.get_by_text("size 5; files: none").wait_for()

    lab.upload(("made-up.png", b"12345"), button="Your photo")
    shown.get_by_text("size 5; files: made-up.png 5").wait_for()
    assert lab.errors() == []
