"""Teaching MobileNetV2 new classes, as a student would: real photos (trashnet-mini), the real ImageNet weights.

Mechanics run on a tiny copy (2 classes x 8 photos, 1 epoch per phase); one test trains on the whole of
trashnet-mini and checks the accuracy the lesson promises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labkit import Classifier, load_image
from labkit.class_names import ClassNameError, TrainingDataError, class_name_problem
from labkit.export import (
    ExportError,
    describe_export,
    export_model,
    find_exported_models,
    load_exported,
    read_labels,
    read_metadata,
)
from labkit.paths import TRASHNET_MINI_DIR
from labkit.plots import plot_training_curves
from labkit.preprocess import to_batch
from labkit.recipe import EpochReport
from labkit.training_data import (
    SkippedFilesWarning,
    TrainingFolderError,
    read_training_folder,
    training_set_from_photos,
)
from labkit.transfer import fine_tune, split_validation

REPO_ROOT = Path(__file__).resolve().parent.parent
TRASHNET = TRASHNET_MINI_DIR
TINY_CLASSES = ("glass", "paper")
TINY_PER_CLASS = 8
TINY_TRAINING = {"head_epochs": 1, "fine_tune_epochs": 1, "progress": False}


def copy_photos(destination: Path, per_class: dict[str, int]) -> Path:
    """Copy the first N trashnet-mini photos of each named class into destination/<class>/."""
    if not TRASHNET.is_dir():
        pytest.fail(
            f"The transfer-learning photos are missing: no {TRASHNET}. They are part of the repository "
            "(data/trashnet-mini): check out the whole repository."
        )
    for name, count in per_class.items():
        (destination / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((TRASHNET / name).glob("*.jpg"))[:count]:
            shutil.copy(photo, destination / name / photo.name)
    return destination


def add_unreadable_files(folder: Path) -> list[str]:
    """A truncated JPEG and a text file in a class folder, as students' folders often have."""
    photo = next((folder / "glass").glob("*.jpg"))
    (folder / "glass" / "half_copied.jpg").write_bytes(photo.read_bytes()[:300])
    (folder / "paper" / "notes.txt").write_text("remember to photograph the cardboard too\n")
    (folder / "paper" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden: ignored, not even listed
    return ["half_copied.jpg", "notes.txt"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    folder = copy_photos(tmp_path_factory.mktemp("tiny") / "photos", {name: TINY_PER_CLASS for name in TINY_CLASSES})
    add_unreadable_files(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_result(tiny_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)  # checked in its own test
        return fine_tune(tiny_folder, **TINY_TRAINING)


@pytest.fixture(scope="module")
def exported(tiny_result, tmp_path_factory) -> Path:
    return export_model(tiny_result, tmp_path_factory.mktemp("exports") / "glass-or-paper")


@pytest.fixture(scope="module")
def validation_batch(tiny_result) -> np.ndarray:
    return to_batch([load_image(item.path) for item in tiny_result.validation_set])


# --- Bad training folders ------------------------------------------------------------------------------------------


def test_a_folder_with_one_class_says_a_model_needs_two(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 6})
    with pytest.raises(TrainingFolderError, match="at least 2 class subfolders") as error:
        fine_tune(folder, progress=False)
    assert "only one, 'glass'" in str(error.value) and "subfolder named after the class" in str(error.value)


def test_a_folder_of_loose_photos_says_to_make_class_subfolders(tmp_path):
    for photo in sorted((TRASHNET / "metal").glob("*.jpg"))[:6]:
        shutil.copy(photo, tmp_path / photo.name)
    with pytest.raises(TrainingFolderError, match="it has none"):
        read_training_folder(tmp_path, progress=False)


def test_a_missing_folder_says_where_it_looked(tmp_path):
    with pytest.raises(TrainingFolderError, match="No folder at"):
        read_training_folder(tmp_path / "no-such-folder", progress=False)


def test_a_class_with_three_photos_is_named_with_how_many_it_needs(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 8, "paper": 3})
    with pytest.raises(TrainingFolderError) as error:
        fine_tune(folder, progress=False)
    message = str(error.value)
    assert "'paper' has 3" in message and "at least 5" in message and "glass" not in message.split("What to do")[0]
    assert str(folder / "paper") in message


def test_unreadable_files_are_skipped_listed_and_warned_about(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 6, "paper": 6})
    bad = add_unreadable_files(folder)
    with pytest.warns(SkippedFilesWarning) as warned:
        training_set = read_training_folder(folder, progress=False)
    message = str(warned[0].message)
    assert all(name in message for name in bad) and ".DS_Store" not in message
    assert sorted(file.path.name for file in training_set.skipped_files) == sorted(bad)
    assert all(file.reason for file in training_set.skipped_files)
    assert training_set.counts() == {"glass": 6, "paper": 6}
    assert training_set.images.shape == (12, 224, 224, 3) and training_set.images.min() >= -1


