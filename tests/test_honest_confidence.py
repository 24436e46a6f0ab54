"""Honest confidence on real photos: the calibration fitted on ImageNet validation photos, checked on photos it was
not fitted on, the two notes of doubt (low confidence, out of distribution), and the numbers --json gives.

The real-photo tests read imagenet-val-650 through labkit.datasets ($LABKIT_DATA_DIR in CI) at run time; its photos
are not redistributable and never copied into the repository.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from labkit.calibration import CALIBRATION_FILE, Calibration, fit_calibration_from_logits, shipped_calibration
from labkit.calibrators import ConfidenceCalibrator, correct_confidence
from labkit.datasets import fetch
from labkit.folders import LabelledImage, read_labelled_folder
from labkit.nonphotos import generate_ood_images
from labkit.predict import LOW_CONFIDENCE, ClassScore, Prediction, doubt, softmax
from labkit.reliability import ECE_BINS, CalibrationError, calibration_figures, cross_validate, fold_indices

VALIDATION_SET = "imagenet-val-650"
# A real validation photo on which the model hesitates between two classes (an ash can, or a water jug?), with an
# out-of-distribution score well inside the photos': it gets the "low confidence" note, not "not sure".
HESITANT_PHOTO, HESITANT_BEST, HESITANT_RUNNER_UP = "ILSVRC2012_val_00046857.JPEG", "ashcan", "water jug"


def make_logits(rng: np.random.Generator, n: int = 400, classes: int = 10, sharpness: float = 6.0):
    """Logits of an over-confident toy model: right about 70 % of the time, confident nearly always."""
    labels = rng.integers(0, classes, n)
    logits = rng.normal(0, 1, (n, classes))
    right = rng.random(n) < 0.7
    guess = np.where(right, labels, (labels + 1 + rng.integers(0, classes - 1, n)) % classes)
    logits[np.arange(n), guess] += sharpness
    return logits, labels


# --- the calibrator, numpy only ---------------------------------------------------------------------------------------


def test_fit_returns_the_calibrator_with_its_fitted_numbers_ending_in_underscore():
    logits, labels = make_logits(np.random.default_rng(0))
    calibrator = ConfidenceCalibrator()

    assert calibrator.fit(logits, labels) is calibrator
    assert {"temperature_", "slope_", "offset_"} <= set(vars(calibrator))
    assert not hasattr(ConfidenceCalibrator(), "slope_")  # nothing is computed before fit
    with pytest.raises(CalibrationError, match="call fit"):
        ConfidenceCalibrator().predict_proba(logits)


def test_calibrated_probabilities_sum_to_one_and_never_change_the_ranking():
    logits, labels = make_logits(np.random.default_rng(1))
    probabilities = ConfidenceCalibrator().fit(logits, labels).predict_proba(logits)

    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(np.argsort(-probabilities, axis=1)[:, :3], np.argsort(-logits, axis=1)[:, :3])


def test_an_over_confident_model_is_brought_to_its_accuracy_on_photos_it_was_not_fitted_on():
    logits, labels = make_logits(np.random.default_rng(2), n=1000)

    before = cross_validate(logits, labels, None).pooled
    after = cross_validate(logits, labels, ConfidenceCalibrator).pooled

    assert before["confidence_gap"] > 0.15  # the toy model claims far more than it gets right
    assert abs(after["confidence_gap"]) < 0.03 and after["ece"] < before["ece"] and after["nll"] < before["nll"]


def test_a_small_set_where_every_answer_is_right_keeps_finite_honest_numbers():
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 2.5]])
    probabilities = ConfidenceCalibrator().fit(logits, np.array([0, 1, 2])).predict_proba(logits)

    assert np.all(np.isfinite(probabilities)) and probabilities.max() < 1.0


def test_correcting_the_confidence_with_slope_one_and_offset_zero_changes_nothing():
    probabilities = softmax(np.random.default_rng(3).normal(size=(5, 4)))

    np.testing.assert_array_equal(correct_confidence(probabilities), probabilities)


def test_folds_cover_every_photo_once_and_repeat_with_the_same_seed():
    parts = fold_indices(23, folds=5, seed=7)

    assert sorted(np.concatenate(parts).tolist()) == list(range(23))
    assert all(np.array_equal(a, b) for a, b in zip(parts, fold_indices(23, folds=5, seed=7), strict=True))


def test_a_calibration_file_without_the_new_fields_still_loads_and_means_temperature_only(tmp_path):
    old = tmp_path / "calibration.json"
    old.write_text(json.dumps({"temperature": 2.0, "ood_method": "energy", "ood_threshold": -5.0}))
    logits = np.array([3.0, 1.0, 0.0])

    calibration = Calibration.load(old)

    np.testing.assert_allclose(calibration.probabilities(logits), softmax(logits, 2.0))
    assert calibration.low_confidence_below == LOW_CONFIDENCE


def test_a_fine_tuned_models_calibration_is_fitted_on_its_own_photos_and_saved_with_its_correction(tmp_path):
    logits, labels = make_logits(np.random.default_rng(4), n=60, classes=4)
    others = np.random.default_rng(5).normal(0, 0.3, (20, 4))

    calibration = fit_calibration_from_logits(logits, labels, others, fitted_on="60 validation photos")
    loaded = Calibration.load(calibration.save(tmp_path / "calibration.json"))

    assert loaded == calibration and loaded.confidence_slope != 1.0
    assert loaded.measured["held_out"]["after"]["ece"] < loaded.measured["held_out"]["before"]["ece"]


# --- the notes --------------------------------------------------------------------------------------------------------


def scores(*pairs: tuple[str, float]) -> tuple[ClassScore, ...]:
    return tuple(ClassScore(label, index, label, probability) for index, (label, probability) in enumerate(pairs))


def test_the_low_confidence_note_names_the_runner_up_and_the_not_sure_note_wins_when_both_apply():
    top = scores(("cab", 0.43), ("limousine", 0.31))
    hesitant = Prediction(top, 1.0, np.zeros(2), low_confidence=True)
    unfamiliar = Prediction(top, 1.0, np.zeros(2), not_sure=True, low_confidence=True)

    assert hesitant.note == "low_confidence" and unfamiliar.note == "out_of_distribution"
    assert doubt(hesitant) == ("Low confidence", "it hesitates between cab (43%) and limousine (31%)")
    assert doubt(unfamiliar) == ("Not sure", "this is probably none of the 2 classes I was taught")
    assert str(hesitant).endswith("(low confidence)") and str(unfamiliar).endswith("(not sure)")
    assert doubt(Prediction(scores(("cab", 0.9)), 1.0, np.zeros(1))) is None


def test_the_not_sure_note_counts_the_classes_of_the_model_that_answered():
    top = scores(("cab", 0.43), ("limousine", 0.31))
    imagenet = doubt(Prediction(top, 1.0, np.zeros(1000), not_sure=True))
    taught = doubt(Prediction(top, 1.0, np.zeros(4), not_sure=True))

    assert imagenet.sentence() == (
        "Not sure: this is probably none of the 1000 things I know. Treat the answer as a guess."
    )
    assert str(taught) == "Not sure: this is probably none of the 4 classes I was taught"
    assert taught.aside() == "not sure: this is probably none of the 4 classes I was taught"


def test_a_prediction_as_json_gives_its_ood_score_and_which_note_it_got():
    answer = Prediction(
        scores(("cab", 0.43), ("limousine", 0.31)), 1.0, np.zeros(2), ood_score=-8.123456, low_confidence=True
    ).to_dict()

    assert answer["ood_score"] == -8.1235 and answer["note"] == "low_confidence"
    assert answer["low_confidence"] and not answer["not_sure"]


# --- on real validation photos ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validation_photos() -> list[LabelledImage]:
    return read_labelled_folder(fetch(VALIDATION_SET, progress=False))


@pytest.fixture(scope="module")
def classifier():
    from labkit.model import shared_classifier

    return shared_classifier()


@pytest.fixture(scope="module")
def validation_outputs(classifier, validation_photos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits, true classes and clipped pooled features of the 650 photos."""
    from labkit.calibrate import outputs_for_images

    logits, features = outputs_for_images(classifier, [photo.path for photo in validation_photos])
    assert features is not None
    return logits, np.array([photo.class_index for photo in validation_photos]), features


