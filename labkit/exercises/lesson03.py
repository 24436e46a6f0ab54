"""Lesson 03's exercises: a prediction's top guesses written out with percentages, and which photo gets the
"not sure" note."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from labkit.exercises.checks import (
    AnswerError,
    Exercise,
    Feedback,
    FunctionExercise,
    as_choice,
    correct,
    describe_kind,
    wrong,
)
from labkit.predict import ClassScore, Prediction

LESSON = "03_first_predictions.ipynb"
PERCENT_TOLERANCE = 0.051  # one decimal, however it was rounded
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def example_predictions() -> list[Prediction]:
    """Two predictions of the kind the lesson prints: a confident one and a hesitant one with five guesses."""

    def prediction(scores: list[tuple[str, float]]) -> Prediction:
        top = tuple(ClassScore(label, index, "", probability) for index, (label, probability) in enumerate(scores))
        return Prediction(top=top, elapsed_ms=0.0, logits=np.zeros(len(scores), np.float32))

    return [
        prediction([("espresso", 0.952), ("cup", 0.014), ("coffee mug", 0.006)]),
        prediction(
            [
                ("beagle", 0.498),
                ("Walker hound", 0.274),
                ("English foxhound", 0.203),
                ("basset", 0.011),
                ("bluetick", 0.004),
            ]
        ),
    ]


class TopLines(FunctionExercise):
    title = "Exercise 1: the top 3 in words"
    lesson = LESSON
    answer_names = ("top_lines",)
    expects = "a function that takes a prediction and returns a list of 3 lines (strings)"
    hints = (
        "`prediction.top` lists the guesses, most likely first; each has `.label` and `.probability` (0 to 1).",
        'For each of the first three: `f"{score.label} {score.probability * 100:.1f}%"`.',
    )

    def examples(self, **context: Any) -> list[tuple[Prediction]]:
        return [(prediction,) for prediction in example_predictions()]

    def describe_case(self, args: tuple[Any, ...]) -> str:
        return f"the prediction '{args[0]}'"

    def problem(self, lines: Any, args: tuple[Any, ...]) -> str:
        """What is wrong with ``lines`` for the prediction in ``args``, or "" when they are right."""
        prediction = args[0]
        if isinstance(lines, str) or not isinstance(lines, list | tuple):
            return f"your function gives {describe_kind(lines)}: return a list of lines, one per guess."
        if len(lines) != 3:
            return f"your function gives {len(lines)} lines: the top 3 are the first three of `prediction.top`."
        for line, score in zip(lines, prediction.top, strict=False):
            if not isinstance(line, str):
                return f"a line is {describe_kind(line)}: make each line a string, e.g. with an f-string."
            if score.label not in line:
                labels = [other.label for other in prediction.top]
                if any(label in line for label in labels):
                    return "your lines are not in the model's order: the most likely guess comes first."
                return f"the line {line!r} does not name its class: use `score.label`."
            numbers = [float(number) for number in NUMBER.findall(line.replace(score.label, ""))]
            percent = score.probability * 100
            if any(abs(number - percent) <= PERCENT_TOLERANCE for number in numbers):
                continue
            if any(abs(number - score.probability) <= 0.0051 for number in numbers):
                return f"the line {line!r} shows a fraction: a percentage is 100 times the probability."
            return f"the line {line!r} does not show its percentage with one decimal."
        return ""


class NotSurePhoto(Exercise):
    title = 'Exercise 2: which photo gets "not sure"?'
    lesson = LESSON
    answer_names = ("not_sure_photo",)
    context_names = ("predictions", "surprise", "SURPRISE")
    expects = "a photo's file name, e.g. 'beagle.jpg'"
    hints = (
        "Each prediction has `.not_sure`: True when the model probably knows none of its classes in the photo.",
        "Look through the photos of this lesson (`PHOTOS` and `SURPRISE`) for the one whose prediction says so.",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        predictions = {**context["predictions"], context["SURPRISE"]: context["surprise"]}
        if isinstance(answer, Prediction):
            raise AnswerError("that is the prediction itself: answer with the photo's file name.")
        name = as_choice(answer, list(predictions), self.expects)
        if predictions[name].not_sure:
            return correct()
        return wrong(
            f"the model is sure enough of {name} ({predictions[name].label}): find the prediction printed "
            'with "(not sure)".'
        )


q1, q2 = TopLines(), NotSurePhoto()
