"""Soak the web app: 200 uploads in one browser tab, and how much that tab's kernel grows.

A student who spends a lesson on the app uploads photo after photo into one kernel. If each upload left a few
hundred kilobytes behind, a class would run out of memory by the afternoon. This script serves
notebooks/dashboard.ipynb with Voilà on 127.0.0.1 (from the repository root, so ./voila.json applies; ``--config``
for another file), opens one tab in Debian's chromium, and uploads ``--uploads`` photos one at a time through the
"Choose photos…" button, cycling through the 18 open photos of data/samples; every 10th file is a truncated
copy, so the error path is soaked too. Each upload must produce its card before the next one is sent.

The kernel's memory (RSS, and USS: the pages no other process shares) is read with psutil before the first upload,
every 20 uploads, at the end, and after "Clear results". The verdict is the RSS growth from before the first upload
to after the last, against 50 MB. The cards stay on the page, as they do for a student, so the growth includes the
200 cards' previews and charts: that is memory a student's session really holds.

    .venv/bin/python benchmarks/soak.py                    # 200 uploads, about two minutes
    .venv/bin/python benchmarks/soak.py --uploads 20       # the CI-sized run
    .venv/bin/python benchmarks/soak.py --config docs/voila-classroom.json

The helpers below (starting Voilà with a given config, finding a tab's kernel process, reading its memory) are
shared with benchmarks/concurrent_sessions.py and tests/browser/test_classroom.py.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from serving import free_port, launch_chromium, stop, voila_command, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# --- configurable parameters -----------------------------------------------------------------------------------
UPLOADS = 200
GROWTH_LIMIT_MB = 50.0  # the bound for 200 uploads in one session
DAMAGED_EVERY = 10  # every 10th upload is a truncated photo, which gets a message card
MEASURE_EVERY = 20  # uploads between two memory readings
SERVER_START_S = 60
LOG_DIR = REPO_ROOT / "test-artifacts"


# --- shared helpers: the server, a tab's kernel, its memory ----------------------------------------------------
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


def sample_photos() -> list[Path]:
    """The open photos of data/samples, sorted."""
    from course_data import open_photos

    return open_photos()


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


# --- the soak ----------------------------------------------------------------------------------------------------
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=UPLOADS, help=f"uploads in the one tab (default {UPLOADS})")
    parser.add_argument("--config", type=Path, help="a Voilà config to use instead of ./voila.json")
    parser.add_argument(
        "--limit-mb",
        type=float,
        default=GROWTH_LIMIT_MB,
        help=f"fail when RSS grows more than this (default {GROWTH_LIMIT_MB:g})",
    )
    options = parser.parse_args()
    load_at_start = machine_load()

    from dashboard_page import DashboardPage
    from playwright.sync_api import sync_playwright

    warm_model_cache()
    process, url = start_server(options.config)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            started = time.perf_counter()
            dashboard = DashboardPage.open(context, url)
            print(
                f"soak: {url} ready in {time.perf_counter() - started:.1f} s "
                f"(config: {options.config or 'voila.json'}); {options.uploads} uploads, one at a time"
            )
            kernel = kernel_process(psutil.Process(process.pid), dashboard.page)
            outcome = soak(dashboard, kernel, options.uploads)
            dashboard.page.locator(".labkit-clear").click()
            dashboard.page.wait_for_function("document.querySelectorAll('.labkit-card').length === 0")
            time.sleep(1)
            cleared = Memory.of(kernel)
            browser.close()
    finally:
        stop(process)

    first, last = outcome["readings"][0][1], outcome["readings"][-1][1]
    growth = last.rss - first.rss
    seconds = sorted(outcome["seconds"])
    expected_problems = options.uploads // DAMAGED_EVERY
    print(
        f"cards: {outcome['results']} results, {outcome['problems']} messages "
        f"(expected {options.uploads - expected_problems} and {expected_problems})"
    )
    print(
        f"upload -> card: median {statistics.median(seconds):.2f} s, "
        f"p90 {seconds[int(0.9 * (len(seconds) - 1))]:.2f} s, max {seconds[-1]:.2f} s; the kernel used "
        f"{outcome['cpu_seconds'] * 1000 / options.uploads:.0f} ms of CPU per upload"
    )
    print(
        f"kernel RSS: {first.rss:.1f} MB before the first upload, {last.rss:.1f} MB after {options.uploads} "
        f"(growth {growth:+.1f} MB, {growth * 1000 / options.uploads:+.0f} kB per upload; USS "
        f"{last.uss - first.uss:+.1f} MB); after 'Clear results': {cleared.rss:.1f} MB"
    )
    served = (outcome["results"], outcome["problems"]) == (options.uploads - expected_problems, expected_problems)
    if options.config is None:  # the README quotes the app as `make app` serves it
        write_result(
            "soak",
            {
                "uploads": options.uploads,
                "rss_before_mb": round(first.rss, 1),
                "rss_after_mb": round(last.rss, 1),
                "rss_growth_mb": round(growth, 1),
                "uss_growth_mb": round(last.uss - first.uss, 1),
                "rss_after_clear_mb": round(cleared.rss, 1),
                "upload_median_s": round(statistics.median(seconds), 3),
                "cards_as_expected": served,
                "limit_mb": options.limit_mb,
            },
            load_at_start=load_at_start,
        )
    if growth >= options.limit_mb or not served:
        print(
            f"soak: FAILED ({'RSS grew' if growth >= options.limit_mb else 'cards missing'}; "
            f"limit {options.limit_mb:g} MB)"
        )
        return 1
    print(f"soak: OK, RSS growth {growth:.1f} MB < {options.limit_mb:g} MB over {options.uploads} uploads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
