"""Turn a photo into what MobileNetV2 expects: 224x224 RGB pixels scaled to [-1, 1].

MobileNetV2 was trained on pixels scaled with ``x / 127.5 - 1`` (Keras' ``preprocess_input``), so inputs live in
[-1, 1]. Feeding [0, 1] instead still runs, silently, and costs accuracy: lesson 02 measures how much.

Resize policy: the default, ``"squash"``, resizes the whole photo to 224x224, ignoring its aspect ratio. It scored
a higher top-1 than ``"crop"`` (shorter side to 256, then the centre 224x224, the classic ImageNet evaluation), first
on 60 easy photos, then on the 650 validation photos of ``imagenet-val-650``: ``benchmarks/resize_policy.py``
measures both (its latest figures: ``benchmarks/results/resize_policy.json``; the log: ``benchmarks/README.md``).
Photos taken by people often put the object off-centre or edge to edge, and the centre crop cuts it off;
MobileNetV2 tolerates the squashing better.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

import numpy as np
from PIL import Image

from labkit.images import to_rgb

IMAGE_SIZE = 224
CROP_FROM = 256  # shorter side before the centre crop: 224/256 = 0.875, the classic ImageNet ratio
ResizePolicy = Literal["crop", "squash"]
DEFAULT_POLICY: ResizePolicy = "squash"
Item = TypeVar("Item")


def resize_for_model(image: Image.Image, policy: ResizePolicy = DEFAULT_POLICY, size: int = IMAGE_SIZE) -> Image.Image:
    """Resize an RGB image to ``size`` x ``size`` by the given policy (``"crop"`` or ``"squash"``).

    Example:
        >>> resize_for_model(Image.new("RGB", (640, 480))).size
        (224, 224)
    """
    if policy == "squash":
        return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if policy != "crop":
        raise ValueError(f"Unknown resize policy {policy!r}: use 'crop' or 'squash'.")
    width, height = image.size
    scale = round(size * CROP_FROM / IMAGE_SIZE) / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    left, top = (new_width - size) // 2, (new_height - size) // 2
    # Resizing only the crop box is both cheaper and identical to resize-then-crop.
    box = (left / scale, top / scale, (left + size) / scale, (top + size) / scale)
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """Scale 0..255 pixel values to [-1, 1] as MobileNetV2 expects (``x / 127.5 - 1``).

    One float32 array, divided and shifted in place: the same values as ``x / 127.5 - 1`` with one allocation
    instead of three (part of keeping labkit's work per photo small beside the forward pass).

    Example:
        >>> scale_pixels(np.array([0, 255])).tolist()
        [-1.0, 1.0]
    """
    scaled = np.array(pixels, dtype=np.float32)  # a copy: the caller's array is never changed
    np.divide(scaled, np.float32(127.5), out=scaled)
    np.subtract(scaled, np.float32(1.0), out=scaled)
    return scaled


def to_model_input(image: Image.Image, policy: ResizePolicy = DEFAULT_POLICY) -> np.ndarray:
    """Return one image as a float32 array of shape (224, 224, 3) in [-1, 1].

    Example:
        >>> to_model_input(Image.new("RGB", (300, 200), "white")).shape
        (224, 224, 3)
    """
    image = to_rgb(image)  # 16-bit scaled, transparency on white: the same rules as load_image
    return scale_pixels(np.asarray(resize_for_model(image, policy)))


def to_batch(images: Sequence[Image.Image], policy: ResizePolicy = DEFAULT_POLICY) -> np.ndarray:
    """Stack images into one float32 batch of shape (N, 224, 224, 3) in [-1, 1].

    Example:
        >>> to_batch([Image.new("RGB", (64, 64))] * 2).shape
        (2, 224, 224, 3)
    """
    if len(images) == 0:
        return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    return np.stack([to_model_input(image, policy) for image in images])


def batched(items: Sequence[Item], batch_size: int) -> Iterator[Sequence[Item]]:
    """Yield consecutive slices of ``items``, ``batch_size`` at a time (the last one may be shorter).

    Every loop that feeds a model a few photos at a time goes through here.

    Example:
        >>> [list(chunk) for chunk in batched([1, 2, 3, 4, 5], 2)]
        [[1, 2], [3, 4], [5]]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    for first in range(0, len(items), batch_size):
        yield items[first : first + batch_size]
