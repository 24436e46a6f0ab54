"""Lesson 08's exercises: a model of two classes of your own that meets a stated accuracy on photos it never saw,
and that accuracy measured yourself."""

from __future__ import annotations

from typing import Any

from labkit.exercises.checks import AnswerError, Exercise, Feedback, ValueExercise, correct, describe_kind, wrong
from labkit.transfer import FineTuneResult

LESSON = "08_teach_it_your_own_classes.ipynb"
TARGET = 0.85  # two classes of trashnet-mini that look different reach it in a minute (glass and paper: ~95 %)


class TwoClasses(Exercise):
    title = f"Exercise 2: two classes of your own, {TARGET:.0%} on photos it never saw"
    lesson = LESSON
    answer_names = ("two_class_result",)
    expects = "what `train(wait=True)` returns"
    hints = (
        '`pair = trainer()`, then `pair.new_class("glass")` and `pair.add_folder("glass", PHOTOS / '
        '"glass")` for each of your two classes, then `two_class_result = pair.train(wait=True)`.',
        "Below the target? Pick two classes that look less alike, or add photos to each class.",
    )

    def judge(self, result: Any, **context: Any) -> Feedback:
        if not isinstance(result, FineTuneResult):
            raise AnswerError(f"your answer is {describe_kind(result)}: keep what `train(wait=True)` returns.")
        classes = len(result.class_names)
        if classes != 2:
            return wrong(f"your model learnt {classes} classes: the exercise asks for two of your choice.")
        if result.val_accuracy is None:
            return wrong("no photos were held back to check it on: give each class more photos (8 or more).")
        if result.val_accuracy < TARGET:
            return wrong(
                f"{result.val_accuracy:.0%} on the held-back photos, below {TARGET:.0%}: pick two classes "
                "that look less alike, or add photos."
            )
        return correct()


class OwnAccuracy(ValueExercise):
    title = "Exercise 1: measure it yourself"
    lesson = LESSON
    answer_names = ("my_val_accuracy",)
    context_names = ("result",)
    expects = "a share between 0 and 1"
    hints = (
        "`teach.session.validation_photos()` lists (true class, photo) for the photos held back; "
        "`teach.session.classify(photo).label` is the model's answer.",
        "Count the photos whose answer equals their true class, and divide by how many there are.",
    )
    otherwise = "that is not the share of the held-back photos the model gets right."

    def expected(self, **context: Any) -> float:
        return context["result"].val_accuracy

    def tolerance_for(self, **context: Any) -> float:
        return 1.5 / max(1, context["result"].validation_count)  # one photo's worth: a near-tie may flip

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        result = context["result"]
        learnt = result.history.get("accuracy", [None])[-1]
        found = [
            (
                result.val_accuracy * result.validation_count,
                "that is a count: divide by the number of held-back photos.",
            ),
            (result.val_accuracy * 100, "that is a percentage: give the share as a number between 0 and 1."),
        ]
        if learnt is not None:
            found.append((learnt, "that is the accuracy on the photos it learnt from: measure on the held-back ones."))
        return found


q1, q2 = OwnAccuracy(), TwoClasses()
