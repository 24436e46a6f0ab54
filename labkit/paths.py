"""Where labkit finds its files: the repository, its open photos and datasets under data/, and its cache folder.

Everything the lessons and the app read is in the repository (``data/samples``: CC0 photos; ``data/trashnet-mini``:
MIT photos) or is a named dataset that :mod:`labkit.datasets` fetches and checks (ImageNet validation photos).
What a student makes (exported models) goes to their own folder, :func:`exports_dir`, never into the repository.

**One root for students.** A lesson's kernel starts in the lesson's folder (``practice/`` under ``make lab`` and on
Binder, ``notebooks/`` for the teacher's copies, wherever a student saved a new notebook), while the README, the
lessons and labkit's messages name paths from the repository (``data/samples/beagle.jpg``). So labkit reads a
relative path that does not exist from the current folder from the repository's root, then from ``data/``
(:func:`find_path`): ``data/samples/beagle.jpg`` and ``trashnet-mini/glass`` work from any folder, and a path that
does exist from the current folder (``../data/...``, a student's own ``photos/``) means what it always meant.
Messages about a missing path say so (:func:`where_paths_start`).
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit.errors import LabkitError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLES_DIR = DATA_DIR / "samples"  # 18 open photos with their labels.csv and CREDITS.md
TRASHNET_MINI_DIR = DATA_DIR / "trashnet-mini"  # 240 TrashNet photos (MIT), one folder per material


def find_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as the file or folder it names: from the current folder, else the repository's, else ``data/``.

    An absolute path, or one that exists from the current folder, is returned as given (``~`` expanded); a relative
    one found nowhere too, so the caller's "not found" message names what the student typed.

    Example:
        >>> find_path("data/samples/beagle.jpg") == SAMPLES_DIR / "beagle.jpg" or Path("data").exists()
        True
        >>> find_path("trashnet-mini/glass").name
        'glass'
    """
    given = Path(os.fsdecode(path)).expanduser()
    if given.is_absolute() or given.exists():
        return given
    return next((root / given for root in (REPO_ROOT, DATA_DIR) if (root / given).exists()), given)


def where_paths_start() -> str:
    """Where a relative path is looked for, for "not found" messages (see :func:`find_path`).

    Example:
        >>> where_paths_start().startswith("relative paths start from the current folder")
        True
    """
    return (
        f"relative paths start from the current folder ({Path.cwd()}), then from labkit's folder ({REPO_ROOT}) and "
        f"its data folder: e.g. 'data/samples/beagle.jpg' or '{TRASHNET_MINI_DIR.name}/glass' work from anywhere"
    )


def cache_dir() -> Path:
    """Return labkit's cache folder (converted LiteRT models, fetched datasets), creating it if needed.

    ``$LABKIT_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/labkit`` or ``~/.cache/labkit``.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labkit"
    folder = Path(os.environ.get("LABKIT_CACHE_DIR") or default)  # an empty variable means "unset"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- where a student's own files go -----------------------------------------------------------------------------
# Exported models are the student's, never the course's: on a hub the repository is root's and read-only for the
# students' servers, so they go to the student's home (or the folder $LABKIT_MODELS_DIR names), where the app's
# Model menu looks too. One variable for both sides, so the trainer and the app cannot disagree.
MODELS_DIR_ENV = "LABKIT_MODELS_DIR"
DEFAULT_MODELS_DIR_NAME = "labkit-exports"  # in the home folder: visible in JupyterLab's file browser, and kept


class FolderNotWritable(LabkitError, PermissionError):
    """labkit cannot save into a folder (it is read-only for this user, or a file is in the way)."""


def exports_dir() -> Path:
    """Return the folder a student's exported models go to and the app lists: ``$LABKIT_MODELS_DIR``, else
    ``~/labkit-exports``. Nothing is created (see :func:`writable_folder`).

    Example:
        >>> exports_dir().name  # doctest: +SKIP
        'labkit-exports'
    """
    folder = os.environ.get(MODELS_DIR_ENV)  # an empty variable means "unset"
    return Path(folder).expanduser() if folder else Path.home() / DEFAULT_MODELS_DIR_NAME


def writable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check this user may write into it; return it.

    Raises:
        FolderNotWritable: it cannot be created or written (e.g. inside a repository that is read-only for the
            students' servers); the message names the folder and says how to choose another.

    Example:
        >>> writable_folder("/proc/labkit")  # doctest: +SKIP
        Traceback (most recent call last):
        FolderNotWritable: labkit cannot save into /proc/labkit (...). ...
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        reason = None if os.access(folder, os.W_OK | os.X_OK) else "it is read-only for you"
    except OSError as error:
        reason = error.strerror or str(error)
    if reason is not None:
        raise FolderNotWritable(
            f"labkit cannot save into {folder} ({reason}). Save into a folder of yours instead: set "
            f"{MODELS_DIR_ENV} to it (e.g. {MODELS_DIR_ENV}=~/{DEFAULT_MODELS_DIR_NAME}), or pass its path."
        )
    return folder
