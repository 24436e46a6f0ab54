"""How well do the out-of-distribution scores tell generated non-photos from real photos? And the calibration.

Prints, for the ImageNet MobileNetV2 on the 650 ImageNet validation photos of imagenet-val-650 (read as
benchmarks/calibration.py reads them) against images from labkit.nonphotos.generate_ood_images (noise, text pages,
charts, textures, flat colours, gradients):

- the AUROC of the maximum softmax probability, of the energy score and of ASH-S on the clipped pooled features
  (with the kept share of the shipped calibration), for several seeds (median and range);
- the score the app uses (labkit/data/calibration.json) and how often its threshold flags photos and each kind;
- the temperature, and the expected calibration error (ECE) before and after it, in-sample and on held-out halves;
- the ReAct clip (labkit.network.REACT_CLIP) re-derived from the photos, and with --sweep the AUROCs, flags and
  top-1 for clips at other percentiles of the photos' pooled features (computed in numpy on the Keras features).

Run from the repository root (LABKIT_WEIGHTS_DIR must point at the weights, e.g. ../shared/models):

    .venv/bin/python benchmarks/ood.py            # measure
    .venv/bin/python benchmarks/ood.py --sweep    # also compare ReAct clips at other percentiles

The shipped calibration (labkit/data/calibration.json) is refitted by ``benchmarks/calibration.py --save``, which
also prints the held-out figures (AUROC, false positives at 95 % true positives, flagged share per kind).
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from _results import machine_load, write_result
from calibration import validation_photos

from labkit import Classifier
from labkit.calibrate import OOD_IMAGES, measure_react_clip, outputs_for_images, pooled_features
from labkit.calibration import CALIBRATION_FILE, Calibration
from labkit.calibrators import TemperatureScaler
from labkit.network import REACT_CLIP, REACT_PERCENTILE
from labkit.nonphotos import OOD_KINDS, generate_ood_images
from labkit.ood import OOD_METHODS, auroc, choose_ood_threshold, ood_score
from labkit.predict import softmax
from labkit.reliability import expected_calibration_error

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
LOGIT_METHODS = ("energy", "max_softmax")  # the scores of the logits alone: what the ReAct sweep compares

SEEDS = range(5)  # seed 0 is the set the shipped calibration was fitted against
SWEEP_PERCENTILES = (None, 80, 90, 95, 97, 99)  # None: no clip
REQUIRED_AUROC = 0.85


def held_out_ece(logits: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, float]]:
    """Fit the temperature on one half (alternate rows of labels.csv), measure ECE on the other, both ways."""
    halves = (np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1)
    results = []
    for fit_on, test_on in (halves, halves[::-1]):
        scaler = TemperatureScaler().fit(logits[fit_on], labels[fit_on])
        results.append(
            (
                scaler.temperature_,
                expected_calibration_error(softmax(logits[test_on]), labels[test_on]),
                expected_calibration_error(scaler.predict_proba(logits[test_on]), labels[test_on]),
            )
        )
    return results


def react_sweep(classifier: Classifier, photos: list, labels: np.ndarray) -> None:
    """Print per clip percentile: top-1, median AUROCs, flags per kind (seeds 1.., threshold from seed 0)."""
    head = classifier.model.get_layer("predictions")
    weights, bias = (np.asarray(value) for value in head.get_weights())
    features = pooled_features(classifier, photos)
    ood = [generate_ood_images(OOD_IMAGES, seed) for seed in SEEDS]
    ood_features = [pooled_features(classifier, images) for images in ood]
    print(
        f"\n== ReAct clip sweep (numpy on the Keras features; flags on seeds {list(SEEDS)[1:]}, threshold from seed 0)"
    )
    for percentile in SWEEP_PERCENTILES:
        clip = np.inf if percentile is None else float(np.percentile(features, percentile))
        logits = np.minimum(features, clip) @ weights + bias
        others = [np.minimum(values, clip) @ weights + bias for values in ood_features]
        medians = {
            method: statistics.median(auroc(ood_score(logits, method), ood_score(other, method)) for other in others)
            for method in LOGIT_METHODS
        }
        best = max(LOGIT_METHODS, key=medians.get)
        threshold = choose_ood_threshold(ood_score(logits, best), ood_score(others[0], best))
        kinds = np.concatenate([[image.info["ood_kind"] for image in images] for images in ood[1:]])
        flags = np.concatenate([ood_score(other, best) > threshold for other in others[1:]])
        by_kind = ", ".join(f"{kind} {np.mean(flags[kinds == kind]):.0%}" for kind in OOD_KINDS)
        print(
            f"p{percentile or '-':<4} clip {clip:6.3f}: top-1 {np.sum(logits.argmax(1) == labels)}/{len(labels)}, "
            f"AUROC energy {medians['energy']:.3f}, max_softmax {medians['max_softmax']:.3f}; flagged with "
            f"{best}: photos {np.sum(ood_score(logits, best) > threshold)}, {by_kind}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=None, help="classifier engine (default: labkit's default)")
    parser.add_argument("--sweep", action="store_true", help="compare ReAct clips at other percentiles")
    args = parser.parse_args()
    started = machine_load()

    classifier = Classifier(engine=args.engine)
    items = validation_photos()
    folder = items[0].path.parent
    calibration = Calibration.load(CALIBRATION_FILE)

    logits, features = outputs_for_images(classifier, [item.path for item in items])
    head = classifier.head
    keep = calibration.ood_ash_keep or 0.3  # a calibration of another method: ASH-S at a typical share

    def score(method: str, some_logits: np.ndarray, some_features: np.ndarray | None) -> np.ndarray:
        return ood_score(some_logits, method, features=some_features, head=head, ash_keep=keep)  # type: ignore[arg-type]

    labels = np.array([item.class_index for item in items])
    print(
        f"engine {classifier.engine}, policy {classifier.policy}: {len(labels)} photos, top-1 "
        f"{np.mean(logits.argmax(1) == labels):.1%}"
    )

    print(f"\n== Out-of-distribution AUROC ({OOD_IMAGES} generated images per seed, seeds {list(SEEDS)})")
    scores: dict[str, list[float]] = {method: [] for method in OOD_METHODS}
    flagged: dict[str, list[bool]] = {kind: [] for kind in OOD_KINDS}
    for seed in SEEDS:
        images = generate_ood_images(OOD_IMAGES, seed)
        ood_logits, ood_features = outputs_for_images(classifier, images)
        for method in OOD_METHODS:
            scores[method].append(auroc(score(method, logits, features), score(method, ood_logits, ood_features)))
        for image, flag in zip(images, np.asarray(classifier.not_sure(ood_logits, ood_features)), strict=True):
            flagged[image.info["ood_kind"]].append(bool(flag))
    for method, values in scores.items():
        print(
            f"{method:12s} median {statistics.median(values):.3f}  (min {min(values):.3f}, max {max(values):.3f}; "
            f"by seed: {', '.join(f'{value:.3f}' for value in values)})"
        )
    app_auroc = statistics.median(scores[calibration.ood_method])
    verdict = "meets" if app_auroc >= REQUIRED_AUROC else "MISSES"
    print(
        f"the app uses {calibration.ood_method} (T={calibration.ood_temperature}, ASH-S keeps {keep}), threshold "
        f"{calibration.ood_threshold}: median AUROC {app_auroc:.3f}, {verdict} the {REQUIRED_AUROC} target"
    )

    print('\n== What the app\'s flag says ("not sure")')
    photos_flagged = np.asarray(classifier.not_sure(logits, features))
    print(
        f"real photos flagged: {photos_flagged.sum()}/{len(labels)} "
        f"({', '.join(item.path.name for item, flag in zip(items, photos_flagged, strict=True) if flag) or 'none'})"
    )
    for kind, flags in flagged.items():
        print(f"{kind:12s} flagged {np.mean(flags):.0%} of {len(flags)}")

    print("\n== Temperature scaling")
    scaler = TemperatureScaler().fit(logits, labels)
    print(
        f"temperature fitted on all {len(labels)} photos: {scaler.temperature_:.3f} (shipped: "
        f"{calibration.temperature}); ECE in-sample {expected_calibration_error(softmax(logits), labels):.3f} -> "
        f"{expected_calibration_error(scaler.predict_proba(logits), labels):.3f}"
    )
    halves = held_out_ece(logits, labels)
    for half, (temperature, before, after) in enumerate(halves, start=1):
        print(f"held-out half {half}: T={temperature:.3f} fitted on the other half, ECE {before:.3f} -> {after:.3f}")

    print("\n== ReAct clip (pooled features clipped before the last layer)")
    derived = measure_react_clip(classifier, folder)
    print(
        f"labkit.network.REACT_CLIP = {REACT_CLIP}; the {REACT_PERCENTILE}th percentile of these photos' pooled "
        f"features: {derived:.3f}"
    )
    write_result(
        "ood",
        {
            "engine": classifier.engine,
            "photos": len(labels),
            "generated_per_seed": OOD_IMAGES,
            "seeds": list(SEEDS),
            "auroc": {
                method: {
                    "median": round(statistics.median(values), 4),
                    "min": round(min(values), 4),
                    "max": round(max(values), 4),
                }
                for method, values in scores.items()
            },
            "app_method": calibration.ood_method,
            "app_auroc_median": round(app_auroc, 4),
            "photos_flagged": int(photos_flagged.sum()),
            "generated_flagged_by_kind": {kind: round(float(np.mean(flags)), 4) for kind, flags in flagged.items()},
            "held_out_ece": [
                {"temperature": round(float(t), 4), "before": round(float(before), 4), "after": round(float(after), 4)}
                for t, before, after in halves
            ],
        },
        load_at_start=started,
    )
    if args.sweep:
        react_sweep(classifier, [item.path for item in items], labels)


if __name__ == "__main__":
    main()
