"""A Knative Service edited while it runs: a new revision, and the route moving to it.

knative/serving knative-v1.23.0: a change of ``spec.template`` makes the Configuration create
the next Revision (``pkg/reconciler/configuration/configuration.go``: event ``Created``,
"Created Revision \"<name>-0000N\""); the Route sends all traffic to the latest *ready*
revision, so the old one keeps serving until the new one's pods are Ready; the old revision is
then unreachable, and its PodAutoscaler ignores ``min-scale`` and scales it to zero
(``pkg/apis/autoscaling/v1alpha1/pa_lifecycle.go`` ``ScaleBounds``; spec §2.6).

Simplifies: the new revision is ready when its Deployment has as many Ready pods as its initial
scale (at least one; a revision that starts at zero is ready at once, behind the activator);
no revision garbage collection (old revisions stay, at zero for the KPA, at the HPA's minimum
for the HPA class, as they do until Knative's revision GC removes them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .clock import CONTROLLER
from .knative_loop import knative_autoscaler

if TYPE_CHECKING:
    from .world import World


def new_revision(world: "World", old: Any, doc: Mapping, *, where: str,
                 config: Mapping[str, str] | None = None) -> Any:
    """Create revision N+1 of ``old``'s Service now; the route moves to it once it is ready."""
    new = knative_autoscaler(world, doc, where=where, config=config,
                             generation=old.generation + 1)
    world.recorder.add_event(world.clock.now, f"Configuration/{old.service_name}", "Created",
                             f'Created Revision "{new.revision}"')
    want = new.settings.initial_target

    def check() -> None:
        if new.target.ready_replicas < want:
            return
        handle.cancel()
        _route_to(world, old, new)

    handle = world.clock.every(1.0, check, CONTROLLER, first=world.clock.now)
    return new


def _route_to(world: "World", old: Any, new: Any) -> None:
    """All traffic to ``new``: the load, the activator's buffer, the Timeline's autoscaler."""
    world.entry = new.target
    world.buffer = new.buffer
    if world.service is not None:
        held = world.service.buffer
        world.service.retarget(new.target, new.buffer)
        if held is not None and new.buffer is not None and held is not new.buffer:
            new.buffer.cohorts.extend(held.cohorts)   # requests the activator holds follow
            held.cohorts.clear()
    old.reachable = False
    i = next((k for k, a in enumerate(world.autoscalers) if a is old), None)
    if i is not None:
        world.autoscalers[i] = new
    else:
        world.autoscalers.append(new)
