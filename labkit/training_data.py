"""Training data: labelled photos to teach a model new classes, from a folder or from photos in memory.

A training folder (:func:`read_training_folder`) has one subfolder per class, whose names become the class names
(:mod:`labkit.class_names` checks them); :func:`training_set_from_photos` takes photos in memory (e.g. uploads).
Every photo goes through :func:`labkit.images.load_image` and :func:`labkit.preprocess.to_model_input`, so training
sees exactly what prediction will see. Unreadable files are skipped, listed and warned about.

Example:
    >>> read_training_folder("../shared/datasets/trashnet-mini").counts()  # doctest: +SKIP
    {'glass': 60, 'metal': 60, 'paper': 60, 'plastic': 60}
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image
from tqdm import tqdm

from labkit.class_names import MIN_CLASSES, TrainingDataError, check_class_names
from labkit.images import IMAGE_EXTENSIONS, ImageError, load_image, to_rgb
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy, to_batch

MIN_IMAGES_PER_CLASS = 5  # one for validation, four to learn from: the bare minimum, 50+ is better
KEPT_PHOTO_SIDE = 640  # training photos are kept in memory at most this big (longer side), far above the model's 224

PhotoSource = Union[bytes, bytearray, memoryview, Image.Image, str, os.PathLike]  # one photo given in memory


class TrainingFolderError(TrainingDataError):
    """The training folder cannot be used as it is: the message says what is wrong and how to fix the folder."""


class SkippedFilesWarning(UserWarning):
    """Some files or photos could not be read as images and were left out."""


@dataclass(frozen=True)
class SkippedFile:
    """A photo left out of training, and why: ``path`` is its file, or a name for a photo given in memory."""

    path: Path | str
    reason: str

    @property
    def name(self) -> str:
        """The file's name (``IMG_0042.jpg``) or the in-memory photo's name (``glass: photo 3``)."""
        return self.path.name if isinstance(self.path, Path) else self.path


@dataclass
class TrainingSet:
    """Labelled photos to learn from (or to check on): upright RGB images, their classes and where they came from.

    Made by :func:`read_training_folder` (a folder with one subfolder per class) or :func:`training_set_from_photos`
    (photos in memory, e.g. uploads). ``photos[i]`` belongs to ``class_names[labels[i]]``; ``files[i]`` is its path,
    or a name such as ``"glass: photo 3"`` for a photo given in memory. ``images`` is the model input
    (N, 224, 224, 3) in [-1, 1], made by :func:`labkit.to_model_input` with ``policy``, as prediction does.
    """

    class_names: list[str]
    photos: list[Image.Image] = field(repr=False)
    labels: np.ndarray
    files: list[Path | str] = field(repr=False)
    skipped_files: list[SkippedFile] = field(default_factory=list)
    folder: Path | None = None
    policy: ResizePolicy = DEFAULT_POLICY

    def counts(self) -> dict[str, int]:
        """Readable photos per class, e.g. ``{"glass": 60, "metal": 60}``."""
        return {name: int(np.sum(self.labels == index)) for index, name in enumerate(self.class_names)}

    @cached_property
    def images(self) -> np.ndarray:
        """The photos as the model sees them: (N, 224, 224, 3) float32 in [-1, 1]."""
        return to_batch(self.photos, self.policy)

    def __len__(self) -> int:
        return len(self.photos)


TrainingSource = Union[str, os.PathLike, TrainingSet]  # a folder with one subfolder per class, or photos in memory


def class_folders(folder: str | os.PathLike) -> list[Path]:
    """Return the class subfolders of a training folder, sorted by name (hidden ones, ``.ipynb_checkpoints``, left out).

    Raises :class:`TrainingFolderError` when the folder is missing or has fewer than
    :data:`labkit.class_names.MIN_CLASSES` subfolders.

    Example:
        >>> [path.name for path in class_folders("../shared/datasets/trashnet-mini")]  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingFolderError(
            f"No folder at '{folder}'. What to do: check the spelling (relative paths start "
            f"from {Path.cwd()}), or pass the folder that holds one subfolder per class."
        )
    subfolders = sorted(
        (child for child in folder.iterdir() if child.is_dir() and not child.name.startswith(".")),
        key=lambda path: path.name,
    )
    if len(subfolders) < MIN_CLASSES:
        found = f"only one, '{subfolders[0].name}'" if subfolders else "none"
        raise TrainingFolderError(
            f"'{folder}' needs at least {MIN_CLASSES} class subfolders to learn from; it has {found}. A model "
            f"learns to tell classes apart, so it needs two or more. What to do: put each class's photos in a "
            f"subfolder named after the class, e.g. {folder.name}/cats/*.jpg and {folder.name}/dogs/*.jpg."
        )
    return subfolders