def test_a_class_left_with_too_few_readable_photos_mentions_the_skipped_files(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 4, "paper": 6})
    add_unreadable_files(folder)
    with pytest.warns(SkippedFilesWarning), pytest.raises(TrainingFolderError, match="'glass' has 4.*unreadable"):
        read_training_folder(folder, progress=False)


def test_training_photos_go_through_the_same_preprocessing_as_prediction(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 5, "metal": 5})
    training_set = read_training_folder(folder, progress=False)
    assert training_set.class_names == ["glass", "metal"]  # from the folder names, sorted
    expected = to_batch([load_image(path) for path in training_set.files])
    np.testing.assert_array_equal(training_set.images, expected)


def test_the_validation_split_is_stratified_and_fixed_by_its_seed():
    labels = np.repeat([0, 1, 2, 3], 60)
    train, val = split_validation(labels, 0.2, seed=0)
    assert np.bincount(labels[val]).tolist() == [12, 12, 12, 12]
    assert not set(train) & set(val) and len(train) + len(val) == 240
    assert np.array_equal(val, split_validation(labels, 0.2, seed=0)[1])
    assert not np.array_equal(val, split_validation(labels, 0.2, seed=1)[1])
    # Five photos, the minimum: one to check on, four to learn from.
    assert np.bincount(np.repeat([0, 1], 5)[split_validation(np.repeat([0, 1], 5))[1]]).tolist() == [1, 1]


# --- Photos given in memory (a trainer widget's uploads) ------------------------------------------------------------


def trashnet_photos(name: str, count: int, skip: int = 0) -> list[Path]:
    return sorted((TRASHNET / name).glob("*.jpg"))[skip : skip + count]


def test_photos_in_memory_make_a_training_set_from_bytes_images_and_paths():
    glass, paper = trashnet_photos("glass", 6), trashnet_photos("paper", 6)
    photos = {
        "paper": [path.read_bytes() for path in paper[:3]]
        + [Image.open(path) for path in paper[3:5]]
        + [str(paper[5])],
        "glass": glass,
    }
    training_set = training_set_from_photos(photos)
    assert training_set.class_names == ["paper", "glass"]  # the order the student gave them in
    assert training_set.counts() == {"paper": 6, "glass": 6} and not training_set.skipped_files
    expected = to_batch([load_image(path) for path in paper + glass])
    np.testing.assert_allclose(training_set.images, expected, atol=1e-6)  # what prediction would see
    assert training_set.files[0] == "paper: photo 1" and training_set.files[-1] == glass[-1]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("glass/metal", "contains '/'"),
        ("what?", "contains '?'"),
        ("", "is empty"),
        ("  ", "is empty"),
        (" glass", "starts or ends with a space"),
        (".hidden", "starts with a dot, which hides the folder"),
        ("..", "the folder itself or the one above it"),
        ("bottles.", "ends with a dot"),
        ("CON", "device name that Windows reserves"),
        ("line\nbreak", "contains '\\n'"),
        ("x" * 256, "longer than file systems allow"),
    ],
)
def test_a_class_name_that_is_not_a_valid_folder_name_is_refused_with_the_reason(name, reason):
    assert reason in class_name_problem(name)
    photos = {name: trashnet_photos("glass", 5), "paper": trashnet_photos("paper", 5)}
    with pytest.raises(ClassNameError) as error:
        training_set_from_photos(photos)
    message = str(error.value)
    assert repr(name) in message and reason in message and "valid folder name" in message


