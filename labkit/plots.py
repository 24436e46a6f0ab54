"""Every figure labkit draws, from data already computed: top-k bar charts, image grids, pixel histograms,
reliability diagrams, out-of-distribution histograms, confusion matrices and training curves.

Every function builds a :class:`matplotlib.figure.Figure` directly instead of going through ``pyplot``, so nothing
piles up in pyplot's list of open figures in a long-running app kernel, and no GUI backend is ever needed (Agg only).
In a notebook, a returned figure shows itself when it is a cell's last value (run ``%matplotlib inline`` once).

Example:
    >>> from labkit import Classifier
    >>> prediction = Classifier().classify("data/samples/beagle.jpg")  # doctest: +SKIP
    >>> png = figure_to_png(plot_top_k(prediction))  # doctest: +SKIP
    >>> top_k_alt_text(prediction)  # doctest: +SKIP
    'Bar chart of the top 3 guesses: beagle 63%, Walker hound 22%, English foxhound 14%.'
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Sequence
from typing import Union, cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from labkit.images import as_image
from labkit.predict import Prediction, confidence_band, format_percent
from labkit.reliability import reliability_diagram_data
from labkit.words import OTHER_CLASSES

Picture = Union[Image.Image, np.ndarray, str, os.PathLike]

# The bar colours of labkit.predict.confidence_band's bands. The percentage is always printed too: colour is never
# the only cue.
CONFIDENT_COLOUR = "#2e7d32"  # green
UNSURE_COLOUR = "#f0a202"  # amber
UNLIKELY_COLOUR = "#9e9e9e"  # grey
BAND_COLOURS = {"high": CONFIDENT_COLOUR, "medium": UNSURE_COLOUR, "low": UNLIKELY_COLOUR}
LABEL_WIDTH = 24  # characters per line before a long class name wraps
CHANNEL_COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
CHANNEL_LINE_STYLES = {"red": "-", "green": "--", "blue": ":"}  # so the histogram reads without colour too


def confidence_colour(probability: float) -> str:
    """Return the bar colour for a probability: green from 60 %, amber from 30 %, grey below.

    Example:
        >>> confidence_colour(0.92) == CONFIDENT_COLOUR
        True
    """
    return BAND_COLOURS[confidence_band(probability)]


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return cast(Figure, ax.figure), ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def plot_top_k(prediction: Prediction, ax: Axes | None = None, title: str | None = None, backed: bool = True) -> Figure:
    """Draw a prediction's top-k classes as horizontal bars, best on top, each labelled with its percentage.

    Bars are green (>= 60 %), amber (30-60 %) or grey (below 30 %); the x axis always spans 0-100 % so charts of
    different photos compare at a glance.

    Args:
        prediction: what :meth:`labkit.Classifier.classify` returned.
        ax: draw into these axes (e.g. one panel of a grid) instead of a new figure.
        title: text above the chart; none by default.
        backed: ``False`` when the model cannot back a confident answer (taught on a handful of photos): no bar is
            green, a high percentage is amber at most.

    Example:
        >>> figure = plot_top_k(Classifier().classify("data/samples/pizza.jpg"))  # doctest: +SKIP
        >>> figure_to_png(figure)[:4]  # doctest: +SKIP
        b'\\x89PNG'
    """
    scores = prediction.top
    figure, ax = _new_axes(ax, figsize=(6.0, 0.6 * len(scores) + 0.9))
    percents = [100 * score.probability for score in scores]
    rows = np.arange(len(scores))
    colours = [confidence_colour(score.probability) for score in scores]
    if not backed:
        colours = [UNSURE_COLOUR if colour == CONFIDENT_COLOUR else colour for colour in colours]
    ax.barh(rows, percents, height=0.65, color=colours)
    ax.set_yticks(rows, [textwrap.fill(score.label, LABEL_WIDTH) for score in scores], fontsize=11)
    ax.invert_yaxis()  # best guess on top, the order people read in
    for row, percent, score in zip(rows, percents, scores, strict=True):
        text = format_percent(score.probability)
        if percent > 85:  # no room to the right of a long bar: write inside its end, in white
            ax.text(
                percent - 1.5, float(row), text, va="center", ha="right", color="white", fontsize=11, fontweight="bold"
            )
        else:
            ax.text(percent + 1.5, float(row), text, va="center", ha="left", color="black", fontsize=11)
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("model's confidence")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title, loc="left", fontsize=12)
    return figure


def top_k_alt_text(prediction: Prediction) -> str:
    """Describe :func:`plot_top_k`'s chart in words, for screen readers (the image's ``alt`` text).

    Example:
        >>> top_k_alt_text(Classifier().classify("data/samples/beagle.jpg"))  # doctest: +SKIP
        'Bar chart of the top 3 guesses: beagle 63%, Walker hound 22%, English foxhound 14%.'
    """
    guesses = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in prediction.top)
    count = len(prediction.top)
    heading = "Bar chart of the best guess" if count == 1 else f"Bar chart of the top {count} guesses"
    return f"{heading}: {guesses}." + (" The model is not sure." if prediction.not_sure else "")


def figure_to_png(figure: Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes (for an ``<img>`` in the web app or a file), with the Agg renderer.

    Example:
        >>> figure_to_png(Figure(figsize=(1, 1)))[:8]
        b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buffer = io.BytesIO()
    # No "Software" stamp: the same chart gives the same bytes whatever matplotlib version drew it.
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _displayable(picture: Picture) -> np.ndarray | Image.Image:
    """Return something ``imshow`` draws faithfully: model inputs in [-1, 1] are mapped back to [0, 1]."""
    if isinstance(picture, (str, os.PathLike)):
        return as_image(picture)
    if isinstance(picture, Image.Image):
        return picture
    array = np.asarray(picture)
    if array.dtype.kind == "f" and array.size and array.min() < 0:
        array = (array + 1) / 2  # undo x / 127.5 - 1 so a preprocessed image looks like the photo
    return np.clip(array, 0, 1) if array.dtype.kind == "f" else array


def show_images(images: Sequence[Picture], titles: Sequence[str] | None = None, columns: int = 4) -> Figure:
    """Show images in a grid, ``columns`` per row, each with an optional title.

    Args:
        images: PIL images, arrays (uint8 0..255, floats in [0, 1], or model inputs in [-1, 1]) or file paths.
        titles: one per image.
        columns: images per row (fewer if there are fewer images).

    Example:
        >>> len(show_images([Image.new("RGB", (64, 48), "red")] * 3, titles=["a", "b", "c"]).axes)
        3
    """
    if len(images) == 0:
        raise ValueError("show_images() needs at least one image.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(titles)} titles: give one title per image.")
    columns = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / columns)
    shown_images = [_displayable(picture) for picture in images]
    height, width = np.asarray(shown_images[0]).shape[:2]
    # Panels take the first image's proportions, so a grid of landscape photos has no tall empty gaps.
    panel_height = 3.0 * min(1.5, height / width) + (0.4 if titles is not None else 0.0)
    figure = Figure(figsize=(3.0 * columns, panel_height * rows), layout="constrained")
    for position, shown in enumerate(shown_images):
        ax = figure.add_subplot(rows, columns, position + 1)
        grey = np.asarray(shown).ndim == 2
        ax.imshow(
            shown,
            cmap="gray" if grey else None,
            vmin=0 if grey else None,
            vmax=(255 if np.asarray(shown).dtype == np.uint8 else 1) if grey else None,
        )
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(textwrap.fill(str(titles[position]), LABEL_WIDTH), fontsize=11)
    return figure


def show_channels(image: Picture) -> Figure:
    """Show an RGB image's red, green and blue channels side by side, each as brightness (white = 255).

    Example:
        >>> len(show_channels(Image.new("RGB", (32, 32), "red")).axes)
        3
    """
    pixels = np.asarray(_displayable(image))
    return show_images(
        [pixels[..., channel] for channel in range(3)],
        titles=[f"{name} channel" for name in CHANNEL_COLOURS],
        columns=3,
    )


def plot_pixel_histogram(image: Picture, ax: Axes | None = None, bins: int = 64) -> Figure:
    """Plot how many pixels take each value 0..255, one line per colour channel.

    Args:
        image: a PIL image, a uint8 array (H, W, 3) or a file path.
        ax: draw into these axes instead of a new figure.
        bins: how many value ranges to count (256 = one per value).

    Example:
        >>> plot_pixel_histogram(Image.new("RGB", (8, 8), "white"))
        <Figure size 600x320 with 1 Axes>
    """
    pixels = np.asarray(_displayable(image))
    if pixels.ndim != 3 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            f"plot_pixel_histogram() wants an RGB image with 0..255 values; got an array of shape "
            f"{pixels.shape} and type {pixels.dtype}. Pass the PIL image from labkit.load_image."
        )
    figure, ax = _new_axes(ax, figsize=(6.0, 3.2))
    edges = np.linspace(0, 256, bins + 1)
    for channel, name in enumerate(CHANNEL_COLOURS):
        counts, _ = np.histogram(pixels[..., channel], bins=edges)
        ax.stairs(
            counts, edges, color=CHANNEL_COLOURS[name], linestyle=CHANNEL_LINE_STYLES[name], linewidth=1.8, label=name
        )
    ax.set_xlim(0, 255)
    ax.set_xlabel("pixel value (0 = dark, 255 = bright)")
    ax.set_ylabel("number of pixels")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure


# --- Trust: calibration and out-of-distribution scores ----------------------------------------------------------------


def plot_reliability_diagram(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Draw accuracy against confidence per bin; a calibrated model's bars reach the diagonal.

    Bars show each bin's accuracy, the red outline the gap to its mean confidence; the legend gives the ECE and
    the number of images.

    Example:
        >>> figure = plot_reliability_diagram(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))
        >>> len(figure.axes)
        1
    """
    data = reliability_diagram_data(probabilities, labels, bins)
    figure, ax = _new_axes(ax, figsize=(4.2, 4.2))
    width = np.diff(data.bin_edges)
    left = data.bin_edges[:-1]
    filled = data.count > 0
    ax.bar(
        left[filled],
        data.accuracy[filled],
        width=width[filled],
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        label="accuracy",
    )
    ax.bar(
        left[filled],
        (data.confidence - data.accuracy)[filled],
        bottom=data.accuracy[filled],
        width=width[filled],
        align="edge",
        color="none",
        edgecolor="#c44e52",
        hatch="//",
        linewidth=1.2,
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1, label="perfectly calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"ECE {data.expected_calibration_error:.3f} on {len(labels)} images", fontsize=11)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)  # a white box: the legend often sits on bars
    return figure


def plot_ood_scores(
    photo_scores: Sequence[float],
    other_scores: Sequence[float],
    threshold: float | None = None,
    ax: Axes | None = None,
    xlabel: str = "out-of-distribution score (higher = less familiar)",
    labels: tuple[str, str] = ("real photos", "generated images"),
) -> Figure:
    """Draw two histograms of out-of-distribution scores (photos vs. other images) and the "not sure" threshold.

    Example:
        >>> figure = plot_ood_scores([0.1, 0.2, 0.3], [0.7, 0.9], threshold=0.5)
        >>> len(figure.axes)
        1
    """
    figure, ax = _new_axes(ax, figsize=(6.0, 3.2))
    photos, others = np.asarray(photo_scores, float), np.asarray(other_scores, float)
    edges = np.histogram_bin_edges(np.concatenate([photos, others]), bins=24).tolist()
    ax.hist(photos, bins=edges, color="#4c72b0", alpha=0.75, label=f"{labels[0]} ({len(photos)})")
    ax.hist(others, bins=edges, color="#dd8452", alpha=0.75, hatch="//", label=f"{labels[1]} ({len(others)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label='"not sure" above this')
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of images")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=9)
    return figure


# --- Accuracy and training -------------------------------------------------------------------------------------------


def plot_confusion_matrix(
    counts: np.ndarray,
    classes: Sequence[str],
    ax: Axes | None = None,
    title: str | None = None,
    true_classes: Sequence[str] | None = None,
) -> Figure:
    """Draw a confusion matrix: rows are the true class, columns what the model said.

    The diagonal is right; everything else is a mix-up, and a last column beyond ``classes`` is "some other class
    entirely". Every non-zero cell has its count written in it, so the colour is never the only cue.

    Args:
        counts: (classes, classes) or (classes, classes + 1) counts, e.g.
            ``EvaluationResult.confusion_matrix(names).counts``.
        classes: the columns' class names, in order (and the rows', unless ``true_classes`` is given).
        true_classes: the rows' names when some columns have no row (a class with no photo: an empty row teaches
            nothing, so a caller may leave it out).

    Example:
        >>> matrix = result.confusion_matrix(["beer bottle", "wine bottle", "pop bottle"])  # doctest: +SKIP
        >>> plot_confusion_matrix(matrix.counts, matrix.classes)  # doctest: +SKIP
    """
    counts = np.asarray(counts)
    columns = [*classes, OTHER_CLASSES][: counts.shape[1]]
    classes = list(classes if true_classes is None else true_classes)
    size = 1.5 + 0.7 * len(columns)
    figure, ax = _new_axes(ax, figsize=(size, size - 0.5))
    highest = max(1, int(counts.max()))
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=highest)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            ax.text(
                column,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=11,
                color="white" if count > 0.6 * highest else "black",
            )
    ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right")
    ax.set_yticks(range(len(classes)), list(classes))
    # Thin lines between cells, so empty rows and columns still read as a grid.
    ax.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(classes) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#d0d0d0", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("the model said")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, loc="left", fontsize=12)
    return figure


def plot_training_curves(history: dict[str, list[float]]) -> Figure:
    """Draw loss and accuracy per epoch, training vs validation, with a line where fine-tuning (phase 2) starts.

    Training accuracy is measured on augmented copies with dropout on, so it can sit below validation accuracy.
    Without validation photos (``fine_tune(..., validation_split=0)``) only the training curves are drawn.

    Args:
        history: one value per epoch for ``loss`` and ``accuracy`` (and ``val_loss``, ``val_accuracy``, ``phase``
            when there are), e.g. ``fine_tune(...).history``.

    Example:
        >>> plot_training_curves(result.history)  # doctest: +SKIP
    """
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    epochs = np.arange(1, len(history["loss"]) + 1)
    phases = history.get("phase", [1] * len(epochs))
    fine_tune_starts = next((epoch for epoch, phase in zip(epochs, phases, strict=True) if phase == 2), None)
    titles = ("Loss (lower is better)", "Accuracy (higher is better)")
    for ax, metric, title in zip(figure.subplots(1, 2), ("loss", "accuracy"), titles, strict=True):
        ax.plot(epochs, history[metric], "-", color="#1f77b4", label="training")
        if history.get(f"val_{metric}"):  # none without validation photos
            ax.plot(epochs, history[f"val_{metric}"], "--", color="#d62728", label="validation")
        if fine_tune_starts is not None:
            ax.axvline(fine_tune_starts - 0.5, color="#777777", linestyle=":", linewidth=1)
            ax.text(
                fine_tune_starts - 0.4,
                0.02,
                "fine-tuning",
                transform=ax.get_xaxis_transform(),
                fontsize=9,
                color="#555555",
            )
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
            ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        ax.set_xlabel("epoch")
        ax.set_title(title, loc="left", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    return figure
