"""Fast engines: the classifier's network converted to LiteRT (TFLite) and run by XNNPACK, from a model description.

Engines (pass one as ``Classifier(engine=...)``):

- ``"keras"``: the Keras model, one compiled ``tf.function`` (:func:`labkit.network.compile_forward`). Needs
  TensorFlow in the process; the Classifier runs it itself, this module only names it.
- ``"litert"``: the model converted to a float32 LiteRT flatbuffer. Same answers as Keras.
- ``"litert-int8"``: weights and activations quantized to 8-bit integers (float input and output): 3.5x smaller,
  faster, and a little different; the trade-off lesson 07 shows.

An engine is built from a :class:`labkit.network.ModelDescription` (weights, classes, input size, resize policy),
never from a Classifier: :func:`make_forward` returns ``batch -> (logits, clipped pooled features or None)``
(:data:`labkit.network.ForwardFunction`; the features are a second output of the converted model, see
:func:`labkit.network.forward_model`).

Decisions (``benchmarks/engines.py`` measures them; the log of what was tried is in ``benchmarks/README.md``):

- :data:`DEFAULT_ENGINE` is the fastest engine whose top-1 agrees with Keras' on at least 99 % of the 60 labelled
  photos: ``litert``. int8 is faster again but disagrees on two photos whose two best classes are close.
- int8 keeps float input and output (the model quantizes inside); its activation ranges are calibrated on the open
  photos of ``data/samples`` (:func:`calibration_batch`), which are in the repository. The conversion measures those
  ranges with TensorFlow's float kernels, whose rounding differs from one CPU to another, so the int8 model is *not*
  bit-identical from machine to machine: a few near-ties tip the other way. Lessons and tests therefore check bounds
  on int8's answers (agreement with float32, top-1 gap), never its exact counts.
- Two XNNPACK threads by default, one with ``LABKIT_THREADS=1`` (:func:`default_threads`): a student's photo
  usually finds the second core idle; a server kept busy by a whole class does better with one (docs/classroom.md).
- A batch runs one image at a time through one interpreter, rather than an interpreter resized to the batch: as
  fast or faster, and no reallocation when the batch size changes.
- The converted models are cached in ``labkit.paths.cache_dir() / "litert"``, keyed by a hash of the weights, so
  only the first kernel pays for the conversion and for TensorFlow (``benchmarks/memory.py``).

Importing this module imports neither TensorFlow nor LiteRT.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labkit.errors import LabkitError
from labkit.images import iter_image_files, load_image
from labkit.native_logs import native_log_lines_filtered
from labkit.network import POOLED_FEATURES, REACT_CLIP, ModelDescription, forward_model, load_keras_model
from labkit.paths import SAMPLES_DIR, cache_dir
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy, to_batch
from labkit.rebuild import weights_path
from labkit.version import __version__

ENGINES = ("keras", "litert", "litert-int8")
DEFAULT_ENGINE = "litert"
# Bump when the conversion recipe changes, so cached flatbuffers made by an older recipe are not reused.
CONVERSION_VERSION = 4  # 2: the model gained the ReAct clip (labkit.network.REACT_CLIP); 3: a second output, the
# clipped pooled features (labkit.network.forward_model): a cached one-output model must not be reused; 4: a third
# output, the last feature map, for heatmaps without TensorFlow (labkit.explain)
MAX_THREADS = 2  # XNNPACK threads per interpreter unless $LABKIT_THREADS says otherwise: measured, see above
THREADS_ENV = "LABKIT_THREADS"
CALIBRATION_LIMIT = 60  # photos the int8 conversion measures activation ranges on
CONVERSION_SECONDS = 30  # roughly, on a 2-core machine, either engine, TensorFlow import and model build included


class EngineError(LabkitError, RuntimeError):
    """An engine was asked for that labkit does not know, or that cannot run here (LiteRT not installed)."""


def check_engine(engine: str) -> str:
    """Return ``engine`` if labkit knows it; otherwise raise :class:`EngineError` listing the engines.

    Example:
        >>> check_engine("litert")
        'litert'
    """
    if engine not in ENGINES:
        raise EngineError(
            f"Unknown engine {engine!r}. What to do: use one of {', '.join(map(repr, ENGINES))} "
            f"(default {DEFAULT_ENGINE!r})."
        )
    return engine


def default_engine(weights: str | os.PathLike | None, model: Any = None) -> str:
    """Return the engine a Classifier uses when none is named.

    :data:`DEFAULT_ENGINE` for weights read from a file (ImageNet or a ``.h5`` path): converted once, cached, and
    TensorFlow-free afterwards. ``"keras"`` for a model already in memory (``model=`` or ``weights=None``): it has
    brought TensorFlow in anyway, and converting it would cost ~30 s on every construction for ~10 ms per photo.

    Example:
        >>> default_engine("imagenet"), default_engine(None)
        ('litert', 'keras')
    """
    return "keras" if model is not None or weights is None else DEFAULT_ENGINE


def make_forward(engine: str, description: ModelDescription) -> LiteRTForward:
    """Return ``batch -> (logits, features or None)`` on a LiteRT ``engine`` for the network ``description`` names.

    The model comes from labkit's cache, converted first if needed (once, ~30 s); on a cache hit TensorFlow stays
    unimported. A cached file broken by a crash or a full disk is converted again.

    Args:
        engine: ``"litert"`` or ``"litert-int8"`` (the ``"keras"`` engine is :func:`labkit.network.compile_forward`).
        description: the network: its weights, classes, input size and resize policy.

    Example:
        >>> forward = make_forward("litert-int8", ModelDescription())  # doctest: +SKIP
        >>> forward(np.zeros((2, 224, 224, 3), np.float32))[0].shape  # doctest: +SKIP
        (2, 1000)
    """
    model = litert_model(engine, description)
    try:
        forward = LiteRTForward(model)
    except ValueError:  # LiteRT's word for "not a valid flatbuffer": a cached file broken by a crash or a full disk
        if not isinstance(model, Path) or model == description.litert_file:
            raise
        model.unlink(missing_ok=True)
        forward = LiteRTForward(litert_model(engine, description))
    if forward.num_classes != description.num_classes:
        raise EngineError(
            f"{forward.path or 'The LiteRT model'} has {forward.num_classes} outputs but "
            f"{description.num_classes} classes are named for it. What to do: export the model again."
        )
    return forward


class LiteRTForward:
    """``batch -> (logits, clipped pooled features or None)`` with one LiteRT interpreter, one image at a time.

    The outputs are told apart by their shape: the logits; the clipped pooled features when the model has them
    (:data:`labkit.network.POOLED_FEATURES` wide: labkit's ImageNet model, :func:`labkit.network.forward_model`);
    the last feature map (4-D) when the model is pooled-then-dense. A one-output model (an older export) gives
    ``None`` for the features and no feature map.

    The feature map is read only by :meth:`feature_maps`, when a heatmap is asked for (it re-runs the photo: ~5 ms),
    so classifying never copies its 250 kB.

    Why one at a time: for float32, 32 single-image calls were faster than one interpreter resized to a batch of 32,
    for int8 about even (module docstring), and they need no reallocation when the batch size changes. The model
    takes and returns float32 (labkit's int8 model quantizes inside, see :func:`convert_to_litert`).

    Args:
        model: a ``.tflite`` file or its bytes.
        num_threads: XNNPACK threads; default :func:`default_threads`.

    Example:
        >>> forward = LiteRTForward(Path("model.tflite"))  # doctest: +SKIP
        >>> [part.shape for part in forward(batch)]  # doctest: +SKIP
        [(32, 1000), (32, 1280)]
    """

    def __init__(self, model: Path | bytes, num_threads: int | None = None) -> None:
        interpreter_class = _litert_interpreter_class()
        num_threads = default_threads() if num_threads is None else num_threads
        self.path = None if isinstance(model, (bytes, bytearray)) else Path(model)
        with native_log_lines_filtered():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" is not for students
            if self.path is None:
                self.interpreter = interpreter_class(model_content=bytes(model), num_threads=num_threads)
            else:
                self.interpreter = interpreter_class(model_path=str(self.path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output, self._features, self._feature_map = self._told_apart(self.interpreter.get_output_details())
        self.input_shape = tuple(int(size) for size in self._input["shape"][1:])
        self.num_classes = int(self._output["shape"][-1])
        self._lock = threading.Lock()  # one interpreter has one set of buffers: callers from two threads take turns

    def _told_apart(self, outputs: list[dict]) -> tuple[dict, dict | None, dict | None]:
        """The details of the logits, the pooled features (or ``None``) and the feature map (or ``None``)."""
        what = self.path or "The LiteRT model"
        maps = [output for output in outputs if len(output["shape"]) == 4]
        flat = [output for output in outputs if len(output["shape"]) == 2]
        if len(maps) > 1 or len(flat) not in (1, 2) or len(maps) + len(flat) != len(outputs):
            raise EngineError(
                f"{what} has {len(outputs)} outputs; labkit expects the logits, and maybe the pooled "
                "features and the last feature map. What to do: export the model again."
            )
        feature_map = maps[0] if maps else None
        if len(flat) == 1:
            return flat[0], None, feature_map
        widths = [int(output["shape"][-1]) for output in flat]
        if widths.count(POOLED_FEATURES) != 1:
            raise EngineError(
                f"{what} has two outputs {' and '.join(map(str, widths))} wide: which one are the logits? What to "
                "do: export the model again."
            )
        features_first = widths[0] == POOLED_FEATURES
        return (flat[1], flat[0], feature_map) if features_first else (flat[0], flat[1], feature_map)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self._features is None:
            return self._run(batch, [self._output])[0], None
        logits, features = self._run(batch, [self._output, self._features])
        return logits, features

    @property
    def has_feature_map(self) -> bool:
        """Whether the model gives its last feature map (a pooled-then-dense model converted by labkit)."""
        return self._feature_map is not None

    def feature_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Return ``(logits (N, classes), last feature maps (N, 7, 7, 1280))``, or ``None`` if the model has no map.

        Example:
            >>> logits, maps = forward.feature_maps(batch[:1])  # doctest: +SKIP
            >>> maps.shape  # doctest: +SKIP
            (1, 7, 7, 1280)
        """
        if self._feature_map is None:
            return None
        logits, maps = self._run(batch, [self._output, self._feature_map])
        return logits, maps

    def _run(self, batch: np.ndarray, outputs: list[dict]) -> list[np.ndarray]:
        """Run each image of ``batch``; return the ``outputs`` asked for, one array per output (one row per image)."""
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 4 or batch.shape[1:] != self.input_shape:
            raise ValueError(
                f"Expected a batch of shape (N, {', '.join(map(str, self.input_shape))}), got "
                f"{batch.shape}. What to do: preprocess with labkit.preprocess.to_batch()."
            )
        arrays = [
            np.empty((len(batch), *(int(size) for size in output["shape"][1:])), np.float32) for output in outputs
        ]
        with self._lock:
            for row, image in enumerate(batch):
                self.interpreter.set_tensor(self._input["index"], image[None])
                self.interpreter.invoke()
                for array, output in zip(arrays, outputs, strict=True):
                    array[row] = self.interpreter.get_tensor(output["index"])[0]
        return arrays


def default_threads() -> int:
    """Return how many threads each LiteRT interpreter uses: ``$LABKIT_THREADS``, else 2 (1 on a one-core machine).

    Raises :class:`EngineError` when ``LABKIT_THREADS`` is set to anything but a whole number of at least 1.

    Example:
        >>> os.environ["LABKIT_THREADS"] = "1"; default_threads()  # doctest: +SKIP
        1
    """
    setting = os.environ.get(THREADS_ENV, "").strip()
    if not setting:
        return min(MAX_THREADS, os.cpu_count() or 1)
    if not setting.isdigit() or int(setting) < 1:
        raise EngineError(
            f"{THREADS_ENV} must be a whole number of threads, 1 or more; it is {setting!r}. What to "
            "do: set it to 1 on a server whose cores are busy with many students, or unset it."
        )
    return int(setting)


def _litert_interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise EngineError(
            "The LiteRT engines need the ai-edge-litert package, which is not installed "
            f"({error}). What to do: `pip install ai-edge-litert`, or use engine='keras'."
        ) from error
    return Interpreter


def litert_model(engine: str, description: ModelDescription) -> Path | bytes:
    """Return the network converted for a LiteRT ``engine``: a ready file, a cached file, or bytes.

    A ready ``description.litert_file`` (an export) serves ``"litert"`` as is; otherwise the conversion is cached,
    converting on a miss. A model with random weights (``weights=None``) is converted in memory and not cached.

    Example:
        >>> litert_model("litert", ModelDescription()).suffix  # doctest: +SKIP
        '.tflite'
    """
    check_engine(engine)
    if engine == "keras":
        raise EngineError("The 'keras' engine runs the Keras model itself; there is no LiteRT model to return.")
    if engine == "litert" and description.litert_file is not None and Path(description.litert_file).is_file():
        return Path(description.litert_file)
    fingerprint = weights_fingerprint(description)
    if fingerprint is None:
        return _convert_with_notice(engine, description, None)
    path = cached_model_path(engine, fingerprint, description.policy, description.num_classes)
    if path.is_file():
        return path
    content = _convert_with_notice(engine, description, path)
    _write_atomically(path, content)
    return path


def cached_model_path(engine: str, fingerprint: str, policy: str, num_classes: int) -> Path:
    """Return where the LiteRT model for these weights, engine and recipe lives in labkit's cache.

    The int8 model also depends on the resize policy, because its calibration photos are preprocessed with it.

    Example:
        >>> cached_model_path("litert", "0" * 64, "squash", 1000).name  # doctest: +ELLIPSIS
        'litert-....tflite'
    """
    # labkit builds the network around the weights (e.g. the ReAct clip), so its version and that clip are part of
    # the key: a new release or a re-measured clip converts again instead of serving a stale model.
    recipe = (
        f"v{CONVERSION_VERSION}|labkit {__version__}|clip {REACT_CLIP}|{engine}|{fingerprint}|{num_classes}|"
        f"{policy + '|calibrated on data/samples' if 'int8' in engine else ''}"
    )
    return cache_dir() / "litert" / f"{engine}-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.tflite"


def weights_fingerprint(description: ModelDescription) -> str | None:
    """Return a sha256 identifying the described network's weights, without building the Keras model when it can.

    A model in memory: a hash of its weight arrays. A saved ``.keras`` model, ImageNet or a weights file: the file's
    sha256 (TensorFlow is not imported). Random weights (``weights=None``): ``None``, nothing to reuse.

    Example:
        >>> len(weights_fingerprint(ModelDescription()))  # doctest: +SKIP
        64
    """
    if description.keras_model is not None:
        return model_fingerprint(description.keras_model)
    if description.keras_file is not None:
        return file_sha256(Path(description.keras_file))
    if description.weights is None:
        return None
    return file_sha256(weights_path(description.weights))


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file, read in 1 MB chunks.

    Example:
        >>> len(file_sha256(Path(__file__)))
        64
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(model: Any) -> str:
    """Return a sha256 of a Keras model's input and output shapes and its weight arrays (names, shapes, values)."""
    digest = hashlib.sha256(f"{model.input_shape}|{model.output_shape}".encode())
    for variable in model.weights:
        values = np.ascontiguousarray(variable.numpy())
        digest.update(f"{variable.path}|{values.shape}|{values.dtype}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def convert_to_litert(model: Any, *, int8: bool = False, calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras model (outputs logits, maybe also the pooled features) to LiteRT, float32 or full-integer int8.

    labkit converts :func:`labkit.network.forward_model` of its models, so the ImageNet model keeps its three outputs
    (logits, clipped pooled features, last feature map) and a fine-tuned one its logits and feature map.

    int8 quantizes weights and activations; the ranges of the activations are measured on ``calibration``, a
    preprocessed batch of typical photos. Input and output stay float32 (the model (de)quantizes inside).

    Example:
        >>> content = convert_to_litert(build_mobilenet_v2(None))  # doctest: +SKIP
        >>> len(content) // 1_000_000  # doctest: +SKIP
        14
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 conversion needs calibration photos: pass a preprocessed batch as calibration=.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in np.asarray(calibration, np.float32))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with _quiet(tf.get_logger()), native_log_lines_filtered():  # the converter's C++ prints "fully_quantize: 0..."
        return bytes(converter.convert())


@contextlib.contextmanager
def _quiet(tensorflow_logger: Any) -> Iterator[None]:
    """Keep the converter's chatter out of notebooks and terminals: it is not for students."""
    # Keras prints its export's endpoints (with a temporary path) on stdout, TensorFlow's logger reports "Assets
    # written to /tmp/..." (on stdout in a notebook), and the converter warns about input statistics that models
    # with float input and output do not need.
    level = tensorflow_logger.level
    tensorflow_logger.setLevel("ERROR")
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            yield
    finally:
        tensorflow_logger.setLevel(level)


def calibration_batch(policy: ResizePolicy = DEFAULT_POLICY, limit: int = CALIBRATION_LIMIT) -> np.ndarray:
    """Return up to ``limit`` photos preprocessed as the classifier would: the open photos of data/samples.

    They are in the repository, so every machine calibrates on the same photos; the ranges it measures on them still
    differ in their last bits between CPUs (see the module docstring).

    Example:
        >>> calibration_batch(limit=2).shape  # doctest: +SKIP
        (2, 224, 224, 3)
    """
    folder = SAMPLES_DIR
    files = iter_image_files(folder)[:limit]
    if not files:
        raise EngineError(
            f"No photos to calibrate the int8 model with in {folder}. What to do: put a few typical "
            "photos there, or use engine='litert'."
        )
    return to_batch([load_image(path) for path in files], policy)


def _convert_with_notice(engine: str, description: ModelDescription, path: Path | None) -> bytes:
    where = f", cached in {path.parent}" if path is not None else ""
    print(
        f"labkit: converting the model to LiteRT {'int8' if 'int8' in engine else 'float32'}, "
        f"about {CONVERSION_SECONDS} s, once{where}.",
        file=sys.stderr,
        flush=True,
    )
    int8 = engine == "litert-int8"
    calibration = calibration_batch(description.policy) if int8 else None
    # The Keras model is built (or loaded) for the conversion only and dropped after it: a LiteRT classifier that
    # kept it would hold on to ~100 MB of TensorFlow state.
    return convert_to_litert(forward_model(load_keras_model(description)), int8=int8, calibration=calibration)


def _write_atomically(path: Path, content: bytes) -> None:
    # Write beside, then rename: a kernel starting meanwhile never reads half a file, and two converting at once
    # both end with a whole one.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)
