"""Lesson 03's "Try it": upload your own photo (or pick a sample) and see the model's top-3, fastbook's moment.

``try_your_photo()`` shows the photo, the best guesses with their percentages and bar chart, and the notes that
say when not to trust the answer: the "not sure" flag (maybe none of the 1000 classes) and a weak best guess.

The upload is ipywidgets 8's ``FileUpload``; its bytes are read in memory and never saved. A test (or a lesson run
headless) can fake a student's upload by setting the widget's value, as fastbook does::

    >>> widget = try_your_photo()                                                       # doctest: +SKIP
    >>> widget.upload.value = [{"name": "cat.jpg", "content": data, ...}]               # doctest: +SKIP
    >>> widget.summary                                                                  # doctest: +SKIP
    'cat.jpg: tabby 62%, tiger cat 20%, Egyptian cat 9%.'
"""

from __future__ import annotations

import html

from PIL import Image

from labkit.lessons.tryit import PhotoPicker, ResultArea, TryIt, figure_html, photo_html
from labkit.model import Classifier, shared_classifier
from labkit.plots import plot_top_k, top_k_alt_text
from labkit.predict import Prediction, doubt, format_percent, note_sentences

TOP = 3


def doubts(prediction: Prediction) -> list[str]:
    """The reasons to doubt an answer, in the app's words (:func:`labkit.predict.doubt`), and labkit's notes.

    Example:
        >>> doubts(classifier.classify("data/samples/person.jpg"))  # doctest: +SKIP
        ['Not sure: this is probably none of the 1000 things I know. Treat the answer as a guess.']
    """
    note = doubt(prediction)
    return ([note.sentence()] if note else []) + note_sentences(prediction)


def describe(name: str, prediction: Prediction) -> str:
    """One line: the photo's name and the guesses with their percentages."""
    guesses = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in prediction.top)
    return f"{name}: {guesses}." + (" Not sure." if prediction.not_sure else "")


def prediction_html(name: str, photo: Image.Image, prediction: Prediction) -> str:
    """The photo, the best guess in large type, the top-3 as a list and a chart, and the doubts."""
    guesses = "".join(
        f"<li style='margin: 0'>{html.escape(score.label)}: {format_percent(score.probability)}</li>"
        for score in prediction.top
    )
    notes = "".join(
        f'<p class="labkit-try-doubt"><span aria-hidden="true">⚠</span> {html.escape(reason)}</p>'
        for reason in doubts(prediction)
    )
    chart = plot_top_k(prediction, title=f"the model's top {len(prediction.top)}")
    chart.set_size_inches(5.0, 2.2)
    return (
        f'<div style="display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start;">'
        f"<div>{photo_html(photo, f'Your photo, {name}', longest_side=260)}</div>"
        f'<div><p class="labkit-try-best" style="font-size: 1.4em; margin: 0;"><strong>'
        f"{html.escape(prediction.label)}</strong> {format_percent(prediction.probability)}</p>"
        f'<ol class="labkit-try-guesses" aria-label="Top {len(prediction.top)} guesses" '
        f'style="margin: 4px 0; line-height: 1.3;">{guesses}</ol>'
        f"{notes}{figure_html(chart, top_k_alt_text(prediction))}</div></div>"
    )


class TryYourPhoto(TryIt):
    """Lesson 03's widget (build it with :func:`try_your_photo`): a photo, the model's top-3, its chart and notes.

    Controls: ``upload`` (a photo of your own) and ``samples``. ``prediction`` is the last answer shown; ``result``
    shows it.
    """

    def __init__(self, classifier: Classifier | None = None, photo: str | None = None) -> None:
        self.classifier = classifier or shared_classifier()
        result = ResultArea()
        self.picker = PhotoPicker(self.classify, result.guard, default=photo)
        self.picker.upload.description = "Upload your photo"
        self.samples, self.upload = self.picker.dropdown, self.picker.upload
        self.prediction: Prediction | None = None
        self.described = ""
        super().__init__([self.picker, result], [result], lambda: self.described, css_class="labkit-try-your-photo")
        self.classify(self.picker.name, self.picker.photo)

    def classify(self, name: str, image: Image.Image) -> None:
        """Classify a photo and show it with the top-3, the chart and the notes."""
        self.prediction = prediction = self.classifier.classify(image, top=TOP)
        self.described = describe(name, prediction)
        self.result.show(prediction_html(name, image, prediction))


def try_your_photo(classifier: Classifier | None = None, photo: str | None = None) -> TryYourPhoto:
    """Build lesson 03's widget: upload a photo (or pick a sample) and see the top-3, its chart and the notes.

    Args:
        classifier: the lesson's classifier (default: this kernel's shared one, loaded once).
        photo: the sample shown first (its class or file name); default the first sample.
    """
    return TryYourPhoto(classifier, photo)
