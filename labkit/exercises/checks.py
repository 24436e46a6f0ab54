"""The exercises' checks: what a student meets after each idea (``q1.check(answer)``, ``q1.hint()``,
``q1.solution()``), in three kinds as Kaggle Learn's learntools has them.

- :class:`ValueExercise`: the answer is a value (a number, a tuple, a name) compared with the right one, within a
  tolerance where it is measured; a value that matches a typical mistake gets that mistake's message.
- :class:`FunctionExercise`: the answer is a function, called on a few cases and compared with the right outputs;
  a typical mistake is written as the wrong function a student would write, and recognised by its outputs.
- :class:`Exercise`: the general kind, with its own :meth:`Exercise.judge` for what equality cannot judge.

Decisions:

- ``check()`` never raises and never shows a traceback from labkit: an untouched exercise (its starter ``...``)
  says "not done yet"; ``None``, NaN, a wrong type or shape, or the student's function raising gets a message that
  says what was wrong and what to do. A failure never gives the expected value away.
- The solution is the teacher's: the lesson sources (``notebooks/``) hold it between nbgrader's
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` marks; the student copies do not, and neither does labkit, which
  students have. :meth:`Exercise.solution` says where it is.
- nbgrader grades with the same judgement: a grade cell's hidden test is ``assert q1.passed(answer)``.
- Every message a student reads is worded once: the shared ones here, each exercise's own in its lesson module.

Example:
    >>> class Double(FunctionExercise):
    ...     title = "Exercise 0: double a number"
    ...     hints = ("Multiply by 2.",)
    ...     cases = ((1,), (2.5,))
    ...     mistakes = ((lambda x: x + 2, "you added 2: doubling multiplies."),)
    ...     otherwise = "doubling x gives x * 2"
    ...     def reference(self, x): return 2 * x
    >>> Double().check(lambda x: x + 2)
    Not yet: for 1 your function gives 3: you added 2: doubling multiplies.
    >>> Double().check(lambda x: x * 2)
    Correct!
    >>> Double().check(...)
    Not done yet: replace the ... with your answer, run the cell, then run this check again.
"""

from __future__ import annotations

import dis
import math
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labkit.errors import LabkitError

LIBRARY_PATHS = (str(Path(np.__file__).parents[1]), str(Path(__file__).parents[1]))  # site-packages, labkit
Status = Literal["correct", "incorrect", "not done"]

NOT_DONE = ...  # the starter value of every exercise: ``answer = ...``

# The messages every exercise shares (each exercise's own live in its lesson module).
PREFIX = {"correct": "Correct!", "incorrect": "Not yet:", "not done": "Not done yet:"}
NOT_DONE_MESSAGE = "replace the ... with your answer, run the cell, then run this check again."
NOT_RUN_MESSAGE = "`{name}` is not defined yet: run the exercise's cell above, then this check."
NO_CONTEXT_MESSAGE = "`{name}` is not defined yet: run the lesson's cells above this exercise first."
NONE_MESSAGE = (
    "your answer is None. A line like `answer = print(...)` or a function without `return` gives None: "
    "keep the value itself."
)
NAN_MESSAGE = "your answer is NaN (not a number): a division 0 / 0, or the mean of an empty list, gives NaN."
NOT_A_NUMBER = "your answer is {kind}, not a number: give {expects}."
NOT_A_FUNCTION = "your answer is {kind}, not a function: define one with `def`, then pass its name (no brackets)."
RETURNS_NONE = "for {case} your function returns None: does it end with `return ...`?"
RAISED = "your function raised {error} when given {case}{where}: {detail}"
WRONG_LENGTH = "your answer has {got} items; give {expects}."
WRONG_SHAPE = "your answer has shape {got}; give {expects}."
NOT_ONE_OF = "{got!r} is not one of {choices}."
UNREADABLE = "I could not read your answer ({kind}): give {expects}."
NO_SOLUTION_HERE = (
    "The worked solution is in the teacher's copy of this lesson, {lesson} in the course's "
    'notebooks/ folder, at "{title}". Try the hints first: {hint_calls}.'
)
NO_MORE_HINTS = "There are only {count} hints for this exercise."


