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
   seconds it used to start, and the CPU each student's browser used to open the page; from the class's arrival to
   its last "Ready", the CPU of every kernel (the pool's refills included) and of the server;
5. closes the tabs and counts the kernels still running a few seconds later (Voilà's unload beacon should shut
   them down; see docs/classroom.md for the configuration this needs).

It prints a table per phase, the medians, whether the burst met its target (every student "Ready", the slowest
within 20 s) or why not, where the cores went until the last "Ready" (browsers, kernels, server), and RAM
estimates for a class of 30 and of 200. Exits 1 unless every tab became ready and got its card with the right label.

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
import json
import os
import statistics
import sys
import time
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from classroom import (
    LOG_DIR,
    TIMEOUT_SECONDS,
    Memory,
    Session,
    close_all,
    cpu_seconds,
    expected_labels,
    kernel_processes,
    launch_students,
    photo_paths,
    serve,
    start_server,
    wait_until_idle,
)
from serving import REPO_ROOT, stop, warm_model_cache

os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# --- configurable parameters -----------------------------------------------------------------------------------
SESSIONS = 10
ONE_AT_A_TIME = 3
TARGET_SLOWEST_READY_S = 20.0  # the whole class "Ready" within this, on 2 cores shared with their browsers
CLOSE_WAIT_SECONDS = 5
CLASS_SIZES = (30, 200)


def wait_for_full_pool(server: psutil.Process, pool: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    """Wait until the pre-heated pool is full again, as when a class arrives: at least its size in kernels running
    (labkit's pool starts a replacement only once arrivals have calmed down), then the server and kernels idle."""
    wanted = pool["pool_size"] if pool["preheat_kernel"] else 0
    deadline = time.monotonic() + timeout
    while len(kernel_processes(server)) < wanted and time.monotonic() < deadline:
        time.sleep(1.0)
    wait_until_idle(server)


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


def burst_cpu(server: psutil.Process) -> dict[str, float]:
    """CPU seconds used so far by the Voilà ``server`` itself and by all its kernels (those exited count as none)."""
    return {"server": cpu_seconds([server]), "kernels": cpu_seconds(list(kernel_processes(server).values()))}


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
            # every kernel (the pool's refills included) and the server, from the class's arrival to its last "Ready"
            before = burst_cpu(server)
            at_ready: list[dict[str, float]] = []
            together = serve(
                browsers,
                url,
                server,
                photos[: options.sessions],
                browser_processes,
                when_ready=lambda: at_ready.append(burst_cpu(server)),
            )
            burst_kernels_cpu_s = at_ready[0]["kernels"] - before["kernels"]
            burst_server_cpu_s = at_ready[0]["server"] - before["server"]
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
    burst_cpu_s = browsers_cpu_s + burst_kernels_cpu_s + burst_server_cpu_s
    lines.append(
        f'from the class\'s arrival to its last "Ready": the browsers {browsers_cpu_s:.0f} CPU-seconds, the kernels '
        f"{burst_kernels_cpu_s:.0f} (the pool's refills included), the Voilà server {burst_server_cpu_s:.0f}: "
        f"{burst_cpu_s / psutil.cpu_count():.0f} s of all {psutil.cpu_count()} cores"
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
                "burst_kernels_cpu_s": round(burst_kernels_cpu_s, 1),
                "burst_server_cpu_s": round(burst_server_cpu_s, 1),
                "burst_browsers_cpu_s": round(browsers_cpu_s, 1),
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
