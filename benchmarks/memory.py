"""How much memory and start-up time does the dashboard's kernel need before its first answer?

Each case runs in a fresh Python process, as a Voilà kernel would: import labkit, build ``shared_classifier()``
and classify one photo. The process then reports its resident memory (``VmRSS`` in ``/proc/self/status``, and the
peak, ``VmHWM``), the seconds from its first import (``import labkit``, or ``import tensorflow`` in the case that
imports it) to the first prediction, and whether TensorFlow was imported.

Cases: the default engine with a warm cache (the app's everyday start), the same in a process that has imported
TensorFlow anyway (what LiteRT saves is TensorFlow itself), the default engine with an empty cache (the first
start ever: it converts the model), the int8 engine, and the Keras engine. Warm cases run ``--repeats`` times
(medians). Target: the default engine's kernel <= 350 MB after its first prediction.

    .venv/bin/python benchmarks/memory.py [--repeats 3] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _results import machine_load, write_result
from course_data import shared_samples_dir

from labkit.engines import DEFAULT_ENGINE

REPO_ROOT = Path(__file__).resolve().parent.parent
# --- configurable parameters -----------------------------------------------------------------------------------
REPEATS = 3
TARGET_RSS_MB = 350
PHOTO = shared_samples_dir() / "207_golden_retriever.jpg"  # the course photos, as before data/samples went open
KERNEL = """
start = time.perf_counter()
if {import_tensorflow}:
    import tensorflow  # e.g. a lesson's cell, or another library, imported it first
label = shared_classifier({engine!r}).classify({photo!r}).label
seconds = time.perf_counter() - start
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
megabytes = {{key: int(status[field].split()[0]) / 1024 for key, field in (("rss_mb", "VmRSS"), ("peak_mb", "VmHWM"))}}
print(json.dumps({{"seconds": seconds, "label": label, "tensorflow": "tensorflow" in sys.modules, **megabytes}}))
"""


def run_kernel(engine: str, import_tensorflow: bool = False, cache: str | None = None) -> dict:
    """Start a fresh process that classifies one photo; return what it measured about itself."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT)}
    env.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
    if cache is not None:
        env["LABKIT_CACHE_DIR"] = cache
    script = KERNEL.format(engine=engine, photo=str(PHOTO), import_tensorflow=import_tensorflow)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"The kernel for {engine!r} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict]) -> dict:
    """The first run's fields, with the medians of the measured ones."""
    measured = ("seconds", "rss_mb", "peak_mb")
    return {**runs[0], **{key: float(np.median([run[key] for run in runs])) for key in measured}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each warm case (medians)")
    parser.add_argument("--no-cold", action="store_true", help="skip the empty-cache case (it converts, ~30 s)")
    args = parser.parse_args()
    started = machine_load()

    run_kernel(DEFAULT_ENGINE)  # fills the cache, so the warm cases are warm
    run_kernel("litert-int8")
    cases = {
        f"{DEFAULT_ENGINE} (default), warm cache": dict(engine=DEFAULT_ENGINE),
        f"{DEFAULT_ENGINE}, warm cache, TF imported": dict(engine=DEFAULT_ENGINE, import_tensorflow=True),
        "litert-int8, warm cache": dict(engine="litert-int8"),
        "keras": dict(engine="keras"),
    }
    results = {name: median_of([run_kernel(**case) for _ in range(args.repeats)]) for name, case in cases.items()}
    if not args.no_cold:
        with tempfile.TemporaryDirectory() as empty:
            results[f"{DEFAULT_ENGINE}, empty cache (converts)"] = run_kernel(DEFAULT_ENGINE, cache=empty)

    print(
        f"A fresh kernel: import labkit, shared_classifier(engine), classify {PHOTO.name}. "
        f"Medians of {args.repeats} runs (empty cache: 1 run). {os.cpu_count()} CPU cores, shared.\n"
    )
    header = f"{'case':<40}{'RSS MB':>8}{'peak MB':>9}{'import to 1st answer s':>24}{'TensorFlow':>12}"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        print(
            f"{name:<40}{result['rss_mb']:>8.0f}{result['peak_mb']:>9.0f}{result['seconds']:>24.2f}"
            f"{'imported' if result['tensorflow'] else 'no':>12}"
        )
    default = results[f"{DEFAULT_ENGINE} (default), warm cache"]
    verdict = "meets" if default["rss_mb"] <= TARGET_RSS_MB else "MISSES"
    print(
        f"\nThe default engine's kernel: {default['rss_mb']:.0f} MB after its first prediction ({verdict} the "
        f"{TARGET_RSS_MB} MB target), {default['seconds']:.1f} s from import to its first answer."
    )
    write_result(
        "memory",
        {
            "photo": PHOTO.name,
            "repeats": args.repeats,
            "default_engine": DEFAULT_ENGINE,
            "default_case": f"{DEFAULT_ENGINE} (default), warm cache",
            "cases": {
                name: {
                    "rss_mb": round(result["rss_mb"], 1),
                    "peak_mb": round(result["peak_mb"], 1),
                    "seconds_to_first_answer": round(result["seconds"], 2),
                    "tensorflow_imported": result["tensorflow"],
                }
                for name, result in results.items()
            },
        },
        load_at_start=started,
    )


if __name__ == "__main__":
    main()
