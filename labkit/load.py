"""Load profiles: how many users over time, and how each user behaves.

One LoadProfile drives both backends: the twin simulates its users, and the locust driver
(:mod:`labkit.loadgen`) sets locust's user count from the same ``users_at(t)``. Users follow
locust's semantics: they are spawned at ``spawn_rate`` per second towards the profile's count;
each one waits ``between(wait_min, wait_max)`` seconds, sends one request with
``texts_min..texts_max`` sentences and waits for the answer (a closed loop), so throughput
falls when latency rises.

``mode="async"`` makes the same users producers for the asynchronous variants (``queue``,
``queue-jobs``): each one posts a job to ``POST /jobs``, which answers 202 with a job id at
once, and sends the next after its think time without waiting for the result. The offered
load is then a rate, ``rate_at(t) = users_at(t) / mean_wait`` jobs per second, whatever the
workers do (an open loop). :class:`Burst` is written directly as a rate: ``jobs`` jobs over
``length`` seconds.

Shapes are looked up by name in :data:`PROFILES` (``profile("spike", peak_users=200)``).
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar

from . import numbers as num
from .errors import LabkitError

#: How users send requests: ``sync`` waits for the answer, ``async`` posts a job and goes on.
MODES = ("sync", "async")


@dataclass(frozen=True, kw_only=True)
class LoadProfile:
    """Users over ``duration`` seconds; subclasses define :meth:`users_at`."""

    kind: ClassVar[str] = "profile"
    duration: float = 300.0
    spawn_rate: float = 10.0
    wait_min: float = 1.0
    wait_max: float = 5.0
    texts_min: int = 1
    texts_max: int = 99
    mode: str = "sync"

    def __post_init__(self) -> None:
        where = f"{self.kind} profile"
        num.duration(self.duration, where=where)
        num.number(self.spawn_rate, "spawn_rate", above=0, maximum=num.MAX_SPAWN_RATE,
                   unit="users/s", where=where)
        for name in ("wait_min", "wait_max"):
            num.number(getattr(self, name), name, minimum=0, maximum=num.MAX_DURATION, unit="s",
                       where=where)
        for name in ("texts_min", "texts_max"):
            num.number(getattr(self, name), name, minimum=1, integer=True, where=where)
        self._check_shape(where)
        if not 0 <= self.wait_min <= self.wait_max:
            raise LabkitError(f"{self.kind} profile: need 0 <= wait_min <= wait_max, got "
                              f"between({self.wait_min}, {self.wait_max})")
        if not 1 <= self.texts_min <= self.texts_max:
            raise LabkitError(f"{self.kind} profile: need 1 <= texts_min <= texts_max")
        if self.mode not in MODES:
            raise LabkitError(f"{self.kind} profile: mode must be one of {', '.join(MODES)} "
                              f"(sync: POST /predict and wait; async: POST /jobs), got "
                              f"{self.mode!r}")
        if self.mode == "async" and self.mean_wait <= 0:
            raise LabkitError(f"{self.kind} profile: an async producer needs a think time "
                              "(wait_max > 0): it sends one job per think time")

    def _check_shape(self, where: str) -> None:
        """Each shape checks its own numbers (finite, in range, the field named)."""

    def _change_times(self) -> tuple[float, ...]:
        """Times where :meth:`users_at` may reach a new maximum (besides 0 and the end)."""
        return ()

    def users_at(self, t: float) -> float:
        """Target user count at ``t`` seconds (before the spawn-rate limit)."""
        raise NotImplementedError

    @property
    def mean_wait(self) -> float:
        """Mean think time of one user (seconds)."""
        return (self.wait_min + self.wait_max) / 2

    def rate_at(self, t: float) -> float:
        """Jobs per second the producers offer at ``t`` in async mode (``users / mean_wait``)."""
        return self.users_at(t) / self.mean_wait if self.mean_wait > 0 else 0.0

    @property
    def mean_texts(self) -> float:
        """Mean number of sentences per request."""
        return (self.texts_min + self.texts_max) / 2

    @property
    def peak_users(self) -> float:
        """The largest target user count over the run (at the shape's change points)."""
        times = {0.0, float(self.duration), *self._change_times()}
        return max(self.users_at(t) for t in times if 0 <= t <= self.duration)

    def with_(self, **changes: Any) -> "LoadProfile":
        """A copy with some fields changed (``profile.with_(duration=60)``)."""
        return replace(self, **changes)

    def describe(self) -> str:
        fields = {k: v for k, v in self.__dict__.items()}
        body = ", ".join(f"{k}={v}" for k, v in fields.items() if not isinstance(v, tuple))
        return f"{self.kind}({body})"


@dataclass(frozen=True, kw_only=True)
class Constant(LoadProfile):
    """The same number of users for the whole run."""

    kind: ClassVar[str] = "constant"
    users: float = 10

    def _check_shape(self, where: str) -> None:
        num.users(self.users, where=where)

    def users_at(self, t: float) -> float:
        return self.users


@dataclass(frozen=True, kw_only=True)
class Step(LoadProfile):
    """Piecewise constant: ``steps`` is ``((t0, users0), (t1, users1), ...)``."""

    kind: ClassVar[str] = "step"
    steps: tuple[tuple[float, float], ...] = ((0, 5), (60, 50), (240, 5))

    def _check_shape(self, where: str) -> None:
        try:
            pairs = [(t, u) for t, u in self.steps]
        except (TypeError, ValueError):
            raise LabkitError(f"{where}: steps must be ((time, users), ...), got "
                              f"{self.steps!r}") from None
        for i, (t, u) in enumerate(pairs):
            num.number(t, f"steps[{i}] time", minimum=0, maximum=num.MAX_DURATION, unit="s",
                       where=where)
            num.users(u, f"steps[{i}] users", where=where)
        times = [t for t, _ in pairs]
        if not pairs or times != sorted(times):
            raise LabkitError("step profile: steps must be non-empty ((time, users), ...) "
                              "with increasing times")

    def _change_times(self) -> tuple[float, ...]:
        return tuple(float(t) for t, _ in self.steps)

    def users_at(self, t: float) -> float:
        i = bisect_right([s[0] for s in self.steps], t) - 1
        return self.steps[i][1] if i >= 0 else 0.0


@dataclass(frozen=True, kw_only=True)
class Ramp(LoadProfile):
    """Linear from ``start_users`` to ``end_users`` over ``ramp_seconds``, then hold."""

    kind: ClassVar[str] = "ramp"
    start_users: float = 0
    end_users: float = 100
    ramp_seconds: float = 120

    def _check_shape(self, where: str) -> None:
        num.users(self.start_users, "start_users", where=where)
        num.users(self.end_users, "end_users", where=where)
        num.number(self.ramp_seconds, "ramp_seconds", minimum=0, maximum=num.MAX_DURATION,
                   unit="s", where=where)

    def _change_times(self) -> tuple[float, ...]:
        return (float(self.ramp_seconds),)

    def users_at(self, t: float) -> float:
        if t >= self.ramp_seconds:
            return self.end_users
        return self.start_users + (self.end_users - self.start_users) * t / self.ramp_seconds


@dataclass(frozen=True, kw_only=True)
class Spike(LoadProfile):
    """``base_users``, then ``peak_users`` from ``start`` for ``length`` seconds, then base."""

    kind: ClassVar[str] = "spike"
    base_users: float = 2
    peak_users: float = 100
    start: float = 30
    length: float = 120

    def _check_shape(self, where: str) -> None:
        num.users(self.base_users, "base_users", where=where)
        num.users(self.peak_users, "peak_users", where=where)
        for name in ("start", "length"):
            num.number(getattr(self, name), name, minimum=0, maximum=num.MAX_DURATION, unit="s",
                       where=where)

    def users_at(self, t: float) -> float:
        return self.peak_users if self.start <= t < self.start + self.length else self.base_users


@dataclass(frozen=True, kw_only=True)
class Diurnal(LoadProfile):
    """A daily wave: ``min_users`` at ``t = 0`` rising to ``peak_users`` half a period later."""

    kind: ClassVar[str] = "diurnal"
    min_users: float = 5
    peak_users: float = 100
    period: float = 86400.0

    def _check_shape(self, where: str) -> None:
        num.users(self.min_users, "min_users", where=where)
        num.users(self.peak_users, "peak_users", where=where)
        num.number(self.period, "period", above=0, maximum=num.MAX_DURATION, unit="s",
                   where=where)

    def _change_times(self) -> tuple[float, ...]:
        return (self.period / 2,)   # the crest; before it the wave only rises

    def users_at(self, t: float) -> float:
        wave = (1 - math.cos(2 * math.pi * t / self.period)) / 2
        return self.min_users + (self.peak_users - self.min_users) * wave


@dataclass(frozen=True, kw_only=True)
class Trace(LoadProfile):
    """Users (or requests per second) over time from recorded points, held between points.

    An RPS trace is turned into users by Little's law with the mean think time
    (``users = rps x mean_wait``), which holds while responses are much faster than the think
    time; the twin then shows the throughput the closed loop really achieves.
    """

    kind: ClassVar[str] = "trace"
    times: tuple[float, ...] = (0.0,)
    values: tuple[float, ...] = (1.0,)
    unit: str = "users"

    def _check_shape(self, where: str) -> None:
        for i, t in enumerate(self.times):
            num.number(t, f"times[{i}]", minimum=0, maximum=num.MAX_DURATION, unit="s", where=where)
        for i, v in enumerate(self.values):
            num.users(v, f"values[{i}]", where=where)

    def _change_times(self) -> tuple[float, ...]:
        return tuple(self.times)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.times) != len(self.values) or not self.times:
            raise LabkitError("trace profile: times and values must be equally long, non-empty")
        if list(self.times) != sorted(self.times):
            raise LabkitError("trace profile: times must increase")
        if self.unit not in ("users", "rps"):
            raise LabkitError(f"trace profile: unit must be 'users' or 'rps', got {self.unit!r}")

    @classmethod
    def from_csv(cls, path: str | Path, **kw: Any) -> "Trace":
        """Read a CSV with a ``time`` column and a ``users`` or ``rps`` column."""
        path = Path(path)
        try:
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            raise LabkitError(f"{path}: cannot read the trace ({e}); give a CSV file with "
                              "columns time,users or time,rps") from e
        if not rows or "time" not in rows[0]:
            raise LabkitError(f"{path}: a trace needs a header with 'time' and 'users' or 'rps'")
        unit = "users" if "users" in rows[0] else "rps" if "rps" in rows[0] else None
        if unit is None:
            raise LabkitError(f"{path}: no 'users' or 'rps' column; the header is "
                              f"{','.join(rows[0])}")
        try:
            times = tuple(float(r["time"]) for r in rows)
            values = tuple(float(r[unit]) for r in rows)
        except ValueError as e:
            raise LabkitError(f"{path}: every time and {unit} value must be a number ({e})") from e
        kw.setdefault("duration", max(times[-1], 1.0))
        return cls(times=times, values=values, unit=unit, **kw)

    def users_at(self, t: float) -> float:
        i = max(bisect_right(self.times, t) - 1, 0)
        v = self.values[i]
        return v * self.mean_wait if self.unit == "rps" else v


