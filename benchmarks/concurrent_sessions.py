"""A class arriving at once: N students, each in a browser process of their own, open the app within one second.

Voilà starts one kernel per visitor (or hands out one pre-heated in its pool), so what a class needs is what one
kernel costs, times the class, plus what arriving together costs. This script serves notebooks/dashboard.ipynb with
Voilà on 127.0.0.1 (./voila.json, or ``--config`` e.g. docs/voila-classroom.json) and, with Debian's chromium:

1. opens the app ``--one-at-a-time`` times, one after another (the start-up one student sees);
2. starts ``--sessions`` chromium processes (one per student, as on their own laptops, but on this machine's cores),
   waits until the server is idle (its pool full), then points every browser at the app within the same second and
   times each until its status line says "Ready"; a tab that shows labkit's "could not start" message instead, or
   nothing within the time-out, counts as not ready;
3. uploads a different real photo (``data/samples``, in the repository) in every ready tab at the same moment, and
   checks that every tab gets a card with the photo's right label;
4. reads every tab's kernel process (psutil): RSS, USS (its own pages: what one more kernel costs) and PSS, the CPU
   seconds it used to start, and the CPU each student's browser used to open the page;
5. closes the tabs and counts the kernels still running a few seconds later (Voilà's unload beacon should shut
   them down; see docs/classroom.md for the configuration this needs).

It prints a table per phase, the medians, whether the burst met its target (every student "Ready", the slowest
within 20 s) or why not, and RAM estimates for a class of 30 and of 200. Exits 1 unless every tab became ready and
got its card with the right label.

    .venv/bin/python benchmarks/concurrent_sessions.py                         # 10 students, ./voila.json
    .venv/bin/python benchmarks/concurrent_sessions.py --config docs/voila-classroom.json
    .venv/bin/python benchmarks/concurrent_sessions.py --sessions 4 --one-at-a-time 1   # a quick check

The figures depend on the machine being otherwise idle (the load average is printed and stored): on a busy machine
the browsers and kernels queue behind other work.

(Not named concurrent.py: a script's folder comes first on sys.path, and a concurrent.py there would hide the
standard library's concurrent package from every benchmark in benchmarks/.)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from playwright.sync_api import Error as PlaywrightError
from soak import (
    LOG_DIR,
    REPO_ROOT,
    Memory,
    kernel_process,
    kernel_processes,
    launch_chromium,
    start_server,
    stop,
    warm_model_cache,
)

# --- configurable parameters -----------------------------------------------------------------------------------
SESSIONS = 10
ONE_AT_A_TIME = 3
TARGET_SLOWEST_READY_S = 20.0  # the whole class "Ready" within this, on 2 cores shared with their browsers
POLL_SECONDS = 0.5  # how often the tabs are asked whether they are ready (each tab records the moment itself)
TIMEOUT_SECONDS = 180  # for every tab to be ready, and again for every card
CLOSE_WAIT_SECONDS = 5
CLASS_SIZES = (30, 200)
SAMPLES = REPO_ROOT / "data" / "samples"  # openly licensed, in the repository, so a clone can re-run this
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
    browser_cpu_s: float | None = None
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
    from labkit.weights import readable_label

    with open(SAMPLES / "labels.csv", newline="", encoding="utf-8") as handle:
        return {row["file"]: readable_label(row["label"]) for row in csv.DictReader(handle) if row["label"]}


def open_sessions(browsers: Sequence, url: str, photos: list[Path]) -> list[Session]:
    """One fresh profile and blank tab per photo (``browsers[i]`` for the i-th), then every tab sent to the app
    within a few milliseconds, without waiting for any of them."""
    from dashboard_page import DashboardPage

    sessions = []
    for number, (browser, photo) in enumerate(zip(browsers, photos, strict=False), start=1):
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_init_script(RECORD_MOMENTS)
        sessions.append(Session(number, context, DashboardPage(context.new_page()), photo))
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
) -> list[Session]:
    """Send a tab per photo to the app at once, wait until each is ready, then upload in every ready tab at once and
    wait for their cards. ``browser_processes``: each tab's chromium, to read the CPU it used to open the page."""
    cpu_before = [tree_cpu(process) if process else None for process in browser_processes]
    sessions = open_sessions(browsers, url, photos)
    wait_until_ready(sessions)
    for session, process, before in zip(sessions, browser_processes, cpu_before, strict=False):
        if process is not None:
            session.browser_process, session.browser_cpu_s = process, tree_cpu(process) - before
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


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by a process and its children (a browser and its renderers)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += sum(member.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


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


def wait_for_full_pool(server: psutil.Process, pool: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """Wait until the pre-heated pool is full again, as when a class arrives: at least its size in kernels running
    (labkit's pool starts a replacement only once arrivals have calmed down), then the server and kernels idle."""
    wanted = pool["pool_size"] if pool["preheat_kernel"] else 0
    deadline = time.monotonic() + timeout
    while len(kernel_processes(server)) < wanted and time.monotonic() < deadline:
        time.sleep(1.0)
    wait_until_idle(server)


def close_all(sessions: list[Session]) -> None:
    for session in sessions:
        session.dashboard.close()
        session.context.close()


def _seconds(value: float | None, width: int, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def table(title: str, sessions: list[Session], labels: dict[str, str]) -> list[str]:
    lines = [
        title,
        f"{'tab':>4}  {'photo':<20}{'ready s':>8}{'card s':>8}  {'label':<18}{'RSS MB':>8}{'USS MB':>8}"
        f"{'PSS MB':>8}{'start CPU s':>12}{'browser CPU s':>14}",
    ]
    for session in sessions:
        right = "" if session.label == labels[session.photo.name] else "  WRONG"
        if session.ready_s is None:
            right = "  NOT READY" + (f" (message shown at {session.problem_s:.1f} s)" if session.problem_s else "")
        elif session.problem_s is not None:
            right += f"  (said it could not start at {session.problem_s:.1f} s, then came good)"
        memory = session.memory or Memory(float("nan"), float("nan"), float("nan"))
        lines.append(
            f"{session.number:>4}  {session.photo.name:<20}{_seconds(session.ready_s, 8)}"
            f"{_seconds(session.card_s, 8, 2)}  {(session.label or '(none)')[:17]:<18}{memory.rss:>8.0f}"
            f"{memory.uss:>8.0f}{memory.pss:>8.0f}{_seconds(session.start_cpu_s, 12)}"
            f"{_seconds(session.browser_cpu_s, 14)}{right}"
        )
    figures = medians(sessions)
    if figures.get("ready_s") is not None:
        lines.append(
            f"{'':>4}  {'median':<20}{figures['ready_s']:>8.1f}{figures['card_s']:>8.2f}  {'':<18}"
            f"{figures['rss_mb']:>8.0f}{figures['uss_mb']:>8.0f}{'':>8}{figures['start_cpu_s']:>12.1f}"
            f"{_seconds(figures.get('browser_cpu_s'), 14)}"
        )
    return lines


def medians(sessions: list[Session]) -> dict:
    """What ``sessions`` measured, for the result file: medians over the tabs that became ready, each tab's seconds
    to "Ready", and how many never were (empty when there were no tabs)."""
    if not sessions:
        return {}
    median = statistics.median
    ready = [s for s in sessions if s.ready_s is not None]
    figures = {
        "tabs": len(sessions),
        "ready_each_s": [round(s.ready_s, 2) if s.ready_s is not None else None for s in sessions],
        "not_ready": len(sessions) - len(ready),
        "told_not_ready": sum(1 for s in sessions if s.ready_s is None and s.problem_s is not None),
        "message_shown": sum(1 for s in sessions if s.problem_s is not None),
    }
    if ready:
        figures.update(
            {
                "ready_s": round(median(s.ready_s for s in ready), 2),
                "slowest_ready_s": round(max(s.ready_s for s in ready), 2),
                "card_s": round(median(s.card_s for s in ready), 3),
                "rss_mb": round(median(s.memory.rss for s in ready), 1),
                "uss_mb": round(median(s.memory.uss for s in ready), 1),
                "start_cpu_s": round(median(s.start_cpu_s for s in ready), 2),
            }
        )
    browser_cpu = [s.browser_cpu_s for s in sessions if s.browser_cpu_s is not None]
    if browser_cpu:
        figures["browser_cpu_s"] = round(median(browser_cpu), 2)
    return figures


def verdict(figures: dict, load_at_start: list[float], cores: int, browsers_cpu_s: float = 0.0) -> tuple[bool, str]:
    """Whether a burst met the target (every tab "Ready", the slowest within TARGET_SLOWEST_READY_S), and a sentence
    saying so, or what missed and what the machine was doing. ``browsers_cpu_s``: the CPU all the students' browsers
    used to open the page, which alone takes ``browsers_cpu_s / cores`` seconds on these cores."""
    slowest, missing = figures.get("slowest_ready_s"), figures["not_ready"]
    met = missing == 0 and slowest is not None and slowest <= TARGET_SLOWEST_READY_S
    if met:
        return True, (
            f"target met: all {figures['tabs']} students ready, the slowest in {slowest:.1f} s "
            f"(target {TARGET_SLOWEST_READY_S:g} s)"
        )
    why = []
    if missing:
        why.append(f"{missing} of {figures['tabs']} never ready ({figures['told_not_ready']} of them told so)")
    if slowest is not None and slowest > TARGET_SLOWEST_READY_S:
        why.append(f"the slowest ready in {slowest:.1f} s (target {TARGET_SLOWEST_READY_S:g} s)")
    if browsers_cpu_s / cores > TARGET_SLOWEST_READY_S:
        why.append(
            f"the {figures['tabs']} browsers alone needed {browsers_cpu_s:.0f} CPU-seconds to open the page, "
            f"{browsers_cpu_s / cores:.0f} s on {cores} cores"
        )
    if load_at_start[0] > 1.0:
        why.append(
            f"the machine was busy before the class arrived (load {load_at_start[0]:.1f} on {cores} cores): "
            "re-run on an idle machine before quoting this"
        )
    return False, "target NOT met: " + "; ".join(why)


def class_estimate(sessions: list[Session], server_mb: float, files_per_kernel: float, sizes=CLASS_SIZES) -> list[str]:
    """RAM for a class: the server, one kernel's shared pages once, and each kernel's own pages (USS) per student;
    and the open files the server needs (its sockets to each kernel), which the default `ulimit -n` of 1024 caps."""
    sessions = [session for session in sessions if session.memory is not None]
    uss = statistics.median(session.memory.uss for session in sessions)
    shared = statistics.median(session.memory.rss - session.memory.uss for session in sessions)
    cpu = statistics.median(session.start_cpu_s for session in sessions)
    lines = [
        f"per kernel: {uss:.0f} MB of its own (USS) + {shared:.0f} MB shared by all kernels; "
        f"{cpu:.1f} CPU s to start; the Voilà server {server_mb:.0f} MB"
    ]
    for size in sizes:
        total_gb = (server_mb + shared + size * uss) / 1000
        lines.append(
            f"a class of {size}: {total_gb:.1f} GB for the kernels and the server; "
            f"{size * cpu:.0f} CPU s of kernel start-up if all arrive at once "
            f"({size * cpu / 60:.1f} min on one core); the server holds {size * files_per_kernel:.0f} "
            "open files"
        )
    return lines


def pool_settings(config: Path | None) -> dict:
    """The pre-heated pool the server ran with: ``preheat_kernel``, ``default_pool_size`` and ``fill_delay``."""
    settings = json.loads((config or REPO_ROOT / "voila.json").read_text(encoding="utf-8"))
    voila = settings.get("VoilaConfiguration", {})
    return {
        "preheat_kernel": voila.get("preheat_kernel", False),
        "pool_size": voila.get("default_pool_size", 1),
        "fill_delay_s": settings.get("VoilaKernelManager", {}).get("fill_delay", 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS, help=f"students at once (default {SESSIONS})")
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=ONE_AT_A_TIME,
        help=f"tabs opened one after another first (default {ONE_AT_A_TIME}; 0 skips)",
    )
    parser.add_argument("--config", type=Path, help="a Voilà config to use instead of ./voila.json")
    options = parser.parse_args()
    if options.sessions < 1:
        parser.error("--sessions takes 1 or more")

    from playwright.sync_api import sync_playwright

    load_at_start = machine_load()
    labels = expected_labels()
    photos = photo_paths(max(options.sessions, options.one_at_a_time))
    warm_model_cache()
    process, url = start_server(options.config, LOG_DIR / "voila-concurrent.log")
    server = psutil.Process(process.pid)
    pool = pool_settings(options.config)
    lines = [
        f"concurrent sessions: {url} (config: {options.config or 'voila.json'}: pool {pool}), "
        f"{psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 1e9:.0f} GB RAM, load average "
        f"{load_at_start[0]:.1f} at the start"
    ]
    try:
        with sync_playwright() as playwright:
            alone = []
            lone_browser, lone_process = launch_students(playwright, 1)
            for number in range(options.one_at_a_time):
                wait_for_full_pool(server, pool)
                session = serve(lone_browser, url, server, [photos[number]], lone_process)[0]
                session.number = number + 1
                alone.append(session)
                close_all([session])
            browsers, browser_processes = launch_students(playwright, options.sessions)
            wait_for_full_pool(server, pool)
            together = serve(browsers, url, server, photos[: options.sessions], browser_processes)
            server_mb = Memory.of(server).rss
            open_kernels, open_files = len(kernel_processes(server)), server.num_fds()
            close_all(together)
            time.sleep(CLOSE_WAIT_SECONDS)
            left = len(kernel_processes(server))
            # The server's sockets to a kernel and to its tab: what closing the tabs (and their kernels) gave back;
            # if no kernel was shut down, all the server's files over all its kernels (an upper bound).
            freed = open_kernels - left
            files_per_kernel = ((open_files - server.num_fds()) / freed) if freed > 0 else open_files / open_kernels
            for browser in [*lone_browser, *browsers]:
                browser.close()
    finally:
        stop(process)

    if alone:
        lines += [""] + table("one at a time (each tab the only one starting):", alone, labels)
    lines += [""] + table(f"{options.sessions} at once, each in its own browser process:", together, labels)
    lines += [""] + class_estimate(alone or together, server_mb, files_per_kernel)
    lines.append(
        f"kernels running: {open_kernels} with the tabs open, {left} of them {CLOSE_WAIT_SECONDS} s after "
        "closing every tab (pre-heated kernels waiting in the pool count too)"
    )
    at_once = medians(together)
    browsers_cpu_s = sum(session.browser_cpu_s or 0.0 for session in together)
    lines.append(
        f"the students' browsers used {browsers_cpu_s:.0f} CPU-seconds to open the page "
        f"({browsers_cpu_s / psutil.cpu_count():.0f} s of all {psutil.cpu_count()} cores), their kernels "
        f"{sum(session.start_cpu_s or 0.0 for session in together):.0f} to start (before the class arrived, "
        "for pre-heated ones)"
    )
    met, sentence = verdict(at_once, load_at_start, psutil.cpu_count(), browsers_cpu_s)
    lines.append(sentence)
    print("\n".join(lines))
    wrong = [session for session in alone + together if session.label != labels[session.photo.name]]
    if options.config is None:  # the app as `make app` serves it
        write_result(
            "concurrent_sessions",
            {
                "one_at_a_time": medians(alone),
                "at_once": at_once,
                "pool": pool,
                "target_slowest_ready_s": TARGET_SLOWEST_READY_S,
                "target_met": met,
                "server_rss_mb": round(server_mb, 1),
                "open_files_per_kernel": round(files_per_kernel, 1),
                "kernels_with_tabs_open": open_kernels,
                "kernels_left_after_closing": left,
                "all_right": not wrong,
            },
            load_at_start=load_at_start,
        )
    if wrong:
        print(f"concurrent sessions: FAILED, {len(wrong)} tab(s) without the right card")
        return 1
    print(
        f"concurrent sessions: OK, all {options.sessions} students at once were served "
        f"(median ready {at_once['ready_s']:.1f} s, slowest {at_once['slowest_ready_s']:.1f} s, "
        f"card {at_once['card_s']:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
