"""The fine-tuning recipe: its settings, and the Keras steps :func:`labkit.transfer.fine_tune` runs.

The settings were chosen by measurement (``benchmarks/transfer.py``, tries in ``benchmarks/README.md``);
:func:`recipe` lists them for benchmark results. The steps: :func:`frozen_base_features` runs the frozen MobileNetV2
once per photo and per flip, :func:`train_head` trains the new Dense layer on those cached features (phase 1),
:func:`fine_tune_top` trains the top blocks end to end with :func:`build_augmentation` (phase 2), and
:func:`classifier_from_base` wraps the result as a :class:`labkit.Classifier`. :func:`epoch_watchers` reports each
epoch as an :class:`EpochReport` and honours a stop event.

Example:
    >>> recipe()["fine_tune_from"]
    'block_6_expand'
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from tqdm import tqdm

from labkit.model import Classifier
from labkit.network import build_classifier_model
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy

# --- Configurable parameters (chosen by measurement, see benchmarks/transfer.py) ------------------------------------
VALIDATION_SPLIT = 0.2  # share of each class kept aside to measure accuracy on photos the model never trained on
SEED = 0  # fixes the split, the augmentations and the new layer's starting weights
FEATURE_FLIPS = ("none", "horizontal", "vertical", "both")  # phase 1 learns from each photo and its mirror images
ROTATION = 0.1  # RandomRotation factor: up to +-10 % of a full turn (36 degrees)
ZOOM = 0.2  # RandomZoom factor: up to 20 % in or out
DROPOUT = 0.5  # on the pooled features, before the new Dense layer
LABEL_SMOOTHING = 0.1  # targets 0.925 / 0.025 instead of 1 / 0: the head gets less over-confident on few photos
HEAD_EPOCHS = 40  # phase 1, at most (early stopping usually ends it sooner)
HEAD_LEARNING_RATE = 1e-3
FINE_TUNE_EPOCHS = 12  # phase 2, at most; 0 trains the new head only
FINE_TUNE_LEARNING_RATE = 1e-4  # 10x lower than the head's
# The first MobileNetV2 layer phase 2 trains: blocks 6-16 + Conv_1, measured better than from block_10 in about the
# same time (benchmarks/README.md). Telling glass from plastic is about texture and sheen, which the middle blocks
# describe: they gain from adjusting.
FINE_TUNE_FROM = "block_6_expand"
COSINE_DECAY = True  # phase 2's learning rate glides from FINE_TUNE_LEARNING_RATE down to 0
PATIENCE = 5  # epochs without a better validation loss before early stopping
BATCH_SIZE = 32
BASE_MODEL = "MobileNetV2 (alpha 1.0, 224 x 224, ImageNet weights, include_top=False)"


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch, as :func:`labkit.transfer.fine_tune` passes it to ``on_epoch`` (for a progress bar, curves).

    ``phase`` is 1 (the new head learns, the base is frozen) or 2 (fine-tuning); ``epoch`` counts from 1 within the
    phase and ``epochs`` is the most that phase may run (early stopping can end it sooner). Accuracies are shares
    (0.82); the validation figures are ``None`` when there are no validation photos.
    """

    phase: int
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None = None
    val_accuracy: float | None = None

    @property
    def phase_name(self) -> str:
        """``"new head"`` or ``"fine-tuning"``."""
        return PHASE_NAMES[self.phase]


EpochCallback = Callable[[EpochReport], None]
PHASE_NAMES = {1: "new head", 2: "fine-tuning"}


def recipe() -> dict[str, Any]:
    """The training recipe's settings, as :func:`labkit.transfer.fine_tune` uses them (for benchmark results).

    Example:
        >>> recipe()["fine_tune_from"]
        'block_6_expand'
    """
    return {
        "base_model": BASE_MODEL,
        "feature_flips": list(FEATURE_FLIPS),
        "dropout": DROPOUT,
        "label_smoothing": LABEL_SMOOTHING,
        "head_epochs": HEAD_EPOCHS,
        "head_learning_rate": HEAD_LEARNING_RATE,
        "fine_tune_epochs": FINE_TUNE_EPOCHS,
        "fine_tune_learning_rate": FINE_TUNE_LEARNING_RATE,
        "fine_tune_from": FINE_TUNE_FROM,
        "cosine_decay": COSINE_DECAY,
        "augmentation": {"rotation": ROTATION, "zoom": ZOOM},
        "batch_size": BATCH_SIZE,
        "patience": PATIENCE,
    }


