"""Lesson 08's "Try it": a Teachable-Machine-style trainer. Name classes, add photos, train, try, export.

``trainer()`` returns the whole widget; everything it does goes through one :class:`TrainerSession` (the state, no
widgets in it), which a test or a notebook can also drive from Python, without a browser::

    >>> teach = trainer("data/trashnet-mini")        # four classes of 60 photos, ready to train  # doctest: +SKIP
    >>> teach.train(wait=True)                       # what the Train button does, but waiting     # doctest: +SKIP
    >>> teach.try_photo("my_bottle.jpg").label       # what the "Try a photo" upload does          # doctest: +SKIP
    'glass'

What a student does, and what labkit does for each step:

1. **Classes**: type a name and press *Add class* (a class name becomes a folder name in the export, so it must be
   one: :func:`class_name_message` says what is wrong with it). Rename a class by editing its name (Enter), remove
   it with its *Remove* button.
2. **Photos**: each class's *Add photos* button takes several photos at once (FileUpload, ``multiple=True``); their
   bytes stay in memory, never written to disk. Or type a folder (e.g. ``data/trashnet-mini/glass``) and press
   *Add folder*. Each photo is decoded on arrival (:func:`labkit.images.load_image`): an unreadable one is skipped
   and listed, the others are kept. Counts and thumbnails show what each class has.
3. **Train**: :func:`labkit.transfer.fine_tune` on the photos, in a background thread so the notebook stays
   usable. A progress bar and the loss and accuracy curves (a static matplotlib picture) are redrawn after every
   epoch; *Stop* asks training to end after the current epoch, and the model trained so far is kept.
4. **Try a photo**: upload a photo the model never saw; it gets its top-3 with calibrated percentages (the
   fine-tuned model's temperature, fitted on the validation photos).
5. **Export**: :func:`labkit.export.export_model` writes ``model.keras``, Teachable Machine's ``labels.txt`` and a
   LiteRT ``model.tflite`` into ``exports/NAME``, where the app's Model menu finds it.

Bad input never loses work: fewer than two classes, too few photos in a class (the message says how many more),
an unreadable photo or an invalid class name each get a message saying what to do, and everything else stays.
"""

from __future__ import annotations

import html
import io
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import ipywidgets as widgets
from PIL import Image

from labkit.class_names import MIN_CLASSES, TrainingDataError, class_name_problem
from labkit.export import DEFAULT_EXPORTS_DIR, export_model
from labkit.images import ImageError, load_image
from labkit.lessons.tryit import (
    ACCEPTED_FILES,
    ResultArea,
    TryIt,
    figure_html,
    image_html,
    photo_html,
    text_html,
    uploaded_files,
)
from labkit.paths import TRASHNET_MINI_DIR
from labkit.plots import format_percent, plot_top_k, plot_training_curves, top_k_alt_text
from labkit.predict import Prediction
from labkit.recipe import FINE_TUNE_EPOCHS, HEAD_EPOCHS, EpochReport
from labkit.training_data import MIN_IMAGES_PER_CLASS, training_set_from_photos
from labkit.transfer import FineTuneResult, fine_tune

# --- Configurable parameters --------------------------------------------------------------------------------------
EXAMPLE_PHOTOS = TRASHNET_MINI_DIR  # data/trashnet-mini: glass/, metal/, paper/, plastic/, 60 photos each (MIT)
THUMBNAIL_PIXELS = 64  # longest side of a class's thumbnails
THUMBNAILS_SHOWN = 10  # per class; the count says how many more there are
TRY_PREVIEW_PIXELS = 224  # the tried photo, as the model sees it
MAX_EPOCHS = 100  # the epochs controls' upper bound


