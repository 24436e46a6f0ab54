"""When not to trust the model: temperature scaling, calibration error, and an "is this even a photo I know?" flag.

Three ideas, each a few small functions (numpy only: no TensorFlow is imported here, so this module is cheap):

1. **Calibration.** A model is *calibrated* when, of all the answers it gives with 70 % confidence, about 70 % are
   right. :func:`expected_calibration_error` measures the gap and :func:`plot_reliability_diagram` draws it.
   :class:`TemperatureScaler` fixes most of it with one number ``T``: probabilities become ``softmax(logits / T)``.
   ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an under-confident one. The ranking of the classes
   never changes, so accuracy stays exactly the same.
2. **Out-of-distribution score.** MobileNetV2 always answers with one of its 1000 ImageNet classes, even for a page
   of text or random noise. Two classic scores say how much an image looks like what the model was trained on: the
   maximum softmax probability (:func:`max_softmax_probability`) and the energy ``-T * logsumexp(logits / T)``
   (:func:`energy_score`). :func:`generate_ood_images` draws images that are none of the 1000 classes (noise, text
   pages, charts, textures, flat colours, gradients) to test them against real photos.
3. **The shipped flag.** :class:`Calibration` holds a fitted temperature and an out-of-distribution threshold;
   :class:`labkit.Classifier` loads the one shipped in ``labkit/data/calibration.json`` for the ImageNet model and
   sets ``Prediction.not_sure`` ("not sure: this may not be one of the 1000 things I know") and
   ``Prediction.ood_score``. It was fitted on only 60 photos (``../shared/samples``) and generated images; refit it
   on your own labelled photos with :func:`fit_calibration`. A custom model (``Classifier(model=...)``) gets no
   shipped calibration: its ``not_sure`` stays ``False`` and ``ood_score`` ``None`` until you fit one and attach it
   with :meth:`Calibration.apply_to`.

What was measured (``benchmarks/ood.py``, default engine, 60 photos against 120 generated images per seed, median
of 5 seeds). With plain MobileNetV2 both scores missed colourful noise: the model read it as "velvet" with 95 %
confidence, and only about half of the noise, text pages and textures were flagged (AUROC 0.90 for the maximum
softmax probability, 0.88 for the energy). So labkit's model clips its 1280 pooled features at
:data:`labkit.model.REACT_CLIP` before the last layer (ReAct, Sun et al. 2021): images unlike any photo push a few
features far above what photos do, and the clip keeps their logits small. The clip is the 95th percentile
(:data:`REACT_PERCENTILE`) of the photos' pooled features; :func:`measure_react_clip` re-derives it. With it the
energy scores AUROC 0.99 and the maximum softmax probability 0.97, and top-1 stays 54/60. So the app uses the energy
of the raw logits (``T = 1``): ``ood_score = -logsumexp(logits)``, higher = less familiar. Its threshold keeps 57
of the 60 photos "sure" and flags all flat colours, gradients and text pages, 99 % of the noise (all of the colour
noise; one speckled crimson image of 100 passes as fabric), 98 % of the textures and 91 % of the charts. Those are
generated images, not the pictures a student will try: a confident answer is still no proof that an image is one of
the 1000 classes.

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
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from labkit.predict import softmax

if TYPE_CHECKING:  # only for type hints: importing labkit.model at run time would load more than we need
    from labkit.model import Classifier

OodMethod = Literal["energy", "max_softmax"]
OOD_METHODS: tuple[str, ...] = ("energy", "max_softmax")
OOD_KINDS: tuple[str, ...] = ("noise", "document", "chart", "texture", "flat colour", "gradient")
NOT_SURE_MESSAGE = "not sure: this may not be one of the 1000 things I know"
OOD_IMAGES = 120  # generated out-of-distribution images for a fit: 20 of each kind
# labkit.model.REACT_CLIP is this percentile of the photos' pooled features (measure_react_clip re-derives it).
# Swept in benchmarks/ood.py --sweep: 90 and 95 score alike (median energy AUROC 0.996, 0.993), but from 90 down
# one more of the 60 photos is answered wrongly; 99 misses a quarter of the noise.
REACT_PERCENTILE = 95
CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "calibration.json"
# Temperatures outside this range mean something else is wrong (labels that don't match the model's classes).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


class CalibrationError(ValueError):
    """Calibration could not be fitted or loaded; the message says what was wrong and what to do."""


# --- 1. Calibration: temperature scaling and expected calibration error ---------------------------------------------

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
    log_normaliser = _logsumexp(scaled)
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

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> "TemperatureScaler":
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


def plot_reliability_diagram(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10, ax: Any = None,
                             title: str | None = None):
    """Draw accuracy against confidence per bin; a calibrated model's bars reach the diagonal.

    Bars show each bin's accuracy, the red outline the gap to its mean confidence; the legend gives the ECE and
    the number of images.

    Example:
        >>> figure = plot_reliability_diagram(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))
        >>> len(figure.axes)
        1
    """
    from matplotlib.figure import Figure  # lazy: matplotlib is only needed for pictures

    data = reliability_diagram_data(probabilities, labels, bins)
    if ax is None:
        figure = Figure(figsize=(4.2, 4.2), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure
    width = np.diff(data.bin_edges)
    left = data.bin_edges[:-1]
    filled = data.count > 0
    ax.bar(left[filled], data.accuracy[filled], width=width[filled], align="edge", color="#4c72b0",
           edgecolor="white", label="accuracy")
    ax.bar(left[filled], (data.confidence - data.accuracy)[filled], bottom=data.accuracy[filled],
           width=width[filled], align="edge", color="none", edgecolor="#c44e52", hatch="//", linewidth=1.2,
           label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1, label="perfectly calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"ECE {data.expected_calibration_error:.3f} on {len(labels)} images", fontsize=11)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)  # a white box: the legend often sits on bars
    return figure


# --- 2. Out-of-distribution scores -----------------------------------------------------------------------------------

def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=-1, keepdims=True)))[..., 0]


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
    return -temperature * _logsumexp(logits / temperature)


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
    raise CalibrationError(f"Unknown out-of-distribution method {method!r}: use one of {OOD_METHODS}.")


def auroc(in_distribution_scores: Sequence[float], out_of_distribution_scores: Sequence[float]) -> float:
    """Return the area under the ROC curve: the chance that a random OOD image scores higher than a random photo.

    1.0 separates them perfectly, 0.5 is a coin toss; ties count half.

    Example:
        >>> auroc([0.1, 0.2, 0.3], [0.25, 0.9])
        0.8333333333333334
    """
    inside = np.asarray(in_distribution_scores, dtype=np.float64)
    outside = np.asarray(out_of_distribution_scores, dtype=np.float64)
    if inside.size == 0 or outside.size == 0:
        raise CalibrationError("AUROC needs at least one in-distribution and one out-of-distribution score.")
    higher = (outside[:, None] > inside[None, :]).sum()
    ties = (outside[:, None] == inside[None, :]).sum()
    return float((higher + 0.5 * ties) / (inside.size * outside.size))


def plot_ood_scores(photo_scores: Sequence[float], other_scores: Sequence[float], threshold: float | None = None,
                    ax: Any = None, xlabel: str = "out-of-distribution score (higher = less familiar)",
                    labels: tuple[str, str] = ("real photos", "generated images")):
    """Draw two histograms of out-of-distribution scores (photos vs. other images) and the "not sure" threshold.

    Example:
        >>> figure = plot_ood_scores([0.1, 0.2, 0.3], [0.7, 0.9], threshold=0.5)
        >>> len(figure.axes)
        1
    """
    from matplotlib.figure import Figure

    if ax is None:
        figure = Figure(figsize=(6.0, 3.2), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure
    photo_scores, other_scores = np.asarray(photo_scores, float), np.asarray(other_scores, float)
    edges = np.histogram_bin_edges(np.concatenate([photo_scores, other_scores]), bins=24)
    ax.hist(photo_scores, bins=edges, color="#4c72b0", alpha=0.75, label=f"{labels[0]} ({len(photo_scores)})")
    ax.hist(other_scores, bins=edges, color="#dd8452", alpha=0.75, hatch="//", label=f"{labels[1]} "
            f"({len(other_scores)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label="\"not sure\" above this")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("number of images")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=9)
    return figure


# --- Generated out-of-distribution images ----------------------------------------------------------------------------

_WORDS = ("the of and to in is that for it as with was on be by this are from at or an have not which data model "
          "image page report figure table results method section value learning network training class test "
          "number total sample error note see above below each first second").split()


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(value) for value in rng.integers(0, 256, size=3))


def _noise(rng: np.random.Generator, size: int) -> Image.Image:
    style = rng.integers(4)
    if style == 0:  # every pixel and channel independent
        pixels = rng.integers(0, 256, size=(size, size, 3))
    elif style == 1:  # grey Gaussian noise
        pixels = np.repeat(rng.normal(128, 50, size=(size, size, 1)), 3, axis=2)
    elif style == 2:  # blocky noise, like an enlarged tiny random image
        cells = rng.integers(4, 32)
        small = rng.integers(0, 256, size=(cells, cells, 3)).astype(np.uint8)
        return Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST)
    else:  # salt and pepper on a random background colour
        pixels = np.full((size, size, 3), _random_colour(rng), dtype=np.float64)
        speckle = rng.random((size, size))
        pixels[speckle < 0.1] = 0
        pixels[speckle > 0.9] = 255
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _document(rng: np.random.Generator, size: int) -> Image.Image:
    paper = tuple(int(value) for value in rng.integers(235, 256, size=3))
    page = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(page)
    margin = int(size * rng.uniform(0.06, 0.12))
    heading = ImageFont.load_default(size=int(size * rng.uniform(0.06, 0.09)))
    body = ImageFont.load_default(size=int(size * rng.uniform(0.035, 0.05)))
    ink = tuple(int(value) for value in rng.integers(0, 60, size=3))
    y = margin
    title = " ".join(rng.choice(_WORDS, size=rng.integers(2, 4))).capitalize()
    draw.text((margin, y), title, fill=ink, font=heading)
    y += int(heading.size * 1.8)
    while y < size - margin - body.size:
        words, line = rng.integers(3, 12), ""
        for word in rng.choice(_WORDS, size=words):
            if body.getlength(line + " " + word) > size - 2 * margin:
                break
            line = (line + " " + word).strip()
        draw.text((margin, y), line, fill=ink, font=body)
        y += int(body.size * (1.4 if rng.random() > 0.15 else 2.6))  # now and then a paragraph break
    return page


def _chart(rng: np.random.Generator, size: int) -> Image.Image:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    style = rng.integers(4)
    x = np.arange(rng.integers(5, 30))
    if style == 0:
        for _ in range(rng.integers(1, 4)):
            ax.plot(x, np.cumsum(rng.normal(size=len(x))), marker="o" if rng.random() > 0.5 else None)
    elif style == 1:
        ax.bar(x[:12], rng.uniform(1, 10, size=len(x[:12])), color=[_hex(_random_colour(rng))])
    elif style == 2:
        ax.scatter(rng.normal(size=80), rng.normal(size=80), s=12, c=rng.random(80), cmap="viridis")
    else:
        ax.pie(rng.uniform(1, 5, size=rng.integers(3, 7)))
    ax.set_title(" ".join(rng.choice(_WORDS, size=3)), fontsize=9)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _texture(rng: np.random.Generator, size: int) -> Image.Image:
    style = rng.integers(3)
    first, second = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    rows, columns = np.mgrid[0:size, 0:size]
    if style == 0:  # stripes at a random angle
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        mix = (np.sin((columns * np.cos(angle) + rows * np.sin(angle)) * 2 * np.pi / period) > 0).astype(float)
    elif style == 1:  # checks
        cell = rng.integers(8, 48)
        mix = ((rows // cell + columns // cell) % 2).astype(float)
    else:  # smooth "cloudy" value noise: random grids of several sizes, enlarged and summed (Perlin-ish)
        mix = np.zeros((size, size))
        for octave in range(1, 5):
            cells = 2 ** (octave + 1)
            grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
            mix += np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), dtype=float) / 255 / octave
        mix = (mix - mix.min()) / max(mix.max() - mix.min(), 1e-9)
    pixels = first * mix[..., None] + second * (1 - mix[..., None])
    return Image.fromarray(pixels.astype(np.uint8))


def _flat_colour(rng: np.random.Generator, size: int) -> Image.Image:
    return Image.new("RGB", (size, size), _random_colour(rng))


def _gradient(rng: np.random.Generator, size: int) -> Image.Image:
    first, second = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    rows, columns = np.mgrid[0:size, 0:size] / (size - 1)
    if rng.random() < 0.5:  # linear, at a random angle
        angle = rng.uniform(0, 2 * np.pi)
        mix = columns * np.cos(angle) + rows * np.sin(angle)
    else:  # radial, from a random centre
        centre = rng.random(2)
        mix = np.hypot(rows - centre[0], columns - centre[1])
    mix = (mix - mix.min()) / max(mix.max() - mix.min(), 1e-9)
    pixels = first * mix[..., None] + second * (1 - mix[..., None])
    return Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.SMOOTH)


_GENERATORS = {"noise": _noise, "document": _document, "chart": _chart, "texture": _texture,
               "flat colour": _flat_colour, "gradient": _gradient}


def generate_ood_images(n: int = 60, seed: int = 0, kinds: Sequence[str] = OOD_KINDS,
                        size: int = 256) -> list[Image.Image]:
    """Draw ``n`` RGB images that are none of ImageNet's 1000 classes, taking ``kinds`` in turn.

    Kinds: ``"noise"``, ``"document"`` (a page of text drawn with Pillow), ``"chart"`` (matplotlib), ``"texture"``
    (stripes, checks, cloudy noise), ``"flat colour"`` and ``"gradient"``. Each image's kind is in
    ``image.info["ood_kind"]``. The same ``seed`` gives the same images.

    Example:
        >>> images = generate_ood_images(6, seed=1)
        >>> [image.info["ood_kind"] for image in images][:3], images[0].size
        (['noise', 'document', 'chart'], (256, 256))
    """
    unknown = [kind for kind in kinds if kind not in _GENERATORS]
    if unknown:
        raise ValueError(f"Unknown kinds {unknown}: choose from {list(_GENERATORS)}.")
    rng = np.random.default_rng(seed)
    images = []
    for position in range(n):
        kind = kinds[position % len(kinds)]
        image = _GENERATORS[kind](rng, size).convert("RGB")
        image.info["ood_kind"] = kind
        images.append(image)
    return images


# --- 3. A fitted calibration: temperature + out-of-distribution threshold --------------------------------------------

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

    def apply_to(self, classifier: "Classifier") -> "Classifier":
        """Make ``classifier`` use this temperature and flag; return it.

        Example:
            >>> fit_calibration(classifier, "my_photos").apply_to(classifier)  # doctest: +SKIP
        """
        classifier.temperature = self.temperature
        classifier.calibration = self
        return classifier

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Calibration":
        missing = {"temperature", "ood_method", "ood_threshold"} - set(values)
        if missing:
            raise CalibrationError(f"A calibration needs {sorted(missing)}; got keys {sorted(values)}. "
                                   "Make one with labkit.uncertainty.fit_calibration(classifier, folder).")
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
    def load(cls, path: str | os.PathLike) -> "Calibration":
        """Read a calibration written by :meth:`save`."""
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise CalibrationError(f"Could not read a calibration from {path} ({error}). What to do: check the "
                                   "path, or fit a new one with labkit.uncertainty.fit_calibration.") from error
        return cls.from_dict(values)


@lru_cache(maxsize=1)
def shipped_calibration() -> Calibration:
    """Return the calibration shipped with labkit for the ImageNet MobileNetV2 (``labkit/data/calibration.json``).

    Example:
        >>> shipped_calibration().ood_method in OOD_METHODS
        True
    """
    return Calibration.load(CALIBRATION_FILE)


def choose_ood_threshold(in_distribution_scores: Sequence[float], out_of_distribution_scores: Sequence[float],
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
        raise CalibrationError("Choosing a threshold needs at least one real photo's score.")
    kept = max(1, math.ceil(keep * inside.size))
    if kept == inside.size:  # keep them all: put the threshold halfway to the lowest OOD score above them
        above = np.asarray(out_of_distribution_scores, dtype=np.float64)
        above = above[above > inside[-1]]
        return float((inside[-1] + above.min()) / 2) if above.size else float(inside[-1])
    return float((inside[kept - 1] + inside[kept]) / 2)


def fit_calibration_from_logits(logits: np.ndarray, labels: np.ndarray, ood_logits: np.ndarray, *,
                                ood_method: OodMethod | None = None, keep: float = 0.95,
                                fitted_on: str = "") -> Calibration:
    """Fit a temperature on labelled logits and an OOD threshold from them against out-of-distribution logits.

    Args:
        logits, labels: the model's logits for labelled photos, and their true class indices.
        ood_logits: logits for images that are none of the classes (e.g. :func:`generate_ood_images`).
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
    if ood_method is None:  # ties go to energy, the first listed
        ood_method = max(OOD_METHODS, key=lambda method: measured[f"auroc_{method}"])
    inside, outside = ood_score(logits, ood_method), ood_score(ood_logits, ood_method)
    threshold = choose_ood_threshold(inside, outside, keep)
    measured["photos_flagged"] = round(float(np.mean(inside > threshold)), 4)
    measured["out_of_distribution_flagged"] = round(float(np.mean(outside > threshold)), 4)
    return Calibration(temperature=round(temperature, 4), ood_method=ood_method, ood_threshold=round(threshold, 4),
                       fitted_on=fitted_on, measured=measured)


def logits_for_images(classifier: "Classifier", images: Sequence[Any], batch_size: int = 16) -> np.ndarray:
    """Return the classifier's logits (images, classes) for photos (paths or PIL images), a few at a time.

    Example:
        >>> logits_for_images(classifier, generate_ood_images(4)).shape  # doctest: +SKIP
        (4, 1000)
    """
    from labkit.images import load_image
    from labkit.preprocess import to_batch

    rows = [np.zeros((0, classifier.num_classes))]
    for start in range(0, len(images), batch_size):
        chunk = [image if isinstance(image, Image.Image) else load_image(image)
                 for image in images[start:start + batch_size]]
        rows.append(classifier.logits(to_batch(chunk, classifier.policy)))
    return np.concatenate(rows)


def pooled_features(classifier: "Classifier", images: Sequence[Any], batch_size: int = 16) -> np.ndarray:
    """Return the features (images, 1280) that ReAct clips: the classifier's pooled features before ``"react_clip"``.

    Runs the classifier's Keras model (TensorFlow is imported), whatever its engine.

    Example:
        >>> pooled_features(Classifier(), ["data/samples/340_zebra.jpg"]).shape  # doctest: +SKIP
        (1, 1280)
    """
    import keras

    from labkit.images import load_image
    from labkit.preprocess import to_batch

    model = classifier.model
    try:
        clip = model.get_layer("react_clip")
    except ValueError as error:
        raise CalibrationError(f"{model.name} has no 'react_clip' layer, so there are no clipped features to "
                               "measure. What to do: use the ImageNet Classifier (labkit.model.build_mobilenet_v2)."
                               ) from error
    features = keras.Model(model.inputs[0], clip.input)  # one tensor, not a list: no structure warning
    rows = [np.zeros((0, features.output_shape[-1]), np.float32)]
    for start in range(0, len(images), batch_size):
        chunk = [image if isinstance(image, Image.Image) else load_image(image)
                 for image in images[start:start + batch_size]]
        rows.append(np.asarray(features(to_batch(chunk, classifier.policy), training=False)))
    return np.concatenate(rows)


def measure_react_clip(classifier: "Classifier", folder: str | os.PathLike,
                       percentile: float = REACT_PERCENTILE) -> float:
    """Return the ReAct clip for ``classifier``: the ``percentile`` of the pooled features of the photos in ``folder``.

    This is how :data:`labkit.model.REACT_CLIP` was derived (the 60 photos of ``../shared/samples``). Why a
    percentile of real photos: it caps only the few features that photos rarely reach and that images unlike any
    photo (noise, text) drive far higher.

    Example:
        >>> round(measure_react_clip(Classifier(), "../shared/samples"), 3)  # doctest: +SKIP
        1.506
    """
    from labkit.images import iter_image_files

    files = iter_image_files(folder)
    if not files:
        raise CalibrationError(f"No photos in {folder} to measure the ReAct clip on. What to do: point at a folder "
                               "of typical photos (jpg or png).")
    return float(np.percentile(pooled_features(classifier, files), percentile))


def fit_calibration(classifier: "Classifier", folder: str | os.PathLike, *, ood_images: Sequence[Image.Image] | None
                    = None, ood_method: OodMethod | None = None, keep: float = 0.95, seed: int = 0) -> Calibration:
    """Fit a temperature and out-of-distribution threshold for ``classifier`` on your own labelled photos.

    Args:
        classifier: the :class:`labkit.Classifier` to calibrate (ImageNet or your fine-tuned model).
        folder: labelled photos, read by :func:`labkit.evaluate.read_labelled_folder`: a ``labels.csv`` (columns
            ``file`` and ``class_index``, ``wnid`` or ``label``) or one sub-folder per class. More photos give a
            steadier fit: 60 is a start, a few hundred is better.
        ood_images: images that are none of the classes; by default ``generate_ood_images(OOD_IMAGES, seed)``.
        ood_method: the OOD score; ``None`` picks the one with the higher AUROC on these images.
        keep: the share of your photos that must stay "sure".

    Example:
        >>> calibration = fit_calibration(classifier, "my_labelled_photos")  # doctest: +SKIP
        >>> calibration.save("my_calibration.json")  # doctest: +SKIP
        >>> calibration.apply_to(classifier)  # doctest: +SKIP
    """
    from labkit.evaluate import read_labelled_folder  # lazy: evaluate brings matplotlib and tqdm

    items = read_labelled_folder(folder, classifier.class_names, classifier.wnids)
    logits = logits_for_images(classifier, [item.path for item in items])
    labels = np.array([item.class_index for item in items])
    source = "your own"
    if ood_images is None:
        ood_images, source = generate_ood_images(OOD_IMAGES, seed), f"generate_ood_images({OOD_IMAGES}, seed={seed})"
    ood_logits = logits_for_images(classifier, list(ood_images))
    described = (f"temperature fitted on the {len(labels)} labelled photos in {Path(folder).name}/ (resize policy "
                 f"{classifier.policy!r}, engine {classifier.engine!r}); out-of-distribution threshold: keep "
                 f"{keep:.0%} of those photos sure, against {len(ood_logits)} out-of-distribution images ({source})")
    return fit_calibration_from_logits(logits, labels, ood_logits, ood_method=ood_method, keep=keep,
                                       fitted_on=described)
