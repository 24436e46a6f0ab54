"""The app's state, with no widget in it: the models, the chosen one, and the results shown (as data).

:class:`DashboardApp` is what the page drives and what a notebook or a test drives without a browser::

    >>> app = DashboardApp()                                            # doctest: +SKIP
    >>> result = app.classify_file("data/samples/954_banana.jpg")       # doctest: +SKIP
    >>> result.prediction.label, len(app.results)                       # doctest: +SKIP
    ('banana', 1)

A photo's bytes are decoded and classified in memory (nothing is written to disk); the :class:`Result` goes on top
of ``app.results``, and the page (:mod:`labkit.app.page`) draws a card for it with :mod:`labkit.app.views`.

"Show where it looked" costs about one more forward pass: the app's models are pooled-then-dense, so their Grad-CAM
is a weighted sum of the feature map the LiteRT engine returns (:mod:`labkit.explain`), computed with numpy. The
kernel never imports TensorFlow, so there is nothing to prepare ahead (``benchmarks/memory.py`` measures a kernel
that has shown heatmaps; ``benchmarks/browser.py`` the overlay's wait). An export from before labkit kept the
feature map still gets its heatmap, from its Keras model's gradient (seconds, and TensorFlow, on the first one).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import traitlets
from PIL import Image

from labkit.app.catalogue import (
    IMAGENET,
    MODEL_ENV,
    ModelOption,
    available_models,
    find_model,
    imagenet_model,
)
from labkit.app.pictures import chart_png, preview_jpeg
from labkit.errors import LabkitError
from labkit.explain import gradcam_overlay
from labkit.images import DEFAULT_MAX_BYTES, FileTooLargeError, ImageError, load_image
from labkit.model import Classifier
from labkit.predict import Prediction
from labkit.preprocess import IMAGE_SIZE

MAX_UPLOAD_BYTES = DEFAULT_MAX_BYTES  # per photo; voila.json lets a websocket message this big through
GENERIC_ERROR = (
    "Something went wrong while classifying this file. The details are in the server's log; "
    "try another photo, or the same one again."
)

log = logging.getLogger(__name__)
# One heatmap at a time per kernel: each is quick, and an older export's first one builds its Keras model, which two
# threads at once would build twice.
_GRADCAM_LOCK = threading.Lock()


class ModelLoadError(LabkitError, RuntimeError):
    """The chosen model could not be loaded; the message says why and what to do (a photo's card repeats it)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
    """One photo the app was given: its prediction, or the message saying why there is none.

    Args:
        name: the file's name as the user gave it (or "Sample photo: ..." for the gallery's).
        prediction: what the model answered; ``None`` when ``error`` says why there is no answer.
        error: the message shown instead of an answer.
        model: the name of the model that answered (or was meant to).
        preview: the photo as a small JPEG (:func:`labkit.app.pictures.preview_jpeg`), all a result keeps of it.
        explain: ``photo -> Grad-CAM overlay`` for the answer's class, computed only when the user asks.
    """

    name: str
    prediction: Prediction | None
    error: str | None = None
    model: str = ""
    preview: bytes = dataclasses.field(default=b"", repr=False)
    explain: Callable[[Image.Image], Image.Image] | None = dataclasses.field(default=None, repr=False)


class DashboardApp(traitlets.HasTraits):
    """The app's state: the models it can use (each loaded once, in the background), the chosen one, and the
    results, newest first.

    Args:
        load_classifier: builds the one model the app uses, described as MobileNetV2 (ImageNet); when omitted, the
            app offers :func:`~labkit.app.catalogue.available_models`, loaded with the kernel's shared classifiers.
        models: the picker's models instead (see :class:`~labkit.app.catalogue.ModelOption`).
        model: the model to start with: a key, a name, or an export folder's path; default ``$LABKIT_MODEL``, else
            MobileNetV2 (ImageNet).
        start: begin loading the model now, in a background thread, so it is ready before the first photo.

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
    models = traitlets.Tuple()  # of ModelOption, the picker's entries

    def __init__(
        self,
        load_classifier: Callable[[], Classifier] | None = None,
        *,
        models: Sequence[ModelOption] | None = None,
        model: str | os.PathLike | None = None,
        start: bool = True,
    ) -> None:
        super().__init__()
        if models is None and load_classifier is not None:
            models = [imagenet_model(load_classifier)]
        elif models is None:
            models, model = available_models(), model or os.environ.get(MODEL_ENV)
        self.models = tuple(models)
        self._classifiers: dict[str, Future[Classifier]] = {}  # by key; a model starts loading when first chosen
        # Re-entrant: setting `model` redraws the picker, whose observer may call choose_model again.
        self._choosing = threading.RLock()
        self.model = self.find_model(model).key if model else self.models[0].key
        self._announce(self.current_model)
        if start:
            self.start_loading()

    @property
    def current_model(self) -> ModelOption:
        """The chosen :class:`~labkit.app.catalogue.ModelOption`."""
        return next(option for option in self.models if option.key == self.model)

    def find_model(self, wanted: str | os.PathLike) -> ModelOption:
        """Return the model called ``wanted`` (see :func:`~labkit.app.catalogue.find_model`), adding an export
        folder that is not listed yet to :attr:`models`."""
        option = find_model(self.models, wanted)
        if option not in self.models:
            self.models = (*self.models, option)
        return option

    def choose_model(self, wanted: str | os.PathLike) -> ModelOption:
        """Answer with another model from now on (loading it in the background the first time); results stay."""
        option = self.find_model(wanted)
        with self._choosing:
            self.model = option.key
            self._announce(option)
        self.start_loading()
        return option

    def start_loading(self) -> None:
        """Load the chosen model in a background thread (once per model), so the page stays responsive meanwhile."""
        self._future(self.current_model)

    def classifier(self, timeout: float | None = None) -> Classifier:
        """Return the chosen model's classifier, waiting for it to load (a photo that arrives early waits)."""
        return self._future(self.current_model).result(timeout)

    def classify_bytes(self, name: str, data: bytes | memoryview) -> Result:
        """Classify one photo's bytes (as uploaded) with the chosen model and put its result on top.

        An :class:`~labkit.images.ImageError` becomes a result with its message; anything unexpected becomes a
        result with a short generic message and is logged. Either way earlier results stay and the app keeps working.

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
            except Exception as error:  # the status line says why; so does this photo's result
                raise ModelLoadError(_load_failure(option, error)) from error
            prediction = classifier.classify(image)
            # The time shown counts decoding too (the wait the user sees), but not waiting for the model to load.
            prediction = dataclasses.replace(prediction, elapsed_ms=decode_ms + prediction.elapsed_ms)
            result = Result(
                name,
                prediction,
                model=option.name,
                preview=preview_jpeg(image),
                explain=functools.partial(where_it_looked, classifier, class_index=prediction.class_index),
            )
        except LabkitError as error:  # a bad file, a model that cannot load: the message says what to do
            result = Result(name, None, str(error), option.name)
        except Exception:
            log.exception("Could not classify %r", name)
            result = Result(name, None, GENERIC_ERROR, option.name)
        finally:
            self.busy -= 1
        self.results = (result, *self.results)
        return result

    def classify_file(self, path: str | Path, name: str | None = None) -> Result:
        """Classify a photo on disk, e.g. a sample, the same way as an upload (see :meth:`classify_bytes`)."""
        path = Path(path)
        return self.classify_bytes(name or path.name, path.read_bytes())

    def reject(self, name: str, error: ImageError) -> Result:
        """Show a result for a file the browser did not send (too large to travel), with ``error``'s message."""
        result = Result(name, None, str(error), self.current_model.name)
        self.results = (result, *self.results)
        return result

    def clear(self) -> None:
        """Remove every result (the page frees their cards)."""
        self.results = ()

    # --- loading models in the background ------------------------------------------------------------------------

    def _future(self, option: ModelOption) -> Future:
        """The classifier of ``option``, loading (started now if it never was) or loaded."""
        with self._choosing:
            if option.key not in self._classifiers:
                self._classifiers[option.key] = Future()
                threading.Thread(
                    target=self._load,
                    args=(option, self._classifiers[option.key]),
                    name=f"labkit-load-{option.name}",
                    daemon=True,
                ).start()
            return self._classifiers[option.key]

    def _load(self, option: ModelOption, future: Future) -> None:
        started = time.perf_counter()
        try:
            classifier = option.load()
            # One chart drawn now imports matplotlib while the model loads, so the first photo's card is fast.
            chart_png(classifier.classify(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")))
        except Exception as error:  # the page must say so rather than wait forever
            log.exception("Could not load the model %s", option.name)
            self._settle(option, future, error=error)
            return
        log.info("Model %s ready (%s engine) in %.1f s", option.name, classifier.engine, time.perf_counter() - started)
        self._settle(option, future, classifier=classifier)

    def _settle(
        self, option: ModelOption, future: Future, classifier: Classifier | None = None, error: Exception | None = None
    ) -> None:
        with self._choosing:
            # Status first: a photo waiting on the future may become a result as soon as the future is settled.
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


def too_large_error(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> FileTooLargeError:
    """The error for a file the browser kept back because it is over the upload limit.

    Example:
        >>> str(too_large_error("scan.tiff", 40_000_000))[:33]
        "'scan.tiff' is 40 MB, over the 25"
    """
    return FileTooLargeError(
        f"'{name}' is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB upload limit. Shrink it or save it as a "
        "smaller JPEG (a few megabytes is plenty: the model sees 224 x 224 pixels), then try again."
    )


def where_it_looked(classifier: Classifier, photo: Image.Image, class_index: int) -> Image.Image:
    """Return ``photo`` with the Grad-CAM heatmap of ``class_index`` over it (:func:`labkit.explain.gradcam_overlay`),
    one computation at a time per kernel.

    Example:
        >>> where_it_looked(shared_classifier(), load_image("data/samples/340_zebra.jpg"), 340).mode  # doctest: +SKIP
        'RGB'
    """
    with _GRADCAM_LOCK:
        return gradcam_overlay(classifier, photo, class_index=class_index)


def _load_failure(option: ModelOption, error: BaseException) -> str:
    what = "The model" if option.key == IMAGENET else f"The model {option.name}"
    return f"{what} could not be loaded: {error}"
