"""Settings every pytest run in this repository needs, for tests/ and for the notebooks that nbval runs.

This file sits at the repository root on purpose: pytest applies a conftest only to the folder it is in,
so tests/conftest.py would not reach notebooks/ (nor run at all for `pytest notebooks/X.ipynb`).
"""

from __future__ import annotations

import os
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

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


# `make test` runs pytest on two workers (pytest-xdist): CI's machines have two cores, and most of a heavy test's time
# is a kernel, a server or a browser starting, so two at once finish sooner than one after the other. A worker takes a
# whole group (GroupScheduling): a notebook's cells run in order in one kernel, a module's tests share its fixtures,
# and tests/browser/ and tests/hub/ each share their session's servers. The heaviest groups go first, so the two
# workers finish together instead of one waiting for the last long test. (xdist's own --dist loadgroup reads
# xdist_group markers by renaming node ids, which pytest 9 no longer allows; a scheduler of our own needs no marker.)
HEAVY_FIRST = ("tests/hub/", "tests/browser/", "tests/test_assignments.py", "tests/test_fresh_clone.py", "notebooks/")


def group_of(path: str) -> str:
    """The group of the tests collected from ``path`` (relative to the repository): its folder for the browser and
    hub tests, else its file. ``group_of("tests/browser/test_x.py") == "tests/browser/"``."""
    return next((folder for folder in ("tests/hub/", "tests/browser/") if path.startswith(folder)), path)


def heaviness(path: str) -> int:
    """Where a test's group comes in the run: the heavy groups first, in HEAVY_FIRST's order, then the rest."""
    return next((rank for rank, prefix in enumerate(HEAVY_FIRST) if path.startswith(prefix)), len(HEAVY_FIRST))


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: heaviness(item.nodeid))  # stable: a notebook's cells keep their order


class GroupScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, with :func:`group_of` as the scope and the collection's order kept."""

    def __init__(self, config, log=None):
        config.option.loadscopereorder = False  # keep the heavy groups first, as collected
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid.split("::")[0])


def pytest_xdist_make_scheduler(config, log):
    return GroupScheduling(config, log)