class AnswerError(LabkitError):
    """The answer cannot be judged as it is (None, NaN, a wrong type or shape): the message says why."""


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``correct``, ``incorrect`` or ``not done``, and what to tell the student."""

    status: Status
    message: str = ""

    def __str__(self) -> str:
        return f"{PREFIX[self.status]} {self.message}".strip()

    @property
    def passed(self) -> bool:
        return self.status == "correct"


def correct(message: str = "") -> Feedback:
    return Feedback("correct", message)


def wrong(message: str) -> Feedback:
    return Feedback("incorrect", message)


class Exercise:
    """One exercise: :meth:`check`, :meth:`hint`, :meth:`solution` for the student, :meth:`passed` for nbgrader.

    Subclasses set ``title`` (as the lesson's heading says it), ``lesson`` (the notebook's file name), ``hints``
    (first gentle, then more precise) and ``expects`` (the answer's form, e.g. "a number between 0 and 1"), and
    implement :meth:`judge`, which may raise :class:`AnswerError` for an answer it cannot read.
    """

    title = ""
    lesson = ""
    hints: tuple[str, ...] = ()
    expects = "an answer"
    answer_names: tuple[str, ...] = ()  # the notebook variables ``check()`` reads when called with no answer
    context_names: tuple[str, ...] = ()  # what the lesson computed that the judgement needs, read the same way

    def judge(self, *answers: Any, **context: Any) -> Feedback:  # pragma: no cover - each exercise defines it
        raise NotImplementedError

    def feedback(self, *answers: Any, **context: Any) -> Feedback:
        """Judge ``answers`` (what the student wrote), with ``context`` (what the lesson computed), safely."""
        if any(answer is NOT_DONE or is_stub(answer) for answer in answers):
            return Feedback("not done", NOT_DONE_MESSAGE)
        if any(answer is None for answer in answers):
            return wrong(NONE_MESSAGE)
        try:
            return self.judge(*answers, **context)
        except AnswerError as error:
            return wrong(str(error))
        except Exception:  # an answer of a type nobody foresaw: say so, never a traceback from labkit
            kind = ", ".join(describe_kind(answer) for answer in answers)
            return wrong(UNREADABLE.format(kind=kind, expects=self.expects))

    def check(self, *answers: Any, **context: Any) -> None:
        """Print whether the answer is right and, when not, what is wrong and which way to look.

        With no arguments, the answer (:attr:`answer_names`) and the lesson's results (:attr:`context_names`) are
        read from the notebook's variables, as Kaggle Learn's checks do.
        """
        print(self.feedback_in(sys._getframe(1).f_globals, answers, context))

    def passed(self, *answers: Any, **context: Any) -> bool:
        """True when the answer is right: nbgrader's hidden test is ``assert q1.passed()``."""
        return self.feedback_in(sys._getframe(1).f_globals, answers, context).passed

    def feedback_in(self, namespace: dict[str, Any], answers: tuple[Any, ...], context: dict[str, Any]) -> Feedback:
        """:meth:`feedback`, taking what was not passed from ``namespace`` (the notebook's variables)."""
        missing = [name for name in self.answer_names if name not in namespace] if not answers else []
        if missing:
            return Feedback("not done", NOT_RUN_MESSAGE.format(name=missing[0]))
        absent = [name for name in self.context_names if name not in context and name not in namespace]
        if absent:
            return Feedback("not done", NO_CONTEXT_MESSAGE.format(name=absent[0]))
        answers = answers or tuple(namespace[name] for name in self.answer_names)
        context = {name: namespace[name] for name in self.context_names if name not in context} | context
        return self.feedback(*answers, **context)

    def hint(self, number: int = 1) -> None:
        """Print hint ``number`` (1 first; later hints say more)."""
        if not 1 <= number <= len(self.hints):
            print(NO_MORE_HINTS.format(count=len(self.hints)))
            return
        print(f"Hint {number} of {len(self.hints)}: {self.hints[number - 1]}")

    def solution(self) -> None:
        """Say where the worked solution is (the teacher's copy), never the solution itself."""
        calls = ", ".join(f"hint({number})" for number in range(1, len(self.hints) + 1)) or "none"
        print(NO_SOLUTION_HERE.format(lesson=self.lesson, title=self.title, hint_calls=calls))


class ValueExercise(Exercise):
    """An answer compared with the right value: :meth:`expected` (from the lesson's ``context`` if it needs it),
    :meth:`tolerance_for` for measured numbers, :meth:`mistakes` as ``(wrong value, message)`` pairs, and
    ``otherwise`` for a wrong value that matches no known mistake. :meth:`read` turns the answer into a comparable
    value (a float by default) or raises :class:`AnswerError`.
    """

    tolerance = 1e-6
    relative = False  # True: ``tolerance`` is a share of the value (a ratio of timings), not an absolute amount
    otherwise = "that is not it."
    expects = "a number"

    def expected(self, **context: Any) -> Any:  # pragma: no cover - each exercise defines it
        raise NotImplementedError

    def mistakes(self, **context: Any) -> Sequence[tuple[Any, str]]:
        return ()

    def tolerance_for(self, **context: Any) -> float:
        return self.tolerance

    def read(self, answer: Any) -> Any:
        return as_number(answer, self.expects)

    def judge(self, answer: Any, **context: Any) -> Feedback:
        value, tolerance, expected = self.read(answer), self.tolerance_for(**context), self.expected(**context)

        def same(other: Any, scale: float = 1.0) -> bool:
            if self.relative and not isinstance(other, str):
                scale *= abs(float(other))
            return close(value, other, tolerance * scale)

        if same(expected):
            return correct()
        for mistaken, message in self.mistakes(**context):
            if same(mistaken, 1.0 if self.relative else magnitude(mistaken, expected)):
                return wrong(message)
        return wrong(self.otherwise)


class FunctionExercise(Exercise):
    """An answer that is a function, called on example arguments and judged on each output.

    By default the examples are ``cases`` (tuples of arguments) and an output is right when it equals
    :meth:`reference` (:meth:`right` may accept others); ``mistakes`` are ``(wrong function, message)`` pairs: when
    the student's output equals the wrong function's, its message says what went wrong. :meth:`read` turns an output
    into a comparable value. An exercise that judges outputs otherwise (a shape, lines of text) gives its own
    :meth:`examples` and :meth:`problem`.
    """

    cases: Sequence[tuple[Any, ...]] = ()
    mistakes: Sequence[tuple[Callable[..., Any], str]] = ()
    otherwise = "that is not it."
    tolerance = 1e-6
    expects = "a function"

    def examples(self, **context: Any) -> Sequence[tuple[Any, ...]]:
        return self.cases

    def reference(self, *args: Any) -> Any:  # pragma: no cover - each exercise defines it or its own problem()
        raise NotImplementedError

    def read(self, output: Any, args: tuple[Any, ...]) -> Any:
        """The student's output for ``args`` as a comparable value, or :class:`AnswerError` saying why not."""
        return as_number(output, "a number")

    def same(self, output: Any, value: Any) -> bool:
        return close(output, value, self.tolerance)

    def right(self, output: Any, args: tuple[Any, ...]) -> bool:
        """True when ``output`` is a right answer for ``args`` (by default: the same as :meth:`reference`)."""
        return self.same(output, self.reference(*args))

    def describe_case(self, args: tuple[Any, ...]) -> str:
        return ", ".join(short_repr(arg) for arg in args)

    def describe_output(self, output: Any) -> str:
        return short_repr(output)

    def problem(self, output: Any, args: tuple[Any, ...]) -> str:
        """What is wrong with the student's ``output`` for ``args``, or "" when it is right."""
        value = self.read(output, args)
        if self.right(value, args):
            return ""
        said = f"your function gives {self.describe_output(output)}"
        for mistaken, message in self.mistakes:
            if self.same(value, self.read(mistaken(*args), args)):
                return f"{said}: {message}"
        return f"{said}: {self.otherwise}"

    def judge(self, function: Any, **context: Any) -> Feedback:
        if not callable(function):
            raise AnswerError(NOT_A_FUNCTION.format(kind=describe_kind(function)))
        for args in self.examples(**context):
            case = self.describe_case(args)
            output = call_student(function, args, case)
            if output is None:
                raise AnswerError(RETURNS_NONE.format(case=case))
            problem = self.problem(output, args)
            if problem:
                return wrong(f"for {case} {problem}")
        return correct()


# --- reading answers --------------------------------------------------------------------------------------------


def is_stub(answer: Any) -> bool:
    """True for a ``def`` whose body does nothing yet (``pass`` or ``...``, after a docstring or not): what
    nbgrader leaves of a function's solution in the student's copy (``ClearSolutions.code_stub``)."""
    code = getattr(answer, "__code__", None)
    if code is None or getattr(answer, "__name__", "") == "<lambda>":
        return False
    steps = [(step.opname, step.argval) for step in dis.get_instructions(code) if step.opname not in ("RESUME", "NOP")]
    return steps in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


def describe_kind(value: Any) -> str:
    """Say what kind of value a student gave, in words: ``"a str ('blue')"``, ``"an ndarray of shape (2, 3)"``."""
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape}"
    if isinstance(value, str | int | float | bool):
        return f"{article} {kind} ({value!r})"
    return f"{article} {kind}"


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as a student would write it, cut short: arrays by their shape when large."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"an array of shape {value.shape}"
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=3, separator=", ")
    elif isinstance(value, float | np.floating):
        text = f"{float(value):.4g}"
    elif isinstance(value, tuple | list) and all(isinstance(item, float | np.floating) for item in value):
        text = "(" + ", ".join(f"{float(item):.4g}" for item in value) + ")"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_number(answer: Any, expects: str = "a number") -> float:
    """``answer`` as a float (an int, a numpy scalar, a one-element array), or :class:`AnswerError` saying why not."""
    if isinstance(answer, bool) or isinstance(answer, str):
        raise AnswerError(NOT_A_NUMBER.format(kind=describe_kind(answer), expects=expects))
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.item()
    if not isinstance(answer, int | float | np.integer | np.floating):
        raise AnswerError(NOT_A_NUMBER.format(kind=describe_kind(answer), expects=expects))
    value = float(answer)
    if math.isnan(value):
        raise AnswerError(NAN_MESSAGE)
    return value


