"""Static matplotlib pictures for the lessons and the web app: top-k bar charts, image grids, pixel histograms.

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
from typing import Sequence, Union

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from labkit.predict import Prediction

Picture = Union[Image.Image, np.ndarray, str, os.PathLike]

# Confidence bands for the bar colours. The percentage is always printed too: colour is never the only cue.
CONFIDENT = 0.60
UNSURE = 0.30
CONFIDENT_COLOUR = "#2e7d32"  # green
UNSURE_COLOUR = "#f0a202"  # amber
UNLIKELY_COLOUR = "#9e9e9e"  # grey
LABEL_WIDTH = 24  # characters per line before a long class name wraps
CHANNEL_COLOURS = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
CHANNEL_LINE_STYLES = {"red": "-", "green": "--", "blue": ":"}  # so the histogram reads without colour too


def confidence_colour(probability: float) -> str:
    """Return the bar colour for a probability: green from 60 %, amber from 30 %, grey below.

    Example:
        >>> confidence_colour(0.92) == CONFIDENT_COLOUR
        True
    """
    if probability >= CONFIDENT:
        return CONFIDENT_COLOUR
    if probability >= UNSURE:
        return UNSURE_COLOUR
    return UNLIKELY_COLOUR


def format_percent(probability: float) -> str:
    """Format a probability as a whole percentage; tiny non-zero values read ``"<1%"`` rather than ``"0%"``.

    Example:
        >>> format_percent(0.9234), format_percent(0.004)
        ('92%', '<1%')
    """
    if 0 < probability < 0.005:
        return "<1%"
    return f"{probability:.0%}"


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def plot_top_k(prediction: Prediction, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Draw a prediction's top-k classes as horizontal bars, best on top, each labelled with its percentage.

    Bars are green (>= 60 %), amber (30-60 %) or grey (below 30 %); the x axis always spans 0-100 % so charts of
    different photos compare at a glance.

    Args:
        prediction: what :meth:`labkit.Classifier.classify` returned.
        ax: draw into these axes (e.g. one panel of a grid) instead of a new figure.
        title: text above the chart; none by default.

    Example:
        >>> figure = plot_top_k(Classifier().classify("data/samples/pizza.jpg"))  # doctest: +SKIP
        >>> figure_to_png(figure)[:4]  # doctest: +SKIP
        b'\\x89PNG'
    """
    scores = prediction.top
    figure, ax = _new_axes(ax, figsize=(6.0, 0.6 * len(scores) + 0.9))
    percents = [100 * score.probability for score in scores]
    rows = np.arange(len(scores))
    ax.barh(rows, percents, height=0.65, color=[confidence_colour(score.probability) for score in scores])
    ax.set_yticks(rows, [textwrap.fill(score.label, LABEL_WIDTH) for score in scores], fontsize=11)
    ax.invert_yaxis()  # best guess on top, the order people read in
    for row, percent, score in zip(rows, percents, scores):
        text = format_percent(score.probability)
        if percent > 85:  # no room to the right of a long bar: write inside its end, in white
            ax.text(percent - 1.5, row, text, va="center", ha="right", color="white", fontsize=11, fontweight="bold")
        else:
            ax.text(percent + 1.5, row, text, va="center", ha="left", color="black", fontsize=11)
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
        from labkit.images import load_image

        return load_image(picture)
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
    height, width = np.shape(shown_images[0])[:2]
    # Panels take the first image's proportions, so a grid of landscape photos has no tall empty gaps.
    panel_height = 3.0 * min(1.5, height / width) + (0.4 if titles is not None else 0.0)
    figure = Figure(figsize=(3.0 * columns, panel_height * rows), layout="constrained")
    for position, shown in enumerate(shown_images):
        ax = figure.add_subplot(rows, columns, position + 1)
        grey = np.ndim(shown) == 2
        ax.imshow(shown, cmap="gray" if grey else None, vmin=0 if grey else None,
                  vmax=(255 if np.asarray(shown).dtype == np.uint8 else 1) if grey else None)
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
    return show_images([pixels[..., channel] for channel in range(3)],
                       titles=[f"{name} channel" for name in CHANNEL_COLOURS], columns=3)


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
        raise ValueError(f"plot_pixel_histogram() wants an RGB image with 0..255 values; got an array of shape "
                         f"{pixels.shape} and type {pixels.dtype}. Pass the PIL image from labkit.load_image.")
    figure, ax = _new_axes(ax, figsize=(6.0, 3.2))
    edges = np.linspace(0, 256, bins + 1)
    for channel, name in enumerate(CHANNEL_COLOURS):
        counts, _ = np.histogram(pixels[..., channel], bins=edges)
        ax.stairs(counts, edges, color=CHANNEL_COLOURS[name], linestyle=CHANNEL_LINE_STYLES[name],
                  linewidth=1.8, label=name)
    ax.set_xlim(0, 255)
    ax.set_xlabel("pixel value (0 = dark, 255 = bright)")
    ax.set_ylabel("number of pixels")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure
