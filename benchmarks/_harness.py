"""Put tools/ on ``sys.path`` for the benchmarks that drive a browser or a hub: imported first, before ``serving``.

tools/ holds the servers and pages the browser tests drive (``serving``, ``dashboard_page``, ``hubserver``); the
benchmarks that time the app in a real browser reuse them. labkit itself needs no path: it is installed (``make
venv``), and a script's own folder (benchmarks/) is on ``sys.path`` already.
"""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parents[1] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
