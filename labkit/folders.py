"""Folders of labelled photos: for measuring a model (its classes named in ``labels.csv`` or by subfolders) and
for teaching it new classes (one subfolder per class).

Measuring (:func:`read_labelled_folder`): a labelled folder comes in one of two layouts,

- ``labels.csv`` beside the photos, with a ``file`` column and one of ``class_index`` (0..999, the model's output
  position), ``wnid`` (e.g. ``n02099601``) or ``label`` (``golden_retriever`` or ``golden retriever``);
- one subfolder per class, named by its wnid or its label (``golden_retriever/``, ``n02099601/``).

Training (:func:`read_training_folder`): one subfolder per class, whose names become the class names; every photo
goes through :func:`labkit.images.load_image` and :func:`labkit.preprocess.to_model_input`, so training sees
exactly what prediction will see. Unreadable files are skipped, listed and warned about.

Example:
    >>> read_labelled_folder("data/samples")[0]  # doctest: +SKIP
    LabelledImage(path=PosixPath('data/samples/207_golden_retriever.jpg'), class_index=207)
"""

from __future__ import annotations

import csv
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

from labkit.images import IMAGE_EXTENSIONS, ImageError, iter_image_files, load_image, to_rgb
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy, to_batch
from labkit.weights import load_class_index, readable_label

LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("class_index", "wnid", "label")  # in order of preference when a CSV has several
MIN_CLASSES = 2
MIN_IMAGES_PER_CLASS = 5  # one for validation, four to learn from: the bare minimum, 50+ is better
KEPT_PHOTO_SIDE = 640  # training photos are kept in memory at most this big (longer side), far above the model's 224
MAX_CLASS_NAME_BYTES = 255  # the longest file name ext4, APFS and NTFS accept
_NOT_IN_FOLDER_NAMES = frozenset('/\\:*?"<>|')  # Windows refuses all of these; "/" separates folders everywhere
_WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))]
)


class LabelError(ValueError):
    """A labelled folder or CSV could not be read: the message says which file or label, and what to do."""


@dataclass(frozen=True)
class LabelledImage:
    """One photo and the index of its true class in the model's output."""

    path: Path
    class_index: int


def _normalized(name: str) -> str:
    return name.strip().replace("_", " ").casefold()


