"""Are the model's percentages honest? Temperature scaling, calibration error, and the calibration file.

A model is *calibrated* when, of all the answers it gives with 70 % confidence, about 70 % are right.
:func:`expected_calibration_error` measures the gap (:func:`labkit.plots.plot_reliability_diagram` draws it).
:class:`TemperatureScaler` fixes most of it with one number ``T``: probabilities become ``softmax(logits / T)``.
``T > 1`` softens an over-confident model, ``T < 1`` sharpens an under-confident one. The ranking of the classes
never changes, so accuracy stays exactly the same.

A :class:`Calibration` is what a classifier carries: a fitted temperature and an out-of-distribution rule
(:mod:`labkit.ood`), saved as JSON. :func:`shipped_calibration` is the one fitted for the ImageNet model
(``labkit/data/calibration.json``, on the 60 photos of ``../shared/samples`` and generated non-photos);
:func:`fit_calibration_from_logits` fits one from logits, and :func:`labkit.calibrate.fit_calibration` from a
classifier and a folder of your own labelled photos.

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

from labkit.ood import OOD_METHODS, OodMethod, auroc, choose_ood_threshold, ood_score
from labkit.paths import PACKAGE_DIR
from labkit.predict import logsumexp, softmax

CALIBRATION_FILE = PACKAGE_DIR / "data" / "calibration.json"
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
        raise CalibrationError(f"Expected logits of shape (images, classes); got shape {logits.shape}. "
                               "Use classifier.logits(batch) for a batch of images.")
    if labels.shape != (len(logits),):
        raise CalibrationError(f"Got {len(logits)} rows of logits but labels of shape {labels.shape}: "
                               "give one class index per image.")
    if len(logits) == 0:
        raise CalibrationError("No images to fit on: give at least one labelled image.")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise CalibrationError(f"Labels must be class indices 0..{logits.shape[1] - 1} (integers); got "
                               f"{labels.dtype} values from {labels.min()} to {labels.max()}.")
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

    def __init__(self, prior_width: float | None = 0.5, min_temperature: float = MIN_TEMPERATURE,
                 max_temperature: float = MAX_TEMPERATURE) -> None:
        self.prior_width = prior_width
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature

    def _loss(self, logits: np.ndarray, labels: np.ndarray, log_temperature: float) -> float:
        loss = negative_log_likelihood(logits, labels, math.exp(log_temperature))
        if self.prior_width is not None:  # the prior's -log density, shared out over the images like the NLL
            loss += log_temperature ** 2 / (2 * self.prior_width ** 2 * len(labels))
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
        return (f"TemperatureScaler(prior_width={self.prior_width}, min_temperature={self.min_temperature}, "
                f"max_temperature={self.max_temperature}{fitted})")


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


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and out-of-distribution rule for one model; save it as JSON, load it back.

    ``not_sure`` is true when ``ood_score(logits, ood_method, ood_temperature) > ood_threshold``.

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

    def ood_score(self, logits: np.ndarray) -> np.ndarray | float:
        """Return the out-of-distribution score (higher = less familiar) of one logits vector or a batch."""
        scores = ood_score(np.atleast_2d(logits), self.ood_method, self.ood_temperature)
        return float(scores[0]) if np.ndim(logits) == 1 else scores

    def not_sure(self, logits: np.ndarray) -> bool | np.ndarray:
        """Return whether the image (or each image of a batch) may not be one of the classes the model knows."""
        scores = self.ood_score(logits)
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
            raise CalibrationError(f"A calibration needs {sorted(missing)}; got keys {sorted(values)}. "
                                   "Make one with labkit.calibrate.fit_calibration(classifier, folder).")
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
            raise CalibrationError(f"Could not read a calibration from {path} ({error}). What to do: check the "
                                   "path, or fit a new one with labkit.calibrate.fit_calibration.") from error
        return cls.from_dict(values)


@lru_cache(maxsize=1)
def shipped_calibration() -> Calibration:
    """Return the calibration shipped with labkit for the ImageNet MobileNetV2 (``labkit/data/calibration.json``).

    Example:
        >>> shipped_calibration().ood_method in OOD_METHODS
        True
    """
    return Calibration.load(CALIBRATION_FILE)


def fit_calibration_from_logits(logits: np.ndarray, labels: np.ndarray, ood_logits: np.ndarray, *,
                                ood_method: OodMethod | None = None, keep: float = 0.95,
                                fitted_on: str = "") -> Calibration:
    """Fit a temperature on labelled logits and an OOD threshold from them against out-of-distribution logits.

    Args:
        logits, labels: the model's logits for labelled photos, and their true class indices.
        ood_logits: logits for images that are none of the classes (e.g. :func:`labkit.nonphotos.generate_ood_images`).
        ood_method: ``"energy"`` or ``"max_softmax"``; ``None`` picks the one with the higher measured AUROC.
        keep: the share of labelled photos that must stay "sure" (sets the threshold).
        fitted_on: a sentence saying which images were used; saved with the calibration.

    Example:
        >>> calibration = fit_calibration_from_logits(photo_logits, photo_labels, noise_logits)  # doctest: +SKIP
    """
    logits, labels = _check_logits_and_labels(logits, labels)
    ood_logits = np.asarray(ood_logits, dtype=np.float64)
    temperature = TemperatureScaler().fit(logits, labels).temperature_
    measured: dict[str, Any] = {
        "photos": int(len(labels)),
        "out_of_distribution_images": int(len(ood_logits)),
        "top1_accuracy": round(float(np.mean(logits.argmax(axis=1) == labels)), 4),
        "ece_before": round(expected_calibration_error(softmax(logits), labels), 4),
        "ece_after": round(expected_calibration_error(softmax(logits, temperature), labels), 4),
    }
    for method in OOD_METHODS:
        measured[f"auroc_{method}"] = round(auroc(ood_score(logits, method), ood_score(ood_logits, method)), 4)
    chosen: OodMethod = ood_method if ood_method is not None else max(  # ties go to energy, the first listed
        OOD_METHODS, key=lambda method: measured[f"auroc_{method}"])
    inside, outside = ood_score(logits, chosen), ood_score(ood_logits, chosen)
    threshold = choose_ood_threshold(inside, outside, keep)
    measured["photos_flagged"] = round(float(np.mean(inside > threshold)), 4)
    measured["out_of_distribution_flagged"] = round(float(np.mean(outside > threshold)), 4)
    return Calibration(temperature=round(temperature, 4), ood_method=chosen, ood_threshold=round(threshold, 4),
                       fitted_on=fitted_on, measured=measured)
