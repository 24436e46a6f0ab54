"""The trainer's state (lesson 08): classes, their photos, the training thread and the trained model; no widgets.

:class:`TrainerSession` is what the widget (:mod:`labkit.lessons.trainer`) drives, and what a test or a notebook can
drive from Python without a browser::

    >>> session = TrainerSession()
    >>> session.add_classes_from(EXAMPLE_PHOTOS)  # one class per subfolder  # doctest: +SKIP
    >>> session.start_training(); session.wait().val_accuracy  # doctest: +SKIP
    0.85
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labkit.class_names import MIN_CLASSES, class_name_problem
from labkit.export import export_model
from labkit.images import ImageError
from labkit.lessons.trainer_photos import (
    Added,
    Photo,
    PhotoLike,
    SkippedPhoto,
    TrainerInputError,
    class_name_message,
    open_photo,
    read_photo,
)
from labkit.paths import exports_dir, find_path, where_paths_start
from labkit.predict import Prediction
from labkit.recipe import FINE_TUNE_EPOCHS, HEAD_EPOCHS, EpochReport
from labkit.training_data import MIN_IMAGES_PER_CLASS, training_set_from_photos
from labkit.transfer import FineTuneResult, fine_tune
from labkit.words import counted


class TrainerSession:
    """The trainer's state and everything it can do, with no widgets in it (the widget and the tests drive it).

    ``classes`` maps each class name to its photos, in the order the classes were added; ``result`` is the last
    training's :class:`labkit.transfer.FineTuneResult` (``None`` before the first); ``history`` holds the epochs of
    the current or last training, in :func:`labkit.plots.plot_training_curves`' format.

    Example:
        >>> session = TrainerSession()
        >>> session.add_class("glass")
        'glass'
        >>> session.add_photos("glass", [("bad.jpg", b"not a photo")]).skipped[0].name
        'bad.jpg'
    """

    def __init__(self) -> None:
        self.classes: dict[str, list[Photo]] = {}
        self.skipped: list[SkippedPhoto] = []
        self.result: FineTuneResult | None = None
        self.history: dict[str, list[float]] = _empty_history()
        self.error: BaseException | None = None
        self.stopped = False
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._trained_on: dict[str, Photo] = {}  # the last training's photos, by the names fine_tune knows them by

    # --- classes ----------------------------------------------------------------------------------------------

    def add_class(self, name: str) -> str:
        """Add an empty class; raises :class:`TrainerInputError` when ``name`` is not a usable folder name."""
        problem = class_name_message(name, self.classes)
        if problem:
            raise TrainerInputError(problem)
        self.classes[name] = []
        return name

    def rename_class(self, old: str, new: str) -> str:
        """Rename a class, keeping its photos and its place; :class:`TrainerInputError` for an unusable name."""
        if new == old:
            return new
        problem = class_name_message(new, [name for name in self.classes if name != old])
        if problem:
            raise TrainerInputError(problem)
        self.classes = {(new if name == old else name): photos for name, photos in self.classes.items()}
        self.skipped = [
            SkippedPhoto(new if photo.class_name == old else photo.class_name, photo.name, photo.reason)
            for photo in self.skipped
        ]
        return new

    def remove_class(self, name: str) -> list[Photo]:
        """Remove a class and return its photos."""
        self.skipped = [photo for photo in self.skipped if photo.class_name != name]
        return self.classes.pop(name)

    # --- photos -----------------------------------------------------------------------------------------------

    def add_photos(self, class_name: str, files: Iterable[tuple[str, bytes | memoryview]]) -> Added:
        """Add photos, given as ``(file name, bytes)``, to a class. Unreadable ones are skipped and listed.

        Example:
            >>> session.add_photos("glass", [("bottle.jpg", open("bottle.jpg", "rb").read())])  # doctest: +SKIP
            Added(class_name='glass', added=1, skipped=())
        """
        photos = self._photos_of(class_name)
        added, skipped = 0, []
        for name, data in files:
            try:
                photos.append(read_photo(name, bytes(data)))
                added += 1
            except ImageError as error:
                skipped.append(SkippedPhoto(class_name, name, str(error)))
        self.skipped.extend(skipped)
        return Added(class_name, added, tuple(skipped))

    def add_folder(self, class_name: str, folder: str | os.PathLike) -> Added:
        """Add every image file of ``folder`` (e.g. ``data/trashnet-mini/glass``) to a class, read into memory."""
        folder = find_path(folder)
        if not folder.is_dir():
            raise TrainerInputError(
                f"No folder at '{folder}'. Type the path of a folder of photos; {where_paths_start()}."
            )
        files = [path for path in sorted(folder.iterdir()) if path.is_file() and not path.name.startswith(".")]
        if not files:
            raise TrainerInputError(f"'{folder}' holds no files. Pick the folder that holds the photos themselves.")
        return self.add_photos(class_name, ((path.name, path.read_bytes()) for path in files))

    def add_classes_from(self, folder: str | os.PathLike) -> list[Added]:
        """Add one class per subfolder of ``folder`` (named after it), with its photos: ``data/trashnet-mini``."""
        folder = find_path(folder)
        subfolders = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
        reports = []
        for subfolder in subfolders:
            if subfolder.name not in self.classes:
                self.add_class(subfolder.name)
            reports.append(self.add_folder(subfolder.name, subfolder))
        return reports

    def _photos_of(self, class_name: str) -> list[Photo]:
        if class_name not in self.classes:
            raise TrainerInputError(f"There is no class called '{class_name}'. Add it first.")
        return self.classes[class_name]

    def counts(self) -> dict[str, int]:
        """Photos per class, e.g. ``{"glass": 60, "metal": 58}``."""
        return {name: len(photos) for name, photos in self.classes.items()}

    def describe(self) -> str:
        """One line: ``"4 classes: glass (60 photos), metal (60 photos), ..."``."""
        if not self.classes:
            return "No classes yet."
        listed = ", ".join(f"{name} ({counted(count, 'photo')})" for name, count in self.counts().items())
        return f"{counted(len(self.classes), 'class', 'classes')}: {listed}"

    def problems(self) -> list[str]:
        """What stops training right now (empty when it can start): too few classes, or too few photos in one."""
        problems = []
        if len(self.classes) < MIN_CLASSES:
            have = {0: "no class yet", 1: f"only one, '{next(iter(self.classes), '')}'"}[len(self.classes)]
            problems.append(
                f"Training needs at least {MIN_CLASSES} classes and there is {have}: a model learns to "
                "tell classes apart. Add another class and give it photos."
            )
        for name, count in self.counts().items():
            if count < MIN_IMAGES_PER_CLASS:
                more = MIN_IMAGES_PER_CLASS - count
                problems.append(
                    f"'{name}' has {counted(count, 'photo')}; each class needs at least "
                    f"{MIN_IMAGES_PER_CLASS} (some to learn from, one or more to check on). Add {more} "
                    "more (50 or more works much better), or remove the class."
                )
        return problems

    # --- training ---------------------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether a training is running now."""
        return self._thread is not None and self._thread.is_alive()

    def start_training(
        self,
        *,
        head_epochs: int = HEAD_EPOCHS,
        fine_tune_epochs: int = FINE_TUNE_EPOCHS,
        on_epoch: Callable[[EpochReport], None] | None = None,
        on_done: Callable[[], None] | None = None,
        **options: Any,
    ) -> threading.Thread:
        """Start training in a background thread and return it; ``on_epoch`` and ``on_done`` run in that thread.

        Raises :class:`TrainerInputError` before starting when :meth:`problems` lists anything, or when a training
        is already running. ``options`` go to :func:`labkit.transfer.fine_tune` (``seed``, ``weights``...).
        """
        with self._lock:
            if self.training:
                raise TrainerInputError("A training is already running. Wait for it, or press Stop first.")
            problems = self.problems()
            if problems:
                raise TrainerInputError(" ".join(problems))
            # A snapshot: the student may keep adding photos while this training runs, for the next one.
            photos = {name: _by_unique_name(class_photos) for name, class_photos in self.classes.items()}
            self._trained_on = {
                f"{name}: {photo_name}": photo for name, named in photos.items() for photo_name, photo in named.items()
            }
            self.history, self.error, self.stopped = _empty_history(), None, False
            self.stop_event = threading.Event()
            self._thread = threading.Thread(
                target=self._train,
                name="labkit-trainer",
                daemon=True,
                args=(photos, head_epochs, fine_tune_epochs, on_epoch, on_done, options),
            )
            self._thread.start()
            return self._thread

    def _train(
        self,
        photos: Mapping[str, Mapping[str, Photo]],
        head_epochs: int,
        fine_tune_epochs: int,
        on_epoch: Callable[[EpochReport], None] | None,
        on_done: Callable[[], None] | None,
        options: dict[str, Any],
    ) -> None:
        def record(report: EpochReport) -> None:
            for name in ("loss", "accuracy", "val_loss", "val_accuracy", "phase"):
                value = getattr(report, name)
                if value is not None:  # no validation photos: the validation lists stay empty, as in fine_tune's
                    self.history[name].append(value)
            if on_epoch is not None:
                on_epoch(report)

        try:
            in_memory = {
                name: {photo_name: photo.data for photo_name, photo in named.items()} for name, named in photos.items()
            }
            training_set = training_set_from_photos(in_memory)
            result = fine_tune(
                training_set,
                head_epochs=head_epochs,
                fine_tune_epochs=fine_tune_epochs,
                on_epoch=record,
                stop=self.stop_event,
                progress=False,
                **options,
            )
            self.stopped = result.stopped
            self.result = result
        except Exception as error:  # shown in the widget (and re-raised by train(wait=True))
            self.error = error
        finally:
            if on_done is not None:
                on_done()

    def stop(self) -> None:
        """Ask the running training to stop after the current epoch; the model trained so far is kept."""
        self.stop_event.set()

    def wait(self, timeout: float | None = None) -> FineTuneResult:
        """Wait for the running training; return its result, or raise its error."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise TrainerInputError("Nothing has been trained yet: press Train first.")
        return self.result

    # --- using the model --------------------------------------------------------------------------------------

    def classify(self, photo: PhotoLike, name: str | None = None) -> Prediction:
        """Classify a new photo (bytes, a path or a PIL image) with the trained model: top-3, calibrated percentages."""
        if self.result is None:
            raise TrainerInputError("Train a model first: there is nothing to try the photo on yet.")
        image = open_photo(photo, name)
        return self.result.classifier.classify(image, top=min(3, len(self.result.class_names)))

    def validation_photos(self) -> list[tuple[str, Photo]]:
        """The photos the last training held back to check the model on (never learnt from), with their classes.

        Example:
            >>> true_class, photo = session.validation_photos()[0]  # doctest: +SKIP
            >>> session.classify(photo.data).label == true_class  # doctest: +SKIP
            True
        """
        if self.result is None or self.result.validation is None:
            return []
        validation = self.result.validation
        pairs = zip(validation.files, validation.labels, strict=True)
        return [
            (validation.class_names[label], self._trained_on[str(file)])
            for file, label in pairs
            if str(file) in self._trained_on
        ]

    def export(self, name: str, folder: str | os.PathLike | None = None, *, litert: bool = True) -> Path:
        """Export the trained model to ``folder/name`` (.keras, labels.txt, LiteRT); by default ``folder`` is the
        student's :func:`labkit.paths.exports_dir`, where the app finds it."""
        if self.result is None:
            raise TrainerInputError("Train a model first: there is nothing to export yet.")
        if not name.strip() or class_name_problem(name) is not None:
            raise TrainerInputError(
                f"'{name}' cannot be a model name: it {class_name_problem(name) or 'is empty'}. "
                "The model is saved in a folder of that name; try e.g. 'trash-sorter'."
            )
        return export_model(self.result, Path(folder or exports_dir()) / name, litert=litert)


def _by_unique_name(photos: Sequence[Photo]) -> dict[str, Photo]:
    """``{name: photo}``, numbering repeated names (two uploads called ``image.jpg``: ``image (2).jpg``)."""
    named: dict[str, Photo] = {}
    for photo in photos:
        name, number = photo.name, 1
        while name in named:
            number += 1
            name = f"{Path(photo.name).stem} ({number}){Path(photo.name).suffix}"
        named[name] = photo
    return named


def _empty_history() -> dict[str, list[float]]:
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "phase": []}
