"""KEDA's ScaledObject reconciler: what happens when a ScaledObject is created, edited or deleted.

Pure functions over the ScaledObject, its status and whether its scale loop and HPA exist.
Source: kedacore/keda v2.20.2 (the pinned version, ``labkit/backends/kind/versions.py``):

- ``controllers/keda/scaledobject_controller.go``: ``Reconcile`` (emits ``ScaledObjectReady``,
  "ScaledObject is ready for scaling", when the Ready condition was not True before a
  successful reconcile), ``reconcileScaledObject`` (pause switch: ``paused``/
  ``paused-replicas`` -> ``handlePause``; ``paused-scale-in``/``-out`` -> Paused=True with the
  HPA and the loop kept; a Paused=True status without those annotations -> Paused=False
  ``ScaledObjectUnpaused`` "pause annotation removed for ScaledObject"; then the HPA is created
  or updated in place, and the scale loop is (re)started when the HPA is new or the spec's
  generation changed), ``handlePause`` (Paused=True, ``ScaledObjectPaused`` "ScaledObject is
  paused" on the transition, stop the scale loop, delete the HPA, scale the target to
  ``paused-replicas`` when set), ``checkTargetResourceIsScalable`` (``status.
  originalReplicaCount`` = the target's replicas at the first reconcile, never changed after);
- ``controllers/keda/scaledobject_finalizer.go``: ``finalizeScaledObject`` (stop the loop; with
  ``advanced.restoreToOriginalReplicaCount`` scale the target back to
  ``originalReplicaCount``; Warning ``ScaledObjectDeleted`` "ScaledObject was deleted"); the
  HPA goes with the ScaledObject (it is owned by it);
- ``pkg/scaling/scale_handler.go``: ``HandleScalableObject`` (``KEDAScalersStarted`` "Started
  scalers watch" only when no loop ran for this object; a restarted loop polls at once, with
  its scalers cache cleared), ``DeleteScalableObject`` (``KEDAScalersStopped`` "Stopped
  scalers watch"); ``pkg/scaling/scalers_builder.go`` ``buildScalers`` (one
  ``KEDAScalersStarted`` "Scaler <type> is built" per trigger when the cache is rebuilt, at
  the new loop's first poll);
- ``pkg/common/message/message.go``, ``pkg/eventreason/eventreason.go``,
  ``apis/keda/v1alpha1/condition_types.go`` for the words.

Annotation-only edits do not change ``metadata.generation``: the running loop keeps its timer
and reads the new annotations at its next poll (``checkScalers`` re-reads the object).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .keda import KEDAState
from .keda_spec import ScaledObjectSpec
from .status import Condition, Event

READY_MESSAGE = "ScaledObject is ready for scaling"
READY_CONDITION_MESSAGE = "ScaledObject is defined correctly and is ready for scaling"
PAUSED_MESSAGE = "ScaledObject is paused"
UNPAUSED_MESSAGE = "pause annotation removed for ScaledObject"
STARTED_MESSAGE = "Started scalers watch"
STOPPED_MESSAGE = "Stopped scalers watch"
BUILT_MESSAGE = "Scaler {} is built"
DELETED_MESSAGE = "ScaledObject was deleted"
TARGET_NOT_FOUND_MESSAGE = "Target resource doesn't exist"
TARGET_ERROR_MESSAGE = "ScaledObject doesn't have correct scaleTargetRef specification"


@dataclass(frozen=True)
class ReconcileOutcome:
    """What one reconcile decided.

    ``loop``: the scale loop runs after this reconcile; ``restart_loop``: (re)start it now,
    with an immediate poll; ``hpa``: the generated HPA exists after it (created or updated in
    place, so an existing one keeps its recommendations); ``scale_to``: replicas written to
    the target by the reconciler itself (``paused-replicas``), else None.
    """

    state: KEDAState
    events: tuple[Event, ...]
    loop: bool
    restart_loop: bool
    hpa: bool
    scale_to: int | None = None


def _set(conds: dict, ctype: str, status: str, reason: str, message: str, now: float) -> None:
    old = conds.get(ctype)
    since = old.last_transition_time if old is not None and old.status == status else now
    conds[ctype] = Condition(ctype, status, reason, message, since)


def _is_true(state: KEDAState, ctype: str) -> bool:
    c = state.conditions.get(ctype)
    return c is not None and c.status == "True"


def reconcile_scaled_object(so: ScaledObjectSpec, state: KEDAState, *, loop_running: bool,
                            hpa_exists: bool, spec_changed: bool, current_replicas: int,
                            now: float) -> ReconcileOutcome:
    """One ``Reconcile`` of ``so`` (just created, or edited: ``spec_changed`` = new generation)."""
    conds = dict(state.conditions)
    events: list[Event] = []
    paused_in_status = _is_true(state, "Paused")
    if so.paused:                                          # handlePause
        if not paused_in_status:
            _set(conds, "Paused", "True", "ScaledObjectPaused", PAUSED_MESSAGE, now)
            events.append(Event("ScaledObjectPaused", PAUSED_MESSAGE))
        if loop_running:
            events.append(Event("KEDAScalersStopped", STOPPED_MESSAGE))
        want = so.paused_replicas
        scale_to = want if want is not None and want != current_replicas else None
        ready = _ready(conds, events, PAUSED_MESSAGE, now)
        return ReconcileOutcome(replace(state, conditions=ready), tuple(events), loop=False,
                                restart_loop=False, hpa=False, scale_to=scale_to)
    if so.paused_scale_in or so.paused_scale_out:
        _set(conds, "Paused", "True", "ScaledObjectPaused", PAUSED_MESSAGE, now)
        if not paused_in_status:
            events.append(Event("ScaledObjectPaused", PAUSED_MESSAGE))
    elif paused_in_status:
        _set(conds, "Paused", "False", "ScaledObjectUnpaused", UNPAUSED_MESSAGE, now)
        events.append(Event("ScaledObjectUnpaused", UNPAUSED_MESSAGE))
    restart = not hpa_exists or spec_changed or not loop_running
    if restart and not loop_running:
        events.append(Event("KEDAScalersStarted", STARTED_MESSAGE))
    ready = _ready(conds, events, READY_CONDITION_MESSAGE, now)
    if restart:
        events.extend(Event("KEDAScalersStarted", BUILT_MESSAGE.format(t.type))
                      for t in so.triggers)
    return ReconcileOutcome(replace(state, conditions=ready), tuple(events), loop=True,
                            restart_loop=restart, hpa=True)


def _ready(conds: dict, events: list[Event], message: str, now: float) -> dict:
    """``ScaledObjectReady`` when Ready was False or Unknown, then Ready=True (``Reconcile``)."""
    old = conds.get("Ready")
    if old is None or old.status != "True":
        events.append(Event("ScaledObjectReady", READY_MESSAGE))
    _set(conds, "Ready", "True", "ScaledObjectReady", message, now)
    return conds


def reconcile_missing_target(so: ScaledObjectSpec, state: KEDAState, *, now: float
                             ) -> ReconcileOutcome:
    """A new ScaledObject whose target does not exist: KEDA accepts the object and reports
    (``checkTargetResourceIsScalable``, then ``Reconcile``'s error path): two Warning
    ``ScaledObjectCheckFailed`` events, Ready=False, Active=Unknown; no HPA, no scale loop.
    The error is the API server's for a missing Deployment (``deployments.apps "x" not
    found``). KEDA requeues and retries; the twin's variant cannot gain the target later."""
    ref = so.scale_target_ref
    group = ref.api_version.split("/")[0] if "/" in ref.api_version else ""
    resource = ref.kind.lower() + "s" + (f".{group}" if group else "")
    full = f'{TARGET_ERROR_MESSAGE}: {resource} "{ref.name}" not found'
    conds = dict(state.conditions)
    _set(conds, "Ready", "False", "ScaledObjectCheckFailed", full, now)
    _set(conds, "Active", "Unknown", "UnknownState", "ScaledObject check failed", now)
    events = (Event("ScaledObjectCheckFailed", TARGET_NOT_FOUND_MESSAGE, "Warning"),
              Event("ScaledObjectCheckFailed", full, "Warning"))
    return ReconcileOutcome(replace(state, conditions=conds), events, loop=False,
                            restart_loop=False, hpa=False)


@dataclass(frozen=True)
class FinalizeOutcome:
    """``kubectl delete scaledobject``: the events and the replicas restored (None: left alone)."""

    events: tuple[Event, ...]
    scale_to: int | None


def finalize_scaled_object(so: ScaledObjectSpec, *, loop_running: bool,
                           original_replicas: int | None, current_replicas: int
                           ) -> FinalizeOutcome:
    """``finalizeScaledObject``: stop the loop, restore the replicas if asked, say it is gone.

    Without ``restoreToOriginalReplicaCount`` the target keeps whatever it has (0 included).
    """
    events = [Event("KEDAScalersStopped", STOPPED_MESSAGE)] if loop_running else []
    scale_to = None
    if so.restore_to_original_replica_count and original_replicas is not None \
            and original_replicas != current_replicas:
        scale_to = original_replicas
    events.append(Event("ScaledObjectDeleted", DELETED_MESSAGE, "Warning"))
    return FinalizeOutcome(tuple(events), scale_to)
