"""The lab as plain functions: what the control panel's widgets do, callable from papermill.

Every control of :class:`labkit.live.Lab` maps to an argument here, so a notebook's
``parameters`` cell drives exactly what a learner does with the widgets::

    tl = labkit.lab.run("hpa-v2", "spike", 600, users=100, speed=None)

is the panel with variant hpa-v2, profile spike, 100 users, 600 s and the speed slider at
"max". This module imports no plotting library, so it runs in plain scripts and the CLI.
"""

from __future__ import annotations

import threading
from typing import Any

from . import numbers as num
from .backends.base import Backend, pick
from .errors import LabkitError
from .load import PROFILES, LoadProfile, profile as make_named_profile
from .timeline import Timeline

#: The variants the panel offers (directories under manifests/).
VARIANTS: tuple[str, ...] = ("hpa-v1", "hpa-v2", "knative", "kserve", "keda", "queue",
                             "queue-jobs")
#: Variants behind a queue: a profile given by name sends them jobs (``mode="async"``).
ASYNC_VARIANTS: tuple[str, ...] = ("queue", "queue-jobs")

#: The panel's starting load for each variant: one that makes it scale out and, where the
#: variant can, come back to its minimum within the duration (zero for knative, kserve,
#: keda and the queues, so their spike falls to no users at all). hpa-v2 keeps a pod or two
#: after the spike: its memory metric holds them (notebook 02). Measured on the twin:
#: tests/live/test_panel_loads.py runs each one and checks it.
PANEL_LOADS: dict[str, dict[str, Any]] = {
    "base": {"profile": "constant", "users": 5, "spawn_rate": 10.0, "duration": 120},
    "hpa-v1": {"profile": "spike", "users": 60, "spawn_rate": 10.0, "duration": 600},
    "hpa-v2": {"profile": "spike", "users": 60, "spawn_rate": 10.0, "duration": 600},
    "knative": {"profile": "spike", "users": 100, "spawn_rate": 50.0, "duration": 300,
                "params": {"base_users": 0}},
    "kserve": {"profile": "spike", "users": 100, "spawn_rate": 50.0, "duration": 300,
               "params": {"base_users": 0}},
    "keda": {"profile": "spike", "users": 100, "spawn_rate": 10.0, "duration": 600,
             "params": {"base_users": 0}},
    "queue": {"profile": "spike", "users": 60, "spawn_rate": 10.0, "duration": 600,
              "params": {"base_users": 0}},
    "queue-jobs": {"profile": "spike", "users": 60, "spawn_rate": 10.0, "duration": 600,
                   "params": {"base_users": 0}},
}

#: Speed choices of the panel: label -> ``speed`` argument (None = as fast as possible).
SPEEDS: dict[str, float | None] = {"1x": 1.0, "2x": 2.0, "5x": 5.0, "10x": 10.0,
                                   "30x": 30.0, "100x": 100.0, "max": None}


def build_profile(name: str, *, duration: float, users: float | None = None,
                  spawn_rate: float | None = None, trace_path: str | None = None,
                  **params: Any) -> LoadProfile:
    """The LoadProfile the panel makes from its widgets: a shape fitted to ``duration``.

    ``users`` is the peak user count; each shape places its change inside the run so that a
    learner sees it whatever the duration:

    - constant: ``users`` throughout;
    - step: a tenth of ``users``, then ``users`` from 20 % to 70 % of the run, then back;
    - ramp: 0 to ``users`` over the first half, then hold;
    - spike: a twentieth of ``users``, ``users`` from 10 % to 40 % of the run, then back;
    - diurnal: one full day squeezed into the run (a tenth of ``users`` at night);
    - trace: read from ``trace_path`` (CSV with ``time`` and ``users`` or ``rps``);
    - burst: ``users`` jobs a second (one producer each, one job a second) for the tenth of
      the run that starts at 10 %.

    Any other keyword (``peak_users=``, ``steps=``, ``wait_min=``, ...) overrides the fitted
    value, and ``users=None`` keeps the shape's own defaults.
    """
    if name not in PROFILES:
        raise LabkitError(f"unknown load profile {name!r}; choose one of {', '.join(PROFILES)}")
    duration = num.duration(duration)
    fitted: dict[str, Any] = {"duration": duration}
    if spawn_rate is not None:
        fitted["spawn_rate"] = num.number(spawn_rate, "spawn_rate", above=0,
                                          maximum=num.MAX_SPAWN_RATE, unit="users/s")
    if name == "trace":
        if trace_path is None and "times" not in params:
            raise LabkitError("the trace profile needs a CSV file: pass trace_path='my.csv' "
                              "(columns time,users or time,rps), or pick another profile")
        if trace_path is not None:
            fitted["path"] = trace_path
    elif users is not None:
        fitted.update(_fit(name, num.users(users), duration))
    fitted.update(params)
    return make_named_profile(name, **fitted)