def test_ordinary_class_names_are_accepted():
    assert all(class_name_problem(name) is None for name in ("glass", "Plastic bottle", "café", "t-shirt_2", "猫"))


def test_two_class_names_differing_only_in_case_are_refused():
    with pytest.raises(ClassNameError, match="'Glass' and 'glass' differ only in upper and lower case"):
        training_set_from_photos({"Glass": trashnet_photos("glass", 5), "glass": trashnet_photos("glass", 5, 5)})


@pytest.mark.parametrize("classes", [{}, {"glass": 5}])
def test_fewer_than_two_classes_in_memory_says_a_model_needs_two(classes):
    with pytest.raises(TrainingDataError, match="at least 2 classes"):
        training_set_from_photos({name: trashnet_photos(name, count) for name, count in classes.items()})


def test_a_class_with_too_few_photos_in_memory_says_how_many_it_needs():
    with pytest.raises(TrainingDataError) as error:
        training_set_from_photos({"glass": trashnet_photos("glass", 6), "paper": trashnet_photos("paper", 2)})
    message = str(error.value)
    assert "at least 5" in message and "'paper' has 2" in message and "add photos to 'paper'" in message
    assert not isinstance(error.value, TrainingFolderError)


def test_unreadable_photos_in_memory_are_skipped_listed_by_name_and_the_rest_kept():
    glass = {path.name: path.read_bytes() for path in trashnet_photos("glass", 5)}
    glass["half.jpg"] = glass[next(iter(glass))][:300]  # truncated JPEG
    glass["notes.txt"] = b"remember the cardboard"
    paper = [path.read_bytes() for path in trashnet_photos("paper", 5)] + [b""]
    with pytest.warns(SkippedFilesWarning) as warned:
        training_set = training_set_from_photos({"glass": glass, "paper": paper})
    assert training_set.counts() == {"glass": 5, "paper": 5}
    assert [file.name for file in training_set.skipped_files] == [
        "glass: half.jpg",
        "glass: notes.txt",
        "paper: photo 6",
    ]
    assert all(file.reason for file in training_set.skipped_files)
    assert all(name in str(warned[0].message) for name in ("half.jpg", "notes.txt", "paper: photo 6"))


def test_a_class_left_with_too_few_readable_photos_in_memory_mentions_the_skipped_ones():
    photos = {
        "glass": [path.read_bytes() for path in trashnet_photos("glass", 4)] + [b"not a photo"],
        "paper": trashnet_photos("paper", 5),
    }
    with pytest.warns(SkippedFilesWarning), pytest.raises(TrainingDataError, match="'glass' has 4.*1 unreadable"):
        training_set_from_photos(photos)


def test_validation_photos_of_a_class_the_training_photos_lack_are_refused(tiny_folder):
    validation = training_set_from_photos({"glass": trashnet_photos("glass", 5), "metal": trashnet_photos("metal", 5)})
    with pytest.raises(TrainingDataError, match="class\\(es\\) the training photos lack: 'metal'"):
        fine_tune(tiny_folder, validation=validation, progress=False)


# --- Training mechanics (tiny folder) -----------------------------------------------------------------------------


def test_fine_tune_returns_a_classifier_over_the_folder_classes(tiny_result):
    assert tiny_result.class_names == list(TINY_CLASSES)
    assert tiny_result.classifier.class_names == list(TINY_CLASSES)
    assert sorted(file.path.name for file in tiny_result.skipped_files) == ["half_copied.jpg", "notes.txt"]
    assert [item.class_index for item in tiny_result.validation_set] == [0, 0, 1, 1]  # 20 % of 8 = 2 per class
    assert tiny_result.history["phase"] == [1, 2]
    assert all(len(values) == 2 for values in tiny_result.history.values())
    assert 0 <= tiny_result.val_accuracy <= 1 and tiny_result.seconds > 0


def test_the_classifier_outputs_logits_and_predicts_the_new_classes(tiny_result, tiny_folder):
    classifier = tiny_result.classifier
    assert classifier.model.layers[-1].get_config()["activation"] == "linear"  # logits, softmax in labkit
    prediction = classifier.classify(next((tiny_folder / "paper").glob("*.jpg")), top=5)
    assert prediction.label in TINY_CLASSES and len(prediction.top) == 2
    assert sum(score.probability for score in prediction.top) == pytest.approx(1.0)


