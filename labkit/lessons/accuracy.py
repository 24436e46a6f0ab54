"""Lesson 06's "Try it": how many photos does an accuracy need, and which classes get mixed up?

``try_accuracy(result)`` takes the lesson's :class:`~labkit.evaluate.EvaluationResult` and shows:

1. **Photos evaluated**: the top-1 accuracy on the first *n* photos (in a fixed random order, so each *n* is a
   random sample) with its 95 % interval (Wilson's), and a chart of how the interval narrows as *n* grows.
2. **Classes**: the confusion matrix of the chosen classes (rows: true class, columns: what the model said).

Nothing is classified again: both read the photos' recorded answers, so they redraw within a second.

Example:
    >>> widget = try_accuracy(result)                   # doctest: +SKIP
    >>> widget.photos.value = 20                        # doctest: +SKIP
    >>> widget.summary                                  # doctest: +SKIP
    '20 photos: 17 right, 85%, 95% interval 64% to 95% (31 points wide). ...'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from labkit.evaluate import EvaluationResult, wilson_interval
from labkit.lessons.tryit import SLIDER_STYLE, ResultArea, TryIt, figure_html, side_by_side, text_html
from labkit.plots import plot_confusion_matrix

SEED = 0  # the order photos are drawn in: fixed, so the lesson's saved output stays the same
STEP = 5  # the slider's step, in photos
CLASS_LIST_ROWS = 10  # the class list shows this many names at once, more when more are chosen
LISTED_CLASSES = 4  # the default confusion matrix: the classes of the most frequent mix-ups, up to this many


@dataclass
class Sampling:
    """The state: the photos' answers (right or wrong) in drawing order, how many are counted, which classes."""

    correct: np.ndarray  # bool, one per photo, in drawing order
    n: int
    classes: tuple[str, ...]

    def interval(self, n: int | None = None) -> tuple[int, float, float]:
        """(right, low, high) for the first ``n`` photos."""
        n = self.n if n is None else n
        right = int(self.correct[:n].sum())
        low, high = wilson_interval(right, n)
        return right, low, high

    def accuracy_text(self) -> str:
        right, low, high = self.interval()
        return (
            f"{self.n} photos: {right} right, {right / self.n:.0%}, 95% interval {low:.0%} to {high:.0%} "
            f"({(high - low) * 100:.0f} points wide)."
        )

    def classes_text(self) -> str:
        return (
            "Confusion matrix of " + ", ".join(self.classes) + "."
            if len(self.classes) >= 2
            else ("Choose at least two classes (Ctrl-click or Shift-click, or Shift and the arrow keys).")
        )

    def describe(self) -> str:
        return f"{self.accuracy_text()} {self.classes_text()}"


def interval_figure(state: Sampling) -> Figure:
    """The accuracy and its 95 % interval for every number of photos, with the chosen number marked."""
    counts = np.arange(1, len(state.correct) + 1)
    accuracy = np.cumsum(state.correct) / counts
    rights = np.cumsum(state.correct)
    bounds = np.array([wilson_interval(int(right), int(n)) for right, n in zip(rights, counts, strict=True)])
    figure = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = figure.add_subplot()
    ax.fill_between(counts, bounds[:, 0] * 100, bounds[:, 1] * 100, color="#4c72b0", alpha=0.25, label="95% interval")
    ax.plot(counts, accuracy * 100, color="#4c72b0", linewidth=1.5, label="accuracy so far")
    right, low, high = state.interval()
    share = right / state.n
    below, above = max(share - low, 0.0), max(high - share, 0.0)  # never negative, even when rounding says so
    ax.errorbar(
        [state.n],
        [share * 100],
        yerr=[[below * 100], [above * 100]],
        fmt="o",
        color="black",
        capsize=5,
        label=f"{state.n} photos",
    )
    ax.set_xlim(0, len(state.correct))
    ax.set_ylim(0, 100)
    ax.set_xlabel("photos evaluated")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", frameon=False, fontsize=9)
    return figure


def default_classes(result: EvaluationResult, limit: int = LISTED_CLASSES) -> list[str]:
    """The classes of the most frequent mix-ups (true and said), up to ``limit``."""
    chosen: list[str] = []
    for true, predicted, _count in result.most_confused(limit):
        for name in (true, predicted):
            if name not in chosen and len(chosen) < limit:
                chosen.append(name)
    return chosen


