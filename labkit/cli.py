"""labkit on the command line: ``labkit classify IMG...``, ``evaluate DIR``, ``serve``, ``train DIR``, ``fetch NAME``
(or ``python -m labkit ...``, the same).

Exit status: 0 all went well; 1 some image could not be read (the others are still answered); 2 a usage error
(unknown option, missing folder, bad labels); 3 the model could not be loaded (weights not found, or an engine
that cannot run here); 4 ``fetch`` could not provide the dataset (offline, a damaged file, a full disk).

Each subcommand is one ``add_*_command`` function that adds its parser and names the function that runs it;
:data:`COMMANDS` lists them. The model options every model-using command shares live in
:func:`add_model_options` and :func:`make_classifier`.

TensorFlow is imported only when a command needs the model, so ``python -m labkit --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit.class_names import TrainingDataError
from labkit.engines import DEFAULT_ENGINE, ENGINES, EngineError
from labkit.errors import LabkitError
from labkit.evaluate import evaluate
from labkit.export import ExportError, export_model, load_exported
from labkit.folders import LabelError, read_labelled_folder
from labkit.images import ImageError
from labkit.model import Classifier
from labkit.native_logs import native_log_lines_filtered
from labkit.paths import REPO_ROOT
from labkit.predict import UNCALIBRATED_MESSAGE, Prediction, doubt, format_percent
from labkit.recipe import FINE_TUNE_EPOCHS, HEAD_EPOCHS
from labkit.transfer import fine_tune
from labkit.version import __version__
from labkit.weights import IMAGENET, KERAS_DOWNLOAD, WeightsNotFound

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NO_MODEL = 0, 1, 2, 3
EXIT_NO_DATASET = 4  # `fetch`: the dataset could not be downloaded or checked
DASHBOARD = Path("notebooks") / "dashboard.ipynb"  # relative to the repository, where voila.json lives
DEFAULT_PORT = 8866  # Voilà's own default


def whole_number_at_least(minimum: int):
    """Return an argparse type accepting whole numbers >= ``minimum``, with a message saying what was wrong."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = whole_number_at_least(1)
whole_number = whole_number_at_least(0)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the model and how it runs (shared by every command that classifies)."""
    parser.add_argument(
        "--engine", choices=ENGINES, default=DEFAULT_ENGINE, help=f"how to run the model (default: {DEFAULT_ENGINE})"
    )
    parser.add_argument(
        "--model", metavar="PATH", help="a model exported by `python -m labkit train` (default: the ImageNet model)"
    )
    parser.add_argument(
        "--weights",
        default=IMAGENET,
        metavar="WEIGHTS",
        help=f"the ImageNet model's weights: {IMAGENET!r} (default: labkit's own, built on first use), "
        f"{KERAS_DOWNLOAD!r} (Keras' original, downloaded by Keras) or a path to an .h5 file",
    )


def make_classifier(args: argparse.Namespace) -> Classifier:
    """Build the classifier the model options ask for, keeping native libraries' log lines off the terminal."""
    # Keras prints download progress on stdout; keep stdout for answers (--json must stay parseable).
    with native_log_lines_filtered(), contextlib.redirect_stdout(sys.stderr):
        if getattr(args, "model", None):
            classifier = load_exported(args.model, engine=args.engine)
        else:
            classifier = Classifier.imagenet(getattr(args, "weights", IMAGENET), engine=args.engine)
    if not classifier.calibrated:
        print(f"labkit: {UNCALIBRATED_MESSAGE}", file=sys.stderr, flush=True)
    return classifier


