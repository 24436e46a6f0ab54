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
from labkit.predict import Prediction, format_percent

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


class TryWhereItLooked(TryIt):
    """Lesson 04's widget (build it with :func:`try_where_it_looked`): one of the top-5 classes and its heatmap.

    Controls: ``samples`` and ``upload`` (the photo), ``classes`` (the top-5 choice) and ``opacity`` (a slider).
    ``state`` is the :class:`Looking` they change; ``heatmap`` is the shown class's heatmap (the photo's height x
    width, values 0..1), there for tests and curious students.
    """

    def __init__(self, classifier: Classifier | None = None, photo: str | Image.Image | None = None) -> None:
        self.classifier = classifier or shared_classifier()
        result, self.progress = ResultArea(), Progress()
        self.classes = widgets.RadioButtons(
            description="Evidence for", layout=widgets.Layout(width="auto"), style=SLIDER_STYLE
        )
        self.opacity = widgets.FloatSlider(
            value=DEFAULT_ALPHA,
            min=0.0,
            max=1.0,
            step=0.05,
            description="Opacity",
            continuous_update=False,
            readout_format=".2f",
        )
        self.picker = PhotoPicker(self.new_photo, result.guard, default=photo if isinstance(photo, str) else None)
        self.samples, self.upload = self.picker.dropdown, self.picker.upload
        if isinstance(photo, Image.Image):
            self.picker.name, self.picker.photo = "your picture", photo.convert("RGB")
        first = self.classifier.classify(self.picker.photo, top=TOP)
        self.state = Looking(self.picker.name, self.picker.photo, first, first.class_index)
        self.heatmap: np.ndarray | None = None
        self.classes.options, self.classes.value = class_options(first), first.class_index
        super().__init__(
            [self.picker, widgets.HBox([self.classes, self.opacity]), self.progress, result],
            [result],
            self.state.describe,
            css_class="labkit-try-where-it-looked",
        )
        self.show()
        self.classes.observe(result.guard(self.show), "value")
        self.opacity.observe(result.guard(self.show), "value")

    def compute_heatmap(self) -> np.ndarray:
        """The chosen class's heatmap: computed on first use (saying so), then kept while the photo stays."""
        state = self.state
        if state.class_index not in state.heatmaps:
            label = state.prediction.top[state.rank].label
            self.progress.start(f"Computing where the model looked for '{label}'…")
            try:
                state.heatmaps[state.class_index] = gradcam(self.classifier, state.photo, state.class_index)
            finally:
                self.progress.done()
        return state.heatmaps[state.class_index]

    def show(self) -> None:
        """Draw the chosen class's heatmap over the photo at the chosen opacity."""
        if self.classes.value is None:  # between a new photo's options and its first class
            return
        state = self.state
        state.class_index, state.alpha = self.classes.value, self.opacity.value
        self.heatmap = heatmap = self.compute_heatmap()
        overlay = overlay_heatmap(state.photo, heatmap, state.alpha)
        self.result.show(text_html(state.describe()) + photo_html(overlay, looking_alt_text(state), longest_side=448))

    def new_photo(self, name: str, image: Image.Image) -> None:
        """A new photo (sample or upload): its top-5, then its best guess's heatmap."""
        prediction = self.classifier.classify(image, top=TOP)
        state = self.state
        state.name, state.photo, state.prediction, state.heatmaps = name, image, prediction, {}
        self.classes.value = None  # no class is shown while the list changes
        self.classes.options = class_options(prediction)
        self.classes.value = prediction.class_index  # its observer shows the new photo's heatmap


def try_where_it_looked(
    classifier: Classifier | None = None, photo: str | Image.Image | None = None
) -> TryWhereItLooked:
    """Build lesson 04's widget: choose one of the top-5 classes and the overlay's opacity; see its heatmap.

    Args:
        classifier: the lesson's classifier (default: this kernel's shared one); its engine gives the heatmaps
            (:func:`labkit.explain.gradcam`: one more forward pass each, no TensorFlow for the ImageNet model).
        photo: a sample's class or file name, or any PIL image (e.g. two photos side by side); default the first
            sample.
    """
    return TryWhereItLooked(classifier, photo)
