"""Lesson 08's trainer widget, driven from Python as a student would drive it: typing class names, uploading photos
(fake FileUpload values holding the files' bytes, fastbook's trick), pressing Train, Stop, trying a photo, exporting.

Only the last test trains (a few photos, a few epochs); the others never import TensorFlow's training code.
"""

from __future__ import annotations

import builtins
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from labkit.lessons.trainer import trainer
from labkit.lessons.trainer_photos import EXAMPLE_PHOTOS
from labkit.lessons.trainer_state import TrainerSession
from labkit.training_data import MIN_IMAGES_PER_CLASS

PHOTOS_PER_CLASS = 6


def photos_of(material: str, count: int = PHOTOS_PER_CLASS, skip: int = 0) -> list[Path]:
    """The first ``count`` photos of one trashnet-mini class (after ``skip``)."""
    return sorted((EXAMPLE_PHOTOS / material).glob("*.jpg"))[skip : skip + count]


def upload_value(files: list[tuple[str, bytes]]) -> list[dict]:
    """What ipywidgets 8's FileUpload.value holds after a student picks these files."""
    return [
        {
            "name": name,
            "type": "image/jpeg",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for name, data in files
    ]


def as_files(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in paths]


def card(widget, class_name: str):
    return next(card for card in widget.cards.children if card.class_name == class_name)


def test_a_student_names_two_classes_and_uploads_photos_read_in_memory(monkeypatch):
    widget = trainer()
    assert widget.session.describe() == "No classes yet."
    for name in ("glass", "metal"):
        widget.new_class_name.value = name
        widget.add_class_button.click()
    assert list(widget.session.classes) == ["glass", "metal"]

    def no_writing(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            raise AssertionError(f"an upload was written to disk: {file}")
        return real_open(file, mode, *args, **kwargs)

    real_open = builtins.open
    files = as_files(photos_of("glass"))
    monkeypatch.setattr(builtins, "open", no_writing)
    monkeypatch.setattr(io, "open", no_writing)
    card(widget, "glass").upload.value = upload_value(files)
    monkeypatch.undo()

    glass = card(widget, "glass")
    assert glass.upload.value == ()  # the bytes do not stay in the widget's state
    assert widget.session.counts() == {"glass": PHOTOS_PER_CLASS, "metal": 0}
    assert f"{PHOTOS_PER_CLASS} photos" in glass.count.value
    assert glass.thumbnails.value.count("<img") == PHOTOS_PER_CLASS
    assert f'alt="glass: {files[0][0]}"' in glass.thumbnails.value
    assert "No photos yet" in card(widget, "metal").thumbnails.value
    assert f"glass: added {PHOTOS_PER_CLASS} photos." in widget.messages.value


def test_a_class_name_that_is_not_a_folder_name_gets_a_clear_message_and_nothing_is_lost():
    widget = trainer()
    widget.new_class("glass")
    widget.add_photos("glass", as_files(photos_of("glass", 2)))

    widget.new_class_name.value = "metal/steel"
    widget.add_class_button.click()
    assert "cannot be a class name" in widget.messages.value and "Try &#x27;metal-steel&#x27;" in widget.messages.value
    assert 'role="alert"' in widget.messages.value
    assert widget.new_class_name.value == "metal/steel"  # kept, to correct
    assert list(widget.session.classes) == ["glass"]

    widget.new_class("GLASS")
    assert "already a class called" in widget.messages.value
    widget.new_class("")
    assert "needs a name" in widget.messages.value

    glass = card(widget, "glass")
    glass.name_box.value = "glass: clear"  # renaming to a bad name is refused, the class keeps name and photos
    assert "cannot be a class name" in widget.messages.value
    assert glass.name_box.value == "glass"
    assert widget.session.counts() == {"glass": 2}

    glass.name_box.value = "clear glass"
    assert widget.session.counts() == {"clear glass": 2}
    assert "Renamed" in widget.messages.value


def test_an_unreadable_photo_among_good_ones_is_skipped_and_listed_and_the_rest_kept():
    widget = trainer()
    widget.new_class("metal")
    good = as_files(photos_of("metal", 4))
    truncated = ("broken.jpg", good[0][1][:300])
    text = ("notes.jpg", b"shopping list: milk, eggs")
    card(widget, "metal").upload.value = upload_value(good[:2] + [truncated, text] + good[2:])

    assert widget.session.counts() == {"metal": 4}
    message = widget.messages.value
    assert "added 4 photos" in message and "Skipped 2" in message
    assert "broken.jpg" in message and "notes.jpg" in message and 'role="alert"' in message
    assert [photo.name for photo in widget.session.skipped] == ["broken.jpg", "notes.jpg"]


def test_training_refuses_too_few_classes_or_photos_and_says_how_many_are_needed():
    widget = trainer()
    widget.train()
    assert "at least 2 classes" in widget.messages.value and "no class yet" in widget.messages.value

    widget.new_class("glass")
    widget.add_photos("glass", as_files(photos_of("glass")))
    widget.train()
    assert "at least 2 classes" in widget.messages.value and "only one, &#x27;glass&#x27;" in widget.messages.value

    widget.new_class("metal")
    widget.add_photos("metal", as_files(photos_of("metal", 3)))
    widget.train()
    needed = MIN_IMAGES_PER_CLASS - 3
    assert f"&#x27;metal&#x27; has 3 photos; each class needs at least {MIN_IMAGES_PER_CLASS}" in widget.messages.value
    assert f"Add {needed} more" in widget.messages.value
    assert not widget.session.training and widget.session.result is None
    assert widget.session.counts() == {"glass": PHOTOS_PER_CLASS, "metal": 3}  # nothing lost

    widget.try_photo(photos_of("glass", 1)[0])
    assert "Train a model first" in widget.try_result.value
    assert widget.export("my-model") is None and "Train a model first" in widget.export_result.value


def test_a_class_folder_adds_its_photos_and_a_missing_folder_says_so():
    widget = trainer()
    widget.new_class("paper")
    card(widget, "paper").folder_box.value = str(EXAMPLE_PHOTOS / "paper")
    card(widget, "paper").add_folder_button.click()
    assert widget.session.counts()["paper"] == len(list((EXAMPLE_PHOTOS / "paper").glob("*.jpg")))
    card(widget, "paper").folder_box.value = "no/such/folder"
    card(widget, "paper").add_folder_button.click()
    assert "No folder at" in widget.messages.value

    prefilled = trainer(EXAMPLE_PHOTOS)
    assert list(prefilled.session.classes) == ["glass", "metal", "paper", "plastic"]
    assert all(count >= MIN_IMAGES_PER_CLASS for count in prefilled.session.counts().values())
    shown = prefilled._repr_mimebundle_()  # what a saved notebook keeps: the state in words, and the messages
    assert shown["text/plain"].startswith("4 classes: glass (") and shown["text/plain"].endswith("photos).")
    assert "plastic: added" in shown["text/html"]


def test_session_keeps_uploads_as_bytes_with_thumbnails():
    session = TrainerSession()
    session.add_class("glass")
    report = session.add_photos("glass", as_files(photos_of("glass", 1)))
    photo = session.classes["glass"][0]
    assert report.added == 1 and photo.data == photos_of("glass", 1)[0].read_bytes()
    assert max(Image.open(io.BytesIO(photo.thumbnail)).size) <= 64


@pytest.mark.slow
def test_a_short_training_shows_progress_honours_stop_classifies_a_new_photo_and_exports(tmp_path):
    widget = trainer(head_epochs=3, fine_tune_epochs=2, exports_dir=tmp_path)
    for material in ("glass", "metal"):
        widget.new_class(material)
        card(widget, material).upload.value = upload_value(as_files(photos_of(material)))
    progress_seen = []

    def on_progress(change):
        progress_seen.append(change["new"])
        if change["new"] == 1:  # after the first epoch, the student presses Stop
            widget.stop_button.click()

    widget.progress.observe(on_progress, "value")
    widget.train()  # returns at once: training runs in a background thread
    assert widget.session.training and widget.train_button.disabled and not widget.stop_button.disabled
    result = widget.session.wait(timeout=900)

    assert result.stopped and widget.session.stopped
    phases = result.history["phase"]
    assert 1 <= len(phases) < 3 + 2 and 2 not in phases  # stopped during the new head's epochs
    assert progress_seen[0] == 1 and progress_seen == sorted(progress_seen)
    assert widget.progress.bar_style == "warning" and "Stopped early" in widget.messages.value
    assert "<img" in widget.curves.value and 'alt="Training curves over' in widget.curves.value
    assert not widget.train_button.disabled and widget.stop_button.disabled
    # 6 photos a class: too few to learn from, and a validation accuracy on 2-4 photos says little. The trainer
    # says both, with how many would help and lesson 06's interval.
    told = widget.messages.value
    assert "too few to learn from" in told and "Give each class 20 or more" in told
    assert "95% interval" in told and "Treat its answers as guesses" in told and 'role="alert"' in told

    new_photo = photos_of("metal", 1, skip=PHOTOS_PER_CLASS)[0]
    widget.try_upload.value = upload_value(as_files([new_photo]))
    shown = widget.try_result.value
    assert widget.try_upload.value == ()
    assert new_photo.name in shown and ("glass" in shown or "metal" in shown)
    assert 'alt="Bar chart of the top 2 guesses' in shown and f'alt="Your photo, {new_photo.name}"' in shown
    assert "This model knows only glass, metal" in shown or "Not sure" in shown or "Low confidence" in shown
    assert "Treat its answers as guesses" in shown  # and its chart has no green bar (plot_top_k(backed=False))
    prediction = widget.session.classify(new_photo.read_bytes())
    assert abs(sum(score.probability for score in prediction.top) - 1) < 1e-6  # two classes: the whole distribution

    widget.export_name.value = "my bad/name"
    widget.export_button.click()
    assert "cannot be a model name" in widget.export_result.value
    widget.export_name.value = "glass-or-metal"
    widget.exports_dir = tmp_path / "in-the-way"  # a folder it may not write: said, and the widget goes on
    widget.exports_dir.write_text("a file, not a folder")
    widget.export_button.click()
    assert "labkit cannot save into" in widget.export_result.problem_text
    assert "LABKIT_MODELS_DIR" in widget.export_result.problem_text
    widget.exports_dir = tmp_path
    widget.export_button.click()
    exported = tmp_path / "glass-or-metal"
    assert (exported / "labels.txt").read_text() == "0 glass\n1 metal\n"
    assert (exported / "model.keras").is_file() and (exported / "model.tflite").is_file()
    assert "glass-or-metal" in widget.export_result.value
    widget.export("sorter")  # what a lesson's cell does: the name box shows the name the message gives
    assert widget.export_name.value == "sorter" and "sorter" in widget.export_result.value
    assert widget.export_name.style.description_width == "initial"  # "Model name", never cut to "Model na…"
