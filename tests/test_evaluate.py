"""Measuring the classifier: labelled folders in both layouts, accuracy with intervals, mix-ups, latency."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from labkit import Classifier
from labkit.evaluate import EvaluationResult, evaluate, measure_latency, score_logits, wilson_interval
from labkit.folders import LabelError, LabelledImage, read_labelled_folder
from labkit.paths import TRASHNET_MINI_DIR
from labkit.plots import figure_to_png, plot_confusion_matrix

BOTTLES = ["beer bottle", "wine bottle", "water bottle", "pop bottle", "pill bottle", "water jug"]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(engine="keras")


@pytest.fixture(scope="module")
def shared_result(classifier, samples_dir):
    return evaluate(classifier, samples_dir, progress=False)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def copy_samples(rows: list[dict], samples_dir: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        shutil.copy(samples_dir / row["file"], folder / row["file"])


# --- reading labelled folders -------------------------------------------------------------------------------------


def test_the_shared_labels_csv_gives_every_photo_its_class(samples_dir, sample_labels):
    items = read_labelled_folder(samples_dir)
    assert [(item.path.name, item.class_index) for item in items] == [
        (row["file"], row["class_index"]) for row in sample_labels
    ]
    assert all(item.path.is_file() for item in items)


@pytest.mark.parametrize(
    "column, spell",
    [
        ("class_index", lambda row: str(row["class_index"])),
        ("wnid", lambda row: row["wnid"]),
        ("label", lambda row: row["label"]),  # Keras' spelling, golden_retriever
        ("label", lambda row: row["label"].replace("_", " ").upper()),  # readable, any case
    ],
)
def test_a_labels_csv_may_name_the_class_by_index_wnid_or_label(tmp_path, samples_dir, sample_labels, column, spell):
    rows = sample_labels[:6]
    copy_samples(rows, samples_dir, tmp_path)
    write_csv(tmp_path / "labels.csv", [{"file": row["file"], column: spell(row)} for row in rows])

    items = read_labelled_folder(tmp_path)

    assert [(item.path, item.class_index) for item in items] == [
        (tmp_path / row["file"], row["class_index"]) for row in rows
    ]


def test_a_csv_file_can_be_given_directly(tmp_path, samples_dir, sample_labels):
    rows = sample_labels[:2]
    copy_samples(rows, samples_dir, tmp_path / "photos")
    labels = write_csv(
        tmp_path / "my_labels.csv", [{"file": f"photos/{row['file']}", "wnid": row["wnid"]} for row in rows]
    )
    items = read_labelled_folder(labels)
    assert [item.class_index for item in items] == [row["class_index"] for row in rows]
    assert all(item.path.is_file() for item in items)


def test_class_subfolders_may_be_named_by_wnid_or_label(tmp_path, samples_dir, sample_labels):
    by_label, by_wnid = sample_labels[0], sample_labels[1]
    copy_samples([by_label], samples_dir, tmp_path / by_label["label"])
    copy_samples([by_wnid], samples_dir, tmp_path / by_wnid["wnid"])
    (tmp_path / by_label["label"] / "notes.txt").write_text("not a photo, not listed")

    items = read_labelled_folder(tmp_path)

    assert sorted((item.path.name, item.class_index) for item in items) == sorted(
        (row["file"], row["class_index"]) for row in (by_label, by_wnid)
    )


def test_a_fine_tuned_models_classes_name_its_folders():
    classes = ["glass", "metal", "paper", "plastic"]
    items = read_labelled_folder(TRASHNET_MINI_DIR, class_names=classes)
    for index, name in enumerate(classes):
        photos = [item for item in items if item.class_index == index]
        assert len(photos) == 60 and all(item.path.parent.name == name for item in photos)


def test_an_unknown_label_names_the_line_and_says_what_to_do(tmp_path):
    write_csv(tmp_path / "labels.csv", [{"file": "a.jpg", "label": "tabby"}, {"file": "b.jpg", "label": "dragon"}])
    with pytest.raises(LabelError, match=r"line 3: 'dragon' is not one of the model's 1000 classes.*Check the"):
        read_labelled_folder(tmp_path)


def test_a_label_shared_by_two_classes_asks_for_the_wnid(tmp_path):
    # ImageNet has two "crane"s: the bird (134) and the machine (517).
    write_csv(tmp_path / "labels.csv", [{"file": "a.jpg", "label": "crane"}])
    with pytest.raises(LabelError, match=r"'crane' names 2 classes: 134 \(n02012849\), 517 \(n03126707\).*wnid"):
        read_labelled_folder(tmp_path)


def test_an_out_of_range_class_index_is_refused(tmp_path):
    write_csv(tmp_path / "labels.csv", [{"file": "a.jpg", "class_index": "1000"}])
    with pytest.raises(LabelError, match=r"class_index 1000 is out of range.*0\.\.999"):
        read_labelled_folder(tmp_path)


def test_a_csv_without_a_file_column_says_which_columns_it_has(tmp_path):
    write_csv(tmp_path / "labels.csv", [{"image": "a.jpg", "label": "tabby"}])
    with pytest.raises(LabelError, match=r"no 'file' column \(its columns: image, label\)"):
        read_labelled_folder(tmp_path)


def test_a_csv_without_a_class_column_says_which_to_add(tmp_path):
    write_csv(tmp_path / "labels.csv", [{"file": "a.jpg", "comment": "a cat"}])
    with pytest.raises(LabelError, match="add a column named class_index, wnid or label"):
        read_labelled_folder(tmp_path)


def test_an_unknown_class_folder_is_named(tmp_path):
    (tmp_path / "unicorn").mkdir()
    with pytest.raises(LabelError, match=r"folder 'unicorn'.*not one of the model's 1000 classes"):
        read_labelled_folder(tmp_path)


def test_an_empty_folder_says_how_to_label_photos(tmp_path):
    with pytest.raises(LabelError, match=r"found no photos. Add a labels.csv"):
        read_labelled_folder(tmp_path)


def test_unlabelled_photos_are_not_guessed(tmp_path, samples_dir, sample_labels):
    copy_samples(sample_labels[:2], samples_dir, tmp_path)
    with pytest.raises(LabelError, match="found 2 photos but no labels"):
        read_labelled_folder(tmp_path)


def test_a_missing_folder_is_reported(tmp_path):
    with pytest.raises(LabelError, match="No folder at"):
        read_labelled_folder(tmp_path / "nowhere")


# --- evaluating ---------------------------------------------------------------------------------------------------


def test_the_60_shared_photos_score_at_least_85_percent_top1(shared_result, sample_labels):
    assert shared_result.n == 60 and shared_result.errors == []
    assert shared_result.top1 >= 0.85
    assert shared_result.topk >= shared_result.top1 and shared_result.k == 3
    low, high = shared_result.top1_interval
    # 60 photos pin the accuracy down only to within several points either way.
    assert low < shared_result.top1 < high and high - low > 0.1


def test_the_logits_and_labels_are_kept_for_calibration(shared_result, sample_labels):
    assert shared_result.logits.shape == (60, 1000)
    assert shared_result.labels.tolist() == [row["class_index"] for row in sample_labels]
    predicted = shared_result.logits.argmax(axis=1)
    assert [record.correct for record in shared_result.records] == (predicted == shared_result.labels).tolist()
    true_logits = shared_result.logits[np.arange(60), shared_result.labels]
    ranks = (shared_result.logits > true_logits[:, None]).sum(axis=1) + 1
    assert [record.true_rank for record in shared_result.records] == ranks.tolist()
    assert [record.in_top_k for record in shared_result.records] == (ranks <= 3).tolist()


def test_per_class_accuracy_and_misses_agree_with_the_records(shared_result):
    per_class = shared_result.per_class_accuracy()
    assert len(per_class) == 60
    missed = {record.true for record in shared_result.misses()}
    assert {name for name, accuracy in per_class.items() if accuracy == 0} == missed
    assert sum(per_class.values()) == pytest.approx(shared_result.top1 * 60)


def test_the_summary_is_json_ready(shared_result):
    summary = json.loads(json.dumps(shared_result.to_dict()))
    assert summary["n"] == 60
    assert summary["top1"] == pytest.approx(shared_result.top1, abs=1e-4)
    assert summary["top3"] == pytest.approx(shared_result.topk, abs=1e-4)
    assert summary["images_per_s"] > 0 and summary["errors"] == []
    assert len(summary["most_confused"]) == min(5, len(shared_result.misses()))


def test_a_bad_photo_is_recorded_and_the_others_are_still_scored(tmp_path, classifier, samples_dir, sample_labels):
    rows = sample_labels[:3]
    copy_samples(rows, samples_dir, tmp_path)
    (tmp_path / "notes.jpg").write_text("shopping list: milk, eggs")
    write_csv(
        tmp_path / "labels.csv",
        [{"file": row["file"], "label": row["label"]} for row in rows]
        + [{"file": "notes.jpg", "label": "tabby"}, {"file": "gone.jpg", "label": "tabby"}],
    )

    result = evaluate(classifier, tmp_path, progress=False)

    assert result.n == 3 and len(result.logits) == 3
    assert [Path(file).name for file, _ in result.errors] == ["notes.jpg", "gone.jpg"]
    assert "is not an image" in result.errors[0][1]
    assert "does not exist" in result.errors[1][1]
    assert [error["file"] for error in result.to_dict()["errors"]] == [file for file, _ in result.errors]


def test_batch_size_and_limit_change_nothing_but_the_count(classifier, samples_dir):
    items = read_labelled_folder(samples_dir)[:7]
    whole = evaluate(classifier, items, progress=False)
    in_threes = evaluate(classifier, samples_dir, limit=7, batch_size=3, progress=False)
    assert in_threes.n == whole.n == 7
    assert [record.predicted for record in in_threes.records] == [record.predicted for record in whole.records]
    np.testing.assert_allclose(in_threes.logits, whole.logits, rtol=1e-4, atol=1e-4)


def test_the_progress_bar_goes_to_stderr(classifier, samples_dir, capsys):
    evaluate(classifier, samples_dir, limit=2, progress=True)
    captured = capsys.readouterr()
    assert "2/2" in captured.err and captured.out == ""
    evaluate(classifier, samples_dir, limit=2, progress=False)
    assert capsys.readouterr().err == ""


# --- mix-ups --------------------------------------------------------------------------------------------------------


def test_most_confused_counts_each_mistake_pair():
    names = ["beer bottle", "wine bottle", "pop bottle", "teapot"]
    truths = [0, 0, 0, 1, 2, 2]
    answers = [1, 1, 0, 0, 3, 1]  # beer->wine twice, wine->beer, pop->teapot, pop->wine
    logits = np.eye(4)[answers] * 5
    records = score_logits(logits, np.array(truths), [f"{i}.jpg" for i in range(6)], names, k=2)
    result = EvaluationResult(records=records, k=2, elapsed_s=1.0, class_names=names)
    assert result.most_confused(2) == [("beer bottle", "wine bottle", 2), ("pop bottle", "teapot", 1)]
    matrix = result.confusion_matrix(["beer_bottle", "Wine Bottle", "pop bottle"])
    assert matrix.columns == ["beer bottle", "wine bottle", "pop bottle", "(other)"]
    assert matrix.counts.tolist() == [[1, 2, 0, 0], [1, 0, 0, 0], [0, 1, 0, 1]]


def test_the_bottle_confusion_matrix_covers_every_bottle_photo(shared_result):
    matrix = shared_result.confusion_matrix(BOTTLES)
    assert matrix.counts.shape == (6, 7)
    assert matrix.counts.sum(axis=1).tolist() == [1] * 6  # one photo of each in ../shared/samples
    right = [record.correct for record in shared_result.records if record.true in BOTTLES]
    assert np.trace(matrix.counts) == sum(right)


def test_the_confusion_matrix_plot_shows_the_counts(shared_result):
    matrix = shared_result.confusion_matrix(BOTTLES)
    figure = plot_confusion_matrix(matrix.counts, matrix.classes)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), shared_result.confusion_matrix(BOTTLES).counts)
    assert [tick.get_text() for tick in ax.get_yticklabels()] == BOTTLES
    assert figure_to_png(figure)[:4] == b"\x89PNG"


def test_an_unknown_class_in_the_confusion_matrix_is_named(shared_result):
    with pytest.raises(LabelError, match="'bottle of rum' is not one of"):
        shared_result.confusion_matrix(["beer bottle", "bottle of rum"])


# --- intervals and timing ---------------------------------------------------------------------------------------


def test_the_wilson_interval_matches_the_textbook_and_narrows_with_more_photos():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)  # the classic "0 out of 10" example
    assert wilson_interval(7, 10) == pytest.approx(tuple(1 - x for x in reversed(wilson_interval(3, 10))))
    small, large = wilson_interval(54, 60), wilson_interval(540, 600)
    assert large[1] - large[0] < (small[1] - small[0]) / 2
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_measure_latency_times_only_the_repeats_after_warm_up():
    calls = []

    def slow() -> None:
        calls.append(1)
        time.sleep(0.004)

    stats = measure_latency(slow, repeats=7, warmup=2)
    assert len(calls) == 9 and stats.n == 7
    assert 4.0 <= stats.p50_ms <= stats.p90_ms
    assert stats.per_second(32) == pytest.approx(32_000 / stats.p50_ms)


def test_latency_needs_at_least_one_repeat():
    with pytest.raises(ValueError, match="at least 1"):
        measure_latency(lambda: None, repeats=0)


def test_items_can_be_given_as_a_list(classifier, samples_dir, sample_labels):
    row = sample_labels[0]
    result = evaluate(classifier, [LabelledImage(samples_dir / row["file"], row["class_index"])], progress=False)
    assert result.n == 1 and result.records[0].true_index == row["class_index"]
