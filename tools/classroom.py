"""A class on the web app, driven for real: Voilà's server and its kernels, students' tabs, uploads and memory.

The browser tests of a classroom (tests/browser/test_classroom.py, tests/hub/test_hub.py) and the benchmarks that
time and measure one (benchmarks/soak.py, concurrent_sessions.py, browser.py, hub.py) share these helpers:

- the server: :func:`start_server` (Voilà with a given config), :func:`server_process`, :func:`wait_until_idle`;
- a tab's kernel and its memory: :func:`kernel_id`, :func:`kernel_processes`, :func:`kernel_process`, :class:`Memory`;
- the CPU processes used: :func:`cpu_seconds`, :func:`tree_cpu` (a process and its children);
- one student soaking a tab with uploads: :func:`upload_files`, :func:`soak`;
- a class arriving: :class:`Session`, :func:`launch_students`, :func:`open_sessions`, :func:`wait_until_ready`,
  :func:`serve` (every tab ready, then an upload in each at once), :func:`close_all`, and the photos they upload
  with their right labels (:func:`photo_paths`, :func:`expected_labels`).

Not a test module: pytest finds it on its ``pythonpath`` (tools/), the benchmarks through ``benchmarks/_harness.py``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from dashboard_page import DashboardPage
from playwright.sync_api import Error as PlaywrightError
from serving import REPO_ROOT, SERVER_START_S, free_port, launch_chromium, stop, voila_command

from labkit.images import iter_image_files
from labkit.paths import SAMPLES_DIR as SAMPLES  # openly licensed, in the repository, so a clone can re-run this
from labkit.weights import readable_label

DAMAGED_EVERY = 10  # every 10th upload is a truncated photo, which gets a message card
MEASURE_EVERY = 20  # uploads between two memory readings
POLL_SECONDS = 0.5  # how often the tabs are asked whether they are ready (each tab records the moment itself)
TIMEOUT_SECONDS = 180  # for every tab to be ready, and again for every card
LOG_DIR = REPO_ROOT / "test-artifacts"

# Photos the model gets right with a wide margin, one per student.
PHOTOS = (
    "space_shuttle.jpg",
    "cab.jpg",
    "loggerhead.jpg",
    "espresso.jpg",
    "pizza.jpg",
    "penguin.jpg",
    "cheeseburger.jpg",
    "burrito.jpg",
    "ballpoint.jpg",
    "grace_hopper.jpg",
)


# Runs in every page the students' browsers load: the moment (ms since the epoch) the status line first says the
# model is ready, or the app's "could not start" message first shows, so that polling ten browsers from here does
# not decide the figures.
RECORD_MOMENTS = """
(() => {
  const check = () => {
    if (!window.labkitReadyAt && document.querySelector('.labkit-status[data-state="ready"]')) {
      window.labkitReadyAt = Date.now();
    }
    const problem = document.querySelector('.labkit-kernel-problem');
    if (!window.labkitProblemAt && problem && !problem.hidden) { window.labkitProblemAt = Date.now(); }
  };
  setInterval(check, 50);
})();
"""


# --- the server, a tab's kernel, its memory -------------------------------------------------------------------------
def start_server(
    config: Path | None = None, log_path: Path = LOG_DIR / "voila-classroom.log", extra_args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """Start Voilà on the app from the repository root, on a free port of 127.0.0.1; return (process, url).

    ``config``: a Voilà JSON config to use *instead of* ./voila.json. Voilà only reads files named voila.json, from
    the folders in ``Voila.config_file_paths``, so the file is copied as voila.json into a folder beside the log
    (``<log name>-config/``) and that folder becomes the only one searched.
    """
    port = free_port()
    command = voila_command(port, *extra_args)
    if config is not None:
        folder = log_path.parent / f"{log_path.stem}-config"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(config, folder / "voila.json")
        command.append(f"--Voila.config_file_paths={[str(folder)]}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Voilà exited with code {process.returncode}; see {log_path}")
        if any(
            connection.laddr.port == port and connection.status == psutil.CONN_LISTEN
            for connection in psutil.Process(process.pid).net_connections("tcp")
        ):
            return process, f"http://127.0.0.1:{port}/"
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"Voilà did not listen on port {port} within {SERVER_START_S} s; see {log_path}")


def server_process(url: str) -> psutil.Process:
    """The process listening on ``url``'s port (for a server someone else started, e.g. a pytest fixture)."""
    port = int(re.search(r":(\d+)", url.split("//", 1)[1]).group(1))
    for connection in psutil.net_connections("tcp"):
        if connection.laddr.port == port and connection.status == psutil.CONN_LISTEN and connection.pid:
            return psutil.Process(connection.pid)
    raise LookupError(f"No process listens on port {port}.")


