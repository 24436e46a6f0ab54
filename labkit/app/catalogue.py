"""The app's model catalogue: MobileNetV2 (ImageNet) and every model exported into the models folder.

The "Model" picker lists :func:`available_models`: the built-in model first, then each export found by
:func:`labkit.export.find_exported_models` in :func:`models_folders` (the student's ``~/labkit-exports`` or
``$LABKIT_MODELS_DIR``: :func:`labkit.paths.exports_dir`, where lesson 08 exports). :func:`find_model` resolves
what a teacher names (``$LABKIT_MODEL``: ``imagenet``, an export's folder name, or a path to an export folder).
Each model loads once per kernel, on first use.

    >>> [option.name for option in available_models()]  # doctest: +SKIP
    ['MobileNetV2', 'trashnet']
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit.autocalibration import VALIDATION_SET
from labkit.calibration import Calibration, shipped_calibration
from labkit.export import (
    LITERT_FILE,
    ExportError,
    describe_export,
    find_exported_models,
    load_exported,
    read_metadata,
)
from labkit.model import Classifier, shared_classifier
from labkit.paths import MODELS_DIR_ENV, REPO_ROOT, exports_dir
from labkit.weights import find_weights, weights_file_fingerprint

IMAGENET = "imagenet"  # the model picker's key (and $LABKIT_MODEL's value) for the built-in model
IMAGENET_NAME, IMAGENET_CLASSES = "MobileNetV2", "ImageNet, 1000 classes"
MODEL_DESCRIPTION = f"{IMAGENET_NAME} ({IMAGENET_CLASSES})"
MODEL_ENV = "LABKIT_MODEL"
# Where exports went before they went to the student's home: still listed for a clone's `make app`, as it costs one
# folder listing and a student's earlier models keep working; never written to.
OLD_EXPORTS_DIR = REPO_ROOT / "exports"


@dataclasses.dataclass(frozen=True)
class ModelOption:
    """One model the app can answer with: its picker entry, how to load it, and what it knows.

    Args:
        key: what the picker's value and ``$LABKIT_MODEL`` call it: ``"imagenet"`` or an export folder's path.
        name: short, on the status line and on each card ("MobileNetV2", "trashnet-mini").
        classes: what it tells apart, in a few words ("ImageNet, 1000 classes", "glass, metal").
        label: the picker's line.
        load: returns the classifier (cached per kernel, so switching back is instant).
        custom: an export, fine-tuned on someone's own classes (its notes of doubt count those: see
            :func:`labkit.predict.doubt`).
        note: one sentence under the picker (what it knows, how accurate it was).
    """

    key: str
    name: str
    classes: str
    label: str
    load: Callable[[], Classifier] = dataclasses.field(repr=False, compare=False)
    custom: bool = False
    note: str = ""

    @property
    def title(self) -> str:
        """``"MobileNetV2 (ImageNet, 1000 classes)"``: the status line's name for it."""
        return f"{self.name} ({self.classes})"


def imagenet_model(load: Callable[[], Classifier] = shared_classifier) -> ModelOption:
    """The built-in model, MobileNetV2 with ImageNet's 1000 classes (loaded by ``load``, the kernel's shared one)."""
    note = f"Knows 1000 kinds of things: animals, vehicles, food, objects. {measured_accuracy()}".strip()
    return ModelOption(IMAGENET, IMAGENET_NAME, IMAGENET_CLASSES, MODEL_DESCRIPTION, load, note=note)


def measured_accuracy(calibration: Calibration | None = None, weights: Path | None = None) -> str:
    """The built-in model's accuracy and calibration in a sentence or two, read from the calibration file.

    The figures are those ``calibration`` (default: the shipped one) measured on the 650 ImageNet validation photos it
    was fitted on, never retyped. They describe the weights it was fitted for only: when the weights labkit will load
    (``weights``, default :func:`labkit.weights.find_weights`: ``$LABKIT_WEIGHTS_DIR``'s or the built ones; not
    built yet means labkit's own) are others, the note says so instead.

    Example:
        >>> measured_accuracy()  # doctest: +SKIP
        '78.6% top-1 on 650 ImageNet validation photos (imagenet-val-650). Percentages calibrated on 650 photos: ...'
    """
    calibration = shipped_calibration() if calibration is None else calibration
    weights = find_weights() if weights is None else weights
    if weights is not None and not calibration.fits(weights_file_fingerprint(weights)):
        return (
            f"Its weights ({weights}) are not the ones labkit was measured with: labkit's figures do not apply to them."
        )
    measured = calibration.measured
    if "top1_accuracy" not in measured or "photos" not in measured:
        return calibration.summary()
    return (
        f"{measured['top1_accuracy']:.1%} top-1 on {measured['photos']} ImageNet validation photos "
        f"({VALIDATION_SET}). {calibration.summary()}"
    ).strip()