class TrainerInputError(ValueError):
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
        text = f"{self.class_name}: added {self.added} photo{'s' if self.added != 1 else ''}."
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
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def read_photo(name: str, data: bytes) -> Photo:
    """Decode a photo's bytes (checking it is a usable image) and keep them with a thumbnail.

    Raises:
        ImageError: the bytes are not a readable photo; the message says why.
    """
    return Photo(name, data, thumbnail_jpeg(load_image(data, name=name)))


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
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise TrainerInputError(
                f"No folder at '{folder}'. Type the path of a folder of photos (relative to "
                f"{Path.cwd()}), e.g. '{EXAMPLE_PHOTOS.name}/glass'."
            )
        files = [path for path in sorted(folder.iterdir()) if path.is_file() and not path.name.startswith(".")]
        if not files:
            raise TrainerInputError(f"'{folder}' holds no files. Pick the folder that holds the photos themselves.")
        return self.add_photos(class_name, ((path.name, path.read_bytes()) for path in files))

    def add_classes_from(self, folder: str | os.PathLike) -> list[Added]:
        """Add one class per subfolder of ``folder`` (named after it), with its photos: ``data/trashnet-mini``."""
        folder = Path(folder)
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
        listed = ", ".join(
            f"{name} ({count} photo{'s' if count != 1 else ''})" for name, count in self.counts().items()
        )
        return f"{len(self.classes)} class{'es' if len(self.classes) != 1 else ''}: {listed}"

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
                    f"'{name}' has {count} photo{'s' if count != 1 else ''}; each class needs at least "
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
        image = _as_image(photo, name)
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

    def export(self, name: str, folder: str | os.PathLike = DEFAULT_EXPORTS_DIR, *, litert: bool = True) -> Path:
        """Export the trained model to ``folder/name`` (.keras, labels.txt, LiteRT), where the app finds it."""
        if self.result is None:
            raise TrainerInputError("Train a model first: there is nothing to export yet.")
        if not name.strip() or class_name_problem(name) is not None:
            raise TrainerInputError(
                f"'{name}' cannot be a model name: it {class_name_problem(name) or 'is empty'}. "
                "The model is saved in a folder of that name; try e.g. 'trash-sorter'."
            )
        return export_model(self.result, Path(folder) / name, litert=litert)


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


def _as_image(photo: PhotoLike, name: str | None = None) -> Image.Image:
    """A PIL image from bytes, a path or a PIL image (checked by :func:`labkit.images.load_image`)."""
    if isinstance(photo, Photo):
        return load_image(photo.data, name=photo.name)
    return photo if isinstance(photo, Image.Image) else load_image(photo, name=name)


def _empty_history() -> dict[str, list[float]]:
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "phase": []}


# --- The widget ---------------------------------------------------------------------------------------------------


def _lines_html(text: str) -> str:
    return "".join(text_html(line) for line in text.split("\n") if line)


