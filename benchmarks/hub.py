"""A class on JupyterHub: N students log in at once; what each waits, and what each costs the machine.

Starts the repository's one-machine JupyterHub (deploy/jupyterhub_config.py with the test overrides of
tools/hubserver.py: loopback ports, a temporary state folder, DummyAuthenticator, SimpleLocalProcessSpawner) and
drives Debian's chromium: ``--students`` fresh profiles log in at the same moment, land on the app, and each
uploads a photo; then each presses "Show where it looked" (the heatmap, computed from the feature map of the LiteRT
engine that classified: no TensorFlow). Measured per student:

- spawn: from pressing "Sign in" until the hub's API says the student's server is ready;
- ready: until the app's status line says "Ready" (the server's Voilà started a kernel and loaded the model);
- first answer: until the uploaded photo's result card is on the page;
- memory of the student's server and its kernels (psutil; RSS, and USS: the pages only they hold), after the first
  answer and after the first heatmap; the CPU seconds they used to start and for the first heatmap;
- whether TensorFlow was loaded into the student's processes by then (its libraries among their memory maps);

and what the machine held: the hub, the proxy and the culler, and the machine's used memory before and after (other
jobs on a shared machine move that figure; the per-process figures are this benchmark's own).

Writes benchmarks/results/hub.json; tools/sizing.py turns it into docs/deploy.md's sizing table. Bounded: at most
10 students, every wait has a timeout, loopback only.

    .venv/bin/python benchmarks/hub.py                 # 3 students
    .venv/bin/python benchmarks/hub.py --students 5
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _harness  # noqa: F401  (tools/ on sys.path: the browser harness)
import hubserver
import psutil
from classroom import Memory, expected_labels, photo_paths, tree_cpu
from dashboard_page import DashboardPage
from serving import READY_TEXT, launch_chromium, warm_model_cache

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STUDENTS = 3
MAX_STUDENTS = 10
TIMEOUT_S = 600  # for all students to be ready, and again for all answers
POLL_S = 0.2
RESULTS = REPO_ROOT / "benchmarks" / "results" / "hub.json"
MB = 1e6
TARGET_HEATMAPS_RSS_MB = 450  # a student's server and kernel after classifying and showing heatmaps


def tree_memory(process: psutil.Process) -> dict[str, float]:
    """RSS, USS and PSS in MB of a student's server and its kernels, summed."""
    readings = [Memory.of(member) for member in [process, *process.children(recursive=True)]]
    return {kind: round(sum(getattr(reading, kind) for reading in readings), 1) for kind in ("rss", "uss", "pss")}


def loaded_tensorflow(process: psutil.Process) -> bool:
    """Whether TensorFlow's libraries are mapped into a student's server or any of its kernels."""
    return any(
        "libtensorflow" in mapped.path
        for member in [process, *process.children(recursive=True)]
        for mapped in member.memory_maps()
    )


def rss_mb(process: psutil.Process) -> float:
    return round(process.memory_info().rss / MB, 1)


def named_children(hub: hubserver.Hub) -> dict[str, float]:
    """RSS in MB of the hub itself, the proxy and the culler."""
    found = {"hub": rss_mb(psutil.Process(hub.process.pid))}
    for child in psutil.Process(hub.process.pid).children():
        command = " ".join(child.cmdline())
        if "configurable-http-proxy" in command:
            found["proxy"] = rss_mb(child)
        elif "jupyterhub_idle_culler" in command:
            found["culler"] = rss_mb(child)
    return found


def wait_for_each(names: list[str], done, what: str) -> dict[str, float]:
    """Poll ``done(name)`` for every name until all are true; return the moment (perf_counter) each became so."""
    moments, deadline = {}, time.perf_counter() + TIMEOUT_S
    while len(moments) < len(names):
        for name in names:
            if name not in moments and done(name):
                moments[name] = time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(names) - len(moments)} of {len(names)} students not {what} within {TIMEOUT_S} s")
        time.sleep(POLL_S)
    return moments


