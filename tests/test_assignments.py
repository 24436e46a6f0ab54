"""The teacher's loop with nbgrader, on this machine: the students' copies made from the lesson sources
(tools/assignments.py, as `make assignments` and `make lab` make them) keep every check and lose every solution;
`nbgrader autograde` gives full marks to the teacher's solutions and zero to untouched copies, which run top to
bottom with each check saying "not done yet".

The lesson sources themselves (solutions in, hidden tests passing, outputs saved) are tested by nbval strict, as
every notebook is. Autograding runs lessons: several minutes in all.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tools"))

import assignments  # noqa: E402

pytestmark = pytest.mark.slow

SOLVED = ("01_images_are_arrays", "03_first_predictions")  # the teacher's copies handed in: quick lessons
UNTOUCHED = "untouched"
TEACHER = "teachers-copy"


def exercises_of(assignment: str) -> list:
    """The lesson's exercises, q1, q2... from labkit.exercises.lessonXX."""
    module = importlib.import_module(f"labkit.exercises.lesson{assignment[:2]}")
    return [value for name, value in sorted(vars(module).items()) if name[:1] == "q" and name[1:].isdigit()]


def nbgrader_cells(path: Path) -> list[dict]:
    return [cell for cell in json.loads(path.read_text())["cells"] if "nbgrader" in cell["metadata"]]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def outputs_text(cell: dict) -> str:
    return "".join("".join(output.get("text", "")) for output in cell.get("outputs", []))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    assignments.generate(course, gradebook=True)
    return course


def test_the_students_copies_keep_every_check_and_lose_every_solution(course):
    for assignment in assignments.lesson_ids():
        released = course / "release" / assignment / f"{assignment}.ipynb"
        cells = nbgrader_cells(released)
        answers = [cell for cell in cells if cell["metadata"]["nbgrader"]["solution"]]
        checks = [cell for cell in cells if cell["metadata"]["nbgrader"]["grade"]]
        assert len(answers) == len(checks) == len(exercises_of(assignment)) >= 2, assignment
        for number, (answer, check) in enumerate(zip(answers, checks, strict=True), start=1):
            assert "BEGIN SOLUTION" not in source(answer) and "pass  # YOUR CODE HERE" in source(answer)
            assert source(check) == f"q{number}.check()", f"{assignment}: {source(check)!r}"
        text = released.read_text()
        assert "### BEGIN HIDDEN TESTS" not in text and ".passed()" not in text
        assert all(not cell.get("outputs") for cell in json.loads(text)["cells"]), "outputs left in a student copy"


def hand_in(course: Path, student: str, assignment: str, notebook: Path) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, folder / f"{assignment}.ipynb")


def test_autograde_gives_the_solutions_full_marks_and_untouched_copies_zero(course):
    from nbgrader.api import Gradebook

    ids = assignments.lesson_ids()
    for assignment in ids:
        hand_in(course, UNTOUCHED, assignment, course / "release" / assignment / f"{assignment}.ipynb")
    for assignment in SOLVED:
        hand_in(course, TEACHER, assignment, course / "source" / assignment / f"{assignment}.ipynb")
    root = f"--CourseDirectory.root={course}"
    assignments.nbgrader("autograde", "*", f"--student={UNTOUCHED}", root)
    assignments.nbgrader("autograde", "*", f"--student={TEACHER}", root)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in ids:
            submission = gradebook.find_submission(assignment, UNTOUCHED)
            assert submission.max_score == len(exercises_of(assignment))
            assert submission.score == 0, f"{assignment}: an untouched copy scored {submission.score}"
        for assignment in SOLVED:
            submission = gradebook.find_submission(assignment, TEACHER)
            assert submission.score == submission.max_score, f"{assignment}: the solutions scored {submission.score}"

    # The untouched copies ran top to bottom: the only errors are the hidden tests nbgrader put back into the
    # grade cells, and each check printed "not done yet".
    for assignment in ids:
        graded = json.loads((course / "autograded" / UNTOUCHED / assignment / f"{assignment}.ipynb").read_text())
        for cell in graded["cells"]:
            errors = [output for output in cell.get("outputs", []) if output["output_type"] == "error"]
            grade_cell = cell["metadata"].get("nbgrader", {}).get("grade", False)
            if grade_cell:
                assert outputs_text(cell).startswith("Not done yet:"), f"{assignment}: {outputs_text(cell)!r}"
                assert [error["ename"] for error in errors] == ["AssertionError"]
            else:
                assert not errors, f"{assignment}: {source(cell)[:80]!r} raised {errors[0]['ename']}"
