"""Lesson 07's "Try it": time the model yourself, with the engine and batch size you choose.

``try_speed()`` has an engine (keras, litert, litert-int8) and a batch size; pressing *Measure* runs that engine on
a batch of sample photos (already prepared: this times the model, not the JPEG decoding) and reports the median
milliseconds per photo. A progress bar moves during the timed runs; loading an engine the first time (TensorFlow
for keras, a conversion for litert-int8 when not cached) says so first. Each measurement is added to a table, so
engines and batch sizes can be compared side by side. The default engine at batch size 1 is measured when the
widget is built, so it never starts empty.

On a shared machine the figures move from run to run: compare rows measured one after the other, and measure
twice when two rows are close.

Example:
    >>> widget = try_speed()                                # doctest: +SKIP
    >>> widget.engine.value, widget.batch.value = "litert-int8", 8
    >>> widget.measure.click()                              # what the button does
    >>> widget.state.rows[-1].engine                        # doctest: +SKIP
    'litert-int8'
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

from labkit.engines import DEFAULT_ENGINE, ENGINES
from labkit.evaluate import measure_latency
from labkit.images import load_image
from labkit.lessons.tryit import SLIDER_STYLE, Progress, ResultArea, TryIt, samples
from labkit.model import Classifier, shared_classifier
from labkit.preprocess import to_batch

BATCH_SIZES = (1, 2, 4, 8, 16, 32)
REPEATS = 20  # timed runs per measurement: enough for a stable median, about a second for LiteRT at batch 1
WARMUP = 2
LOADING_NOTE = {
    "keras": "imports TensorFlow and builds the Keras model: allow some seconds",
    "litert-int8": "converts the model once if it is not cached yet: allow half a minute",
}


@dataclass(frozen=True)
class Measurement:
    """One press of Measure: the engine, the batch size, and the median time per photo."""

    engine: str
    batch: int
    ms_per_photo: float
    runs: int

    def describe(self) -> str:
        return (
            f"{self.engine}, batch of {self.batch}: {self.ms_per_photo:.1f} ms per photo, "
            f"{1000 / self.ms_per_photo:.0f} images/s (median of {self.runs} runs)"
        )


@dataclass
class SpeedState:
    """The state: the photos to time, the engines loaded so far, and every measurement made."""

    photos: np.ndarray  # prepared photos, (N, 224, 224, 3); batches repeat them as needed
    classifiers: dict[str, Classifier] = field(default_factory=dict)
    rows: list[Measurement] = field(default_factory=list)

    def batch(self, size: int) -> np.ndarray:
        return self.photos[np.arange(size) % len(self.photos)]

    def describe(self) -> str:
        return "; ".join(row.describe() for row in self.rows) + "." if self.rows else "Nothing measured yet."


def measure(
    classifier: Classifier,
    batch: np.ndarray,
    engine: str,
    repeats: int = REPEATS,
    progress: Callable[[int, int], None] | None = None,
) -> Measurement:
    """Time the classifier's forward pass on ``batch``; return the median time per photo."""
    stats = measure_latency(lambda: classifier.logits(batch), repeats=repeats, warmup=WARMUP, progress=progress)
    return Measurement(engine, len(batch), stats.p50_ms / len(batch), repeats)


def table_html(rows: list[Measurement]) -> str:
    """The measurements as a table, newest last, fastest per photo in bold."""
    if not rows:
        return '<p class="labkit-try-text">Nothing measured yet: choose an engine and a batch size, press Measure.</p>'
    fastest = min(row.ms_per_photo for row in rows)
    cell = "padding: 2px 12px; text-align: right;"

    def bold(row: Measurement, text: str) -> str:
        return f"<strong>{text}</strong>" if row.ms_per_photo == fastest else text

    body = "".join(
        f"<tr><td style='{cell} text-align: left;'>{html.escape(row.engine)}</td><td style='{cell}'>{row.batch}</td>"
        f"<td style='{cell}'>{bold(row, f'{row.ms_per_photo:.1f} ms')}</td>"
        f"<td style='{cell}'>{1000 / row.ms_per_photo:.0f} images/s</td></tr>"
        for row in rows
    )
    header = "".join(
        f"<th scope='col' style='{cell}'>{name}</th>" for name in ("engine", "batch", "per photo", "speed")
    )
    return (
        '<table class="labkit-try-speed-table" style="border-collapse: collapse;">'
        '<caption style="text-align: left; caption-side: top; white-space: nowrap;">Measured on this machine: '
        "the median of each run (fastest per photo in bold)</caption>"
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
    )


class TrySpeed(TryIt):
    """Lesson 07's widget (build it with :func:`try_speed`): time an engine at a batch size, and compare.

    Controls: ``engine`` and ``batch`` (two dropdowns) and ``measure`` (the button); ``progress`` moves while it
    runs. ``state.rows`` holds the figures; ``result`` shows them as a table.
    """

    def __init__(
        self,
        classifiers: Mapping[str, Classifier] | None = None,
        engine: str = DEFAULT_ENGINE,
        measure_now: bool = True,
    ) -> None:
        self.state = SpeedState(
            to_batch([load_image(sample.path) for sample in samples()[: BATCH_SIZES[-1]]]), dict(classifiers or {})
        )
        self.engine = widgets.Dropdown(options=list(ENGINES), value=engine, description="Engine")
        self.batch = widgets.Dropdown(
            options=list(BATCH_SIZES),
            value=1,
            description="Batch size",
            style=SLIDER_STYLE,
            layout=widgets.Layout(width="160px"),
        )
        self.measure = widgets.Button(
            description="Measure",
            icon="stopwatch",
            button_style="primary",
            tooltip="Time the chosen engine on a batch of sample photos",
        )
        self.progress = Progress()
        result = ResultArea()
        super().__init__(
            [widgets.HBox([self.engine, self.batch, self.measure]), self.progress, result],
            [result],
            self.state.describe,
            css_class="labkit-try-speed",
        )
        guarded = result.guard(self.run)
        self.measure.on_click(lambda _button: guarded())
        result.show(table_html(self.state.rows))
        if measure_now:
            guarded()

    def classifier_for(self, name: str) -> Classifier:
        """The classifier of engine ``name``, loaded on first use (saying so meanwhile)."""
        if name not in self.state.classifiers:
            self.progress.start(f"Loading the {name} engine ({LOADING_NOTE.get(name, 'a moment')})…")
            self.state.classifiers[name] = shared_classifier(name)
        return self.state.classifiers[name]

    def run(self) -> None:
        """What Measure does: time the chosen engine at the chosen batch size and add a row to the table."""
        self.measure.disabled = True
        try:
            engine, size = self.engine.value, self.batch.value
            chosen = self.classifier_for(engine)
            self.progress.start(f"Timing {engine} on a batch of {size}: {REPEATS} runs…", REPEATS)
            self.state.rows.append(
                measure(chosen, self.state.batch(size), engine, progress=lambda done, total: self.progress.step(done))
            )
            self.result.show(table_html(self.state.rows))
        finally:
            self.progress.done()
            self.measure.disabled = False


def try_speed(
    classifiers: Mapping[str, Classifier] | None = None, engine: str = DEFAULT_ENGINE, measure_now: bool = True
) -> TrySpeed:
    """Build lesson 07's widget: engine and batch size, a Measure button, a progress bar and a table of results.

    Args:
        classifiers: classifiers already loaded, by engine name (the lesson's); others load when first measured.
        engine: the engine chosen at first.
        measure_now: measure the first engine at batch size 1 now, so the widget starts with a figure.
    """
    return TrySpeed(classifiers, engine, measure_now)
