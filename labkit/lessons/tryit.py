"""What every lesson's "Try it" widget shares: the box that shows controls over a result, the result area (text,
pictures with alt text, a progress line, a problem message), and a photo picker (a sample, or an upload read in
memory).

A builder (``try_pixels()``, ``try_your_photo()``…) returns a :class:`TryIt`. It draws its default state when it is
built, with no click, so a lesson runs headless. In a notebook its output also carries that default state as
``text/plain`` (:attr:`TryIt.summary`) and ``text/html`` (the result area's content): nbval compares them, and the
lesson reads on GitHub; JupyterLab and Voilà show the live widget instead.

A callback never lets an exception escape into the kernel's log where nobody sees it: :meth:`ResultArea.guard` shows
the message where the result would be, and the widget keeps working.

Example:
    >>> area = ResultArea()
    >>> area.show("<p>5 ms</p>")
    >>> "5 ms" in area.value
    True
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
from matplotlib.figure import Figure
from PIL import Image

from labkit.errors import LabkitError
from labkit.images import ACCEPTED_FILES, data_url, load_image, small_jpeg
from labkit.paths import SAMPLES_DIR
from labkit.plots import figure_to_png
from labkit.samples import read_samples, sample_caption

SLIDER_STYLE = {"description_width": "initial"}  # the whole description, never cut to "Temperat…"
FIGURE_DPI = 80  # sharp enough in a notebook, small enough to redraw within a second and keep the notebook light
PHOTO_JPEG_QUALITY = 85
UPLOADED = "(uploaded)"  # the photo list's value for the student's upload (no sample file has this name)


def image_html(data: bytes, mime: str, alt: str, css_class: str = "labkit-try-picture") -> str:
    """An ``<img>`` of ``data`` with its alt text (what a screen reader says instead of the picture)."""
    return (
        f'<img class="{css_class}" src="{data_url(data, mime)}" alt="{html.escape(alt, quote=True)}" '
        'style="max-width: 100%; height: auto;">'
    )


def figure_html(figure: Figure, alt: str, dpi: int = FIGURE_DPI) -> str:
    """A matplotlib figure as a static PNG ``<img>`` with alt text (no ipympl: it works wherever HTML shows)."""
    return image_html(figure_to_png(figure, dpi=dpi), "image/png", alt)


def photo_html(image: Image.Image, alt: str, longest_side: int = 448) -> str:
    """A photo as a small JPEG ``<img>`` with alt text."""
    return image_html(small_jpeg(image, longest_side, PHOTO_JPEG_QUALITY), "image/jpeg", alt)


def text_html(text: str) -> str:
    """One paragraph of plain text, escaped."""
    return f'<p class="labkit-try-text" style="margin: 2px 0;">{html.escape(text)}</p>'


class ResultArea(widgets.HTML):
    """Where a widget shows its result, what it is doing, or what went wrong (always in the same place).

    Screen readers announce changes (``aria-live``); a problem is an ``alert`` that says what to do.
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_class("labkit-try-result")
        self.problem_text = ""

    def show(self, content: str) -> None:
        """Show a result (HTML built with :func:`figure_html`, :func:`text_html`…)."""
        self.problem_text = ""
        self.value = f'<div aria-live="polite">{content}</div>'

    def problem(self, message: str) -> None:
        """Show what went wrong and what to do, where the result would be."""
        self.problem_text = message
        self.value = (
            f'<div class="labkit-try-problem" role="alert" style="border-left: 4px solid #c62828; '
            f'padding: 4px 10px;"><strong>That did not work.</strong> {html.escape(message)}</div>'
        )

    def guard(self, action: Callable[[], None]) -> Callable[..., None]:
        """Wrap a callback: any error it raises is shown here (the widget keeps working), never lost in a log.

        A :class:`~labkit.errors.LabkitError` already says what to do; anything else is shown with its type.
        """

        def callback(*_args, **_kwargs) -> None:
            try:
                action()
            except LabkitError as error:
                self.problem(str(error))
            except Exception as error:  # noqa: BLE001 - a widget shows every failure rather than dying silently
                self.problem(f"{type(error).__name__}: {error}")

        return callback


class Progress(widgets.HBox):
    """A progress bar with a line of text saying what is being done; hidden when idle."""

    def __init__(self) -> None:
        self.bar = widgets.IntProgress(
            value=0, min=0, max=1, description="Progress", layout=widgets.Layout(width="260px")
        )
        self.text = widgets.HTML()
        super().__init__([self.bar, self.text], layout=widgets.Layout(display="none"))
        self.add_class("labkit-try-progress")

    def start(self, what: str, steps: int = 1) -> None:
        self.bar.max, self.bar.value = max(1, steps), 0
        self.text.value = html.escape(what)
        self.layout.display = "flex"

    def step(self, done: int, what: str | None = None) -> None:
        self.bar.value = min(done, self.bar.max)
        if what is not None:
            self.text.value = html.escape(what)

    def done(self) -> None:
        self.layout.display = "none"


def side_by_side(*sections: Sequence[widgets.Widget]) -> widgets.HBox:
    """Lay sections (each a list of rows) side by side when there is room, one under the other when there is not."""
    column = dict(flex="1 1 420px", min_width="0", margin="0 16px 8px 0")
    return widgets.HBox(
        [widgets.VBox(list(rows), layout=widgets.Layout(**column)) for rows in sections],
        layout=widgets.Layout(flex_flow="row wrap"),
    )


