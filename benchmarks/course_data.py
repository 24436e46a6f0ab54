"""Where the benchmarks find the course's 60 labelled ImageNet photos: ``../shared/samples`` beside the checkout.

labkit itself never reads this folder (its lessons and app use ``data/samples`` and :mod:`labkit.datasets`); the
benchmarks keep measuring on it so their stored results stay comparable. ``$LABKIT_SHARED_DIR`` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("LABKIT_SHARED_DIR", REPO_ROOT.parent / "shared"))


def shared_samples_dir() -> Path:
    """Return the folder of 60 labelled ImageNet photos beside the checkout (never in git: ImageNet's licence)."""
    return SHARED_DIR / "samples"
