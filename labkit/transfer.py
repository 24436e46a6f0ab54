"""Teach MobileNetV2 your own classes: fine-tune it on a folder with one subfolder of photos per class.

The recipe (keras-io's transfer learning guide, made fast enough for a 2-core laptop):

1. **Read the photos**: a folder (:func:`labkit.training_data.read_training_folder`, class names from the subfolder
   names, sorted) or photos in memory (:func:`labkit.training_data.training_set_from_photos`, e.g. a trainer widget's
   uploads). Every photo goes through :func:`labkit.load_image` and :func:`labkit.to_model_input`, so training
   sees exactly what prediction will see (squashed to 224 x 224, pixels in [-1, 1]). Unreadable photos are
   skipped, listed and warned about.
2. **Validation photos**: a separate folder or set (best), or a share of each class held back with a fixed seed
   (stratified), or none: then every photo is learnt from, every epoch runs and nothing is calibrated.
3. **Augment**: random flips, rotations and zooms (Keras preprocessing layers), only for training photos.
4. **Phase 1, the new head**: MobileNetV2's ImageNet layers stay frozen and only a new Dense layer learns. A frozen
   base gives the same features every epoch, so labkit computes them *once* per photo (and per mirrored copy)
   and trains the head on those cached features: seconds instead of minutes.
5. **Phase 2, fine-tuning** (optional, on by default): the upper two thirds of MobileNetV2 (from ``block_6``,
   where its feature maps shrink from 28 x 28 to 14 x 14) learn too, at a learning rate 10x lower, so the
   pretrained features are adjusted, not wrecked. The first blocks (edges, colours) stay frozen.
6. **Build the classifier** (:func:`labkit.network.build_classifier_model`): one flat Keras model, ``image ->
   MobileNetV2 -> average pool -> Dense``, whose output is *logits* (no softmax), so :class:`labkit.Classifier`,
   temperature scaling, the "not sure" flag and Grad-CAM work on it exactly as on the ImageNet model.

The recipe's settings and its Keras steps (cached features, the two phases) are in :mod:`labkit.recipe`.

Measured by ``benchmarks/transfer.py`` (figures in ``benchmarks/results/transfer.json``): trained on all 240
photos of trashnet-mini, top-1 on the 400 photos of trashnet-val, with the training time as a ratio to a reference
measured in the same run. The recipe was kept because none of the changes tried against it (higher resolution
inside the model, mid-level ``block_13_expand_relu`` features, fine-tuning only the top blocks on cached features,
several layers at once, two-layer heads, flip averaging, ensembles of heads) did clearly better for its cost; every
try and its figure is in ``benchmarks/README.md``. Training on several threads is not bit-for-bit repeatable, so a
run can differ from the last by a photo or two.

Example:
    >>> result = fine_tune("data/trashnet-mini")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    >>> result.classifier.classify("my_bottle.jpg").label  # doctest: +SKIP
    'glass'
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labkit.calibrate import calibrate_on_validation
from labkit.class_names import TrainingDataError
from labkit.folders import LabelledImage
from labkit.model import Classifier
from labkit.network import build_base
from labkit.preprocess import DEFAULT_POLICY, ResizePolicy
from labkit.recipe import (
    DROPOUT,
    FINE_TUNE_EPOCHS,
    FINE_TUNE_FROM,
    HEAD_EPOCHS,
    SEED,
    VALIDATION_SPLIT,
    EpochCallback,
    classifier_from_base,
    epoch_watchers,
    fine_tune_top,
    frozen_base_features,
    train_head,
)
from labkit.training_data import SkippedFile, TrainingSet, TrainingSource, as_training_set


@dataclass(kw_only=True)
class FineTuneResult:
    """What :func:`fine_tune` returns: the trained classifier and how training went.

    ``history`` has one value per epoch for ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and ``phase``
    (1 = new head only, 2 = fine-tuning; the validation lists are empty without validation photos);
    ``val_accuracy`` is the final classifier's top-1 on the validation photos (``None`` without any);
    ``validation`` holds those photos (a :class:`TrainingSet`) and ``validation_set`` lists the ones that are files,
    with their true classes, for :func:`labkit.evaluate.evaluate`. ``stopped`` is true when the ``stop`` event ended
    training early: the classifier is still usable, trained for fewer epochs.
    """

    classifier: Classifier
    history: dict[str, list[float]]
    class_names: list[str]
    val_accuracy: float | None
    seconds: float
    skipped_files: list[SkippedFile]
    validation_set: list[LabelledImage] = field(repr=False)
    settings: dict = field(default_factory=dict, repr=False)
    validation: TrainingSet | None = field(default=None, repr=False)
    stopped: bool = False

    @property
    def validation_count(self) -> int:
        """How many photos the validation accuracy was measured on (0: none)."""
        return 0 if self.validation is None else len(self.validation)

    def summary(self) -> str:
        """A few lines for people: classes, photos, validation accuracy, epochs and time."""
        counts = self.settings.get("images_per_class", {})
        epochs = self.history.get("phase", [])
        classes = ", ".join(f"{name} ({counts[name]})" if name in counts else name for name in self.class_names)
        accuracy = (
            "validation accuracy: not measured (no validation photos; give some to check the model on)"
            if self.val_accuracy is None
            else f"validation accuracy: {self.val_accuracy:.1%} on {self.validation_count} photos"
        )
        stopped = " (stopped early)" if self.stopped else ""
        lines = [
            f"classes: {classes}",
            accuracy,
            f"epochs: {epochs.count(1)} new head + {epochs.count(2)} fine-tuning, {self.seconds:.0f} s{stopped}",
        ]
        if self.skipped_files:
            lines.append(
                f"skipped {len(self.skipped_files)} unreadable file(s): "
                + ", ".join(file.name for file in self.skipped_files)
            )
        return "\n".join(lines)


def split_validation(
    labels: np.ndarray, fraction: float = VALIDATION_SPLIT, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Return (training indices, validation indices): ``fraction`` of each class, at least one, chosen by ``seed``.

    Splitting every class separately (stratified) keeps the classes' shares the same in both parts; with 12
    validation photos per class, a plain random split could leave one class with 6 and another with 18.

    Example:
        >>> train, val = split_validation(np.array([0] * 10 + [1] * 10), 0.2)
        >>> len(train), len(val), sorted(np.bincount(np.array([0] * 10 + [1] * 10)[val]))
        (16, 4, [2, 2])
    """
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n_val = min(len(members) - 1, max(1, round(len(members) * fraction)))
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(val, np.int64))


