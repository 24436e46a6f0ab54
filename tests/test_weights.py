"""Where labkit finds MobileNetV2's weights and class index, and what a user reads when it cannot.

Order: an explicit path > $LABKIT_WEIGHTS_DIR > $KERAS_HOME/models > Keras' download. Each test builds its own
folders in tmp_path holding symlinks to the real files (never copies of 14 MB weights), and downloads only ever
go to loopback: a closed port (nothing found, download fails) or a tiny HTTP server this test starts.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labkit import weights
from labkit.weights import (
    CLASS_INDEX_FILE,
    NO_TOP_WEIGHTS_FILE,
    WEIGHTS_FILE,
    WeightsNotFound,
    load_class_index,
    readable_label,
    resolve_file,
    resolve_weights,
)

MODEL_FILES = (WEIGHTS_FILE, NO_TOP_WEIGHTS_FILE, CLASS_INDEX_FILE)
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port on loopback: nothing listens, so the connection is refused
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture(scope="module")
def real_models_dir() -> Path:
    """The folder with the real files (tests/conftest points LABKIT_WEIGHTS_DIR at ../shared/models)."""
    folder = Path(os.environ["LABKIT_WEIGHTS_DIR"])
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        pytest.fail(f"{folder} lacks {missing}: set LABKIT_WEIGHTS_DIR to the folder with the real model files.")
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No LABKIT_WEIGHTS_DIR, an empty Keras home in tmp, no proxy, and a fresh class-index cache."""
    monkeypatch.delenv("LABKIT_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for variable in PROXY_VARIABLES:  # a proxy would turn "loopback only" into a request to the proxy
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    load_class_index.cache_clear()
    yield tmp_path
    load_class_index.cache_clear()  # later tests must not reuse a class index read from a deleted tmp folder


@pytest.fixture
def offline(monkeypatch, isolated) -> Path:
    """Like ``isolated``, and every download is refused at once."""
    monkeypatch.setattr(weights, "WEIGHTS_ORIGIN", CLOSED_PORT)
    monkeypatch.setattr(weights, "CLASS_INDEX_ORIGIN", CLOSED_PORT)
    return isolated


def folder_with_model_files(folder: Path, source: Path, names=MODEL_FILES) -> Path:
    """Make ``folder`` hold symlinks to the real model files under Keras' names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(source / name)
    return folder


# --- resolution order -------------------------------------------------------------------------------------------


def test_an_explicit_path_wins_over_labkit_weights_dir_and_keras_cache(offline, real_models_dir, monkeypatch):
    labkit_dir = folder_with_model_files(offline / "labkit_dir", real_models_dir)
    folder_with_model_files(offline / "keras_home" / "models", real_models_dir)
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(labkit_dir))
    explicit = folder_with_model_files(offline / "mine", real_models_dir, [WEIGHTS_FILE]) / WEIGHTS_FILE

    assert resolve_weights(explicit) == explicit
    assert resolve_weights(str(explicit)) == explicit


def test_an_explicit_path_that_does_not_exist_is_an_error_even_if_other_places_have_the_file(
    offline, real_models_dir, monkeypatch
):
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(folder_with_model_files(offline / "labkit_dir", real_models_dir)))
    missing = offline / "typo" / WEIGHTS_FILE

    with pytest.raises(WeightsNotFound) as error:
        resolve_weights(missing)
    assert str(missing) in str(error.value)
    assert "check the path" in str(error.value)


def test_labkit_weights_dir_wins_over_keras_cache(offline, real_models_dir, monkeypatch):
    labkit_dir = folder_with_model_files(offline / "labkit_dir", real_models_dir)
    folder_with_model_files(offline / "keras_home" / "models", real_models_dir)
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(labkit_dir))

    assert resolve_weights() == labkit_dir / WEIGHTS_FILE
    assert resolve_weights(include_top=False) == labkit_dir / NO_TOP_WEIGHTS_FILE
    assert resolve_file(CLASS_INDEX_FILE, weights.CLASS_INDEX_ORIGIN) == labkit_dir / CLASS_INDEX_FILE


def test_keras_cache_is_used_when_labkit_weights_dir_is_unset(offline, real_models_dir):
    keras_models = folder_with_model_files(offline / "keras_home" / "models", real_models_dir)

    assert resolve_weights() == keras_models / WEIGHTS_FILE
    assert resolve_weights(include_top=False) == keras_models / NO_TOP_WEIGHTS_FILE


def test_keras_cache_is_used_when_labkit_weights_dir_lacks_the_file(offline, real_models_dir, monkeypatch):
    # A teacher's folder with only the class index: the weights still come from Keras' cache.
    labkit_dir = folder_with_model_files(offline / "labkit_dir", real_models_dir, [CLASS_INDEX_FILE])
    keras_models = folder_with_model_files(offline / "keras_home" / "models", real_models_dir)
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(labkit_dir))

    assert resolve_weights() == keras_models / WEIGHTS_FILE
    assert resolve_file(CLASS_INDEX_FILE, weights.CLASS_INDEX_ORIGIN) == labkit_dir / CLASS_INDEX_FILE


def test_labkit_weights_dir_accepts_a_home_relative_path(offline, real_models_dir, monkeypatch):
    folder_with_model_files(offline / "home" / "models", real_models_dir)
    monkeypatch.setenv("HOME", str(offline / "home"))
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", "~/models")

    assert resolve_weights() == offline / "home" / "models" / WEIGHTS_FILE


def test_class_index_from_keras_cache_lists_the_1000_classes_in_model_order(offline, real_models_dir):
    folder_with_model_files(offline / "keras_home" / "models", real_models_dir, [CLASS_INDEX_FILE])

    classes = load_class_index()

    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench")
    assert classes[207] == ("n02099601", "golden_retriever")
    assert classes[999] == ("n15075141", "toilet_tissue")


# --- nothing found ----------------------------------------------------------------------------------------------


def assert_tells_what_to_do(message: str) -> None:
    for name in MODEL_FILES:
        assert name in message, f"the message should name {name}:\n{message}"
    assert "LABKIT_WEIGHTS_DIR" in message


def test_no_weights_anywhere_and_no_network_raises_weights_not_found_saying_what_to_set(offline):
    with pytest.raises(WeightsNotFound) as error:
        resolve_weights()

    message = str(error.value)
    assert_tells_what_to_do(message)
    assert str(offline / "keras_home" / "models" / WEIGHTS_FILE) in message, "it should say where it looked"
    assert "download" in message


def test_no_class_index_anywhere_and_no_network_raises_weights_not_found(offline):
    with pytest.raises(WeightsNotFound) as error:
        load_class_index()

    assert_tells_what_to_do(str(error.value))


def test_weights_not_found_is_a_file_not_found_error(offline):
    # Code that already handles missing files (``except FileNotFoundError``) handles this too.
    with pytest.raises(FileNotFoundError):
        resolve_weights(include_top=False)


def test_an_empty_labkit_weights_dir_is_listed_among_the_places_looked_in(offline, monkeypatch):
    empty = offline / "empty_models"
    empty.mkdir()
    monkeypatch.setenv("LABKIT_WEIGHTS_DIR", str(empty))

    with pytest.raises(WeightsNotFound) as error:
        resolve_weights()

    assert str(empty / WEIGHTS_FILE) in str(error.value)


def test_with_download_disabled_nothing_found_fails_without_trying_the_network(isolated, monkeypatch):
    # An origin that would hang if contacted: the test finishing at all shows no download was attempted.
    monkeypatch.setattr(weights, "WEIGHTS_ORIGIN", "http://192.0.2.1/")  # TEST-NET-1, never routed

    with pytest.raises(WeightsNotFound) as error:
        resolve_weights(allow_download=False)

    assert WEIGHTS_FILE in str(error.value)
    assert "LABKIT_WEIGHTS_DIR" in str(error.value)


def test_classifier_without_any_model_files_raises_weights_not_found(offline):
    from labkit import Classifier

    with pytest.raises(WeightsNotFound) as error:
        Classifier()

    assert "LABKIT_WEIGHTS_DIR" in str(error.value)


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


def test_a_download_lands_in_keras_cache_and_is_found_there_next_time(loopback_server, tmp_path, monkeypatch):
    # A fresh Python, as a user gets: Keras reads KERAS_HOME when it is first imported.
    keras_home = tmp_path / "keras_home"
    environment = {
        key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES and key != "LABKIT_WEIGHTS_DIR"
    }
    environment.update(KERAS_HOME=str(keras_home), no_proxy="127.0.0.1,localhost", TF_CPP_MIN_LOG_LEVEL="3")
    script = (
        "import labkit.weights as w; "
        f"w.CLASS_INDEX_ORIGIN = {loopback_server + CLASS_INDEX_FILE!r}; "
        "print(w.load_class_index()[207])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "('n02099601', 'golden_retriever')"  # after Keras' progress bar
    downloaded = keras_home / "models" / CLASS_INDEX_FILE
    assert downloaded.is_file()

    # Next time, offline, the cached copy is found without the network.
    monkeypatch.delenv("LABKIT_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(weights, "CLASS_INDEX_ORIGIN", CLOSED_PORT)
    assert resolve_file(CLASS_INDEX_FILE, weights.CLASS_INDEX_ORIGIN) == downloaded


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


def test_every_imagenet_class_has_a_readable_label_without_underscores(real_models_dir):
    labels = [readable_label(label) for _, label in load_class_index()]

    assert len(labels) == 1000
    assert not [label for label in labels if "_" in label]
    assert all(label == label.strip() and label for label in labels)
