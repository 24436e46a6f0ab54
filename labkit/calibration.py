"""The calibration file: what a classifier carries to make its percentages honest and to say "not sure".

A :class:`Calibration` is what a classifier carries: the fitted temperature and confidence correction, the "low
confidence" line and an out-of-distribution rule (:mod:`labkit.ood`), saved as JSON. :func:`shipped_calibration` is
the one fitted for the ImageNet model (``labkit/data/calibration.json``, its ``fitted_on`` says on what);
:func:`fit_calibration_from_logits` fits one from logits, and :func:`labkit.calibrate.fit_calibration` from a
classifier and a folder of your own labelled photos. It is made of a calibrator
(:mod:`labkit.calibrators`) measured on held-out folds (:mod:`labkit.reliability`).

numpy only: no TensorFlow is imported here.

Example:
    >>> shipped_calibration().temperature > 0
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from labkit.calibrators import ConfidenceCalibrator, calibrated_probabilities
from labkit.ood import FEATURE_METHODS, OOD_METHODS, OodMethod, auroc, choose_ash_keep, choose_ood_threshold, ood_score
from labkit.paths import PACKAGE_DIR
from labkit.predict import LOW_CONFIDENCE, softmax
from labkit.reliability import (
    ECE_BINS,
    FOLDS,
    CalibrationError,
    check_logits_and_labels,
    cross_validate,
    expected_calibration_error,
)

CALIBRATION_FILE = PACKAGE_DIR / "data" / "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration and out-of-distribution rule for one model; save it as JSON, load it back.

    Probabilities are ``softmax(logits / temperature)`` with the top one corrected by ``confidence_slope`` and
    ``confidence_offset`` (:func:`labkit.calibrators.calibrated_probabilities`; 1 and 0, the defaults, change
    nothing, so files written before these fields existed still load). ``not_sure`` is true when ``ood_score(logits,
    ood_method, ood_temperature) > ood_threshold``; ``low_confidence`` when the calibrated top probability is below
    ``low_confidence_below``. With ``ood_method="ash_s"`` the score reads the clipped pooled features and the last
    layer ``head = (weights, bias)`` instead of the logits, keeping ``ood_ash_keep`` of the features
    (:func:`labkit.ood.ash_s_energy`); a :class:`labkit.Classifier` passes them.
    A classifier answers with it when built with it, or as a copy: ``classifier.with_calibration(calibration)``.

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
    # which weights it was fitted for (labkit.weights.fingerprint_layers); "" when unknown (files from before)
    weights_fingerprint: str = ""

    def fits(self, fingerprint: str | None) -> bool:
        """Whether this calibration was fitted for the weights with this fingerprint (never for unknown ones).

        Example:
            >>> shipped_calibration().fits("0" * 64)
            False
        """
        return bool(fingerprint) and fingerprint == self.weights_fingerprint

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
    """Return the calibration shipped with labkit for its ImageNet MobileNetV2 (``labkit/data/calibration.json``).

    It records the fingerprint of the weights it was fitted for (:attr:`Calibration.weights_fingerprint`): labkit's
    own, built from the committed source, and CI's rebuild of the same (:func:`labkit.weights.fingerprint_layers`).

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
    weights_fingerprint: str | None = None,
) -> Calibration:
    """Fit a calibration on labelled logits, and an OOD threshold from them against out-of-distribution logits.

    The probabilities get a :class:`labkit.calibrators.ConfidenceCalibrator` (a temperature and the top-1
    correction) fitted on every photo; ``measured`` records how it did on photos it was not fitted on
    (:func:`labkit.reliability.cross_validate`, ``folds`` folds, under ``"held_out"``, next to the raw ``T = 1``
    figures on the same folds), when there are enough photos.

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
        weights_fingerprint: the weights the logits came from (:func:`labkit.network.weights_fingerprint`),
            recorded so the calibration is never applied to other weights.

    Example:
        >>> calibration = fit_calibration_from_logits(photo_logits, photo_labels, noise_logits)  # doctest: +SKIP
    """
    logits, labels = check_logits_and_labels(logits, labels)
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
        weights_fingerprint=weights_fingerprint or "",
    )


def _rounded(figures: dict[str, float], places: int = 4) -> dict[str, float]:
    return {name: round(value, places) for name, value in figures.items()}
