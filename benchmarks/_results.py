"""Where every benchmark stores its latest figures: ``benchmarks/results/<name>.json``.

A benchmark calls :func:`write_result` once, at the end of a run, with the figures it printed. The file records
when the run happened, on what machine (processor, cores, load average at the start and at the end of the run: the
development machines are shared, so the load says how busy it was) and the exact command. The README's "What we
measured" table is generated from these files by ``tools/readme_figures.py``; nobody types a figure by hand.

    >>> started = machine_load()                                                     # doctest: +SKIP
    >>> write_result("latency", {"labkit_p50_ms": 7.8}, load_at_start=started)       # doctest: +SKIP
    PosixPath('.../benchmarks/results/latency.json')

Not a benchmark itself: the leading underscore keeps ``make bench`` from running it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_load() -> list[float]:
    """The 1-, 5- and 15-minute load averages, rounded to 0.01."""
    return [round(value, 2) for value in os.getloadavg()]


def cpu_model() -> str:
    """The processor's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_result(
    name: str, figures: dict[str, Any], *, load_at_start: list[float] | None = None, folder: Path = RESULTS_DIR
) -> Path:
    """Write ``figures`` (plain JSON values) as the latest result of benchmark ``name``; return the file's path.

    Args:
        name: the benchmark's script name without ``.py`` (``"engines"``): the file is ``<folder>/<name>.json``.
        figures: what the run measured, with units in the keys (``"p50_ms"``, ``"rss_mb"``).
        load_at_start: :func:`machine_load` taken when the run began; the load at the end is read now.
    """
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "command": " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average_start": load_at_start,
            "load_average_end": machine_load(),
        },
        "figures": figures,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(folder.parent.parent) if folder == RESULTS_DIR else path}")
    return path
