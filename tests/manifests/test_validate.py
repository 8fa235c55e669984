"""`labkit validate`: the shipped manifests pass; each trap is caught with file, object and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import pytest
import yaml

from labkit.lint import LINTS
from labkit.manifests import load_variant
from labkit.validate import Finding, run_validate, validate_objects, validate_path

REPO = Path(__file__).resolve().parents[2]
APP = "Deployment/app-fastapi"


def test_shipped_manifests_have_no_error_and_no_warning():
    findings = validate_path(REPO / "manifests")
    assert [str(f) for f in findings] == []


@pytest.mark.parametrize("variant", ["hpa-v1", "hpa-v2", "knative", "kserve", "keda", "queue",
                                     "queue-jobs"])
def test_each_variant_is_clean(variant):
    assert validate_objects(load_variant(variant).objects) == []


def _write(tmp_path: Path, variants: tuple[str, ...], edit: Callable[[dict], None]) -> Path:
    """Write the variants' objects (merged) to tmp_path after ``edit({ref: doc})``, one file each."""
    docs: dict[str, dict] = {}
    files: dict[str, str] = {}
    for name in variants:
        for o in load_variant(name).objects:
            docs.setdefault(o.ref, copy.deepcopy(o.doc))
            files.setdefault(o.ref, o.path.name)
    edit(docs)
    by_file: dict[str, list[dict]] = {}
    for ref, doc in docs.items():
        by_file.setdefault(files.get(ref, "extra.yaml"), []).append(doc)
    for fname, ds in by_file.items():
        (tmp_path / fname).write_text(yaml.safe_dump_all(ds, sort_keys=False))
    return tmp_path


def _container(d: dict) -> dict:
    spec = d["spec"]
    if "predictor" in spec:
        return spec["predictor"]["containers"][0]
    return spec["template"]["spec"]["containers"][0]


def _set(ref: str, path: str, value) -> Callable[[dict], None]:
    """An edit that sets ``a.b.c`` in object ``ref`` (value None deletes the key)."""
    def edit(docs: dict) -> None:
        node = docs[ref]
        *parents, last = path.split(".")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return edit


