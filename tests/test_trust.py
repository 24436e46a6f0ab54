"""Calibration and the "not sure" flag: temperature scaling, calibration error, out-of-distribution scores.

What a student sees: after temperature scaling the model's confidence matches how often it is right on photos it
was not fitted on; a blank or noisy image is flagged "not sure" while real photos are not; a calibration can be
refitted on one's own photos, saved and loaded back. The first tests use small hand-made numbers (fast); the
last ones use the real model on the 60 photos of ../shared/samples.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from labkit.calibrate import fit_calibration, logits_for_images, measure_react_clip, outputs_for_images
from labkit.calibration import CALIBRATION_FILE, Calibration, fit_calibration_from_logits, shipped_calibration
from labkit.calibrators import TemperatureScaler
from labkit.nonphotos import OOD_KINDS, generate_ood_images
from labkit.ood import (
    ASH_KEEP_CHOICES,
    OOD_METHODS,
    OodError,
    ash_s_energy,
    ash_s_features,
    auroc,
    choose_ood_threshold,
    energy_score,
    max_softmax_probability,
    ood_score,
)
from labkit.plots import plot_reliability_diagram
from labkit.predict import softmax
from labkit.reliability import (
    CalibrationError,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_diagram_data,
)


def synthetic_logits(scale: float, n: int = 2000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(base logits): calibrated at scale 1, over-confident above 1, under below."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 2.0, size=(n, classes))
    labels = np.array([rng.choice(classes, p=row) for row in softmax(base)])
    return base * scale, labels


# --- TemperatureScaler follows scikit-learn's conventions ---------------------------------------------------------


def test_fit_returns_the_scaler_itself_and_sets_temperature_underscore():
    logits, labels = synthetic_logits(2.0)
    scaler = TemperatureScaler()

    assert not hasattr(scaler, "temperature_")  # nothing is computed in __init__
    assert scaler.fit(logits, labels) is scaler
    assert isinstance(scaler.temperature_, float)
    assert scaler.n_samples_fit_ == len(labels)


def test_constructor_arguments_are_stored_under_their_own_names():
    scaler = TemperatureScaler(min_temperature=0.2, max_temperature=5.0)

    assert (scaler.min_temperature, scaler.max_temperature) == (0.2, 5.0)


def test_an_over_confident_model_gets_a_temperature_above_one_and_an_under_confident_one_below():
    over = TemperatureScaler().fit(*synthetic_logits(3.0)).temperature_
    under = TemperatureScaler().fit(*synthetic_logits(0.4)).temperature_

    assert over == pytest.approx(3.0, rel=0.15)  # undoes the scaling that made the logits over-confident
    assert under == pytest.approx(0.4, rel=0.15)


def test_the_fitted_temperature_minimises_the_negative_log_likelihood():
    logits, labels = synthetic_logits(2.5, seed=3)
    temperature = TemperatureScaler().fit(logits, labels).temperature_
    best = negative_log_likelihood(logits, labels, temperature)

    for other in (temperature * 0.9, temperature * 1.1, 1.0):
        assert best <= negative_log_likelihood(logits, labels, other)


def test_predict_proba_rows_sum_to_one_and_predict_keeps_the_ranking():
    logits, labels = synthetic_logits(2.0, n=50)
    scaler = TemperatureScaler().fit(logits, labels)

    probabilities = scaler.predict_proba(logits)
    assert probabilities.shape == logits.shape
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(scaler.predict(logits), logits.argmax(axis=1))
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(scaler.transform(logits), logits / scaler.temperature_)


def test_using_a_scaler_before_fit_says_to_call_fit():
    with pytest.raises(CalibrationError, match=r"call fit\(logits, labels\) first"):
        TemperatureScaler().predict_proba(np.zeros((1, 3)))


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1]), "one class index per image"),
        (np.array([0, 1, 7]), "class indices 0..2"),
        (np.array([0.0, 1.0, 2.0]), "integers"),
    ],
)
def test_labels_that_do_not_fit_the_logits_get_a_clear_message(labels, message):
    with pytest.raises(CalibrationError, match=message):
        TemperatureScaler().fit(np.zeros((3, 3)), labels)


# --- calibration error and the reliability diagram ----------------------------------------------------------------


def test_a_calibrated_model_has_a_small_ece_and_an_over_confident_one_a_large_ece():
    calibrated = expected_calibration_error(softmax(synthetic_logits(1.0)[0]), synthetic_logits(1.0)[1])
    over_confident = expected_calibration_error(softmax(synthetic_logits(3.0)[0]), synthetic_logits(3.0)[1])

    assert calibrated < 0.05
    assert over_confident > 0.1


def test_ece_is_the_count_weighted_gap_between_confidence_and_accuracy():
    # Two answers at 90 % confidence, one right: gap |0.5 - 0.9| = 0.4 in the only filled bin.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1]])

    assert expected_calibration_error(probabilities, np.array([0, 1])) == pytest.approx(0.4)
    assert expected_calibration_error(probabilities, np.array([0, 0])) == pytest.approx(0.1)


def test_reliability_data_counts_every_answer_once_and_leaves_empty_bins_empty():
    probabilities = softmax(synthetic_logits(1.0, n=300)[0])
    labels = synthetic_logits(1.0, n=300)[1]

    data = reliability_diagram_data(probabilities, labels, bins=10)

    assert data.count.sum() == 300
    assert len(data.bin_edges) == 11 and len(data.accuracy) == 10
    assert np.all(np.isnan(data.accuracy[data.count == 0]))
    filled = data.count > 0
    assert np.all(
        (data.confidence[filled] > data.bin_edges[:-1][filled])
        & (data.confidence[filled] <= data.bin_edges[1:][filled])
    )


def test_plot_reliability_diagram_returns_a_figure_titled_with_the_ece():
    probabilities, labels = softmax(synthetic_logits(3.0, n=100)[0]), synthetic_logits(3.0, n=100)[1]

    figure = plot_reliability_diagram(probabilities, labels)

    assert isinstance(figure, Figure)
    ece = expected_calibration_error(probabilities, labels)
    assert figure.axes[0].get_title() == f"ECE {ece:.3f} on 100 images"


# --- out-of-distribution scores --------------------------------------------------------------------------------------


def test_a_flat_answer_scores_as_less_familiar_than_a_confident_one_for_both_scores_of_the_logits():
    confident, flat = np.array([[12.0, 0.0, 0.0]]), np.array([[1.0, 1.0, 1.0]])

    for method in ("energy", "max_softmax"):
        assert ood_score(flat, method)[0] > ood_score(confident, method)[0]
    assert max_softmax_probability(flat)[0] == pytest.approx(1 / 3)
    assert energy_score(flat)[0] == pytest.approx(-(1 + np.log(3)))


def test_auroc_is_one_for_perfect_separation_half_for_ties_zero_when_reversed():
    assert auroc([0.1, 0.2], [0.8, 0.9]) == 1.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5
    assert auroc([0.8, 0.9], [0.1, 0.2]) == 0.0


def test_the_threshold_keeps_the_asked_share_of_photos_sure():
    inside = np.linspace(0, 1, 100)

    threshold = choose_ood_threshold(inside, [2.0], keep=0.95)

    assert np.mean(inside <= threshold) == pytest.approx(0.95)


def test_ash_s_keeps_the_largest_share_of_features_and_scales_them_by_how_spread_the_rest_was():
    features = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 7.0]])

    shaped = ash_s_features(features, keep=0.5)

    np.testing.assert_allclose(shaped[0], np.array([4.0, 3.0, 0.0, 0.0]) * np.exp(10 / 7))
    np.testing.assert_allclose(shaped[1], features[1] * np.e)  # ties at the line are kept: the 1.0s share 2nd place
    np.testing.assert_allclose(ash_s_features(features, keep=1.0), features * np.e)


def test_ash_s_energy_is_the_energy_of_the_last_layer_on_the_shaped_features():
    rng = np.random.default_rng(0)
    features, weights, bias = rng.uniform(0, 1.5, (3, 8)), rng.normal(size=(8, 4)), rng.normal(size=4)

    expected = energy_score(ash_s_features(features, 0.25) @ weights + bias)

    np.testing.assert_allclose(ash_s_energy(features, weights, bias, 0.25), expected)
    np.testing.assert_allclose(
        ood_score(np.zeros((3, 4)), "ash_s", features=features, head=(weights, bias), ash_keep=0.25), expected
    )


def test_ash_s_without_features_or_with_a_bad_share_says_what_is_missing():
    with pytest.raises(OodError, match="pooled features"):
        ood_score(np.zeros((1, 4)), "ash_s")
    with pytest.raises(OodError, match="between 0 and 1"):
        ash_s_features(np.ones((1, 4)), keep=0.0)
    with pytest.raises(OodError, match="reads 3 features"):
        ash_s_energy(np.ones((1, 4)), np.ones((3, 2)), np.zeros(2), keep=0.5)


def test_a_calibration_fitted_with_features_chooses_its_kept_share_and_flags_like_a_loaded_copy(tmp_path):
    # photos: a few strong features; OOD images: weak features everywhere.
    rng = np.random.default_rng(3)
    weights, bias = rng.normal(size=(40, 5)), np.zeros(5)
    photos = np.zeros((200, 40))
    for row in photos:
        row[rng.choice(40, 4, replace=False)] = rng.uniform(1.0, 1.5, 4)
    spread = rng.uniform(0.0, 0.05, (100, 40))
    logits, ood_logits = photos @ weights + bias, spread @ weights + bias
    labels = logits.argmax(axis=1)

    calibration = fit_calibration_from_logits(
        logits, labels, ood_logits, ood_method="ash_s", features=photos, ood_features=spread, head=(weights, bias)
    )
    loaded = Calibration.load(calibration.save(tmp_path / "calibration.json"))
    chosen = fit_calibration_from_logits(
        logits, labels, ood_logits, features=photos, ood_features=spread, head=(weights, bias)
    )

    assert calibration.ood_method == "ash_s" and calibration.needs_features
    assert calibration.ood_ash_keep in ASH_KEEP_CHOICES and loaded == calibration
    assert calibration.measured["auroc_ash_s"] >= 0.95
    assert chosen.measured.keys() >= {"auroc_energy", "auroc_max_softmax", "auroc_ash_s"}
    np.testing.assert_array_equal(
        loaded.not_sure(ood_logits, spread, (weights, bias)), calibration.not_sure(ood_logits, spread, (weights, bias))
    )
    assert np.mean(calibration.not_sure(ood_logits, spread, (weights, bias))) >= 0.9
    with pytest.raises(CalibrationError, match="features"):
        fit_calibration_from_logits(logits, labels, ood_logits, ood_method="ash_s")


def test_generated_images_take_every_kind_in_turn_and_repeat_with_the_same_seed():
    first, again, other = generate_ood_images(12, seed=4), generate_ood_images(12, seed=4), generate_ood_images(12, 5)

    assert [image.info["ood_kind"] for image in first] == list(OOD_KINDS) * 2
    assert all(image.mode == "RGB" and image.size == (256, 256) for image in first)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))


def test_a_generated_document_has_dark_text_on_light_paper():
    page = np.asarray(generate_ood_images(1, seed=0, kinds=["document"])[0].convert("L"))

    assert np.median(page) > 230  # mostly paper
    assert (page < 100).mean() > 0.01  # but with ink on it


def test_an_unknown_kind_of_generated_image_lists_the_kinds():
    with pytest.raises(ValueError, match="choose from"):
        generate_ood_images(1, kinds=["cats"])


# --- a calibration: fit, save, load ---------------------------------------------------------------------------------


def test_a_calibration_saved_and_loaded_back_gives_the_same_flags(tmp_path):
    logits, labels = synthetic_logits(2.0, n=200, classes=10)
    ood_logits = np.random.default_rng(1).normal(0, 0.3, size=(50, 10))
    calibration = fit_calibration_from_logits(logits, labels, ood_logits, fitted_on="200 synthetic answers")

    loaded = Calibration.load(calibration.save(tmp_path / "nested" / "calibration.json"))

    assert loaded == calibration
    np.testing.assert_array_equal(loaded.not_sure(ood_logits), calibration.not_sure(ood_logits))
    assert loaded.measured["photos"] == 200


def test_loading_a_broken_calibration_says_how_to_make_one(tmp_path):
    broken = tmp_path / "calibration.json"
    broken.write_text(json.dumps({"temperature": 1.0}))

    with pytest.raises(CalibrationError, match="fit_calibration"):
        Calibration.load(broken)
    with pytest.raises(CalibrationError, match="fit_calibration"):
        Calibration.load(tmp_path / "missing.json")


def test_the_shipped_calibration_says_what_it_was_fitted_on():
    raw = json.loads(CALIBRATION_FILE.read_text())
    calibration = shipped_calibration()

    assert calibration.ood_method in OOD_METHODS
    assert 0.05 < calibration.temperature < 20
    assert "imagenet-val-650" in raw["fitted_on"] and "benchmarks/calibration.py" in raw["fitted_on"]


# --- with the real model on the 60 shared photos ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier():
    from labkit.model import shared_classifier

    return shared_classifier()


@pytest.fixture(scope="module")
def photo_logits(classifier, samples_dir, sample_labels) -> tuple[np.ndarray, np.ndarray]:
    """Logits and true classes of the 60 photos, in labels.csv's order."""
    logits = logits_for_images(classifier, [samples_dir / row["file"] for row in sample_labels])
    return logits, np.array([row["class_index"] for row in sample_labels])


