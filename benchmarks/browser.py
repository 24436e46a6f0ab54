"""How fast the web app feels: page load to "Ready", and photo to result card, in a real browser.

Starts Voilà on notebooks/dashboard.ipynb (from the repository root, so ./voila.json applies) and drives Debian's
chromium with Playwright, the same way the browser tests do. Prints medians of ``--runs`` measurements:

- page load -> ready: from navigating to the app until the status line says "Ready" (a new tab, so a new kernel
  that imports labkit and loads the model, or one from ./voila.json's pre-heated pool). The first load after the
  server starts is reported on its own as the cold start. Target: within 10 s.
- N students at once -> ready: ``--together`` tabs (3 by default, fresh profiles) open the app at the same moment,
  each timed until its "Ready", with ./voila.json (pre-heated pool) and, as the reference measured in the same run,
  the same server with ``--VoilaConfiguration.preheat_kernel=False`` (every tab starts a kernel from cold). Both
  servers are idle (the pool full) before the tabs open, as when a class arrives. Target: every tab within 10 s.
- upload -> result visible: from handing a photo to the file chooser (or dropping it) until its card is on the
  page, in one tab whose model is loaded. Target: within 1 s.
- show where it looked: from pressing a card's "Show where it looked" until the Grad-CAM overlay is visible. The
  first press in a tab is reported on its own (the heatmap comes from the LiteRT engine, without TensorFlow, so it
  should cost about what later presses do). No target here: benchmarks/engines.py and benchmarks/memory.py hold
  the heatmap's targets.

The machine's load average is printed with the figures: on a shared machine the times move with it.

Run from the repository root: ``.venv/bin/python benchmarks/browser.py [--runs 10] [--together 3] [--photo PATH]``
(``--runs 0`` measures only the students arriving together).
LABKIT_WEIGHTS_DIR must point at the weights (``../shared/models`` by default, as in the tests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import psutil
from _results import machine_load, write_result
from classroom import open_sessions, start_server, wait_until_idle, wait_until_ready
from course_data import open_photo
from dashboard_page import DashboardPage
from serving import launch_chromium, start_voila, stop, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

READY_TARGET_S = 10.0
RESULT_TARGET_S = 1.0


def time_page_loads(browser, url: str, runs: int) -> list[float]:
    """Seconds from navigation to "Ready", one fresh tab (and kernel) per run."""
    seconds = []
    for _ in range(runs):
        context = browser.new_context()
        start = time.perf_counter()
        dashboard = DashboardPage.open(context, url)
        seconds.append(time.perf_counter() - start)
        dashboard.close()
        context.close()
    return seconds


def time_arrivals_together(browser, url: str, server: psutil.Process, tabs: int) -> list[float]:
    """Seconds from navigation to "Ready" for ``tabs`` fresh profiles opening the app at the same moment.

    Waits first until the server and its kernels are idle (a pre-heated pool is then full); closes the tabs after.
    """
    wait_until_idle(server)
    sessions = open_sessions([browser] * tabs, url, [Path(f"tab{number}") for number in range(tabs)])
    try:
        wait_until_ready(sessions)
        if any(session.ready_s is None for session in sessions):
            raise TimeoutError(f"{sum(s.ready_s is None for s in sessions)} of {tabs} tabs never became ready")
    finally:
        for session in sessions:
            session.dashboard.close()
            session.context.close()
    return [session.ready_s for session in sessions]


def time_results(dashboard: DashboardPage, photo: Path, runs: int, how: str) -> list[float]:
    """Seconds from giving the page ``photo`` (upload or drop) until its card is visible."""
    seconds = []
    for _ in range(runs):
        cards = dashboard.cards.count()
        if how == "upload":
            with dashboard.page.expect_file_chooser() as chooser:
                dashboard.page.locator(".labkit-upload").click()
            start = time.perf_counter()
            chooser.value.set_files(str(photo))
        else:
            start = time.perf_counter()
            dashboard.drop(photo)
        dashboard.wait_for_cards(cards + 1)
        seconds.append(time.perf_counter() - start)
    return seconds


def time_where_it_looked(dashboard: DashboardPage, runs: int) -> list[float]:
    """Seconds from pressing "Show where it looked" until the overlay shows, on the first ``runs`` + 1 cards."""
    seconds = []
    for index in range(min(runs + 1, dashboard.results.count())):
        start = time.perf_counter()
        dashboard.show_where_it_looked(dashboard.results.nth(index))
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name: str, seconds: list[float], target: float) -> None:
    median = statistics.median(seconds)
    verdict = "meets" if median <= target else "MISSES"
    print(
        f"{name:<34} median {median:6.2f} s   min {min(seconds):6.2f}   max {max(seconds):6.2f}   "
        f"({verdict} the {target:g} s target, n={len(seconds)})"
    )


def report_together(name: str, seconds: list[float], target: float) -> None:
    verdict = "all meet" if max(seconds) <= target else "MISSES"
    print(
        f"{name:<34} "
        + "  ".join(f"{value:5.2f}" for value in seconds)
        + f" s   slowest {max(seconds):5.2f} s   ({verdict} the {target:g} s target)"
    )


def measure_together(browser, tabs: int) -> tuple[list[float], list[float]]:
    """``tabs`` students arriving at once: seconds to "Ready" with ./voila.json's pre-heated pool, and without."""
    measured = {}
    for name, extra in (("pool", ()), ("cold", ("--VoilaConfiguration.preheat_kernel=False",))):
        process, url = start_server(
            None, REPO_ROOT / "test-artifacts" / f"voila-benchmark-together-{name}.log", extra_args=extra
        )
        try:
            measured[name] = time_arrivals_together(browser, url, psutil.Process(process.pid), tabs)
        finally:
            stop(process)
    return measured["pool"], measured["cold"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="page loads, uploads... one at a time (0: none)")
    parser.add_argument("--together", type=int, default=3, help="students opening the app at once (0: none)")
    parser.add_argument("--photo", type=Path, default=open_photo("cab.jpg"))
    args = parser.parse_args()
    started = machine_load()

    from playwright.sync_api import sync_playwright

    warm_model_cache()  # a one-off LiteRT conversion is not what this measures
    load_before = os.getloadavg()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        together: list[float] = []
        cold_together: list[float] = []
        if args.together > 0:
            together, cold_together = measure_together(browser, args.together)
            load_after = os.getloadavg()
            print(
                f"labkit web app, {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and "
                f"{load_after[0]:.1f} after (1 minute; other jobs share the machine)"
            )
            report_together(f"{args.together} at once -> ready, pool", together, READY_TARGET_S)
            report_together(f"{args.together} at once -> ready, no pool", cold_together, READY_TARGET_S)
            print(f"{'slowest tab, pool / no pool':<34} {max(together) / max(cold_together):5.2f}")
        if args.runs <= 0:
            browser.close()
            return
        process, url = start_voila(REPO_ROOT / "test-artifacts" / "voila-benchmark.log")
        try:
            cold = time_page_loads(browser, url, 1)
            loads = time_page_loads(browser, url, args.runs)
            context = browser.new_context()
            dashboard = DashboardPage.open(context, url)
            uploads = time_results(dashboard, args.photo, args.runs, "upload")
            drops = time_results(dashboard, args.photo, args.runs, "drop")
            first_gradcam, *gradcams = time_where_it_looked(dashboard, args.runs)
            dashboard.close()
        finally:
            stop(process)
        browser.close()

    print(
        f"one at a time, photo {args.photo.name} ({args.photo.stat().st_size / 1e3:.0f} kB), load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'cold start (first page load)':<34} {cold[0]:13.2f} s   "
        f"({'meets' if cold[0] <= READY_TARGET_S else 'MISSES'} the {READY_TARGET_S:g} s target)"
    )
    report("page load -> ready", loads, READY_TARGET_S)
    report("upload -> result visible", uploads, RESULT_TARGET_S)
    report("drop -> result visible", drops, RESULT_TARGET_S)
    print(f"{'first show where it looked (cold)':<34} {first_gradcam:13.2f} s")
    report("show where it looked, later", gradcams, RESULT_TARGET_S)
    write_result(
        "browser",
        {
            "photo": args.photo.name,
            "runs": args.runs,
            "cold_start_s": round(cold[0], 2),
            "ready_median_s": round(statistics.median(loads), 2),
            "upload_median_s": round(statistics.median(uploads), 3),
            "drop_median_s": round(statistics.median(drops), 3),
            "first_where_it_looked_s": round(first_gradcam, 2),
            "where_it_looked_later_median_s": round(statistics.median(gradcams), 3) if gradcams else None,
            "together_tabs": args.together,
            "together_pool_ready_s": [round(value, 2) for value in together],
            "together_no_pool_ready_s": [round(value, 2) for value in cold_together],
        },
        load_at_start=started,
    )


if __name__ == "__main__":
    main()
