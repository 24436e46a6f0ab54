"""Issue 17 research: fine-tune all of MobileNetV2 on random crops, measure on trashnet-val at several input sizes.

Not the shipped recipe (that is ``labkit.recipe``, measured by ``benchmarks/transfer.py``): a try, kept so its
figures can be re-run. Trains on all 240 photos of trashnet-mini, never on trashnet-val.

What it does: each photo is resized to 256 x 341 (its own aspect ratio), then every epoch sees one random crop of it
(a square-ish box of ``--min-scale``-75 % of the photo, aspect 3:4-4:3), resized to ``--size`` pixels, turned by a
random quarter turn, maybe mirrored, with a little brightness and contrast jitter. MobileNetV2 runs with its
BatchNorm statistics frozen (``training=False``) and every layer from ``--from-layer`` on trains, with a new
Dense layer (dropout 0.3), Adam and a cosine-decaying learning rate, label smoothing 0.1; optional mixup and a few
warm-up epochs of the new layer alone. Then it measures top-1 on trashnet-val at each ``--test`` size: ``sqN``
squashes the photo to N x N (what labkit's 224 x 224 "squash" policy does), ``fullN`` keeps its aspect ratio
(N high); each with and without averaging in the mirror image.

Usage (from the repository, with ``LABKIT_DATA_DIR`` or a mirror for trashnet-val):
    .venv/bin/python benchmarks/tries/fine_tune_crops.py --size 288 --epochs 20 --test sq224 full224 full320

Prints one line per epoch and a result line with the training time and the same-run reference (see
``benchmarks/_reference.py``); appends the result to ``benchmarks/results/transfer-tries.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))  # a try lives one folder below the benchmarks it shares the reference with
from _reference import reference_pass  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRIES_LOG = BENCHMARKS / "results" / "transfer-tries.jsonl"
STORED = (256, 341)  # the photos' own size in trashnet-mini and trashnet-val (height, width)


def load_folder(folder: Path, classes: list[str], size: tuple[int, int]):
    """Every photo of ``folder/<class>/*.jpg`` resized to ``size`` (height, width): uint8 array and labels."""
    import numpy as np
    from PIL import Image

    pixels, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.jpg")):
            image = Image.open(path).convert("RGB").resize(size[::-1], Image.Resampling.BILINEAR, reducing_gap=2.0)
            pixels.append(np.asarray(image))
            labels.append(label)
    return np.stack(pixels), np.array(labels)


def augmenter(size: int, min_scale: float, seed: int):
    """Return ``(image, label) -> (crop, one-hot)``: a random crop, quarter turn, mirror and brightness/contrast."""
    import numpy as np
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(seed)
    height, width = STORED

    def augment(image, label):
        image = tf.cast(image, tf.float32)
        scale = rng.uniform([], min_scale, 1.0)
        ratio = tf.exp(rng.uniform([], np.log(3 / 4), np.log(4 / 3)))
        box_h = tf.minimum(tf.sqrt(scale * ratio), 1.0)  # fractions of the height and the width: a box of
        box_w = tf.minimum(tf.sqrt(scale / ratio) * height / width, 1.0)  # (scale x 75 %) of the photo
        top, left = rng.uniform([], 0, 1 - box_h + 1e-6), rng.uniform([], 0, 1 - box_w + 1e-6)
        image = tf.image.crop_and_resize(image[None], [[top, left, top + box_h, left + box_w]], [0], [size, size])[0]
        image = tf.image.rot90(image, rng.uniform([], 0, 4, dtype=tf.int32))
        image = tf.cond(rng.uniform([]) < 0.5, lambda: tf.image.flip_left_right(image), lambda: image)
        image = tf.image.adjust_contrast(
            tf.image.adjust_brightness(image, rng.uniform([], -20, 20)), rng.uniform([], 0.8, 1.2)
        )
        return tf.clip_by_value(image, 0, 255), tf.one_hot(label, 4)

    def mix(images, targets, alpha: float):
        if alpha <= 0:
            return images, targets
        a, b = (
            tf.random.stateless_gamma([], seed=rng.uniform_full_int([2], dtype=tf.int32), alpha=alpha) for _ in range(2)
        )
        share = tf.maximum(a / (a + b), b / (a + b))
        order = tf.random.shuffle(tf.range(tf.shape(images)[0]))
        return (
            share * images + (1 - share) * tf.gather(images, order),
            share * targets + (1 - share) * tf.gather(targets, order),
        )

    return augment, mix


def build(weights: Path, from_layer: str):
    """MobileNetV2 (any input size, pixels 0..255 in) + dropout 0.3 + Dense(4); layers from ``from_layer`` on train."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False, weights=str(weights))
    inputs = keras.Input((None, None, 3))
    features = keras.layers.GlobalAveragePooling2D()(
        base(keras.layers.Rescaling(1 / 127.5, -1)(inputs), training=False)
    )
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dropout(0.3)(features)))
    return model, base


def set_trainable(base, from_layer: str | None) -> None:
    """Train every layer from ``from_layer`` on, except BatchNorm; ``None`` freezes the whole base."""
    import keras

    training = False
    for layer in base.layers:
        training = training or (from_layer is not None and layer.name == from_layer)
        layer.trainable = training and not isinstance(layer, keras.layers.BatchNormalization)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=288, help="training crop size in pixels (default 288)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-4, help="Adam's starting learning rate (cosine decay to 0)")
    parser.add_argument("--from-layer", default="block_1_expand", help="first MobileNetV2 layer that trains")
    parser.add_argument("--min-scale", type=float, default=0.35, help="smallest crop, as a share of 75 %% of the photo")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup's alpha (0: none)")
    parser.add_argument("--warm", type=int, default=0, help="epochs of the new layer alone first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", nargs="+", default=["sq224", "full224", "full320"], help="sqN or fullN sizes")
    args = parser.parse_args()

    shared = BENCHMARKS.parents[1] / "shared"
    os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(shared / "models"))
    os.environ.setdefault("LABKIT_DATA_DIR", str(shared / "datasets"))
    import keras
    import numpy as np
    import tensorflow as tf

    from labkit.datasets import fetch
    from labkit.paths import TRASHNET_MINI_DIR
    from labkit.training_data import class_folders
    from labkit.weights import resolve_weights

    keras.utils.set_random_seed(args.seed)
    classes = [folder.name for folder in class_folders(TRASHNET_MINI_DIR)]  # as labkit train names them
    reference = reference_pass()
    before = reference()
    start = time.perf_counter()
    train_pixels, train_labels = load_folder(TRASHNET_MINI_DIR, classes, STORED)
    model, base = build(resolve_weights(include_top=False), args.from_layer)
    augment, mix = augmenter(args.size, args.min_scale, args.seed)
    data = (
        tf.data.Dataset.from_tensor_slices((train_pixels, train_labels))
        .shuffle(len(train_labels), seed=args.seed, reshuffle_each_iteration=True)
        .map(augment)
        .batch(32)
        .map(lambda images, targets: mix(images, targets, args.mixup))
        .prefetch(2)
    )
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    if args.warm:
        set_trainable(base, None)
        model.compile(keras.optimizers.Adam(1e-3), loss)
        model.fit(data, epochs=args.warm, verbose=0)
    set_trainable(base, args.from_layer)
    steps = args.epochs * int(np.ceil(len(train_labels) / 32))
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.lr, steps)), loss, metrics=["accuracy"]
    )
    shown = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: print(
            f"epoch {epoch + 1}/{args.epochs}: loss {logs['loss']:.3f}, accuracy {logs['accuracy']:.1%}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
    )
    model.fit(data, epochs=args.epochs, verbose=0, callbacks=[shown])
    seconds = time.perf_counter() - start
    after = reference()

    val_pixels, val_labels = load_folder(fetch("trashnet-val", progress=False), classes, STORED)
    forward = tf.function(lambda batch: tf.nn.softmax(model(batch, training=False)))

    def probabilities(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([forward(tf.constant(batch[i : i + 32])).numpy() for i in range(0, len(batch), 32)])

    top1 = {}
    for test in args.test:
        side = int(test.removeprefix("sq").removeprefix("full"))
        shape = (side, side) if test.startswith("sq") else (side, round(side * STORED[1] / STORED[0]))
        resized = tf.image.resize(tf.constant(val_pixels, tf.float32), shape).numpy()
        plain, mirrored = probabilities(resized), probabilities(resized[:, :, ::-1])
        top1[test] = [round(float(np.mean(p.argmax(1) == val_labels)), 4) for p in (plain, plain + mirrored)]
    ratio = seconds / ((before + after) / 2)
    entry = {
        "exp": "fine-tune all layers on random crops (benchmarks/tries/fine_tune_crops.py)",
        "args": vars(args),
        "top1 [plain, with mirror] by test size": top1,
        "train_seconds": round(seconds),
        "reference_seconds": round((before + after) / 2, 3),
        "ratio": round(ratio, 1),
        "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "load": round(os.getloadavg()[0], 1),
    }
    with TRIES_LOG.open("a") as log:
        log.write(json.dumps(entry) + "\n")
    print("result:", json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
