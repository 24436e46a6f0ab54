"""How honest are the percentages? Calibration error, reliability data, log-likelihood, and cross-validation.

A model is *calibrated* when, of all the answers it gives with 70 % confidence, about 70 % are right.
:func:`expected_calibration_error` measures the gap (:func:`labkit.plots.plot_reliability_diagram` draws it from
:func:`reliability_diagram_data`); :func:`negative_log_likelihood` and :func:`probability_nll` score the whole
distribution; :func:`calibration_figures` gathers the reported figures, and :func:`cross_validate` measures a
calibrator (:mod:`labkit.calibrators`) on photos it was not fitted on.

numpy only: no TensorFlow is imported here.

Example:
    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), bins=2)
    0.65
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit.errors import LabkitError
from labkit.predict import logsumexp, softmax

ECE_BINS = 15  # equal-width bins for the reported ECE, as in Guo et al. 2017 (lessons may draw fewer)
FOLDS = 5  # cross-validation folds for the held-out figures


class CalibrationError(LabkitError, ValueError):
    """Calibration could not be fitted or loaded; the message says what was wrong and what to do."""


def check_logits_and_labels(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise CalibrationError(
            f"Expected logits of shape (images, classes); got shape {logits.shape}. "
            "Use classifier.logits(batch) for a batch of images."
        )
    if labels.shape != (len(logits),):
        raise CalibrationError(
            f"Got {len(logits)} rows of logits but labels of shape {labels.shape}: give one class index per image."
        )
    if len(logits) == 0:
        raise CalibrationError("No images to fit on: give at least one labelled image.")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise CalibrationError(
            f"Labels must be class indices 0..{logits.shape[1] - 1} (integers); got "
            f"{labels.dtype} values from {labels.min()} to {labels.max()}."
        )
    return logits, labels.astype(np.int64)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Return the mean of ``-log p(true class)`` under ``softmax(logits / temperature)`` (lower is better).

    Example:
        >>> round(negative_log_likelihood(np.array([[0.0, 0.0]]), np.array([0])), 4)
        0.6931
    """
    logits, labels = check_logits_and_labels(logits, labels)
    scaled = logits / temperature
    log_normaliser = logsumexp(scaled)
    return float(np.mean(log_normaliser - scaled[np.arange(len(labels)), labels]))


@dataclass(frozen=True)
class ReliabilityData:
    """Per-bin numbers behind a reliability diagram (empty bins hold ``nan`` confidence and accuracy, count 0)."""

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    expected_calibration_error: float


def reliability_diagram_data(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> ReliabilityData:
    """Group answers by confidence into ``bins`` equal-width bins; return each bin's mean confidence and accuracy.

    Args:
        probabilities: (images, classes), rows summing to 1.
        labels: the true class index of each image.
        bins: how many confidence ranges (10 = 0-10 %, 10-20 %, ...).

    Example:
        >>> data = reliability_diagram_data(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), bins=2)
        >>> data.count.tolist(), data.accuracy.tolist()
        ([0, 2], [nan, 0.5])
    """
    probabilities, labels = check_logits_and_labels(probabilities, labels)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bins are (low, high]; a confidence of exactly 0 (impossible for a softmax) would fall in the first one.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct.astype(float), minlength=bins) / count
    gaps = np.where(count > 0, np.abs(accuracy - mean_confidence), 0.0)
    ece = float(np.sum(count * gaps) / len(labels))
    return ReliabilityData(edges, mean_confidence, accuracy, count, ece)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Return the expected calibration error: the average gap between confidence and accuracy, weighted by bin size.

    0 is perfectly calibrated; 0.1 means the model's confidence is off by 10 points on average.

    Example:
        >>> round(expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1])), 2)
        0.4
    """
    return reliability_diagram_data(probabilities, labels, bins).expected_calibration_error


def probability_nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean ``-log p(true class)`` of probabilities (images, classes): lower is better.

    Example:
        >>> round(probability_nll(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 0])), 4)
        0.3993
    """
    probabilities, labels = check_logits_and_labels(probabilities, labels)
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-300, None))))


def calibration_figures(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, float]:
    """Return the figures that say how honest probabilities are: ECE, NLL, mean confidence, accuracy and the gap.

    Example:
        >>> calibration_figures(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))["mean_confidence"]
        0.75
    """
    probabilities, labels = check_logits_and_labels(probabilities, labels)
    confidence = float(probabilities.max(axis=1).mean())
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return {
        "ece": expected_calibration_error(probabilities, labels, bins),
        "nll": probability_nll(probabilities, labels),
        "mean_confidence": confidence,
        "accuracy": accuracy,
        "confidence_gap": confidence - accuracy,
    }


@dataclass(frozen=True)
class CrossValidation:
    """Held-out figures of one calibrator: per fold, and pooled over every photo (each predicted by the fit that did
    not see it). ``probabilities`` are those held-out predictions (one row per photo, in the photos' order);
    ``fitted`` holds each fold's calibrator."""

    folds: list[dict[str, float]]
    pooled: dict[str, float]
    fitted: list[Any] = field(repr=False)
    probabilities: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))


def fold_indices(n: int, folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """Split ``range(n)`` into ``folds`` shuffled parts of nearly equal size (the same ``seed``, the same parts).

    Example:
        >>> [len(part) for part in fold_indices(11, folds=3)]
        [4, 4, 3]
    """
    if not 2 <= folds <= n:
        raise CalibrationError(f"Cross-validation needs 2 to {n} folds for {n} photos; got {folds}.")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[fold::folds]) for fold in range(folds)]


def cross_validate(
    logits: np.ndarray,
    labels: np.ndarray,
    make_calibrator: Any = None,
    folds: int = FOLDS,
    seed: int = 0,
    bins: int = ECE_BINS,
) -> CrossValidation:
    """Fit a calibrator on all folds but one and measure it on that one, for each fold in turn.

    Args:
        logits, labels: the labelled photos' logits and true classes.
        make_calibrator: returns a new unfitted calibrator (e.g. ``ConfidenceCalibrator``); ``None`` measures the
            raw ``softmax(logits)`` (``T = 1``) on the same folds.
        folds, seed: how the photos are split (:func:`fold_indices`).

    Example:
        >>> cross_validate(photo_logits, photo_labels, ConfidenceCalibrator).pooled["ece"]  # doctest: +SKIP
        0.04
    """
    logits, labels = check_logits_and_labels(logits, labels)
    held_out = np.zeros_like(logits)
    per_fold, fitted = [], []
    for test in fold_indices(len(labels), folds, seed):
        train = np.setdiff1d(np.arange(len(labels)), test)
        if make_calibrator is None:
            calibrator, probabilities = None, softmax(logits[test])
        else:
            calibrator = make_calibrator().fit(logits[train], labels[train])
            probabilities = calibrator.predict_proba(logits[test])
        held_out[test] = probabilities
        per_fold.append(calibration_figures(probabilities, labels[test], bins))
        fitted.append(calibrator)
    return CrossValidation(per_fold, calibration_figures(held_out, labels, bins), fitted, held_out)
