"""Attach the autoscalers a variant declares to a World: HPA, KEDA ScaledObject and ScaledJob,
Knative."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...autoscalers.hpa_spec import hpa_spec_from_manifest
from .hpa_loop import attach_hpa

if TYPE_CHECKING:
    from .world import World


def attach_all(world: "World") -> None:
    """Create one loop per autoscaler object in the variant, in the order they are listed."""
    from ...autoscalers.knative_settings import autoscaler_config
    from ...autoscalers.kserve import inference_service_resources
    from .keda_loop import KEDALoop
    from .knative_loop import KNATIVE_API, knative_autoscaler
    from .scaledjob_loop import ScaledJobLoop

    # Knative's cluster-level settings, when the variant carries a config-autoscaler ConfigMap.
    config = autoscaler_config(o.doc for o in world.variant.objects)
    for obj in world.variant.of_kind("InferenceService"):
        where = f"{obj.path}: InferenceService/{obj.name}"
        for doc in inference_service_resources(obj.doc, knative_config=config):
            if doc["kind"] == "Service":
                world.autoscalers.append(knative_autoscaler(world, doc, where=where,
                                                            config=config))
            elif doc["kind"] == "Deployment":
                world.add_deployment(doc, where=where)
            elif doc["kind"] == "HorizontalPodAutoscaler":
                attach_hpa(world, hpa_spec_from_manifest(doc), where=where)
            elif doc["kind"] == "ScaledObject":
                world.autoscalers.append(KEDALoop(world, doc, where=where))
    for obj in world.variant.of_kind("Service", api_version=KNATIVE_API):
        world.autoscalers.append(knative_autoscaler(world, obj.doc, where=f"{obj.path}: "
                                                    f"Service/{obj.name}", config=config))

    for obj in world.variant.of_kind("HorizontalPodAutoscaler"):
        spec = hpa_spec_from_manifest(obj.doc, path=str(obj.path))
        attach_hpa(world, spec, where=f"{obj.path}: HorizontalPodAutoscaler/{obj.name}")
    for obj in world.variant.of_kind("ScaledObject"):
        world.autoscalers.append(KEDALoop(world, obj.doc, where=f"{obj.path}: ScaledObject/"
                                          f"{obj.name}"))
    for obj in world.variant.of_kind("ScaledJob"):
        world.autoscalers.append(ScaledJobLoop(world, obj.doc, where=f"{obj.path}: ScaledJob/"
                                               f"{obj.name}"))
