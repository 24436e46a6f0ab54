"""Grad-CAM: where did the model look?

What a student sees: on a picture made of a zebra (left) and a sports car (right), the heatmap for "zebra" lights
up the left half and the heatmap for "sports car" the right half; the overlay is the photo with colour on top;
asking for a heatmap never changes the classifier's answers. Fine-tuned models (MobileNetV2 nested inside a model
with a new head) work too: tested with small untrained models (fast) and with the real weights rebuilt that way.

The heatmap of a pooled-then-dense model comes from the engine that classifies, with numpy (no TensorFlow in the
app's kernel); it must agree with Keras' gradient on real photos, for the ImageNet model and an exported one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from labkit.explain import (
    ExplainError,
    gradcam,
    gradcam_model,
    gradcam_overlay,
    last_feature_layer,
    overlay_heatmap,
    resize_heatmap,
)
from labkit.images import load_image

ZEBRA, SPORTS_CAR = 340, 817


@pytest.fixture(scope="module")
def classifier():
    """The app's classifier (the default LiteRT engine): Grad-CAM must build and use its Keras model lazily."""
    from labkit.model import shared_classifier

    return shared_classifier()


@pytest.fixture(scope="module")
def zebra_and_car(samples_dir) -> Image.Image:
    """A 448 x 224 picture: the zebra photo on the left half, the sports car photo on the right half."""
    picture = Image.new("RGB", (448, 224))
    picture.paste(load_image(samples_dir / "340_zebra.jpg").resize((224, 224)), (0, 0))
    picture.paste(load_image(samples_dir / "817_sports_car.jpg").resize((224, 224)), (224, 0))
    return picture


def agree(numpy_heatmap: np.ndarray, keras_heatmap: np.ndarray) -> tuple[float, bool]:
    """The correlation of two heatmaps of one photo, and whether their peaks fall in the same place."""
    correlation = float(np.corrcoef(numpy_heatmap.ravel(), keras_heatmap.ravel())[0, 1])
    return correlation, np.argmax(numpy_heatmap) == np.argmax(keras_heatmap)


def left_share(heatmap: np.ndarray) -> float:
    """The share of the heatmap's total mass that lies in the left half."""
    half = heatmap.shape[1] // 2
    return float(heatmap[:, :half].sum() / heatmap.sum())


# --- the real model ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_each_class_heatmap_lights_up_its_own_half_of_a_two_photo_picture(classifier, zebra_and_car):
    zebra = gradcam(classifier, zebra_and_car, class_index=ZEBRA)
    car = gradcam(classifier, zebra_and_car, class_index=SPORTS_CAR)

    assert left_share(zebra) > 0.6, f"zebra heatmap: only {left_share(zebra):.0%} of its mass on the zebra's side"
    assert left_share(car) < 0.4, f"sports car heatmap: {left_share(car):.0%} of its mass on the zebra's side"


@pytest.mark.slow
def test_the_heatmap_has_the_photos_size_and_values_from_0_to_1(classifier, samples_dir):
    photo = load_image(samples_dir / "954_banana.jpg")

    heatmap = gradcam(classifier, photo)

    assert heatmap.shape == (photo.height, photo.width)
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert heatmap.max() > 0.9  # scaled so the strongest evidence is (close to) 1


@pytest.mark.slow
def test_without_a_class_index_the_heatmap_explains_the_top_class(classifier, samples_dir):
    photo = load_image(samples_dir / "207_golden_retriever.jpg")
    top_class = classifier.classify(photo).class_index

    np.testing.assert_allclose(gradcam(classifier, photo), gradcam(classifier, photo, top_class), atol=1e-5)


@pytest.mark.slow
def test_a_path_gives_the_same_heatmap_as_the_loaded_photo(classifier, samples_dir):
    path = samples_dir / "145_king_penguin.jpg"

    np.testing.assert_allclose(gradcam(classifier, path), gradcam(classifier, load_image(path)), atol=1e-6)


@pytest.mark.slow
def test_grad_cam_never_changes_the_classifiers_model_or_answers(classifier, samples_dir):
    model = classifier.model
    photo = samples_dir / "281_tabby.jpg"
    before = classifier.classify(photo)
    layers = [(layer.name, getattr(layer, "activation", None)) for layer in model.layers]
    weights = [weight.copy() for weight in model.layers[-1].get_weights()]

    gradcam(classifier, photo)
    gradcam(classifier, photo, class_index=0)

    after = classifier.classify(photo)
    assert [(layer.name, getattr(layer, "activation", None)) for layer in model.layers] == layers
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.layers[-1].get_weights(), strict=True))
    np.testing.assert_array_equal(after.logits, before.logits)
    assert model.outputs[0].shape[-1] == 1000 and len(model.outputs) == 1


