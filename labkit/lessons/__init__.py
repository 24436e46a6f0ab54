"""The lessons' "Try it" widgets: one small class per lesson (a :class:`~labkit.lessons.tryit.TryIt`, its controls
as attributes, its reactions as methods), and a one-line builder per lesson that a notebook cell calls and displays
(``try_pixels()``, ``try_trust(...)``, ``trainer()``...)."""
