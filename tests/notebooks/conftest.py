"""Fixtures for the course tests (helpers live in nbhelpers.py)."""

from __future__ import annotations

import pytest

from nbhelpers import make_notebook


@pytest.fixture
def notebook_factory(tmp_path):
    def make(name: str, cells):
        return make_notebook(tmp_path / name, cells)
    return make