def kernel_id(page) -> str:
    """The id of the kernel behind a Voilà tab (Voilà writes it into the page's config)."""
    found = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page.content())
    if not found:
        raise LookupError("No kernelId in the page: is it a Voilà page?")
    return found.group(1)


def kernel_processes(server: psutil.Process) -> dict[str, psutil.Process]:
    """The server's kernels, by kernel id (each kernel's command line names its connection file, kernel-<id>.json)."""
    kernels = {}
    for child in server.children(recursive=True):
        try:
            found = re.search(r"kernel-([0-9a-f-]{36})\.json", " ".join(child.cmdline()))
        except psutil.NoSuchProcess:
            continue
        if found:
            kernels[found.group(1)] = child
    return kernels


def kernel_process(server: psutil.Process, page) -> psutil.Process:
    """The process of the kernel behind a Voilà tab."""
    wanted = kernel_id(page)
    kernels = kernel_processes(server)
    if wanted not in kernels:
        raise LookupError(f"Kernel {wanted} of this tab is not among the server's processes.")
    return kernels[wanted]


@dataclass(frozen=True)
class Memory:
    """A process's memory in MB: RSS (resident), USS (only its own pages) and PSS (shared pages split evenly)."""

    rss: float
    uss: float
    pss: float

    @classmethod
    def of(cls, process: psutil.Process) -> Memory:
        info = process.memory_full_info()
        return cls(info.rss / 1e6, info.uss / 1e6, info.pss / 1e6)


def wait_until_idle(server: psutil.Process, timeout: float = 90.0) -> None:
    """Wait until the server and its kernels use less than a tenth of a core, two readings in a row: a pre-heated
    pool is then full, as it is when a class arrives."""
    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 2 and time.monotonic() < deadline:
        processes = [server, *server.children(recursive=True)]
        before = sum(sum(process.cpu_times()[:2]) for process in processes)
        time.sleep(1.0)
        after = sum(sum(process.cpu_times()[:2]) for process in processes if process.is_running())
        quiet = quiet + 1 if after - before < 0.1 else 0


# --- one student, many uploads -------------------------------------------------------------------------------------
def sample_photos() -> list[Path]:
    """The open photos of data/samples, sorted."""
    return iter_image_files(SAMPLES)


