"""The web app's state, views and widgets, driven from Python without a browser (browser tests: tests/browser).

The same code path the page uses: FileUpload's value, the drop zone's and gallery's messages, DashboardApp. Tests
read what a user would see through the views (``result_html(result)`` is a card's HTML) or find widgets by their
kind, description or CSS class, never by their position in the page.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import json
import logging
import subprocess
import sys
import threading

import h5py
import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from labkit.app import (
    GRADCAM_ERROR,
    MAX_UPLOAD_BYTES,
    MODEL_DESCRIPTION,
    DashboardApp,
    DropZone,
    Result,
    SampleGallery,
    WhereItLooked,
    build_dashboard,
    exported_model,
    imagenet_model,
    problem_html,
    result_html,
    where_it_looked,
)
from labkit.app.pictures import preview_jpeg
from labkit.export import describe_export, export_model
from labkit.images import load_image
from labkit.model import Classifier, shared_classifier
from labkit.predict import ClassScore, Prediction
from labkit.weights import WeightsNotFound, readable_label

ZEBRA, PENGUIN = "340_zebra.jpg", "145_king_penguin.jpg"  # photos the model gets right with a wide margin
TINY_CLASSES = ["cat", "dog"]


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


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A models folder holding one export, "tiny": an untrained two-class convolutional model (fast to build)."""
    import keras

    inputs = keras.Input((224, 224, 3))
    features = keras.layers.Conv2D(4, 3, strides=8, activation="relu", name="features")(inputs)
    logits = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(features))
    classifier = Classifier.from_keras(keras.Model(inputs, logits), class_names=TINY_CLASSES)
    models = tmp_path_factory.mktemp("models")
    export_model(classifier, models / "tiny", litert=False)
    return models / "tiny"


