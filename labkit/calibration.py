"""Are the model's percentages honest? Temperature scaling, calibration error, and the calibration file.

A model is *calibrated* when, of all the answers it gives with 70 % confidence, about 70 % are right.
:func:`expected_calibration_error` measures the gap (:func:`labkit.plots.plot_reliability_diagram` draws it).
:class:`TemperatureScaler` fixes most of it with one number ``T``: probabilities become ``softmax(logits / T)``.
``T > 1`` softens an over-confident model, ``T < 1`` sharpens an under-confident one. The ranking of the classes
never changes, so accuracy stays exactly the same.

A single temperature is not quite enough on real photos. :class:`ConfidenceCalibrator` adds two numbers after
it: the top probability ``c`` becomes ``sigmoid(slope * logit(c) + offset)`` (Platt scaling of the top-1
confidence), and the other classes share what is left in their old proportions, so the ranking still never
changes. Decision, measured with ``benchmarks/calibration.py`` on the 650 ImageNet validation photos of
``imagenet-val-650`` (5-fold cross-validation, every figure on photos not used to fit it; the stored figures are in
``benchmarks/results/calibration.json``): the temperature alone leaves the model over-confident by about 2 points
(ECE about 0.05); the two extra numbers bring the mean confidence to within a point of the accuracy (ECE about
0.04) at the same negative log-likelihood. Histogram binning and isotonic regression of the top-1 confidence,
measured the same way, varied more from one split to another (isotonic: ECE up to 0.06 over 20 splits) and
binning had a worse NLL. Probabilities from the logits without the ReAct clip (:mod:`labkit.network`) had a slightly
better NLL (0.881 against 0.893) but need the engine to return a second set of logits: not done.

A :class:`Calibration` is what a classifier carries: the fitted temperature and confidence correction, the "low
confidence" line and an out-of-distribution rule (:mod:`labkit.ood`), saved as JSON. :func:`shipped_calibration` is
the one fitted for the ImageNet model (``labkit/data/calibration.json``, its ``fitted_on`` says on what);
:func:`fit_calibration_from_logits` fits one from logits, and :func:`labkit.calibrate.fit_calibration` from a
classifier and a folder of your own labelled photos. :func:`cross_validate` measures a calibrator on held-out folds.

numpy only: no TensorFlow is imported here.

Example:
    >>> logits = np.array([[4.0, 1.0, 0.0], [0.5, 0.4, 0.3]])
    >>> scaler = TemperatureScaler().fit(logits, np.array([0, 2]))
    >>> scaler.predict_proba(logits).shape
    (2, 3)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from labkit.ood import FEATURE_METHODS, OOD_METHODS, OodMethod, auroc, choose_ash_keep, choose_ood_threshold, ood_score
from labkit.paths import PACKAGE_DIR
from labkit.predict import LOW_CONFIDENCE, logsumexp, softmax

CALIBRATION_FILE = PACKAGE_DIR / "data" / "calibration.json"
ECE_BINS = 15  # equal-width bins for the reported ECE, as in Guo et al. 2017 (lessons may draw fewer)
FOLDS = 5  # cross-validation folds for the held-out figures
# Temperatures outside this range mean something else is wrong (labels that don't match the model's classes).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


class Calibrated(Protocol):
    """What :meth:`Calibration.apply_to` sets: a temperature and a calibration (a :class:`labkit.Classifier`)."""

    temperature: float
    calibration: Calibration | None


CalibratedModel = TypeVar("CalibratedModel", bound=Calibrated)


class CalibrationError(ValueError):
    """Calibration could not be fitted or loaded; the message says what was wrong and what to do."""


def _check_logits_and_labels(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    logits, labels = _check_logits_and_labels(logits, labels)
    scaled = logits / temperature
    log_normaliser = logsumexp(scaled)
    return float(np.mean(log_normaliser - scaled[np.arange(len(labels)), labels]))


class TemperatureScaler:
    """Learn one temperature ``T`` so that ``softmax(logits / T)`` is calibrated (scikit-learn style).

    ``fit`` finds the ``T`` that makes the true labels most likely (lowest negative log-likelihood), with a weak
    pull towards ``T = 1``: a log-normal prior whose width is ``prior_width`` on ``log T``. Why the pull? On a
    small set where every answer is right, the likelihood keeps improving as ``T`` shrinks, and the plain fit runs
    off to the smallest temperature allowed (every answer "100 %"). With 30 of the 60 sample photos this happens.
    The prior counts like about one photo, so it hardly moves a fit on many photos. The fitted value is
    ``temperature_``.

    Args:
        prior_width: the prior's standard deviation on ``log T`` (0.5: T is most likely within 0.37..2.7);
            ``None`` for the plain maximum-likelihood fit.
        min_temperature, max_temperature: the search range.

    Example:
        >>> scaler = TemperatureScaler().fit(np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]]), np.array([0, 1, 1]))
        >>> scaler.temperature_ > 1  # one of three confident answers was wrong: soften them
        True
    """

    def __init__(
        self,
        prior_width: float | None = 0.5,
        min_temperature: float = MIN_TEMPERATURE,
        max_temperature: float = MAX_TEMPERATURE,
    ) -> None:
        self.prior_width = prior_width
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature

    def _loss(self, logits: np.ndarray, labels: np.ndarray, log_temperature: float) -> float:
        loss = negative_log_likelihood(logits, labels, math.exp(log_temperature))
        if self.prior_width is not None:  # the prior's -log density, shared out over the images like the NLL
            loss += log_temperature**2 / (2 * self.prior_width**2 * len(labels))
        return loss

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> TemperatureScaler:
        """Fit ``temperature_`` on logits (images, classes) and true class indices; return ``self``."""
        logits, labels = _check_logits_and_labels(logits, labels)
        # A coarse grid over log T finds the valley, a golden-section search then narrows it down.
        grid = np.linspace(math.log(self.min_temperature), math.log(self.max_temperature), 41)
        losses = [self._loss(logits, labels, value) for value in grid]
        best = int(np.argmin(losses))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        golden = (math.sqrt(5) - 1) / 2
        a, b = high - golden * (high - low), low + golden * (high - low)
        loss_a, loss_b = self._loss(logits, labels, a), self._loss(logits, labels, b)
        for _ in range(40):  # 0.618**40 of one grid step: far below any difference that matters
            if loss_a < loss_b:
                high, b, loss_b = b, a, loss_a
                a = high - golden * (high - low)
                loss_a = self._loss(logits, labels, a)
            else:
                low, a, loss_a = a, b, loss_b
                b = low + golden * (high - low)
                loss_b = self._loss(logits, labels, b)
        self.temperature_ = float(math.exp((low + high) / 2))
        self.n_samples_fit_ = len(labels)
        return self

    def _fitted_temperature(self) -> float:
        if not hasattr(self, "temperature_"):
            raise CalibrationError("This TemperatureScaler is not fitted yet: call fit(logits, labels) first.")
        return self.temperature_

    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Return the logits divided by the fitted temperature."""
        return np.asarray(logits, dtype=np.float64) / self._fitted_temperature()

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities ``softmax(logits / temperature_)``, one row per image."""
        return softmax(logits, self._fitted_temperature())

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Return the most probable class per image (the same as without scaling: ``T`` never reorders classes)."""
        return np.argmax(np.asarray(logits), axis=-1)

    def __repr__(self) -> str:
        fitted = f", temperature_={self.temperature_:.3f}" if hasattr(self, "temperature_") else ""
        return (
            f"TemperatureScaler(prior_width={self.prior_width}, min_temperature={self.min_temperature}, "
            f"max_temperature={self.max_temperature}{fitted})"
        )


