# nbgrader for a student's server on the hub (deploy/jupyterhub_config.py puts this folder first on a student's
# JUPYTER_CONFIG_PATH; the repository's nbgrader_config.py, also on it, gives the course id, the exchange folder and
# the solution stubs).
#
# A student hands work in under their hub name, not their Unix name: on one machine each server runs as a
# throwaway systemd user ("jupyter-ada-singleuser"), in the tests as the hub's own user, and on Kubernetes as
# "jovyan". nbgrader names a submission after CourseDirectory.student_id when it is set.
import os

c = get_config()  # noqa: F821  (nbgrader's config loader defines get_config)

if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