def _do(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(docs: dict) -> None:
        for e in edits:
            e(docs)
    return edit


def _pod(ref: str, key: str, value) -> Callable[[dict], None]:
    def edit(docs: dict) -> None:
        c = _container(docs[ref])
        if value is None:
            c.pop(key, None)
        else:
            c[key] = value
    return edit


def _no_request(resource: str) -> Callable[[dict], None]:
    def edit(docs: dict) -> None:
        res = _container(docs[APP])["resources"]
        res["requests"].pop(resource)
        res["limits"].pop(resource)
    return edit


def _knative_ann(key: str, value: str | None, where: str = "template") -> Callable[[dict], None]:
    def edit(docs: dict) -> None:
        d = docs["Service/app-knative"]
        meta = d["spec"]["template"]["metadata"] if where == "template" else d["metadata"]
        ann = meta.setdefault("annotations", {})
        ann[f"autoscaling.knative.dev/{key}"] = value
    return edit


def _trigger(key: str, value) -> Callable[[dict], None]:
    return _set("ScaledObject/app-fastapi", f"spec.triggers.0.metadata.{key}", value)


ISVC, KSVC, SO = "InferenceService/custom-model", "Service/app-knative", "ScaledObject/app-fastapi"
HPA = "HorizontalPodAutoscaler/app-fastapi"

TRAPS = [
    # id, variants, edit, severity, file, object, field fragment, message fragment
    pytest.param(("hpa-v1",), _no_request("cpu"), "error", "deployment.yaml", APP,
                 "containers[0].resources.requests.cpu", "<unknown>", id="hpa-cpu-without-request"),
    pytest.param(("hpa-v2",), _no_request("memory"), "error", "deployment.yaml", APP,
                 "containers[0].resources.requests.memory", "<unknown>", id="hpa-memory-without-request"),
    pytest.param(("hpa-v1",), _set(HPA, "spec.minReplicas", 12), "error", "hpa.yaml", HPA,
                 "spec.minReplicas", "above maxReplicas", id="hpa-min-above-max"),
    pytest.param(("keda",), _set(SO, "spec.minReplicaCount", 11), "error", "scaledobject.yaml", SO,
                 "spec.minReplicaCount", "must be less than MaxReplicaCount", id="keda-min-above-max"),
    pytest.param(("kserve",), _set(ISVC, "spec.predictor.minReplicas", 12), "error",
                 "inferenceservice.yaml", ISVC, "spec.predictor.minReplicas", "above maxReplicas",
                 id="kserve-min-above-max"),
    pytest.param(("knative",), _knative_ann("min-scale", "12"), "error", "service.yaml", KSVC,
                 "autoscaling.knative.dev/min-scale", "above max-scale", id="knative-min-above-max"),
    pytest.param(("hpa-v1",), _set(HPA, "spec.scaleTargetRef.name", "app-fastpi"), "error", "hpa.yaml",
                 HPA, "spec.scaleTargetRef", "Deployment/app-fastpi", id="hpa-target-missing"),
    pytest.param(("keda",), _set(SO, "spec.scaleTargetRef.kind", "StatefulSet"), "error",
                 "scaledobject.yaml", SO, "spec.scaleTargetRef", "StatefulSet/app-fastapi",
                 id="keda-target-missing"),
    pytest.param(("hpa-v1", "keda"), lambda d: None, "error", "scaledobject.yaml", SO,
                 "spec.scaleTargetRef", "already scaled by", id="two-autoscalers-one-target"),
    pytest.param(("kserve",), _set(ISVC, "spec.predictor.minReplicas", None), "warning",
                 "inferenceservice.yaml", ISVC, "spec.predictor.minReplicas", "never scales to zero",
                 id="kserve-without-min-zero"),
    pytest.param(("hpa-v1",), _pod(APP, "imagePullPolicy", "Always"), "error", "deployment.yaml", APP,
                 "containers[0].imagePullPolicy", "ErrImagePull", id="pull-always-local-image"),
    pytest.param(("keda",), _do(_pod(APP, "image", "labkit/app:latest"), _pod(APP, "imagePullPolicy", None)),
                 "error", "deployment.yaml", APP, "containers[0].imagePullPolicy", "defaults to Always",
                 id="latest-without-policy-defaults-to-always"),
    pytest.param(("knative",), _pod(KSVC, "image", "labkit/app:latest"), "error", "service.yaml", KSVC,
                 "containers[0].image", ":latest", id="latest-tag"),
    pytest.param(("kserve",), _pod(ISVC, "image", "python"), "error", "inferenceservice.yaml", ISVC,
                 "containers[0].image", "no tag", id="untagged-image"),
    pytest.param(("hpa-v2",), _set(HPA, "spec.minReplicas", 0), "error", "hpa.yaml", HPA,
                 "spec.minReplicas", "Object or External", id="hpa-min-zero-without-external"),
    pytest.param(("knative",), _knative_ann("target", "0"), "error", "service.yaml", KSVC,
                 "autoscaling.knative.dev/target", ">= 0.01", id="knative-target-zero"),
    pytest.param(("kserve",), _set(ISVC, "spec.predictor.scaleTarget", -1), "error",
                 "inferenceservice.yaml", ISVC, "spec.predictor.scaleTarget", "above 0",
                 id="kserve-scale-target-negative"),
    pytest.param(("keda",), _trigger("targetValue", "0"), "error", "scaledobject.yaml", SO,
                 "metadata.targetValue", "above 0", id="keda-target-zero"),
    pytest.param(("keda",), _trigger("activationTargetValue", "-1"), "error", "scaledobject.yaml", SO,
                 "metadata.activationTargetValue", "0 or more", id="keda-activation-negative"),
    pytest.param(("keda",), _trigger("targetValue", 5), "error", "scaledobject.yaml", SO,
                 "metadata.targetValue", "quotes", id="keda-threshold-not-quoted"),
    pytest.param(("knative",), _knative_ann("min-scael", "0"), "warning", "service.yaml", KSVC,
                 "autoscaling.knative.dev/min-scael", "did you mean autoscaling.knative.dev/min-scale",
                 id="knative-annotation-typo"),
    pytest.param(("knative",), _knative_ann("class", "kpa"), "error", "service.yaml", KSVC,
                 "autoscaling.knative.dev/class", "kpa.autoscaling.knative.dev", id="knative-class-short"),
    pytest.param(("knative",), _knative_ann("max-scale", "10", where="service"), "error", "service.yaml",
                 KSVC, "metadata.annotations[autoscaling.knative.dev/max-scale]", "spec.template.metadata",
                 id="knative-annotation-on-service-metadata"),
    pytest.param(("hpa-v1",), _set(HPA, "spec.minReplica", 1), "error", "hpa.yaml", HPA,
                 "spec.minReplica", "Did you mean 'minReplicas'", id="strict-core-schema-typo"),
    pytest.param(("keda",), _set(SO, "spec.minReplicaCont", 0), "error", "scaledobject.yaml", SO,
                 "spec.minReplicaCont", "Did you mean 'minReplicaCount'", id="strict-crd-schema-typo"),
    pytest.param(("kserve",), _pod(ISVC, "imagePullPolicey", "IfNotPresent"), "error",
                 "inferenceservice.yaml", ISVC, "containers[0].imagePullPolicey", "imagePullPolicy",
                 id="strict-container-in-crd-typo"),
    pytest.param(("hpa-v1",), _set(APP, "kind", "Deploymnet"), "error", "deployment.yaml",
                 "Deploymnet/app-fastapi", "kind", "deployment", id="unknown-core-kind"),
    pytest.param(("keda",), _set(SO, "apiVersion", "keda.example.com/v1"), "error", "scaledobject.yaml",
                 SO, "apiVersion", "no schema", id="unknown-crd-group"),
    # What `labkit run` (the twin's parser) and the API server refuse, validate reports (D12).
    pytest.param(("hpa-v2",), _set(HPA, "spec.metrics.0.resource.target.averageUtilization", 0),
                 "error", "hpa.yaml", HPA, "averageUtilization", "greater than or equal to 1",
                 id="hpa-utilization-zero"),
    pytest.param(("hpa-v2",), _set(HPA, "spec.metrics.0.resource.target.averageUtilization", -10),
                 "error", "hpa.yaml", HPA, "averageUtilization", "API server would refuse",
                 id="hpa-utilization-negative"),
    pytest.param(("hpa-v2",), _set(HPA, "spec.behavior.scaleUp.policies.0.value", 0), "error",
                 "hpa.yaml", HPA, "scaleUp.policies[0].value", "greater than or equal to 1",
                 id="hpa-policy-value-zero"),
    pytest.param(("hpa-v2",), _set(HPA, "spec.behavior.scaleDown.policies.0.periodSeconds", 0),
                 "error", "hpa.yaml", HPA, "scaleDown.policies[0].periodSeconds",
                 "greater than or equal to 1", id="hpa-policy-period-zero"),
    pytest.param(("hpa-v2",), _set(HPA, "spec.behavior.scaleDown.stabilizationWindowSeconds", -5),
                 "error", "hpa.yaml", HPA, "stabilizationWindowSeconds", "greater than or equal to 0",
                 id="hpa-window-negative"),
]


@pytest.mark.parametrize("variants, edit, severity, fname, obj, field, words", TRAPS)
def test_trap_is_caught_with_file_object_and_field(tmp_path, variants, edit, severity, fname, obj,
                                                   field, words):
    findings = validate_path(_write(tmp_path, variants, edit))
    hits = [f for f in findings if f.obj == obj and field in f.field and words in f.message]
    assert hits, "\n".join(map(str, findings)) or "no findings"
    f = hits[0]
    assert f.severity == severity
    assert Path(f.path).name == fname and str(tmp_path.name) in f.path
    line = str(f)
    assert line.startswith(f.path) and obj in line and field in line and "\n" not in line


def test_every_lint_has_a_trap_row():
    # a lint without a row here would be untested; the kind-port lint is tested below, the
    # config-autoscaler lint in tests/sim/test_cluster_config_scenarios.py
    assert len(LINTS) == 12


def test_one_error_per_field(tmp_path):
    """The schema, a lint and the API-rule check each see min > max: one line, not three."""
    findings = validate_path(_write(tmp_path, ("hpa-v1",), _set(HPA, "spec.minReplicas", 12)))
    assert [f.field for f in findings].count("spec.minReplicas") == 1


def test_validate_and_run_agree_on_every_hpa_edit(tmp_path):
    """Whatever the twin's parser refuses in a variant, validate reports as an error."""
    from labkit.autoscalers.hpa_spec import hpa_spec_from_manifest
    from labkit.errors import ManifestError
    edits = [("spec.maxReplicas", 0), ("spec.metrics.0.resource.target.averageUtilization", 0),
             ("spec.behavior.scaleUp.selectPolicy", "Fastest"),
             ("spec.behavior.scaleUp.policies.0.type", "Percentage"),
             ("spec.behavior.scaleDown.stabilizationWindowSeconds", 3601)]
    for i, (path, value) in enumerate(edits):
        d = tmp_path / str(i)
        d.mkdir()
        _write(d, ("hpa-v2",), _set(HPA, path, value))
        doc = yaml.safe_load((d / "hpa.yaml").read_text())
        with pytest.raises(ManifestError):
            hpa_spec_from_manifest(doc)
        assert any(f.severity == "error" and f.obj == HPA for f in validate_path(d)), path


def test_kind_port_mapping_on_all_interfaces_warns(tmp_path):
    text = (REPO / "manifests" / "kind" / "cluster.yaml").read_text()
    (tmp_path / "cluster.yaml").write_text(text.replace('listenAddress: "127.0.0.1"', 'listenAddress: "0.0.0.0"', 1))
    (f,) = validate_path(tmp_path)
    assert (f.severity, f.obj, f.field) == ("warning", "Cluster/labkit", "nodes[0].extraPortMappings[0].listenAddress")


def test_broken_yaml_is_a_finding_with_file_and_line(tmp_path):
    (tmp_path / "ok.yaml").write_text((REPO / "manifests" / "hpa-v1" / "hpa.yaml").read_text())
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: [a\n")
    findings = validate_path(tmp_path)
    assert any(f.severity == "error" and f.path.endswith("bad.yaml:6") for f in findings), findings


def test_run_validate_prints_one_line_each_and_a_summary(tmp_path, capsys):
    _write(tmp_path, ("hpa-v1",), _do(_no_request("cpu"), _pod(APP, "imagePullPolicy", "Always")))
    assert run_validate([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{tmp_path}/: 3 objects in 3 files, 2 errors, 0 warnings"
    assert all(line.startswith("ERROR   ") for line in out[:-1]) and len(out) == 3


def test_run_validate_shipped_manifests_exit_zero(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert run_validate(["manifests"]) == 0
    assert capsys.readouterr().out.strip() == "manifests/: 17 objects in 14 files, 0 errors, 0 warnings"


def test_missing_path_is_an_error(tmp_path, capsys):
    assert run_validate([str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().out


def test_finding_str_is_one_line():
    f = Finding("error", "manifests/x.yaml", "HorizontalPodAutoscaler/app", "spec.minReplicas", "fix it")
    assert str(f) == "manifests/x.yaml: HorizontalPodAutoscaler/app: spec.minReplicas: fix it"


SJ = "ScaledJob/app-batch"


@pytest.mark.parametrize("path, value, field, says", [
    pytest.param("spec.scalingStrategy.strategy", "fastest", "spec.scalingStrategy.strategy",
                 "use one of: default, custom, accurate, eager", id="strategy-enum"),
    pytest.param("spec.maxReplicaCount", 0, "spec.maxReplicaCount", "minimum", id="max-below-1"),
    pytest.param("spec.successfulJobsHistoryLimt", 5, "spec.successfulJobsHistoryLimt",
                 "Did you mean 'successfulJobsHistoryLimit'", id="history-typo"),
    pytest.param("spec.jobTargetRef.backofLimit", 2, "spec.jobTargetRef.backofLimit",
                 "JobSpec schema", id="jobspec-typo"),
    pytest.param("spec.jobTargetRef.parallelism", "one", "spec.jobTargetRef.parallelism",
                 "JobSpec schema", id="jobspec-type"),
    pytest.param("spec.jobTargetRef.template.spec.containers.0.imagePullPolicy", None,
                 "spec.jobTargetRef.template.spec.containers[0].imagePullPolicy", "",
                 id="clean-edit-finds-nothing"),
])
def test_scaledjob_mistakes_name_the_field(tmp_path, path, value, field, says):
    """ScaledJob fields as in kedacore/keda v2.20.2 config/crd/bases/keda.sh_scaledjobs.yaml;
    jobTargetRef is a batch/v1 JobSpec, checked by the Kubernetes schema."""
    findings = validate_path(_write(tmp_path, ("queue-jobs",), _set(SJ, path, value)))
    hits = [f for f in findings if f.obj == SJ and f.field == field]
    if not says:   # removing an optional field is not a mistake
        assert findings == []
        return
    assert hits and says in hits[0].message, [str(f) for f in findings]