def test_the_reported_accuracy_is_the_classifiers_on_the_validation_photos(tiny_result, validation_batch):
    labels = [item.class_index for item in tiny_result.validation_set]
    predicted = tiny_result.classifier.logits(validation_batch).argmax(axis=1)
    assert tiny_result.val_accuracy == pytest.approx(np.mean(predicted == labels))


def test_progress_prints_one_line_per_epoch_on_stderr(tiny_folder, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)
        fine_tune(tiny_folder, **{**TINY_TRAINING, "progress": True, "fine_tune_epochs": 2})
    captured = capsys.readouterr()
    assert captured.out == ""
    epoch_lines = [line for line in captured.err.splitlines() if line.startswith(("head ", "fine-tune "))]
    assert [line.split(":")[0] for line in epoch_lines] == ["head 1/1", "fine-tune 1/2", "fine-tune 2/2"]
    assert all("val_accuracy" in line for line in epoch_lines)
    assert "validation accuracy" in captured.err


def test_training_curves_show_loss_and_accuracy(tiny_result):
    figure = plot_training_curves(tiny_result.history)
    loss, accuracy = figure.axes
    assert [len(line.get_xdata()) for line in loss.lines[:2]] == [2, 2]
    assert "Accuracy" in accuracy.get_title(loc="left")


@pytest.fixture(scope="module")
def stopped_in_memory(tmp_path_factory):
    """Photos in memory, a separate validation folder, a report per epoch, and Stop pressed after the first epoch."""
    validation = tmp_path_factory.mktemp("validation")
    for name in TINY_CLASSES:  # other photos than the training ones
        (validation / name).mkdir()
        for photo in trashnet_photos(name, 6, skip=TINY_PER_CLASS):
            shutil.copy(photo, validation / name / photo.name)
    training = training_set_from_photos(
        {name: trashnet_photos(name, TINY_PER_CLASS) for name in reversed(TINY_CLASSES)}
    )
    reports: list[EpochReport] = []
    stop = threading.Event()

    def on_epoch(report: EpochReport) -> None:
        reports.append(report)
        stop.set()  # as a Stop button would, while training runs

    result = fine_tune(
        training, validation=validation, head_epochs=5, fine_tune_epochs=2, progress=False, on_epoch=on_epoch, stop=stop
    )
    return result, reports


def test_each_epoch_is_reported_with_its_phase_and_figures(stopped_in_memory):
    result, reports = stopped_in_memory
    (report,) = reports
    assert (report.phase, report.phase_name, report.epoch, report.epochs) == (1, "new head", 1, 5)
    assert report.loss > 0 and 0 <= report.accuracy <= 1
    assert report.val_loss == pytest.approx(result.history["val_loss"][0])
    assert report.val_accuracy == pytest.approx(result.history["val_accuracy"][0])


def test_stop_ends_training_early_and_still_gives_a_usable_classifier(stopped_in_memory):
    result, _ = stopped_in_memory
    assert result.stopped and result.history["phase"] == [1]  # no more head epochs, no fine-tuning
    assert "stopped early" in result.summary()
    assert result.classifier.classify(trashnet_photos("glass", 1, 20)[0]).label in TINY_CLASSES


def test_a_validation_folder_is_checked_on_and_calibrates_the_model(stopped_in_memory):
    result, _ = stopped_in_memory
    assert result.validation_count == 12 and len(result.validation_set) == 12
    assert result.class_names == ["paper", "glass"]  # the order given; the folder's labels are renumbered to it
    assert all(result.class_names[item.class_index] == item.path.parent.name for item in result.validation_set)
    assert result.settings["train_images"] == 2 * TINY_PER_CLASS  # every training photo learnt from
    assert result.classifier.calibration is not None and 0 <= result.val_accuracy <= 1


