"""Which weights labkit runs, where it finds them, how it builds its own, and which calibration they get.

Order: an explicit path > $LABKIT_WEIGHTS_DIR > the weights built from the committed source (labkit's cache); Keras'
original weights only when asked for (``weights="keras-download"``). A calibration fits the weights it was fitted
for: CI's rebuild and labkit's own build are one model; Keras' original or a changed last layer are not, and get
a calibration of their own (fitted on imagenet-val-650) or say "uncalibrated".

Folders hold symlinks to the real files (never copies of 14 MB weights) unless a test changes a file; downloads
only ever go to loopback: a closed port or a tiny HTTP server this test starts.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from labkit import weights
from labkit.weights import (
    CLASS_INDEX_FILE,
    CLASS_INDEX_MD5,
    NO_TOP_WEIGHTS_FILE,
    SOURCE_FILE,
    WEIGHTS_FILE,
    DamagedWeightsSource,
    WeightsNotFound,
    built_weights_dir,
    check_source,
    keras_download_weights,
    load_class_index,
    readable_label,
    resolve_weights,
    weights_file_fingerprint,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_FILES = (WEIGHTS_FILE, NO_TOP_WEIGHTS_FILE, CLASS_INDEX_FILE)
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port on loopback: nothing listens, so the connection is refused
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
SCALE = 1.6  # a copy of the weights whose last layer is scaled by this: the same labels, other probabilities


@pytest.fixture(scope="module")
def real_models_dir() -> Path:
    """CI's folder of ready weights (the root conftest points LABKIT_WEIGHTS_DIR at ../shared/models)."""
    folder = Path(os.environ.get("LABKIT_WEIGHTS_DIR", ""))
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        pytest.fail(f"{folder} lacks {missing}: set LABKIT_WEIGHTS_DIR to CI's folder of model files.")
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No LABKIT_WEIGHTS_DIR, an empty Keras home and labkit cache in tmp, no proxy, Keras' download refused."""
    monkeypatch.delenv("LABKIT_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    for variable in PROXY_VARIABLES:  # a proxy would turn "loopback only" into a request to the proxy
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(weights, "WEIGHTS_ORIGIN", CLOSED_PORT)
    load_class_index.cache_clear()
    yield tmp_path
    load_class_index.cache_clear()  # later tests must not reuse a class index read from a deleted tmp folder


def folder_with_model_files(folder: Path, source: Path, names=MODEL_FILES) -> Path:
    """Make ``folder`` hold symlinks to the real model files under Keras' names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(source / name)
    return folder


# --- resolution order -------------------------------------------------------------------------------------------


def test_an_explicit_path_wins_over_labkit_weights_dir_and_the_built_weights(isolated, real_models_dir, monkeypatch):
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(folder_with_model_files(isolated / "labkit_dir", real_models_dir)))
    folder_with_model_files(built_weights_dir(), real_models_dir)
    explicit = folder_with_model_files(isolated / "mine", real_models_dir, [WEIGHTS_FILE]) / WEIGHTS_FILE

    assert resolve_weights(explicit) == explicit
    assert resolve_weights(str(explicit)) == explicit


def test_an_explicit_path_that_does_not_exist_is_an_error_even_if_other_places_have_the_file(
    isolated, real_models_dir, monkeypatch
):
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(folder_with_model_files(isolated / "labkit_dir", real_models_dir)))
    missing = isolated / "typo" / WEIGHTS_FILE

    with pytest.raises(WeightsNotFound) as error:
        resolve_weights(missing)
    assert str(missing) in str(error.value)
    assert "check the path" in str(error.value)


def test_labkit_weights_dir_wins_over_the_built_weights(isolated, real_models_dir, monkeypatch):
    labkit_dir = folder_with_model_files(isolated / "labkit_dir", real_models_dir)
    folder_with_model_files(built_weights_dir(), real_models_dir)
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(labkit_dir))

    assert resolve_weights() == labkit_dir / WEIGHTS_FILE
    assert resolve_weights(include_top=False) == labkit_dir / NO_TOP_WEIGHTS_FILE


def test_the_built_weights_are_used_when_labkit_weights_dir_is_unset_or_lacks_them(
    isolated, real_models_dir, monkeypatch
):
    built = folder_with_model_files(built_weights_dir(), real_models_dir, [WEIGHTS_FILE, NO_TOP_WEIGHTS_FILE])
    assert resolve_weights() == built / WEIGHTS_FILE

    # A teacher's folder with only the class index: the weights still come from the build.
    monkeypatch.setenv(
        "LABKIT_WEIGHTS_DIR", str(folder_with_model_files(isolated / "labkit_dir", real_models_dir, [CLASS_INDEX_FILE]))
    )
    assert resolve_weights(include_top=False) == built / NO_TOP_WEIGHTS_FILE


def test_labkit_weights_dir_accepts_a_home_relative_path(isolated, real_models_dir, monkeypatch):
    folder_with_model_files(isolated / "home" / "models", real_models_dir)
    monkeypatch.setenv("HOME", str(isolated / "home"))
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", "~/models")

    assert resolve_weights() == isolated / "home" / "models" / WEIGHTS_FILE


def test_keras_cache_is_never_used_unless_keras_download_is_asked_for(isolated, real_models_dir):
    # Keras' original weights in Keras' cache (from other work) are another model: labkit's default ignores them.
    keras_models = folder_with_model_files(isolated / "keras_home" / "models", real_models_dir)

    with pytest.raises(WeightsNotFound) as error:
        resolve_weights()
    assert "not built yet" in str(error.value) and "LABKIT_WEIGHTS_DIR" in str(error.value)
    assert keras_download_weights() == keras_models / WEIGHTS_FILE
    assert keras_download_weights(include_top=False) == keras_models / NO_TOP_WEIGHTS_FILE


def test_keras_download_offline_says_what_failed_and_what_to_do(isolated):
    with pytest.raises(WeightsNotFound) as error:
        keras_download_weights()

    message = str(error.value)
    assert WEIGHTS_FILE in message and str(isolated / "keras_home" / "models") in message
    assert "'imagenet'" in message  # labkit's own weights need no download


def test_weights_not_found_is_a_file_not_found_error(isolated):
    # Code that already handles missing files (``except FileNotFoundError``) handles this too.
    with pytest.raises(FileNotFoundError):
        resolve_weights(include_top=False)


# --- the class index ships with labkit --------------------------------------------------------------------------


def test_the_class_index_comes_with_labkit_and_is_keras_own_file(isolated):
    classes = load_class_index()

    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench")
    assert classes[207] == ("n02099601", "golden_retriever")
    assert classes[999] == ("n15075141", "toilet_tissue")
    assert hashlib.md5((SOURCE_FILE.parent / CLASS_INDEX_FILE).read_bytes()).hexdigest() == CLASS_INDEX_MD5


def test_labkit_weights_dirs_class_index_wins(isolated, real_models_dir, monkeypatch, tmp_path):
    edited = json.loads((real_models_dir / CLASS_INDEX_FILE).read_text())
    edited["0"] = ["n01440764", "tinca_tinca"]
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / CLASS_INDEX_FILE).write_text(json.dumps(edited))
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(tmp_path / "teacher"))

    assert load_class_index()[0] == ("n01440764", "tinca_tinca")


# --- the committed source ---------------------------------------------------------------------------------------


def test_the_committed_source_is_the_pinned_file_with_its_licence_and_notice():
    assert check_source() == SOURCE_FILE
    assert "Apache License" in (SOURCE_FILE.parent / "LICENSE").read_text()
    notice = (SOURCE_FILE.parent / "NOTICE").read_text()
    assert "104342d2d3480b3e66203073dac24f4e2dbb4c41" in notice and weights.SOURCE_SHA256 in notice
    tracked = subprocess.run(["git", "ls-files", "labkit/data/model"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert sorted(Path(line).name for line in tracked.stdout.split()) == sorted(
        ["LICENSE", "NOTICE", CLASS_INDEX_FILE, SOURCE_FILE.name]
    ), "commit the source despite .gitignore's *.tflite"


def test_a_damaged_source_is_named_and_nothing_is_left_in_the_cache(isolated, monkeypatch):
    damaged = isolated / SOURCE_FILE.name
    content = bytearray(SOURCE_FILE.read_bytes())
    content[len(content) // 2] ^= 0x01  # one byte changed
    damaged.write_bytes(bytes(content))
    monkeypatch.setattr(weights, "SOURCE_FILE", damaged)
    from labkit import rebuild

    monkeypatch.setattr(rebuild, "SOURCE_FILE", damaged)

    with pytest.raises(DamagedWeightsSource) as error:
        rebuild.imagenet_weights()

    message = str(error.value)
    assert str(damaged) in message and "sha256" in message and "git checkout" in message
    assert isinstance(error.value, WeightsNotFound)  # the command line's "no model" exit code
    assert not (isolated / "cache" / "weights").exists() or not any((isolated / "cache" / "weights").iterdir())


def test_a_missing_source_is_named(isolated):
    with pytest.raises(DamagedWeightsSource) as error:
        check_source(isolated / "gone.tflite")
    assert "gone.tflite is missing" in str(error.value)


# --- the build: the same model as CI's weights --------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Weights built from the committed source into a folder of their own."""
    from labkit.rebuild import build_weights

    return build_weights(folder=tmp_path_factory.mktemp("built") / "weights")


def kernels(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path, "r") as weights_file:

        def keep(name, item):
            if isinstance(item, h5py.Dataset) and (name.endswith("kernel") or name.startswith("predictions/")):
                arrays[name] = np.asarray(item)

        weights_file.visititems(keep)
    return arrays


@pytest.mark.slow
def test_the_built_weights_have_ci_kernels_bit_for_bit_and_the_same_fingerprint(built, real_models_dir):
    for name in (WEIGHTS_FILE, NO_TOP_WEIGHTS_FILE):
        ours, theirs = kernels(built / name), kernels(real_models_dir / name)
        assert sorted(ours) == sorted(theirs)
        assert all(np.array_equal(ours[key], theirs[key]) for key in ours)  # dequantizing is exact IEEE arithmetic
        assert weights_file_fingerprint(built / name) == weights_file_fingerprint(real_models_dir / name)
    from labkit.calibration import shipped_calibration

    assert shipped_calibration().fits(weights_file_fingerprint(built / WEIGHTS_FILE))


@pytest.mark.slow
def test_building_again_gives_the_same_files(built, tmp_path):
    from labkit.rebuild import build_weights

    again = build_weights(folder=tmp_path / "again")
    for name in (WEIGHTS_FILE, NO_TOP_WEIGHTS_FILE):
        assert (again / name).read_bytes() == (built / name).read_bytes()


@pytest.mark.slow
def test_the_built_weights_answer_like_cis_on_the_650_validation_photos(built, real_models_dir):
    from labkit import Classifier
    from labkit.calibrate import outputs_for_images
    from labkit.datasets import fetch
    from labkit.folders import read_labelled_folder

    photos = [item.path for item in read_labelled_folder(fetch("imagenet-val-650", progress=False))]
    photos += sorted((REPO_ROOT / "data" / "samples").glob("*.jpg"))
    answers = []
    for folder in (built, real_models_dir):
        classifier = Classifier.imagenet(folder / WEIGHTS_FILE, engine="keras")
        assert classifier.calibration is not None and classifier.calibration.temperature == 0.7001  # the shipped one
        answers.append(classifier.probabilities_from_logits(outputs_for_images(classifier, photos)[0]))
    ours, theirs = answers
    assert len(ours) == 650 + 18
    assert np.array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))
    assert np.abs(ours - theirs).max() < 0.005


