"""Calibrators: one temperature, then a correction of the top probability, fitted on labelled logits.

A model's percentages are rarely honest as they come. :class:`TemperatureScaler` fixes most of it with one number
``T``: probabilities become ``softmax(logits / T)``. ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an
under-confident one. The ranking of the classes never changes, so accuracy stays exactly the same.

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

:func:`labkit.reliability.expected_calibration_error` measures what they fix; :func:`calibrated_probabilities` is
what a :class:`labkit.calibration.Calibration` applies.

numpy only: no TensorFlow is imported here.

Example:
    >>> logits = np.array([[4.0, 1.0, 0.0], [0.5, 0.4, 0.3]])
    >>> scaler = TemperatureScaler().fit(logits, np.array([0, 2]))
    >>> scaler.predict_proba(logits).shape
    (2, 3)
"""

from __future__ import annotations

import math

import numpy as np

from labkit.predict import softmax
from labkit.reliability import CalibrationError, check_logits_and_labels, negative_log_likelihood

# Temperatures outside this range mean something else is wrong (labels that don't match the model's classes).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


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
        logits, labels = check_logits_and_labels(logits, labels)
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
    # the runner-up by partition, not a full sort of every class: the same value, a fraction of the work per photo
    second = np.partition(probabilities, -2, axis=1)[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(top))
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
        logits, labels = check_logits_and_labels(logits, labels)
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
