"""The trainer's photos and class names (lesson 08): what a photo is, how one is read, which names may be classes.

No widgets and no training here: :mod:`labkit.lessons.trainer_state` keeps these in a session, and
:mod:`labkit.lessons.trainer` shows them.

Example:
    >>> class_name_message("glass") is None
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Union

from PIL import Image

from labkit.class_names import class_name_problem
from labkit.errors import LabkitError
from labkit.images import load_image, small_jpeg
from labkit.paths import TRASHNET_MINI_DIR
from labkit.words import counted

# --- Configurable parameters --------------------------------------------------------------------------------------
EXAMPLE_PHOTOS = TRASHNET_MINI_DIR  # data/trashnet-mini: glass/, metal/, paper/, plastic/, 60 photos each (MIT)
THUMBNAIL_PIXELS = 64  # longest side of a class's thumbnails


class TrainerInputError(LabkitError, ValueError):
    """What the student gave the trainer cannot be used as it is; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Photo:
    """One photo of a class: its file name, its bytes (in memory only) and a small JPEG thumbnail."""

    name: str
    data: bytes = field(repr=False)
    thumbnail: bytes = field(repr=False)


PhotoLike = Union[bytes, str, os.PathLike, Image.Image, Photo]  # a photo to classify


@dataclass(frozen=True)
class SkippedPhoto:
    """A photo left out because it could not be read, and why."""

    class_name: str
    name: str
    reason: str


@dataclass(frozen=True)
class Added:
    """What adding photos did: how many were kept, and the ones skipped (with their reasons)."""

    class_name: str
    added: int
    skipped: tuple[SkippedPhoto, ...] = ()

    def message(self) -> str:
        """One line for the student: ``"glass: added 5 photos. Skipped 1 that could not be read as a photo..."``."""
        text = f"{self.class_name}: added {counted(self.added, 'photo')}."
        if self.skipped:
            text += (
                f" Skipped {len(self.skipped)} that could not be read as a photo (the others are kept): "
                + " ".join(photo.reason for photo in self.skipped)
            )
        return text


def class_name_message(name: str, existing: Iterable[str] = ()) -> str | None:
    """Say what makes ``name`` unusable as a class name, and what to type instead; ``None`` when it is fine.

    A class name becomes a folder name (the export's labels, ``labkit train``'s class folders), so it must be a valid
    one on every system (:func:`labkit.class_names.class_name_problem` decides), and differ from the other classes'
    names, ignoring case (macOS and Windows would see one folder).

    Example:
        >>> class_name_message("glass") is None
        True
        >>> print(class_name_message("glass/bottles"))  # doctest: +NORMALIZE_WHITESPACE
        'glass/bottles' cannot be a class name: it contains '/', which folder names cannot contain.
        Class names become folder names. Try 'glass-bottles'.
    """
    if not name.strip():
        return "A class needs a name: type one, e.g. 'glass', then press Add class."
    problem = class_name_problem(name)
    if problem is not None:
        suggestion = re.sub(r'[/\\:*?"<>|\x00-\x1f]+', "-", name).strip(" .-")
        if not suggestion or class_name_problem(suggestion) is not None:
            suggestion = "my-class"
        return f"'{name}' cannot be a class name: it {problem}. Class names become folder names. Try '{suggestion}'."
    if name.casefold() in {other.casefold() for other in existing}:
        return (
            f"There is already a class called '{name}' (ignoring upper and lower case). Give each class its own name."
        )
    return None


def thumbnail_jpeg(image: Image.Image, size: int = THUMBNAIL_PIXELS) -> bytes:
    """Return a small JPEG of ``image`` (longest side ``size`` pixels), for a class's row of thumbnails.

    Example:
        >>> thumbnail_jpeg(Image.new("RGB", (640, 480)))[:2]
        b'\\xff\\xd8'
    """
    return small_jpeg(image, size, quality=80)


def read_photo(name: str, data: bytes) -> Photo:
    """Decode a photo's bytes (checking it is a usable image) and keep them with a thumbnail.

    Raises:
        ImageError: the bytes are not a readable photo; the message says why.
    """
    return Photo(name, data, thumbnail_jpeg(load_image(data, name=name)))


def open_photo(photo: PhotoLike, name: str | None = None) -> Image.Image:
    """The trainer's photo as a PIL image: from bytes, a path, a :class:`Photo` or a PIL image (kept as given).

    Bytes and files are checked by :func:`labkit.images.load_image`, their errors naming ``name``.

    Raises:
        ImageError: the bytes or file are not a readable photo; the message says why.
    """
    if isinstance(photo, Photo):
        return load_image(photo.data, name=photo.name)
    return photo if isinstance(photo, Image.Image) else load_image(photo, name=name)