# --- weights without a calibration --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaled_weights(real_models_dir, tmp_path_factory) -> Path:
    """A copy of CI's weights with the last layer (kernel and bias) scaled by SCALE, in a folder of Keras' names."""
    folder = tmp_path_factory.mktemp("scaled")
    path = folder / WEIGHTS_FILE
    shutil.copy(real_models_dir / WEIGHTS_FILE, path)
    with h5py.File(path, "r+") as weights_file:
        for name in ("predictions/predictions/kernel", "predictions/predictions/bias"):
            weights_file[name][...] = np.asarray(weights_file[name]) * np.float32(SCALE)
    return folder


def test_other_weights_are_told_apart_from_labkits(scaled_weights, real_models_dir):
    from labkit.calibration import shipped_calibration

    shipped = shipped_calibration()
    assert shipped.fits(weights_file_fingerprint(real_models_dir / WEIGHTS_FILE))
    assert not shipped.fits(weights_file_fingerprint(scaled_weights / WEIGHTS_FILE))
    assert not shipped.fits(None)


@pytest.mark.slow
def test_weights_without_a_calibration_calibrate_themselves_on_the_validation_photos(
    scaled_weights, monkeypatch, tmp_path, capfd
):
    from labkit import Classifier
    from labkit.calibration import shipped_calibration

    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    classifier = Classifier.imagenet(scaled_weights / WEIGHTS_FILE)

    calibration = classifier.calibration
    assert calibration is not None and calibration is not shipped_calibration()
    assert calibration.fits(classifier.weights_fingerprint)
    assert calibration.measured["held_out"]["after"]["ece"] <= 0.05
    assert calibration.temperature == pytest.approx(SCALE * shipped_calibration().temperature, rel=0.05)
    assert "no calibration yet" in capfd.readouterr().err
    assert classifier.classify(REPO_ROOT / "data" / "samples" / "beagle.jpg").calibrated

    again = Classifier.imagenet(scaled_weights / WEIGHTS_FILE)  # cached by fingerprint: not fitted again
    assert again.calibration == calibration
    assert "no calibration yet" not in capfd.readouterr().err


