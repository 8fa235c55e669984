"""Read the YAML in ``manifests/`` into a :class:`Variant`: the objects one variant applies.

A variant directory is a kustomization, so ``kubectl apply -k manifests/hpa-v1`` and
``load_variant("hpa-v1")`` see the same objects. Only ``resources:`` is followed
(files and directories, recursively); patches, generators and name prefixes are refused
rather than silently ignored. Checking the objects is :mod:`labkit.validate`'s job.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, replace as _dc_replace
from pathlib import Path
from typing import Any, Iterable

from .errors import ManifestError
from .yaml_reader import display_path, inside, parse_documents, read_text

VARIANTS: tuple[str, ...] = ("hpa-v1", "hpa-v2", "knative", "kserve", "keda", "queue",
                             "queue-jobs")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kustomization keys we honour; anything else would change the objects behind our back.
_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "metadata", "resources"}
# kind's cluster config is not a Kubernetes object: its name is top-level, not in metadata.
_TOP_LEVEL_NAME_GROUPS = ("kind.x-k8s.io/",)


def manifests_dir() -> Path:
    """The manifests root: ``$LABKIT_MANIFESTS`` if set, else ``manifests/`` next to ``labkit/``."""
    env = os.environ.get("LABKIT_MANIFESTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "manifests"


@dataclass(frozen=True)
class ManifestObject:
    """One YAML document: where it came from (file, position in the file, first line) and its content."""

    path: Path
    index: int
    doc: dict
    line: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion", ""))

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata")
        if isinstance(meta, dict) and meta.get("name"):
            return str(meta["name"])
        return str(self.doc.get("name", ""))

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, or ``default`` where ``kubectl apply`` would put it."""
        meta = self.doc.get("metadata")
        return str((meta or {}).get("namespace") or "default") if isinstance(meta, dict) else "default"

    @property
    def ref(self) -> str:
        """``Kind/name``, as kubectl prints it."""
        return f"{self.kind}/{self.name}"

    @property
    def where(self) -> str:
        """``file: Kind/name``: the prefix of every message about this object."""
        return f"{display_path(self.path)}: {self.ref}"


@dataclass(frozen=True)
class Variant:
    """The objects one lab variant applies, in apply order."""

    name: str
    path: Path
    objects: tuple[ManifestObject, ...]

    def of_kind(self, kind: str, *, api_version: str | None = None) -> list[ManifestObject]:
        """Objects of this kind; ``api_version`` (a prefix like ``serving.knative.dev/``) narrows
        kinds that exist in several groups, such as ``Service``."""
        return [o for o in self.objects if o.kind == kind
                and (api_version is None or o.api_version.startswith(api_version))]

    def get(self, kind: str, name: str | None = None) -> ManifestObject:
        """The one object of ``kind`` (and ``name``); a ManifestError if there is none or several."""
        found = [o for o in self.of_kind(kind) if name is None or o.name == name]
        what = f"{kind}/{name}" if name else f"a {kind}"
        if not found:
            have = ", ".join(o.ref for o in self.objects) or "no objects"
            raise ManifestError(f"variant {self.name!r} has no {what.removeprefix('a ')} (it has {have}); check the "
                                f"kind and name, or add the object to {display_path(self.path)}",
                                path=display_path(self.path))
        if len(found) > 1:
            raise ManifestError(f"variant {self.name!r} has {len(found)} objects matching {what} "
                                f"({', '.join(o.where for o in found)}); pass a name to pick one",
                                path=display_path(self.path))
        return found[0]

    def replace(self, obj: ManifestObject | dict, *, append: bool = False) -> "Variant":
        """A copy with the object of the same kind and name replaced (the original is untouched).

        ``obj`` may be a plain dict, e.g. an edited ``copy.deepcopy(v.get("HorizontalPodAutoscaler").doc)``.
        With ``append=True`` an object matching nothing is added at the end instead of refused.
        """
        doc = obj.doc if isinstance(obj, ManifestObject) else obj
        new = _object_from_doc(copy.deepcopy(doc), getattr(obj, "path", Path(f"<{self.name}>")),
                               getattr(obj, "index", 0))
        objects, hit = [], False
        for o in self.objects:
            if not hit and (o.kind, o.name) == (new.kind, new.name):
                objects.append(_dc_replace(o, doc=new.doc))
                hit = True
            else:
                objects.append(o)
        if not hit:
            if not append:
                raise ManifestError(f"variant {self.name!r} has no {new.ref} to replace (it has "
                                    f"{', '.join(o.ref for o in self.objects)}); check kind and "
                                    "metadata.name, or pass append=True to add it",
                                    path=display_path(self.path), obj=new.ref)
            objects.append(new)
        return Variant(self.name, self.path, tuple(objects))


