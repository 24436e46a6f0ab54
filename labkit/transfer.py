"""Teach MobileNetV2 your own classes: fine-tune it on a folder with one subfolder of photos per class.

The recipe (keras-io's transfer learning guide, made fast enough for a 2-core laptop):

1. **Read the folder**: class names come from the subfolder names (sorted); every photo goes through
   :func:`labkit.load_image` and :func:`labkit.to_model_input`, so training sees exactly what prediction will see
   (squashed to 224 x 224, pixels in [-1, 1]). Unreadable files are skipped, listed and warned about.
2. **Split** a validation set with a fixed seed, the same share of every class (stratified).
3. **Augment**: random flips, rotations and zooms (Keras preprocessing layers), only for training photos.
4. **Phase 1, the new head**: MobileNetV2's ImageNet layers stay frozen and only a new Dense layer learns. A frozen
   base gives the same features every epoch, so labkit computes them *once* per photo (and per augmented copy)
   and trains the head on those cached features: seconds instead of minutes.
5. **Phase 2, fine-tuning** (optional, on by default): the upper two thirds of MobileNetV2 (from ``block_6``,
   where its feature maps shrink from 28 x 28 to 14 x 14) learn too, at a learning rate 10x lower, so the
   pretrained features are adjusted, not wrecked. The first blocks (edges, colours) stay frozen.
6. **Build the classifier**: one flat Keras model, ``image -> MobileNetV2 -> average pool -> Dense``, whose output
   is *logits* (no softmax), so :class:`labkit.Classifier`, temperature scaling, the "not sure" flag and Grad-CAM
   work on it exactly as on the ImageNet model.

Measured with ``benchmarks/transfer.py`` on trashnet-mini (4 classes x 60 photos, 48 for validation), on these
shared 2-core machines, over 10 validation splits (seeds 0-9): median 85 %, mean 84 %, range 73-90 % (which
photos are kept for validation moves it more than anything in the recipe), in 54-108 s, median about 87 s.
A linear classifier on the frozen base's features alone averages 75-78 % on the same splits (depending on its
regularisation): phase 2 adds the rest.
Recipe changes tried on 1-5 of the same splits and dropped, none better (this recipe averages 84.6 % on seeds 0-4):
Pillow's antialiased resize replaced by OpenCV's plain bilinear (median 81 %), 288 x 288 input (no gain, 1.7x the
time), averaging the photo with its mirror images at prediction, training BatchNorm's scale and shift, no early
stopping in phase 2, the "crop" policy, quarter turns plus rotations up to 180 degrees as augmentation, a phase-2
learning rate of 2e-4 (mean 84.2 %), up to 20 phase-2 epochs (83.8 %: early stopping ends them sooner), batches of
16 (83.3 %), brightness and contrast jitter (82.9 %), mixup (82.9 %), fine-tuning from ``block_3`` (no gain on two
splits, 1.7x the time), and blending the fine-tuned weights with the phase-1 ones (WiSE-FT: every blend averaged
lower on five splits, 82.9 % at best).
Training on several threads is not bit-for-bit repeatable, so a run can differ from the last by a photo or two.

Example:
    >>> result = fine_tune("data/trashnet-mini")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    >>> result.classifier.classify("my_bottle.jpg").label  # doctest: +SKIP
    'glass'
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, TextIO

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from labkit.images import IMAGE_EXTENSIONS, ImageError, load_image
from labkit.preprocess import DEFAULT_POLICY, IMAGE_SIZE, ResizePolicy, to_model_input

if TYPE_CHECKING:
    from labkit.evaluate import LabelledImage
    from labkit.model import Classifier
    from labkit.uncertainty import Calibration

# --- Configurable parameters (chosen by measurement, see benchmarks/transfer.py) ------------------------------------
VALIDATION_SPLIT = 0.2  # share of each class kept aside to measure accuracy on photos the model never trained on
SEED = 0  # fixes the split, the augmentations and the new layer's starting weights
MIN_CLASSES = 2
MIN_IMAGES_PER_CLASS = 5  # one for validation, four to learn from: the bare minimum, 50+ is better
FEATURE_FLIPS = ("none", "horizontal", "vertical", "both")  # phase 1 learns from each photo and its mirror images
ROTATION = 0.1  # RandomRotation factor: up to +-10 % of a full turn (36 degrees)
ZOOM = 0.2  # RandomZoom factor: up to 20 % in or out
DROPOUT = 0.5  # on the pooled features, before the new Dense layer
LABEL_SMOOTHING = 0.1  # targets 0.925 / 0.025 instead of 1 / 0: the head gets less over-confident on few photos
HEAD_EPOCHS = 40  # phase 1, at most (early stopping usually ends it sooner)
HEAD_LEARNING_RATE = 1e-3
FINE_TUNE_EPOCHS = 12  # phase 2, at most; 0 trains the new head only
FINE_TUNE_LEARNING_RATE = 1e-4  # 10x lower than the head's
# The first MobileNetV2 layer phase 2 trains: blocks 6-16 + Conv_1. Measured on trashnet-mini, 5 validation splits:
# from block_10 (the last seven blocks; learning rate 2e-4, 12 epochs), median 83 % (75-90 %); from block_6, median
# 85 % (77-90 %) in about the same time.
# Telling glass from plastic is about texture and sheen, which the middle blocks describe: they gain from adjusting.
FINE_TUNE_FROM = "block_6_expand"
COSINE_DECAY = True  # phase 2's learning rate glides from FINE_TUNE_LEARNING_RATE down to 0
PATIENCE = 5  # epochs without a better validation loss before early stopping
BATCH_SIZE = 32
BASE_MODEL = "MobileNetV2 (alpha 1.0, 224 x 224, ImageNet weights, include_top=False)"


class TrainingFolderError(ValueError):
    """The training folder cannot be used as it is: the message says what is wrong and how to fix the folder."""


class SkippedFilesWarning(UserWarning):
    """Some files in the training folder could not be read as images and were left out."""


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of training, and why."""

    path: Path
    reason: str


