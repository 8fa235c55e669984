"""Knative metric windows: the collector's 1-second buckets and their averages (spec §2.4) [KN-COL].

``WindowAverage`` of ``pkg/autoscaler/aggregation/bucketing.go`` (linear), the panic window length
and the scrape sample size of ``metrics/sample_size.go``. No clock: ``now`` is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Protocol


class Windowed(Protocol):
    """What the window length depends on (a ``KPASettings`` has both)."""

    stable_window: float
    panic_window_percentage: float

WINDOW_PRECISION = 6         # WindowAverage rounding, decimals [KN-COL]
_SAMPLE_X = 1.96 ** 2 * 100 / 5 ** 2   # ≈ 15.37 [KN-COL sample_size.go]


def _go_round(x: float) -> float:
    """Round half away from zero, as Go's ``math.Round``."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def round_to_digits(x: float, digits: int = WINDOW_PRECISION) -> float:
    """Round to ``digits`` decimals the way Knative's ``roundToNDigits`` does."""
    p = 10.0 ** digits
    return _go_round(x * p) / p


def panic_window_seconds(settings: Windowed) -> int:
    """Panic window length: ``round(W × panic% / 100)`` seconds, at least 1 s (§2.4)."""
    return max(1, int(_go_round(settings.stable_window * settings.panic_window_percentage / 100)))


def sample_size(n_pods: int) -> int:
    """Pods scraped per second: all of them up to 3, else ``ceil(N·X/(N+X−1))`` (§2.4) [KN-COL]."""
    if n_pods <= 3:
        return max(0, n_pods)
    return math.ceil(n_pods * _SAMPLE_X / (n_pods + _SAMPLE_X - 1))


def window_average(buckets: Mapping[int, float], *, now: float, window: int,
                   first_write: int, last_write: int) -> float:
    """Linear ``WindowAverage`` over 1-second buckets (§2.4) [KN-COL bucketing.go].

    ``buckets`` maps whole seconds to the value recorded in them (only the current data run).
    Rules:

    - no write for ``window`` seconds or more → 0;
    - sum the buckets in ``(now − window, now]``; gaps count as zeros;
    - divide by the number of valid buckets: ``min(last − first + 1, window − (now − last))``,
      i.e. a partial window right after data starts, and a shrinking divisor when the tail is stale;
    - round to 6 decimals.
    """
    t = int(math.floor(now))
    d = t - last_write
    if d >= window:
        return 0.0
    total = sum(v for b, v in buckets.items() if t - window < b <= t)
    valid = min(last_write - first_write + 1, window - max(0, d))
    return round_to_digits(total / valid)


@dataclass
class WindowAverager:
    """One metric's 1-second buckets over a window: ``record`` each scrape, ``average`` at a tick.

    Mutable on purpose (the collector's per-second write path); it holds no clock: ``now`` is
    passed in. A gap longer than the window starts a new data run (partial-window divisor again).
    """

    window: int
    buckets: dict[int, float] = field(default_factory=dict)
    first_write: int | None = None
    last_write: int | None = None

    def record(self, now: float, value: float) -> None:
        """Add ``value`` to the bucket of second ``floor(now)``."""
        b = int(math.floor(now))
        if self.last_write is None or b - self.last_write > self.window:
            self.buckets.clear()
            self.first_write = b
        if self.last_write is None or b > self.last_write:
            self.last_write = b
        self.buckets[b] = self.buckets.get(b, 0.0) + value
        for old in [k for k in self.buckets if k <= b - self.window]:
            del self.buckets[old]

    def has_data(self, now: float) -> bool:
        """False when nothing was recorded within the window ("no data": the decider skips)."""
        return self.last_write is not None and int(math.floor(now)) - self.last_write <= self.window

    def average(self, now: float) -> float:
        """The linear window average at ``now`` (0 without data)."""
        if self.last_write is None:
            return 0.0
        return window_average(self.buckets, now=now, window=self.window,
                              first_write=self.first_write, last_write=self.last_write)
