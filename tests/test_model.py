"""The Classifier with the real ImageNet weights on the 60 real labelled photos of ../shared/samples.

What a student sees: the right label for most photos, readable labels, the same answer whether photos are
classified one by one or in batches of any size, and a forward pass compiled once. A few fast tests at the end
use an untrained model (``weights=None``) for shapes and argument handling.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from labkit import Classifier, ImageError, load_image
from labkit.engines import DEFAULT_ENGINE
from labkit.model import shared_classifier
from labkit.preprocess import to_batch
from labkit.weights import readable_label

pytestmark = pytest.mark.slow  # loads MobileNetV2 (a few seconds), once per module

TOP = 5
# Keras' compiled forward pass is the reference; the default engine is what students and the app get.
ENGINES = sorted({"keras", DEFAULT_ENGINE})


@pytest.fixture(scope="module", params=ENGINES)
def classifier(request) -> Classifier:
    """The real-weights classifier on each engine; shared_classifier() loads each once per test process."""
    return shared_classifier(request.param)


@pytest.fixture(scope="module")
def one_by_one(classifier, samples_dir, sample_labels) -> dict:
    """Every shared photo classified on its own with classify(), keyed by file name."""
    return {row["file"]: classifier.classify(samples_dir / row["file"], top=TOP) for row in sample_labels}


def expected_label(row: dict) -> str:
    return readable_label(row["label"])


# --- accuracy on real photos ------------------------------------------------------------------------------------


def test_top1_accuracy_on_the_60_shared_photos_is_at_least_85_percent(one_by_one, sample_labels):
    wrong = [
        f"{row['file']}: {one_by_one[row['file']]}"
        for row in sample_labels
        if one_by_one[row["file"]].class_index != row["class_index"]
    ]
    accuracy = 1 - len(wrong) / len(sample_labels)

    assert len(sample_labels) == 60
    assert accuracy >= 0.85, f"top-1 {accuracy:.2f}; wrong:\n" + "\n".join(wrong)


def test_top3_accuracy_on_the_60_shared_photos_is_at_least_95_percent(one_by_one, sample_labels):
    missed = [
        f"{row['file']}: {one_by_one[row['file']]}"
        for row in sample_labels
        if row["class_index"] not in [score.class_index for score in one_by_one[row["file"]].top[:3]]
    ]
    accuracy = 1 - len(missed) / len(sample_labels)

    assert accuracy >= 0.95, f"top-3 {accuracy:.2f}; missed:\n" + "\n".join(missed)


@pytest.mark.parametrize(
    "file",
    [
        "207_golden_retriever.jpg",
        "340_zebra.jpg",
        "145_king_penguin.jpg",
        "504_coffee_mug.jpg",
        "933_cheeseburger.jpg",
        "555_fire_engine.jpg",
    ],
)
def test_named_photos_get_their_label(file, one_by_one, sample_labels):
    row = next(row for row in sample_labels if row["file"] == file)
    prediction = one_by_one[file]

    assert prediction.label == expected_label(row)
    assert prediction.wnid == row["wnid"]


def test_the_banana_plant_photo_has_banana_among_the_top_3(one_by_one):
    # Bunches on the plant, in a courtyard: "banana" is not the top guess, but the model does see it.
    assert "banana" in [score.label for score in one_by_one["954_banana.jpg"].top[:3]]


# --- batches give the same answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_predict_in_batches_matches_classify_one_by_one(batch_size, classifier, one_by_one, samples_dir, sample_labels):
    files = [row["file"] for row in sample_labels]
    batched = []
    for start in range(0, len(files), batch_size):
        batched += classifier.predict([samples_dir / file for file in files[start : start + batch_size]], top=TOP)

    assert len(batched) == len(files)
    for file, prediction in zip(files, batched, strict=True):
        alone = one_by_one[file]
        assert [score.class_index for score in prediction.top] == [score.class_index for score in alone.top], file
        assert [score.probability for score in prediction.top] == pytest.approx(
            [score.probability for score in alone.top], abs=1e-4
        ), file


def test_predict_batch_on_preprocessed_arrays_matches_predict(classifier, samples_dir, sample_labels):
    paths = [samples_dir / row["file"] for row in sample_labels[:8]]
    from_arrays = classifier.predict_batch(to_batch([load_image(path) for path in paths]), top=TOP)
    from_files = classifier.predict(paths, top=TOP)

    assert [p.label for p in from_arrays] == [p.label for p in from_files]
    assert np.allclose(np.stack([p.logits for p in from_arrays]), np.stack([p.logits for p in from_files]), atol=1e-3)


def test_classify_accepts_a_path_bytes_a_file_object_or_a_pil_image(classifier, samples_dir):
    path = samples_dir / "340_zebra.jpg"
    sources = [path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes()), load_image(path)]

    predictions = [classifier.classify(source) for source in sources]

    assert {p.label for p in predictions} == {"zebra"}
    assert max(p.probability for p in predictions) - min(p.probability for p in predictions) < 1e-4


PHONE_PHOTOS = ["340_zebra.jpg", "207_golden_retriever.jpg", "954_banana.jpg", "817_sports_car.jpg"]


@pytest.mark.parametrize("file", PHONE_PHOTOS)
def test_a_phone_sized_photo_decoded_at_reduced_scale_gets_the_answer_of_every_pixel_decoded(
    file, samples_dir, tmp_path
):
    """A 12-MP-sized JPEG (a real photo scaled up to about 4000 px) is decoded at 1/8 scale for the model: the same
    best guess, nearly the same percentages and "not sure" score as decoding all of its pixels."""
    classifier = shared_classifier()
    with Image.open(samples_dir / file) as photo:
        scale = 4000 / max(photo.size)
        big = photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale)))
    path = tmp_path / f"phone_{file}"
    big.save(path, quality=90)

    scaled_down = load_image(path)
    reduced, every_pixel = classifier.classify(path), classifier.classify(load_image(path, draft_size=None))

    assert 224 <= min(scaled_down.size) < 448  # 1/8 scale, never below the model's input
    assert reduced.label == every_pixel.label
    # on the 60 shared photos scaled up so: the same best guess for 59, percentages at most 5.1 points apart (6.1 for a
    # 448-px decode) and the same 3 photos "not sure"
    assert reduced.probability == pytest.approx(every_pixel.probability, abs=0.1)
    assert reduced.not_sure == every_pixel.not_sure


def test_a_file_that_is_not_an_image_gives_an_image_error_and_the_next_photo_still_works(
    classifier, samples_dir, tmp_path
):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a photo")

    with pytest.raises(ImageError):
        classifier.classify(notes)
    assert classifier.classify(samples_dir / "145_king_penguin.jpg").label == "king penguin"


# --- what a Prediction holds ------------------------------------------------------------------------------------


def test_predictions_hold_readable_labels_matching_their_class_index_and_wnid(classifier, one_by_one):
    for file, prediction in one_by_one.items():
        assert len(prediction.top) == TOP
        for score in prediction.top:
            assert "_" not in score.label, f"{file}: label {score.label!r} is not readable"
            assert score.label == classifier.class_names[score.class_index]
            assert score.wnid == classifier.wnids[score.class_index]
        assert (prediction.label, prediction.class_index, prediction.wnid, prediction.probability) == (
            prediction.top[0].label,
            prediction.top[0].class_index,
            prediction.top[0].wnid,
            prediction.top[0].probability,
        )
    assert one_by_one["207_golden_retriever.jpg"].label == "golden retriever"


def test_class_names_and_wnids_are_in_the_order_of_the_shared_labels(classifier, sample_labels):
    assert classifier.num_classes == len(classifier.class_names) == len(classifier.wnids) == 1000
    for row in sample_labels:
        assert classifier.class_names[row["class_index"]] == expected_label(row)
        assert classifier.wnids[row["class_index"]] == row["wnid"]


def test_probabilities_are_between_0_and_1_sorted_best_first(one_by_one):
    for file, prediction in one_by_one.items():
        probabilities = [score.probability for score in prediction.top]
        assert all(0.0 <= p <= 1.0 for p in probabilities), file
        assert probabilities == sorted(probabilities, reverse=True), file
        assert sum(probabilities) <= 1.0 + 1e-6, file


def test_top_probabilities_are_the_calibrated_softmax_of_the_logits(classifier, one_by_one):
    prediction = one_by_one["207_golden_retriever.jpg"]
    calibration = classifier.calibration
    scaled = prediction.logits / classifier.temperature
    probabilities = np.exp(scaled - scaled.max())
    probabilities /= probabilities.sum()
    # then the top-1 correction: sigmoid(slope * logit(top) + offset)
    top = probabilities.max()
    logit = np.log(top / (1 - top))
    corrected = 1 / (1 + np.exp(-(calibration.confidence_slope * logit + calibration.confidence_offset)))

    assert prediction.logits.shape == (1000,)
    assert prediction.class_index == int(np.argmax(prediction.logits))
    assert prediction.probability == pytest.approx(float(corrected), abs=1e-6)
    assert sum(score.probability for score in prediction.top) <= 1.0 + 1e-9


def test_each_prediction_reports_a_positive_time(one_by_one):
    times = [prediction.elapsed_ms for prediction in one_by_one.values()]

    assert all(math.isfinite(ms) and ms > 0 for ms in times)


def test_to_dict_is_json_and_keeps_the_answer(one_by_one):
    prediction = one_by_one["504_coffee_mug.jpg"]

    data = json.loads(json.dumps(prediction.to_dict()))

    assert [entry["label"] for entry in data["top"]] == [score.label for score in prediction.top]
    assert [entry["class_index"] for entry in data["top"]] == [score.class_index for score in prediction.top]
    assert [entry["wnid"] for entry in data["top"]] == [score.wnid for score in prediction.top]
    assert [entry["probability"] for entry in data["top"]] == pytest.approx(
        [score.probability for score in prediction.top], abs=5e-5
    )
    assert data["elapsed_ms"] == pytest.approx(prediction.elapsed_ms, abs=0.05)
    assert data["not_sure"] is prediction.not_sure
    assert data["notes"] == list(prediction.notes)


# --- the compiled forward pass ----------------------------------------------------------------------------------


def test_the_forward_pass_is_traced_once_whatever_the_batch_size(samples_dir, sample_labels):
    # A layer's Python code runs only while TensorFlow traces the graph, never when a compiled graph is reused,
    # so counting its calls counts traces. It wraps the real MobileNetV2 and passes pixels through unchanged.
    import keras

    traces = []

    def count_trace(batch):
        traces.append(1)
        return batch

    reference = shared_classifier("keras")
    inputs = keras.Input((224, 224, 3))
    counted = keras.Model(inputs, reference.model(keras.layers.Lambda(count_trace)(inputs)))
    built = len(traces)  # Keras runs the layer once while building the model
    watched = Classifier.from_keras(counted, engine="keras", class_names=reference.class_names, wnids=reference.wnids)
    assert len(traces) == built + 1, "the warm-up should trace the forward pass exactly once"

    paths = [samples_dir / row["file"] for row in sample_labels]
    for batch_size in (1, 3, 32, 2, 1):
        watched.predict(paths[:batch_size])
    watched.logits(np.zeros((7, 224, 224, 3), np.float32))
    watched.classify(paths[0])

    assert len(traces) == built + 1, f"retraced {len(traces) - built - 1} times for new batch sizes"
    assert watched.classify(paths[0]).label == reference.classify(paths[0]).label


def test_shared_classifier_is_loaded_once_per_process(classifier):
    assert shared_classifier(classifier.engine) is classifier


# --- fast tests with an untrained model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrained() -> Classifier:
    return Classifier.imagenet(None)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_logits_and_probabilities_have_one_row_per_image(untrained, batch_size):
    batch = np.random.default_rng(batch_size).uniform(-1, 1, (batch_size, 224, 224, 3)).astype(np.float32)

    logits = untrained.logits(batch)
    probabilities = untrained.probabilities(batch)

    assert logits.shape == probabilities.shape == (batch_size, 1000)
    assert logits.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_predict_returns_one_prediction_per_image_and_nothing_for_no_images(untrained):
    images = [Image.new("RGB", (320, 240), colour) for colour in ("red", "green", "blue")]

    assert len(untrained.predict(images)) == 3
    assert untrained.predict([]) == []


@pytest.mark.parametrize("top", [1, 3, 10])
def test_top_sets_how_many_guesses_come_back(untrained, top):
    prediction = untrained.classify(Image.new("RGB", (100, 100), "white"), top=top)

    assert len(prediction.top) == top
    assert len({score.class_index for score in prediction.top}) == top


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_batched_feeds_every_item_once_in_order_and_no_slice_is_larger_than_the_batch(batch_size):
    from labkit.preprocess import batched

    chunks = list(batched(list(range(7)), batch_size))

    assert [item for chunk in chunks for item in chunk] == list(range(7))
    assert max(len(chunk) for chunk in chunks) == batch_size
    assert list(batched([], batch_size)) == []


def test_predict_with_a_single_image_says_to_use_classify(untrained):
    with pytest.raises(TypeError, match="classify"):
        untrained.predict("photo.jpg")


def test_a_custom_model_needs_class_names():
    import keras

    from labkit.network import ModelDescription

    custom = ModelDescription(weights=None, keras_model=keras.Sequential([keras.Input((224, 224, 3))]))
    with pytest.raises(ValueError, match="class_names"):
        Classifier(custom)


def test_a_keras_model_with_more_outputs_than_class_names_says_to_give_one_name_per_output():
    import keras

    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])

    with pytest.raises(ValueError, match="3 outputs but 2 class_names"):
        Classifier.from_keras(model, ["cat", "dog"], warm_up=False)


def test_weights_passed_as_the_first_argument_say_to_use_classifier_imagenet():
    with pytest.raises(TypeError, match=r"Classifier.imagenet\(weights=PATH\)"):
        Classifier("my_weights.h5")  # type: ignore[arg-type]


def test_a_custom_model_predicts_its_own_classes():
    import keras

    names = ["glass", "metal", "paper", "plastic"]
    model = keras.Sequential(
        [keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(len(names))]
    )

    prediction = Classifier.from_keras(model, class_names=names).classify(Image.new("RGB", (64, 64), "gray"), top=4)

    assert sorted(score.label for score in prediction.top) == names
    assert all(score.wnid == score.label for score in prediction.top), "wnids default to the class names"


def test_a_higher_temperature_keeps_the_label_and_lowers_the_confidence(untrained):
    from labkit.calibration import Calibration

    image = Image.new("RGB", (128, 128), "orange")
    sharp = untrained.classify(image)

    softer = untrained.with_calibration(Calibration(temperature=3.0, ood_method="energy", ood_threshold=math.inf))
    soft = softer.classify(image)

    assert softer.temperature == 3.0 and untrained.temperature == 1.0 and untrained.calibration is None
    assert softer.model is untrained.model, "the copy shares the loaded network: nothing is loaded again"
    assert soft.label == sharp.label
    assert soft.probability < sharp.probability
    assert untrained.classify(image).probability == sharp.probability, "the copy's calibration is its own"