@pytest.mark.slow
def test_the_crop_policy_leaves_the_border_the_model_never_saw_at_zero(samples_dir):
    from labkit import Classifier

    cropping = Classifier.imagenet(policy="crop", engine="keras", warm_up=False)
    photo = load_image(samples_dir / "817_sports_car.jpg")  # landscape: the crop drops a strip left and right

    heatmap = gradcam(cropping, photo)

    strip = round((photo.width - photo.height * 224 / 256) / 2) - 1
    assert heatmap[:, :strip].max() == 0 and heatmap[:, -strip:].max() == 0
    assert heatmap.max() > 0.9


@pytest.mark.slow
def test_a_fine_tuned_style_model_with_the_imagenet_head_gives_the_same_heatmap(classifier, zebra_and_car):
    """MobileNetV2 without its top, nested as one layer, plus pooling, the ReAct clip, dropout and the ImageNet Dense
    layer on top: the same network as labkit's flat MobileNetV2, so Grad-CAM must find the same evidence."""
    import keras

    from labkit import Classifier
    from labkit.network import REACT_CLIP
    from labkit.weights import resolve_weights

    base = keras.applications.MobileNetV2(
        weights=str(resolve_weights(include_top=False)), include_top=False, input_shape=(224, 224, 3)
    )
    head = keras.layers.Dense(1000)
    inputs = keras.Input((224, 224, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    clipped = keras.layers.ReLU(max_value=REACT_CLIP)(features)
    nested = keras.Model(inputs, head(keras.layers.Dropout(0.2)(clipped)))
    head.set_weights(classifier.model.get_layer("predictions").get_weights())
    fine_tuned = Classifier.from_keras(nested, class_names=classifier.class_names, warm_up=False)

    for class_index in (ZEBRA, SPORTS_CAR):
        np.testing.assert_allclose(
            gradcam(fine_tuned, zebra_and_car, class_index), gradcam(classifier, zebra_and_car, class_index), atol=0.02
        )


@pytest.mark.slow
def test_the_overlay_is_the_photo_with_the_heatmap_coloured_on_top(classifier, samples_dir):
    photo = load_image(samples_dir / "340_zebra.jpg")

    overlay = gradcam_overlay(classifier, photo)

    assert overlay.mode == "RGB" and overlay.size == photo.size
    assert not np.array_equal(np.asarray(overlay), np.asarray(photo))


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["340_zebra.jpg", "145_king_penguin.jpg", "504_coffee_mug.jpg", "954_banana.jpg"])
def test_the_heatmap_from_the_engine_matches_keras_grad_cam_for_the_top_class_and_another(
    classifier, samples_dir, photo
):
    prediction = classifier.classify(samples_dir / photo)
    assert classifier.dense_head is not None and classifier.dense_head.clip is not None  # the ReAct clip counts

    for class_index in (prediction.class_index, prediction.top[2].class_index):
        correlation, same_peak = agree(
            gradcam(classifier, samples_dir / photo, class_index),
            gradcam(classifier, samples_dir / photo, class_index, use_gradient=True),
        )
        assert correlation >= 0.999 and same_peak, (photo, class_index, correlation)


@pytest.fixture(scope="module")
def exported_four_classes(tmp_path_factory, classifier):
    """A fine-tuned model as labkit builds it (MobileNetV2 without its top, pooling, a new Dense layer), exported
    with its LiteRT model: the new layer starts from ImageNet's weights of four classes, so its heatmaps mean
    something."""
    import keras

    from labkit import Classifier
    from labkit.export import export_model
    from labkit.network import build_base, build_classifier_model

    classes = {"zebra": ZEBRA, "sports car": SPORTS_CAR, "king penguin": 145, "banana": 954}
    head = keras.layers.Dense(len(classes), name="logits")
    model = build_classifier_model(build_base(), head)
    kernel, bias = classifier.model.get_layer("predictions").get_weights()
    head.set_weights([kernel[:, list(classes.values())], bias[list(classes.values())]])
    fine_tuned = Classifier.from_keras(model, class_names=list(classes), warm_up=False)
    return export_model(fine_tuned, tmp_path_factory.mktemp("exports") / "four")


@pytest.mark.slow
def test_an_exported_model_draws_its_heatmaps_from_its_litert_model_as_keras_would(
    exported_four_classes, zebra_and_car, samples_dir
):
    from labkit.export import load_exported

    loaded = load_exported(exported_four_classes, engine="litert")
    cases = [
        (photo, class_index)
        for photo in (zebra_and_car, load_image(samples_dir / "145_king_penguin.jpg"))
        for class_index in (0, 2)
    ]  # zebra, king penguin
    from_engine = [gradcam(loaded, photo, class_index) for photo, class_index in cases]
    assert loaded._loaded.model is None  # the LiteRT model and head.npz gave them: no Keras model was loaded
    assert left_share(from_engine[0]) > 0.6  # "zebra" on the zebra's side

    for heatmap, (photo, class_index) in zip(from_engine, cases, strict=True):
        correlation, same_peak = agree(heatmap, gradcam(loaded, photo, class_index, use_gradient=True))
        assert correlation >= 0.999 and same_peak, (class_index, correlation)


APP_KERNEL = """
import json, sys
from labkit.app import DashboardApp
from labkit.images import load_image
app = DashboardApp()
result = app.classify_file({photo!r})
overlay = result.explain(load_image({photo!r}))
print(json.dumps({{"label": result.prediction.label, "overlay": overlay.size,
                   "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
"""


@pytest.mark.slow
def test_the_apps_kernel_classifies_and_shows_where_it_looked_without_importing_tensorflow(
    classifier, samples_dir, tmp_path
):
    photo = samples_dir / "340_zebra.jpg"
    env = {**os.environ, "LABKIT_MODELS_DIR": str(tmp_path)}  # the cache is warm: the fixture converted the model
    env.pop("LABKIT_MODEL", None)
    run = subprocess.run(
        [sys.executable, "-c", APP_KERNEL.format(photo=str(photo))],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    kernel = json.loads(run.stdout.strip().splitlines()[-1])
    assert kernel["label"] == "zebra" and kernel["overlay"] == list(load_image(photo).size)
    assert not kernel["tensorflow"] and not kernel["keras"]


# --- fine-tuned shapes, with small untrained models (fast) ------------------------------------------------------------


def untrained_base(**options):
    import keras

    return keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3), **options)


