"""What a prediction looks like: the top-k classes with probabilities, timing, and doubt flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ConfidenceBand = Literal["high", "medium", "low"]
# Confidence bands: the bar chart's colours and the app's wording. The percentage is always shown too.
CONFIDENT = 0.60  # from here up: "high"
UNSURE = 0.30  # from here up to CONFIDENT: "medium"; below: "low"


@dataclass(frozen=True)
class ClassScore:
    """One class the model considered, with its probability (0..1) and readable label."""

    label: str
    class_index: int
    wnid: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image: the top-k classes, best first, and how long it took.

    ``label``, ``class_index``, ``wnid`` and ``probability`` are the best guess's; ``not_sure`` is set when the
    image may not be one of the classes the model knows (see :mod:`labkit.ood` and :mod:`labkit.calibration`).
    """

    top: tuple[ClassScore, ...]
    elapsed_ms: float
    logits: np.ndarray = field(repr=False, compare=False)
    not_sure: bool = False
    ood_score: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.top[0].label

    @property
    def class_index(self) -> int:
        return self.top[0].class_index

    @property
    def wnid(self) -> str:
        return self.top[0].wnid

    @property
    def probability(self) -> float:
        return self.top[0].probability

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (probabilities rounded to 4 places, time to 0.1 ms)."""
        return {
            "top": [{"label": score.label, "class_index": score.class_index, "wnid": score.wnid,
                     "probability": round(score.probability, 4)} for score in self.top],
            "elapsed_ms": round(self.elapsed_ms, 1),
            "not_sure": self.not_sure,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        guesses = ", ".join(f"{score.label} {score.probability:.0%}" for score in self.top)
        return guesses + (" (not sure)" if self.not_sure else "")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Turn logits into probabilities along the last axis, optionally softened by a temperature.

    Example:
        >>> softmax(np.array([0.0, 0.0])).tolist()
        [0.5, 0.5]
    """
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)  # keeps exp() from overflowing
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def logsumexp(values: np.ndarray) -> np.ndarray:
    """Return ``log(sum(exp(values)))`` along the last axis, computed without overflow.

    Example:
        >>> round(float(logsumexp(np.array([1000.0, 1000.0]))), 4)
        1000.6931
    """
    values = np.asarray(values, dtype=np.float64)
    top = values.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=-1, keepdims=True)))[..., 0]


def confidence_band(probability: float) -> ConfidenceBand:
    """Name how confident a probability is: ``"high"`` from 60 %, ``"medium"`` from 30 %, ``"low"`` below.

    Example:
        >>> confidence_band(0.92), confidence_band(0.45), confidence_band(0.1)
        ('high', 'medium', 'low')
    """
    return "high" if probability >= CONFIDENT else "medium" if probability >= UNSURE else "low"


def top_k(probabilities: np.ndarray, labels: list[str], wnids: list[str], k: int = 3) -> tuple[ClassScore, ...]:
    """Return the ``k`` most probable classes of one probability vector, best first.

    Example:
        >>> [s.label for s in top_k(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], ["", "", ""], k=2)]
        ['b', 'c']
    """
    k = max(1, min(k, len(probabilities)))
    best = np.argsort(probabilities)[::-1][:k]
    return tuple(ClassScore(labels[i], int(i), wnids[i], float(probabilities[i])) for i in best)
