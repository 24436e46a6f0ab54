# nbgrader for the teacher's server on the hub (deploy/jupyterhub_config.py puts this folder first on the teacher's
# JUPYTER_CONFIG_PATH; the repository's nbgrader_config.py, also on it, gives the course id, the exchange folder and
# the solution stubs). docs/teaching.md walks through release, collect, autograde and feedback.
#
# - The course lives in the teacher's home, ~/course ($LABKIT_COURSE_ROOT where the home is not kept, e.g. a volume
#   on Zero to JupyterHub): source/ (the lessons with their solutions, which
#   deploy/singleuser-start copies there), release/, submitted/, autograded/, feedback/ and gradebook.db.
# - Students hand work in under their hub names (deploy/nbgrader/student/), while the files in the exchange belong
#   to each server's Unix user (a throwaway systemd user on one machine): collect would warn about every
#   submission, so it does not compare the two.
import os
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader's config loader defines get_config)

c.CourseDirectory.root = os.environ.get("LABKIT_COURSE_ROOT", str(Path.home() / "course"))
c.CollectApp.check_owner = False
