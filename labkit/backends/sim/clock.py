"""The twin's clock: a heap of (time, priority, sequence, callback), SimPy-sized.

- Events at the same time run by ``priority`` (pod changes before traffic before probes before
  scrapes before controllers before sampling), then in the order they were scheduled, so a
  run repeats exactly.
- ``run_until(t, speed=...)`` paces simulated time against the wall clock (``speed=1`` is real
  time, ``None`` as fast as possible), as ``simpy.rt.RealtimeEnvironment(factor=...)`` does.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time as _time
from typing import Callable

# Priorities for same-time events (smaller runs first).
POD = 0
TRAFFIC = 1
PROBE = 2
SCRAPE = 3
CONTROLLER = 4
SAMPLE = 9


class _Entry:
    """A scheduled callback; the heap holds ``(time, priority, seq, entry)`` tuples."""

    __slots__ = ("time", "fn", "cancelled")

    def __init__(self, time: float, fn: Callable[[], None]):
        self.time, self.fn, self.cancelled = time, fn, False


class Handle:
    """Cancels a scheduled callback (or a whole ``every`` series)."""

    def __init__(self) -> None:
        self.cancelled = False
        self._entry: _Entry | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._entry is not None:
            self._entry.cancelled = True


class Clock:
    """Simulated seconds; callbacks scheduled with :meth:`at` and :meth:`every`."""

    def __init__(self, start: float = 0.0):
        self.now = start
        self._heap: list[tuple[float, int, int, _Entry]] = []
        self._seq = itertools.count()

    def at(self, time: float, fn: Callable[[], None], priority: int = POD,
           handle: Handle | None = None) -> Handle:
        """Run ``fn()`` at simulated ``time`` (not earlier than now)."""
        h = handle or Handle()
        t = max(time, self.now)
        entry = _Entry(t, fn)
        h._entry = entry
        heapq.heappush(self._heap, (t, priority, next(self._seq), entry))
        return h

    def after(self, delay: float, fn: Callable[[], None], priority: int = POD) -> Handle:
        return self.at(self.now + delay, fn, priority)

    def every(self, period: float, fn: Callable[[], None], priority: int,
              first: float | None = None) -> Handle:
        """Run ``fn()`` every ``period`` seconds, first at ``first`` (default: now)."""
        h = Handle()

        def tick() -> None:
            if h.cancelled:
                return
            fn()
            self.at(self.now + period, tick, priority, h)

        return self.at(self.now if first is None else first, tick, priority, h)

    def run_until(self, until: float, *, speed: float | None = None,
                  stop: threading.Event | None = None) -> None:
        """Process events up to and including ``until``; then ``now == until``."""
        wall0, sim0 = _time.monotonic(), self.now
        heap = self._heap
        while heap and heap[0][0] <= until:
            if stop is not None and stop.is_set():
                return
            item = heapq.heappop(heap)
            entry = item[3]
            if entry.cancelled:
                continue
            if speed:
                delay = wall0 + (entry.time - sim0) / speed - _time.monotonic()
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            heapq.heappush(heap, item)
                            return
                    else:
                        _time.sleep(delay)
            self.now = entry.time
            entry.fn()
        self.now = max(self.now, until)