def correct_confidence(probabilities: np.ndarray, slope: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Replace each row's top probability ``c`` by ``sigmoid(slope * logit(c) + offset)``; rescale the others.

    The other classes keep their proportions and share ``1 - new top``. The best guess stays the best guess: if the
    new top would fall under the runner-up's rescaled share, it stops where they are equal (slightly above, so the
    order is kept). ``slope=1, offset=0`` changes nothing.

    Example:
        >>> correct_confidence(np.array([[0.8, 0.15, 0.05]]), slope=1.0, offset=-1.0).round(3).tolist()
        [[0.595, 0.303, 0.101]]
    """
    probabilities = np.array(probabilities, dtype=np.float64, ndmin=2)
    if slope == 1.0 and offset == 0.0:
        return probabilities
    rows = np.arange(len(probabilities))
    best = probabilities.argmax(axis=1)
    top = np.clip(probabilities[rows, best], 1e-12, 1 - 1e-12)
    new_top = 1 / (1 + np.exp(-(slope * np.log(top / (1 - top)) + offset)))
    rest = 1 - top
    second = np.sort(probabilities, axis=1)[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(top))
    # Never below the point where the runner-up, rescaled, would catch up: second * (1 - t) / rest = t.
    floor = second / np.maximum(rest + second, 1e-300) * (1 + 1e-9)
    new_top = np.clip(np.maximum(new_top, floor), 0.0, 1.0)
    corrected = probabilities * ((1 - new_top) / np.maximum(rest, 1e-300))[:, None]
    corrected[rows, best] = new_top
    return corrected


def calibrated_probabilities(
    logits: np.ndarray, temperature: float = 1.0, slope: float = 1.0, offset: float = 0.0
) -> np.ndarray:
    """Return ``softmax(logits / temperature)`` with its top probability corrected (:func:`correct_confidence`).

    Example:
        >>> calibrated_probabilities(np.array([[2.0, 0.0]]), temperature=2.0).round(3).tolist()
        [[0.731, 0.269]]
    """
    probabilities = softmax(np.atleast_2d(logits), temperature)
    corrected = correct_confidence(probabilities, slope, offset)
    return corrected[0] if np.ndim(logits) == 1 else corrected


def _fit_platt(confidence: np.ndarray, correct: np.ndarray, prior_weight: float) -> tuple[float, float]:
    """Fit ``P(right) = sigmoid(slope * logit(confidence) + offset)`` by Newton's method on the log-likelihood.

    A Gaussian pull towards ``slope=1, offset=0`` (no change), worth about ``prior_weight`` photos, keeps the fit
    finite on a small set where every answer is right (the plain fit would then push every confidence to 100 %).
    """
    clipped = np.clip(confidence, 1e-9, 1 - 1e-9)
    x = np.stack([np.log(clipped / (1 - clipped)), np.ones_like(clipped)], axis=1)
    weights = np.array([1.0, 0.0])
    pull = prior_weight * np.eye(2)
    for _ in range(100):
        predicted = 1 / (1 + np.exp(-(x @ weights)))
        gradient = x.T @ (predicted - correct) + pull @ (weights - [1.0, 0.0])
        hessian = (x.T * (predicted * (1 - predicted))) @ x + pull
        step = np.linalg.solve(hessian, gradient)
        weights = weights - step
        if np.abs(step).max() < 1e-10:
            break
    return float(weights[0]), float(weights[1])


class ConfidenceCalibrator:
    """A temperature, then a two-number correction of the top probability (scikit-learn style).

    ``fit`` first fits :class:`TemperatureScaler`, then Platt scaling of the top-1 confidence: on the same photos,
    the chance that the best guess is right is modelled as ``sigmoid(slope * logit(confidence) + offset)``. Fitted
    attributes: ``temperature_``, ``slope_``, ``offset_``. The ranking of the classes never changes.

    Args:
        prior_width: passed to :class:`TemperatureScaler`.
        prior_weight: how many photos' worth of pull towards "no correction" (``slope=1, offset=0``).

    Example:
        >>> logits = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [2.0, 1.0]])
        >>> calibrator = ConfidenceCalibrator().fit(logits, np.array([0, 1, 1, 1]))
        >>> calibrator.predict_proba(logits).sum(axis=1).round(6).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, prior_width: float | None = 0.5, prior_weight: float = 1.0) -> None:
        self.prior_width = prior_width
        self.prior_weight = prior_weight

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> ConfidenceCalibrator:
        """Fit ``temperature_``, ``slope_`` and ``offset_`` on logits (images, classes) and true labels; return self."""
        logits, labels = _check_logits_and_labels(logits, labels)
        self.temperature_ = TemperatureScaler(self.prior_width).fit(logits, labels).temperature_
        probabilities = softmax(logits, self.temperature_)
        correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
        self.slope_, self.offset_ = _fit_platt(probabilities.max(axis=1), correct, self.prior_weight)
        self.n_samples_fit_ = len(labels)
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities, one row per image."""
        if not hasattr(self, "slope_"):
            raise CalibrationError("This ConfidenceCalibrator is not fitted yet: call fit(logits, labels) first.")
        return calibrated_probabilities(logits, self.temperature_, self.slope_, self.offset_)

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Return the most probable class per image (the same as without calibration)."""
        return np.argmax(np.asarray(logits), axis=-1)

    def __repr__(self) -> str:
        fitted = (
            f", temperature_={self.temperature_:.3f}, slope_={self.slope_:.3f}, offset_={self.offset_:.3f}"
            if hasattr(self, "slope_")
            else ""
        )
        return f"ConfidenceCalibrator(prior_width={self.prior_width}, prior_weight={self.prior_weight}{fitted})"


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
    probabilities, labels = _check_logits_and_labels(probabilities, labels)
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
    probabilities, labels = _check_logits_and_labels(probabilities, labels)
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-300, None))))


