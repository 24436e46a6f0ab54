"""Where did the model look? Grad-CAM heatmaps and overlays.

Grad-CAM (Selvaraju et al., 2017) asks: if this class's score went up, which parts of the last convolutional
feature map would have pushed it there? Three steps:

1. Run the image and keep the last 4-D feature map (for MobileNetV2: 7 x 7 cells x 1280 channels, from
   ``"out_relu"``) together with the class logits.
2. Take the gradient of the class's *logit* with respect to that feature map and average it over the 7 x 7 cells:
   one weight per channel, "how much does this channel matter for this class".
3. Sum the channels with those weights, keep the positive part (evidence *for* the class), scale to [0, 1] and
   enlarge the 7 x 7 map to the photo's size.

Why the logit and not the probability? The softmax couples all 1000 classes: a probability can rise because other
classes fell. labkit's models output logits (no softmax layer), so the gradient is the class's own evidence.

**No gradient needed for a pooled-then-dense network.** MobileNetV2 (and every model labkit fine-tunes) ends with
global average pooling and one Dense layer: ``logit = mean of the map over its 49 cells @ weights + bias``. The
gradient of a logit with respect to each cell of a channel is then that channel's weight divided by 49 (zero for
the channels the ReAct clip caps), the same in every cell: step 2 is a lookup, and Grad-CAM equals CAM (Zhou et
al., 2016), a weighted sum of the feature map (:func:`class_activation_map`). labkit computes it with numpy from
the feature map the classifying engine returns (:meth:`labkit.Classifier.feature_maps`), so the app never imports
TensorFlow; models of any other shape, and ``use_gradient=True``, take the Keras gradient path. Lesson 04 shows
the two side by side; ``tests/test_explain.py`` checks they agree.

**Important note:** the gradient path builds its own small model that shares the classifier's layers and weights;
it never changes the classifier's model (no ``layer.activation = None``), so predictions stay exactly as they were.

Example:
    >>> from labkit import Classifier
    >>> classifier = Classifier()
    >>> heatmap = gradcam(classifier, "data/samples/tabby.jpg")  # doctest: +SKIP
    >>> overlay_heatmap(load_image("data/samples/tabby.jpg"), heatmap)  # doctest: +SKIP
    <PIL.Image.Image image mode=RGB size=577x384>
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from labkit.errors import LabkitError
from labkit.images import ImageSource, as_image
from labkit.model import Classifier
from labkit.network import DenseHead
from labkit.preprocess import CROP_FROM, IMAGE_SIZE, ResizePolicy, to_model_input

DEFAULT_ALPHA = 0.45  # enough colour to read the heatmap, enough photo to recognise what is under it
DEFAULT_COLORMAP = "jet"  # the colours Grad-CAM papers use: blue = ignored, red = looked here

# One compiled Grad-CAM function per Keras model, dropped when the model is garbage-collected.
_compiled: weakref.WeakKeyDictionary[Any, Callable] = weakref.WeakKeyDictionary()


class ExplainError(LabkitError, ValueError):
    """A heatmap could not be computed for this model or class; the message says what to do."""


def _has_feature_map(layer) -> bool:
    """True if the layer outputs a 4-D (batch, height, width, channels) tensor, or is a model containing one."""
    import keras

    if isinstance(layer, keras.Model):
        return any(_has_feature_map(inner) for inner in layer.layers)
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # a layer that was never called, or has several outputs
        return False


def last_feature_layer(model):
    """Return the last layer with a 4-D output (or a nested model holding one): where Grad-CAM reads.

    For Keras' MobileNetV2 this is ``"out_relu"``; for a fine-tuned model with MobileNetV2 nested inside, the
    nested model.

    Example:
        >>> last_feature_layer(build_mobilenet_v2(None)).name  # doctest: +SKIP
        'out_relu'
    """
    import keras

    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if _has_feature_map(layer):
            return layer
    raise ExplainError(
        f"{model.name} has no layer with a 4-D (height x width x channels) output, so there is no "
        "feature map to explain. Grad-CAM needs a convolutional model such as MobileNetV2."
    )


def gradcam_model(model):
    """Return a Keras model mapping the input to ``[last feature map, logits]``, sharing ``model``'s layers.

    Works for a flat functional graph (Keras' MobileNetV2) and for a head built on a nested base model (a
    ``Sequential`` or functional model with MobileNetV2 as one layer): the nested base is opened up recursively
    and the head is re-applied on top of it. Nothing in ``model`` is changed.

    Example:
        >>> features, logits = gradcam_model(build_mobilenet_v2(None)).outputs  # doctest: +SKIP
        >>> features.shape, logits.shape  # doctest: +SKIP
        ((None, 7, 7, 1280), (None, 1000))
    """
    import keras

    feature_layer = last_feature_layer(model)
    if not isinstance(feature_layer, keras.Model):  # flat graph: both tensors already exist in it
        return keras.Model(
            _single(model.inputs), [feature_layer.output, model.outputs[0]], name=f"{model.name}_gradcam"
        )

    inner = gradcam_model(feature_layer)  # [features, nested model's output], from the nested model's own graph
    captured = {}

    def call_with_features(layer, *args, **kwargs):
        if layer is feature_layer:
            captured["features"], output = inner(*args, **kwargs)
            return output
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):  # a plain chain of layers: re-apply them one by one
        inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call_with_features(layer, outputs)
    else:  # any functional graph: re-trace it with the same layers, swapping in the opened-up base
        rebuilt = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call_with_features)
        inputs, outputs = _single(rebuilt.inputs), rebuilt.outputs[0]
    return keras.Model(inputs, [captured["features"], outputs], name=f"{model.name}_gradcam")


def _single(inputs: list):
    """One input tensor rather than a list of one, so the model takes a plain batch without a structure warning."""
    return inputs[0] if len(inputs) == 1 else inputs


def _compiled_gradcam(model) -> Callable:
    """Return ``(batch, class_index) -> (cams, chosen class, logits)`` as one traced ``tf.function`` per model."""
    if model in _compiled:
        return _compiled[model]
    import tensorflow as tf

    grad_model = gradcam_model(model)
    height, width = grad_model.inputs[0].shape[1:3]
    signature = [tf.TensorSpec([None, height, width, 3], tf.float32), tf.TensorSpec([], tf.int32)]

    @tf.function(input_signature=signature)
    def run(batch, class_index):
        with tf.GradientTape() as tape:
            # Watch the input, not just trainable weights: a fine-tuned model's frozen base has none to watch,
            # and the tape would then lose the path from the feature map to the logit.
            tape.watch(batch)
            features, logits = grad_model(batch, training=False)
            chosen = tf.where(class_index < 0, tf.argmax(logits[0], output_type=tf.int32), class_index)
            score = tf.gather(logits, chosen, axis=1)
        gradients = tape.gradient(score, features)
        channel_weights = tf.reduce_mean(gradients, axis=(1, 2))  # (batch, channels): how much each channel counts
        cams = tf.nn.relu(tf.einsum("bhwc,bc->bhw", features, channel_weights))  # keep evidence *for* the class
        return cams, chosen, logits

    _compiled[model] = run
    return run


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Enlarge (or shrink) a heatmap to ``size`` = (width, height), smoothly (bilinear), keeping values in [0, 1].

    Example:
        >>> resize_heatmap(np.eye(7, dtype=np.float32), (224, 224)).shape
        (224, 224)
    """
    resized = Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F").resize(
        (int(size[0]), int(size[1])), Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _model_view_box(image_size: tuple[int, int], policy: ResizePolicy) -> tuple[int, int, int, int]:
    """Return the part of the photo (left, top, right, bottom) that the model saw under ``policy``."""
    width, height = image_size
    if policy == "squash":
        return 0, 0, width, height
    # The centre square that labkit.preprocess.resize_for_model crops (shorter side to CROP_FROM, centre IMAGE_SIZE).
    side = min(width, height) * IMAGE_SIZE / CROP_FROM
    left, top = (width - side) / 2, (height - side) / 2
    return round(left), round(top), round(left + side), round(top + side)


