"""How good is the classifier? Accuracy on a labelled folder, the classes it mixes up, and how fast it answers.

A labelled folder is read by :func:`labkit.folders.read_labelled_folder` (``labels.csv`` or one subfolder per
class). :func:`labkit.plots.plot_confusion_matrix` draws the mix-ups.

:func:`evaluate` classifies every photo, in batches, and returns an :class:`EvaluationResult`: top-1 and top-k
accuracy with 95 % intervals, per-class accuracy, the most confused pairs and the raw logits (for calibration).

Why an interval? 54 right out of 60 reads "90 %", but another 60 photos could easily give 80 % or 95 %: with so few
photos the measurement itself is uncertain. The Wilson interval says by how much.

Example:
    >>> from labkit import Classifier, datasets
    >>> result = evaluate(Classifier(engine="keras"), datasets.fetch("imagenet-val-650"))  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    650 images: top-1 78.6% (95% interval 75.3%-81.6%), top-3 91.2% (95% interval 88.8%-93.2%)
    ...
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
from tqdm import tqdm

from labkit.folders import ClassLookup, LabelledImage, read_labelled_folder
from labkit.images import ImageError, load_image
from labkit.model import Classifier
from labkit.predict import softmax
from labkit.preprocess import batched, to_model_input
from labkit.reliability import ECE_BINS, calibration_figures
from labkit.words import OTHER_CLASSES

Z_95 = 1.959964  # the normal quantile for a two-sided 95 % interval


@dataclass(frozen=True)
class ImageRecord:
    """What the model said about one labelled photo."""

    file: str
    true: str
    predicted: str
    probability: float  # the model's probability for its own (top-1) answer
    true_rank: int  # where the right answer came in the model's ranking: 1 = its first guess
    in_top_k: bool
    true_index: int
    predicted_index: int

    @property
    def correct(self) -> bool:
        return self.true_rank == 1


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true class, predicted class); the last column counts predictions outside ``classes``."""

    classes: list[str]
    counts: np.ndarray  # shape (len(classes), len(classes) + 1)

    @property
    def columns(self) -> list[str]:
        return [*self.classes, OTHER_CLASSES]


@dataclass(frozen=True)
class LatencyStats:
    """Timings of repeated calls, in milliseconds; the median (p50) is the figure to quote on a noisy machine."""

    p50_ms: float
    p90_ms: float
    mean_ms: float
    n: int

    def per_second(self, items_per_call: int = 1) -> float:
        """Items per second at the median call time (e.g. images/s for a batch of ``items_per_call``)."""
        return items_per_call * 1000.0 / self.p50_ms

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms (n={self.n})"


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for a proportion ``successes / n`` (95 % by default).

    Unlike "p ± 2 standard errors" it stays inside [0, 1] and behaves at 0 % and 100 %, where small test sets live.

    Example:
        >>> [round(x, 3) for x in wilson_interval(54, 60)]
        [0.799, 0.953]
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


