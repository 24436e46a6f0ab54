"""The lessons' "Try it" widgets, driven from Python as a student drives them in the browser: move a slider, press a
button, choose a class, upload a file (fastbook's trick: set the FileUpload's value). Each test checks that what the
widget shows changed the way a student would expect, and that bad input shows a message and the widget goes on.
"""

from __future__ import annotations

import datetime
import html
import io
import re

import numpy as np
import pytest
from PIL import Image

from labkit import load_image
from labkit.calibration import Calibration
from labkit.evaluate import EvaluationResult, score_logits
from labkit.lessons.accuracy import try_accuracy
from labkit.lessons.looking import try_where_it_looked
from labkit.lessons.pixels import try_pixels
from labkit.lessons.predictions import try_your_photo
from labkit.lessons.preparing import try_preparing
from labkit.lessons.speed import try_speed
from labkit.lessons.trust import try_trust
from labkit.lessons.tryit import TryIt, find_sample
from labkit.model import shared_classifier

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def fake_upload(name: str, data: bytes, mime: str = "image/jpeg") -> tuple[dict, ...]:
    """What ipywidgets 8's FileUpload holds after a student picks one file in the browser."""
    return (
        {
            "name": name,
            "type": mime,
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.UTC),
        },
    )


def alt_texts(widget: TryIt) -> list[str]:
    return [html.unescape(alt) for area in widget.results for alt in re.findall(r'alt="([^"]*)"', area.value)]


@pytest.fixture(scope="module")
def classifier():
    return shared_classifier()


def test_every_widget_carries_its_default_state_as_text_and_html_for_nbval_and_github(classifier):
    widget = try_your_photo(classifier)
    bundle = widget._repr_mimebundle_()

    assert bundle["text/plain"] == widget.summary
    assert "<img" in bundle["text/html"] and 'alt="' in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle


# --- 01 images are arrays -----------------------------------------------------------------------------------------


def test_moving_the_row_slider_shows_that_pixels_own_numbers():
    widget = try_pixels("tabby")
    pixels = np.asarray(load_image(find_sample("tabby").path))
    widget.rows.value = 7

    red, green, blue = pixels[7, widget.columns.value]
    assert "row 7," in widget.summary
    assert f"red {red}, green {green}, blue {blue}" in widget.summary
    assert any("row 7" in alt for alt in alt_texts(widget))


def test_a_click_on_the_photo_moves_the_sliders_to_that_pixel():
    widget = try_pixels("tabby")

    widget.photo.row, widget.photo.column = 5, 9  # what the browser sends when the photo is clicked there

    assert (widget.rows.value, widget.columns.value) == (5, 9)
    assert "pixel at row 5, column 9:" in widget.summary
    assert widget.photo.src.startswith("data:image/jpeg;base64,") and "click" in widget.photo.alt


def test_a_text_file_uploaded_as_a_photo_gets_a_message_and_the_next_photo_works():
    widget = try_pixels()
    upload = widget.upload

    upload.value = fake_upload("notes.txt", b"just some words\n", "text/plain")
    assert "not an image" in widget.summary and "notes.txt" in widget.result.value

    tabby = find_sample("tabby").path
    upload.value = fake_upload("my cat.jpg", tabby.read_bytes())
    height, width = np.asarray(load_image(tabby)).shape[:2]
    assert widget.summary.startswith(f"my cat.jpg, pixel at row {height // 2}, column {width // 2}")
    assert [bytes(file["content"]) for file in upload.value] == [b""]  # the bytes are not kept once read
    assert upload.value[0]["name"] == "my cat.jpg"  # the button counts the photo in use: "(1)"
    assert widget.samples.label == "your photo: my cat.jpg"  # and the list names it

    widget.samples.value = "cab.jpg"  # back to a sample: the button's count goes back to 0
    assert upload.value == () and widget.summary.startswith("cab.jpg")
    widget.samples.value = widget.samples.options[-1][1]  # and back to the upload, without uploading again
    assert widget.summary.startswith("my cat.jpg")


# --- 02 preparing a photo -------------------------------------------------------------------------------------------


def test_scaling_to_0_1_washes_the_photo_out_and_changes_the_answer(classifier):
    widget = try_preparing(classifier, "tabby")
    right = widget.state.prediction

    widget.scaling.value = "[0, 1]"

    assert widget.summary.startswith(f"{find_sample('tabby').path.name}, squash, [0, 1]:")
    assert widget.state.prediction.probability != pytest.approx(right.probability, abs=1e-3)
    assert any("washed out" in alt for alt in alt_texts(widget))
    assert widget.state.model_input().max() <= 1.0 and widget.state.model_input().min() >= 0.0


