"""benchmarks/lessons.py runs a lesson in a fresh Jupyter kernel and measures its time and its kernel's memory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"


def load_lessons_benchmark():
    """Import benchmarks/lessons.py (a script beside its ``_results`` helper, not a package) by its path."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("labkit_lessons_benchmark", BENCHMARKS / "lessons.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lessons = load_lessons_benchmark()


def test_a_lesson_that_holds_300_mb_is_measured_at_least_that_large_and_its_file_is_left_as_it_was(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A lesson"),
        nbformat.v4.new_code_cell("import numpy as np\nheld = np.ones(300 * 1024 * 1024 // 8)  # 300 MB, touched"),
        nbformat.v4.new_code_cell("import os\nprint(os.getcwd())"),
    ]
    path = tmp_path / "09_a_lesson.ipynb"
    nbformat.write(notebook, path)
    saved = path.read_text()

    figures = lessons.run_lesson(path, interval=0.1)

    assert figures["code_cells"] == 2
    assert figures["peak_rss_mb"] >= 300 and figures["peak_uss_mb"] >= 300
    assert figures["seconds"] > 0
    assert path.read_text() == saved  # measured, never re-saved
    assert lessons.lesson_number(path) == "09"