def measure(students: int) -> dict:
    """Run the class once; return the figures (see the module's docstring)."""
    from playwright.sync_api import sync_playwright

    labels = expected_labels()
    names = [f"student{number:02d}" for number in range(1, students + 1)]
    photos = dict(zip(names, photo_paths(students), strict=True))
    warm_model_cache()
    load_before, used_before = os.getloadavg(), psutil.virtual_memory().used / MB
    state = Path(tempfile.mkdtemp(prefix="labkit-hub-benchmark-"))
    hub = hubserver.start_hub(state)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, camera_args=())
            started, pages = {}, {}
            for name in names:  # every login is sent before any is waited for
                context = browser.new_context()
                started[name] = time.perf_counter()
                pages[name] = hubserver.log_in(context, hub, name)
            spawned = wait_for_each(names, lambda name: (hub.server(name) or {}).get("ready", False), "spawned")
            ready = wait_for_each(names, lambda name: pages[name].get_by_text(READY_TEXT).count() > 0, "ready")
            servers = hub.server_processes()
            start_cpu = {name: tree_cpu(servers[name]) for name in names}
            uploaded = {}
            for name in names:
                uploaded[name] = time.perf_counter()
                DashboardPage(pages[name]).upload(photos[name])
            answered = wait_for_each(names, lambda name: DashboardPage(pages[name]).cards.count() > 0, "answered")
            app_memory = {name: tree_memory(servers[name]) for name in names}
            used_app = psutil.virtual_memory().used / MB
            hub_processes = named_children(hub)
            heatmap_s, heatmap_cpu = {}, {}
            for name in names:  # one after another: each has the CPU to itself
                dashboard, cpu = DashboardPage(pages[name]), tree_cpu(servers[name])
                begin = time.perf_counter()
                dashboard.show_where_it_looked(dashboard.results.first)
                heatmap_s[name], heatmap_cpu[name] = time.perf_counter() - begin, tree_cpu(servers[name]) - cpu
            heatmap_memory = {name: tree_memory(servers[name]) for name in names}
            tensorflow = {name: loaded_tensorflow(servers[name]) for name in names}
            used_heatmaps = psutil.virtual_memory().used / MB
            right = {name: DashboardPage(pages[name]).best_labels()[0] == labels[photos[name].name] for name in names}
            browser.close()
    finally:
        hubserver.stop_hub(hub)
        shutil.rmtree(state, ignore_errors=True)

    per_student = [
        {
            "student": name,
            "photo": photos[name].name,
            "right_label": right[name],
            "spawn_s": round(spawned[name] - started[name], 2),
            "ready_s": round(ready[name] - started[name], 2),
            "first_answer_s": round(answered[name] - started[name], 2),
            "upload_to_answer_s": round(answered[name] - uploaded[name], 2),
            "start_cpu_s": round(start_cpu[name], 2),
            "first_heatmap_s": round(heatmap_s[name], 2),
            "first_heatmap_cpu_s": round(heatmap_cpu[name], 2),
            "memory_mb": app_memory[name],
            "memory_with_heatmaps_mb": heatmap_memory[name],
            "tensorflow_loaded": tensorflow[name],
        }
        for name in names
    ]

    def median(key, kind=None):
        values = [row[key][kind] if kind else row[key] for row in per_student]
        return round(statistics.median(values), 2)

    return {
        "benchmark": "benchmarks/hub.py",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "note": "the machine was shared with other jobs: times move with its load; memory per process does not",
        "students": students,
        "per_student": per_student,
        "median": {
            "spawn_s": median("spawn_s"),
            "ready_s": median("ready_s"),
            "first_answer_s": median("first_answer_s"),
            "start_cpu_s": median("start_cpu_s"),
            "first_heatmap_s": median("first_heatmap_s"),
            "first_heatmap_cpu_s": median("first_heatmap_cpu_s"),
            "student_rss_mb": median("memory_mb", "rss"),
            "student_uss_mb": median("memory_mb", "uss"),
            "student_with_heatmaps_rss_mb": median("memory_with_heatmaps_mb", "rss"),
            "student_with_heatmaps_uss_mb": median("memory_with_heatmaps_mb", "uss"),
        },
        "max": {
            "student_rss_mb": max(row["memory_mb"]["rss"] for row in per_student),
            "student_with_heatmaps_rss_mb": max(row["memory_with_heatmaps_mb"]["rss"] for row in per_student),
        },
        "tensorflow_loaded_by": [row["student"] for row in per_student if row["tensorflow_loaded"]],
        "hub_processes_rss_mb": hub_processes,
        "machine_used_mb": {
            "before": round(used_before),
            "students_answered": round(used_app),
            "after_heatmaps": round(used_heatmaps),
        },
    }