def read_training_folder(
    folder: str | os.PathLike,
    policy: ResizePolicy = DEFAULT_POLICY,
    progress: bool = True,
    min_per_class: int = MIN_IMAGES_PER_CLASS,
) -> TrainingSet:
    """Load every photo of a folder with one subfolder per class.

    Files that are not readable images (a text file, a truncated JPEG...) are skipped, listed in
    ``skipped_files`` and named in a :class:`SkippedFilesWarning`. Hidden files (``.DS_Store``) are ignored.

    Args:
        folder: the training folder, e.g. ``trashnet-mini/`` holding ``glass/``, ``metal/``, ...
        policy: the resize policy, the classifier's (default ``"squash"``).
        progress: show a progress bar on stderr.
        min_per_class: fewest readable photos a class may have (a validation folder needs only 1).

    Raises:
        TrainingFolderError: fewer than 2 classes, or a class with fewer than ``min_per_class`` readable photos.

    Example:
        >>> training_set = read_training_folder("../shared/datasets/trashnet-mini")  # doctest: +SKIP
        >>> training_set.counts()  # doctest: +SKIP
        {'glass': 60, 'metal': 60, 'paper': 60, 'plastic': 60}
    """
    folder = Path(folder)
    subfolders = class_folders(folder)
    candidates = [
        (label, path)
        for label, subfolder in enumerate(subfolders)
        for path in sorted(subfolder.iterdir(), key=lambda path: path.name)
        if path.is_file() and not path.name.startswith(".")
    ]
    photos, labels, files, skipped = [], [], [], []
    for label, path in tqdm(
        candidates,
        desc="reading photos",
        unit="photo",
        file=sys.stderr,
        disable=not progress,
        leave=False,
        mininterval=1,
    ):
        try:
            photos.append(_kept_photo(load_image(path)))
        except ImageError as error:
            reason = str(error) if path.suffix.lower() in IMAGE_EXTENSIONS else f"not an image file type: {error}"
            skipped.append(SkippedFile(path, reason))
            continue
        files.append(path)
        labels.append(label)
    _warn_skipped(skipped, lambda file: Path(file.path).relative_to(folder))
    training_set = TrainingSet(
        [path.name for path in subfolders], photos, np.array(labels, np.int64), files, skipped, folder, policy
    )
    _check_counts(training_set, min_per_class)
    return training_set


