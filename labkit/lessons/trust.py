"""Lesson 05's "Try it": turn the two knobs behind the model's trustworthiness and watch what they change.

``try_trust(logits, labels, other_logits)`` takes what the lesson already computed (the labelled photos' logits and
true classes, and the logits of generated non-photos) and shows two things:

1. **Temperature**: the reliability diagram of the photos at the chosen temperature, with its expected calibration
   error (ECE), and one photo's top-3 percentages at that temperature. The ranking never changes, only how sure the
   percentages sound.
2. **Threshold**: the "not sure" threshold on the out-of-distribution score; which real photos get flagged (wrongly)
   and which generated non-photos slip through as "sure".

Only numpy and matplotlib run when a slider moves: no image is classified again, so it redraws within a second.

Example:
    >>> widget = try_trust(logits, labels, other_logits)                   # doctest: +SKIP
    >>> widget.temperature.value = 2.0                                     # doctest: +SKIP
    >>> widget.state.ece                                                   # doctest: +SKIP
    0.31
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np

from labkit.calibration import Calibration, shipped_calibration
from labkit.lessons.tryit import SLIDER_STYLE, ResultArea, TryIt, figure_html, side_by_side, text_html
from labkit.plots import plot_ood_scores, plot_reliability_diagram
from labkit.predict import format_percent, softmax, top_k
from labkit.reliability import expected_calibration_error
from labkit.weights import load_class_index, readable_label

BINS = 10
TEMPERATURES = (0.25, 4.0)  # the slider's range: sharper to softer than any fitted temperature
LISTED = 6  # names listed in the threshold's summary before "and N more"


@dataclass
class Trust:
    """The state: the data (logits, labels, names) and the two knobs."""

    logits: np.ndarray  # (photos, classes)
    labels: np.ndarray  # (photos,)
    other_logits: np.ndarray  # (generated images, classes)
    calibration: Calibration
    class_names: Sequence[str]
    photo_names: Sequence[str]
    other_kinds: Sequence[str]
    photo: int = 0  # the photo whose percentages are shown
    temperature: float = 1.0
    threshold: float = 0.0
    # for a score that reads the clipped pooled features (the shipped ASH-S): theirs, and the last layer
    features: np.ndarray | None = None
    other_features: np.ndarray | None = None
    head: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def probabilities(self) -> np.ndarray:
        return softmax(self.logits, self.temperature)

    @property
    def ece(self) -> float:
        return expected_calibration_error(self.probabilities, self.labels, BINS)

    def photo_text(self) -> str:
        scores = top_k(self.probabilities[self.photo], list(self.class_names), list(self.class_names), 3)
        guesses = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in scores)
        return f"{self.photo_names[self.photo]} at T = {self.temperature:.2f}: {guesses}."

    def temperature_text(self) -> str:
        return (
            f"Temperature {self.temperature:.2f}: ECE {self.ece:.3f} on {len(self.labels)} photos "
            f"(labkit's fitted temperature is {self.calibration.temperature:.2f})."
        )

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """The out-of-distribution scores of the photos and of the generated images (higher = less familiar)."""
        return (
            np.atleast_1d(self.calibration.ood_score(self.logits, self.features, self.head)),
            np.atleast_1d(self.calibration.ood_score(self.other_logits, self.other_features, self.head)),
        )

    def flagged(self) -> tuple[np.ndarray, np.ndarray]:
        """Which photos, and which generated images, score above the threshold ("not sure")."""
        photo_scores, other_scores = self.scores()
        return photo_scores > self.threshold, other_scores > self.threshold

    def threshold_text(self) -> str:
        photos, others = self.flagged()
        names = [name for name, flag in zip(self.photo_names, photos, strict=True) if flag]
        listed = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
        missed = Counter(kind for kind, flag in zip(self.other_kinds, others, strict=True) if not flag)
        slipped = ", ".join(f"{count} {kind}" for kind, count in sorted(missed.items()))
        return (
            f'Threshold {self.threshold:.2f}: {photos.sum()} of {len(photos)} real photos get "not sure"'
            f"{f' ({listed})' if names else ''}; {others.sum()} of {len(others)} generated non-photos do"
            f"{f', and these pass as sure: {slipped}' if slipped else ''}."
        )

    def describe(self) -> str:
        return f"{self.temperature_text()} {self.photo_text()} {self.threshold_text()}"


class TryTrust(TryIt):
    """Lesson 05's widget (build it with :func:`try_trust`): the temperature and the "not sure" threshold, each over
    its picture.

    Controls: ``temperature`` and ``threshold`` (two sliders). ``state`` is the :class:`Trust` they change;
    ``calibration_result`` and ``threshold_result`` show it.
    """

    def __init__(self, state: Trust) -> None:
        self.state = state
        self.temperature = widgets.FloatLogSlider(
            value=state.temperature,
            base=10,
            min=math.log10(TEMPERATURES[0]),
            max=math.log10(TEMPERATURES[1]),
            step=0.02,
            description="Temperature",
            readout_format=".2f",
            continuous_update=False,
            style=SLIDER_STYLE,
            layout=widgets.Layout(width="420px"),
        )
        scores = np.concatenate(state.scores())
        low, high = float(np.floor(scores.min())), float(np.ceil(scores.max()))
        self.threshold = widgets.FloatSlider(
            value=min(max(state.threshold, low), high),
            min=low,
            max=high,
            step=round((high - low) / 200, 3) or 0.01,
            description="Not-sure threshold",
            readout_format=".2f",
            continuous_update=False,
            style=SLIDER_STYLE,
            layout=widgets.Layout(width="420px"),
        )
        self.calibration_result, self.threshold_result = ResultArea(), ResultArea()
        super().__init__(
            [side_by_side([self.temperature, self.calibration_result], [self.threshold, self.threshold_result])],
            [self.calibration_result, self.threshold_result],
            state.describe,
            css_class="labkit-try-trust",
        )
        self.show_temperature()
        self.show_threshold()
        self.temperature.observe(self.calibration_result.guard(self.show_temperature), "value")
        self.threshold.observe(self.threshold_result.guard(self.show_threshold), "value")

    def show_temperature(self) -> None:
        """The reliability diagram and its ECE at the slider's temperature, and one photo's percentages."""
        state = self.state
        state.temperature = self.temperature.value
        figure = plot_reliability_diagram(
            state.probabilities, state.labels, BINS, title=f"T = {state.temperature:.2f}: ECE {state.ece:.3f}"
        )
        alt = (
            f"Reliability diagram at temperature {state.temperature:.2f}: accuracy against confidence in "
            f"{BINS} bins, expected calibration error {state.ece:.3f}."
        )
        self.calibration_result.show(
            text_html(state.temperature_text()) + text_html(state.photo_text()) + figure_html(figure, alt)
        )

    def show_threshold(self) -> None:
        """The scores of photos and non-photos against the slider's threshold, and who is flagged."""
        state = self.state
        state.threshold = self.threshold.value
        photo_scores, other_scores = state.scores()
        figure = plot_ood_scores(photo_scores.tolist(), other_scores.tolist(), state.threshold)
        alt = (
            "Histograms of the out-of-distribution score of the real photos and of the generated images, with "
            f"the not-sure threshold at {state.threshold:.2f} as a dashed line. {state.threshold_text()}"
        )
        self.threshold_result.show(text_html(state.threshold_text()) + figure_html(figure, alt))