@dataclass
class TrainingSet:
    """The photos of a training folder, preprocessed: ``images`` (N, 224, 224, 3) in [-1, 1], ``labels`` (N,)."""

    folder: Path
    class_names: list[str]
    files: list[Path]
    labels: np.ndarray
    images: np.ndarray = field(repr=False)
    skipped_files: list[SkippedFile] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Readable photos per class, e.g. ``{"glass": 60, "metal": 60}``."""
        return {name: int(np.sum(self.labels == index)) for index, name in enumerate(self.class_names)}


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` returns: the trained classifier and how training went.

    ``history`` has one value per epoch for ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and ``phase``
    (1 = new head only, 2 = fine-tuning); ``val_accuracy`` is the final classifier's top-1 on the validation photos;
    ``validation_set`` lists them with their true classes, for :func:`labkit.evaluate.evaluate`.
    """

    classifier: "Classifier"
    history: dict[str, list[float]]
    class_names: list[str]
    val_accuracy: float
    seconds: float
    skipped_files: list[SkippedFile]
    validation_set: list["LabelledImage"] = field(repr=False)
    settings: dict = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """A few lines for people: classes, photos, validation accuracy, epochs and time."""
        counts = self.settings.get("images_per_class", {})
        epochs = self.history.get("phase", [])
        classes = ", ".join(f"{name} ({counts[name]})" if name in counts else name for name in self.class_names)
        lines = [f"classes: {classes}",
                 f"validation accuracy: {self.val_accuracy:.1%} on {len(self.validation_set)} photos",
                 f"epochs: {epochs.count(1)} new head + {epochs.count(2)} fine-tuning, {self.seconds:.0f} s"]
        if self.skipped_files:
            lines.append(f"skipped {len(self.skipped_files)} unreadable file(s): "
                         + ", ".join(file.path.name for file in self.skipped_files))
        return "\n".join(lines)


# --- 1. Read the folder -------------------------------------------------------------------------------------------

