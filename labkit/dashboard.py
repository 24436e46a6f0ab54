"""The web app: give it a photo (upload, drop, paste, webcam or a sample) and see what MobileNetV2 thinks it shows.

``build_dashboard()`` returns the whole page as one widget; ``notebooks/dashboard.ipynb`` displays it and Voilà
serves that notebook (``make app``; the server's limits are in ``voila.json``). Everything the page does goes
through one :class:`DashboardApp`, which the same code path also lets you drive from Python, without a browser::

    >>> app = DashboardApp()                                            # doctest: +SKIP
    >>> result = app.classify_file("data/samples/954_banana.jpg")       # doctest: +SKIP
    >>> result.prediction.label, len(app.results)                       # doctest: +SKIP
    ('banana', 1)

How a photo travels: the browser sends its bytes over the kernel's websocket (FileUpload's value, or one custom
message per photo from the drop zone), :meth:`DashboardApp.classify_bytes` decodes and classifies it in memory
(nothing is written to disk), and a :func:`result_card` goes on top of the results.

The server's settings live in ``voila.json`` at the repository root; Voilà reads it from its current folder
(``Voila.config_file_paths`` starts with ``os.getcwd()``), so run it from there, as ``make app`` does:

- ``websocket_max_message_size`` 100 MiB: FileUpload sends a whole selection of photos as one websocket message,
  and Tornado's default (10 MiB) would silently drop a single large phone photo. Each photo is still limited to
  labkit's 25 MB (:data:`MAX_UPLOAD_BYTES`): bigger ones get a card saying so.
- ``disable_check_xsrf``: Voilà's page has no ``_xsrf`` cookie, so without this the server refuses the request a
  closing tab sends to shut its kernel down (403), and every closed tab leaves a kernel running until culled.
- ``cull_idle_timeout`` 600 s, ``cull_interval`` 60 s: kernels that lost their tab (a crashed browser, a dropped
  network) are shut down after ten idle minutes; ``cull_connected`` false spares an open tab that is merely idle.
- ``strip_sources``: the page shows the app, never the notebook's code.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import logging
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, Sequence

import anywidget
import ipywidgets as widgets
import traitlets
from PIL import Image

from labkit.images import DEFAULT_MAX_BYTES, FileTooLargeError, ImageError, load_image
from labkit.model import Classifier, shared_classifier
from labkit.paths import SAMPLES_DIR
from labkit.preprocess import IMAGE_SIZE
from labkit.predict import Prediction
from labkit.weights import readable_label

# Configurable parameters.
MAX_UPLOAD_BYTES = DEFAULT_MAX_BYTES  # per photo; voila.json lets a websocket message this big through
ACCEPTED_FILES = "image/*"  # what the file chooser offers; anything else still gets a clear message
PREVIEW_PIXELS = 360  # longest side of the photo shown in a result card (sent to the browser as a JPEG)
THUMBNAIL_PIXELS = 160  # longest side of a sample in the gallery
CHART_INCHES, CHART_DPI = (4.4, 2.0), 110  # the bar chart's size: its labels stay readable in a card's column
MODEL_DESCRIPTION = "MobileNetV2 (ImageNet, 1000 classes)"
# Measured by benchmarks/resize_policy.py on the 60 labelled photos in ../shared/samples, with the rebuilt weights
# (../shared/models/README.md): they are not Google's original float weights, so these are the numbers to quote.
ACCURACY_NOTE = "90% top-1 and 98% top-3 on our 60 labelled test photos, measured with the rebuilt weights"
GENERIC_ERROR = ("Something went wrong while classifying this file. The details are in the server's log; "
                 "try another photo, or the same one again.")

WIDGETS_DIR = Path(__file__).resolve().parent / "widgets"
ARRIVING = "labkit-arriving"  # CSS class of the newest card, which fades in
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Result:
    """One photo the app was given: its prediction, or the message saying why there is none, and its card."""

    name: str
    prediction: Prediction | None
    error: str | None
    card: widgets.Widget = dataclasses.field(repr=False, compare=False)


class DashboardApp(traitlets.HasTraits):
    """The app's state: the classifier (loaded once, in the background) and the results shown, newest first.

    Args:
        load_classifier: builds the classifier; the default, :func:`labkit.model.shared_classifier`, shares one per
            kernel (process).
        start: begin loading the model now, in a background thread, so it is ready before the first photo.

    Example:
        >>> app = DashboardApp()                                                         # doctest: +SKIP
        >>> app.classify_bytes("cat.jpg", open("cat.jpg", "rb").read()).prediction.label  # doctest: +SKIP
        'tabby'
    """

    status = traitlets.Unicode("loading")  # "loading", "ready" or "failed"
    status_message = traitlets.Unicode("Loading the model…")
    results = traitlets.Tuple()  # of Result, newest first
    busy = traitlets.Int(0)  # photos being classified right now

    def __init__(self, load_classifier: Callable[[], Classifier] = shared_classifier, *, start: bool = True) -> None:
        super().__init__()
        self._load_classifier = load_classifier
        self._classifier: Future[Classifier] = Future()
        self._loader: threading.Thread | None = None
        if start:
            self.start_loading()

    def start_loading(self) -> None:
        """Load the classifier in a background thread (once), so the page stays responsive meanwhile."""
        if self._loader is None:
            self._loader = threading.Thread(target=self._load, name="labkit-model-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            classifier = self._load_classifier()
            # matplotlib is imported here rather than with this module, and one chart is drawn: the page appears
            # ~1 s sooner (the notebook cell runs before Voilà sends any HTML), and the first photo's card is fast.
            chart_png(classifier.classify(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")))
        except Exception as error:  # the page must say so rather than wait forever
            log.exception("Could not load the model")
            # Status first: a photo waiting on the future reads it as soon as the future is settled.
            self.status_message = f"The model could not be loaded: {error}"
            self.status = "failed"
            self._classifier.set_exception(error)
            return
        log.info("Model ready (%s engine) in %.1f s", classifier.engine, time.perf_counter() - started)
        self.status_message = f"Ready: {MODEL_DESCRIPTION} — drop a photo"
        self.status = "ready"
        self._classifier.set_result(classifier)

    def classifier(self, timeout: float | None = None) -> Classifier:
        """Return the classifier, waiting for it to finish loading (a photo that arrives early waits, not fails)."""
        self.start_loading()
        return self._classifier.result(timeout)

    def classify_bytes(self, name: str, data: bytes | memoryview) -> Result:
        """Classify one photo's bytes (as uploaded) and put its card on top of the results.

        An :class:`~labkit.images.ImageError` becomes a card with its message; anything unexpected becomes a card
        with a short generic message and is logged. Either way earlier results stay and the app keeps working.

        Example:
            >>> app.classify_bytes("banana.jpg", Path("data/samples/954_banana.jpg").read_bytes())  # doctest: +SKIP
        """
        self.busy += 1
        try:
            started = time.perf_counter()
            image = load_image(data, name=name, max_bytes=MAX_UPLOAD_BYTES)
            decode_ms = (time.perf_counter() - started) * 1000
            prediction = self.classifier().classify(image)
            # The time shown counts decoding too (the wait the user sees), but not waiting for the model to load.
            prediction = dataclasses.replace(prediction, elapsed_ms=decode_ms + prediction.elapsed_ms)
            result = Result(name, prediction, None, result_card(name, image, prediction))
        except ImageError as error:
            result = Result(name, None, str(error), error_card(name, str(error)))
        except Exception:
            log.exception("Could not classify %r", name)
            message = self.status_message if self.status == "failed" else GENERIC_ERROR
            result = Result(name, None, message, error_card(name, message))
        finally:
            self.busy -= 1
        return self._show(result)

    def classify_file(self, path: str | Path, name: str | None = None) -> Result:
        """Classify a photo on disk, e.g. a sample, the same way as an upload (see :meth:`classify_bytes`)."""
        path = Path(path)
        return self.classify_bytes(name or path.name, path.read_bytes())

    def reject(self, name: str, error: ImageError) -> Result:
        """Show a card for a file the browser did not send (too large to travel), with ``error``'s message."""
        return self._show(Result(name, None, str(error), error_card(name, str(error))))

    def _show(self, result: Result) -> Result:
        # Putting a card on top makes the page redraw the cards below it: only the newest one should fade in.
        for earlier in self.results[:1]:
            earlier.card.remove_class(ARRIVING)
        self.results = (result, *self.results)
        return result

    def clear(self) -> None:
        """Remove every result from the page, and free their widgets (a lesson's worth of cards adds up)."""
        cleared, self.results = self.results, ()
        for result in cleared:
            _close_widgets(result.card)