def _fit(name: str, users: float, duration: float) -> dict[str, Any]:
    low = max(1.0, round(users / 10))
    if name == "constant":
        return {"users": users}
    if name == "step":
        return {"steps": ((0.0, low), (0.2 * duration, users), (0.7 * duration, low))}
    if name == "ramp":
        return {"start_users": 0.0, "end_users": users, "ramp_seconds": duration / 2}
    if name == "spike":
        return {"base_users": max(1.0, round(users / 20)), "peak_users": users,
                "start": 0.1 * duration, "length": 0.3 * duration}
    if name == "diurnal":
        return {"min_users": low, "peak_users": users, "period": duration}
    if name == "burst":
        return {"jobs": users * 0.1 * duration, "start": 0.1 * duration,
                "length": 0.1 * duration}
    return {}


def open_backend(backend: str | Backend = "sim", *, seed: int = 0,
                 quiet: bool = True) -> Backend:
    """A Backend instance: ``backend`` itself, or one picked by name (the twin gets ``seed``)."""
    if not isinstance(backend, str):
        return backend
    options = {"seed": seed} if backend == "sim" else {}
    return pick(backend, quiet=quiet, **options)


def run(variant: str, profile: str | LoadProfile = "spike", duration: float = 600, *,
        backend: str | Backend = "sim", users: float | None = None,
        spawn_rate: float | None = None, speed: float | None = None, seed: int = 0,
        trace_path: str | None = None, stop: threading.Event | None = None,
        slo_ms: float | None = None, **profile_params: Any) -> Timeline:
    """Deploy ``variant``, apply the load profile and run ``duration`` seconds; return the Timeline.

    The terminal equivalent on a cluster: ``kubectl apply -k manifests/<variant>``, start
    locust with the profile, watch ``kubectl get hpa -w`` for ``duration`` seconds.

    ``profile`` is a LoadProfile or a shape name fitted by :func:`build_profile` (with
    ``users``, ``spawn_rate``, ``trace_path`` and ``profile_params``). ``backend`` is a name
    ("sim", "kind", "auto") or an instance; an instance is left open for its owner (the
    panel polls it while this runs), one made here is closed. ``speed`` paces the twin
    (1.0 = real time, None = as fast as possible). Setting ``stop`` ends the run early.
    A profile given by name for a queue variant (``queue``, ``queue-jobs``) sends jobs
    (``mode="async"``) unless ``mode=`` says otherwise.
    """
    if isinstance(profile, str) and variant in ASYNC_VARIANTS:
        profile_params.setdefault("mode", "async")
    duration = num.duration(duration)
    if speed is not None:
        speed = num.number(speed, "speed", above=0, unit="x real time")
    if isinstance(profile, str):
        profile = build_profile(profile, duration=duration, users=users, spawn_rate=spawn_rate,
                                trace_path=trace_path, **profile_params)
    elif users is not None or profile_params:
        raise LabkitError("users= and profile parameters only apply to a profile given by name; "
                          "change a LoadProfile with profile.with_(...)")
    owned = isinstance(backend, str)
    b = open_backend(backend, seed=seed)
    try:
        b.deploy(variant)
        b.load(profile)
        tl = b.run(duration, speed=speed, stop=stop)
    finally:
        if owned:
            b.close()
    tl.meta.setdefault("variant", variant)
    tl.meta["profile"] = profile.describe()
    tl.meta["speed"] = speed
    if slo_ms is not None:
        tl.meta["slo_ms"] = slo_ms
    return tl