def add_classify_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "classify",
        help="name what is in one or more photos",
        description="Print the model's top guesses for each photo.",
    )
    parser.add_argument("images", nargs="+", metavar="IMG", help="image files (JPEG, PNG, GIF, BMP, WebP, TIFF)")
    parser.add_argument("--top", type=positive_int, default=3, metavar="N", help="guesses per photo (default 3)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON list instead of text (with each photo's "
        "ood_score, higher = less familiar, and its note: out_of_distribution, low_confidence or null)",
    )
    add_model_options(parser)
    parser.set_defaults(run=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    classifier = make_classifier(args)
    answers, failed = [], False
    for file in args.images:
        try:
            prediction = classifier.classify(file, top=args.top)
        except ImageError as error:
            failed = True
            print(f"{file}: {error}", file=sys.stderr)
            answers.append({"file": file, "error": str(error)})
            continue
        answers.append({"file": file, **prediction.to_dict()})
        if not args.json:
            print(f"{file}: {describe(prediction)}", flush=True)
    if args.json:
        print(json.dumps(answers, indent=2))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def describe(prediction: Prediction) -> str:
    """One line for people: ``golden retriever 92.1%, Labrador retriever 3.2%, ...`` plus any note of doubt.

    Percentages by :func:`labkit.predict.format_percent` (never "100.0%"); the note in the app's words
    (:func:`labkit.predict.doubt`), e.g. ``(low confidence: it hesitates between cab and limousine)`` or
    ``(not sure: this is probably none of the 4 classes I was taught)``.
    """
    text = ", ".join(f"{score.label} {format_percent(score.probability, decimals=1)}" for score in prediction.top)
    words = doubt(prediction, percentages=False)  # printed beside the guesses already
    if words is not None:
        text += f" ({words.aside()})"
    return text + "".join(f" [{note}]" for note in prediction.notes)


def add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="measure accuracy on a labelled folder",
        description="Measure top-1 and top-N accuracy on a folder of labelled photos: either labels.csv beside "
        "them (columns file and class_index, wnid or label) or one subfolder per class.",
    )
    parser.add_argument("path", metavar="PATH", help="the labelled folder, or a labels CSV")
    parser.add_argument("--top", type=positive_int, default=3, metavar="N", help="k for top-k accuracy (default 3)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of text (with ece, nll, mean_confidence and not_sure_rate)",
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="evaluate only the first N photos")
    add_model_options(parser)
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if not Path(args.path).exists():  # a typo should not wait for the model to load
        print(
            f"labkit evaluate: no folder or file at '{args.path}'. Check the spelling; relative paths start "
            f"from the current folder, {Path.cwd()}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    classifier = make_classifier(args)
    try:
        items = read_labelled_folder(args.path, classifier.class_names, classifier.wnids)
    except LabelError as error:
        print(f"labkit evaluate: {error}", file=sys.stderr)
        return EXIT_USAGE
    result = evaluate(classifier, items, top=args.top, limit=args.limit, progress=True)
    for file, message in result.errors:
        print(f"{file}: {message}", file=sys.stderr)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return EXIT_SOME_FAILED if result.errors else EXIT_OK


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="start the web app (Voilà on notebooks/dashboard.ipynb)",
        description="Serve the dashboard notebook as a web app with Voilà, using the "
        "repository's voila.json. Stop it with Ctrl+C.",
    )
    parser.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--no-browser", action="store_true", help="don't open a browser tab")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if not (REPO_ROOT / DASHBOARD).is_file():
        print(
            f"labkit serve: no {REPO_ROOT / DASHBOARD}. The web app runs from a labkit checkout (git clone), "
            "not from an installed package.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    command = [sys.executable, "-m", "voila", str(DASHBOARD), f"--port={args.port}"]
    if args.no_browser:
        command.append("--no-browser")
    # Voilà reads voila.json from its working folder: the repository's limits apply.
    process = subprocess.Popen(command, cwd=REPO_ROOT)
    # Stopping labkit stops Voilà: a `kill` (SIGTERM) is passed on; Ctrl+C reaches Voilà by itself.
    signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # let Voilà shut its kernels down first
            continue


# The errors that mean "the model cannot be loaded here": missing weights, an engine that cannot run, a --model
# PATH that is not an export.
MODEL_ERRORS: tuple[type[Exception], ...] = (WeightsNotFound, EngineError, ExportError)


def add_train_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="teach the model your own classes (one subfolder of photos per class)",
        description="Fine-tune MobileNetV2 on every photo of FOLDER, which holds one subfolder of photos per class "
        "(the folder names become the class names), and export the model to DIR: model.keras, "
        "labels.txt, model.tflite and labkit.json. Use it with `classify --model DIR`. To measure the "
        "model, give photos it never learns from: --val FOLDER (best), or --val-split to hold back part "
        "of FOLDER; early stopping and calibration then use them. Progress goes to stderr, the summary "
        "to stdout.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the training photos, e.g. photos/cats/*.jpg, photos/dogs/")
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder to export the model to")
    checked_on = parser.add_mutually_exclusive_group()
    checked_on.add_argument(
        "--val",
        metavar="FOLDER",
        help="validation photos, never learnt from: one subfolder per class, named as in FOLDER",
    )
    checked_on.add_argument(
        "--val-split",
        type=fraction,
        metavar="F",
        default=0.0,
        help="hold back this share of each class of FOLDER for validation, e.g. 0.2 "
        "(default 0: learn from every photo)",
    )
    parser.add_argument(
        "--epochs",
        type=whole_number,
        metavar="N",
        help=f"fine-tuning epochs, at most (default {FINE_TUNE_EPOCHS}; 0 trains only the new last layer)",
    )
    parser.add_argument(
        "--head-epochs",
        type=positive_int,
        metavar="N",
        help=f"epochs for the new last layer, at most (default {HEAD_EPOCHS}; with validation "
        "photos, early stopping may end it sooner)",
    )
    parser.set_defaults(run=run_train)


