"""How good and how fast is fine-tuning? Train on all of trashnet-mini, measure top-1 on trashnet-val.

Target (issue 17): top-1 >= 0.90 on trashnet-val's 400 photos (100 per class, none of them in trashnet-mini), after
training on trashnet-mini's 240 photos alone, in about 3 minutes on a quiet 2-core machine.

Usage:
    .venv/bin/python benchmarks/transfer.py              # one training run, prints and writes results/transfer.json
    .venv/bin/python benchmarks/transfer.py --seeds 0 1  # one run per seed (the figures written are the medians)

The machine's speed differs by 3x from one day to the next and other work shares it, so the training time is printed
next to a **reference measured in the same run**: one compiled Keras forward pass of MobileNetV2 (no top, 224 x 224,
a batch of 32), the median of five, taken before and after training (their mean is the reference). The ratio
training time / reference compares across machines and loads; on quiet machines the reference took 0.3-1 s.
The training time counts everything fine_tune does (reading the 240 photos, building MobileNetV2, features, both
phases); importing TensorFlow is printed apart. Accuracy comes with its 95 % Wilson interval (about +-3 points on
400 photos). trashnet-val is only ever measured on, never trained on: the recipe was chosen with it (every try is
listed in benchmarks/README.md), so a fresh set of photos may score a little lower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _reference import REFERENCE_BATCH, REFERENCE_REPEATS, reference_pass
from _results import machine_load, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_ACCURACY = 0.90
TARGET_SECONDS = 180  # "about 3 minutes on a quiet 2-core machine"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one training run per seed (default: 0)")
    parser.add_argument("--train", type=Path, help="training folder (default: trashnet-mini)")
    parser.add_argument("--val", type=Path, help="photos to measure on (default: trashnet-val)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    started = machine_load()

    shared = Path(__file__).resolve().parents[2] / "shared"
    os.environ.setdefault("LABKIT_WEIGHTS_DIR", str(shared / "models"))
    os.environ.setdefault("LABKIT_DATA_DIR", str(shared / "datasets"))
    start = time.perf_counter()
    import keras  # noqa: F401 (timed apart: every process pays it once)

    from labkit import recipe, transfer
    from labkit.datasets import fetch
    from labkit.evaluate import evaluate
    from labkit.paths import TRASHNET_MINI_DIR

    import_seconds = time.perf_counter() - start
    train_folder = args.train or TRASHNET_MINI_DIR
    val_folder = args.val or fetch("trashnet-val", progress=False)  # $LABKIT_DATA_DIR or a mirror: see labkit.datasets
    reference = reference_pass()
    print(f"training on {train_folder}, measuring on {val_folder} (import of TensorFlow/Keras: {import_seconds:.1f} s)")
    runs = []
    for seed in args.seeds:
        before = reference()
        result = transfer.fine_tune(train_folder, validation_split=0, seed=seed, progress=not args.quiet)
        after = reference()
        measured = evaluate(result.classifier, val_folder, top=1, progress=False)
        low, high = measured.top1_interval
        run = {
            "seed": seed,
            "top1": round(measured.top1, 4),
            "top1_95": [round(low, 4), round(high, 4)],
            "photos": measured.n,
            "correct": round(measured.top1 * measured.n),
            "train_seconds": round(result.seconds, 1),
            "reference_seconds": round((before + after) / 2, 3),
            "reference_before_after": [round(before, 3), round(after, 3)],
            "epochs": {"new head": result.history["phase"].count(1), "fine-tuning": result.history["phase"].count(2)},
            "load_average": [round(value, 2) for value in os.getloadavg()],
        }
        run["ratio"] = round(run["train_seconds"] / run["reference_seconds"], 1)
        runs.append(run)
        print(
            f"seed {seed}: top-1 {measured.top1:.1%} on {measured.n} trashnet-val photos "
            f"({run['correct']}/{measured.n}, 95 % interval {low:.1%}-{high:.1%}); training {result.seconds:.1f} s; "
            f"reference {run['reference_seconds']:.3f} s (before {before:.3f}, after {after:.3f}); "
            f"ratio {run['ratio']:.1f}; load average {run['load_average'][0]:.1f}",
            flush=True,
        )
    top1 = statistics.median(run["top1"] for run in runs)
    ratio = statistics.median(run["ratio"] for run in runs)
    print(
        f"top-1 on trashnet-val: {top1:.1%} (target >= {TARGET_ACCURACY:.0%}: "
        f"{'met' if top1 >= TARGET_ACCURACY else 'NOT met'}); training time / reference: {ratio:.1f} "
        f"(here {statistics.median(run['train_seconds'] for run in runs):.0f} s with a reference of "
        f"{statistics.median(run['reference_seconds'] for run in runs):.2f} s; target about {TARGET_SECONDS} s on a "
        f"quiet 2-core machine)"
    )
    write_result(
        "transfer",
        {
            "train": train_folder.name,
            "measured_on": val_folder.name,
            "top1": top1,
            "top1_95": runs[0]["top1_95"] if len(runs) == 1 else None,
            "photos": runs[0]["photos"],
            "train_seconds": statistics.median(run["train_seconds"] for run in runs),
            "reference_seconds": statistics.median(run["reference_seconds"] for run in runs),
            "ratio": ratio,
            "reference": f"median of {REFERENCE_REPEATS} compiled Keras forward passes of MobileNetV2 "
            f"(no top, 224 x 224, batch of {REFERENCE_BATCH}), before and after training",
            "import_seconds": round(import_seconds, 1),
            "recipe": recipe.recipe(),
            "runs": runs,
        },
        load_at_start=started,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
