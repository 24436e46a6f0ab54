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

The server, the tab's kernel, its memory and the upload loop are tools/classroom.py's, shared with
benchmarks/concurrent_sessions.py and tests/browser/test_classroom.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from classroom import DAMAGED_EVERY, Memory, kernel_process, soak, start_server
from serving import launch_chromium, stop, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# --- configurable parameters -----------------------------------------------------------------------------------
UPLOADS = 200
GROWTH_LIMIT_MB = 50.0  # the bound for 200 uploads in one session


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
