"""The repository runs on its own, as a student gets it: a git clone with no course ``shared/`` folder beside it.

The clone is of this checkout's committed HEAD (uncommitted changes are not in it, as on a student's machine).
There, the command line classifies every photo of data/samples, lessons 01 and 03 pass nbval, and
``python -m labkit fetch imagenet-val-650`` fills an empty cache from a loopback mirror (and refuses a damaged
file). Only the weights come from outside, through LABKIT_WEIGHTS_DIR, as README's Weights section allows.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_datasets import DAMAGED, NAME, serve

from labkit.weights import readable_label

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
LESSONS = ["notebooks/01_images_are_arrays.ipynb", "notebooks/03_first_predictions.ipynb"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A git clone of this checkout's HEAD, in a folder with nothing else beside it."""
    parent = tmp_path_factory.mktemp("student")
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(parent / "labkit")], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    cloned = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=parent / "labkit", capture_output=True, text=True, check=True
    )
    assert cloned.stdout == head.stdout, "the clone is not of this checkout's HEAD"
    assert sorted(path.name for path in parent.iterdir()) == ["labkit"]  # no ../shared beside it
    return parent / "labkit"


def clone_environment(clone: Path, **extra: str) -> dict[str, str]:
    """This environment pointed at the clone: its labkit first, no course folders except the weights."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"LABKIT_DATA_DIR", "LABKIT_DATASETS_URL", "LABKIT_SHARED_DIR", "PYTHONPATH"}
    }
    return {**env, "PYTHONPATH": str(clone), "LABKIT_WEIGHTS_DIR": os.environ["LABKIT_WEIGHTS_DIR"], **extra}


def run(clone: Path, command: list[str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=clone,
        env=clone_environment(clone, **extra),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_the_clone_imports_its_own_labkit_and_holds_the_open_photos(clone):
    done = run(clone, [sys.executable, "-c", "import labkit; print(labkit.__file__)"])
    assert Path(done.stdout.strip()).parent == clone / "labkit", done.stderr
    assert len(list((clone / "data" / "samples").glob("*.jpg"))) == 18
    assert len(list((clone / "data" / "trashnet-mini").glob("*/*.jpg"))) == 240


def test_the_command_line_classifies_every_photo_of_data_samples(clone):
    with open(clone / "data" / "samples" / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = {row["file"]: row["label"] for row in csv.DictReader(handle)}
    photos = sorted(f"data/samples/{name}" for name in labels)
    done = run(clone, [sys.executable, "-m", "labkit", "classify", *photos])
    assert done.returncode == 0, done.stderr
    answers = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert sorted(answers) == photos
    for photo, answer in answers.items():
        label = labels[Path(photo).name]
        if label:  # the 15 photos of an ImageNet class: the first guess is that class
            assert answer.startswith(f"{readable_label(label)} "), (photo, answer)


def test_lessons_01_and_03_pass_nbval_in_the_clone(clone):
    done = run(clone, [sys.executable, "-m", "pytest", *LESSONS, "-q", "-p", "no:cacheprovider", f"--rootdir={clone}"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_fetch_fills_an_empty_cache_from_a_mirror_and_refuses_a_damaged_file(clone, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(Path(os.environ["LABKIT_DATA_DIR"]) / NAME, mirror / NAME)
    server, url = serve(mirror)
    try:
        cache = tmp_path / "cache"
        done = run(
            clone, [sys.executable, "-m", "labkit", "fetch", NAME], LABKIT_DATASETS_URL=url, LABKIT_CACHE_DIR=str(cache)
        )
        assert done.returncode == 0, done.stderr
        folder = Path(done.stdout.strip().splitlines()[-1])
        assert folder == cache / "datasets" / NAME
        assert len(list((folder / "images").glob("*.JPEG"))) == 650 and (folder / "labels.csv").is_file()

        damaged = mirror / NAME / DAMAGED
        damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
        done = run(
            clone,
            [sys.executable, "-m", "labkit", "fetch", NAME],
            LABKIT_DATASETS_URL=url,
            LABKIT_CACHE_DIR=str(tmp_path / "another-cache"),
        )
        assert done.returncode != 0 and f"{NAME}/{DAMAGED}" in done.stderr
        assert not (tmp_path / "another-cache" / "datasets" / NAME / DAMAGED).exists()
    finally:
        server.shutdown()
        server.server_close()


def test_binders_start_gets_the_model_ready_from_the_repository_alone(clone, tmp_path):
    # `start` copies the weights into Keras' cache, classifies a photo of data/samples, then runs its arguments.
    keras_home = tmp_path / "keras"
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    done = run(clone, ["./start", "echo", "server starts"], KERAS_HOME=str(keras_home), PATH=path)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "server starts", done.stderr
    assert "could not get the model ready" not in done.stderr
    assert (keras_home / "models" / "imagenet_class_index.json").is_file()