class TryAccuracy(TryIt):
    """Lesson 06's widget (build it with :func:`try_accuracy`): an accuracy and its interval for *n* photos, and the
    confusion matrix of chosen classes.

    Controls: ``photos`` (the "Photos evaluated" slider) and ``classes`` (a multiple choice). ``state`` is the
    :class:`Sampling` they change; ``accuracy_result`` and ``classes_result`` show it.
    """

    def __init__(
        self,
        result: EvaluationResult,
        classes: Sequence[str] | None = None,
        photos: int | None = None,
        seed: int = SEED,
    ) -> None:
        if result.n == 0:
            raise ValueError("This evaluation has no photos: evaluate a labelled folder first.")
        self.evaluation = result
        order = np.random.default_rng(seed).permutation(result.n)
        names = sorted(
            {record.true for record in result.records} | {record.predicted for record in result.records}, key=str.lower
        )
        chosen = [name for name in (classes if classes is not None else default_classes(result)) if name in names]
        self.state = Sampling(
            np.array([result.records[index].correct for index in order]),
            min(photos or result.n, result.n),
            tuple(chosen),
        )
        self.photos = widgets.IntSlider(
            value=self.state.n,
            min=min(STEP, result.n),
            max=result.n,
            step=1,
            description="Photos evaluated",
            continuous_update=False,
            style=SLIDER_STYLE,
            layout=widgets.Layout(width="420px"),
        )
        # Tall enough for every chosen class and a few more: a list that shows one row hides the rest of the choice.
        shown_rows = max(CLASS_LIST_ROWS, len(self.state.classes) + 2)
        self.classes = widgets.SelectMultiple(
            options=names,
            value=self.state.classes,
            rows=shown_rows,
            description="Classes",
            layout=widgets.Layout(height=f"{1.6 * shown_rows + 0.6:.1f}em", min_height="8em", width="auto"),
        )
        self.accuracy_result, self.classes_result = ResultArea(), ResultArea()
        super().__init__(
            [side_by_side([self.photos, self.accuracy_result], [self.classes, self.classes_result])],
            [self.accuracy_result, self.classes_result],
            self.state.describe,
            css_class="labkit-try-accuracy",
        )
        self.show_accuracy()
        self.show_classes()
        self.photos.observe(self.accuracy_result.guard(self.show_accuracy), "value")
        self.classes.observe(self.classes_result.guard(self.show_classes), "value")

    def show_accuracy(self) -> None:
        """Count the first *n* photos: the accuracy, its interval, and how the interval narrows."""
        state = self.state
        state.n = self.photos.value
        alt = (
            f"Accuracy against the number of photos evaluated, with its 95% interval as a band that narrows as "
            f"photos are added. Marked: {state.accuracy_text()}"
        )
        self.accuracy_result.show(text_html(state.accuracy_text()) + figure_html(interval_figure(state), alt))

    def show_classes(self) -> None:
        """Draw the confusion matrix of the chosen classes (at least two)."""
        state = self.state
        state.classes = tuple(self.classes.value)
        if len(state.classes) < 2:
            self.classes_result.show(text_html(state.classes_text()))
            return
        matrix = self.evaluation.confusion_matrix(list(state.classes))
        photographed = matrix.counts.sum(axis=1) > 0  # a class only ever predicted has no row to show
        rows = [name for name, kept in zip(matrix.classes, photographed, strict=True) if kept]
        alt = (
            f"Confusion matrix of {len(state.classes)} classes: rows are the true class, columns what the model "
            f"said, the last column any other class. {int(np.trace(matrix.counts[:, :-1]))} of "
            f"{int(matrix.counts.sum())} of these photos are on the diagonal (right)."
        )
        figure = plot_confusion_matrix(
            matrix.counts[photographed], matrix.classes, title="the first guess", true_classes=rows
        )
        missing = [name for name, kept in zip(matrix.classes, photographed, strict=True) if not kept]
        note = f" No photo shows {', '.join(missing)}: a column only, no row." if missing else ""
        self.classes_result.show(text_html(state.classes_text() + note) + figure_html(figure, alt + note))


def try_accuracy(
    result: EvaluationResult, classes: Sequence[str] | None = None, photos: int | None = None, seed: int = SEED
) -> TryAccuracy:
    """Build lesson 06's widget: a "Photos evaluated" slider and a class list, over the lesson's evaluation.

    Args:
        result: what :func:`labkit.evaluate.evaluate` returned.
        classes: the classes in the confusion matrix at first (default: those of the most frequent mix-ups).
        photos: how many photos are counted at first (default: all).
        seed: the random order the photos are counted in.
    """
    return TryAccuracy(result, classes, photos, seed)
