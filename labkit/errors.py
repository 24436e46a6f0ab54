"""The root of every error labkit raises on purpose.

Each concern has its own exception (:class:`~labkit.images.ImageError`, :class:`~labkit.weights.WeightsNotFound`,
:class:`~labkit.datasets.DatasetError`, ...) whose message says what was wrong and what to do. They all derive from
:class:`LabkitError`, so a caller that shows messages to people (the command line, the app) catches that one class
and knows the message is meant for a person; anything else is a bug, logged with its traceback. Each also keeps
the built-in base it had (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so ``except ValueError`` still
catches a bad image.

    >>> from labkit.images import ImageError
    >>> issubclass(ImageError, LabkitError) and issubclass(ImageError, ValueError)
    True
"""

from __future__ import annotations


class LabkitError(Exception):
    """An error labkit raised on purpose: its message says what was wrong and what to do."""
