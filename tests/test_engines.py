"""The LiteRT engines: the same answers as Keras on the 60 real photos, any batch size, a disk cache that spares
later kernels the conversion and TensorFlow, and clear messages for a wrong engine name or a missing package.

Each test module run converts the real MobileNetV2 afresh into a temporary cache (about a minute in all), so the
conversion itself is tested, not only a cache left by an earlier run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from labkit import Classifier, load_image
from labkit.engines import (
    DEFAULT_ENGINE,
    ENGINES,
    EngineError,
    LiteRTForward,
    convert_to_litert,
    default_engine,
    default_threads,
    litert_model,
    make_forward,
)
from labkit.network import REACT_CLIP
from labkit.preprocess import to_batch

pytestmark = pytest.mark.slow  # converts MobileNetV2 to LiteRT twice (float32 and int8)

# The share of the 60 photos on which an engine's top-1 must equal the Keras engine's. Measured: float32 60/60,
# int8 58/60 (benchmarks/engines.py): rounding flips the top-1 of photos whose two best classes are close. 95 % (57/60)
# leaves one photo of slack for CPUs whose int8 kernels round differently.
REQUIRED_AGREEMENT = {"litert": 0.99, "litert-int8": 0.95}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty labkit cache for this module: the first LiteRT classifier of each engine converts the model."""
    folder = tmp_path_factory.mktemp("labkit-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def photos(samples_dir, sample_labels) -> np.ndarray:
    """The 60 shared photos, preprocessed as the classifier does."""
    return to_batch([load_image(samples_dir / row["file"]) for row in sample_labels])


@pytest.fixture(scope="module")
def keras_outputs(photos) -> tuple[np.ndarray, np.ndarray]:
    logits, features = Classifier(engine="keras").forward(photos)
    assert features is not None
    return logits, features


@pytest.fixture(scope="module")
def keras_logits(keras_outputs) -> np.ndarray:
    return keras_outputs[0]


@pytest.fixture(scope="module")
def classifiers(cache) -> dict[str, Classifier]:
    return {engine: Classifier(engine=engine) for engine in ("litert", "litert-int8")}


# --- the same answers as Keras ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_each_engine_gives_the_keras_top1_on_the_shared_photos(
    engine, classifiers, photos, keras_logits, sample_labels
):
    top1 = classifiers[engine].logits(photos).argmax(axis=1)
    expected = keras_logits.argmax(axis=1)
    differ = [
        f"{row['file']}: keras {classifiers[engine].class_names[want]}, {engine} {classifiers[engine].class_names[got]}"
        for row, want, got in zip(sample_labels, expected, top1, strict=True)
        if want != got
    ]

    agreement = 1 - len(differ) / len(photos)
    assert agreement >= REQUIRED_AGREEMENT[engine], f"{engine} agrees on {agreement:.1%}:\n" + "\n".join(differ)


def test_float32_litert_computes_the_same_logits_as_keras(classifiers, photos, keras_logits):
    assert np.allclose(classifiers["litert"].logits(photos), keras_logits, atol=1e-2)


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_each_engine_returns_the_clipped_pooled_features_beside_unchanged_logits(
    engine, classifiers, photos, keras_outputs
):
    keras_logits, keras_features = keras_outputs
    logits, features = classifiers[engine].forward(photos)

    assert features is not None and features.shape == (len(photos), 1280)
    assert features.min() >= 0 and features.max() <= REACT_CLIP + 1e-3  # after the ReAct clip
    np.testing.assert_array_equal(logits, classifiers[engine].logits(photos))
    if engine == "litert":  # float32: the features and the logits read from them are Keras' own
        np.testing.assert_allclose(features, keras_features, atol=1e-4)
        weights, bias = classifiers[engine].head
        np.testing.assert_allclose(features @ weights + bias, logits, atol=1e-3)
    else:  # int8 rounds them to 8 bits
        assert np.mean(np.abs(features - keras_features)) < 0.05


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_each_engine_gives_the_last_feature_map_for_heatmaps_with_the_same_logits(engine, classifiers, photos):
    logits, maps = classifiers[engine].feature_maps(photos[:4])
    _, features = classifiers[engine].forward(photos[:4])

    assert maps.shape == (4, 7, 7, 1280) and maps.min() >= 0
    np.testing.assert_array_equal(logits, classifiers[engine].logits(photos[:4]))
    # the pooled features are the map's mean over its 49 cells, clipped (int8: to within its rounding)
    np.testing.assert_allclose(
        np.minimum(maps.mean(axis=(1, 2)), REACT_CLIP), features, atol=1e-4 if engine == "litert" else 0.05
    )


