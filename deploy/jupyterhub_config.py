# JupyterHub for a class on one machine: each student logs in and gets their own Jupyter server with labkit,
# opening on the web app (Voilà); JupyterLab and the lessons are one click away (/lab). docs/deploy.md walks a
# fresh VM to a working class with this file; tests/hub/test_hub.py runs it for real on loopback.
#
# Run as root from the checkout's virtual environment (the systemd unit deploy/labkit-hub.service does this):
#     /srv/labkit/.venv/bin/jupyterhub -f /srv/labkit/deploy/jupyterhub_config.py
#
# What it sets up, and why:
# - Students: one shared class password (JupyterHub's SharedPasswordAuthenticator). Each student types a name of
#   their own and the class password; the teacher logs in as "teacher" with a separate, longer password and sees
#   every server on the admin page (/hub/admin). Anyone with the class password can log in under any student
#   name: fine for a lesson, not for graded work (docs/deploy.md says what to use then).
# - Servers: systemd-spawner with DynamicUser, so each student's server runs as a throwaway Unix user of its own
#   (no accounts to create), with a home folder in /var/lib/<name> that persists, and with the memory and CPU
#   limits below enforced by the kernel (cgroups). Needs systemd, i.e. a normal VM, not a container.
# - Each server starts through deploy/singleuser-start, which copies the course's notebooks into the student's
#   home the first time and links the weights and the converted model into the student's caches, then runs
#   jupyterhub-singleuser.
# - Idle servers are stopped by jupyterhub-idle-culler, run by the hub as a service.
# - Assignments with nbgrader (docs/teaching.md): "teacher" is the course's instructor, with the formgrader in
#   JupyterLab and the course in ~/course (deploy/nbgrader/teacher/); students get JupyterLab's Assignments list and
#   no formgrader (deploy/nbgrader/student/). Released work, submissions and feedback pass through the exchange
#   folder, which every server may write: mode 1777 like /tmp, as nbgrader documents (the systemd unit creates it).
#
# Settings come from the environment (the systemd unit reads them from /etc/labkit-hub.env), with defaults that
# match docs/deploy.md's steps:
#   LABKIT_CLASS_PASSWORD    the students' password (at least 8 characters); required
#   LABKIT_TEACHER_PASSWORD  the teacher's password (at least 32 characters); required
#                            (JupyterHub's SharedPasswordAuthenticator's rules: the hub stops at once and says which
#                            password is too short, see password_problems below)
#   LABKIT_WEIGHTS_DIR       MobileNetV2's weights (Keras' file names); default /srv/labkit-data/models
#   LABKIT_SHARED_CACHE      a labkit cache filled once by the install (LABKIT_CACHE_DIR=... when converting), whose
#                            converted models deploy/singleuser-start links into each student's own cache, so no
#                            student's kernel converts the model; default /srv/labkit-data/cache
#   LABKIT_DATA_DIR          the datasets folder, when the course has one (passed on to the servers if set)
#   LABKIT_STUDENTS          the names allowed to log in, separated by spaces; default: any name
#   LABKIT_HUB_STATE         the hub's database and cookie secret; default /var/lib/labkit-hub
#   LABKIT_NBGRADER_EXCHANGE nbgrader's exchange folder, mode 1777; default /srv/nbgrader/exchange
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub's config loader defines get_config)

