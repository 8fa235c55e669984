"""The traps learners fall into, found across the objects of one variant.

Each lint is a pure function ``(objects) -> findings`` listed in ``LINTS``; every finding
names the file, the object and the field and says how to fix it. Schemas catch typos
(:mod:`labkit.validate`); these catch YAML that is valid but does not do what the lesson wants.
"""

from __future__ import annotations

import difflib
import re
from typing import Callable, Iterator, Sequence

from .autoscalers.hpa_spec import hpa_spec_from_manifest
from .autoscalers.keda_scaledjob import scaled_job_from_manifest
from .autoscalers.keda_spec import (DEFAULT_MAX_REPLICA_COUNT, replica_bounds_problem,
                                    scaled_object_from_manifest)
from .autoscalers.knative_annotations import ANNOTATIONS, KNOWN_KEYS, PREFIX, shadowed
from .autoscalers.knative_settings import (CONFIG_NAME, CONFIG_NAMESPACE, autoscaler_config,
                                           is_autoscaler_config, kpa_settings)
from .errors import ManifestError
from .manifests import ManifestObject, display_path
from .findings import Finding

Lint = Callable[[Sequence[ManifestObject]], Iterator[Finding]]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")
# Images built on the learner's machine and copied into kind with `kind load docker-image`.
LOCAL_IMAGE_PREFIXES = ("labkit/", "kind.local/", "dev.local/", "ko.local/")
KNATIVE_PREFIX = PREFIX
KNATIVE_CLASSES = ("kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$")
# KEDA trigger metadata: scaling thresholds must be > 0, activation thresholds >= 0.
KEDA_THRESHOLDS = ("targetValue", "threshold", "value", "listLength", "lagThreshold", "queueLength")


def _f(sev: str, obj: ManifestObject, field: str, msg: str) -> Finding:
    return Finding.at(sev, obj, field, msg)


def _spec(obj: ManifestObject) -> dict:
    s = obj.doc.get("spec")
    return s if isinstance(s, dict) else {}


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def pod_containers(obj: ManifestObject) -> list[tuple[str, dict]]:
    """``(field path, container)`` for every container an object runs, whatever its kind."""
    spec = _spec(obj)
    if obj.kind in WORKLOAD_KINDS or obj.kind == "Job" or (obj.kind == "Service" and "knative" in obj.api_version):
        base, pod = "spec.template.spec.containers", (spec.get("template") or {}).get("spec") or {}
        groups = [(base, pod.get("containers"))]
    elif obj.kind == "Pod":
        groups = [("spec.containers", spec.get("containers"))]
    elif obj.kind == "InferenceService":
        groups = [(f"spec.{c}.containers", (spec.get(c) or {}).get("containers"))
                  for c in ("predictor", "transformer", "explainer")]
    else:
        return []
    return [(f"{base}[{i}]", c) for base, cs in groups if isinstance(cs, list)
            for i, c in enumerate(cs) if isinstance(c, dict)]


def _hpa_utilization_resources(obj: ManifestObject) -> list[tuple[str, str]]:
    """``(resource, field)`` pairs an HPA or ScaledObject measures as utilization of the request."""
    spec = _spec(obj)
    if obj.kind == "HorizontalPodAutoscaler":
        if obj.api_version == "autoscaling/v1":  # v1 always scales on CPU (80 % if unset)
            return [("cpu", "spec.targetCPUUtilizationPercentage")]
        metrics = spec.get("metrics") or []
        if not metrics:  # v2 without metrics defaults to CPU 80 % [K-DEF2]
            return [("cpu", "spec.metrics")]
        out = []
        for i, m in enumerate(metrics):
            src = (m or {}).get("resource") or (m or {}).get("containerResource") or {}
            if (m or {}).get("type") in ("Resource", "ContainerResource") \
                    and (src.get("target") or {}).get("type") == "Utilization":
                out.append((str(src.get("name")), f"spec.metrics[{i}]"))
        return out
    if obj.kind == "ScaledObject":
        return [(str(t.get("type")), f"spec.triggers[{i}]") for i, t in enumerate(spec.get("triggers") or [])
                if isinstance(t, dict) and t.get("type") in ("cpu", "memory")
                and t.get("metricType") == "Utilization"]
    return []


def _target_ref(obj: ManifestObject) -> tuple[str, str] | None:
    ref = _spec(obj).get("scaleTargetRef")
    if obj.kind not in ("HorizontalPodAutoscaler", "ScaledObject") or not isinstance(ref, dict):
        return None
    return str(ref.get("kind") or "Deployment"), str(ref.get("name"))


