"""Things labkit started against the cluster that ``labkit down`` must stop (load threads).

A tiny registry both :mod:`.backend` (which adds to it) and :mod:`.cluster` (whose ``down``
empties it) import, so neither imports the other for it.
"""

from __future__ import annotations

import weakref
from typing import Protocol


class Closeable(Protocol):
    def close(self) -> None: ...


_LIVE: "weakref.WeakSet[Closeable]" = weakref.WeakSet()


def register(obj: Closeable) -> None:
    """Remember ``obj`` until it is garbage collected; :func:`close_all` closes it."""
    _LIVE.add(obj)


def close_all() -> None:
    """Close everything registered (``labkit down`` calls this first)."""
    for obj in list(_LIVE):
        obj.close()