@pytest.fixture(scope="module")
def photo_features(classifier, samples_dir, sample_labels) -> np.ndarray:
    """The clipped pooled features of the 60 photos (the engine's second output), in labels.csv's order."""
    features = outputs_for_images(classifier, [samples_dir / row["file"] for row in sample_labels])[1]
    assert features is not None and features.shape == (len(sample_labels), 1280)
    return features


@pytest.mark.slow
@pytest.mark.parametrize("fit_half", [0, 1])
def test_temperature_scaling_does_not_worsen_calibration_on_photos_it_was_not_fitted_on(photo_logits, fit_half):
    logits, labels = photo_logits
    fit_on = np.arange(len(labels)) % 2 == fit_half

    scaler = TemperatureScaler().fit(logits[fit_on], labels[fit_on])
    before = expected_calibration_error(softmax(logits[~fit_on]), labels[~fit_on])
    after = expected_calibration_error(scaler.predict_proba(logits[~fit_on]), labels[~fit_on])

    assert after <= before, f"T={scaler.temperature_:.3f}: held-out ECE {before:.3f} -> {after:.3f}"
    assert np.mean(logits.argmax(1) == labels) == np.mean(scaler.predict(logits) == labels)  # accuracy unchanged


@pytest.mark.slow
def test_the_apps_score_tells_generated_images_from_photos_on_images_it_was_not_fitted_on(
    classifier, photo_logits, photo_features
):
    logits, _ = photo_logits
    ood_logits, ood_features = outputs_for_images(classifier, generate_ood_images(60, seed=11))  # the fit used seed 0

    assert shipped_calibration().ood_method == "ash_s"
    assert auroc(classifier.ood_score(logits, photo_features), classifier.ood_score(ood_logits, ood_features)) >= 0.85


