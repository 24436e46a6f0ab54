"""Lesson 02's "Try it": change how a photo is prepared and watch what the model sees, and what it answers.

``try_preparing()`` has a resize policy (squash or crop) and a scaling ([-1, 1], what MobileNetV2 was trained on,
or [0, 1], the common slip); for each choice it shows the 224 x 224 picture the model gets, drawn the way the
model reads its numbers, and the model's top-3 for it.

Example:
    >>> widget = try_preparing()                       # doctest: +SKIP
    >>> widget.scaling.value = "[0, 1]"                # what the "Scale to" buttons do
    >>> widget.summary                                 # doctest: +SKIP
    'pizza.jpg, squash, [0, 1]: trifle 67%, pizza 19%, ...'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from labkit.lessons.tryit import SLIDER_STYLE, PhotoPicker, ResultArea, TryIt, figure_html, text_html
from labkit.model import Classifier, shared_classifier
from labkit.plots import plot_top_k
from labkit.predict import Prediction, format_percent
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy, resize_for_model, scale_pixels

# What each scaling does to 0..255 pixels: the right one, and the slip lesson 02 measures.
SCALINGS = {"[-1, 1]": scale_pixels, "[0, 1]": lambda pixels: np.asarray(pixels, np.float32) / 255}
RIGHT_SCALING = "[-1, 1]"
WRONG_SCALING = "[0, 1]"
# The photo the widget opens on: one where the slip visibly hurts, as it does on the lesson's 650 photos. Picked by
# measuring every sample with the real model (squash): pizza 91 % right with [-1, 1]; with [0, 1] "trifle" 67 % and
# pizza 19 %. Margins of tens of points, not a rounding's worth. (On some samples the slip happens to *raise* the
# right class, e.g. the beagle 50 % -> 80 %: one photo can teach the opposite, hence the 650-photo line.)
DEFAULT_PHOTO = "pizza.jpg"


@dataclass
class Preparation:
    """The state: the photo, how it is resized and scaled, and the model's answer for it."""

    name: str
    photo: Image.Image
    prediction: Prediction
    policy: ResizePolicy = DEFAULT_POLICY
    scaling: str = RIGHT_SCALING

    def model_input(self) -> np.ndarray:
        """The (224, 224, 3) float32 numbers the model gets."""
        return model_input(self.photo, self.policy, self.scaling)

    accuracy: Mapping[tuple[str, str], float] | None = None  # (policy, scaling): share right on many photos
    measured_on: int = 0

    def describe(self) -> str:
        guesses = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in self.prediction.top)
        return f"{self.name}, {self.policy}, {self.scaling}: {guesses}."

    def many_photos_text(self) -> str:
        """The accuracy on the lesson's labelled photos with both scalings, for the chosen policy ("" if unknown)."""
        right = self.accuracy or {}
        if (self.policy, RIGHT_SCALING) not in right or (self.policy, WRONG_SCALING) not in right:
            return ""
        good, slip = right[self.policy, RIGHT_SCALING], right[self.policy, WRONG_SCALING]
        return (
            f"On {self.measured_on} labelled photos ({self.policy}): {format_percent(good)} right with "
            f"{RIGHT_SCALING}, {format_percent(slip)} with {WRONG_SCALING}. "
            "One photo can go either way; many photos tell what the slip costs."
        )


def model_input(photo: Image.Image, policy: ResizePolicy, scaling: str) -> np.ndarray:
    """Resize ``photo`` by ``policy`` and scale it by ``scaling`` (a key of :data:`SCALINGS`)."""
    return SCALINGS[scaling](np.asarray(resize_for_model(photo, policy)))


def preparation_figure(state: Preparation, model_input: np.ndarray) -> Figure:
    """The original photo, what the model sees (its input drawn on the [-1, 1] scale it learned), and the top-3."""
    figure = Figure(figsize=(11, 3.0), layout="constrained")
    original, seen, chart = figure.subplots(1, 3, width_ratios=[1.2, 1, 1.6])
    original.imshow(state.photo)
    original.set_title(f"original, {state.photo.width} x {state.photo.height}", fontsize=10)
    # The model reads every number on its [-1, 1] scale: -1 is black, 1 is white. [0, 1] inputs land in its upper
    # half, so the photo it "sees" is washed out.
    seen.imshow(np.clip((model_input + 1) / 2, 0, 1))
    seen.set_title(f"what the model sees ({state.policy}, {state.scaling})", fontsize=10)
    for ax in (original, seen):
        ax.set_axis_off()
    plot_top_k(state.prediction, ax=chart, title="its top 3")
    return figure