def calibration_figures(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, float]:
    """Return the figures that say how honest probabilities are: ECE, NLL, mean confidence, accuracy and the gap.

    Example:
        >>> calibration_figures(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))["mean_confidence"]
        0.75
    """
    probabilities, labels = _check_logits_and_labels(probabilities, labels)
    confidence = float(probabilities.max(axis=1).mean())
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return {
        "ece": expected_calibration_error(probabilities, labels, bins),
        "nll": probability_nll(probabilities, labels),
        "mean_confidence": confidence,
        "accuracy": accuracy,
        "confidence_gap": confidence - accuracy,
    }


class Calibrator(Protocol):
    """What :func:`cross_validate` fits: ``fit(logits, labels)`` returning itself, then ``predict_proba(logits)``."""

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Any: ...

    def predict_proba(self, logits: np.ndarray) -> np.ndarray: ...


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
    logits, labels = _check_logits_and_labels(logits, labels)
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


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration and out-of-distribution rule for one model; save it as JSON, load it back.

    Probabilities are ``softmax(logits / temperature)`` with the top one corrected by ``confidence_slope`` and
    ``confidence_offset`` (:func:`calibrated_probabilities`; 1 and 0, the defaults, change nothing, so files written
    before these fields existed still load). ``not_sure`` is true when ``ood_score(logits, ood_method,
    ood_temperature) > ood_threshold``; ``low_confidence`` when the calibrated top probability is below
    ``low_confidence_below``. With ``ood_method="ash_s"`` the score reads the clipped pooled features and the last
    layer ``head = (weights, bias)`` instead of the logits, keeping ``ood_ash_keep`` of the features
    (:func:`labkit.ood.ash_s_energy`); a :class:`labkit.Classifier` passes them.

    Example:
        >>> calibration = shipped_calibration()
        >>> calibration.not_sure(np.zeros(1000))  # a flat answer: the model knows nothing about this image
        True
    """

    temperature: float
    ood_method: OodMethod
    ood_threshold: float
    ood_temperature: float = 1.0
    fitted_on: str = ""
    measured: dict = field(default_factory=dict, compare=False)
    confidence_slope: float = 1.0
    confidence_offset: float = 0.0
    low_confidence_below: float = LOW_CONFIDENCE
    ood_ash_keep: float = 0.0  # for ood_method "ash_s": the share of pooled features kept

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of one logits vector or a batch (rows sum to 1)."""
        return calibrated_probabilities(logits, self.temperature, self.confidence_slope, self.confidence_offset)

    def low_confidence(self, logits: np.ndarray) -> bool | np.ndarray:
        """Return whether the calibrated best guess of one image (or each of a batch) is below the line."""
        top = np.max(self.probabilities(logits), axis=-1)
        return bool(top < self.low_confidence_below) if np.ndim(logits) == 1 else top < self.low_confidence_below

    def summary(self) -> str:
        """One sentence for people on how honest the percentages were on photos not used to fit them ("" if unknown).

        Quotes ``measured["held_out"]`` (written by :func:`fit_calibration_from_logits`), never a retyped figure.

        Example:
            >>> shipped_calibration().summary()  # doctest: +ELLIPSIS
            'Percentages calibrated on 650 photos: on photos not used to fit them, ...% right.'
        """
        held_out = self.measured.get("held_out", {}).get("after")
        if not held_out:
            return ""
        return (
            f"Percentages calibrated on {self.measured['photos']} photos: on photos not used to fit them, "
            f"{held_out['mean_confidence']:.0%} average confidence for {held_out['accuracy']:.0%} right."
        )

    @property
    def needs_features(self) -> bool:
        """Whether the "not sure" score reads the pooled features and the last layer, not only the logits."""
        return self.ood_method in FEATURE_METHODS

    def ood_score(
        self, logits: np.ndarray, features: np.ndarray | None = None, head: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray | float:
        """Return the out-of-distribution score (higher = less familiar) of one image or a batch.

        Args:
            logits: one logits vector or a batch.
            features, head: the clipped pooled features (same rows) and the last layer's ``(weights, bias)``,
                needed when :attr:`needs_features` (``labkit.Classifier.forward`` and ``.head`` give them).
        """
        scores = ood_score(
            np.atleast_2d(logits),
            self.ood_method,
            self.ood_temperature,
            features=None if features is None else np.atleast_2d(features),
            head=head,
            ash_keep=self.ood_ash_keep,
        )
        return float(scores[0]) if np.ndim(logits) == 1 else scores

    def not_sure(
        self, logits: np.ndarray, features: np.ndarray | None = None, head: tuple[np.ndarray, np.ndarray] | None = None
    ) -> bool | np.ndarray:
        """Return whether the image (or each image of a batch) may not be one of the classes the model knows."""
        scores = self.ood_score(logits, features, head)
        return bool(scores > self.ood_threshold) if np.ndim(logits) == 1 else scores > self.ood_threshold

    def apply_to(self, classifier: CalibratedModel) -> CalibratedModel:
        """Make ``classifier`` use this temperature and flag; return it.

        Example:
            >>> Calibration.load("my_calibration.json").apply_to(classifier)  # doctest: +SKIP
        """
        classifier.temperature = self.temperature
        classifier.calibration = self
        return classifier

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Calibration:
        missing = {"temperature", "ood_method", "ood_threshold"} - set(values)
        if missing:
            raise CalibrationError(
                f"A calibration needs {sorted(missing)}; got keys {sorted(values)}. "
                "Make one with labkit.calibrate.fit_calibration(classifier, folder)."
            )
        if values["ood_method"] not in OOD_METHODS:
            raise CalibrationError(f"Unknown ood_method {values['ood_method']!r}: use one of {OOD_METHODS}.")
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)

    def save(self, path: str | os.PathLike) -> Path:
        """Write this calibration as JSON; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a calibration written by :meth:`save`."""
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise CalibrationError(
                f"Could not read a calibration from {path} ({error}). What to do: check the "
                "path, or fit a new one with labkit.calibrate.fit_calibration."
            ) from error
        return cls.from_dict(values)