@functools.lru_cache(maxsize=8)
def shared_exported_classifier(folder: str) -> Classifier:
    """Return this kernel's classifier for an export folder, loaded on first call (LiteRT when the export has it).

    LiteRT keeps TensorFlow out of the kernel (benchmarks/memory.py measures what that saves); an export without
    a LiteRT file runs on Keras.

    Example:
        >>> shared_exported_classifier("exports/trashnet").class_names  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    engine = "litert" if (Path(folder) / LITERT_FILE).is_file() else "keras"
    return load_exported(folder, engine=engine)


def exported_model(folder: str | os.PathLike) -> ModelOption:
    """The picker's entry for a model exported by :func:`labkit.export.export_model` into ``folder``.

    A folder that is not a usable export still gets an entry: choosing it says what is wrong (the
    :class:`~labkit.export.ExportError`'s message) instead of breaking the page.

    Example:
        >>> exported_model("exports/trashnet").label  # doctest: +SKIP
        'trashnet: glass, metal, paper, plastic (88% on 48 photos)'
    """
    folder = Path(folder).resolve()
    try:
        metadata = read_metadata(folder)
        label = describe_export(folder)
    except ExportError as error:
        problem = error

        def fail() -> Classifier:
            raise problem

        return ModelOption(
            str(folder), folder.name, "cannot be used", f"{folder.name} (cannot be used)", fail, custom=True
        )
    names = list(metadata.get("class_names", []))
    note = f"Fine-tuned to tell apart {len(names)} classes: {', '.join(names)}."
    if metadata.get("val_accuracy") is not None:
        checked = (
            f" {metadata['validation_images']} validation photos"
            if metadata.get("validation_images")
            else (" its validation photos")
        )
        note += f" Right on {metadata['val_accuracy']:.0%} of{checked}."
    return ModelOption(
        str(folder),
        folder.name,
        classes_text(names),
        label,
        functools.partial(shared_exported_classifier, str(folder)),
        custom=True,
        note=note,
    )


def classes_text(names: Sequence[str], shown: int = 5) -> str:
    """What a model tells apart, in a few words.

    Example:
        >>> classes_text(["glass", "metal"]), classes_text([str(n) for n in range(12)])
        ('glass, metal', '12 classes: 0, 1, 2, 3, 4…')
    """
    if len(names) <= shown:
        return ", ".join(names)
    return f"{len(names)} classes: {', '.join(names[:shown])}…"


def models_folders() -> list[Path]:
    """Where the app looks for exported models: :func:`labkit.paths.exports_dir` (``$LABKIT_MODELS_DIR``, else
    ``~/labkit-exports``), then, unless ``$LABKIT_MODELS_DIR`` is set, the repository's ``exports/`` of older labkits.

    Example:
        >>> [folder.name for folder in models_folders()]  # doctest: +SKIP
        ['labkit-exports', 'exports']
    """
    folders = [exports_dir()]
    if not os.environ.get(MODELS_DIR_ENV) and OLD_EXPORTS_DIR.resolve() != folders[0].resolve():
        folders.append(OLD_EXPORTS_DIR)
    return folders


def available_models(folder: str | os.PathLike | None = None) -> list[ModelOption]:
    """The picker's models: MobileNetV2 (ImageNet) first, then every export in ``folder`` (default: those in
    :func:`models_folders`), sorted by name within each folder.

    Example:
        >>> [option.name for option in available_models()]  # doctest: +SKIP
        ['MobileNetV2', 'trashnet']
    """
    folders = models_folders() if folder is None else [Path(folder)]
    exports = [export for each in folders for export in find_exported_models(each)]
    return [imagenet_model(), *map(exported_model, exports)]


def find_model(models: Sequence[ModelOption], wanted: str | os.PathLike) -> ModelOption:
    """Return the model in ``models`` called ``wanted`` (a key, a name, or an export folder's path), or a new entry
    for an export folder that is not listed (a path that is no export gives an entry whose loading says why).

    Example:
        >>> find_model([imagenet_model()], "imagenet").name
        'MobileNetV2'
    """
    wanted = str(wanted)
    for option in models:
        if wanted in (option.key, option.name):
            return option
    # Voilà runs the kernel in notebooks/, so a path relative to the repository (as in `make app`) is tried too.
    candidates = [Path(wanted).expanduser(), *(folder / wanted for folder in models_folders()), REPO_ROOT / wanted]
    path = next((candidate for candidate in candidates if candidate.exists()), candidates[0])
    key = str(path.resolve())
    return next((option for option in models if option.key == key), None) or exported_model(path)
