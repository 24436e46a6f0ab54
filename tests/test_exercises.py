"""The lessons' exercises, as a student meets them: for every exercise a right answer passes (in each form a
student may write it), typical wrong answers each get their own message, and garbage (None, NaN, text, a wrong
shape, a function that raises) gets a message, never a traceback. Like the testing copies of Kaggle Learn's
exercise notebooks: one right and several wrong answers per problem.

The lessons' own results (logits, heatmaps, evaluations, timings, a training run) are made here small and synthetic,
so these tests run in seconds; the lessons run the same checks on the real model (nbval, tests/test_assignments.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest

from labkit.evaluate import EvaluationResult, LatencyStats, score_logits, wilson_interval
from labkit.exercises import lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08
from labkit.exercises.checks import Exercise
from labkit.predict import softmax
from labkit.preprocess import scale_pixels, to_model_input
from labkit.reliability import ECE_BINS, expected_calibration_error
from labkit.transfer import FineTuneResult

RNG_SEED = 0


# --- the lessons' results, small and synthetic ------------------------------------------------------------------


def scaling_top1() -> dict:
    return {
        ("squash", "[-1, 1]"): 511 / 650,
        ("squash", "[0, 1]"): 463 / 650,
        ("crop", "[-1, 1]"): 508 / 650,
        ("crop", "[0, 1]"): 463 / 650,
    }


def lesson03_context() -> dict:
    confident, hesitant = lesson03.example_predictions()
    return {
        "predictions": {"espresso.jpg": confident, "beagle.jpg": hesitant},
        "surprise": dataclasses.replace(hesitant, not_sure=True),
        "SURPRISE": "whale_shark.jpg",
    }


def two_object_heatmaps() -> dict[str, np.ndarray]:
    """A 224 x 448 picture's heatmaps: the cab's on the left half, the tabby's mostly on the right."""
    cab = np.zeros((224, 448))
    cab[40:180, 20:200] = 1.0
    tabby = np.zeros((224, 448))
    tabby[30:200, 250:430] = 1.0
    tabby[100:140, 180:224] = 0.5
    return {"cab": cab, "tabby": tabby}


def tabby_right(heatmaps: dict[str, np.ndarray]) -> float:
    heatmap = heatmaps["tabby"]
    return float(heatmap[:, 224:].sum() / heatmap.sum())