@dataclass(kw_only=True)
class EvaluationResult:
    """What :func:`evaluate` measured; accuracy figures are fractions (0..1) over the images that could be read.

    ``logits`` (N, classes) and ``labels`` (N,) keep the raw scores and true classes for calibration
    (:mod:`labkit.calibration`); ``probabilities`` are the ones the classifier shows (calibrated, if it has a
    calibration) and ``not_sure`` says which photos got the out-of-distribution note; ``errors`` lists ``(file,
    message)`` for photos that could not be read.
    """

    records: list[ImageRecord]
    k: int
    elapsed_s: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    logits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    class_names: list[str] = field(default_factory=list, repr=False)
    probabilities: np.ndarray | None = field(default=None, repr=False)
    not_sure: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def top1(self) -> float:
        return sum(record.correct for record in self.records) / self.n if self.n else math.nan

    @property
    def topk(self) -> float:
        return sum(record.in_top_k for record in self.records) / self.n if self.n else math.nan

    @property
    def top1_interval(self) -> tuple[float, float]:
        return wilson_interval(sum(record.correct for record in self.records), self.n)

    @property
    def topk_interval(self) -> tuple[float, float]:
        return wilson_interval(sum(record.in_top_k for record in self.records), self.n)

    @property
    def images_per_s(self) -> float:
        """Photos classified per second, end to end: reading, decoding, preprocessing and the forward pass."""
        return self.n / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def misses(self) -> list[ImageRecord]:
        """The photos whose top-1 answer was wrong."""
        return [record for record in self.records if not record.correct]

    def per_class_accuracy(self) -> dict[str, float]:
        """Top-1 accuracy of each true class present, by class name (sorted)."""
        totals: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for record in self.records:
            totals[record.true] += 1
            right[record.true] += record.correct
        return {name: right[name] / totals[name] for name in sorted(totals)}

    def most_confused(self, n: int = 5) -> list[tuple[str, str, int]]:
        """The ``n`` most frequent mistakes as ``(true, predicted, count)``, most frequent first.

        Example:
            >>> result.most_confused(2)  # doctest: +SKIP
            [('water jug', 'pitcher', 1), ('pop bottle', 'water bottle', 1)]
        """
        pairs = Counter((record.true, record.predicted) for record in self.misses())
        ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
        return [(true, predicted, count) for (true, predicted), count in ranked[:n]]

    def confusion_matrix(self, classes: Sequence[str]) -> ConfusionMatrix:
        """Count true-vs-predicted among ``classes`` (labels, either spelling); other predictions go to "(other)".

        Example:
            >>> result.confusion_matrix(["beer bottle", "wine_bottle"]).counts  # doctest: +SKIP
            array([[1, 0, 0],
                   [0, 1, 0]])
        """
        lookup = ClassLookup(self.class_names)
        indices = [lookup.index(name, "confusion_matrix") for name in classes]
        position = {class_index: row for row, class_index in enumerate(indices)}
        counts = np.zeros((len(indices), len(indices) + 1), np.int64)
        for record in self.records:
            if record.true_index in position:
                counts[position[record.true_index], position.get(record.predicted_index, len(indices))] += 1
        return ConfusionMatrix([self.class_names[index] for index in indices], counts)

    def calibration_figures(self) -> dict[str, float]:
        """How honest the shown probabilities were on these photos: ``ece`` (15 bins), ``nll``, ``mean_confidence``,
        ``accuracy`` and ``not_sure_rate`` (the share given the out-of-distribution note); ``nan`` with no photos.

        Example:
            >>> evaluate(Classifier(), "my_photos", progress=False).calibration_figures()["ece"]  # doctest: +SKIP
            0.04
        """
        if not self.n:
            return dict.fromkeys(("ece", "nll", "mean_confidence", "accuracy", "not_sure_rate"), math.nan)
        probabilities = softmax(self.logits) if self.probabilities is None else self.probabilities
        figures = calibration_figures(probabilities, self.labels, ECE_BINS)
        not_sure = np.zeros(self.n, bool) if self.not_sure is None else self.not_sure
        return {
            "ece": figures["ece"],
            "nll": figures["nll"],
            "mean_confidence": figures["mean_confidence"],
            "accuracy": figures["accuracy"],
            "not_sure_rate": float(np.mean(not_sure)),
        }

    def to_dict(self) -> dict:
        """Return a JSON-ready summary: n, top1, top{k} and their intervals, images_per_s, errors, most_confused,
        and the calibration figures ``ece`` (15 bins), ``nll``, ``mean_confidence`` and ``not_sure_rate``."""

        def rounded(value: float, places: int = 4) -> float | None:
            return None if math.isnan(value) else round(value, places)

        honesty = self.calibration_figures()
        return {
            "n": self.n,
            "k": self.k,
            "top1": rounded(self.top1),
            f"top{self.k}": rounded(self.topk),
            "top1_interval": [rounded(value) for value in self.top1_interval],
            f"top{self.k}_interval": [rounded(value) for value in self.topk_interval],
            "images_per_s": rounded(self.images_per_s, 1),
            "errors": [{"file": file, "message": message} for file, message in self.errors],
            "most_confused": [
                {"true": true, "predicted": predicted, "count": count}
                for true, predicted, count in self.most_confused()
            ],
            "ece": rounded(honesty["ece"]),
            "mean_confidence": rounded(honesty["mean_confidence"]),
            "nll": rounded(honesty["nll"]),
            "not_sure_rate": rounded(honesty["not_sure_rate"]),
        }

    def summary(self) -> str:
        """A few lines for people: accuracy with its interval, speed, unreadable files, the most confused pairs."""
        if not self.n:
            return f"No image could be classified ({len(self.errors)} unreadable)."

        def percent(value: float, interval: tuple[float, float]) -> str:
            return f"{value:.1%} (95% interval {interval[0]:.1%}-{interval[1]:.1%})"

        accuracy = f"{self.n} images: top-1 {percent(self.top1, self.top1_interval)}"
        if self.k > 1:
            accuracy += f", top-{self.k} {percent(self.topk, self.topk_interval)}"
        lines = [accuracy, f"speed: {self.images_per_s:.1f} images/s"]
        if self.errors:
            lines.append(
                f"could not read {len(self.errors)} file(s): " + ", ".join(Path(file).name for file, _ in self.errors)
            )
        confused = self.most_confused()
        if confused:
            lines.append(
                "most confused: " + "; ".join(f"{true} -> {predicted} ({count})" for true, predicted, count in confused)
            )
        return "\n".join(lines)


LabelledSource = Union[str, os.PathLike, Iterable[LabelledImage]]