def preparation_alt_text(state: Preparation) -> str:
    washed = " It looks washed out: black became mid-grey." if state.scaling != RIGHT_SCALING else ""
    cut = (
        " The centre crop cuts off the photo's edges."
        if state.policy == "crop"
        else (" Squashing keeps the whole photo but stretches it into a square.")
    )
    return (
        f"The original photo {state.name}, then the 224 x 224 picture the model gets with {state.policy} and "
        f"{state.scaling} scaling.{cut}{washed} Then a bar chart of the top 3: {state.describe()}"
    )


class TryPreparing(TryIt):
    """Lesson 02's widget (build it with :func:`try_preparing`): how a photo is prepared, what the model sees of it,
    and what it answers.

    Controls: ``samples`` and ``upload`` (the photo), ``policy`` and ``scaling`` (two ToggleButtons). ``state`` is
    the :class:`Preparation` they change; ``result`` shows it.
    """

    BUTTONS = {**SLIDER_STYLE, "button_width": "80px"}

    def __init__(
        self,
        classifier: Classifier | None = None,
        photo: str | None = None,
        accuracy: Mapping[tuple[str, str], float] | None = None,
        measured_on: int = 0,
    ) -> None:
        self.classifier = classifier or shared_classifier()
        result = ResultArea()
        self.policy = widgets.ToggleButtons(
            options=["squash", "crop"],
            value=DEFAULT_POLICY,
            description="Resize",
            style=self.BUTTONS,
            tooltips=["the whole photo, stretched to a square", "the centre square, cut out"],
        )
        self.scaling = widgets.ToggleButtons(
            options=list(SCALINGS),
            value=RIGHT_SCALING,
            description="Scale to",
            style=self.BUTTONS,
            tooltips=["x / 127.5 - 1: what MobileNetV2 learned on", "x / 255: the slip"],
        )
        self.picker = PhotoPicker(self.new_photo, result.guard, default=photo or DEFAULT_PHOTO)
        self.samples, self.upload = self.picker.dropdown, self.picker.upload
        first = model_input(self.picker.photo, DEFAULT_POLICY, RIGHT_SCALING)
        self.state = Preparation(
            self.picker.name,
            self.picker.photo,
            self.classifier.predict_batch(first[np.newaxis])[0],
            accuracy=accuracy,
            measured_on=measured_on,
        )
        super().__init__(
            [self.picker, widgets.HBox([self.policy, self.scaling]), result],
            [result],
            self.state.describe,
            css_class="labkit-try-preparing",
        )
        self.show()
        self.policy.observe(result.guard(self.show), "value")
        self.scaling.observe(result.guard(self.show), "value")

    def show(self) -> None:
        """Prepare the photo as the buttons say, classify it, and draw what the model sees and its top-3."""
        state = self.state
        state.policy = "crop" if self.policy.value == "crop" else "squash"
        state.scaling = self.scaling.value
        numbers = state.model_input()
        state.prediction = self.classifier.predict_batch(numbers[np.newaxis])[0]
        many = state.many_photos_text()
        self.result.show(
            text_html(state.describe())
            + (f'<div class="labkit-try-many">{text_html(many)}</div>' if many else "")
            + figure_html(preparation_figure(state, numbers), preparation_alt_text(state))
        )

    def new_photo(self, name: str, image: Image.Image) -> None:
        """A new photo (sample or upload), prepared with the current buttons."""
        self.state.name, self.state.photo = name, image
        self.show()


def try_preparing(
    classifier: Classifier | None = None,
    photo: str | None = None,
    accuracy: Mapping[tuple[str, str], float] | None = None,
    measured_on: int = 0,
) -> TryPreparing:
    """Build lesson 02's widget: resize policy and scaling buttons; what the model sees and its top-3, live.

    Args:
        classifier: the lesson's classifier (default: this kernel's shared one).
        photo: the sample shown first (its class or file name); default :data:`DEFAULT_PHOTO`.
        accuracy: the lesson's measurement, the share right per ``(policy, scaling)``, shown beside the one photo
            so that a lucky photo cannot teach the opposite; ``measured_on``: on how many photos.

    Example:
        >>> try_preparing(classifier, accuracy={("squash", "[-1, 1]"): 0.79, ("squash", "[0, 1]"): 0.71},
        ...               measured_on=650)  # doctest: +SKIP
    """
    return TryPreparing(classifier, photo, accuracy, measured_on)
