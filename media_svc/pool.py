"""A bounded pool for image work: N threads and a fixed-length queue, 429 beyond it.

Pillow releases the GIL while decoding, resampling and encoding, so threads give real
parallelism; the bound keeps memory and CPU predictable under bursts instead of
spawning a thread per request. Used from one event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from media_svc.errors import TransformQueueFull

__all__ = ["TransformPool"]

P = ParamSpec("P")
T = TypeVar("T")


class TransformPool:
    def __init__(self, *, workers: int, queue_size: int) -> None:
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue_size)
        self._pending = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._pending >= self.capacity:
            raise TransformQueueFull(headers={"Retry-After": "1"})
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="awsm-media")
        self._pending += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        # The slot is released when the thread is done, not when a caller stops
        # waiting: abandoned work still occupies a core.
        future.add_done_callback(self._release)
        return await asyncio.shield(future)

    def _release(self, _future: asyncio.Future[T]) -> None:
        self._pending -= 1

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
