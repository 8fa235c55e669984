"""A short run of the twin in a fresh interpreter, as a notebook kernel would make it.

``labkit doctor`` runs ``python -m labkit.twin_probe`` to show that the twin track works on
this machine (labkit imports, the twin deploys a variant, takes load and returns a Timeline)
and prints one JSON line: the variant, the simulated seconds, the samples and the wall time.
A separate process, so a broken install shows as a failed check instead of breaking doctor.
"""

from __future__ import annotations

import json
import time

VARIANT, PROFILE, DURATION, USERS = "hpa-v1", "constant", 60, 2


def probe() -> dict:
    """Run ``VARIANT`` for ``DURATION`` simulated seconds on the twin; what it took."""
    start = time.perf_counter()
    from .lab import run
    tl = run(VARIANT, PROFILE, DURATION, backend="sim", users=USERS)
    return {"variant": VARIANT, "duration": DURATION, "samples": len(tl.samples),
            "ready_replicas": int(tl.samples.ready_replicas.iloc[-1]),
            "seconds": round(time.perf_counter() - start, 2)}


if __name__ == "__main__":
    print(json.dumps(probe()))
