"""Errors labkit raises: each says what went wrong, why it matters and what to do."""

from __future__ import annotations


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class ManifestError(LabkitError):
    """A manifest is malformed, invalid or falls into a known trap.

    The message names the file, the object and the field, and says how to fix it.
    """

    def __init__(self, message: str, *, path: str | None = None, obj: str | None = None,
                 field: str | None = None):
        self.path, self.obj, self.field = path, obj, field
        prefix = ": ".join(p for p in (path, obj) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ToolMissingError(LabkitError):
    """A command-line tool (docker, kind, kubectl, chromium, ...) is missing or unusable."""


class UnsafeTargetError(LabkitError):
    """Load was aimed at a host that is not loopback without an explicit opt-in."""


class BackendError(LabkitError):
    """A backend cannot do what was asked (no cluster, nothing deployed, ...)."""
