"""Where the benchmarks find their photos: what every clone of labkit has or can fetch, so anyone can re-run them.

- accuracy: the 650 labelled ImageNet validation photos of ``imagenet-val-650`` (:func:`labkit.datasets.fetch`:
  ``$LABKIT_DATA_DIR``, labkit's cache, or a checked download);
- speed, memory and the app: the 18 open photos of ``data/samples`` (in the repository).
"""

from __future__ import annotations

from pathlib import Path

from labkit.datasets import fetch
from labkit.images import iter_image_files
from labkit.paths import SAMPLES_DIR

VALIDATION_SET = "imagenet-val-650"


def validation_dir() -> Path:
    """Return the folder of imagenet-val-650 (its ``labels.csv`` and ``images/``), fetched and checked if needed."""
    return fetch(VALIDATION_SET, progress=False)


def open_photos() -> list[Path]:
    """Return the open photos of ``data/samples``, sorted (public domain / CC0, in the repository)."""
    return iter_image_files(SAMPLES_DIR)


def open_photo(name: str) -> Path:
    """Return one photo of ``data/samples`` by file name, e.g. ``"beagle.jpg"``."""
    return SAMPLES_DIR / name
