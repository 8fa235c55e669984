"""Check manifests offline: schemas first, then the traps learners fall into.

- Core kinds are checked against the Kubernetes OpenAPI schema of ``KUBE_VERSION`` shipped
  with ``kubernetes_validate``, in strict mode (unknown fields are errors), one cached
  validator per kind.
- Knative Service, InferenceService, ScaledObject, ScaledJob and kind's Cluster config are
  checked against labkit's own JSON schemas (``labkit/schemas/``), which cover the fields the
  course uses; their containers are checked against the core Container schema, and a
  ScaledJob's ``jobTargetRef`` against the core batch/v1 Job schema. Other kinds fail.
- The lints in :mod:`labkit.lint` then look across the objects validated together, including
  the twin's own parsers, so validate refuses what ``labkit run`` and the API server refuse.
- Files are read by :mod:`labkit.yaml_reader`: a bad file is one finding, never a traceback.

The terminal equivalent is ``labkit validate manifests/`` (exit status 1 on any error).
"""

from __future__ import annotations

import copy
import difflib
import json
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import ManifestError
from .findings import SEVERITIES, Finding, field_path
from .lint import lint_objects
from .manifests import ManifestObject, _kustomization_file, display_path, load_objects

# The schema of the Kubernetes minor version of the kind node image (manifests/kind/cluster.yaml).
KUBE_VERSION = "1.36.0"
SCHEMA_DIR = Path(__file__).parent / "schemas"
# (API group, kind) -> labkit's schema file for kinds the Kubernetes schema does not know.
CRD_SCHEMAS: dict[tuple[str, str], str] = {
    ("serving.knative.dev", "Service"): "knative-service.json",
    ("serving.kserve.io", "InferenceService"): "inferenceservice.json",
    ("keda.sh", "ScaledObject"): "scaledobject.json",
    ("keda.sh", "ScaledJob"): "scaledjob.json",
    ("kind.x-k8s.io", "Cluster"): "kind-cluster.json",
}
#: Longest quoted value in a message: a huge value (a 50 MB string, an expanded alias) must not
#: become a huge line.
MAX_SHOWN = 200

__all__ = ["Finding", "field_path", "validate_objects", "validate_path", "run_validate",
           "schema_findings", "SEVERITIES"]


# -- schemas ---------------------------------------------------------------------------------------
def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _is_core_group(group: str) -> bool:
    """Groups served by Kubernetes itself: "" (v1), one-word groups (apps, batch, ...), *.k8s.io."""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def _known_kinds() -> list[str]:
    return sorted({p.name.split("-")[0] for p in _core_schema_root().iterdir()})


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_SHOWN // 2
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 6
_REPR.maxlevel = 3


def shown(value: Any) -> str:
    """A short repr of ``value``: a few items, a few levels, never a huge line."""
    return shorten(_REPR.repr(value))


def _schema_error_finding(err: Any, obj: ManifestObject, source: str, prefix: Sequence[Any] = (),
                          skip: int = 0) -> Finding:
    """Turn a jsonschema error into a Finding that names the field and the fix."""
    parts = list(prefix) + list(err.absolute_path)[skip:]
    where = field_path(parts)
    kind, inst, schema = err.validator, err.instance, err.schema
    msg = f"{shorten(err.message)} ({source})"
    if kind == "additionalProperties" and isinstance(inst, dict):
        known = list((schema.get("properties") or {}).keys())
        extra = [k for k in inst if k not in known]
        if extra:
            where = field_path(parts + [extra[0]])
            close = difflib.get_close_matches(str(extra[0]), known, n=1, cutoff=0.6)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            msg = (f"unknown field {extra[0]!r} ({source}): the API server would reject or ignore it. "
                   f"{hint}Fix the spelling or indentation, or remove the field")
    elif kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        where = field_path(parts + [missing]) if missing else where
        msg = f"required field {missing!r} is missing ({source}); add it"
    elif kind == "type":
        want = schema.get("type")
        if want == "string" and isinstance(inst, (int, float, bool)):
            msg = (f"must be a string, got {shown(inst)} ({source}); put the value in quotes, "
                   f'e.g. "{str(inst).lower() if isinstance(inst, bool) else inst}"')
        elif want in ("integer", "number") and isinstance(inst, str):
            msg = f"must be a number, got the string {shown(inst)} ({source}); remove the quotes"
        else:
            msg = f"must be of type {want}, got {shown(inst)} ({source})"
    elif kind in ("enum", "const"):
        allowed = schema.get("enum") or [schema.get("const")]
        msg = f"{shown(inst)} is not allowed ({source}); use one of: {', '.join(map(str, allowed))}"
    return Finding("error", display_path(obj.path), obj.ref, where, msg)