class ClassLookup:
    """Find a class's index from its wnid or its label (Keras' ``golden_retriever`` or ``golden retriever``)."""

    def __init__(self, class_names: Sequence[str], wnids: Sequence[str] | None = None) -> None:
        self.class_names = list(class_names)
        self.wnids = list(wnids) if wnids is not None else list(self.class_names)
        self._by_wnid = {wnid.casefold(): index for index, wnid in enumerate(self.wnids)}
        self._by_label: dict[str, list[int]] = {}
        for index, name in enumerate(self.class_names):
            self._by_label.setdefault(_normalized(name), []).append(index)

    @classmethod
    def imagenet(cls) -> ClassLookup:
        classes = load_class_index()
        return cls([readable_label(label) for _, label in classes], [wnid for wnid, _ in classes])

    def index(self, name: str, where: str) -> int:
        """Return the class index for a wnid or label; ``where`` names the file/folder for the error message."""
        if name.strip().casefold() in self._by_wnid:
            return self._by_wnid[name.strip().casefold()]
        matches = self._by_label.get(_normalized(name), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            which = ", ".join(f"{index} ({self.wnids[index]})" for index in matches)
            raise LabelError(
                f"{where}: the label {name!r} names {len(matches)} classes: {which}. "
                "Use the wnid or the class_index instead, to say which one you mean."
            )
        raise LabelError(
            f"{where}: {name!r} is not one of the model's {len(self.class_names)} classes "
            f"(neither a label like {self.class_names[0]!r} nor a wnid like {self.wnids[0]!r}). "
            "Check the spelling; labkit.Classifier().class_names lists them all."
        )

    def class_index(self, text: str, where: str) -> int:
        """Parse a ``class_index`` cell and check it is in range."""
        try:
            index = int(text)
        except ValueError:
            raise LabelError(
                f"{where}: class_index {text!r} is not a whole number. Write the class's position "
                f"in the model's output, 0..{len(self.class_names) - 1}."
            ) from None
        if not 0 <= index < len(self.class_names):
            raise LabelError(
                f"{where}: class_index {index} is out of range; this model has classes 0..{len(self.class_names) - 1}."
            )
        return index


def read_labelled_folder(
    path: str | os.PathLike, class_names: Sequence[str] | None = None, wnids: Sequence[str] | None = None
) -> list[LabelledImage]:
    """List the photos of a labelled folder with their true class, from ``labels.csv`` or class subfolders.

    Args:
        path: the folder (or a ``.csv`` file; its ``file`` column is relative to the CSV's folder, or to its
            ``images/`` subfolder as in the datasets of :mod:`labkit.datasets`).
        class_names, wnids: the model's classes, e.g. ``classifier.class_names``; default: the 1000 ImageNet classes.
            A fine-tuned model's folders are simply named after its classes.

    Raises:
        LabelError: no photos, no ``file`` column, or a label/wnid/class_index the model does not know.

    Example:
        >>> items = read_labelled_folder(datasets.fetch("imagenet-val-650"))  # doctest: +SKIP
        >>> items[0].class_index  # doctest: +SKIP
        625
    """
    lookup = ClassLookup(class_names, wnids) if class_names is not None else ClassLookup.imagenet()
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _read_labels_csv(path, lookup)
    if not path.is_dir():
        raise LabelError(
            f"No folder at '{path}'. Give a folder of labelled photos (with {LABELS_FILE} or one "
            "subfolder per class), or the path of a labels CSV."
        )
    if (path / LABELS_FILE).is_file():
        return _read_labels_csv(path / LABELS_FILE, lookup)
    items = _read_class_folders(path, lookup)
    if not items:
        loose = iter_image_files(path)
        found = f"found {len(loose)} photos but no labels" if loose else "found no photos"
        raise LabelError(
            f"'{path}': {found}. Add a {LABELS_FILE} (columns: file, and class_index, wnid or "
            "label) or put the photos in one subfolder per class, named like 'golden_retriever'."
        )
    return items


def _read_labels_csv(csv_path: Path, lookup: ClassLookup) -> list[LabelledImage]:
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets often add a BOM
        reader = csv.DictReader(handle)
        columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        if "file" not in columns:
            raise LabelError(
                f"{csv_path} has no 'file' column (its columns: {', '.join(columns) or 'none'}). "
                "The first line should name the columns, e.g. 'file,label'."
            )
        label_column = next((column for column in LABEL_COLUMNS if column in columns), None)
        if label_column is None:
            raise LabelError(
                f"{csv_path} says which file but not which class: add a column named class_index, wnid or label."
            )
        items = []
        for line, row in enumerate(reader, start=2):
            file_name = (row[columns["file"]] or "").strip()
            label = (row[columns[label_column]] or "").strip()
            if not file_name and not label:
                continue  # a blank line
            where = f"{csv_path.name}, line {line}"
            if not file_name or not label:
                raise LabelError(f"{where}: the file or its {label_column} is empty. Fill it in or delete the line.")
            index = lookup.class_index(label, where) if label_column == "class_index" else lookup.index(label, where)
            items.append(LabelledImage(_photo_path(csv_path.parent, file_name), index))
    if not items:
        raise LabelError(f"{csv_path} lists no photos. Add one line per photo: its file name and its class.")
    return items


def _photo_path(folder: Path, file_name: str) -> Path:
    """The photo a labels.csv row names: beside the CSV, else in its ``images/`` subfolder.

    The second place is the layout of the datasets :mod:`labkit.datasets` fetches (imagenet-val-650 keeps the
    source's file names in ``labels.csv`` and its photos in ``images/``), so ``evaluate(classifier, folder)`` works
    on the folder :func:`labkit.datasets.fetch` returns.
    """
    beside = folder / file_name
    in_images = folder / "images" / file_name
    return in_images if not beside.exists() and in_images.exists() else beside


def _read_class_folders(folder: Path, lookup: ClassLookup) -> list[LabelledImage]:
    subfolders = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    items: list[LabelledImage] = []
    for subfolder in subfolders:
        index = lookup.index(subfolder.name, f"folder '{subfolder.name}' in {folder}")
        items.extend(LabelledImage(path, index) for path in iter_image_files(subfolder))
    return items


# --- Training folders: one subfolder per class -----------------------------------------------------------------------

PhotoSource = Union[bytes, bytearray, memoryview, Image.Image, str, os.PathLike]  # one photo given in memory


class TrainingDataError(ValueError):
    """The training photos cannot be used as they are: the message says what is wrong and what to do."""


class TrainingFolderError(TrainingDataError):
    """The training folder cannot be used as it is: the message says what is wrong and how to fix the folder."""


class ClassNameError(TrainingDataError):
    """A class name cannot be used: it would not make a valid folder name (the message says which and why)."""


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

    Raises :class:`TrainingFolderError` when the folder is missing or has fewer than :data:`MIN_CLASSES` subfolders.

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
        ClassNameError: a class name that would not make a valid folder name (:func:`class_name_problem` says why).
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


def class_name_problem(name: object) -> str | None:
    """Say why ``name`` cannot be a class name, or return ``None`` when it can.

    A class name must be usable as a folder name on Windows, macOS and Linux: a trained model's classes and a
    training folder's subfolders are the same names (``labkit train`` and ``labkit evaluate`` read classes from
    subfolders, and a student saves photos into them).

    Example:
        >>> class_name_problem("glass") is None
        True
        >>> class_name_problem("glass/metal")
        "contains '/', which folder names cannot contain"
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    bad = next((character for character in name if character in _NOT_IN_FOLDER_NAMES or ord(character) < 32), None)
    if bad is not None:
        shown = repr(bad) if ord(bad) < 32 else f"'{bad}'"
        return f"contains {shown}, which folder names cannot contain"
    if name != name.strip():
        return "starts or ends with a space, which file systems drop or keep inconsistently"
    if name in (".", ".."):
        return "is a dot or two, which mean the folder itself or the one above it, not a new folder"
    if name.startswith("."):
        return "starts with a dot, which hides the folder (labkit, like most tools, skips hidden folders)"
    if name.endswith("."):
        return "ends with a dot, which Windows removes from folder names"
    if name.split(".")[0].upper() in _WINDOWS_DEVICE_NAMES:
        return (
            "is a device name that Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9), so no folder may be "
            "called that"
        )
    if len(name.encode("utf-8")) > MAX_CLASS_NAME_BYTES:
        return f"is longer than file systems allow ({MAX_CLASS_NAME_BYTES} bytes)"
    return None


def check_class_names(class_names: Sequence[object]) -> None:
    """Raise :class:`ClassNameError` unless every name is a valid folder name and no two differ only in case.

    Raises :class:`TrainingDataError` when there are fewer than :data:`MIN_CLASSES` classes.
    """
    if len(class_names) < MIN_CLASSES:
        found = f"only one, '{class_names[0]}'" if class_names else "none"
        raise TrainingDataError(
            f"A model needs at least {MIN_CLASSES} classes to learn to tell apart; there is "
            f"{found}. What to do: add another class, with its photos."
        )
    for name in class_names:
        problem = class_name_problem(name)
        if problem is not None:
            raise ClassNameError(
                f"The class name {name!r} cannot be used: it {problem}. Class names become folder names (of the "
                "exported model's classes and of a training folder), so each must be a valid folder name. What to "
                "do: rename the class, e.g. with letters, digits, spaces, '-' or '_'."
            )
    seen: dict[str, str] = {}
    for name in map(str, class_names):  # all text by now
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise ClassNameError(
                f"The classes {other!r} and {name!r} differ only in upper and lower case: on "
                "Windows and macOS they would be the same folder. What to do: rename one, or put "
                "their photos together in one class."
            )


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
