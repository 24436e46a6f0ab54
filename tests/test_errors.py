"""One error family: every error labkit raises on purpose is a LabkitError, so the command line and the app catch
one thing and show its message, and each keeps its built-in base, so older ``except ValueError`` code still works."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import pytest

import labkit
from labkit import LabkitError

# Each root of labkit's errors and the built-in base it has always had.
ROOTS = {
    "labkit.images.ImageError": ValueError,
    "labkit.weights.WeightsNotFound": FileNotFoundError,
    "labkit.datasets.DatasetError": RuntimeError,
    "labkit.engines.EngineError": RuntimeError,
    "labkit.export.ExportError": ValueError,
    "labkit.folders.LabelError": ValueError,
    "labkit.class_names.TrainingDataError": ValueError,
    "labkit.reliability.CalibrationError": ValueError,
    "labkit.ood.OodError": ValueError,
    "labkit.explain.ExplainError": ValueError,
    "labkit.network.NetworkError": ValueError,
    "labkit.app.state.ModelLoadError": RuntimeError,
    "labkit.lessons.trainer_photos.TrainerInputError": ValueError,
    "labkit.exercises.checks.AnswerError": Exception,
}


@functools.cache
def labkit_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a labkit module (not warnings)."""
    found = {}
    for module_info in pkgutil.walk_packages(labkit.__path__, "labkit."):
        if module_info.name == "labkit.__main__":
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and not issubclass(value, Warning)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_labkit_error_is_a_labkit_error():
    errors = labkit_exceptions()

    assert set(ROOTS) <= set(errors)
    assert [name for name, error in errors.items() if not issubclass(error, LabkitError)] == []


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_each_error_keeps_its_builtin_base(name):
    assert issubclass(labkit_exceptions()[name], ROOTS[name])