def _core_schema_file(api_version: str, kind: str) -> str:
    """kubernetes_validate's file name for a kind: ``rbac.authorization.k8s.io/v1`` Role ->
    ``role-rbac-v1.json``, ``v1`` Pod -> ``pod-v1.json`` (its utils.validate naming)."""
    group, _, version = api_version.rpartition("/")
    short = group.split(".")[0]
    return f"{kind.lower()}-{short + '-' if group else ''}{version}.json"


@lru_cache(maxsize=None)
def _core_validator(api_version: str, kind: str):
    """One Draft 2020-12 validator per (apiVersion, kind), built once: kubernetes_validate's
    ``validate`` rebuilds its registry for every object (about 10 ms each), which made a
    file of 2,000 objects take 20 s. None if the schema has no such kind."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    root = _core_schema_root()
    try:
        schema = json.loads((root / _core_schema_file(api_version, kind)).read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError):
        return None
    defs = json.loads((root / "_definitions.json").read_text(encoding="utf-8"))
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    return Draft202012Validator(schema, registry=registry)


def _core_schema_root():
    import kubernetes_validate.utils as kvu  # noqa: F401  (lazy: the import takes ~2 s)
    from importlib.resources import files
    return files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBE_VERSION}-local-strict"


def _core_errors(doc: dict, source: str, obj: ManifestObject, prefix: Sequence[Any] = (),
                 skip: int = 0) -> list[Finding] | None:
    """The first schema error of ``doc`` as a Finding ([] if valid, None if the kind is unknown)."""
    validator = _core_validator(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
    if validator is None:
        return None
    from jsonschema.exceptions import best_match  # the one error jsonschema.validate raises

    err = best_match(validator.iter_errors(doc))
    return [] if err is None else [_schema_error_finding(err, obj, source, prefix, skip)]


def _versions_with_kind(kind: str) -> list[str]:
    """apiVersions whose schema has ``kind`` (for a wrong-apiVersion hint)."""
    out = []
    for p in _core_schema_root().iterdir():
        name = p.name.removesuffix(".json")
        if name.split("-")[0] == kind.lower():
            parts = name.split("-")[1:]
            out.append("/".join(parts) if len(parts) > 1 else parts[0])
    return sorted(out)


def _core_findings(obj: ManifestObject) -> list[Finding]:
    found = _core_errors(obj.doc, f"Kubernetes {KUBE_VERSION[:4]} schema", obj)
    if found is not None:
        return found
    versions = _versions_with_kind(obj.kind)
    if versions:
        return [Finding.at("error", obj, "apiVersion", f"Kubernetes {KUBE_VERSION[:4]} has no "
                           f"{obj.kind} in apiVersion {obj.api_version!r}; it serves {obj.kind} "
                           f"in: {', '.join(versions)} (the group prefix, e.g. autoscaling/v2)")]
    close = difflib.get_close_matches(obj.kind.lower(), _known_kinds(), n=1)
    hint = f" (did you mean kind {close[0]!r}, lower-cased here?)" if close else ""
    return [Finding.at("error", obj, "kind", f"Kubernetes {KUBE_VERSION[:4]} has no kind "
                       f"{obj.kind!r} in apiVersion {obj.api_version!r}{hint}; check the spelling "
                       "and the apiVersion (e.g. autoscaling/v2, apps/v1)")]


@lru_cache(maxsize=None)
def _crd_validator(filename: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = [Resource.from_contents(json.loads(p.read_text(encoding="utf-8")))
                 for p in SCHEMA_DIR.glob("*.json")]
    registry = Registry().with_resources((r.id(), r) for r in resources)
    schema = json.loads((SCHEMA_DIR / filename).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=registry)


def _dict(value: Any) -> dict:
    """``value`` if it is a mapping, else an empty one (a wrong type is the schema's finding)."""
    return value if isinstance(value, dict) else {}


def _containers_of(doc: dict) -> list[tuple[tuple[Any, ...], dict]]:
    """``(path of the container, container)`` for every pod-template container in a CRD object."""
    spec = _dict(doc.get("spec"))
    lists: list[tuple[tuple[Any, ...], Any]] = []
    if doc.get("kind") == "Service":
        lists.append((("spec", "template", "spec", "containers"),
                      _dict(_dict(spec.get("template")).get("spec")).get("containers")))
    for comp in ("predictor", "transformer", "explainer"):
        if isinstance(spec.get(comp), dict):
            lists.append((("spec", comp, "containers"), spec[comp].get("containers")))
    return [((*base, i), c) for base, cs in lists if isinstance(cs, list)
            for i, c in enumerate(cs) if isinstance(c, dict)]


def _knative_container_defaults(container: dict) -> dict:
    """The container as Kubernetes sees it once Knative fills in what it may omit.

    Knative (and KServe in Knative mode) allow an unnamed container and probes without a
    port: they default to the serving port.
    """
    c = {"name": "c", **copy.deepcopy(container)}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        for handler in ("httpGet", "tcpSocket", "grpc"):
            h = (c.get(probe) or {}).get(handler) if isinstance(c.get(probe), dict) else None
            if isinstance(h, dict) and "port" not in h:
                h["port"] = 8080
    return c


def _crd_findings(obj: ManifestObject, schema_file: str) -> list[Finding]:
    source = f"labkit's {obj.kind} schema"
    errors = sorted(_crd_validator(schema_file).iter_errors(obj.doc), key=lambda e: list(map(str, e.path)))
    out = [_schema_error_finding(e, obj, source) for e in errors]
    target = _dict(obj.doc.get("spec")).get("jobTargetRef")
    if obj.kind == "ScaledJob" and isinstance(target, dict) and not out:
        # KEDA copies jobTargetRef into each Job's spec (scale_jobs.go generateJobs): check it
        # strictly as a batch/v1 Job.
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "check"},
               "spec": target}
        out += _core_errors(job, f"Kubernetes {KUBE_VERSION[:4]} JobSpec schema", obj,
                            prefix=("spec", "jobTargetRef"), skip=1) or []
    for where, container in _containers_of(obj.doc):
        # Knative and KServe use the core Container type: check it strictly inside a Pod.
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"},
               "spec": {"containers": [_knative_container_defaults(container)]}}
        out += _core_errors(pod, f"Kubernetes {KUBE_VERSION[:4]} Container schema", obj,
                            prefix=where, skip=3) or []
    return out


