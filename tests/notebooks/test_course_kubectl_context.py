"""Every kubectl command the course prints pins the lab's context (review D26): a learner whose
current context is production must not be able to copy one and change production."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.backends.kind import versions as v
from labkit.backends.kind.kubectl import kubectl_equivalents
from labkit.manifests import VARIANTS

COURSE = Path(__file__).resolve().parents[2] / "scripts" / "course"
CONTEXT = f"--context kind-{v.CLUSTER_NAME}"


def _shell_lines(path: Path) -> list[tuple[int, str]]:
    """Lines inside ```bash blocks of a percent-format notebook source's markdown."""
    out, inside = [], False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        text = line.lstrip("#").strip()
        if text.startswith("```"):
            inside = not inside
        elif inside:
            out.append((n, text))
    return out


@pytest.mark.parametrize("path", sorted(COURSE.glob("*.py")), ids=lambda p: p.name)
def test_course_shell_blocks_pin_the_context(path):
    bare = [f"{path.name}:{n}: {t}" for n, t in _shell_lines(path)
            if t.startswith("kubectl ") and CONTEXT not in t]
    assert bare == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_printed_equivalents_pin_the_context(variant):
    lines = [ln for ln in kubectl_equivalents(variant) if ln.startswith("kubectl")]
    assert lines and all(ln.startswith(f"kubectl {CONTEXT} ") for ln in lines)