def test_it_opens_on_a_photo_the_slip_hurts_beside_the_lesson_s_measurement_on_many_photos(classifier):
    measured = {("squash", "[-1, 1]"): 511 / 650, ("squash", "[0, 1]"): 463 / 650}
    widget = try_preparing(classifier, accuracy=measured, measured_on=650)

    def right_class(prediction) -> float:  # the probability of the photo's own class, pizza
        return next((score.probability for score in prediction.top if score.label == "pizza"), 0.0)

    right = widget.state.prediction
    assert widget.summary.startswith("pizza.jpg, squash, [-1, 1]: pizza")
    assert "On 650 labelled photos (squash): 79% right with [-1, 1], 71% with [0, 1]." in widget.result.value
    widget.scaling.value = "[0, 1]"
    assert right_class(right) - right_class(widget.state.prediction) > 0.5  # measured 91% -> 19%: far from rounding
    assert widget.state.prediction.label != "pizza"
    assert "On 650 labelled photos" in widget.result.value


def test_the_crop_policy_is_what_the_model_gets(classifier):
    widget = try_preparing(classifier)
    widget.policy.value = "crop"

    assert ", crop, [-1, 1]:" in widget.summary
    assert any("centre crop" in alt for alt in alt_texts(widget))


# --- 03 first predictions -------------------------------------------------------------------------------------------


def test_uploading_the_tabby_photo_shows_tabby(classifier):
    widget = try_your_photo(classifier)
    widget.upload.value = fake_upload("cat.jpg", find_sample("tabby").path.read_bytes())

    assert widget.summary.startswith("cat.jpg: ")
    assert "tabby" in [score.label for score in widget.prediction.top]
    assert "tabby" in widget.result.value
    assert any(alt.startswith("Bar chart of the top 3 guesses") for alt in alt_texts(widget))


def test_a_bad_upload_shows_its_message_where_the_result_was_and_the_next_good_one_works(classifier):
    widget = try_your_photo(classifier)

    widget.upload.value = fake_upload("homework.pdf", PDF, "application/pdf")
    assert "homework.pdf" in widget.summary and "PDF" in widget.summary
    assert 'role="alert"' in widget.result.value

    widget.upload.value = fake_upload("cat.jpg", find_sample("tabby").path.read_bytes())
    assert widget.summary.startswith("cat.jpg: ") and 'role="alert"' not in widget.result.value


def test_a_photo_of_none_of_the_classes_gets_the_not_sure_note(classifier):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    widget = try_your_photo(classifier)
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    widget.upload.value = fake_upload("noise.png", buffer.getvalue(), "image/png")

    assert widget.prediction.not_sure
    assert "Not sure: this is probably none of the 1000 things" in html.unescape(widget.result.value)


# --- 04 where did it look -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_choosing_the_other_photos_class_moves_the_heatmap_to_its_side(classifier):
    left, right = (load_image(find_sample(name).path).resize((224, 224)) for name in ("tabby", "space shuttle"))
    picture = Image.new("RGB", (448, 224))
    picture.paste(left, (0, 0))
    picture.paste(right, (224, 0))
    widget = try_where_it_looked(classifier, picture)
    left_class, right_class = (classifier.classify(half).class_index for half in (left, right))
    assert {left_class, right_class} <= {index for _, index in widget.classes.options}  # both among the top 5

    def left_share() -> float:
        return float(widget.heatmap[:, :224].sum() / widget.heatmap.sum())

    widget.classes.value = left_class
    assert left_share() > 0.7, widget.summary
    widget.classes.value = right_class
    assert left_share() < 0.3, widget.summary
    assert f"evidence for '{classifier.class_names[right_class]}'" in widget.summary


@pytest.mark.slow
def test_the_opacity_slider_redraws_without_recomputing_the_heatmap(classifier):
    widget = try_where_it_looked(classifier)
    heatmap = widget.heatmap
    before = widget.result.value

    widget.opacity.value = 0.9

    assert widget.heatmap is heatmap  # kept, not computed again
    assert widget.result.value != before and "opacity 0.90" in widget.summary


@pytest.mark.slow
def test_another_photo_lists_its_own_top_5_and_shows_its_best_guess(classifier):
    widget = try_where_it_looked(classifier)
    tabby = find_sample("tabby")

    widget.samples.value = tabby.path.name

    expected = classifier.classify(load_image(tabby.path), top=5)
    assert [index for _, index in widget.classes.options] == [score.class_index for score in expected.top]
    assert widget.classes.value == expected.class_index
    assert widget.summary.startswith(f"{tabby.path.name}: evidence for '{expected.label}', the model's first guess")


