"""Settings every pytest run in this repository needs, for tests/ and for the notebooks that nbval runs.

This file sits at the repository root on purpose: pytest applies a conftest only to the folder it is in,
so tests/conftest.py would not reach notebooks/ (nor run at all for `pytest notebooks/X.ipynb`).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent

# Set before anything imports TensorFlow; nbval's kernels inherit this environment too.
# CI's ready weights live beside the checkout, when there is one (a rebuild of labkit's own, which labkit otherwise
# builds on first use: they save the build). An explicit LABKIT_WEIGHTS_DIR wins; a clone alone builds its own.
if (REPO_ROOT.parent / "shared" / "models").is_dir():
    os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))
# Datasets we may not commit (labkit.datasets) are read from the course's copy beside the checkout, never downloaded.
os.environ.setdefault("LABKIT_DATA_DIR", str(REPO_ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config):
    # pyproject's addopts names tests/sanitize.cfg relative to the repository; nbval opens it relative to the
    # current directory, so pin it to the repository for runs started elsewhere.
    sanitize = getattr(config.option, "nbval_sanitize_with", None)
    if sanitize and not Path(sanitize).is_absolute() and not Path(sanitize).exists():
        config.option.nbval_sanitize_with = str(config.rootpath / sanitize)


def pytest_collectstart(collector):
    # TensorFlow and Keras write log lines and warnings to stderr that differ between machines and versions;
    # nbval compares stream outputs under the key "stderr", so leave that stream out of the comparison.
    # Only stdout and rich outputs are checked.
    if type(collector).__name__ == "IPyNbFile":
        collector.skip_compare = (*collector.skip_compare, "stderr")
