"""Put a generated block of text between its two marker comments in a document (README.md, docs/*.md).

The tools that write figures into the docs (``readme_figures.py``, ``sizing.py``) keep the prose around a table
hand-written and replace only what sits between the markers, so the figures are never retyped.

    >>> between_markers("a\\n<!-- s -->\\nold\\n<!-- e -->\\nz", "<!-- s -->", "<!-- e -->", "new")
    'a\\n<!-- s -->\\nnew\\n<!-- e -->\\nz'

Not a tool itself: the leading underscore says it is imported by the others.
"""

from __future__ import annotations


def between_markers(document: str, start: str, end: str, block: str) -> str:
    """``document`` with the text between the ``start`` and ``end`` markers replaced by ``block``.

    Raises:
        ValueError: a marker is missing; the message shows both lines and says where they go.
    """
    if start not in document or end not in document:
        raise ValueError(f"No generated table in this document: put the lines\n{start}\n{end}\nwhere it goes.")
    before, rest = document.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{block}\n{end}{after}"
