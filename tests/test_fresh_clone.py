"""The repository runs on its own, as a student gets it: a git clone with no course ``shared/`` folder beside it.

The clone is of this checkout's committed HEAD (uncommitted changes are not in it, as on a student's machine).
Nothing comes from outside: no LABKIT_WEIGHTS_DIR, an empty Keras home and an empty labkit cache, and every HTTP
request goes to a closed loopback port. There, labkit builds its weights from the committed source and the command
line classifies every photo of data/samples as CI's weights do, lessons 01 and 03 pass nbval, and
``python -m labkit fetch imagenet-val-650`` fills an empty cache from a loopback mirror (and refuses a damaged
file).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_datasets import DAMAGED, NAME, serve

from labkit.weights import WEIGHTS_FILE, readable_label

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
LESSONS = ["notebooks/01_images_are_arrays.ipynb", "notebooks/03_first_predictions.ipynb"]
CLOSED_PORT = "http://127.0.0.1:9/"  # nothing listens on loopback's discard port: any download is refused at once
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


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


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    """An empty Keras home and an empty labkit cache, shared by the clone's commands (the first one builds)."""
    root = tmp_path_factory.mktemp("student-home")
    return {"KERAS_HOME": root / "keras", "LABKIT_CACHE_DIR": root / "cache"}


def clone_environment(clone: Path, homes: dict[str, Path], **extra: str) -> dict[str, str]:
    """This environment pointed at the clone: its labkit first, no course folders, no weights, no network."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "LABKIT_DATA_DIR",
            "LABKIT_DATASETS_URL",
            "LABKIT_SHARED_DIR",
            "LABKIT_WEIGHTS_DIR",
            "PYTHONPATH",
            "no_proxy",
            "NO_PROXY",
        }
    }
    offline = dict.fromkeys(PROXY_VARIABLES, CLOSED_PORT)  # a download attempt fails at once, never hangs
    return {**env, **offline, "PYTHONPATH": str(clone), **{key: str(path) for key, path in homes.items()}, **extra}


def run(clone: Path, homes: dict[str, Path], command: list[str], **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=clone,
        env=clone_environment(clone, homes, **extra),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_the_clone_imports_its_own_labkit_and_holds_the_open_photos(clone, homes):
    done = run(clone, homes, [sys.executable, "-c", "import labkit; print(labkit.__file__)"])
    assert Path(done.stdout.strip()).parent == clone / "labkit", done.stderr
    assert len(list((clone / "data" / "samples").glob("*.jpg"))) == 18
    assert len(list((clone / "data" / "trashnet-mini").glob("*/*.jpg"))) == 240


def test_the_command_line_builds_the_weights_and_answers_every_photo_of_data_samples_like_cis(clone, homes):
    from labkit import Classifier

    with open(clone / "data" / "samples" / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = {row["file"]: row["label"] for row in csv.DictReader(handle)}
    photos = sorted(f"data/samples/{name}" for name in labels)
    done = run(clone, homes, [sys.executable, "-m", "labkit", "classify", "--top", "1000", "--json", *photos])
    assert done.returncode == 0, done.stderr
    assert "labkit: building MobileNetV2's weights from tf2_mobilenet_v2_1.0_224_ptq.tflite" in done.stderr
    assert "uncalibrated" not in done.stderr  # the built weights get the shipped calibration
    assert (homes["LABKIT_CACHE_DIR"] / "weights").is_dir()
    assert not homes["KERAS_HOME"].exists() or not any(homes["KERAS_HOME"].rglob("*.h5")), "Keras downloaded"
    answers = {answer["file"]: answer for answer in json.loads(done.stdout)}
    assert sorted(answers) == photos

    ci = Classifier.imagenet(Path(os.environ["LABKIT_WEIGHTS_DIR"]) / WEIGHTS_FILE)  # CI's weights, in this process
    for photo, answer in answers.items():
        assert answer["calibrated"] is True
        expected = ci.classify(clone / photo, top=1000)
        assert answer["top"][0]["class_index"] == expected.class_index, photo
        theirs = {score.class_index: score.probability for score in expected.top}
        assert max(abs(score["probability"] - theirs[score["class_index"]]) for score in answer["top"]) < 0.005
        label = labels[Path(photo).name]
        if label:  # the 15 photos of an ImageNet class: the first guess is that class
            assert answer["top"][0]["label"] == readable_label(label), (photo, answer["top"][0])


def test_lessons_01_and_03_pass_nbval_in_the_clone(clone, homes):
    done = run(
        clone, homes, [sys.executable, "-m", "pytest", *LESSONS, "-q", "-p", "no:cacheprovider", f"--rootdir={clone}"]
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_fetch_fills_an_empty_cache_from_a_mirror_and_refuses_a_damaged_file(clone, homes, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(Path(os.environ["LABKIT_DATA_DIR"]) / NAME, mirror / NAME)
    server, url = serve(mirror)
    try:
        cache = tmp_path / "cache"
        done = run(
            clone,
            homes,
            [sys.executable, "-m", "labkit", "fetch", NAME],
            LABKIT_DATASETS_URL=url,
            LABKIT_CACHE_DIR=str(cache),
            no_proxy="127.0.0.1",
        )
        assert done.returncode == 0, done.stderr
        folder = Path(done.stdout.strip().splitlines()[-1])
        assert folder == cache / "datasets" / NAME
        assert len(list((folder / "images").glob("*.JPEG"))) == 650 and (folder / "labels.csv").is_file()

        damaged = mirror / NAME / DAMAGED
        damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
        done = run(
            clone,
            homes,
            [sys.executable, "-m", "labkit", "fetch", NAME],
            LABKIT_DATASETS_URL=url,
            LABKIT_CACHE_DIR=str(tmp_path / "another-cache"),
            no_proxy="127.0.0.1",
        )
        assert done.returncode != 0 and f"{NAME}/{DAMAGED}" in done.stderr
        assert not (tmp_path / "another-cache" / "datasets" / NAME / DAMAGED).exists()
    finally:
        server.shutdown()
        server.server_close()


def test_binders_start_gets_the_model_ready_from_the_repository_alone(clone, tmp_path):
    # `start` builds the weights and converts the model once (one classification), then runs its arguments.
    homes = {"KERAS_HOME": tmp_path / "keras", "LABKIT_CACHE_DIR": tmp_path / "cache"}
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    done = run(clone, homes, ["./start", "echo", "server starts"], PATH=path)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "server starts", done.stderr
    assert "could not get the model ready" not in done.stderr
    assert list((tmp_path / "cache" / "weights").glob(f"*/{WEIGHTS_FILE}"))
    assert list((tmp_path / "cache" / "litert").glob("*.tflite"))


def test_start_on_a_machine_of_ones_own_uses_the_checkouts_venv(clone, homes, tmp_path):
    # docs/deploy.md's `./start true` after `make venv`: a fresh Debian or Ubuntu has no `python` command, and its
    # python3 has none of labkit's dependencies (here a python3 first on PATH that fails, to tell them apart).
    venv = clone / ".venv"
    venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    system_python = tmp_path / "bin" / "python3"
    system_python.parent.mkdir()
    system_python.symlink_to(shutil.which("false") or "/bin/false")
    try:
        path = os.pathsep.join([str(system_python.parent), "/usr/bin", "/bin"])
        done = run(clone, homes, ["./start", "echo", "server starts"], PATH=path)
    finally:
        venv.unlink()
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "server starts", done.stderr
    assert "could not get the model ready" not in done.stderr, done.stderr
    assert list((homes["LABKIT_CACHE_DIR"] / "litert").glob("*.tflite"))
