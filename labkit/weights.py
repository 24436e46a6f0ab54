"""Find MobileNetV2's ImageNet weights and class index, offline first, the way Keras would.

Resolution order, for each file:

1. an explicit path you pass in;
2. the folder named by ``$LABKIT_WEIGHTS_DIR`` (files under Keras' own names; CI points it at ``../shared/models``);
3. Keras' cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``);
4. Keras' own download into that cache (what a user with internet gets on first use).

If all four fail, :class:`WeightsNotFound` names the files and the variable to set.

Note on accuracy: the weights in ``../shared/models`` are a rebuild of Google's int8 ImageNet MobileNetV2 release
(see that folder's README). Every accuracy figure labkit quotes was measured with them.
"""

from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path

from labkit.errors import LabkitError

WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
NO_TOP_WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
CLASS_INDEX_FILE = "imagenet_class_index.json"

# Keras' own download locations (keras/src/applications/mobilenet_v2.py and imagenet_utils.py).
WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
CLASS_INDEX_ORIGIN = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"

DOWNLOAD_TIMEOUT_S = 30


class WeightsNotFound(LabkitError, FileNotFoundError):
    """The model's weights or class index could not be found locally nor downloaded."""


def keras_cache_dir() -> Path:
    """Return Keras' model cache, ``$KERAS_HOME/models`` or ``~/.keras/models``.

    Example:
        >>> keras_cache_dir().name
        'models'
    """
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "models"


def candidate_paths(file_name: str) -> list[Path]:
    """List the local places labkit looks for ``file_name``, in order (``$LABKIT_WEIGHTS_DIR``, then Keras' cache)."""
    places = []
    if os.environ.get("LABKIT_WEIGHTS_DIR"):
        places.append(Path(os.environ["LABKIT_WEIGHTS_DIR"]).expanduser() / file_name)
    places.append(keras_cache_dir() / file_name)
    return places


def _download(file_name: str, origin: str, md5: str | None = None) -> Path:
    """Download ``origin`` into Keras' cache with Keras' own downloader; ``WeightsNotFound`` when that fails."""
    from keras.utils import get_file  # lazy: importing Keras pulls in TensorFlow

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # offline machines should fail fast, not hang
    try:
        # cache_dir explicitly: Keras reads $KERAS_HOME once at import, labkit reads it at call time.
        return Path(
            get_file(file_name, origin, cache_dir=str(keras_cache_dir().parent), cache_subdir="models", file_hash=md5)
        )
    except Exception as error:  # Keras wraps network errors in several types
        looked = "\n".join(f"  - {path}" for path in candidate_paths(file_name))
        raise WeightsNotFound(
            f"Could not find {file_name!r} and could not download it ({type(error).__name__}: {error}).\n"
            f"Looked in:\n{looked}\n"
            "What to do: put the file in one of those folders, or set LABKIT_WEIGHTS_DIR to a folder holding "
            f"{WEIGHTS_FILE}, {NO_TOP_WEIGHTS_FILE} and {CLASS_INDEX_FILE} (Keras' file names), "
            "or connect to the internet once so Keras can download them into its cache."
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)


def resolve_file(
    file_name: str,
    origin: str,
    explicit: str | os.PathLike | None = None,
    md5: str | None = None,
    allow_download: bool = True,
) -> Path:
    """Find one of Keras' model files: explicit path, ``$LABKIT_WEIGHTS_DIR``, Keras' cache, then download.

    Args:
        file_name: Keras' name for the file, e.g. :data:`WEIGHTS_FILE`.
        origin: the URL Keras downloads it from.
        explicit: a path given by the caller; it must exist.
        allow_download: set ``False`` to fail instead of downloading.

    Example:
        >>> resolve_file(CLASS_INDEX_FILE, CLASS_INDEX_ORIGIN).name
        'imagenet_class_index.json'
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFound(
                f"{path} does not exist. What to do: check the path, or leave it out to use "
                f"$LABKIT_WEIGHTS_DIR or Keras' cache."
            )
        return path
    for path in candidate_paths(file_name):
        if path.is_file():
            return path
    if not allow_download:
        looked = ", ".join(str(path) for path in candidate_paths(file_name))
        raise WeightsNotFound(
            f"Could not find {file_name!r} (looked in {looked}). What to do: set "
            f"LABKIT_WEIGHTS_DIR to a folder holding it, or allow the download."
        )
    return _download(file_name, origin + ("" if origin.endswith(file_name) else file_name), md5)


def resolve_weights(
    explicit: str | os.PathLike | None = None, include_top: bool = True, allow_download: bool = True
) -> Path:
    """Find MobileNetV2's ImageNet weights file (with or without the 1000-class top).

    Example:
        >>> resolve_weights().name
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5'
    """
    file_name = WEIGHTS_FILE if include_top else NO_TOP_WEIGHTS_FILE
    return resolve_file(file_name, WEIGHTS_ORIGIN, explicit, allow_download=allow_download)


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

    Example:
        >>> load_class_index()[207]
        ('n02099601', 'golden_retriever')
    """
    path = resolve_file(CLASS_INDEX_FILE, CLASS_INDEX_ORIGIN, explicit, md5=CLASS_INDEX_MD5)
    raw = json.loads(path.read_text())
    return tuple((raw[str(index)][0], raw[str(index)][1]) for index in range(len(raw)))
