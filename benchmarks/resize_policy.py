"""Squash or crop? Top-1 / top-3 on the 650 labelled photos of imagenet-val-650 for each resize policy.

``"squash"`` resizes the whole photo to 224 x 224; ``"crop"`` resizes the shorter side to 256 and keeps the centre
224 x 224 (the classic ImageNet evaluation). labkit's default is whichever scores better here. The latest run's
figures go to ``benchmarks/results/resize_policy.json``; the README's table quotes them.

    python benchmarks/resize_policy.py
"""

from __future__ import annotations

import os
from pathlib import Path

from _results import machine_load, write_result

from labkit import Classifier
from labkit.evaluate import EvaluationResult, evaluate
from labkit.preprocess import DEFAULT_POLICY

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course_data import VALIDATION_SET, validation_dir

POLICIES = ("squash", "crop")


def counted(result: EvaluationResult, fraction: float, interval: tuple[float, float]) -> str:
    return f"{round(fraction * result.n)}/{result.n} ({fraction:.0%}; 95% {interval[0]:.1%}-{interval[1]:.1%})"


def main() -> None:
    started = machine_load()
    reference = Classifier(engine="keras")
    print(f"{VALIDATION_SET} ({validation_dir()}), Keras engine; default policy: {DEFAULT_POLICY!r}\n")
    print(f"{'policy':<8} {'top-1':<30} top-3")
    results = {}
    for policy in POLICIES:
        # One Keras model, two preprocessing policies.
        classifier = Classifier.from_keras(
            reference.model, reference.class_names, wnids=reference.wnids, engine="keras", policy=policy
        )
        result = results[policy] = evaluate(classifier, validation_dir(), top=3, progress=False)
        print(
            f"{policy:<8} {counted(result, result.top1, result.top1_interval):<30} "
            f"{counted(result, result.topk, result.topk_interval)}"
        )
    squash_only = {r.file for r in results["squash"].records if r.correct} - {
        r.file for r in results["crop"].records if r.correct
    }
    crop_only = {r.file for r in results["crop"].records if r.correct} - {
        r.file for r in results["squash"].records if r.correct
    }
    print(f"\nright only with squash: {', '.join(sorted(Path(f).name for f in squash_only)) or 'none'}")
    print(f"right only with crop:   {', '.join(sorted(Path(f).name for f in crop_only)) or 'none'}")
    write_result(
        "resize_policy",
        {
            "dataset": VALIDATION_SET,
            "photos": results[DEFAULT_POLICY].n,
            "default_policy": DEFAULT_POLICY,
            "policies": {
                policy: {
                    "top1_right": round(result.top1 * result.n),
                    "top3_right": round(result.topk * result.n),
                    "top1_interval_95": [round(bound, 4) for bound in result.top1_interval],
                }
                for policy, result in results.items()
            },
        },
        load_at_start=started,
    )


if __name__ == "__main__":
    main()
