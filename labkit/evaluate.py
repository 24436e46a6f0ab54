"""How good is the classifier? Accuracy on a labelled folder, the classes it mixes up, and how fast it answers.

A labelled folder comes in one of two layouts (:func:`read_labelled_folder`):

- ``labels.csv`` beside the photos, with a ``file`` column and one of ``class_index`` (0..999, the model's output
  position), ``wnid`` (e.g. ``n02099601``) or ``label`` (``golden_retriever`` or ``golden retriever``);
- one subfolder per class, named by its wnid or its label (``golden_retriever/``, ``n02099601/``).

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

import csv
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from tqdm import tqdm

from labkit.images import ImageError, iter_image_files, load_image
from labkit.predict import softmax
from labkit.preprocess import to_model_input

LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("class_index", "wnid", "label")  # in order of preference when a CSV has several
Z_95 = 1.959964  # the normal quantile for a two-sided 95 % interval
OTHER = "(other)"  # the confusion matrix's column for predictions outside the chosen classes


class LabelError(ValueError):
    """A labelled folder or CSV could not be read: the message says which file or label, and what to do."""


@dataclass(frozen=True)
class LabelledImage:
    """One photo and the index of its true class in the model's output."""

    path: Path
    class_index: int


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
        return [*self.classes, OTHER]


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


def _normalized(name: str) -> str:
    return name.strip().replace("_", " ").casefold()