# --- 05 when not to trust it ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trust_data():
    """Logits of 200 made-up photos of 10 classes, right about 70 % of the time, and 40 made-up non-photos."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 200)
    logits = rng.normal(0, 1, (200, 10))
    logits[np.arange(200), np.where(rng.random(200) < 0.7, labels, (labels + 1) % 10)] += 3.0
    other = rng.normal(0, 0.3, (40, 10))
    calibration = Calibration(temperature=1.0, ood_method="energy", ood_threshold=-3.0)
    return logits, labels, other, calibration


def test_the_temperature_slider_changes_the_reliability_diagrams_ece(trust_data):
    logits, labels, other, calibration = trust_data
    widget = try_trust(logits, labels, other, calibration=calibration, class_names=[f"c{i}" for i in range(10)])

    widget.temperature.value = 0.5
    sharp_ece, sharp_text = widget.state.ece, widget.results[0].value
    widget.temperature.value = 2.0
    soft_ece, soft_text = widget.state.ece, widget.results[0].value

    assert abs(sharp_ece - soft_ece) > 0.05
    assert f"ECE {sharp_ece:.3f}" in sharp_text and f"ECE {soft_ece:.3f}" in soft_text
    assert "T = 2.00" in widget.summary


def test_the_threshold_slider_decides_which_photos_and_non_photos_get_not_sure(trust_data):
    logits, labels, other, calibration = trust_data
    widget = try_trust(
        logits,
        labels,
        other,
        calibration=calibration,
        class_names=[f"c{i}" for i in range(10)],
        other_kinds=np.array(["noise"] * 40),
    )  # as the lesson passes them

    widget.threshold.value = widget.threshold.min
    assert '200 of 200 real photos get "not sure"' in widget.summary
    widget.threshold.value = widget.threshold.max
    assert "0 of 200 real photos" in widget.summary and "these pass as sure: 40 noise" in widget.summary


# --- 06 how good is it ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation() -> EvaluationResult:
    """An evaluation of 200 made-up photos of 8 classes, about 70 % right (no model needed)."""
    rng = np.random.default_rng(1)
    names = [f"class {letter}" for letter in "abcdefgh"]
    labels = rng.integers(0, 8, 200)
    logits = rng.normal(0, 1, (200, 8))
    logits[np.arange(200), labels] += 1.5
    records = score_logits(logits, labels, [f"photo{number}.jpg" for number in range(200)], names, k=3)
    return EvaluationResult(records=records, k=3, elapsed_s=1.0, logits=logits, labels=labels, class_names=names)


def test_more_photos_evaluated_narrow_the_interval(evaluation):
    widget = try_accuracy(evaluation)

    widget.photos.value = 20
    _, low_few, high_few = widget.state.interval()
    widget.photos.value = widget.photos.max
    _, low_all, high_all = widget.state.interval()

    assert high_all - low_all < high_few - low_few
    assert widget.summary.startswith(f"{evaluation.n} photos: ")


def test_choosing_classes_draws_their_confusion_matrix_and_one_class_asks_for_another(evaluation):
    widget = try_accuracy(evaluation)
    names = list(widget.classes.options)

    widget.classes.value = tuple(names[:3])
    assert f"Confusion matrix of {', '.join(names[:3])}." in widget.summary
    assert any(alt.startswith("Confusion matrix of 3 classes") for alt in alt_texts(widget))

    widget.classes.value = (names[0],)
    assert "Choose at least two classes" in widget.summary


def test_a_class_with_no_photo_gets_no_empty_row_and_the_list_shows_every_chosen_class():
    names = [f"class {letter}" for letter in "abcdefgh"]
    labels = np.arange(60) % 4  # photos of the first four classes only
    logits = np.zeros((60, 8))
    logits[np.arange(60), labels] = 2.0
    logits[::6, 7] = 3.0  # a few answered "class h", which no photo is
    records = score_logits(logits, labels, [f"photo{number}.jpg" for number in range(60)], names, k=3)
    result = EvaluationResult(records=records, k=3, elapsed_s=1.0, logits=logits, labels=labels, class_names=names)
    widget = try_accuracy(result, classes=["class a", "class b", "class h"])

    assert "No photo shows class h: a column only, no row." in widget.classes_result.value
    shown = alt_texts(widget)[-1]
    assert shown.startswith("Confusion matrix of 3 classes") and "No photo shows class h" in shown
    assert widget.classes.rows >= len(widget.classes.value) and widget.classes.layout.height.endswith("em")


# --- 07 how fast is it ----------------------------------------------------------------------------------------------


def test_pressing_measure_times_the_chosen_engine_and_batch_size(classifier):
    widget = try_speed({"litert": classifier})
    assert [(row.engine, row.batch) for row in widget.state.rows] == [("litert", 1)]  # measured with no click

    widget.batch.value = 4
    widget.measure.click()

    latest = widget.state.rows[-1]
    assert (latest.engine, latest.batch) == ("litert", 4) and latest.ms_per_photo > 0
    assert "litert, batch of 4:" in widget.summary and widget.result.value.count("<tr>") == 1 + 2
    assert widget.progress.layout.display == "none" and not widget.measure.disabled


def test_an_engine_that_fails_shows_why_and_the_button_works_again(classifier):
    class Broken:
        def logits(self, batch):
            raise RuntimeError("the interpreter crashed")

    widget = try_speed({"litert": classifier, "keras": Broken()}, measure_now=False)
    widget.engine.value = "keras"
    widget.measure.click()
    assert "the interpreter crashed" in widget.summary and not widget.measure.disabled

    widget.engine.value = "litert"
    widget.measure.click()
    assert widget.summary.startswith("litert, batch of 1:")