def fine_tune(
    source: TrainingSource,
    *,
    validation: TrainingSource | None = None,
    validation_split: float = VALIDATION_SPLIT,
    head_epochs: int = HEAD_EPOCHS,
    fine_tune_epochs: int = FINE_TUNE_EPOCHS,
    seed: int = SEED,
    weights: str | os.PathLike | None = "imagenet",
    policy: ResizePolicy = DEFAULT_POLICY,
    calibrate: bool = True,
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
    stop: threading.Event | None = None,
) -> FineTuneResult:
    """Train MobileNetV2 on new classes: from a folder (one subfolder of photos per class) or from photos in memory.

    Args:
        source: e.g. ``trashnet-mini/`` holding ``glass/``, ``metal/``, ``paper/``, ``plastic/``; or a
            :class:`TrainingSet` (:func:`labkit.training_data.training_set_from_photos` makes one from uploads).
        validation: photos to check the model on, never learnt from (a folder or a :class:`TrainingSet` with the
            same class names); early stopping and calibration use them. ``None``: hold back ``validation_split``.
        validation_split: share of each class held back for validation when ``validation`` is ``None`` (with
            ``seed``: always the same photos); ``0`` learns from every photo (no validation accuracy, no early
            stopping, no calibration).
        head_epochs: phase 1 (the new Dense layer only), at most; early stopping may end it sooner.
        fine_tune_epochs: phase 2 (the top MobileNetV2 blocks too, at a low learning rate), at most; ``0`` skips it.
        weights: the base's ImageNet weights (``"imagenet"``: the no-top file found by :mod:`labkit.weights`).
        policy: how a folder's photos are resized (a :class:`TrainingSet` keeps its own).
        calibrate: fit the temperature and the "not sure" threshold on the validation photos
            (:func:`calibrate_on_validation`), so uncertainty works on the new model as on the ImageNet one.
        progress: progress bars and one line per epoch on stderr.
        on_epoch: called after every epoch with an :class:`labkit.recipe.EpochReport` (phase, epoch, loss, accuracy...).
        stop: when this ``threading.Event`` is set (e.g. by a Stop button), training ends after the current batch
            and its epoch's report; the result is returned as usual, with ``stopped=True``.

    Returns:
        a :class:`FineTuneResult`; ``result.classifier`` is a :class:`labkit.Classifier` over the classes.

    Raises:
        TrainingDataError: fewer than 2 classes, a class with fewer than 5 readable photos, validation photos of
            a class the training photos lack (:class:`labkit.training_data.TrainingFolderError` for a folder's
            problems).

    Example:
        >>> result = fine_tune("../shared/datasets/trashnet-mini")  # doctest: +SKIP
        >>> round(result.val_accuracy, 1), result.class_names  # doctest: +SKIP
        (0.9, ['glass', 'metal', 'paper', 'plastic'])
    """
    import keras

    start = time.perf_counter()
    say = _say if progress else (lambda message: None)
    stop = stop or threading.Event()
    training_set = as_training_set(source, policy, progress)
    policy = training_set.policy
    images, labels = training_set.images, training_set.labels
    if validation is not None:
        checked = _same_classes(as_training_set(validation, policy, progress, min_per_class=1), training_set)
        train, val_images, val_labels = np.arange(len(labels)), checked.images, checked.labels
    elif validation_split > 0:
        train, val = split_validation(labels, validation_split, seed)
        checked = _subset(training_set, val)
        val_images, val_labels = images[val], labels[val]
    else:
        checked, train, val_images, val_labels = None, np.arange(len(labels)), images[:0], labels[:0]
    num_classes = len(training_set.class_names)
    say(
        f"{len(training_set)} photos in {num_classes} classes: {len(train)} to learn from, {len(val_labels)} to "
        "check on"
    )
    keras.utils.set_random_seed(seed)  # same augmentations and starting weights on every run

    base = build_base(weights)
    base.trainable = False
    head = keras.layers.Dense(num_classes, name="logits")  # no softmax: labkit's classifier wants logits
    dropout = keras.layers.Dropout(DROPOUT, name="dropout")
    features = frozen_base_features(
        base, train_images=images[train], val_images=val_images, progress=progress, stop=stop
    )
    flips = len(features["train"]) // len(train)
    watchers = epoch_watchers(stop, on_epoch)
    history = train_head(
        head,
        dropout,
        features=features,
        train_labels=np.tile(labels[train], flips),
        val_labels=val_labels,
        epochs=head_epochs,
        progress=progress,
        watchers=watchers,
    )
    if fine_tune_epochs > 0 and not stop.is_set():
        phase_two = fine_tune_top(
            base,
            head,
            dropout,
            images={"train": images[train], "val": val_images},
            train_labels=labels[train],
            val_labels=val_labels,
            epochs=fine_tune_epochs,
            seed=seed,
            progress=progress,
            watchers=watchers,
        )
        history = {name: history[name] + phase_two[name] for name in history}

    classifier = classifier_from_base(base, head, training_set.class_names, policy)
    val_accuracy = None
    if len(val_labels):
        val_accuracy = float(np.mean(classifier.logits(val_images).argmax(axis=1) == val_labels))
        if calibrate:
            classifier = classifier.with_calibration(calibrate_on_validation(classifier, val_images, val_labels, seed))

    validation_set = (
        []
        if checked is None
        else [
            LabelledImage(path, int(label))
            for path, label in zip(checked.files, checked.labels, strict=True)
            if isinstance(path, Path)
        ]
    )
    settings = {
        "images_per_class": training_set.counts(),
        "train_images": int(len(train)),
        "validation_images": int(len(val_labels)),
        "validation_split": validation_split if validation is None else None,
        "seed": seed,
        "head_epochs": history["phase"].count(1),
        "fine_tune_epochs": history["phase"].count(2),
        "fine_tune_from": FINE_TUNE_FROM,
        "policy": policy,
    }
    result = FineTuneResult(
        classifier=classifier,
        history=history,
        class_names=training_set.class_names,
        val_accuracy=val_accuracy,
        seconds=time.perf_counter() - start,
        skipped_files=training_set.skipped_files,
        validation_set=validation_set,
        settings=settings,
        validation=checked,
        stopped=stop.is_set(),
    )
    say(result.summary())
    return result


