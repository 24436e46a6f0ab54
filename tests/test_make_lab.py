"""`make lab` opens JupyterLab on practice/, the student's own copies of the lessons (exercises to do, no
solutions), on loopback and behind a token (the students' one command), rooted at the repository with the same URLs
as the README's Binder link.

The test runs the Makefile's own `lab` target with this interpreter's environment (VENV points at it, and an empty
STAMP skips the installation step, which `make app` shares and other tests cover), on a free port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_lab_serves_the_lessons_on_loopback_behind_a_token(tmp_path):
    port = free_port()
    venv = Path(sys.executable).parent.parent
    command = [
        "make",
        "-s",
        "lab",
        f"VENV={venv}",
        "STAMP=",
        f"LAB_PORT={port}",
        # An address in LAB_ARGS replaces the Makefile's own (Jupyter refuses --ip given twice).
        f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    log = tmp_path / "lab.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")},
            start_new_session=True,
        )
    try:
        url = None
        deadline = time.monotonic() + 600  # first, the model made ready (on an empty cache: built and converted)
        while url is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(1)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab/tree/practice\?token=(\w+)", log.read_text())
            url = found and found.group(0)
        assert url, f"no JupyterLab link on 127.0.0.1:{port}:\n{log.read_text()[-3000:]}"
        token = url.rsplit("=", 1)[1]

        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=30) as opened:
            opens = urllib.parse.urlsplit(opened.url).path
        binder = re.search(r"urlpath=(lab/tree/[\w/]+)", (REPO_ROOT / "README.md").read_text()).group(1)
        assert opens == f"/{binder}"  # the same page as the Binder link: /lab/tree/practice
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=30) as listing:
            root = {entry["name"] for entry in json.load(listing)["content"]}
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/contents/practice?token={token}", timeout=30
        ) as listing:
            names = {entry["name"] for entry in json.load(listing)["content"]}
        assert {"data", "practice", "notebooks"} <= root  # rooted at the repository, as on Binder
        assert {"01_images_are_arrays.ipynb", "08_teach_it_your_own_classes.ipynb"} <= names
        copy = json.loads((REPO_ROOT / "practice" / "02_preprocessing.ipynb").read_text())
        sources = ["".join(cell["source"]) for cell in copy["cells"]]
        assert "q1.check()" in sources and not any("BEGIN SOLUTION" in text for text in sources)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=30)
        assert refused.value.code == 403  # no token, no access
        with socket.socket() as outside:  # listening on loopback only
            outside.settimeout(2)
            public = socket.gethostbyname(socket.gethostname())
            if not public.startswith("127."):
                assert outside.connect_ex((public, port)) != 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