def test_without_validation_photos_every_photo_is_learnt_from_and_nothing_is_claimed(tiny_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFilesWarning)
        result = fine_tune(tiny_folder, validation_split=0, head_epochs=2, fine_tune_epochs=0, progress=False)
    assert result.settings["train_images"] == 2 * TINY_PER_CLASS and result.validation_count == 0
    assert result.val_accuracy is None and result.classifier.calibration is None
    assert result.history["val_loss"] == [] and result.history["phase"] == [1, 1]  # no early stopping
    assert "not measured" in result.summary()


# --- Export and load back ------------------------------------------------------------------------------------------


def test_export_writes_keras_labels_litert_and_metadata(exported, tiny_result):
    assert sorted(path.name for path in exported.iterdir()) == [
        "calibration.json",
        "head.npz",
        "labels.txt",
        "labkit.json",
        "model.keras",
        "model.tflite",
    ]
    assert (exported / "labels.txt").read_text() == "0 glass\n1 paper\n"  # Teachable Machine's format
    assert read_labels(exported / "labels.txt") == ["glass", "paper"]
    metadata = json.loads((exported / "labkit.json").read_text())
    assert metadata["class_names"] == ["glass", "paper"]
    assert metadata["val_accuracy"] == round(tiny_result.val_accuracy, 4)
    assert metadata["input"] == {
        "size": [224, 224],
        "resize": "squash",
        "scale": "pixels / 127.5 - 1 (RGB, range [-1, 1])",
    }
    assert "MobileNetV2" in metadata["base_model"] and metadata["created"][:2] == "20"


def test_the_keras_export_loads_back_with_the_same_predictions(exported, tiny_result, validation_batch):
    loaded = load_exported(exported)
    assert type(loaded) is Classifier and loaded.engine == "keras"  # a plain Classifier, no subclass
    assert loaded.class_names == ["glass", "paper"]
    assert loaded.temperature == tiny_result.classifier.temperature  # the calibration comes along
    np.testing.assert_allclose(
        loaded.logits(validation_batch), tiny_result.classifier.logits(validation_batch), atol=1e-5
    )


def test_the_litert_export_loads_back_with_the_same_predictions(exported, tiny_result, validation_batch):
    loaded = load_exported(exported, engine="litert")
    assert loaded.engine == "litert" and loaded._loaded.model is None  # runs model.tflite, Keras model not loaded
    expected = tiny_result.classifier.logits(validation_batch)
    np.testing.assert_allclose(loaded.logits(validation_batch), expected, atol=1e-3)
    photo = tiny_result.validation_set[0].path
    assert loaded.classify(photo).label == tiny_result.classifier.classify(photo).label


def test_the_new_model_says_not_sure_about_things_that_are_none_of_its_classes(tiny_result):
    from labkit.nonphotos import generate_ood_images

    calibration = tiny_result.classifier.calibration
    assert calibration is not None and "validation photos" in calibration.fitted_on
    noise, page = generate_ood_images(2, seed=7)  # colour noise and a page of text: neither glass nor paper
    answers = tiny_result.classifier.predict([noise, page])
    assert all(answer.ood_score is not None for answer in answers)
    assert [answer.not_sure for answer in answers] == [calibration.not_sure(answer.logits) for answer in answers]


def test_gradcam_and_evaluation_work_on_an_exported_model(exported, tiny_folder):
    from labkit.evaluate import evaluate
    from labkit.explain import gradcam

    loaded = load_exported(exported, engine="litert")
    photo = next((tiny_folder / "glass").glob("glass*.jpg"))
    heatmap = gradcam(loaded, photo)
    assert heatmap.shape == load_image(photo).size[::-1]  # one value per pixel of the photo
    assert 0 <= heatmap.min() and 0.9 < heatmap.max() <= 1  # scaled so the strongest evidence is ~1
    result = evaluate(loaded, tiny_folder, progress=False)  # class subfolders named like the model's classes
    assert result.n == 2 * TINY_PER_CLASS and len(result.errors) == 1  # the truncated JPEG
    assert result.class_names == ["glass", "paper"]


def test_exported_models_are_found_and_described_for_a_model_picker(exported, tmp_path):
    assert find_exported_models(exported.parent) == [exported]
    assert find_exported_models(tmp_path / "nothing-exported-yet") == []
    assert describe_export(exported).startswith("glass-or-paper: glass, paper (")


