"""Small helpers for the words a person reads: a capital first letter, a counted noun.

Every message labkit writes (the app's cards, the command line, the lessons' widgets) uses these, so "1 photo" and
"2 photos" read the same everywhere.
"""

from __future__ import annotations

OTHER_CLASSES = "(other)"  # a confusion matrix's column for answers outside the classes it shows


def capitalized(text: str) -> str:
    """Return ``text`` with its first letter upper-case and the rest unchanged (``str.capitalize`` lowers the rest).

    Example:
        >>> capitalized("the file 'cat.JPG' is empty")
        "The file 'cat.JPG' is empty"
    """
    return text[:1].upper() + text[1:]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """Return ``count`` and ``noun``, plural unless the count is one (``plural`` when adding "s" is wrong).

    Example:
        >>> counted(1, "photo"), counted(3, "photo"), counted(2, "class", "classes")
        ('1 photo', '3 photos', '2 classes')
    """
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
