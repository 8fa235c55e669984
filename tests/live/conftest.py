"""Fixtures of the live-lab tests (the fakes live in live_fakes.py)."""

from __future__ import annotations

import os

import pytest

from live_fakes import FakeBackend

# The twin's fast paths are checked against the reference computations in every run of these
# tests too (labkit/backends/sim/crosscheck.py).
os.environ.setdefault("LABKIT_TWIN_CROSSCHECK", "1")


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()
