"""How fast, how big and how right is each engine? Keras (``tf.function``), LiteRT float32 and LiteRT int8.

For each engine of :mod:`labkit.engines`:

- one 256-px JPEG end to end (decode, preprocess, forward): p50 / p90 over ``--repeats`` runs, and the forward
  pass alone (p50);
- images/s for a batch of 32 different photos, end to end (``Classifier.predict``);
- the model's size on disk (Keras: the ``.h5`` weights; LiteRT: the cached flatbuffer);
- top-1 on the 650 labelled photos of ``imagenet-val-650``, and how often its top-1 equals the Keras engine's;
- and, for reference, the same photo through Keras' ``model.predict`` (what most tutorials do).

In the same turns as the default engine's end-to-end runs: the bare LiteRT forward pass (``set_tensor``,
``invoke``, ``get_tensor`` on the same model file, at labkit's thread count, no labkit code around it) and the
photo's "where it looked" overlay (:func:`labkit.explain.gradcam_overlay`: decode, the forward pass again, the
heatmap, the colours), each stage of labkit's work on that photo alone (decode, resize, scaling the pixels, labkit's
forward call, the answer: calibrated probabilities, the "not sure" score, the top 3), and a phone-sized photo end to
end (a 12-MP JPEG made from a sample photo, :func:`phone_photo`: the repository has no photo that large).
Targets: one photo end to end, all of labkit's work included (decode, preprocess, calibration, the "not sure"
score), at most 1.1 times the bare forward pass; a heatmap at most 3 times one
classification of the same photo. Both are ratios measured in one run, so they hold on a loaded machine better
than the times do; the times want a quiet machine.

The LiteRT engines are timed in turns (``--rounds``), so a burst of load from another process on this shared
machine lands on all of them alike, before anything runs on TensorFlow (whose threads spin on after each call and
slow down the next thing the process runs); then the Keras engine and ``model.predict``, in turns. Medians.
Targets: the default engine p50 <= 10 ms; int8 <= 6 ms with a top-1 within 1 point of float32. ``--choices`` also
measures what ``labkit.engines`` decided: XNNPACK threads (1 vs 2) and, for a batch of 32, single-image calls vs.
one interpreter resized to the batch.

    .venv/bin/python benchmarks/engines.py [--repeats 60] [--rounds 3] [--choices] [--per-photo]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import machine_load, write_result
from course_data import open_photos, validation_dir
from PIL import Image

from labkit import Classifier, load_image, to_model_input
from labkit.engines import DEFAULT_ENGINE, ENGINES, LiteRTForward, cached_model_path, default_threads, file_sha256
from labkit.evaluate import evaluate
from labkit.explain import gradcam_overlay
from labkit.images import iter_image_files
from labkit.paths import SAMPLES_DIR
from labkit.predict import top_k
from labkit.preprocess import resize_for_model, scale_pixels, to_batch
from labkit.weights import resolve_weights

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(REPO_ROOT.parent / "shared" / "models"))


# --- configurable parameters -----------------------------------------------------------------------------------
REPEATS = 60  # timed single-image runs per engine (over all rounds)
ROUNDS = 3  # engines are timed in turns, this many times
BATCH = 32
PHOTO_SIDE = 256  # the shorter side of the photo timed end to end
PHONE_SIZE = (4032, 3024)  # a 12-MP phone photo, timed end to end too
PHONE_NOISE = 4.0  # sensor-like noise (0-255 scale) so the upscaled photo's JPEG is as large as a real one's
TARGET_DEFAULT_MS = 10.0
TARGET_INT8_MS = 6.0
INT8_TOP1_SLACK = 0.01  # int8 top-1 may trail float32's by at most this
TARGET_OVERHEAD = 1.1  # one photo end to end / the bare LiteRT forward pass, same run
TARGET_HEATMAP = 3.0  # one "where it looked" overlay / one classification of the same photo, same run
# the reference calls timed in the default engine's turns (with the stages of stage_calls)
BARE, HEATMAP, PHONE, PHONE_DECODE = "bare LiteRT forward", "heatmap", "12-MP photo end to end", "12-MP photo decode"
WALL, CPU = 0, 1  # columns of timed_in_turns' arrays


def photo_256(folder: Path) -> Path:
    """A sample photo whose shorter side is 256 px; if none is, one resized to that into ``folder``."""
    photos = iter_image_files(SAMPLES_DIR)
    for path in photos:
        if min(Image.open(path).size) == PHOTO_SIDE:
            return path
    image = load_image(photos[0])
    scale = PHOTO_SIDE / min(image.size)
    resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    target = folder / f"{photos[0].stem}_{PHOTO_SIDE}.jpg"
    resized.save(target, quality=90)
    return target


def phone_photo(folder: Path) -> Path:
    """A 12-MP JPEG (:data:`PHONE_SIZE`) made from a sample photo: upscaled, with seeded sensor-like noise.

    The noise gives the file the size and the entropy-decoding work of a real phone photo (a few MB at quality 90);
    an upscaled photo alone would be smooth and decode faster than any camera's.
    """
    photo = iter_image_files(SAMPLES_DIR)[0]
    upscaled = np.asarray(load_image(photo).resize(PHONE_SIZE, Image.Resampling.BICUBIC), np.float32)
    noise = np.random.default_rng(0).normal(0.0, PHONE_NOISE, upscaled.shape).astype(np.float32)
    target = folder / f"{photo.stem}_12mp.jpg"
    Image.fromarray(np.clip(upscaled + noise, 0, 255).round().astype(np.uint8)).save(target, quality=90)
    return target


def stage_calls(classifier: Classifier, photo: Path) -> dict[str, object]:
    """labkit's work on one photo, stage by stage, each a call on the previous stage's result (made once here)."""
    image = load_image(photo)
    resized = resize_for_model(image, classifier.policy)
    one = scale_pixels(np.asarray(resized))[None]
    logits, features = classifier.forward(one)

    def answer():
        probabilities = classifier.probabilities_from_logits(logits[0])
        classifier.ood_score(logits[0], features[0])
        return top_k(probabilities, classifier.class_names, classifier.wnids, 3)

    return {
        "decode": lambda: load_image(photo),
        "resize": lambda: resize_for_model(image, classifier.policy),
        "scale pixels": lambda: scale_pixels(np.asarray(resized)),
        "forward (labkit)": lambda: classifier.forward(one),
        "answer": answer,
    }


def batch_photos(size: int = BATCH) -> list[Path]:
    photos = open_photos()
    return [photos[index % len(photos)] for index in range(size)]


def times_ms(call, count: int) -> list[tuple[float, float]]:
    """Call ``count`` times; return (wall-clock ms, this process's CPU ms) of each call."""
    elapsed = []
    for _ in range(count):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        elapsed.append(((time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000))
    return elapsed


def timed_in_turns(calls: dict[str, object], repeats: int, rounds: int, warmup: int = 3) -> dict[str, np.ndarray]:
    """Time each call ``repeats`` times in all, the calls taking turns over ``rounds`` rounds.

    Returns, per call, an array of shape (repeats, 2): wall-clock ms (column ``WALL``) and CPU ms (``CPU``).
    """
    for call in calls.values():
        times_ms(call, warmup)
    collected = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            collected[name] += times_ms(call, max(1, repeats // rounds))
    return {name: np.array(values) for name, values in collected.items()}


def model_size_mb(engine: str, classifier: Classifier) -> float:
    weights = resolve_weights()
    if engine == "keras":
        return weights.stat().st_size / 1e6
    path = cached_model_path(engine, file_sha256(weights), classifier.policy, classifier.num_classes)
    return path.stat().st_size / 1e6


def keras_predict_one(model, photo: Path) -> np.ndarray:
    """labkit's decode and preprocessing, then Keras' model.predict for one image (the per-call overhead)."""
    return model.predict(to_model_input(load_image(photo))[None], verbose=0)


def time_engines(classifiers: dict[str, Classifier], photo: Path, args, reference=None) -> dict[str, dict]:
    """End to end, forward only and batch-32 timings of each classifier (they take turns); ``reference``: extra
    end-to-end calls timed in the same turns."""
    one = to_model_input(load_image(photo))[None]
    photos = batch_photos()
    calls = {engine: (lambda c=c: c.classify(photo)) for engine, c in classifiers.items()}
    end_to_end = timed_in_turns(calls | (reference or {}), args.repeats, args.rounds)
    forward = timed_in_turns(
        {engine: (lambda c=c: c.logits(one)) for engine, c in classifiers.items()}, args.repeats, args.rounds
    )
    batches = timed_in_turns(
        {engine: (lambda c=c: c.predict(photos)) for engine, c in classifiers.items()},
        max(args.rounds, 6),
        args.rounds,
        warmup=1,
    )
    return {"end_to_end": end_to_end, "forward": forward, "batch": batches}


def bare_forward(classifier: Classifier, photo: Path):
    """LiteRT alone on the classifier's model file, at labkit's thread count: set the input, invoke, read the logits."""
    from ai_edge_litert.interpreter import Interpreter

    path = cached_model_path(
        classifier.engine, file_sha256(resolve_weights()), classifier.policy, classifier.num_classes
    )
    interpreter = Interpreter(model_path=str(path), num_threads=default_threads())
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    logits_index = next(
        output["index"]
        for output in interpreter.get_output_details()
        if list(output["shape"]) == [1, classifier.num_classes]
    )
    one = to_model_input(load_image(photo))[None]

    def call():
        interpreter.set_tensor(input_index, one)
        interpreter.invoke()
        return interpreter.get_tensor(logits_index)

    return call


def build(engine: str) -> Classifier:
    start = time.perf_counter()
    classifier = Classifier(engine=engine)
    print(f"built {engine:<12} in {time.perf_counter() - start:5.1f} s", file=sys.stderr)
    return classifier


def measure_engines(args) -> dict:
    """Time, size and score every engine; print the table and return its figures (per engine, and the verdicts)."""
    with tempfile.TemporaryDirectory() as folder:
        photo = photo_256(Path(folder))
        # LiteRT first, Keras after: TensorFlow's worker threads keep spinning for a while after each Keras call
        # and slow down whatever runs next in the process (measured: LiteRT p50 23 ms right after Keras calls,
        # 9.5 ms before), which a kernel running only LiteRT never suffers.
        classifiers = {engine: build(engine) for engine in ENGINES if engine != "keras"}
        default = classifiers[DEFAULT_ENGINE]
        shown = default.classify(photo).class_index
        phone = phone_photo(Path(folder))
        stages = stage_calls(default, photo)
        timings = time_engines(
            classifiers,
            photo,
            args,
            reference={
                BARE: bare_forward(default, photo),
                HEATMAP: lambda: gradcam_overlay(default, photo, shown),
                PHONE: lambda: default.classify(phone),
                PHONE_DECODE: lambda: load_image(phone),
            }
            | stages,
        )
        classifiers = {"keras": build("keras")} | classifiers
        keras_model = classifiers["keras"].model
        keras_timings = time_engines(
            {"keras": classifiers["keras"]},
            photo,
            args,
            reference={"model.predict": lambda: keras_predict_one(keras_model, photo)},
        )
        for kind, values in keras_timings.items():
            timings[kind] |= values
        end_to_end, forward, batches = timings["end_to_end"], timings["forward"], timings["batch"]
        results = {
            engine: evaluate(classifier, validation_dir(), progress=False) for engine, classifier in classifiers.items()
        }

    keras_top1 = results["keras"].logits.argmax(axis=1)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\nOne {PHOTO_SIDE}-px JPEG ({photo.name}) end to end: decode, preprocess, forward. Batch: {BATCH} "
        f"different photos end to end. Top-1 on {results['keras'].n} photos of imagenet-val-650; 'agrees' = same "
        f"top-1 as keras. {os.cpu_count()} CPU cores, shared (load average {load}); medians of {args.repeats} "
        f"runs.\n"
    )
    header = (
        f"{'engine':<14}{'p50 ms':>8}{'p90 ms':>8}{'CPU ms':>8}{'forward ms':>11}{'images/s@32':>13}"
        f"{'size MB':>9}{'top-1':>8}{'agrees':>8}"
    )
    print(header)
    print("-" * len(header))
    figures: dict = {
        "photo": photo.name,
        "repeats": args.repeats,
        "photos_scored": results["keras"].n,
        "default_engine": DEFAULT_ENGINE,
        "engines": {},
    }
    for engine in [*ENGINES, "model.predict"]:
        latency = end_to_end[engine]
        result = results["keras" if engine == "model.predict" else engine]
        size = model_size_mb("keras" if engine == "model.predict" else engine, classifiers["keras"])
        agreement = np.mean(result.logits.argmax(axis=1) == keras_top1)
        other = (
            ("", "")
            if engine == "model.predict"
            else (
                f"{np.median(forward[engine][:, WALL]):.1f}",
                f"{BATCH * 1000 / np.median(batches[engine][:, WALL]):.0f}",
            )
        )
        print(
            f"{engine + (' *' if engine == DEFAULT_ENGINE else ''):<14}{np.median(latency[:, WALL]):>8.1f}"
            f"{np.percentile(latency[:, WALL], 90):>8.1f}{np.median(latency[:, CPU]):>8.1f}{other[0]:>11}"
            f"{other[1]:>13}{size:>9.1f}{result.top1:>8.1%}{agreement:>8.1%}"
        )
        figures["engines"][engine] = {
            "p50_ms": round(float(np.median(latency[:, WALL])), 2),
            "p90_ms": round(float(np.percentile(latency[:, WALL], 90)), 2),
            "cpu_ms": round(float(np.median(latency[:, CPU])), 2),
            "forward_ms": round(float(np.median(forward[engine][:, WALL])), 2) if engine in forward else None,
            "images_per_s_batch": round(BATCH * 1000 / float(np.median(batches[engine][:, WALL])), 1)
            if engine in batches
            else None,
            "size_mb": round(size, 2),
            "top1_right": int(round(result.top1 * result.n)),
            "agrees_with_keras": round(float(agreement), 4),
        }
    print(
        "* the default engine. CPU ms: processor time of all the process's threads per photo; it hardly moves when\n"
        "  other processes load the machine (LiteRT runs on labkit.engines.default_threads() threads).\n"
        "  model.predict: labkit's decode and preprocessing, then keras' model.predict.\n"
    )

    default_p50 = np.median(end_to_end[DEFAULT_ENGINE][:, WALL])
    int8_p50 = np.median(end_to_end["litert-int8"][:, WALL])
    top1_gap = results["litert"].top1 - results["litert-int8"].top1
    print(
        f"default engine p50 {default_p50:.1f} ms: {'meets' if default_p50 <= TARGET_DEFAULT_MS else 'MISSES'} "
        f"the {TARGET_DEFAULT_MS:g} ms target"
    )
    print(
        f"int8 p50 {int8_p50:.1f} ms: {'meets' if int8_p50 <= TARGET_INT8_MS else 'MISSES'} the "
        f"{TARGET_INT8_MS:g} ms target; top-1 {-top1_gap:+.1%} vs float32 "
        f"({'within' if top1_gap <= INT8_TOP1_SLACK else 'NOT within'} {INT8_TOP1_SLACK:.0%})"
    )
    print(
        f"model.predict takes {np.median(end_to_end['model.predict'][:, WALL]) / default_p50:.0f}x as long as the "
        "default engine for one photo"
    )
    bare_p50, heatmap_p50 = np.median(end_to_end[BARE][:, WALL]), np.median(end_to_end[HEATMAP][:, WALL])
    overhead, heatmap = default_p50 / bare_p50, heatmap_p50 / default_p50
    print(
        f"one photo end to end {default_p50:.1f} ms = {overhead:.2f}x the bare LiteRT forward pass "
        f"({bare_p50:.1f} ms, {default_threads()} threads, same turns): "
        f"{'meets' if overhead <= TARGET_OVERHEAD else 'MISSES'} the {TARGET_OVERHEAD:g}x target"
    )
    print(
        f"where it looked (overlay) {heatmap_p50:.1f} ms = {heatmap:.2f}x one classification: "
        f"{'meets' if heatmap <= TARGET_HEATMAP else 'MISSES'} the {TARGET_HEATMAP:g}x target"
    )
    per_photo = per_photo_figures(end_to_end, list(stages))
    figures |= {
        "per_photo": per_photo,
        "threads": default_threads(),
        "bare_forward_ms": round(float(bare_p50), 2),
        "end_to_end_over_bare_forward": round(float(overhead), 3),
        "heatmap_ms": round(float(heatmap_p50), 2),
        "heatmap_over_classification": round(float(heatmap), 2),
    }
    return figures


def per_photo_figures(end_to_end: dict, stages: list[str]) -> dict:
    """Print where one photo's time goes, each stage in ms and in times the bare forward (same turns); return the
    figures.

    Two columns: medians, and the best of the runs. On a machine loaded by other processes the medians swing with
    the load (a two-thread forward pass waits whenever one of its threads is descheduled); the best run of each call
    is what it costs when nothing gets in its way, the closer guess of a quiet machine's ratios.
    """
    names = [DEFAULT_ENGINE, BARE, *stages, PHONE_DECODE, PHONE]
    median = {name: float(np.median(end_to_end[name][:, WALL])) for name in names}
    best = {name: float(np.min(end_to_end[name][:, WALL])) for name in names}
    print(
        f"\nWhere one photo's time goes (same turns; x = times the bare forward pass: median "
        f"{median[BARE]:.2f} ms, best {best[BARE]:.2f} ms):"
    )
    print(f"  {'':<26}{'median ms':>10}{'x':>7}{'best ms':>10}{'x':>7}")
    for name in names:
        print(
            f"  {name:<26}{median[name]:>10.2f}{median[name] / median[BARE]:>7.2f}"
            f"{best[name]:>10.2f}{best[name] / best[BARE]:>7.2f}"
        )
    beside = [name for name in stages if name != "forward (labkit)"]
    work = {kind: sum(times[name] for name in beside) for kind, times in (("median", median), ("best", best))}
    print(
        f"  labkit's work beside the forward pass ({', '.join(beside)}): {work['median']:.2f} ms = "
        f"{work['median'] / median[BARE]:.2f}x (median), {work['best']:.2f} ms = "
        f"{work['best'] / best[BARE]:.2f}x (best)"
    )
    # The floor: a photo must be decoded and resized whatever labkit does around it (libjpeg-turbo and Pillow).
    floor = (best["decode"] + best["resize"]) / best[BARE]
    print(
        f"  the floor: decoding and resizing the photo alone take {floor:.2f}x the bare forward pass (best runs); "
        f"the {TARGET_OVERHEAD:g}x target leaves {TARGET_OVERHEAD - 1:.2f}x for all of labkit's work"
    )
    ratio, best_ratio = median[DEFAULT_ENGINE] / median[BARE], best[DEFAULT_ENGINE] / best[BARE]
    phone, best_phone = median[PHONE] / median[BARE], best[PHONE] / best[BARE]
    for what, value, best_value in (
        ("one photo", ratio, best_ratio),
        (f"a {PHONE_SIZE[0]}x{PHONE_SIZE[1]} photo", phone, best_phone),
    ):
        print(
            f"{what} end to end = {value:.2f}x the bare forward pass (median), {best_value:.2f}x (best): "
            f"{'meets' if best_value <= TARGET_OVERHEAD else 'MISSES'} the {TARGET_OVERHEAD:g}x target (best)"
        )
    return {
        "stages_ms": {name: round(median[name], 3) for name in stages},
        "stages_best_ms": {name: round(best[name], 3) for name in stages},
        "stages_over_bare_forward": {name: round(median[name] / median[BARE], 3) for name in stages},
        "stages_best_over_best_bare_forward": {name: round(best[name] / best[BARE], 3) for name in stages},
        "labkit_work_over_bare_forward": round(work["median"] / median[BARE], 3),
        "labkit_work_best_over_best_bare_forward": round(work["best"] / best[BARE], 3),
        "floor_decode_resize_best_over_best_bare_forward": round(floor, 3),
        "best_bare_forward_ms": round(best[BARE], 3),
        "best_end_to_end_ms": round(best[DEFAULT_ENGINE], 3),
        "best_end_to_end_over_best_bare_forward": round(best_ratio, 3),
        "phone_photo": f"{PHONE_SIZE[0]}x{PHONE_SIZE[1]} JPEG",
        "phone_decode_ms": round(median[PHONE_DECODE], 2),
        "phone_end_to_end_ms": round(median[PHONE], 2),
        "phone_end_to_end_over_bare_forward": round(phone, 3),
        "phone_best_end_to_end_over_best_bare_forward": round(best_phone, 3),
    }


def measure_per_photo(args) -> dict:
    """Only where one photo's time goes, on the default engine (a minute, not the whole run): for repeated runs."""
    with tempfile.TemporaryDirectory() as folder:
        photo, default = photo_256(Path(folder)), build(DEFAULT_ENGINE)
        phone, stages = phone_photo(Path(folder)), stage_calls(default, photo)
        calls = {
            DEFAULT_ENGINE: lambda: default.classify(photo),
            BARE: bare_forward(default, photo),
            PHONE: lambda: default.classify(phone),
            PHONE_DECODE: lambda: load_image(phone),
        }
        end_to_end = timed_in_turns(calls | stages, args.repeats, args.rounds)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{os.cpu_count()} CPU cores, shared (load average {load}); {args.repeats} runs of each call, in turns.")
    return per_photo_figures(end_to_end, list(stages))


def measure_choices(args) -> None:
    """XNNPACK threads, and single-image calls vs. a resized interpreter for a batch of 32."""
    weights_hash = file_sha256(resolve_weights())
    batch = to_batch([load_image(path) for path in batch_photos()])
    print(
        f"\nWhat labkit.engines chose: forward pass only, medians of {args.repeats} single images and "
        f"{max(args.rounds, 6)} batches of {BATCH}.\n"
    )
    header = f"{'engine':<13}{'threads':>8}{'1 image ms':>12}{'CPU ms':>8}{'loop img/s@32':>15}{'resized img/s@32':>18}"
    print(header)
    print("-" * len(header))
    for engine in ENGINES[1:]:
        path = cached_model_path(engine, weights_hash, "squash", 1000)
        if not path.is_file():
            Classifier(engine=engine, warm_up=False)  # converts into the cache
        variants = {}
        for threads in (1, 2):
            single = LiteRTForward(path, num_threads=threads)
            variants[(threads, "one")] = lambda f=single: f(batch[:1])
            variants[(threads, "loop")] = lambda f=single: f(batch)
            variants[(threads, "resized")] = resized_batch_call(path, threads, batch)
        single_images = timed_in_turns(
            {key: call for key, call in variants.items() if key[1] == "one"}, args.repeats, args.rounds
        )
        batches = timed_in_turns(
            {key: call for key, call in variants.items() if key[1] != "one"}, max(args.rounds, 6), args.rounds, warmup=1
        )
        for threads in (1, 2):
            one = single_images[(threads, "one")]
            print(
                f"{engine:<13}{threads:>8}{np.median(one[:, WALL]):>12.1f}{np.median(one[:, CPU]):>8.1f}"
                f"{BATCH * 1000 / np.median(batches[(threads, 'loop')][:, WALL]):>15.0f}"
                f"{BATCH * 1000 / np.median(batches[(threads, 'resized')][:, WALL]):>18.0f}"
            )


def resized_batch_call(path: Path, threads: int, batch: np.ndarray):
    """One interpreter resized to the whole batch: the alternative to labkit's one image at a time."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, list(batch.shape))
    interpreter.allocate_tensors()
    output_index = interpreter.get_output_details()[0]["index"]

    def call():
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed single-image runs per engine")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="turns the engines take")
    parser.add_argument("--choices", action="store_true", help="also measure threads and batching")
    parser.add_argument(
        "--per-photo", action="store_true", help="only where one photo's time goes (printed, not stored)"
    )
    args = parser.parse_args()
    if args.per_photo:
        measure_per_photo(args)
        return
    started = machine_load()
    write_result("engines", measure_engines(args), load_at_start=started)
    if args.choices:
        measure_choices(args)


if __name__ == "__main__":
    main()
