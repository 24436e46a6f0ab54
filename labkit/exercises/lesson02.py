"""Lesson 02's exercises: the [-1, 1] scaling written by hand, what it is worth on 650 photos, and a whole
preparation (colour mode, size, scale) for any photo."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from labkit.exercises.checks import (
    FunctionExercise,
    ValueExercise,
    as_array,
    describe_kind,
)
from labkit.preprocess import IMAGE_SIZE, scale_pixels, to_model_input

LESSON = "02_preprocessing.ipynb"
PHOTO_COUNT = 650
MODEL_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
RIGHT, SLIP = ("crop", "[-1, 1]"), ("crop", "[0, 1]")  # the lesson's `top1` measurements the exercise is about
ZERO_TO_ONE = "your pixels run from 0 to 1; the model expects -1 to 1: which formula sends 0 to -1 and 255 to 1?"


def test_photos() -> list[Image.Image]:
    """Photos of the kinds students upload: a landscape RGB, a PNG with an alpha channel, a greyscale scan.
    Smooth gradients, so that any resampling filter gives nearly the same pixels."""
    ramp = np.linspace(0, 255, 640, dtype=np.float32)
    rows = np.linspace(0, 255, 480, dtype=np.float32)[:, None]
    rgb = np.stack(
        [
            np.broadcast_to(ramp, (480, 640)),
            np.broadcast_to(rows, (480, 640)),
            (np.broadcast_to(ramp, (480, 640)) + rows) / 2,
        ],
        axis=-1,
    ).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((480, 640, 1), 255, np.uint8)], axis=-1)
    return [Image.fromarray(rgb, "RGB"), Image.fromarray(rgba, "RGBA"), Image.fromarray(rgb[..., 0].T.copy(), "L")]


class Scaling(FunctionExercise):
    title = "Exercise 1: scale the pixels yourself"
    lesson = LESSON
    answer_names = ("my_scaling",)
    hints = (
        "The model was trained on values from -1 (black) to 1 (white): 0 must become -1, 255 must become 1.",
        "Divide by half of 255 to get 0..2, then shift the range down by 1.",
    )
    cases = ((np.array([0.0, 127.5, 255.0]),), (np.array([[0, 64], [128, 255]], np.uint8),))
    tolerance = 0.01  # (x - 128) / 128 is right too: it sends 255 to 0.992
    mistakes = (
        (lambda pixels: pixels / 255, ZERO_TO_ONE),
        (lambda pixels: pixels / 127.5, "your values run from 0 to 2: shift them so that 0 lands on -1."),
        (
            lambda pixels: 1 - pixels / 127.5,
            "your scale runs backwards: black (0) must be -1 and white (255) must be 1.",
        ),
        (
            lambda pixels: (pixels - 128) / 128,
            "on uint8 pixels, subtracting wraps around (0 - 128 gives "
            "128): convert to floats first, `pixels.astype(np.float32)`.",
        ),
        (lambda pixels: pixels, "your function gives the pixels back unchanged."),
    )
    otherwise = "0 must become -1, 127.5 must become 0 and 255 must become 1."

    def reference(self, pixels: np.ndarray) -> np.ndarray:
        return scale_pixels(pixels)

    def read(self, output: Any, args: tuple[Any, ...]) -> np.ndarray:
        shape = np.shape(args[0])
        return as_array(output, shape, f"an array of the same shape as the pixels, {shape}")


class ScalingAccuracy(ValueExercise):
    title = "Exercise 2: what is your scaling worth?"
    lesson = LESSON
    answer_names = ("my_accuracy",)
    context_names = ("top1",)
    expects = "the share of the 650 photos it gets right, a number between 0 and 1"
    hints = (
        "Scale the stack `pixels` with your function, give it to `classifier.logits(...)`, and take "
        "`.argmax(axis=1)`: the model's answer for each photo.",
        "Compare those answers with `true_labels` and take the mean of the comparison: the share right.",
    )
    tolerance = 2 / PHOTO_COUNT  # a photo or two on a near-tie may flip with another float rounding
    otherwise = "that is not the share your scaling gets right: count the answers equal to `true_labels`."

    def expected(self, **context: Any) -> float:
        return context["top1"][RIGHT]

    def mistakes(self, **context: Any) -> list[tuple[Any, str]]:
        right, slip = context["top1"][RIGHT], context["top1"][SLIP]
        return [
            (slip, "that is what the [0, 1] slip gets: measure with your own function from exercise 1."),
            (
                right * PHOTO_COUNT,
                "that is a count of photos: the accuracy is the share, divide by `len(true_labels)`.",
            ),
            (right * 100, "that is a percentage: give the share as a number between 0 and 1."),
            (1 - right, "that is the share it gets wrong."),
        ]


class Preparation(FunctionExercise):
    title = "Exercise 3: prepare any photo"
    lesson = LESSON
    answer_names = ("prepare",)
    expects = "a function that takes a PIL image and returns an array of shape (224, 224, 3)"
    hints = (
        'Three steps, in this order: make it RGB (`image.convert("RGB")`), resize it to 224 x 224, scale it.',
        "`np.asarray(...)` turns the resized image into numbers; your scaling from exercise 1 does the rest.",
    )

    def examples(self, **context: Any) -> list[tuple[Image.Image]]:
        return [(photo,) for photo in test_photos()]

    def describe_case(self, args: tuple[Any, ...]) -> str:
        photo = args[0]
        return f"a {photo.width} x {photo.height} {photo.mode} photo"

    def problem(self, output: Any, args: tuple[Any, ...]) -> str:
        """What is wrong with ``output`` for the photo in ``args``, or "" when it is a right model input."""
        photo = args[0]
        output = np.asarray(output, dtype=np.float64) if is_numeric(output) else output
        if not isinstance(output, np.ndarray):
            return f"your function gives {describe_kind(output)}: return the numbers, `np.asarray(...)`."
        if output.ndim < 2:
            return f"your function gives an array of shape {output.shape}: return the photo's (224, 224, 3) numbers."
        if output.shape[:2] != MODEL_SHAPE[:2]:
            return f"your array is {output.shape[0]} x {output.shape[1]}: resize the photo to 224 x 224 first."
        if output.shape == MODEL_SHAPE[:2] or output.shape[2:] == (1,):
            return "your array has one channel: the model reads three, so convert the photo to RGB."
        if output.shape[2:] == (4,):
            return "your array has four channels: a PNG's alpha (transparency) is the fourth; convert to RGB."
        if output.shape != MODEL_SHAPE:
            return f"your array has shape {output.shape}: the model reads (224, 224, 3)."
        if np.isnan(output).any():
            return "your array holds NaN."
        if output.max() > 1.5:
            return "your values go up to 255: scale them to [-1, 1] as in exercise 1."
        if output.min() >= 0:
            return ZERO_TO_ONE
        references = [to_model_input(photo, policy) for policy in ("squash", "crop")]
        if min(np.abs(output - reference).mean() for reference in references) > 0.05:
            return "your array does not match the photo: resize the whole photo (squash) or its centre (crop)."
        return ""


def is_numeric(output: Any) -> bool:
    try:
        return np.asarray(output).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


q1, q2, q3 = Scaling(), ScalingAccuracy(), Preparation()
