"""The open sample photos of ``data/samples``: their labels, captions and credits (for the app's gallery).

The photos are public domain or CC0 (``data/samples/CREDITS.md`` names the author, licence and origin of each), so
they live in the repository. ``labels.csv`` gives each photo's ImageNet class; three photos show things that are
none of the 1000 classes (a raccoon, a whale shark, a person), and their class cells are empty: no class is true.

Example:
    >>> [sample_caption(row) for row in read_samples()][-1]
    'person'
"""

from __future__ import annotations

import csv
import html
import os
from dataclasses import dataclass
from pathlib import Path

from labkit.paths import SAMPLES_DIR
from labkit.weights import readable_label

LABELS_FILE = "labels.csv"
CREDITS_FILE = "CREDITS.md"


@dataclass(frozen=True)
class PhotoCredit:
    """One row of CREDITS.md: the photo, who made it and under which licence."""

    file: str
    author: str
    licence: str


def read_samples(folder: str | os.PathLike = SAMPLES_DIR) -> list[dict[str, str]]:
    """Return the rows of ``folder/labels.csv`` (``file``, ``wnid``, ``class_index``, ``label``; empty for no class).

    Example:
        >>> read_samples()[0]["file"]
        'beagle.jpg'
    """
    with open(Path(folder) / LABELS_FILE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sample_caption(row: dict[str, str]) -> str:
    """A photo's caption: its class in plain words, or, for a photo of none of the classes, what its file names.

    Example:
        >>> sample_caption({"file": "whale_shark.jpg", "label": ""}), sample_caption({"file": "x.jpg", "label": "cab"})
        ('whale shark', 'cab')
    """
    return readable_label(row["label"]) if row.get("label") else Path(row["file"]).stem.replace("_", " ")


def photo_credits(folder: str | os.PathLike = SAMPLES_DIR) -> list[PhotoCredit]:
    """Read the table of ``folder/CREDITS.md``: one :class:`PhotoCredit` per photo, in the table's order.

    Example:
        >>> photo_credits()[0].licence
        'CC0 1.0'
    """
    credits = []
    for line in (Path(folder) / CREDITS_FILE).read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].endswith((".jpg", ".jpeg", ".png")):  # a photo's row, not the header
            credits.append(PhotoCredit(file=cells[0], author=cells[2], licence=cells[3]))
    return credits


def credits_html(folder: str | os.PathLike = SAMPLES_DIR) -> str:
    """A small "Photo credits" disclosure listing each photo's author and licence (shown under the app's gallery).

    A ``<details>`` element opens in place, so it works in Voilà and JupyterLab alike without serving a file.

    Example:
        >>> credits_html().startswith('<details class="labkit-credits">')
        True
    """
    items = "".join(
        f"<li><b>{html.escape(credit.file)}</b>: {html.escape(credit.author)} ({html.escape(credit.licence)})</li>"
        for credit in photo_credits(folder)
    )
    return (
        '<details class="labkit-credits"><summary>Photo credits</summary>'
        f"<p>The sample photos are public domain or CC0 1.0; details in data/samples/{CREDITS_FILE}.</p>"
        f"<ul>{items}</ul></details>"
    )