class ClassCard(widgets.VBox):
    """One class: its name (edit it and press Enter to rename), photo count, thumbnails, *Add photos* (several at
    once), a folder box with *Add folder*, and *Remove class*."""

    def __init__(self, trainer: Trainer, name: str) -> None:
        self.trainer, self.class_name = trainer, name
        guard = trainer.messages.guard
        self.name_box = widgets.Text(
            value=name,
            description="Class",
            continuous_update=False,
            tooltip="The class's name (a folder name): edit it and press Enter to rename",
        )
        self.count = widgets.HTML()
        self.thumbnails = widgets.HTML()
        self.upload = widgets.FileUpload(
            accept=ACCEPTED_FILES,
            multiple=True,
            description="Add photos",
            tooltip="Choose photos of this class (several at once); they stay in memory",
        )
        self.folder_box = widgets.Text(
            placeholder=f"a folder, e.g. {EXAMPLE_PHOTOS.name}/{name}", description="or folder", continuous_update=False
        )
        self.add_folder_button = widgets.Button(description="Add folder", tooltip="Add every photo of that folder")
        self.remove_button = widgets.Button(
            description="Remove class", button_style="danger", tooltip="Remove this class and its photos"
        )
        self.name_box.observe(guard(self._renamed), "value")
        self.upload.observe(guard(self._uploaded), "value")
        self.add_folder_button.on_click(guard(self._folder_chosen))
        self.remove_button.on_click(guard(lambda: self.trainer.delete_class(self.class_name)))
        super().__init__(
            [
                widgets.HBox([self.name_box, self.count, self.remove_button]),
                self.thumbnails,
                widgets.HBox([self.upload, self.folder_box, self.add_folder_button]),
            ],
            layout=widgets.Layout(border="1px solid #cccccc", padding="6px", margin="4px 0"),
        )
        self.add_class("labkit-trainer-class")
        self.refresh()

    def refresh(self) -> None:
        """Show the class's current count and first thumbnails."""
        photos = self.trainer.session.classes.get(self.class_name, [])
        self.count.value = (
            f"<span class='labkit-trainer-count' style='margin-left:8px'>{len(photos)} "
            f"photo{'s' if len(photos) != 1 else ''}</span>"
        )
        shown = "".join(
            image_html(photo.thumbnail, "image/jpeg", f"{self.class_name}: {photo.name}", "labkit-trainer-thumbnail")
            for photo in photos[:THUMBNAILS_SHOWN]
        )
        more = f"<span> and {len(photos) - THUMBNAILS_SHOWN} more</span>" if len(photos) > THUMBNAILS_SHOWN else ""
        self.thumbnails.value = shown + more if photos else "<em>No photos yet: add some below.</em>"

    def _renamed(self) -> None:
        old, new = self.class_name, self.name_box.value
        if new == old:
            return
        try:
            self.class_name = self.trainer.session.rename_class(old, new)
        except TrainerInputError as error:
            self.name_box.value = old  # the old name stays; nothing is lost
            self.trainer.say(str(error), "problem")
            return
        self.trainer.say(f"Renamed '{old}' to '{new}'.")

    def _folder_chosen(self) -> None:
        self.trainer.add_folder(self.class_name, self.folder_box.value)

    def _uploaded(self) -> None:
        uploads = uploaded_files(self.upload)
        if not uploads:  # our own reset below
            return
        self.upload.value = ()  # the bytes are copied out: nothing stays in the widget, nothing is written to disk
        self.trainer.add_photos(self.class_name, uploads)