def class_activation_map(feature_map: np.ndarray, head: DenseHead, class_index: int) -> np.ndarray:
    """Return Grad-CAM for a pooled-then-dense network, with numpy: the feature map summed with the class's weights.

    Steps 2 and 3 of the module's recipe, where the gradient is read off the last layer: the logit's gradient with
    respect to every cell of channel ``c`` is ``kernel[c, class] / cells``, and zero where the ReAct clip caps the
    pooled feature (a capped value does not move when the channel grows). Not yet scaled to [0, 1].

    Args:
        feature_map: the last feature map of one image, (height, width, channels), e.g. 7 x 7 x 1280.
        head: the network's last layer (:attr:`labkit.Classifier.dense_head`).
        class_index: the class to explain.

    Example:
        >>> head = DenseHead(np.eye(2, dtype=np.float32), np.zeros(2, np.float32))
        >>> class_activation_map(np.stack([np.eye(2), -np.eye(2)], axis=-1), head, 0).tolist()
        [[0.25, 0.0], [0.0, 0.25]]
    """
    feature_map = np.asarray(feature_map, np.float32)
    height, width, _ = feature_map.shape
    weights = head.kernel[:, class_index] / np.float32(height * width)  # the gradient, the same in every cell
    if head.clip is not None:
        pooled = feature_map.mean(axis=(0, 1))
        weights = np.where(pooled <= np.float32(head.clip), weights, np.float32(0))  # no gradient above the cap
    # einsum's own loop, not a BLAS call: OpenBLAS's threads would keep spinning beside LiteRT's (see labkit.ood)
    return np.maximum(np.einsum("hwc,c->hw", feature_map, weights, optimize=False), 0)