def under_confident_logits(n: int = 650, classes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose honest temperature is 0.7: labels drawn from softmax(z), logits = 0.7 z (too flat)."""
    rng = np.random.default_rng(RNG_SEED)
    z = rng.normal(0, 2.5, size=(n, classes))
    probabilities = softmax(z)
    labels = np.array([rng.choice(classes, p=row) for row in probabilities])
    return 0.7 * z, labels


def ece(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return expected_calibration_error(softmax(logits, temperature), labels, ECE_BINS)


def evaluation(seed: int = RNG_SEED, flip: float = 0.0) -> EvaluationResult:
    """An evaluation of 200 photos of 10 classes, with a known most confused pair ('c2' taken for 'c3')."""
    rng = np.random.default_rng(seed)
    names = [f"c{index}" for index in range(10)]
    labels = rng.integers(0, 10, 200)
    logits = rng.normal(0, 1, size=(200, 10))
    logits[np.arange(200), labels] += 2.5
    twos = np.flatnonzero(labels == 2)[:5]
    logits[twos, 3] += 10  # five photos of c2 taken for c3
    logits += flip * rng.normal(0, 1, size=logits.shape)
    records = score_logits(logits, labels, [f"{i}.jpg" for i in range(200)], names, k=3)
    return EvaluationResult(records=records, k=3, elapsed_s=1.0, logits=logits, labels=labels, class_names=names)


def timings() -> dict[str, LatencyStats]:
    return {
        "keras": LatencyStats(p50_ms=85.0, p90_ms=110.0, mean_ms=90.0, n=30),
        "litert": LatencyStats(p50_ms=34.0, p90_ms=40.0, mean_ms=35.0, n=30),
        "litert-int8": LatencyStats(p50_ms=22.0, p90_ms=31.0, mean_ms=24.0, n=30),
    }


def fine_tune_result(classes: list[str], val_accuracy: float | None, held_back: int = 24) -> FineTuneResult:
    history = {"accuracy": [0.7, 0.97], "val_accuracy": [0.6, val_accuracy or 0.0]}
    return FineTuneResult(
        classifier=None,
        history=history,
        class_names=classes,
        val_accuracy=val_accuracy,
        seconds=1.0,
        skipped_files=[],
        validation_set=[],
        validation=list(range(held_back)),
    )


# --- right answers, in the forms students write them --------------------------------------------------------------

PENGUIN = lesson01.photo_pixels("penguin.jpg")
CAB = lesson01.photo_pixels("cab.jpg")
HEATMAPS = two_object_heatmaps()
LOGITS, LABELS = under_confident_logits()
SCORES = np.random.default_rng(RNG_SEED).normal(-20, 2, 650)
RESULT = evaluation()
ENGINES = {"keras": evaluation(), "litert-int8": evaluation(flip=0.6)}
TWO_CLASSES = fine_tune_result(["glass", "paper"], 0.92)
FOUR_CLASSES = fine_tune_result(["glass", "metal", "paper", "plastic"], 0.81, held_back=48)


def best_temperature() -> float:
    return min(np.arange(0.4, 1.21, 0.01), key=lambda t: ece(LOGITS, LABELS, t))


def normal_interval(right: int, n: int) -> tuple[float, float]:
    p = right / n
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def top3_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    best3 = np.argsort(logits, axis=1)[:, -3:]
    return float(np.mean((best3 == labels[:, None]).any(axis=1)))


def disagreements() -> int:
    return int((ENGINES["keras"].logits.argmax(1) != ENGINES["litert-int8"].logits.argmax(1)).sum())


# Each exercise: its context, right answers, and (wrong answer, words its feedback must contain) for typical
# mistakes. Garbage is tried on every exercise below.
CASES = {
    "01 q1": (
        lesson01.q1,
        {},
        [PENGUIN.shape, list(PENGUIN.shape), np.array(PENGUIN.shape)],
        [
            ((PENGUIN.shape[1], PENGUIN.shape[0], 3), "width first"),
            (PENGUIN.shape[:2], "third"),
            ((3, *PENGUIN.shape[:2]), "channels come last"),
        ],
    ),
    "01 q3": (
        lesson01.q3,
        {},
        [CAB[100, 50, 2], int(CAB[100, 50, 2]), float(CAB[100, 50, 2])],
        [(CAB[100, 50, 0], "red channel"), (CAB[50, 100, 2], "row comes first"), (CAB[100, 50], "whole pixel")],
    ),
    "01 q4": (
        lesson01.q4,
        {},
        ["blue", " Blue "],
        [("red", "strongest"), (2, "index of blue"), ("yellow", "not one of")],
    ),
    "01 q2": (
        lesson01.q2,
        {},
        [150528, 224 * 224 * 3.0, np.int64(150528)],
        [(224 * 224, "counts the pixels"), (224 + 224 + 3, "multiply")],
    ),
    "02 q1": (
        lesson02.q1,
        {},
        [
            lambda p: p / 127.5 - 1,
            scale_pixels,
            lambda p: (p.astype(np.float32) - 128) / 128,
            lambda p: p / 255 * 2 - 1,
        ],
        [
            (lambda p: p / 255, "run from 0 to 1"),
            (lambda p: p / 127.5, "0 to 2"),
            (lambda p: 1 - p / 127.5, "backwards"),
            (lambda p: (p - 128) / 128, "wraps around"),
        ],
    ),
    "02 q2": (
        lesson02.q2,
        {"top1": scaling_top1()},
        [508 / 650, np.float64(507 / 650), 0.7815],
        [(463 / 650, "[0, 1] slip"), (508, "count"), (78.15, "percentage"), (142 / 650, "wrong")],
    ),
    "02 q3": (
        lesson02.q3,
        {},
        [
            to_model_input,
            lambda im: to_model_input(im, "crop"),
            lambda im: scale_pixels(np.asarray(im.convert("RGB").resize((224, 224)))),
        ],
        [
            (lambda im: np.asarray(im.resize((224, 224))) / 127.5 - 1, "channels"),
            (lambda im: np.asarray(im.convert("RGB").resize((224, 224))) / 255, "run from 0 to 1"),
            (lambda im: np.asarray(im.convert("RGB").resize((224, 224))), "up to 255"),
            (lambda im: np.asarray(im.convert("RGB")) / 127.5 - 1, "resize"),
        ],
    ),
    "03 q1": (
        lesson03.q1,
        {},
        [
            lambda p: [f"{s.label} {s.probability * 100:.1f}%" for s in p.top[:3]],
            lambda p: [f"{s.label}: {100 * s.probability:.1f} %" for s in p.top][:3],
            lambda p: tuple(f"{round(s.probability * 100, 1)}% {s.label}" for s in p.top[:3]),
        ],
        [
            (lambda p: [f"{s.label} {s.probability:.3f}" for s in p.top[:3]], "fraction"),
            (lambda p: [f"{s.label} {s.probability * 100:.1f}%" for s in p.top], "lines"),
            (lambda p: [f"{s.label} {s.probability * 100:.1f}%" for s in p.top[:3]][::-1], "order"),
            (lambda p: "\n".join(f"{s.label} {s.probability:.1%}" for s in p.top[:3]), "list of lines"),
        ],
    ),
    "03 q2": (
        lesson03.q2,
        lesson03_context(),
        ["whale_shark.jpg", "WHALE_SHARK.JPG"],
        [
            ("beagle.jpg", "sure enough"),
            ("shark.jpg", "not one of"),
            (lesson03_context()["surprise"], "prediction itself"),
        ],
    ),
    "04 q1": (
        lesson04.q1,
        {"heatmaps": HEATMAPS},
        ["cab", "Cab"],
        [("tabby", "right half"), (HEATMAPS["cab"], "is a heatmap"), ("dog", "not one of")],
    ),
    "04 q2": (
        lesson04.q2,
        {"heatmaps": HEATMAPS},
        [tabby_right(HEATMAPS), round(tabby_right(HEATMAPS), 3)],
        [
            (1 - tabby_right(HEATMAPS), "left half"),
            (100 * tabby_right(HEATMAPS), "percentage"),
            (HEATMAPS["tabby"][:, 224:], "array"),
            (float(HEATMAPS["tabby"][:, 224:].sum()), "sum"),
        ],
    ),
    "05 q1": (
        lesson05.q1,
        {"logits": LOGITS, "labels": LABELS},
        [best_temperature(), round(best_temperature(), 1)],
        [(1, "raw model"), (1.5, "below 1"), (0.1, "finer search"), (-0.5, "above 0")],
    ),
    "05 q2": (
        lesson05.q2,
        {"scores": SCORES},
        [float(np.quantile(SCORES, 0.95)), np.quantile(SCORES, 0.951)],
        [
            (float(np.quantile(SCORES, 0.05)), "95 % of the real photos get"),
            (0.95, "probability"),
            (float(np.quantile(SCORES, 0.5)), "raise it"),
        ],
    ),
    "06 q1": (
        lesson06.q1,
        {},
        [wilson_interval, normal_interval, lambda r, n: list(normal_interval(r, n))],
        [
            (
                lambda r, n: (r / n - math.sqrt(r / n * (1 - r / n) / n), r / n + math.sqrt(r / n * (1 - r / n) / n)),
                "too narrow",
            ),
            (lambda r, n: tuple(100 * x for x in wilson_interval(r, n)), "percentages"),
            (lambda r, n: normal_interval(r, n)[::-1], "low comes first"),
        ],
    ),
    "06 q2": (
        lesson06.q2,
        {"result": RESULT},
        [("c2", "c3"), ["c2", "c3"]],
        [(("c3", "c2"), "other way round"), ("c2", "two class names"), ((2, 3), "names")],
    ),
    "06 q3": (
        lesson06.q3,
        {"result": RESULT},
        [top3_accuracy(RESULT.logits, RESULT.labels), RESULT.topk],
        [
            (RESULT.top1, "top-1"),
            (RESULT.topk * 100, "percentage"),
            (top3_accuracy(-RESULT.logits, RESULT.labels), "lowest score"),
        ],
    ),
    "07 q1": (
        lesson07.q1,
        {"timings": timings()},
        [85 / 22, 3.86, 90 / 24],
        [(22 / 85, "below 1"), (85 - 22, "difference"), (85 / 34, "against litert")],
    ),
    "07 q2": (
        lesson07.q2,
        {"results": ENGINES},
        [disagreements(), float(disagreements()), np.int64(disagreements())],
        [(200 - disagreements(), "agree"), (disagreements() / 200, "share")],
    ),
    "08 q2": (
        lesson08.q2,
        {},
        [TWO_CLASSES],
        [
            (FOUR_CLASSES, "4 classes"),
            (fine_tune_result(["glass", "paper"], 0.7), "below"),
            (fine_tune_result(["glass", "paper"], None, 0), "held back"),
            (0.92, "train(wait=True)"),
        ],
    ),
    "08 q1": (
        lesson08.q1,
        {"result": FOUR_CLASSES},
        [0.81, 39 / 48],
        [(0.97, "learnt from"), (0.81 * 48, "count"), (81, "percentage")],
    ),
}
GARBAGE = [None, float("nan"), np.float32("nan"), "an answer", np.zeros((2, 3)), {"a": 1}, object()]


def answer_cases() -> list:
    return [
        pytest.param(exercise, context, rights, wrongs, id=name)
        for name, (exercise, context, rights, wrongs) in CASES.items()
    ]


@pytest.mark.parametrize("exercise, context, rights, wrongs", answer_cases())
def test_a_right_answer_passes_in_every_form(exercise: Exercise, context, rights, wrongs):
    for answer in rights:
        feedback = exercise.feedback(answer, **context)
        assert feedback.status == "correct", f"{answer!r}: {feedback}"
        assert exercise.passed(answer, **context)


@pytest.mark.parametrize("exercise, context, rights, wrongs", answer_cases())
def test_each_typical_mistake_gets_its_own_message(exercise: Exercise, context, rights, wrongs):
    messages = []
    for answer, words in wrongs:
        feedback = exercise.feedback(answer, **context)
        assert feedback.status == "incorrect", f"{answer!r} passed"
        assert words in feedback.message, f"{answer!r}: {feedback}"
        assert not exercise.passed(answer, **context)
        messages.append(feedback.message)
    assert len(wrongs) >= 2
    assert len(set(messages)) == len(messages), "two mistakes share one message"


@pytest.mark.parametrize("exercise, context, rights, wrongs", answer_cases())
def test_garbage_gets_a_message_not_a_traceback(exercise: Exercise, context, rights, wrongs, capsys):
    for answer in [*GARBAGE, lambda *args: 1 / 0, lambda *args: None]:
        feedback = exercise.feedback(answer, **context)
        assert feedback.status == "incorrect", f"{answer!r}"
        assert feedback.message and "Traceback" not in feedback.message
    exercise.check(None, **context)
    assert capsys.readouterr().out.startswith("Not yet: your answer is None")


@pytest.mark.parametrize("exercise, context, rights, wrongs", answer_cases())
def test_untouched_starter_code_is_not_done_yet(exercise: Exercise, context, rights, wrongs, capsys):
    assert exercise.feedback(..., **context).status == "not done"
    exercise.check(..., **context)
    assert capsys.readouterr().out.startswith("Not done yet: replace the ...")
    assert not exercise.passed(..., **context)


def test_a_function_not_written_yet_is_not_done_yet():
    def my_scaling(pixels):
        """Scale 0..255 pixel values to [-1, 1]."""
        pass  # YOUR CODE HERE

    assert lesson02.q1.feedback(my_scaling).status == "not done"


def test_a_check_reads_the_notebooks_variables_and_says_when_the_exercise_was_not_run(capsys):
    namespace = {"heatmaps": HEATMAPS}
    exec("lesson04.q1.check()", {"lesson04": lesson04, **namespace})  # a check cell run before its exercise
    assert capsys.readouterr().out == (
        "Not done yet: `left_class` is not defined yet: run the exercise's cell above, then this check.\n"
    )
    exec("lesson04.q1.check()", {"lesson04": lesson04, "left_class": "cab"})  # the lesson's cells not run
    assert "`heatmaps` is not defined yet: run the lesson's cells above" in capsys.readouterr().out
    exec("lesson04.q1.check()", {"lesson04": lesson04, "left_class": "cab", **namespace})
    assert capsys.readouterr().out == "Correct!\n"
    assert eval("lesson04.q1.passed()", {"lesson04": lesson04, "left_class": "cab", **namespace})


def test_a_students_exception_names_their_line(capsys):
    source = "def my_scaling(pixels):\n    scaled = pixels / 127.5\n    return scaled - undefined_name\n"
    namespace: dict = {}
    exec(compile(source, "<student cell>", "exec"), namespace)
    message = lesson02.q1.feedback(namespace["my_scaling"]).message
    assert message.startswith("your function raised NameError when given") and "(line 3 of your code)" in message


def test_hints_come_in_order_and_the_solution_stays_in_the_teachers_copy(capsys):
    exercise = lesson02.q1
    exercise.hint()
    exercise.hint(2)
    exercise.hint(3)
    exercise.solution()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("Hint 1 of 2: ") and printed[1].startswith("Hint 2 of 2: ")
    assert printed[2] == "There are only 2 hints for this exercise."
    assert "02_preprocessing.ipynb" in printed[3] and "127.5" not in printed[3]


def test_every_lesson_has_two_to_four_exercises_and_twenty_in_all():
    lessons = [lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08]
    counts = Counter()
    for module in lessons:
        exercises = [value for name, value in vars(module).items() if name[:1] == "q" and isinstance(value, Exercise)]
        counts[module.__name__] = len(exercises)
        assert all(
            exercise.lesson == module.LESSON and exercise.hints and exercise.answer_names for exercise in exercises
        )
    assert all(2 <= count <= 4 for count in counts.values()), counts
    assert sum(counts.values()) >= 20
    assert sum(counts.values()) == len(CASES), "an exercise without a test case above"
