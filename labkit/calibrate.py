"""Calibrate a classifier on photos: its logits and pooled features for a list of photos, a fitted
:class:`labkit.calibration.Calibration` from a labelled folder, and the ReAct clip re-derived from photos.

The numbers (temperature, ECE, OOD scores and thresholds) are computed by :mod:`labkit.calibration` and
:mod:`labkit.ood` from logits; this module runs the classifier to get those logits.

Example:
    >>> calibration = fit_calibration(classifier, "my_labelled_photos")  # doctest: +SKIP
    >>> calibrated = classifier.with_calibration(calibration)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labkit.autocalibration import forward_images
from labkit.calibration import Calibration, fit_calibration_from_logits
from labkit.folders import read_labelled_folder
from labkit.images import ImageSource, as_image, iter_image_files
from labkit.model import Classifier
from labkit.network import REACT_PERCENTILE, pooled_features_model
from labkit.nonphotos import generate_ood_images
from labkit.ood import OodMethod
from labkit.preprocess import batched, to_batch
from labkit.reliability import CalibrationError

OOD_IMAGES = 120  # generated out-of-distribution images for a fit: 20 of each kind
BATCH_SIZE = 16  # photos per forward pass: a few at a time keeps memory low


def logits_for_images(
    classifier: Classifier, images: Sequence[ImageSource], batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Return the classifier's logits (images, classes) for photos (paths or PIL images), a few at a time.

    Example:
        >>> logits_for_images(classifier, generate_ood_images(4)).shape  # doctest: +SKIP
        (4, 1000)
    """
    return outputs_for_images(classifier, images, batch_size)[0]


