"""Fixtures for the course tests (helpers live in nbhelpers.py)."""

from __future__ import annotations

import os

import pytest

from nbhelpers import make_notebook

# The twin's fast paths are checked against the reference computations in every run of these
# tests too (labkit/backends/sim/crosscheck.py).
os.environ.setdefault("LABKIT_TWIN_CROSSCHECK", "1")


@pytest.fixture
def notebook_factory(tmp_path):
    def make(name: str, cells):
        return make_notebook(tmp_path / name, cells)
    return make