def training_set_from_photos(
    photos: Mapping[str, Sequence[PhotoSource] | Mapping[str, PhotoSource]],
    policy: ResizePolicy = DEFAULT_POLICY,
    min_per_class: int = MIN_IMAGES_PER_CLASS,
) -> TrainingSet:
    """Make a :class:`TrainingSet` from photos in memory, one entry per class, as a trainer widget collects them.

    Each class maps to its photos: file bytes (an upload), PIL images or paths; or to a mapping ``{name: photo}``
    so that skipped photos are listed by their names (``"IMG_0042.HEIC"``). Photos that cannot be read are
    skipped, listed in ``skipped_files`` and named in a :class:`SkippedFilesWarning`; the others are kept.
    The classes keep the mapping's order.

    Raises:
        ClassNameError: a class name that would not make a valid folder name
            (:func:`labkit.class_names.class_name_problem` says why).
        TrainingDataError: fewer than 2 classes, or a class with fewer than ``min_per_class`` readable photos.

    Example:
        >>> training_set = training_set_from_photos({"cat": [open("cat1.jpg", "rb").read(), ...],  # doctest: +SKIP
        ...                                          "dog": ["dog1.jpg", ...]})
        >>> training_set.counts()  # doctest: +SKIP
        {'cat': 12, 'dog': 15}
    """
    class_names = list(photos)
    check_class_names(class_names)
    kept, labels, files, skipped = [], [], [], []
    for label, name in enumerate(class_names):
        given = photos[name]
        named = (
            given.items()
            if isinstance(given, Mapping)
            else ((_photo_name(name, number, photo), photo) for number, photo in enumerate(given, start=1))
        )
        for photo_name, photo in named:
            try:
                image = to_rgb(photo) if isinstance(photo, Image.Image) else load_image(photo, name=photo_name)
            except ImageError as error:
                skipped.append(SkippedFile(f"{name}: {photo_name}", str(error)))
                continue
            kept.append(_kept_photo(image))
            labels.append(label)
            files.append(Path(photo) if isinstance(photo, (str, os.PathLike)) else f"{name}: {photo_name}")
    _warn_skipped(skipped, lambda file: file.name)
    training_set = TrainingSet(class_names, kept, np.array(labels, np.int64), files, skipped, None, policy)
    _check_counts(training_set, min_per_class)
    return training_set


def _photo_name(class_name: str, number: int, photo: object) -> str:
    return Path(photo).name if isinstance(photo, (str, os.PathLike)) else f"photo {number}"


def _kept_photo(image: Image.Image) -> Image.Image:
    """A photo as training keeps it in memory: RGB, its longer side at most :data:`KEPT_PHOTO_SIDE` pixels."""
    if max(image.size) > KEPT_PHOTO_SIDE:  # a phone photo would take 36 MB; what the model sees is far smaller
        image = image.copy()
        image.thumbnail((KEPT_PHOTO_SIDE, KEPT_PHOTO_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image


def _warn_skipped(skipped: list[SkippedFile], shown: Callable[[SkippedFile], object]) -> None:
    if skipped:
        listed = "\n".join(f"  - {shown(file)}: {file.reason}" for file in skipped)
        warnings.warn(
            f"Skipped {len(skipped)} photo(s) that could not be read as images:\n{listed}\n"
            "Training goes on without them; to use them, save them again as JPEG or PNG.",
            SkippedFilesWarning,
            stacklevel=3,
        )


def _check_counts(training_set: TrainingSet, min_per_class: int = MIN_IMAGES_PER_CLASS) -> None:
    too_few = {name: count for name, count in training_set.counts().items() if count < min_per_class}
    if not too_few:
        return
    described = ", ".join(f"'{name}' has {count}" for name, count in too_few.items())
    skipped = (
        f" ({len(training_set.skipped_files)} unreadable photo(s) were skipped, see the warning)"
        if training_set.skipped_files
        else ""
    )
    if training_set.folder is None:
        raise TrainingDataError(
            f"Each class needs at least {min_per_class} readable photos to learn from: {described}{skipped}. "
            f"What to do: add photos to {', '.join(repr(name) for name in too_few)} (50 or more per class works "
            "much better), or remove that class."
        )
    raise TrainingFolderError(
        f"Each class needs at least {min_per_class} readable photos (one or more to check the model on, "
        f"the rest to learn from): {described}{skipped}. What to do: add photos to "
        f"{', '.join(str(training_set.folder / name) for name in too_few)} (50 or more per class works much "
        "better), or remove that class's folder."
    )


def as_training_set(
    source: TrainingSource,
    policy: ResizePolicy = DEFAULT_POLICY,
    progress: bool = True,
    min_per_class: int = MIN_IMAGES_PER_CLASS,
) -> TrainingSet:
    """Return ``source`` if it is a :class:`TrainingSet`, else read it as a folder (:func:`read_training_folder`)."""
    if isinstance(source, TrainingSet):
        return source
    return read_training_folder(source, policy, progress, min_per_class)
