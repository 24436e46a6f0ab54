"""Lesson 08's trainer in a real JupyterLab, driven in Debian's chromium as a student would: name two classes, add
their photos through the file chooser, train briefly, and try a new photo.

The lesson's own pre-filled trainer trains on 240 photos when the whole notebook runs (nbval checks that); here only
the configuration cell and the "Your own classes" cell run, and the training is a short one (a few epochs of the new
head on 6 + 6 photos), to keep CI quick.
"""

from __future__ import annotations

import pytest
from lab_page import TrainerPanel

from labkit.lessons.trainer_photos import EXAMPLE_PHOTOS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LESSON = "notebooks/08_teach_it_your_own_classes.ipynb"
PHOTOS_PER_CLASS = 6
TRAINING_MS = 600_000  # a few epochs on a busy 2-core machine, TensorFlow's import and MobileNetV2's build included


def test_two_classes_of_uploaded_photos_train_and_a_new_photo_is_classified(lab):
    lesson = lab(LESSON)
    lesson.run_cell("# Configuration")
    lesson.run_cell("yours = trainer()")
    trainer = TrainerPanel(lesson, TRAINING_MS)
    for material in ("glass", "metal"):
        card = trainer.add_class(material, sorted((EXAMPLE_PHOTOS / material).glob("*.jpg"))[:PHOTOS_PER_CLASS])
        assert card.locator(f"img[alt^='{material}: ']").count() == PHOTOS_PER_CLASS
    trainer.train(head_epochs=3, fine_tune_epochs=0, classes="glass, metal")

    new_photo = sorted((EXAMPLE_PHOTOS / "metal").glob("*.jpg"))[PHOTOS_PER_CLASS]
    lesson.upload(new_photo, button="Try a photo")
    answer = trainer.widget.locator(".labkit-trainer-label")
    answer.wait_for(timeout=60_000)
    text = answer.inner_text()
    assert text.startswith(f"{new_photo.name}: ") and text.split(": ")[1].split()[0] in ("glass", "metal"), text
    assert trainer.widget.locator(f"img[alt='Your photo, {new_photo.name}']").count() == 1
    assert lesson.errors() == []
