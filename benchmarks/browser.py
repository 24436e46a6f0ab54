"""How fast the web app feels: page load to "Ready", and photo to result card, in a real browser.

Starts Voilà on notebooks/dashboard.ipynb (from the repository root, so ./voila.json applies) and drives Debian's
chromium with Playwright, the same way the browser tests do. Prints medians of ``--runs`` measurements:

- page load -> ready: from navigating to the app until the status line says "Ready" (a new tab, so a new kernel
  that imports labkit and loads the model). The first load after the server starts is reported on its own as the
  cold start. Target: within 10 s.
- upload -> result visible: from handing a photo to the file chooser (or dropping it) until its card is on the
  page, in one tab whose model is loaded. Target: within 1 s.
- show where it looked: from pressing a card's "Show where it looked" until the Grad-CAM overlay is visible. The
  first press in a tab imports TensorFlow and builds the Keras model in that kernel (reported on its own); later
  presses, on other cards, reuse them. No target: it shows what LABKIT_WARM_UP_GRADCAM=1 would save.

Run from the repository root: ``.venv/bin/python benchmarks/browser.py [--runs 10] [--photo PATH]``.
LABKIT_WEIGHTS_DIR must point at the weights (``../shared/models`` by default, as in the tests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))  # the tests' server and page helpers
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dashboard_page import DashboardPage  # noqa: E402
from serving import launch_chromium, start_voila, stop, warm_model_cache  # noqa: E402

from _results import machine_load, write_result  # noqa: E402  (benchmarks/, this script's folder)

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
    print(f"{name:<34} median {median:6.2f} s   min {min(seconds):6.2f}   max {max(seconds):6.2f}   "
          f"({verdict} the {target:g} s target, n={len(seconds)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--photo", type=Path, default=REPO_ROOT / "data" / "samples" / "340_zebra.jpg")
    args = parser.parse_args()
    started = machine_load()

    from playwright.sync_api import sync_playwright

    warm_model_cache()  # a one-off LiteRT conversion is not what this measures
    process, url = start_voila(REPO_ROOT / "test-artifacts" / "voila-benchmark.log")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            cold = time_page_loads(browser, url, 1)
            loads = time_page_loads(browser, url, args.runs)
            context = browser.new_context()
            dashboard = DashboardPage.open(context, url)
            uploads = time_results(dashboard, args.photo, args.runs, "upload")
            drops = time_results(dashboard, args.photo, args.runs, "drop")
            first_gradcam, *gradcams = time_where_it_looked(dashboard, args.runs)
            dashboard.close()
            browser.close()
    finally:
        stop(process)

    print(f"labkit web app, {os.cpu_count()} CPUs, photo {args.photo.name} ({args.photo.stat().st_size / 1e3:.0f} kB)")
    print(f"{'cold start (first page load)':<34} {cold[0]:13.2f} s   "
          f"({'meets' if cold[0] <= READY_TARGET_S else 'MISSES'} the {READY_TARGET_S:g} s target)")
    report("page load -> ready", loads, READY_TARGET_S)
    report("upload -> result visible", uploads, RESULT_TARGET_S)
    report("drop -> result visible", drops, RESULT_TARGET_S)
    print(f"{'first show where it looked (cold)':<34} {first_gradcam:13.2f} s")
    report("show where it looked, later", gradcams, RESULT_TARGET_S)
    write_result("browser", {
        "photo": args.photo.name, "runs": args.runs, "cold_start_s": round(cold[0], 2),
        "ready_median_s": round(statistics.median(loads), 2), "upload_median_s": round(statistics.median(uploads), 3),
        "drop_median_s": round(statistics.median(drops), 3), "first_where_it_looked_s": round(first_gradcam, 2),
        "where_it_looked_later_median_s": round(statistics.median(gradcams), 3) if gradcams else None},
        load_at_start=started)


if __name__ == "__main__":
    main()