def nested_models() -> dict:
    """The shapes a transfer-learning helper builds: MobileNetV2 as one layer of a Sequential or functional model."""
    import keras

    keras.utils.set_random_seed(0)  # the same untrained weights on every run
    frozen = untrained_base()
    frozen.trainable = False  # a frozen base has no trainable weights for the gradient tape to follow
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(frozen(inputs, training=False))
    functional = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dropout(0.2)(x)))

    pooled = untrained_base(pooling="avg")  # the pooling inside the base: the base's output is no longer 4-D
    inputs = keras.Input((224, 224, 3))
    functional_pooled = keras.Model(inputs, keras.layers.Dense(4)(pooled(keras.layers.Rescaling(1.0)(inputs))))

    sequential = keras.Sequential(
        [
            keras.Input((224, 224, 3)),
            untrained_base(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(4),
        ]
    )
    return {
        "functional, frozen base": functional,
        "functional, pooling in the base": functional_pooled,
        "sequential": sequential,
    }


@pytest.fixture(scope="module")
def nested() -> dict:
    return nested_models()


@pytest.mark.parametrize("name", ["functional, frozen base", "functional, pooling in the base", "sequential"])
def test_a_nested_base_model_is_opened_up_at_its_last_feature_map(nested, name):
    model = nested[name]
    batch = np.random.default_rng(0).uniform(-1, 1, size=(2, 224, 224, 3)).astype(np.float32)

    features, logits = gradcam_model(model)(batch, training=False)

    assert tuple(features.shape) == (2, 7, 7, 1280)
    np.testing.assert_allclose(logits.numpy(), model(batch, training=False).numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["functional, frozen base", "functional, pooling in the base", "sequential"])
def test_a_nested_model_gets_a_heatmap_of_the_photos_size(nested, name):
    from labkit import Classifier

    custom = Classifier.from_keras(nested[name], class_names=["glass", "metal", "paper", "plastic"], warm_up=False)
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(150, 200, 3), dtype=np.uint8))

    heatmaps = [gradcam(custom, photo, class_index) for class_index in range(4)]

    assert all(heatmap.shape == (150, 200) and heatmap.min() >= 0 and heatmap.max() <= 1.0 for heatmap in heatmaps)
    # Untrained weights: a class may find no positive evidence at all (an all-zero map), but not every class.
    peaks = [heatmap.max() for heatmap in heatmaps]
    assert all(peak == 0 or peak > 0.9 for peak in peaks) and max(peaks) > 0.9, peaks


