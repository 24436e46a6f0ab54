"""What the page shows, as functions of the app's state: each returns the HTML of one part of the page.

Pure functions, no widgets: :mod:`labkit.app.page` puts their HTML into ``ipywidgets.HTML`` widgets, and tests
read them directly (``result_html(result)`` is exactly the card a user sees). Every text a user reads is escaped;
colour is never the only cue (a doubt has words and an icon).

    >>> status_html("loading", "Loading MobileNetV2…", busy=0)[:47]
    '<p class="labkit-status" data-state="loading" r'
"""

from __future__ import annotations

import html

from labkit.app.catalogue import ModelOption
from labkit.app.pictures import chart_png
from labkit.app.state import MAX_UPLOAD_BYTES, Result
from labkit.images import data_url
from labkit.predict import GUESS_ADVICE, Prediction, confidence_band, doubt, format_percent, note_sentences
from labkit.words import counted

EMPTY_RESULTS = (
    '<p class="labkit-empty">No photos yet. Results appear here, newest first, and stay until you clear them.</p>'
)


def card_html(result: Result) -> str:
    """The card for ``result``: :func:`result_html` for an answer, :func:`problem_html` for a message."""
    return problem_html(result) if result.prediction is None else result_html(result)


def result_html(result: Result) -> str:
    """The card of one classified photo: preview, top guesses with percentages, bar chart, doubts, which model
    answered and how fast.

    Example:
        >>> result_html(app.classify_file("data/samples/954_banana.jpg"))  # doctest: +SKIP
    """
    from labkit.plots import top_k_alt_text  # matplotlib: see labkit.app.pictures.chart_png

    prediction = result.prediction
    if prediction is None:
        raise ValueError(f"{result.name!r} has no prediction to show ({result.error}); use problem_html.")
    best, name = prediction.top[0], result.name
    guesses = "".join(
        f'<li><span class="labkit-guess-label">{html.escape(score.label)}</span>'
        f'<span class="labkit-guess-percent">{html.escape(format_percent(score.probability))}</span></li>'
        for score in prediction.top
    )
    return f"""
<article class="labkit-card-body" aria-label="Result for {html.escape(name, quote=True)}">
  <img class="labkit-preview" src="{data_url(result.preview, "image/jpeg")}"
       alt="{html.escape(f"Your photo, {name}", quote=True)}">
  <div class="labkit-card-text">
    <h3 class="labkit-card-name">{html.escape(name)}</h3>
    <p class="labkit-best-guess">
      <span class="labkit-best-label">{html.escape(best.label)}</span>
      <span class="labkit-best-percent labkit-{confidence_band(best.probability)}"
        >{html.escape(format_percent(best.probability))}</span>
    </p>
    <ol class="labkit-guesses" aria-label="Top {len(prediction.top)} guesses">{guesses}</ol>
    {caveats_html(prediction)}
    <p class="labkit-timing">Answered by <span class="labkit-answered-by">{html.escape(result.model)}</span> in {
        prediction.elapsed_ms:.0f} ms</p>
  </div>
  <img class="labkit-chart" src="{data_url(chart_png(prediction), "image/png")}"
       alt="{html.escape(top_k_alt_text(prediction), quote=True)}">
</article>"""


def problem_html(result: Result) -> str:
    """The card of a file that could not be classified: its name and what to do about it.

    Example:
        >>> problem_html(Result("notes.pdf", None, "'notes.pdf' is not an image."))[:40]
        '\\n<article class="labkit-card-body labki'
    """
    name = result.name
    return f"""
<article class="labkit-card-body labkit-problem-body" role="alert"
         aria-label="Problem with {html.escape(name, quote=True)}">
  <div class="labkit-problem-icon" aria-hidden="true">!</div>
  <div class="labkit-card-text">
    <h3 class="labkit-card-name">{html.escape(name)}</h3>
    <p class="labkit-problem"><strong>Could not classify this file.</strong> {html.escape(result.error or "")}</p>
  </div>
</article>"""


def caveats_html(prediction: Prediction) -> str:
    """The card's note of doubt (words and an icon: colour is never the only cue) and labkit's notes, if any.

    Two notes for two reasons, worded by :func:`labkit.predict.doubt` in the answering model's terms: the photo is
    probably none of the things the model knows (``prediction.not_sure``), or the model hesitates on it (calibrated
    best guess under :data:`labkit.predict.LOW_CONFIDENCE`; the note names the runner-up).
    """
    notes = "".join(f'<p class="labkit-note">{html.escape(sentence)}</p>' for sentence in note_sentences(prediction))
    words = doubt(prediction)
    if words is None:
        return notes
    return (
        f'<p class="labkit-doubt labkit-doubt-{prediction.note}"><span aria-hidden="true">⚠</span> '
        f"<strong>{html.escape(words.heading)}:</strong> {html.escape(words.reason)}. {GUESS_ADVICE}</p>" + notes
    )