def schema_findings(obj: ManifestObject) -> list[Finding]:
    """Check one object against its schema (core Kubernetes or labkit's CRD schema)."""
    group = _group(obj.api_version)
    crd = CRD_SCHEMAS.get((group, obj.kind))
    if crd is not None:
        return _crd_findings(obj, crd)
    if _is_core_group(group):
        return _core_findings(obj)
    known = ", ".join(f"{k} ({g})" for g, k in CRD_SCHEMAS)
    return [Finding.at("error", obj, "apiVersion", f"labkit has no schema for {obj.kind} in "
                       f"{obj.api_version!r}, so it cannot check it; it knows core Kubernetes kinds "
                       f"and {known}. Check apiVersion and kind for typos")]


# -- entry points ----------------------------------------------------------------------------------
def validate_objects(objs: Iterable[ManifestObject]) -> list[Finding]:
    """Schema findings for each object, then the lints across the set (errors first)."""
    objs = list(objs)
    schema = [f for o in objs for f in schema_findings(o)]
    findings = schema + lint_objects(objs, schema_errors=any(f.severity == "error" for f in schema))
    return _dedupe(_first_error_per_field(findings))


def _first_error_per_field(findings: list[Finding]) -> list[Finding]:
    """One error per field: the schema or a lint and the API-rule check often see the same
    mistake (a string maxReplicas, min above max); the first, more specific, finding stays."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.path, f.obj, f.field)
        if f.severity == "error" and f.field and key in seen:
            continue
        if f.severity == "error":
            seen.add(key)
        out.append(f)
    return out


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    unique = list(dict.fromkeys(findings))
    return sorted(unique, key=lambda f: SEVERITIES.index(f.severity))


def _finding_from_error(e: ManifestError, fallback: str) -> Finding:
    msg, prefix = str(e), ": ".join(p for p in (e.path, e.obj) if p)
    if prefix and msg.startswith(prefix + ": "):
        msg = msg[len(prefix) + 2:]
    return Finding("error", e.path or fallback, e.obj or "", e.field or "", msg)


def _object_sets(path: Path, seen: set[Path] | None = None
                 ) -> tuple[list[list[ManifestObject]], list[Finding]]:
    """Groups of objects that belong together (a file, a kustomization, a plain directory).

    Symlinked directories are skipped and each real directory is read once, so links such as
    ``a -> .`` cannot make the walk loop; a ``.yaml`` entry that is not a regular file (a FIFO,
    a device, a dangling or looping link) becomes one finding from the reader.
    """
    if not path.is_dir() or _kustomization_file(path) is not None:
        try:
            return [load_objects(path)], []
        except ManifestError as e:
            return [], [_finding_from_error(e, display_path(path))]
    seen = set() if seen is None else seen
    seen.add(path.resolve())
    sets: list[list[ManifestObject]] = []
    errors: list[Finding] = []
    loose: list[ManifestObject] = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            if entry.is_symlink() or entry.resolve() in seen:
                continue
            s, e = _object_sets(entry, seen)
            sets += s
            errors += e
        elif entry.suffix in (".yaml", ".yml"):
            try:
                loose += load_objects(entry)
            except ManifestError as e:
                errors.append(_finding_from_error(e, display_path(entry)))
    return ([loose] if loose else []) + sets, errors


def _validate(path: str | Path) -> tuple[list[Finding], int, int]:
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return [Finding("error", str(path), "", "", "no such file or directory; give a YAML file "
                        "or a directory, e.g. manifests/")], 0, 0
    sets, findings = _object_sets(p)
    for s in sets:
        findings += validate_objects(s)
    if not any(sets) and not findings:
        # kubectl refuses the same input: "no objects passed to apply" (kubernetes v1.36.4
        # staging/src/k8s.io/kubectl/pkg/cmd/apply/apply.go)
        findings.append(Finding("warning", display_path(p), "", "", "no objects found; kubectl "
                                "apply would refuse it ('no objects passed to apply'). Add YAML "
                                "documents, or check the path"))
    seen = {(o.path.resolve(), o.index) for s in sets for o in s}
    return _dedupe(findings), len(seen), len({k[0] for k in seen})


def validate_path(path: str | Path) -> list[Finding]:
    """Findings for a file or directory; each kustomization is checked as one set."""
    return _validate(path)[0]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def run_validate(paths: list[str]) -> int:
    """Print the findings for each path and a summary line; 1 if any error, else 0."""
    status = 0
    for path in paths or ["manifests"]:
        findings, n_objects, n_files = _validate(path)
        for sev in SEVERITIES:
            for f in (f for f in findings if f.severity == sev):
                print(f"{sev.upper():7} {f}")
        errors = sum(f.severity == "error" for f in findings)
        label = str(path) + ("/" if Path(path).is_dir() and not str(path).endswith("/") else "")
        print(f"{label}: {_plural(n_objects, 'object')} in {_plural(n_files, 'file')}, "
              f"{_plural(errors, 'error')}, {_plural(len(findings) - errors, 'warning')}")
        status |= int(errors > 0)
    return status