CHECKOUT = Path(__file__).resolve().parents[1]  # this repository, e.g. /srv/labkit
VENV_BIN = Path(sys.executable).parent  # the hub runs from the checkout's .venv; so do the students' servers
STATE = Path(os.environ.get("LABKIT_HUB_STATE", "/var/lib/labkit-hub"))
APP_URL = "/voila/render/notebooks/dashboard.ipynb"
TEACHER = "teacher"  # the admin on the hub and the instructor of the nbgrader course
EXCHANGE = os.environ.get("LABKIT_NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# Per student, from the figures in benchmarks/results/hub.json (benchmarks/hub.py; docs/deploy.md's sizing table):
# a server with the app's kernel, after classifying and showing heatmaps (no TensorFlow), and a lesson's kernel,
# whose peak docs/deploy.md gives per lesson (benchmarks/results/lessons.json); tests/test_sizing.py checks the
# limit covers the measured server. The limit is a ceiling, not a reservation: memory is only used when a student needs it,
# and a student who hits it loses their kernel (JupyterLab says so), not the machine.
MEMORY_LIMIT = "3G"
CPU_LIMIT = 1.0  # one core at most per student: a lesson's cell cannot starve the class
IDLE_TIMEOUT_S = 3600  # stop a student's server after an hour without activity (open tabs that do nothing count)
CULL_EVERY_S = 300

# --- where students connect ------------------------------------------------------------------------------------
c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # students reach it through a TLS proxy (Caddy, docs/deploy.md)
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(CHECKOUT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = False  # restarting the hub (an update) leaves the students' servers running

# --- who logs in -----------------------------------------------------------------------------------------------
PASSWORD_RULES = {"LABKIT_CLASS_PASSWORD": ("class", 8), "LABKIT_TEACHER_PASSWORD": ("teacher's", 32)}


def password_problems(environment) -> list[str]:
    """What is wrong with the passwords in ``environment`` (os.environ): one sentence each, saying what to do.

    A password that is set but shorter than SharedPasswordAuthenticator allows would otherwise stop the hub with a
    traceback in its log; an unset one is left to JupyterHub (the tests replace the authenticator).
    """
    problems = []
    for variable, (whose, minimum) in PASSWORD_RULES.items():
        password = environment.get(variable)
        if password is not None and len(password) < minimum:
            problems.append(
                f"labkit-hub: the {whose} password ({variable}) has {len(password)} characters; it needs at least "
                f"{minimum}. Set a longer one in /etc/labkit-hub.env, then: systemctl restart labkit-hub"
            )
    return problems


if password_problems(os.environ):
    sys.exit("\n".join(password_problems(os.environ)))
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("LABKIT_CLASS_PASSWORD")
c.SharedPasswordAuthenticator.admin_password = os.environ.get("LABKIT_TEACHER_PASSWORD")
c.Authenticator.admin_users = {TEACHER}
if os.environ.get("LABKIT_STUDENTS"):  # e.g. "ada grace alan": only these names (and the teacher) may log in
    c.Authenticator.allowed_users = set(os.environ["LABKIT_STUDENTS"].split())
else:
    c.Authenticator.allow_all = True  # any name, with the class password
# A student's home is /var/lib/<name> (systemd's StateDirectory): names are plain lower-case words, and none may be
# a system folder there (apt, dpkg, systemd...). Students' own folders are symlinks into /var/lib/private.
c.Authenticator.username_pattern = r"^[a-z][a-z0-9]{1,31}$"
c.Authenticator.blocked_users = {entry.name for entry in Path("/var/lib").iterdir() if not entry.is_symlink()}

# --- each student's server -------------------------------------------------------------------------------------
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.SystemdSpawner.dynamic_users = True
c.SystemdSpawner.isolate_tmp = True
c.SystemdSpawner.disable_user_sudo = True
c.SystemdSpawner.extra_paths = [str(VENV_BIN)]
c.SystemdSpawner.readwrite_paths = [EXCHANGE]  # DynamicUser makes the rest of the system read-only
c.Spawner.mem_limit = MEMORY_LIMIT
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.cmd = [str(CHECKOUT / "deploy" / "singleuser-start"), str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = APP_URL
c.Spawner.start_timeout = 180  # a whole class logging in at once queues for the CPU
c.Spawner.http_timeout = 120


def jupyter_config_path(spawner) -> str:
    """The teacher's or a student's nbgrader settings (deploy/nbgrader/), then the checkout's
    .jupyter/jupyter_server_config.json (100 MB websocket messages for phone photos, kernels culled after 10 idle
    minutes without a tab), its voila.json (the app without its code or tracebacks) and its nbgrader_config.py."""
    role = "teacher" if spawner.user.name == TEACHER else "student"
    return os.pathsep.join([str(CHECKOUT / "deploy" / "nbgrader" / role), str(CHECKOUT / ".jupyter"), str(CHECKOUT)])


c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": jupyter_config_path,  # JupyterHub calls it with each user's spawner
    "LABKIT_CHECKOUT": str(CHECKOUT),
    "LABKIT_TEACHER": TEACHER,
    "LABKIT_NBGRADER_EXCHANGE": EXCHANGE,
    "LABKIT_WEIGHTS_DIR": os.environ.get("LABKIT_WEIGHTS_DIR", "/srv/labkit-data/models"),
    "LABKIT_SHARED_CACHE": os.environ.get("LABKIT_SHARED_CACHE", "/srv/labkit-data/cache"),
    "LABKIT_THREADS": "1",  # one thread per photo: the class keeps every core busy (docs/classroom.md)
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
if os.environ.get("LABKIT_DATA_DIR"):
    c.Spawner.environment["LABKIT_DATA_DIR"] = os.environ["LABKIT_DATA_DIR"]

# --- idle servers ----------------------------------------------------------------------------------------------
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT_S}",
                f"--cull-every={CULL_EVERY_S}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