def class_folders(folder: str | os.PathLike) -> list[Path]:
    """Return the class subfolders of a training folder, sorted by name (hidden ones like ``.ipynb_checkpoints`` left out).

    Raises :class:`TrainingFolderError` when the folder is missing or has fewer than :data:`MIN_CLASSES` subfolders.

    Example:
        >>> [path.name for path in class_folders("data/trashnet-mini")]  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingFolderError(f"No folder at '{folder}'. What to do: check the spelling (relative paths start "
                                  f"from {Path.cwd()}), or pass the folder that holds one subfolder per class.")
    subfolders = sorted((child for child in folder.iterdir() if child.is_dir() and not child.name.startswith(".")),
                        key=lambda path: path.name)
    if len(subfolders) < MIN_CLASSES:
        found = f"only one, '{subfolders[0].name}'" if subfolders else "none"
        raise TrainingFolderError(
            f"'{folder}' needs at least {MIN_CLASSES} class subfolders to learn from; it has {found}. A model "
            f"learns to tell classes apart, so it needs two or more. What to do: put each class's photos in a "
            f"subfolder named after the class, e.g. {folder.name}/cats/*.jpg and {folder.name}/dogs/*.jpg.")
    return subfolders


def read_training_folder(folder: str | os.PathLike, policy: ResizePolicy = DEFAULT_POLICY,
                         progress: bool = True) -> TrainingSet:
    """Load and preprocess every photo of a folder with one subfolder per class.

    Files that are not readable images (a text file, a truncated JPEG...) are skipped, listed in
    ``skipped_files`` and named in a :class:`SkippedFilesWarning`. Hidden files (``.DS_Store``) are ignored.

    Args:
        folder: the training folder, e.g. ``trashnet-mini/`` holding ``glass/``, ``metal/``, ...
        policy: the resize policy, the classifier's (default ``"squash"``).
        progress: show a progress bar on stderr.

    Raises:
        TrainingFolderError: fewer than 2 classes, or a class with fewer than :data:`MIN_IMAGES_PER_CLASS` readable
            photos.

    Example:
        >>> training_set = read_training_folder("data/trashnet-mini")  # doctest: +SKIP
        >>> training_set.counts()  # doctest: +SKIP
        {'glass': 60, 'metal': 60, 'paper': 60, 'plastic': 60}
    """
    folder = Path(folder)
    subfolders = class_folders(folder)
    candidates = [(label, path) for label, subfolder in enumerate(subfolders)
                  for path in sorted(subfolder.iterdir(), key=lambda path: path.name)
                  if path.is_file() and not path.name.startswith(".")]
    files, labels, images, skipped = [], [], [], []
    for label, path in tqdm(candidates, desc="reading photos", unit="photo", file=sys.stderr,
                            disable=not progress, leave=False, mininterval=1):
        try:
            images.append(to_model_input(load_image(path), policy))
        except ImageError as error:
            reason = str(error) if path.suffix.lower() in IMAGE_EXTENSIONS else f"not an image file type: {error}"
            skipped.append(SkippedFile(path, reason))
            continue
        files.append(path)
        labels.append(label)
    if skipped:
        listed = "\n".join(f"  - {file.path.relative_to(folder)}: {file.reason}" for file in skipped)
        warnings.warn(f"Skipped {len(skipped)} file(s) that could not be read as images:\n{listed}\n"
                      "Training goes on without them; to use them, save them again as JPEG or PNG.",
                      SkippedFilesWarning, stacklevel=2)
    training_set = TrainingSet(folder, [path.name for path in subfolders], files, np.array(labels, np.int64),
                               np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32),
                               skipped)
    _check_counts(training_set)
    return training_set


def _check_counts(training_set: TrainingSet) -> None:
    too_few = {name: count for name, count in training_set.counts().items() if count < MIN_IMAGES_PER_CLASS}
    if not too_few:
        return
    described = ", ".join(f"'{name}' has {count}" for name, count in too_few.items())
    skipped = (f" ({len(training_set.skipped_files)} unreadable file(s) were skipped, see the warning)"
               if training_set.skipped_files else "")
    raise TrainingFolderError(
        f"Each class needs at least {MIN_IMAGES_PER_CLASS} readable photos (one or more to check the model on, "
        f"the rest to learn from): {described}{skipped}. What to do: add photos to "
        f"{', '.join(str(training_set.folder / name) for name in too_few)} (50 or more per class works much "
        "better), or remove that class's folder.")


# --- 2. Split -----------------------------------------------------------------------------------------------------

def split_validation(labels: np.ndarray, fraction: float = VALIDATION_SPLIT,
                     seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return (training indices, validation indices): ``fraction`` of each class, at least one, chosen by ``seed``.

    Splitting every class separately (stratified) keeps the classes' shares the same in both parts; with 12
    validation photos per class, a plain random split could leave one class with 6 and another with 18.

    Example:
        >>> train, val = split_validation(np.array([0] * 10 + [1] * 10), 0.2)
        >>> len(train), len(val), sorted(np.bincount(np.array([0] * 10 + [1] * 10)[val]))
        (16, 4, [2, 2])
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n_val = min(len(members) - 1, max(1, round(len(members) * fraction)))
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(val, np.int64))


# --- 3-6. Train ---------------------------------------------------------------------------------------------------

def build_augmentation(seed: int = SEED):
    """Return the training-time augmentation: random flips, rotations (+-36 degrees) and zooms (+-20 %).

    Keras preprocessing layers are only active when called with ``training=True``; at prediction time they pass
    the image through unchanged. Trash photographed on a table has no "up", so vertical flips are fair too.

    Example:
        >>> build_augmentation()(np.zeros((1, 224, 224, 3)), training=True).shape  # doctest: +SKIP
        TensorShape([1, 224, 224, 3])
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(ROTATION, seed=seed + 1),
        keras.layers.RandomZoom(ZOOM, seed=seed + 2),
    ], name="augmentation")