def test_a_folder_that_is_not_an_export_says_how_to_make_one(tmp_path):
    with pytest.raises(ExportError, match="not a labkit export"):
        load_exported(tmp_path)
    (tmp_path / "labkit.json").write_text("{}")
    with pytest.raises(ExportError, match="not written by labkit"):
        read_metadata(tmp_path)


def test_labels_in_the_wrong_order_are_refused(tmp_path):
    (tmp_path / "labels.txt").write_text("1 glass\n0 paper\n")
    with pytest.raises(ExportError, match="expected class 0, found 1"):
        read_labels(tmp_path / "labels.txt")


# --- The command line ---------------------------------------------------------------------------------------------


def run_labkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_the_train_command_exports_a_model_the_other_commands_can_use(tiny_folder, tmp_path):
    out = tmp_path / "my-model"
    trained = run_labkit("train", str(tiny_folder), "--out", str(out), "--epochs", "1", "--head-epochs", "1")
    assert trained.returncode == 1, trained.stderr  # 1: trained and exported, but some files could not be read
    assert "head 1/1" in trained.stderr and "fine-tune 1/1" in trained.stderr  # progress on stderr
    assert "half_copied.jpg" in trained.stderr and "notes.txt" in trained.stderr
    assert "validation accuracy" in trained.stdout and str(out) in trained.stdout  # the summary
    assert read_metadata(out)["class_names"] == ["glass", "paper"]

    photo = next((tiny_folder / "paper").glob("*.jpg"))
    classified = run_labkit("classify", "--json", "--model", str(out), str(photo))
    assert classified.returncode == 0, classified.stderr
    (answer,) = json.loads(classified.stdout)
    assert {guess["label"] for guess in answer["top"]} == {"glass", "paper"}


def test_the_train_command_explains_a_bad_folder_without_a_traceback(tmp_path):
    folder = copy_photos(tmp_path / "photos", {"glass": 6})
    trained = run_labkit("train", str(folder), "--out", str(tmp_path / "out"))
    assert trained.returncode == 2
    assert "at least 2 class subfolders" in trained.stderr and "Traceback" not in trained.stderr
    assert not (tmp_path / "out").exists()


def test_the_train_command_refuses_a_validation_share_that_is_not_a_share(tiny_folder, tmp_path):
    trained = run_labkit("train", str(tiny_folder), "--out", str(tmp_path / "out"), "--val-split", "1.5")
    assert trained.returncode == 2 and "--val-split: must be at least 0 and below 1" in trained.stderr
    both = run_labkit("train", str(tiny_folder), "--out", str(tmp_path / "out"), "--val-split", "0.2", "--val", ".")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert not (tmp_path / "out").exists()


# --- The real thing -----------------------------------------------------------------------------------------------

# A student trains on every photo of trashnet-mini and meets photos the model never saw. benchmarks/transfer.py
# measures this recipe on all 400 photos of trashnet-val (83 % when it was chosen, benchmarks/results/
# transfer.json); this test checks a slice of 100 (25 per class, about +-8 points at 95 %) against a bar well under
# that and far above the 25 % of guessing, so a broken recipe fails it and a lucky or unlucky photo does not.
RELIABLE_ACCURACY = 0.72
VAL_PER_CLASS = 25


@pytest.mark.slow  # trains on all 240 photos of trashnet-mini: a few minutes on a 2-core machine
def test_training_on_all_of_trashnet_mini_recognises_materials_in_photos_it_never_saw():
    from labkit.datasets import fetch
    from labkit.evaluate import evaluate
    from labkit.folders import LabelledImage

    result = fine_tune(TRASHNET, validation_split=0, progress=False)
    assert result.class_names == ["glass", "metal", "paper", "plastic"]
    assert result.settings["train_images"] == 240 and result.val_accuracy is None
    unseen = fetch("trashnet-val", progress=False)
    photos = [
        LabelledImage(path, index)
        for index, name in enumerate(result.class_names)
        for path in sorted((unseen / name).glob("*.jpg"))[:VAL_PER_CLASS]
    ]
    measured = evaluate(result.classifier, photos, top=1, progress=False)
    assert measured.n == 4 * VAL_PER_CLASS
    assert measured.top1 >= RELIABLE_ACCURACY, (measured.top1, result.summary())
