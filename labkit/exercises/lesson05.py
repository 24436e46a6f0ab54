"""Lesson 05's exercises: the temperature that makes the percentages honest (lowest ECE), and a "not sure"
threshold that keeps 95 % of the real photos sure."""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises.checks import AnswerError, Exercise, Feedback, as_number, correct, wrong
from labkit.predict import softmax
from labkit.reliability import ECE_BINS, expected_calibration_error

LESSON = "05_when_not_to_trust_it.ipynb"
TEMPERATURES = np.round(np.arange(0.40, 1.21, 0.02), 2)  # around the fitted 0.70; wide enough for any good answer
ECE_SLACK = 0.003  # the ECE is flat near its lowest: any temperature this close to it is as good
SURE_SHARE, SURE_SLACK = 0.95, 0.01


def ece_at(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return expected_calibration_error(softmax(logits, temperature), labels, ECE_BINS)


class BestTemperature(Exercise):
    title = "Exercise 1: the most honest temperature"
    lesson = LESSON
    answer_names = ("best_temperature",)
    context_names = ("logits", "labels")
    expects = "a temperature, a positive number"
    hints = (
        "`expected_calibration_error(softmax(logits, temperature), labels, BINS)` measures one temperature.",
        "Try temperatures from 0.4 to 1.2 in small steps (`np.arange(0.4, 1.21, 0.02)`) and keep the one "
        "with the lowest ECE (`min(..., key=...)` or `np.argmin`).",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        temperature = as_number(answer, self.expects)
        if temperature <= 0:
            raise AnswerError("a temperature divides the scores, so it must be above 0.")
        logits, labels = context["logits"], context["labels"]
        yours = ece_at(logits, labels, temperature)
        lowest = min(ece_at(logits, labels, t) for t in TEMPERATURES)
        if yours <= lowest + ECE_SLACK:
            return correct()
        if temperature == 1:
            return wrong("T = 1 is the raw model, the one the lesson found dishonest: try others.")
        if temperature > 1:
            return wrong(
                f"ECE {yours:.3f} at T = {temperature:g}. Above 1 the percentages drop further, but this "
                "model is already under-confident (56 % sure for 79 % right): go below 1."
            )
        return wrong(
            f"ECE {yours:.3f} at T = {temperature:g}: some temperature brings it lower. Try a finer "
            "search around your value."
        )


class SureThreshold(Exercise):
    title = "Exercise 2: a threshold that spares 95 % of the photos"
    lesson = LESSON
    answer_names = ("threshold",)
    context_names = ("scores",)
    expects = "a threshold on the out-of-distribution score, a number"
    hints = (
        'A photo gets "not sure" when its score is above the threshold: 95 % of the scores must be at or below it.',
        "`np.quantile(scores, 0.95)` is the value that 95 % of the scores stay below.",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        threshold = as_number(answer, self.expects)
        scores = np.asarray(context["scores"])
        sure = float(np.mean(scores <= threshold))
        if abs(sure - SURE_SHARE) <= SURE_SLACK:
            return correct()
        if abs(sure - (1 - SURE_SHARE)) <= SURE_SLACK:
            return wrong(
                'with your threshold 95 % of the real photos get "not sure": a photo is flagged when its '
                "score is above the threshold, so 95 % must lie below it."
            )
        if 0 < threshold <= 1 and (sure in (0.0, 1.0)):
            return wrong(
                f"{threshold:g} looks like a probability, but these scores are not: print a few of "
                "`scores` to see their range."
            )
        direction = "raise" if sure < SURE_SHARE else "lower"
        return wrong(f"with your threshold {sure:.1%} of the real photos stay sure: {direction} it.")


q1, q2 = BestTemperature(), SureThreshold()
