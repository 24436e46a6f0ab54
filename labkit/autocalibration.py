"""Which calibration a classifier's ImageNet weights get: the shipped one, one fitted for them, or none.

A calibration is fitted for one set of weights and is never applied to others (:meth:`Calibration.fits` compares
the fingerprints, :func:`labkit.network.weights_fingerprint`). :func:`calibration_for` decides, in order:

1. the shipped calibration (``labkit/data/calibration.json``) when it was fitted for these weights: labkit's own,
   built from the committed source, or CI's rebuild of the same;
2. a calibration labkit fitted for these weights before, cached by fingerprint in
   ``labkit.paths.cache_dir() / "calibration"``;
3. a new one, fitted as the shipped one was (:func:`fit_on_validation`: ``imagenet-val-650``, ASH-S, keeping
   :data:`KEEP` of the photos sure against :data:`OOD_IMAGES` generated images), with a progress bar, then cached;
   only when :func:`labkit.datasets.fetch` can provide the photos (``$LABKIT_DATA_DIR``, its cache, a download);
4. otherwise none: the classifier says its percentages are uncalibrated (:data:`labkit.predict.UNCALIBRATED_MESSAGE`).

Keras' original weights (``weights="keras-download"``) and a teacher's own ``$LABKIT_WEIGHTS_DIR`` of other
weights take steps 2-4. numpy only: the classifier's forward pass is handed in.

Example:
    >>> calibration_for(fingerprint, forward, lambda: head, "squash")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from labkit.calibration import Calibration, fit_calibration_from_logits, shipped_calibration
from labkit.datasets import DatasetError, fetch
from labkit.folders import read_labelled_folder
from labkit.images import ImageSource, as_image
from labkit.nonphotos import generate_ood_images
from labkit.paths import cache_dir
from labkit.preprocess import ResizePolicy, batched, to_batch
from labkit.reliability import CalibrationError

VALIDATION_SET = "imagenet-val-650"  # the photos the shipped calibration was fitted on
OOD_IMAGES = 300  # generated out-of-distribution images the threshold is set against: 50 of each kind
OOD_SEED = 0
# Share of the photos kept "sure" by the threshold. Not 0.95: a threshold keeping 95 % of the fitting photos flags a
# little over 5 % of new ones on average (the photos' tail is thin); 96 % leaves a margin (benchmarks/calibration.py).
KEEP = 0.96
BATCH_SIZE = 16  # photos per forward pass: a few at a time keeps memory low

Head = Callable[[], "tuple[np.ndarray, np.ndarray] | None"]
"""Returns the last layer's ``(weights, bias)`` when asked (a :class:`labkit.Classifier`'s ``head``)."""

# Only the call of an engine's forward pass (logits and clipped pooled features) is needed here, e.g.
# Classifier.forward.
BatchForward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def calibration_for(
    fingerprint: str | None, forward: BatchForward, head: Head, policy: ResizePolicy
) -> Calibration | None:
    """Return the calibration for ImageNet weights with this fingerprint, fitting one if it can; else ``None``.

    Args:
        fingerprint: the weights' fingerprint; ``None`` (random weights) gets no calibration.
        forward: the classifier's ``batch -> (logits, clipped features or None)``.
        head: gives the last layer's weights, read only when a calibration is fitted.
        policy: the classifier's resize policy.

    Example:
        >>> calibration_for(None, forward, lambda: None, "squash") is None  # doctest: +SKIP
        True
    """
    if fingerprint is None:
        return None
    shipped = shipped_calibration()
    if shipped.fits(fingerprint):
        return shipped
    cached = cached_calibration_path(fingerprint)
    if cached.is_file():
        try:
            return Calibration.load(cached)
        except CalibrationError:
            cached.unlink(missing_ok=True)  # broken by a crash or a full disk: fit again
    try:
        folder = fetch(VALIDATION_SET)
    except DatasetError:
        return None  # offline and no copy: the classifier says its percentages are uncalibrated
    print(
        f"labkit: these weights have no calibration yet: fitting one on the photos of {VALIDATION_SET}, once, "
        f"cached in {cached.parent}.",
        file=sys.stderr,
        flush=True,
    )
    calibration = fit_on_validation(folder, forward, head, policy, fingerprint)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    calibration.save(partial)
    os.replace(partial, cached)  # whole or not at all, even with two kernels fitting at once
    return calibration


def cached_calibration_path(fingerprint: str) -> Path:
    """Return where the calibration fitted for the weights with this fingerprint is cached.

    Example:
        >>> cached_calibration_path("0" * 64).name
        'imagenet-0000000000000000.json'
    """
    return cache_dir() / "calibration" / f"imagenet-{fingerprint[:16]}.json"


def fit_on_validation(
    folder: os.PathLike, forward: BatchForward, head: Head, policy: ResizePolicy, fingerprint: str
) -> Calibration:
    """Fit a calibration as the shipped one was, on the labelled photos of ``folder`` (imagenet-val-650).

    A temperature and the top-1 correction, and an ASH-S "not sure" threshold (plain energy for a network without
    the ReAct clip) keeping :data:`KEEP` of the photos sure against :data:`OOD_IMAGES` generated images.

    Example:
        >>> fit_on_validation(fetch("imagenet-val-650"), forward, head, "squash", fingerprint)  # doctest: +SKIP
    """
    items = read_labelled_folder(folder)
    logits, features = forward_images(forward, [item.path for item in items], policy, progress=VALIDATION_SET)
    ood_logits, ood_features = forward_images(forward, generate_ood_images(OOD_IMAGES, OOD_SEED), policy)
    with_features = features is not None and ood_features is not None
    last_layer = head() if with_features else None
    return fit_calibration_from_logits(
        logits,
        np.array([item.class_index for item in items]),
        ood_logits,
        ood_method="ash_s" if last_layer is not None else "energy",
        keep=KEEP,
        features=features,
        ood_features=ood_features,
        head=last_layer,
        weights_fingerprint=fingerprint,
        fitted_on=(
            f"{len(items)} ImageNet validation photos of {VALIDATION_SET} (resize policy {policy!r}), fitted by "
            f"labkit for weights it had no calibration for; out-of-distribution threshold keeping {KEEP:.0%} of the "
            f"photos sure, against generate_ood_images({OOD_IMAGES}, seed={OOD_SEED})"
        ),
    )


def forward_images(
    forward: BatchForward,
    images: Sequence[ImageSource],
    policy: ResizePolicy,
    batch_size: int = BATCH_SIZE,
    num_classes: int = 1000,
    progress: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the logits and clipped pooled features (``None`` without the ReAct clip) of images, a few at a time.

    Args:
        progress: a name for a progress bar on stderr (``None``: no bar).

    Example:
        >>> outputs = forward_images(classifier.forward, generate_ood_images(4), "squash")  # doctest: +SKIP
        >>> [part.shape for part in outputs]  # doctest: +SKIP
        [(4, 1000), (4, 1280)]
    """
    logits: list[np.ndarray] = [np.zeros((0, num_classes))]
    features: list[np.ndarray | None] = []
    with tqdm(total=len(images), unit="photo", desc=progress, file=sys.stderr, disable=progress is None) as bar:
        for chunk in batched(images, batch_size):
            chunk_logits, chunk_features = forward(to_batch([as_image(image) for image in chunk], policy))
            logits.append(chunk_logits)
            features.append(chunk_features)
            bar.update(len(chunk))
    if not features or any(part is None for part in features):
        return np.concatenate(logits), None
    return np.concatenate(logits), np.concatenate([part for part in features if part is not None])
