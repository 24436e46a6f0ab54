"""Lesson 07's exercises: a speed-up measured as a ratio within one run, and how often two engines disagree."""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises.checks import Feedback, ValueExercise, close, correct

LESSON = "07_how_fast_is_it.ipynb"
SLOW, FAST = "keras", "litert-int8"


class SpeedUp(ValueExercise):
    title = "Exercise 1: how many times faster?"
    lesson = LESSON
    answer_names = ("speedup",)
    context_names = ("timings",)
    expects = 'a ratio, e.g. 3.2 for "3.2 times faster"'
    hints = (
        f'`timings["{SLOW}"].p50_ms` and `timings["{FAST}"].p50_ms` were measured in the same run, on the '
        "same machine: their ratio travels to other machines, the milliseconds do not.",
        "Divide the slower engine's median by the faster one's.",
    )
    tolerance, relative = 0.03, True  # within 3 %: the medians' ratio or the means', both fair summaries of one run
    otherwise = f"that is not the ratio of {SLOW}'s time to {FAST}'s in `timings`."

    def expected(self, **context: Any) -> float:
        timings = context["timings"]
        return timings[SLOW].p50_ms / timings[FAST].p50_ms

    def judge(self, answer: Any, **context: Any) -> Feedback:
        timings = context["timings"]
        by_means = timings[SLOW].mean_ms / timings[FAST].mean_ms
        if close(self.read(answer), by_means, self.tolerance * by_means):
            return correct()
        return super().judge(answer, **context)

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        timings = context["timings"]
        slow, fast = timings[SLOW].p50_ms, timings[FAST].p50_ms
        others = [name for name in timings if name not in (SLOW, FAST)]
        wrong_pair = [
            (slow / timings[name].p50_ms, f"that is {SLOW} against {name}: the question is about {FAST}.")
            for name in others
        ]
        return [
            (fast / slow, "below 1 means slower: divide the slower time by the faster one."),
            (slow - fast, "that is a difference in milliseconds, which depends on the machine: a ratio divides."),
            *wrong_pair,
        ]


class Disagreements(ValueExercise):
    title = "Exercise 2: how often does int8 change the answer?"
    lesson = LESSON
    answer_names = ("disagreements",)
    context_names = ("results",)
    expects = "a count of photos, a whole number"
    hints = (
        f'`results["{SLOW}"].logits.argmax(axis=1)` is Keras\' guess for each photo; do the same for {FAST}.',
        "Compare the two arrays of guesses with `!=` and add up the `True`s (`.sum()`).",
    )
    otherwise = f"that is not the number of photos where {FAST}'s first guess differs from {SLOW}'s."

    def guesses(self, context: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        results = context["results"]
        return results[SLOW].logits.argmax(axis=1), results[FAST].logits.argmax(axis=1)

    def expected(self, **context: Any) -> int:
        slow, fast = self.guesses(context)
        return int((slow != fast).sum())

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        slow, fast = self.guesses(context)
        differ = int((slow != fast).sum())
        results = context["results"]
        return [
            (len(slow) - differ, "that counts the photos where they agree."),
            (differ / len(slow), "that is a share: give the number of photos."),
            (
                abs(results[SLOW].top1 - results[FAST].top1) * len(slow),
                "that compares how many each gets right; "
                "two engines can each be right as often and still disagree on different photos.",
            ),
        ]


q1, q2 = SpeedUp(), Disagreements()
