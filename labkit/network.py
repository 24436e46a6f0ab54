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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from labkit.errors import LabkitError
from labkit.preprocess import DEFAULT_POLICY, IMAGE_SIZE, ResizePolicy
from labkit.rebuild import weights_path
from labkit.weights import LayerWeights, fingerprint_layers, weights_file_fingerprint


class ForwardFunction(Protocol):
    """What every engine provides: ``batch (N, 224, 224, 3) float32 in [-1, 1] -> (logits (N, classes), clipped
    pooled features (N, 1280) or None)``, and the last feature map when a heatmap asks for it.

    The features are those the last layer reads, after the ReAct clip; ``None`` for a model without the clip (a
    fine-tuned one). The "not sure" score of the ImageNet model needs them (:func:`labkit.ood.ash_s_energy`);
    fine-tuned models keep the energy of their logits (``benchmarks/README.md``).

    Decision: the network gets further outputs beside its logits (:func:`forward_model`), rather than returning the
    features alone and computing the logits in numpy: the logits come from the very graph they came from before
    (the same answers on every engine, int8 included, where a numpy Dense layer would differ from the quantized
    one). The ASH-S score takes the last layer's weights from the weights file (:func:`head_weights`), so the LiteRT
    engines still run without TensorFlow; so do heatmaps (:class:`DenseHead`).
    """

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...

    def feature_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(logits, last feature maps (N, 7, 7, 1280))``, or ``None`` when the model is not pooled-then-dense."""
        ...


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
    or ``None`` for random weights). ``litert_file`` is a ready float32 LiteRT model for the ``"litert"`` engine;
    ``head_file`` its last layer (:class:`DenseHead`), so its heatmaps need no TensorFlow.

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
    head_file: Path | None = None
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
        weights: ``"imagenet"`` (labkit's own, built on first use: :func:`labkit.rebuild.weights_path`),
            ``"keras-download"`` (Keras' original), a path to an ``.h5`` file, or ``None`` for random weights (fast
            tests).
        num_classes: outputs of the last layer.

    Example:
        >>> build_mobilenet_v2(None).output_shape  # doctest: +SKIP
        (None, 1000)
    """
    import keras

    if weights is not None:
        weights = weights_path(weights)
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
        weights: ``"imagenet"`` or ``"keras-download"`` (the no-top file, :func:`labkit.rebuild.weights_path`), a
            path to a no-top ``.h5`` file, or ``None`` for random weights.

    Example:
        >>> build_base(None).output_shape  # doctest: +SKIP
        (None, 7, 7, 1280)
    """
    import keras

    if weights is not None:
        weights = weights_path(weights, include_top=False)
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
    """Return ``image -> [logits, clipped pooled features, last feature map]``, each output only if the model has it.

    The clipped pooled features exist when the model has a ``"react_clip"`` layer (the ImageNet model); the last
    feature map (7 x 7 x 1280) when the model is pooled-then-dense (:func:`dense_head_of`), so a heatmap can be
    computed from the engine that classifies (:mod:`labkit.explain`). The outputs share every layer with ``model``:
    the logits are exactly the model's own; a model with neither keeps its one output.

    Example:
        >>> [output.shape for output in forward_model(build_mobilenet_v2(None)).outputs]  # doctest: +SKIP
        [(None, 1000), (None, 1280), (None, 7, 7, 1280)]
    """
    import keras

    outputs = [model.outputs[0]]
    try:
        outputs.append(model.get_layer(REACT_LAYER).output)
    except ValueError:
        pass
    path = _pooled_dense_path(model)
    if path is not None:
        outputs.append(path[0])
    if len(outputs) == 1:
        return model
    return keras.Model(model.inputs[0], outputs, name=f"{model.name}_forward")


@dataclass(frozen=True, eq=False)
class DenseHead:
    """The end of a pooled-then-dense network: ``logits = clip(the feature map's mean over its cells) @ kernel + bias``.

    For such a network the gradient of a class's logit with respect to the last feature map is that class's column
    of ``kernel`` divided by the number of cells (zero for the channels the ReAct ``clip`` caps): Grad-CAM is then a
    weighted sum of the feature map (:func:`labkit.explain.class_activation_map`), no gradient needed.

    Args:
        kernel: the Dense layer's weights, (channels, classes).
        bias: its bias, (classes,).
        clip: the ReAct cap on the pooled features (:data:`REACT_CLIP` for the ImageNet model), ``None`` without one.

    Example:
        >>> DenseHead(np.zeros((1280, 4), np.float32), np.zeros(4, np.float32)).num_classes
        4
    """

    kernel: np.ndarray
    bias: np.ndarray
    clip: float | None = None

    @property
    def num_classes(self) -> int:
        return int(self.kernel.shape[1])

    def save(self, path: str | os.PathLike) -> Path:
        """Write the head to an ``.npz`` file (what an export keeps beside its LiteRT model)."""
        path = Path(path)
        with open(path, "wb") as handle:  # a file object: numpy would otherwise add ".npz" to another suffix
            np.savez(
                handle, kernel=self.kernel, bias=self.bias, clip=np.float32(np.nan if self.clip is None else self.clip)
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DenseHead:
        """Read a head written by :meth:`save` (numpy only: no TensorFlow)."""
        with np.load(Path(path)) as arrays:
            clip = float(arrays["clip"])
            return cls(
                np.asarray(arrays["kernel"], np.float32),
                np.asarray(arrays["bias"], np.float32),
                None if np.isnan(clip) else clip,
            )


def dense_head_of(model: Any) -> DenseHead | None:
    """Return the :class:`DenseHead` of a Keras model that is pooled-then-dense, else ``None``.

    Pooled-then-dense: the output is a linear ``Dense`` layer reading ``GlobalAveragePooling2D`` of a 4-D feature
    map, maybe through the ReAct clip (a ``ReLU`` with a ``max_value``) and dropout (which does nothing when
    classifying): labkit's ImageNet model and its fine-tuned models (:func:`build_classifier_model`).

    Example:
        >>> dense_head_of(build_mobilenet_v2(None)).clip  # doctest: +SKIP
        1.506
    """
    path = _pooled_dense_path(model)
    if path is None:
        return None
    _, dense, clip = path
    kernel, bias = dense.get_weights()
    return DenseHead(np.asarray(kernel, np.float32), np.asarray(bias, np.float32), clip)


def _pooled_dense_path(model: Any) -> tuple[Any, Any, float | None] | None:
    """``(feature map tensor, Dense layer, clip or None)`` when ``model`` ends pooled-then-dense, else ``None``."""
    import keras

    def producer(tensor: Any) -> tuple[Any, Any]:
        # The layer and the input of the call that made `tensor` (a layer may have been called more than once:
        # labkit's ImageNet model calls "predictions" again after the clip).
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None, None
        node = history.operation._inbound_nodes[history.node_index]
        return history.operation, node.input_tensors[0] if len(node.input_tensors) == 1 else None

    if len(model.outputs) != 1:
        return None
    dense, tensor = producer(model.outputs[0])
    if (
        not isinstance(dense, keras.layers.Dense)
        or dense.activation is not keras.activations.linear
        or not dense.use_bias
    ):
        return None
    clip = None
    layer, inner = producer(tensor)
    while isinstance(layer, (keras.layers.Dropout, keras.layers.ReLU)):
        if isinstance(layer, keras.layers.ReLU):
            if clip is not None or layer.negative_slope != 0 or layer.threshold != 0:
                return None
            clip = None if layer.max_value is None else float(layer.max_value)
        tensor = inner
        layer, inner = producer(tensor)
    pooling = isinstance(layer, keras.layers.GlobalAveragePooling2D) and not layer.keepdims
    if not pooling or layer.data_format != "channels_last" or inner is None or len(inner.shape) != 4:
        return None
    if isinstance(producer(inner)[0], keras.layers.InputLayer):  # pooling the photo itself: no feature map
        return None
    return inner, dense, clip


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

            path = weights_path(description.weights)
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


def weights_fingerprint(description: ModelDescription) -> str | None:
    """Return which weights a described network answers with (:func:`labkit.weights.fingerprint_layers`).

    What a calibration records and is matched against: the same for CI's ``../shared/models`` and labkit's own
    weights built on any machine, different for Keras' original or a changed last layer. From the weights file
    with h5py (labkit's own are built first if needed) or from the model in memory; ``None`` for random weights and
    for a saved ``.keras`` model (an export carries its own calibration).

    Example:
        >>> weights_fingerprint(ModelDescription()) == weights_fingerprint(ModelDescription())  # doctest: +SKIP
        True
    """
    if description.keras_model is not None:
        return keras_model_fingerprint(description.keras_model)
    if description.keras_file is not None or description.weights is None:
        return None
    return weights_file_fingerprint(weights_path(description.weights))


def keras_model_fingerprint(model: Any) -> str:
    """Return :func:`labkit.weights.fingerprint_layers` of a Keras model in memory (nested models flattened).

    Example:
        >>> built = build_mobilenet_v2("imagenet")  # doctest: +SKIP
        >>> keras_model_fingerprint(built) == weights_fingerprint(ModelDescription())  # doctest: +SKIP
        True
    """

    def layers_of(container: Any) -> list[LayerWeights]:
        found: list[LayerWeights] = []
        for layer in container.layers:
            if hasattr(layer, "layers"):
                found.extend(layers_of(layer))
            else:
                found.append([(weight.name, weight.numpy()) for weight in layer.weights])
        return found

    return fingerprint_layers(layers_of(model))


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


def compile_forward(model: Any) -> KerasForward:
    """Return ``batch -> (logits, clipped features or None)`` as one ``tf.function`` with a fixed input signature.

    The function is never retraced; it runs :func:`forward_model` (further outputs when the model has them).

    Example:
        >>> forward = compile_forward(build_mobilenet_v2(None))  # doctest: +SKIP
        >>> [part.shape for part in forward(np.zeros((2, 224, 224, 3), np.float32))]  # doctest: +SKIP
        [(2, 1000), (2, 1280)]
    """
    return KerasForward(model)


class KerasForward:
    """The ``"keras"`` engine: :func:`forward_model` compiled once as a ``tf.function`` (see :class:`ForwardFunction`).

    The outputs are told apart by their shape, as :class:`labkit.engines.LiteRTForward` does: the logits first, a
    4-D last feature map, and the clipped pooled features (2-D) in between when the model has the ReAct clip.
    """

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        graph = forward_model(model)
        ranks = [len(output.shape) for output in graph.outputs]
        self._features = next((index for index, rank in enumerate(ranks) if index > 0 and rank == 2), None)
        self._feature_map = next((index for index, rank in enumerate(ranks) if rank == 4), None)
        height, width, channels = model.input_shape[1:]
        signature = [tf.TensorSpec([None, height, width, channels], tf.float32)]
        self._compiled = tf.function(
            lambda batch: graph(batch, training=False), input_signature=signature, reduce_retracing=True
        )

    def _outputs(self, batch: np.ndarray) -> list[Any]:
        import tensorflow as tf

        outputs = self._compiled(tf.convert_to_tensor(batch, tf.float32))
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self._outputs(batch)
        return outputs[0].numpy(), None if self._features is None else outputs[self._features].numpy()

    def feature_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self._feature_map is None:
            return None
        outputs = self._outputs(batch)
        return outputs[0].numpy(), outputs[self._feature_map].numpy()
