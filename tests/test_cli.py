"""``python -m labkit``, run as a user would: a subprocess with the real weights and real photos."""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED = REPO_ROOT / "data" / "samples"


def run_labkit(
    *args: str, cwd: Path = REPO_ROOT, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    # LABKIT_WEIGHTS_DIR comes from the root conftest.py through the inherited environment.
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def bundled_rows() -> list[dict]:
    with open(BUNDLED / "labels.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def readable(label: str) -> str:
    return label.replace("_", " ")


def is_labkit_notice(line: str) -> bool:
    """labkit's own one-time notices, e.g. "labkit: converting the model to LiteRT ..." on a fresh machine."""
    return line.startswith("labkit: ")


def assert_clean_failure(stderr: str) -> None:
    assert "Traceback" not in stderr and stderr.strip(), stderr


def test_help_lists_the_commands_without_loading_tensorflow():
    shown = run_labkit("--help")
    assert shown.returncode == 0
    for command in ("classify", "evaluate", "serve"):
        assert command in shown.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from labkit.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_the_labkit_command_is_the_same_main_as_python_m_labkit():
    import tomllib

    from labkit.cli import build_parser, main

    entry = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]["labkit"]
    module, _, function = entry.partition(":")
    assert getattr(importlib.import_module(module), function) is main
    assert "usage: labkit " in build_parser().format_usage()
    for command in ("classify", "evaluate", "fetch", "train", "serve"):
        assert command in build_parser().format_help()
    assert run_labkit("--version").stdout.startswith("labkit ")
    assert "usage: python -m labkit " in run_labkit("classify").stderr


def test_classify_names_each_photo_with_its_top_guesses():
    rows = bundled_rows()
    shown = run_labkit("classify", *(f"data/samples/{row['file']}" for row in rows))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert line.startswith(f"data/samples/{row['file']}: ")
        if row["label"]:  # the three photos of none of the 1000 classes have no label to look for
            assert readable(row["label"]) in line  # among the top three
        assert line.count("%") == 3


@pytest.mark.slow  # builds and saves a Keras model, and the command loads it with TensorFlow
def test_classify_with_a_4_class_export_says_not_sure_in_that_models_terms(tmp_path):
    import keras

    from labkit.calibration import Calibration
    from labkit.export import export_model
    from labkit.model import Classifier

    # A model taught 4 classes whose calibration flags every photo "not sure" (any threshold below every score).
    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
    flags_all = Calibration(temperature=1.0, ood_method="energy", ood_threshold=-1e9, fitted_on="flags every photo")
    sorter = Classifier.from_keras(model, ["glass", "metal", "paper", "plastic"], calibration=flags_all, warm_up=False)
    folder = export_model(sorter, tmp_path / "sorter", litert=False)

    shown = run_labkit("classify", "--engine", "keras", "--model", str(folder), "data/samples/cab.jpg")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().endswith("(not sure: this is probably none of the 4 classes I was taught)")
    assert "1000" not in shown.stdout


def test_classify_json_is_a_list_with_the_top_n_and_timing():
    shown = run_labkit("classify", "--json", "--top", "5", "data/samples/cab.jpg")
    assert shown.returncode == 0, shown.stderr
    (answer,) = json.loads(shown.stdout)
    assert answer["file"] == "data/samples/cab.jpg"
    assert answer["top"][0]["label"] == "cab" and answer["top"][0]["class_index"] == 468
    assert len(answer["top"]) == 5 and answer["elapsed_ms"] > 0
    probabilities = [guess["probability"] for guess in answer["top"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert isinstance(answer["ood_score"], float) and answer["note"] is None  # a clear zebra: no note of doubt


def test_a_bad_file_gets_one_clear_line_and_the_others_are_still_classified(tmp_path):
    (tmp_path / "notes.jpg").write_text("shopping list: milk, eggs, bread\n")
    shutil.copy(BUNDLED / "cab.jpg", tmp_path)

    shown = run_labkit("classify", "notes.jpg", "cab.jpg", cwd=tmp_path)

    assert shown.returncode == 1
    assert shown.stdout.startswith("cab.jpg: cab")
    assert_clean_failure(shown.stderr)
    (line,) = [line for line in shown.stderr.splitlines() if not is_labkit_notice(line)]
    assert line.startswith("notes.jpg: ") and "is not an image: it looks like a text file" in line


def test_a_bad_file_in_json_mode_is_an_error_entry(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    shown = run_labkit("classify", "--json", str(tmp_path / "empty.jpg"), "data/samples/pizza.jpg")
    assert shown.returncode == 1
    failed, answered = json.loads(shown.stdout)
    assert failed["file"].endswith("empty.jpg") and "is empty (0 bytes)" in failed["error"]
    assert answered["top"]
    assert_clean_failure(shown.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("classify",),
        ("classify", "--top", "0", "a.jpg"),
        ("evaluate",),
        ("classify", "--engine", "abacus", "a.jpg"),
        ("teleport",),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(args):
    shown = run_labkit(*args)
    assert shown.returncode == 2
    assert_clean_failure(shown.stderr)
    assert "usage:" in shown.stderr


def test_missing_weights_give_one_message_and_exit_3(tmp_path):
    missing = tmp_path / "typo.h5"
    shown = run_labkit("classify", "data/samples/cab.jpg", "--weights", str(missing))
    assert shown.returncode == 3
    assert_clean_failure(shown.stderr)
    assert str(missing) in shown.stderr and "What to do" in shown.stderr
    assert shown.stdout == ""


@pytest.fixture
def labelled_csv_folder(tmp_path, samples_dir, sample_labels) -> Path:
    """Six shared photos and their labels.csv (Keras labels), in a fresh folder."""
    rows = sample_labels[:6]
    folder = tmp_path / "csv"
    folder.mkdir()
    for row in rows:
        shutil.copy(samples_dir / row["file"], folder)
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows([row["file"], row["label"]] for row in rows)
    return folder


def test_evaluate_a_labels_csv_folder_as_json(labelled_csv_folder):
    shown = run_labkit("evaluate", "--json", str(labelled_csv_folder))
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["n"] == 6 and summary["errors"] == []
    assert 0 <= summary["top1"] <= summary["top3"] <= 1
    assert summary["images_per_s"] > 0
    assert 0 <= summary["ece"] <= 1 and 0 < summary["mean_confidence"] < 1 and summary["nll"] > 0
    assert 0 <= summary["not_sure_rate"] <= 1
    assert "6/6" in shown.stderr  # the progress bar
    assert "Traceback" not in shown.stderr


def test_evaluate_class_subfolders_with_a_limit_and_top_5(tmp_path, samples_dir, sample_labels):
    for row in sample_labels[:4]:
        folder = tmp_path / (row["wnid"] if row["class_index"] % 2 else row["label"])
        folder.mkdir(exist_ok=True)
        shutil.copy(samples_dir / row["file"], folder)

    shown = run_labkit("evaluate", str(tmp_path), "--json", "--limit", "3", "--top", "5")

    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["n"] == 3 and "top5" in summary and summary["top1"] <= summary["top5"]


def test_evaluate_prints_a_readable_summary_and_reports_unreadable_photos(labelled_csv_folder):
    (labelled_csv_folder / "notes.jpg").write_text("not a photo")
    with open(labelled_csv_folder / "labels.csv", "a", newline="") as handle:
        handle.write("notes.jpg,tabby\n")

    shown = run_labkit("evaluate", str(labelled_csv_folder))

    assert shown.returncode == 1
    assert shown.stdout.startswith("6 images: top-1 ")
    assert "images/s" in shown.stdout and "could not read 1 file(s): notes.jpg" in shown.stdout
    assert [line for line in shown.stderr.splitlines() if "notes.jpg" in line] == [
        f"{labelled_csv_folder / 'notes.jpg'}: 'notes.jpg' is not an image: it looks like a text file. "
        "labkit reads JPEG, PNG, GIF, BMP, WebP and TIFF images; save the picture itself in one of those formats "
        "(JPEG or PNG is safest)."
    ]


def test_evaluate_a_missing_folder_fails_fast(tmp_path):
    shown = run_labkit("evaluate", str(tmp_path / "photoz"))
    assert shown.returncode == 2
    assert_clean_failure(shown.stderr)
    assert "no folder or file at" in shown.stderr and "photoz" in shown.stderr


def test_evaluate_an_unlabelled_folder_says_how_to_label_it(tmp_path):
    shown = run_labkit("evaluate", str(tmp_path))
    assert shown.returncode == 2
    assert_clean_failure(shown.stderr)
    assert "found no photos. Add a labels.csv" in shown.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


def test_serve_starts_voila_and_stopping_labkit_stops_it():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "--port", str(port), "--no-browser"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None and not port_is_open(port):
            time.sleep(0.5)
        assert server.poll() is None, server.stdout.read()
        with urlopen(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=30) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not port_is_open(port), "Voilà kept running after labkit serve was stopped"
