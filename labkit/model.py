"""The Classifier: a network, an engine and a calibration, loaded once and answering in milliseconds.

- the network (:mod:`labkit.network`): MobileNetV2 with the ReAct clip, or a fine-tuned model;
- the engine (:mod:`labkit.engines`): LiteRT by default, or one compiled ``tf.function`` (``"keras"``), built once
  and warmed up on construction, so the first student's photo is as fast as the hundredth;
- the calibration (:mod:`labkit.calibration`): the temperature and the "not sure" rule, fitted for its weights
  (:mod:`labkit.autocalibration`: never another model's; without one its percentages are uncalibrated).

``Classifier()`` is MobileNetV2 on ImageNet (:meth:`Classifier.imagenet`); :meth:`Classifier.from_keras` wraps a Keras
model, :func:`labkit.export.load_exported` an export folder. A classifier does not change once built:
:meth:`Classifier.with_calibration` gives a calibrated copy.

TensorFlow is imported only when a Keras model is built or run, so ``import labkit`` stays light.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from labkit.autocalibration import calibration_for
from labkit.calibration import Calibration
from labkit.engines import DEFAULT_ENGINE, check_engine, default_engine, make_forward
from labkit.images import NOTES_KEY, ImageSource, as_image
from labkit.network import (
    REACT_CLIP,
    DenseHead,
    ForwardFunction,
    ModelDescription,
    compile_forward,
    dense_head_of,
    head_weights,
    load_keras_model,
    weights_fingerprint,
)
from labkit.predict import LOW_CONFIDENCE, Prediction, softmax, top_k
from labkit.preprocess import DEFAULT_POLICY, IMAGE_SIZE, ResizePolicy, to_model_input
from labkit.weights import load_class_index, readable_label


@dataclass
class _Loaded:
    """What a classifier loads on first use, shared with its calibrated copies (:meth:`Classifier.with_calibration`)."""

    model: Any = None  # the Keras model
    head: tuple[np.ndarray, np.ndarray] | None = None
    fingerprint: str | None = None
    dense_head: DenseHead | None = None


def _features_missing(calibration: Calibration) -> str:
    return (
        f"This calibration's 'not sure' score ({calibration.ood_method!r}) reads the "
        "pooled features, which this model does not return. What to do: export the model "
        "again (labkit.export.export_model), or fit a calibration for it "
        "(labkit.calibrate.fit_calibration)."
    )


class Classifier:
    """An image classifier that loads its model once and answers in milliseconds.

    Every classifier is a network (:class:`labkit.network.ModelDescription`), its class names, an engine and a
    calibration; the constructor takes exactly these. The usual networks have a name of their own:

    - :meth:`imagenet`: MobileNetV2 with ImageNet weights and its 1000 classes, calibrated for those weights;
    - :meth:`from_keras`: a Keras model in memory (e.g. fine-tuned) and its class names;
    - an export folder: :func:`labkit.export.load_exported` (the export format is :mod:`labkit.export`'s).

    ``Classifier()`` with no arguments is ``Classifier.imagenet()``: what the lessons and the README type, so it stays
    the one students learn (``Classifier(engine="keras")`` too).

    A classifier never changes once built: :meth:`with_calibration` returns a calibrated copy sharing the loaded
    network and engine.

    Args:
        description: where the network comes from; ``None``: ``ModelDescription()``, labkit's ImageNet weights.
        class_names: readable names, one per output; ``None``: ImageNet's 1000 classes (with their wnids), only for
            a network built from ``description.weights`` (not a Keras model or file).
        wnids: optional ids for ``class_names`` (default: the names).
        engine: ``"keras"`` (a compiled ``tf.function``) or an engine from :mod:`labkit.engines` (LiteRT). Default:
            :data:`labkit.engines.DEFAULT_ENGINE` for weights from a file, ``"keras"`` for a model in memory or
            random weights, see :func:`labkit.engines.default_engine`.
        calibration: the temperature and "not sure" rule. ``None`` with ImageNet's classes: the one fitted for these
            weights (:func:`labkit.autocalibration.calibration_for`: the shipped one for labkit's weights, else fitted
            on imagenet-val-650 when it can be had, else none); ``None`` for another network: none until one is
            fitted (:func:`labkit.calibrate.fit_calibration`). Without one, :attr:`calibrated` is false.
        warm_up: run one forward pass now so the first real image is fast.

    Example:
        >>> classifier = Classifier()
        >>> classifier.classify("data/samples/207_golden_retriever.jpg").label
        'golden retriever'
    """

    def __init__(
        self,
        description: ModelDescription | None = None,
        class_names: Sequence[str] | None = None,
        *,
        wnids: Sequence[str] | None = None,
        engine: str | None = None,
        calibration: Calibration | None = None,
        warm_up: bool = True,
    ) -> None:
        description = ModelDescription() if description is None else description
        if not isinstance(description, ModelDescription):
            raise TypeError(
                f"Classifier's first argument is a ModelDescription, not {description!r}. What to do: for "
                "MobileNetV2 weights from a file use Classifier.imagenet(weights=PATH), for a Keras model "
                "Classifier.from_keras(model, class_names)."
            )
        imagenet = class_names is None
        if class_names is None:
            if description.keras_model is not None or description.keras_file is not None:
                raise ValueError(
                    "A custom model needs its class_names (one per output): Classifier.from_keras(model, class_names)."
                )
            classes = load_class_index()
            class_names = [readable_label(label) for _, label in classes]
            wnids = [wnid for wnid, _ in classes]
        self.class_names = list(class_names)
        self.wnids = list(wnids) if wnids is not None else list(self.class_names)
        if description.num_classes != self.num_classes:
            raise ValueError(
                f"The model has {description.num_classes} outputs but {self.num_classes} "
                "class_names were given: give one name per output."
            )
        self.description = description
        self.weights = description.weights
        self.policy = description.policy
        self.engine = check_engine(
            default_engine(description.weights, description.keras_model) if engine is None else engine
        )
        self._loaded = _Loaded(model=description.keras_model)
        # "keras" compiles the Keras model (building it now); the LiteRT engines never read it.
        self._forward: ForwardFunction = (
            compile_forward(self.model) if self.engine == "keras" else make_forward(self.engine, description)
        )
        if calibration is None and imagenet:  # ImageNet weights from a file: the calibration fitted for them
            calibration = calibration_for(self.weights_fingerprint, self.forward, lambda: self.head, self.policy)
        self._calibration = calibration
        if warm_up:
            _, features = self.forward(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32))
            # read the last layer now (not on the first student's photo), and check the model gives what it needs
            if calibration is not None and calibration.needs_features and (features is None or self.head is None):
                raise ValueError(_features_missing(calibration))

    @classmethod
    def imagenet(
        cls,
        weights: str | os.PathLike | None = "imagenet",
        *,
        engine: str | None = None,
        policy: ResizePolicy = DEFAULT_POLICY,
        warm_up: bool = True,
    ) -> Classifier:
        """MobileNetV2 over ImageNet's 1000 classes, with the calibration fitted for its weights (if it can have one).

        Args:
            weights: ``"imagenet"`` (default: labkit's own, ``$LABKIT_WEIGHTS_DIR`` or built on first use from the
                committed source, :mod:`labkit.weights`), ``"keras-download"`` (Keras' original weights), a path to
                MobileNetV2 ``.h5`` weights, or ``None`` for an untrained model (fast tests; never calibrated).
            engine, warm_up: as for :class:`Classifier`.
            policy: the resize policy, see :mod:`labkit.preprocess`.

        Example:
            >>> Classifier.imagenet("my_weights.h5", engine="keras").num_classes  # doctest: +SKIP
            1000
        """
        return cls(ModelDescription(weights=weights, policy=policy), engine=engine, warm_up=warm_up)

    @classmethod
    def from_keras(
        cls,
        model: Any,
        class_names: Sequence[str],
        *,
        wnids: Sequence[str] | None = None,
        engine: str | None = None,
        policy: ResizePolicy = DEFAULT_POLICY,
        calibration: Calibration | None = None,
        warm_up: bool = True,
    ) -> Classifier:
        """A Keras model in memory (image in [-1, 1] -> logits, e.g. fine-tuned) over ``class_names``.

        It is uncalibrated unless given a ``calibration`` (fit one: :func:`labkit.calibrate.fit_calibration`).

        Args:
            model: the Keras model; its outputs must number ``len(class_names)``.
            class_names: one readable name per output; ``wnids`` optional ids (default: the names).
            engine: default ``"keras"``; a LiteRT engine converts the model (cached by its weights).
            policy: the resize policy its photos get, see :mod:`labkit.preprocess`.

        Example:
            >>> Classifier.from_keras(model, ["glass", "metal", "paper", "plastic"]).num_classes  # doctest: +SKIP
            4
        """
        description = ModelDescription(
            weights=None, num_classes=int(model.output_shape[-1]), policy=policy, keras_model=model
        )
        return cls(description, class_names, wnids=wnids, engine=engine, calibration=calibration, warm_up=warm_up)

    def with_calibration(self, calibration: Calibration | None) -> Classifier:
        """Return a copy answering with ``calibration`` (``None``: uncalibrated); this classifier is unchanged.

        Cheap: the copy shares the loaded network and the engine's compiled forward pass, nothing is loaded again.

        Example:
            >>> mine = classifier.with_calibration(fit_calibration(classifier, "my_photos"))  # doctest: +SKIP
            >>> classifier.calibration is mine.calibration  # doctest: +SKIP
            False
        """
        if calibration is not None and calibration.needs_features and self.head is None:
            raise ValueError(_features_missing(calibration))
        calibrated = copy.copy(self)
        calibrated._calibration = calibration
        return calibrated

    @property
    def calibration(self) -> Calibration | None:
        """The temperature and "not sure" rule this classifier answers with; ``None`` when it has none."""
        return self._calibration

    @property
    def temperature(self) -> float:
        """The calibration's temperature (1 without one: the network's own percentages)."""
        return 1.0 if self._calibration is None else self._calibration.temperature

    @property
    def model(self) -> Any:
        """The Keras model (outputs logits); built or loaded on first use for engines that don't need it."""
        if self._loaded.model is None:
            self._loaded.model = load_keras_model(self.description)
        return self._loaded.model

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def weights_fingerprint(self) -> str | None:
        """Which weights this classifier answers with (:func:`labkit.network.weights_fingerprint`); ``None`` for
        random weights and saved ``.keras`` models. A calibration records it and fits only these weights."""
        if self._loaded.fingerprint is None:
            self._loaded.fingerprint = weights_fingerprint(self.description)
        return self._loaded.fingerprint

    @property
    def calibrated(self) -> bool:
        """Whether the percentages are calibrated; if not, they are the network's own
        (:data:`labkit.predict.UNCALIBRATED_MESSAGE` says so to people)."""
        return self.calibration is not None

    @property
    def head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The last layer's ``(weights (1280, classes), bias)`` when the network has the ReAct clip, else ``None``.

        Read once, from the weights file when there is one (no TensorFlow), else from the Keras model.
        """
        if self._loaded.head is None:
            self._loaded.head = head_weights(self.description, self._loaded.model)
        return self._loaded.head

    @property
    def dense_head(self) -> DenseHead | None:
        """The last layer of a pooled-then-dense network (:class:`labkit.network.DenseHead`), else ``None``.

        Read once, without TensorFlow where it can be: an export's head file, the ImageNet weights file (whose
        network labkit builds with the ReAct clip); else from the Keras model if it is in memory. ``None`` also for
        a saved model whose head file is missing (an older export): its heatmaps take the gradient path.
        """
        loaded, description = self._loaded, self.description
        if loaded.dense_head is None:
            if description.head_file is not None and Path(description.head_file).is_file():
                loaded.dense_head = DenseHead.load(description.head_file)
            elif loaded.model is not None:
                loaded.dense_head = dense_head_of(loaded.model)
            elif description.keras_file is None and self.head is not None:
                loaded.dense_head = DenseHead(*self.head, clip=REACT_CLIP)  # build_mobilenet_v2's graph
        return loaded.dense_head

    def feature_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Return ``(logits, last feature maps (N, 7, 7, 1280))`` from the engine that classifies, or ``None``.

        ``None`` when the engine's model does not give the map (a network that is not pooled-then-dense, an export
        from before labkit kept it). The forward pass runs again: ~5 ms a photo on LiteRT, only for a heatmap.
        """
        return self._forward.feature_maps(np.asarray(batch, np.float32))

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``(logits (N, classes), clipped pooled features (N, 1280) or None)`` for a preprocessed batch.

        The features are what the last layer reads (after the ReAct clip); ``None`` for a model without the clip.
        """
        logits, features = self._forward(np.asarray(batch, np.float32))
        return np.asarray(logits), None if features is None else np.asarray(features)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Return raw scores, shape (N, classes), for a preprocessed batch (N, 224, 224, 3) in [-1, 1]."""
        return self.forward(batch)[0]

    def not_sure(self, logits: np.ndarray, features: np.ndarray | None = None) -> bool | np.ndarray:
        """Return the calibration's "not sure" flag for one image or a batch (``False`` without a calibration).

        ``features``: the clipped pooled features from :meth:`forward`, needed when the calibration's score reads
        them (the ImageNet model's).
        """
        if self.calibration is None:
            return False if np.ndim(logits) == 1 else np.zeros(len(logits), bool)
        head = self.head if self.calibration.needs_features else None
        return self.calibration.not_sure(logits, features, head)

    def ood_score(self, logits: np.ndarray, features: np.ndarray | None = None) -> float | np.ndarray | None:
        """Return the calibration's out-of-distribution score (higher = less familiar); ``None`` without one."""
        if self.calibration is None:
            return None
        head = self.head if self.calibration.needs_features else None
        return self.calibration.ood_score(logits, features, head)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Return probabilities, shape (N, classes), for a preprocessed batch (calibrated, if it has a calibration)."""
        return self.probabilities_from_logits(self.logits(batch))

    def probabilities_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Return the probabilities shown for logits: the calibration's, else ``softmax(logits / temperature)``."""
        if self.calibration is None:
            return softmax(logits, self.temperature)
        return self.calibration.probabilities(logits)

    def _prediction(
        self, logits: np.ndarray, features: np.ndarray | None, elapsed_ms: float, top: int, notes: Iterable[str] = ()
    ) -> Prediction:
        probabilities = self.probabilities_from_logits(logits)
        score = self.ood_score(logits, features)
        # ood_score is None without a calibration, so the threshold is only read when there is one.
        threshold = None if self.calibration is None else self.calibration.ood_threshold
        not_sure = score is not None and threshold is not None and bool(score > threshold)
        ood_score = None if score is None else float(score)
        # The "low confidence" line is the calibration's (LOW_CONFIDENCE by default); without one, the same line on
        # the uncalibrated probability, which is then only a rough guide.
        line = LOW_CONFIDENCE if self.calibration is None else self.calibration.low_confidence_below
        return Prediction(
            top=top_k(probabilities, self.class_names, self.wnids, top),
            elapsed_ms=elapsed_ms,
            logits=logits,
            not_sure=not_sure,
            ood_score=ood_score,
            notes=tuple(notes),
            low_confidence=bool(probabilities.max() < line),
            calibrated=self.calibrated,
        )

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
            image = as_image(source)
            prepared.append(to_model_input(image, self.policy))
            prepare_ms.append((time.perf_counter() - start) * 1000)
            notes.append(image.info.get(NOTES_KEY, []))
        if not prepared:
            return []
        start = time.perf_counter()
        # one photo (the app's case): a view, not a 600 kB copy
        logits, features = self.forward(prepared[0][None] if len(prepared) == 1 else np.stack(prepared))
        forward_share_ms = (time.perf_counter() - start) * 1000 / len(prepared)
        return [
            self._prediction(row, None if features is None else features[index], ms + forward_share_ms, top, note)
            for index, (row, ms, note) in enumerate(zip(logits, prepare_ms, notes, strict=True))
        ]

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
        logits, features = self.forward(batch)
        share = (time.perf_counter() - start) * 1000 / max(1, len(batch))
        return [
            self._prediction(row, None if features is None else features[index], share, top)
            for index, row in enumerate(logits)
        ]

    def __repr__(self) -> str:
        return f"Classifier(engine={self.engine!r}, classes={self.num_classes}, policy={self.policy!r})"


@lru_cache(maxsize=4)
def shared_classifier(engine: str = DEFAULT_ENGINE) -> Classifier:
    """Return this process's classifier for ``engine``, built on first call (the app loads the model once per kernel).

    Example:
        >>> shared_classifier() is shared_classifier()
        True
    """
    return Classifier.imagenet(engine=engine)
