"""Lesson 04's exercises: reading Grad-CAM heatmaps of a picture with two objects side by side."""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises.checks import AnswerError, Exercise, Feedback, ValueExercise, as_choice, correct, wrong

LESSON = "04_where_did_it_look.ipynb"


def share_on_left(heatmap: np.ndarray) -> float:
    """The share of a heatmap's total on the left half of the picture."""
    half = heatmap.shape[1] // 2
    return float(heatmap[:, :half].sum() / heatmap.sum())


class LeftClass(Exercise):
    title = "Exercise 1: whose evidence lies on the left?"
    lesson = LESSON
    answer_names = ("left_class",)
    context_names = ("heatmaps",)
    expects = "a class name, one of the keys of `heatmaps`"
    hints = (
        "`heatmap[:, :224]` is the left half of a heatmap (the picture is 448 pixels wide).",
        "For each class, divide the left half's sum by the whole heatmap's sum; the largest share is on the left.",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        heatmaps = context["heatmaps"]
        if isinstance(answer, np.ndarray):
            raise AnswerError("that is a heatmap: answer with its class's name.")
        name = as_choice(answer, list(heatmaps), self.expects)
        shares = {key: share_on_left(heatmap) for key, heatmap in heatmaps.items()}
        if shares[name] == max(shares.values()):
            return correct()
        return wrong(
            f"most of the evidence for '{name}' lies on the right half: compare each heatmap's share on "
            "columns 0 to 223."
        )


class RightShare(ValueExercise):
    title = "Exercise 2: how much of the tabby's evidence lies on the right?"
    lesson = LESSON
    answer_names = ("tabby_right_share",)
    context_names = ("heatmaps",)
    expects = "a share between 0 and 1"
    hints = (
        "The right half of the picture is `heatmap[:, 224:]`.",
        "Divide the right half's sum by the sum of the whole heatmap.",
    )
    tolerance = 0.005
    otherwise = "that is not the share of the tabby's heatmap on the right half."

    def read(self, answer: Any) -> float:
        if isinstance(answer, np.ndarray) and answer.size > 1:
            raise AnswerError("that is an array: add it up (`.sum()`) and divide by the whole heatmap's sum.")
        return super().read(answer)

    def expected(self, **context: Any) -> float:
        return 1 - share_on_left(context["heatmaps"]["tabby"])

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        right, heatmap = self.expected(**context), context["heatmaps"]["tabby"]
        return [
            (1 - right, "that is the left half's share: the right half is `heatmap[:, 224:]`."),
            (right * 100, "that is a percentage: give the share as a number between 0 and 1."),
            (
                float(heatmap[:, 224:].sum()),
                "that is the right half's sum: divide it by the whole heatmap's sum to get a share.",
            ),
            (
                1 - share_on_left(context["heatmaps"]["cab"]),
                "that is the cab's heatmap: the question is about the tabby's.",
            ),
        ]


q1, q2 = LeftClass(), RightShare()
