"""Save a fine-tuned classifier to a folder and load it back, in Keras, Teachable Machine and LiteRT formats.

An export folder holds:

- ``model.keras``: the Keras model (image in, logits out), for ``keras.models.load_model`` and Grad-CAM;
- ``labels.txt``: one class per line, ``"<index> <name>"`` (``0 glass``), Teachable Machine's convention, so
  code written for Teachable Machine's exports reads it too;
- ``model.tflite``: the same model converted to LiteRT (TFLite), float32, for phones and the fast engine; it also
  returns the last feature map, from which labkit draws heatmaps;
- ``head.npz``: the last (Dense) layer's weights, so heatmaps need no TensorFlow (:class:`labkit.network.DenseHead`;
  an export without it, or whose ``model.tflite`` has no feature map, gets its heatmaps from ``model.keras``'s
  gradient);
- ``labkit.json``: what labkit needs to use it exactly as it was trained: class names, validation accuracy, date,
  base model and the input policy (224 x 224, squashed, pixels scaled to [-1, 1]);
- ``calibration.json`` (when the classifier has one): its temperature and "not sure" threshold.

:func:`load_exported` loads it back as a plain :class:`labkit.Classifier`; predictions, Grad-CAM, the "not sure"
flag, evaluation and the command line (``--model PATH``) then work on it as on the ImageNet model.

This module imports neither TensorFlow nor LiteRT until a model is saved or loaded, so the app can list the exported
models (:func:`find_exported_models`) instantly.

Example:
    >>> folder = export_model(result, "exports/trashnet")  # doctest: +SKIP
    >>> load_exported(folder, engine="litert").classify("bottle.jpg").label  # doctest: +SKIP
    'glass'
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labkit.calibration import Calibration
from labkit.engines import convert_to_litert
from labkit.errors import LabkitError
from labkit.model import Classifier
from labkit.network import ModelDescription, dense_head_of, forward_model
from labkit.paths import exports_dir, writable_folder
from labkit.preprocess import IMAGE_SIZE
from labkit.recipe import BASE_MODEL
from labkit.transfer import FineTuneResult
from labkit.version import __version__

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"
LITERT_FILE = "model.tflite"
HEAD_FILE = "head.npz"
METADATA_FILE = "labkit.json"
CALIBRATION_FILE = "calibration.json"
EXPORT_FORMAT = "labkit-export"
EXPORT_VERSION = 1
PIXEL_SCALING = "pixels / 127.5 - 1 (RGB, range [-1, 1])"


class ExportError(LabkitError, ValueError):
    """A folder is not a usable labkit export (missing or mismatched files); the message says what to do."""


def write_labels(class_names: Sequence[str], path: str | os.PathLike) -> Path:
    """Write ``labels.txt`` the way Teachable Machine does: one ``"<index> <name>"`` line per class.

    Example:
        >>> write_labels(["glass", "metal"], "labels.txt").read_text()  # doctest: +SKIP
        '0 glass\\n1 metal\\n'
    """
    path = Path(path)
    path.write_text("".join(f"{index} {name}\n" for index, name in enumerate(class_names)), encoding="utf-8")
    return path


def read_labels(path: str | os.PathLike) -> list[str]:
    """Read a ``labels.txt``: ``"<index> <name>"`` lines (Teachable Machine) or plain names, one per line.

    Example:
        >>> read_labels("exports/trashnet/labels.txt")  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    path = Path(path)
    names: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
        line = line.strip()
        if not line:
            continue
        index, _, name = line.partition(" ")
        if index.isdigit() and name.strip():
            if int(index) != len(names):
                raise ExportError(
                    f"{path}, line {number + 1}: expected class {len(names)}, found {index}. The lines "
                    "must list the classes in the model's output order, 0, 1, 2..."
                )
            line = name.strip()
        names.append(line)
    if not names:
        raise ExportError(f"{path} lists no classes. It should have one line per class, e.g. '0 glass'.")
    return names


