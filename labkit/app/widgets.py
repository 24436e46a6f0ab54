"""The app's browser widgets (anywidgets; their JavaScript and the page's CSS are in ``labkit/app/static/``).

- :class:`DropZone` takes photos dropped on the page, pasted, or snapped with the webcam;
- :class:`SampleGallery` offers the sample photos as buttons;
- :class:`WhereItLooked` is a card's "Show where it looked" button and its Grad-CAM overlay;
- :class:`Wayfinding` names the page's landmarks and brings each new result card into view.

Each sends what the user did to Python as a message (or a synced trait); :mod:`labkit.app.page` connects them to
the app's state.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import anywidget
import traitlets
from PIL import Image

from labkit.app.pictures import THUMBNAIL_PIXELS, preview_jpeg
from labkit.app.state import MAX_UPLOAD_BYTES
from labkit.errors import LabkitError
from labkit.images import data_url, load_image
from labkit.paths import SAMPLES_DIR
from labkit.samples import read_samples, sample_caption

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRADCAM_ERROR = (
    "Could not work out where the model looked for this photo. The details are in the server's log; "
    "the answer above still stands."
)
log = logging.getLogger(__name__)


def in_background(job: Callable[[], None]) -> None:
    """Run ``job`` in a daemon thread: how :class:`WhereItLooked` computes by default, so the page stays live."""
    threading.Thread(target=job, name="labkit-gradcam", daemon=True).start()


class DropZone(anywidget.AnyWidget):
    """Takes photos dropped on the page, pasted from the clipboard, or snapped with the webcam.

    Each photo reaches Python as one message, ``{"kind": "photo", "name": ...}`` with its bytes as a buffer;
    a file over ``max_bytes`` is not sent, only announced (``"kind": "too_large"``). Its CSS styles the whole page.
    """

    _esm = STATIC_DIR / "dropzone.js"
    _css = STATIC_DIR / "app.css"
    max_bytes = traitlets.Int(MAX_UPLOAD_BYTES).tag(sync=True)


class SampleGallery(anywidget.AnyWidget):
    """A row of sample photos as buttons; a click sends ``{"kind": "sample", "file": ...}`` to Python."""

    _esm = STATIC_DIR / "gallery.js"
    samples = traitlets.List(traitlets.Dict()).tag(sync=True)  # {"file", "label", "button", "thumbnail" (data URL)}


class Wayfinding(anywidget.AnyWidget):
    """Nothing to see: it gives the page's parts their landmarks (the app is ``main``; the model bar, the photo
    intake, the gallery and the results are named regions) and scrolls each new result card into view when it
    arrives out of sight (the answer to a photo clicked low in the gallery, or to an upload on a small screen)."""

    _esm = STATIC_DIR / "wayfinding.js"


def gallery_button_name(caption: str) -> str:
    """What a screen reader says for a gallery photo's button (its accessible name): no article, since the caption
    may be a class ("espresso", "airliner") or a description ("a page of text").

    Example:
        >>> gallery_button_name("espresso")
        'Classify the sample photo: espresso'
    """
    return f"Classify the sample photo: {caption}"


def sample_photos(folder: Path = SAMPLES_DIR) -> list[dict]:
    """List the gallery's samples (:func:`labkit.samples.read_samples`): file name, caption, the button's accessible
    name (:func:`gallery_button_name`) and a thumbnail data URL.

    Example:
        >>> sample_photos()[0]["label"]  # doctest: +SKIP
        'beagle'
    """
    return [
        {
            "file": row["file"],
            "label": sample_caption(row),
            "button": gallery_button_name(sample_caption(row)),
            "thumbnail": data_url(preview_jpeg(load_image(folder / row["file"]), THUMBNAIL_PIXELS), "image/jpeg"),
        }
        for row in read_samples(folder)
    ]


class WhereItLooked(anywidget.AnyWidget):
    """A result card's "Show where it looked" button and, below it, the Grad-CAM overlay.

    The first time it is opened (``expanded`` becomes true, from a click or from Python) it computes the overlay
    with ``run`` (a background thread by default): ``state`` goes ``"working"`` then ``"ready"`` (``overlay``
    holds the JPEG as a data URL) or ``"failed"`` (``message`` says so; opening it again retries). Later openings
    only show it again.

    The overlay is drawn on the card's preview JPEG, not on the uploaded photo: the model sees 224 x 224 pixels
    and the heatmap has 7 x 7 cells, so the full photo would change nothing visible, and the app keeps only the
    preview of each photo (see :mod:`labkit.app.pictures`).

    Args:
        photo_jpeg: the card's preview, as JPEG bytes.
        label: the class explained, for the alt text.
        explain: ``photo -> overlay image``; the app passes :func:`labkit.app.state.where_it_looked` for the
            result's model and class.
        run: runs the computation, given as a function of no arguments; default :func:`in_background`.
    """

    _esm = STATIC_DIR / "where_it_looked.js"
    expanded = traitlets.Bool(False).tag(sync=True)
    state = traitlets.Unicode("idle").tag(sync=True)  # "idle", "working", "ready" or "failed"
    overlay = traitlets.Unicode("").tag(sync=True)  # data URL of the overlay JPEG, once computed
    alt = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        photo_jpeg: bytes,
        label: str,
        explain: Callable[[Image.Image], Image.Image],
        run: Callable[[Callable[[], None]], None] = in_background,
    ) -> None:
        super().__init__(label=label, alt=gradcam_alt_text(label))
        self._photo_jpeg = photo_jpeg
        self._explain = explain
        self._run = run

    @traitlets.observe("expanded")
    def _on_expanded(self, change: dict) -> None:
        if change["new"] and self.state in ("idle", "failed"):
            self.state, self.message = "working", ""
            self._run(self.compute)

    def compute(self) -> None:
        """Compute the overlay now (in the caller's thread) and show it, or the reason there is none."""
        try:
            overlay = self._explain(Image.open(io.BytesIO(self._photo_jpeg)))
            self.overlay = data_url(preview_jpeg(overlay), "image/jpeg")
        except Exception as error:
            log.exception("Could not compute Grad-CAM for %r", self.label)
            self.message = str(error) if isinstance(error, LabkitError) else GRADCAM_ERROR
            self.state = "failed"
            return
        self.state = "ready"


def gradcam_alt_text(label: str) -> str:
    """Describe the Grad-CAM overlay for screen readers.

    Example:
        >>> gradcam_alt_text("zebra")
        "Heatmap of where the model looked for 'zebra': warm colours mark the regions that raised that class's score"
    """
    return (
        f"Heatmap of where the model looked for '{label}': warm colours mark the regions that raised that class's score"
    )
