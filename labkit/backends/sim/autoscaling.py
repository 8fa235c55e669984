"""Attach the autoscalers a variant declares to a World: HPA, KEDA ScaledObject, Knative."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from ...errors import ManifestError
from .hpa_loop import HPALoop

if TYPE_CHECKING:
    from .world import World


def attach_all(world: "World") -> None:
    """Create one loop per autoscaler object in the variant (HPAs first, as listed)."""
    for obj in world.variant.of_kind("HorizontalPodAutoscaler"):
        spec = hpa_spec_from_manifest(obj.doc)
        attach_hpa(world, spec, where=f"{obj.path}: HorizontalPodAutoscaler/{obj.name}")


def attach_hpa(world: "World", spec, *, where: str = "", start: float | None = None) -> HPALoop:
    ref = spec.scale_target_ref
    target = world.workloads.get(ref.name)
    if target is None or ref.kind != "Deployment":
        raise ManifestError(f"scaleTargetRef {ref.kind}/{ref.name} is not a Deployment in this "
                            "variant; point it at the app's Deployment", obj=where,
                            field="spec.scaleTargetRef")
    loop = HPALoop(world.clock, spec, target, world.metrics, world.recorder, world.hpa_config,
                   start=start)
    world.autoscalers.append(loop)
    return loop
