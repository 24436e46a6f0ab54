"""One class of lesson 08's trainer as a card: its name, count, thumbnails and the controls that change them.

:class:`ClassCard` knows the trainer only through :class:`CardOwner` (what it asks of it), so this module needs
nothing from :mod:`labkit.lessons.trainer`, which builds the cards.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

import ipywidgets as widgets

from labkit.images import ACCEPTED_FILES
from labkit.lessons.trainer_photos import EXAMPLE_PHOTOS, Added, TrainerInputError
from labkit.lessons.trainer_state import TrainerSession
from labkit.lessons.trainer_views import count_html, thumbnails_html
from labkit.lessons.tryit import ResultArea, uploaded_files


class CardOwner(Protocol):
    """What a :class:`ClassCard` asks of its trainer (:class:`labkit.lessons.trainer.Trainer` is one)."""

    session: TrainerSession
    messages: ResultArea

    def say(self, text: str, kind: str = "info") -> None:
        """Show a message: ``"info"``, ``"warning"`` or ``"problem"``."""

    def delete_class(self, name: str) -> None:
        """Remove a class and its photos."""

    def add_photos(self, class_name: str, uploads: Iterable[tuple[str, bytes]]) -> Added:
        """Add uploaded photos ``(name, bytes)`` to a class."""

    def add_folder(self, class_name: str, folder: str | os.PathLike) -> Added:
        """Add every photo of a folder to a class."""


class ClassCard(widgets.VBox):
    """One class: its name (edit it and press Enter to rename), photo count, thumbnails, *Add photos* (several at
    once), a folder box with *Add folder*, and *Remove class*.

    Its callbacks are thin: each calls its ``trainer`` (the :class:`CardOwner`), which changes the session and says
    what happened.
    """

    def __init__(self, trainer: CardOwner, name: str) -> None:
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
        self.count.value = count_html(len(photos))
        self.thumbnails.value = thumbnails_html(self.class_name, photos)

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
