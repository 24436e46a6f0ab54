"""What the trainer shows (lesson 08): pure functions from its state to HTML, no widgets and no training here.

:mod:`labkit.lessons.trainer` puts their HTML into its widgets; a test can read them without building one.

Example:
    >>> count_html(1)
    "<span class='labkit-trainer-count' style='margin-left:8px'>1 photo</span>"
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PIL import Image

from labkit.evaluate import wilson_interval
from labkit.lessons.trainer_photos import Photo
from labkit.lessons.tryit import figure_html, image_html, photo_html, text_html
from labkit.plots import plot_top_k, plot_training_curves, top_k_alt_text
from labkit.predict import Prediction, doubt, format_percent, note_sentences
from labkit.recipe import EpochReport
from labkit.transfer import FineTuneResult
from labkit.words import counted

# --- Configurable parameters --------------------------------------------------------------------------------------
THUMBNAILS_SHOWN = 10  # per class; the count says how many more there are
TRY_PREVIEW_PIXELS = 224  # the tried photo, as the model sees it
# How much is enough, in round numbers a student can aim at. A new head on MobileNetV2's features needs a few dozen
# photos a class (Teachable Machine's advice; trashnet-mini's 60 a class reach ~85 %). A validation accuracy
# measured on fewer than ~40 photos has a 95 % interval wider than +-15 points (Wilson's, lesson 06): 2 right out of
# 3 is "anywhere from 21 % to 94 %".
ENOUGH_TO_LEARN = 20  # photos per class
ENOUGH_TO_MEASURE = 40  # validation photos


def lines_html(text: str) -> str:
    """Each non-empty line of ``text`` as its own escaped paragraph."""
    return "".join(text_html(line) for line in text.split("\n") if line)


def warning_html(text: str) -> str:
    """``text`` in an orange-edged alert box: something was done only in part (e.g. a photo was skipped)."""
    return f'<div role="alert" style="border-left: 4px solid #f0a202; padding: 4px 10px;">{lines_html(text)}</div>'


def count_html(count: int) -> str:
    """A class's photo count, e.g. ``5 photos``."""
    return f"<span class='labkit-trainer-count' style='margin-left:8px'>{counted(count, 'photo')}</span>"


def thumbnails_html(class_name: str, photos: Sequence[Photo]) -> str:
    """A class's first :data:`THUMBNAILS_SHOWN` thumbnails (alt text ``class: file name``) and how many more."""
    if not photos:
        return "<em>No photos yet: add some below.</em>"
    shown = "".join(
        image_html(photo.thumbnail, "image/jpeg", f"{class_name}: {photo.name}", "labkit-trainer-thumbnail")
        for photo in photos[:THUMBNAILS_SHOWN]
    )
    more = f"<span> and {len(photos) - THUMBNAILS_SHOWN} more</span>" if len(photos) > THUMBNAILS_SHOWN else ""
    return shown + more


def epoch_html(report: EpochReport) -> str:
    """One epoch's progress line, e.g. ``Fine-tuning epoch 2/4: validation accuracy 85%`` (escaped)."""
    accuracy = "" if report.val_accuracy is None else f": validation accuracy {report.val_accuracy:.0%}"
    return html.escape(f"{report.phase_name} epoch {report.epoch}/{report.epochs}{accuracy}")


def curves_html(history: dict[str, list[float]]) -> str:
    """The training curves (:func:`labkit.plots.plot_training_curves`) as a PNG, with alt text; ``""`` before any
    epoch."""
    if not history["loss"]:
        return ""
    last = f"{history['val_accuracy'][-1]:.0%}" if history["val_accuracy"] else "not measured"
    alt = (
        f"Training curves over {len(history['loss'])} epochs: loss and accuracy on the training and validation "
        f"photos; validation accuracy now {last}."
    )
    return figure_html(plot_training_curves(history), alt)


