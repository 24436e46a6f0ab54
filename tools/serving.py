"""Start the real web app (Voilà on notebooks/dashboard.ipynb) and Debian's chromium, for the browser tests and
benchmarks/browser.py. Not a test module: conftest.py and the benchmark import it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/dashboard.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAKE_CAMERA = "--use-fake-device-for-media-stream"  # a webcam that films a moving test pattern
ALLOW_CAMERA = "--use-fake-ui-for-media-stream"  # answers the camera permission prompt with "allow"
READY_TEXT = "Ready:"  # the status line once the model is loaded
SERVER_START_S = 60
TRAINING_CLASSES, TRAINING_PHOTOS = ("glass", "metal"), 8  # per class: the tests' exported model, quick to train


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def warm_model_cache() -> None:
    """Build the shared classifier once in a throwaway process, so a missing LiteRT conversion (~30 s) happens
    here, once, rather than in several app kernels at the same time."""
    subprocess.run(
        [sys.executable, "-c", "from labkit.model import shared_classifier; shared_classifier()"],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_voila(
    log_path: Path, port: int | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start Voilà from the repository root (so it reads ./voila.json) and wait until it accepts connections.

    The environment (LABKIT_WEIGHTS_DIR...) is inherited, plus ``env`` (e.g. LABKIT_MODELS_DIR for its kernels).
    Returns the process and the app's URL.
    """
    port = port or free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    process = subprocess.Popen(
        voila_command(port),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Voilà exited with code {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"Voilà did not start listening within {SERVER_START_S} s; see {log_path}")


def export_small_model(training_folder: Path, out: Path) -> Path:
    """Fine-tune MobileNetV2 on ``training_folder`` briefly (one epoch of the new head, no augmented copies) and
    export it with its LiteRT file into ``out``, in a throwaway process: the test runner never holds TensorFlow."""
    script = (
        "import sys\n"
        "from labkit.export import export_model\n"
        "from labkit.transfer import fine_tune\n"
        "result = fine_tune(sys.argv[1], head_epochs=1, fine_tune_epochs=0, progress=False)\n"
        "export_model(result, sys.argv[2])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(training_folder), str(out)],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def stop(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """Stop a server started by :func:`start_voila` (it shuts its kernels down on SIGTERM); kill it after
    ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
    wait_or_kill(process, timeout_s)


def wait_or_kill(process: subprocess.Popen, timeout_s: float) -> None:
    """Wait for a process asked to stop; kill it when it is still there after ``timeout_s``."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_server(
    process: subprocess.Popen,
    ask: Callable[[], object],
    what: str,
    *,
    seconds: float,
    poll_s: float,
    log: Path,
    stop_server: Callable[[], None],
) -> None:
    """Return once ``ask()`` (a request to the server ``process`` runs) succeeds, asked every ``poll_s``.

    Raises:
        RuntimeError: the process exited, or did not answer within ``seconds`` (then ``stop_server()`` ran first);
            the message names ``what`` and its ``log``.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}; see {log}")
        try:
            ask()
            return
        except (OSError, urllib.error.URLError):
            time.sleep(poll_s)
    stop_server()
    raise RuntimeError(f"{what} did not answer within {seconds} s; see {log}")


def voila_command(port: int, *extra_args: str) -> list[str]:
    """The command that serves the app with Voilà on 127.0.0.1:``port`` only (no browser, no other port)."""
    return [
        sys.executable,
        "-m",
        "voila",
        NOTEBOOK,
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--no-browser",
        "--Voila.port_retries=0",
        *extra_args,
    ]


def launch_chromium(playwright, camera_args: tuple[str, ...] = (FAKE_CAMERA, ALLOW_CAMERA)):
    """Launch Debian's chromium through Playwright (never Playwright's own browser download).

    By default it has a fake webcam it may use; pass fewer ``camera_args`` for no camera, or no permission.
    """
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *camera_args])
