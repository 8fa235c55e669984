"""Benchmarks (not tests): how fast the twin runs, how long headless verification takes.

``labkit bench sim`` prints simulated seconds per wall second and peak memory for the
scenarios the issues name, then the scaling table: wall time, cost per simulated second and
memory as the simulated time grows (1 h, 24 h, 7 days) and as the pods grow (peaks of 10, 100
and 1000); ``labkit bench verify`` times ``labkit verify --backend sim``; ``labkit bench app``
measures the real app's CPU cost per request.
"""

from __future__ import annotations

import copy
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable

from .load import Diurnal, LoadProfile, Spike


@dataclass(frozen=True)
class SimScenario:
    name: str
    variant: str
    profile: LoadProfile
    duration: float
    max_replicas: int | None = None
    backend_options: dict | None = None
    target_seconds: float | None = None


def _with_max(variant: str, max_replicas: int | None):
    from .manifests import load_variant
    v = load_variant(variant)
    if max_replicas is None:
        return v
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for obj in v.of_kind(kind):
            doc = copy.deepcopy(obj.doc)
            key = "maxReplicas" if kind == "HorizontalPodAutoscaler" else "maxReplicaCount"
            doc["spec"][key] = max_replicas
            v = v.replace(doc)
    return v


SIM_SCENARIOS: tuple[SimScenario, ...] = (
    SimScenario("(a) hpa-v2, 30 min spike 0->200 users", "hpa-v2",
                Spike(base_users=0, peak_users=200, start=300, length=600, duration=1800), 1800,
                target_seconds=0.5),
    SimScenario("(c) knative, 30 min spike 0->200 users", "knative",
                Spike(base_users=0, peak_users=200, start=300, length=600, duration=1800), 1800,
                target_seconds=0.5),
    SimScenario("(d) keda, 30 min spike 0->200 users", "keda",
                Spike(base_users=0, peak_users=200, start=300, length=600, duration=1800), 1800,
                target_seconds=0.5),
    SimScenario("(b) hpa-v2, 24 h diurnal to ~1000 RPS, <=200 pods", "hpa-v2",
                Diurnal(min_users=150, peak_users=3000, duration=86400), 86400,
                max_replicas=200,
                backend_options={"params": {"node_cpu_milli": 64000, "node_memory_mib": 131072},
                                 "sample_interval": 1.0},
                target_seconds=1.0),
)

#: A node that holds 1000 pods of the course app (200m CPU, 512Mi memory requested each).
_HUGE_NODE = {"params": {"node_cpu_milli": 256000, "node_memory_mib": 600000}}


def _wave(users: float, period: float, days: float = 1.0) -> Diurnal:
    """The diurnal wave from ``users / 20`` to ``users`` over ``period`` seconds, ``days``
    periods long."""
    return Diurnal(min_users=users / 20, peak_users=users, period=period,
                   duration=period * days)


#: The scaling table: hpa-v2 on a diurnal wave, longer and longer, then with more and more pods
#: (about 18 users keep one pod at its 70 % CPU target; maxReplicas caps the peak).
SCALING_SCENARIOS: tuple[SimScenario, ...] = (
    SimScenario("1 h (one wave to ~170 pods)", "hpa-v2", _wave(3000, 3600), 3600,
                max_replicas=200, backend_options=_HUGE_NODE),
    SimScenario("24 h (one day to ~170 pods)", "hpa-v2", _wave(3000, 86400), 86400,
                max_replicas=200, backend_options=_HUGE_NODE, target_seconds=1.0),
    SimScenario("7 days (seven days to ~170 pods)", "hpa-v2", _wave(3000, 86400, 7), 7 * 86400,
                max_replicas=200, backend_options=_HUGE_NODE),
    SimScenario("peak 10 pods (1 h wave)", "hpa-v2", _wave(200, 3600), 3600,
                max_replicas=10, backend_options=_HUGE_NODE),
    SimScenario("peak 100 pods (1 h wave)", "hpa-v2", _wave(2000, 3600), 3600,
                max_replicas=100, backend_options=_HUGE_NODE),
    SimScenario("peak 1000 pods (1 h wave)", "hpa-v2", _wave(20000, 3600), 3600,
                max_replicas=1000, backend_options=_HUGE_NODE),
)


def _warm() -> None:
    """One short run pays the imports, as a notebook kernel has."""
    from .backends.sim import SimBackend
    warm = SimBackend()
    warm.deploy("hpa-v2")
    warm.run(30)


def _measure(sc: SimScenario, repeat: int):
    """(wall times, CPU times, traced peak bytes, the Timeline) of ``sc``: ``repeat`` timed runs
    (one when a run takes 10 s or more), then one run under tracemalloc for the memory."""
    from .backends.sim import SimBackend
    variant = _with_max(sc.variant, sc.max_replicas)

    def once():
        t0, c0 = time.perf_counter(), time.process_time()
        b = SimBackend(**(sc.backend_options or {}))
        b.deploy(variant)
        b.load(sc.profile)
        tl = b.run(sc.duration)
        return time.perf_counter() - t0, time.process_time() - c0, tl

    walls, cpus = [], []
    wall, cpu, tl = once()
    walls.append(wall)
    cpus.append(cpu)
    while wall < 10 and len(walls) < repeat:
        wall, cpu, _ = once()
        walls.append(wall)
        cpus.append(cpu)
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return walls, cpus, peak, tl