@pytest.fixture(scope="module")
def validation_logits(validation_outputs) -> tuple[np.ndarray, np.ndarray]:
    return validation_outputs[0], validation_outputs[1]


@pytest.mark.slow
@pytest.mark.parametrize("held_out_fold", range(5))
def test_the_fitted_calibration_is_no_worse_than_the_raw_logits_on_a_fold_it_was_not_fitted_on(
    validation_logits, held_out_fold
):
    logits, labels = validation_logits
    test = fold_indices(len(labels))[held_out_fold]
    train = np.setdiff1d(np.arange(len(labels)), test)

    calibrator = ConfidenceCalibrator().fit(logits[train], labels[train])
    raw = calibration_figures(softmax(logits[test]), labels[test])
    fitted = calibration_figures(calibrator.predict_proba(logits[test]), labels[test])

    assert fitted["nll"] <= raw["nll"] and fitted["ece"] <= raw["ece"], f"T=1 {raw}, fitted {fitted}"
    assert fitted["accuracy"] == raw["accuracy"]


@pytest.mark.slow
def test_cross_validated_on_the_650_photos_the_calibration_meets_its_targets(validation_logits):
    logits, labels = validation_logits

    pooled = cross_validate(logits, labels, ConfidenceCalibrator).pooled

    assert pooled["ece"] <= 0.05, pooled  # 15 bins; a perfectly calibrated model shows ~0.04 on 650 photos
    assert abs(pooled["confidence_gap"]) <= 0.02, pooled