class Trainer(TryIt):
    """The trainer widget (build it with :func:`trainer`): classes, photos, training, trying and exporting.

    Its methods are what its buttons do, so a notebook or a test can drive it without a browser; ``session``
    holds the state. In a saved notebook its output reads as :meth:`describe` (text) and its messages (HTML).
    """

    def __init__(
        self,
        session: TrainerSession | None = None,
        *,
        head_epochs: int = HEAD_EPOCHS,
        fine_tune_epochs: int = FINE_TUNE_EPOCHS,
        exports_dir: str | os.PathLike = DEFAULT_EXPORTS_DIR,
        training_options: dict[str, Any] | None = None,
    ) -> None:
        self.session = session or TrainerSession()
        self.exports_dir = Path(exports_dir)
        self.training_options = dict(training_options or {})

        self.messages = ResultArea()
        self.messages.add_class("labkit-trainer-messages")
        guard = self.messages.guard
        self.cards = widgets.VBox()
        self.new_class_name = widgets.Text(
            placeholder="e.g. glass", description="New class", tooltip="Type a class name, then press Add class"
        )
        self.add_class_button = widgets.Button(description="Add class", button_style="primary")
        self.add_class_button.on_click(guard(lambda: self.new_class(self.new_class_name.value)))

        style = {"description_width": "initial"}
        self.head_epochs = widgets.BoundedIntText(
            head_epochs,
            min=1,
            max=MAX_EPOCHS,
            description="New-head epochs",
            style=style,
            layout=widgets.Layout(width="190px"),
        )
        self.fine_tune_epochs = widgets.BoundedIntText(
            fine_tune_epochs,
            min=0,
            max=MAX_EPOCHS,
            description="Fine-tuning epochs",
            style=style,
            layout=widgets.Layout(width="200px"),
        )
        self.train_button = widgets.Button(
            description="Train",
            button_style="success",
            icon="play",
            tooltip="Train a model on these classes (in the background)",
        )
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            disabled=True,
            tooltip="Stop after the current epoch, keeping the model trained so far",
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, description="Epochs", layout=widgets.Layout(width="420px")
        )
        self.progress_text = widgets.HTML()
        self.curves = widgets.HTML()
        self.train_button.on_click(guard(self._train_pressed))
        self.stop_button.on_click(guard(self.stop))

        self.try_result = ResultArea()
        self.try_result.add_class("labkit-trainer-try")
        self.try_upload = widgets.FileUpload(
            accept=ACCEPTED_FILES,
            multiple=False,
            description="Try a photo",
            tooltip="Choose a new photo for the trained model to classify",
        )
        self.try_upload.observe(self.try_result.guard(self._try_uploaded), "value")

        self.export_result = ResultArea()
        self.export_name = widgets.Text(value="my-classes", description="Model name", continuous_update=False)
        self.export_button = widgets.Button(
            description="Export", icon="download", tooltip="Save .keras, labels.txt and LiteRT into exports/NAME"
        )
        self.export_button.on_click(self.export_result.guard(self._export_pressed))

        def heading(text: str) -> widgets.HTML:
            return widgets.HTML(f"<h4 style='margin:8px 0 2px'>{html.escape(text)}</h4>")

        super().__init__(
            [
                heading("1 · Classes and their photos"),
                self.cards,
                widgets.HBox([self.new_class_name, self.add_class_button]),
                self.messages,
                heading("2 · Train"),
                widgets.HBox([self.head_epochs, self.fine_tune_epochs, self.train_button, self.stop_button]),
                widgets.HBox([self.progress, self.progress_text]),
                self.curves,
                heading("3 · Try it on a new photo"),
                self.try_upload,
                self.try_result,
                heading("4 · Export"),
                widgets.HBox([self.export_name, self.export_button]),
                self.export_result,
            ],
            results=[self.messages, self.try_result, self.export_result],
            summary=self.describe,
            css_class="labkit-trainer",
        )
        self._rebuild_cards()

    def describe(self) -> str:
        """The trainer's state in words: classes and counts, then the last training's outcome."""
        text = self.session.describe().rstrip(".")
        result = self.session.result
        if self.session.training:
            text += ". Training…"
        elif result is not None:
            text += f". Trained on {', '.join(result.class_names)}: {_checked(result)}"
        return text + "."

    # --- what the controls do ---------------------------------------------------------------------------------

    def say(self, text: str, kind: str = "info") -> None:
        """Show a message under the classes: ``"info"``, ``"warning"`` (partly done) or ``"problem"`` (not done)."""
        if kind == "problem":
            self.messages.problem(text)
        elif kind == "warning":
            self.messages.show(
                f'<div role="alert" style="border-left: 4px solid #f0a202; padding: 4px 10px;">'
                f"{_lines_html(text)}</div>"
            )
        else:
            self.messages.show(_lines_html(text))

    # (Not add_class / remove_class: those names are ipywidgets' own, for CSS classes.)
    def new_class(self, name: str) -> None:
        """Add a class (the *Add class* button); a bad name gets a message and the typed text stays."""
        try:
            self.session.add_class(name)
        except TrainerInputError as error:
            self.say(str(error), "problem")
            return
        self.new_class_name.value = ""
        self._rebuild_cards()
        self.say(f"Added the class '{name}'. Now add its photos.")

    def delete_class(self, name: str) -> None:
        """Remove a class and its photos (its *Remove class* button)."""
        photos = self.session.remove_class(name)
        self._rebuild_cards()
        self.say(f"Removed the class '{name}' and its {len(photos)} photo{'s' if len(photos) != 1 else ''}.")

    def add_photos(self, class_name: str, uploads: Iterable[tuple[str, bytes]]) -> Added:
        """Add uploaded photos ``(name, bytes)`` to a class (its *Add photos* button)."""
        return self._adding(lambda: [self.session.add_photos(class_name, uploads)], class_name)[0]

    def add_folder(self, class_name: str, folder: str | os.PathLike) -> Added:
        """Add every photo of a folder to a class (its *Add folder* button)."""
        return self._adding(lambda: [self.session.add_folder(class_name, folder)], class_name)[0]

    def add_classes_from(self, folder: str | os.PathLike) -> list[Added]:
        """Add one class per subfolder of ``folder``, with its photos."""
        return self._adding(lambda: self.session.add_classes_from(folder))

    def _adding(self, add: Callable[[], list[Added]], class_name: str = "") -> list[Added]:
        try:
            reports = add()
        except TrainerInputError as error:
            self.say(str(error), "problem")
            return [Added(class_name, 0)]
        self._rebuild_cards()
        skipped = any(report.skipped for report in reports)
        self.say("\n".join(report.message() for report in reports), "warning" if skipped else "info")
        return reports

    def train(self, wait: bool = False) -> FineTuneResult | None:
        """Start training (the *Train* button) in the background; ``wait=True`` waits for it and returns the result.

        Headless (nbval, a script), ``wait=True`` is how a lesson trains: the progress bar and curves update as
        they would after a click, and an error is raised instead of only shown.
        """
        try:
            self.session.start_training(
                head_epochs=self.head_epochs.value,
                fine_tune_epochs=self.fine_tune_epochs.value,
                on_epoch=self._on_epoch,
                on_done=self._on_done,
                **self.training_options,
            )
        except TrainerInputError as error:
            self.say(str(error), "problem")
            if wait:
                raise
            return None
        self.try_result.show("")
        self.progress.max = max(1, self.head_epochs.value + self.fine_tune_epochs.value)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress_text.value = "Reading the photos and computing their features…"
        self.curves.value = ""
        self.train_button.disabled, self.stop_button.disabled = True, False
        self.say("Training… you can keep using the notebook; the curves appear after the first epoch.")
        return self.session.wait() if wait else None

    def stop(self) -> None:
        """Stop training after the current epoch (the *Stop* button); the model trained so far is kept."""
        self.session.stop()
        self.stop_button.disabled = True
        self.progress_text.value = "Stopping after this epoch…"

    def try_photo(self, photo: PhotoLike, name: str | None = None) -> Prediction | None:
        """Classify a new photo with the trained model and show it with its top-3 (the *Try a photo* upload)."""
        name = name or (
            Path(photo).name
            if isinstance(photo, (str, os.PathLike))
            else photo.name
            if isinstance(photo, Photo)
            else "your photo"
        )
        try:
            image = _as_image(photo, name)
            prediction = self.session.classify(image)
        except (ImageError, TrainerInputError) as error:
            self.try_result.problem(str(error))
            return None
        self.try_result.show(_prediction_html(name, image, prediction))
        return prediction

    def export(self, name: str) -> Path | None:
        """Export the trained model to ``exports/NAME`` (the *Export* button) and say where it went."""
        self.export_result.show(text_html("Exporting (the LiteRT conversion takes a little while)…"))
        try:
            folder = self.session.export(name, self.exports_dir)
        except TrainerInputError as error:
            self.export_result.problem(str(error))
            return None
        files = ", ".join(sorted(path.name for path in folder.iterdir()))
        self.export_result.show(
            text_html(
                f"Exported to {folder.parent.name}/{folder.name}: {files}. In the app (make app), pick '{folder.name}' "
                "in the Model menu."
            )
        )
        return folder

    # --- what the widget shows --------------------------------------------------------------------------------

    def _train_pressed(self) -> None:
        self.train()

    def _export_pressed(self) -> None:
        self.export(self.export_name.value)

    def _try_uploaded(self) -> None:
        uploads = uploaded_files(self.try_upload)
        if not uploads:
            return
        self.try_upload.value = ()
        self.try_photo(uploads[0][1], uploads[0][0])

    def _on_epoch(self, report: EpochReport) -> None:
        done = report.epoch if report.phase == 1 else self.head_epochs.value + report.epoch  # early stopping may
        self.progress.value = min(done, self.progress.max)  # end phase 1 sooner
        accuracy = "" if report.val_accuracy is None else f": validation accuracy {report.val_accuracy:.0%}"
        self.progress_text.value = html.escape(f"{report.phase_name} epoch {report.epoch}/{report.epochs}{accuracy}")
        self._draw_curves()

    def _draw_curves(self) -> None:
        history = self.session.history
        if not history["loss"]:
            return
        last = f"{history['val_accuracy'][-1]:.0%}" if history["val_accuracy"] else "not measured"
        alt = (
            f"Training curves over {len(history['loss'])} epochs: loss and accuracy on the training and validation "
            f"photos; validation accuracy now {last}."
        )
        self.curves.value = figure_html(plot_training_curves(history), alt)

    def _on_done(self) -> None:
        self.train_button.disabled, self.stop_button.disabled = False, True
        session = self.session
        if session.error is not None:
            self.progress.bar_style = "danger"
            self.progress_text.value = "Training failed."
            message = (
                str(session.error)
                if isinstance(session.error, (TrainingDataError, TrainerInputError))
                else f"Training failed: {type(session.error).__name__}: {session.error}"
            )
            self.say(message, "problem")
            return
        self.progress.value = self.progress.max
        self.progress.bar_style = "warning" if session.stopped else "success"
        result = session.result
        assert result is not None  # no error: fine_tune returned
        stopped = "Stopped early, " if session.stopped else ""
        self.progress_text.value = html.escape(f"{stopped}done: {_checked(result)}")
        self._draw_curves()
        self.say(f"{stopped}trained on {', '.join(result.class_names)}: {_checked(result)}. Now try a new photo.")

    def _rebuild_cards(self) -> None:
        cards = {card.class_name: card for card in self.cards.children}
        self.cards.children = [cards.get(name) or ClassCard(self, name) for name in self.session.classes]
        for card in self.cards.children:
            card.refresh()


