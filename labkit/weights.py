"""Which MobileNetV2 weights labkit runs, where their files are, and how to tell two sets of weights apart.

The weights labkit is measured and calibrated with travel with it: Google's int8 ImageNet MobileNetV2
(:data:`SOURCE_FILE`, Apache-2.0, committed with its licence and NOTICE in ``labkit/data/model/``) is turned into
Keras weights on first use (:func:`labkit.rebuild.imagenet_weights`) and cached. ``weights=`` names the choice:

- ``"imagenet"`` (:data:`IMAGENET`, the default): labkit's model. Resolution order:

  1. an explicit ``.h5`` path you pass instead of a name;
  2. the folder named by ``$LABKIT_WEIGHTS_DIR`` (files under Keras' own names; CI points it at
     ``../shared/models``, a rebuild of the same source);
  3. the weights built from the committed source, in ``labkit.paths.cache_dir() / "weights"``, built on a miss.

- ``"keras-download"`` (:data:`KERAS_DOWNLOAD`): Keras' original ImageNet weights, from Keras' cache
  (``$KERAS_HOME/models``) or Keras' download. Only when asked for: they are another model, with no shipped
  calibration (labkit calibrates it itself, or says its percentages are uncalibrated).

The class index (``imagenet_class_index.json``, Keras' own file) is in the package too: ``$LABKIT_WEIGHTS_DIR``'s
copy if it has one, else labkit's.

Which calibration fits which weights: :func:`weights_file_fingerprint`. This module imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from labkit.errors import LabkitError
from labkit.paths import PACKAGE_DIR, cache_dir

WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
NO_TOP_WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
CLASS_INDEX_FILE = "imagenet_class_index.json"

IMAGENET = "imagenet"  # labkit's model: $LABKIT_WEIGHTS_DIR, else built from SOURCE_FILE
KERAS_DOWNLOAD = "keras-download"  # Keras' original weights: Keras' cache, else Keras' download
WEIGHTS_DIR_VARIABLE = "LABKIT_WEIGHTS_DIR"

MODEL_DIR = PACKAGE_DIR / "data" / "model"  # the source, its LICENSE and NOTICE, and the class index
SOURCE_FILE = MODEL_DIR / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
SOURCE_SHA256 = "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c"
PACKAGED_CLASS_INDEX = MODEL_DIR / CLASS_INDEX_FILE
# Bump when labkit.rebuild changes what it writes, so weights built by an older recipe are built again.
BUILD_VERSION = 1

# Keras' own download locations (keras/src/applications/mobilenet_v2.py and imagenet_utils.py).
WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
DOWNLOAD_TIMEOUT_S = 30

KERNEL_NAMES = ("kernel", "depthwise_kernel")  # what a convolution or Dense layer multiplies by


class WeightsNotFound(LabkitError, FileNotFoundError):
    """The model's weights or class index could not be found, built nor downloaded."""


class DamagedWeightsSource(WeightsNotFound):
    """The file labkit builds its weights from is missing or is not the committed one (its sha256 differs)."""


def keras_cache_dir() -> Path:
    """Return Keras' model cache, ``$KERAS_HOME/models`` or ``~/.keras/models``.

    Example:
        >>> keras_cache_dir().name
        'models'
    """
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "models"


def built_weights_dir() -> Path:
    """Return the folder of the weights built from :data:`SOURCE_FILE` (built or not yet), in labkit's cache.

    Named after the source's sha256 and :data:`BUILD_VERSION`, so another source or recipe never reuses them.

    Example:
        >>> built_weights_dir().name
        'mobilenet_v2-5d3137241276-v1'
    """
    return cache_dir() / "weights" / f"mobilenet_v2-{SOURCE_SHA256[:12]}-v{BUILD_VERSION}"


def candidate_paths(file_name: str) -> list[Path]:
    """List where labkit looks for ``file_name`` of its model, in order: ``$LABKIT_WEIGHTS_DIR``, the built weights."""
    places = []
    if os.environ.get(WEIGHTS_DIR_VARIABLE):
        places.append(Path(os.environ[WEIGHTS_DIR_VARIABLE]).expanduser() / file_name)
    places.append(built_weights_dir() / file_name)
    return places