@pytest.mark.slow
def test_the_not_sure_threshold_spares_real_photos_and_catches_generated_non_photos(classifier, validation_outputs):
    # ASH-S on the clipped features, fitted as benchmarks/calibration.py --save fits the shipped one (keep 96 %),
    # on the training folds only (its kept share too), checked on held-out photos and on other generated images.
    from labkit.calibrate import outputs_for_images

    logits, labels, features = validation_outputs
    fit_logits, fit_features = outputs_for_images(classifier, generate_ood_images(120, seed=0))
    check_logits, check_features = outputs_for_images(classifier, generate_ood_images(120, seed=3))
    flagged_photos, caught, caught_by_energy = [], [], []
    for test in fold_indices(len(labels)):
        train = np.setdiff1d(np.arange(len(labels)), test)
        calibration = fit_calibration_from_logits(
            logits[train],
            labels[train],
            fit_logits,
            ood_method="ash_s",
            keep=0.96,
            features=features[train],
            ood_features=fit_features,
            head=classifier.head,
        )
        energy = fit_calibration_from_logits(logits[train], labels[train], fit_logits, ood_method="energy", keep=0.96)
        flagged_photos.append(np.mean(calibration.not_sure(logits[test], features[test], classifier.head)))
        caught.append(np.mean(calibration.not_sure(check_logits, check_features, classifier.head)))
        caught_by_energy.append(np.mean(energy.not_sure(check_logits)))

    assert np.mean(flagged_photos) <= 0.05, flagged_photos
    assert np.mean(caught) >= 0.9, caught
    assert np.mean(caught) > np.mean(caught_by_energy), (caught, caught_by_energy)


@pytest.mark.slow
def test_the_shipped_calibration_was_fitted_on_the_validation_photos_and_says_so():
    raw = json.loads(CALIBRATION_FILE.read_text())
    held_out = raw["measured"]["held_out"]["after"]

    assert "650 ImageNet validation photos" in raw["fitted_on"] and "cross-validation" in raw["fitted_on"]
    assert raw["measured"]["photos"] == 650 and raw["measured"]["ece_bins"] == ECE_BINS
    assert held_out["ece"] <= 0.05 and abs(held_out["confidence_gap"]) <= 0.02
    assert shipped_calibration().confidence_slope == raw["confidence_slope"]


@pytest.mark.slow
def test_a_hesitant_real_photo_gets_the_low_confidence_note_and_colour_noise_the_not_sure_note(
    classifier, validation_photos
):
    photo = next(item.path for item in validation_photos if item.path.name == HESITANT_PHOTO)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))

    hesitant, unfamiliar = classifier.predict([photo, noise])

    assert hesitant.note == "low_confidence", f"{hesitant}, ood_score {hesitant.ood_score:.2f}"
    assert (hesitant.label, hesitant.runner_up.label) == (HESITANT_BEST, HESITANT_RUNNER_UP)
    assert unfamiliar.note == "out_of_distribution", f"{unfamiliar}, ood_score {unfamiliar.ood_score:.2f}"
    np.testing.assert_allclose(hesitant.probability, shipped_calibration().probabilities(hesitant.logits).max())


@pytest.mark.slow
def test_evaluate_as_json_says_how_honest_the_percentages_were(classifier, validation_photos):
    from labkit.calibrate import outputs_for_images
    from labkit.evaluate import evaluate

    result = evaluate(classifier, validation_photos[:64], progress=False)
    figures = result.to_dict()

    assert {"ece", "mean_confidence", "nll", "not_sure_rate"} <= set(figures)
    assert 0 <= figures["ece"] <= 1 and 0 < figures["mean_confidence"] < 1 and figures["nll"] > 0
    features = outputs_for_images(classifier, [photo.path for photo in validation_photos[:64]])[1]
    flagged = shipped_calibration().not_sure(result.logits, features, classifier.head)
    assert figures["not_sure_rate"] == round(float(np.mean(flagged)), 4)
    shown = np.array([record.probability for record in result.records])
    assert figures["mean_confidence"] == pytest.approx(shown.mean(), abs=1e-4)  # the shown, calibrated ones