def _close_widgets(widget: widgets.Widget) -> None:
    """Close ``widget`` and everything inside it, so neither the kernel nor the page keeps them."""
    for child in getattr(widget, "children", ()):
        _close_widgets(child)
    widget.close()


# ---------------------------------------------------------------------------------------------- result cards


def result_card(name: str, image: Image.Image, prediction: Prediction) -> widgets.VBox:
    """Build the card for one classified photo: preview, top-3 with percentages, bar chart, time, doubts.

    The card's last child, ``card.children[-1]``, is an empty row of actions (class ``labkit-card-actions``):
    the place for per-photo controls such as a "show where it looked" (Grad-CAM) toggle.

    Example:
        >>> image = load_image("data/samples/954_banana.jpg")                        # doctest: +SKIP
        >>> result_card("banana.jpg", image, Classifier().classify(image))           # doctest: +SKIP
    """
    from labkit.plots import format_percent, top_k_alt_text  # imported here, not at the top: see _load

    best = prediction.top[0]
    guesses = "".join(
        f'<li><span class="labkit-guess-label">{html.escape(score.label)}</span>'
        f'<span class="labkit-guess-percent">{format_percent(score.probability)}</span></li>'
        for score in prediction.top)
    chart = chart_png(prediction)
    body = f"""
<article class="labkit-card-body" aria-label="Result for {html.escape(name, quote=True)}">
  <img class="labkit-preview" src="{_data_url(preview_jpeg(image), 'image/jpeg')}"
       alt="{html.escape(f'Your photo, {name}', quote=True)}">
  <div class="labkit-card-text">
    <h3 class="labkit-card-name">{html.escape(name)}</h3>
    <p class="labkit-best-guess">
      <span class="labkit-best-label">{html.escape(best.label)}</span>
      <span class="labkit-best-percent labkit-{confidence_band(best.probability)}"
        >{format_percent(best.probability)}</span>
    </p>
    <ol class="labkit-guesses" aria-label="Top {len(prediction.top)} guesses">{guesses}</ol>
    {_caveats_html(prediction)}
    <p class="labkit-timing">Answered in {prediction.elapsed_ms:.0f} ms</p>
  </div>
  <img class="labkit-chart" src="{_data_url(chart, 'image/png')}"
       alt="{html.escape(top_k_alt_text(prediction), quote=True)}">
</article>"""
    actions = widgets.HBox([])  # the "show where it looked" toggle goes here (labkit.explain)
    actions.add_class("labkit-card-actions")
    return _card(widgets.HTML(body), actions, kind="result")


