"""The interface both backends implement, and ``pick()`` which chooses one.

Notebooks talk to a Backend only, so switching between the real cluster and the twin is one
parameter (``backend="auto" | "kind" | "sim"``)::

    b = labkit.backends.pick("auto")        # prints which backend it chose, and why
    b.deploy("hpa-v1")                       # kubectl apply -k manifests/hpa-v1
    b.load(labkit.load.profile("spike"))     # locust (kind) or simulated users (sim)
    # or: b.load(...) first, then b.deploy("hpa-v1", under_load=True): traffic already flows
    # while the pods start (Timeline.rollout shows the refused requests)
    tl = b.run(300)                          # advance 300 s; returns the Timeline so far
    b.reset()                                # remove the variant, clear the Timeline
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from ..errors import LabkitError
from ..load import LoadProfile
from ..manifests import Variant
from ..timeline import Timeline

#: Called from the run loop after each sample; the live figure uses it to refresh.
SampleCallback = Callable[[Timeline], None]


@runtime_checkable
class Backend(Protocol):
    """What every backend offers; see the module docstring for the flow."""

    name: str

    def deploy(self, variant: str | Variant, *, under_load: bool = False) -> Variant:
        """Apply a variant's manifests (removing the previous variant first) and wait for the
        rollout; the Timeline's t = 0 is after it (what happened during it is in
        ``Timeline.rollout`` and in events with negative times).

        ``under_load=True``: the profile given to :meth:`load` before is already running when
        the objects are applied, so requests arrive while the pods start (refused by a Service
        with no ready pod, held by the KEDA gateway or Knative's activator once they are up).
        ``meta["load_start"]`` is then the Timeline time the profile started (negative). By
        default the profile starts at t = 0.
        """
        ...

    def load(self, profile: LoadProfile | None) -> None:
        """Set the load profile (None = no load): it starts with the next :meth:`run`, or, set
        before ``deploy(..., under_load=True)``, when the variant is applied."""
        ...

    def run(self, duration: float, *, speed: float | None = None,
            stop: threading.Event | None = None) -> Timeline:
        """Advance ``duration`` seconds and return the whole Timeline so far.

        ``speed`` paces the twin against the wall clock (1.0 = real time, None = as fast as
        possible); the kind backend always runs in real time. Setting ``stop`` ends the run
        early, keeping what was recorded.
        """
        ...

    def apply(self, manifest: str | Path | dict | list[dict]) -> list[str]:
        """``kubectl apply``: create or update objects at the current time, while load runs.

        ``manifest`` is YAML text, a file or directory path, one object or a list of objects
        (an edited HPA, a whole variant, a ConfigMap). The controllers react as upstream's do.
        Returns kubectl's lines, e.g. ``horizontalpodautoscaler.autoscaling/app configured``.
        """
        ...

    def delete(self, kind: str, name: str) -> list[str]:
        """``kubectl delete KIND NAME`` in the variant's namespace, at the current time.

        Returns kubectl's lines, e.g. ``scaledobject.keda.sh "app" deleted``.
        """
        ...

    def timeline(self) -> Timeline:
        """A snapshot of the Timeline recorded so far (safe from another thread)."""
        ...

    def reset(self) -> None:
        """Remove the deployed variant and clear the Timeline."""
        ...

    def close(self) -> None:
        """Stop everything this backend started (processes, port-forwards, threads)."""
        ...


_FACTORIES: dict[str, Callable[..., Backend]] = {}


def register(name: str, factory: Callable[..., Backend]) -> None:
    """Make a backend available to :func:`pick` under ``name``."""
    _FACTORIES[name] = factory


def pick(backend: str = "auto", *, quiet: bool = False, **options) -> Backend:
    """Return a backend by name; ``"auto"`` uses kind when a labkit cluster is running.

    ``auto`` never makes a cluster: it uses kind only when ``labkit up`` already made one,
    else the twin, and then says in one line how to get the real one. Prints one line saying
    which backend was chosen and why (unless ``quiet``).
    """
    _load_builtin()
    if backend == "auto":
        from ..doctor import HOW_TO_GET_THE_REAL_CLUSTER, labkit_cluster_running
        ok, why = labkit_cluster_running()
        backend = "kind" if ok else "sim"
        if not quiet:
            print(f"labkit: using the {'real kind cluster' if ok else 'embedded twin (sim)'}"
                  f" backend: {why}" + ("" if ok else f"; {HOW_TO_GET_THE_REAL_CLUSTER}"))
    elif not quiet:
        print(f"labkit: using the {backend} backend")
    try:
        factory = _FACTORIES[backend]
    except KeyError:
        raise LabkitError(f"unknown backend {backend!r}; choose auto, "
                          f"{', '.join(sorted(_FACTORIES))}") from None
    return factory(**options)


def _load_builtin() -> None:
    if "sim" not in _FACTORIES:
        from .sim.backend import SimBackend
        register("sim", SimBackend)
    if "kind" not in _FACTORIES:
        try:
            from .kind.backend import KindBackend
        except ImportError:  # the kind backend is optional until it lands
            return
        register("kind", KindBackend)
