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
(nothing is written to disk), and a :func:`result_card` goes on top of the results. The card's "Show where it
looked" button (:class:`WhereItLooked`) asks the kernel for a Grad-CAM overlay (:mod:`labkit.explain`) when first
pressed.

Which model answers: the "Model" picker lists MobileNetV2 (ImageNet) and every model exported with
:func:`labkit.export.export_model` into the models folder: ``exports/`` at the repository root, or the folder named
by ``$LABKIT_MODELS_DIR``. ``$LABKIT_MODEL`` (``imagenet``, an export's folder name, or a path to an export folder)
or ``DashboardApp(model=...)`` chooses the model the page starts with, so a teacher can serve a class its own
model: ``LABKIT_MODEL=exports/trashnet make app``. Each model loads once per kernel, on first use.

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

**Important note on Grad-CAM's cost.** The app's model runs on LiteRT, without TensorFlow: a kernel holds ~95 MB.
Grad-CAM needs gradients, so the first "Show where it looked" imports TensorFlow and builds the Keras model in that
kernel: ~5 s on an idle machine (15 s on a busy one) and ~750 MB more memory. So it happens only when a user asks,
unless ``$LABKIT_WARM_UP_GRADCAM=1`` (or ``DashboardApp(warm_up_gradcam=True)``) prepares it in the background
once the model is ready: right for one teacher's demo, too heavy for a class with a kernel per student.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import anywidget
import ipywidgets as widgets
import traitlets
from PIL import Image

from labkit.calibration import shipped_calibration
from labkit.export import (
    DEFAULT_EXPORTS_DIR,
    LITERT_FILE,
    ExportError,
    describe_export,
    find_exported_models,
    load_exported,
    read_metadata,
)
from labkit.images import DEFAULT_MAX_BYTES, FileTooLargeError, ImageError, load_image
from labkit.model import Classifier, shared_classifier
from labkit.ood import NOT_SURE_MESSAGE
from labkit.paths import REPO_ROOT, SAMPLES_DIR
from labkit.predict import Prediction, confidence_band, doubt
from labkit.preprocess import IMAGE_SIZE
from labkit.samples import credits_html, read_samples, sample_caption

# Configurable parameters.
MAX_UPLOAD_BYTES = DEFAULT_MAX_BYTES  # per photo; voila.json lets a websocket message this big through
ACCEPTED_FILES = "image/*"  # what the file chooser offers; anything else still gets a clear message
PREVIEW_PIXELS = 360  # longest side of the photo shown in a result card (sent to the browser as a JPEG)
THUMBNAIL_PIXELS = 160  # longest side of a sample in the gallery
CHART_INCHES, CHART_DPI = (4.4, 2.0), 110  # the bar chart's size: its labels stay readable in a card's column
IMAGENET = "imagenet"  # the model picker's key (and $LABKIT_MODEL's value) for the built-in model
IMAGENET_NAME, IMAGENET_CLASSES = "MobileNetV2", "ImageNet, 1000 classes"
MODEL_DESCRIPTION = f"{IMAGENET_NAME} ({IMAGENET_CLASSES})"
# Measured by benchmarks/resize_policy.py on the 60 labelled photos in ../shared/samples, with the rebuilt weights
# (../shared/models/README.md): they are not Google's original float weights, so these are the numbers to quote.
ACCURACY_NOTE = "90% top-1 and 98% top-3 on our 60 labelled test photos, measured with the rebuilt weights"
MODELS_DIR_ENV, MODEL_ENV = "LABKIT_MODELS_DIR", "LABKIT_MODEL"
WARM_UP_GRADCAM_ENV = "LABKIT_WARM_UP_GRADCAM"
GENERIC_ERROR = ("Something went wrong while classifying this file. The details are in the server's log; "
                 "try another photo, or the same one again.")
GRADCAM_ERROR = ("Could not work out where the model looked for this photo. The details are in the server's log; "
                 "the answer above still stands.")

WIDGETS_DIR = Path(__file__).resolve().parent / "widgets"
ARRIVING = "labkit-arriving"  # CSS class of the newest card, which fades in
log = logging.getLogger(__name__)
# Grad-CAM's first call builds the classifier's Keras model and traces a tf.function: two threads doing that at
# once would build both twice. One at a time per kernel; later calls take ~30 ms each, so nobody waits long.
_GRADCAM_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelOption:
    """One model the app can answer with: its picker entry, how to load it, and what it knows.

    Args:
        key: what the picker's value and ``$LABKIT_MODEL`` call it: ``"imagenet"`` or an export folder's path.
        name: short, on the status line and on each card ("MobileNetV2", "trashnet-mini").
        classes: what it tells apart, in a few words ("ImageNet, 1000 classes", "glass, metal").
        label: the picker's line.
        load: returns the classifier (cached per kernel, so switching back is instant).
        custom: fine-tuned on someone's own classes: its "not sure" note names those, not ImageNet's 1000 things.
        note: one sentence under the picker (what it knows, how accurate it was).
    """

    key: str
    name: str
    classes: str
    label: str
    load: Callable[[], Classifier] = dataclasses.field(repr=False, compare=False)
    custom: bool = False
    note: str = ""

    @property
    def title(self) -> str:
        """``"MobileNetV2 (ImageNet, 1000 classes)"``: the status line's name for it."""
        return f"{self.name} ({self.classes})"


def imagenet_model(load: Callable[[], Classifier] = shared_classifier) -> ModelOption:
    """The built-in model, MobileNetV2 with ImageNet's 1000 classes (loaded by ``load``, the kernel's shared one)."""
    return ModelOption(IMAGENET, IMAGENET_NAME, IMAGENET_CLASSES, MODEL_DESCRIPTION, load,
                       note=f"Knows 1000 kinds of things: animals, vehicles, food, objects. {ACCURACY_NOTE}. "
                            f"{shipped_calibration().summary()}".strip())


@functools.lru_cache(maxsize=8)
def shared_exported_classifier(folder: str) -> Classifier:
    """Return this kernel's classifier for an export folder, loaded on first call (LiteRT when the export has it).

    Example:
        >>> shared_exported_classifier("exports/trashnet").class_names  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    # LiteRT keeps TensorFlow out of the kernel (~95 MB instead of ~750 MB); an export without one runs on Keras.
    engine = "litert" if (Path(folder) / LITERT_FILE).is_file() else "keras"
    return load_exported(folder, engine=engine)


def exported_model(folder: str | os.PathLike) -> ModelOption:
    """The picker's entry for a model exported by :func:`labkit.export.export_model` into ``folder``.

    A folder that is not a usable export still gets an entry: choosing it says what is wrong (the
    :class:`~labkit.export.ExportError`'s message) instead of breaking the page.

    Example:
        >>> exported_model("exports/trashnet").label  # doctest: +SKIP
        'trashnet: glass, metal, paper, plastic (88% on 48 photos)'
    """
    folder = Path(folder).resolve()
    try:
        metadata = read_metadata(folder)
        label = describe_export(folder)
    except ExportError as error:
        problem = error

        def fail() -> Classifier:
            raise problem

        return ModelOption(str(folder), folder.name, "cannot be used", f"{folder.name} (cannot be used)", fail,
                           custom=True)
    names = list(metadata.get("class_names", []))
    note = f"Fine-tuned to tell apart {len(names)} classes: {', '.join(names)}."
    if metadata.get("val_accuracy") is not None:
        checked = f" {metadata['validation_images']} validation photos" if metadata.get("validation_images") else (
            " its validation photos")
        note += f" Right on {metadata['val_accuracy']:.0%} of{checked}."
    return ModelOption(str(folder), folder.name, _classes_text(names), label,
                       functools.partial(shared_exported_classifier, str(folder)), custom=True, note=note)


def _classes_text(names: Sequence[str], shown: int = 5) -> str:
    """``"glass, metal"``, or ``"12 classes: a, b, c, d, e…"`` when there are many."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names)} classes: {', '.join(names[:shown])}…"


def models_folder() -> Path:
    """Where the app looks for exported models: ``$LABKIT_MODELS_DIR``, else ``exports/`` at the repository root."""
    folder = os.environ.get(MODELS_DIR_ENV)
    return Path(folder).expanduser() if folder else DEFAULT_EXPORTS_DIR


def available_models(folder: str | os.PathLike | None = None) -> list[ModelOption]:
    """The picker's models: MobileNetV2 (ImageNet) first, then every export in ``folder`` (default
    :func:`models_folder`), sorted by name.

    Example:
        >>> [option.name for option in available_models()]  # doctest: +SKIP
        ['MobileNetV2', 'trashnet']
    """
    return [imagenet_model(), *map(exported_model, find_exported_models(models_folder() if folder is None else folder))]


def not_sure_message(num_classes: int = 1000, custom: bool = False) -> str:
    """The card's words when the model flags a photo as maybe none of the things it knows.

    Example:
        >>> not_sure_message()
        'Not sure: this is probably none of the 1000 things I know'
        >>> not_sure_message(2, custom=True)
        'Not sure: this is probably none of the 2 classes I was taught'
    """
    message = f"not sure: this is probably none of the {num_classes} classes I was taught" if custom else (
        NOT_SURE_MESSAGE)
    return message[:1].upper() + message[1:]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


# ---------------------------------------------------------------------------------------------------- state


class ModelLoadError(RuntimeError):
    """The chosen model could not be loaded; the message says why and what to do (a photo's card repeats it)."""


@dataclasses.dataclass(frozen=True)
class Result:
    """One photo the app was given: its prediction, or the message saying why there is none, and its card."""

    name: str
    prediction: Prediction | None
    error: str | None
    card: widgets.Widget = dataclasses.field(repr=False, compare=False)
    model: str = ""  # the name of the model that answered (or was meant to)


class DashboardApp(traitlets.HasTraits):
    """The app's state: the models it can use (each loaded once, in the background), the chosen one, and the
    results shown, newest first.

    Args:
        load_classifier: builds the one model the app uses, described as MobileNetV2 (ImageNet); when omitted, the
            app offers :func:`available_models` and loads them with the kernel's shared classifiers.
        models: the picker's models instead (see :class:`ModelOption`).
        model: the model to start with: a key, a name, or an export folder's path; default ``$LABKIT_MODEL``, else
            MobileNetV2 (ImageNet).
        start: begin loading the model now, in a background thread, so it is ready before the first photo.
        warm_up_gradcam: once the model is ready, prepare Grad-CAM in the background too, so the first "Show where
            it looked" is quick; default ``$LABKIT_WARM_UP_GRADCAM``, off (it costs the kernel ~750 MB, see above).

    Example:
        >>> app = DashboardApp()                                                         # doctest: +SKIP
        >>> app.classify_bytes("cat.jpg", open("cat.jpg", "rb").read()).prediction.label  # doctest: +SKIP
        'tabby'
        >>> app.choose_model("trashnet")                                                 # doctest: +SKIP
    """

    status = traitlets.Unicode("loading")  # "loading", "ready" or "failed"
    status_message = traitlets.Unicode("Loading the model…")
    results = traitlets.Tuple()  # of Result, newest first
    busy = traitlets.Int(0)  # photos being classified right now
    model = traitlets.Unicode(IMAGENET)  # the key of the chosen ModelOption

    def __init__(self, load_classifier: Callable[[], Classifier] | None = None, *,
                 models: Sequence[ModelOption] | None = None, model: str | os.PathLike | None = None,
                 start: bool = True, warm_up_gradcam: bool | None = None) -> None:
        super().__init__()
        if models is None and load_classifier is None:
            models, model = available_models(), model or os.environ.get(MODEL_ENV)
        elif models is None:
            models = [imagenet_model(load_classifier)]
        self.models: tuple[ModelOption, ...] = tuple(models)
        self.warm_up_gradcam = _truthy(os.environ.get(WARM_UP_GRADCAM_ENV)) if warm_up_gradcam is None else (
            warm_up_gradcam)
        self._classifiers: dict[str, Future[Classifier]] = {}  # by key; a model starts loading when first chosen
        # Re-entrant: setting `model` redraws the picker, whose observer may call choose_model again.
        self._choosing = threading.RLock()
        self.model = self.find_model(model).key if model else self.models[0].key
        self._announce(self.current_model)
        if start:
            self.start_loading()

    @property
    def current_model(self) -> ModelOption:
        """The chosen :class:`ModelOption`."""
        return next(option for option in self.models if option.key == self.model)

    def find_model(self, wanted: str | os.PathLike) -> ModelOption:
        """Return the model called ``wanted`` (a key, a name, or an export folder's path), adding an export folder
        that is not listed yet; a path that is no export gives an entry whose loading says what is wrong."""
        wanted = str(wanted)
        for option in self.models:
            if wanted in (option.key, option.name):
                return option
        # Voilà runs the kernel in notebooks/, so a path relative to the repository (as in `make app`) is tried too.
        candidates = [Path(wanted).expanduser(), models_folder() / wanted, REPO_ROOT / wanted]
        path = next((candidate for candidate in candidates if candidate.exists()), candidates[0])
        key = str(path.resolve())
        for option in self.models:
            if option.key == key:
                return option
        option = exported_model(path)
        self.models = (*self.models, option)
        return option

    def choose_model(self, wanted: str | os.PathLike) -> ModelOption:
        """Answer with another model from now on (loading it in the background the first time); cards stay."""
        option = self.find_model(wanted)
        with self._choosing:
            self.model = option.key
            self._announce(option)
        self.start_loading()
        return option

    def start_loading(self) -> None:
        """Load the chosen model in a background thread (once per model), so the page stays responsive meanwhile."""
        self._future(self.current_model)

    def _future(self, option: ModelOption) -> Future:
        """The classifier of ``option``, loading (started now if it never was) or loaded."""
        with self._choosing:
            if option.key not in self._classifiers:
                self._classifiers[option.key] = Future()
                threading.Thread(target=self._load, args=(option, self._classifiers[option.key]),
                                 name=f"labkit-load-{option.name}", daemon=True).start()
            return self._classifiers[option.key]

    def _load(self, option: ModelOption, future: Future) -> None:
        started = time.perf_counter()
        try:
            classifier = option.load()
            # matplotlib is imported here rather than with this module, and one chart is drawn: the page appears
            # ~1 s sooner (the notebook cell runs before Voilà sends any HTML), and the first photo's card is fast.
            chart_png(classifier.classify(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")))
        except Exception as error:  # the page must say so rather than wait forever
            log.exception("Could not load the model %s", option.name)
            self._settle(option, future, error=error)
            return
        log.info("Model %s ready (%s engine) in %.1f s", option.name, classifier.engine, time.perf_counter() - started)
        self._settle(option, future, classifier=classifier)
        if self.warm_up_gradcam:
            warm_up_gradcam(classifier)

    def _settle(self, option: ModelOption, future: Future, classifier: Classifier | None = None,
                error: Exception | None = None) -> None:
        with self._choosing:
            # Status first: a photo waiting on the future may build its card as soon as the future is settled.
            if self.model == option.key:  # the user may have picked another model meanwhile
                self._announce(option, loaded=error is None, error=error)
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(classifier)

    def _announce(self, option: ModelOption, *, loaded: bool = False, error: BaseException | None = None) -> None:
        """Set the status line for ``option``: loading, ready, or why it could not load."""
        future = self._classifiers.get(option.key)
        if future is not None and future.done():
            error = future.exception()
            loaded = error is None
        if error is not None:
            self.status_message = _load_failure(option, error)
            self.status = "failed"
        elif loaded:
            self.status_message = f"Ready: {option.title} — drop a photo"
            self.status = "ready"
        else:
            self.status_message = f"Loading {option.name}…"
            self.status = "loading"

    def classifier(self, timeout: float | None = None) -> Classifier:
        """Return the chosen model's classifier, waiting for it to load (a photo that arrives early waits)."""
        return self._future(self.current_model).result(timeout)

    def classify_bytes(self, name: str, data: bytes | memoryview) -> Result:
        """Classify one photo's bytes (as uploaded) with the chosen model and put its card on top of the results.

        An :class:`~labkit.images.ImageError` becomes a card with its message; anything unexpected becomes a card
        with a short generic message and is logged. Either way earlier results stay and the app keeps working.

        Example:
            >>> app.classify_bytes("banana.jpg", Path("data/samples/954_banana.jpg").read_bytes())  # doctest: +SKIP
        """
        self.busy += 1
        option = self.current_model
        try:
            started = time.perf_counter()
            image = load_image(data, name=name, max_bytes=MAX_UPLOAD_BYTES)
            decode_ms = (time.perf_counter() - started) * 1000
            try:
                classifier = self._future(option).result()
            except Exception as error:  # the status line says why; so does this photo's card
                raise ModelLoadError(_load_failure(option, error)) from error
            prediction = classifier.classify(image)
            # The time shown counts decoding too (the wait the user sees), but not waiting for the model to load.
            prediction = dataclasses.replace(prediction, elapsed_ms=decode_ms + prediction.elapsed_ms)
            card = result_card(name, image, prediction, model_name=option.name,
                               not_sure=not_sure_message(classifier.num_classes, option.custom),
                               explain=functools.partial(where_it_looked, classifier,
                                                         class_index=prediction.class_index))
            result = Result(name, prediction, None, card, option.name)
        except (ImageError, ModelLoadError) as error:
            result = Result(name, None, str(error), error_card(name, str(error)), option.name)
        except Exception:
            log.exception("Could not classify %r", name)
            result = Result(name, None, GENERIC_ERROR, error_card(name, GENERIC_ERROR), option.name)
        finally:
            self.busy -= 1
        return self._show(result)

    def classify_file(self, path: str | Path, name: str | None = None) -> Result:
        """Classify a photo on disk, e.g. a sample, the same way as an upload (see :meth:`classify_bytes`)."""
        path = Path(path)
        return self.classify_bytes(name or path.name, path.read_bytes())

    def reject(self, name: str, error: ImageError) -> Result:
        """Show a card for a file the browser did not send (too large to travel), with ``error``'s message."""
        return self._show(Result(name, None, str(error), error_card(name, str(error)), self.current_model.name))

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


def _load_failure(option: ModelOption, error: BaseException) -> str:
    what = "The model" if option.key == IMAGENET else f"The model {option.name}"
    return f"{what} could not be loaded: {error}"


def _close_widgets(widget: widgets.Widget) -> None:
    """Close ``widget`` and everything inside it, so neither the kernel nor the page keeps them."""
    for child in getattr(widget, "children", ()):
        _close_widgets(child)
    widget.close()


# ------------------------------------------------------------------------------------ where it looked (Grad-CAM)


def where_it_looked(classifier: Classifier, photo: Image.Image, class_index: int) -> Image.Image:
    """Return ``photo`` with the Grad-CAM heatmap of ``class_index`` over it (:func:`labkit.explain.gradcam_overlay`),
    one computation at a time per kernel.

    Example:
        >>> where_it_looked(shared_classifier(), load_image("data/samples/340_zebra.jpg"), 340).mode  # doctest: +SKIP
        'RGB'
    """
    from labkit.explain import gradcam_overlay  # light to import; TensorFlow comes with the first call

    with _GRADCAM_LOCK:
        return gradcam_overlay(classifier, photo, class_index=class_index)


def warm_up_gradcam(classifier: Classifier) -> None:
    """Build ``classifier``'s Keras model and trace Grad-CAM now (seconds), so the first real request is quick."""
    started = time.perf_counter()
    try:
        where_it_looked(classifier, Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white"), 0)
    except Exception:  # a warm-up is an optimisation: the button will say what is wrong if the user asks
        log.exception("Could not prepare Grad-CAM")
        return
    log.info("Grad-CAM ready in %.1f s", time.perf_counter() - started)


class WhereItLooked(anywidget.AnyWidget):
    """A result card's "Show where it looked" button and, below it, the Grad-CAM overlay.

    The first time it is opened (``expanded`` becomes true, from a click or from Python) it computes the overlay
    in a background thread: ``state`` goes ``"working"`` then ``"ready"`` (``overlay`` holds the JPEG as a data URL)
    or ``"failed"`` (``message`` says so; opening it again retries). Later openings only show it again.

    The overlay is drawn on the card's preview JPEG (longest side :data:`PREVIEW_PIXELS`), not on the uploaded
    photo: the model sees 224 x 224 pixels and the heatmap has 7 x 7 cells, so the full photo would change nothing
    visible, and keeping every card's decoded photo (36 MB for a 12-megapixel one) would make a class's kernels
    grow with every upload. The preview's ~25 kB of JPEG is all a card keeps.

    Args:
        photo_jpeg: the card's preview, as JPEG bytes.
        label: the class explained, for the alt text.
        explain: ``photo -> overlay image``; the app passes :func:`where_it_looked` for the card's model and class.
    """

    _esm = WIDGETS_DIR / "where_it_looked.js"
    expanded = traitlets.Bool(False).tag(sync=True)
    state = traitlets.Unicode("idle").tag(sync=True)  # "idle", "working", "ready" or "failed"
    overlay = traitlets.Unicode("").tag(sync=True)  # data URL of the overlay JPEG, once computed
    alt = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, photo_jpeg: bytes, label: str, explain: Callable[[Image.Image], Image.Image]) -> None:
        super().__init__(label=label, alt=gradcam_alt_text(label))
        self._photo_jpeg = photo_jpeg
        self._explain = explain
        self.worker: threading.Thread | None = None  # the latest computation, for tests to wait on

    @traitlets.observe("expanded")
    def _on_expanded(self, change: dict) -> None:
        if change["new"] and self.state in ("idle", "failed"):
            self.state, self.message = "working", ""
            self.worker = threading.Thread(target=self.compute, name="labkit-gradcam", daemon=True)
            self.worker.start()

    def compute(self) -> None:
        """Compute the overlay now (in the caller's thread) and show it, or the reason there is none."""
        try:
            overlay = self._explain(Image.open(io.BytesIO(self._photo_jpeg)))
            self.overlay = _data_url(preview_jpeg(overlay), "image/jpeg")
        except Exception as error:
            from labkit.explain import ExplainError

            log.exception("Could not compute Grad-CAM for %r", self.label)
            self.message = str(error) if isinstance(error, ExplainError) else GRADCAM_ERROR
            self.state = "failed"
            return
        self.state = "ready"


def gradcam_alt_text(label: str) -> str:
    """Describe the Grad-CAM overlay for screen readers.

    Example:
        >>> gradcam_alt_text("zebra")
        "Heatmap of where the model looked for 'zebra': warm colours mark the regions that raised that class's score"
    """
    return (f"Heatmap of where the model looked for '{label}': warm colours mark the regions that raised that "
            "class's score")


# ---------------------------------------------------------------------------------------------- result cards


def result_card(name: str, image: Image.Image, prediction: Prediction, *, model_name: str = IMAGENET_NAME,
                not_sure: str | None = None,
                explain: Callable[[Image.Image], Image.Image] | None = None) -> widgets.VBox:
    """Build the card for one classified photo: preview, top-3 with percentages, bar chart, doubts, which model
    answered and how fast, and (given ``explain``) a "Show where it looked" button.

    Args:
        model_name: the model that answered, as the card names it.
        not_sure: the words when ``prediction.not_sure`` (default :func:`not_sure_message` for ImageNet).
        explain: ``photo -> Grad-CAM overlay`` for :class:`WhereItLooked`; the card's last child,
            ``card.children[-1]``, is its row of actions (class ``labkit-card-actions``), empty without it.

    Example:
        >>> image = load_image("data/samples/954_banana.jpg")                        # doctest: +SKIP
        >>> result_card("banana.jpg", image, Classifier().classify(image))           # doctest: +SKIP
    """
    from labkit.plots import format_percent, top_k_alt_text  # imported here, not at the top: see DashboardApp._load

    best = prediction.top[0]
    preview = preview_jpeg(image)
    guesses = "".join(
        f'<li><span class="labkit-guess-label">{html.escape(score.label)}</span>'
        f'<span class="labkit-guess-percent">{html.escape(format_percent(score.probability))}</span></li>'
        for score in prediction.top)
    chart = chart_png(prediction)
    body = f"""
<article class="labkit-card-body" aria-label="Result for {html.escape(name, quote=True)}">
  <img class="labkit-preview" src="{_data_url(preview, 'image/jpeg')}"
       alt="{html.escape(f'Your photo, {name}', quote=True)}">
  <div class="labkit-card-text">
    <h3 class="labkit-card-name">{html.escape(name)}</h3>
    <p class="labkit-best-guess">
      <span class="labkit-best-label">{html.escape(best.label)}</span>
      <span class="labkit-best-percent labkit-{confidence_band(best.probability)}"
        >{html.escape(format_percent(best.probability))}</span>
    </p>
    <ol class="labkit-guesses" aria-label="Top {len(prediction.top)} guesses">{guesses}</ol>
    {_caveats_html(prediction, not_sure or not_sure_message())}
    <p class="labkit-timing">Answered by <span class="labkit-answered-by">{html.escape(model_name)}</span> in {
      prediction.elapsed_ms:.0f} ms</p>
  </div>
  <img class="labkit-chart" src="{_data_url(chart, 'image/png')}"
       alt="{html.escape(top_k_alt_text(prediction), quote=True)}">
</article>"""
    actions = widgets.HBox([WhereItLooked(preview, best.label, explain)] if explain is not None else [])
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


def _card(*children: widgets.Widget, kind: str) -> widgets.VBox:
    card = widgets.VBox(list(children))
    for name in ("labkit-card", f"labkit-card-{kind}", ARRIVING):
        card.add_class(name)
    return card


def _caveats_html(prediction: Prediction, not_sure: str) -> str:
    """The card's note of doubt (words and an icon: colour is never the only cue) and labkit's notes, if any.

    Two notes for two reasons (:func:`labkit.predict.doubt` words them): the photo is probably none of the things
    the model knows (``prediction.not_sure``; ``not_sure`` gives the words), or the model hesitates on it (calibrated
    best guess under :data:`labkit.predict.LOW_CONFIDENCE`; the note names the runner-up).
    """
    notes = "".join(f'<p class="labkit-note">{html.escape(note[:1].upper() + note[1:])}.</p>'
                    for note in prediction.notes)
    words = doubt(prediction, not_sure)
    if words is None:
        return notes
    heading, reason = words
    return (f'<p class="labkit-doubt labkit-doubt-{prediction.note}"><span aria-hidden="true">⚠</span> '
            f'<strong>{html.escape(heading)}:</strong> {html.escape(reason)}. Treat the answer as a guess.</p>' + notes)


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
        'beagle'
    """
    return [{"file": row["file"], "label": sample_caption(row),
             "thumbnail": _data_url(preview_jpeg(load_image(folder / row["file"]), THUMBNAIL_PIXELS), "image/jpeg")}
            for row in read_samples(folder)]


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


def build_dashboard(app: DashboardApp | None = None, samples_folder: Path = SAMPLES_DIR, *,
                    model: str | os.PathLike | None = None) -> widgets.VBox:
    """Build the app's page: header, model picker, status line, the ways in (upload, drop, paste, webcam, samples),
    results.

    Args:
        app: the state to show and drive; a new :class:`DashboardApp` (loading the shared model) if omitted.
        samples_folder: where the gallery's photos and their ``labels.csv`` are.
        model: the model to start with (see :class:`DashboardApp`), e.g. ``"exports/trashnet"``.

    Example:
        >>> app = DashboardApp()
        >>> build_dashboard(app)  # the last line of a notebook cell displays it  # doctest: +SKIP
    """
    if app is None:
        app = DashboardApp(model=model)
    elif model is not None:
        app.choose_model(model)
    _log_to_server_terminal()

    header = widgets.HTML(_header_html())
    picker = widgets.Dropdown(description="Model", options=[(option.label, option.key) for option in app.models],
                              value=app.model, tooltip="The model that answers the next photos")
    picker.add_class("labkit-model-choice")
    model_note = widgets.HTML()
    model_note.add_class("labkit-model-note")
    model_bar = widgets.VBox([picker, model_note])
    model_bar.add_class("labkit-model-bar")
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
    photo_credits = widgets.HTML(credits_html(samples_folder))  # the photos' authors and licences, one click away

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

    def on_pick(change: dict) -> None:
        app.choose_model(change["new"])

    def show_model(_change=None) -> None:
        # Quietly: replacing the options selects the first one, which must not count as the user's choice.
        picker.unobserve(on_pick, names="value")
        options = [(option.label, option.key) for option in app.models]  # find_model may have added one
        if [tuple(option) for option in picker.options] != options:
            picker.options = options
        picker.value = app.model
        picker.observe(on_pick, names="value")
        model_note.value = f'<p class="labkit-model-text">{html.escape(app.current_model.note)}</p>'

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
    picker.observe(on_pick, names="value")
    app.observe(show_model, names="model")
    app.observe(show_status, names=["status", "status_message", "busy"])
    app.observe(show_results, names="results")
    show_model()
    show_status()
    show_results()

    page = widgets.VBox([header, model_bar, status, intake, gallery, photo_credits, results])
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
                f'aria-hidden="true"></span> {html.escape(app.status_message)} the first start takes a few seconds.'
                f'{waiting}</p>')
    working = f" · classifying {app.busy} photo{'s' if app.busy != 1 else ''}…" if app.busy else ""
    return (f'<p class="labkit-status" data-state="ready" role="status"><span aria-hidden="true">●</span> '
            f'{html.escape(app.status_message)}{working}</p>')


def _header_html() -> str:
    return """
<header class="labkit-header">
  <p class="labkit-brand">labkit</p>
  <h1 class="labkit-title">What's in this photo?</h1>
  <p class="labkit-lede">Give the model a photo and it answers with its three best guesses, how sure it is, and,
    if you ask, where in the photo it looked.</p>
  <p class="labkit-model">Photos are classified in memory and never saved.</p>
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