def outputs_for_images(
    classifier: Classifier, images: Sequence[ImageSource], batch_size: int = BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the classifier's logits and clipped pooled features (``None`` without the ReAct clip) for images.

    Example:
        >>> [part.shape for part in outputs_for_images(Classifier(), generate_ood_images(4))]  # doctest: +SKIP
        [(4, 1000), (4, 1280)]
    """
    return forward_images(classifier.forward, images, classifier.policy, batch_size, classifier.num_classes)


def pooled_features(classifier: Classifier, images: Sequence[ImageSource], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Return the features (images, 1280) that ReAct clips: the classifier's pooled features before ``"react_clip"``.

    Runs the classifier's Keras model (TensorFlow is imported), whatever its engine.

    Example:
        >>> pooled_features(Classifier(), ["data/samples/340_zebra.jpg"]).shape  # doctest: +SKIP
        (1, 1280)
    """
    features = pooled_features_model(classifier.model)
    rows = [np.zeros((0, features.output_shape[-1]), np.float32)]
    for chunk in batched(images, batch_size):
        batch = to_batch([as_image(image) for image in chunk], classifier.policy)
        rows.append(np.asarray(features(batch, training=False)))
    return np.concatenate(rows)


def measure_react_clip(
    classifier: Classifier, folder: str | os.PathLike, percentile: float = REACT_PERCENTILE
) -> float:
    """Return the ReAct clip for ``classifier``: the ``percentile`` of the pooled features of the photos in ``folder``.

    This is how :data:`labkit.network.REACT_CLIP` was derived (the 60 photos of ``../shared/samples``). Why a
    percentile of real photos: it caps only the few features that photos rarely reach and that images unlike any
    photo (noise, text) drive far higher.

    Example:
        >>> round(measure_react_clip(Classifier(), "../shared/samples"), 3)  # doctest: +SKIP
        1.506
    """
    files = iter_image_files(folder)
    if not files:
        raise CalibrationError(
            f"No photos in {folder} to measure the ReAct clip on. What to do: point at a folder "
            "of typical photos (jpg or png)."
        )
    return float(np.percentile(pooled_features(classifier, files), percentile))


def fit_calibration(
    classifier: Classifier,
    folder: str | os.PathLike,
    *,
    ood_images: Sequence[ImageSource] | None = None,
    ood_method: OodMethod | None = None,
    keep: float = 0.95,
    seed: int = 0,
) -> Calibration:
    """Fit a calibration (temperature + top-1 correction) and out-of-distribution threshold on your labelled photos.

    Args:
        classifier: the :class:`labkit.Classifier` to calibrate (ImageNet or your fine-tuned model).
        folder: labelled photos, read by :func:`labkit.folders.read_labelled_folder`: a ``labels.csv`` (columns
            ``file`` and ``class_index``, ``wnid`` or ``label``) or one sub-folder per class. More photos give a
            steadier fit: 60 is a start, a few hundred is better.
        ood_images: images that are none of the classes; by default ``generate_ood_images(OOD_IMAGES, seed)``.
        ood_method: the OOD score; ``None`` picks the one with the highest AUROC on these images (``"ash_s"`` is
            a candidate only for a model with the ReAct clip, whose pooled features the engine returns).
        keep: the share of your photos that must stay "sure".

    Example:
        >>> calibration = fit_calibration(classifier, "my_labelled_photos")  # doctest: +SKIP
        >>> calibration.save("my_calibration.json")  # doctest: +SKIP
        >>> calibrated = classifier.with_calibration(calibration)  # doctest: +SKIP
    """
    items = read_labelled_folder(folder, classifier.class_names, classifier.wnids)
    logits, features = outputs_for_images(classifier, [item.path for item in items])
    labels = np.array([item.class_index for item in items])
    source = "your own"
    if ood_images is None:
        ood_images, source = generate_ood_images(OOD_IMAGES, seed), f"generate_ood_images({OOD_IMAGES}, seed={seed})"
    ood_logits, ood_features = outputs_for_images(classifier, list(ood_images))
    described = (
        f"temperature fitted on the {len(labels)} labelled photos in {Path(folder).name}/ (resize policy "
        f"{classifier.policy!r}, engine {classifier.engine!r}); out-of-distribution threshold: keep "
        f"{keep:.0%} of those photos sure, against {len(ood_logits)} out-of-distribution images ({source})"
    )
    head = classifier.head if features is not None and ood_features is not None else None
    return fit_calibration_from_logits(
        logits,
        labels,
        ood_logits,
        ood_method=ood_method,
        keep=keep,
        fitted_on=described,
        features=features,
        ood_features=ood_features,
        head=head,
        weights_fingerprint=classifier.weights_fingerprint,
    )


def calibrate_on_validation(
    classifier: Classifier, images: np.ndarray, labels: np.ndarray, seed: int = 0
) -> Calibration:
    """Fit ``classifier``'s calibration and "not sure" threshold on its own preprocessed validation photos.

    The calibration is a temperature and the top-1 correction (:class:`labkit.calibrators.ConfidenceCalibrator`): a
    fine-tuned model gets its own, since the ImageNet one says nothing about its classes. With fewer than 20
    validation photos the held-out check in ``measured`` is skipped. The threshold keeps 95 % of the validation
    photos "sure" and is checked against generated images that are none of the classes (noise, text pages, charts:
    :func:`labkit.nonphotos.generate_ood_images`). ``classifier`` is unchanged: ``classifier.with_calibration``
    gives the calibrated one.

    Example:
        >>> calibration = calibrate_on_validation(classifier, images, labels)  # doctest: +SKIP
        >>> calibration.temperature  # doctest: +SKIP
        1.3
    """
    ood_logits = logits_for_images(classifier, generate_ood_images(OOD_IMAGES, seed))
    described = (
        f"the {len(labels)} validation photos of the fine-tuned model, against {len(ood_logits)} generated "
        f"out-of-distribution images (seed {seed})"
    )
    return fit_calibration_from_logits(
        classifier.logits(images),
        labels,
        ood_logits,
        fitted_on=described,
        weights_fingerprint=classifier.weights_fingerprint,
    )
