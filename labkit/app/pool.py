"""Voilà's pool of pre-heated kernels, refilled without getting in the way of a class that arrives at once.

With ``preheat_kernel``, Voilà keeps ``default_pool_size`` kernels that have already run the app's notebook and
replaces each one it hands out. Its only say in *when* is ``fill_delay``: the replacement enters the pool at once
but sleeps that long before it starts. Measured with ``benchmarks/concurrent_sessions.py`` (docs/classroom.md),
both ways hurt a class that arrives together:

- with a delay, a student who arrives once the ready kernels are gone is handed a sleeping replacement and waits
  out the timer before their kernel even starts (30 s more with the former ``fill_delay`` of 30);
- with none, every replacement starts while the class's pages are loading, and each one's start and notebook run
  takes the CPU from the students: 4 students who all got pre-heated kernels waited twice as long for "Ready".

:class:`CalmPoolKernelManager` starts a replacement as soon as a student is waiting for it (it was handed out
before it started), and otherwise once nobody has been handed a kernel for :data:`QUIET_SECONDS`, about what a
class's pages take to load; never later than :data:`LONGEST_WAIT_SECONDS`. ``voila.json`` names it, with
``fill_delay`` 0 so that Voilà's own timer never runs::

    "VoilaConfiguration": {"multi_kernel_manager_class": "labkit.app.pool.CalmPoolKernelManager"}
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

QUIET_SECONDS = 15.0  # no kernel handed out for this long: the class has arrived and its pages have loaded
LONGEST_WAIT_SECONDS = 60.0  # a replacement starts by then even if students keep trickling in
CHECK_EVERY_SECONDS = 0.1
PREHEAT_ENV = "VOILA_PREHEAT"  # Voilà sets it to "True" in the environment of the kernels it starts for its pool


class CalmPoolKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager, whose kernels for Voilà's pool wait for a calm moment or for a student to start.

    Voilà builds its pooling manager on top of this class (``VoilaConfiguration.multi_kernel_manager_class``), so
    :meth:`start_kernel` runs inside the pool's task for each kernel: while that task is still in the pool (nobody
    was handed it yet) and students are still arriving, the start waits.

    Example:
        >>> CalmPoolKernelManager.__name__  # named in voila.json, see the module's docstring
        'CalmPoolKernelManager'
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last_handed_out = -math.inf  # time.monotonic() of the latest kernel start asked for after the first fill
        self._pool_starts = 0

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]  # async, as its base
        """Start a kernel; a replacement for the pool only once a student waits for it or the arrivals have calmed
        down (the kernels that first fill the pool, when the server starts, at once: nobody is arriving yet)."""
        task = asyncio.current_task()
        for_the_pool = _for_the_pool(kwargs)
        self._pool_starts += for_the_pool
        if for_the_pool and self._pool_starts <= self._pool_size():
            return str(await super().start_kernel(*args, **kwargs))
        asked = time.monotonic()
        self._last_handed_out = asked  # each kernel handed out (or started without the pool) asks for one
        if for_the_pool and task is not None:
            while self._waiting_in_pool(task) and not self._calm(asked):
                await asyncio.sleep(CHECK_EVERY_SECONDS)
        return str(await super().start_kernel(*args, **kwargs))

    def _pool_size(self) -> int:
        """Voilà's ``default_pool_size`` (its pooling manager, built on this class, holds it)."""
        pools: dict[str, dict[str, Any]] = getattr(self, "kernel_pools_config", {})
        return int(pools.get("default", {}).get("pool_size", 0))

    def _waiting_in_pool(self, task: asyncio.Task) -> bool:
        """Whether ``task`` (a kernel being prepared for the pool) is still in the pool: nobody was handed it."""
        pools: dict[str, list[asyncio.Task]] = getattr(self, "_pools", {})  # Voilà's, by notebook
        return any(entry is task for pool in pools.values() for entry in pool)

    def _calm(self, asked: float) -> bool:
        now = time.monotonic()
        return now - self._last_handed_out >= QUIET_SECONDS or now - asked >= LONGEST_WAIT_SECONDS


def _for_the_pool(start_arguments: dict[str, Any]) -> bool:
    """Whether a kernel start comes from Voilà filling its pool (rather than a visitor it starts a kernel for)."""
    return str(start_arguments.get("env", {}).get(PREHEAT_ENV)) == "True"
