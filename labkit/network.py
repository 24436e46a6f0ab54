"""The Keras graph: MobileNetV2 with the ReAct clip, the layer names labkit relies on, and the compiled forward pass.

Everything that knows how the network is wired lives here; TensorFlow and Keras are imported inside the functions
that build or run a graph, so importing this module stays light (``import labkit`` never loads TensorFlow).

Why not ``model.predict``? Each ``predict`` call builds a data pipeline and a step function around the model,
which costs tens of milliseconds on a 2-core machine, many times the forward pass itself. :func:`compile_forward`
compiles the forward pass once (``tf.function`` with a fixed input signature, so it never retraces);
``benchmarks/latency.py`` measures the difference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.errors import LabkitError
from labkit.preprocess import DEFAULT_POLICY, IMAGE_SIZE, ResizePolicy
from labkit.weights import resolve_weights

ForwardFunction = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray | None]"]
"""``batch (N, 224, 224, 3) float32 in [-1, 1] -> (logits (N, classes), clipped pooled features (N, 1280) or None)``:
what every engine provides. The features are those the last layer reads, after the ReAct clip; ``None`` for a model
without the clip (a fine-tuned one). The "not sure" score of the ImageNet model needs them
(:func:`labkit.ood.ash_s_energy`); fine-tuned models keep the energy of their logits (``benchmarks/README.md``).

