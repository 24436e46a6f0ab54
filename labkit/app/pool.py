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
before it started), and otherwise once the class has arrived: nobody handed a kernel for :data:`QUIET_SECONDS`,
every page handed one has connected to it (its browser has loaded the page's code, the heaviest part of a page's
start) and the latest did so :data:`SETTLE_SECONDS` ago (its widgets render); never later than
:data:`LONGEST_WAIT_SECONDS`. Those refills then start one at a time, each once the previous one has run the
notebook, so that they take one core while the students use the app. A quiet time alone made a cliff: when the
pages took longer than it to load (ten browsers on the server's own cores, a busy machine), every refill started in
the middle of them, and the class was ready two or three times later (benchmarks/README.md, "A class arriving at
once"). ``voila.json`` names it, with ``fill_delay`` 0 so that Voilà's own timer never runs::

    "VoilaConfiguration": {"multi_kernel_manager_class": "labkit.app.pool.CalmPoolKernelManager"}
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

QUIET_SECONDS = 15.0  # no kernel handed out for this long: the class has arrived
SETTLE_SECONDS = 5.0  # since the latest page's first connection to its kernel: its widgets render
LONGEST_WAIT_SECONDS = 60.0  # a replacement starts by then even if students keep trickling in, or never connect
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
        self._last_connected = -math.inf  # time.monotonic() of the latest page's first connection to its kernel
        self._connected_once: set[str] = set()  # kernels a page has connected to
        self._pool_starts = 0
        self._refills: dict[asyncio.Task, float] = {}  # refills started with nobody waiting for them: when

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
            while self._waiting_in_pool(task) and not (self._calm(asked) and not self._refill_running()):
                await asyncio.sleep(CHECK_EVERY_SECONDS)
            if self._waiting_in_pool(task):  # no await since the check: the next refill sees this one running
                self._refills[task] = time.monotonic()
        return str(await super().start_kernel(*args, **kwargs))

    def _refill_running(self) -> bool:
        """Whether a refill started with nobody waiting for it is still starting or running the notebook (one at a
        time: they take one core while the students use the app). One running longer than
        :data:`LONGEST_WAIT_SECONDS` no longer holds the next back."""
        now = time.monotonic()
        self._refills = {
            task: started
            for task, started in self._refills.items()
            if not _refill_done(task) and now - started < LONGEST_WAIT_SECONDS
        }
        return bool(self._refills)

    def _pool_size(self) -> int:
        """Voilà's ``default_pool_size`` (its pooling manager, built on this class, holds it)."""
        pools: dict[str, dict[str, Any]] = getattr(self, "kernel_pools_config", {})
        return int(pools.get("default", {}).get("pool_size", 0))

    def _pool_tasks(self) -> list[asyncio.Task]:
        """The tasks in Voilà's pools (one per kernel being prepared or waiting, over all notebooks)."""
        pools: dict[str, list[asyncio.Task]] = getattr(self, "_pools", {})  # Voilà's, by notebook
        return [entry for pool in pools.values() for entry in pool]

    def _waiting_in_pool(self, task: asyncio.Task) -> bool:
        """Whether ``task`` (a kernel being prepared for the pool) is still in the pool: nobody was handed it."""
        return any(entry is task for entry in self._pool_tasks())

    def notify_connect(self, kernel_id: str) -> None:
        """Note a page's connection to its kernel (Jupyter calls this for each websocket): the first one means that
        student's browser has loaded the page's code."""
        super().notify_connect(kernel_id)
        if kernel_id not in self._connected_once:
            self._connected_once.add(kernel_id)
            self._last_connected = time.monotonic()

    def _pages_loading(self) -> bool:
        """Whether a kernel handed to a student (from the pool or started for them) still waits for its page."""
        pooled = self._pooled_kernel_ids()
        return any(kernel not in self._connected_once and kernel not in pooled for kernel in self.list_kernel_ids())

    def _pooled_kernel_ids(self) -> set[str]:
        """The kernels waiting in Voilà's pool: the ids its started tasks return."""
        results = [_started(task) for task in self._pool_tasks()]
        return {str(result["kernel_id"]) for result in results if result is not None and "kernel_id" in result}

    def _calm(self, asked: float) -> bool:
        """Whether a replacement asked for at ``asked`` may start: the class has arrived and its pages have loaded,
        or it has waited :data:`LONGEST_WAIT_SECONDS` (a page closed before it connected holds nothing back longer)."""
        now = time.monotonic()
        if now - asked >= LONGEST_WAIT_SECONDS:
            return True
        return (
            now - self._last_handed_out >= QUIET_SECONDS
            and now - self._last_connected >= SETTLE_SECONDS
            and not self._pages_loading()
        )


def _for_the_pool(start_arguments: dict[str, Any]) -> bool:
    """Whether a kernel start comes from Voilà filling its pool (rather than a visitor it starts a kernel for)."""
    return str(start_arguments.get("env", {}).get(PREHEAT_ENV)) == "True"


def _started(task: asyncio.Task) -> dict[str, Any] | None:
    """What a pool task returned once its kernel started, or ``None`` while it runs, or if it failed.

    Voilà's pool task returns ``{"task": …, "renderer": …, "kernel_id": …}`` (Voilà 0.5): the kernel's id, and the
    notebook's run as a further task.
    """
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    result = task.result()
    return result if isinstance(result, dict) else None


def _refill_done(task: asyncio.Task) -> bool:
    """Whether a pool task has started its kernel *and* run the notebook in it (a task that failed counts as done)."""
    if not task.done():
        return False
    result = _started(task)
    run = None if result is None else result.get("task")
    return not isinstance(run, asyncio.Future) or run.done()