def find_weights(include_top: bool = True) -> Path | None:
    """Return labkit's weights file if it is there (``$LABKIT_WEIGHTS_DIR``, else built), else ``None``.

    Example:
        >>> find_weights() in (None, *candidate_paths(WEIGHTS_FILE))
        True
    """
    file_name = WEIGHTS_FILE if include_top else NO_TOP_WEIGHTS_FILE
    return next((path for path in candidate_paths(file_name) if path.is_file()), None)


def resolve_weights(explicit: str | os.PathLike | None = None, include_top: bool = True) -> Path:
    """Return the weights file of labkit's model (with or without the 1000-class top), or ``explicit`` if given.

    Looks, never builds: the first :class:`labkit.Classifier` builds them (:func:`labkit.rebuild.imagenet_weights`).

    Example:
        >>> resolve_weights().name  # doctest: +SKIP
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5'
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFound(
                f"{path} does not exist. What to do: check the path, or leave it out to use labkit's own weights."
            )
        return path
    found = find_weights(include_top)
    if found is None:
        looked = ", ".join(map(str, candidate_paths(WEIGHTS_FILE if include_top else NO_TOP_WEIGHTS_FILE)))
        raise WeightsNotFound(
            f"labkit's weights are not built yet (looked in {looked}). What to do: build them with "
            "labkit.rebuild.imagenet_weights() (or any labkit.Classifier()), or set LABKIT_WEIGHTS_DIR."
        )
    return found


def check_source(path: Path | None = None) -> Path:
    """Return the source file after checking its sha256 against :data:`SOURCE_SHA256`; name it when it is wrong.

    Example:
        >>> check_source().name
        'tf2_mobilenet_v2_1.0_224_ptq.tflite'
    """
    path = SOURCE_FILE if path is None else Path(path)
    what_to_do = (
        "What to do: restore it from git (`git checkout -- labkit/data/model`) or reinstall labkit; "
        "or set LABKIT_WEIGHTS_DIR to a folder holding ready weights."
    )
    if not path.is_file():
        raise DamagedWeightsSource(f"{path} is missing: labkit builds its model's weights from it. {what_to_do}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise DamagedWeightsSource(
            f"{path} is damaged or another file: its sha256 is {digest}, not {SOURCE_SHA256}. "
            f"labkit did not build anything from it. {what_to_do}"
        )
    return path


def keras_download_weights(include_top: bool = True) -> Path:
    """Return Keras' original MobileNetV2 weights file: from Keras' cache, else downloaded there by Keras.

    Example:
        >>> keras_download_weights().parent == keras_cache_dir()  # doctest: +SKIP
        True
    """
    file_name = WEIGHTS_FILE if include_top else NO_TOP_WEIGHTS_FILE
    cached = keras_cache_dir() / file_name
    return cached if cached.is_file() else _download(file_name, WEIGHTS_ORIGIN + file_name)


def _download(file_name: str, origin: str) -> Path:
    """Download ``origin`` into Keras' cache with Keras' own downloader; ``WeightsNotFound`` when that fails."""
    from keras.utils import get_file  # lazy: importing Keras pulls in TensorFlow

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # offline machines should fail fast, not hang
    try:
        # cache_dir explicitly: Keras reads $KERAS_HOME once at import, labkit reads it at call time.
        return Path(get_file(file_name, origin, cache_dir=str(keras_cache_dir().parent), cache_subdir="models"))
    except Exception as error:  # Keras wraps network errors in several types
        raise WeightsNotFound(
            f"Could not download Keras' {file_name!r} ({type(error).__name__}: {error}) into "
            f"{keras_cache_dir()}. What to do: connect to the internet once, put the file there, or use labkit's "
            f"own weights (weights={IMAGENET!r}, the default)."
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)


def readable_label(keras_label: str) -> str:
    """Turn Keras' label into words people read: ``"golden_retriever"`` -> ``"golden retriever"``.

    Example:
        >>> readable_label("German_shepherd")
        'German shepherd'
    """
    return keras_label.replace("_", " ")


@lru_cache(maxsize=4)
def load_class_index(explicit: str | os.PathLike | None = None) -> tuple[tuple[str, str], ...]:
    """Return the 1000 ImageNet classes as ``(wnid, keras_label)`` pairs, in the model's output order.

    From ``explicit``, else ``$LABKIT_WEIGHTS_DIR``'s ``imagenet_class_index.json``, else labkit's own copy.

    Example:
        >>> load_class_index()[207]
        ('n02099601', 'golden_retriever')
    """
    if explicit is not None:
        path = resolve_weights(explicit)
    else:
        given = [place for place in candidate_paths(CLASS_INDEX_FILE)[:-1] if place.is_file()]  # $LABKIT_WEIGHTS_DIR
        path = given[0] if given else PACKAGED_CLASS_INDEX
    raw = json.loads(path.read_text())
    return tuple((raw[str(index)][0], raw[str(index)][1]) for index in range(len(raw)))


# --- which weights are which -----------------------------------------------------------------------------------

LayerWeights = Sequence[tuple[str, np.ndarray]]
"""One layer's weights as ``(variable name, values)`` pairs, e.g. ``[("kernel", ...), ("bias", ...)]``."""