class TryIt(widgets.VBox):
    """A lesson's widget: its controls and, under them, its result area(s) (and a progress line, if any).

    ``summary`` returns the current state in one or two lines of plain text (what nbval compares, and what a test
    or a screen-reader user can read without the pictures).

    Args:
        children: the widget's rows, top to bottom, result areas included.
        results: the result areas among them, whose content is the static copy of the default state.
        summary: returns the state in words.
    """

    def __init__(
        self,
        children: Sequence[widgets.Widget],
        results: Sequence[ResultArea],
        summary: Callable[[], str],
        css_class: str = "",
    ) -> None:
        super().__init__(list(children))
        self.add_class("labkit-try-it")
        if css_class:
            self.add_class(css_class)
        self.results = list(results)
        self._summary = summary

    @property
    def result(self) -> ResultArea:
        """The (first) result area."""
        return self.results[0]

    @property
    def summary(self) -> str:
        """The state shown, in words; a problem shown instead of a result comes first."""
        problems = [area.problem_text for area in self.results if area.problem_text]
        return " ".join(problems) or self._summary()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.summary
        bundle["text/html"] = "".join(area.value for area in self.results)  # GitHub and nbviewer show this
        return bundle


# --- Photos: the samples, or the student's own ------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One photo of data/samples: its file, and its caption (its ImageNet class in words, or what it shows)."""

    path: Path
    caption: str


def samples(folder: Path = SAMPLES_DIR) -> list[Sample]:
    """The sample photos of ``folder/labels.csv`` (:mod:`labkit.samples`), in the file's order.

    Example:
        >>> samples()[0].caption, samples()[-1].caption
        ('beagle', 'person')
    """
    return [Sample(Path(folder) / row["file"], sample_caption(row)) for row in read_samples(folder)]


def find_sample(caption: str, folder: Path = SAMPLES_DIR) -> Sample:
    """The sample whose caption (class) or file name is ``caption``, e.g. ``"tabby"``.

    Example:
        >>> find_sample("tabby").path.name
        'tabby.jpg'
    """
    for sample in samples(folder):
        if caption in (sample.caption, sample.path.name, sample.path.stem):
            return sample
    raise ValueError(f"No sample photo is a {caption!r}: choose one of {[s.caption for s in samples(folder)]}.")


def uploaded_files(upload: widgets.FileUpload) -> list[tuple[str, bytes]]:
    """The ``(name, bytes)`` of each file in a FileUpload (ipywidgets 8: a tuple of dicts), read in memory."""
    return [(str(file["name"]), bytes(file["content"])) for file in upload.value]


class PhotoPicker(widgets.HBox):
    """Choose a sample photo from a list, or upload one (read in memory, never saved); ``on_photo(name, image)``
    is called with each new photo. A file that is not a usable image raises :class:`~labkit.images.ImageError`
    from the callback, for the widget's :meth:`ResultArea.guard` to show.

    ``photo`` and ``name`` are the photo in use, starting with the chosen sample. The controls always say which
    photo that is: an upload gets its own entry in the list ("your photo: cat.jpg"), selected, and the upload
    button counts it, "(1)"; its bytes are dropped from the widget once read (only the name and size stay).
    Choosing a sample again puts the button back to "(0)"; the upload's entry stays, to go back to it.
    """

    def __init__(
        self,
        on_photo: Callable[[str, Image.Image], None],
        guard: Callable[[Callable], Callable],
        default: str | None = None,
        upload: bool = True,
    ) -> None:
        self.samples = samples()
        chosen = find_sample(default) if default else self.samples[0]
        self.dropdown = widgets.Dropdown(
            options=self._sample_options(),
            value=chosen.path.name,
            description="Sample photo",
            style=SLIDER_STYLE,
        )
        self.upload = widgets.FileUpload(
            accept=ACCEPTED_FILES,
            multiple=False,
            description="Upload a photo",
            tooltip="Upload a photo of your own (it stays in memory, never saved)",
            layout=widgets.Layout(width="auto"),
        )
        super().__init__([self.dropdown, *([self.upload] if upload else [])])
        self.on_photo = on_photo
        self.name = chosen.path.name
        self.photo = load_image(chosen.path)
        self.uploaded: tuple[str, Image.Image] | None = None
        self._setting_controls = False  # the picker moving its own controls is not a student's choice
        self.dropdown.observe(guard(self._sample_chosen), "value")
        self.upload.observe(guard(self._uploaded), "value")

    def _sample_options(self) -> list[tuple[str, str]]:
        return [(s.caption, s.path.name) for s in self.samples]

    def _sample_chosen(self) -> None:
        if self._setting_controls:
            return
        if self.dropdown.value == UPLOADED and self.uploaded is not None:
            self._use(*self.uploaded)
            return
        sample = next(s for s in self.samples if s.path.name == self.dropdown.value)
        with self._moving_controls():
            self.upload.value = ()  # the button's count says no upload is in use
        self._use(sample.path.name, load_image(sample.path))

    def _uploaded(self) -> None:
        if self._setting_controls:
            return
        files = uploaded_files(self.upload)
        if not files:  # an empty choice
            return
        name, data = files[0]
        chosen = {**self.upload.value[0], "content": memoryview(b"")}  # its name and size, not its bytes
        with self._moving_controls():
            self.upload.value = ()  # forget the bytes now; a file that is no photo leaves the controls as they were
        photo = load_image(data, name=name)
        self.uploaded = (name, photo)
        with self._moving_controls():  # the button says "(1)" and the list names the photo in use
            self.upload.value = (chosen,)
            self.dropdown.options = [*self._sample_options(), (f"your photo: {name}", UPLOADED)]
            self.dropdown.value = UPLOADED
        self._use(name, photo)

    @contextmanager
    def _moving_controls(self) -> Iterator[None]:
        self._setting_controls = True
        try:
            yield
        finally:
            self._setting_controls = False

    def _use(self, name: str, photo: Image.Image) -> None:
        self.name, self.photo = name, photo
        self.on_photo(name, photo)