@pytest.mark.parametrize("name", ["functional, frozen base", "sequential"])
def test_a_nested_pooled_then_dense_model_gets_the_gradients_heatmap_from_its_weights(nested, name):
    from labkit import Classifier

    custom = Classifier.from_keras(nested[name], class_names=["glass", "metal", "paper", "plastic"], warm_up=False)
    photo = Image.fromarray(np.random.default_rng(2).integers(0, 256, size=(150, 200, 3), dtype=np.uint8))

    assert custom.dense_head is not None and custom.dense_head.clip is None  # dropout skipped, no ReAct clip
    for class_index in range(4):
        np.testing.assert_allclose(
            gradcam(custom, photo, class_index), gradcam(custom, photo, class_index, use_gradient=True), atol=1e-4
        )


def test_a_model_of_another_shape_gets_its_heatmap_from_the_gradient(nested):
    from labkit import Classifier

    custom = Classifier.from_keras(nested["functional, pooling in the base"], class_names=list("abcd"), warm_up=False)

    assert custom.dense_head is None and custom.feature_maps(np.zeros((1, 224, 224, 3), np.float32)) is None
    heatmap = gradcam(custom, Image.new("RGB", (64, 48), "orange"), class_index=1)
    assert heatmap.shape == (48, 64) and 0 <= heatmap.min() and heatmap.max() <= 1


def test_the_flat_mobilenet_is_read_at_out_relu():
    from labkit.network import build_mobilenet_v2

    assert last_feature_layer(build_mobilenet_v2(None)).name == "out_relu"


def test_a_model_without_a_feature_map_says_grad_cam_needs_a_convolutional_model():
    import keras

    from labkit import Classifier

    flat = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])

    with pytest.raises(ExplainError, match="convolutional model"):
        gradcam(Classifier.from_keras(flat, class_names=["a", "b"], warm_up=False), Image.new("RGB", (32, 32)))


def test_a_class_index_out_of_range_says_which_classes_exist(nested):
    from labkit import Classifier

    custom = Classifier.from_keras(nested["sequential"], class_names=list("abcd"), warm_up=False)

    with pytest.raises(ExplainError, match=r"classes 0\.\.3"):
        gradcam(custom, Image.new("RGB", (32, 32)), class_index=4)


# --- overlay and resize (no model) --------------------------------------------------------------------------------


def test_overlay_with_alpha_0_is_the_photo_and_alpha_1_is_the_coloured_heatmap():
    photo = Image.new("RGB", (40, 30), (10, 200, 30))
    heatmap = np.zeros((30, 40))
    heatmap[:, 20:] = 1.0

    assert np.array_equal(np.asarray(overlay_heatmap(photo, heatmap, alpha=0.0)), np.asarray(photo))
    coloured = np.asarray(overlay_heatmap(photo, heatmap, alpha=1.0)).astype(int)
    assert coloured[0, 39, 0] > 100 and coloured[0, 39, 2] < 20  # 1 = red ("looked here")
    assert coloured[0, 0, 2] > 100 and coloured[0, 0, 0] < 20  # 0 = blue ("ignored")


def test_overlay_resizes_a_small_heatmap_to_the_photo():
    overlay = overlay_heatmap(Image.new("RGB", (64, 48)), np.ones((7, 7)), alpha=0.5)

    assert overlay.size == (64, 48) and overlay.mode == "RGB"


def test_overlay_rejects_an_alpha_outside_0_to_1():
    with pytest.raises(ValueError, match="between 0"):
        overlay_heatmap(Image.new("RGB", (8, 8)), np.ones((8, 8)), alpha=1.5)


def test_resize_heatmap_keeps_values_in_0_to_1_and_the_hot_corner_in_place():
    small = np.zeros((7, 7), np.float32)
    small[0, 0] = 1.0

    large = resize_heatmap(small, (224, 112))

    assert large.shape == (112, 224)
    assert 0.0 <= large.min() and large.max() <= 1.0
    assert np.unravel_index(np.argmax(large), large.shape) < (16, 32)
