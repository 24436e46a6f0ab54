"""Folders of labelled photos for measuring a model: its classes named in ``labels.csv`` or by subfolders.

A labelled folder (:func:`read_labelled_folder`) comes in one of two layouts,

- ``labels.csv`` beside the photos, with a ``file`` column and one of ``class_index`` (0..999, the model's output
  position), ``wnid`` (e.g. ``n02099601``) or ``label`` (``golden_retriever`` or ``golden retriever``);
- one subfolder per class, named by its wnid or its label (``golden_retriever/``, ``n02099601/``).

Folders for teaching a model new classes (one subfolder per class) are read by :mod:`labkit.training_data`.

Example:
    >>> read_labelled_folder("data/samples")[0]  # doctest: +SKIP
    LabelledImage(path=PosixPath('data/samples/207_golden_retriever.jpg'), class_index=207)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError
from labkit.images import iter_image_files
from labkit.weights import load_class_index, readable_label

LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("class_index", "wnid", "label")  # in order of preference when a CSV has several


class LabelError(LabkitError, ValueError):
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
