"""What a student's own kernel shows, started where JupyterLab starts it and without CI's environment.

A notebook's kernel starts in the notebook's folder (``notebooks/`` for the teacher's copies, ``practice/`` under
``make lab``, any folder where a student saves a new notebook), and on a student's machine nothing sets
``TF_CPP_MIN_LOG_LEVEL``. These tests start a real IPython kernel (jupyter_client, as JupyterLab does) with the
environment stripped of CI's settings, keep only what finds the model's weights and its converted LiteRT file
(``LABKIT_WEIGHTS_DIR``, ``LABKIT_CACHE_DIR``, as a student's machine has them built on first use), and read
every message the kernel sends back: the README's first example pasted into a new notebook works, the paths a
lesson's hints name work from any folder, and nothing lands on stderr (which JupyterLab shows in red).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

KEPT_VARIABLES = ("LABKIT_WEIGHTS_DIR", "LABKIT_CACHE_DIR", "PYTHONPATH", "PATH", "HOME", "LANG")
CELL_TIMEOUT_S = 600  # TensorFlow's import and a Keras model on a busy 2-core machine


class StudentKernel:
    """A kernel started in ``folder``, and every stream it wrote, cell by cell."""

    def __init__(self, folder: Path) -> None:
        environment = {name: os.environ[name] for name in KEPT_VARIABLES if name in os.environ}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(folder), env=environment, extra_arguments=[])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=CELL_TIMEOUT_S)
        self.streams: list[tuple[str, str]] = []

    def run(self, code: str) -> str:
        """Run one cell; return its stdout. A Python error fails the test with the kernel's traceback."""
        message_id = self.client.execute(code)
        stdout = []
        while True:
            message = self.client.get_iopub_msg(timeout=CELL_TIMEOUT_S)
            if message["parent_header"].get("msg_id") != message_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                self.streams.append((content["name"], content["text"]))
                if content["name"] == "stdout":
                    stdout.append(content["text"])
            elif kind == "error":
                pytest.fail(f"{content['ename']}: {content['evalue']}\n" + "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(stdout)

    def stderr(self) -> str:
        return "".join(text for name, text in self.streams if name == "stderr")

    def shut_down(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel_in(tmp_path) -> Iterator:
    started: list[StudentKernel] = []

    def start(folder: Path) -> StudentKernel:
        started.append(StudentKernel(folder))
        return started[-1]

    yield start
    for kernel in started:
        kernel.shut_down()


def readme_first_prediction() -> str:
    """The README's "Your first prediction" code block, as a student copies it."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Your first prediction", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_and_the_lessons_paths_work_from_a_lessons_folder_and_anywhere_else(kernel_in, tmp_path):
    for folder in (REPO_ROOT / "notebooks", tmp_path):  # a lesson's folder; a new notebook saved anywhere
        kernel = kernel_in(folder)
        printed = kernel.run(readme_first_prediction())
        assert printed.splitlines()[0].startswith("beagle")
        hints = kernel.run(
            "from labkit.images import iter_image_files\n"
            "from labkit.lessons.trainer import trainer\n"
            "teach = trainer()\n"
            "teach.new_class('glass')\n"
            "teach.add_folder('glass', 'trashnet-mini/glass')  # what the folder box suggests\n"
            "print(len(iter_image_files('data/trashnet-mini/glass')), teach.session.counts()['glass'])\n"
            "teach.add_folder('glass', 'trashnet-mini/glas')  # a typo: the message names paths that work\n"
            "print(teach.messages.problem_text)\n"
        )
        counts, message = hints.split("\n", 1)
        assert counts == "60 60"
        assert "No folder at 'trashnet-mini/glas'" in message and "'trashnet-mini/glass' work from anywhere" in message


def test_a_lesson_s_kernel_writes_nothing_on_stderr_without_ci_s_environment(kernel_in):
    """TensorFlow's and LiteRT's start-up lines (cuda drivers, oneDNN, XNNPACK delegate) would show as red boxes."""
    assert "TF_CPP_MIN_LOG_LEVEL" not in KEPT_VARIABLES
    kernel = kernel_in(REPO_ROOT / "notebooks")
    kernel.run(
        "%matplotlib inline\n"
        "from labkit import Classifier\n"
        "from labkit.lessons.predictions import try_your_photo\n"
        "print(Classifier().classify('data/samples/cab.jpg').label)  # LiteRT: the XNNPACK delegate\n"
        "try_your_photo()\n"
    )
    keras = kernel.run(
        "keras_classifier = Classifier(engine='keras')  # imports TensorFlow: cuda, oneDNN, cpu_feature_guard\n"
        "print(keras_classifier.classify('data/samples/cab.jpg').label)\n"
        "import sys; print('labkit still speaks', file=sys.stderr)\n"
    )
    assert keras.strip() == "cab"
    assert kernel.stderr() == "labkit still speaks\n"  # Python's own stderr still shows; nothing else came


def test_a_native_error_line_is_not_dropped_with_the_start_up_noise():
    import subprocess

    script = (
        "import os\n"
        "from labkit.native_logs import native_log_lines_filtered\n"
        "with native_log_lines_filtered():\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'F0000 conv.cc:12] Check failed: real trouble\\n')\n"
        "    print('python stderr', file=__import__('sys').stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
        check=True,
    )
    assert done.stderr.splitlines() == ["python stderr", "F0000 conv.cc:12] Check failed: real trouble"]