class ClassLookup:
    """Find a class's index from its wnid or its label (Keras' ``golden_retriever`` or ``golden retriever``)."""

    def __init__(self, class_names: Sequence[str], wnids: Sequence[str] | None = None) -> None:
        self.class_names = list(class_names)
        self.wnids = list(wnids) if wnids is not None else list(self.class_names)
        self._by_wnid = {wnid.casefold(): index for index, wnid in enumerate(self.wnids)}
        self._by_label: dict[str, list[int]] = {}
        for index, name in enumerate(self.class_names):
            self._by_label.setdefault(_normalized(name), []).append(index)

    @classmethod
    def imagenet(cls) -> "ClassLookup":
        from labkit.weights import load_class_index, readable_label

        classes = load_class_index()
        return cls([readable_label(label) for _, label in classes], [wnid for wnid, _ in classes])

    def index(self, name: str, where: str) -> int:
        """Return the class index for a wnid or label; ``where`` names the file/folder for the error message."""
        if name.strip().casefold() in self._by_wnid:
            return self._by_wnid[name.strip().casefold()]
        matches = self._by_label.get(_normalized(name), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            which = ", ".join(f"{index} ({self.wnids[index]})" for index in matches)
            raise LabelError(f"{where}: the label {name!r} names {len(matches)} classes: {which}. "
                             "Use the wnid or the class_index instead, to say which one you mean.")
        raise LabelError(f"{where}: {name!r} is not one of the model's {len(self.class_names)} classes "
                         f"(neither a label like {self.class_names[0]!r} nor a wnid like {self.wnids[0]!r}). "
                         "Check the spelling; labkit.Classifier().class_names lists them all.")

    def class_index(self, text: str, where: str) -> int:
        """Parse a ``class_index`` cell and check it is in range."""
        try:
            index = int(text)
        except ValueError:
            raise LabelError(f"{where}: class_index {text!r} is not a whole number. Write the class's position "
                             f"in the model's output, 0..{len(self.class_names) - 1}.") from None
        if not 0 <= index < len(self.class_names):
            raise LabelError(f"{where}: class_index {index} is out of range; this model has classes "
                             f"0..{len(self.class_names) - 1}.")
        return index


def read_labelled_folder(path: str | os.PathLike, class_names: Sequence[str] | None = None,
                         wnids: Sequence[str] | None = None) -> list[LabelledImage]:
    """List the photos of a labelled folder with their true class, from ``labels.csv`` or class subfolders.

    Args:
        path: the folder (or a ``.csv`` file; its ``file`` column is relative to the CSV's folder, or to its
            ``images/`` subfolder as in the datasets of :mod:`labkit.datasets`).
        class_names, wnids: the model's classes, e.g. ``classifier.class_names``; default: the 1000 ImageNet classes.
            A fine-tuned model's folders are simply named after its classes.

    Raises:
        LabelError: no photos, no ``file`` column, or a label/wnid/class_index the model does not know.

    Example:
        >>> items = read_labelled_folder(datasets.fetch("imagenet-val-650"))  # doctest: +SKIP
        >>> items[0].class_index  # doctest: +SKIP
        625
    """
    lookup = ClassLookup(class_names, wnids) if class_names is not None else ClassLookup.imagenet()
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _read_labels_csv(path, lookup)
    if not path.is_dir():
        raise LabelError(f"No folder at '{path}'. Give a folder of labelled photos (with {LABELS_FILE} or one "
                         "subfolder per class), or the path of a labels CSV.")
    if (path / LABELS_FILE).is_file():
        return _read_labels_csv(path / LABELS_FILE, lookup)
    items = _read_class_folders(path, lookup)
    if not items:
        loose = iter_image_files(path)
        found = f"found {len(loose)} photos but no labels" if loose else "found no photos"
        raise LabelError(f"'{path}': {found}. Add a {LABELS_FILE} (columns: file, and class_index, wnid or "
                         "label) or put the photos in one subfolder per class, named like 'golden_retriever'.")
    return items


def _read_labels_csv(csv_path: Path, lookup: ClassLookup) -> list[LabelledImage]:
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets often add a BOM
        reader = csv.DictReader(handle)
        columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        if "file" not in columns:
            raise LabelError(f"{csv_path} has no 'file' column (its columns: {', '.join(columns) or 'none'}). "
                             "The first line should name the columns, e.g. 'file,label'.")
        label_column = next((column for column in LABEL_COLUMNS if column in columns), None)
        if label_column is None:
            raise LabelError(f"{csv_path} says which file but not which class: add a column named class_index, "
                             "wnid or label.")
        items = []
        for line, row in enumerate(reader, start=2):
            file_name = (row[columns["file"]] or "").strip()
            label = (row[columns[label_column]] or "").strip()
            if not file_name and not label:
                continue  # a blank line
            where = f"{csv_path.name}, line {line}"
            if not file_name or not label:
                raise LabelError(f"{where}: the file or its {label_column} is empty. Fill it in or delete the line.")
            index = (lookup.class_index(label, where) if label_column == "class_index"
                     else lookup.index(label, where))
            items.append(LabelledImage(_photo_path(csv_path.parent, file_name), index))
    if not items:
        raise LabelError(f"{csv_path} lists no photos. Add one line per photo: its file name and its class.")
    return items


def _photo_path(folder: Path, file_name: str) -> Path:
    """The photo a labels.csv row names: beside the CSV, else in its ``images/`` subfolder.

    The second place is the layout of the datasets :mod:`labkit.datasets` fetches (imagenet-val-650 keeps the
    source's file names in ``labels.csv`` and its photos in ``images/``), so ``evaluate(classifier, folder)`` works
    on the folder :func:`labkit.datasets.fetch` returns.
    """
    beside = folder / file_name
    in_images = folder / "images" / file_name
    return in_images if not beside.exists() and in_images.exists() else beside


def _read_class_folders(folder: Path, lookup: ClassLookup) -> list[LabelledImage]:
    subfolders = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    items = []
    for subfolder in subfolders:
        index = lookup.index(subfolder.name, f"folder '{subfolder.name}' in {folder}")
        items.extend(LabelledImage(path, index) for path in iter_image_files(subfolder))
    return items


@dataclass
class EvaluationResult:
    """What :func:`evaluate` measured; accuracy figures are fractions (0..1) over the images that could be read.

    ``logits`` (N, classes) and ``labels`` (N,) keep the raw scores and true classes for calibration
    (:mod:`labkit.uncertainty`); ``errors`` lists ``(file, message)`` for photos that could not be read.
    """

    records: list[ImageRecord]
    k: int
    elapsed_s: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    logits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    class_names: list[str] = field(default_factory=list, repr=False)

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
        totals, right = Counter(), Counter()
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

    def to_dict(self) -> dict:
        """Return a JSON-ready summary: n, top1, top{k} and their intervals, images_per_s, errors, most_confused."""
        def rounded(value: float, places: int = 4) -> float | None:
            return None if math.isnan(value) else round(value, places)

        return {
            "n": self.n,
            "k": self.k,
            "top1": rounded(self.top1),
            f"top{self.k}": rounded(self.topk),
            "top1_interval": [rounded(value) for value in self.top1_interval],
            f"top{self.k}_interval": [rounded(value) for value in self.topk_interval],
            "images_per_s": rounded(self.images_per_s, 1),
            "errors": [{"file": file, "message": message} for file, message in self.errors],
            "most_confused": [{"true": true, "predicted": predicted, "count": count}
                              for true, predicted, count in self.most_confused()],
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
            lines.append(f"could not read {len(self.errors)} file(s): "
                         + ", ".join(Path(file).name for file, _ in self.errors))
        confused = self.most_confused()
        if confused:
            lines.append("most confused: " + "; ".join(f"{true} -> {predicted} ({count})"
                                                         for true, predicted, count in confused))
        return "\n".join(lines)


LabelledSource = Union[str, os.PathLike, Iterable[LabelledImage]]


def evaluate(classifier, source: LabelledSource, top: int = 3, limit: int | None = None, progress: bool = True,
             batch_size: int = 32) -> EvaluationResult:
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
    errors: list[tuple[str, str]] = []
    start = time.perf_counter()
    with tqdm(total=len(items), unit="img", desc="evaluating", file=sys.stderr, disable=not progress) as bar:
        for first in range(0, len(items), batch_size):
            batch, batch_items = [], []
            for item in items[first:first + batch_size]:
                try:
                    batch.append(to_model_input(load_image(item.path), classifier.policy))
                    batch_items.append(item)
                except ImageError as error:
                    errors.append((str(item.path), str(error)))
            if batch:
                logits.append(classifier.logits(np.stack(batch)))
                kept.extend(batch_items)
            bar.update(len(items[first:first + batch_size]))
    elapsed_s = time.perf_counter() - start
    all_logits = np.concatenate(logits) if logits else np.zeros((0, len(classifier.class_names)), np.float32)
    labels = np.array([item.class_index for item in kept], np.int64)
    records = score_logits(all_logits, labels, [str(item.path) for item in kept], classifier.class_names, k,
                           classifier.temperature)
    return EvaluationResult(records, k, elapsed_s, errors, all_logits, labels, list(classifier.class_names))


def score_logits(logits: np.ndarray, labels: np.ndarray, files: Sequence[str], class_names: Sequence[str], k: int,
                 temperature: float = 1.0) -> list[ImageRecord]:
    """Turn logits (N, classes) and true labels (N,) into one :class:`ImageRecord` per image.

    Example:
        >>> record = score_logits(np.array([[2.0, 0.0]]), np.array([1]), ["a.jpg"], ["cat", "dog"], k=2)[0]
        >>> record.predicted, record.true_rank, record.in_top_k
        ('cat', 2, True)
    """
    probabilities = softmax(logits, temperature)
    ranked = np.argsort(-probabilities, axis=1, kind="stable")
    records = []
    for file, label, row, order in zip(files, labels, probabilities, ranked):
        rank = int(np.flatnonzero(order == label)[0]) + 1
        records.append(ImageRecord(file=file, true=class_names[label], predicted=class_names[order[0]],
                                   probability=float(row[order[0]]), true_rank=rank, in_top_k=rank <= k,
                                   true_index=int(label), predicted_index=int(order[0])))
    return records


def measure_latency(fn: Callable[[], object], repeats: int = 30, warmup: int = 3,
                    progress: Callable[[int, int], None] | None = None) -> LatencyStats:
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
    return LatencyStats(p50_ms=float(np.median(times_ms)), p90_ms=float(np.percentile(times_ms, 90)),
                        mean_ms=float(np.mean(times_ms)), n=repeats)


def plot_confusion_matrix(result: EvaluationResult, classes: Sequence[str], ax: Axes | None = None,
                          title: str | None = None) -> Figure:
    """Draw the confusion matrix of ``classes``: rows are the true class, columns what the model said.

    The diagonal is right; everything else is a mix-up, and the last column is "some other class entirely".
    Every non-zero cell has its count written in it, so the colour is never the only cue.

    Example:
        >>> plot_confusion_matrix(result, ["beer bottle", "wine bottle", "pop bottle"])  # doctest: +SKIP
    """
    matrix = result.confusion_matrix(classes)
    if ax is None:
        size = 1.5 + 0.7 * len(matrix.columns)
        figure = Figure(figsize=(size, size - 0.5), layout="constrained")
        ax = figure.add_subplot()
    highest = max(1, int(matrix.counts.max()))
    ax.imshow(matrix.counts, cmap="Blues", vmin=0, vmax=highest)
    for (row, column), count in np.ndenumerate(matrix.counts):
        if count:
            ax.text(column, row, str(count), ha="center", va="center", fontsize=11,
                    color="white" if count > 0.6 * highest else "black")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=40, ha="right")
    ax.set_yticks(range(len(matrix.classes)), matrix.classes)
    # Thin lines between cells, so empty rows and columns still read as a grid.
    ax.set_xticks(np.arange(len(matrix.columns) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(matrix.classes) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#d0d0d0", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("the model said")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, loc="left", fontsize=12)
    return ax.figure
