"""Run the repository's JupyterHub (deploy/jupyterhub_config.py) on loopback, for tests/hub/ and benchmarks/hub.py.
Not a test module.

The real configuration is loaded as it is, then a few test-only settings override it (the file
:func:`write_test_config` writes):

- ports: free ports of 127.0.0.1 for the proxy, its API and the hub, instead of port 8000 on every address;
- state: the hub's database, cookie secret and proxy pid file, and the students' homes, in a temporary folder;
- students: JupyterHub's DummyAuthenticator (any name, one password) instead of the class password;
- servers: the real config starts each server as a systemd unit with a throwaway Unix user (DynamicUser) and
  cgroup limits; this machine (a container, like CI) has no systemd to ask. With ``students`` (tests/hub/test_hub.py),
  :func:`create_students` makes a real Unix user per student (we run as root, as the hub does) and JupyterHub's
  LocalProcessSpawner starts each server as that user, in a home of their own: the repository is root's and
  read-only for them, the class's weights and converted model a read-only copy (:func:`share_model_files`), as on
  the real hub. Without it (the nbgrader test, benchmarks/hub.py) SimpleLocalProcessSpawner runs every server as the
  hub's own user. Either way: the same server command (deploy/singleuser-start, then jupyterhub-singleuser), default
  URL, environment and culler. The memory and CPU limits are not enforced; benchmarks/hub.py measures what a
  server uses instead;
- culling: a short idle timeout (``cull_timeout_s``) and frequent activity reports, so a culled server is seen
  within a minute or two instead of an hour;
- an API token for the test (a service with read access to users and servers).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from lab_page import write_test_settings
from serving import READY_TEXT, free_port, wait_or_kill
from serving import wait_for_server as wait_for_answer

REPO_ROOT = Path(__file__).resolve().parents[1]


HUB_CONFIG = REPO_ROOT / "deploy" / "jupyterhub_config.py"
PROXY = REPO_ROOT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "labkit-test-password"
HUB_START_S = 90
STOP_S = 30
ACTIVITY_INTERVAL_S = 5  # how often servers and the proxy report activity to the hub (default 300)
STUDENT_MARK = "labkit hub test student"  # the comment on the Unix users the test makes: only those are removed
# Folders the test opened for traversal (o+x) so the students can reach the Python and the checkout, and their modes
# before; kept in a file so that a run that died before restoring them is put right by the next one.
OPENED_FOLDERS = Path(tempfile.gettempdir()) / "labkit-hub-test-opened-folders.json"


@dataclass
class Hub:
    """A running JupyterHub: its process, public URL, state folder and an API token that reads users and servers."""

    process: subprocess.Popen
    url: str
    state: Path
    token: str
    log: Path
    spawned: set[int] = field(default_factory=set)  # pids of single-user servers seen, to stop leftovers
    exchange: Path | None = None  # nbgrader's exchange folder, when the hub was started with one
    students: tuple[str, ...] = ()  # the Unix users made for the test (create_students), removed with the hub
    shared: dict[str, str] | None = None  # with students: the class's shared files (share_model_files)

    def api(self, path: str, method: str = "GET") -> dict | list | None:
        """Call the hub's REST API (``path`` after /hub/api/) with the test's token; return the decoded JSON."""
        request = urllib.request.Request(
            f"{self.url}hub/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def server(self, name: str) -> dict | None:
        """The user's default server as the hub's API describes it (``started``, ``ready``...), or None."""
        try:
            user = self.api(f"users/{name}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        return user.get("servers", {}).get("")

    def server_processes(self) -> dict[str, psutil.Process]:
        """The running single-user servers, by student name (their environment's JUPYTERHUB_USER)."""
        found = {}
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if "jupyterhub-singleuser" in " ".join(child.cmdline()):
                    found[child.environ().get("JUPYTERHUB_USER", "?")] = child
                    self.spawned.add(child.pid)
            except psutil.Error:
                continue
        return found


def write_test_config(
    state: Path, port: int, cull_timeout_s: int, token: str, shared: dict[str, str] | None = None
) -> Path:
    """Write a config that loads deploy/jupyterhub_config.py, then applies the test-only overrides above.

    ``shared``: the read-only copies of the weights and converted models (:func:`share_model_files`) for servers
    that run as the students' own users; without it, the servers run as the hub's user and read this machine's cache.
    """
    from labkit.paths import cache_dir

    settings = {
        "real": str(HUB_CONFIG),
        "bind_url": f"http://127.0.0.1:{port}",
        "hub_bind_url": f"http://127.0.0.1:{free_port()}",
        "proxy_api_url": f"http://127.0.0.1:{free_port()}",
        "state": str(state),
        "homes": str(state / "home" / "{username}"),
        "proxy": str(PROXY),
        "password": PASSWORD,
        "cache": str(cache_dir()),  # the converted models this machine already made, linked into each home
        "shared": shared,
        "cull_timeout": cull_timeout_s,
        "cull_every": max(2, cull_timeout_s // 6),
        "activity": ACTIVITY_INTERVAL_S,
        "token": token,
        "as_root": os.geteuid() == 0,
    }
    path = state / "jupyterhub_config.py"
    path.write_text(f"""# Written by tools/hubserver.py: the repository's config, then test-only overrides.
import json, sys
settings = json.loads({json.dumps(json.dumps(settings))})
load_subconfig(settings["real"])
c.JupyterHub.bind_url = settings["bind_url"]
c.JupyterHub.hub_bind_url = settings["hub_bind_url"]
c.ConfigurableHTTPProxy.api_url = settings["proxy_api_url"]
c.ConfigurableHTTPProxy.command = [settings["proxy"]]
c.ConfigurableHTTPProxy.pid_file = settings["state"] + "/jupyterhub-proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + settings["state"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = settings["state"] + "/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = True  # the test's hub takes its students' servers down with it
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = settings["password"]
if settings["shared"]:  # each student's server runs as their own Unix user, in the home useradd gave them
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.environment["LABKIT_SHARED_CACHE"] = settings["shared"]["cache"]
    c.Spawner.environment["LABKIT_WEIGHTS_DIR"] = settings["shared"]["weights"]
    c.Spawner.environment["LABKIT_STUDENT_COPIES"] = settings["shared"]["lessons"]
else:
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = settings["homes"]
    if settings["as_root"]:
        c.Spawner.args = ["--ServerApp.allow_root=True"]  # the servers run as the hub's user, root here
    c.Spawner.environment["LABKIT_SHARED_CACHE"] = settings["cache"]
c.Spawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] = str(settings["activity"])
c.JupyterHub.last_activity_interval = settings["activity"]
for service in c.JupyterHub.services:
    if service["name"] == "idle-culler":
        service["command"] = [sys.executable, "-m", "jupyterhub_idle_culler",
                              "--timeout=%d" % settings["cull_timeout"], "--cull-every=%d" % settings["cull_every"]]
c.JupyterHub.services.append({{"name": "labkit-test", "api_token": settings["token"]}})
c.JupyterHub.load_roles.append({{"name": "labkit-test", "services": ["labkit-test"],
                                "scopes": ["list:users", "read:users", "read:servers", "admin:servers"]}})
""")
    return path


def start_hub(
    state: Path,
    cull_timeout_s: int = 3600,
    log: Path | None = None,
    nbgrader: bool = False,
    students: Sequence[str] = (),
) -> Hub:
    """Start JupyterHub with the repository's config and the test overrides; wait until its API answers.

    ``state``: a folder for the hub's state and the students' homes. ``log``: the hub's log (its proxy's, its
    culler's and the students' servers' too), by default in ``state``. ``nbgrader``: make an exchange folder in
    ``state`` (mode 1777, as deploy/labkit-hub.service makes /srv/nbgrader/exchange) and give it to the hub.
    ``students``: make a Unix user for each (:func:`create_students`; needs root) and run their servers as them;
    :func:`stop_hub` removes them.
    """
    if not PROXY.exists():
        raise RuntimeError(f"configurable-http-proxy is not installed at {PROXY}: run `make hub-deps`.")
    state.mkdir(parents=True, exist_ok=True)
    shared = None
    if students:
        state.chmod(0o711)  # the students reach their homes inside it, and list nothing else
        create_students(students, state / "home")
        shared = share_model_files(state / "labkit-data")
    port, token = free_port(), secrets.token_hex(16)
    config = write_test_config(state, port, cull_timeout_s, token, shared)
    exchange, environment = None, {}
    if nbgrader:
        exchange = state / "exchange"
        exchange.mkdir(exist_ok=True)
        exchange.chmod(0o1777)
        environment["LABKIT_NBGRADER_EXCHANGE"] = str(exchange)
    log = log or state / "jupyterhub.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    hub_command = Path(sys.executable).parent / "jupyterhub"
    process = subprocess.Popen(
        [str(hub_command), "-f", str(config)],
        cwd=state,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **environment, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/"
    hub = Hub(process, url, state, token, log, exchange=exchange, students=tuple(students), shared=shared)
    wait_for_answer(
        process,
        lambda: hub.api(""),
        "JupyterHub",
        seconds=HUB_START_S,
        poll_s=0.5,
        log=log,
        stop_server=lambda: stop_hub(hub),
    )
    return hub


def stop_hub(hub: Hub) -> None:
    """Stop the hub (it stops the proxy and the students' servers), then any server process left behind."""
    hub.server_processes()
    children = psutil.Process(hub.process.pid).children(recursive=True)
    if hub.process.poll() is None:
        hub.process.terminate()
        wait_or_kill(hub.process, STOP_S)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:  # a lesson's kernel busy in TensorFlow can outlast the terminate
        child.kill()
    psutil.wait_procs(alive, timeout=10)
    remove_students(hub.students)


def create_students(names: Sequence[str], homes: Path) -> None:
    """Make a Unix user for each student, with a home in ``homes``, as a hub's students have (needs root).

    Idempotent: a user of that name left by an earlier run (marked with :data:`STUDENT_MARK`) is removed first; a
    user of that name that the test did not make is never touched (the test stops and says so).
    """
    homes.mkdir(parents=True, exist_ok=True)
    homes.chmod(0o711)
    open_the_way_for_students()
    for name in names:
        try:
            existing = pwd.getpwnam(name)
        except KeyError:
            existing = None
        if existing is not None and existing.pw_gecos != STUDENT_MARK:
            raise RuntimeError(f"A Unix user {name!r} exists and was not made by the hub test: not touching it.")
        if existing is not None:
            remove_students([name])
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(homes / name), "--shell", "/bin/bash", "--user-group",
             "--comment", STUDENT_MARK, name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        lab_settings = homes / name / ".jupyter" / "lab" / "user-settings"
        write_test_settings(lab_settings)  # no news pop-up over the widgets, every cell rendered
        subprocess.run(["chown", "-R", f"{name}:{name}", str(homes / name / ".jupyter")], check=True)


def open_the_way_for_students() -> None:
    """Let other users pass through (o+x, not list) the folders above the Python the hub runs and the checkout.

    A real hub runs a Python every user may run (/usr/bin/python3, docs/deploy.md); a developer's or CI's may sit
    under a private folder (pyenv's in /root). The modes before are noted in :data:`OPENED_FOLDERS`, and
    :func:`restore_opened_folders` puts them back when the hub stops.
    """
    restore_opened_folders()  # an earlier run that died first
    needed = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}
    needed.add(REPO_ROOT)
    opened: dict[str, int] = {}
    for path in needed:
        for folder in reversed([path, *path.parents]):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH and str(folder) not in opened:
                opened[str(folder)] = stat.S_IMODE(mode)
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    if opened:
        OPENED_FOLDERS.write_text(json.dumps(opened))


def restore_opened_folders() -> None:
    """Put back the modes :func:`open_the_way_for_students` changed."""
    if not OPENED_FOLDERS.exists():
        return
    for folder, mode in json.loads(OPENED_FOLDERS.read_text()).items():
        Path(folder).chmod(mode)
    OPENED_FOLDERS.unlink()


def remove_students(names: Sequence[str]) -> None:
    """Remove the Unix users :func:`create_students` made (and only those), with their homes, and close the folders
    opened for them."""
    if names:
        restore_opened_folders()
    for name in names:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_gecos != STUDENT_MARK:
            continue
        # userdel refuses a user with processes: an earlier run's kernel the hub no longer knew of
        processes = psutil.process_iter(["uids"])
        leftovers = [process for process in processes if process.info["uids"].real == account.pw_uid]
        for process in leftovers:
            process.kill()
        psutil.wait_procs(leftovers, timeout=10)
        done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if done.returncode not in (0, 12):  # 12: the home was already gone (its state folder removed)
            raise RuntimeError(f"Could not remove the test's Unix user {name}: {done.stderr.strip()}")


def share_model_files(folder: Path) -> dict[str, str]:
    """Copy this machine's weights and converted models into ``folder``, readable by every user, as
    docs/deploy.md's step 3 fills /srv/labkit-data (root's own cache, in /root, is not theirs to read).

    The lessons go there too, laid out as `make assignments` lays out the students' copies (course/release/, which a
    fresh clone does not have): ``<lesson>/<lesson>.ipynb``, copied as they are.

    Returns the settings for the students' servers: ``weights`` ($LABKIT_WEIGHTS_DIR), ``cache``
    ($LABKIT_SHARED_CACHE, whose litert/ singleuser-start links into each student's cache) and ``lessons``
    ($LABKIT_STUDENT_COPIES).
    """
    from labkit.paths import cache_dir
    from labkit.weights import find_weights

    weights, litert = folder / "models", folder / "cache" / "litert"
    for target in (weights, litert):
        target.mkdir(parents=True, exist_ok=True)
    found = find_weights()
    if found is not None:
        for file in found.parent.glob("*.h5"):
            shutil.copy2(file, weights)
    for file in (cache_dir() / "litert").glob("*.tflite"):
        shutil.copy2(file, litert)
    for lesson in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        (folder / "lessons" / lesson.stem).mkdir(parents=True, exist_ok=True)
        shutil.copy2(lesson, folder / "lessons" / lesson.stem)
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    return {"weights": str(weights), "cache": str(folder / "cache"), "lessons": str(folder / "lessons")}


def log_in(context, hub: Hub, name: str):
    """Open the hub's login page in ``context`` and log in as ``name``; return the page (it goes on to the app)."""
    page = context.new_page()
    page.goto(f"{hub.url}hub/login", wait_until="domcontentloaded")
    page.fill("#username_input", name)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit", no_wait_after=True)
    return page


def wait_for_server(hub: Hub, name: str, timeout_s: float, retries: int = 2) -> None:
    """Wait until the hub says ``name``'s server is ready (spawned and answering).

    A spawn that failed is started again through the API, at most ``retries`` times: on a busy machine the port the
    spawner picked for a server is now and then taken by another process (a kernel) before the server binds it,
    and the hub gives up on that server ("never showed up").
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server = hub.server(name)
        if server and server.get("ready"):
            return
        try:
            user = hub.api(f"users/{name}")
        except urllib.error.HTTPError as error:
            if error.code != 404:  # 404: the login that creates the user is still on its way
                raise
            user = None
        if user and not server and not user.get("pending") and retries > 0:
            retries -= 1
            try:
                hub.api(f"users/{name}/server", method="POST")
            except urllib.error.HTTPError as error:
                if error.code != 400:  # 400: already starting
                    raise
        time.sleep(1)
    raise TimeoutError(f"{name}'s server was not ready within {timeout_s} s; see {hub.log}")


def wait_until_ready(page, timeout_s: float) -> None:
    """Wait until the app's status line says "Ready" (the hub spawned the server, Voilà ran the notebook)."""
    page.get_by_text(READY_TEXT).wait_for(timeout=timeout_s * 1000)


# --- nbgrader on the hub (tests/hub/test_nbgrader_hub.py, tools/teaching_screenshots.py) ---------------------------

TEACHER = "teacher"
UI_MS = 120_000


def home(hub: Hub, name: str) -> Path:
    return hub.state / "home" / name


def nbgrader_as_teacher(hub: Hub, *arguments: str) -> str:
    """Run an nbgrader command as the teacher would in a terminal of their JupyterLab: in their home, with the
    settings the hub gives their server (deploy/nbgrader/teacher/ first on the config path), as their own Unix user
    when the hub made one (``students`` of :func:`start_hub`); return its output."""
    config_path = os.pathsep.join(
        [str(REPO_ROOT / "deploy" / "nbgrader" / TEACHER), str(REPO_ROOT / ".jupyter"), str(REPO_ROOT)]
    )
    environment = {
        **os.environ,
        "HOME": str(home(hub, TEACHER)),
        "JUPYTERHUB_USER": TEACHER,
        "JUPYTER_CONFIG_PATH": config_path,
        "LABKIT_NBGRADER_EXCHANGE": str(hub.exchange),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
    }
    as_teacher = {"user": TEACHER, "group": TEACHER} if TEACHER in hub.students else {}
    if as_teacher and hub.shared:  # the settings the hub gives the teacher's server, their own cache in their home
        environment.pop("LABKIT_CACHE_DIR", None)
        environment.pop("XDG_CACHE_HOME", None)
        environment["LABKIT_WEIGHTS_DIR"] = hub.shared["weights"]
        environment["LABKIT_SHARED_CACHE"] = hub.shared["cache"]
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *arguments],
        cwd=home(hub, TEACHER),
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
        **as_teacher,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(arguments)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def open_assignment_list(page, hub: Hub, name: str):
    """Open ``name``'s JupyterLab in ``page`` and its Assignments list (the Nbgrader menu's "Assignment List")."""
    page.goto(f"{hub.url}user/{name}/lab", wait_until="domcontentloaded")
    page.get_by_role("menuitem", name="Nbgrader").click(timeout=UI_MS)
    page.get_by_role("menuitem", name="Assignment List").click()
    page.locator("#nbgrader-assignment-list").wait_for(timeout=UI_MS)
    return page


def assignment_row(page, section: str, assignment: str):
    """The assignment's row in a section of the Assignments list: "released", "fetched" or "submitted" (the first
    row: a fetched assignment lists its notebooks in nested rows, a submitted one each submission)."""
    rows = page.locator(f"#{section}_assignments_list .list_item:not(.nested_list_item)")
    return rows.filter(has_text=assignment).first
