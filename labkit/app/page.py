"""The app's page: the widgets, laid out, wired to a :class:`~labkit.app.state.DashboardApp` in both directions.

What the user does (upload, drop, paste, webcam, a sample, the model picker, "Clear results") calls the state;
what the state holds (status, chosen model, results) is redrawn with :mod:`labkit.app.views`. One card widget per
result, built when the result arrives and closed when it leaves, so a long lesson's cards do not pile up.

    >>> build_dashboard(DashboardApp())  # the last line of a notebook cell displays it  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import ipywidgets as widgets
from IPython.display import HTML, display

from labkit.app.state import DashboardApp, Result, too_large_error
from labkit.app.views import (
    EMPTY_RESULTS,
    card_html,
    header_html,
    intake_html,
    kernel_watch_html,
    model_note_html,
    results_title_html,
    status_html,
)
from labkit.app.widgets import DropZone, SampleGallery, Wayfinding, WhereItLooked, in_background, sample_photos
from labkit.images import ACCEPTED_FILES
from labkit.paths import SAMPLES_DIR
from labkit.samples import credits_html

ARRIVING = "labkit-arriving"  # CSS class of the newest card, which fades in
LOG_HANDLER = "labkit-app"  # the name of the handler that sends labkit's log to the server's terminal
Styled = TypeVar("Styled", bound=widgets.DOMWidget)


def build_dashboard(
    app: DashboardApp | None = None,
    samples_folder: Path = SAMPLES_DIR,
    *,
    model: str | os.PathLike | None = None,
    run_gradcam: Callable[[Callable[[], None]], None] = in_background,
) -> widgets.VBox:
    """Build the app's page: header, model picker, status line, the ways in (upload, drop, paste, webcam, samples),
    results.

    Args:
        app: the state to show and drive; a new :class:`DashboardApp` (loading the shared model) if omitted.
        samples_folder: where the gallery's photos and their ``labels.csv`` are.
        model: the model to start with (see :class:`DashboardApp`), e.g. ``"exports/trashnet"``.
        run_gradcam: how a card's "Show where it looked" runs Grad-CAM (see :class:`WhereItLooked`).

    Example:
        >>> app = DashboardApp()
        >>> build_dashboard(app)  # doctest: +SKIP
    """
    if app is None:
        app = DashboardApp(model=model)
    elif model is not None:
        app.choose_model(model)
    log_to_server_terminal()
    return Page(app, samples_folder, run_gradcam).widget


class Page:
    """The page's widgets and the handlers between them and ``app`` (see :func:`build_dashboard`)."""

    def __init__(
        self,
        app: DashboardApp,
        samples_folder: Path = SAMPLES_DIR,
        run_gradcam: Callable[[Callable[[], None]], None] = in_background,
    ) -> None:
        self.app, self.samples_folder, self.run_gradcam = app, samples_folder, run_gradcam
        self.picker = widgets.Dropdown(description="Model", tooltip="The model that answers the next photos")
        self.model_note = _styled(widgets.HTML(), "labkit-model-note")
        self.status = _styled(widgets.HTML(), "labkit-status-line")
        self.upload = _styled(
            widgets.FileUpload(
                accept=ACCEPTED_FILES,
                multiple=True,
                description="Choose photos…",
                tooltip="Choose one or more photos to classify",
            ),
            "labkit-upload",
        )
        self.drop_zone = DropZone()
        self.gallery = SampleGallery(samples=sample_photos(samples_folder))
        self.photo_credits = widgets.HTML(credits_html(samples_folder))  # authors and licences, one click away
        self.clear = _styled(
            widgets.Button(description="Clear results", tooltip="Remove every result from this page"), "labkit-clear"
        )
        self.results_title = widgets.HTML()
        self.results_box = _styled(widgets.VBox(), "labkit-results")
        self.no_results = widgets.HTML(EMPTY_RESULTS)
        self.cards: dict[Result, widgets.VBox] = {}  # each result shown, and its card
        self.widget = self._layout()

        self.upload.observe(self.on_upload, names="value")
        self.drop_zone.on_msg(self.on_drop_zone_message)
        self.gallery.on_msg(self.on_gallery_message)
        self.clear.on_click(lambda _button: app.clear())
        self.picker.observe(self.on_pick, names="value")
        app.observe(self.show_model, names=["model", "models"])
        app.observe(self.show_status, names=["status", "status_message", "busy", "results"])
        app.observe(self.show_results, names="results")
        self.show_model()
        self.show_status()
        self.show_results()

    def _layout(self) -> widgets.VBox:
        model_bar = _styled(
            widgets.VBox([_styled(self.picker, "labkit-model-choice"), self.model_note]), "labkit-model-bar"
        )
        intake = _styled(
            widgets.VBox(
                [
                    widgets.HTML(intake_html()),
                    _styled(widgets.HBox([self.upload, self.drop_zone]), "labkit-intake-actions"),
                ]
            ),
            "labkit-intake",
        )
        results = _styled(
            widgets.VBox(
                [_styled(widgets.HBox([self.results_title, self.clear]), "labkit-results-header"), self.results_box]
            ),
            "labkit-results-section",
        )
        # The results come right under the ways in, before the gallery: an answer appears where the user is looking,
        # not below 18 sample photos (Wayfinding scrolls to it when it arrives out of sight all the same).
        parts = [widgets.HTML(header_html()), model_bar, self.status, intake, results, self.gallery, self.photo_credits]
        return _styled(widgets.VBox([*parts, Wayfinding()]), "labkit-app")

    # --- what the user does -> the state ---------------------------------------------------------------------------

    def on_upload(self, change: dict) -> None:
        """Files chosen with "Choose photos…": classify each, and empty the widget (no bytes linger in it)."""
        if not change["new"]:  # our own reset below
            return
        photos = [(file["name"], bytes(file["content"])) for file in change["new"]]
        self.upload.value = ()
        for name, data in photos:
            self.app.classify_bytes(name, data)

    def on_drop_zone_message(self, _widget: DropZone, content: dict, buffers: Sequence[memoryview]) -> None:
        """A photo dropped, pasted or snapped (its bytes in ``buffers``), or one too large to send."""
        kind, name = content.get("kind"), str(content.get("name") or "photo")
        if kind == "photo" and buffers:
            self.app.classify_bytes(name, buffers[0])
        elif kind == "too_large":
            self.app.reject(name, too_large_error(name, int(content.get("size", 0)), self.drop_zone.max_bytes))

    def on_gallery_message(self, _widget: SampleGallery, content: dict, _buffers: Sequence[memoryview]) -> None:
        """A sample clicked: classify it, if it is one of the gallery's (never a path chosen by the browser)."""
        labels = {sample["file"]: sample["label"] for sample in self.gallery.samples}
        file = str(content.get("file"))
        if content.get("kind") == "sample" and file in labels:
            self.app.classify_file(self.samples_folder / file, name=f"Sample photo: {labels[file]}")

    def on_pick(self, change: dict) -> None:
        self.app.choose_model(change["new"])

    # --- the state -> what the page shows -------------------------------------------------------------------------

    def show_model(self, _change: dict | None = None) -> None:
        # Quietly: replacing the options selects the first one, which must not count as the user's choice.
        self.picker.unobserve(self.on_pick, names="value")
        options = [(option.label, option.key) for option in self.app.models]
        if [tuple(option) for option in self.picker.options] != options:
            self.picker.options = options
        self.picker.value = self.app.model
        self.picker.observe(self.on_pick, names="value")
        self.model_note.value = model_note_html(self.app.current_model)

    def show_status(self, _change: dict | None = None) -> None:
        self.status.value = status_html(self.app.status, self.app.status_message, self.app.busy, len(self.app.results))

    def show_results(self, _change: dict | None = None) -> None:
        results = self.app.results
        for key in [key for key in self.cards if key not in results]:  # cleared: free the widgets, not just hide them
            _close_all(self.cards.pop(key))
        for earlier in self.results_box.children[:1]:
            earlier.remove_class(ARRIVING)  # only the newest card fades in
        cards = [self.cards.get(result) or self._new_card(result) for result in results]
        self.results_box.children = cards or [self.no_results]
        self.results_title.value = results_title_html(len(results))
        self.clear.disabled = not results

    def _new_card(self, result: Result) -> widgets.VBox:
        """The card for ``result``: its view, and for an answer a row of actions ("Show where it looked")."""
        body = widgets.HTML(card_html(result))
        if result.prediction is None:
            card = widgets.VBox([body])
        else:
            actions = (
                [WhereItLooked(result.preview, result.prediction.label, result.explain, run=self.run_gradcam)]
                if result.explain is not None
                else []
            )
            card = widgets.VBox([body, _styled(widgets.HBox(actions), "labkit-card-actions")])
        for name in (
            "labkit-card",
            "labkit-card-problem" if result.prediction is None else "labkit-card-result",
            ARRIVING,
        ):
            card.add_class(name)
        self.cards[result] = card
        return card


def _styled(widget: Styled, css_class: str) -> Styled:
    widget.add_class(css_class)
    return widget


def _close_all(widget: widgets.Widget) -> None:
    """Close ``widget`` and everything inside it, so neither the kernel nor the page keeps them."""
    for child in getattr(widget, "children", ()):
        _close_all(child)
    widget.close()


def log_to_server_terminal() -> None:
    """Send labkit's log to the kernel's own stderr (the Voilà server's terminal), not into the page."""
    logger = logging.getLogger("labkit")
    if not any(handler.get_name() == LOG_HANDLER for handler in logger.handlers):
        handler = logging.StreamHandler(sys.__stderr__)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.set_name(LOG_HANDLER)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def watch_kernel() -> None:
    """Display the page's watch over its kernel (:func:`~labkit.app.views.kernel_watch_html`): run it before
    building the app, in its own output, so that a page whose kernel cannot show the app says so and offers a reload.

    Example:
        >>> watch_kernel()  # first, in the app's notebook  # doctest: +SKIP
    """
    display(HTML(kernel_watch_html()))
