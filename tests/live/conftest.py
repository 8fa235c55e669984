"""Fixtures of the live-lab tests (the fakes live in live_fakes.py)."""

from __future__ import annotations

import pytest

from live_fakes import FakeBackend


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()
