"""Checking the twin's fast paths against their reference computations.

With ``LABKIT_TWIN_CROSSCHECK=1`` in the environment (the test suite sets it), the twin also
computes what its shortcuts stand for the slow, obvious way on every use (the HPA's cohorts
against the per-pod calculation, metrics-server's shared CPU value against every steady pod's
own) and raises :class:`CrossCheckError` on any difference.
"""

from __future__ import annotations

import os


class CrossCheckError(AssertionError):
    """A fast path of the twin disagreed with the reference computation."""


def crosscheck() -> bool:
    """Compare fast paths with the reference ones (``LABKIT_TWIN_CROSSCHECK=1``)?"""
    return os.environ.get("LABKIT_TWIN_CROSSCHECK", "") not in ("", "0")