def build_base(weights: str | os.PathLike | None = "imagenet"):
    """Return MobileNetV2 without its ImageNet classifier (``include_top=False``): image -> 7 x 7 x 1280 features.

    Args:
        weights: ``"imagenet"`` (the no-top file found by :func:`labkit.weights.resolve_weights`), a path to a
            no-top ``.h5`` file, or ``None`` for random weights.
    """
    import keras

    from labkit.weights import resolve_weights

    if weights == "imagenet":
        weights = resolve_weights(include_top=False)
    return keras.applications.MobileNetV2(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), include_top=False,
                                          weights=None if weights is None else str(weights))


def epoch_printer(phase: str, epochs: int, stream: TextIO | None = None):
    """Return a Keras callback printing one line per epoch: ``head 3/40: loss 0.52, accuracy 81%, val_...``."""
    import keras

    class EpochLine(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = [f"{name} {logs[name]:.0%}" if "accuracy" in name else f"{name} {logs[name]:.3f}"
                     for name in ("loss", "accuracy", "val_loss", "val_accuracy") if name in logs]
            print(f"{phase} {epoch + 1}/{epochs}: " + ", ".join(shown), file=stream or sys.stderr, flush=True)

    return EpochLine()


def fine_tune(folder: str | os.PathLike, *, head_epochs: int = HEAD_EPOCHS, fine_tune_epochs: int = FINE_TUNE_EPOCHS,
              validation_split: float = VALIDATION_SPLIT, seed: int = SEED,
              weights: str | os.PathLike | None = "imagenet", policy: ResizePolicy = DEFAULT_POLICY,
              calibrate: bool = True, progress: bool = True) -> FineTuneResult:
    """Train MobileNetV2 to recognise the classes of a folder (one subfolder of photos per class).

    Args:
        folder: e.g. ``trashnet-mini/`` holding ``glass/``, ``metal/``, ``paper/``, ``plastic/``.
        head_epochs: phase 1 (the new Dense layer only), at most; early stopping may end it sooner.
        fine_tune_epochs: phase 2 (the top MobileNetV2 blocks too, at a low learning rate), at most; ``0`` skips it.
        validation_split: share of each class kept aside for validation (with ``seed``: always the same photos).
        weights: the base's ImageNet weights (``"imagenet"``: the no-top file found by :mod:`labkit.weights`).
        calibrate: fit the temperature and the "not sure" threshold on the validation photos
            (:func:`calibrate_on_validation`), so uncertainty works on the new model as on the ImageNet one.
        progress: progress bars and one line per epoch on stderr.

    Returns:
        a :class:`FineTuneResult`; ``result.classifier`` is a :class:`labkit.Classifier` over the folder's classes.

    Raises:
        TrainingFolderError: fewer than 2 classes, or a class with fewer than 5 readable photos.

    Example:
        >>> result = fine_tune("data/trashnet-mini")  # doctest: +SKIP
        >>> round(result.val_accuracy, 1), result.class_names  # doctest: +SKIP
        (0.9, ['glass', 'metal', 'paper', 'plastic'])
    """
    import keras

    start = time.perf_counter()
    say = _say if progress else (lambda message: None)
    training_set = read_training_folder(folder, policy, progress)
    train, val = split_validation(training_set.labels, validation_split, seed)
    images, labels = training_set.images, training_set.labels
    num_classes = len(training_set.class_names)
    say(f"{len(training_set.files)} photos in {num_classes} classes: {len(train)} to learn from, {len(val)} to "
        "check on")
    keras.utils.set_random_seed(seed)  # same augmentations and starting weights on every run

    base = build_base(weights)
    base.trainable = False
    head = keras.layers.Dense(num_classes, name="logits")  # no softmax: labkit's classifier wants logits
    dropout = keras.layers.Dropout(DROPOUT, name="dropout")
    features = _pooled_features(base, images, train, val, progress)
    history = _train_head(head, dropout, features, np.tile(labels[train], len(FEATURE_FLIPS)), labels[val],
                          head_epochs, progress)
    if fine_tune_epochs > 0:
        phase_two = _fine_tune_top(base, head, dropout, {"train": images[train], "val": images[val]}, labels[train],
                                   labels[val], fine_tune_epochs, seed, progress)
        history = {name: history[name] + phase_two[name] for name in history}

    classifier = classifier_from_base(base, head, training_set.class_names, policy)
    val_accuracy = float(np.mean(classifier.logits(images[val]).argmax(axis=1) == labels[val]))
    if calibrate:
        calibrate_on_validation(classifier, images[val], labels[val], seed)
    from labkit.evaluate import LabelledImage

    validation_set = [LabelledImage(training_set.files[index], int(labels[index])) for index in val]
    settings = {"images_per_class": training_set.counts(), "train_images": int(len(train)),
                "validation_images": int(len(val)), "validation_split": validation_split, "seed": seed,
                "head_epochs": history["phase"].count(1), "fine_tune_epochs": history["phase"].count(2),
                "fine_tune_from": FINE_TUNE_FROM, "policy": policy}
    result = FineTuneResult(classifier, history, training_set.class_names, val_accuracy,
                            time.perf_counter() - start, training_set.skipped_files, validation_set, settings)
    say(result.summary())
    return result


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _flipped(batch: np.ndarray, flip: str) -> np.ndarray:
    """The batch mirrored left-right (``"horizontal"``), upside down (``"vertical"``), both, or as is (``"none"``)."""
    axes = {"none": (), "horizontal": (2,), "vertical": (1,), "both": (1, 2)}[flip]
    return np.flip(batch, axes) if axes else batch


def _pooled_features(base, images: np.ndarray, train: np.ndarray, val: np.ndarray,
                     progress: bool) -> dict[str, np.ndarray]:
    """Run the frozen base once per photo and per flip: 1280 averaged features each, ``{"train": ..., "val": ...}``.

    Training rows are all photos unflipped, then all mirrored, and so on (:data:`FEATURE_FLIPS`); validation photos
    are never flipped. Flipping is the cheap augmentation here: a mirrored bottle is still a bottle.
    """
    import keras
    import tensorflow as tf

    pooled = keras.Model(base.inputs, keras.layers.GlobalAveragePooling2D()(base.output), name="frozen_features")
    # One traced function, reused for every batch (model.predict would rebuild its pipeline on each call).
    run = tf.function(lambda batch: pooled(batch, training=False), autograph=False)
    passes = [("val", images[val])] + [("train", _flipped(images[train], flip)) for flip in FEATURE_FLIPS]
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    with tqdm(total=sum(len(batch) for _, batch in passes), desc="computing features", unit="photo",
              file=sys.stderr, disable=not progress, leave=False, mininterval=1) as bar:
        for part, part_images in passes:
            for first in range(0, len(part_images), BATCH_SIZE):
                batch = np.ascontiguousarray(part_images[first:first + BATCH_SIZE])
                parts[part].append(run(tf.convert_to_tensor(batch)).numpy())
                bar.update(len(batch))
    return {part: np.concatenate(rows) for part, rows in parts.items()}


def _fit(model, inputs: dict[str, np.ndarray], train_labels: np.ndarray, val_labels: np.ndarray, epochs: int,
         learning_rate, phase: str, progress: bool) -> dict[str, list[float]]:
    import keras

    num_classes = model.output_shape[-1]
    # from_logits: the model ends in a Dense layer without softmax; the loss applies softmax itself, more stably.
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LABEL_SMOOTHING)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)]
    if progress:
        callbacks.append(epoch_printer(phase, epochs))
    # Label smoothing needs one-hot targets.
    train_targets, val_targets = (keras.utils.to_categorical(labels, num_classes) for labels in (train_labels,
                                                                                               val_labels))
    fitted = model.fit(inputs["train"], train_targets, validation_data=(inputs["val"], val_targets),
                       epochs=epochs, batch_size=BATCH_SIZE, callbacks=callbacks, verbose=0)
    history = {name: [float(value) for value in fitted.history[name]]
               for name in ("loss", "accuracy", "val_loss", "val_accuracy")}
    history["phase"] = [1 if phase == "head" else 2] * len(history["loss"])
    return history


