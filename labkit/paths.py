"""Where labkit finds its files: the repository, the bundled samples, and the shared data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SAMPLES_DIR = REPO_ROOT / "data" / "samples"
# The course's larger data (60 labelled photos, the transfer-learning set) sits beside the checkout, never in git.
SHARED_DIR = Path(os.environ.get("LABKIT_SHARED_DIR", REPO_ROOT.parent / "shared"))


def shared_samples_dir() -> Path:
    """Return the folder of 60 labelled ImageNet photos that ships beside the checkout.

    Example:
        >>> shared_samples_dir().name
        'samples'
    """
    return SHARED_DIR / "samples"


def shared_dataset_dir(name: str = "trashnet-mini") -> Path:
    """Return a named photo set under ``../shared/datasets`` (the transfer-learning lesson uses ``trashnet-mini``).

    Example:
        >>> shared_dataset_dir().name
        'trashnet-mini'
    """
    return SHARED_DIR / "datasets" / name


def cache_dir() -> Path:
    """Return labkit's cache folder (converted LiteRT models and such), creating it if needed.

    ``$LABKIT_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/labkit`` or ``~/.cache/labkit``.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labkit"
    folder = Path(os.environ.get("LABKIT_CACHE_DIR") or default)  # an empty variable means "unset"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