@pytest.mark.slow
def test_the_imagenet_classifier_uses_the_shipped_calibration(classifier, samples_dir):
    calibration = shipped_calibration()

    assert classifier.calibration == calibration
    assert classifier.temperature == calibration.temperature
    prediction = classifier.classify(samples_dir / "340_zebra.jpg")
    logits, features = outputs_for_images(classifier, [samples_dir / "340_zebra.jpg"])
    np.testing.assert_allclose(prediction.logits, logits[0], atol=1e-5)
    assert prediction.ood_score == pytest.approx(calibration.ood_score(logits[0], features[0], classifier.head))
    np.testing.assert_allclose(prediction.probability, calibration.probabilities(prediction.logits).max())


@pytest.mark.slow
@pytest.mark.parametrize("colour", ["white", "#808080", "#3366cc"])
def test_a_blank_image_gets_the_not_sure_note_and_a_clear_photo_does_not(classifier, samples_dir, colour):
    blank = classifier.classify(Image.new("RGB", (320, 240), colour))
    zebra = classifier.classify(samples_dir / "340_zebra.jpg")

    assert blank.not_sure, f"{colour}: {blank}, ood_score {blank.ood_score:.3f}"
    assert "(not sure)" in str(blank)
    assert not zebra.not_sure
    assert blank.ood_score > zebra.ood_score


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_colour_noise_and_a_page_of_text_get_a_note_of_doubt_and_clear_photos_do_not(classifier, samples_dir, seed):
    # Colour noise is what plain MobileNetV2 reads as "velvet" at 95 %: the ReAct clip and ASH-S on the clipped
    # features are what make it "not sure" (benchmarks/calibration.py: all the generated noise is flagged, where the
    # energy of the logits missed about one in ten).
    noise = Image.fromarray(np.random.default_rng(seed).integers(0, 256, size=(224, 224, 3), dtype=np.uint8))
    page = generate_ood_images(1, seed=seed, kinds=["document"])[0]
    photos = [samples_dir / name for name in ("340_zebra.jpg", "207_golden_retriever.jpg", "817_sports_car.jpg")]

    noise_answer, page_answer, *photo_answers = classifier.predict([noise, page, *photos])

    assert noise_answer.not_sure, f"colour noise, seed {seed}: {noise_answer}, {noise_answer.ood_score:.2f}"
    assert page_answer.not_sure, f"text page, seed {seed}: {page_answer}, ood_score {page_answer.ood_score:.2f}"
    for path, answer in zip(photos, photo_answers, strict=True):
        assert answer.note is None, f"{path.name}: {answer}, ood_score {answer.ood_score:.2f}"
        assert answer.class_index == int(path.name.split("_")[0])


