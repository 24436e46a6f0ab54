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

from labkit.lessons.trainer_photos import Photo
from labkit.lessons.tryit import figure_html, image_html, photo_html, text_html
from labkit.plots import plot_top_k, plot_training_curves, top_k_alt_text
from labkit.predict import Prediction, doubt, format_percent
from labkit.recipe import EpochReport
from labkit.transfer import FineTuneResult
from labkit.words import counted

# --- Configurable parameters --------------------------------------------------------------------------------------
THUMBNAILS_SHOWN = 10  # per class; the count says how many more there are
TRY_PREVIEW_PIXELS = 224  # the tried photo, as the model sees it


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
    """How the trained model did on the validation photos, in words."""
    if result.val_accuracy is None:
        return "no validation photos to check it on"
    return f"{result.val_accuracy:.0%} right on {result.validation_count} validation photos it never trained on"


def prediction_html(name: str, image: Image.Image, prediction: Prediction) -> str:
    """The tried photo beside its top guesses (text) and their bar chart, with alt text for both pictures."""
    chart = plot_top_k(prediction)
    chart.set_size_inches(4.4, 0.45 * len(prediction.top) + 0.9)
    guesses = "".join(
        f"<li><b>{html.escape(score.label)}</b> {format_percent(score.probability)}</li>" for score in prediction.top
    )
    words = doubt(prediction)
    doubt_html = f"<p>⚠ {html.escape(words.sentence())}</p>" if words else ""
    return (
        f"<div style='display:flex;gap:12px;align-items:flex-start' aria-label='Result for "
        f"{html.escape(name, quote=True)}'><div style='max-width:{TRY_PREVIEW_PIXELS}px'>"
        + photo_html(image, f"Your photo, {name}", TRY_PREVIEW_PIXELS)
        + f"</div><div><p class='labkit-trainer-label'>{html.escape(name)}: <b>{html.escape(prediction.label)}</b> "
        f"{format_percent(prediction.probability)}</p><ol>{guesses}</ol>{doubt_html}"
        + figure_html(chart, top_k_alt_text(prediction))
        + "</div></div>"
    )
