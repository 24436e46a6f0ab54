"""The pictures the app sends to the browser: small JPEG previews and the bar chart as PNG (shown through
:func:`labkit.images.data_url`).

A card keeps only its preview's JPEG bytes (a few tens of kilobytes), never the decoded upload: keeping every
card's decoded photo would make a class's kernels grow with every upload (benchmarks/soak.py measures the growth).
"""

from __future__ import annotations

from PIL import Image

from labkit.images import small_jpeg
from labkit.predict import Prediction

PREVIEW_PIXELS = 360  # longest side of the photo shown in a result card (sent to the browser as a JPEG)
THUMBNAIL_PIXELS = 160  # longest side of a sample in the gallery
CHART_INCHES, CHART_DPI = (4.4, 2.0), 110  # the bar chart's size: its labels stay readable in a card's column


def preview_jpeg(image: Image.Image, size: int = PREVIEW_PIXELS) -> bytes:
    """Return a small JPEG of ``image`` (longest side ``size``) for showing in the page.

    Example:
        >>> preview_jpeg(Image.new("RGB", (4000, 3000)))[:2]
        b'\\xff\\xd8'
    """
    return small_jpeg(image, size)


def chart_png(prediction: Prediction) -> bytes:
    """Draw the card's bar chart of the top guesses (:func:`labkit.plots.plot_top_k`) as PNG bytes.

    matplotlib is imported on the first call, not with this module: the page appears sooner (Voilà runs the
    notebook's cell before it sends any HTML), and the app draws one chart while its model loads.

    Example:
        >>> chart_png(Classifier().classify("data/samples/954_banana.jpg"))[:4]  # doctest: +SKIP
        b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    from labkit.plots import figure_to_png, plot_top_k

    axes = Figure(CHART_INCHES, layout="constrained").add_subplot()
    return figure_to_png(plot_top_k(prediction, ax=axes), dpi=CHART_DPI)