def table(results: dict) -> list[str]:
    lines = [
        f"JupyterHub, {results['students']} students logging in at once; {results['machine']['cpus']} CPUs, "
        f"load average {results['load_average_1min']['before']} before, {results['load_average_1min']['after']} "
        "after (other jobs share the machine)",
        f"{'student':<10}{'spawn s':>8}{'ready s':>8}{'answer s':>9}{'start CPU s':>12}{'RSS MB':>8}{'USS MB':>8}"
        f"{'+map RSS':>9}{'+map USS':>9}{'heatmap s':>10}  label",
    ]
    for row in results["per_student"]:
        lines.append(
            f"{row['student']:<10}{row['spawn_s']:>8.1f}{row['ready_s']:>8.1f}{row['first_answer_s']:>9.1f}"
            f"{row['start_cpu_s']:>12.1f}{row['memory_mb']['rss']:>8.0f}{row['memory_mb']['uss']:>8.0f}"
            f"{row['memory_with_heatmaps_mb']['rss']:>9.0f}{row['memory_with_heatmaps_mb']['uss']:>9.0f}"
            f"{row['first_heatmap_s']:>10.1f}  {'right' if row['right_label'] else 'WRONG'}"
        )
    m = results["median"]
    lines.append(
        f"{'median':<10}{m['spawn_s']:>8.1f}{m['ready_s']:>8.1f}{m['first_answer_s']:>9.1f}"
        f"{m['start_cpu_s']:>12.1f}{m['student_rss_mb']:>8.0f}{m['student_uss_mb']:>8.0f}"
        f"{m['student_with_heatmaps_rss_mb']:>9.0f}{m['student_with_heatmaps_uss_mb']:>9.0f}"
        f"{m['first_heatmap_s']:>10.1f}"
    )
    held = ", ".join(f"{name} {mb:.0f} MB" for name, mb in results["hub_processes_rss_mb"].items())
    used = results["machine_used_mb"]
    lines.append(f"the hub's own processes: {held}")
    lines.append(
        f"machine's used memory: {used['before']} MB before, {used['students_answered']} MB with the "
        f"students answered, {used['after_heatmaps']} MB after their heatmaps"
    )
    worst, loaded = results["max"]["student_with_heatmaps_rss_mb"], results["tensorflow_loaded_by"]
    verdict = "meets" if worst <= TARGET_HEATMAPS_RSS_MB and not loaded else "MISSES"
    lines.append(
        f"after classifying and showing heatmaps: at most {worst:.0f} MB resident per student, TensorFlow "
        f"loaded by {', '.join(loaded) or 'none'} ({verdict} the {TARGET_HEATMAPS_RSS_MB} MB, "
        "no-TensorFlow target)"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=STUDENTS, help=f"at once, 1 to {MAX_STUDENTS}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results (JSON)")
    options = parser.parse_args()
    if not 1 <= options.students <= MAX_STUDENTS:
        parser.error(f"--students takes 1 to {MAX_STUDENTS}")
    results = measure(options.students)
    print("\n".join(table(results)))
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {options.output}")
    wrong = [row["student"] for row in results["per_student"] if not row["right_label"]]
    if wrong:
        print(f"hub benchmark: FAILED, wrong label for {', '.join(wrong)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
