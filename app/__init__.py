"""The lab's inference service: a movie-review sentiment model behind FastAPI.

Public names: :func:`serve` (blocking; ``python -m app`` calls it), :func:`create_app`,
:class:`Settings` and :class:`SettingsError`. They load lazily, so ``import app`` stays cheap.
"""

from __future__ import annotations

__all__ = ["Settings", "SettingsError", "create_app", "serve"]


def __getattr__(name: str):
    if name == "serve":
        from app.server import serve
        return serve
    if name == "create_app":
        from app.main import create_app
        return create_app
    if name in ("Settings", "SettingsError"):
        from app import settings
        return getattr(settings, name)
    raise AttributeError(f"module 'app' has no attribute {name!r}")