@pytest.mark.slow
def test_the_react_clip_is_re_derived_from_the_shared_photos(classifier, samples_dir):
    from labkit.network import REACT_CLIP

    assert measure_react_clip(classifier, samples_dir) == pytest.approx(REACT_CLIP, abs=0.001)


def test_measuring_a_react_clip_on_an_empty_folder_says_what_to_give(tmp_path):
    from labkit import Classifier

    untrained = Classifier.imagenet(None, warm_up=False)

    with pytest.raises(CalibrationError, match="folder of typical photos"):
        measure_react_clip(untrained, tmp_path)


@pytest.mark.slow
def test_nearly_all_flat_colours_and_gradients_get_the_not_sure_note(classifier):
    # Not all: a black image reads as "spotlight" (a dark scene with a lamp) with some confidence.
    images = generate_ood_images(40, seed=21, kinds=["flat colour", "gradient"])

    flagged = [prediction.not_sure for prediction in classifier.predict(images)]

    assert np.mean(flagged) >= 0.9


@pytest.mark.slow
def test_the_shipped_threshold_keeps_nearly_all_real_photos_sure(classifier, photo_logits, photo_features):
    logits, _ = photo_logits

    assert np.mean(classifier.not_sure(logits, photo_features)) <= 0.1


def test_a_custom_model_has_no_shipped_calibration_so_never_says_not_sure():
    import keras

    from labkit import Classifier

    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    custom = Classifier.from_keras(model, class_names=["cat", "dog"])

    prediction = custom.classify(Image.new("RGB", (64, 64), "white"))

    assert custom.calibration is None and custom.temperature == 1.0
    assert prediction.not_sure is False and prediction.ood_score is None