@lru_cache(maxsize=1)
def shipped_calibration() -> Calibration:
    """Return the calibration shipped with labkit for the ImageNet MobileNetV2 (``labkit/data/calibration.json``).

    Example:
        >>> shipped_calibration().ood_method in OOD_METHODS
        True
    """
    return Calibration.load(CALIBRATION_FILE)


def fit_calibration_from_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    ood_logits: np.ndarray,
    *,
    ood_method: OodMethod | None = None,
    keep: float = 0.95,
    fitted_on: str = "",
    folds: int = FOLDS,
    seed: int = 0,
    features: np.ndarray | None = None,
    ood_features: np.ndarray | None = None,
    head: tuple[np.ndarray, np.ndarray] | None = None,
) -> Calibration:
    """Fit a calibration on labelled logits, and an OOD threshold from them against out-of-distribution logits.

    The probabilities get a :class:`ConfidenceCalibrator` (a temperature and the top-1 correction) fitted on every
    photo; ``measured`` records how it did on photos it was not fitted on (:func:`cross_validate`, ``folds`` folds,
    under ``"held_out"``, next to the raw ``T = 1`` figures on the same folds), when there are enough photos.

    Args:
        logits, labels: the model's logits for labelled photos, and their true class indices.
        ood_logits: logits for images that are none of the classes (e.g. :func:`labkit.nonphotos.generate_ood_images`).
        ood_method: ``"energy"``, ``"max_softmax"`` or ``"ash_s"``; ``None`` picks the one with the highest
            measured AUROC among those the inputs allow (``"ash_s"`` needs ``features``, ``ood_features``, ``head``).
        keep: the share of labelled photos that must stay "sure" (sets the threshold).
        fitted_on: a sentence saying which images were used; saved with the calibration.
        folds, seed: the cross-validation split for the held-out figures (skipped with fewer than 4 photos a fold).
        features, ood_features, head: the clipped pooled features of the photos and of the OOD images, and the last
            layer's ``(weights, bias)``, for ``"ash_s"``; its kept share is chosen on these photos
            (:func:`labkit.ood.choose_ash_keep`).

    Example:
        >>> calibration = fit_calibration_from_logits(photo_logits, photo_labels, noise_logits)  # doctest: +SKIP
    """
    logits, labels = _check_logits_and_labels(logits, labels)
    ood_logits = np.asarray(ood_logits, dtype=np.float64)
    calibrator = ConfidenceCalibrator().fit(logits, labels)
    measured: dict[str, Any] = {
        "photos": int(len(labels)),
        "out_of_distribution_images": int(len(ood_logits)),
        "top1_accuracy": round(float(np.mean(logits.argmax(axis=1) == labels)), 4),
        "ece_before": round(expected_calibration_error(softmax(logits), labels, ECE_BINS), 4),
        "ece_after": round(expected_calibration_error(calibrator.predict_proba(logits), labels, ECE_BINS), 4),
        "ece_bins": ECE_BINS,
    }
    if len(labels) >= 4 * folds:
        measured["held_out"] = {
            "folds": folds,
            "seed": seed,
            "before": _rounded(cross_validate(logits, labels, None, folds, seed).pooled),
            "after": _rounded(cross_validate(logits, labels, ConfidenceCalibrator, folds, seed).pooled),
        }
    with_features = features is not None and ood_features is not None and head is not None
    if ood_method in FEATURE_METHODS and not with_features:
        raise CalibrationError(
            f"ood_method {ood_method!r} needs the pooled features of the photos and of the OOD "
            "images and the last layer's weights (features=, ood_features=, head=)."
        )
    ash_keep = choose_ash_keep(features, ood_features, *head) if with_features else 0.0  # type: ignore[arg-type,misc]
    extra: dict[str, Any] = {"head": head, "ash_keep": ash_keep}

    def scores(method: OodMethod) -> tuple[np.ndarray, np.ndarray]:
        return (
            ood_score(logits, method, features=features, **extra),
            ood_score(ood_logits, method, features=ood_features, **extra),
        )

    methods = [method for method in OOD_METHODS if with_features or method not in FEATURE_METHODS]
    for method in methods:
        measured[f"auroc_{method}"] = round(auroc(*scores(method)), 4)
    chosen: OodMethod = (
        ood_method
        if ood_method is not None
        else max(  # ties go to energy, the first listed
            methods, key=lambda method: measured[f"auroc_{method}"]
        )
    )
    inside, outside = scores(chosen)
    threshold = choose_ood_threshold(inside, outside, keep)
    measured["photos_flagged"] = round(float(np.mean(inside > threshold)), 4)
    measured["out_of_distribution_flagged"] = round(float(np.mean(outside > threshold)), 4)
    return Calibration(
        temperature=round(calibrator.temperature_, 4),
        ood_method=chosen,
        ood_threshold=round(threshold, 4),
        fitted_on=fitted_on,
        measured=measured,
        confidence_slope=round(calibrator.slope_, 4),
        confidence_offset=round(calibrator.offset_, 4),
        ood_ash_keep=ash_keep if chosen in FEATURE_METHODS else 0.0,
    )


def _rounded(figures: dict[str, float], places: int = 4) -> dict[str, float]:
    return {name: round(value, places) for name, value in figures.items()}
