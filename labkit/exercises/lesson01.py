"""Lesson 01's exercises: a photo is an array of numbers (shape, one pixel's value, its channels, their count)."""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises.checks import (
    AnswerError,
    Exercise,
    Feedback,
    ValueExercise,
    as_choice,
    as_numbers,
    correct,
    wrong,
)
from labkit.images import load_image
from labkit.paths import SAMPLES_DIR

LESSON = "01_images_are_arrays.ipynb"
CHANNELS = ("red", "green", "blue")
ROW, COLUMN = 100, 50  # q2's pixel, on the cab photo
YELLOW_ROW, YELLOW_COLUMN = 260, 200  # q3's pixel, on the cab's yellow paint


def photo_pixels(name: str) -> np.ndarray:
    """The sample photo ``name`` as the lesson reads it: ``np.asarray(load_image(...))``."""
    return np.asarray(load_image(SAMPLES_DIR / name))


class PhotoShape(ValueExercise):
    title = "Exercise 1: the shape of a photo"
    lesson = LESSON
    answer_names = ("photo_shape",)
    expects = "three whole numbers, e.g. a tuple (rows, columns, channels)"
    hints = (
        'Load it as the lesson does: `np.asarray(load_image(SAMPLES_DIR / "penguin.jpg"))`.',
        "An array's `.shape` gives the three numbers, rows (height) first.",
    )
    otherwise = "not the penguin photo's shape: load data/samples/penguin.jpg and read its `.shape`."

    def read(self, answer: Any) -> tuple[float, ...]:
        if isinstance(answer, tuple | list) and len(answer) == 2:
            raise AnswerError("your answer has two numbers: a colour photo has a third, its channels.")
        return as_numbers(answer, 3, self.expects)

    def expected(self, **context: Any) -> tuple[int, ...]:
        return photo_pixels("penguin.jpg").shape

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        height, width, channels = self.expected()
        return [
            (
                (width, height, channels),
                "you gave the width first: numpy counts rows (the height) first, "
                "then columns (the width), then channels.",
            ),
            ((channels, height, width), "the channels come last in this array: (rows, columns, channels)."),
        ]


class PixelValue(ValueExercise):
    title = "Exercise 3: read one pixel"
    lesson = LESSON
    answer_names = ("blue",)
    expects = "one whole number from 0 to 255"
    hints = (
        "`pixels[row, column]` is one pixel: three numbers (red, green, blue).",
        f"Add the channel as a third index: `pixels[{ROW}, {COLUMN}, channel]`, with red 0, green 1, blue 2.",
    )
    otherwise = f"that is not the blue value at row {ROW}, column {COLUMN} of the cab photo."

    def read(self, answer: Any) -> float:
        if np.size(answer) == 3 and not isinstance(answer, str):
            raise AnswerError("that is the whole pixel (red, green, blue): keep only the blue number.")
        return super().read(answer)

    def expected(self, **context: Any) -> int:
        return int(photo_pixels("cab.jpg")[ROW, COLUMN, 2])

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        pixels = photo_pixels("cab.jpg")
        return [
            (int(pixels[COLUMN, ROW, 2]), f"you read row {COLUMN}, column {ROW}: the row comes first."),
            (int(pixels[ROW, COLUMN, 0]), "that is the red channel (index 0): blue is index 2."),
            (int(pixels[ROW, COLUMN, 1]), "that is the green channel (index 1): blue is index 2."),
        ]


class WeakestChannel(Exercise):
    title = "Exercise 4: name the colour channel"
    lesson = LESSON
    answer_names = ("weakest_channel",)
    expects = "a channel's name: 'red', 'green' or 'blue'"
    hints = (
        f"Print `pixels[{YELLOW_ROW}, {YELLOW_COLUMN}]`: three numbers, in the order red, green, blue.",
        "Yellow light is red and green together: which of the three is missing?",
    )

    def judge(self, answer: Any, **context: Any) -> Feedback:
        if isinstance(answer, int | np.integer) and 0 <= answer < 3:
            raise AnswerError(f"{answer} is the index of {CHANNELS[answer]}: answer with the channel's name.")
        name = as_choice(answer, CHANNELS, self.expects)
        values = photo_pixels("cab.jpg")[YELLOW_ROW, YELLOW_COLUMN]
        weakest = CHANNELS[int(np.argmin(values))]
        if name == weakest:
            return correct()
        if values[CHANNELS.index(name)] == values.max():
            return wrong(f"{name} is the strongest channel there: the question asks for the weakest.")
        return wrong(f"{name} is not the smallest of the pixel's three numbers: print them and compare.")


class NumbersInAPhoto(ValueExercise):
    title = "Exercise 2: how many numbers does the model read?"
    lesson = LESSON
    answer_names = ("numbers_per_photo",)
    expects = "a whole number"
    hints = (
        "The model reads colour photos of 224 x 224 pixels.",
        "Each pixel holds one number per channel: multiply rows, columns and channels.",
    )
    otherwise = "count again: rows times columns times channels, for a 224 x 224 colour photo."

    def expected(self, **context: Any) -> int:
        return 224 * 224 * 3

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        return [
            (224 * 224, "that counts the pixels, but each pixel holds three numbers (red, green, blue)."),
            (224 + 224 + 3, "that adds the sizes: the numbers fill a grid, so multiply them."),
            (224 * 3, "that is one row's numbers: there are 224 rows."),
        ]


q1, q2, q3, q4 = PhotoShape(), NumbersInAPhoto(), PixelValue(), WeakestChannel()