def _engine_cam(classifier: Classifier, batch: np.ndarray, class_index: int | None) -> np.ndarray | None:
    """Grad-CAM from the engine's feature map and the last layer's weights; ``None`` if the model can't give them."""
    head = classifier.dense_head
    found = None if head is None else classifier.feature_maps(batch)
    if head is None or found is None:
        return None
    logits, maps = found
    return class_activation_map(maps[0], head, int(np.argmax(logits[0])) if class_index is None else class_index)


def _gradient_cam(classifier: Classifier, batch: np.ndarray, class_index: int | None) -> np.ndarray:
    """Grad-CAM with Keras' gradient tape on the classifier's Keras model (built, with TensorFlow, on first use)."""
    cams, _, _ = _compiled_gradcam(classifier.model)(batch, np.int32(-1 if class_index is None else class_index))
    return cams.numpy()[0]


def gradcam(
    classifier: Classifier, image: ImageSource, class_index: int | None = None, *, use_gradient: bool = False
) -> np.ndarray:
    """Return a Grad-CAM heatmap for one image: shape (height, width) of the photo, values in [0, 1].

    1 marks where the model found the most evidence for the class, 0 none. With the ``"crop"`` resize policy the
    border the model never saw stays 0.

    Args:
        classifier: a :class:`labkit.Classifier`, any engine. A pooled-then-dense model (the ImageNet one, a
            fine-tuned one) gets the heatmap from the engine that classifies, with numpy
            (:func:`class_activation_map`); any other model from its Keras model's gradient.
        image: a path, bytes, file object or PIL image.
        class_index: the class to explain; ``None`` explains the model's top class. In an app, pass the shown
            prediction's ``class_index`` so the heatmap matches the answer on screen.
        use_gradient: take the Keras gradient path even when the weights give the answer (lesson 04 compares them).

    Example:
        >>> heatmap = gradcam(classifier, "data/samples/tabby.jpg")  # doctest: +SKIP
        >>> heatmap.shape, float(heatmap.max())  # doctest: +SKIP
        ((384, 577), 1.0)
    """
    photo = as_image(image)
    policy = classifier.policy
    classes = classifier.num_classes
    if class_index is not None and not 0 <= class_index < classes:
        raise ExplainError(
            f"class_index {class_index} is out of range: this model has classes 0..{classes - 1}. "
            "Pass a prediction's class_index, or None for the top class."
        )
    batch = to_model_input(photo, policy)[None]
    cam = None if use_gradient else _engine_cam(classifier, batch, class_index)
    if cam is None:
        cam = _gradient_cam(classifier, batch, class_index)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else np.zeros_like(cam)  # no positive evidence anywhere: an all-zero map
    left, top, right, bottom = _model_view_box(photo.size, policy)
    heatmap = np.zeros((photo.height, photo.width), np.float32)
    heatmap[top:bottom, left:right] = resize_heatmap(cam, (right - left, bottom - top))
    return heatmap


def overlay_heatmap(
    image: ImageSource, heatmap: np.ndarray, alpha: float = DEFAULT_ALPHA, colormap: str = DEFAULT_COLORMAP
) -> Image.Image:
    """Colour a heatmap (blue = ignored, red = looked here) and blend it over the photo; return an RGB image.

    Args:
        image: the photo (path, bytes or PIL image); the result has its size.
        heatmap: values in [0, 1], any size (it is resized to the photo).
        alpha: how much colour: 0 shows only the photo, 1 only the heatmap.
        colormap: a matplotlib colormap name.

    Example:
        >>> overlay_heatmap(Image.new("RGB", (64, 48)), np.ones((7, 7))).size
        (64, 48)
    """
    from matplotlib import colormaps  # lazy: only pictures need matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 (photo only) and 1 (heatmap only); got {alpha}.")
    photo = as_image(image)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != (photo.height, photo.width):
        heatmap = resize_heatmap(np.clip(heatmap, 0, 1), photo.size)
    coloured = colormaps[colormap](np.clip(heatmap, 0, 1))[..., :3]
    return Image.blend(photo, Image.fromarray((coloured * 255).astype(np.uint8)), alpha)


def gradcam_overlay(
    classifier: Classifier, image: ImageSource, class_index: int | None = None, alpha: float = DEFAULT_ALPHA
) -> Image.Image:
    """Return the photo with its Grad-CAM heatmap blended over it, in one call (what the app's toggle shows).

    Example:
        >>> gradcam_overlay(classifier, "data/samples/tabby.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    photo = as_image(image)
    return overlay_heatmap(photo, gradcam(classifier, photo, class_index), alpha)