def build_metadata(
    classifier: Classifier,
    val_accuracy: float | None = None,
    validation_images: int | None = None,
    training: dict | None = None,
) -> dict[str, Any]:
    """Return the contents of ``labkit.json`` for ``classifier``: classes, accuracy, date, base model, input policy."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "class_names": list(classifier.class_names),
        "val_accuracy": None if val_accuracy is None else round(float(val_accuracy), 4),
        "validation_images": validation_images,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": BASE_MODEL,
        "input": {"size": [IMAGE_SIZE, IMAGE_SIZE], "resize": classifier.policy, "scale": PIXEL_SCALING},
        "output": "logits: apply softmax for probabilities",
        "files": {"keras": MODEL_FILE, "labels": LABELS_FILE, "litert": LITERT_FILE},
        "labkit_version": __version__,
        "training": training or {},
    }


def export_model(source: FineTuneResult | Classifier, folder: str | os.PathLike, *, litert: bool = True) -> Path:
    """Save a fine-tuned classifier into ``folder`` (created if needed): .keras, labels.txt, .tflite and labkit.json.

    Files of an earlier export in the same folder are replaced.

    Args:
        source: what :func:`labkit.transfer.fine_tune` returned (its accuracy goes into labkit.json), or a
            :class:`labkit.Classifier` with a Keras model.
        folder: where to write, e.g. ``exports/trashnet`` (a student's go into :func:`labkit.paths.exports_dir`).
        litert: also convert to LiteRT (``model.tflite``, float32; ~10-30 s on a 2-core machine).

    Raises:
        FolderNotWritable: ``folder`` cannot be created or written; the message says how to choose another.

    Example:
        >>> export_model(result, "exports/trashnet")  # doctest: +SKIP
        PosixPath('exports/trashnet')
    """
    if isinstance(source, FineTuneResult):
        classifier, accuracy, checked_on = source.classifier, source.val_accuracy, source.validation_count
        training = source.settings
    else:
        classifier, accuracy, checked_on, training = source, None, None, None
    folder = writable_folder(folder)
    model = classifier.model
    if model.output_shape[-1] != classifier.num_classes:
        raise ExportError(
            f"The model has {model.output_shape[-1]} outputs but the classifier names "
            f"{classifier.num_classes} classes; export a classifier whose class_names match its model."
        )
    model.save(folder / MODEL_FILE)
    write_labels(classifier.class_names, folder / LABELS_FILE)
    head = dense_head_of(model)
    if litert:
        # every output the model has: the pooled features (the ImageNet model's "not sure" score) and the feature map
        (folder / LITERT_FILE).write_bytes(convert_to_litert(forward_model(model)))
    if litert and head is not None:
        head.save(folder / HEAD_FILE)
    # never leave an older model's files beside this one
    for name, kept in ((LITERT_FILE, litert), (HEAD_FILE, litert and head is not None)):
        if not kept:
            (folder / name).unlink(missing_ok=True)
    if classifier.calibration is not None:
        classifier.calibration.save(folder / CALIBRATION_FILE)
    else:
        (folder / CALIBRATION_FILE).unlink(missing_ok=True)
    metadata = build_metadata(classifier, accuracy, checked_on, training)
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return folder


def read_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """Return an export's ``labkit.json`` as a dict; :class:`ExportError` if the folder is not an export."""
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        what = "no folder" if not folder.exists() else f"no {METADATA_FILE} in it"
        raise ExportError(
            f"'{folder}' is not a labkit export ({what}). What to do: pass a folder written by "
            "labkit.export.export_model or `python -m labkit train FOLDER --out DIR`."
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ExportError(f"{path} is not valid JSON ({error}). Export the model again.") from error
    if metadata.get("format") != EXPORT_FORMAT:
        raise ExportError(
            f"{path} was not written by labkit (format {metadata.get('format')!r}). Export the model "
            "again with labkit.export.export_model."
        )
    return metadata


def load_exported(folder: str | os.PathLike, engine: str = "keras", warm_up: bool = True) -> Classifier:
    """Load an export folder as a :class:`labkit.Classifier`: ``engine="keras"`` (model.keras) or ``"litert"``.

    ``"litert"`` runs the exported ``model.tflite`` and loads the Keras model only when something needs it (the
    gradient path of an older export's heatmaps), so it starts, classifies and explains without TensorFlow. The
    export's calibration (temperature and "not sure" threshold) comes along when it has one.

    A function of this module rather than a ``Classifier.from_export`` class method: the export folder's format is
    this module's, and :mod:`labkit.model` sits below it in the layers (it never imports :mod:`labkit.export`).

    Example:
        >>> classifier = load_exported("exports/trashnet", engine="litert")  # doctest: +SKIP
        >>> classifier.class_names  # doctest: +SKIP
        ['glass', 'metal', 'paper', 'plastic']
    """
    folder = Path(folder)
    metadata = read_metadata(folder)
    class_names = read_labels(folder / LABELS_FILE)
    if class_names != metadata.get("class_names", class_names):
        raise ExportError(f"{folder / LABELS_FILE} and {METADATA_FILE} name different classes. Export the model again.")
    if engine == "keras" and not (folder / MODEL_FILE).is_file():
        raise ExportError(f"No {MODEL_FILE} in '{folder}'. Export the model again.")
    description = ModelDescription(
        weights=None,
        num_classes=len(class_names),
        policy=metadata.get("input", {}).get("resize", "squash"),
        keras_file=folder / MODEL_FILE,
        litert_file=folder / LITERT_FILE,
        head_file=folder / HEAD_FILE,
    )
    calibration = Calibration.load(folder / CALIBRATION_FILE) if (folder / CALIBRATION_FILE).is_file() else None
    return Classifier(description, class_names, engine=engine, calibration=calibration, warm_up=warm_up)


def find_exported_models(folder: str | os.PathLike | None = None) -> list[Path]:
    """List the export folders in ``folder`` (default: :func:`labkit.paths.exports_dir`), sorted by name.

    An export folder is one holding ``labkit.json`` and ``labels.txt``; ``folder`` itself counts if it is one.
    A missing folder gives an empty list (nobody has exported anything yet).

    Example:
        >>> [path.name for path in find_exported_models()]  # doctest: +SKIP
        ['trashnet-mini']
    """
    folder = exports_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    candidates = [folder, *sorted((child for child in folder.iterdir() if child.is_dir()), key=lambda path: path.name)]
    return [path for path in candidates if (path / METADATA_FILE).is_file() and (path / LABELS_FILE).is_file()]


def describe_export(folder: str | os.PathLike) -> str:
    """One line for a model picker: ``"trashnet-mini: glass, metal, paper, plastic (88 % on 48 photos)"``."""
    metadata = read_metadata(folder)
    text = f"{Path(folder).name}: {', '.join(metadata.get('class_names', []))}"
    if metadata.get("val_accuracy") is not None:
        checked = f" on {metadata['validation_images']} photos" if metadata.get("validation_images") else ""
        text += f" ({metadata['val_accuracy']:.0%}{checked})"
    return text