Decision: the network gets a second output, the clipped features, beside its logits (:func:`forward_model`), rather
than returning the features alone and computing the logits in numpy: the logits come from the very graph they came
from before (the same answers on every engine, int8 included, where a numpy Dense layer would differ from the
quantized one), and a model without the clip keeps one output. The ASH-S score takes the last layer's weights from
the weights file (:func:`head_weights`), so the LiteRT engines still run without TensorFlow."""

# ReAct (Sun et al., 2021, "ReAct: Out-of-distribution detection with rectified activations"): the 1280 pooled
# features are clipped at REACT_CLIP before the last Dense layer. Images unlike any photo (colour noise, text pages)
# push a few features far above what photos do; clipping them keeps those images' logits small, so the "not sure"
# flag catches them while the photos' answers stay the same (benchmarks/ood.py measures both). The value is the
# REACT_PERCENTILE-th percentile of the pooled features of the 60 photos in ../shared/samples, ImageNet weights,
# "squash" policy; labkit.calibrate.measure_react_clip(classifier, folder) re-derives it, benchmarks/ood.py prints it.
REACT_CLIP = 1.506
# Chosen with benchmarks/ood.py --sweep (its log: benchmarks/README.md): 90 and 95 score alike, from 90 down one
# more photo is answered wrongly, 99 misses much of the noise.
REACT_PERCENTILE = 95
FEATURE_LAYER = "out_relu"  # the last 7 x 7 x 1280 feature map: where Grad-CAM reads
REACT_LAYER = "react_clip"  # the ReLU that clips the pooled features
LOGITS_LAYER = "predictions"  # the ImageNet model's last Dense layer (logits, no softmax)
POOLED_FEATURES = 1280  # MobileNetV2's pooled features: the width of the second output


@dataclass(frozen=True)
class ModelDescription:
    """Where a classifier's network comes from: what an engine needs to build, convert or find it.

    Exactly one source of weights counts, in this order: ``keras_model`` (a model in memory, e.g. fine-tuned),
    ``keras_file`` (a saved ``.keras`` model, e.g. an export), then ``weights`` (``"imagenet"``, an ``.h5`` file,
    or ``None`` for random weights). ``litert_file`` is a ready float32 LiteRT model for the ``"litert"`` engine.

    Example:
        >>> ModelDescription(num_classes=4, weights=None).input_shape
        (224, 224, 3)
    """

    weights: str | os.PathLike | None = "imagenet"
    num_classes: int = 1000
    policy: ResizePolicy = DEFAULT_POLICY
    input_size: int = IMAGE_SIZE
    keras_file: Path | None = None
    litert_file: Path | None = None
    keras_model: Any = field(default=None, compare=False, repr=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.input_size, self.input_size, 3


class NetworkError(LabkitError, ValueError):
    """A saved or given network does not match what labkit expects (its classes, its layers)."""


def build_mobilenet_v2(weights: str | os.PathLike | None = "imagenet", num_classes: int = 1000) -> Any:
    """Build Keras' MobileNetV2 whose last layer outputs logits (softmax is applied by labkit).

    The pooled features are clipped at :data:`REACT_CLIP` (a ``ReLU`` layer named ``"react_clip"``) before the
    ``"predictions"`` layer, for every build, so a ``weights=None`` model has the same graph as the real one.

    Args:
        weights: ``"imagenet"`` (found by :func:`labkit.weights.resolve_weights`), a path to an ``.h5`` file, or
            ``None`` for random weights (fast tests).
        num_classes: outputs of the last layer.

    Example:
        >>> build_mobilenet_v2(None).output_shape  # doctest: +SKIP
        (None, 1000)
    """
    import keras

    if weights == "imagenet":
        weights = resolve_weights()
    # Logits rather than probabilities: temperature scaling and the energy score need them.
    base = keras.applications.MobileNetV2(
        weights=None if weights is None else str(weights), classes=num_classes, classifier_activation=None
    )
    head = base.get_layer(LOGITS_LAYER)  # reused, with its loaded weights; its input is the pooled features
    clipped = keras.layers.ReLU(max_value=REACT_CLIP, name=REACT_LAYER)(head.input)
    return keras.Model(base.input, head(clipped), name=base.name)  # one flat graph: Grad-CAM reads "out_relu"


def build_base(weights: str | os.PathLike | None = "imagenet") -> Any:
    """Return MobileNetV2 without its ImageNet classifier (``include_top=False``): image -> 7 x 7 x 1280 features.

    Args:
        weights: ``"imagenet"`` (the no-top file found by :func:`labkit.weights.resolve_weights`), a path to a
            no-top ``.h5`` file, or ``None`` for random weights.

    Example:
        >>> build_base(None).output_shape  # doctest: +SKIP
        (None, 7, 7, 1280)
    """
    import keras

    if weights == "imagenet":
        weights = resolve_weights(include_top=False)
    return keras.applications.MobileNetV2(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), include_top=False, weights=None if weights is None else str(weights)
    )


def build_classifier_model(base: Any, head: Any) -> Any:
    """Return one flat Keras model, ``image -> base -> average pool -> head`` (logits), sharing the layers.

    Flat: MobileNetV2's layers sit directly in the graph (Grad-CAM finds ``"out_relu"`` as in the ImageNet model)
    and training-only parts (augmentation, dropout) are left out, so export and LiteRT get a plain model.

    Example:
        >>> build_classifier_model(build_base(None), keras.layers.Dense(4)).output_shape  # doctest: +SKIP
        (None, 4)
    """
    import keras

    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    return keras.Model(base.inputs, head(pooled), name="labkit_fine_tuned")


def pooled_features_model(model: Any) -> Any:
    """Return ``image -> pooled features`` (the input of ``"react_clip"``, what ReAct clips), sharing the layers.

    Raises :class:`NetworkError` for a model without a ``"react_clip"`` layer (a fine-tuned model has none).

    Example:
        >>> pooled_features_model(build_mobilenet_v2(None)).output_shape  # doctest: +SKIP
        (None, 1280)
    """
    import keras

    try:
        clip = model.get_layer(REACT_LAYER)
    except ValueError as error:
        raise NetworkError(
            f"{model.name} has no {REACT_LAYER!r} layer, so there are no clipped features to "
            "measure. What to do: use the ImageNet Classifier (labkit.network.build_mobilenet_v2)."
        ) from error
    return keras.Model(model.inputs[0], clip.input)  # one tensor, not a list: no structure warning


def forward_model(model: Any) -> Any:
    """Return ``image -> [logits, clipped pooled features]`` for a model with a ``"react_clip"`` layer, else ``model``.

    The two outputs share every layer with ``model``: the logits are exactly the model's own.

    Example:
        >>> [output.shape for output in forward_model(build_mobilenet_v2(None)).outputs]  # doctest: +SKIP
        [(None, 1000), (None, 1280)]
    """
    import keras

    try:
        clip = model.get_layer(REACT_LAYER)
    except ValueError:
        return model
    return keras.Model(model.inputs[0], [model.outputs[0], clip.output], name=f"{model.name}_forward")


def head_weights(description: ModelDescription, model: Any = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the last layer's kernel (1280, classes) and bias of a network with the ReAct clip, else ``None``.

    From the weights file (``"imagenet"`` or an ``.h5`` path) with h5py, so no TensorFlow is imported; from the
    Keras ``model`` (given, or the description's) otherwise.

    Example:
        >>> head_weights(ModelDescription())[0].shape  # doctest: +SKIP
        (1280, 1000)
    """
    if model is None and description.keras_model is None and description.keras_file is None:
        if description.weights is None:
            model = build_mobilenet_v2(None, description.num_classes)
        else:
            import h5py

            path = resolve_weights() if description.weights == "imagenet" else Path(description.weights)
            arrays: dict[str, np.ndarray] = {}

            def keep_array(name: str, item: Any) -> None:  # "predictions/kernel" or "predictions/kernel:0"
                if isinstance(item, h5py.Dataset):
                    arrays[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(item, np.float32)

            with h5py.File(path, "r") as weights_file:
                weights_file[LOGITS_LAYER].visititems(keep_array)
            if {"kernel", "bias"} - set(arrays):
                raise NetworkError(
                    f"{path} has no kernel and bias for its {LOGITS_LAYER!r} layer. What to do: use "
                    "MobileNetV2 weights with the ImageNet classifier (include_top=True)."
                )
            return arrays["kernel"], arrays["bias"]
    model = load_keras_model(description) if model is None else model
    try:
        model.get_layer(REACT_LAYER)
    except ValueError:
        return None
    kernel, bias = model.get_layer(LOGITS_LAYER).get_weights()
    return np.asarray(kernel, np.float32), np.asarray(bias, np.float32)


def load_keras_model(description: ModelDescription) -> Any:
    """Return the Keras model (image -> logits) a description names: in memory, a ``.keras`` file, or built.

    Raises :class:`NetworkError` when a saved model's outputs do not match ``description.num_classes``.

    Example:
        >>> load_keras_model(ModelDescription(weights=None)).output_shape  # doctest: +SKIP
        (None, 1000)
    """
    if description.keras_model is not None:
        return description.keras_model
    if description.keras_file is None:
        return build_mobilenet_v2(description.weights, num_classes=description.num_classes)
    import keras

    path = Path(description.keras_file)
    if not path.is_file():
        raise NetworkError(f"No model at '{path}'. What to do: check the path, or export the model again.")
    model = keras.models.load_model(path, compile=False)
    if model.output_shape[-1] != description.num_classes:
        raise NetworkError(
            f"{path} has {model.output_shape[-1]} outputs but {description.num_classes} classes are "
            "named for it. What to do: export the model again."
        )
    return model


def compile_forward(model: Any) -> ForwardFunction:
    """Return ``batch -> (logits, clipped features or None)`` as one ``tf.function`` with a fixed input signature.

    The function is never retraced; it runs :func:`forward_model` (two outputs when the model has the ReAct clip).

    Example:
        >>> forward = compile_forward(build_mobilenet_v2(None))  # doctest: +SKIP
        >>> [part.shape for part in forward(np.zeros((2, 224, 224, 3), np.float32))]  # doctest: +SKIP
        [(2, 1000), (2, 1280)]
    """
    import tensorflow as tf

    both = forward_model(model)
    height, width, channels = model.input_shape[1:]
    signature = [tf.TensorSpec([None, height, width, channels], tf.float32)]
    compiled = tf.function(lambda batch: both(batch, training=False), input_signature=signature, reduce_retracing=True)

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = compiled(tf.convert_to_tensor(batch, tf.float32))
        if isinstance(outputs, (list, tuple)):
            return outputs[0].numpy(), outputs[1].numpy()
        return outputs.numpy(), None

    return forward
