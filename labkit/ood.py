"""Is this even a photo the model knows? Out-of-distribution scores, a threshold, and how well they separate.

MobileNetV2 always answers with one of its 1000 ImageNet classes, even for a page of text or random noise. Two
classic scores say how much an image looks like what the model was trained on, oriented by :func:`ood_score` so
that higher means "less familiar": the maximum softmax probability (:func:`max_softmax_probability`) and the energy
``-T * logsumexp(logits / T)`` (:func:`energy_score`). :func:`auroc` measures how well a score separates real photos
from other images, and :func:`choose_ood_threshold` sets the "not sure" line.

A third score needs more than the logits: :func:`ash_s_energy` shapes the pooled features the last layer reads
(ASH-S, "activation shaping", Djurisic et al. 2023): it keeps the largest ``keep`` share of each image's features,
zeroes the rest and scales the kept ones up by ``exp(sum of all / sum of kept)``, then takes the energy of the logits
the last layer gives for those shaped features. A photo concentrates its features on a few strong ones; an image
unlike any photo spreads them, and shaping widens that difference.

Decision: the ImageNet model flags with ASH-S on its ReAct-clipped pooled features (:data:`labkit.network.REACT_CLIP`),
``keep`` chosen from :data:`ASH_KEEP_CHOICES` by :func:`choose_ash_keep` on the fitting photos only; models without
the clipped features (fine-tuned ones, :mod:`labkit.transfer`, and their exports) keep the energy of their logits:
their pooled features have no ReAct clip, and ASH-S was measured only for the ImageNet model. Measured on
imagenet-val-650, held-out folds over 20 fold seeds, by ``benchmarks/calibration.py`` (figures in
``benchmarks/results/calibration.json``, the log in ``benchmarks/README.md``): at the same share of real photos
flagged, ASH-S catches clearly more generated non-photos than the energy of the ReAct logits. A confident answer is
still no proof that an image is one of the 1000 classes: the images it was checked on are generated
(:mod:`labkit.nonphotos`), not a student's.

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

from labkit.errors import LabkitError
from labkit.predict import logsumexp, softmax

OodMethod = Literal["energy", "max_softmax", "ash_s"]
OOD_METHODS: tuple[OodMethod, ...] = ("energy", "max_softmax", "ash_s")
FEATURE_METHODS: tuple[OodMethod, ...] = ("ash_s",)  # methods that need the pooled features and the last layer
# Shares of the pooled features ASH-S keeps, tried by choose_ash_keep (the ASH paper prunes 65-90 %).
ASH_KEEP_CHOICES = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65)


class OodError(LabkitError, ValueError):
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


def ash_s_features(features: np.ndarray, keep: float) -> np.ndarray:
    """Return ASH-S-shaped features: per image, the largest ``keep`` share kept and scaled, the rest set to zero.

    The kept features are multiplied by ``exp(sum of all features / sum of the kept ones)``: an image whose strength
    sits in a few features is scaled up little more than ``e``, one whose strength is spread out much more.

    Args:
        features: non-negative pooled features, shape (images, features), e.g. MobileNetV2's 1280 after the clip.
        keep: the share of each image's features kept, between 0 and 1 (at least one feature is kept).

    Example:
        >>> ash_s_features(np.array([[1.0, 1.0, 2.0, 0.0]]), keep=0.25).round(2).tolist()
        [[0.0, 0.0, 14.78, 0.0]]
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise OodError(f"Expected pooled features of shape (images, features); got shape {features.shape}.")
    if not 0 < keep <= 1:
        raise OodError(f"ASH-S keeps a share of the features between 0 and 1; got keep={keep}.")
    count = max(1, round(keep * features.shape[1]))
    lowest_kept = -np.partition(-features, count - 1, axis=1)[:, count - 1 : count]
    kept = np.where(features >= lowest_kept, features, 0.0)
    total, kept_total = features.sum(axis=1, keepdims=True), kept.sum(axis=1, keepdims=True)
    return kept * np.exp(total / np.maximum(kept_total, 1e-12))