def _train_head(head, dropout, features: dict[str, np.ndarray], train_labels: np.ndarray, val_labels: np.ndarray,
                epochs: int, progress: bool) -> dict[str, list[float]]:
    """Phase 1: train the new Dense layer on the cached, pooled features of the frozen base."""
    import keras

    inputs = keras.Input(features["train"].shape[1:], name="features")
    model = keras.Model(inputs, head(dropout(inputs)), name="new_head")
    return _fit(model, features, train_labels, val_labels, epochs, HEAD_LEARNING_RATE, "head", progress)


def _fine_tune_top(base, head, dropout, images: dict[str, np.ndarray], train_labels: np.ndarray,
                   val_labels: np.ndarray, epochs: int, seed: int, progress: bool) -> dict[str, list[float]]:
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
    learning_rate = (keras.optimizers.schedules.CosineDecay(FINE_TUNE_LEARNING_RATE, decay_steps=steps)
                     if COSINE_DECAY else FINE_TUNE_LEARNING_RATE)
    # _fit compiles the model: after changing `trainable`, Keras must recompile to know which weights to train.
    return _fit(model, images, train_labels, val_labels, epochs, learning_rate, "fine-tune", progress)


def calibrate_on_validation(classifier: "Classifier", images: np.ndarray, labels: np.ndarray,
                            seed: int = SEED) -> "Calibration":
    """Fit ``classifier``'s temperature and "not sure" threshold on validation photos, and apply them.

    The threshold keeps 95 % of the validation photos "sure" and is checked against generated images that are none
    of the classes (noise, text pages, charts: :func:`labkit.uncertainty.generate_ood_images`).

    Example:
        >>> calibrate_on_validation(result.classifier, validation_images, validation_labels).temperature  # doctest: +SKIP
        1.3
    """
    from labkit.uncertainty import OOD_IMAGES, fit_calibration_from_logits, generate_ood_images, logits_for_images

    ood_logits = logits_for_images(classifier, generate_ood_images(OOD_IMAGES, seed))
    described = (f"the {len(labels)} validation photos of the fine-tuned model, against {len(ood_logits)} generated "
                 f"out-of-distribution images (seed {seed})")
    calibration = fit_calibration_from_logits(classifier.logits(images), labels, ood_logits, fitted_on=described)
    return calibration.apply_to(classifier)