def chart_png(prediction: Prediction) -> bytes:
    """Draw the card's bar chart of the top guesses (labkit.plots.plot_top_k) as PNG bytes.

    Example:
        >>> chart_png(Classifier().classify("data/samples/954_banana.jpg"))[:4]  # doctest: +SKIP
        b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    from labkit.plots import figure_to_png, plot_top_k

    axes = Figure(CHART_INCHES, layout="constrained").add_subplot()
    return figure_to_png(plot_top_k(prediction, ax=axes), dpi=CHART_DPI)


def error_card(name: str, message: str) -> widgets.VBox:
    """Build the card for a file that could not be classified: its name and what to do about it.

    Example:
        >>> error_card("notes.pdf", "'notes.pdf' is not an image: it looks like a PDF document. ...")  # doctest: +SKIP
    """
    body = f"""
<article class="labkit-card-body labkit-problem-body" role="alert"
         aria-label="Problem with {html.escape(name, quote=True)}">
  <div class="labkit-problem-icon" aria-hidden="true">!</div>
  <div class="labkit-card-text">
    <h3 class="labkit-card-name">{html.escape(name)}</h3>
    <p class="labkit-problem"><strong>Could not classify this file.</strong> {html.escape(message)}</p>
  </div>
</article>"""
    return _card(widgets.HTML(body), kind="problem")


def confidence_band(probability: float) -> str:
    """Name the confidence band of a probability, as the bar chart colours it: "high", "medium" or "low".

    Example:
        >>> confidence_band(0.92), confidence_band(0.45), confidence_band(0.1)
        ('high', 'medium', 'low')
    """
    from labkit.plots import CONFIDENT, UNSURE

    return "high" if probability >= CONFIDENT else "medium" if probability >= UNSURE else "low"


def _card(*children: widgets.Widget, kind: str) -> widgets.VBox:
    card = widgets.VBox(list(children))
    for name in ("labkit-card", f"labkit-card-{kind}", ARRIVING):
        card.add_class(name)
    return card


def _caveats_html(prediction: Prediction) -> str:
    """The card's "not sure" note (words and an icon: colour is never the only cue) and labkit's notes, if any."""
    from labkit.plots import format_percent

    reasons = []
    if confidence_band(prediction.probability) != "high":  # the bar is amber or grey, not green
        reasons.append(f"the model's best guess gets only {format_percent(prediction.probability)}")
    if prediction.not_sure:
        reasons.append("the photo may show something outside the 1000 things the model knows")
    notes = "".join(f'<p class="labkit-note">{html.escape(note[:1].upper() + note[1:])}.</p>'
                    for note in prediction.notes)
    if not reasons:
        return notes
    return (f'<p class="labkit-doubt"><span aria-hidden="true">⚠</span> <strong>Not sure:</strong> '
            f'{html.escape(", and ".join(reasons))}. Treat the answer as a guess.</p>' + notes)


def preview_jpeg(image: Image.Image, size: int = PREVIEW_PIXELS) -> bytes:
    """Return a small JPEG of ``image`` (longest side ``size``) for showing in the page.

    Example:
        >>> preview_jpeg(Image.new("RGB", (4000, 3000)))[:2]
        b'\\xff\\xd8'
    """
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ------------------------------------------------------------------------------------------- browser widgets


class DropZone(anywidget.AnyWidget):
    """Takes photos dropped on the page, pasted from the clipboard, or snapped with the webcam.

    Each photo reaches Python as one message, ``{"kind": "photo", "name": ...}`` with its bytes as a buffer;
    a file over ``max_bytes`` is not sent, only announced (``"kind": "too_large"``). Its CSS styles the whole page.
    """

    _esm = WIDGETS_DIR / "dropzone.js"
    _css = WIDGETS_DIR / "dashboard.css"
    max_bytes = traitlets.Int(MAX_UPLOAD_BYTES).tag(sync=True)


class SampleGallery(anywidget.AnyWidget):
    """A row of sample photos as buttons; a click sends ``{"kind": "sample", "file": ...}`` to Python."""

    _esm = WIDGETS_DIR / "gallery.js"
    samples = traitlets.List(traitlets.Dict()).tag(sync=True)  # {"file", "label", "thumbnail" (data URL)}


def sample_photos(folder: Path = SAMPLES_DIR) -> list[dict]:
    """List the gallery's samples from ``folder/labels.csv``: file name, readable label and a thumbnail data URL.

    Example:
        >>> sample_photos()[0]["label"]  # doctest: +SKIP
        'golden retriever'
    """
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{"file": row["file"], "label": readable_label(row["label"]),
             "thumbnail": _data_url(preview_jpeg(load_image(folder / row["file"]), THUMBNAIL_PIXELS), "image/jpeg")}
            for row in rows]


def too_large_error(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> FileTooLargeError:
    """The error for a file the browser kept back because it is over the upload limit.

    Example:
        >>> str(too_large_error("scan.tiff", 40_000_000))[:33]
        "'scan.tiff' is 40 MB, over the 25"
    """
    return FileTooLargeError(
        f"'{name}' is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB upload limit. Shrink it or save it as a "
        "smaller JPEG (a few megabytes is plenty: the model sees 224 x 224 pixels), then try again.")


# ---------------------------------------------------------------------------------------------------- layout


def build_dashboard(app: DashboardApp | None = None, samples_folder: Path = SAMPLES_DIR) -> widgets.VBox:
    """Build the app's page: header, status line, the ways in (upload, drop, paste, webcam, samples), results.

    Args:
        app: the state to show and drive; a new :class:`DashboardApp` (loading the shared model) if omitted.
        samples_folder: where the gallery's photos and their ``labels.csv`` are.

    Example:
        >>> app = DashboardApp()
        >>> build_dashboard(app)  # the last line of a notebook cell displays it  # doctest: +SKIP
    """
    app = app if app is not None else DashboardApp()
    _log_to_server_terminal()

    header = widgets.HTML(_header_html())
    status = widgets.HTML()
    status.add_class("labkit-status-line")

    upload = widgets.FileUpload(accept=ACCEPTED_FILES, multiple=True, description="Choose photos…",
                                tooltip="Choose one or more photos to classify")
    upload.add_class("labkit-upload")
    drop_zone = DropZone()
    intake = widgets.VBox([widgets.HTML(_intake_html()), widgets.HBox([upload, drop_zone]).add_class(
        "labkit-intake-actions")])
    intake.add_class("labkit-intake")

    gallery = SampleGallery(samples=sample_photos(samples_folder))
    sample_labels = {sample["file"]: sample["label"] for sample in gallery.samples}

    clear = widgets.Button(description="Clear results", tooltip="Remove every result from this page")
    clear.add_class("labkit-clear")
    results_heading = widgets.HTML()
    results_box = widgets.VBox()
    results_box.add_class("labkit-results")
    no_results = widgets.HTML(_EMPTY_RESULTS)
    results = widgets.VBox([widgets.HBox([results_heading, clear]).add_class("labkit-results-header"), results_box])
    results.add_class("labkit-results-section")

    def on_upload(change: dict) -> None:
        files = change["new"]
        if not files:  # our own reset below
            return
        # Copy the bytes out, then drop them from the widget: nothing stays in the kernel's widget state.
        photos = [(file["name"], bytes(file["content"])) for file in files]
        upload.value = ()
        for name, data in photos:
            app.classify_bytes(name, data)

    def on_message(_widget, content: dict, buffers: Sequence[memoryview]) -> None:
        kind, name = content.get("kind"), str(content.get("name") or "photo")
        if kind == "photo" and buffers:
            app.classify_bytes(name, buffers[0])
        elif kind == "too_large":
            app.reject(name, too_large_error(name, int(content.get("size", 0)), drop_zone.max_bytes))

    def on_sample(_widget, content: dict, _buffers) -> None:
        file = str(content.get("file"))
        if content.get("kind") == "sample" and file in sample_labels:  # never a path chosen by the browser
            app.classify_file(samples_folder / file, name=f"Sample photo: {sample_labels[file]}")

    def show_status(_change=None) -> None:
        status.value = _status_html(app)

    def show_results(_change=None) -> None:
        results_box.children = [result.card for result in app.results] or [no_results]
        count = len(app.results)
        results_heading.value = (f'<h2 class="labkit-results-title">Results <span class="labkit-count">{count}'
                                 f'</span></h2>' if count else '<h2 class="labkit-results-title">Results</h2>')
        clear.disabled = count == 0

    upload.observe(on_upload, names="value")
    drop_zone.on_msg(on_message)
    gallery.on_msg(on_sample)
    clear.on_click(lambda _button: app.clear())
    app.observe(show_status, names=["status", "status_message", "busy"])
    app.observe(show_results, names="results")
    show_status()
    show_results()

    page = widgets.VBox([header, status, intake, gallery, results])
    page.add_class("labkit-app")
    page.app = app  # so a notebook holding only the page can still drive it headless
    return page


def _status_html(app: DashboardApp) -> str:
    if app.status == "failed":
        return (f'<p class="labkit-status" data-state="failed" role="alert"><span aria-hidden="true">✖</span> '
                f'{html.escape(app.status_message)}</p>')
    if app.status == "loading":
        waiting = (f" {app.busy} photo{'s' if app.busy != 1 else ''} waiting for it." if app.busy else
                   " You can choose a photo already: it will wait for the model.")
        return ('<p class="labkit-status" data-state="loading" role="status"><span class="labkit-spinner" '
                f'aria-hidden="true"></span> Loading the model… the first start takes a few seconds.{waiting}</p>')
    working = f" · classifying {app.busy} photo{'s' if app.busy != 1 else ''}…" if app.busy else ""
    return (f'<p class="labkit-status" data-state="ready" role="status"><span aria-hidden="true">●</span> '
            f'{html.escape(app.status_message)}{working}</p>')


def _header_html() -> str:
    return f"""