def build_augmentation(seed: int = SEED):
    """Return the training-time augmentation: random flips, rotations (+-36 degrees) and zooms (+-20 %).

    Keras preprocessing layers are only active when called with ``training=True``; at prediction time they pass
    the image through unchanged. Trash photographed on a table has no "up", so vertical flips are fair too.

    Example:
        >>> build_augmentation()(np.zeros((1, 224, 224, 3)), training=True).shape  # doctest: +SKIP
        TensorShape([1, 224, 224, 3])
    """
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
            keras.layers.RandomRotation(ROTATION, seed=seed + 1),
            keras.layers.RandomZoom(ZOOM, seed=seed + 2),
        ],
        name="augmentation",
    )


def epoch_printer(phase: str, epochs: int, stream: TextIO | None = None):
    """Return a Keras callback printing one line per epoch: ``head 3/40: loss 0.52, accuracy 81%, val_...``."""
    import keras

    class EpochLine(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = [
                f"{name} {logs[name]:.0%}" if "accuracy" in name else f"{name} {logs[name]:.3f}"
                for name in ("loss", "accuracy", "val_loss", "val_accuracy")
                if name in logs
            ]
            print(f"{phase} {epoch + 1}/{epochs}: " + ", ".join(shown), file=stream or sys.stderr, flush=True)

    return EpochLine()


def _flipped(batch: np.ndarray, flip: str) -> np.ndarray:
    """The batch mirrored left-right (``"horizontal"``), upside down (``"vertical"``), both, or as is (``"none"``)."""
    axes = {"none": (), "horizontal": (2,), "vertical": (1,), "both": (1, 2)}[flip]
    return np.flip(batch, axes) if axes else batch


def frozen_base_features(
    base, *, train_images: np.ndarray, val_images: np.ndarray, progress: bool, stop: threading.Event
) -> dict[str, np.ndarray]:
    """Run the frozen base once per photo and per flip: 1280 averaged features each, ``{"train": ..., "val": ...}``.

    Training rows are all photos unflipped, then all mirrored, and so on (:data:`FEATURE_FLIPS`); validation photos
    are never flipped. Flipping is the cheap augmentation here: a mirrored bottle is still a bottle. When ``stop``
    is set, the mirrored copies not yet computed are left out (every photo is computed once, unflipped).
    """
    import keras
    import tensorflow as tf

    pooled = keras.Model(base.inputs, keras.layers.GlobalAveragePooling2D()(base.output), name="frozen_features")
    # One traced function, reused for every batch (model.predict would rebuild its pipeline on each call).
    run = tf.function(lambda batch: pooled(batch, training=False), autograph=False)
    passes = [("val", val_images)] + [("train", _flipped(train_images, flip)) for flip in FEATURE_FLIPS]
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    with tqdm(
        total=sum(len(batch) for _, batch in passes),
        desc="computing features",
        unit="photo",
        file=sys.stderr,
        disable=not progress,
        leave=False,
        mininterval=1,
    ) as bar:
        for number, (part, part_images) in enumerate(passes):
            if number > 1 and stop.is_set():
                break
            for first in range(0, len(part_images), BATCH_SIZE):
                batch = np.ascontiguousarray(part_images[first : first + BATCH_SIZE])
                parts[part].append(run(tf.convert_to_tensor(batch)).numpy())
                bar.update(len(batch))
    width = pooled.output_shape[-1]
    return {part: np.concatenate(rows) if rows else np.zeros((0, width), np.float32) for part, rows in parts.items()}


def epoch_watchers(stop: threading.Event, on_epoch: EpochCallback | None) -> Callable[[int, int], list]:
    """Return ``(phase, epochs) -> Keras callbacks`` that honour ``stop`` and report each epoch to ``on_epoch``."""
    import keras

    class Watcher(keras.callbacks.Callback):
        def __init__(self, phase: int, epochs: int):
            super().__init__()
            self.phase, self.epochs = phase, epochs

        def on_train_batch_end(self, batch, logs=None):
            if stop.is_set():
                self.model.stop_training = True  # Keras ends the epoch after this batch, then validates

        def on_epoch_end(self, epoch, logs=None):
            if on_epoch is not None:
                logs = logs or {}
                validation = [float(logs[name]) if name in logs else None for name in ("val_loss", "val_accuracy")]
                on_epoch(
                    EpochReport(
                        self.phase, epoch + 1, self.epochs, float(logs["loss"]), float(logs["accuracy"]), *validation
                    )
                )
            if stop.is_set():  # set between batches, or by on_epoch itself: no further epoch starts
                self.model.stop_training = True

    return lambda phase, epochs: [Watcher(phase, epochs)]


def _fit(
    model,
    inputs: dict[str, np.ndarray],
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    epochs: int,
    learning_rate,
    phase: str,
    progress: bool,
    watchers,
) -> dict[str, list[float]]:
    import keras

    num_classes = model.output_shape[-1]
    number = 1 if phase == "head" else 2
    # from_logits: the model ends in a Dense layer without softmax; the loss applies softmax itself, more stably.
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LABEL_SMOOTHING)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    validating = len(val_labels) > 0
    # Without validation photos there is nothing to stop early on: every epoch runs.
    callbacks = (
        [keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)]
        if validating
        else []
    )
    callbacks += watchers(number, epochs)
    if progress:
        callbacks.append(epoch_printer(phase, epochs))
    # Label smoothing needs one-hot targets.
    train_targets = keras.utils.to_categorical(train_labels, num_classes)
    validation_data = (inputs["val"], keras.utils.to_categorical(val_labels, num_classes)) if validating else None
    fitted = model.fit(
        inputs["train"],
        train_targets,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        callbacks=callbacks,
        verbose=0,
    )
    history = {
        name: [float(value) for value in fitted.history.get(name, [])]
        for name in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    history["phase"] = [number] * len(history["loss"])
    return history


def train_head(
    head,
    dropout,
    *,
    features: dict[str, np.ndarray],
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    epochs: int,
    progress: bool,
    watchers,
) -> dict[str, list[float]]:
    """Phase 1: train the new Dense layer on the cached, pooled features of the frozen base."""
    import keras

    inputs = keras.Input(features["train"].shape[1:], name="features")
    model = keras.Model(inputs, head(dropout(inputs)), name="new_head")
    return _fit(model, features, train_labels, val_labels, epochs, HEAD_LEARNING_RATE, "head", progress, watchers)


def fine_tune_top(
    base,
    head,
    dropout,
    *,
    images: dict[str, np.ndarray],
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    epochs: int,
    seed: int,
    progress: bool,
    watchers,
) -> dict[str, list[float]]:
    """Phase 2: train MobileNetV2's top blocks (from :data:`FINE_TUNE_FROM`) and the head, end to end."""
    import keras

    base.trainable = True
    trainable = False
    for layer in base.layers:
        trainable = trainable or layer.name == FINE_TUNE_FROM
        layer.trainable = trainable and not isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input(images["train"].shape[1:], name="image")
    augmented = build_augmentation(seed)(inputs)  # random flips, turns and zooms; only while training
    # **Important note:** call the base with training=False. Its BatchNormalization layers then keep using the
    # mean and variance learnt on ImageNet instead of the statistics of each small batch of our photos. With
    # batches of 32 photos of one table top, those batch statistics are noisy and far from ImageNet's: in training
    # mode the layers would shift every activation the pretrained weights rely on, and the first epochs would undo
    # what the model knew (keras-io's transfer learning guide makes the same point). Keeping the BatchNorm layers
    # frozen (trainable=False, above) also keeps their statistics from being updated.
    features = keras.layers.GlobalAveragePooling2D(name="pool")(base(augmented, training=False))
    model = keras.Model(inputs, head(dropout(features)), name="fine_tune")
    # The learning rate glides down to 0 by the last epoch (cosine): big steps first, then settling in, so the
    # weights stop bouncing between epochs and early stopping does not depend on one lucky epoch.
    steps = epochs * math.ceil(len(train_labels) / BATCH_SIZE)
    learning_rate = (
        keras.optimizers.schedules.CosineDecay(FINE_TUNE_LEARNING_RATE, decay_steps=steps)
        if COSINE_DECAY
        else FINE_TUNE_LEARNING_RATE
    )
    # _fit compiles the model: after changing `trainable`, Keras must recompile to know which weights to train.
    return _fit(model, images, train_labels, val_labels, epochs, learning_rate, "fine-tune", progress, watchers)


def classifier_from_base(
    base: Any, head: Any, class_names: Sequence[str], policy: ResizePolicy = DEFAULT_POLICY
) -> Classifier:
    """Wrap base + trained head as a :class:`labkit.Classifier` (Keras engine) over ``class_names``."""
    base.trainable = False
    model = build_classifier_model(base, head)
    return Classifier.from_keras(model, class_names, engine="keras", policy=policy)
