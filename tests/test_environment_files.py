"""The install files agree with each other, and the bundled sample photos match their labels.csv and credits."""

from __future__ import annotations

import csv
import json
import os
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SAMPLES = REPO_ROOT / "data" / "samples"
NOT_PHOTOS = {"labels.csv", "README.md", "CREDITS.md"}


def pyproject() -> dict:
    with open(REPO_ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def environment_yml() -> dict:
    with open(REPO_ROOT / "environment.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def requirement_map(lines: list[str]) -> dict[str, SpecifierSet]:
    """Map each requirement's normalised name to its version specifiers."""
    requirements = [Requirement(line) for line in lines]
    return {canonicalize_name(requirement.name): requirement.specifier for requirement in requirements}


def conda_pip_list(environment: dict) -> list[str]:
    pip_sections = [entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert len(pip_sections) == 1, f"environment.yml should have exactly one `pip:` section, found {len(pip_sections)}"
    return pip_sections[0]


def bundled_label_rows() -> list[dict[str, str]]:
    with open(BUNDLED_SAMPLES / "labels.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_environment_yml_lists_the_same_packages_and_versions_as_pyproject():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = requirement_map(project["dependencies"] + extras["test"] + extras["hub"] + extras["teach"])
    conda = requirement_map(conda_pip_list(environment_yml()))

    only_pyproject = sorted(set(wanted) - set(conda))
    only_conda = sorted(set(conda) - set(wanted))
    different = sorted(
        f"{name}: pyproject '{wanted[name]}' vs environment.yml '{conda[name]}'"
        for name in set(wanted) & set(conda)
        if wanted[name] != conda[name]
    )
    assert not (only_pyproject or only_conda or different), (
        "pyproject.toml and environment.yml disagree; make environment.yml's pip list match pyproject.\n"
        f"  only in pyproject.toml: {only_pyproject}\n"
        f"  only in environment.yml: {only_conda}\n"
        f"  different versions: {different}"
    )


def test_environment_yml_python_is_one_pyproject_accepts():
    conda_python = [
        entry for entry in environment_yml()["dependencies"] if isinstance(entry, str) and entry.startswith("python=")
    ]
    assert len(conda_python) == 1, f"environment.yml should pin python exactly once, found {conda_python}"
    version = Version(conda_python[0].removeprefix("python="))
    requires_python = SpecifierSet(pyproject()["project"]["requires-python"])
    assert version in requires_python, (
        f"environment.yml asks for Python {version}, but pyproject.toml requires-python is '{requires_python}'"
    )


def test_bundled_labels_csv_lists_exactly_the_photos_in_data_samples():
    listed = [row["file"] for row in bundled_label_rows()]
    on_disk = {path.name for path in BUNDLED_SAMPLES.iterdir() if path.name not in NOT_PHOTOS}

    assert len(listed) == len(set(listed)), f"labels.csv lists a file twice: {sorted(listed)}"
    assert set(listed) == on_disk, (
        f"data/samples/labels.csv and the folder disagree. Photos with no row: {sorted(on_disk - set(listed))}; "
        f"rows with no photo: {sorted(set(listed) - on_disk)}"
    )


def test_bundled_labels_name_the_models_classes_or_are_empty_for_the_photos_of_none():
    # Keras' class index (file name as Keras downloads it; tests point LABKIT_WEIGHTS_DIR at the real files)
    with open(Path(os.environ["LABKIT_WEIGHTS_DIR"]) / "imagenet_class_index.json", encoding="utf-8") as handle:
        classes = {int(index): (wnid, label) for index, (wnid, label) in json.load(handle).items()}
    rows = bundled_label_rows()
    unlabelled = [row["file"] for row in rows if not any((row["wnid"], row["class_index"], row["label"]))]
    assert unlabelled == ["raccoon.jpg", "whale_shark.jpg", "person.jpg"]
    for row in rows:
        if row["file"] not in unlabelled:
            assert classes[int(row["class_index"])] == (row["wnid"], row["label"]), row


def test_every_bundled_sample_is_credited_with_its_licence():
    credits = (BUNDLED_SAMPLES / "CREDITS.md").read_text(encoding="utf-8")
    table = {line.split("|")[1].strip(): line for line in credits.splitlines() if line.startswith("| ")}
    for row in bundled_label_rows():
        assert row["file"] in table, f"CREDITS.md does not credit {row['file']}"
        assert "CC0 1.0" in table[row["file"]] or "public domain" in table[row["file"]], table[row["file"]]


def test_every_bundled_sample_is_a_readable_photo():
    for row in bundled_label_rows():
        path = BUNDLED_SAMPLES / row["file"]
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here, not only a bad header
            assert image.format == "JPEG", f"{path.name} is {image.format}, expected JPEG"
            assert min(image.size) >= 224, f"{path.name} is {image.size}, smaller than the model's 224x224 input"


def test_no_notebook_mentions_the_course_shared_folder():
    # A student's clone has no ../shared beside it: lessons read data/ and labkit.datasets only.
    mentions = {
        path.name: path.read_text(encoding="utf-8").count("shared")
        for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    }
    assert mentions and not any(mentions.values()), f"notebooks mentioning 'shared': {mentions}"