def as_numbers(answer: Any, count: int, expects: str) -> tuple[float, ...]:
    """``answer`` (a tuple, a list or an array) as ``count`` floats, or :class:`AnswerError` saying why not."""
    if isinstance(answer, str) or not isinstance(answer, Sequence | np.ndarray):
        raise AnswerError(UNREADABLE.format(kind=describe_kind(answer), expects=expects))
    items = list(np.ravel(answer)) if isinstance(answer, np.ndarray) else list(answer)
    if len(items) != count:
        raise AnswerError(WRONG_LENGTH.format(got=len(items), expects=expects))
    return tuple(as_number(item, expects) for item in items)


def as_array(answer: Any, shape: tuple[int, ...], expects: str) -> np.ndarray:
    """``answer`` as a float array of ``shape`` with no NaN, or :class:`AnswerError` saying why not."""
    try:
        array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise AnswerError(UNREADABLE.format(kind=describe_kind(answer), expects=expects)) from error
    if array.shape != shape:
        raise AnswerError(WRONG_SHAPE.format(got=array.shape, expects=expects))
    if np.isnan(array).any():
        raise AnswerError(NAN_MESSAGE)
    return array


def as_choice(answer: Any, choices: Sequence[str], expects: str) -> str:
    """``answer`` as one of ``choices`` (case and surrounding spaces ignored), or :class:`AnswerError`."""
    if not isinstance(answer, str):
        raise AnswerError(UNREADABLE.format(kind=describe_kind(answer), expects=expects))
    folded = {choice.casefold(): choice for choice in choices}
    text = answer.strip().casefold()
    if text not in folded:
        raise AnswerError(NOT_ONE_OF.format(got=answer, choices=", ".join(repr(choice) for choice in choices)))
    return folded[text]


