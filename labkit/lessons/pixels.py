"""Lesson 01's "Try it": pick a photo and a pixel, and read the numbers the model gets.

``try_pixels()`` shows, for the pixel at (row, column): its three numbers, a zoomed patch around it, and that
patch's red, green and blue channels with every value written in its square. The pixel is chosen with the Row and
Column sliders (arrow keys move one pixel), or by clicking the photo (:class:`PixelPicker`, the one place a lesson
needs custom front-end behaviour: anywidget).

Example:
    >>> widget = try_pixels()                                # doctest: +SKIP
    >>> widget.rows.value = 10                               # the "Row" slider, as a student would move it
    >>> widget.summary                                       # doctest: +SKIP
    'cab.jpg, pixel at row 10, column 192: red 201, green 204, blue 211.'
"""

from __future__ import annotations

from dataclasses import dataclass

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from labkit.images import data_url, small_jpeg
from labkit.lessons.tryit import PHOTO_JPEG_QUALITY, PhotoPicker, ResultArea, TryIt, figure_html, text_html
from labkit.plots import CHANNEL_COLOURS

PATCH = 5  # pixels per side of the zoomed patch, centred on the chosen pixel (small enough to print its numbers)
PICKER_PIXELS = 320  # longest side of the clickable photo

# A click on the photo sets (row, column) in the photo's own pixels, whatever size the photo is shown at.
PICKER_ESM = """
function render({ model, el }) {
  const image = document.createElement("img");
  image.className = "labkit-pick-pixel";
  image.style.cursor = "crosshair";
  image.style.maxWidth = "100%";
  function draw() {
    image.src = model.get("src");
    image.alt = model.get("alt");
  }
  image.addEventListener("click", (event) => {
    const box = image.getBoundingClientRect();
    const clamp = (value, size) => Math.min(size - 1, Math.max(0, Math.floor(value)));
    model.set("row", clamp((event.clientY - box.top) / box.height * model.get("height"), model.get("height")));
    model.set("column", clamp((event.clientX - box.left) / box.width * model.get("width"), model.get("width")));
    model.save_changes();
  });
  model.on("change:src", draw);
  draw();
  el.append(image);
  return () => model.off("change:src", draw);
}
export default { render };
"""


class PixelPicker(anywidget.AnyWidget):
    """The photo, small; a click on it chooses that pixel (``row``, ``column`` in the photo's own pixels)."""

    _esm = PICKER_ESM
    src = traitlets.Unicode("").tag(sync=True)  # a data: URL of the photo, at most PICKER_PIXELS on its longest side
    alt = traitlets.Unicode("").tag(sync=True)
    width = traitlets.Int(1).tag(sync=True)  # the photo's own size, to turn a click into a pixel
    height = traitlets.Int(1).tag(sync=True)
    row = traitlets.Int(0).tag(sync=True)
    column = traitlets.Int(0).tag(sync=True)

    def show(self, name: str, image: Image.Image) -> None:
        self.width, self.height = image.size
        self.alt = f"{name}: click a point of the photo to read that pixel's numbers"
        self.src = data_url(small_jpeg(image, PICKER_PIXELS, PHOTO_JPEG_QUALITY), "image/jpeg")