def evaluate(
    classifier: Classifier,
    source: LabelledSource,
    top: int = 3,
    limit: int | None = None,
    progress: bool = True,
    batch_size: int = 32,
) -> EvaluationResult:
    """Classify every photo of a labelled folder and measure top-1 / top-k accuracy and speed.

    A photo that cannot be read is recorded in ``result.errors`` and skipped; it never stops the run.

    Args:
        classifier: a :class:`labkit.Classifier` (ImageNet or fine-tuned; its classes name the labels).
        source: a labelled folder or CSV (see :func:`read_labelled_folder`) or a list of :class:`LabelledImage`.
        top: k for top-k accuracy (3: "was the right answer among the first three guesses?").
        limit: evaluate only the first ``limit`` photos, in reading order (CSV order, or class folder by folder).
        progress: show a progress bar on stderr.
        batch_size: photos per forward pass.

    Example:
        >>> result = evaluate(Classifier(), datasets.fetch("imagenet-val-650"), progress=False)  # doctest: +SKIP
        >>> result.n  # doctest: +SKIP
        650
    """
    if isinstance(source, (str, os.PathLike)):
        items = read_labelled_folder(source, classifier.class_names, classifier.wnids)
    else:
        items = list(source)
    items = items[:limit] if limit is not None else items
    k = max(1, min(top, len(classifier.class_names)))
    kept: list[LabelledImage] = []
    logits: list[np.ndarray] = []
    features: list[np.ndarray | None] = []
    errors: list[tuple[str, str]] = []
    start = time.perf_counter()
    with tqdm(total=len(items), unit="img", desc="evaluating", file=sys.stderr, disable=not progress) as bar:
        for chunk in batched(items, batch_size):
            batch, batch_items = [], []
            for item in chunk:
                try:
                    batch.append(to_model_input(load_image(item.path), classifier.policy))
                    batch_items.append(item)
                except ImageError as error:
                    errors.append((str(item.path), str(error)))
            if batch:
                batch_logits, batch_features = classifier.forward(np.stack(batch))
                logits.append(batch_logits)
                features.append(batch_features)
                kept.extend(batch_items)
            bar.update(len(chunk))
    elapsed_s = time.perf_counter() - start
    all_logits = np.concatenate(logits) if logits else np.zeros((0, len(classifier.class_names)), np.float32)
    labels = np.array([item.class_index for item in kept], np.int64)
    probabilities = classifier.probabilities_from_logits(all_logits)
    not_sure = (
        np.zeros(len(labels), bool)
        if classifier.calibration is None or not len(labels)
        else np.asarray(
            classifier.not_sure(all_logits, _joined(features)),
            bool,
        )
    )
    records = score_logits(
        all_logits, labels, [str(item.path) for item in kept], classifier.class_names, k, probabilities=probabilities
    )
    return EvaluationResult(
        records=records,
        k=k,
        elapsed_s=elapsed_s,
        errors=errors,
        logits=all_logits,
        labels=labels,
        class_names=list(classifier.class_names),
        probabilities=probabilities,
        not_sure=not_sure,
    )


def _joined(parts: list[np.ndarray | None]) -> np.ndarray | None:
    """Join per-batch feature arrays into one; ``None`` when any batch came from an engine without features."""
    arrays = [part for part in parts if part is not None]
    return np.concatenate(arrays) if arrays and len(arrays) == len(parts) else None


def score_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    files: Sequence[str],
    class_names: Sequence[str],
    k: int,
    probabilities: np.ndarray | None = None,
) -> list[ImageRecord]:
    """Turn logits (N, classes) and true labels (N,) into one :class:`ImageRecord` per image.

    The records' probabilities are ``probabilities`` when given (a classifier's calibrated ones), else
    ``softmax(logits)``.

    Example:
        >>> record = score_logits(np.array([[2.0, 0.0]]), np.array([1]), ["a.jpg"], ["cat", "dog"], k=2)[0]
        >>> record.predicted, record.true_rank, record.in_top_k
        ('cat', 2, True)
    """
    probabilities = softmax(logits) if probabilities is None else np.asarray(probabilities)
    ranked = np.argsort(-probabilities, axis=1, kind="stable")
    records = []
    for file, label, row, order in zip(files, labels, probabilities, ranked, strict=True):
        rank = int(np.flatnonzero(order == label)[0]) + 1
        records.append(
            ImageRecord(
                file=file,
                true=class_names[label],
                predicted=class_names[order[0]],
                probability=float(row[order[0]]),
                true_rank=rank,
                in_top_k=rank <= k,
                true_index=int(label),
                predicted_index=int(order[0]),
            )
        )
    return records


def measure_latency(
    fn: Callable[[], object], repeats: int = 30, warmup: int = 3, progress: Callable[[int, int], None] | None = None
) -> LatencyStats:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls; quote the median on a shared machine.

    ``progress(done, repeats)``, if given, is called after each timed call (lesson 07's widget moves a bar with it).

    Example:
        >>> stats = measure_latency(lambda: sum(range(1000)), repeats=5)
        >>> stats.n
        5
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    for _ in range(warmup):
        fn()
    times_ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times_ms.append((time.perf_counter() - start) * 1000)
        if progress is not None:
            progress(len(times_ms), repeats)
    return LatencyStats(
        p50_ms=float(np.median(times_ms)),
        p90_ms=float(np.percentile(times_ms, 90)),
        mean_ms=float(np.mean(times_ms)),
        n=repeats,
    )
