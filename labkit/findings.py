"""A finding of ``labkit validate``: where a problem is, how bad, and what to do.

Shared by the schema checks (:mod:`labkit.validate`) and the lints (:mod:`labkit.lint`), so
neither imports the other's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from .manifests import ManifestObject, display_path

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem: where it is (file, object, field), how bad, and what to do."""

    severity: str
    path: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        """One line: ``path: object: field: message`` (line breaks in a part become spaces)."""
        text = ": ".join(p for p in (self.path, self.obj, self.field, self.message) if p)
        return " ".join(text.splitlines())

    @classmethod
    def at(cls, severity: str, obj: ManifestObject, field: str, message: str) -> "Finding":
        return cls(severity, display_path(obj.path), obj.ref, field, message)


def field_path(parts: Iterable[Any]) -> str:
    """``['spec', 'containers', 0, 'image']`` -> ``spec.containers[0].image``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out
