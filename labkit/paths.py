"""Where labkit finds its files: the repository, its open photos and datasets under data/, and its cache folder.

Everything the lessons and the app read is in the repository (``data/samples``: CC0 photos; ``data/trashnet-mini``:
MIT photos) or is a named dataset that :mod:`labkit.datasets` fetches and checks (ImageNet validation photos).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLES_DIR = DATA_DIR / "samples"  # 18 open photos with their labels.csv and CREDITS.md
TRASHNET_MINI_DIR = DATA_DIR / "trashnet-mini"  # 240 TrashNet photos (MIT), one folder per material


def cache_dir() -> Path:
    """Return labkit's cache folder (converted LiteRT models, fetched datasets), creating it if needed.

    ``$LABKIT_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/labkit`` or ``~/.cache/labkit``.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labkit"
    folder = Path(os.environ.get("LABKIT_CACHE_DIR") or default)  # an empty variable means "unset"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