def fingerprint_layers(layers: Iterable[LayerWeights]) -> str:
    """Return the sha256 that says which network these are: every kernel, and the bias of every Dense layer.

    Per layer, in order: each convolution or depthwise kernel (:data:`KERNEL_NAMES`), and for a layer whose kernel
    is 2-D (a Dense layer) its bias too, as float32 bytes with their shapes. BatchNormalization is left out on
    purpose. Why: labkit's weights are rebuilt from int8 by dequantizing (int8 x float32 scale, one IEEE rounding,
    the same on every CPU), so the kernels and the last layer are bit for bit the same in every rebuild (CI's
    ``../shared/models`` and the weights built on any machine); the BatchNorm statistics are measured through
    TensorFlow, whose rounding differs between CPUs, and they cancel out for inference (to about 1e-6). Weights that
    answer differently (Keras' original, a last layer scaled by 1.6, a fine-tuned model) differ in their kernels.

    Example:
        >>> fingerprint_layers([[("kernel", np.ones((2, 3), np.float32)), ("bias", np.zeros(3, np.float32))]])[:12]
        '0bf5ad4e2bba'
    """
    digest = hashlib.sha256(b"labkit weights fingerprint v1")
    for layer in layers:
        named = [(name.rsplit("/", 1)[-1].split(":")[0], values) for name, values in layer]
        kernels = [np.asarray(values, np.float32) for name, values in named if name in KERNEL_NAMES]
        dense = any(kernel.ndim == 2 for kernel in kernels)
        biases = [np.asarray(values, np.float32) for name, values in named if dense and name == "bias"]
        for values in kernels + biases:
            digest.update(repr(values.shape).encode())
            digest.update(np.ascontiguousarray(values, "<f4").tobytes())
    return digest.hexdigest()


def weights_file_fingerprint(path: str | os.PathLike) -> str:
    """Return :func:`fingerprint_layers` of a Keras HDF5 weights file (Keras' legacy ``.h5`` layout), with h5py.

    Read once per file version (path, size and modification time), so asking again is free.

    Example:
        >>> weights_file_fingerprint(resolve_weights())[:8]  # doctest: +SKIP
        '3f5c0e1a'
    """
    path = Path(path).resolve()
    status = path.stat()
    return _file_fingerprint(path, status.st_size, status.st_mtime_ns)


@lru_cache(maxsize=8)
def _file_fingerprint(path: Path, size: int, modified_ns: int) -> str:
    import h5py  # lazy: the app's status line never needs it

    with h5py.File(path, "r") as weights_file:
        group = weights_file["model_weights"] if "model_weights" in weights_file else weights_file
        layers: list[list[tuple[str, Any]]] = []
        for layer_name in _names(group.attrs.get("layer_names", [])):
            layer = group[layer_name]
            layers.append([(name, np.asarray(layer[name])) for name in _names(layer.attrs.get("weight_names", []))])
    return fingerprint_layers(layers)


def _names(values: Iterable[Any]) -> list[str]:
    return [value.decode("utf8") if isinstance(value, bytes) else str(value) for value in values]
