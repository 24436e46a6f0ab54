"""Lesson 04's "Try it": ask where the model found evidence for any of its top-5 classes.

``try_where_it_looked()`` lists the model's five best guesses for a photo; choosing one draws that class's Grad-CAM
heatmap over the photo, and the Opacity slider sets how much colour covers it. Heatmaps are computed once per class
and kept while the photo stays, so moving the slider is instant.

Example:
    >>> widget = try_where_it_looked(photo=zebra_and_car_side_by_side)   # any PIL image         # doctest: +SKIP
    >>> widget.classes.value = widget.classes.options[1][1]              # its second guess      # doctest: +SKIP
    >>> widget.heatmap.shape                                             # the photo's height, width  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np
from PIL import Image

from labkit.explain import DEFAULT_ALPHA, gradcam, overlay_heatmap
from labkit.lessons.tryit import SLIDER_STYLE, PhotoPicker, Progress, ResultArea, TryIt, photo_html, text_html
from labkit.model import Classifier, shared_classifier
from labkit.plots import format_percent
from labkit.predict import Prediction

TOP = 5
ORDINALS = ("first", "second", "third", "fourth", "fifth")


@dataclass
class Looking:
    """The state: the photo, its top-5, the chosen class, the opacity, and the heatmaps computed so far."""

    name: str
    photo: Image.Image
    prediction: Prediction
    class_index: int
    alpha: float = DEFAULT_ALPHA
    heatmaps: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return next(rank for rank, score in enumerate(self.prediction.top) if score.class_index == self.class_index)

    def describe(self) -> str:
        score = self.prediction.top[self.rank]
        return (
            f"{self.name}: evidence for '{score.label}', the model's {ORDINALS[self.rank]} guess "
            f"({format_percent(score.probability)}), opacity {self.alpha:.2f}."
        )


def class_options(prediction: Prediction) -> list[tuple[str, int]]:
    """The top classes as ``("2. tabby (23%)", class_index)`` pairs, best first."""
    return [
        (f"{rank}. {score.label} ({format_percent(score.probability)})", score.class_index)
        for rank, score in enumerate(prediction.top, start=1)
    ]


def looking_alt_text(state: Looking) -> str:
    return (
        f"{state.name} with the Grad-CAM heatmap for '{state.prediction.top[state.rank].label}' over it: warm "
        "colours mark the regions that raised that class's score, blue the regions that did not."
    )


def try_where_it_looked(classifier: Classifier | None = None, photo: str | Image.Image | None = None) -> TryIt:
    """Build lesson 04's widget: choose one of the top-5 classes and the overlay's opacity; see its heatmap.

    Args:
        classifier: the lesson's classifier (default: this kernel's shared one); its engine gives the heatmaps
            (:func:`labkit.explain.gradcam`: one more forward pass each, no TensorFlow for the ImageNet model).
        photo: a sample's class or file name, or any PIL image (e.g. two photos side by side); default the first
            sample.

    The widget's ``classes`` (the top-5 choice), ``opacity`` (slider) and ``heatmap`` (the shown class's heatmap,
    the photo's height x width, values 0..1) are there for tests and curious students.
    """
    classifier = classifier or shared_classifier()
    result, progress = ResultArea(), Progress()
    classes = widgets.RadioButtons(description="Evidence for", layout=widgets.Layout(width="auto"), style=SLIDER_STYLE)
    opacity = widgets.FloatSlider(
        value=DEFAULT_ALPHA,
        min=0.0,
        max=1.0,
        step=0.05,
        description="Opacity",
        continuous_update=False,
        readout_format=".2f",
    )

    def heatmap() -> np.ndarray:
        if state.class_index not in state.heatmaps:
            label = state.prediction.top[state.rank].label
            progress.start(f"Computing where the model looked for '{label}'…")
            try:
                state.heatmaps[state.class_index] = gradcam(classifier, state.photo, state.class_index)
            finally:
                progress.done()
        return state.heatmaps[state.class_index]

    def show() -> None:
        if classes.value is None:  # between a new photo's options and its first class
            return
        state.class_index, state.alpha = classes.value, opacity.value
        widget.heatmap = heatmap()
        overlay = overlay_heatmap(state.photo, widget.heatmap, state.alpha)
        result.show(text_html(state.describe()) + photo_html(overlay, looking_alt_text(state), longest_side=448))

    def new_photo(name: str, image: Image.Image) -> None:
        prediction = classifier.classify(image, top=TOP)
        state.name, state.photo, state.prediction, state.heatmaps = name, image, prediction, {}
        classes.value = None  # no class is shown while the list changes
        classes.options = class_options(prediction)
        classes.value = prediction.class_index  # its observer shows the new photo's heatmap

    picker = PhotoPicker(
        lambda name, image: new_photo(name, image), result.guard, default=photo if isinstance(photo, str) else None
    )
    if isinstance(photo, Image.Image):
        picker.name, picker.photo = "your picture", photo.convert("RGB")
    first = classifier.classify(picker.photo, top=TOP)
    state = Looking(picker.name, picker.photo, first, first.class_index)
    classes.options, classes.value = class_options(first), first.class_index
    widget = TryIt(
        [picker, widgets.HBox([classes, opacity]), progress, result],
        [result],
        state.describe,
        css_class="labkit-try-where-it-looked",
    )
    widget.classes, widget.opacity, widget.state = classes, opacity, state
    show()
    classes.observe(result.guard(show), "value")
    opacity.observe(result.guard(show), "value")
    return widget