<header class="labkit-header">
  <p class="labkit-brand">labkit</p>
  <h1 class="labkit-title">What's in this photo?</h1>
  <p class="labkit-lede">Give the model a photo and it answers with its three best guesses among 1000 kinds of
    things (animals, vehicles, food, objects), and how sure it is.</p>
  <p class="labkit-model">Model: {MODEL_DESCRIPTION}. Accuracy: {ACCURACY_NOTE}.
    Photos are classified in memory and never saved.</p>
</header>"""


def _intake_html() -> str:
    return f"""
<div class="labkit-intake-prompt">
  <div class="labkit-intake-icon" aria-hidden="true"></div>
  <p class="labkit-intake-title">Drop photos here</p>
  <p class="labkit-intake-hint">or paste one with Ctrl+V (⌘V), choose files, or take a photo.
    JPEG, PNG, WebP, GIF, BMP or TIFF, up to {MAX_UPLOAD_BYTES / 1e6:.0f} MB each.</p>
</div>"""


_EMPTY_RESULTS = ('<p class="labkit-empty">No photos yet. Results appear here, newest first, and stay until you '
                  'clear them.</p>')


def _log_to_server_terminal() -> None:
    """Send labkit's log to the kernel's own stderr (the Voilà server's terminal), not into the page."""
    logger = logging.getLogger("labkit")
    if not any(getattr(handler, "_labkit_dashboard", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.__stderr__)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._labkit_dashboard = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
