"""What a prediction looks like: the top-k classes with probabilities, timing, and two notes of doubt.

The two notes answer two different questions (:attr:`Prediction.note`):

- ``"out_of_distribution"``: the image is probably none of the classes the model knows (a page of text, noise, a
  chart). Set from the out-of-distribution score (:mod:`labkit.ood`), which reads how much evidence the model found
  at all, whatever class it names.
- ``"low_confidence"``: a photo of something the model knows, on which it hesitates: its calibrated probability
  for its best guess is below :data:`LOW_CONFIDENCE`, so it is more likely wrong than right; the note names the
  runner-up. ``benchmarks/calibration.py`` measures on imagenet-val-650 how many real photos get it and how often
  the model is right on those (``benchmarks/results/calibration.json``).

Percentages are written by :func:`format_percent` everywhere (app, command line, charts): never "100%" or "0%",
which a calibrated model never means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from labkit.words import capitalized, counted

ConfidenceBand = Literal["high", "medium", "low"]
# Confidence bands: the bar chart's colours and the app's wording. The percentage is always shown too.
CONFIDENT = 0.60  # from here up: "high"
UNSURE = 0.30  # from here up to CONFIDENT: "medium"; below: "low"
# Below this calibrated top-1 probability a photo gets the "low confidence" note: the model is more likely wrong than
# right. Why 0.5 and not CONFIDENT: calibrated, 0.5 means exactly that, and a higher line would note many photos
# the model gets right (benchmarks/calibration.py measures the share noted and their accuracy).
LOW_CONFIDENCE = 0.50
Note = Literal["out_of_distribution", "low_confidence"]
# What a person reads when a classifier has no calibration for its weights (the command line, --json's "calibrated":
# false, the app's model note, the lessons): its percentages are the network's own and it never says "not sure".
UNCALIBRATED_MESSAGE = (
    "uncalibrated: labkit has no calibration for these weights, so the percentages are the network's own, not "
    'checked against real photos, and it never says "not sure". To calibrate them, make imagenet-val-650 '
    "available (LABKIT_DATA_DIR, or the internet once) and load the model again."
)
# Each note's heading, as the app, the lessons and the command line write it (see doubt for the reasons).
DOUBT_HEADINGS: dict[Note, str] = {"out_of_distribution": "Not sure", "low_confidence": "Low confidence"}
GUESS_ADVICE = "Treat the answer as a guess."  # after every note of doubt the app and the lessons show
IMAGENET_CLASSES = 1000  # ImageNet's model "knows 1000 things"; a model taught its own classes counts them


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
    image may not be one of the classes the model knows (see :mod:`labkit.ood` and :mod:`labkit.calibration`), and
    ``low_confidence`` when the model knows the kind of photo but hesitates (calibrated top-1 below
    :data:`LOW_CONFIDENCE`). :attr:`note` says which note the photo gets (at most one: "not sure" wins).
    ``ood_score`` is higher for less familiar images (``None`` without a calibration); ``calibrated`` is false when
    the classifier had no calibration for its weights (the percentages are then the network's own,
    :data:`UNCALIBRATED_MESSAGE`).
    """

    top: tuple[ClassScore, ...]
    elapsed_ms: float
    logits: np.ndarray = field(repr=False, compare=False)
    not_sure: bool = False
    ood_score: float | None = None
    notes: tuple[str, ...] = ()
    low_confidence: bool = False
    calibrated: bool = True

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

    @property
    def runner_up(self) -> ClassScore | None:
        """The second guess, which the "low confidence" note names (``None`` when only one class was kept)."""
        return self.top[1] if len(self.top) > 1 else None

    @property
    def note(self) -> Note | None:
        """``"out_of_distribution"``, ``"low_confidence"`` or ``None``: the one note of doubt this answer gets.

        Example:
            >>> Prediction((ClassScore("cab", 468, "n02930766", 0.4),), 1.0, np.zeros(1), low_confidence=True).note
            'low_confidence'
        """
        if self.not_sure:
            return "out_of_distribution"
        return "low_confidence" if self.low_confidence else None

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (probabilities rounded to 4 places, time to 0.1 ms, the OOD score to 4 places)."""
        return {
            "top": [
                {
                    "label": score.label,
                    "class_index": score.class_index,
                    "wnid": score.wnid,
                    "probability": round(score.probability, 4),
                }
                for score in self.top
            ],
            "elapsed_ms": round(self.elapsed_ms, 1),
            "not_sure": self.not_sure,
            "low_confidence": self.low_confidence,
            "note": self.note,
            "ood_score": None if self.ood_score is None else round(self.ood_score, 4),
            "notes": list(self.notes),
            "calibrated": self.calibrated,
        }

    def __str__(self) -> str:
        guesses = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in self.top)
        return guesses + (f" ({DOUBT_HEADINGS[self.note].lower()})" if self.note else "")


class Doubt(NamedTuple):
    """A note of doubt as a person reads it: a heading and its reason (:func:`doubt` words it).

    ``str(doubt)`` is ``"Not sure: this is probably none of the 1000 things I know"``; :meth:`sentence` adds the advice
    the app and the lessons give; :meth:`aside` is the command line's lower-case form.
    """

    heading: str
    reason: str

    def __str__(self) -> str:
        return f"{self.heading}: {self.reason}"

    def sentence(self) -> str:
        """The note and what to do about it, as the app and the lessons show it."""
        return f"{self}. {GUESS_ADVICE}"

    def aside(self) -> str:
        """The note inside a line of text, as the command line prints it: ``"not sure: this is probably ..."``."""
        return f"{self.heading.lower()}: {self.reason}"


def doubt(prediction: Prediction, percentages: bool = True) -> Doubt | None:
    """Return the note of doubt a person reads, or ``None`` when the answer gets none: the one place these words live.

    The words follow the model that answered, read from the prediction's logits (one per class): ImageNet's model
    knows "1000 things", a model taught its own classes names how many it was taught. A new kind of note gets its
    heading in :data:`DOUBT_HEADINGS` and its reason here.

    Args:
        prediction: the answer.
        percentages: name the two guesses' percentages in the "low confidence" note (the app, the lessons); the
            command line prints them beside the guesses already.

    Example:
        >>> scores = (ClassScore("cab", 468, "n02930766", 0.45), ClassScore("limousine", 627, "n03670208", 0.3))
        >>> str(doubt(Prediction(scores, 1.0, np.zeros(1000), low_confidence=True)))
        'Low confidence: it hesitates between cab (45%) and limousine (30%)'
        >>> doubt(Prediction(scores, 1.0, np.zeros(4), not_sure=True)).reason
        'this is probably none of the 4 classes I was taught'
    """
    note = prediction.note
    if note is None:
        return None
    if note == "out_of_distribution":
        return Doubt(DOUBT_HEADINGS[note], not_sure_reason(int(np.shape(prediction.logits)[-1])))
    best, second = prediction.top[0], prediction.runner_up
    if second is None:
        return Doubt(
            DOUBT_HEADINGS[note], f"the best guess, {best.label}, gets only {format_percent(best.probability)}"
        )

    def named(score: ClassScore) -> str:
        return f"{score.label} ({format_percent(score.probability)})" if percentages else score.label

    return Doubt(DOUBT_HEADINGS[note], f"it hesitates between {named(best)} and {named(second)}")


def not_sure_reason(num_classes: int = IMAGENET_CLASSES) -> str:
    """Why a "not sure" answer is doubtful, in the terms of a model with ``num_classes`` classes.

    Example:
        >>> not_sure_reason(), not_sure_reason(2)
        ('this is probably none of the 1000 things I know', 'this is probably none of the 2 classes I was taught')
    """
    if num_classes == IMAGENET_CLASSES:
        return f"this is probably none of the {IMAGENET_CLASSES} things I know"
    return f"this is probably none of the {counted(num_classes, 'class', 'classes')} I was taught"


def note_sentences(prediction: Prediction) -> list[str]:
    """labkit's other notes on a prediction (e.g. only an animation's first frame was used), each as a sentence.

    A prediction of a classifier with no calibration for its weights ends with :data:`UNCALIBRATED_MESSAGE`.

    Example:
        >>> note_sentences(Prediction((ClassScore("cab", 468, "n02930766", 0.9),), 1.0, np.zeros(1000),
        ...                           notes=("animated image: using the first of 3 frames",)))
        ['Animated image: using the first of 3 frames.']
    """
    uncalibrated = [] if prediction.calibrated else [UNCALIBRATED_MESSAGE.removesuffix(".")]
    return [capitalized(note) + "." for note in (*prediction.notes, *uncalibrated)]


def format_percent(probability: float, decimals: int = 0) -> str:
    """Write a probability as a percentage a person reads correctly: never "100%" nor "0%".

    A calibrated model is never certain, so what would round up to 100 % reads ``">99%"`` and what would round
    down to 0 % reads ``"<1%"`` (with ``decimals=1``: ``">99.9%"`` and ``"<0.1%"``). The app, the command line
    and the charts all use this function.

    Example:
        >>> format_percent(0.9234), format_percent(0.9996), format_percent(0.004), format_percent(0.0)
        ('92%', '>99%', '<1%', '<1%')
        >>> format_percent(0.9234, decimals=1), format_percent(0.99996, decimals=1)
        ('92.3%', '>99.9%')
    """
    text = f"{probability:.{decimals}%}"
    if text == f"{1:.{decimals}%}":  # rounds up to 100 %
        return f">{1 - 10.0 ** -(decimals + 2):.{decimals}%}"
    if text == f"{0:.{decimals}%}":  # rounds down to 0 %
        return f"<{10.0 ** -(decimals + 2):.{decimals}%}"
    return text


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
    probabilities = np.asarray(probabilities)
    k = max(1, min(k, len(probabilities)))
    # Only the classes at least as probable as the k-th are sorted (ties by class index), not all of them per photo.
    kth = -np.partition(-probabilities, k - 1)[k - 1]
    candidates = np.flatnonzero(probabilities >= kth)
    best = candidates[np.lexsort((candidates, -probabilities[candidates]))][:k]
    return tuple(ClassScore(labels[i], int(i), wnids[i], float(probabilities[i])) for i in best)
