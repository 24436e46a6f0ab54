"""Keep TensorFlow's and LiteRT's start-up log lines out of a student's notebook, and nothing else.

TensorFlow and LiteRT write log lines from C++ straight to the process's file descriptor 2 ("Could not find cuda
drivers on your machine", "oneDNN custom operations are on", "Created TensorFlow Lite XNNPACK delegate for CPU",
"fully_quantize: 0, inference_type: 6"). A Jupyter kernel forwards that descriptor to the notebook, which shows it
in a red box that students read as "error". ``TF_CPP_MIN_LOG_LEVEL`` hides only part of them: the lines written
before TensorFlow's logging starts, and LiteRT's, ignore it, and it must be set before the first import anyway.

Decisions:

- **Where.** labkit silences them itself (importing labkit is enough), not the lessons or CI's environment: a lesson
  runs in whatever kernel the student starts, and CI's ``TF_CPP_MIN_LOG_LEVEL`` is not on their machine.
- **What is dropped.** Only the lines written *while* TensorFlow is imported, a LiteRT interpreter is created or a
  model is converted (:func:`native_log_lines_filtered`), and among them only those that match :data:`NOISE` (the
  known start-up chatter). Any other line, a real error included, is written back to stderr when the block ends;
  Python's own ``sys.stderr`` (labkit's notices, warnings) is untouched.
- **TensorFlow's import** is wrapped wherever it happens (``import keras`` imports it too, and labkit imports it
  lazily in a dozen places): :func:`quiet_tensorflow_import` puts a small import hook on ``sys.meta_path`` that runs
  TensorFlow's own module code inside the filter, once.
- ``TF_CPP_MIN_LOG_LEVEL`` defaults to ``"3"`` (as in ``labkit``'s command line): TensorFlow's later C++ lines
  ("failed call to cuInit" when a model is first built) are not for students. A value already set wins, so
  ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything again.

Example:
    >>> with native_log_lines_filtered():  # doctest: +SKIP
    ...     interpreter = Interpreter(model_path="model.tflite")
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
NOISE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"All log messages before absl::InitializeLog\(\) is called",
        r"Could not find cuda drivers",
        r"cuda_platform\.cc.*failed call to cuInit",
        r"Unable to register cu(DNN|FFT|BLAS) factory",
        r"computation placer already registered",
        r"oneDNN custom operations are on",
        r"cpu_feature_guard\.cc",
        r"^To enable the following instructions: .* rebuild TensorFlow",
        r"Created TensorFlow Lite XNNPACK delegate",
        r"^fully_quantize: \d+, inference_type: \d+",
        r"TensorFlow Lite (Interpreter|interpreter) is deprecated",
        r"tf\.lite\.Interpreter is deprecated",
        r"Please use the LiteRT interpreter from the ai_edge_litert package",
    )
)
"""The start-up lines dropped (regular expressions, searched in each line)."""


def is_noise(line: str) -> bool:
    """True for a known start-up log line of TensorFlow or LiteRT (:data:`NOISE`).

    Example:
        >>> is_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
        True
        >>> is_noise("Segmentation fault in conv2d")
        False
    """
    return any(pattern.search(line) for pattern in NOISE)


def kept_lines(text: str) -> str:
    """``text`` without its :func:`is_noise` lines (blank lines between them dropped too).

    Example:
        >>> kept_lines("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\nreal trouble\\n")
        'real trouble\\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() and not is_noise(line))


@contextlib.contextmanager
def native_log_lines_filtered() -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 during the block; write back all but :data:`NOISE`.

    Python's ``sys.stderr`` keeps showing as it happens: in a terminal (where it *is* descriptor 2) it is pointed at
    the real stderr meanwhile; in a notebook it is the kernel's own stream and is not touched. Where there is no
    descriptor 2 to redirect (an embedded interpreter), the block runs as it is.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    python_stderr = sys.stderr
    try:
        with tempfile.TemporaryFile() as caught, os.fdopen(os.dup(saved), "w", buffering=1) as terminal:
            if _writes_to_descriptor_2(python_stderr):
                sys.stderr = terminal
            os.dup2(caught.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                sys.stderr = python_stderr
                caught.seek(0)
                rest = kept_lines(caught.read().decode("utf-8", "replace"))
                if rest:
                    os.write(2, rest.encode("utf-8"))
    finally:
        os.close(saved)


def quiet_tensorflow_import() -> None:
    """Default ``TF_CPP_MIN_LOG_LEVEL`` to ``"3"`` and filter TensorFlow's import, whenever it happens (idempotent).

    Called when labkit is imported. Does nothing more once TensorFlow is imported (its start-up lines are past).
    """
    os.environ.setdefault(LOG_LEVEL_VARIABLE, "3")
    if "tensorflow" in sys.modules or any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())


def _writes_to_descriptor_2(stream: Any) -> bool:
    try:
        return bool(stream.fileno() == 2)
    except (AttributeError, OSError, ValueError):  # ipykernel's stream has no descriptor
        return False


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as Python would, and runs its module code inside :func:`native_log_lines_filtered`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        # Python's own path finder, not the next finder on sys.meta_path: no recursion. The hook stays for a later
        # import when this lookup was only a check (importlib.util.find_spec); once imported, it is never asked again.
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and isinstance(spec.loader, importlib.abc.Loader):
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # TensorFlow's own code sees its real loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with native_log_lines_filtered():
            self._loader.exec_module(module)