def test_a_model_of_an_older_recipe_is_never_served_from_the_cache(monkeypatch):
    import labkit.engines as engines

    current = engines.cached_model_path("litert", "0" * 64, "squash", 1000)
    monkeypatch.setattr(engines, "CONVERSION_VERSION", engines.CONVERSION_VERSION - 1)  # one output, no features

    assert engines.cached_model_path("litert", "0" * 64, "squash", 1000) != current


def test_the_default_engine_is_one_required_to_agree_with_keras_on_99_percent(classifiers):
    assert REQUIRED_AGREEMENT.get(DEFAULT_ENGINE, 1.0) >= 0.99  # "keras" agrees with itself
    assert Classifier().engine == DEFAULT_ENGINE


def test_int8_is_at_least_three_times_smaller_than_float32(classifiers):
    sizes = {
        engine: litert_model(engine, classifier.description).stat().st_size
        for engine, classifier in classifiers.items()
    }

    assert sizes["litert-int8"] * 3 < sizes["litert"]


# --- any batch size ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_any_batch_size_gives_one_row_per_photo_with_the_same_scores(engine, classifiers, photos):
    classifier = classifiers[engine]
    one_by_one = np.concatenate([classifier.logits(photos[index : index + 1]) for index in range(33)])

    for size in (0, 1, 2, 7, 33):
        logits = classifier.logits(photos[:size])
        assert logits.shape == (size, 1000)
        assert np.allclose(logits, one_by_one[:size], atol=1e-4)


def test_a_litert_classifier_classifies_photo_files_like_keras(classifiers, samples_dir, sample_labels, keras_logits):
    files = [samples_dir / row["file"] for row in sample_labels[:5]]

    predictions = classifiers["litert"].predict(files)

    assert [prediction.class_index for prediction in predictions] == keras_logits[:5].argmax(axis=1).tolist()


def test_a_wrongly_shaped_batch_says_how_to_preprocess(classifiers):
    with pytest.raises(ValueError, match="to_batch"):
        classifiers["litert"].logits(np.zeros((1, 128, 128, 3), np.float32))


# --- the cache ---------------------------------------------------------------------------------------------------

WARM_START = """
import json, sys, time
start = time.perf_counter()
import labkit
after_import = sorted(name for name in ("tensorflow", "keras") if name in sys.modules)
classifier = labkit.Classifier(engine={engine!r})
label = classifier.classify({photo!r}).label
print(json.dumps({{"after_import": after_import, "seconds": time.perf_counter() - start, "label": label,
                  "loaded": sorted(name for name in ("tensorflow", "keras") if name in sys.modules)}}))
"""


@pytest.mark.parametrize("engine", ["litert", "litert-int8"])
def test_a_second_kernel_reuses_the_converted_model_and_never_imports_tensorflow(
    engine, classifiers, cache, samples_dir
):
    cached = sorted(cache.glob("litert/*.tflite"))
    stamps = {path: path.stat().st_mtime_ns for path in cached}
    script = WARM_START.format(engine=engine, photo=str(samples_dir / "207_golden_retriever.jpg"))

    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LABKIT_CACHE_DIR": str(cache)},
    )

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["after_import"] == [], "import labkit should not import TensorFlow"
    assert report["loaded"] == [], "a LiteRT classifier with a warm cache should not import TensorFlow"
    assert report["label"] == "golden retriever"
    assert "converting" not in run.stderr
    assert sorted(cache.glob("litert/*.tflite")) == cached
    assert {path: path.stat().st_mtime_ns for path in cached} == stamps, "the cached model was rewritten"