@dataclass(frozen=True, kw_only=True)
class Burst(LoadProfile):
    """``jobs`` requests offered evenly over ``length`` seconds from ``start``, then nothing.

    A producer rate (async by default): ``jobs / length`` per second. Locust reaches that rate
    with ``rate x mean_wait`` users (one request per think time each), spawned at once.
    """

    kind: ClassVar[str] = "burst"
    jobs: float = 600
    start: float = 10
    length: float = 10
    mode: str = "async"
    wait_min: float = 1.0
    wait_max: float = 1.0
    spawn_rate: float = 1000.0
    duration: float = 300.0

    def _check_shape(self, where: str) -> None:
        num.number(self.jobs, "jobs", minimum=0, unit="jobs", where=where)
        num.number(self.start, "start", minimum=0, maximum=num.MAX_DURATION, unit="s",
                   where=where)
        num.number(self.length, "length", above=0, maximum=num.MAX_DURATION, unit="s",
                   where=where)

    def users_at(self, t: float) -> float:
        if self.start <= t < self.start + self.length:
            return self.jobs / self.length * self.mean_wait
        return 0.0


#: Load shapes by name, as the control panel and ``labkit run --profile`` name them.
PROFILES: dict[str, type[LoadProfile]] = {
    cls.kind: cls for cls in (Constant, Step, Ramp, Spike, Diurnal, Trace, Burst)
}


def profile(name: str, **params: Any) -> LoadProfile:
    """Make a profile by name: ``profile("ramp", end_users=50, duration=300)``."""
    try:
        cls = PROFILES[name]
    except KeyError:
        raise LabkitError(f"unknown load profile {name!r}; choose one of "
                          f"{', '.join(PROFILES)}") from None
    if cls is Trace and "path" in params:
        return Trace.from_csv(params.pop("path"), **params)
    try:
        return cls(**params)
    except TypeError as e:
        raise LabkitError(f"{name} profile: {e}") from e


def spawned_users(target: Callable[[float], float], spawn_rate: float, t: float,
                  previous: float, dt: float) -> float:
    """Users after ``dt`` more seconds when spawning/stopping at ``spawn_rate`` (locust's rule).

    Locust adds or removes users at ``spawn_rate`` per second until the target is reached.
    """
    goal = target(t)
    step = spawn_rate * dt
    if goal > previous:
        return min(goal, previous + step)
    return max(goal, previous - step)