# -- parsing (labkit.yaml_reader bounds every read) ------------------------------------------
def _object_from_doc(doc: Any, path: Path, index: int, line: int = 0) -> ManifestObject:
    where = display_path(path) + (f":{line}" if line else "")
    if not isinstance(doc, dict):
        raise ManifestError(f"document {index + 1} is a {type(doc).__name__}, not a mapping; a "
                            "manifest starts with 'apiVersion:', 'kind:' and 'metadata:'", path=where)
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            raise ManifestError(f"document {index + 1} has no {key}; every object needs "
                                "'apiVersion' and 'kind' (e.g. apiVersion: apps/v1, kind: Deployment)",
                                path=where, field=key)
    obj = ManifestObject(path, index, doc, line)
    top_level = obj.api_version.startswith(_TOP_LEVEL_NAME_GROUPS)
    if not top_level and not (isinstance(doc.get("metadata"), dict) and doc["metadata"].get("name")):
        raise ManifestError(f"document {index + 1} ({obj.kind}) has no metadata.name; add "
                            "'metadata:' with a 'name:' so the object can be applied and referred to",
                            path=where, obj=obj.kind, field="metadata.name")
    return obj


def _objects_from_text(text: str, path: Path) -> list[ManifestObject]:
    out = []
    for line, doc in parse_documents(text, path):
        if doc is None:  # an empty document, e.g. a trailing '---'
            continue
        out.append(_object_from_doc(doc, path, len(out), line))
    return out


