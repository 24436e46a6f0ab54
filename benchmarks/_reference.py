"""The same-run speed reference of the training benchmarks: one compiled Keras forward pass of MobileNetV2.

These machines' speed differs by 3x from one day to the next, so a training time is printed as a ratio to this
reference, measured in the same run: no top, 224 x 224, a batch of 32, the median of five passes. On quiet 2-core
machines it took 0.3-1 s, depending on the day.

    >>> seconds = reference_pass()   # doctest: +SKIP
    >>> seconds()                    # doctest: +SKIP
    0.84

Not a benchmark itself: the leading underscore keeps ``make bench`` from running it.
"""

from __future__ import annotations

import statistics
import time

REFERENCE_BATCH = 32
REFERENCE_REPEATS = 5


def reference_pass():
    """Return a function timing one compiled Keras forward pass of MobileNetV2 (no top, 224 x 224, batch of 32)."""
    import keras
    import numpy as np
    import tensorflow as tf

    # Random weights run exactly as fast as ImageNet's, and need no file.
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False, weights=None)
    forward = tf.function(lambda batch: model(batch, training=False), autograph=False)
    batch = tf.constant(np.random.default_rng(0).uniform(-1, 1, (REFERENCE_BATCH, 224, 224, 3)).astype(np.float32))
    forward(batch).numpy()  # trace and warm up

    def seconds() -> float:
        times = []
        for _ in range(REFERENCE_REPEATS):
            start = time.perf_counter()
            forward(batch).numpy()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return seconds
