"""Is this even a photo the model knows? Out-of-distribution scores, a threshold, and how well they separate.

MobileNetV2 always answers with one of its 1000 ImageNet classes, even for a page of text or random noise. Two
classic scores say how much an image looks like what the model was trained on, oriented by :func:`ood_score` so
that higher means "less familiar": the maximum softmax probability (:func:`max_softmax_probability`) and the energy
``-T * logsumexp(logits / T)`` (:func:`energy_score`). :func:`auroc` measures how well a score separates real photos
from other images, and :func:`choose_ood_threshold` sets the "not sure" line.

Decision: labkit flags with the energy of the raw logits (``T = 1``) of a network whose pooled features are clipped
(ReAct, :data:`labkit.network.REACT_CLIP`); ``benchmarks/ood.py`` measures both scores with and without the clip
(the log of what was measured: ``benchmarks/README.md``). A confident answer is still no proof that an image is one
of the 1000 classes: the images it was checked on are generated (:mod:`labkit.nonphotos`), not a student's.

numpy only: no TensorFlow is imported here.

Example:
    >>> auroc(ood_score(np.array([[9.0, 0.0]])), ood_score(np.array([[0.1, 0.0]])))
    1.0
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from labkit.predict import logsumexp, softmax

OodMethod = Literal["energy", "max_softmax"]
OOD_METHODS: tuple[OodMethod, ...] = ("energy", "max_softmax")
NOT_SURE_MESSAGE = "not sure: this is probably none of the 1000 things I know"


class OodError(ValueError):
    """An out-of-distribution score or threshold could not be computed; the message says what to do."""


def max_softmax_probability(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Return the top probability per image: high for photos the model knows, lower for unfamiliar images.

    Example:
        >>> max_softmax_probability(np.array([[2.0, 0.0], [0.0, 0.0]])).round(2).tolist()
        [0.88, 0.5]
    """
    return softmax(logits, temperature).max(axis=-1)


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Return the energy ``-T * logsumexp(logits / T)`` per image: low (very negative) for familiar images.

    Unlike the top probability it keeps the logits' overall size, which drops for images unlike any training photo.

    Example:
        >>> energy_score(np.array([[10.0, 0.0], [1.0, 0.0]])).round(2).tolist()
        [-10.0, -1.31]
    """
    logits = np.asarray(logits, dtype=np.float64)
    return -temperature * logsumexp(logits / temperature)


def ood_score(logits: np.ndarray, method: OodMethod = "energy", temperature: float = 1.0) -> np.ndarray:
    """Return an out-of-distribution score per image, oriented so that HIGHER means "less like a known photo".

    ``"energy"``: the energy itself; ``"max_softmax"``: ``1 - max_softmax_probability``.

    Example:
        >>> ood_score(np.array([[10.0, 0.0], [1.0, 0.0]]), "max_softmax").round(2).tolist()
        [0.0, 0.27]
    """
    if method == "energy":
        return energy_score(logits, temperature)
    if method == "max_softmax":
        return 1.0 - max_softmax_probability(logits, temperature)
    raise OodError(f"Unknown out-of-distribution method {method!r}: use one of {OOD_METHODS}.")


def auroc(in_distribution_scores: ArrayLike, out_of_distribution_scores: ArrayLike) -> float:
    """Return the area under the ROC curve: the chance that a random OOD image scores higher than a random photo.

    1.0 separates them perfectly, 0.5 is a coin toss; ties count half.

    Example:
        >>> auroc([0.1, 0.2, 0.3], [0.25, 0.9])
        0.8333333333333334
    """
    inside = np.asarray(in_distribution_scores, dtype=np.float64)
    outside = np.asarray(out_of_distribution_scores, dtype=np.float64)
    if inside.size == 0 or outside.size == 0:
        raise OodError("AUROC needs at least one in-distribution and one out-of-distribution score.")
    higher = (outside[:, None] > inside[None, :]).sum()
    ties = (outside[:, None] == inside[None, :]).sum()
    return float((higher + 0.5 * ties) / (inside.size * outside.size))


def choose_ood_threshold(in_distribution_scores: ArrayLike, out_of_distribution_scores: ArrayLike,
                         keep: float = 0.95) -> float:
    """Return a threshold that keeps at least ``keep`` of the real photos "sure" (the classic TPR-95 % point).

    The threshold sits halfway between the highest score it must keep and the next score up, so a tiny change
    of a photo's score does not flip it.

    Example:
        >>> choose_ood_threshold([0.1, 0.2, 0.3, 0.4], [0.9], keep=0.75)
        0.35
    """
    inside = np.sort(np.asarray(in_distribution_scores, dtype=np.float64))
    if inside.size == 0:
        raise OodError("Choosing a threshold needs at least one real photo's score.")
    kept = max(1, math.ceil(keep * inside.size))
    if kept == inside.size:  # keep them all: put the threshold halfway to the lowest OOD score above them
        above = np.asarray(out_of_distribution_scores, dtype=np.float64)
        above = above[above > inside[-1]]
        return float((inside[-1] + above.min()) / 2) if above.size else float(inside[-1])
    return float((inside[kept - 1] + inside[kept]) / 2)
