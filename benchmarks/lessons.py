"""How long does each lesson take to run top to bottom, and how much memory does its kernel need?

Each lesson runs in a fresh Jupyter kernel, as a student's JupyterLab would start one, through nbclient (the library
nbval and ``jupyter nbconvert --execute`` use), from the lesson's own folder and with a warm labkit cache (the
converted LiteRT models are there already, as on the hub after its setup step: ``deploy/singleuser-start``). The
lesson's file is read, never written. While it runs, the kernel process and its children are sampled every
``--interval`` seconds for their resident memory (RSS) and the memory of their own (USS, the pages no other process
shares: what each further student's kernel adds); the kernel's own peak RSS (``VmHWM``) is read before it shuts
down. The figures go to ``benchmarks/results/lessons.json``; docs/course.md's run times and docs/deploy.md's lesson
kernel memory are generated from it (``tools/readme_figures.py``).

    .venv/bin/python benchmarks/lessons.py                                  # every lesson
    .venv/bin/python benchmarks/lessons.py notebooks/05_*.ipynb             # some (the others keep no figures)

The result is written after each lesson: a run stopped half-way keeps the lessons it measured, and the docs then
list only those.

The machine's load is stored with the result: run times on a shared machine are not a quiet machine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from _results import machine_load, write_result
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parent.parent

# --- configurable parameters -----------------------------------------------------------------------------------
LESSONS = sorted((REPO_ROOT / "notebooks").glob("0[0-9]_*.ipynb"))
INTERVAL_S = 0.5  # memory sampling period
CELL_TIMEOUT_S = 1800  # one cell on a loaded machine (lesson 08 trains in one)
MB = 1024 * 1024


class MemoryWatch:
    """Samples a process and its children in a background thread: the peak of their summed RSS and USS (MB)."""

    def __init__(self, pid: int, interval: float = INTERVAL_S) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_rss_mb = 0.0
        self.peak_uss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Read the processes' memory now and keep the peaks."""
        rss = uss = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                memory = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss, uss = rss + memory.rss, uss + memory.uss
        self.peak_rss_mb = max(self.peak_rss_mb, rss / MB)
        self.peak_uss_mb = max(self.peak_uss_mb, uss / MB)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def kernel_peak_rss_mb(pid: int) -> float:
    """The process's own high-water mark of resident memory (``VmHWM`` in ``/proc/<pid>/status``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def kernel_environment() -> dict[str, str]:
    """What the lessons' kernels run with: this checkout's labkit, the course's weights and datasets, quiet logs."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT)}
    environment.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
    environment.setdefault("LABKIT_DATA_DIR", str(REPO_ROOT.parent / "shared" / "datasets"))
    return environment


def run_lesson(path: Path, interval: float = INTERVAL_S) -> dict:
    """Run one lesson top to bottom in a fresh kernel; return its time, cells and memory peaks."""
    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(path.parent), env=kernel_environment())
    try:
        pid = manager.provisioner.pid
        client = NotebookClient(
            notebook, km=manager, timeout=CELL_TIMEOUT_S, store_widget_state=False, resources={"metadata": {}}
        )
        with MemoryWatch(pid, interval) as watch:
            began = time.perf_counter()
            client.execute(cwd=str(path.parent))
            seconds = time.perf_counter() - began
            watch.sample()
        peak_rss = max(watch.peak_rss_mb, kernel_peak_rss_mb(pid))
    finally:
        manager.shutdown_kernel(now=True)
    return {
        "seconds": round(seconds, 1),
        "code_cells": sum(cell.cell_type == "code" for cell in notebook.cells),
        "peak_rss_mb": round(peak_rss, 1),
        "peak_uss_mb": round(watch.peak_uss_mb, 1),
    }


def lesson_number(path: Path) -> str:
    """``"05"`` for ``notebooks/05_when_not_to_trust_it.ipynb``."""
    return path.name.split("_", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", type=Path, help="lesson notebooks (default: every lesson)")
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="memory sampling period, seconds")
    args = parser.parse_args()
    started = machine_load()
    lessons = {}
    print(f"{'lesson':<8}{'seconds':>9}{'peak RSS MB':>13}{'peak USS MB':>13}", flush=True)
    for path in [lesson.resolve() for lesson in args.lessons] or LESSONS:
        figures = run_lesson(path, args.interval)
        lessons[lesson_number(path)] = {"notebook": path.name, **figures}
        print(
            f"{lesson_number(path):<8}{figures['seconds']:>9.1f}{figures['peak_rss_mb']:>13.0f}"
            f"{figures['peak_uss_mb']:>13.0f}",
            flush=True,
        )
        # after each lesson, so that a run stopped half-way (lesson 08 trains for minutes) keeps what it measured
        write_result(
            "lessons",
            {"kernel": "python3, fresh per lesson, warm labkit cache", "lessons": lessons},
            load_at_start=started,
        )


if __name__ == "__main__":
    sys.exit(main())