def try_trust(
    logits: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    other_logits: np.ndarray,
    *,
    calibration: Calibration | None = None,
    class_names: Sequence[str] | None = None,
    photo_names: Sequence[str] | None = None,
    other_kinds: Sequence[str] | None = None,
    photo: int = 0,
    features: np.ndarray | None = None,
    other_features: np.ndarray | None = None,
    head: tuple[np.ndarray, np.ndarray] | None = None,
) -> TryTrust:
    """Build lesson 05's widget: a temperature slider and a "not sure" threshold slider, each with its picture.

    Args:
        logits, labels: the labelled photos' raw scores (photos, classes) and true class indices.
        other_logits: the raw scores of images that are none of the classes (``generate_ood_images``).
        calibration: the flag's score and starting threshold and the starting temperature (default: labkit's).
        class_names: the model's class names (default: ImageNet's 1000).
        photo_names: a name per photo, for the lists (default: its number and true class, ``"#3 (tabby)"``);
            ``other_kinds``: a kind per generated image (``"chart"``…).
        photo: which photo's percentages to show.
        features, other_features, head: the clipped pooled features of the photos and of the generated images and
            the last layer (``classifier.forward``, ``classifier.head``), needed when the calibration's score reads
            them (the shipped one, ASH-S).
    """
    calibration = calibration or shipped_calibration()
    if class_names is None:
        class_names = [readable_label(label) for _, label in load_class_index()]
    logits, other_logits = np.asarray(logits, np.float64), np.asarray(other_logits, np.float64)
    true_classes = np.asarray(labels)
    if len(logits) != len(true_classes):
        raise ValueError(f"Got {len(logits)} rows of logits but {len(true_classes)} labels: give one label per photo.")
    for name, values, rows in (("photo_names", photo_names, logits), ("other_kinds", other_kinds, other_logits)):
        if values is not None and len(values) != len(rows):
            raise ValueError(f"Got {len(values)} {name} for {len(rows)} images: give one per image.")
    return TryTrust(
        Trust(
            logits=logits,
            labels=true_classes,
            other_logits=other_logits,
            calibration=calibration,
            class_names=class_names,
            photo_names=[f"#{number + 1} ({class_names[label]})" for number, label in enumerate(true_classes)]
            if photo_names is None
            else [str(name) for name in photo_names],
            other_kinds=["image"] * len(other_logits) if other_kinds is None else [str(kind) for kind in other_kinds],
            photo=photo,
            temperature=calibration.temperature,
            threshold=calibration.ood_threshold,
            features=features,
            other_features=other_features,
            head=head,
        )
    )
