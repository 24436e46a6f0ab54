"""Build labkit's MobileNetV2 Keras weights from Google's int8 model, committed in ``labkit/data/model/``.

On first use (:func:`imagenet_weights`), once per machine, about 30 s, cached in ``labkit.paths.cache_dir()``:

1. The source's sha256 is checked (:func:`labkit.weights.check_source`); a damaged file is named, nothing is built.
2. Every convolution and depthwise kernel is dequantized, ``int8 x float32 scale`` of its output channel (one
   IEEE rounding: the same bits on every CPU), and laid out as Keras wants (OHWI -> HWIO, 1HWC -> HWC1).
3. The last 1 x 1 convolution (1280 -> 1001) becomes the Dense ``predictions`` layer; its class 0
   ("background") is dropped, leaving Keras' 1000 classes in Keras' order.
4. Each folded bias goes into the BatchNormalization layer after its convolution, with per-channel statistics
   ``m``, ``v`` measured on the open photos of ``data/samples``: ``moving_mean = m``, ``moving_variance = v``,
   ``gamma = sqrt(v + eps)``, ``beta = m + bias``. **Important:** for inference this is exactly the source's
   "convolution + bias" (to about 1e-6, whatever the photos); the statistics make BatchNorm in *training* mode
   (fine-tuning) behave like the original network instead of wrecking it.
5. Both files (with and without the top) are written in Keras' legacy HDF5 layout under Keras' names, into a
   folder that is renamed into place whole: a crash or a second kernel building at the same time never leaves half
   a file where labkit looks.

This is the recipe of ``../shared/models/README.md`` (CI's weights): the kernels and the last layer come out bit
for bit the same, so :func:`labkit.weights.weights_file_fingerprint` says they are the same model, and labkit's
shipped calibration applies to both. Needs TensorFlow (step 4) and LiteRT (to read the source).

Example:
    >>> imagenet_weights().name  # doctest: +SKIP
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5'
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from labkit.images import iter_image_files, load_image
from labkit.native_logs import native_log_lines_filtered
from labkit.paths import SAMPLES_DIR
from labkit.preprocess import DEFAULT_POLICY, to_batch
from labkit.weights import (
    IMAGENET,
    KERAS_DOWNLOAD,
    NO_TOP_WEIGHTS_FILE,
    SOURCE_FILE,
    WEIGHTS_FILE,
    WeightsNotFound,
    built_weights_dir,
    check_source,
    find_weights,
    keras_download_weights,
    resolve_weights,
)

BUILD_SECONDS = 30  # roughly, on a 2-core machine, TensorFlow import included
BATCH_SIZE = 6  # photos per forward pass while measuring the BatchNorm statistics: keeps memory low
BATCH_NORM_EPSILON = 1e-3  # keras.applications.MobileNetV2's


def weights_path(weights: str | os.PathLike, include_top: bool = True) -> Path:
    """Return the ``.h5`` file a ``weights=`` choice names, building labkit's own on first use.

    Args:
        weights: ``"imagenet"`` (labkit's model, :func:`imagenet_weights`), ``"keras-download"`` (Keras' original,
            :func:`labkit.weights.keras_download_weights`) or a path to an ``.h5`` file.
        include_top: with the 1000-class ``predictions`` layer, or without (transfer learning).

    Example:
        >>> weights_path("imagenet").name  # doctest: +SKIP
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5'
    """
    if weights == IMAGENET:
        return imagenet_weights(include_top)
    if weights == KERAS_DOWNLOAD:
        return keras_download_weights(include_top)
    return resolve_weights(weights)  # a path: it must exist


def imagenet_weights(include_top: bool = True) -> Path:
    """Return labkit's weights file: ``$LABKIT_WEIGHTS_DIR``'s, else the one built from the source (built if needed).

    Example:
        >>> imagenet_weights(include_top=False).name  # doctest: +SKIP
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5'
    """
    found = find_weights(include_top)
    if found is not None:
        return found
    folder = build_weights()
    return folder / (WEIGHTS_FILE if include_top else NO_TOP_WEIGHTS_FILE)


def build_weights(source: Path | None = None, folder: Path | None = None) -> Path:
    """Build both weight files from the int8 ``source`` into ``folder`` (default: the cache's); return the folder.

    Prints one line on stderr (it takes about :data:`BUILD_SECONDS` seconds, once). The folder appears whole or not
    at all; a damaged source raises :class:`labkit.weights.DamagedWeightsSource` before anything is written.

    Example:
        >>> build_weights().name  # doctest: +SKIP
        'mobilenet_v2-5d3137241276-v1'
    """
    source = check_source(SOURCE_FILE if source is None else source)
    folder = built_weights_dir() if folder is None else Path(folder)
    print(
        f"labkit: building MobileNetV2's weights from {source.name} (Google's int8 model, Apache-2.0), "
        f"about {BUILD_SECONDS} s, once, cached in {folder.parent}.",
        file=sys.stderr,
        flush=True,
    )
    kernels, biases = read_int8_model(source)
    model = keras_model_with(kernels, biases)
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        write_legacy_h5(partial / WEIGHTS_FILE, model.layers)
        last_feature_layer = [layer.name for layer in model.layers].index("out_relu")
        write_legacy_h5(partial / NO_TOP_WEIGHTS_FILE, model.layers[: last_feature_layer + 1])
        try:
            os.replace(partial, folder)
        except OSError:  # another process built it meanwhile: keep theirs, identical for inference
            if not (folder / WEIGHTS_FILE).is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def read_int8_model(source: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return the source's dequantized kernels (Keras layouts) and biases, in the network's order.

    The source lists each convolution's int8 kernel and int32 bias together, first layer first (53 pairs: 52
    convolutions, then the 1 x 1 classifier); each is ``int x float32 scale`` of its channel (zero points are 0).

    Example:
        >>> kernels, biases = read_int8_model(SOURCE_FILE)  # doctest: +SKIP
        >>> kernels[0].shape, kernels[-1].shape  # doctest: +SKIP
        ((3, 3, 3, 32), (1280, 1000))
    """
    from ai_edge_litert.interpreter import Interpreter

    with native_log_lines_filtered():
        interpreter = Interpreter(model_path=str(source))
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    for detail in interpreter.get_tensor_details():
        scales = detail["quantization_parameters"]["scales"]
        if detail["dtype"] not in (np.int8, np.int32) or len(scales) < 2:
            continue  # activations (one scale) and shapes: not weights
        axis = detail["quantization_parameters"]["quantized_dimension"]
        shape = [1] * len(detail["shape"])
        shape[axis] = -1
        values = interpreter.get_tensor(detail["index"]).astype(np.float32) * scales.astype(np.float32).reshape(shape)
        (kernels if detail["dtype"] == np.int8 else biases).append(values)
    layouts = []
    for kernel in kernels:
        if kernel.shape[0] == 1 and kernel.shape[1] > 1:  # depthwise 1HWC -> HWC1
            layouts.append(kernel[0][..., None])
        else:  # OHWI -> HWIO
            layouts.append(kernel.transpose(1, 2, 3, 0))
    classifier = layouts.pop()  # (1, 1, 1280, 1001) -> Dense (1280, 1000) without "background"
    layouts.append(np.ascontiguousarray(classifier[0, 0, :, 1:]))
    biases[-1] = biases[-1][1:]
    return layouts, biases


def keras_model_with(kernels: list[np.ndarray], biases: list[np.ndarray]) -> Any:
    """Return ``keras.applications.MobileNetV2`` holding these kernels, each bias in the BatchNorm after it.

    The BatchNorm statistics are measured on the photos of ``data/samples`` (module docstring, step 4).
    """
    import keras

    model = keras.applications.MobileNetV2(weights=None, classifier_activation=None)
    convolutions = [layer for layer in model.layers if _kernel_of(layer) is not None]
    if len(convolutions) != len(kernels):
        raise WeightsNotFound(
            f"{SOURCE_FILE.name} has {len(kernels)} weighted layers, Keras' MobileNetV2 {len(convolutions)}. "
            "What to do: restore labkit/data/model from git."
        )
    norms = {id(convolution): _batch_norm_after(model.layers, convolution) for convolution in convolutions[:-1]}
    for convolution, kernel, bias in zip(convolutions, kernels, biases, strict=True):
        if convolution.name == "predictions":
            convolution.set_weights([kernel, bias])
            continue
        convolution.set_weights([kernel])
        # "convolution + bias" while measuring: mean 0, variance 1, gamma sqrt(1 + eps), beta = bias
        gamma = np.full_like(bias, np.sqrt(1 + BATCH_NORM_EPSILON))
        norms[id(convolution)].set_weights([gamma, bias, np.zeros_like(bias), np.ones_like(bias)])
    for norm, (mean, variance) in zip(norms.values(), _batch_norm_statistics(model, list(norms.values())), strict=True):
        bias = norm.get_weights()[1]
        gamma = np.sqrt(variance + BATCH_NORM_EPSILON)
        norm.set_weights([values.astype(np.float32) for values in (gamma, mean + bias, mean, variance)])
    return model


def _kernel_of(layer: Any) -> Any:
    return next((weight for weight in layer.weights if weight.name in ("kernel", "depthwise_kernel")), None)


def _batch_norm_after(layers: list[Any], convolution: Any) -> Any:
    """The layer after each convolution of Keras' MobileNetV2 is its BatchNorm (``Conv1`` -> ``bn_Conv1``...)."""
    import keras

    following = layers[layers.index(convolution) + 1]
    if not isinstance(following, keras.layers.BatchNormalization):
        raise WeightsNotFound(f"Keras' MobileNetV2 changed: {convolution.name} is not followed by a BatchNorm.")
    return following


def _batch_norm_statistics(model: Any, norms: list[Any]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each BatchNorm's input mean and variance per channel over the photos of ``data/samples``."""
    import keras

    photos = iter_image_files(SAMPLES_DIR)
    if not photos:
        raise WeightsNotFound(
            f"No photos in {SAMPLES_DIR} to measure the BatchNorm statistics on. What to do: restore data/samples "
            "from git, or set LABKIT_WEIGHTS_DIR to a folder holding ready weights."
        )
    inputs = keras.Model(model.input, [norm.input for norm in norms])
    sums = [np.zeros(norm.input.shape[-1]) for norm in norms]
    squares = [np.zeros(norm.input.shape[-1]) for norm in norms]
    counts = [0] * len(norms)
    for start in range(0, len(photos), BATCH_SIZE):
        batch = to_batch([load_image(path) for path in photos[start : start + BATCH_SIZE]], DEFAULT_POLICY)
        for index, output in enumerate(inputs(batch, training=False)):
            values = np.asarray(output, np.float64).reshape(-1, output.shape[-1])
            sums[index] += values.sum(axis=0)
            squares[index] += (values**2).sum(axis=0)
            counts[index] += len(values)
    for total, square, count in zip(sums, squares, counts, strict=True):
        mean = total / count
        yield mean, np.maximum(square / count - mean**2, 0.0)


def write_legacy_h5(path: Path, layers: list[Any]) -> None:
    """Write ``layers``' weights in Keras' legacy HDF5 layout, which ``MobileNetV2(weights=path)`` loads.

    The layout of Keras' own ``.h5`` downloads: a ``layer_names`` attribute; per layer a group whose
    ``weight_names`` attribute lists ``"<layer>/<variable>"``, each a dataset.
    """
    import h5py
    import keras

    with h5py.File(path, "w") as weights_file:
        # Keras numbers the names it makes up ("input_layer_1") for a second model in the same process; those layers
        # hold no weights (the loader skips them), so the file keeps Keras' first names and is the same every time.
        weights_file.attrs["layer_names"] = [_stable_name(layer).encode("utf8") for layer in layers]
        weights_file.attrs["backend"] = b"tensorflow"
        weights_file.attrs["keras_version"] = keras.__version__.encode("utf8")
        for layer in layers:
            group = weights_file.create_group(_stable_name(layer))
            names = [f"{layer.name}/{weight.name}" for weight in layer.weights]
            group.attrs["weight_names"] = [name.encode("utf8") for name in names]
            for name, weight in zip(names, layer.weights, strict=True):
                group.create_dataset(name, data=np.asarray(weight.numpy()))


def _stable_name(layer: Any) -> str:
    return layer.name if layer.weights else re.sub(r"_\d+$", "", layer.name)
