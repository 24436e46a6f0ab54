"""Make the students' copies of the lessons with nbgrader: ``make assignments`` (the teacher's course) and
``make lab`` (self-study: your own copies in practice/).

The lessons in notebooks/ are the teacher's copies, with the exercises' solutions and nbgrader's grade cells
(nbgrader_config.py says how they are cleared). This script

1. copies them into an nbgrader course folder as ``source/<lesson>/<lesson>.ipynb`` (one assignment per lesson,
   named after its file, e.g. ``02_preprocessing``);
2. runs ``nbgrader generate_assignment``, which writes ``release/<lesson>/<lesson>.ipynb``: no solutions, no hidden
   tests, no outputs; with ``--gradebook``, it also records the assignments in the course's gradebook.db, which the
   teacher's formgrader, ``nbgrader autograde`` and the hub's release need;
3. with ``--practice DIR``, copies each student copy into DIR unless it is there already: a student's work is never
   overwritten (delete a copy to get a fresh one).

The course and practice folders are generated, so git ignores them; a fresh clone makes them on first ``make lab``.

Usage (from the repository's root):
    .venv/bin/python tools/assignments.py --course course --gradebook     # make assignments
    .venv/bin/python tools/assignments.py --course course                 # make lab, when a lesson changed
    .venv/bin/python tools/assignments.py --course course --practice practice --copy-only   # make lab
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LESSONS = REPO_ROOT / "notebooks"


def lesson_ids(lessons: Path = LESSONS) -> list[str]:
    """The assignments: one per lesson, named after its notebook (``01_images_are_arrays``...)."""
    return sorted(path.stem for path in lessons.glob("[0-9][0-9]_*.ipynb"))


def copy_sources(course: Path, lessons: Path = LESSONS) -> list[str]:
    """Copy each lesson to ``course/source/<id>/<id>.ipynb`` (replacing an older copy); return the ids."""
    ids = lesson_ids(lessons)
    for assignment in ids:
        folder = course / "source" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lessons / f"{assignment}.ipynb", folder / f"{assignment}.ipynb")
    return ids


def nbgrader(*arguments: str, cwd: Path = REPO_ROOT) -> None:
    """Run an nbgrader command with this interpreter, reading ./nbgrader_config.py. nbgrader runs ``alembic``
    (its gradebook's migrations) as a command, so this environment's bin folder goes first on PATH."""
    bin_folder = str(Path(sys.executable).parent)
    environment = {**os.environ, "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=cwd, env=environment, check=True)


def generate(course: Path, gradebook: bool = False, lessons: Path = LESSONS) -> list[Path]:
    """Write the students' copies to ``course/release/``; return their paths.

    ``gradebook``: record each assignment in ``course/gradebook.db`` too, as the teacher's course needs.
    """
    ids = copy_sources(course, lessons)
    database = [] if gradebook else ["--no-db"]
    nbgrader("generate_assignment", "*", "--force", *database, f"--CourseDirectory.root={course.resolve()}")
    return [course / "release" / assignment / f"{assignment}.ipynb" for assignment in ids]


def copy_missing(released: list[Path], practice: Path) -> list[Path]:
    """Copy each student copy into ``practice`` unless a file of that name is there; return the ones copied."""
    practice.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in released:
        target = practice / path.name
        if not target.exists():
            shutil.copyfile(path, target)
            copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=REPO_ROOT / "course", help="nbgrader's course folder")
    parser.add_argument("--gradebook", action="store_true", help="record the assignments in the course's gradebook")
    parser.add_argument("--practice", type=Path, help="copy the students' copies here (never over existing ones)")
    parser.add_argument("--copy-only", action="store_true", help="copy the students' copies made before, only")
    options = parser.parse_args(argv)
    if options.copy_only:
        released = [options.course / "release" / name / f"{name}.ipynb" for name in lesson_ids()]
    else:
        released = generate(options.course, gradebook=options.gradebook)
        print(f"{len(released)} students' copies in {options.course / 'release'}")
    if options.practice:
        copied = copy_missing(released, options.practice)
        kept = len(released) - len(copied)
        print(f"{len(copied)} copied to {options.practice}; {kept} already there, left as they are")


if __name__ == "__main__":
    main()
