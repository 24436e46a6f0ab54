"""Class names a model may be taught: each must be a valid folder name on Windows, macOS and Linux.

A trained model's classes and a training folder's subfolders are the same names, so :func:`class_name_problem`
says why a name cannot be one, and :func:`check_class_names` raises :class:`ClassNameError` for the first that
cannot (or for two that differ only in case).

Example:
    >>> class_name_problem("glass/metal")
    "contains '/', which folder names cannot contain"
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.errors import LabkitError

MIN_CLASSES = 2
MAX_CLASS_NAME_BYTES = 255  # the longest file name ext4, APFS and NTFS accept
_NOT_IN_FOLDER_NAMES = frozenset('/\\:*?"<>|')  # Windows refuses all of these; "/" separates folders everywhere
_WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))]
)


class TrainingDataError(LabkitError, ValueError):
    """The training photos cannot be used as they are: the message says what is wrong and what to do."""


class ClassNameError(TrainingDataError):
    """A class name cannot be used: it would not make a valid folder name (the message says which and why)."""


def class_name_problem(name: object) -> str | None:
    """Say why ``name`` cannot be a class name, or return ``None`` when it can.

    A class name must be usable as a folder name on Windows, macOS and Linux: a trained model's classes and a
    training folder's subfolders are the same names (``labkit train`` and ``labkit evaluate`` read classes from
    subfolders, and a student saves photos into them).

    Example:
        >>> class_name_problem("glass") is None
        True
        >>> class_name_problem("glass/metal")
        "contains '/', which folder names cannot contain"
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    bad = next((character for character in name if character in _NOT_IN_FOLDER_NAMES or ord(character) < 32), None)
    if bad is not None:
        shown = repr(bad) if ord(bad) < 32 else f"'{bad}'"
        return f"contains {shown}, which folder names cannot contain"
    if name != name.strip():
        return "starts or ends with a space, which file systems drop or keep inconsistently"
    if name in (".", ".."):
        return "is a dot or two, which mean the folder itself or the one above it, not a new folder"
    if name.startswith("."):
        return "starts with a dot, which hides the folder (labkit, like most tools, skips hidden folders)"
    if name.endswith("."):
        return "ends with a dot, which Windows removes from folder names"
    if name.split(".")[0].upper() in _WINDOWS_DEVICE_NAMES:
        return (
            "is a device name that Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9), so no folder may be "
            "called that"
        )
    if len(name.encode("utf-8")) > MAX_CLASS_NAME_BYTES:
        return f"is longer than file systems allow ({MAX_CLASS_NAME_BYTES} bytes)"
    return None


def check_class_names(class_names: Sequence[object]) -> None:
    """Raise :class:`ClassNameError` unless every name is a valid folder name and no two differ only in case.

    Raises :class:`TrainingDataError` when there are fewer than :data:`MIN_CLASSES` classes.
    """
    if len(class_names) < MIN_CLASSES:
        found = f"only one, '{class_names[0]}'" if class_names else "none"
        raise TrainingDataError(
            f"A model needs at least {MIN_CLASSES} classes to learn to tell apart; there is "
            f"{found}. What to do: add another class, with its photos."
        )
    for name in class_names:
        problem = class_name_problem(name)
        if problem is not None:
            raise ClassNameError(
                f"The class name {name!r} cannot be used: it {problem}. Class names become folder names (of the "
                "exported model's classes and of a training folder), so each must be a valid folder name. What to "
                "do: rename the class, e.g. with letters, digits, spaces, '-' or '_'."
            )
    seen: dict[str, str] = {}
    for name in map(str, class_names):  # all text by now
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise ClassNameError(
                f"The classes {other!r} and {name!r} differ only in upper and lower case: on "
                "Windows and macOS they would be the same folder. What to do: rename one, or put "
                "their photos together in one class."
            )