def _same_classes(validation: TrainingSet, training_set: TrainingSet) -> TrainingSet:
    """The validation photos with labels renumbered to the training set's class order; refuses unknown classes."""
    unknown = [name for name in validation.class_names if name not in training_set.class_names]
    if unknown:
        raise TrainingDataError(
            f"The validation photos have class(es) the training photos lack: {', '.join(map(repr, unknown))} "
            f"(training classes: {', '.join(training_set.class_names)}). What to do: name the validation classes "
            "exactly like the training ones."
        )
    order = np.array([training_set.class_names.index(name) for name in validation.class_names], np.int64)
    renumbered = TrainingSet(
        training_set.class_names,
        validation.photos,
        order[validation.labels],
        validation.files,
        validation.skipped_files,
        validation.folder,
        validation.policy,
    )
    renumbered.__dict__["images"] = validation.images  # keep the cached model inputs
    return renumbered


def _subset(training_set: TrainingSet, indices: np.ndarray) -> TrainingSet:
    """The photos at ``indices``, as their own set (the held-back validation photos)."""
    return TrainingSet(
        training_set.class_names,
        [training_set.photos[index] for index in indices],
        training_set.labels[indices],
        [training_set.files[index] for index in indices],
        [],
        training_set.folder,
        training_set.policy,
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
