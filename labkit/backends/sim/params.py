"""The twin's physical parameters: what the app costs and how fast pods start.

Defaults come from measurements of the real app (``labkit calibrate`` rewrites
``labkit/data/twin-params.json``, which :func:`load_params` reads by default). Node sizes
describe a laptop running kind; change them to show Pending pods.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ...errors import LabkitError

PARAMS_FILE = Path(__file__).resolve().parents[2] / "data" / "twin-params.json"


@dataclass(frozen=True)
class TwinParams:
    """Costs and delays of the simulated app, pods and nodes."""

    # The app (per request; the manifest's APP_CPU_WORK_MS is added on top).
    cpu_ms_per_request: float = 2.0       #: fixed CPU per request (parsing, framework)
    cpu_ms_per_text: float = 0.1          #: CPU per sentence classified
    base_latency_ms: float = 2.0          #: non-CPU time per request (network, event loop)
    idle_cpu_milli: float = 2.0           #: CPU an idle pod uses (millicores)
    memory_mib_idle: float = 150.0        #: working set of a ready, idle pod
    memory_mib_per_inflight: float = 0.5  #: extra working set per request in flight
    request_timeout_s: float = 60.0       #: locust/client timeout: slower requests fail
    # Pod start-up, in order.
    schedule_seconds: float = 0.5         #: scheduler binding + kubelet admission
    image_pull_seconds: float = 2.0       #: first pod on a node (image loaded by kind, unpacked)
    container_start_seconds: float = 1.0  #: runtime creates and starts the container
    startup_seconds: float = 3.0          #: imports + model load until the app is ready
    startup_cpu_milli: float = 500.0      #: CPU burnt while starting (capped at the limit)
    termination_seconds: float = 1.0      #: SIGTERM to gone (uvicorn exits quickly)
    # Nodes (per node; kind shares the laptop's CPUs between its nodes).
    node_cpu_milli: int = 4000
    node_memory_mib: int = 8192
    system_cpu_request_milli: int = 950   #: kube-system pods on the first node
    system_memory_request_mib: int = 290
    # Controllers.
    metric_resolution_s: float = 15.0     #: metrics-server --metric-resolution (kind add-on)
    hpa_sync_period_s: float = 15.0       #: --horizontal-pod-autoscaler-sync-period

    def with_(self, **changes: Any) -> "TwinParams":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def load_params(path: str | Path | None = None, **overrides: Any) -> TwinParams:
    """Read the parameters file (default: the calibrated one shipped with labkit)."""
    p = Path(path) if path else PARAMS_FILE
    data: dict[str, Any] = {}
    if p.exists():
        try:
            data = json.loads(p.read_text())
        except ValueError as e:
            raise LabkitError(f"{p}: not valid JSON ({e}); rerun `labkit calibrate` or delete "
                              "the file to use the built-in defaults") from e
    elif path:
        raise LabkitError(f"{p}: no such parameters file; run `labkit calibrate --out {p}`")
    known = {f.name for f in fields(TwinParams)}
    params = {k: v for k, v in data.items() if k in known}
    unknown = set(overrides) - known
    if unknown:
        raise LabkitError(f"unknown twin parameter(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(sorted(known))}")
    return TwinParams(**{**params, **overrides})
