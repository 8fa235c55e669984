"""Helpers for twin scenarios: variants from manifests/ with small, explicit edits."""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

import pytest

from labkit.backends.sim import SimBackend
from labkit.load import LoadProfile
from labkit.manifests import Variant, load_variant
from labkit.timeline import Timeline

# Every twin run of the session (these tests, and the live panel and notebook tests run after
# them, whose kernels inherit the environment) checks the twin's fast paths against the
# reference computations: see labkit/backends/sim/crosscheck.py.
os.environ.setdefault("LABKIT_TWIN_CROSSCHECK", "1")


def edited(variant: str, kind: str, edit: Callable[[dict], Any], name: str | None = None
           ) -> Variant:
    """``variant`` from manifests/ with one object changed by ``edit(doc)`` (in place)."""
    v = load_variant(variant)
    doc = copy.deepcopy(v.get(kind, name).doc)
    edit(doc)
    return v.replace(doc)


def simulate(variant: str | Variant, profile: LoadProfile | None, duration: float, *,
             seed: int = 0, **backend_kw: Any) -> Timeline:
    b = SimBackend(seed=seed, **backend_kw)
    b.deploy(variant)
    b.load(profile)
    return b.run(duration)


@pytest.fixture
def run_twin():
    return simulate