def ash_s_energy(features: np.ndarray, weights: np.ndarray, bias: np.ndarray, keep: float) -> np.ndarray:
    """Return the energy of the logits ``ash_s_features(features) @ weights + bias``: low for familiar images.

    Args:
        features: the pooled features the last layer reads (images, features).
        weights, bias: the last (Dense) layer's kernel (features, classes) and bias (classes,).
        keep: the share of features ASH-S keeps (:func:`ash_s_features`).

    Example:
        >>> ash_s_energy(np.array([[1.0, 0.0]]), np.eye(2), np.zeros(2), keep=0.5).round(2).tolist()
        [-2.78]
    """
    shaped = ash_s_features(features, keep).astype(np.float32)
    weights = np.asarray(weights, dtype=np.float32)  # the kernel as stored: no per-photo copy of all of it
    if weights.shape[0] != shaped.shape[1]:
        raise OodError(
            f"The last layer reads {weights.shape[0]} features but {shaped.shape[1]} were given: pass the "
            "pooled features of the same model."
        )
    # Only the kept features' rows of the last layer: the others multiply zeros (a third of the work and of the 5 MB
    # read per photo at keep=0.3). einsum's own loop, not `@`: a BLAS call per photo wakes OpenBLAS's threads, which
    # keep spinning and slow the next LiteRT forward pass on 2 cores (one photo end to end: 13.5 ms with `@` in
    # float64, 9.8 ms with BLAS on one thread; benchmarks/engines.py measures it).
    logits = np.empty((len(shaped), weights.shape[1]), np.float64)
    for row, values in enumerate(shaped):
        kept = np.flatnonzero(values)
        logits[row] = np.einsum("j,jk->k", values[kept], np.take(weights, kept, axis=0), optimize=False)
    return energy_score(logits + np.asarray(bias, dtype=np.float64))


def choose_ash_keep(
    features: np.ndarray,
    ood_features: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    choices: tuple[float, ...] = ASH_KEEP_CHOICES,
) -> float:
    """Return the share of features ASH-S keeps that best separates photos from OOD images (highest AUROC).

    Fit it on the photos the threshold is fitted on, never on the photos you report on.

    Example:
        >>> choose_ash_keep(photo_features, noise_features, kernel, bias)  # doctest: +SKIP
        0.3
    """

    def separation(keep: float) -> float:
        return auroc(ash_s_energy(features, weights, bias, keep), ash_s_energy(ood_features, weights, bias, keep))

    return max(choices, key=separation)  # ties go to the first listed


def ood_score(
    logits: np.ndarray,
    method: OodMethod = "energy",
    temperature: float = 1.0,
    *,
    features: np.ndarray | None = None,
    head: tuple[np.ndarray, np.ndarray] | None = None,
    ash_keep: float = 0.0,
) -> np.ndarray:
    """Return an out-of-distribution score per image, oriented so that HIGHER means "less like a known photo".

    ``"energy"``: the energy itself; ``"max_softmax"``: ``1 - max_softmax_probability``; ``"ash_s"``:
    :func:`ash_s_energy` of ``features`` with the last layer ``head = (weights, bias)`` keeping ``ash_keep``
    (the logits are then not used).

    Example:
        >>> ood_score(np.array([[10.0, 0.0], [1.0, 0.0]]), "max_softmax").round(2).tolist()
        [0.0, 0.27]
    """
    if method == "ash_s":
        if features is None or head is None:
            raise OodError(
                "The 'ash_s' score needs the pooled features and the last layer's weights, which this "
                "model does not provide. What to do: use a calibration with ood_method 'energy' for it "
                "(labkit.calibrate.fit_calibration fits one)."
            )
        return ash_s_energy(np.atleast_2d(features), head[0], head[1], ash_keep)
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


def choose_ood_threshold(
    in_distribution_scores: ArrayLike, out_of_distribution_scores: ArrayLike, keep: float = 0.95
) -> float:
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