class QueuedRuns:
    """Given as ``run_gradcam``: keeps each Grad-CAM computation until the test runs it, in the test's thread."""

    def __init__(self) -> None:
        self.waiting: list = []

    def __call__(self, job) -> None:
        self.waiting.append(job)

    def run_all(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()


def run_now(job) -> None:
    """Given as ``run_gradcam``: compute at once, in the caller's thread (no thread for the test to wait on)."""
    job()


def widgets_of(root: widgets.Widget, kind: type = widgets.Widget, css_class: str | None = None) -> list:
    """Every widget of ``kind`` (and with ``css_class``, if given) in the layout under ``root``."""
    found = [root] if isinstance(root, kind) and (css_class is None or css_class in root._dom_classes) else []
    for child in getattr(root, "children", ()):
        found += widgets_of(child, kind, css_class)
    return found


def text_of(root: widgets.Widget) -> str:
    """All the HTML shown under ``root``."""
    return "".join(widget.value for widget in widgets_of(root, widgets.HTML))


def test_a_photo_classified_from_python_goes_on_top_with_its_label(app, samples_dir, label_of):
    app.classify_file(samples_dir / PENGUIN)
    result = app.classify_bytes(ZEBRA, (samples_dir / ZEBRA).read_bytes())

    assert result.error is None
    assert result.prediction.label == label_of(ZEBRA)
    assert [earlier.name for earlier in app.results] == [ZEBRA, PENGUIN]  # newest first
    shown = result_html(result)
    assert label_of(ZEBRA) in shown and ZEBRA in shown


def test_a_bad_file_gets_its_own_message_and_the_next_photo_still_works(app, samples_dir, label_of):
    bad = app.classify_bytes("notes.pdf", b"%PDF-1.7 not a photo")
    good = app.classify_file(samples_dir / ZEBRA)

    assert bad.prediction is None
    assert "'notes.pdf' is not an image: it looks like a PDF document" in bad.error
    assert "notes.pdf" in problem_html(bad) and html.escape(bad.error) in problem_html(bad)
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
    upload.set_state(
        {
            "value": [
                {
                    "name": path.name,
                    "type": "image/jpeg",
                    "size": path.stat().st_size,
                    "content": memoryview(path.read_bytes()),
                    "last_modified": 0,
                }
                for path in photos
            ]
        }
    )

    assert upload.value == ()  # the bytes do not linger in the widget
    assert sorted(result.prediction.label for result in app.results) == sorted(map(label_of, [ZEBRA, PENGUIN]))
    cards = widgets_of(page, css_class="labkit-card-result")
    assert len(cards) == 2
    for card, result in zip(cards, app.results, strict=True):  # newest first, like the results
        assert f"Result for {result.name}" in text_of(card) and result.prediction.label in text_of(card)


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

    card = widgets_of(page, css_class="labkit-card")[0]
    clear.click()
    assert app.results == () and clear.disabled
    assert widgets_of(page, css_class="labkit-card") == [] and "No photos yet" in text_of(page)
    assert all(widget.comm is None for widget in widgets_of(card))  # freed, not just hidden


def test_a_doubtful_prediction_says_so_in_words_and_the_chart_has_alt_text(classifier, samples_dir):
    guesses = (
        ClassScore("hyena", 276, "n02117135", 0.41),
        ClassScore("baboon", 372, "n02486410", 0.27),
        ClassScore("African elephant", 386, "n02504458", 0.09),
    )
    doubtful = Prediction(top=guesses, elapsed_ms=12.0, logits=np.zeros(1000), not_sure=True)
    preview = preview_jpeg(load_image(samples_dir / "291_lion.jpg"))
    result = Result("lion.jpg", doubtful, model="MobileNetV2", preview=preview)
    body = result_html(result)

    assert (
        "<strong>Not sure:</strong> this is probably none of the 1000 things I know. Treat the answer as a guess."
    ) in body
    assert 'alt="Bar chart of the top 3 guesses: hyena 41%, baboon 27%, African elephant 9%.' in body
    assert 'alt="Your photo, lion.jpg"' in body
    assert 'Answered by <span class="labkit-answered-by">MobileNetV2</span> in 12 ms' in body
    app = DashboardApp(lambda: classifier, start=False)
    page = build_dashboard(app)
    app.results = (result,)
    assert len(widgets_of(page, css_class="labkit-card-result")) == 1
    assert widgets_of(page, WhereItLooked) == []  # nothing to explain with: no button


def test_a_hesitant_answer_gets_the_low_confidence_note_naming_the_runner_up_not_the_not_sure_note(samples_dir):
    guesses = (
        ClassScore("cab", 468, "n02930766", 0.43),
        ClassScore("limousine", 627, "n03670208", 0.31),
        ClassScore("minivan", 656, "n03770679", 0.08),
    )
    hesitant = Prediction(top=guesses, elapsed_ms=9.0, logits=np.zeros(1000), low_confidence=True)

    preview = preview_jpeg(load_image(samples_dir / "291_lion.jpg"))
    body = result_html(Result("taxi.jpg", hesitant, model="MobileNetV2", preview=preview))

    assert (
        "<strong>Low confidence:</strong> it hesitates between cab (43%) and limousine (31%). Treat the answer "
        "as a guess."
    ) in body
    assert "Not sure" not in body and "labkit-doubt-low_confidence" in body


def test_a_near_certain_answer_never_reads_100_percent(samples_dir):
    guesses = (ClassScore("zebra", 340, "n02391049", 0.9996), ClassScore("hartebeest", 351, "n02422106", 0.0003))
    sure = Prediction(top=guesses, elapsed_ms=9.0, logits=np.zeros(1000))

    preview = preview_jpeg(load_image(samples_dir / "340_zebra.jpg"))
    body = result_html(Result("zebra.jpg", sure, model="MobileNetV2", preview=preview))

    assert "100%" not in body
    assert ">99%" in html.unescape(body) and "<1%" in html.unescape(body)
    assert "labkit-doubt" not in body


def test_the_not_sure_note_speaks_of_the_models_own_classes():
    confident = Prediction(
        top=(ClassScore("glass", 0, "glass", 0.97),), elapsed_ms=5.0, logits=np.zeros(2), not_sure=True
    )
    body = result_html(Result("jar.jpg", confident, model="trashnet", preview=preview_jpeg(Image.new("RGB", (64, 64)))))

    assert "<strong>Not sure:</strong> this is probably none of the 2 classes I was taught." in body
    assert "gets only" not in body  # a confident answer can still be about something the model was never taught
    assert 'Answered by <span class="labkit-answered-by">trashnet</span>' in body


def test_colour_noise_gets_the_not_sure_note_from_the_real_model(app):
    rng = np.random.default_rng(0)
    noise = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(noise, format="PNG")

    result = app.classify_bytes("noise.png", noise.getvalue())

    assert result.prediction.not_sure
    assert "Not sure:</strong> this is probably none of the 1000 things I know" in result_html(result)


def test_show_where_it_looked_computes_the_overlay_on_first_opening_only(app, samples_dir, label_of):
    runs = QueuedRuns()
    page = build_dashboard(app, run_gradcam=runs)
    app.classify_file(samples_dir / PENGUIN)
    app.classify_file(samples_dir / ZEBRA)
    toggle = widgets_of(page, WhereItLooked)[0]  # the newest card's
    assert (toggle.state, toggle.overlay, runs.waiting) == ("idle", "", [])  # nothing computed until asked
    assert toggle.alt == (
        f"Heatmap of where the model looked for '{label_of(ZEBRA)}': warm colours mark the "
        "regions that raised that class's score"
    )

    toggle.expanded = True  # what the button's click sends
    assert toggle.state == "working" and len(runs.waiting) == 1
    runs.run_all()

    assert toggle.state == "ready" and toggle.message == ""
    assert toggle.overlay.startswith("data:image/jpeg;base64,")
    overlay = Image.open(io.BytesIO(base64.b64decode(toggle.overlay.split(",", 1)[1])))
    preview = Image.open(io.BytesIO(preview_jpeg(load_image(samples_dir / ZEBRA))))
    assert overlay.size == preview.size  # drawn on the card's preview
    assert np.abs(np.asarray(overlay, float) - np.asarray(preview, float)).mean() > 10  # and coloured
    toggle.expanded = False
    toggle.expanded = True
    assert runs.waiting == [] and toggle.state == "ready"  # shown again, not recomputed
    assert widgets_of(page, WhereItLooked)[1].state == "idle"  # the other card computed nothing


def test_where_it_looked_failing_says_so_in_the_card_and_can_be_retried(classifier, samples_dir):
    preview = preview_jpeg(load_image(samples_dir / ZEBRA))
    out_of_range = WhereItLooked(
        preview, "zebra", functools.partial(where_it_looked, classifier, class_index=5000), run=run_now
    )
    out_of_range.expanded = True
    assert out_of_range.state == "failed"
    assert "class_index 5000 is out of range" in out_of_range.message  # labkit.explain's own words

    attempts = []

    def flaky(photo: Image.Image) -> Image.Image:
        attempts.append(photo.size)
        if len(attempts) == 1:
            raise MemoryError("out of memory")
        return photo

    toggle = WhereItLooked(preview, "zebra", flaky, run=run_now)
    toggle.expanded = True
    assert (toggle.state, toggle.message) == ("failed", GRADCAM_ERROR)  # no traceback in the page
    toggle.expanded = False
    toggle.expanded = True  # opening it again tries again
    assert toggle.state == "ready" and len(attempts) == 2


# ---------------------------------------------------------------------------------------------- model picker


def test_the_picker_lists_imagenet_and_each_export_in_the_models_folder(tiny_export, monkeypatch):
    monkeypatch.setenv("LABKIT_MODELS_DIR", str(tiny_export.parent))
    monkeypatch.delenv("LABKIT_MODEL", raising=False)
    page = build_dashboard(DashboardApp(start=False))
    picker = widgets_of(page, widgets.Dropdown)[0]

    assert picker.description == "Model"
    assert list(picker.options) == [
        (MODEL_DESCRIPTION, "imagenet"),
        (describe_export(tiny_export), str(tiny_export.resolve())),
    ]
    assert describe_export(tiny_export) == "tiny: cat, dog"
    assert picker.value == "imagenet"


def test_switching_models_loads_each_once_and_earlier_cards_stay(classifier, tiny_export, samples_dir, label_of):
    loads = []

    def counted(option):
        return dataclasses.replace(option, load=lambda: loads.append(option.name) or option.load())

    app = DashboardApp(models=[counted(imagenet_model(lambda: classifier)), counted(exported_model(tiny_export))])
    page = build_dashboard(app, run_gradcam=run_now)
    picker = widgets_of(page, widgets.Dropdown)[0]
    app.classifier()
    app.classify_file(samples_dir / ZEBRA)

    picker.value = str(tiny_export.resolve())  # what the browser sends when the user picks "tiny"
    assert app.status == "loading" and app.status_message == "Loading tiny…"
    app.classifier(timeout=120)
    assert app.status_message == "Ready: tiny (cat, dog) — drop a photo"
    tiny, zebra = app.classify_file(samples_dir / PENGUIN), app.results[1]

    assert tiny.prediction.label in TINY_CLASSES and tiny.model == "tiny"
    assert 'Answered by <span class="labkit-answered-by">tiny</span>' in result_html(tiny)
    where = widgets_of(page, WhereItLooked)[0]  # the newest card's
    where.expanded = True  # Grad-CAM works on an exported model's card too (its model.keras)
    assert where.state == "ready" and f"looked for '{tiny.prediction.label}'" in where.alt
    assert zebra.prediction.label == label_of(ZEBRA) and zebra.model == "MobileNetV2"  # still on the page
    assert "Fine-tuned to tell apart 2 classes: cat, dog." in widgets_of(page, css_class="labkit-model-note")[0].value

    picker.value = "imagenet"
    assert app.status == "ready"  # already loaded: no wait
    assert app.classify_file(samples_dir / ZEBRA).prediction.label == label_of(ZEBRA)
    assert loads == ["MobileNetV2", "tiny"]


def test_labkit_model_chooses_the_model_a_class_starts_with(tiny_export, samples_dir, monkeypatch):
    monkeypatch.setenv("LABKIT_MODELS_DIR", str(tiny_export.parent))
    monkeypatch.setenv("LABKIT_MODEL", "tiny")  # a folder name in the models folder, or a path
    app = DashboardApp()
    assert app.current_model.name == "tiny"
    assert app.classify_file(samples_dir / ZEBRA).prediction.label in TINY_CLASSES

    monkeypatch.setenv("LABKIT_MODEL", str(samples_dir))  # a folder, but no export
    broken = DashboardApp()
    result = broken.classify_file(samples_dir / ZEBRA)
    assert broken.status == "failed"
    assert "is not a labkit export (no labkit.json in it)" in broken.status_message
    assert "is not a labkit export" in result.error  # the card repeats it; the page still works


def test_file_names_cannot_inject_html(app):
    result = app.classify_bytes('<img src=x onerror="alert(1)">.jpg', b"")
    assert "<img src=x" not in problem_html(result)
    assert "&lt;img src=x" in problem_html(result)


@pytest.mark.slow  # two Voilà start-ups, ~5 s each
def test_voila_reads_its_limits_from_voila_json_in_the_current_folder(repo_root, tmp_path):
    # Voilà looks for voila.json in its current folder first (Voila.config_file_paths = [os.getcwd(), ...]),
    # so `make app` runs it from the repository root. From anywhere else, the defaults apply.
    probe = (
        "import json, tempfile, sys\n"
        "from voila.app import Voila\n"
        "app = Voila()\n"
        "app.initialize([sys.argv[1]])\n"
        "app.connection_dir = tempfile.mkdtemp()\n"
        "app.init_settings()\n"
        "print(json.dumps({'websocket': app.tornado_settings.get('websocket_max_message_size'),\n"
        "                  'strip_sources': app.voila_configuration.strip_sources,\n"
        "                  'cull_idle_timeout': app.kernel_manager.cull_idle_timeout,\n"
        "                  'cull_interval': app.kernel_manager.cull_interval}))\n"
    )
    notebook = str(repo_root / "notebooks" / "dashboard.ipynb")

    def settings(cwd):
        run = subprocess.run(
            [sys.executable, "-c", probe, notebook], cwd=cwd, capture_output=True, text=True, check=True
        )
        return json.loads(run.stdout.strip().splitlines()[-1])

    from_repo = settings(repo_root)
    configured = json.loads((repo_root / "voila.json").read_text())
    assert from_repo["websocket"] == configured["Voila"]["tornado_settings"]["websocket_max_message_size"]
    assert from_repo["websocket"] >= MAX_UPLOAD_BYTES + 1_000_000  # a full-size photo and its message header fit
    assert from_repo["strip_sources"] is True
    assert from_repo["cull_idle_timeout"] == configured["MappingKernelManager"]["cull_idle_timeout"] > 0
    assert from_repo["cull_interval"] > 0
    assert settings(tmp_path)["websocket"] is None  # proof that it was the file in the repository root


def test_the_built_in_models_note_quotes_the_validation_photos_from_the_calibration_file(repo_root, tmp_path):
    from labkit.app.catalogue import measured_accuracy
    from labkit.calibration import CALIBRATION_FILE

    measured = json.loads(CALIBRATION_FILE.read_text())["measured"]
    note = imagenet_model().note
    assert f"{measured['top1_accuracy']:.1%} top-1 on {measured['photos']} ImageNet validation photos" in note
    assert "imagenet-val-650" in note  # generated from the file, never retyped

    # Other weights (Keras' original, a teacher's own) are not described by labkit's figures: the note says so.
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as weights_file:
        weights_file.attrs["layer_names"] = [b"predictions"]
        group = weights_file.create_group("predictions")
        group.attrs["weight_names"] = [b"predictions/kernel", b"predictions/bias"]
        group.create_dataset("predictions/kernel", data=np.ones((1280, 1000), np.float32))
        group.create_dataset("predictions/bias", data=np.zeros(1000, np.float32))
    assert "not the ones labkit was measured with" in measured_accuracy(weights=other)
    assert "top-1" not in measured_accuracy(weights=other)