def bench_sim(scenarios=SIM_SCENARIOS, *, extra: tuple[SimScenario, ...] = (),
              repeat: int = 3) -> list[dict]:
    """Run each scenario; return wall time (best and median of ``repeat`` runs for runs under
    10 s, else one run), the best CPU time (the machine may be shared), speed and peak Python
    memory (traced in a separate run). Times a warm process."""
    _warm()
    rows = []
    for sc in tuple(scenarios) + tuple(extra):
        walls, cpus, peak, tl = _measure(sc, repeat)
        wall = min(walls)
        s = tl.samples
        rows.append({"scenario": sc.name, "wall_s": round(wall, 3),
                     "median_s": round(sorted(walls)[len(walls) // 2], 3),
                     "cpu_s": round(min(cpus), 3),
                     "sim_s_per_wall_s": round(sc.duration / wall),
                     "peak_mib": round(peak / 2**20, 1), "rows": len(s),
                     "peak_rps": round(float(s.rps.max()), 1),
                     "peak_replicas": int(s.spec_replicas.max()),
                     "target_s": sc.target_seconds,
                     "meets_target": sc.target_seconds is None or wall <= sc.target_seconds})
    return rows


def bench_scaling(scenarios=SCALING_SCENARIOS, *, repeat: int = 3) -> list[dict]:
    """The scaling table: per scenario the simulated time, the peak pods, wall and CPU time
    (best of ``repeat``), the cost of one simulated second (CPU microseconds) and one pod-second
    (CPU nanoseconds), and the traced peak memory. The cost per simulated second should stay
    flat as the pods grow: the twin's cost follows what changes, not pods x seconds."""
    _warm()
    rows = []
    for sc in scenarios:
        walls, cpus, peak, tl = _measure(sc, repeat)
        s = tl.samples
        cpu = min(cpus)
        pod_seconds = float(s.ready_replicas.sum()) * (float(s.time.iloc[1] - s.time.iloc[0])
                                                      if len(s) > 1 else 1.0)
        rows.append({"scenario": sc.name, "simulated_s": int(sc.duration),
                     "peak_pods": int(s.spec_replicas.max()),
                     "wall_s": round(min(walls), 3), "cpu_s": round(cpu, 3),
                     "cpu_us_per_sim_s": round(cpu / sc.duration * 1e6, 1),
                     "cpu_ns_per_pod_s": round(cpu / max(pod_seconds, 1.0) * 1e9, 1),
                     "peak_mib": round(peak / 2**20, 1)})
    return rows


def bench_sweep(workers: int | None = None) -> list[dict]:
    """A what-if grid of 100 runs: hpa-v2 under the 30-minute spike of (a) with 10 CPU targets x
    10 scale-down stabilization windows, on every local core (:func:`labkit.sweeps.grid`)."""
    import os

    from . import sweeps
    sc = SIM_SCENARIOS[0]
    fields = {"spec.metrics[0].resource.target.averageUtilization": list(range(10, 101, 10)),
              "spec.behavior.scaleDown.stabilizationWindowSeconds":
                  [0, 15, 30, 60, 90, 120, 180, 240, 300, 600]}
    _warm()
    t0 = time.perf_counter()
    table = sweeps.grid(sc.variant, "HorizontalPodAutoscaler", fields, sc.profile, sc.duration,
                        workers=workers)
    wall = time.perf_counter() - t0
    return [{"sweep": "hpa-v2, 30 min spike, 10 targets x 10 windows", "runs": len(table),
             "workers": workers or os.cpu_count(), "wall_s": round(wall, 2),
             "simulated_h": round(len(table) * sc.duration / 3600, 1),
             "frontier_rows": int(table.on_frontier.sum())}]


def _print(rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in keys))


def run_bench(what: list[str]) -> int:
    """``labkit bench [sim] [scaling] [sweep] [verify] [app]``: print each benchmark's table
    (``sim`` prints the scaling table too)."""
    runners: dict[str, Callable[[], list[dict]]] = {"sim": bench_sim,
                                                    "scaling": bench_scaling,
                                                    "sweep": bench_sweep}
    try:
        from .verify import bench_verify
        runners["verify"] = lambda: [bench_verify()]
    except ImportError:
        pass
    try:
        from .appserver import bench_app
        runners["app"] = lambda: [bench_app()]
    except ImportError:
        pass
    if "sim" in what and "scaling" not in what:   # `labkit bench sim` prints both tables
        what = [w for x in what for w in ((x, "scaling") if x == "sim" else (x,))]
    for name in what:
        if name not in runners:
            print(f"labkit bench: unknown benchmark {name!r}; choose from {', '.join(runners)}")
            return 2
        print(f"== {name}")
        _print(runners[name]())
    return 0