def _kustomization_file(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def _load_kustomization(kfile: Path, seen: tuple[Path, ...]) -> list[ManifestObject]:
    directory = kfile.parent
    if directory.resolve() in seen:
        chain = " -> ".join(display_path(p) for p in (*seen, directory.resolve()))
        raise ManifestError(f"kustomization cycle: {chain}; remove one of the resources entries",
                            path=display_path(kfile), field="resources")
    docs = [d for _, d in parse_documents(read_text(kfile), kfile) if d is not None]
    spec = docs[0] if docs else {}
    if not isinstance(spec, dict):
        raise ManifestError("a kustomization must be a mapping with a 'resources:' list",
                            path=display_path(kfile))
    extra = sorted(set(spec) - _KUSTOMIZATION_KEYS)
    if extra:
        raise ManifestError(f"labkit reads only 'resources:' from a kustomization, and this one also "
                            f"uses {', '.join(extra)}; put the change into the YAML files themselves "
                            "so the twin and the cluster see the same objects",
                            path=display_path(kfile), field=extra[0])
    resources = spec.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise ManifestError("'resources:' must be a list of file or directory paths",
                            path=display_path(kfile), field="resources")
    out: list[ManifestObject] = []
    for entry in resources:
        if "://" in entry or entry.startswith("github.com/"):
            raise ManifestError(f"remote resource {entry!r} cannot be read offline; vendor the YAML "
                                "into manifests/ and list the local path", path=display_path(kfile),
                                field="resources")
        target = Path(os.path.normpath(directory / entry))
        if os.path.isabs(entry) or (not target.is_dir() and not inside(target, directory)):
            # kustomize's file loader refuses these: "security; file ... is not in or below ..."
            # (kubernetes-sigs/kustomize api/loader/fileloader.go, vendored by kubectl v1.36.4);
            # a directory with its own kustomization, such as ../base, is allowed.
            raise ManifestError(f"resources entry {entry!r} is a file outside the kustomization's "
                                f"directory ({display_path(directory)}); kustomize refuses it. Copy "
                                "the file here, or list a directory that has a kustomization.yaml",
                                path=display_path(kfile), field="resources")
        if not target.exists():
            raise ManifestError(f"resources entry {entry!r} does not exist ({display_path(target)}); "
                                "fix the path (relative to the kustomization's directory)",
                                path=display_path(kfile), field="resources")
        if target.is_dir():
            sub = _kustomization_file(target)
            if sub is None:
                raise ManifestError(f"resources entry {entry!r} is a directory without a "
                                    "kustomization.yaml; add one, or list its files instead",
                                    path=display_path(kfile), field="resources")
            out.extend(_load_kustomization(sub, (*seen, directory.resolve())))
        else:
            out.extend(_objects_from_text(read_text(target), target))
    return out


def load_objects(path: str | Path) -> list[ManifestObject]:
    """Objects from a YAML file, a kustomization directory, or a directory of ``*.yaml`` files.

    A kustomization is followed through ``resources:`` only (recursively, like
    ``kubectl kustomize``); a plain directory gives its ``*.yaml``/``*.yml`` files in name order.
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():  # a dangling or looping link: the reader says which
        raise ManifestError(f"no such file or directory; give a YAML file or a directory such as "
                            f"{display_path(manifests_dir() / 'hpa-v1')}", path=str(path))
    if p.is_dir():
        kfile = _kustomization_file(p)
        if kfile is not None:
            return _load_kustomization(kfile, ())
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        return [o for f in files for o in _objects_from_text(read_text(f), f)]
    if p.name in KUSTOMIZATION_FILES:
        return _load_kustomization(p, ())
    return _objects_from_text(read_text(p), p)


def _apply_overrides(objects: list[ManifestObject],
                     overrides: Iterable[dict]) -> list[ManifestObject]:
    out = list(objects)
    for i, doc in enumerate(overrides):
        new = _object_from_doc(copy.deepcopy(doc), Path("<override>"), i)
        pos = next((k for k, o in enumerate(out) if (o.kind, o.name) == (new.kind, new.name)), None)
        if pos is None:
            out.append(new)
        else:
            out[pos] = _dc_replace(out[pos], doc=new.doc)
    return out


def load_variant(name_or_path: str | Path, *, overrides: Iterable[dict] = ()) -> Variant:
    """Load a variant by name (``"hpa-v2"`` -> ``manifests/hpa-v2``) or by path.

    ``overrides`` are documents that replace the loaded object with the same kind and name,
    or are appended when nothing matches (the terminal equivalent: edit, then ``kubectl apply``).
    """
    text = str(name_or_path)
    by_name = manifests_dir() / text
    if isinstance(name_or_path, str) and "/" not in text and by_name.is_dir():
        path, name = by_name, text
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise ManifestError(f"unknown variant {text!r}: expected one of {', '.join(VARIANTS)} "
                                f"(directories in {display_path(manifests_dir())}) or a path to "
                                "YAML files", path=text)
        name = path.stem if path.is_file() else path.name
    objects = _apply_overrides(load_objects(path), overrides)
    if not objects:
        raise ManifestError("no objects found; a variant needs at least one YAML document",
                            path=display_path(path))
    return Variant(name, path, tuple(objects))


def variant_from_yaml(name: str, text: str) -> Variant:
    """A variant from YAML text, e.g. pasted into a notebook cell (errors name ``<name>``)."""
    path = Path(f"<{name}>")
    objects = _objects_from_text(text, path)
    if not objects:
        raise ManifestError("the YAML text holds no objects; paste the manifests, separated by "
                            "'---' lines", path=str(path))
    return Variant(name, path, tuple(objects))
