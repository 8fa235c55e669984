"""Benchmarks (not tests): how fast the twin runs, how long headless verification takes.

``labkit bench sim`` prints simulated seconds per wall second and peak memory for the
scenarios the issues name; ``labkit bench verify`` times ``labkit verify --backend sim``;
``labkit bench app`` measures the real app's CPU cost per request.
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
                target_seconds=2.0),
)


def bench_sim(scenarios=SIM_SCENARIOS, *, extra: tuple[SimScenario, ...] = (),
              repeat: int = 3) -> list[dict]:
    """Run each scenario; return wall time (best and median of ``repeat`` runs for runs under
    10 s, else one run), speed and peak Python memory (traced in a separate run).

    Times a warm process: one short run first pays the imports, as a notebook kernel has.
    """
    from .backends.sim import SimBackend
    warm = SimBackend()
    warm.deploy("hpa-v2")
    warm.run(30)
    rows = []
    for sc in tuple(scenarios) + tuple(extra):
        variant = _with_max(sc.variant, sc.max_replicas)

        def once():
            t0 = time.perf_counter()
            b = SimBackend(**(sc.backend_options or {}))
            b.deploy(variant)
            b.load(sc.profile)
            tl = b.run(sc.duration)
            return time.perf_counter() - t0, tl

        walls = []
        wall, tl = once()
        walls.append(wall)
        while wall < 10 and len(walls) < repeat:
            walls.append(once()[0])
        tracemalloc.start()
        once()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        wall = min(walls)
        s = tl.samples
        rows.append({"scenario": sc.name, "wall_s": round(wall, 3),
                     "median_s": round(sorted(walls)[len(walls) // 2], 3),
                     "sim_s_per_wall_s": round(sc.duration / wall),
                     "peak_mib": round(peak / 2**20, 1), "rows": len(s),
                     "peak_rps": round(float(s.rps.max()), 1),
                     "peak_replicas": int(s.spec_replicas.max()),
                     "target_s": sc.target_seconds,
                     "meets_target": sc.target_seconds is None or wall <= sc.target_seconds})
    return rows


def _print(rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in keys))


def run_bench(what: list[str]) -> int:
    """``labkit bench [sim] [verify] [app]``: print each benchmark's table."""
    runners: dict[str, Callable[[], list[dict]]] = {"sim": bench_sim}
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
    for name in what:
        if name not in runners:
            print(f"labkit bench: unknown benchmark {name!r}; choose from {', '.join(runners)}")
            return 2
        print(f"== {name}")
        _print(runners[name]())
    return 0