def checked_text(result: FineTuneResult) -> str:
    """How the trained model did on the validation photos, in words, with the 95 % interval of that accuracy.

    Example:
        >>> checked_text(result)  # doctest: +SKIP
        '67% right on 3 validation photos it never trained on (95% interval: 21% to 94%)'
    """
    if result.val_accuracy is None:
        return "no validation photos to check it on"
    low, high = validation_interval(result)
    return (
        f"{result.val_accuracy:.0%} right on {result.validation_count} validation photos it never trained on "
        f"(95% interval: {low:.0%} to {high:.0%})"
    )


def validation_interval(result: FineTuneResult) -> tuple[float, float]:
    """The 95 % interval of the validation accuracy (:func:`labkit.evaluate.wilson_interval`, lesson 06's)."""
    n = result.validation_count
    return wilson_interval(round((result.val_accuracy or 0.0) * n), n)


def thin_evidence(result: FineTuneResult) -> str:
    """Why the trained model's accuracy and answers cannot be trusted yet, in words; ``""`` when there is enough.

    Too few photos a class to learn from (fewer than :data:`ENOUGH_TO_LEARN`), or too few validation photos to
    measure on (fewer than :data:`ENOUGH_TO_MEASURE`): each part says how many would help.
    """
    counts = result.settings.get("images_per_class", {})
    fewest = min(counts.values(), default=0)
    parts = []
    if fewest < ENOUGH_TO_LEARN:
        classes = ", ".join(f"{name} {count}" for name, count in counts.items())
        parts.append(
            f"Only {counted(fewest, 'photo')} in the smallest class ({classes}): too few to learn from. "
            f"Give each class {ENOUGH_TO_LEARN} or more."
        )
    if result.val_accuracy is None:
        parts.append("No photo was kept aside to check the model on: its accuracy is unknown.")
    elif result.validation_count < ENOUGH_TO_MEASURE:
        low, high = validation_interval(result)
        parts.append(
            f"Its {result.val_accuracy:.0%} was measured on only {counted(result.validation_count, 'photo')}: the "
            f"true accuracy could be anywhere from {low:.0%} to {high:.0%} (95% interval, lesson 06). "
            f"{ENOUGH_TO_MEASURE} or more validation photos (a fifth of each class is kept aside) narrow it."
        )
    return " ".join(parts + ["Treat its answers as guesses."]) if parts else ""


def closed_set_note(class_names: Sequence[str]) -> str:
    """What a model taught a few classes does with anything else (it has no "none of these" answer)."""
    return (
        f"This model knows only {', '.join(class_names)}: a photo of anything else still gets one of them, "
        "sometimes with a high percentage."
    )


def prediction_html(
    name: str, image: Image.Image, prediction: Prediction, class_names: Sequence[str] = (), caveat: str = ""
) -> str:
    """The tried photo beside its top guesses (text) and their bar chart, with alt text for both pictures.

    Its notes: the doubt note when there is one (else, given ``class_names``, :func:`closed_set_note`), labkit's
    other notes (:func:`labkit.predict.note_sentences`), and ``caveat`` (:func:`thin_evidence`), which also keeps
    the chart from showing any guess in green.
    """
    chart = plot_top_k(prediction, backed=not caveat)
    chart.set_size_inches(4.4, 0.45 * len(prediction.top) + 0.9)
    guesses = "".join(
        f"<li><b>{html.escape(score.label)}</b> {format_percent(score.probability)}</li>" for score in prediction.top
    )
    words = doubt(prediction)
    notes = [words.sentence() if words else closed_set_note(class_names) if class_names else ""]
    notes += [*note_sentences(prediction), caveat]
    doubt_html = "".join(f"<p class='labkit-trainer-note'>⚠ {html.escape(note)}</p>" for note in notes if note)
    return (
        f"<div style='display:flex;gap:12px;align-items:flex-start' aria-label='Result for "
        f"{html.escape(name, quote=True)}'><div style='max-width:{TRY_PREVIEW_PIXELS}px'>"
        + photo_html(image, f"Your photo, {name}", TRY_PREVIEW_PIXELS)
        + f"</div><div><p class='labkit-trainer-label'>{html.escape(name)}: <b>{html.escape(prediction.label)}</b> "
        f"{format_percent(prediction.probability)}</p><ol>{guesses}</ol>{doubt_html}"
        + figure_html(chart, top_k_alt_text(prediction))
        + "</div></div>"
    )
