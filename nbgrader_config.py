# nbgrader's settings for labkit's lessons (nbgrader reads this file from the folder it runs in: the repository's
# root for `make assignments` and tools/assignments.py; deploy/nbgrader/ sets the hub's own on top).
#
# - The lesson sources, notebooks/0X_*.ipynb, are the teacher's copies: solutions between "### BEGIN SOLUTION" and
#   "### END SOLUTION", and a grade cell after each exercise that prints the check's feedback and, hidden from
#   students, asserts it passed. `nbgrader generate_assignment` makes the students' copies from them.
# - A solution becomes `pass  # YOUR CODE HERE`: valid both as a statement and as a function's body, so a
#   student's copy runs top to bottom and each check says "not done yet" (nbgrader's default stub raises
#   NotImplementedError, which would stop the lesson at the first exercise).
# - Lessons measure and train: a cell may take minutes on a busy machine, not nbgrader's default 30 s; a kernel
#   may take longer than a minute to start there too.
import os
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader's config loader defines get_config)

c.CourseDirectory.course_id = os.environ.get("LABKIT_COURSE_ID", "labkit")
c.CourseDirectory.root = os.environ.get("LABKIT_COURSE_ROOT", str(Path(__file__).resolve().parent / "course"))
c.ClearSolutions.code_stub = {"python": "pass  # YOUR CODE HERE"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = 900
c.Execute.startup_timeout = 300  # a kernel importing TensorFlow while a class works
c.Exchange.root = os.environ.get("LABKIT_NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
