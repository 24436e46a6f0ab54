"""Lesson 08's "Try it": a Teachable-Machine-style trainer. Name classes, add photos, train, try, export.

``trainer()`` returns the whole widget; everything it does goes through one :class:`TrainerSession` (the state, no
widgets in it), which a test or a notebook can also drive from Python, without a browser::

    >>> teach = trainer("data/trashnet-mini")        # four classes of 60 photos, ready to train  # doctest: +SKIP
    >>> teach.train(wait=True)                       # what the Train button does, but waiting     # doctest: +SKIP
    >>> teach.try_photo("my_bottle.jpg").label       # what the "Try a photo" upload does          # doctest: +SKIP
    'glass'

What a student does, and what labkit does for each step:

1. **Classes**: type a name and press *Add class* (a class name becomes a folder name in the export, so it must be
   one: :func:`~labkit.lessons.trainer_photos.class_name_message` says what is wrong with it). Rename a class by
   editing its name (Enter), remove it with its *Remove* button.
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
   LiteRT ``model.tflite`` into ``~/labkit-exports/NAME`` (:func:`labkit.paths.exports_dir`), where the app's Model
   menu finds it.

Bad input never loses work: fewer than two classes, too few photos in a class (the message says how many more),
an unreadable photo or an invalid class name each get a message saying what to do, and everything else stays.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from labkit.class_names import TrainingDataError
from labkit.errors import LabkitError
from labkit.images import ACCEPTED_FILES
from labkit.lessons.trainer_card import ClassCard
from labkit.lessons.trainer_photos import Added, Photo, PhotoLike, TrainerInputError, open_photo
from labkit.lessons.trainer_state import TrainerSession
from labkit.lessons.trainer_views import (
    checked_text,
    curves_html,
    epoch_html,
    lines_html,
    prediction_html,
    thin_evidence,
    warning_html,
)
from labkit.lessons.tryit import ResultArea, TryIt, text_html, uploaded_files
from labkit.predict import Prediction
from labkit.recipe import FINE_TUNE_EPOCHS, HEAD_EPOCHS, EpochReport
from labkit.transfer import FineTuneResult
from labkit.words import counted

# --- Configurable parameters --------------------------------------------------------------------------------------
MAX_EPOCHS = 100  # the epochs controls' upper bound
DEFAULT_EXPORT_NAME = "my-classes"  # the name box's value until a model is exported under another name


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
        exports_dir: str | os.PathLike | None = None,
        training_options: dict[str, Any] | None = None,
    ) -> None:
        self.session = session or TrainerSession()
        self.exports_dir = Path(exports_dir) if exports_dir is not None else None  # None: the student's
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
        self.export_name = widgets.Text(
            value=DEFAULT_EXPORT_NAME,
            description="Model name",
            continuous_update=False,
            style={"description_width": "initial"},  # the whole label, never "Model na…"
        )
        self.export_button = widgets.Button(
            description="Export", icon="download", tooltip="Save .keras, labels.txt and LiteRT into labkit-exports/NAME"
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
            text += f". Trained on {', '.join(result.class_names)}: {checked_text(result)}"
        return text + "."

    # --- what the controls do ---------------------------------------------------------------------------------

    def say(self, text: str, kind: str = "info") -> None:
        """Show a message under the classes: ``"info"``, ``"warning"`` (partly done) or ``"problem"`` (not done)."""
        if kind == "problem":
            self.messages.problem(text)
        elif kind == "warning":
            self.messages.show(warning_html(text))
        else:
            self.messages.show(lines_html(text))

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
        self.say(f"Removed the class '{name}' and its {counted(len(photos), 'photo')}.")

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
            image = open_photo(photo, name)
            prediction = self.session.classify(image)
        except LabkitError as error:
            self.try_result.problem(str(error))
            return None
        result = self.session.result
        assert result is not None  # classify() refused an untrained session
        self.try_result.show(prediction_html(name, image, prediction, result.class_names, thin_evidence(result)))
        return prediction

    def export(self, name: str) -> Path | None:
        """Export the trained model to the student's exports folder (:func:`labkit.paths.exports_dir`, NAME inside it)
        (the *Export* button) and say where it went.

        The name box then shows ``name``, so the box and the message agree when a notebook exports by code.
        """
        self.export_name.value = name
        self.export_result.show(text_html("Exporting (the LiteRT conversion takes a little while)…"))
        try:
            folder = self.session.export(name, self.exports_dir)
        except LabkitError as error:  # no model yet, a bad name, or a folder it may not write
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
        self.progress_text.value = epoch_html(report)
        self._draw_curves()

    def _draw_curves(self) -> None:
        if self.session.history["loss"]:
            self.curves.value = curves_html(self.session.history)

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
        self.progress_text.value = html.escape(f"{stopped}done: {checked_text(result)}")
        self._draw_curves()
        done = f"{stopped}trained on {', '.join(result.class_names)}: {checked_text(result)}. Now try a new photo."
        caveat = thin_evidence(result)
        self.say(f"{done}\n{caveat}" if caveat else done, "warning" if caveat else "info")

    def _rebuild_cards(self) -> None:
        cards = {card.class_name: card for card in self.cards.children}
        self.cards.children = [cards.get(name) or ClassCard(self, name) for name in self.session.classes]
        for card in self.cards.children:
            card.refresh()


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
