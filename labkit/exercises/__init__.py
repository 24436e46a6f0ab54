"""Exercises for the eight lessons: each lesson module (``lesson01`` … ``lesson08``) holds that lesson's exercises
as ``q1``, ``q2``…, each with ``check(answer)``, ``hint()`` and ``solution()`` (:mod:`labkit.exercises.checks`).

In a lesson::

    from labkit.exercises.lesson01 import q1
    photo_shape = ...  # your answer
    q1.check(photo_shape)
"""