def small_model(seed: int):
    """A tiny Keras model over MobileNetV2's input (converts in a few seconds) with 3 classes."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((224, 224, 3)),
            keras.layers.Conv2D(4, 3, strides=4),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )


def test_a_custom_model_is_converted_once_per_set_of_weights(cache, capfd):
    names = ["glass", "metal", "paper"]
    first = small_model(seed=1)
    batch = np.random.default_rng(0).uniform(-1, 1, (4, 224, 224, 3)).astype(np.float32)

    converted = Classifier.from_keras(first, class_names=names, engine="litert")
    assert "converting the model to LiteRT float32" in capfd.readouterr().err
    again = Classifier.from_keras(first, class_names=names, engine="litert")
    assert "converting" not in capfd.readouterr().err
    Classifier.from_keras(small_model(seed=2), class_names=names, engine="litert")
    assert "converting" in capfd.readouterr().err, "new weights must not reuse the old conversion"

    assert np.allclose(converted.logits(batch), first(batch).numpy(), atol=1e-4)
    assert np.allclose(again.logits(batch), converted.logits(batch))


def test_a_broken_cached_file_is_converted_again(cache, capfd):
    names = ["glass", "metal", "paper"]
    model = small_model(seed=3)
    classifier = Classifier.from_keras(model, class_names=names, engine="litert")
    path = litert_model("litert", classifier.description)
    path.write_bytes(b"half a flatbuffer")
    capfd.readouterr()

    rebuilt = Classifier.from_keras(model, class_names=names, engine="litert")

    assert "converting" in capfd.readouterr().err
    assert rebuilt.classify(Image.new("RGB", (64, 64), "gray")).label in names
    assert path.stat().st_size > 1000


def test_a_model_converted_in_memory_runs_from_its_bytes_without_the_cache(cache):
    model = small_model(seed=4)
    batch = np.random.default_rng(1).uniform(-1, 1, (3, 224, 224, 3)).astype(np.float32)
    cached_before = sorted(cache.rglob("*"))

    forward = LiteRTForward(convert_to_litert(model))

    logits, features = forward(batch)
    assert np.allclose(logits, model(batch).numpy(), atol=1e-4)
    assert features is None  # no ReAct clip, no second output
    assert sorted(cache.rglob("*")) == cached_before


# --- choosing an engine, and the messages when that fails -------------------------------------------------------


def test_an_unknown_engine_lists_the_engines():
    with pytest.raises(EngineError) as raised:
        Classifier(engine="tpu")

    message = str(raised.value)
    assert "'tpu'" in message
    assert all(repr(engine) in message for engine in ENGINES)


def test_make_forward_rejects_an_unknown_engine_before_building_anything():
    with pytest.raises(EngineError, match="litert-int8"):
        make_forward("litert-fp16", description=None)  # type: ignore[arg-type]


def test_a_missing_litert_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # what an uninstalled package looks like

    with pytest.raises(EngineError, match="pip install ai-edge-litert"):
        LiteRTForward(tmp_path / "model.tflite")


def test_models_from_files_default_to_the_fast_engine_models_in_memory_to_keras():
    assert default_engine("imagenet") == DEFAULT_ENGINE
    assert default_engine("/models/my_weights.h5") == DEFAULT_ENGINE
    assert default_engine(None) == "keras"
    assert default_engine("imagenet", model=object()) == "keras"


def test_litert_uses_two_threads_unless_labkit_threads_says_otherwise(monkeypatch):
    monkeypatch.delenv("LABKIT_THREADS", raising=False)
    assert default_threads() == min(2, os.cpu_count() or 1)
    monkeypatch.setenv("LABKIT_THREADS", "1")
    assert default_threads() == 1


@pytest.mark.parametrize("setting", ["two", "0", "-1", "1.5"])
def test_a_bad_labkit_threads_setting_says_what_to_set(monkeypatch, setting):
    monkeypatch.setenv("LABKIT_THREADS", setting)
    with pytest.raises(EngineError, match=r"LABKIT_THREADS must be a whole number.*1 on a server"):
        default_threads()