@pytest.fixture
def no_validation_photos(monkeypatch, tmp_path) -> dict[str, str]:
    """No LABKIT_DATA_DIR, an empty cache, and a mirror that refuses: imagenet-val-650 cannot be had."""
    settings = {"LABKIT_CACHE_DIR": str(tmp_path / "cache"), "LABKIT_DATASETS_URL": CLOSED_PORT}
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.mark.slow
def test_weights_without_a_calibration_and_no_validation_photos_say_uncalibrated(scaled_weights, no_validation_photos):
    from labkit.app import DashboardApp
    from labkit.app.views import card_html
    from labkit.model import Classifier
    from labkit.predict import UNCALIBRATED_MESSAGE

    classifier = Classifier.imagenet(scaled_weights / WEIGHTS_FILE)
    assert classifier.calibration is None and not classifier.calibrated

    # the app's card
    app = DashboardApp(lambda: classifier)
    result = app.classify_file(REPO_ROOT / "data" / "samples" / "beagle.jpg")
    assert result.prediction is not None and not result.prediction.calibrated
    assert "Uncalibrated: labkit has no calibration for these weights" in card_html(result)

    # the command line, as text and as JSON
    environment = {**os.environ, "LABKIT_WEIGHTS_DIR": str(scaled_weights), "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "labkit", "classify", "data/samples/beagle.jpg"]
    text = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert text.returncode == 0, text.stderr
    assert f"labkit: {UNCALIBRATED_MESSAGE}" in text.stderr
    as_json = subprocess.run(
        [*command, "--json"], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert json.loads(as_json.stdout)[0]["calibrated"] is False

    # the app's model note, for a LABKIT_WEIGHTS_DIR of other weights
    from labkit.app.catalogue import measured_accuracy

    assert "not the ones labkit was measured with" in measured_accuracy(weights=scaled_weights / WEIGHTS_FILE)


# --- Keras' download, against a loopback server -----------------------------------------------------------------


@pytest.fixture
def loopback_server(real_models_dir):
    """Serve the real model folder over HTTP on 127.0.0.1 (a stand-in for Keras' download site)."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(real_models_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_keras_download_lands_in_keras_cache_and_is_found_there_next_time(loopback_server, tmp_path, monkeypatch):
    # A fresh Python, as a user gets: Keras reads KERAS_HOME when it is first imported.
    keras_home = tmp_path / "keras_home"
    environment = {
        key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES and key != "LABKIT_WEIGHTS_DIR"
    }
    environment.update(KERAS_HOME=str(keras_home), no_proxy="127.0.0.1,localhost", TF_CPP_MIN_LOG_LEVEL="3")
    script = (
        "import labkit.weights as w; "
        f"w.WEIGHTS_ORIGIN = {loopback_server!r}; "
        "print(w.keras_download_weights(include_top=False))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    downloaded = keras_home / "models" / NO_TOP_WEIGHTS_FILE
    assert result.stdout.splitlines()[-1] == str(downloaded)  # after Keras' progress bar

    # Next time, offline, the cached copy is found without the network.
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(weights, "WEIGHTS_ORIGIN", CLOSED_PORT)
    assert keras_download_weights(include_top=False) == downloaded


# --- readable labels --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keras_label, readable",
    [
        ("golden_retriever", "golden retriever"),
        ("German_shepherd", "German shepherd"),  # proper nouns keep their capitals
        ("tabby", "tabby"),
        ("African_hunting_dog", "African hunting dog"),
        ("jack-o'-lantern", "jack-o'-lantern"),  # hyphens and apostrophes are part of the name
    ],
)
def test_readable_label_turns_underscores_into_spaces(keras_label, readable):
    assert readable_label(keras_label) == readable


def test_every_imagenet_class_has_a_readable_label_without_underscores():
    labels = [readable_label(label) for _, label in load_class_index()]

    assert len(labels) == 1000
    assert not [label for label in labels if "_" in label]
    assert all(label == label.strip() and label for label in labels)