def upload_files(count: int, damaged_every: int = DAMAGED_EVERY) -> list[tuple[str, bytes]]:
    """``count`` (name, bytes) uploads: the sample photos in turn, every ``damaged_every``-th cut in half."""
    photos = sample_photos()
    files = []
    for number in range(1, count + 1):
        photo = photos[(number - 1) % len(photos)]
        data = photo.read_bytes()
        if damaged_every and number % damaged_every == 0:
            files.append((f"truncated_{photo.name}", data[: len(data) // 2]))
        else:
            files.append((photo.name, data))
    return files


def soak(
    dashboard,
    kernel: psutil.Process,
    uploads: int,
    measure_every: int = MEASURE_EVERY,
    report=print,
    first_card: int = 1,
) -> dict:
    """Upload ``uploads`` files one at a time into one tab; return memory readings and per-upload seconds.

    Each upload must put its own card on top before the next is sent (``first_card``: the number the first upload's
    card will have, when the tab already shows some).
    """
    readings = [(0, Memory.of(kernel))]
    seconds, cpu_before = [], sum(kernel.cpu_times()[:2])
    report(f"{'uploads':>8}{'RSS MB':>9}{'USS MB':>9}{'median s':>10}")
    report(f"{0:>8}{readings[0][1].rss:>9.1f}{readings[0][1].uss:>9.1f}{'':>10}")
    for number, (name, data) in enumerate(upload_files(uploads), start=1):
        started = time.perf_counter()
        dashboard.upload((name, data))
        dashboard.wait_for_cards(first_card + number - 1)
        seconds.append(time.perf_counter() - started)
        newest = dashboard.cards.first.locator(".labkit-card-name").inner_text()
        if newest != name:
            raise AssertionError(f"Upload {number} ({name}): the newest card is for {newest!r}.")
        if number % measure_every == 0 or number == uploads:
            readings.append((number, Memory.of(kernel)))
            recent = statistics.median(seconds[-measure_every:])
            report(f"{number:>8}{readings[-1][1].rss:>9.1f}{readings[-1][1].uss:>9.1f}{recent:>10.2f}")
    return {
        "readings": readings,
        "seconds": seconds,
        "results": dashboard.results.count(),
        "problems": dashboard.problems.count(),
        "cpu_seconds": sum(kernel.cpu_times()[:2]) - cpu_before,
    }


# --- a class arriving ----------------------------------------------------------------------------------------------
@dataclass
class Session:
    """One student: a browser profile (in a browser process of its own, or shared), its tab, and what was measured."""

    number: int
    context: object
    dashboard: object
    photo: Path
    opened: float = 0.0  # time.time() when the tab was sent to the app
    browser_process: psutil.Process | None = None
    ready_s: float | None = None
    problem_s: float | None = None  # when labkit's "could not start" message showed instead
    browser_cpu_at_open: float | None = None  # its browser's CPU seconds so far, when the tab was sent to the app
    browser_cpu_s: float | None = None  # what its browser used from then until the tab was ready
    upload_started: float | None = None
    card_s: float | None = None
    label: str | None = None
    kernel: psutil.Process | None = None
    memory: Memory | None = None
    start_cpu_s: float | None = None


def photo_paths(count: int) -> list[Path]:
    """``count`` photos of ``data/samples`` the model gets right, one per student (repeated past ten)."""
    return [SAMPLES / PHOTOS[number % len(PHOTOS)] for number in range(count)]


def expected_labels() -> dict[str, str]:
    """The right label of each photo in ``data/samples``, as the app writes it ("space shuttle")."""
    with open(SAMPLES / "labels.csv", newline="", encoding="utf-8") as handle:
        return {row["file"]: readable_label(row["label"]) for row in csv.DictReader(handle) if row["label"]}


def open_sessions(
    browsers: Sequence, url: str, photos: list[Path], browser_processes: Sequence[psutil.Process | None] = ()
) -> list[Session]:
    """One fresh profile and blank tab per photo (``browsers[i]`` for the i-th), then every tab sent to the app
    within a few milliseconds, without waiting for any of them.

    ``browser_processes``: each tab's chromium, whose CPU so far is noted once the blank tabs exist, just before
    they are sent to the app (``Session.browser_cpu_at_open``): opening a tab is not opening the page.
    """
    sessions = []
    for number, (browser, photo) in enumerate(zip(browsers, photos, strict=False), start=1):
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_init_script(RECORD_MOMENTS)
        sessions.append(Session(number, context, DashboardPage(context.new_page()), photo))
    for session, process in zip(sessions, browser_processes, strict=False):
        if process is not None:
            session.browser_process, session.browser_cpu_at_open = process, tree_cpu(process)
    for session in sessions:
        session.opened = time.time()
        # Navigate from inside the page: Playwright's goto would wait for the server's first byte, one tab at a time.
        session.dashboard.page.evaluate("url => setTimeout(() => { window.location.href = url; }, 0)", url)
    return sessions


def moments(session: Session) -> tuple[float | None, float | None]:
    """(ready, problem) as recorded in the tab, in ms since the epoch; (None, None) while it is between pages."""
    try:
        ready, problem = session.dashboard.page.evaluate(
            "() => [window.labkitReadyAt || null, window.labkitProblemAt || null]"
        )
    except PlaywrightError:
        return None, None
    return ready, problem


def wait_until_ready(sessions: list[Session], timeout: float = TIMEOUT_SECONDS) -> None:
    """Poll every tab until it is ready or ``timeout`` passes; record the seconds each took to be ready, and to show
    labkit's "could not start" message if it did (such a tab may still come good: the message then goes away)."""
    deadline = time.time() + timeout
    waiting = list(sessions)
    while waiting and time.time() < deadline:
        for session in list(waiting):
            ready, problem = moments(session)
            if problem and session.problem_s is None:
                session.problem_s = problem / 1000 - session.opened
            if ready:
                session.ready_s = ready / 1000 - session.opened
                waiting.remove(session)
        time.sleep(POLL_SECONDS)


def has_card(session: Session) -> bool:
    return session.dashboard.cards.count() > 0


def wait_for_cards(sessions: list[Session]) -> None:
    """Poll every tab until it shows a card; record the seconds since its upload."""
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    waiting = list(sessions)
    while waiting:
        for session in list(waiting):
            if has_card(session):
                session.card_s = time.perf_counter() - session.upload_started
                waiting.remove(session)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(waiting)} of {len(sessions)} tabs without a card within {TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS / 5)


def serve(
    browsers: Sequence,
    url: str,
    server: psutil.Process,
    photos: list[Path],
    browser_processes: Sequence[psutil.Process | None] = (),
    when_ready: Callable[[], object] | None = None,
) -> list[Session]:
    """Send a tab per photo to the app at once, wait until each is ready, then upload in every ready tab at once and
    wait for their cards. ``browser_processes``: each tab's chromium, to read the CPU it used to open the page;
    ``when_ready``: called once every tab is ready (or the time-out has passed), before the uploads."""
    sessions = open_sessions(browsers, url, photos, browser_processes)
    wait_until_ready(sessions)
    if when_ready is not None:
        when_ready()
    for session in sessions:
        if session.browser_process is not None and session.browser_cpu_at_open is not None:
            session.browser_cpu_s = tree_cpu(session.browser_process) - session.browser_cpu_at_open
    ready = [session for session in sessions if session.ready_s is not None]
    for session in ready:
        session.kernel = kernel_process(server, session.dashboard.page)
        session.start_cpu_s = sum(session.kernel.cpu_times()[:2])
    for session in ready:
        session.upload_started = time.perf_counter()
        session.dashboard.upload(session.photo)
    wait_for_cards(ready)
    for session in ready:
        labels = session.dashboard.best_labels()
        session.label = labels[0] if labels else None
        session.memory = Memory.of(session.kernel)
    return sessions


def cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    """CPU seconds (user + system) used so far by ``processes``, those that have exited counting as none."""
    total = 0.0
    for process in processes:
        try:
            total += sum(process.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds used so far by a process and its children (a browser and its renderers; a student's server and
    its kernels)."""
    return cpu_seconds([process, *process.children(recursive=True)])


def chromium_processes() -> set[int]:
    """The pids of the chromium browser processes running now (their main process, not renderers)."""
    found = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = process.info["cmdline"] or []
        if command and command[0].endswith("chromium") and not any(arg.startswith("--type=") for arg in command):
            found.add(process.info["pid"])
    return found


def launch_students(playwright, count: int) -> tuple[list, list[psutil.Process]]:
    """One chromium process per student; return the browsers and their main processes, in the same order."""
    browsers, processes = [], []
    for _ in range(count):
        before = chromium_processes()
        browsers.append(launch_chromium(playwright, camera_args=()))
        new = chromium_processes() - before
        processes.append(psutil.Process(new.pop()) if len(new) == 1 else None)
    return browsers, processes


def close_all(sessions: list[Session]) -> None:
    for session in sessions:
        session.dashboard.close()
        session.context.close()
