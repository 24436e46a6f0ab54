"""Lesson 06's exercises: an interval around a measured accuracy, the most confused pair of classes, and top-3
accuracy from the scores."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit.evaluate import EvaluationResult, wilson_interval
from labkit.exercises.checks import (
    AnswerError,
    Exercise,
    Feedback,
    FunctionExercise,
    ValueExercise,
    as_numbers,
    close,
    correct,
    wrong,
)

LESSON = "06_how_good_is_it.ipynb"
Z_95 = 1.96
INTERVAL_TOLERANCE = 0.015  # Wilson, the normal approximation (and Clopper-Pearson, within this) are all right


def normal_interval(right: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """p ± z standard errors: the textbook interval."""
    p = right / n
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


class Interval(FunctionExercise):
    title = "Exercise 1: a 95 % interval for an accuracy"
    lesson = LESSON
    answer_names = ("interval",)
    expects = "a function interval(right, n) that returns (low, high)"
    hints = (
        "The standard error of a share p measured on n photos is `sqrt(p * (1 - p) / n)`.",
        "95 % of the time the true accuracy lies within 1.96 standard errors: return (p - 1.96 * se, "
        "p + 1.96 * se), or use the Wilson interval.",
    )
    cases = ((40, 50), (511, 650), (9, 12))
    tolerance = INTERVAL_TOLERANCE
    mistakes = (
        (
            lambda right, n: normal_interval(right, n, 1.0),
            "that interval is too narrow for 95 %: it is one standard error wide each way, use 1.96.",
        ),
        (
            lambda right, n: tuple(100 * x for x in wilson_interval(right, n)),
            "those are percentages: give shares between 0 and 1.",
        ),
        (lambda right, n: normal_interval(right, n)[::-1], "low comes first, then high."),
        (
            lambda right, n: normal_interval(right, n, 1.96 / math.sqrt(n)),
            "divide p * (1 - p) by n before the square root.",
        ),
    )
    otherwise = "the interval must be centred near right / n and widen as n shrinks."

    def describe_case(self, args: tuple[Any, ...]) -> str:
        return f"{args[0]} right out of {args[1]}"

    def read(self, output: Any, args: tuple[Any, ...]) -> tuple[float, ...]:
        return as_numbers(output, 2, "two numbers (low, high)")

    def reference(self, right: int, n: int) -> tuple[float, float]:
        return wilson_interval(right, n)

    def right(self, output: Any, args: tuple[Any, ...]) -> bool:
        intervals = (wilson_interval(*args), normal_interval(*args))
        return any(close(output, interval, self.tolerance) for interval in intervals)


class MostConfused(Exercise):
    title = "Exercise 2: the most confused pair"
    lesson = LESSON
    answer_names = ("most_confused_pair",)
    context_names = ("result",)
    expects = "a pair of class names, (true, predicted)"
    hints = (
        "`result.misses()` lists every miss with its `.true` and `.predicted` class.",
        "Count the (true, predicted) pairs, e.g. with `collections.Counter`, and take the most common.",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        result: EvaluationResult = context["result"]
        if isinstance(answer, str) or not isinstance(answer, tuple | list) or len(answer) != 2:
            raise AnswerError("give two class names, the true one first: (true, predicted).")
        if not all(isinstance(name, str) for name in answer):
            raise AnswerError("give the classes' names (strings), not their numbers.")
        counts = {(true, predicted): count for true, predicted, count in result.most_confused(len(result.records))}
        true, predicted = answer
        most = max(counts.values(), default=0)
        if counts.get((true, predicted)) == most:
            return correct()
        if counts.get((predicted, true)) == most:
            return wrong("the model made that mix-up the other way round: the true class comes first.")
        if (true, predicted) in counts:
            return wrong(
                f"the model took {true!r} for {predicted!r} {counts[true, predicted]} time(s); another pair "
                "was confused more often."
            )
        return wrong(f"the model never took {true!r} for {predicted!r} on these photos.")


class TopThreeAccuracy(ValueExercise):
    title = "Exercise 3: top-3 accuracy from the scores"
    lesson = LESSON
    answer_names = ("top3_accuracy",)
    context_names = ("result",)
    expects = "a share between 0 and 1"
    hints = (
        "`np.argsort(result.logits, axis=1)[:, -3:]` gives each photo's three best classes.",
        "A photo counts when its true class (`result.labels`) is among its three: "
        "`(best3 == result.labels[:, None]).any(axis=1)`, then the mean.",
    )
    otherwise = "that is not the share of photos whose true class is among the three best scores."

    def expected(self, **context: Any) -> float:
        return context["result"].topk

    def tolerance_for(self, **context: Any) -> float:
        return 1.5 / context["result"].n  # one photo: ranking by logits or by calibrated probabilities may differ

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        result = context["result"]
        best3 = np.argsort(result.logits, axis=1)[:, :3]
        lowest = float(np.mean((best3 == result.labels[:, None]).any(axis=1)))
        return [
            (result.top1, "that is top-1: a photo counts when its true class is among the three best guesses."),
            (result.topk * 100, "that is a percentage: give the share as a number between 0 and 1."),
            (result.topk * result.n, "that is a count of photos: divide by their number."),
            (lowest, "`np.argsort` sorts from the lowest score: the three best are the last three."),
        ]


q1, q2, q3 = Interval(), MostConfused(), TopThreeAccuracy()
