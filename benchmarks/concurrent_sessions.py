"""Serve several students at once: N browser tabs open the app together, each uploads a photo, all get their card.

Voilà starts one kernel per visitor, so what a class needs is what one kernel costs, times the class, plus what
arriving together costs. This script serves notebooks/dashboard.ipynb with Voilà on 127.0.0.1 (./voila.json, or
``--config`` e.g. docs/voila-classroom.json) and, with Debian's chromium:

1. opens the app ``--one-at-a-time`` times in a fresh profile, one after another (the start-up one student sees);
2. opens ``--sessions`` fresh profiles at the same moment, then uploads a different real photo in each at the same
   moment, and checks that every tab gets a card with the photo's right label;
3. reads every tab's kernel process (psutil): RSS, USS (its own pages: what one more kernel costs) and PSS, and the
   CPU seconds it used to start;
4. closes the tabs and counts the kernels still running a few seconds later (Voilà's unload beacon should shut
   them down; see docs/classroom.md for the configuration this needs).

It prints a table per phase, the medians, and RAM estimates for a class of 30 and of 200. Exits 1 unless every tab
became ready and got its card with the right label.

    .venv/bin/python benchmarks/concurrent_sessions.py                         # 5 sessions, ./voila.json
    .venv/bin/python benchmarks/concurrent_sessions.py --config docs/voila-classroom.json
    .venv/bin/python benchmarks/concurrent_sessions.py --sessions 3 --one-at-a-time 1   # the CI-sized run

(Not named concurrent.py: a script's folder comes first on sys.path, and a concurrent.py there would hide the
standard library's concurrent package from every benchmark in benchmarks/.)
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from soak import (
    LOG_DIR,
    Memory,
    kernel_process,
    kernel_processes,
    launch_chromium,
    start_server,
    stop,
    warm_model_cache,
)

# --- configurable parameters -----------------------------------------------------------------------------------
SESSIONS = 5
ONE_AT_A_TIME = 3
POLL_SECONDS = 0.1  # how often the tabs are checked for "Ready" and for their card
TIMEOUT_SECONDS = 180  # for every tab to be ready, and again for every card
CLOSE_WAIT_SECONDS = 5
CLASS_SIZES = (30, 200)
# Photos the model gets right with a wide margin (../shared/samples), one per tab.
PHOTOS = (
    "340_zebra.jpg",
    "145_king_penguin.jpg",
    "504_coffee_mug.jpg",
    "817_sports_car.jpg",
    "907_wine_bottle.jpg",
    "388_giant_panda.jpg",
    "963_pizza.jpg",
    "950_orange.jpg",
)


@dataclass
class Session:
    """One student: a browser profile, its tab, and what was measured."""

    number: int
    context: object
    dashboard: object
    photo: Path
    opened: float
    ready_s: float | None = None
    upload_started: float | None = None
    card_s: float | None = None
    label: str | None = None
    kernel: psutil.Process | None = None
    memory: Memory | None = None
    start_cpu_s: float | None = None


def expected_labels() -> dict[str, str]:
    from course_data import shared_samples_dir

    from labkit.weights import readable_label

    with open(shared_samples_dir() / "labels.csv", newline="", encoding="utf-8") as handle:
        return {row["file"]: readable_label(row["label"]) for row in csv.DictReader(handle)}


def open_sessions(browser, url: str, photos: list[Path]) -> list[Session]:
    """Open one fresh profile and tab per photo, back to back, without waiting for any of them."""
    from dashboard_page import DashboardPage

    sessions = []
    for number, photo in enumerate(photos, start=1):
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        opened = time.perf_counter()
        sessions.append(Session(number, context, DashboardPage.open(context, url, wait=False), photo, opened))
    return sessions


def wait_all(sessions: list[Session], done, mark, what: str) -> None:
    """Poll every tab until ``done(session)``; ``mark(session, now)`` records the moment each one got there."""
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    waiting = list(sessions)
    while waiting:
        for session in list(waiting):
            if done(session):
                mark(session, time.perf_counter())
                waiting.remove(session)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(waiting)} of {len(sessions)} tabs not {what} within {TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)


def is_ready(session: Session) -> bool:
    from serving import READY_TEXT

    return session.dashboard.page.get_by_text(READY_TEXT).count() > 0


def has_card(session: Session) -> bool:
    return session.dashboard.cards.count() > 0


def serve(browser, url: str, server: psutil.Process, photos: list[Path]) -> list[Session]:
    """Open a tab per photo at once, wait for all to be ready, upload in all at once, wait for all cards."""
    sessions = open_sessions(browser, url, photos)
    wait_all(sessions, is_ready, lambda s, now: setattr(s, "ready_s", now - s.opened), "ready")
    for session in sessions:
        session.kernel = kernel_process(server, session.dashboard.page)
        session.start_cpu_s = sum(session.kernel.cpu_times()[:2])
    for session in sessions:
        session.upload_started = time.perf_counter()
        session.dashboard.upload(session.photo)
    wait_all(sessions, has_card, lambda s, now: setattr(s, "card_s", now - s.upload_started), "answered")
    for session in sessions:
        labels = session.dashboard.best_labels()
        session.label = labels[0] if labels else None
        session.memory = Memory.of(session.kernel)
    return sessions


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


def close_all(sessions: list[Session]) -> None:
    for session in sessions:
        session.dashboard.close()
        session.context.close()


def table(title: str, sessions: list[Session], labels: dict[str, str]) -> list[str]:
    lines = [
        title,
        f"{'tab':>4}  {'photo':<26}{'ready s':>8}{'card s':>8}  {'label':<18}{'RSS MB':>8}{'USS MB':>8}"
        f"{'PSS MB':>8}{'start CPU s':>12}",
    ]
    for session in sessions:
        right = "" if session.label == labels[session.photo.name] else "  WRONG"
        lines.append(
            f"{session.number:>4}  {session.photo.name:<26}{session.ready_s:>8.1f}{session.card_s:>8.2f}  "
            f"{(session.label or '(none)')[:17]:<18}{session.memory.rss:>8.0f}{session.memory.uss:>8.0f}"
            f"{session.memory.pss:>8.0f}{session.start_cpu_s:>12.1f}{right}"
        )
    median = statistics.median
    lines.append(
        f"{'':>4}  {'median':<26}{median(s.ready_s for s in sessions):>8.1f}"
        f"{median(s.card_s for s in sessions):>8.2f}  {'':<18}{median(s.memory.rss for s in sessions):>8.0f}"
        f"{median(s.memory.uss for s in sessions):>8.0f}{median(s.memory.pss for s in sessions):>8.0f}"
        f"{median(s.start_cpu_s for s in sessions):>12.1f}"
    )
    return lines


def medians(sessions: list[Session]) -> dict:
    """The medians of what ``sessions`` measured, for the result file (empty when there were none)."""
    if not sessions:
        return {}
    median = statistics.median
    return {
        "tabs": len(sessions),
        "ready_s": round(median(s.ready_s for s in sessions), 2),
        "card_s": round(median(s.card_s for s in sessions), 3),
        "rss_mb": round(median(s.memory.rss for s in sessions), 1),
        "uss_mb": round(median(s.memory.uss for s in sessions), 1),
        "start_cpu_s": round(median(s.start_cpu_s for s in sessions), 2),
    }


def class_estimate(sessions: list[Session], server_mb: float, files_per_kernel: float, sizes=CLASS_SIZES) -> list[str]:
    """RAM for a class: the server, one kernel's shared pages once, and each kernel's own pages (USS) per student;
    and the open files the server needs (its sockets to each kernel), which the default `ulimit -n` of 1024 caps."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS, help=f"tabs at once (default {SESSIONS})")
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=ONE_AT_A_TIME,
        help=f"tabs opened one after another first (default {ONE_AT_A_TIME}; 0 skips)",
    )
    parser.add_argument("--config", type=Path, help="a Voilà config to use instead of ./voila.json")
    options = parser.parse_args()
    if not 1 <= options.sessions <= len(PHOTOS):
        parser.error(f"--sessions takes 1 to {len(PHOTOS)}")

    from course_data import shared_samples_dir
    from playwright.sync_api import sync_playwright

    load_at_start = machine_load()
    labels = expected_labels()
    photos = [shared_samples_dir() / name for name in PHOTOS]
    warm_model_cache()
    process, url = start_server(options.config, LOG_DIR / "voila-concurrent.log")
    server = psutil.Process(process.pid)
    lines = [
        f"concurrent sessions: {url} (config: {options.config or 'voila.json'}), "
        f"{psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 1e9:.0f} GB RAM"
    ]
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            alone = []
            for number in range(options.one_at_a_time):
                wait_until_idle(server)
                session = serve(browser, url, server, [photos[number % len(photos)]])[0]
                session.number = number + 1
                alone.append(session)
                close_all([session])
            wait_until_idle(server)
            together = serve(browser, url, server, photos[: options.sessions])
            server_mb = Memory.of(server).rss
            open_kernels, open_files = len(kernel_processes(server)), server.num_fds()
            close_all(together)
            time.sleep(CLOSE_WAIT_SECONDS)
            left = len(kernel_processes(server))
            # The server's sockets to a kernel and to its tab: what closing the tabs (and their kernels) gave back;
            # if no kernel was shut down, all the server's files over all its kernels (an upper bound).
            freed = open_kernels - left
            files_per_kernel = ((open_files - server.num_fds()) / freed) if freed > 0 else open_files / open_kernels
            browser.close()
    finally:
        stop(process)

    if alone:
        lines += [""] + table("one at a time (each tab the only one starting):", alone, labels)
    lines += [""] + table(f"{options.sessions} at once:", together, labels)
    lines += [""] + class_estimate(alone or together, server_mb, files_per_kernel)
    lines.append(
        f"kernels running: {open_kernels} with the tabs open, {left} of them {CLOSE_WAIT_SECONDS} s after "
        "closing every tab (pre-heated kernels waiting in the pool count too)"
    )
    print("\n".join(lines))
    wrong = [session for session in alone + together if session.label != labels[session.photo.name]]
    if options.config is None:  # the app as `make app` serves it
        write_result(
            "concurrent_sessions",
            {
                "one_at_a_time": medians(alone),
                "at_once": medians(together),
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
        f"concurrent sessions: OK, all {options.sessions} sessions at once were served "
        f"(median ready {statistics.median(s.ready_s for s in together):.1f} s, "
        f"card {statistics.median(s.card_s for s in together):.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
