"""The twin's clock: a heap of (time, priority, sequence, callback), SimPy-sized.

- Events at the same time run by ``priority`` (pod changes before traffic before probes before
  scrapes before controllers before sampling), then in the order they were scheduled, so a
  run repeats exactly.
- ``run_until(t, speed=...)`` paces simulated time against the wall clock (``speed=1`` is real
  time, ``None`` as fast as possible), as ``simpy.rt.RealtimeEnvironment(factor=...)`` does.
- Series that repeat every second or faster (traffic, samples, collectors) stay out of the heap:
  the loop compares their next time with the heap's first entry, so the cost of a simulated
  second is a few comparisons and the callbacks themselves. They keep the order a heap entry
  would have had: a series takes the next sequence number each time it runs, as re-scheduling
  it would.
"""

from __future__ import annotations

import heapq
import itertools
import math
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


class _Series:
    """A callback repeated every ``period`` (at most 1 s) outside the heap."""

    __slots__ = ("time", "priority", "seq", "period", "fn", "handle")

    def __init__(self, time: float, priority: int, seq: int, period: float,
                 fn: Callable[[], None], handle: "Handle"):
        self.time, self.priority, self.seq = time, priority, seq
        self.period, self.fn, self.handle = period, fn, handle


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
        self._series: list[_Series] = []

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
        start = max(self.now if first is None else first, self.now)
        if period <= 1.0:
            self._series.append(_Series(start, priority, next(self._seq), period, fn, h))
            return h

        def tick() -> None:
            if h.cancelled:
                return
            fn()
            self.at(self.now + period, tick, priority, h)

        return self.at(start, tick, priority, h)

    def run_until(self, until: float, *, speed: float | None = None,
                  stop: threading.Event | None = None,
                  interrupt: threading.Event | None = None, step: float = 1.0) -> None:
        """Process events up to and including ``until``; then ``now == until``.

        ``interrupt``: once set, stop at the next whole ``step`` from where this call started
        (after every event at that time), with ``now`` there, so the caller can make a change
        between two simulated seconds.
        """
        wall0, sim0 = _time.monotonic(), self.now
        heap, series, seq = self._heap, self._series, self._seq
        pop = heapq.heappop
        inf = math.inf
        while True:
            # the next series due: earliest (time, priority, seq)
            nxt = None
            for s in series:
                if nxt is None or s.time < nxt.time or (s.time == nxt.time and (
                        s.priority < nxt.priority or (s.priority == nxt.priority
                                                      and s.seq < nxt.seq))):
                    nxt = s
            if heap:
                top = heap[0]
                t = top[0]
                use_heap = nxt is None or t < nxt.time or (t == nxt.time and (
                    top[1] < nxt.priority or (top[1] == nxt.priority and top[2] < nxt.seq)))
                if not use_heap:
                    t = nxt.time   # type: ignore[union-attr]
            elif nxt is not None:
                use_heap, t = False, nxt.time
            else:
                t = inf
            if t > until:
                break
            if not use_heap and nxt.handle.cancelled:                 # type: ignore[union-attr]
                series.remove(nxt)                                      # type: ignore[arg-type]
                continue
            if stop is not None and stop.is_set():
                return
            if interrupt is not None and interrupt.is_set():
                boundary = sim0 + math.ceil((self.now - sim0) / step) * step
                if t > boundary:
                    self.now = max(self.now, boundary)
                    return
            if speed:
                delay = wall0 + (t - sim0) / speed - _time.monotonic()
                if delay > 0:
                    if stop is not None:
                        if stop.wait(delay):
                            return
                    else:
                        _time.sleep(delay)
            if use_heap:
                entry = pop(heap)[3]
                if entry.cancelled:
                    continue
                self.now = t
                entry.fn()
            else:
                self.now = t
                nxt.fn()                                        # type: ignore[union-attr]
                nxt.time = t + nxt.period                       # type: ignore[union-attr]
                nxt.seq = next(seq)                             # type: ignore[union-attr]
        self.now = max(self.now, until)
