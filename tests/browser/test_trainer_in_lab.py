"""Lesson 08's trainer in a real JupyterLab, driven in Debian's chromium as a student would: name two classes, add
their photos through the file chooser, train briefly, and try a new photo.

The lesson's own pre-filled trainer trains on 240 photos when the whole notebook runs (nbval checks that); here only
the configuration cell and the "Your own classes" cell run, and the training is a short one (a few epochs of the new
head on 6 + 6 photos), to keep CI quick. Six photos a class is too few to learn from and to measure on, and the
trainer must say so: a warning with the validation interval, answers marked as guesses.
"""

from __future__ import annotations

import pytest
from lab_page import ARTIFACTS, TrainerPanel
from playwright.sync_api import expect

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
    # 6 photos a class: the trainer says it is too few to learn from and to measure on, in an alert box.
    warning = trainer.widget.locator(".labkit-trainer-messages [role=alert]")
    expect(warning).to_contain_text("too few to learn from")
    expect(warning).to_contain_text("95% interval")

    new_photo = sorted((EXAMPLE_PHOTOS / "metal").glob("*.jpg"))[PHOTOS_PER_CLASS]
    lesson.upload(new_photo, button="Try a photo")
    answer = trainer.widget.locator(".labkit-trainer-label")
    answer.wait_for(timeout=60_000)
    text = answer.inner_text()
    assert text.startswith(f"{new_photo.name}: ") and text.split(": ")[1].split()[0] in ("glass", "metal"), text
    assert trainer.widget.locator(f"img[alt='Your photo, {new_photo.name}']").count() == 1
    expect(trainer.widget.locator(".labkit-trainer-try")).to_contain_text("Treat its answers as guesses")
    label = trainer.widget.locator(".widget-text", has=lesson.page.get_by_text("Model name", exact=True)).locator(
        "label"
    )
    assert label.evaluate("element => element.scrollWidth <= element.clientWidth"), "the label is cut: Model na…"
    lesson.screenshot(trainer.widget.locator(".labkit-trainer-try"), ARTIFACTS / "trainer-6-photos-a-class-answer.png")
    lesson.screenshot(
        trainer.widget.locator(".labkit-trainer-messages"), ARTIFACTS / "trainer-6-photos-a-class-warning.png"
    )
    assert lesson.errors() == []
