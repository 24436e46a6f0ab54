"""The web app's state and widgets, driven from Python without a browser (the browser tests are in tests/browser).

The same code path the page uses: FileUpload's value, the drop zone's and gallery's messages, DashboardApp.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import ipywidgets as widgets
import numpy as np
import pytest

from labkit.dashboard import (MAX_UPLOAD_BYTES, DashboardApp, DropZone, SampleGallery, build_dashboard,
                              result_card)
from labkit.images import load_image
from labkit.model import shared_classifier
from labkit.predict import ClassScore, Prediction
from labkit.weights import WeightsNotFound, readable_label

ZEBRA, PENGUIN = "340_zebra.jpg", "145_king_penguin.jpg"  # photos the model gets right with a wide margin


@pytest.fixture(scope="module")
def classifier():
    return shared_classifier()


@pytest.fixture
def app(classifier) -> DashboardApp:
    return DashboardApp(lambda: classifier)


@pytest.fixture
def label_of(sample_labels):
    labels = {row["file"]: readable_label(row["label"]) for row in sample_labels}
    return labels.__getitem__


def widgets_of(root: widgets.Widget, kind: type = widgets.Widget, css_class: str | None = None) -> list:
    """Every widget of ``kind`` (and with ``css_class``, if given) in the layout under ``root``."""
    found = [root] if isinstance(root, kind) and (css_class is None or css_class in root._dom_classes) else []
    for child in getattr(root, "children", ()):
        found += widgets_of(child, kind, css_class)
    return found


def test_a_photo_classified_from_python_goes_on_top_with_its_label(app, samples_dir, label_of):
    app.classify_file(samples_dir / PENGUIN)
    result = app.classify_bytes(ZEBRA, (samples_dir / ZEBRA).read_bytes())

    assert result.error is None
    assert result.prediction.label == label_of(ZEBRA)
    assert [earlier.name for earlier in app.results] == [ZEBRA, PENGUIN]  # newest first
    page_text = result.card.children[0].value
    assert label_of(ZEBRA) in page_text and ZEBRA in page_text


def test_a_bad_file_gets_its_own_message_and_the_next_photo_still_works(app, samples_dir, label_of):
    bad = app.classify_bytes("notes.pdf", b"%PDF-1.7 not a photo")
    good = app.classify_file(samples_dir / ZEBRA)

    assert bad.prediction is None
    assert "'notes.pdf' is not an image: it looks like a PDF document" in bad.error
    assert "notes.pdf" in bad.card.children[0].value
    assert good.prediction.label == label_of(ZEBRA)
    assert [result.name for result in app.results] == [ZEBRA, "notes.pdf"]


def test_a_photo_arriving_before_the_model_is_ready_waits_for_it(classifier, samples_dir, label_of):
    loaded = threading.Event()
    app = DashboardApp(lambda: loaded.wait() and classifier)
    assert app.status == "loading"

    waiting = threading.Thread(target=app.classify_file, args=(samples_dir / ZEBRA,))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and app.busy == 1 and app.results == ()

    loaded.set()
    waiting.join(timeout=30)
    assert app.status == "ready" and "Ready: MobileNetV2" in app.status_message
    assert app.results[0].prediction.label == label_of(ZEBRA)


def test_when_the_model_cannot_load_the_page_says_why_and_cards_repeat_it(samples_dir, caplog):
    def missing_weights():
        raise WeightsNotFound("Could not find the weights. What to do: set LABKIT_WEIGHTS_DIR.")

    labkit_log = logging.getLogger("labkit")  # the app logs here (to the server's terminal, not the page)
    labkit_log.addHandler(caplog.handler)
    try:
        app = DashboardApp(missing_weights)
        result = app.classify_file(samples_dir / ZEBRA)
    finally:
        labkit_log.removeHandler(caplog.handler)

    assert app.status == "failed"
    assert "set LABKIT_WEIGHTS_DIR" in app.status_message
    assert "set LABKIT_WEIGHTS_DIR" in result.error
    assert "Could not load the model" in caplog.text  # and the traceback is in the server's log


def test_an_upload_is_classified_and_emptied_from_the_widget(app, samples_dir, label_of):
    page = build_dashboard(app)
    upload = widgets_of(page, widgets.FileUpload)[0]
    photos = [samples_dir / ZEBRA, samples_dir / PENGUIN]

    # What the browser sends when files are chosen (the same JSON and buffers, through ipywidgets' deserializer).
    upload.set_state({"value": [{"name": path.name, "type": "image/jpeg", "size": path.stat().st_size,
                                 "content": memoryview(path.read_bytes()), "last_modified": 0} for path in photos]})

    assert upload.value == ()  # the bytes do not linger in the widget
    assert sorted(result.prediction.label for result in app.results) == sorted(map(label_of, [ZEBRA, PENGUIN]))
    results_box = widgets_of(page, css_class="labkit-results")[0]
    assert list(results_box.children) == [result.card for result in app.results]


def test_drop_zone_photos_are_classified_and_oversized_files_named(app, samples_dir, label_of):
    page = build_dashboard(app)
    drop_zone = widgets_of(page, DropZone)[0]

    # What the browser sends: one custom message per photo, its bytes as a buffer.
    drop_zone._handle_custom_msg({"kind": "photo", "name": ZEBRA}, [memoryview((samples_dir / ZEBRA).read_bytes())])
    drop_zone._handle_custom_msg({"kind": "too_large", "name": "scan.tiff", "size": 40_000_000}, [])

    too_large, dropped = app.results
    assert dropped.prediction.label == label_of(ZEBRA)
    assert f"'scan.tiff' is 40 MB, over the {MAX_UPLOAD_BYTES // 1_000_000} MB upload limit" in too_large.error


def test_the_gallery_classifies_its_samples_and_nothing_else(app, repo_root):
    page = build_dashboard(app)
    gallery = widgets_of(page, SampleGallery)[0]
    sample = gallery.samples[0]
    assert sample["thumbnail"].startswith("data:image/jpeg;base64,")
    assert (repo_root / "data" / "samples" / sample["file"]).is_file()

    gallery._handle_custom_msg({"kind": "sample", "file": "../../pyproject.toml"}, [])
    assert app.results == ()
    gallery._handle_custom_msg({"kind": "sample", "file": sample["file"]}, [])
    assert app.results[0].name == f"Sample photo: {sample['label']}"
    assert app.results[0].prediction is not None


def test_clear_removes_every_result_and_disables_itself(app, samples_dir):
    page = build_dashboard(app)
    clear = [button for button in widgets_of(page, widgets.Button) if button.description == "Clear results"][0]
    app.classify_file(samples_dir / ZEBRA)
    assert not clear.disabled

    card = app.results[0].card
    clear.click()
    assert app.results == () and clear.disabled
    assert card.comm is None and all(child.comm is None for child in card.children)  # freed, not just hidden


def test_a_doubtful_prediction_says_so_in_words_and_the_chart_has_alt_text(samples_dir):
    guesses = (ClassScore("hyena", 276, "n02117135", 0.41), ClassScore("baboon", 372, "n02486410", 0.27),
               ClassScore("African elephant", 386, "n02504458", 0.09))
    doubtful = Prediction(top=guesses, elapsed_ms=12.0, logits=np.zeros(1000), not_sure=True)
    card = result_card("lion.jpg", load_image(samples_dir / "291_lion.jpg"), doubtful)
    body = card.children[0].value

    assert "Not sure:" in body and "41%" in body
    assert 'alt="Bar chart of the top 3 guesses: hyena 41%, baboon 27%, African elephant 9%.' in body
    assert 'alt="Your photo, lion.jpg"' in body
    assert "Answered in 12 ms" in body
    actions = card.children[-1]
    assert "labkit-card-actions" in actions._dom_classes and actions.children == ()  # room for "where it looked"


def test_file_names_cannot_inject_html(app):
    result = app.classify_bytes('<img src=x onerror="alert(1)">.jpg', b"")
    assert "<img src=x" not in result.card.children[0].value
    assert "&lt;img src=x" in result.card.children[0].value


@pytest.mark.slow  # two Voilà start-ups, ~5 s each
def test_voila_reads_its_limits_from_voila_json_in_the_current_folder(repo_root, tmp_path):
    # Voilà looks for voila.json in its current folder first (Voila.config_file_paths = [os.getcwd(), ...]),
    # so `make app` runs it from the repository root. From anywhere else, the defaults apply.
    probe = ("import json, tempfile, sys\n"
             "from voila.app import Voila\n"
             "app = Voila()\n"
             "app.initialize([sys.argv[1]])\n"
             "app.connection_dir = tempfile.mkdtemp()\n"
             "app.init_settings()\n"
             "print(json.dumps({'websocket': app.tornado_settings.get('websocket_max_message_size'),\n"
             "                  'strip_sources': app.voila_configuration.strip_sources,\n"
             "                  'cull_idle_timeout': app.kernel_manager.cull_idle_timeout,\n"
             "                  'cull_interval': app.kernel_manager.cull_interval}))\n")
    notebook = str(repo_root / "notebooks" / "dashboard.ipynb")

    def settings(cwd):
        run = subprocess.run([sys.executable, "-c", probe, notebook], cwd=cwd, capture_output=True, text=True,
                             check=True)
        return json.loads(run.stdout.strip().splitlines()[-1])

    from_repo = settings(repo_root)
    configured = json.loads((repo_root / "voila.json").read_text())
    assert from_repo["websocket"] == configured["Voila"]["tornado_settings"]["websocket_max_message_size"]
    assert from_repo["websocket"] >= MAX_UPLOAD_BYTES + 1_000_000  # a full-size photo and its message header fit
    assert from_repo["strip_sources"] is True
    assert from_repo["cull_idle_timeout"] == configured["MappingKernelManager"]["cull_idle_timeout"] > 0
    assert from_repo["cull_interval"] > 0
    assert settings(tmp_path)["websocket"] is None  # proof that it was the file in the repository root