def magnitude(value: Any, reference: Any) -> float:
    """How many times larger ``value`` is than ``reference`` (at least 1): a percentage or a count of a measured
    share is then recognised with the share's tolerance scaled up (78.15 % for a share of 0.7815 ± 0.003)."""
    try:
        ratio = float(np.max(np.abs(value))) / float(np.max(np.abs(reference)))
    except (TypeError, ValueError, ZeroDivisionError):
        return 1.0
    return max(1.0, ratio) if math.isfinite(ratio) else 1.0


def close(value: Any, expected: Any, tolerance: float) -> bool:
    """True when ``value`` equals ``expected``: numbers (and arrays, tuples of numbers) within ``tolerance``."""
    if isinstance(expected, str) or isinstance(value, str):
        return value == expected
    try:
        a, b = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return bool(value == expected)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tolerance))


def call_student(function: Callable[..., Any], args: tuple[Any, ...], case: str) -> Any:
    """Call the student's ``function`` with ``args``; their exception becomes an :class:`AnswerError` that names its
    line in their cell."""
    try:
        return function(*args)
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)[1:]  # the first frame is this call
        theirs = [frame for frame in frames if not frame.filename.startswith(LIBRARY_PATHS)]
        line = theirs[-1].lineno if theirs else None
        where = f" (line {line} of your code)" if line else ""
        raise AnswerError(RAISED.format(error=type(error).__name__, case=case, where=where, detail=error)) from None
