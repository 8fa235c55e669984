"""Autoscaling Lab Kit: deploy, load and watch autoscalers on kind or on the embedded twin.

The names a notebook needs::

    import labkit
    tl = labkit.run("hpa-v1", "spike", 600)          # the twin unless backend="kind"
    labkit.show(tl)                                   # a plot; live in JupyterLab
    labkit.scorecard(tl)                              # pod-seconds, SLO seconds, errors, ...

Imports are lazy, so ``labkit --help`` does not pay for pandas or plotly.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "run": "labkit.lab", "panel": "labkit.live", "show": "labkit.live",
    "pick": "labkit.backends.base", "SimBackend": "labkit.backends.sim",
    "profile": "labkit.load", "PROFILES": "labkit.load",
    "load_variant": "labkit.manifests", "Timeline": "labkit.timeline",
    "scorecard": "labkit.scorecard", "compare": "labkit.scorecard",
    "LabkitError": "labkit.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    if not isinstance(value, ModuleType):  # bind it: later look-ups skip this hook
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__ + ["__version__"]