def _autoscalers(objs: Sequence[ManifestObject]) -> list[ManifestObject]:
    return [o for o in objs if _target_ref(o) is not None]


def _find(objs: Sequence[ManifestObject], kind: str, name: str) -> ManifestObject | None:
    return next((o for o in objs if o.kind == kind and o.name == name), None)


# -- the lints -------------------------------------------------------------------------------------
def lint_missing_request(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """Utilization of cpu/memory needs a request on every container of the target (the <unknown> trap).

    A limit alone counts, because Kubernetes then defaults the request to the limit. [K-RC]
    """
    for scaler in _autoscalers(objs):
        kind, name = _target_ref(scaler)  # type: ignore[misc]
        target = _find(objs, kind, name)
        if target is None:
            continue
        for resource, metric_field in _hpa_utilization_resources(scaler):
            for where, c in pod_containers(target):
                res = c.get("resources") or {}
                if resource in (res.get("requests") or {}) or resource in (res.get("limits") or {}):
                    continue
                example = "200m" if resource == "cpu" else "256Mi"
                yield _f("error", target, f"{where}.resources.requests.{resource}",
                         f"{scaler.ref} ({display_path(scaler.path)}, {metric_field}) scales on {resource} "
                         f"utilization, a percentage of the container's {resource} request, but container "
                         f"{c.get('name')!r} sets none: `kubectl get hpa` shows <unknown> and it never "
                         f"scales. Add resources.requests.{resource} (e.g. {example}) to the container")


def lint_min_above_max(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """Lower bound above the upper bound, with each API's defaults (spec §1, §2.2, §3.1, §4.2)."""
    for o in objs:
        spec = _spec(o)
        pairs: list[tuple[str, object, str, object]] = []
        if o.kind == "HorizontalPodAutoscaler":
            pairs.append(("spec.minReplicas", spec.get("minReplicas", 1), "maxReplicas", spec.get("maxReplicas")))
        elif o.kind == "ScaledObject":
            # KEDA's webhook rule, shared with the twin (labkit/autoscalers/keda_spec.py).
            lo, hi, idle = (spec.get(k) for k in ("minReplicaCount", "maxReplicaCount",
                                                   "idleReplicaCount"))
            hi = DEFAULT_MAX_REPLICA_COUNT if hi is None else hi
            if all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                   for v in (lo, hi, idle)):
                problem = replica_bounds_problem(lo, hi, idle)
                if problem is not None:
                    yield _f("error", o, *problem)
        elif o.kind == "InferenceService":
            for comp in ("predictor", "transformer", "explainer"):
                c = spec.get(comp) or {}
                if c.get("maxReplicas"):  # 0 or unset means "no maximum"
                    pairs.append((f"spec.{comp}.minReplicas", c.get("minReplicas", 1), "maxReplicas",
                                  c.get("maxReplicas")))
        for field, lo, hi_name, hi in pairs:
            lo_n, hi_n = _number(lo), _number(hi)
            if lo_n is not None and hi_n is not None and lo_n > hi_n:
                yield _f("error", o, field, f"the minimum ({lo}) is above {hi_name} ({hi}), so the "
                         f"autoscaler can never satisfy both; lower the minimum or raise {hi_name}")


def lint_missing_target(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """A scaleTargetRef must name an object validated with it (kind and name)."""
    for scaler in _autoscalers(objs):
        kind, name = _target_ref(scaler)  # type: ignore[misc]
        if _find(objs, kind, name) is None:
            have = ", ".join(o.ref for o in objs if o.kind in WORKLOAD_KINDS) or "no workloads"
            yield _f("error", scaler, "spec.scaleTargetRef", f"points at {kind}/{name}, which is not "
                     f"among the objects checked with it ({have}); fix kind/name, or validate the "
                     "whole variant directory so its target is included")


def lint_two_autoscalers(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """Two autoscalers on one target fight: each overwrites the other's replica count."""
    seen: dict[tuple[str, str], ManifestObject] = {}
    for scaler in _autoscalers(objs):
        key = _target_ref(scaler)
        if key in seen:
            yield _f("error", scaler, "spec.scaleTargetRef", f"{key[0]}/{key[1]} is already scaled by "
                     f"{seen[key].where}; two autoscalers on one target overwrite each other's replica "
                     "count. Delete one of them (kubectl delete hpa ... before applying KEDA)")
        seen.setdefault(key, scaler)  # type: ignore[arg-type]


def lint_kserve_min_replicas(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """KServe defaults minReplicas to 1, which overrides scale to zero (spec §3.2)."""
    for o in objs:
        pred = _spec(o).get("predictor") if o.kind == "InferenceService" else None
        if isinstance(pred, dict) and "minReplicas" not in pred:
            yield _f("warning", o, "spec.predictor.minReplicas", "not set, so KServe uses 1 and the "
                     "predictor never scales to zero (a min-scale annotation does not change that). "
                     "Add minReplicas: 0 if this lesson expects scale to zero")


def _image_tag(image: str) -> str | None:
    """The tag, ``"@digest"`` for a digest, or None when the image has no tag (means :latest)."""
    if "@" in image:
        return "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def lint_images(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """Pin image tags; never pull a locally loaded image (it is in no registry)."""
    for o in objs:
        for where, c in pod_containers(o):
            image, policy = str(c.get("image", "")), c.get("imagePullPolicy")
            tag = _image_tag(image)
            if tag in (None, "latest"):
                yield _f("error", o, f"{where}.image", f"{image!r} uses {':latest' if tag else 'no tag, which means :latest'}: "
                         "the image can change under you, and without an imagePullPolicy the kubelet pulls it "
                         "on every start. "
                         "Pin a version, e.g. labkit/app:0.1.0")
            if not image.startswith(LOCAL_IMAGE_PREFIXES):
                continue
            effective = policy or ("Always" if tag in (None, "latest") else "IfNotPresent")
            if effective == "Always":
                why = "is Always" if policy else "is unset, and with a :latest (or no) tag it defaults to Always"
                yield _f("error", o, f"{where}.imagePullPolicy", f"{why}: the kubelet then pulls "
                         f"{image!r} from a registry, but it was loaded into the kind node with `kind load "
                         "docker-image` and exists in no registry, so the pod ends in ErrImagePull. "
                         "Set imagePullPolicy: IfNotPresent")


def lint_hpa_min_zero(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """HPA minReplicas 0 needs an Object or External metric (spec §1.11) [K-VAL]."""
    for o in objs:
        spec = _spec(o)
        if o.kind != "HorizontalPodAutoscaler" or spec.get("minReplicas") != 0:
            continue
        types = {(m or {}).get("type") for m in spec.get("metrics") or []}
        if not types & {"Object", "External"}:
            yield _f("error", o, "spec.minReplicas", "0 is accepted only with an Object or External "
                     "metric: CPU and memory are measured on running pods, so at zero there is nothing "
                     "to measure and nothing would scale back up (the API server rejects it). Use "
                     "minReplicas: 1, or Knative/KEDA, which buffer requests and can wake from zero")
        else:
            yield _f("warning", o, "spec.minReplicas", "0 needs the HPAScaleToZero feature gate, "
                     "alpha and off in Kubernetes 1.36 (beta and on from 1.37), so the lab cluster "
                     "rejects it; use minReplicas: 1, or KEDA (minReplicaCount: 0) for scale to zero")


def _knative_annotation_sets(o: ManifestObject) -> list[tuple[str, dict]]:
    """Where Knative reads autoscaling annotations from this object (field path, annotations)."""
    if o.kind == "Service" and "knative" in o.api_version:
        tmpl = ((_spec(o).get("template") or {}).get("metadata") or {}).get("annotations")
        return [("spec.template.metadata.annotations", tmpl)] if isinstance(tmpl, dict) else []
    if o.kind == "InferenceService":  # KServe copies its annotations onto the Knative revision
        ann = (o.doc.get("metadata") or {}).get("annotations")
        return [("metadata.annotations", ann)] if isinstance(ann, dict) else []
    return []


def _check_knative_value(kind: str, value: str) -> str | None:
    """Why ``value`` is wrong for an annotation of this kind (the table's ``kind``), or None."""
    n = _number(value)
    if kind == "class" and value not in KNATIVE_CLASSES:
        return (f"{value!r}: Knative rejects unknown classes ending in .knative.dev and accepts "
                "any other as a custom class that no autoscaler in the lab handles, so the "
                f"revision never scales; use one of {', '.join(KNATIVE_CLASSES)} (the full name)")
    if kind == "metric" and value not in ("concurrency", "rps", "cpu", "memory"):
        return "must be concurrency or rps (KPA), or cpu/memory with the hpa class"
    if kind == "number" and n is None:
        return f"must be a number in quotes, e.g. \"10\", got {value!r}"
    if kind == "int" and (n is None or n < 0 or n != int(n)):
        return f"must be a whole number >= 0 in quotes, e.g. \"1\", got {value!r}"
    if kind == "duration" and not _DURATION.match(value):
        return f"must be a duration such as \"30s\" or \"5m\", got {value!r}"
    return None


def _container_concurrency(o: ManifestObject) -> int:
    """``containerConcurrency`` of a Knative Service's revision template (0 = unlimited)."""
    if o.kind != "Service":
        return 0
    n = _number(((_spec(o).get("template") or {}).get("spec") or {}).get("containerConcurrency"))
    return int(n) if n is not None and n == int(n) and n >= 0 else 0


def _knative_config(objs: Sequence[ManifestObject]) -> dict[str, str]:
    """``data`` of the variant's ``config-autoscaler`` ConfigMap, read as the twin reads it."""
    return autoscaler_config(o.doc for o in objs)


def lint_knative_config(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """A ``config-autoscaler`` ConfigMap: in knative-serving, with values Knative accepts."""
    for o in objs:
        if o.kind != "ConfigMap" or o.name != CONFIG_NAME:
            continue
        if not is_autoscaler_config(o.doc):
            yield _f("warning", o, "metadata.namespace", f"Knative reads {CONFIG_NAME} only in "
                     f"namespace {CONFIG_NAMESPACE}; this one is ignored (set "
                     f"metadata.namespace: {CONFIG_NAMESPACE})")
            continue
        try:   # Knative's config webhook refuses a ConfigMap it cannot load
            kpa_settings({}, config=_knative_config([o]))
        except ManifestError as e:
            yield _f("error", o, f"data[{e.field.removeprefix('config-autoscaler ')}]"
                     if e.field else "data", str(e))


def lint_knative_annotations(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """Knative autoscaling annotations: right place, known names, sane values (spec §2.2)."""
    for o in objs:
        own = (o.doc.get("metadata") or {}).get("annotations") or {}
        if o.kind == "Service" and "knative" in o.api_version:
            for key in (k for k in own if str(k).startswith(KNATIVE_PREFIX)):
                yield _f("error", o, f"metadata.annotations[{key}]", "Knative reads autoscaling "
                         "annotations from the revision template and rejects them here; move them "
                         "under spec.template.metadata.annotations")
        for field, ann in _knative_annotation_sets(o):
            bad = False
            for key, value in ann.items():
                if not str(key).startswith(KNATIVE_PREFIX):
                    continue
                where = f"{field}[{key}]"
                known = KNOWN_KEYS.get(str(key))
                if known is None:
                    short = str(key)[len(KNATIVE_PREFIX):]
                    names = [k[len(KNATIVE_PREFIX):] for k in KNOWN_KEYS]
                    close = difflib.get_close_matches(short, names, n=1, cutoff=0.6)
                    hint = f"did you mean {KNATIVE_PREFIX}{close[0]}? " if close else ""
                    yield _f("warning", o, where, f"not an autoscaling annotation Knative 1.23 "
                             f"reads, so it has no effect (Knative ignores unknown keys). {hint}"
                             f"Known: {', '.join(ANNOTATIONS)} (and their camelCase aliases)")
                    continue
                problem = _check_knative_value(known.kind, str(value))
                if problem:
                    bad = True
                    yield _f("error", o, where, problem)
            for ignored, used in shadowed(ann):
                yield _f("warning", o, f"{field}[{ignored}]", f"set twice: Knative reads {used} "
                         f"and ignores {ignored}; keep one spelling")
            if bad:
                continue
            # Everything else Knative's webhook checks, with the twin's own resolver.
            try:
                kpa_settings({str(k): str(v) for k, v in ann.items()},
                             container_concurrency=_container_concurrency(o),
                             config=_knative_config(objs))
            except ManifestError as e:
                if str(e.field or "").startswith(CONFIG_NAME):
                    continue   # the ConfigMap's own finding (lint_knative_config)
                yield _f("error", o, f"{field}[{e.field}]" if e.field else field, str(e))
        if o.kind == "InferenceService":
            for comp in ("predictor", "transformer", "explainer"):
                t = (_spec(o).get(comp) or {}).get("scaleTarget")
                if t is not None and (_number(t) or 0) <= 0:
                    yield _f("error", o, f"spec.{comp}.scaleTarget", f"must be above 0, got {t!r}: "
                             "it becomes Knative's per-pod target (e.g. 10 requests in flight)")


def lint_keda_thresholds(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """KEDA thresholds: targets > 0 (the HPA divides by them), activation thresholds >= 0."""
    for o in objs:
        if o.kind != "ScaledObject":
            continue
        for i, t in enumerate(_spec(o).get("triggers") or []):
            meta = (t or {}).get("metadata") or {}
            for key, value in meta.items():
                is_target, is_activation = key in KEDA_THRESHOLDS, str(key).startswith("activation")
                if not (is_target or is_activation):
                    continue
                n = _number(value)
                where = f"spec.triggers[{i}].metadata.{key}"
                if n is None:
                    yield _f("error", o, where, f"must be a number in quotes, e.g. \"5\", got {value!r}")
                elif is_target and n <= 0:
                    yield _f("error", o, where, f"must be above 0, got {value!r}: the HPA computes "
                             "replicas as metric / target. Use the value one pod can handle, e.g. \"5\"")
                elif is_activation and n < 0:
                    yield _f("error", o, where, f"must be 0 or more, got {value!r}: KEDA wakes the "
                             "target when the metric is above it (\"0\" = any traffic)")


def lint_kind_ports(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """kind port mappings should listen on 127.0.0.1 only (kind's default is every interface)."""
    for o in objs:
        if o.kind != "Cluster" or not o.api_version.startswith("kind.x-k8s.io/"):
            continue
        for i, node in enumerate(o.doc.get("nodes") or []):
            for j, m in enumerate((node or {}).get("extraPortMappings") or []):
                if str((m or {}).get("listenAddress", "0.0.0.0")) not in ("127.0.0.1", "::1"):
                    yield _f("warning", o, f"nodes[{i}].extraPortMappings[{j}].listenAddress",
                             "not bound to 127.0.0.1, so the lab's NodePort is reachable from the "
                             'network; set listenAddress: "127.0.0.1"')


#: kind -> the parser the twin uses for it; each raises ManifestError for what the API server
#: (or KEDA's admission webhook) would refuse. HPA: kubernetes/kubernetes v1.36.4
#: pkg/apis/autoscaling/validation/validation.go (validateMetricTarget, validateBehavior,
#: validateScalingRules, validateScalingPolicy) as restated in labkit/autoscalers/hpa_spec.py.
API_PARSERS: dict[str, Callable[[dict], object]] = {
    "HorizontalPodAutoscaler": hpa_spec_from_manifest,
    "ScaledObject": scaled_object_from_manifest,
    "ScaledJob": scaled_job_from_manifest,
}


def lint_api_rules(objs: Sequence[ManifestObject]) -> Iterator[Finding]:
    """What ``labkit run`` refuses, validate reports: the same parser the twin uses, so the two
    cannot disagree (a 0 % target, a policy of value 0, a negative window...)."""
    for o in objs:
        parse = API_PARSERS.get(o.kind)
        if parse is None:
            continue
        try:
            parse(o.doc)
        except ManifestError as e:
            message = str(e)
            for prefix in (e.path, e.obj, e.field):
                if prefix and message.startswith(f"{prefix}: "):
                    message = message[len(prefix) + 2:]
            yield _f("error", o, e.field or "", f"{message} (the API server would refuse it)")


LINTS: tuple[Lint, ...] = (
    lint_missing_request, lint_min_above_max, lint_missing_target, lint_two_autoscalers,
    lint_kserve_min_replicas, lint_images, lint_hpa_min_zero, lint_knative_config,
    lint_knative_annotations, lint_keda_thresholds, lint_kind_ports, lint_api_rules,
)


#: What a lint raises when a field has the wrong type (a list where a mapping belongs, ...).
_MALFORMED = (TypeError, AttributeError, ValueError, KeyError, IndexError)


def lint_objects(objs: Sequence[ManifestObject], *, schema_errors: bool = False) -> list[Finding]:
    """All lint findings for objects checked together (one variant).

    Lints read YAML the schemas passed. When the schema step already reported errors
    (``schema_errors``), a lint that trips over a wrongly typed field is skipped: the schema's
    finding says what is wrong, and a traceback would hide it. Without schema errors such a
    failure is a bug in the lint and is raised.
    """
    out: list[Finding] = []
    for lint in LINTS:
        try:
            out += list(lint(objs))
        except _MALFORMED:
            if not schema_errors:
                raise
    return out