@pytest.mark.slow
def test_fit_calibration_on_a_labelled_folder_can_be_saved_loaded_and_applied(classifier, samples_dir, tmp_path):
    photo = samples_dir / "207_golden_retriever.jpg"
    shipped, shipped_answer = classifier.calibration, classifier.classify(photo)
    fitted = fit_calibration(classifier, samples_dir, ood_images=generate_ood_images(12, seed=2))
    loaded = Calibration.load(fitted.save(tmp_path / "mine.json"))
    own = classifier.with_calibration(loaded)

    assert loaded == fitted
    assert own.calibration is loaded and own.temperature == fitted.temperature
    answer = own.classify(photo)
    assert answer.probability == pytest.approx(loaded.probabilities(shipped_answer.logits).max())
    assert answer.probability != pytest.approx(shipped_answer.probability), "the copy answers with its own calibration"
    # the classifier it was given (the app's shared one) still answers with its own calibration
    assert classifier.calibration is shipped
    assert classifier.classify(photo).top == shipped_answer.top
    assert fitted.measured["photos"] == 60 and fitted.measured["out_of_distribution_images"] == 12
    assert "60 labelled photos" in fitted.fitted_on
    # Both halves of the fit are real measurements: photos are ~90 % right and calibration improved in-sample.
    assert fitted.measured["top1_accuracy"] >= 0.85
    assert fitted.measured["ece_after"] <= fitted.measured["ece_before"]


def test_fit_calibration_on_a_folder_without_labels_says_what_to_add(tmp_path):
    from labkit import Classifier
    from labkit.folders import LabelError

    Image.new("RGB", (32, 32)).save(tmp_path / "photo.jpg")
    untrained = Classifier.imagenet(None, warm_up=False)

    with pytest.raises(LabelError, match="labels.csv"):
        fit_calibration(untrained, tmp_path)