def build_classifier_model(base, head):
    """Return one flat Keras model, ``image -> MobileNetV2 -> average pool -> Dense`` (logits), sharing the layers.

    Flat: MobileNetV2's layers sit directly in the graph (Grad-CAM finds ``"out_relu"`` as in the ImageNet model)
    and the training-only parts (augmentation, dropout) are left out, so export and LiteRT get a plain model.
    """
    import keras

    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    return keras.Model(base.inputs, head(pooled), name="labkit_fine_tuned")


def classifier_from_base(base, head, class_names: Sequence[str], policy: ResizePolicy = DEFAULT_POLICY) -> "Classifier":
    """Wrap base + trained head as a :class:`labkit.Classifier` (Keras engine) over ``class_names``."""
    from labkit.model import Classifier

    base.trainable = False
    model = build_classifier_model(base, head)
    return Classifier(weights=None, engine="keras", policy=policy, model=model, class_names=list(class_names))


# --- Plots --------------------------------------------------------------------------------------------------------

def plot_training_curves(history: dict[str, list[float]] | FineTuneResult) -> Figure:
    """Draw loss and accuracy per epoch, training vs validation, with a line where fine-tuning (phase 2) starts.

    Training accuracy is measured on augmented copies with dropout on, so it can sit below validation accuracy.

    Example:
        >>> plot_training_curves(result.history)  # doctest: +SKIP
    """
    if isinstance(history, FineTuneResult):
        history = history.history
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    epochs = np.arange(1, len(history["loss"]) + 1)
    phases = history.get("phase", [1] * len(epochs))
    fine_tune_starts = next((epoch for epoch, phase in zip(epochs, phases) if phase == 2), None)
    for ax, metric, title in zip(figure.subplots(1, 2), ("loss", "accuracy"), ("Loss (lower is better)",
                                                                             "Accuracy (higher is better)")):
        ax.plot(epochs, history[metric], "-", color="#1f77b4", label="training")
        ax.plot(epochs, history[f"val_{metric}"], "--", color="#d62728", label="validation")
        if fine_tune_starts is not None:
            ax.axvline(fine_tune_starts - 0.5, color="#777777", linestyle=":", linewidth=1)
            ax.text(fine_tune_starts - 0.4, 0.02, "fine-tuning", transform=ax.get_xaxis_transform(), fontsize=9,
                    color="#555555")
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
            ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        ax.set_xlabel("epoch")
        ax.set_title(title, loc="left", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    return figure