def status_html(status: str, message: str, busy: int, results: int = 0) -> str:
    """The status line: the model loading (and photos waiting for it), ready (and photos being classified, and how
    many results the page shows below), or why it failed. It is a live region: a screen reader reads each change.

    Example:
        >>> "2 photos waiting" in status_html("loading", "Loading MobileNetV2…", busy=2)
        True
        >>> "1 result below" in status_html("ready", "Ready: MobileNetV2", busy=0, results=1)
        True
    """
    photos = counted(busy, "photo")
    if status == "failed":
        return (
            f'<p class="labkit-status" data-state="failed" role="alert"><span aria-hidden="true">✖</span> '
            f"{html.escape(message)}</p>"
        )
    if status == "loading":
        waiting = (
            f" {photos} waiting for it." if busy else " You can choose a photo already: it will wait for the model."
        )
        return (
            '<p class="labkit-status" data-state="loading" role="status"><span class="labkit-spinner" '
            f'aria-hidden="true"></span> {html.escape(message)} the first start takes a few seconds.{waiting}</p>'
        )
    working = f" · classifying {photos}…" if busy else ""
    shown = f" · {counted(results, 'result')} below" if results else ""
    return (
        f'<p class="labkit-status" data-state="ready" role="status"><span aria-hidden="true">●</span> '
        f"{html.escape(message)}{working}{shown}</p>"
    )


def model_note_html(option: ModelOption) -> str:
    """The sentence under the model picker: what the chosen model knows, and how accurate it was."""
    return f'<p class="labkit-model-text">{html.escape(option.note)}</p>'


def results_title_html(count: int) -> str:
    """The results' heading, with how many there are.

    Example:
        >>> results_title_html(3)
        '<h2 class="labkit-results-title">Results <span class="labkit-count">3</span></h2>'
    """
    counted = f' <span class="labkit-count">{count}</span>' if count else ""
    return f'<h2 class="labkit-results-title">Results{counted}</h2>'


def header_html() -> str:
    """The page's title and what it does: the top of the page's main landmark (a ``<header>`` there would be a
    banner landmark nested in main, which screen readers' landmark lists get wrong)."""
    return """
<div class="labkit-header">
  <p class="labkit-brand">labkit</p>
  <h1 class="labkit-title">What's in this photo?</h1>
  <p class="labkit-lede">Give the model a photo and it answers with its three best guesses, how sure it is, and,
    if you ask, where in the photo it looked.</p>
  <p class="labkit-model">Photos are classified in memory and never saved.</p>
</div>"""


def intake_html(max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """The drop zone's prompt: the ways in, the formats, and the size limit."""
    return f"""
<div class="labkit-intake-prompt">
  <div class="labkit-intake-icon" aria-hidden="true"></div>
  <p class="labkit-intake-title">Drop photos here</p>
  <p class="labkit-intake-hint">or paste one with Ctrl+V (⌘V), choose files, or take a photo.
    JPEG, PNG, WebP, GIF, BMP or TIFF, up to {max_bytes / 1e6:.0f} MB each.</p>
</div>"""


# The page's own watch over its kernel: if the app has not appeared this long after the page got its first output
# (the kernel's output was lost, or the kernel died or hangs), it says so instead of leaving the student in front
# of an empty page. A healthy kernel shows the app within seconds, also with a class arriving at once
# (benchmarks/concurrent_sessions.py); a minute leaves room for a machine that is slower than it should be.
KERNEL_PROBLEM_AFTER_SECONDS = 60
KERNEL_PROBLEM = (
    "<strong>The app could not start for you.</strong> Its Python kernel on the server did not get going in time: "
    "probably many people opened the app at the same moment, or the server ran short of memory. "
    '<a href="" onclick="location.reload(); return false;">Reload the page</a> to try again; nothing of yours is '
    "lost, no photo had been sent yet."
)


def kernel_watch_html(after_seconds: float = KERNEL_PROBLEM_AFTER_SECONDS) -> str:
    """A hidden message, :data:`KERNEL_PROBLEM`, and the script that shows it if the app (``.labkit-app``) has not
    appeared ``after_seconds`` after the page rendered this, and hides it again if the app appears after all.

    Shown as the notebook's first output (:func:`labkit.app.page.watch_kernel`), so it reaches the page even when
    the app's own output does not; Voilà runs the script of a trusted HTML output.

    Example:
        >>> "Reload the page" in kernel_watch_html()
        True
    """
    return (
        '<div class="labkit-kernel-problem" role="alert" hidden style="max-width: 40em; margin: 2em auto; '
        "padding: 1em 1.5em; border-left: 4px solid #b3261e; background: #fdecea; color: #1f1f1f; "
        f'font: 16px/1.5 system-ui, sans-serif;">{KERNEL_PROBLEM}</div>\n'
        "<script>\n"
        "(function () {\n"
        f"  var deadline = Date.now() + {after_seconds * 1000:.0f};\n"
        "  var watch = setInterval(function () {\n"
        '    var message = document.querySelector(".labkit-kernel-problem");\n'
        '    var shown = document.querySelector(".labkit-app") !== null;\n'
        "    if (message) { message.hidden = shown || Date.now() < deadline; }\n"
        "    if (shown) { clearInterval(watch); }\n"
        "  }, 1000);\n"
        "})();\n"
        "</script>"
    )
