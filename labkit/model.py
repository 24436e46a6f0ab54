"""The Classifier: MobileNetV2 loaded once, one compiled forward pass reused for every image.

Why not ``model.predict``? Each ``predict`` call builds a data pipeline and a step function around the model,
which costs tens of milliseconds on these 2-core machines, many times the forward pass itself. labkit compiles the
forward pass once (``tf.function`` with a fixed input signature, so it never retraces) and warms it up on
construction, so the first student's photo is as fast as the hundredth.

TensorFlow is imported only when a Keras model is built, so ``import labkit`` stays light.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
from PIL import Image

from labkit.engines import DEFAULT_ENGINE, default_engine
from labkit.images import load_image
from labkit.predict import Prediction, softmax, top_k
from labkit.preprocess import DEFAULT_POLICY, IMAGE_SIZE, ResizePolicy, to_batch, to_model_input
from labkit.weights import load_class_index, readable_label, resolve_weights

ImageSource = Union[str, os.PathLike, bytes, Image.Image, Any]
LogitsFunction = Callable[[np.ndarray], np.ndarray]


# ReAct (Sun et al., 2021, "ReAct: Out-of-distribution detection with rectified activations"): the 1280 pooled
# features are clipped at this value before the last Dense layer. Images unlike any photo (colour noise, text pages)
# push a few features far above what photos do; clipping them keeps those images' logits small, so the app's
# "not sure" flag catches them (median AUROC 0.88 -> 0.99, generated noise flagged 51 % -> 99 %, benchmarks/ood.py)
# while the photos' answers stay the same (top-1 54/60 with and without). The value is the 95th percentile
# (labkit.uncertainty.REACT_PERCENTILE) of the pooled features of the 60 photos in ../shared/samples, ImageNet
# weights, "squash" policy; labkit.uncertainty.measure_react_clip(folder) re-derives it, benchmarks/ood.py prints it.
REACT_CLIP = 1.506


def build_mobilenet_v2(weights: str | os.PathLike | None = "imagenet", num_classes: int = 1000):
    """Build Keras' MobileNetV2 whose last layer outputs logits (softmax is applied by labkit).

    The pooled features are clipped at :data:`REACT_CLIP` (a ``ReLU`` layer named ``"react_clip"``) before the
    ``"predictions"`` layer, for every build, so a ``weights=None`` model has the same graph as the real one.

    Args:
        weights: ``"imagenet"`` (found by :func:`labkit.weights.resolve_weights`), a path to an ``.h5`` file, or
            ``None`` for random weights (fast tests).

    Example:
        >>> build_mobilenet_v2(None).output_shape
        (None, 1000)
    """
    import keras

    if weights == "imagenet":
        weights = resolve_weights()
    # Logits rather than probabilities: temperature scaling and the energy score need them.
    base = keras.applications.MobileNetV2(weights=None if weights is None else str(weights), classes=num_classes,
                                          classifier_activation=None)
    head = base.get_layer("predictions")  # reused, with its loaded weights; its input is the pooled features
    clipped = keras.layers.ReLU(max_value=REACT_CLIP, name="react_clip")(head.input)
    return keras.Model(base.input, head(clipped), name=base.name)  # one flat graph: Grad-CAM reads "out_relu"


def compile_forward(model) -> LogitsFunction:
    """Return ``batch -> logits`` as one ``tf.function`` with a fixed input signature (never retraced).

    Example:
        >>> forward = compile_forward(build_mobilenet_v2(None))
        >>> forward(np.zeros((2, 224, 224, 3), np.float32)).shape
        (2, 1000)
    """
    import tensorflow as tf

    height, width, channels = model.input_shape[1:]
    signature = [tf.TensorSpec([None, height, width, channels], tf.float32)]
    compiled = tf.function(lambda batch: model(batch, training=False), input_signature=signature,
                           reduce_retracing=True)

    def forward(batch: np.ndarray) -> np.ndarray:
        return compiled(tf.convert_to_tensor(batch, tf.float32)).numpy()

    return forward


class Classifier:
    """An image classifier that loads its model once and answers in milliseconds.

    Args:
        weights: ``"imagenet"`` (default; found via ``$LABKIT_WEIGHTS_DIR``, Keras' cache or download), a path to
            MobileNetV2 ``.h5`` weights, or ``None`` for an untrained model (fast tests).
        engine: ``"keras"`` (a compiled ``tf.function``) or an engine from :mod:`labkit.engines` (LiteRT). Default:
            :data:`labkit.engines.DEFAULT_ENGINE` for weights from a file, ``"keras"`` for a model in memory
            (``model=`` or ``weights=None``), see :func:`labkit.engines.default_engine`.
        policy: the resize policy, see :mod:`labkit.preprocess`.
        warm_up: run one forward pass now so the first real image is fast.
        model: a Keras model that outputs logits, instead of building MobileNetV2 (fine-tuned models).
        class_names: readable class names for ``model``'s outputs; ``wnids`` optional ids (default: the names).

    Example:
        >>> classifier = Classifier()
        >>> classifier.classify("data/samples/207_golden_retriever.jpg").label
        'golden retriever'
    """

    def __init__(self, weights: str | os.PathLike | None = "imagenet", *, engine: str | None = None,
                 policy: ResizePolicy = DEFAULT_POLICY, warm_up: bool = True, model=None,
                 class_names: Sequence[str] | None = None, wnids: Sequence[str] | None = None) -> None:
        if class_names is None:
            if model is not None:
                raise ValueError("A custom model needs its class_names (one per output).")
            classes = load_class_index()
            class_names = [readable_label(label) for _, label in classes]
            wnids = [wnid for wnid, _ in classes]
        self.class_names = list(class_names)
        self.wnids = list(wnids) if wnids is not None else list(self.class_names)
        self.engine = engine = default_engine(weights, model) if engine is None else engine
        self.policy = policy
        self.temperature = 1.0
        # The shipped calibration (temperature + "not sure" flag, labkit/data/calibration.json) was fitted for the
        # ImageNet weights only; other models get none until one is fitted (labkit.uncertainty.fit_calibration).
        self.calibration = None
        if model is None and weights == "imagenet":
            from labkit.uncertainty import shipped_calibration

            shipped_calibration().apply_to(self)
        self.weights = weights
        self._model = model
        self._forward = self._make_forward(engine)
        if warm_up:
            self.logits(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32))

    def _make_forward(self, engine: str) -> LogitsFunction:
        if engine == "keras":
            return compile_forward(self.model)
        from labkit.engines import make_forward  # LiteRT engines; imported only when asked for

        return make_forward(engine, self)

    @property
    def model(self):
        """The Keras model (outputs logits); built on first use for engines that don't need it."""
        if self._model is None:
            self._model = build_mobilenet_v2(self.weights, num_classes=len(self.class_names))
        return self._model

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Return raw scores, shape (N, classes), for a preprocessed batch (N, 224, 224, 3) in [-1, 1]."""
        return np.asarray(self._forward(np.asarray(batch, np.float32)))

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Return probabilities, shape (N, classes), for a preprocessed batch, using the calibrated temperature."""
        return softmax(self.logits(batch), self.temperature)

    def _prediction(self, logits: np.ndarray, elapsed_ms: float, top: int, notes: Iterable[str] = ()) -> Prediction:
        probabilities = softmax(logits, self.temperature)
        not_sure, ood_score = (False, None) if self.calibration is None else (
            self.calibration.not_sure(logits), self.calibration.ood_score(logits))
        return Prediction(top=top_k(probabilities, self.class_names, self.wnids, top), elapsed_ms=elapsed_ms,
                          logits=logits, not_sure=not_sure, ood_score=ood_score, notes=tuple(notes))

    def predict(self, images: Sequence[ImageSource], top: int = 3) -> list[Prediction]:
        """Classify a batch of images (paths, bytes, file objects or PIL images), one :class:`Prediction` each.

        ``elapsed_ms`` is each image's own decode and preprocessing time plus its share of the batch's forward pass.

        Example:
            >>> [p.label for p in Classifier().predict(["a.jpg", "b.png"])]  # doctest: +SKIP
        """
        if isinstance(images, (str, os.PathLike, bytes, Image.Image)):
            raise TypeError("predict() takes a list of images; use classify(image) for one.")
        prepared, prepare_ms, notes = [], [], []
        for source in images:
            start = time.perf_counter()
            image = source if isinstance(source, Image.Image) else load_image(source)
            prepared.append(to_model_input(image, self.policy))
            prepare_ms.append((time.perf_counter() - start) * 1000)
            notes.append(image.info.get("labkit_notes", []))
        if not prepared:
            return []
        start = time.perf_counter()
        logits = self.logits(np.stack(prepared))
        forward_share_ms = (time.perf_counter() - start) * 1000 / len(prepared)
        return [self._prediction(row, ms + forward_share_ms, top, note)
                for row, ms, note in zip(logits, prepare_ms, notes)]

    def classify(self, image: ImageSource, top: int = 3) -> Prediction:
        """Classify one image (path, bytes, file object or PIL image).

        Example:
            >>> print(Classifier().classify("data/samples/340_zebra.jpg"))  # doctest: +SKIP
            zebra 99%, ...
        """
        return self.predict([image], top=top)[0]

    def predict_batch(self, batch: np.ndarray, top: int = 3) -> list[Prediction]:
        """Classify an already preprocessed batch (N, 224, 224, 3); ``elapsed_ms`` is the forward pass's share."""
        start = time.perf_counter()
        logits = self.logits(batch)
        share = (time.perf_counter() - start) * 1000 / max(1, len(batch))
        return [self._prediction(row, share, top) for row in logits]

    @classmethod
    def from_export(cls, folder: str | os.PathLike, *, engine: str = "keras", warm_up: bool = True) -> "Classifier":
        """Load a fine-tuned model exported by :func:`labkit.export.export_model` (``model.keras`` + ``labels.txt``).

        Args:
            folder: the export folder.
            engine: ``"keras"`` (``model.keras``) or ``"litert"`` (the exported ``model.tflite``).

        Example:
            >>> Classifier.from_export("exports/trashnet", engine="litert").class_names  # doctest: +SKIP
            ['glass', 'metal', 'paper', 'plastic']
        """
        from labkit.export import load_exported  # imported here: labkit.export itself imports this module

        return load_exported(folder, engine=engine, warm_up=warm_up)

    def __repr__(self) -> str:
        return f"Classifier(engine={self.engine!r}, classes={self.num_classes}, policy={self.policy!r})"


@lru_cache(maxsize=4)
def shared_classifier(engine: str = DEFAULT_ENGINE) -> Classifier:
    """Return this process's classifier for ``engine``, built on first call (the app loads the model once per kernel).

    Example:
        >>> shared_classifier() is shared_classifier()
        True
    """
    return Classifier(engine=engine)