def _checked(result: FineTuneResult) -> str:
    if result.val_accuracy is None:
        return "no validation photos to check it on"
    return f"{result.val_accuracy:.0%} right on {result.validation_count} validation photos it never trained on"


def _prediction_html(name: str, image: Image.Image, prediction: Prediction) -> str:
    """The tried photo beside its top guesses (text) and their bar chart, with alt text for both pictures."""
    chart = plot_top_k(prediction)
    chart.set_size_inches(4.4, 0.45 * len(prediction.top) + 0.9)
    guesses = "".join(
        f"<li><b>{html.escape(score.label)}</b> {format_percent(score.probability)}</li>" for score in prediction.top
    )
    doubt = "<p>⚠ Not sure: this photo may be none of the classes.</p>" if prediction.not_sure else ""
    return (
        f"<div style='display:flex;gap:12px;align-items:flex-start' aria-label='Result for "
        f"{html.escape(name, quote=True)}'><div style='max-width:{TRY_PREVIEW_PIXELS}px'>"
        + photo_html(image, f"Your photo, {name}", TRY_PREVIEW_PIXELS)
        + f"</div><div><p class='labkit-trainer-label'>{html.escape(name)}: <b>{html.escape(prediction.label)}</b> "
        f"{format_percent(prediction.probability)}</p><ol>{guesses}</ol>{doubt}"
        + figure_html(chart, top_k_alt_text(prediction))
        + "</div></div>"
    )


def trainer(folder: str | os.PathLike | None = None, **options: Any) -> Trainer:
    """Build the trainer widget, empty or with one class per subfolder of ``folder`` (e.g. ``data/trashnet-mini``).

    Args:
        folder: a folder of class folders to start from; ``None`` starts empty.
        options: for :class:`Trainer`: ``head_epochs``, ``fine_tune_epochs`` (the epochs controls' starting values),
            ``exports_dir``, ``training_options`` (passed to :func:`labkit.transfer.fine_tune`).

    Example:
        >>> teach = trainer(EXAMPLE_PHOTOS)  # the last line of a cell displays it  # doctest: +SKIP
        >>> teach.train(wait=True).val_accuracy  # doctest: +SKIP
        0.85
    """
    widget = Trainer(**options)
    if folder is not None:
        widget.add_classes_from(folder)
    return widget
