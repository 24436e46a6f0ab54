"""Lesson 08's trainer in a real JupyterLab, driven in Debian's chromium as a student would: name two classes, add
their photos through the file chooser, train briefly, and try a new photo.

The lesson's own pre-filled trainer trains on 240 photos when the whole notebook runs (nbval checks that); here only
the configuration cell and the "Your own classes" cell run, and the training is a short one (a few epochs of the new
head on 6 + 6 photos), to keep CI quick.
"""

from __future__ import annotations

import re

import pytest
from lab_page import ARTIFACTS, LabPage
from playwright.sync_api import expect

from labkit.lessons.trainer_photos import EXAMPLE_PHOTOS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LESSON = "notebooks/08_teach_it_your_own_classes.ipynb"
PHOTOS_PER_CLASS = 6
TRAINING_MS = 600_000  # a few epochs on a busy 2-core machine, TensorFlow's import and MobileNetV2's build included


def run_cell(lesson: LabPage, text: str) -> None:
    """Select the code cell whose source contains ``text`` and run it with Shift+Enter, as a student would."""
    cell = lesson.notebook.locator(".jp-CodeCell").filter(has_text=text).first
    cell.locator(".jp-InputArea-editor").click()
    lesson.page.keyboard.press("Shift+Enter")
    lesson.wait_until_idle()


def test_two_classes_of_uploaded_photos_train_and_a_new_photo_is_classified(lab):
    lesson = lab(LESSON)
    run_cell(lesson, "# Configuration")
    run_cell(lesson, "yours = trainer()")
    trainer = lesson.notebook.locator(".labkit-trainer").last
    trainer.wait_for()

    for number, material in enumerate(("glass", "metal"), start=1):
        trainer.locator(".widget-text", has=lesson.page.get_by_text("New class", exact=True)).locator("input").fill(
            material
        )
        trainer.get_by_role("button", name="Add class", exact=True).click()
        cards = trainer.locator(".labkit-trainer-class")
        expect(cards).to_have_count(number)  # the new class's card is drawn
        card = cards.nth(number - 1)
        expect(card.locator("input").first).to_have_value(material)
        photos = sorted((EXAMPLE_PHOTOS / material).glob("*.jpg"))[:PHOTOS_PER_CLASS]
        with lesson.page.expect_file_chooser() as chooser:  # this class's own "Add photos" button
            card.locator(".widget-upload").click()
        chooser.value.set_files([str(photo) for photo in photos])
        card.get_by_text(f"{PHOTOS_PER_CLASS} photos", exact=True).wait_for()
        assert card.locator(f"img[alt^='{material}: ']").count() == PHOTOS_PER_CLASS

    for description, value in (("New-head epochs", "3"), ("Fine-tuning epochs", "0")):
        label = lesson.page.get_by_text(description, exact=True)
        box = trainer.locator(".widget-inline-hbox", has=label).locator("input")
        box.fill(value)
        box.press("Tab")
    trainer.locator("button").filter(has_text=re.compile(r"^\s*Train\s*$")).click()  # (its icon joins its name)
    trainer.locator("img[alt^='Training curves over']").wait_for(timeout=TRAINING_MS)  # drawn after each epoch
    trainer.get_by_text("trained on glass, metal", exact=False).wait_for(timeout=TRAINING_MS)
    # 6 photos a class: the trainer says it is too few to learn from and to measure on, in an alert box.
    warning = trainer.locator(".labkit-trainer-messages [role=alert]")
    expect(warning).to_contain_text("too few to learn from")
    expect(warning).to_contain_text("95% interval")

    new_photo = sorted((EXAMPLE_PHOTOS / "metal").glob("*.jpg"))[PHOTOS_PER_CLASS]
    lesson.upload(new_photo, button="Try a photo")
    answer = trainer.locator(".labkit-trainer-label")
    answer.wait_for(timeout=60_000)
    text = answer.inner_text()
    assert text.startswith(f"{new_photo.name}: ") and text.split(": ")[1].split()[0] in ("glass", "metal"), text
    assert trainer.locator(f"img[alt='Your photo, {new_photo.name}']").count() == 1
    expect(trainer.locator(".labkit-trainer-try")).to_contain_text("Treat its answers as guesses")
    label = trainer.locator(".widget-text", has=lesson.page.get_by_text("Model name", exact=True)).locator("label")
    assert label.evaluate("element => element.scrollWidth <= element.clientWidth"), "the label is cut: Model na…"
    lesson.screenshot(trainer.locator(".labkit-trainer-try"), ARTIFACTS / "trainer-6-photos-a-class-answer.png")
    lesson.screenshot(trainer.locator(".labkit-trainer-messages"), ARTIFACTS / "trainer-6-photos-a-class-warning.png")
    assert lesson.errors() == []
