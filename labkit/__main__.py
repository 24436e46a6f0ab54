"""``python -m labkit ...``, the same as the ``labkit`` command: see :mod:`labkit.cli`."""

from labkit.cli import main

raise SystemExit(main(prog="python -m labkit"))
