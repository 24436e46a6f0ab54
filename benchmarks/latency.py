"""How long does one photo take, end to end? Keras' ``model.predict`` against labkit's ``Classifier.classify``.

Both paths do the whole job for a 256-px JPEG: read and decode the file, resize to 224 x 224, scale to [-1, 1],
run MobileNetV2. The ``model.predict`` path is the one most tutorials show (``keras.utils.load_img`` +
``preprocess_input`` + ``model.predict``); every call builds a data pipeline and a step function around the model.
labkit compiles the forward pass once (or runs LiteRT) and reuses it.

Prints p50 / p90 per image (medians of ``--repeats`` runs after warm-up), images/s for a batch of 32 photos, and
the ratio (target: labkit at least 4x faster for one image). The machine is shared and noisy: quote the medians.

    python benchmarks/latency.py [--engine litert] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from _results import machine_load, write_result
from course_data import shared_samples_dir

from labkit import Classifier
from labkit.engines import DEFAULT_ENGINE, ENGINES
from labkit.evaluate import LatencyStats, measure_latency
from labkit.images import iter_image_files
from labkit.paths import SAMPLES_DIR

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PHOTO = shared_samples_dir() / "207_golden_retriever.jpg"  # 256 px on its shorter side, like most course photos
BATCH = 32
TARGET_RATIO = 4.0


def batch_photos(size: int = BATCH) -> list[Path]:
    """``size`` different photos: the shared samples if present, else the bundled ones, repeated as needed."""
    photos = iter_image_files(shared_samples_dir()) if shared_samples_dir().is_dir() else []
    photos = photos or iter_image_files(SAMPLES_DIR)
    return [photos[i % len(photos)] for i in range(size)]


def keras_predict(model, paths: list[Path]):
    """The tutorial way: load_img at 224 x 224, preprocess_input, model.predict."""
    import keras
    import numpy as np

    images = [keras.utils.img_to_array(keras.utils.load_img(path, target_size=(224, 224))) for path in paths]
    batch = keras.applications.mobilenet_v2.preprocess_input(np.stack(images))
    return model.predict(batch, verbose=0)


def row(name: str, single: LatencyStats, batch: LatencyStats) -> str:
    return f"{name:<44} {single.p50_ms:>8.1f} {single.p90_ms:>8.1f} {batch.per_second(BATCH):>14.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    started = machine_load()

    classifier = Classifier(engine=args.engine)
    model = classifier.model  # the same Keras model and weights for the model.predict path
    photos = batch_photos()
    timings = {
        "model.predict (Keras, the tutorial way)": (
            measure_latency(lambda: keras_predict(model, [PHOTO]), args.repeats, args.warmup),
            measure_latency(lambda: keras_predict(model, photos), args.repeats, args.warmup),
        ),
        f"labkit Classifier.classify (engine {args.engine})": (
            measure_latency(lambda: classifier.classify(PHOTO), args.repeats, args.warmup),
            measure_latency(lambda: classifier.predict(photos), args.repeats, args.warmup),
        ),
    }

    print(f"One {PHOTO.name} end to end (decode, preprocess, forward); batch: {BATCH} different photos.")
    print(f"Medians of {args.repeats} runs after {args.warmup} warm-up runs, {os.cpu_count()} CPU cores.\n")
    print(f"{'path':<44} {'p50 ms':>8} {'p90 ms':>8} {'images/s @' + str(BATCH):>14}")
    for name, (single, batch) in timings.items():
        print(row(name, single, batch))
    (keras_single, keras_batch), (labkit_single, labkit_batch) = timings.values()
    ratio = keras_single.p50_ms / labkit_single.p50_ms
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(
        f"\nlabkit is {ratio:.1f}x faster for one image ({verdict} the {TARGET_RATIO:g}x target) and "
        f"{labkit_batch.per_second(BATCH) / keras_batch.per_second(BATCH):.1f}x at batch {BATCH}."
    )
    write_result(
        "latency",
        {
            "photo": PHOTO.name,
            "engine": args.engine,
            "repeats": args.repeats,
            "model_predict_p50_ms": round(keras_single.p50_ms, 2),
            "model_predict_p90_ms": round(keras_single.p90_ms, 2),
            "labkit_p50_ms": round(labkit_single.p50_ms, 2),
            "labkit_p90_ms": round(labkit_single.p90_ms, 2),
            "ratio_one_image": round(ratio, 2),
            "ratio_batch": round(labkit_batch.per_second(BATCH) / keras_batch.per_second(BATCH), 2),
        },
        load_at_start=started,
    )


if __name__ == "__main__":
    main()