@dataclass
class PixelChoice:
    """The state: which photo, and which pixel of it."""

    name: str
    pixels: np.ndarray  # (height, width, 3) uint8
    row: int
    column: int

    def clamp(self) -> PixelChoice:
        height, width = self.pixels.shape[:2]
        self.row, self.column = min(max(self.row, 0), height - 1), min(max(self.column, 0), width - 1)
        return self

    def patch(self, size: int = PATCH) -> tuple[np.ndarray, int, int]:
        """The ``size`` x ``size`` patch around the pixel (moved inside the photo at its edges), and its top-left."""
        height, width = self.pixels.shape[:2]
        top = min(max(self.row - size // 2, 0), max(height - size, 0))
        left = min(max(self.column - size // 2, 0), max(width - size, 0))
        return self.pixels[top : top + size, left : left + size], top, left

    def describe(self) -> str:
        red, green, blue = (int(value) for value in self.pixels[self.row, self.column])
        return f"{self.name}, pixel at row {self.row}, column {self.column}: red {red}, green {green}, blue {blue}."


def pixel_figure(choice: PixelChoice) -> Figure:
    """The photo with the patch marked, the patch blown up, and its three channels with their numbers."""
    patch, top, left = choice.patch()
    figure = Figure(figsize=(12, 2.6), layout="constrained")
    axes = figure.subplots(1, 5, width_ratios=[1.8, 1, 1, 1, 1])
    axes[0].imshow(choice.pixels)
    axes[0].add_patch(
        Rectangle((left - 0.5, top - 0.5), patch.shape[1], patch.shape[0], fill=False, edgecolor="yellow", linewidth=2)
    )
    axes[0].plot(choice.column, choice.row, marker="+", color="yellow", markersize=14, markeredgewidth=2)
    axes[0].set_title("the photo (patch in yellow)", fontsize=10)
    axes[1].imshow(patch, interpolation="nearest")
    axes[1].set_title(f"{patch.shape[0]} x {patch.shape[1]} patch, zoomed", fontsize=10)
    mark_row, mark_column = choice.row - top, choice.column - left
    axes[1].add_patch(Rectangle((mark_column - 0.5, mark_row - 0.5), 1, 1, fill=False, edgecolor="yellow", linewidth=2))
    for channel, (name, colour) in enumerate(CHANNEL_COLOURS.items()):
        ax = axes[2 + channel]
        values = patch[..., channel]
        ax.imshow(values, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for (row, column), value in np.ndenumerate(values):
            ax.text(
                column,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="black" if value > 127 else "white",
                fontweight="bold" if (row, column) == (mark_row, mark_column) else "normal",
            )
        ax.set_title(f"{name} channel", fontsize=10, color=colour)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return figure


def pixel_alt_text(choice: PixelChoice) -> str:
    return (
        f"Left: {choice.name} with a yellow square around row {choice.row}, column {choice.column}. Then that "
        f"patch of {PATCH} x {PATCH} pixels blown up, and its red, green and blue channels as grey squares "
        f"with their values written in. {choice.describe()}"
    )


class TryPixels(TryIt):
    """Lesson 01's widget (build it with :func:`try_pixels`): a photo, a pixel of it, and that pixel's numbers.

    Controls: ``samples`` and ``upload`` (the photo), ``rows`` and ``columns`` (the pixel's sliders), ``photo`` (the
    clickable photo). ``choice`` is the state they change; ``result`` shows it.
    """

    HINT = "<p style='margin: 2px 0'>Click the photo, or move the sliders (arrow keys: one pixel).</p>"

    def __init__(self, photo: str | None = None, row: int | None = None, column: int | None = None) -> None:
        result = ResultArea()
        self.rows = widgets.IntSlider(description="Row", min=0, continuous_update=False)
        self.columns = widgets.IntSlider(description="Column", min=0, continuous_update=False)
        self.photo = PixelPicker()
        self.picker = PhotoPicker(self.new_photo, result.guard, default=photo)
        self.samples, self.upload = self.picker.dropdown, self.picker.upload
        self._moving_both = False  # a click moves both sliders: draw once, after both have moved
        pixels = np.asarray(self.picker.photo)
        self.choice = PixelChoice(
            self.picker.name,
            pixels,
            pixels.shape[0] // 2 if row is None else row,
            pixels.shape[1] // 2 if column is None else column,
        ).clamp()
        super().__init__(
            [
                self.picker,
                widgets.HBox([self.photo, widgets.VBox([widgets.HTML(self.HINT), self.rows, self.columns])]),
                result,
            ],
            [result],
            self.choice.describe,
            css_class="labkit-try-pixels",
        )
        self.photo.show(self.picker.name, self.picker.photo)
        self.rows.max, self.columns.max = pixels.shape[0] - 1, pixels.shape[1] - 1
        self.rows.value, self.columns.value = self.choice.row, self.choice.column
        self.show()
        self.rows.observe(result.guard(self.show), "value")
        self.columns.observe(result.guard(self.show), "value")
        self.photo.observe(result.guard(self.clicked), ["row", "column"])

    def show(self) -> None:
        """Draw the chosen pixel: its numbers, the patch around it and the patch's channels."""
        if self._moving_both:
            return
        choice = self.choice
        choice.row, choice.column = self.rows.value, self.columns.value
        self.result.show(
            text_html(choice.describe()) + figure_html(pixel_figure(choice.clamp()), pixel_alt_text(choice))
        )

    def clicked(self) -> None:
        """The photo was clicked: move both sliders there, then draw once."""
        self._moving_both = True
        try:
            self.rows.value, self.columns.value = self.photo.row, self.photo.column
        finally:
            self._moving_both = False
        self.show()

    def new_photo(self, name: str, image: Image.Image) -> None:
        """A new photo (sample or upload): its centre pixel."""
        self.choice.name, self.choice.pixels = name, np.asarray(image)
        self.photo.show(name, image)
        height, width = self.choice.pixels.shape[:2]
        with self.rows.hold_trait_notifications(), self.columns.hold_trait_notifications():
            self.rows.max, self.columns.max = height - 1, width - 1
            self.rows.value, self.columns.value = height // 2, width // 2
        self.show()


def try_pixels(photo: str | None = None, row: int | None = None, column: int | None = None) -> TryPixels:
    """Build lesson 01's widget: a photo (sample or upload), a pixel (Row and Column sliders) and its numbers.

    Args:
        photo: the sample to start with (its class or file name, e.g. ``"cab"``); default the first sample.
        row, column: the pixel to start with; default the centre of the photo.

    Example:
        >>> try_pixels("tabby").summary  # doctest: +SKIP
        'tabby.jpg, pixel at row 160, column 240: red 122, green 104, blue 93.'
    """
    return TryPixels(photo, row, column)