def fraction(text: str) -> float:
    """An argparse type for a share such as ``0.2``: at least 0 and below 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a share such as 0.2") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1 (a share such as 0.2), got {value}")
    return value


def run_train(args: argparse.Namespace) -> int:
    options = {
        name: value
        for name, value in (("fine_tune_epochs", args.epochs), ("head_epochs", args.head_epochs))
        if value is not None
    }
    # Progress and warnings go to stderr (sys.stderr still shows); Keras' own prints must not mix into the summary.
    with native_log_lines_filtered(), contextlib.redirect_stdout(sys.stderr):
        try:
            result = fine_tune(args.folder, validation=args.val, validation_split=args.val_split, **options)
        except TrainingDataError as error:
            print(f"labkit train: {error}", file=sys.stderr)
            return EXIT_USAGE
        folder = export_model(result, args.out)
    print(result.summary())
    print(f"exported to {folder}: use it with `python -m labkit classify --model {folder} IMG...`")
    return EXIT_SOME_FAILED if result.skipped_files else EXIT_OK


def add_fetch_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "fetch",
        help="download and check a named dataset (e.g. imagenet-val-650); print its folder",
        description="Make a named dataset available and print its local folder on the last line of stdout: "
        "downloaded once into labkit's cache and checked file by file (sha256). LABKIT_DATA_DIR "
        "(a folder holding <name>/) or LABKIT_DATASETS_URL (a mirror) replace the public source.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("name", nargs="?", metavar="NAME", help="the dataset, e.g. imagenet-val-650")
    what.add_argument("--list", action="store_true", help="list the datasets, their size and licence")
    parser.set_defaults(run=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from labkit.datasets import DatasetError, describe_datasets, fetch

    if args.list:
        print("\n".join(describe_datasets()))
        return EXIT_OK
    try:
        folder = fetch(args.name)
    except DatasetError as error:
        print(f"labkit fetch: {error}", file=sys.stderr)
        return EXIT_NO_DATASET
    print(folder)
    return EXIT_OK


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_classify_command,
    add_evaluate_command,
    add_serve_command,
    add_train_command,
    add_fetch_command,
)


def build_parser(prog: str = "labkit") -> argparse.ArgumentParser:
    """The command line's parser, one subcommand per entry of :data:`COMMANDS`; ``prog`` names it in messages."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Classify photos with MobileNetV2, measure accuracy, serve the app."
    )
    parser.add_argument("--version", action="version", version=f"labkit {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "labkit") -> int:
    """Run the command line; return the exit status.

    The ``labkit`` command (pyproject.toml's ``[project.scripts]``) calls it; so does ``python -m labkit``.

    Example:
        >>> main(["classify", "data/samples/pizza.jpg"])  # doctest: +SKIP
        data/samples/pizza.jpg: pizza 99.6%, ...
        0
    """
    args = build_parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except LabkitError as error:  # its message says what was wrong and what to do: no traceback
        print(f"labkit: {error}", file=sys.stderr)
        return EXIT_NO_MODEL if isinstance(error, MODEL_ERRORS) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
